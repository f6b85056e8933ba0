//! `--out` checked before anything runs: it must be a folder, or a path where one can be made.

use camino::Utf8Path;

use crate::exit::{Code, Failure};
use comfy_local_sdk::terminal::one_line;

/// Refuses an `--out` that names a file (or has a file among its parents), with exit 2.
pub fn check(out: &Utf8Path) -> Result<(), Failure> {
    // The nearest part of the path that exists must be a folder (symlinks to one included).
    let existing = out
        .ancestors()
        .find(|p| !p.as_str().is_empty() && p.exists());
    match existing {
        Some(path) if !path.is_dir() => Err(Failure {
            code: Code::Usage,
            message: if path == out {
                format!("--out {} is a file, not a folder", one_line(out.as_str()))
            } else {
                format!(
                    "--out {}: {} is a file, not a folder",
                    one_line(out.as_str()),
                    one_line(path.as_str())
                )
            },
            hint: Some("name a folder for the outputs (it is created when missing)".to_owned()),
            json_printed: false,
        }),
        _ => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use camino::Utf8PathBuf;

    use super::*;

    #[test]
    fn a_file_or_a_file_parent_is_refused_and_folders_are_not() {
        let dir = tempfile::tempdir().unwrap();
        let root = Utf8PathBuf::from_path_buf(dir.path().to_path_buf()).unwrap();
        std::fs::write(root.join("file"), "x").unwrap();
        let err = check(&root.join("file")).unwrap_err();
        assert_eq!(err.code, Code::Usage);
        assert!(
            err.message.ends_with("file is a file, not a folder"),
            "{}",
            err.message
        );
        assert!(check(&root.join("file/sub")).is_err());
        assert!(check(&root).is_ok());
        assert!(check(&root.join("new/deeper")).is_ok());
        assert!(check(Utf8Path::new("relative-new")).is_ok());
    }
}
