//! The jobs of a batch: every workflow file named (a folder: every `*.json` in it, sorted),
//! each job named after its file's stem (the folder its outputs go to), `--repeat N` copies
//! with seeds that differ per copy and stay the same on a retry.

use camino::{Utf8Path, Utf8PathBuf};

use crate::SdkError;
use crate::overrides::SeedSpec;

/// One job: a workflow run once, its outputs saved to `<out>/<name>/`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BatchJob {
    /// The folder name below the output folder (the workflow file's stem, `-<k>` per copy
    /// with a repeat).
    pub name: String,
    /// The workflow file.
    pub workflow: Utf8PathBuf,
    /// The seed every seed input of the prompt gets (the same on every attempt of the job).
    pub seed: Option<SeedSpec>,
}

fn bad(reason: String) -> SdkError {
    SdkError::Batch { reason }
}

/// Workflow files named: a file as given, a folder as its `*.json` files (not recursive,
/// sorted by name).
fn workflow_files(paths: &[Utf8PathBuf]) -> Result<Vec<Utf8PathBuf>, SdkError> {
    let mut files = Vec::new();
    for path in paths {
        if path.is_dir() {
            let entries = path.read_dir_utf8().map_err(|source| SdkError::Io {
                op: "listing",
                path: path.clone(),
                source,
            })?;
            let mut found: Vec<Utf8PathBuf> = entries
                .filter_map(Result::ok)
                .map(|e| e.path().to_owned())
                .filter(|p| p.extension() == Some("json") && p.is_file())
                .collect();
            if found.is_empty() {
                return Err(bad(format!("{path} holds no *.json workflow file")));
            }
            found.sort();
            files.extend(found);
        } else {
            files.push(path.clone());
        }
    }
    if files.is_empty() {
        return Err(bad("no workflow file given".to_owned()));
    }
    Ok(files)
}

/// A job name from a workflow file: its stem, which must be a plain folder name.
fn stem(file: &Utf8Path) -> Result<String, SdkError> {
    let name = file
        .file_stem()
        .filter(|s| !s.is_empty())
        .ok_or_else(|| bad(format!("{file} has no file name to name its output folder")))?;
    crate::save::check_component(name)
        .map_err(|e| bad(format!("{file}: its name cannot be an output folder: {e}")))?;
    Ok(name.to_owned())
}

/// The jobs for `paths`, each `repeat` times (at least once). With a repeat above 1, copy `k`
/// (from 1) is named `<stem>-<k>` and gets the seed `base + k - 1`, where `base` is `seed`'s
/// fixed value or a random one; without, `seed` is used as given. Two files with the same stem
/// are refused (their outputs would share a folder).
pub fn batch_jobs(
    paths: &[Utf8PathBuf],
    repeat: u32,
    seed: Option<SeedSpec>,
) -> Result<Vec<BatchJob>, SdkError> {
    let files = workflow_files(paths)?;
    let mut stems = std::collections::BTreeMap::<String, Utf8PathBuf>::new();
    for file in &files {
        let name = stem(file)?;
        if let Some(first) = stems.insert(name.clone(), file.clone()) {
            return Err(bad(format!(
                "{first} and {file} would both save into the folder {name:?}: rename one"
            )));
        }
    }
    let repeat = repeat.max(1);
    let base = match seed {
        Some(SeedSpec::Fixed(n)) => n,
        // Within 2^50 (as the editor's randomize), room left for the copies.
        _ => (uuid::Uuid::new_v4().as_u128() as u64) & ((1 << 50) - 1),
    };
    let mut jobs = Vec::new();
    for file in files {
        let name = stem(&file)?;
        if repeat == 1 {
            jobs.push(BatchJob {
                name,
                workflow: file,
                seed,
            });
            continue;
        }
        for k in 1..=repeat {
            jobs.push(BatchJob {
                name: format!("{name}-{k}"),
                workflow: file.clone(),
                seed: Some(SeedSpec::Fixed(base.wrapping_add(u64::from(k - 1)))),
            });
        }
    }
    // Distinct stems give distinct names: `-<k>` ends in digits after the last `-`.
    Ok(jobs)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn files(dir: &Utf8Path, names: &[&str]) {
        for n in names {
            std::fs::write(dir.join(n), "{}").unwrap();
        }
    }

    #[test]
    fn a_folder_is_its_json_files_sorted_and_stems_name_the_jobs() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = Utf8Path::from_path(tmp.path()).unwrap();
        files(dir, &["b.json", "a.json", "notes.txt"]);
        let jobs = batch_jobs(&[dir.to_owned()], 1, None).unwrap();
        let names: Vec<&str> = jobs.iter().map(|j| j.name.as_str()).collect();
        assert_eq!(names, ["a", "b"]);
        assert!(jobs.iter().all(|j| j.seed.is_none()));
    }

    #[test]
    fn repeats_get_numbered_names_and_consecutive_seeds() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = Utf8Path::from_path(tmp.path()).unwrap();
        files(dir, &["wf.json"]);
        let jobs = batch_jobs(&[dir.join("wf.json")], 3, Some(SeedSpec::Fixed(7))).unwrap();
        let got: Vec<(&str, Option<SeedSpec>)> =
            jobs.iter().map(|j| (j.name.as_str(), j.seed)).collect();
        assert_eq!(
            got,
            [
                ("wf-1", Some(SeedSpec::Fixed(7))),
                ("wf-2", Some(SeedSpec::Fixed(8))),
                ("wf-3", Some(SeedSpec::Fixed(9)))
            ]
        );
        let random = batch_jobs(&[dir.join("wf.json")], 2, None).unwrap();
        assert!(matches!(random[0].seed, Some(SeedSpec::Fixed(_))));
        assert_ne!(random[0].seed, random[1].seed);
    }

    #[test]
    fn clashing_stems_are_refused() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = Utf8Path::from_path(tmp.path()).unwrap();
        std::fs::create_dir(dir.join("x")).unwrap();
        files(dir, &["wf.json", "x/wf.json"]);
        let err = batch_jobs(&[dir.join("wf.json"), dir.join("x")], 1, None).unwrap_err();
        assert!(err.to_string().contains("would both save into"), "{err}");
        let err = batch_jobs(&[dir.join(".json")], 1, None).unwrap_err();
        assert!(err.to_string().contains("output folder"), "{err}");
    }
}
