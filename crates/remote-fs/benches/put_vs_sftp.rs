//! Benchmark: `RemoteFs::put` (path checks, `.part` + fsync + atomic rename, sha256) against
//! the peer, a raw `Sftp::upload` of the same bytes with fsync, over a real loopback sshd.
//! Prints MB/s of each and the ratio. Run with `cargo bench -p comfy-local-remote-fs`.
#![expect(clippy::print_stdout, reason = "a benchmark reports on stdout")]

use std::ops::ControlFlow;
use std::time::{Duration, Instant};

use comfy_local_remote_fs::host::SftpHost;
use comfy_local_remote_fs::{OpenOptions, PutOptions, RemoteFs};
use comfy_local_ssh::{Session, TransferOptions};
use comfy_local_test_support::Sshd;

const SIZE: usize = 96 * 1024 * 1024;
const ROUNDS: usize = 3;

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[v.len() / 2]
}

fn mbps(d: Duration) -> f64 {
    SIZE as f64 / d.as_secs_f64() / 1e6
}

#[expect(
    clippy::disallowed_methods,
    reason = "the baseline is a raw SFTP upload, to measure what RemoteFs::put adds"
)]
fn main() {
    let sshd = Sshd::shared();
    let base = sshd.scratch("bench-put");
    let install = base.join("ComfyUI");
    std::fs::create_dir_all(install.join("models/checkpoints")).expect("fixture");
    let mut x: u64 = 0x9E37_79B9_7F4A_7C15;
    let data: Vec<u8> = (0..SIZE)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x as u8
        })
        .collect();

    let fs = RemoteFs::open(
        SftpHost::open(Session::connect(&sshd.connect_options()).expect("connect")).expect("sftp"),
        &OpenOptions::new(install.clone()),
    )
    .expect("open");
    let raw_session = Session::connect(&sshd.connect_options()).expect("connect");
    let raw = raw_session.sftp().expect("sftp");
    let dest = fs
        .model_path("checkpoints", "bench.safetensors")
        .expect("path");
    let raw_dest = install.join("models/checkpoints/raw.safetensors");
    let opts = PutOptions {
        overwrite: true,
        ..PutOptions::default()
    };

    let (mut ours, mut peer) = (Vec::new(), Vec::new());
    for _ in 0..ROUNDS {
        let t = Instant::now();
        raw.upload(
            &mut &data[..],
            &raw_dest,
            &TransferOptions::default(),
            &mut |_| {},
        )
        .expect("raw upload");
        peer.push(t.elapsed());
        let t = Instant::now();
        fs.put(&dest, &mut &data[..], &opts, &mut |_| {
            ControlFlow::Continue(())
        })
        .expect("put");
        ours.push(t.elapsed());
    }
    let (ours, peer) = (median(ours), median(peer));
    println!(
        "put {} MiB over loopback SFTP (median of {ROUNDS}): remote-fs put {:.0} MB/s, raw Sftp::upload {:.0} MB/s, ratio {:.2}",
        SIZE / (1024 * 1024),
        mbps(ours),
        mbps(peer),
        peer.as_secs_f64() / ours.as_secs_f64()
    );
}
