//! ComfyUI that listens only on the host's loopback is reached through SSH `direct-tcpip`
//! channels handed to the client as in-process streams: HTTP and the WebSocket work, and no
//! TCP port is opened in this process.

use std::collections::BTreeSet;

use comfy_local_fake_comfyui::{FakeComfy, FakeOptions};
use comfy_local_sdk::SdkError;
use comfy_local_sdk::ssh::SshError;
use comfy_local_sdk::workflow::client_for;
use comfy_local_test_support::{Sshd, SshdConfig, keygen};

use crate::common::{Setup, fake_install};

/// Inodes of the TCP sockets this process has in LISTEN state (nextest runs each test in its
/// own process).
fn listening_inodes() -> BTreeSet<u64> {
    let ours: BTreeSet<u64> = std::fs::read_dir("/proc/self/fd")
        .unwrap()
        .flatten()
        .filter_map(|fd| {
            let link = std::fs::read_link(fd.path()).ok()?;
            let inode = link.to_str()?.strip_prefix("socket:[")?.strip_suffix(']')?;
            inode.parse().ok()
        })
        .collect();
    let mut listening = BTreeSet::new();
    for table in ["/proc/self/net/tcp", "/proc/self/net/tcp6"] {
        let text = std::fs::read_to_string(table).unwrap_or_default();
        for line in text.lines().skip(1) {
            let cols: Vec<&str> = line.split_whitespace().collect();
            // Column 3 is the state (0A: LISTEN), column 9 the inode.
            if cols.len() > 9
                && cols[3] == "0A"
                && let Ok(inode) = cols[9].parse::<u64>()
                && ours.contains(&inode)
            {
                listening.insert(inode);
            }
        }
    }
    listening
}

fn forwarding_setup(sshd: &Sshd, comfy: &FakeComfy, name: &str) -> Setup {
    // The URL the container would use does not answer; ComfyUI listens on the host's loopback
    // at the same port.
    let mut setup = Setup::new(
        &fake_install(name),
        &format!("http://127.0.0.2:{}", comfy.port()),
    );
    setup.port = sshd.port();
    setup.key_file = sshd.user_key().to_owned();
    setup.known_hosts = sshd.known_hosts().to_owned();
    setup
}

#[test]
fn http_and_websocket_go_through_ssh_without_a_local_port() {
    let sshd = Sshd::start(SshdConfig {
        allow_tcp_forwarding: true,
        ..SshdConfig::default()
    });
    let comfy = FakeComfy::start(FakeOptions::default());
    let before = listening_inodes();
    assert!(
        !before.is_empty(),
        "the fake ComfyUI's listener must be seen"
    );
    let target = client_for(&forwarding_setup(&sshd, &comfy, "tunnel").config(), None).unwrap();
    assert!(target.via_ssh);
    let client = &target.client;
    let stats = client.system_stats().unwrap();
    assert_eq!(stats.system.comfyui_version.as_deref(), Some("0.3.64"));
    // A big answer (object_info is ~800 KB) and the WebSocket go through too.
    assert!(client.object_info().unwrap().class_names().len() > 400);
    client.ws_handshake().unwrap();
    assert_eq!(
        listening_inodes(),
        before,
        "reaching ComfyUI through SSH must not listen on a TCP port"
    );
}

#[test]
fn refused_forwarding_and_the_closed_port_are_both_reported() {
    // The shared sshd is hardened: no TCP forwarding. The URL does not answer either.
    let comfy = FakeComfy::start(FakeOptions::default());
    let err = client_for(
        &forwarding_setup(Sshd::shared(), &comfy, "refused").config(),
        None,
    )
    .expect_err("neither way reaches ComfyUI");
    let SdkError::ComfyUnreachable { tunnel, hint, .. } = &err else {
        panic!("{err:?}");
    };
    assert!(matches!(**tunnel, SshError::Forward { .. }), "{tunnel:?}");
    assert!(hint.contains("AllowTcpForwarding local"), "{hint}");
    let shown = chain(&err);
    assert!(
        shown.contains(&format!("connecting to 127.0.0.2:{}", comfy.port()))
            && shown.contains("cannot forward"),
        "both reasons: {shown}"
    );
}

#[test]
fn a_changed_host_key_on_the_forward_path_is_a_host_key_error() {
    let sshd = Sshd::start(SshdConfig {
        allow_tcp_forwarding: true,
        ..SshdConfig::default()
    });
    let comfy = FakeComfy::start(FakeOptions::default());
    let mut setup = forwarding_setup(&sshd, &comfy, "changed-key");
    // known_hosts lists the sshd's address with another host key.
    let other = sshd.scratch("other-key").join("id");
    keygen(&other, "");
    let other_pub = std::fs::read_to_string(format!("{other}.pub")).unwrap();
    let kh = sshd.scratch("other-key").join("known_hosts");
    let key: Vec<&str> = other_pub.split_whitespace().take(2).collect();
    std::fs::write(
        &kh,
        format!("[127.0.0.1]:{} {}\n", sshd.port(), key.join(" ")),
    )
    .unwrap();
    setup.known_hosts = kh;
    let err = client_for(&setup.config(), None).expect_err("changed host key");
    let SdkError::ComfyUnreachable { tunnel, hint, .. } = &err else {
        panic!("{err:?}");
    };
    assert!(
        matches!(**tunnel, SshError::HostKeyMismatch { .. }),
        "{tunnel:?}"
    );
    assert!(hint.contains("host key CHANGED"), "{hint}");
    assert!(chain(&err).contains("man-in-the-middle"), "{}", chain(&err));
}

/// An error and its sources joined by `: `, each once.
fn chain(error: &dyn std::error::Error) -> String {
    let mut out = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        assert!(
            !out.contains(&cause.to_string()),
            "{cause} is printed twice: {out}"
        );
        out.push_str(": ");
        out.push_str(&cause.to_string());
        source = cause.source();
    }
    out
}

#[test]
fn an_instance_reached_only_through_the_forward_is_listed_online() {
    let sshd = Sshd::start(SshdConfig {
        allow_tcp_forwarding: true,
        ..SshdConfig::default()
    });
    let comfy = FakeComfy::start(FakeOptions::default());
    let config = forwarding_setup(&sshd, &comfy, "probe-forward").config();
    let list = comfy_local_sdk::list_instances_with(&config, &|_| None);
    assert_eq!(
        list.instances[0].status,
        comfy_local_sdk::providers::InstanceStatus::Online
    );
}

/// `status` and `free` of an instance whose ComfyUI answers only on the host's loopback go
/// through the SSH forward: the readings are the server's, and `/free` gets its body.
#[test]
fn status_and_free_go_through_ssh() {
    let sshd = Sshd::start(SshdConfig {
        allow_tcp_forwarding: true,
        ..SshdConfig::default()
    });
    let comfy = FakeComfy::start(FakeOptions::default());
    let config = forwarding_setup(&sshd, &comfy, "status").config();
    let status = comfy_local_sdk::instance_status(&config, None).unwrap();
    assert!(status.via_ssh);
    assert_eq!(status.comfyui_version.as_deref(), Some("0.3.64"));
    assert_eq!(status.devices.len(), 1);
    assert_eq!(status.devices[0].vram_total, 25_276_063_744);
    assert_eq!((status.queue_running, status.queue_pending), (0, 0));
    let freed =
        comfy_local_sdk::free_memory(&config, None, true, std::time::Duration::ZERO).unwrap();
    assert!(freed.unload_models);
    assert_eq!(freed.before, status.devices);
    assert_eq!(freed.after, status.devices);
    assert_eq!(
        comfy.free_requests(),
        vec![serde_json::json!({"unload_models": true, "free_memory": true})]
    );
}
