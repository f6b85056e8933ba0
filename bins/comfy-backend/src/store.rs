//! The job store: jobs, their events and their output records in one SQLite database (WAL),
//! each write committed before it is announced, so a backend killed at any moment loses nothing
//! it reported.

use std::path::Path;
use std::sync::{Mutex, MutexGuard};

use rusqlite::{Connection, OptionalExtension as _, params};
use serde::Serialize;
use utoipa::ToSchema;

/// The schema version this code writes (`PRAGMA user_version`).
const SCHEMA_VERSION: i64 = 1;

const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS jobs (
    id TEXT PRIMARY KEY,
    kind TEXT NOT NULL,
    instance TEXT NOT NULL,
    state TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    updated_at INTEGER NOT NULL,
    prompt_id TEXT,
    error TEXT,
    result TEXT
);
CREATE INDEX IF NOT EXISTS jobs_by_creation ON jobs (created_at);
CREATE TABLE IF NOT EXISTS events (
    job_id TEXT NOT NULL,
    seq INTEGER NOT NULL,
    name TEXT NOT NULL,
    data TEXT NOT NULL,
    PRIMARY KEY (job_id, seq)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS outputs (
    job_id TEXT NOT NULL,
    name TEXT NOT NULL,
    size INTEGER NOT NULL,
    content_type TEXT NOT NULL,
    node TEXT NOT NULL,
    kind TEXT NOT NULL,
    PRIMARY KEY (job_id, name)
);
";

/// What the store can fail with.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// SQLite failed.
    #[error("job store {path}: {source}")]
    Sqlite {
        /// The database file.
        path: String,
        /// Why.
        #[source]
        source: rusqlite::Error,
    },
    /// The database was written by a newer backend.
    #[error("job store {path} has schema version {found}; this backend knows {SCHEMA_VERSION}")]
    Version {
        /// The database file.
        path: String,
        /// Its version.
        found: i64,
    },
    /// A stored JSON column does not parse (the file was edited by hand or is damaged).
    #[error("job store {path}: a stored JSON value does not parse: {source}")]
    Json {
        /// The database file.
        path: String,
        /// Why.
        #[source]
        source: serde_json::Error,
    },
}

/// What a job does.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum JobKind {
    /// Runs a workflow.
    Run,
    /// Installs a model file.
    InstallModel,
    /// Installs a custom node.
    InstallNode,
    /// Runs workflows over a pool of instances (`POST /api/batches`).
    Batch,
}

impl JobKind {
    fn as_str(self) -> &'static str {
        match self {
            JobKind::Run => "run",
            JobKind::InstallModel => "install_model",
            JobKind::InstallNode => "install_node",
            JobKind::Batch => "batch",
        }
    }

    fn parse(text: &str) -> JobKind {
        match text {
            "install_model" => JobKind::InstallModel,
            "install_node" => JobKind::InstallNode,
            "batch" => JobKind::Batch,
            _ => JobKind::Run,
        }
    }
}

/// Where a job is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum JobState {
    /// Accepted, not started yet.
    Queued,
    /// Running.
    Running,
    /// Finished successfully.
    Succeeded,
    /// Finished with an error.
    Failed,
    /// Stopped by `POST /api/jobs/{id}/cancel`.
    Cancelled,
    /// The backend stopped (or was killed) while the job ran.
    Interrupted,
}

impl JobState {
    /// The word stored and shown.
    pub fn as_str(self) -> &'static str {
        match self {
            JobState::Queued => "queued",
            JobState::Running => "running",
            JobState::Succeeded => "succeeded",
            JobState::Failed => "failed",
            JobState::Cancelled => "cancelled",
            JobState::Interrupted => "interrupted",
        }
    }

    fn parse(text: &str) -> JobState {
        match text {
            "queued" => JobState::Queued,
            "running" => JobState::Running,
            "succeeded" => JobState::Succeeded,
            "cancelled" => JobState::Cancelled,
            "interrupted" => JobState::Interrupted,
            _ => JobState::Failed,
        }
    }

    /// Whether the job has ended.
    pub fn is_finished(self) -> bool {
        !matches!(self, JobState::Queued | JobState::Running)
    }
}

/// A job's error, as the API shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, serde::Deserialize, ToSchema)]
pub struct ErrorBody {
    /// A stable, machine-readable code (`missing_dependencies`, `comfyui_unreachable`, ...).
    pub code: String,
    /// What went wrong.
    pub message: String,
    /// What to do about it, when there is advice.
    pub hint: Option<String>,
}

/// One job as the API lists it.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct JobRecord {
    /// The job id (a UUID).
    pub id: String,
    pub kind: JobKind,
    /// The instance it runs on.
    pub instance: String,
    pub state: JobState,
    /// Unix time in milliseconds.
    pub created_at: i64,
    /// Unix time in milliseconds of the last state change.
    pub updated_at: i64,
    /// ComfyUI's prompt id, once submitted (run jobs).
    pub prompt_id: Option<String>,
    /// Why it failed, was cancelled or interrupted.
    pub error: Option<ErrorBody>,
    /// What it produced (the run summary, the install outcome), once succeeded.
    #[schema(value_type = Option<Object>)]
    pub result: Option<serde_json::Value>,
}

/// One event of a job, as stored and streamed.
#[derive(Debug, Clone, PartialEq)]
pub struct StoredEvent {
    /// 1, 2, ... per job (the SSE `id:`).
    pub seq: u64,
    /// The SSE `event:` name.
    pub name: String,
    /// The SSE `data:` (one JSON object).
    pub data: String,
}

/// One saved output file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
pub struct OutputRecord {
    /// Its path below the job's output folder (`acc_blur/ComfyUI_00001_.png`); the `{name}` of
    /// `GET /api/jobs/{id}/outputs/{name}`.
    pub name: String,
    /// Bytes.
    pub size: u64,
    /// From the file name's extension (`application/octet-stream` when unknown).
    pub content_type: String,
    /// The node that produced it.
    pub node: String,
    /// Output kind as ComfyUI's history lists it (`images`, `gifs`, ...; `websocket`).
    pub kind: String,
}

/// The SQLite job store; every call is blocking (callers on the async runtime use
/// `spawn_blocking`).
#[derive(Debug)]
pub struct Store {
    conn: Mutex<Connection>,
    path: String,
}

/// SQLite integers are signed: sizes and sequence numbers are stored as `i64`.
fn int(v: u64) -> i64 {
    i64::try_from(v).unwrap_or(i64::MAX)
}

/// A stored `i64` read back as the `u64` it was (0 for a negative one, which this code never writes).
fn uint(v: i64) -> u64 {
    u64::try_from(v).unwrap_or(0)
}

/// Unix time in milliseconds.
pub fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
}

impl Store {
    /// Opens (creating) the database at `path`, in WAL mode.
    pub fn open(path: &Path) -> Result<Store, StoreError> {
        let name = path.display().to_string();
        let sql = |source| StoreError::Sqlite {
            path: name.clone(),
            source,
        };
        let conn = Connection::open(path).map_err(sql)?;
        conn.busy_timeout(std::time::Duration::from_secs(5))
            .map_err(sql)?;
        // WAL: readers never block the writer. synchronous=NORMAL keeps every commit across a
        // killed process (only a power loss can undo the last ones).
        conn.pragma_update(None, "journal_mode", "WAL")
            .map_err(sql)?;
        conn.pragma_update(None, "synchronous", "NORMAL")
            .map_err(sql)?;
        let version: i64 = conn
            .pragma_query_value(None, "user_version", |r| r.get(0))
            .map_err(sql)?;
        if version > SCHEMA_VERSION {
            return Err(StoreError::Version {
                path: name,
                found: version,
            });
        }
        conn.execute_batch(SCHEMA).map_err(sql)?;
        conn.pragma_update(None, "user_version", SCHEMA_VERSION)
            .map_err(sql)?;
        Ok(Store {
            conn: Mutex::new(conn),
            path: name,
        })
    }

    fn lock(&self) -> MutexGuard<'_, Connection> {
        // A panic while holding the lock leaves the connection usable (SQLite rolls back).
        self.conn
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    fn sql(&self) -> impl Fn(rusqlite::Error) -> StoreError + '_ {
        |source| StoreError::Sqlite {
            path: self.path.clone(),
            source,
        }
    }

    /// Records a new job.
    pub fn insert_job(&self, job: &JobRecord) -> Result<(), StoreError> {
        self.lock()
            .execute(
                "INSERT INTO jobs (id, kind, instance, state, created_at, updated_at) VALUES (?1, ?2, ?3, ?4, ?5, ?5)",
                params![job.id, job.kind.as_str(), job.instance, job.state.as_str(), job.created_at],
            )
            .map_err(self.sql())?;
        Ok(())
    }

    /// Sets a job's state (and its prompt id when given).
    pub fn set_state(
        &self,
        id: &str,
        state: JobState,
        prompt_id: Option<&str>,
    ) -> Result<(), StoreError> {
        self.lock()
            .execute(
                "UPDATE jobs SET state = ?2, prompt_id = COALESCE(?3, prompt_id), updated_at = ?4 WHERE id = ?1",
                params![id, state.as_str(), prompt_id, now_ms()],
            )
            .map_err(self.sql())?;
        Ok(())
    }

    /// Appends one event.
    pub fn append_event(&self, id: &str, event: &StoredEvent) -> Result<(), StoreError> {
        self.lock()
            .execute(
                "INSERT INTO events (job_id, seq, name, data) VALUES (?1, ?2, ?3, ?4)",
                params![id, int(event.seq), event.name, event.data],
            )
            .map_err(self.sql())?;
        Ok(())
    }

    /// Ends a job: its final event and its final state in one transaction.
    pub fn finish(
        &self,
        id: &str,
        event: &StoredEvent,
        state: JobState,
        error: Option<&ErrorBody>,
        result: Option<&serde_json::Value>,
    ) -> Result<(), StoreError> {
        let mut conn = self.lock();
        let tx = conn.transaction().map_err(self.sql())?;
        tx.execute(
            "INSERT INTO events (job_id, seq, name, data) VALUES (?1, ?2, ?3, ?4)",
            params![id, int(event.seq), event.name, event.data],
        )
        .map_err(self.sql())?;
        tx.execute(
            "UPDATE jobs SET state = ?2, error = ?3, result = ?4, updated_at = ?5 WHERE id = ?1",
            params![
                id,
                state.as_str(),
                error.map(|e| serde_json::to_string(e).unwrap_or_default()),
                result.map(serde_json::Value::to_string),
                now_ms()
            ],
        )
        .map_err(self.sql())?;
        tx.commit().map_err(self.sql())
    }

    /// Records a saved output.
    pub fn add_output(&self, id: &str, output: &OutputRecord) -> Result<(), StoreError> {
        self.lock()
            .execute(
                "INSERT OR REPLACE INTO outputs (job_id, name, size, content_type, node, kind) VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
                params![id, output.name, int(output.size), output.content_type, output.node, output.kind],
            )
            .map_err(self.sql())?;
        Ok(())
    }

    fn job_from_row(&self, row: &rusqlite::Row<'_>) -> rusqlite::Result<RawJob> {
        let _ = self;
        Ok(RawJob {
            id: row.get(0)?,
            kind: row.get(1)?,
            instance: row.get(2)?,
            state: row.get(3)?,
            created_at: row.get(4)?,
            updated_at: row.get(5)?,
            prompt_id: row.get(6)?,
            error: row.get(7)?,
            result: row.get(8)?,
        })
    }

    fn parse_job(&self, raw: RawJob) -> Result<JobRecord, StoreError> {
        let json = |source| StoreError::Json {
            path: self.path.clone(),
            source,
        };
        Ok(JobRecord {
            id: raw.id,
            kind: JobKind::parse(&raw.kind),
            instance: raw.instance,
            state: JobState::parse(&raw.state),
            created_at: raw.created_at,
            updated_at: raw.updated_at,
            prompt_id: raw.prompt_id,
            error: raw
                .error
                .map(|e| serde_json::from_str(&e))
                .transpose()
                .map_err(json)?,
            result: raw
                .result
                .map(|r| serde_json::from_str(&r))
                .transpose()
                .map_err(json)?,
        })
    }

    /// The newest `limit` jobs, newest first.
    pub fn list_jobs(&self, limit: usize) -> Result<Vec<JobRecord>, StoreError> {
        let raws = {
            let conn = self.lock();
            let mut stmt = conn
                .prepare_cached(
                    "SELECT id, kind, instance, state, created_at, updated_at, prompt_id, error, result
                     FROM jobs ORDER BY created_at DESC, rowid DESC LIMIT ?1",
                )
                .map_err(self.sql())?;
            let rows = stmt
                .query_map(params![i64::try_from(limit).unwrap_or(i64::MAX)], |r| {
                    self.job_from_row(r)
                })
                .map_err(self.sql())?;
            rows.collect::<Result<Vec<_>, _>>().map_err(self.sql())?
        };
        raws.into_iter().map(|r| self.parse_job(r)).collect()
    }

    /// One job.
    pub fn job(&self, id: &str) -> Result<Option<JobRecord>, StoreError> {
        let raw = self
            .lock()
            .query_row(
                "SELECT id, kind, instance, state, created_at, updated_at, prompt_id, error, result
                 FROM jobs WHERE id = ?1",
                params![id],
                |r| self.job_from_row(r),
            )
            .optional()
            .map_err(self.sql())?;
        raw.map(|r| self.parse_job(r)).transpose()
    }

    /// A job's events after `after` (0: all), in order.
    pub fn events(&self, id: &str, after: u64) -> Result<Vec<StoredEvent>, StoreError> {
        let conn = self.lock();
        let mut stmt = conn
            .prepare_cached(
                "SELECT seq, name, data FROM events WHERE job_id = ?1 AND seq > ?2 ORDER BY seq",
            )
            .map_err(self.sql())?;
        let rows = stmt
            .query_map(params![id, int(after)], |r| {
                Ok(StoredEvent {
                    seq: uint(r.get(0)?),
                    name: r.get(1)?,
                    data: r.get(2)?,
                })
            })
            .map_err(self.sql())?;
        rows.collect::<Result<Vec<_>, _>>().map_err(self.sql())
    }

    /// A job's outputs, in the order they were saved.
    pub fn outputs(&self, id: &str) -> Result<Vec<OutputRecord>, StoreError> {
        let conn = self.lock();
        let mut stmt = conn
            .prepare_cached(
                "SELECT name, size, content_type, node, kind FROM outputs WHERE job_id = ?1 ORDER BY rowid",
            )
            .map_err(self.sql())?;
        let rows = stmt
            .query_map(params![id], |r| {
                Ok(OutputRecord {
                    name: r.get(0)?,
                    size: uint(r.get(1)?),
                    content_type: r.get(2)?,
                    node: r.get(3)?,
                    kind: r.get(4)?,
                })
            })
            .map_err(self.sql())?;
        rows.collect::<Result<Vec<_>, _>>().map_err(self.sql())
    }

    /// Marks every job not finished (left over by a backend that stopped or was killed) as
    /// interrupted, with a final `error` event; returns their ids.
    pub fn interrupt_unfinished(&self, message: &str) -> Result<Vec<String>, StoreError> {
        let unfinished: Vec<(String, i64)> = {
            let conn = self.lock();
            let mut stmt = conn
                .prepare(
                    "SELECT id, (SELECT COALESCE(MAX(seq), 0) FROM events WHERE job_id = jobs.id)
                     FROM jobs WHERE state IN ('queued', 'running')",
                )
                .map_err(self.sql())?;
            let rows = stmt
                .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))
                .map_err(self.sql())?;
            rows.collect::<Result<Vec<_>, _>>().map_err(self.sql())?
        };
        let error = ErrorBody {
            code: "interrupted".to_owned(),
            message: message.to_owned(),
            hint: Some("submit the job again".to_owned()),
        };
        for (id, last) in &unfinished {
            let event = StoredEvent {
                seq: uint(*last) + 1,
                name: "error".to_owned(),
                data: serde_json::json!({"state": "interrupted", "code": error.code, "message": error.message, "hint": error.hint}).to_string(),
            };
            self.finish(id, &event, JobState::Interrupted, Some(&error), None)?;
        }
        Ok(unfinished.into_iter().map(|(id, _)| id).collect())
    }
}

/// A job row before its JSON columns are parsed.
struct RawJob {
    id: String,
    kind: String,
    instance: String,
    state: String,
    created_at: i64,
    updated_at: i64,
    prompt_id: Option<String>,
    error: Option<String>,
    result: Option<String>,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn job(id: &str) -> JobRecord {
        JobRecord {
            id: id.to_owned(),
            kind: JobKind::Run,
            instance: "local".to_owned(),
            state: JobState::Running,
            created_at: now_ms(),
            updated_at: now_ms(),
            prompt_id: None,
            error: None,
            result: None,
        }
    }

    fn event(seq: u64, name: &str) -> StoredEvent {
        StoredEvent {
            seq,
            name: name.to_owned(),
            data: "{}".to_owned(),
        }
    }

    /// Jobs, events and outputs survive closing and reopening; unfinished jobs are then
    /// interrupted with a final error event, finished ones are left alone.
    #[test]
    fn reopened_store_keeps_everything_and_interrupts_unfinished_jobs() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("jobs.sqlite3");
        {
            let store = Store::open(&path).unwrap();
            store.insert_job(&job("a")).unwrap();
            store.insert_job(&job("b")).unwrap();
            store.append_event("a", &event(1, "queued")).unwrap();
            store
                .add_output(
                    "a",
                    &OutputRecord {
                        name: "x/y.png".to_owned(),
                        size: 3,
                        content_type: "image/png".to_owned(),
                        node: "9".to_owned(),
                        kind: "images".to_owned(),
                    },
                )
                .unwrap();
            store
                .finish(
                    "b",
                    &event(1, "done"),
                    JobState::Succeeded,
                    None,
                    Some(&serde_json::json!({"ok": true})),
                )
                .unwrap();
        }
        let store = Store::open(&path).unwrap();
        assert_eq!(
            store.interrupt_unfinished("backend restarted").unwrap(),
            ["a"]
        );
        let a = store.job("a").unwrap().unwrap();
        assert_eq!(a.state, JobState::Interrupted);
        assert_eq!(a.error.unwrap().code, "interrupted");
        let names: Vec<String> = store
            .events("a", 0)
            .unwrap()
            .into_iter()
            .map(|e| e.name)
            .collect();
        assert_eq!(names, ["queued", "error"]);
        assert_eq!(store.events("a", 1).unwrap().len(), 1);
        assert_eq!(store.outputs("a").unwrap()[0].name, "x/y.png");
        let b = store.job("b").unwrap().unwrap();
        assert_eq!(b.state, JobState::Succeeded);
        assert_eq!(b.result.unwrap()["ok"], true);
        assert_eq!(store.list_jobs(10).unwrap().len(), 2);
        assert!(store.job("nope").unwrap().is_none());
    }

    /// A database from a newer backend is refused rather than misread.
    #[test]
    fn newer_schema_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("jobs.sqlite3");
        Connection::open(&path)
            .unwrap()
            .pragma_update(None, "user_version", 99)
            .unwrap();
        assert!(matches!(
            Store::open(&path),
            Err(StoreError::Version { found: 99, .. })
        ));
    }
}
