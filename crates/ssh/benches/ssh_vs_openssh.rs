//! comfy-local-ssh vs OpenSSH against the same harness sshd, in one run, printed as ratios.
//!
//! `cargo bench -p comfy-local-ssh --bench ssh_vs_openssh`
//! Env: `BENCH_SIZE_MB` (transfer size, default 1024), `BENCH_CMDS` (commands over one session,
//! default 100), `BENCH_NEW_SSH` (fresh `ssh` processes / fresh sessions, default 20),
//! `BENCH_ROUNDS` (interleaved transfer rounds, best counts, default 2),
//! `BENCH_SFTP_BUF` (SFTP read/write size, default the crate's), `BENCH_ONLY_OURS=1` (skip the
//! OpenSSH runs, for tuning), `BENCH_PARALLEL=N` (also SFTP over N sessions at once, each a
//! range of the file: explores using more cores for the SSH crypto).
//! `BENCH_STREAM_ONLY=1` runs only exec-stream vs `ssh host cat`, up and down, in
//! `BENCH_ROUNDS` (default 5) interleaved rounds, and prints each round's ratios and their
//! medians. `BENCH_CLIENT_CPUS` / `BENCH_HOST_CPUS` (taskset lists, e.g. `0` and `1`) pin this
//! process (and the `ssh` clients it starts) and the sshd (and its sessions) to those CPUs, to
//! model a client and a host that do not share cores; `BENCH_STREAM_DIRS=up` or `down` runs
//! one direction only; with `BENCH_PARALLEL=N` the download also runs over N sessions at
//! once, each a `dd` range.
//! `BENCH_FORWARD_ONLY=1` runs only the forward case: HTTP GETs from a loopback server through
//! our `Tunnel` vs through `ssh -L` (`BENCH_FORWARD_REQS` small requests, default 50, each on a
//! new connection; one `BENCH_FORWARD_MB` download, default 64).
//! Transfers are also compared with `ssh host 'cat > f' < src` / `ssh host cat f > dst`, the
//! OpenSSH peer of our exec-stream, and our rows show how much of the time our transferring
//! thread was on a CPU (libssh2 does all its crypto on the calling thread).
#![expect(clippy::print_stdout, reason = "a benchmark binary reports on stdout")]

use camino::{Utf8Path, Utf8PathBuf};
use comfy_local_ssh::{Command, Session, TransferOptions, Tunnel};
use comfy_local_test_support::{Sshd, SshdConfig};
use std::process::Stdio;
use std::time::{Duration, Instant};

const CHACHA: &str = "chacha20-poly1305@openssh.com";
const AES_GCM: &str = "aes128-gcm@openssh.com";

fn env_num(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

struct OpenSsh<'a> {
    sshd: &'a Sshd,
}

impl OpenSsh<'_> {
    fn common(&self, cipher: &str) -> Vec<String> {
        let s = self.sshd;
        vec![
            "-F".into(),
            "/dev/null".into(),
            "-i".into(),
            s.user_key().to_string(),
            "-o".into(),
            format!("UserKnownHostsFile={}", s.known_hosts()),
            "-o".into(),
            "StrictHostKeyChecking=yes".into(),
            "-o".into(),
            "BatchMode=yes".into(),
            "-o".into(),
            "IdentitiesOnly=yes".into(),
            "-o".into(),
            "Compression=no".into(),
            "-c".into(),
            cipher.into(),
        ]
    }

    fn dest(&self) -> String {
        format!("{}@127.0.0.1", self.sshd.user())
    }

    fn run(program: &str, args: &[String]) {
        let st = std::process::Command::new(program)
            .args(args)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .status()
            .unwrap_or_else(|e| panic!("running {program}: {e}"));
        assert!(st.success(), "{program} {args:?} failed: {st}");
    }

    fn ssh(&self, extra: &[String], cmd: &str) {
        let mut a = self.common(CHACHA);
        a.extend(extra.iter().cloned());
        a.extend([
            "-p".into(),
            self.sshd.port().to_string(),
            self.dest(),
            cmd.into(),
        ]);
        Self::run("ssh", &a);
    }

    /// `ssh host <cmd>` with stdin and stdout connected to local files: the OpenSSH peer of
    /// our exec-stream transfers.
    fn ssh_cat(&self, cipher: &str, cmd: &str, stdin: &Utf8Path, stdout: &Utf8Path) {
        let mut a = self.common(cipher);
        a.extend([
            "-p".into(),
            self.sshd.port().to_string(),
            self.dest(),
            cmd.into(),
        ]);
        let open = |p: &Utf8Path| std::fs::File::open(p).unwrap_or_else(|e| panic!("{p}: {e}"));
        let create = |p: &Utf8Path| std::fs::File::create(p).unwrap_or_else(|e| panic!("{p}: {e}"));
        let st = std::process::Command::new("ssh")
            .args(&a)
            .stdin(open(stdin))
            .stdout(create(stdout))
            .status()
            .unwrap_or_else(|e| panic!("running ssh: {e}"));
        assert!(st.success(), "ssh {a:?} failed: {st}");
    }

    fn scp(&self, cipher: &str, legacy: bool, from: &str, to: &str) {
        let mut a = self.common(cipher);
        if legacy {
            a.push("-O".into());
        }
        a.extend([
            "-q".into(),
            "-P".into(),
            self.sshd.port().to_string(),
            from.into(),
            to.into(),
        ]);
        Self::run("scp", &a);
    }

    fn sftp(&self, cipher: &str, batch: &Utf8Path) {
        let mut a = self.common(cipher);
        a.extend([
            "-q".into(),
            "-P".into(),
            self.sshd.port().to_string(),
            "-b".into(),
            batch.to_string(),
            self.dest(),
        ]);
        Self::run("sftp", &a);
    }
}

fn time<T>(f: impl FnOnce() -> T) -> (Duration, T) {
    let t = Instant::now();
    let v = f();
    (t.elapsed(), v)
}

/// On-CPU time of the calling thread (our transfers run on it), from `/proc/thread-self/schedstat`.
fn thread_cpu() -> Duration {
    std::fs::read_to_string("/proc/thread-self/schedstat")
        .ok()
        .and_then(|s| s.split_whitespace().next()?.parse().ok())
        .map_or(Duration::ZERO, Duration::from_nanos)
}

/// Times `f` and also returns the share of that time this thread spent on a CPU.
fn time_cpu<T>(f: impl FnOnce() -> T) -> (Duration, f64, T) {
    let c = thread_cpu();
    let (d, v) = time(f);
    (
        d,
        thread_cpu().saturating_sub(c).as_secs_f64() / d.as_secs_f64(),
        v,
    )
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

fn mbps(bytes: u64, d: Duration) -> f64 {
    bytes as f64 / 1e6 / d.as_secs_f64()
}

fn make_file(p: &Utf8Path, len: u64) {
    use std::io::Write as _;
    let mut f =
        std::io::BufWriter::with_capacity(1 << 20, std::fs::File::create(p).expect("create"));
    let mut x: u64 = 0x9E37_79B9_7F4A_7C15;
    let mut block = vec![0u8; 1 << 20];
    let mut left = len;
    while left > 0 {
        for chunk in block.chunks_exact_mut(8) {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            chunk.copy_from_slice(&x.to_le_bytes());
        }
        let n = left.min(block.len() as u64) as usize;
        f.write_all(&block[..n]).expect("write");
        left -= n as u64;
    }
    f.flush().expect("flush");
}

fn same_size(a: &Utf8Path, b: &Utf8Path) {
    let (x, y) = (
        std::fs::metadata(a).expect("stat").len(),
        std::fs::metadata(b).expect("stat").len(),
    );
    assert_eq!(x, y, "{a} and {b} differ in size");
}

fn same_content(left: &Utf8Path, right: &Utf8Path) {
    use std::io::Read as _;
    same_size(left, right);
    let mut lf = std::fs::File::open(left).expect("open");
    let mut rf = std::fs::File::open(right).expect("open");
    let (mut lbuf, mut rbuf) = (vec![0u8; 1 << 20], vec![0u8; 1 << 20]);
    loop {
        let got = lf.read(&mut lbuf).expect("read");
        if got == 0 {
            break;
        }
        rf.read_exact(&mut rbuf[..got]).expect("read");
        assert!(lbuf[..got] == rbuf[..got], "{left} and {right} differ");
    }
}

fn main() {
    if std::env::var_os("BENCH_FORWARD_ONLY").is_some() {
        bench_forward();
        return;
    }
    let cmds = env_num("BENCH_CMDS", 100);
    let fresh = env_num("BENCH_NEW_SSH", 20);
    let size = env_num("BENCH_SIZE_MB", 1024) * 1024 * 1024;
    let sshd = Sshd::start(SshdConfig::default());
    for line in sshd.pin_from_env() {
        println!("{line}");
    }
    let ossh = OpenSsh { sshd: &sshd };
    let opts = sshd.connect_options();
    if std::env::var_os("BENCH_STREAM_ONLY").is_some() {
        bench_stream_only(&sshd, &ossh, &opts, size);
        return;
    }
    println!(
        "ssh_vs_openssh: sshd on 127.0.0.1:{}, {} CPUs, load {}",
        sshd.port(),
        std::thread::available_parallelism().map_or(0, std::num::NonZero::get),
        std::fs::read_to_string("/proc/loadavg")
            .unwrap_or_default()
            .trim()
    );
    let session = Session::connect(&opts).expect("connect");
    println!(
        "negotiated cipher: {}",
        session.cipher().unwrap_or_default()
    );
    bench_commands(&sshd, &ossh, &session, cmds);
    let ssh_n = bench_connect(&opts, &ossh, fresh);
    bench_transfers(&sshd, &ossh, &opts, &session, size, ssh_n);
}

/// The median of `v` (the mean of the middle two for an even count).
fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    let n = v.len();
    if n % 2 == 1 {
        v[n / 2]
    } else {
        f64::midpoint(v[n / 2 - 1], v[n / 2])
    }
}

/// Exec-stream vs `ssh host cat` only, up and down, interleaved rounds (the order alternates),
/// each round's ratios printed and then their medians.
#[expect(
    clippy::disallowed_methods,
    reason = "the bench measures this crate's raw stream upload against OpenSSH"
)]
fn bench_stream_only(
    sshd: &Sshd,
    ossh: &OpenSsh<'_>,
    opts: &comfy_local_ssh::ConnectOptions,
    size: u64,
) {
    let dir = sshd.scratch("bench-stream");
    let (src, dst, back) = (
        dir.join("src.bin"),
        dir.join("dst.bin"),
        dir.join("back.bin"),
    );
    make_file(&src, size);
    let session = Session::connect(opts).expect("connect");
    let rounds = env_num("BENCH_ROUNDS", 5).max(1);
    let dirs = std::env::var("BENCH_STREAM_DIRS").unwrap_or_else(|_| "up,down".to_owned());
    let null = Utf8Path::new("/dev/null");
    println!(
        "\n== exec-stream vs ssh cat, {} MiB, {rounds} rounds (MB/s; ratio = ours / ssh cat)",
        size / 1_048_576
    );
    let ours_up = || {
        fresh(&dst);
        let (d, cpu, _) = time_cpu(|| {
            let mut f = std::fs::File::open(&src).expect("open");
            session
                .stream_upload(&mut f, &dst, false, &mut |_| {})
                .expect("stream up")
        });
        same_size(&src, &dst);
        (d, cpu)
    };
    let ours_down = || {
        fresh(&back);
        let (d, cpu, _) = time_cpu(|| {
            let mut f = std::io::BufWriter::with_capacity(
                1 << 20,
                std::fs::File::create(&back).expect("create"),
            );
            session
                .stream_download(&dst, &mut f, 0, &mut |_| {})
                .expect("stream down")
        });
        same_content(&src, &back);
        (d, cpu)
    };
    let peer_up = || {
        fresh(&dst);
        let (d, ()) = time(|| ossh.ssh_cat(CHACHA, &format!("cat > {dst}"), &src, null));
        same_size(&src, &dst);
        d
    };
    let peer_down = || {
        fresh(&back);
        let (d, ()) = time(|| ossh.ssh_cat(CHACHA, &format!("cat {dst}"), null, &back));
        same_size(&src, &back);
        d
    };
    let (mut up_ratios, mut down_ratios, mut par_ratios) = (Vec::new(), Vec::new(), Vec::new());
    let parallel = env_num("BENCH_PARALLEL", 0);
    // The download needs the file on the "remote" side first.
    let _ = ours_up();
    for round in 0..rounds {
        let ((ou, up_cpu), pu) = both(dirs.contains("up"), round % 2 == 0, ours_up, peer_up);
        let ((od, down_cpu), pd) =
            both(dirs.contains("down"), round % 2 == 0, ours_down, peer_down);
        if parallel > 1 && dirs.contains("down") {
            fresh(&back);
            let (d, ()) = time(|| parallel_stream_down(opts, parallel, size, &dst, &back));
            same_content(&src, &back);
            let r = pd.as_secs_f64() / d.as_secs_f64();
            println!(
                "  round {round}: down over {parallel} sessions (dd ranges) {:6.1} ratio {r:.2}",
                mbps(size, d)
            );
            par_ratios.push(r);
        }
        let (ru, rd) = (
            pu.as_secs_f64() / ou.as_secs_f64(),
            pd.as_secs_f64() / od.as_secs_f64(),
        );
        println!(
            "  round {round}: up ours {:6.1} (cpu {:3.0}%) ssh {:6.1} ratio {ru:.2} | down ours {:6.1} (cpu {:3.0}%) ssh {:6.1} ratio {rd:.2}",
            mbps(size, ou),
            up_cpu * 100.0,
            mbps(size, pu),
            mbps(size, od),
            down_cpu * 100.0,
            mbps(size, pd),
        );
        up_ratios.push(ru);
        down_ratios.push(rd);
    }
    print_medians(up_ratios, down_ratios, par_ratios, parallel);
    for p in [&src, &dst, &back] {
        let _ = std::fs::remove_file(p);
    }
}

/// The medians of a stream-only run's ratios.
fn print_medians(up: Vec<f64>, down: Vec<f64>, parallel_down: Vec<f64>, parallel: u64) {
    println!(
        "  median ratio ours / ssh cat (chacha20): up {:.2}  down {:.2}   (load {})",
        median(up),
        median(down),
        std::fs::read_to_string("/proc/loadavg")
            .unwrap_or_default()
            .trim()
    );
    if !parallel_down.is_empty() {
        println!(
            "  median ratio down over {parallel} sessions / ssh cat: {:.2}",
            median(parallel_down)
        );
    }
}

/// Runs ours and the peer (ours first when `ours_first`), or neither (zero times) unless `run`.
fn both(
    run: bool,
    ours_first: bool,
    ours: impl Fn() -> (Duration, f64),
    peer: impl Fn() -> Duration,
) -> ((Duration, f64), Duration) {
    if !run {
        ((Duration::ZERO, 0.0), Duration::ZERO)
    } else if ours_first {
        let o = ours();
        (o, peer())
    } else {
        let p = peer();
        (ours(), p)
    }
}

/// Downloads `from` into `to` over `n` sessions at once, each an exec-stream of its own range
/// (`dd` with byte offsets) written at its offset: libssh2's crypto on `n` threads.
fn parallel_stream_down(
    opts: &comfy_local_ssh::ConnectOptions,
    n: u64,
    size: u64,
    from: &Utf8Path,
    to: &Utf8Path,
) {
    use std::os::unix::fs::FileExt as _;
    let local = std::fs::File::create(to).expect("create");
    local.set_len(size).expect("set_len");
    let part = size.div_ceil(n);
    std::thread::scope(|s| {
        for i in 0..n {
            let (off, len) = (i * part, part.min(size.saturating_sub(i * part)));
            let local = &local;
            s.spawn(move || {
                let session = Session::connect(opts).expect("connect");
                let cmd = Command::from_argv([
                    "dd".to_owned(),
                    format!("if={from}"),
                    "bs=1M".to_owned(),
                    format!("skip={off}"),
                    format!("count={len}"),
                    "iflag=skip_bytes,count_bytes".to_owned(),
                    "status=none".to_owned(),
                ]);
                let mut done = 0u64;
                let out = session
                    .exec_streaming(&cmd, Duration::from_secs(60), &mut |data| {
                        local.write_all_at(data, off + done).expect("write");
                        done += data.len() as u64;
                        Ok(())
                    })
                    .expect("dd");
                assert!(out.success() && done == len, "range {off}+{len}: {done}");
            });
        }
    });
}

/// Commands over one kept session vs multiplexed OpenSSH.
fn bench_commands(sshd: &Sshd, ossh: &OpenSsh<'_>, session: &Session, cmds: u64) {
    let t_true = Command::new("true");
    session.exec(&t_true).expect("warm-up");
    let (ours, ()) = time(|| {
        for _ in 0..cmds {
            assert!(session.exec(&t_true).expect("exec").success());
        }
    });
    let ctl = Utf8PathBuf::from_path_buf(sshd.dir().join("cm-%C")).expect("utf8");
    let mux = vec![
        "-o".to_owned(),
        "ControlMaster=auto".to_owned(),
        "-o".to_owned(),
        format!("ControlPath={ctl}"),
        "-o".to_owned(),
        "ControlPersist=120".to_owned(),
    ];
    ossh.ssh(&mux, "true"); // starts the master
    let (mux_t, ()) = time(|| {
        for _ in 0..cmds {
            ossh.ssh(&mux, "true");
        }
    });
    let mut exit = mux.clone();
    exit.extend(["-O".to_owned(), "exit".to_owned()]);
    let _ = std::process::Command::new("ssh")
        .args(ossh.common(CHACHA))
        .args(&exit)
        .args(["-p", &sshd.port().to_string(), &ossh.dest()])
        .stderr(Stdio::null())
        .status();
    let (ours_c, mux_c) = (ms(ours) / cmds as f64, ms(mux_t) / cmds as f64);
    println!("\n== {cmds} commands (`true`) over one session");
    println!("  comfy-local-ssh      {ours_c:8.2} ms/command");
    println!("  ssh ControlMaster    {mux_c:8.2} ms/command");
    println!(
        "  ratio ours/mux       {:8.3}   (goal <= 0.5)",
        ours_c / mux_c
    );
}

/// Connect + auth + first command vs a new ssh process; the ms a new ssh process takes.
fn bench_connect(opts: &comfy_local_ssh::ConnectOptions, ossh: &OpenSsh<'_>, fresh: u64) -> f64 {
    let t_true = Command::new("true");
    let (ours_new, ()) = time(|| {
        for _ in 0..fresh {
            let s = Session::connect(opts).expect("connect");
            assert!(s.exec(&t_true).expect("exec").success());
        }
    });
    let (ssh_new, ()) = time(|| {
        for _ in 0..fresh {
            ossh.ssh(&[], "true");
        }
    });
    let (ours_n, ssh_n) = (ms(ours_new) / fresh as f64, ms(ssh_new) / fresh as f64);
    println!("\n== connect + auth + first command ({fresh} times)");
    println!("  comfy-local-ssh      {ours_n:8.2} ms");
    println!("  new ssh process      {ssh_n:8.2} ms");
    println!(
        "  ratio ours/ssh       {:8.3}   (goal <= 0.5)",
        ours_n / ssh_n
    );
    println!("  (a new ssh process per command costs {ssh_n:.2} ms/command)");
    ssh_n
}

/// What every transfer round uses: the endpoints, the files and the knobs from the environment.
struct Transfer<'a> {
    ossh: &'a OpenSsh<'a>,
    opts: &'a comfy_local_ssh::ConnectOptions,
    session: &'a Session,
    sftp: comfy_local_ssh::Sftp,
    dir: Utf8PathBuf,
    /// The local file sent up.
    src: Utf8PathBuf,
    /// Where it lands on the "remote" side.
    dst: Utf8PathBuf,
    /// Where it comes back down to.
    back: Utf8PathBuf,
    size: u64,
    sftp_buf_up: usize,
    sftp_buf_down: usize,
    only_ours: bool,
    parallel: u64,
}

/// Transfers: every method up and down, in interleaved rounds, best of each printed.
fn bench_transfers(
    sshd: &Sshd,
    ossh: &OpenSsh<'_>,
    opts: &comfy_local_ssh::ConnectOptions,
    session: &Session,
    size: u64,
    ssh_n: f64,
) {
    let dir = sshd.scratch("bench");
    let src = dir.join("src.bin");
    make_file(&src, size);
    let mib = size as f64 / 1_048_576.0;
    println!("\n== transfer of {mib:.0} MiB (MB/s; ratio = ours / peer)");
    let t = Transfer {
        ossh,
        opts,
        session,
        sftp: session.sftp().expect("sftp"),
        dst: dir.join("dst.bin"),
        back: dir.join("back.bin"),
        dir,
        src,
        size,
        sftp_buf_up: env_num("BENCH_SFTP_BUF", comfy_local_ssh::SFTP_UPLOAD_BUF as u64) as usize,
        sftp_buf_down: env_num("BENCH_SFTP_BUF", comfy_local_ssh::SFTP_DOWNLOAD_BUF as u64)
            as usize,
        only_ours: std::env::var_os("BENCH_ONLY_OURS").is_some(),
        parallel: env_num("BENCH_PARALLEL", 0),
    };
    println!(
        "  (SFTP buffers: upload {} B, download {} B)",
        t.sftp_buf_up, t.sftp_buf_down
    );
    // Rounds interleave the methods so that load changes hit all of them; the best of each counts.
    let rounds = env_num("BENCH_ROUNDS", 2).max(1);
    let mut results = transfer_round(&t);
    for _ in 1..rounds {
        for (best, new) in results.iter_mut().zip(transfer_round(&t)) {
            best.keep_best(&new);
        }
    }
    print_transfers(&results, rounds, ssh_n);
    if !t.only_ours {
        print_ratios(&results);
    }
    for p in [&t.src, &t.dst, &t.back] {
        let _ = std::fs::remove_file(p);
    }
}

/// Every write goes to a fresh file (no method pays for truncating the previous one).
fn fresh(p: &Utf8Path) {
    let _ = std::fs::remove_file(p);
}

/// One round: every method once, up then down.
fn transfer_round(t: &Transfer<'_>) -> Vec<Row> {
    let mut results = ours_rows(t);
    if t.parallel > 1 {
        let parallel = t.parallel;
        fresh(&t.dst);
        let (up, ()) = time(|| parallel_sftp(t.opts, parallel, t.size, &t.src, &t.dst, true));
        same_size(&t.src, &t.dst);
        fresh(&t.back);
        let (down, ()) = time(|| parallel_sftp(t.opts, parallel, t.size, &t.dst, &t.back, false));
        same_content(&t.src, &t.back);
        results.push(Row::peer(
            format!("comfy-local-ssh SFTP x{parallel} sessions"),
            up,
            down,
            t.size,
        ));
    }
    let ciphers: &[&str] = if t.only_ours { &[] } else { &[CHACHA, AES_GCM] };
    for &cipher in ciphers {
        results.extend(openssh_rows(t, cipher));
    }
    results
}

/// Our two transfer paths: SFTP and exec-stream.
#[expect(
    clippy::disallowed_methods,
    reason = "the bench measures this crate's raw SFTP and stream uploads against OpenSSH"
)]
fn ours_rows(t: &Transfer<'_>) -> Vec<Row> {
    let (src, dst, back) = (&t.src, &t.dst, &t.back);
    let mut results: Vec<Row> = Vec::new();
    fresh(dst);
    let (up, up_cpu, _) = time_cpu(|| {
        let mut f = std::fs::File::open(src).expect("open");
        t.sftp
            .upload(
                &mut f,
                dst,
                &TransferOptions {
                    fsync: false,
                    buffer_size: t.sftp_buf_up,
                    ..TransferOptions::default()
                },
                &mut |_| {},
            )
            .expect("upload")
    });
    same_size(src, dst);
    fresh(back);
    let (down, down_cpu, _) = time_cpu(|| {
        let mut f = std::io::BufWriter::with_capacity(
            1 << 20,
            std::fs::File::create(back).expect("create"),
        );
        t.sftp
            .download_buffered(dst, &mut f, 0, t.sftp_buf_down, &mut |_| {})
            .expect("download")
    });
    same_size(src, back);
    results.push(Row::ours(
        "comfy-local-ssh SFTP (chacha20)",
        (up, up_cpu),
        (down, down_cpu),
        t.size,
    ));

    fresh(dst);
    let (up, up_cpu, _) = time_cpu(|| {
        let mut f = std::fs::File::open(src).expect("open");
        t.session
            .stream_upload(&mut f, dst, false, &mut |_| {})
            .expect("stream up")
    });
    same_size(src, dst);
    fresh(back);
    let (down, down_cpu, _) = time_cpu(|| {
        let mut f = std::io::BufWriter::with_capacity(
            1 << 20,
            std::fs::File::create(back).expect("create"),
        );
        t.session
            .stream_download(dst, &mut f, 0, &mut |_| {})
            .expect("stream down")
    });
    same_size(src, back);
    results.push(Row::ours(
        "comfy-local-ssh exec-stream (chacha20)",
        (up, up_cpu),
        (down, down_cpu),
        t.size,
    ));
    results
}

/// The OpenSSH peers with one cipher: scp (both protocols), sftp, and `ssh cat`.
fn openssh_rows(t: &Transfer<'_>, cipher: &str) -> Vec<Row> {
    let (ossh, src, dst, back, size) = (t.ossh, &t.src, &t.dst, &t.back, t.size);
    let mut results = Vec::new();
    let remote = |p: &Utf8Path| format!("{}:{p}", ossh.dest());
    let short = if cipher == CHACHA {
        "chacha20"
    } else {
        "aes128-gcm"
    };
    for legacy in [false, true] {
        fresh(dst);
        let (up, ()) = time(|| ossh.scp(cipher, legacy, src.as_str(), &remote(dst)));
        same_size(src, dst);
        fresh(back);
        let (down, ()) = time(|| ossh.scp(cipher, legacy, &remote(dst), back.as_str()));
        same_size(src, back);
        let name = if legacy {
            "scp -O (legacy)"
        } else {
            "scp (sftp protocol)"
        };
        results.push(Row::peer(
            format!("OpenSSH {name} ({short})"),
            up,
            down,
            size,
        ));
    }
    let put = t.dir.join("put.batch");
    std::fs::write(&put, format!("put {src} {dst}\n")).expect("batch");
    let get = t.dir.join("get.batch");
    std::fs::write(&get, format!("get {dst} {back}\n")).expect("batch");
    fresh(dst);
    let (up, ()) = time(|| ossh.sftp(cipher, &put));
    same_size(src, dst);
    fresh(back);
    let (down, ()) = time(|| ossh.sftp(cipher, &get));
    same_size(src, back);
    results.push(Row::peer(format!("OpenSSH sftp ({short})"), up, down, size));
    // The peer of exec-stream: `ssh host 'cat > dst' < src`, `ssh host cat dst > back`.
    fresh(dst);
    let null = Utf8Path::new("/dev/null");
    let (up, ()) = time(|| ossh.ssh_cat(cipher, &format!("cat > {dst}"), src, null));
    same_size(src, dst);
    fresh(back);
    let (down, ()) = time(|| ossh.ssh_cat(cipher, &format!("cat {dst}"), null, back));
    same_size(src, back);
    results.push(Row::peer(
        format!("OpenSSH ssh cat ({short})"),
        up,
        down,
        size,
    ));
    results
}

/// The transfer table: the best of `rounds` for each method.
fn print_transfers(results: &[Row], rounds: u64, ssh_n: f64) {
    println!("  (best of {rounds} interleaved rounds)");
    println!(
        "  (OpenSSH times include starting ssh and connecting, ~{ssh_n:.0} ms here: compare at >= 1 GiB)"
    );
    println!(
        "  (cpu = share of the time our transferring thread was on a CPU: ~100% means CPU-bound)"
    );
    println!(
        "  {:<44} {:>9} {:>9} {:>8} {:>8}",
        "method", "upload", "download", "cpu up", "cpu down"
    );
    for r in results {
        let cpu = |c: Option<f64>| c.map_or(String::new(), |c| format!("{:.0}%", c * 100.0));
        println!(
            "  {:<44} {:9.1} {:9.1} {:>8} {:>8}",
            r.name,
            r.up,
            r.down,
            cpu(r.cpu_up),
            cpu(r.cpu_down)
        );
    }
}

/// Moves `size` bytes from `from` to `to` over `n` sessions at once, each its own range
/// (exploring whether more cores for libssh2's crypto would help): upload when `up`.
#[expect(
    clippy::disallowed_methods,
    reason = "the bench measures this crate's raw SFTP uploads against OpenSSH"
)]
fn parallel_sftp(
    opts: &comfy_local_ssh::ConnectOptions,
    n: u64,
    size: u64,
    from: &Utf8Path,
    to: &Utf8Path,
    up: bool,
) {
    use std::io::{Read as _, Write as _};
    use std::os::unix::fs::FileExt as _;
    let setup = Session::connect(opts).expect("connect");
    if up {
        let sftp = setup.sftp().expect("sftp");
        sftp.create_truncate(to, 0o644)
            .expect("create")
            .close()
            .expect("close");
    } else {
        std::fs::File::create(to)
            .expect("create")
            .set_len(size)
            .expect("set_len");
    }
    let part = size.div_ceil(n);
    std::thread::scope(|s| {
        for i in 0..n {
            let (off, len) = (i * part, part.min(size.saturating_sub(i * part)));
            s.spawn(move || {
                let session = Session::connect(opts).expect("connect");
                let sftp = session.sftp().expect("sftp");
                let mut buf = vec![0u8; comfy_local_ssh::SFTP_DOWNLOAD_BUF];
                let mut done = 0u64;
                if up {
                    let local = std::fs::File::open(from).expect("open");
                    let mut remote = sftp.open_append_at(to, off).expect("open remote");
                    while done < len {
                        let k = (len - done).min(buf.len() as u64) as usize;
                        local
                            .read_exact_at(&mut buf[..k], off + done)
                            .expect("read");
                        remote.write_all(&buf[..k]).expect("write");
                        done += k as u64;
                    }
                    remote.close().expect("close");
                } else {
                    let local = std::fs::OpenOptions::new()
                        .write(true)
                        .open(to)
                        .expect("open");
                    let mut remote = sftp.open_read(from, off).expect("open remote");
                    while done < len {
                        let k = (len - done).min(buf.len() as u64) as usize;
                        let got = remote.read(&mut buf[..k]).expect("read");
                        assert!(got > 0, "{from} ended early");
                        local.write_all_at(&buf[..got], off + done).expect("write");
                        done += got as u64;
                    }
                }
            });
        }
    });
}

/// One method's best throughput (MB/s) each way; our own rows also carry their CPU share.
struct Row {
    name: String,
    up: f64,
    down: f64,
    cpu_up: Option<f64>,
    cpu_down: Option<f64>,
}

impl Row {
    fn ours(name: &str, up: (Duration, f64), down: (Duration, f64), size: u64) -> Row {
        Row {
            name: name.to_owned(),
            up: mbps(size, up.0),
            down: mbps(size, down.0),
            cpu_up: Some(up.1),
            cpu_down: Some(down.1),
        }
    }

    fn peer(name: String, up: Duration, down: Duration, size: u64) -> Row {
        Row {
            name,
            up: mbps(size, up),
            down: mbps(size, down),
            cpu_up: None,
            cpu_down: None,
        }
    }

    /// Keeps the faster figure of each direction (with its CPU share).
    fn keep_best(&mut self, new: &Row) {
        if new.up > self.up {
            self.up = new.up;
            self.cpu_up = new.cpu_up;
        }
        if new.down > self.down {
            self.down = new.down;
            self.cpu_down = new.cpu_down;
        }
    }
}

fn print_ratios(results: &[Row]) {
    let best = |filter: &dyn Fn(&str) -> bool| {
        results
            .iter()
            .filter(|r| filter(&r.name))
            .fold((0.0_f64, 0.0_f64), |(u, d), r| (u.max(r.up), d.max(r.down)))
    };
    let line = |label: &str, ours: &Row, peer: (f64, f64)| {
        println!(
            "    {label:<13} up {:.2}  down {:.2}",
            ours.up / peer.0,
            ours.down / peer.1
        );
    };
    let (sftp, stream) = (&results[0], &results[1]);
    let chacha = best(&|n| n.starts_with("OpenSSH") && n.contains("chacha"));
    let any = best(&|n| n.starts_with("OpenSSH"));
    let ssh_cat = best(&|n| n.starts_with("OpenSSH ssh cat") && n.contains("chacha"));
    println!("\n  ratios to OpenSSH's best with the same cipher (chacha20), goal >= 1.0:");
    line("SFTP", sftp, chacha);
    line("exec-stream", stream, chacha);
    println!("  exec-stream vs its own peer, `ssh host cat` (chacha20):");
    line("exec-stream", stream, ssh_cat);
    println!("  ratios to OpenSSH's fastest cipher (any method):");
    line("SFTP", sftp, any);
    line("exec-stream", stream, any);
}

/// A loopback HTTP/1.1 server: `/small` answers 1 KiB, anything else `big` bytes; every answer
/// closes its connection.
fn http_server(big: usize) -> u16 {
    use std::io::{Read as _, Write as _};
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = listener.local_addr().expect("addr").port();
    let body = std::sync::Arc::new(vec![b'x'; big]);
    std::thread::spawn(move || {
        for conn in listener.incoming() {
            let Ok(mut c) = conn else { return };
            let _ = c.set_nodelay(true);
            let body = std::sync::Arc::clone(&body);
            std::thread::spawn(move || {
                let mut req = Vec::new();
                let mut buf = [0u8; 4096];
                while !req.windows(4).any(|w| w == b"\r\n\r\n") {
                    match c.read(&mut buf) {
                        Ok(0) | Err(_) => return,
                        Ok(n) => req.extend_from_slice(&buf[..n]),
                    }
                }
                let len = if req.starts_with(b"GET /small ") {
                    1024
                } else {
                    body.len()
                };
                let head = format!(
                    "HTTP/1.1 200 OK\r\nContent-Length: {len}\r\nConnection: close\r\n\r\n"
                );
                // One write (no Nagle wait between head and body).
                let mut answer = head.into_bytes();
                answer.extend_from_slice(&body[..len]);
                let _ = c.write_all(&answer);
            });
        }
    });
    port
}

/// One GET on `conn`, read to the end; the number of bytes of the answer.
fn http_get(mut conn: impl std::io::Read + std::io::Write, path: &str) -> usize {
    let req = format!("GET {path} HTTP/1.1\r\nHost: bench\r\nConnection: close\r\n\r\n");
    conn.write_all(req.as_bytes()).expect("write request");
    let mut answer = Vec::new();
    conn.read_to_end(&mut answer).expect("read answer");
    assert!(answer.starts_with(b"HTTP/1.1 200"), "bad answer");
    answer.len()
}

/// HTTP through our `Tunnel` vs through `ssh -L`, against the same loopback server.
fn bench_forward() {
    let reqs = env_num("BENCH_FORWARD_REQS", 50);
    let big = usize::try_from(env_num("BENCH_FORWARD_MB", 64) * 1024 * 1024).expect("size");
    let sshd = Sshd::start(SshdConfig {
        allow_tcp_forwarding: true,
        ..SshdConfig::default()
    });
    let ossh = OpenSsh { sshd: &sshd };
    let http = http_server(big);
    println!(
        "ssh_vs_openssh forward: sshd on 127.0.0.1:{}, HTTP on 127.0.0.1:{http}",
        sshd.port()
    );

    let tunnel = Tunnel::open(&sshd.connect_options(), "127.0.0.1", http).expect("tunnel");
    http_get(tunnel.connect().expect("connect"), "/small"); // warm-up
    let (ours_small, ()) = time(|| {
        for _ in 0..reqs {
            http_get(tunnel.connect().expect("connect"), "/small");
        }
    });
    let (ours_big, got) = time(|| http_get(tunnel.connect().expect("connect"), "/big"));
    assert!(got > big);

    let local = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("free port")
        .port();
    let mut args = ossh.common(CHACHA);
    args.extend([
        "-N".into(),
        "-o".into(),
        "ExitOnForwardFailure=yes".into(),
        "-L".into(),
        format!("127.0.0.1:{local}:127.0.0.1:{http}"),
        "-p".into(),
        sshd.port().to_string(),
        ossh.dest(),
    ]);
    let mut child = std::process::Command::new("ssh")
        .args(&args)
        .stdin(Stdio::null())
        .spawn()
        .expect("ssh -L");
    let dial = || std::net::TcpStream::connect(("127.0.0.1", local));
    let up = Instant::now();
    while dial().is_err() {
        assert!(
            up.elapsed() < Duration::from_secs(10),
            "ssh -L did not come up"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    http_get(dial().expect("connect"), "/small"); // warm-up
    let (ssh_small, ()) = time(|| {
        for _ in 0..reqs {
            http_get(dial().expect("connect"), "/small");
        }
    });
    let (ssh_big, got) = time(|| http_get(dial().expect("connect"), "/big"));
    assert!(got > big);
    let _ = child.kill();
    let _ = child.wait();

    let (o, p) = (ms(ours_small) / reqs as f64, ms(ssh_small) / reqs as f64);
    println!("\n== {reqs} HTTP GETs of 1 KiB, a new connection each");
    println!("  comfy-local-ssh Tunnel {o:8.2} ms/request");
    println!("  ssh -L                 {p:8.2} ms/request");
    println!("  ratio ours/ssh         {:8.3}   (goal <= 1.0)", o / p);
    let (o, p) = (mbps(big as u64, ours_big), mbps(big as u64, ssh_big));
    println!("\n== one HTTP GET of {} MiB", big / 1_048_576);
    println!("  comfy-local-ssh Tunnel {o:8.1} MB/s");
    println!("  ssh -L                 {p:8.1} MB/s");
    println!("  ratio ours/ssh         {:8.3}   (goal >= 1.0)", o / p);
}
