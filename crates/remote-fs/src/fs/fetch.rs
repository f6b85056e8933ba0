//! Host fetch: the host itself downloads a URL into `<name>.part` (Python's urllib, run over
//! SSH), then the `.part` is checked and renamed into place as a put's is.
//!
//! The path checks are the put's (the parent `realpath`'d inside its root, the final name
//! `lstat`'d); the `.part` is opened by the host-side program with `O_NOFOLLOW` (and `O_EXCL`
//! when it starts afresh), so a symlink planted there is never followed. What the program needs
//! that could be secret (the URL, request headers) reaches it as one JSON line on its stdin,
//! never in its command line or environment. It follows no redirect (the caller resolves
//! them first), hashes the whole file (the kept prefix included) and reports progress as JSON
//! lines on stdout.

use std::ops::ControlFlow;
use std::time::Duration;

use camino::Utf8PathBuf;
use comfy_local_ssh::SshError;

use super::transfer::{Progress, PutOptions, PutReport, check_final, part_path};
use super::{FsError, RemoteFs};
use crate::host::{Host, HostError, HostErrorKind, Kind, SftpHost, stdlib_python};
use crate::layout::RemotePath;
use crate::path::HostOs;

/// The host-side program (Python 3.8+, standard library only). argv: the `.part` path and the
/// number of bytes it must already hold; stdin: one JSON line with `url`, `headers`,
/// `max_bytes`, `total`. Exit status 0 with a final `{"done": ...}` line, else one
/// `{"error": KIND, "message": ...}` line and status 1.
const FETCH_PY: &str = r#"
import hashlib, json, os, queue, sys, threading, time, urllib.error, urllib.request

LOCK = threading.Lock()

def out(obj):
    # A closed stdout means the other end stopped us (Ctrl-C): end at once, from any thread,
    # or the SSH channel would wait for the whole download.
    try:
        with LOCK:
            sys.stdout.write(json.dumps(obj) + "\n")
            sys.stdout.flush()
    except OSError:
        os._exit(3)

def fail(kind, message):
    out({"error": kind, "message": message})
    sys.exit(1)

# The written file reaches the disk as it is written, not all at the end: a thread of its own
# flushes it (fdatasync, else fsync) whenever FLUSH_EVERY more bytes were written, while the
# writes go on, so the final fsync has at most that much left to wait for. Starting the
# writeback with sync_file_range instead left most of it to the end (the disk fell behind).
FLUSH_EVERY = 32 << 20

def flusher(fd, state, failed, stop):
    sync = getattr(os, "fdatasync", os.fsync)
    flushed = state["pos"]
    while not stop.is_set():
        pos = state["pos"]
        if pos - flushed < FLUSH_EVERY:
            stop.wait(0.01)
            continue
        try:
            sync(fd)
        except OSError as e:
            # Linux reports a writeback error to one fsync only: keep it, or it is lost.
            failed.append(e)
            return
        flushed = pos

class NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, req, fp, code, msg, headers, newurl):
        return None

def main():
    part, offset = sys.argv[1], int(sys.argv[2])
    req = json.loads(sys.stdin.readline())
    flags = os.O_WRONLY | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_BINARY", 0)
    h = hashlib.sha256()
    try:
        if offset == 0:
            fd = os.open(part, flags | os.O_CREAT | os.O_EXCL, 0o644)
        else:
            fd = os.open(part, flags | os.O_APPEND)
            if os.fstat(fd).st_size != offset:
                fail("part_changed", "%s holds %d bytes, not %d" % (part, os.fstat(fd).st_size, offset))
            with open(os.open(part, os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0)), "rb") as f:
                left = offset
                while left > 0:
                    b = f.read(min(left, 1 << 20))
                    if not b:
                        fail("part_changed", "%s shrank while it was read" % part)
                    h.update(b)
                    left -= len(b)
    except OSError as e:
        fail("open_part", "%s: %s" % (part, e))
    headers = dict(req.get("headers") or {})
    headers["Accept-Encoding"] = "identity"
    if offset > 0:
        headers["Range"] = "bytes=%d-" % offset
    opener = urllib.request.build_opener(NoRedirect())
    try:
        resp = opener.open(urllib.request.Request(req["url"], headers=headers), timeout=60)
    except urllib.error.HTTPError as e:
        fail("status", "HTTP %d" % e.code)
    except Exception as e:
        fail("request", str(e))
    if offset > 0:
        cr = resp.headers.get("Content-Range", "")
        if resp.status != 206 or not cr.startswith("bytes %d-" % offset):
            fail("range_ignored", "asked for bytes %d- and got HTTP %d %s" % (offset, resp.status, cr))
    elif resp.status != 200:
        fail("status", "HTTP %d" % resp.status)
    limit, total = int(req["max_bytes"]), req.get("total")
    # Reading overlaps hashing and writing (both release the GIL): the response is read into
    # reused 1 MiB buffers (no allocation per read), which a second thread hashes, writes and
    # hands back. A third flushes what was written (see flusher). A fourth reports the bytes
    # written every 0.25 s, also while the source is silent, so the other end can stop us
    # (Ctrl-C) without waiting for data; a source silent for 60 s fails the read (urllib's
    # timeout).
    full, free, failed = queue.Queue(maxsize=8), queue.Queue(), []
    state = {"pos": offset, "done": False}
    for _ in range(10):
        free.put(bytearray(1 << 20))
    def sink():
        while True:
            item = full.get()
            if item is None:
                return
            buf, n = item
            view = memoryview(buf)[:n]
            try:
                h.update(view)
                while view:
                    view = view[os.write(fd, view):]
                state["pos"] += n
            except OSError as e:
                failed.append(e)
            free.put(buf)
    def beat():
        while not state["done"]:
            out({"position": state["pos"], "total": total})
            time.sleep(0.25)
    writer = threading.Thread(target=sink, daemon=True)
    writer.start()
    stop_flush = threading.Event()
    flush = threading.Thread(target=flusher, args=(fd, state, failed, stop_flush), daemon=True)
    flush.start()
    threading.Thread(target=beat, daemon=True).start()
    pos = offset
    try:
        while not failed:
            buf = free.get()
            n = resp.readinto(buf)
            if not n:
                break
            pos += n
            if pos > limit:
                fail("too_large", "more than %d bytes" % limit)
            full.put((buf, n))
    except Exception as e:
        fail("source", str(e))
    full.put(None)
    writer.join()
    stop_flush.set()
    flush.join()
    state["done"] = True
    try:
        if failed:
            raise failed[0]
        os.fsync(fd)
        os.close(fd)
    except OSError as e:
        fail("write", "%s: %s" % (part, e))
    if total is not None and pos != int(total):
        fail("source", "the source ended at byte %d of %d" % (pos, int(total)))
    out({"done": True, "size": pos, "sha256": h.hexdigest()})

main()
"#;

/// Stdout and stderr the host program may print before we stop reading.
const OUTPUT_CAP: usize = 64 * 1024;

/// What the host fetches, and how.
#[derive(Debug, Clone)]
pub struct HostFetch {
    /// The URL the host asks (no redirect is followed: give the final one). It may carry a
    /// token in its query: it reaches the host through stdin only.
    pub url: String,
    /// Request headers (`Authorization: Bearer ...`), also sent through stdin only.
    pub headers: Vec<(String, String)>,
    /// The Python the host runs the program with (`python3`, or ComfyUI's own).
    pub python: String,
    /// Largest file accepted, in bytes.
    pub max_bytes: u64,
    /// Cut the download off when no progress arrived for this long.
    pub idle_timeout: Duration,
}

/// How a host fetch failed on the host: the program's own error kind and message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HostFetchFailure {
    /// `status`, `request`, `source`, `range_ignored`, `too_large`, `part_changed`,
    /// `open_part`, `write`, or `program` (no usable answer: no Python, a crash).
    pub kind: String,
    pub message: String,
}

impl RemoteFs<SftpHost> {
    /// Has the host download `fetch.url` into `dest`'s `<name>.part` (resumed from what is
    /// there when `opts.resume`; `opts.source_offset` must then match it), then checks the
    /// sha256 and renames it into place, as [`RemoteFs::put`] does. `progress` may return
    /// `Break` to stop; the `.part` is kept.
    pub fn fetch_on_host(
        &self,
        dest: &RemotePath,
        fetch: &HostFetch,
        opts: &PutOptions,
        progress: &mut dyn FnMut(Progress) -> ControlFlow<()>,
    ) -> Result<PutReport, FsError> {
        let requested = dest.to_string();
        if self.os() != HostOs::Posix {
            return Err(FsError::HostFetch {
                requested,
                failure: HostFetchFailure {
                    kind: "program".to_owned(),
                    message: "host fetch needs a POSIX host".to_owned(),
                },
            });
        }
        let (parent, target, meta) = self.resolve_new(dest, opts.create_parents)?;
        check_final(&requested, &target, meta, opts.overwrite)?;
        let part = part_path(&requested, dest, &parent)?;
        let offset = self.part_offset(&part, opts.resume && opts.source_offset != Some(0))?;
        if let Some(expected) = opts.source_offset
            && expected != offset
        {
            return Err(FsError::PartChanged {
                requested,
                part,
                expected,
                actual: offset,
            });
        }
        let done = self.run_fetch(&requested, &part, offset, fetch, opts.total, progress)?;
        let sha256 = parse_sha256(&done.sha256)
            .ok_or_else(|| program_failure(&requested, "an invalid sha256"))?;
        let part_meta = self.host.lstat(&part)?;
        if part_meta.kind != Kind::File || part_meta.size != done.size {
            return Err(program_failure(
                &requested,
                "a .part that is not the file it wrote",
            ));
        }
        self.commit_part(&requested, &part, &target, sha256, opts)?;
        Ok(PutReport {
            path: target,
            size: done.size,
            resumed_from: offset,
            sha256,
            fsynced: true,
        })
    }

    /// The size of a `.part` to resume (a plain file), or 0 after removing whatever is there.
    fn part_offset(&self, part: &Utf8PathBuf, resume: bool) -> Result<u64, FsError> {
        match self.host.lstat(part) {
            Ok(m) if resume && m.kind == Kind::File => Ok(m.size),
            Ok(m) if m.kind == Kind::Dir => Err(FsError::NotAFile {
                requested: part.to_string(),
                path: part.clone(),
                kind: m.kind,
            }),
            Ok(_) => {
                self.host.unlink(part)?;
                Ok(0)
            }
            Err(e) if e.is_not_found() => Ok(0),
            Err(e) => Err(e.into()),
        }
    }

    fn run_fetch(
        &self,
        requested: &str,
        part: &Utf8PathBuf,
        offset: u64,
        fetch: &HostFetch,
        total: Option<u64>,
        progress: &mut dyn FnMut(Progress) -> ControlFlow<()>,
    ) -> Result<Done, FsError> {
        let request = serde_json::json!({
            "url": fetch.url,
            "headers": fetch.headers.iter().cloned().collect::<std::collections::BTreeMap<_, _>>(),
            "max_bytes": fetch.max_bytes,
            "total": total,
        });
        let mut line = request.to_string().into_bytes();
        line.push(b'\n');
        let cmd = stdlib_python(&fetch.python, FETCH_PY)
            .arg(part.as_str())
            .arg(offset.to_string())
            .stdin(std::io::Cursor::new(line))
            .output_cap(OUTPUT_CAP);
        let mut pending = Vec::new();
        let mut last = Reply::None;
        let mut position = offset;
        let mut cancelled = false;
        let result = self
            .host
            .session()
            .exec_streaming(&cmd, fetch.idle_timeout, &mut |data| {
                pending.extend_from_slice(data);
                if pending.len() > OUTPUT_CAP {
                    return Err(stop("the host's fetch program printed too much"));
                }
                while let Some(end) = pending.iter().position(|&b| b == b'\n') {
                    let line: Vec<u8> = pending.drain(..=end).collect();
                    last = Reply::parse(&line);
                    if let Reply::Progress(p) = last {
                        position = p;
                        if progress(Progress { position: p, total }).is_break() {
                            cancelled = true;
                            return Err(stop("cancelled"));
                        }
                    }
                }
                Ok(())
            });
        if cancelled {
            return Err(FsError::Cancelled {
                requested: requested.to_owned(),
                written: position,
                part: part.clone(),
            });
        }
        let output = result.map_err(|e| {
            FsError::Host(HostError {
                op: "fetching on the host into",
                path: part.clone(),
                kind: HostErrorKind::Other,
                source: Box::new(e),
            })
        })?;
        match last {
            Reply::Done(done) if output.exit_status == 0 => {
                let _ = progress(Progress {
                    position: done.size,
                    total,
                });
                Ok(done)
            }
            Reply::Failed(failure) => Err(FsError::HostFetch {
                requested: requested.to_owned(),
                failure,
            }),
            _ => Err(program_failure(
                requested,
                &format!(
                    "no result (exit status {}): {}",
                    output.exit_status,
                    String::from_utf8_lossy(&output.stderr).trim()
                ),
            )),
        }
    }
}

/// The end of a successful fetch, as the host reported it.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Done {
    size: u64,
    sha256: String,
}

/// One line of the host program.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Reply {
    None,
    Progress(u64),
    Done(Done),
    Failed(HostFetchFailure),
}

impl Reply {
    fn parse(line: &[u8]) -> Reply {
        let Ok(v) = serde_json::from_slice::<serde_json::Value>(line) else {
            return Reply::None;
        };
        let text = |k: &str| v.get(k).and_then(|x| x.as_str()).map(str::to_owned);
        if let Some(kind) = text("error") {
            return Reply::Failed(HostFetchFailure {
                kind,
                message: text("message").unwrap_or_default(),
            });
        }
        if v.get("done").and_then(serde_json::Value::as_bool) == Some(true) {
            return match (
                v.get("size").and_then(serde_json::Value::as_u64),
                text("sha256"),
            ) {
                (Some(size), Some(sha256)) => Reply::Done(Done { size, sha256 }),
                _ => Reply::None,
            };
        }
        v.get("position")
            .and_then(serde_json::Value::as_u64)
            .map_or(Reply::None, Reply::Progress)
    }
}

/// The error that ends the exchange from the stdout callback (the channel is closed).
fn stop(why: &str) -> SshError {
    SshError::LocalIo {
        op: "reading the fetch program's output",
        remote: why.to_owned(),
        source: std::io::Error::new(std::io::ErrorKind::Interrupted, why.to_owned()),
    }
}

fn parse_sha256(text: &str) -> Option<[u8; 32]> {
    hex::decode(text).ok()?.try_into().ok()
}

fn program_failure(requested: &str, message: &str) -> FsError {
    FsError::HostFetch {
        requested: requested.to_owned(),
        failure: HostFetchFailure {
            kind: "program".to_owned(),
            message: format!("the host's fetch program gave {message}"),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn replies_are_parsed_and_anything_else_is_ignored() {
        assert_eq!(
            Reply::parse(br#"{"position": 5, "total": null}"#),
            Reply::Progress(5)
        );
        assert_eq!(
            Reply::parse(br#"{"done": true, "size": 3, "sha256": "ab"}"#),
            Reply::Done(Done {
                size: 3,
                sha256: "ab".to_owned()
            })
        );
        assert_eq!(
            Reply::parse(br#"{"error": "status", "message": "HTTP 404"}"#),
            Reply::Failed(HostFetchFailure {
                kind: "status".to_owned(),
                message: "HTTP 404".to_owned()
            })
        );
        for junk in [
            &b"not json"[..],
            b"{}",
            br#"{"done": true}"#,
            br#"{"position": -1}"#,
        ] {
            assert_eq!(
                Reply::parse(junk),
                Reply::None,
                "{}",
                String::from_utf8_lossy(junk)
            );
        }
    }
}
