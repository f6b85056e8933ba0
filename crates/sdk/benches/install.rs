//! Benchmark (not a test): `install model` of a 256 MiB generated file from a loopback HTTP
//! server, streamed through this process and SSH (sha256 verified), against the pipeline a
//! user would type, `curl -s URL | ssh -p PORT -i KEY host 'cat > file'`, to the same sshd.
//! Prints MB/s of each and the ratio. Run with `cargo bench -p comfy-local-sdk --bench install`.

#![expect(clippy::print_stdout, reason = "a benchmark prints its numbers")]

use std::io::Cursor;
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::AtomicBool;
use std::time::{Duration, Instant};

use comfy_local_remote_fs::host::SftpHost;
use comfy_local_remote_fs::{OpenOptions, RemoteFs};
use comfy_local_sdk::install::{
    Credentials, InstallModelRequest, InstallSpec, Source, install_into,
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
    let mut x: u64 = 0x9E37_79B9_7F4A_7C15;
    let data: Arc<Vec<u8>> = Arc::new(
        (0..SIZE)
            .map(|_| {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                x as u8
            })
            .collect(),
    );
    let sha = hex::encode(Sha256::digest(&*data));
    let server = tiny_http::Server::http("127.0.0.1:0").expect("http");
    let port = server.server_addr().to_ip().expect("ip").port();
    {
        let data = data.clone();
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
        let status = Command::new("ssh")
            .arg("-p")
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
            .arg(&target)
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
    let (ours, peer) = (median(ours), median(peer));
    println!(
        "install {} MiB from loopback HTTP (median of {ROUNDS}): install model (sha256 verified) {:.0} MB/s, curl | ssh 'cat > file' {:.0} MB/s, ratio {:.2}",
        SIZE / (1024 * 1024),
        mbps(ours),
        mbps(peer),
        peer.as_secs_f64() / ours.as_secs_f64()
    );
}

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[v.len() / 2]
}

fn mbps(d: Duration) -> f64 {
    SIZE as f64 / 1e6 / d.as_secs_f64()
}
