//! Benchmark (not a test): `install model` of a 256 MiB generated file from a loopback HTTP
//! server, by both data paths, each against its peer, in one run:
//! - streamed through this process and SSH (sha256 verified) against the pipeline a user would
//!   type, `curl -s URL | ssh -p PORT -i KEY host 'cat > file'`, to the same sshd;
//! - fetched by the host (`--via host`: the host's python3, sha256 verified) against
//!   `ssh host curl -s -o file URL`, plain curl on the host.
//!
//! Prints MB/s of each and the ratios. Run with `cargo bench -p comfy-local-sdk --bench install`.

#![expect(clippy::print_stdout, reason = "a benchmark prints its numbers")]

use std::io::Cursor;
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::AtomicBool;
use std::time::{Duration, Instant};

use comfy_local_remote_fs::host::SftpHost;
use comfy_local_remote_fs::{OpenOptions, RemoteFs};
use comfy_local_sdk::DataPath;
use comfy_local_sdk::install::{
    Credentials, HOST_PYTHON, InstallModelRequest, InstallSpec, Source, install_into, install_via,
};
use comfy_local_sdk::ssh::Session;
use comfy_local_test_support::Sshd;
use sha2::{Digest, Sha256};

const SIZE: usize = 256 * 1024 * 1024;
const ROUNDS: usize = 3;

struct Bytes(Arc<Vec<u8>>);
impl AsRef<[u8]> for Bytes {
    fn as_ref(&self) -> &[u8] {
        &self.0
    }
}

fn main() {
    let sshd = Sshd::shared();
    let install = sshd.scratch("bench-install").join("ComfyUI");
    std::fs::create_dir_all(install.join("models/checkpoints")).expect("fixture");
    let data = generated();
    let sha = hex::encode(Sha256::digest(&*data));
    let port = serve(data.clone());
    let url = format!("http://127.0.0.1:{port}/bench.safetensors");
    let mut fs = RemoteFs::open(
        SftpHost::open(Session::connect(&sshd.connect_options()).expect("connect")).expect("sftp"),
        &OpenOptions::new(install.clone()),
    )
    .expect("open");
    let source = Source::new(Credentials::none(), Duration::from_secs(60));
    let req = InstallModelRequest {
        url: url.clone(),
        folder: "checkpoints".to_owned(),
        name: None,
        sha256: Some(sha),
        force: true,
        instance: None,
        retries: 0,
    };
    let spec = InstallSpec::parse(&req, u64::MAX).expect("spec");
    let ours_file = install.join("models/checkpoints/bench.safetensors");
    let peer_file = install.join("models/checkpoints/peer.safetensors");
    let target = format!("{}@{}", sshd.user(), sshd.host());
    let cancel = AtomicBool::new(false);
    let (mut ours, mut peer) = (Vec::new(), Vec::new());
    for _ in 0..ROUNDS {
        let _ = std::fs::remove_file(&ours_file);
        let t = Instant::now();
        install_into(&mut fs, &source, &spec, &cancel, &mut |_| {}).expect("install");
        ours.push(t.elapsed());
        let t = Instant::now();
        let mut curl = Command::new("curl")
            .args(["-s", &url])
            .stdout(Stdio::piped())
            .spawn()
            .expect("curl");
        let status = ssh(sshd, &target)
            .arg(format!("cat > {peer_file}"))
            .stdin(curl.stdout.take().expect("pipe"))
            .status()
            .expect("ssh");
        assert!(status.success() && curl.wait().expect("curl").success());
        peer.push(t.elapsed());
        assert_eq!(
            std::fs::metadata(&peer_file).expect("peer file").len(),
            SIZE as u64
        );
    }
    let host_file = install.join("models/checkpoints/bench.safetensors");
    let curl_file = install.join("models/checkpoints/curl.safetensors");
    let (mut host, mut curl_on_host) = (Vec::new(), Vec::new());
    for _ in 0..ROUNDS {
        let _ = std::fs::remove_file(&host_file);
        let t = Instant::now();
        let out = install_via(
            &mut fs,
            &source,
            &spec,
            DataPath::Host,
            HOST_PYTHON,
            &cancel,
            &mut |_| {},
        )
        .expect("host fetch");
        assert_eq!(out.via, Some(DataPath::Host));
        host.push(t.elapsed());
        let _ = std::fs::remove_file(&curl_file);
        let t = Instant::now();
        let status = ssh(sshd, &target)
            .args(["curl", "-s", "-o", curl_file.as_str(), &url])
            .status()
            .expect("ssh curl");
        assert!(status.success());
        curl_on_host.push(t.elapsed());
        assert_eq!(
            std::fs::metadata(&curl_file).expect("curl file").len(),
            SIZE as u64
        );
    }
    let (host, curl_on_host) = (median(host), median(curl_on_host));
    println!(
        "host fetch {} MiB from loopback HTTP (median of {ROUNDS}): install model --via host (sha256 verified) {:.0} MB/s, ssh host curl -o file {:.0} MB/s, ratio {:.2}",
        SIZE / (1024 * 1024),
        mbps(host),
        mbps(curl_on_host),
        curl_on_host.as_secs_f64() / host.as_secs_f64()
    );
    let (ours, peer) = (median(ours), median(peer));
    println!(
        "install {} MiB from loopback HTTP (median of {ROUNDS}): install model (sha256 verified) {:.0} MB/s, curl | ssh 'cat > file' {:.0} MB/s, ratio {:.2}",
        SIZE / (1024 * 1024),
        mbps(ours),
        mbps(peer),
        peer.as_secs_f64() / ours.as_secs_f64()
    );
}

/// SIZE bytes of xorshift noise (incompressible, like a model).
fn generated() -> Arc<Vec<u8>> {
    let mut x: u64 = 0x9E37_79B9_7F4A_7C15;
    Arc::new(
        (0..SIZE)
            .map(|_| {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                x as u8
            })
            .collect(),
    )
}

/// Serves `data` at every path over HTTP on loopback; returns the port.
fn serve(data: Arc<Vec<u8>>) -> u16 {
    let server = tiny_http::Server::http("127.0.0.1:0").expect("http");
    let port = server.server_addr().to_ip().expect("ip").port();
    {
        std::thread::spawn(move || {
            for req in server.incoming_requests() {
                let body = Cursor::new(Bytes(data.clone()));
                let resp = tiny_http::Response::new(
                    tiny_http::StatusCode(200),
                    Vec::new(),
                    body,
                    Some(data.len()),
                    None,
                );
                let _ = req.respond(resp);
            }
        });
    }
    port
}

/// OpenSSH's client to the bench sshd, with the cipher libssh2 negotiates.
fn ssh(sshd: &Sshd, target: &str) -> Command {
    let mut c = Command::new("ssh");
    c.arg("-p")
        .arg(sshd.port().to_string())
        .arg("-i")
        .arg(sshd.user_key())
        .arg("-o")
        .arg(format!("UserKnownHostsFile={}", sshd.known_hosts()))
        .args([
            "-o",
            "BatchMode=yes",
            "-o",
            "Ciphers=chacha20-poly1305@openssh.com",
        ])
        .arg(target);
    c
}

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[v.len() / 2]
}

fn mbps(d: Duration) -> f64 {
    SIZE as f64 / 1e6 / d.as_secs_f64()
}
