//! Integration tests of `comfy-backend`: the binary (or the library, where a test needs a
//! config the file form refuses, such as the test sshd's user) against the fake ComfyUI, the
//! fake VastAI and the real sshd harness, over HTTP on loopback.

mod api;
mod batches;
mod browser;
mod compose;
mod restart;
mod ssh;

use std::io::{BufRead as _, BufReader, Read as _};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use camino::{Utf8Path, Utf8PathBuf};
use serde_json::Value;

/// The repository root.
pub fn repo_root() -> Utf8PathBuf {
    Utf8Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// A fresh temp dir with a UTF-8 path.
pub fn temp_dir() -> (tempfile::TempDir, Utf8PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let path = Utf8PathBuf::from_path_buf(dir.path().to_path_buf()).unwrap();
    (dir, path)
}

/// A config whose only instance's ComfyUI is at `url` (its SSH part points at files that do
/// not exist: runs talk HTTP only), plus `extra` YAML.
pub fn config_for(dir: &Utf8Path, url: &str, extra: &str) -> Utf8PathBuf {
    let path = dir.join("config.yml");
    std::fs::write(
        &path,
        format!(
            "local:
  - id: local
    name: My workstation
    ssh: {{ host: 127.0.0.1, key_file: {dir}/key, known_hosts_file: {dir}/kh }}
    comfyui: {{ path: /opt/ComfyUI, api_url: '{url}' }}
{extra}"
        ),
    )
    .unwrap();
    path
}

/// A running `comfy-backend` process, killed on drop.
#[derive(Debug)]
pub struct Proc {
    pub child: Child,
    pub url: String,
    stderr: std::sync::Arc<std::sync::Mutex<String>>,
}

impl Proc {
    /// Starts `comfy-backend --config CONFIG --listen 127.0.0.1:0 ARGS` with `env`, and waits
    /// for its "listening on" line.
    pub fn start(config: &Utf8Path, args: &[&str], env: &[(&str, &str)]) -> Proc {
        let mut child = Command::new(env!("CARGO_BIN_EXE_comfy-backend"))
            .args(["--config", config.as_str(), "--listen", "127.0.0.1:0"])
            .args(args)
            .env_remove("COMFY_BACKEND_TOKEN")
            .env_remove("RUST_LOG")
            .envs(env.iter().copied())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let stderr = std::sync::Arc::new(std::sync::Mutex::new(String::new()));
        {
            let mut pipe = child.stderr.take().unwrap();
            let stderr = std::sync::Arc::clone(&stderr);
            std::thread::spawn(move || {
                let mut buf = [0u8; 4096];
                while let Ok(n) = pipe.read(&mut buf) {
                    if n == 0 {
                        break;
                    }
                    stderr
                        .lock()
                        .unwrap()
                        .push_str(&String::from_utf8_lossy(&buf[..n]));
                }
            });
        }
        let mut line = String::new();
        BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut line)
            .unwrap();
        let url = line
            .trim()
            .strip_prefix("comfy-backend listening on ")
            .unwrap_or_else(|| {
                panic!(
                    "no listening line: {line:?}; stderr: {}",
                    stderr.lock().unwrap()
                )
            })
            .to_owned();
        Proc { child, url, stderr }
    }

    /// What it logged so far.
    pub fn stderr(&self) -> String {
        self.stderr.lock().unwrap().clone()
    }

    /// Sends a signal (`-KILL`, `-TERM`) and waits for the exit code.
    pub fn signal(&mut self, signal: &str) -> Option<i32> {
        let st = Command::new("kill")
            .args([signal, &self.child.id().to_string()])
            .status()
            .unwrap();
        assert!(st.success());
        self.child.wait().unwrap().code()
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// An HTTP client that returns 4xx/5xx answers instead of failing.
pub fn agent() -> ureq::Agent {
    ureq::Agent::config_builder()
        .http_status_as_error(false)
        .timeout_global(Some(Duration::from_secs(60)))
        .build()
        .into()
}

/// An answer: status, headers we check, body.
#[derive(Debug)]
pub struct Answer {
    pub status: u16,
    pub content_type: String,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Answer {
    pub fn json(&self) -> Value {
        serde_json::from_slice(&self.body)
            .unwrap_or_else(|e| panic!("not JSON ({e}): {}", String::from_utf8_lossy(&self.body)))
    }

    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// Asserts an error answer of this status and code.
    pub fn assert_error(&self, status: u16, code: &str) {
        assert_eq!(self.status, status, "{self:?}");
        let v = self.json();
        assert_eq!(v["error"]["code"], code, "{v}");
        assert!(v["error"]["message"].is_string(), "{v}");
        assert!(v["error"].get("hint").is_some(), "{v}");
    }
}

fn answer(response: Result<ureq::http::Response<ureq::Body>, ureq::Error>) -> Answer {
    let mut response = response.unwrap_or_else(|e| panic!("request failed: {e}"));
    let headers = response
        .headers()
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_str().unwrap_or_default().to_owned()))
        .collect::<Vec<_>>();
    let content_type = response
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    let body = response
        .body_mut()
        .with_config()
        .limit(64 * 1024 * 1024)
        .read_to_vec()
        .unwrap();
    Answer {
        status: response.status().as_u16(),
        content_type,
        headers,
        body,
    }
}

/// `GET url` with these headers.
pub fn get(url: &str, headers: &[(&str, &str)]) -> Answer {
    let mut req = agent().get(url);
    for (k, v) in headers {
        req = req.header(*k, *v);
    }
    answer(req.call())
}

/// `POST url` with a body of this content type.
pub fn post(url: &str, content_type: &str, body: &[u8]) -> Answer {
    answer(
        agent()
            .post(url)
            .header("content-type", content_type)
            .send(body),
    )
}

/// `POST url` with a JSON body.
pub fn post_json(url: &str, body: &Value) -> Answer {
    post(url, "application/json", body.to_string().as_bytes())
}

/// A multipart/form-data body: (part name, file name, bytes) each; returns (content type, body).
pub fn multipart(parts: &[(&str, Option<&str>, &[u8])]) -> (String, Vec<u8>) {
    let boundary = "----comfy-backend-test-boundary";
    let mut body = Vec::new();
    for (name, file, bytes) in parts {
        body.extend_from_slice(format!("--{boundary}\r\n").as_bytes());
        match file {
            Some(file) => body.extend_from_slice(
                format!("Content-Disposition: form-data; name=\"{name}\"; filename=\"{file}\"\r\nContent-Type: application/octet-stream\r\n\r\n").as_bytes(),
            ),
            None => body.extend_from_slice(
                format!("Content-Disposition: form-data; name=\"{name}\"\r\n\r\n").as_bytes(),
            ),
        }
        body.extend_from_slice(bytes);
        body.extend_from_slice(b"\r\n");
    }
    body.extend_from_slice(format!("--{boundary}--\r\n").as_bytes());
    (format!("multipart/form-data; boundary={boundary}"), body)
}

/// One Server-Sent Event.
#[derive(Debug, Clone)]
pub struct Sse {
    pub id: u64,
    pub event: String,
    pub data: Value,
}

/// Reads a job's event stream to its end (with `Last-Event-ID` when given).
pub fn events(base: &str, job: &str, last_id: Option<u64>) -> Vec<Sse> {
    read_events(base, job, last_id, |_| false)
}

/// Reads a job's event stream until its end or until `stop` says so.
pub fn read_events(
    base: &str,
    job: &str,
    last_id: Option<u64>,
    mut stop: impl FnMut(&Sse) -> bool,
) -> Vec<Sse> {
    let mut req = agent().get(&format!("{base}/api/jobs/{job}/events"));
    if let Some(id) = last_id {
        req = req.header("Last-Event-ID", id.to_string());
    }
    let response = req.call().unwrap();
    assert_eq!(response.status().as_u16(), 200);
    let reader = BufReader::new(response.into_body().into_reader());
    let mut out = Vec::new();
    let (mut id, mut event, mut data) = (0, String::new(), String::new());
    for line in reader.lines() {
        let Ok(line) = line else { break };
        if line.is_empty() {
            if !event.is_empty() {
                let sse = Sse {
                    id,
                    event: std::mem::take(&mut event),
                    data: serde_json::from_str(&data).unwrap(),
                };
                data.clear();
                let done = stop(&sse);
                out.push(sse);
                if done {
                    break;
                }
            }
            continue;
        }
        if let Some(v) = line
            .strip_prefix("id: ")
            .or_else(|| line.strip_prefix("id:"))
        {
            id = v.trim().parse().unwrap();
        } else if let Some(v) = line
            .strip_prefix("event: ")
            .or_else(|| line.strip_prefix("event:"))
        {
            v.trim().clone_into(&mut event);
        } else if let Some(v) = line
            .strip_prefix("data: ")
            .or_else(|| line.strip_prefix("data:"))
        {
            data.push_str(v);
        }
    }
    out
}

/// Waits until `f` holds (or panics after `secs`).
pub fn wait_until(secs: u64, what: &str, mut f: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(secs);
    while !f() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// A job's record.
pub fn job(base: &str, id: &str) -> Value {
    get(&format!("{base}/api/jobs/{id}"), &[]).json()
}

/// Submits an API workflow file as JSON and returns the job id.
pub fn submit_file(base: &str, workflow: &Utf8Path) -> String {
    let wf: Value = serde_json::from_str(&std::fs::read_to_string(workflow).unwrap()).unwrap();
    let a = post_json(
        &format!("{base}/api/instances/local/workflows"),
        &serde_json::json!({"workflow": wf}),
    );
    assert_eq!(a.status, 202, "{a:?}");
    a.json()["job_id"].as_str().unwrap().to_owned()
}

/// Whether these bytes are a PNG.
pub fn is_png(bytes: &[u8]) -> bool {
    bytes.starts_with(b"\x89PNG\r\n\x1a\n") && bytes.len() > 60
}
