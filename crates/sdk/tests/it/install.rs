//! `install model` against the real sshd and a loopback HTTP source: resume, restart when the
//! source ignores Range, verification, refusals that write nothing, tokens per host.

use std::sync::Arc;
use std::sync::atomic::AtomicBool;
use std::time::Duration;

use camino::Utf8PathBuf;
use comfy_local_config::Secret;
use comfy_local_sdk::install::{
    Credential, Credentials, InstallError, InstallEvent, InstallModelRequest, InstallSpec,
    InstallStatus, Placement, Source, install_into, open_fs,
};
use sha2::{Digest, Sha256};

use crate::common::{Setup, fake_install};
use crate::http_source::{FileServer, Knobs, generated};

const MIB: usize = 1024 * 1024;

fn sha(data: &[u8]) -> String {
    hex::encode(Sha256::digest(data))
}

fn request(url: String, name: Option<&str>, sha256: Option<String>) -> InstallModelRequest {
    InstallModelRequest {
        url,
        folder: "checkpoints".to_owned(),
        name: name.map(str::to_owned),
        sha256,
        force: false,
        instance: None,
        retries: 0,
    }
}

struct Run {
    install: Utf8PathBuf,
    events: Vec<InstallEvent>,
}

impl Run {
    fn new(test: &str) -> Self {
        Run {
            install: fake_install(test),
            events: Vec::new(),
        }
    }

    fn go(
        &mut self,
        req: &InstallModelRequest,
        creds: Credentials,
    ) -> Result<comfy_local_sdk::InstallOutcome, InstallError> {
        let config = Setup::new(&self.install, "http://127.0.0.1:9").config();
        self.go_on(&config, req, creds)
    }

    /// Like [`Run::go`], through the host `config` names.
    fn go_with(
        &mut self,
        config: &comfy_local_config::Config,
        req: &InstallModelRequest,
    ) -> Result<comfy_local_sdk::InstallOutcome, InstallError> {
        self.go_on(config, req, Credentials::none())
    }

    fn go_on(
        &mut self,
        config: &comfy_local_config::Config,
        req: &InstallModelRequest,
        creds: Credentials,
    ) -> Result<comfy_local_sdk::InstallOutcome, InstallError> {
        let mut fs = open_fs(config, None)?;
        let spec = InstallSpec::parse(req, u64::MAX)?;
        let source = Source::new(creds, Duration::from_secs(10));
        let cancel = AtomicBool::new(false);
        install_into(&mut fs, &source, &spec, &cancel, &mut |e| {
            self.events.push(e.clone());
        })
    }

    fn checkpoints(&self) -> Utf8PathBuf {
        self.install.join("models/checkpoints")
    }

    fn files(&self) -> Vec<String> {
        let mut out: Vec<String> = walk(&self.checkpoints());
        out.sort();
        out
    }
}

fn walk(dir: &camino::Utf8Path) -> Vec<String> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(dir).unwrap() {
        let e = e.unwrap();
        let name = e.file_name().into_string().unwrap();
        let ft = e.file_type().unwrap();
        if ft.is_dir() {
            out.extend(
                walk(&dir.join(&name))
                    .into_iter()
                    .map(|n| format!("{name}/{n}")),
            );
        } else {
            out.push(name);
        }
    }
    out
}

#[test]
fn resumes_after_the_source_drops_mid_file_and_verifies() {
    let data = Arc::new(generated(5 * MIB, 1));
    let server = FileServer::start(
        data.clone(),
        Knobs {
            drops: vec![(3 * MIB) as u64].into(),
            ..Knobs::default()
        },
    );
    let mut run = Run::new("install-resume");
    let mut req = request(server.url("/m/model.safetensors"), None, Some(sha(&data)));
    req.retries = 2;
    let out = run.go(&req, Credentials::none()).unwrap();
    assert_eq!(out.status, InstallStatus::Installed);
    assert!(out.verified);
    assert!(out.resumed_from > 0, "{out:?}");
    assert_eq!(out.name, "model.safetensors");
    let got = std::fs::read(run.checkpoints().join("model.safetensors")).unwrap();
    assert!(got == *data, "installed bytes differ");
    assert_eq!(run.files(), ["model.safetensors"]);
    let seen = server.seen();
    assert_eq!(seen.len(), 2, "{seen:?}");
    assert_eq!(
        seen[1].header("range"),
        Some(format!("bytes={}-", out.resumed_from).as_str())
    );
    assert!(
        run.events
            .iter()
            .any(|e| matches!(e, InstallEvent::Retrying { .. }))
    );
}

#[test]
fn a_broken_install_resumes_on_the_next_run_and_a_source_ignoring_range_restarts_cleanly() {
    let data = Arc::new(generated(4 * MIB, 2));
    let server = FileServer::start(
        data.clone(),
        Knobs {
            drops: vec![(3 * MIB) as u64, (MIB / 2) as u64].into(),
            ..Knobs::default()
        },
    );
    let mut run = Run::new("install-next-run");
    let req = request(server.url("/a.ckpt"), Some("sub/a.ckpt"), Some(sha(&data)));
    let err = run.go(&req, Credentials::none()).unwrap_err();
    assert!(matches!(err, InstallError::SourceBroke { .. }), "{err:#?}");
    let part = run.checkpoints().join("sub/a.ckpt.part");
    let kept = std::fs::metadata(&part).unwrap().len();
    assert!(kept > 0);
    assert!(!run.checkpoints().join("sub/a.ckpt").exists());
    // Second run: breaks again after a little more, still resumable.
    assert!(run.go(&req, Credentials::none()).is_err());
    let kept2 = std::fs::metadata(&part).unwrap().len();
    assert!(kept2 >= kept);
    // Third run: the source now ignores Range; the .part starts over and ends verified.
    server
        .knobs
        .ignore_range
        .store(true, std::sync::atomic::Ordering::SeqCst);
    let out = run.go(&req, Credentials::none()).unwrap();
    assert_eq!(out.resumed_from, 0);
    assert_eq!(out.sha256, sha(&data));
    assert!(
        run.events
            .iter()
            .any(|e| matches!(e, InstallEvent::Restarted { discarded } if *discarded == kept2))
    );
    assert_eq!(run.files(), ["sub/a.ckpt"]);
}

#[test]
fn a_wrong_sha256_leaves_nothing_in_place() {
    let data = Arc::new(generated(2 * MIB, 3));
    let server = FileServer::start(data.clone(), Knobs::default());
    let mut run = Run::new("install-wrong-hash");
    let req = request(server.url("/x.safetensors"), None, Some("ab".repeat(32)));
    let err = run.go(&req, Credentials::none()).unwrap_err();
    assert!(
        matches!(err, InstallError::ChecksumMismatch { .. }),
        "{err:#?}"
    );
    assert!(run.files().is_empty(), "{:?}", run.files());
}

#[test]
fn escapes_in_name_or_folder_are_refused_before_any_request() {
    let data = Arc::new(generated(1000, 4));
    let server = FileServer::start(data, Knobs::default());
    let mut run = Run::new("install-escapes");
    let outside = run.install.parent().unwrap().join("outside");
    std::fs::create_dir_all(&outside).unwrap();
    std::os::unix::fs::symlink(&outside, run.checkpoints().join("evil")).unwrap();
    for name in [
        "../../x.safetensors",
        "/etc/x.safetensors",
        "evil/x.safetensors",
        "a/../../x",
        "CON.safetensors\\x",
    ] {
        let err = run
            .go(
                &request(server.url("/f"), Some(name), None),
                Credentials::none(),
            )
            .unwrap_err();
        assert!(
            matches!(err, InstallError::BadDestination { .. }),
            "{name}: {err:#?}"
        );
    }
    let mut bad_folder = request(server.url("/f"), Some("x.safetensors"), None);
    bad_folder.folder = "../checkpoints".to_owned();
    assert!(matches!(
        run.go(&bad_folder, Credentials::none()).unwrap_err(),
        InstallError::BadDestination { .. }
    ));
    bad_folder.folder = "no_such_folder".to_owned();
    assert!(matches!(
        run.go(&bad_folder, Credentials::none()).unwrap_err(),
        InstallError::BadDestination { .. }
    ));
    assert!(server.seen().is_empty(), "{:?}", server.seen());
    assert_eq!(std::fs::read_dir(&outside).unwrap().count(), 0);
    // Only the planted link itself (walk() does not follow it).
    assert_eq!(run.files(), ["evil"]);
}

#[test]
fn a_server_name_escaping_the_folder_is_refused_with_nothing_written() {
    let data = Arc::new(generated(1000, 5));
    let server = FileServer::start(
        data,
        Knobs {
            disposition: Some("../../evil.safetensors".to_owned()),
            ..Knobs::default()
        },
    );
    let mut run = Run::new("install-hostile-name");
    let err = run
        .go(&request(server.url("/f"), None, None), Credentials::none())
        .unwrap_err();
    assert!(
        matches!(err, InstallError::BadDestination { .. }),
        "{err:#?}"
    );
    assert!(run.files().is_empty());
    assert!(!run.install.join("evil.safetensors").exists());
}

#[test]
fn same_hash_is_a_no_op_and_other_content_needs_force() {
    let data = Arc::new(generated(MIB, 6));
    let server = FileServer::start(data.clone(), Knobs::default());
    let mut run = Run::new("install-existing");
    let good = request(server.url("/m.pt"), Some("m.pt"), Some(sha(&data)));
    assert_eq!(
        run.go(&good, Credentials::none()).unwrap().status,
        InstallStatus::Installed
    );
    let requests = server.seen().len();
    let again = run.go(&good, Credentials::none()).unwrap();
    assert_eq!(again.status, InstallStatus::AlreadyPresent);
    assert_eq!(server.seen().len(), requests, "a no-op must not download");
    // Different content on the host: refused without --force, with or without --sha256.
    std::fs::write(run.checkpoints().join("m.pt"), b"other").unwrap();
    for sha256 in [Some(sha(&data)), None] {
        let err = run
            .go(
                &request(server.url("/m.pt"), Some("m.pt"), sha256),
                Credentials::none(),
            )
            .unwrap_err();
        assert!(matches!(err, InstallError::Exists { .. }), "{err:#?}");
    }
    assert_eq!(
        std::fs::read(run.checkpoints().join("m.pt")).unwrap(),
        b"other"
    );
    let mut forced = good.clone();
    forced.force = true;
    assert_eq!(
        run.go(&forced, Credentials::none()).unwrap().status,
        InstallStatus::Installed
    );
    assert!(std::fs::read(run.checkpoints().join("m.pt")).unwrap() == *data);
}

#[test]
fn tokens_go_only_to_their_host_and_never_into_messages() {
    const TOKEN: &str = "tok-SECRET-1234";
    let data = Arc::new(generated(100_000, 7));
    // B (127.0.0.1) serves the file; A (localhost) wants the bearer token and redirects to B,
    // echoing the token in the Location as a careless server might.
    let b = FileServer::start(data.clone(), Knobs::default());
    let a = FileServer::start(
        data.clone(),
        Knobs {
            bearer: Some(TOKEN.to_owned()),
            redirect_to: Some(format!("{}?leak={TOKEN}", b.url("/forbidden/x.bin"))),
            ..Knobs::default()
        },
    );
    let creds = || {
        Credentials::none()
            .with(Credential {
                domain: "localhost".to_owned(),
                https_only: false,
                placement: Placement::Bearer,
                secret: Secret::new(TOKEN),
            })
            .with(Credential {
                domain: "localhost".to_owned(),
                https_only: false,
                placement: Placement::Query("token".to_owned()),
                secret: Secret::new(TOKEN),
            })
    };
    let mut run = Run::new("install-tokens");
    let start = format!("http://localhost:{}/start", a.port);
    let err = run
        .go(&request(start.clone(), Some("x.bin"), None), creds())
        .unwrap_err();
    let shown = format!("{err:#} {err:?}");
    assert!(shown.contains("403"), "{shown}");
    assert!(!shown.contains(TOKEN), "{shown}");
    let seen_a = a.seen();
    assert_eq!(
        seen_a[0].header("authorization"),
        Some(format!("Bearer {TOKEN}").as_str())
    );
    assert!(seen_a[0].target.contains(&format!("token={TOKEN}")));
    let seen_b = b.seen();
    assert_eq!(seen_b.len(), 1);
    assert_eq!(seen_b[0].header("authorization"), None);
    assert!(!seen_b[0].target.contains("token="), "{}", seen_b[0].target);
    // Redirected to a path that serves: installed, and no event names the token.
    let mut run2 = Run::new("install-tokens-ok");
    let ok = FileServer::start(
        data.clone(),
        Knobs {
            bearer: Some(TOKEN.to_owned()),
            redirect_to: Some(b.url("/files/x.bin")),
            ..Knobs::default()
        },
    );
    let out = run2
        .go(
            &request(
                format!("http://localhost:{}/start", ok.port),
                None,
                Some(sha(&data)),
            ),
            creds(),
        )
        .unwrap();
    assert_eq!(out.name, "x.bin");
    let events = serde_json::to_string(&run2.events).unwrap();
    assert!(!events.contains(TOKEN) && !serde_json::to_string(&out).unwrap().contains(TOKEN));
    assert_eq!(b.seen().last().unwrap().header("authorization"), None);
}

/// Runs an install like [`Run::go`] but against `config`, stopping when `stop` returns true
/// for a progress position (the callback runs on the installing thread, between writes).
fn go_until(
    run: &mut Run,
    config: &comfy_local_config::Config,
    req: &InstallModelRequest,
    cancel: &AtomicBool,
    stop: &mut dyn FnMut(u64) -> bool,
) -> Result<comfy_local_sdk::InstallOutcome, InstallError> {
    let mut fs = open_fs(config, None)?;
    let spec = InstallSpec::parse(req, u64::MAX)?;
    let source = Source::new(Credentials::none(), Duration::from_secs(10));
    install_into(&mut fs, &source, &spec, cancel, &mut |e| {
        if let InstallEvent::Progress { position, .. } = e
            && stop(*position)
        {
            cancel.store(true, std::sync::atomic::Ordering::SeqCst);
        }
        run.events.push(e.clone());
    })
}

#[test]
fn ctrl_c_mid_file_keeps_the_part_and_the_next_run_resumes_and_verifies() {
    let data = Arc::new(generated(8 * MIB, 7));
    let server = FileServer::start(data.clone(), Knobs::default());
    let mut run = Run::new("install-ctrl-c");
    let config = Setup::new(&run.install, "http://127.0.0.1:9").config();
    let req = request(
        server.url("/m/ctrlc.safetensors"),
        Some("ctrlc.safetensors"),
        Some(sha(&data)),
    );
    // What the CLI's Ctrl-C handler does: set the flag while bytes flow.
    let cancel = AtomicBool::new(false);
    let err = go_until(&mut run, &config, &req, &cancel, &mut |pos| {
        pos >= (2 * MIB) as u64
    })
    .unwrap_err();
    let InstallError::Interrupted { written, part } = &err else {
        panic!("expected Interrupted, got {err:?}");
    };
    assert!(
        *written >= (2 * MIB) as u64 && *written < data.len() as u64,
        "{err}"
    );
    assert!(part.as_str().ends_with("ctrlc.safetensors.part"), "{part}");
    assert!(
        err.to_string()
            .contains("run the same command again to resume"),
        "{err}"
    );
    assert_eq!(run.files(), ["ctrlc.safetensors.part"]);
    let kept = std::fs::metadata(run.checkpoints().join("ctrlc.safetensors.part")).unwrap();
    assert_eq!(kept.len(), *written);

    // The same command again resumes from the .part and verifies the whole file.
    let out = run.go(&req, Credentials::none()).unwrap();
    assert_eq!(out.status, InstallStatus::Installed);
    assert_eq!(out.resumed_from, *written);
    assert!(out.verified);
    let got = std::fs::read(run.checkpoints().join("ctrlc.safetensors")).unwrap();
    assert!(got == *data, "installed bytes differ");
    assert_eq!(run.files(), ["ctrlc.safetensors"]);
    let seen = server.seen();
    assert_eq!(
        seen.last().unwrap().header("range"),
        Some(format!("bytes={written}-").as_str())
    );
}

#[test]
fn sshd_killed_mid_file_leaves_no_final_file_and_the_next_run_resumes() {
    // A private sshd: killing the shared one would break the other tests.
    let sshd =
        comfy_local_test_support::Sshd::start(comfy_local_test_support::SshdConfig::default());
    let data = Arc::new(generated(8 * MIB, 11));
    let server = FileServer::start(data.clone(), Knobs::default());
    let mut run = Run::new("install-sshd-killed");
    let mut setup = Setup::new(&run.install, "http://127.0.0.1:9");
    setup.port = sshd.port();
    setup.key_file = sshd.user_key().to_owned();
    setup.known_hosts = sshd.known_hosts().to_owned();
    let config = setup.config();
    let req = request(
        server.url("/m/killed.safetensors"),
        Some("killed.safetensors"),
        Some(sha(&data)),
    );
    let cancel = AtomicBool::new(false);
    let mut killed = false;
    let err = go_until(&mut run, &config, &req, &cancel, &mut |pos| {
        if !killed && pos >= (3 * MIB) as u64 {
            sshd.kill();
            killed = true;
        }
        false
    })
    .unwrap_err();
    assert!(killed, "the install ended before sshd was killed: {err:?}");
    assert!(
        matches!(err, InstallError::Remote(_)),
        "a broken host connection is a remote error, got {err:?}"
    );
    // Nothing under the final name; what reached the host is kept as .part.
    assert_eq!(run.files(), ["killed.safetensors.part"]);
    let part = std::fs::metadata(run.checkpoints().join("killed.safetensors.part"))
        .unwrap()
        .len();
    assert!(part > 0 && part < data.len() as u64, "part is {part} bytes");

    sshd.restart();
    let out = run.go_with(&config, &req).unwrap();
    assert_eq!(out.status, InstallStatus::Installed);
    assert!(out.resumed_from > 0 && out.resumed_from <= part, "{out:?}");
    assert!(out.verified);
    let got = std::fs::read(run.checkpoints().join("killed.safetensors")).unwrap();
    assert!(got == *data, "installed bytes differ");
    assert_eq!(run.files(), ["killed.safetensors"]);
}

mod host_fetch {
    //! The host-fetch data path: the host's own python3 downloads into the `.part`.

    use super::*;
    use comfy_local_sdk::DataPath;
    use comfy_local_sdk::install::{HOST_PYTHON, install_via};

    /// Installs through `via` with `python` on the host; `watch` sees every event.
    fn go_via(
        run: &Run,
        req: &InstallModelRequest,
        creds: Credentials,
        via: DataPath,
        python: &str,
        watch: &mut dyn FnMut(&InstallEvent),
    ) -> Result<comfy_local_sdk::InstallOutcome, InstallError> {
        let config = Setup::new(&run.install, "http://127.0.0.1:9").config();
        let mut fs = open_fs(&config, None)?;
        let spec = InstallSpec::parse(req, u64::MAX)?;
        let source = Source::new(creds, Duration::from_secs(10));
        let cancel = AtomicBool::new(false);
        install_via(&mut fs, &source, &spec, via, python, &cancel, watch)
    }

    fn fetched_by_python(server: &FileServer) -> usize {
        server
            .seen()
            .iter()
            .filter(|s| {
                s.header("user-agent")
                    .is_some_and(|u| u.starts_with("Python-urllib/"))
            })
            .count()
    }

    #[test]
    fn the_host_downloads_resumes_after_a_drop_and_verifies() {
        let data = Arc::new(generated(6 * MIB, 21));
        // Requests alternate: this process asks first (redirects, name, size; it reads no
        // body), then the host downloads. The host's first download breaks at 2 MiB.
        let whole = (100 * MIB) as u64;
        let server = FileServer::start(
            data.clone(),
            Knobs {
                drops: vec![whole, (2 * MIB) as u64].into(),
                ..Knobs::default()
            },
        );
        let run = Run::new("host-fetch-resume");
        let mut req = request(server.url("/m/host.safetensors"), None, Some(sha(&data)));
        req.retries = 2;
        let mut events = Vec::new();
        let out = go_via(
            &run,
            &req,
            Credentials::none(),
            DataPath::Host,
            HOST_PYTHON,
            &mut |e| {
                events.push(e.clone());
            },
        )
        .unwrap();
        assert_eq!(out.via, Some(DataPath::Host));
        assert_eq!(out.status, InstallStatus::Installed);
        assert!(out.verified && out.resumed_from > 0, "{out:?}");
        let got = std::fs::read(run.checkpoints().join("host.safetensors")).unwrap();
        assert!(got == *data, "installed bytes differ");
        assert_eq!(run.files(), ["host.safetensors"]);
        // The bytes came through the host's Python, the resumed request with a Range.
        assert_eq!(fetched_by_python(&server), 2, "{:?}", server.seen().len());
        let last = server.seen().pop().unwrap();
        assert_eq!(
            last.header("range"),
            Some(format!("bytes={}-", out.resumed_from).as_str())
        );
        assert!(
            events
                .iter()
                .any(|e| matches!(e, InstallEvent::Retrying { .. }))
        );
        assert!(
            events
                .iter()
                .any(|e| matches!(e, InstallEvent::Progress { position, .. } if *position == data.len() as u64))
        );
    }

    #[test]
    fn a_wrong_sha256_leaves_nothing_and_a_planted_part_symlink_is_not_followed() {
        let data = Arc::new(generated(MIB, 22));
        let server = FileServer::start(data.clone(), Knobs::default());
        let run = Run::new("host-fetch-sha");
        let outside = run.install.with_file_name("victim.txt");
        std::fs::write(&outside, "keep me").unwrap();
        std::os::unix::fs::symlink(&outside, run.checkpoints().join("bad.safetensors.part"))
            .unwrap();
        let req = request(
            server.url("/m/bad.safetensors"),
            Some("bad.safetensors"),
            Some("00".repeat(32)),
        );
        let err = go_via(
            &run,
            &req,
            Credentials::none(),
            DataPath::Host,
            HOST_PYTHON,
            &mut |_| {},
        )
        .unwrap_err();
        assert!(
            matches!(err, InstallError::ChecksumMismatch { .. }),
            "{err:?}"
        );
        assert_eq!(run.files(), Vec::<String>::new());
        assert_eq!(std::fs::read_to_string(&outside).unwrap(), "keep me");
        assert_eq!(fetched_by_python(&server), 1);
    }

    #[test]
    fn auto_streams_when_the_host_cannot_run_the_program_and_host_says_why() {
        let data = Arc::new(generated(MIB, 23));
        let server = FileServer::start(data.clone(), Knobs::default());
        let run = Run::new("host-fetch-fallback");
        let req = request(server.url("/m/fb.safetensors"), None, Some(sha(&data)));
        let out = go_via(
            &run,
            &req,
            Credentials::none(),
            DataPath::Auto,
            "/nonexistent/python3",
            &mut |_| {},
        )
        .unwrap();
        assert_eq!(out.via, Some(DataPath::Stream));
        assert!(
            out.fallback
                .as_deref()
                .is_some_and(|f| f.contains("program")),
            "{out:?}"
        );
        assert_eq!(run.files(), ["fb.safetensors"]);
        assert_eq!(fetched_by_python(&server), 0);

        let req = request(server.url("/m/fb2.safetensors"), None, None);
        let err = go_via(
            &run,
            &req,
            Credentials::none(),
            DataPath::Host,
            "/nonexistent/python3",
            &mut |_| {},
        )
        .unwrap_err();
        assert!(
            matches!(&err, InstallError::HostFetch { kind, .. } if kind == "program"),
            "{err:?}"
        );
        assert_eq!(run.files(), ["fb.safetensors"]);
    }

    /// Every command line and environment of this user's processes, as one text.
    fn process_texts() -> String {
        let mut out = String::new();
        for e in std::fs::read_dir("/proc").unwrap().flatten() {
            if e.file_name().to_string_lossy().parse::<u32>().is_err() {
                continue;
            }
            for f in ["cmdline", "environ"] {
                if let Ok(b) = std::fs::read(e.path().join(f)) {
                    out.push_str(&String::from_utf8_lossy(&b));
                    out.push('\n');
                }
            }
        }
        out
    }

    #[test]
    fn the_token_reaches_the_host_program_only_through_its_stdin() {
        const TOKEN: &str = "tok-HOSTFETCH-5678";
        let data = Arc::new(generated(8 * MIB, 24));
        let server = FileServer::start(
            data.clone(),
            Knobs {
                bearer: Some(TOKEN.to_owned()),
                ..Knobs::default()
            },
        );
        let creds = Credentials::none().with(Credential {
            domain: "127.0.0.1".to_owned(),
            https_only: false,
            placement: Placement::Bearer,
            secret: Secret::new(TOKEN),
        });
        let run = Run::new("host-fetch-token");
        let req = request(server.url("/m/tok.safetensors"), None, Some(sha(&data)));
        let mut looked = 0;
        let mut leaked = false;
        let out = go_via(&run, &req, creds, DataPath::Host, HOST_PYTHON, &mut |e| {
            if matches!(e, InstallEvent::Progress { .. }) && looked < 3 {
                looked += 1;
                leaked |= process_texts().contains(TOKEN);
            }
        })
        .unwrap();
        assert_eq!(out.via, Some(DataPath::Host));
        assert!(looked > 0, "no progress seen while the host downloaded");
        assert!(!leaked, "the token was in a command line or environment");
        // The server only answers with the token: the host program had it.
        assert_eq!(fetched_by_python(&server), 1);
        let files = walk(&run.install);
        assert!(files.iter().all(|f| {
            !std::fs::read(run.install.join(f))
                .unwrap()
                .windows(TOKEN.len())
                .any(|w| w == TOKEN.as_bytes())
        }));
    }
}
