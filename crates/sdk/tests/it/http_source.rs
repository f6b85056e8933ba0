//! A loopback HTTP/1.1 file server for install tests, with knobs: drop the connection after
//! some bytes, ignore `Range`, redirect, require a bearer token. Records every request.

use std::io::{BufRead, BufReader, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

/// One request as received.
#[derive(Debug, Clone)]
pub struct Seen {
    pub target: String,
    pub headers: Vec<(String, String)>,
}

impl Seen {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

/// What the server does.
#[derive(Debug, Default)]
pub struct Knobs {
    /// For successive file requests: drop the connection after this many body bytes.
    pub drops: Mutex<Vec<u64>>,
    pub ignore_range: AtomicBool,
    /// Answer 401 unless `Authorization: Bearer <this>`.
    pub bearer: Option<String>,
    /// `/start` redirects here (302).
    pub redirect_to: Option<String>,
    /// A `Content-Disposition` file name.
    pub disposition: Option<String>,
}

pub struct FileServer {
    pub port: u16,
    pub knobs: Arc<Knobs>,
    pub seen: Arc<Mutex<Vec<Seen>>>,
}

impl FileServer {
    /// Serves `data` at every path (except `/start` when it redirects).
    pub fn start(data: Arc<Vec<u8>>, knobs: Knobs) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let knobs = Arc::new(knobs);
        let seen = Arc::new(Mutex::new(Vec::new()));
        let (k, s) = (knobs.clone(), seen.clone());
        std::thread::spawn(move || {
            for conn in listener.incoming() {
                let Ok(conn) = conn else { continue };
                let (k, s, data) = (k.clone(), s.clone(), data.clone());
                std::thread::spawn(move || {
                    let _ = serve(conn, &k, &s, &data);
                });
            }
        });
        FileServer { port, knobs, seen }
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}{path}", self.port)
    }

    pub fn seen(&self) -> Vec<Seen> {
        self.seen.lock().unwrap().clone()
    }
}

fn serve(conn: TcpStream, k: &Knobs, seen: &Mutex<Vec<Seen>>, data: &[u8]) -> std::io::Result<()> {
    let mut reader = BufReader::new(conn.try_clone()?);
    let mut line = String::new();
    reader.read_line(&mut line)?;
    let target = line.split_whitespace().nth(1).unwrap_or("/").to_owned();
    let mut headers = Vec::new();
    loop {
        let mut h = String::new();
        reader.read_line(&mut h)?;
        let h = h.trim_end();
        if h.is_empty() {
            break;
        }
        if let Some((name, value)) = h.split_once(':') {
            headers.push((name.trim().to_owned(), value.trim().to_owned()));
        }
    }
    let req = Seen { target, headers };
    seen.lock().unwrap().push(req.clone());
    let mut out = conn;
    if let Some(token) = &k.bearer
        && req.header("authorization") != Some(&format!("Bearer {token}"))
    {
        return write!(
            out,
            "HTTP/1.1 401 Unauthorized\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
        );
    }
    if req.target.starts_with("/start")
        && let Some(to) = &k.redirect_to
    {
        return write!(
            out,
            "HTTP/1.1 302 Found\r\nLocation: {to}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
        );
    }
    if req.target.starts_with("/forbidden") {
        return write!(
            out,
            "HTTP/1.1 403 Forbidden\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
        );
    }
    let from = req
        .header("range")
        .and_then(|r| r.strip_prefix("bytes="))
        .and_then(|r| r.strip_suffix('-'))
        .and_then(|r| r.parse::<usize>().ok())
        .filter(|_| !k.ignore_range.load(Ordering::SeqCst));
    let disposition = k
        .disposition
        .as_ref()
        .map(|d| format!("Content-Disposition: attachment; filename=\"{d}\"\r\n"))
        .unwrap_or_default();
    let body = match from {
        Some(from) if from >= data.len() => {
            return write!(
                out,
                "HTTP/1.1 416 Range Not Satisfiable\r\nContent-Range: bytes */{}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
                data.len()
            );
        }
        Some(from) => {
            write!(
                out,
                "HTTP/1.1 206 Partial Content\r\nContent-Range: bytes {from}-{}/{}\r\nContent-Length: {}\r\n{disposition}Connection: close\r\n\r\n",
                data.len() - 1,
                data.len(),
                data.len() - from
            )?;
            &data[from..]
        }
        None => {
            write!(
                out,
                "HTTP/1.1 200 OK\r\nContent-Length: {}\r\nAccept-Ranges: bytes\r\n{disposition}Connection: close\r\n\r\n",
                data.len()
            )?;
            data
        }
    };
    let drop_after = {
        let mut drops = k.drops.lock().unwrap();
        if drops.is_empty() {
            None
        } else {
            Some(drops.remove(0))
        }
    };
    match drop_after {
        Some(n) => {
            out.write_all(&body[..(n as usize).min(body.len())])?;
            out.flush()?;
            let _ = out.shutdown(std::net::Shutdown::Both);
        }
        None => out.write_all(body)?,
    }
    Ok(())
}

/// Deterministic, incompressible-looking bytes.
pub fn generated(len: usize, seed: u64) -> Vec<u8> {
    let mut x = seed.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1);
    (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            (x >> 24) as u8
        })
        .collect()
}
