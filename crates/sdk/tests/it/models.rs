//! `list_models` against the real sshd: what ComfyUI would list per folder (it follows
//! symlinks, as ComfyUI's `os.walk(followlinks=True)` does, without looping on a cycle), and
//! unknown folders refused.

use comfy_local_sdk::install::InstallError;
use comfy_local_sdk::{InstalledModel, list_models};

use crate::common::{Setup, fake_install};

fn model(folder: &str, name: &str, size: u64) -> InstalledModel {
    InstalledModel {
        folder: folder.to_owned(),
        name: name.to_owned(),
        size,
    }
}

#[test]
fn models_are_listed_per_folder_with_subfolders_links_and_sizes_and_only_model_files() {
    let install = fake_install("models-list");
    let ckpt = install.join("models/checkpoints");
    std::fs::create_dir_all(ckpt.join("sdxl")).unwrap();
    std::fs::write(ckpt.join("a.safetensors"), vec![0u8; 10]).unwrap();
    std::fs::write(ckpt.join("sdxl/base.ckpt"), vec![0u8; 7]).unwrap();
    // Not a model extension ComfyUI lists, and a download still in progress.
    std::fs::write(ckpt.join("notes.txt"), "x").unwrap();
    std::fs::write(ckpt.join("c.safetensors.part"), "x").unwrap();
    let loras = install.join("models/loras");
    std::fs::create_dir_all(&loras).unwrap();
    std::fs::write(loras.join("style.safetensors"), vec![0u8; 3]).unwrap();
    // Models kept on another disk and linked in are listed, as ComfyUI lists them; a link
    // back to the folder itself is not walked twice.
    let elsewhere = install.with_file_name("other-disk");
    std::fs::create_dir_all(&elsewhere).unwrap();
    std::fs::write(elsewhere.join("linked.safetensors"), "s").unwrap();
    std::os::unix::fs::symlink(&elsewhere, ckpt.join("linked")).unwrap();
    std::os::unix::fs::symlink(&ckpt, ckpt.join("sdxl/loop")).unwrap();

    let config = Setup::new(&install, "http://127.0.0.1:9").config();
    let all = list_models(&config, None, None).unwrap();
    let mut got = all.models.clone();
    got.sort_by(|a, b| (&a.folder, &a.name).cmp(&(&b.folder, &b.name)));
    assert_eq!(
        got,
        [
            model("checkpoints", "a.safetensors", 10),
            model("checkpoints", "linked/linked.safetensors", 1),
            model("checkpoints", "sdxl/base.ckpt", 7),
            model("loras", "style.safetensors", 3),
        ]
    );
    assert!(!all.truncated);

    let only = list_models(&config, None, Some("loras")).unwrap();
    assert_eq!(only.models, [model("loras", "style.safetensors", 3)]);
}

#[test]
fn an_unknown_or_malformed_folder_is_refused_naming_it() {
    let install = fake_install("models-unknown");
    let config = Setup::new(&install, "http://127.0.0.1:9").config();
    for folder in ["no_such_folder", "../checkpoints"] {
        let err = list_models(&config, None, Some(folder)).unwrap_err();
        assert!(
            matches!(&err, InstallError::BadDestination { folder: f, .. } if f == folder),
            "{folder}: {err:?}"
        );
        assert!(
            err.to_string().contains(folder.trim_start_matches("../")),
            "{err}"
        );
    }
}
