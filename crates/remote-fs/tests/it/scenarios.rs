//! Host-side scenarios, generic over the [`Host`]: run against `LocalHost` (`std::fs`) and
//! against a real sshd through SFTP. Each builds a fake ComfyUI install in its own temp dir with
//! a sentinel tree outside the roots (beside the install) and hostile symlinks inside
//! `models/`, and checks after every refused operation that the sentinel is byte-for-byte
//! unchanged.

use std::collections::BTreeMap;
use std::io::Read;
use std::ops::ControlFlow;
use std::os::unix::fs::symlink;

use camino::{Utf8Path, Utf8PathBuf};
use comfy_local_remote_fs::fs::PROBE_PREFIX;
use comfy_local_remote_fs::{
    Area, FolderName, FsError, Host, HostErrorKind, OpenOptions, PutOptions, RemoteFs, RootId,
    RootState,
};
use comfy_local_test_support::ReadOnlyDir;
use sha2::{Digest, Sha256};

pub struct Fixture {
    _dir: tempfile::TempDir,
    pub base: Utf8PathBuf,
    pub install: Utf8PathBuf,
    /// A folder beside the install, outside every root.
    pub beside: Utf8PathBuf,
}

fn write(p: &Utf8Path, content: &[u8]) {
    if let Some(parent) = p.parent() {
        std::fs::create_dir_all(parent).unwrap();
    }
    std::fs::write(p, content).unwrap();
}

impl Fixture {
    pub fn new() -> Fixture {
        let dir = tempfile::tempdir().unwrap();
        let base = Utf8PathBuf::from_path_buf(dir.path().canonicalize().unwrap()).unwrap();
        let install = base.join("ComfyUI");
        let beside = base.join("beside");
        for d in [
            "models/checkpoints",
            "models/loras",
            "models/text_encoders",
            "models/clip",
        ] {
            std::fs::create_dir_all(install.join(d)).unwrap();
        }
        for d in ["custom_nodes", "input", "output"] {
            std::fs::create_dir_all(install.join(d)).unwrap();
        }
        // The sentinel tree beside the install.
        write(&beside.join("secret.txt"), b"do not touch");
        write(&beside.join("nested/deep.safetensors"), &[7u8; 4096]);
        symlink("secret.txt", beside.join("self_link")).unwrap();
        // A shared store, allowed through extra_model_paths.yaml, and a root that is a symlink.
        std::fs::create_dir_all(base.join("shared/vae")).unwrap();
        std::fs::create_dir_all(base.join("shared/loras/sub")).unwrap();
        write(&base.join("shared/loras/sub/style.safetensors"), b"lora");
        write(&base.join("shared/loras/dup.safetensors"), b"shared dup");
        symlink(base.join("shared/vae"), install.join("models/vae")).unwrap();
        // Hostile symlinks inside models/.
        let ck = install.join("models/checkpoints");
        symlink("/etc", ck.join("etc_link")).unwrap();
        symlink(&beside, ck.join("beside_link")).unwrap();
        symlink(beside.join("secret.txt"), ck.join("secret_link")).unwrap();
        symlink("../../../beside/nested", ck.join("relative_escape")).unwrap();
        symlink(install.join("models/loras"), ck.join("loras_link")).unwrap();
        // Ordinary content.
        write(&ck.join("base.safetensors"), b"checkpoint");
        write(&ck.join("SDXL/xl.ckpt"), b"xl");
        write(&ck.join("notes.txt"), b"not a model");
        write(&ck.join(".git/objects/x.safetensors"), b"hidden in .git");
        write(
            &install.join("models/loras/dup.safetensors"),
            b"install dup",
        );
        write(
            &install.join("models/clip/legacy_clip.safetensors"),
            b"clip",
        );
        write(&install.join("models/text_encoders/t5.safetensors"), b"t5");
        let yaml = format!(
            "shared:\n    base_path: {}\n    loras: loras\n    vae: vae\n",
            base.join("shared")
        );
        write(&install.join("extra_model_paths.yaml"), yaml.as_bytes());
        Fixture {
            _dir: dir,
            base,
            install,
            beside,
        }
    }

    pub fn options(&self) -> OpenOptions {
        OpenOptions::new(self.install.clone())
    }

    /// A digest of everything outside the roots that a refused operation could touch.
    pub fn sentinel(&self) -> BTreeMap<String, String> {
        let mut out = BTreeMap::new();
        hash_tree(self.beside.as_std_path(), "", &mut out);
        let etc_probe = ["passwd", "hostname", "x.safetensors", "new"];
        for name in etc_probe {
            let p = Utf8Path::new("/etc").join(name);
            let state = match std::fs::symlink_metadata(&p) {
                Ok(m) => format!("{} {:?}", m.len(), m.modified().ok()),
                Err(_) => "absent".to_owned(),
            };
            out.insert(format!("/etc/{name}"), state);
        }
        out
    }
}

fn hash_tree(dir: &std::path::Path, prefix: &str, out: &mut BTreeMap<String, String>) {
    let mut entries: Vec<_> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap())
        .collect();
    entries.sort_by_key(std::fs::DirEntry::file_name);
    for e in entries {
        let name = format!("{prefix}/{}", e.file_name().to_string_lossy());
        let ft = e.file_type().unwrap();
        let value = if ft.is_symlink() {
            format!("link {}", std::fs::read_link(e.path()).unwrap().display())
        } else if ft.is_dir() {
            hash_tree(&e.path(), &name, out);
            "dir".to_owned()
        } else {
            let bytes = std::fs::read(e.path()).unwrap();
            format!("file {}", hex::encode(Sha256::digest(&bytes)))
        };
        out.insert(name, value);
    }
}

fn ck(fs: &RemoteFs<impl Host>, rel: &str) -> comfy_local_remote_fs::RemotePath {
    fs.model_path("checkpoints", rel).unwrap()
}

fn no_progress(_: comfy_local_remote_fs::Progress) -> ControlFlow<()> {
    ControlFlow::Continue(())
}

fn put_bytes(
    fs: &RemoteFs<impl Host>,
    p: &comfy_local_remote_fs::RemotePath,
    bytes: &[u8],
    opts: &PutOptions,
) -> Result<comfy_local_remote_fs::PutReport, FsError> {
    fs.put(p, &mut &bytes[..], opts, &mut no_progress)
}

/// Every hostile write, delete and mkdir is refused and leaves the sentinel unchanged.
pub fn refuses_escapes<H: Host>(fx: &Fixture, host: H) {
    let fs = RemoteFs::open(host, &fx.options()).unwrap();
    let before = fx.sentinel();
    let overwrite = PutOptions {
        overwrite: true,
        create_parents: true,
        ..PutOptions::default()
    };
    let mut messages = Vec::new();
    let mut check = |what: &str, r: Result<(), FsError>, expect: fn(&FsError) -> bool| {
        let err = r.expect_err(what);
        assert!(expect(&err), "{what}: unexpected error {err:?}");
        assert_eq!(fx.sentinel(), before, "sentinel changed after {what}");
        messages.push(format!("{what}: {err}").replace(fx.base.as_str(), "[BASE]"));
    };
    let escape = |e: &FsError| matches!(e, FsError::PathEscape { .. });
    let symlink_target = |e: &FsError| matches!(e, FsError::SymlinkTarget { .. });
    for (label, rel) in [
        ("write via /etc link", "etc_link/x.safetensors"),
        ("write via beside link", "beside_link/x.safetensors"),
        ("overwrite via beside link", "beside_link/secret.txt"),
        (
            "write via relative escape",
            "relative_escape/deep.safetensors",
        ),
        (
            "write deep via beside link",
            "beside_link/nested/new/x.safetensors",
        ),
    ] {
        check(
            label,
            put_bytes(&fs, &ck(&fs, rel), b"evil", &overwrite).map(drop),
            escape,
        );
    }
    check(
        "overwrite a symlink to an outside file",
        put_bytes(&fs, &ck(&fs, "secret_link"), b"evil", &overwrite).map(drop),
        symlink_target,
    );
    check(
        "write to a symlink into another root",
        put_bytes(&fs, &ck(&fs, "loras_link"), b"evil", &overwrite).map(drop),
        symlink_target,
    );
    for (label, rel) in [
        ("delete via /etc link", "etc_link/hostname"),
        ("delete via beside link", "beside_link/secret.txt"),
        ("delete dir via beside link", "beside_link/nested"),
        (
            "delete via relative escape",
            "relative_escape/deep.safetensors",
        ),
    ] {
        check(label, fs.remove(&ck(&fs, rel)), escape);
    }
    for (label, rel) in [
        ("delete the /etc link", "etc_link"),
        ("delete the beside link", "beside_link"),
        ("delete the secret link", "secret_link"),
    ] {
        check(label, fs.remove(&ck(&fs, rel)), |e| {
            matches!(e, FsError::SymlinkOutsideRoot { .. })
        });
    }
    for (label, rel) in [
        ("mkdir via /etc link", "etc_link/new"),
        ("mkdir via beside", "beside_link/new/x"),
    ] {
        check(label, fs.mkdir(&ck(&fs, rel)).map(drop), escape);
    }
    let mut sink = Vec::new();
    check(
        "read via beside link",
        fs.get(&ck(&fs, "beside_link/secret.txt"), &mut sink, &mut |_| {})
            .map(drop),
        escape,
    );
    check(
        "list via /etc link",
        fs.list(&ck(&fs, "etc_link")).map(drop),
        escape,
    );
    assert!(sink.is_empty());
    assert_eq!(messages.len(), 18);
    // One snapshot for both hosts: SFTP and std::fs refuse with the same words.
    insta::assert_snapshot!("refusals", messages.join("\n"));
}

/// A root that is itself a symlink to an allowed place works; an in-root link is followed.
pub fn symlinked_root_works<H: Host>(fx: &Fixture, host: H) {
    let fs = RemoteFs::open(host, &fx.options()).unwrap();
    let vae = FolderName::parse("vae").unwrap();
    // The yaml adds shared/vae after models/vae; both canonicalise to shared/vae.
    let primary = RootId::primary(Area::Folder(vae));
    assert_eq!(
        fs.roots().get(&primary),
        Some(&RootState::Ready(fx.base.join("shared/vae")))
    );
    let p = fs.model_path("vae", "sdxl_vae.safetensors").unwrap();
    let report = put_bytes(&fs, &p, b"vae bytes", &PutOptions::default()).unwrap();
    assert_eq!(report.path, fx.base.join("shared/vae/sdxl_vae.safetensors"));
    assert_eq!(std::fs::read(&report.path).unwrap(), b"vae bytes");
    assert!(fs.exists(&p).unwrap());
    let root = comfy_local_remote_fs::RemotePath::from_parts(
        primary,
        comfy_local_remote_fs::RelPath::root(),
    );
    let listing = fs.list(&root);
    let names: Vec<String> = listing
        .unwrap()
        .entries
        .iter()
        .map(|e| e.name.to_string())
        .collect();
    assert_eq!(names, ["sdxl_vae.safetensors"]);
    fs.remove(&p).unwrap();
    assert!(!fs.exists(&p).unwrap());
}

/// put: create-exclusive temp, atomic rename, overwrite rules, interrupted and resumed uploads,
/// sha256 verification; never a partial file under the final name.
pub fn put_get_resume<H: Host>(fx: &Fixture, host: H) {
    let fs = RemoteFs::open(host, &fx.options()).unwrap();
    let data: Vec<u8> = (0..3_000_000u32).map(|i| (i * 7 % 251) as u8).collect();
    let case = PutCase {
        sha: Sha256::digest(&data).into(),
        data,
        dest: ck(&fs, "new/dir/model.safetensors"),
        final_path: fx
            .install
            .join("models/checkpoints/new/dir/model.safetensors"),
        part_path: fx
            .install
            .join("models/checkpoints/new/dir/model.safetensors.part"),
        opts: PutOptions {
            create_parents: true,
            ..PutOptions::default()
        },
        fs,
    };

    // Missing parents without create_parents.
    let err = put_bytes(&case.fs, &case.dest, &case.data, &PutOptions::default()).unwrap_err();
    assert!(matches!(err, FsError::ParentNotFound { .. }), "{err:?}");

    interrupted_puts_leave_no_final_file(fx, &case);
    resume_completes_the_part_file(&case);
    overwrite_get_and_remove(fx, &case);
}

/// The upload [`put_get_resume`] follows through its steps.
struct PutCase<H: Host> {
    fs: RemoteFs<H>,
    data: Vec<u8>,
    sha: [u8; 32],
    dest: comfy_local_remote_fs::RemotePath,
    /// Where `dest` is on disk.
    final_path: Utf8PathBuf,
    /// Its `.part` file on disk.
    part_path: Utf8PathBuf,
    /// `create_parents`, otherwise the defaults.
    opts: PutOptions,
}

/// Cancelled, failing and wrong-checksum uploads: nothing under the final name.
fn interrupted_puts_leave_no_final_file<H: Host>(fx: &Fixture, case: &PutCase<H>) {
    let PutCase {
        fs,
        data,
        dest,
        final_path,
        part_path,
        opts,
        ..
    } = case;
    // Cancelled after the first chunk: the .part stays, the final name does not exist.
    let mut calls = 0;
    let err = fs
        .put(dest, &mut &data[..], opts, &mut |_| {
            calls += 1;
            ControlFlow::Break(())
        })
        .unwrap_err();
    assert!(matches!(err, FsError::Cancelled { .. }), "{err:?}");
    assert_eq!(calls, 1);
    assert!(!final_path.exists());
    let partial = std::fs::metadata(part_path).unwrap().len();
    assert!(partial > 0 && partial < data.len() as u64, "{partial}");

    // A source that fails midway: same guarantee.
    let mut failing = (&data[..]).chain(FailingReader);
    let err = fs.put(
        &ck(fs, "failing.safetensors"),
        &mut failing,
        opts,
        &mut no_progress,
    );
    assert!(matches!(err, Err(FsError::Source { .. })), "{err:?}");
    assert!(
        !fx.install
            .join("models/checkpoints/failing.safetensors")
            .exists()
    );

    // Resume with a wrong checksum: refused, nothing under the final name, .part discarded.
    let wrong = PutOptions {
        resume: true,
        expected_sha256: Some([0; 32]),
        ..opts.clone()
    };
    let err = put_bytes(fs, dest, data, &wrong).unwrap_err();
    assert!(matches!(err, FsError::ChecksumMismatch { .. }), "{err:?}");
    assert!(!final_path.exists());
    assert!(!part_path.exists());
}

/// Cancel, then resume with the right checksum: the upload continues from the `.part`.
fn resume_completes_the_part_file<H: Host>(case: &PutCase<H>) {
    let PutCase {
        fs,
        data,
        sha,
        dest,
        final_path,
        part_path,
        opts,
    } = case;
    let _ = fs.put(dest, &mut &data[..], opts, &mut |_| ControlFlow::Break(()));
    let partial = std::fs::metadata(part_path).unwrap().len();
    let resume = PutOptions {
        resume: true,
        expected_sha256: Some(*sha),
        total: Some(data.len() as u64),
        ..opts.clone()
    };
    let mut last = None;
    let report = fs
        .put(dest, &mut &data[..], &resume, &mut |p| {
            last = Some(p);
            ControlFlow::Continue(())
        })
        .unwrap();
    assert_eq!(report.resumed_from, partial);
    assert_eq!(report.size, data.len() as u64);
    assert_eq!(report.sha256, *sha);
    assert_eq!(report.path, *final_path);
    assert_eq!(last.map(|p| p.position), Some(data.len() as u64));
    assert_eq!(std::fs::read(final_path).unwrap(), *data);
    assert!(!part_path.exists());
}

/// Overwrite rules, a stale `.part`, get, `put_file`, and removing files and directories.
fn overwrite_get_and_remove<H: Host>(fx: &Fixture, case: &PutCase<H>) {
    let PutCase {
        fs,
        data,
        sha,
        dest,
        final_path,
        part_path,
        opts,
    } = case;
    // No overwrite unless asked; overwrite replaces atomically.
    let err = put_bytes(fs, dest, b"other", opts).unwrap_err();
    assert!(matches!(err, FsError::AlreadyExists { .. }), "{err:?}");
    let over = PutOptions {
        overwrite: true,
        ..opts.clone()
    };
    put_bytes(fs, dest, b"other", &over).unwrap();
    assert_eq!(std::fs::read(final_path).unwrap(), b"other");

    // A stale .part is replaced when not resuming.
    std::fs::write(part_path, b"stale").unwrap();
    put_bytes(fs, dest, b"fresh", &over).unwrap();
    assert_eq!(std::fs::read(final_path).unwrap(), b"fresh");

    // get, and get of a directory.
    let mut out = Vec::new();
    assert_eq!(fs.get(dest, &mut out, &mut |_| {}).unwrap(), 5);
    assert_eq!(out, b"fresh");
    let err = fs
        .get(&ck(fs, "new"), &mut Vec::new(), &mut |_| {})
        .unwrap_err();
    assert!(matches!(err, FsError::NotAFile { .. }), "{err:?}");

    // put_file from a local file.
    let local = fx.base.join("local.bin");
    std::fs::write(&local, data).unwrap();
    let r = fs
        .put_file(
            &ck(fs, "from_file.safetensors"),
            local.as_std_path(),
            opts,
            &mut no_progress,
        )
        .unwrap();
    assert_eq!(r.sha256, *sha);

    // remove a file, then an empty dir; a non-empty dir is not removed.
    fs.remove(dest).unwrap();
    assert!(!final_path.exists());
    assert!(fs.remove(&ck(fs, "new")).is_err());
    fs.remove(&ck(fs, "new/dir")).unwrap();
    fs.remove(&ck(fs, "new")).unwrap();
    assert!(!fx.install.join("models/checkpoints/new").exists());
}

/// The merged view ComfyUI has of a folder, and validated listings.
pub fn model_files_and_listing<H: Host>(fx: &Fixture, host: H) {
    let fs = RemoteFs::open(host, &fx.options()).unwrap();
    let names = |folder: &str| -> Vec<(String, u64)> {
        let f = fs.model_files(&FolderName::parse(folder).unwrap()).unwrap();
        f.files.iter().map(|m| (m.name.clone(), m.size)).collect()
    };
    // Symlinked dirs are followed as ComfyUI's os.walk(followlinks=True) does; .git skipped;
    // non-model extensions filtered.
    let ckpts = names("checkpoints");
    assert!(
        ckpts.contains(&("base.safetensors".into(), 10)),
        "{ckpts:?}"
    );
    assert!(ckpts.contains(&("SDXL/xl.ckpt".into(), 2)), "{ckpts:?}");
    assert!(
        ckpts.contains(&("beside_link/nested/deep.safetensors".into(), 4096)),
        "{ckpts:?}"
    );
    assert!(
        ckpts.contains(&("relative_escape/deep.safetensors".into(), 4096)),
        "{ckpts:?}"
    );
    assert!(
        ckpts.contains(&("loras_link/dup.safetensors".into(), 11)),
        "{ckpts:?}"
    );
    assert!(
        !ckpts
            .iter()
            .any(|(n, _)| n.contains(".git") || n.contains("notes")),
        "{ckpts:?}"
    );
    // Two roots of loras: the install's first, then the shared one from the yaml; the
    // duplicate name is reported for the first root.
    let loras = fs
        .model_files(&FolderName::parse("loras").unwrap())
        .unwrap();
    let got: Vec<(String, usize)> = loras
        .files
        .iter()
        .map(|m| (m.name.clone(), m.root.index))
        .collect();
    assert_eq!(
        got,
        [
            ("dup.safetensors".into(), 0),
            ("sub/style.safetensors".into(), 1)
        ]
    );
    // text_encoders merges the legacy clip folder.
    assert_eq!(
        names("clip"),
        [
            ("legacy_clip.safetensors".into(), 4),
            ("t5.safetensors".into(), 2)
        ]
    );

    // Names that must never be used are reported, not listed.
    let weird = fx.install.join("models/checkpoints/weird");
    std::fs::create_dir_all(&weird).unwrap();
    for name in [
        "-rf.safetensors",
        "bad\nname.safetensors",
        "ok.safetensors",
        "a\\b.safetensors",
    ] {
        std::fs::write(weird.join(name), b"x").unwrap();
    }
    let listing = fs.list(&ck(&fs, "weird")).unwrap();
    let ok: Vec<String> = listing.entries.iter().map(|e| e.name.to_string()).collect();
    assert_eq!(ok, ["ok.safetensors"]);
    assert_eq!(listing.rejected.len(), 3, "{:?}", listing.rejected);
    let files = fs
        .model_files(&FolderName::parse("checkpoints").unwrap())
        .unwrap();
    assert!(files.files.iter().any(|m| m.name == "weird/ok.safetensors"));
    assert_eq!(files.rejected.len(), 3);
}

/// Roots that do not exist or are not directories.
pub fn bad_roots<H: Host>(fx: &Fixture, make: impl Fn() -> H) {
    let err = RemoteFs::open(make(), &OpenOptions::new(fx.base.join("nope"))).unwrap_err();
    assert!(matches!(err, FsError::InstallMissing { .. }), "{err:?}");
    let file_install = fx.base.join("file_install");
    std::fs::write(&file_install, b"x").unwrap();
    let err = RemoteFs::open(make(), &OpenOptions::new(file_install)).unwrap_err();
    assert!(
        matches!(err, FsError::InstallNotADirectory { .. }),
        "{err:?}"
    );
    // A model folder that is a file is an error; a missing one is reported and refused.
    let other = fx.base.join("Other");
    std::fs::create_dir_all(other.join("models")).unwrap();
    std::fs::write(other.join("models/loras"), b"not a dir").unwrap();
    let err = RemoteFs::open(make(), &OpenOptions::new(other.clone())).unwrap_err();
    assert!(matches!(err, FsError::RootNotADirectory { .. }), "{err:?}");
    std::fs::remove_file(other.join("models/loras")).unwrap();
    let mut opts = OpenOptions::new(other.clone());
    opts.extra_configs.push(fx.base.join("other_extra.yaml"));
    std::fs::write(
        fx.base.join("other_extra.yaml"),
        format!("s:\n  loras: {}\n", fx.base.join("unmounted/loras")),
    )
    .unwrap();
    let mut fs = RemoteFs::open(make(), &opts).unwrap();
    let p = fs.model_path("loras", "x.safetensors").unwrap();
    let err = put_bytes(&fs, &p, b"x", &PutOptions::default()).unwrap_err();
    assert!(matches!(err, FsError::RootMissing { .. }), "{err:?}");
    // A missing folder of the install can be created; one from the yaml elsewhere cannot.
    let loras = FolderName::parse("loras").unwrap();
    let extra_root = RootId {
        area: Area::Folder(loras),
        index: 1,
    };
    let err = fs.create_root(&extra_root).unwrap_err();
    assert!(matches!(err, FsError::RootOutsideInstall { .. }), "{err:?}");
    assert!(!fx.base.join("unmounted").exists());
    fs.create_root(p.root()).unwrap();
    put_bytes(&fs, &p, b"x", &PutOptions::default()).unwrap();
    assert_eq!(
        std::fs::read(other.join("models/loras/x.safetensors")).unwrap(),
        b"x"
    );
    let err = fs.model_path("not-a-folder", "x").unwrap_err();
    assert!(matches!(err, FsError::UnknownFolder { .. }), "{err:?}");
}

struct FailingReader;

impl Read for FailingReader {
    fn read(&mut self, _: &mut [u8]) -> std::io::Result<usize> {
        Err(std::io::Error::other("disk went away"))
    }
}

/// Files in `dir` whose name starts with the probe prefix.
fn probes_left(dir: &Utf8Path) -> Vec<String> {
    std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with(PROBE_PREFIX))
        .collect()
}

/// The write probe creates and removes a file in every folder the product writes to, leaves
/// nothing behind, refuses folders that are not roots (or the holder of model roots) and
/// reports a folder it cannot write to.
pub fn probe_write<H: Host>(fx: &Fixture, host: H) {
    let fs = RemoteFs::open(host, &fx.options()).unwrap();
    let before = fx.sentinel();
    let models_before = {
        let mut m = BTreeMap::new();
        hash_tree(fx.install.join("models").as_std_path(), "", &mut m);
        m
    };
    for folder in ["models", "custom_nodes", "input", "output"] {
        let dir = fs.probe_write(folder).unwrap();
        assert_eq!(dir, fx.install.join(folder));
        assert!(probes_left(&dir).is_empty(), "probe left in {dir}");
    }
    let mut models_after = BTreeMap::new();
    hash_tree(
        fx.install.join("models").as_std_path(),
        "",
        &mut models_after,
    );
    assert_eq!(models_after, models_before);
    // Not a root, not the holder of one, or not a single name: refused before any write.
    for folder in ["main.py", "nope", "extra_model_paths.yaml"] {
        let err = fs.probe_write(folder).unwrap_err();
        assert!(matches!(err, FsError::NotAProbeFolder { .. }), "{err:?}");
    }
    for folder in ["../beside", "models/checkpoints", ".."] {
        let err = fs.probe_write(folder).unwrap_err();
        assert!(matches!(err, FsError::Path(_)), "{folder}: {err:?}");
    }
    let err = fs.probe_write("user").unwrap_err();
    assert!(matches!(err, FsError::RootMissing { .. }), "{err:?}");
    assert_eq!(fx.sentinel(), before);
    assert!(probes_left(&fx.install).is_empty());
    // A folder the user cannot write to fails the probe.
    let input = fx.install.join("input");
    let guard = ReadOnlyDir::new(input.clone());
    let err = fs.probe_write("input").unwrap_err();
    drop(guard);
    assert!(
        matches!(&err, FsError::Host(e) if e.kind == HostErrorKind::PermissionDenied),
        "{err:?}"
    );
    assert!(probes_left(&input).is_empty());
    fs.probe_write("input").unwrap();
}
