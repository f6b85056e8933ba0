//! Outputs written once per job, however often it was tried: each attempt saves into a staging
//! folder of its own inside the output folder, which becomes `<out>/<job name>/` (renamed,
//! never replacing anything) only when the attempt succeeded, and is removed otherwise.

use camino::{Utf8Path, Utf8PathBuf};
use rustix::fs::{CWD, RenameFlags};

use crate::SdkError;
use crate::run::{RunSummary, SavedOutput};

/// Staging folders start with this (a dot: hidden, and never a job name, which cannot start
/// with one).
const STAGING_PREFIX: &str = ".comfy-local-batch-";

/// A fresh staging folder path for one attempt (created by the run).
pub(crate) fn staging_dir(out: &Utf8Path, job: &str, attempt: usize) -> Utf8PathBuf {
    let tag = uuid::Uuid::new_v4().simple().to_string();
    out.join(format!("{STAGING_PREFIX}{job}-{attempt}-{}", &tag[..8]))
}

/// Refuses a batch whose job folders exist already: nothing of the user's is replaced.
pub(crate) fn ensure_free(out: &Utf8Path, names: &[&str]) -> Result<(), SdkError> {
    if out.exists() && !out.is_dir() {
        return Err(SdkError::Batch {
            reason: format!("--out {out} is not a folder"),
        });
    }
    let taken: Vec<&str> = names
        .iter()
        .copied()
        .filter(|n| out.join(n).symlink_metadata().is_ok())
        .collect();
    if taken.is_empty() {
        return Ok(());
    }
    Err(SdkError::Batch {
        reason: format!(
            "{out} already holds {}: a job's outputs go to a folder of its own that must not exist yet (give another --out, or move them)",
            taken.join(", ")
        ),
    })
}

/// Moves a successful attempt's staging folder to `<out>/<name>` (never replacing anything:
/// should the name have been taken meanwhile, the staging folder stays and the error says
/// where) and points the summary's paths at it.
pub(crate) fn publish(
    staging: &Utf8Path,
    out: &Utf8Path,
    name: &str,
    mut summary: RunSummary,
) -> Result<(Utf8PathBuf, RunSummary), String> {
    let target = out.join(name);
    if !staging.exists() {
        // A run with nothing to save may not have created it.
        std::fs::create_dir_all(staging).map_err(|e| format!("creating {staging}: {e}"))?;
    }
    rustix::fs::renameat_with(
        CWD,
        staging.as_std_path(),
        CWD,
        target.as_std_path(),
        RenameFlags::NOREPLACE,
    )
    .map_err(|e| {
        format!("moving the outputs from {staging} to {target}: {e} (they stay in {staging})")
    })?;
    for output in &mut summary.outputs {
        output.path = moved(&output.path, staging, &target);
    }
    Ok((target, summary))
}

fn moved(path: &Utf8Path, from: &Utf8Path, to: &Utf8Path) -> Utf8PathBuf {
    path.strip_prefix(from)
        .map_or_else(|_| path.to_owned(), |rest| to.join(rest))
}

/// Removes a failed attempt's staging folder (ours alone: its name is unique to the attempt).
pub(crate) fn discard(staging: &Utf8Path) {
    if let Err(e) = std::fs::remove_dir_all(staging)
        && e.kind() != std::io::ErrorKind::NotFound
    {
        tracing::warn!(path = %staging, error = %e, "could not remove a failed attempt's outputs");
    }
}

/// The outputs of a done job.
#[derive(Debug, Clone, serde::Serialize)]
pub struct JobOutputs {
    /// `<out>/<job name>`.
    pub dir: Utf8PathBuf,
    /// The run (its output paths below `dir`).
    pub run: RunSummary,
}

impl JobOutputs {
    /// The saved files.
    pub fn files(&self) -> &[SavedOutput] {
        &self.run.outputs
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn summary(path: &Utf8Path) -> RunSummary {
        RunSummary {
            instance: "i".to_owned(),
            prompt_id: "p".to_owned(),
            outputs: vec![SavedOutput {
                node: "9".to_owned(),
                kind: "images".to_owned(),
                path: path.to_owned(),
                bytes: 1,
            }],
            used_polling: false,
            seconds: 0.0,
        }
    }

    #[test]
    fn publish_moves_once_and_never_replaces() {
        let tmp = tempfile::tempdir().unwrap();
        let out = Utf8Path::from_path(tmp.path()).unwrap();
        let first = staging_dir(out, "job", 1);
        std::fs::create_dir(&first).unwrap();
        std::fs::write(first.join("a.png"), "x").unwrap();
        let (dir, s) = publish(&first, out, "job", summary(&first.join("a.png"))).unwrap();
        assert_eq!(dir, out.join("job"));
        assert_eq!(s.outputs[0].path, out.join("job/a.png"));
        assert!(out.join("job/a.png").is_file() && !first.exists());

        let second = staging_dir(out, "job", 2);
        std::fs::create_dir(&second).unwrap();
        let err = publish(&second, out, "job", summary(&second.join("b.png"))).unwrap_err();
        assert!(err.contains("they stay in"), "{err}");
        assert!(second.exists() && out.join("job/a.png").is_file());
        assert!(ensure_free(out, &["job"]).is_err());
        assert!(ensure_free(out, &["other"]).is_ok());
        discard(&second);
        assert!(!second.exists());
    }
}
