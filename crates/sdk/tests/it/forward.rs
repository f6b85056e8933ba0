//! The SSH local forward reaches a ComfyUI that listens only on the host's loopback.

use comfy_local_comfyui::ComfyClient;
use comfy_local_fake_comfyui::{FakeComfy, FakeOptions};
use comfy_local_sdk::LocalForward;
use comfy_local_test_support::{Sshd, SshdConfig};

#[test]
fn forwards_http_and_websocket_to_comfyui() {
    let sshd = Sshd::start(SshdConfig {
        allow_tcp_forwarding: true,
        ..SshdConfig::default()
    });
    let comfy = FakeComfy::start(FakeOptions::default());
    let forward = LocalForward::start(&sshd.connect_options(), "127.0.0.1", comfy.port()).unwrap();
    let url = format!("http://{}", forward.local_addr());
    let client = ComfyClient::new(&url).unwrap();
    let stats = client.system_stats().unwrap();
    assert_eq!(stats.system.comfyui_version.as_deref(), Some("0.3.64"));
    // A big answer (object_info is ~800 KB) and the WebSocket go through too.
    assert!(client.object_info().unwrap().class_names().len() > 400);
    client.ws_handshake().unwrap();
}

#[test]
fn refused_forwarding_is_an_error_at_start() {
    // The shared sshd is hardened: no TCP forwarding.
    let comfy = FakeComfy::start(FakeOptions::default());
    let err = LocalForward::start(&Sshd::shared().connect_options(), "127.0.0.1", comfy.port())
        .unwrap_err();
    assert!(err.to_string().contains("cannot forward"), "{err}");
}
