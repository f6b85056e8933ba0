//! The staged connection report: one row per stage, each timed, with a hint on failure.

use std::fmt::Write as _;
use std::time::Duration;

use serde::Serialize;

/// The stages of a connection test, in the order they run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Stage {
    /// The config file loads and validates.
    Config,
    /// The private key file is readable and private.
    KeyFile,
    /// The sshd port accepts a TCP connection.
    Tcp,
    /// SSH handshake and host key verification.
    Handshake,
    /// Public key authentication.
    Auth,
    /// Remote identity (user, OS) and the ComfyUI install (main.py, folders).
    Remote,
    /// A probe file can be created and removed in each folder we write to.
    WriteAccess,
    /// ComfyUI's HTTP API answers (system_stats, object_info).
    ComfyApi,
    /// ComfyUI's WebSocket accepts a connection.
    WebSocket,
}

impl Stage {
    /// All stages in order.
    pub const ALL: [Stage; 9] = [
        Stage::Config,
        Stage::KeyFile,
        Stage::Tcp,
        Stage::Handshake,
        Stage::Auth,
        Stage::Remote,
        Stage::WriteAccess,
        Stage::ComfyApi,
        Stage::WebSocket,
    ];

    /// A short human title.
    pub fn title(self) -> &'static str {
        match self {
            Stage::Config => "config valid",
            Stage::KeyFile => "key file readable and private",
            Stage::Tcp => "TCP reachable",
            Stage::Handshake => "SSH handshake and host key",
            Stage::Auth => "authentication",
            Stage::Remote => "remote identity and ComfyUI install",
            Stage::WriteAccess => "write access to ComfyUI folders",
            Stage::ComfyApi => "ComfyUI HTTP API",
            Stage::WebSocket => "ComfyUI WebSocket",
        }
    }
}

/// What kind of problem a failed stage shows (the CLI's exit code: 2, 3, 4).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum FailureKind {
    /// The config (or the instance chosen) is wrong.
    Config,
    /// The host could not be reached or logged in to (key file, TCP, handshake, auth).
    Connection,
    /// The host or ComfyUI answered, but is not usable as configured.
    Remote,
}

impl Stage {
    /// What a failure of this stage says about the setup.
    pub fn failure_kind(self) -> FailureKind {
        match self {
            Stage::Config => FailureKind::Config,
            Stage::KeyFile | Stage::Tcp | Stage::Handshake | Stage::Auth => FailureKind::Connection,
            Stage::Remote | Stage::WriteAccess | Stage::ComfyApi | Stage::WebSocket => {
                FailureKind::Remote
            }
        }
    }
}

/// How a stage ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum StageStatus {
    /// It worked.
    Pass,
    /// It worked, but something looks wrong (the hint says what); later stages still run.
    Warn,
    /// It failed; later stages are skipped.
    Fail,
    /// Not run because an earlier stage failed.
    Skip,
}

/// One row of the report.
#[derive(Debug, Clone, Serialize)]
pub struct StageResult {
    /// Which stage.
    pub stage: Stage,
    /// Its title.
    pub title: &'static str,
    /// Pass, fail or skip.
    pub status: StageStatus,
    /// How long it took (absent when skipped).
    #[serde(serialize_with = "ser_ms", rename = "duration_ms")]
    pub duration: Option<Duration>,
    /// What was found, or why it failed.
    pub detail: String,
    /// What to do about a failure.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub hint: Option<String>,
}

#[expect(
    clippy::ref_option,
    reason = "serde's serialize_with passes a reference to the field"
)]
fn ser_ms<S: serde::Serializer>(d: &Option<Duration>, s: S) -> Result<S::Ok, S::Error> {
    match d {
        Some(d) => s.serialize_f64((d.as_secs_f64() * 1000.0 * 10.0).round() / 10.0),
        None => s.serialize_none(),
    }
}

/// The whole report of a connection test.
#[derive(Debug, Clone, Serialize)]
pub struct ConnectionReport {
    /// The instance tested, when the config named one.
    pub instance: Option<String>,
    /// The config file used, when one was found.
    pub config_path: Option<String>,
    /// Every stage, in order.
    pub stages: Vec<StageResult>,
    /// True when every stage passed (warnings included).
    pub ok: bool,
}

impl ConnectionReport {
    /// The first failed stage, if any.
    pub fn first_failure(&self) -> Option<&StageResult> {
        self.stages.iter().find(|s| s.status == StageStatus::Fail)
    }

    /// A plain-text table for a terminal: status, stage, time, detail; hints under failures
    /// and warnings.
    pub fn to_table(&self) -> String {
        let mut out = String::new();
        if let Some(instance) = &self.instance {
            let _ = writeln!(out, "instance: {instance}");
        }
        if let Some(path) = &self.config_path {
            let _ = writeln!(out, "config:   {path}");
        }
        let width = self.stages.iter().map(|s| s.title.len()).max().unwrap_or(0);
        for s in &self.stages {
            let mark = match s.status {
                StageStatus::Pass => "PASS",
                StageStatus::Warn => "WARN",
                StageStatus::Fail => "FAIL",
                StageStatus::Skip => "SKIP",
            };
            let time = s.duration.map_or_else(
                || format!("{:>11}", "-"),
                |d| format!("{:>8.1} ms", d.as_secs_f64() * 1000.0),
            );
            let _ = writeln!(
                out,
                "{mark}  {:<width$}  {time}  {}",
                s.title,
                crate::terminal::one_line(&s.detail)
            );
            if let Some(hint) = &s.hint {
                let _ = writeln!(out, "      hint: {}", crate::terminal::one_line(hint));
            }
        }
        let _ = writeln!(
            out,
            "{}",
            if self.ok && self.stages.iter().any(|s| s.status == StageStatus::Warn) {
                "all checks passed, with warnings".to_owned()
            } else if self.ok {
                "all checks passed".to_owned()
            } else {
                match self.first_failure() {
                    Some(f) => format!("connection test failed at: {}", f.title),
                    None => "connection test failed".to_owned(),
                }
            }
        );
        out
    }
}
