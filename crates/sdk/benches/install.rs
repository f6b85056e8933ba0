//! Benchmark (not a test): `install model` of a 1 GiB generated file from a loopback HTTP
//! server, by both data paths, each against its peer, in one run:
//! - streamed through this process and SSH (`--via stream`: sha256 verified, the `.part`
//!   flushed by the host's python3 as it is written and fsynced) against the pipeline a user
//!   would type, `curl -s URL | ssh -p PORT -i KEY host 'cat > file'`, to the same sshd;
//! - fetched by the host (`--via host`: the host's python3, sha256 verified, fsynced) against
//!   `ssh host curl -s -o file URL`, plain curl on the host.
//!
//! Each is also compared with its peer followed by `sync file` (as durable as ours). Ours and
//! its peer run interleaved, `BENCH_ROUNDS` times (default 3); prints MB/s of each round, its
//! ratio (ours / peer), and the median of the ratios. Run with
//! `cargo bench -p comfy-local-sdk --bench install`. Env: `BENCH_SIZE_MB` (default 1024),
//! `BENCH_CLIENT_CPUS` / `BENCH_HOST_CPUS` (taskset CPU lists: this process and what it starts,
//! and the sshd with its sessions, to model a client and a host that do not share cores).

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
    Credentials, HOST_PYTHON, InstallModelRequest, InstallSpec, Source, install_via,
};
use comfy_local_sdk::ssh::Session;
use comfy_local_test_support::Sshd;
use sha2::{Digest, Sha256};

fn env_num(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

struct Bytes(Arc<Vec<u8>>);
impl AsRef<[u8]> for Bytes {
    fn as_ref(&self) -> &[u8] {
        &self.0
    }
}

fn main() {
    let size = env_num("BENCH_SIZE_MB", 1024) * 1024 * 1024;
    let rounds = env_num("BENCH_ROUNDS", 3).max(1);
    let sshd = Sshd::shared();
    for line in sshd.pin_from_env() {
        println!("{line}");
    }
    println!(
        "install bench: {} MiB, {rounds} interleaved rounds, {} CPUs, load {}",
        size / 1_048_576,
        std::thread::available_parallelism().map_or(0, std::num::NonZero::get),
        std::fs::read_to_string("/proc/loadavg")
            .unwrap_or_default()
            .trim()
    );
    let install = sshd.scratch("bench-install").join("ComfyUI");
    std::fs::create_dir_all(install.join("models/checkpoints")).expect("fixture");
    let data = generated(size);
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
    let b = Bench {
        sshd,
        install: &install,
        url: &url,
        target: format!("{}@{}", sshd.user(), sshd.host()),
        size,
        rounds,
    };
    let (ours, peer, peer_synced) = b.streamed(&mut fs, &source, &spec);
    let (host, curl_on_host, curl_synced) = b.host(&mut fs, &source, &spec);
    report(
        "host fetch (install model --via host, sha256 verified) vs ssh host curl -o file",
        size,
        &host,
        &curl_on_host,
    );
    report(
        "host fetch vs ssh host 'curl -o file URL && sync file' (as durable as ours)",
        size,
        &host,
        &curl_synced,
    );
    report(
        "streamed (install model --via stream, sha256 verified) vs curl URL | ssh host 'cat > file'",
        size,
        &ours,
        &peer,
    );
    report(
        "streamed vs curl URL | ssh host 'cat > file && sync file' (as durable as ours)",
        size,
        &ours,
        &peer_synced,
    );
}

/// Times of ours, of the peer, and of the peer followed by `sync`, one per round.
type Rounds = (Vec<Duration>, Vec<Duration>, Vec<Duration>);

/// What every round uses.
struct Bench<'a> {
    sshd: &'a Sshd,
    install: &'a camino::Utf8Path,
    url: &'a str,
    target: String,
    size: usize,
    rounds: usize,
}

impl Bench<'_> {
    /// Streamed installs, each round followed by the piped peer and the piped peer with sync.
    fn streamed(&self, fs: &mut RemoteFs<SftpHost>, source: &Source, spec: &InstallSpec) -> Rounds {
        let ours_file = self.install.join("models/checkpoints/bench.safetensors");
        let peer_file = self.install.join("models/checkpoints/peer.safetensors");
        let cancel = AtomicBool::new(false);
        let (mut ours, mut peer, mut peer_synced) = (Vec::new(), Vec::new(), Vec::new());
        let piped = |remote: &str| {
            let _ = std::fs::remove_file(&peer_file);
            let t = Instant::now();
            let mut curl = Command::new("curl")
                .args(["-s", self.url])
                .stdout(Stdio::piped())
                .spawn()
                .expect("curl");
            let status = ssh(self.sshd, &self.target)
                .arg(remote)
                .stdin(curl.stdout.take().expect("pipe"))
                .status()
                .expect("ssh");
            assert!(status.success() && curl.wait().expect("curl").success());
            let took = t.elapsed();
            assert_eq!(
                std::fs::metadata(&peer_file).expect("peer file").len(),
                self.size as u64
            );
            took
        };
        for _ in 0..self.rounds {
            let _ = std::fs::remove_file(&ours_file);
            let t = Instant::now();
            let out = install_via(
                fs,
                source,
                spec,
                DataPath::Stream,
                HOST_PYTHON,
                &cancel,
                &mut |_| {},
            )
            .expect("install");
            assert_eq!(out.via, Some(DataPath::Stream));
            ours.push(t.elapsed());
            peer.push(piped(&format!("cat > {peer_file}")));
            // The same pipeline made as durable as ours (which fsyncs the .part before the rename).
            peer_synced.push(piped(&format!("cat > {peer_file} && sync {peer_file}")));
        }
        (ours, peer, peer_synced)
    }

    /// Host fetches, each round followed by `curl -o` on the host, without and with sync.
    fn host(&self, fs: &mut RemoteFs<SftpHost>, source: &Source, spec: &InstallSpec) -> Rounds {
        let cancel = AtomicBool::new(false);
        let host_file = self.install.join("models/checkpoints/bench.safetensors");
        let curl_file = self.install.join("models/checkpoints/curl.safetensors");
        let (mut host, mut curl_on_host, mut curl_synced) = (Vec::new(), Vec::new(), Vec::new());
        let on_host = |remote: &[&str]| {
            let _ = std::fs::remove_file(&curl_file);
            let t = Instant::now();
            let status = ssh(self.sshd, &self.target)
                .args(remote)
                .status()
                .expect("ssh curl");
            assert!(status.success());
            let took = t.elapsed();
            assert_eq!(
                std::fs::metadata(&curl_file).expect("curl file").len(),
                self.size as u64
            );
            took
        };
        for _ in 0..self.rounds {
            let _ = std::fs::remove_file(&host_file);
            let t = Instant::now();
            let out = install_via(
                fs,
                source,
                spec,
                DataPath::Host,
                HOST_PYTHON,
                &cancel,
                &mut |_| {},
            )
            .expect("host fetch");
            assert_eq!(out.via, Some(DataPath::Host));
            host.push(t.elapsed());
            curl_on_host.push(on_host(&["curl", "-s", "-o", curl_file.as_str(), self.url]));
            curl_synced.push(on_host(&[
                "curl",
                "-s",
                "-o",
                curl_file.as_str(),
                self.url,
                "&&",
                "sync",
                curl_file.as_str(),
            ]));
        }
        (host, curl_on_host, curl_synced)
    }
}

/// Each round's MB/s and ratio (ours / peer), then the median of the ratios.
fn report(what: &str, size: usize, ours: &[Duration], peer: &[Duration]) {
    println!("\n== {what}, {} MiB from loopback HTTP", size / 1_048_576);
    let mut ratios = Vec::new();
    for (i, (o, p)) in ours.iter().zip(peer).enumerate() {
        let r = p.as_secs_f64() / o.as_secs_f64();
        println!(
            "  round {i}: ours {:6.0} MB/s  peer {:6.0} MB/s  ratio {r:.2}",
            mbps(size, *o),
            mbps(size, *p)
        );
        ratios.push(r);
    }
    ratios.sort_by(f64::total_cmp);
    println!(
        "  median ratio {:.2}  (load {})",
        ratios[ratios.len() / 2],
        std::fs::read_to_string("/proc/loadavg")
            .unwrap_or_default()
            .trim()
    );
}

/// `size` bytes of xorshift noise (incompressible, like a model).
fn generated(size: usize) -> Arc<Vec<u8>> {
    let mut x: u64 = 0x9E37_79B9_7F4A_7C15;
    Arc::new(
        (0..size)
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

fn mbps(size: usize, d: Duration) -> f64 {
    size as f64 / 1e6 / d.as_secs_f64()
}
