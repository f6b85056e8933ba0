//! `nodes`: what is installed in an instance's `custom_nodes/` folders, with the git commit of
//! each git checkout.

use comfy_local_config::Config;
use comfy_local_remote_fs::host::SftpHost;
use comfy_local_remote_fs::{Area, Kind, RelPath, RemoteFs, RemotePath, RootState};
use serde::Serialize;

use super::{NodeError, git_in};
use crate::install::open_fs;

/// One entry of `custom_nodes/`: a folder (or a link), or a `.py` file. Hidden entries (the
/// temporary folders of `install node` among them) and `__pycache__` are left out.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct InstalledNode {
    pub name: String,
    /// The `custom_nodes` folder it is in, on the host.
    pub folder: String,
    /// `HEAD` of a git checkout (40 hex digits); `None` when it is not one.
    pub commit: Option<String>,
}

/// Every node of every `custom_nodes` folder.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct NodeList {
    pub nodes: Vec<InstalledNode>,
    /// Names the host returned that failed validation (never used), as messages.
    pub rejected: Vec<String>,
}

/// Lists the nodes of an instance.
pub fn list_nodes(config: &Config, instance: Option<&str>) -> Result<NodeList, NodeError> {
    let fs = open_fs(config, instance)?;
    list_nodes_in(&fs)
}

/// Lists the nodes on an open remote-fs whose host runs `git`.
pub fn list_nodes_in(fs: &RemoteFs<SftpHost>) -> Result<NodeList, NodeError> {
    let mut out = NodeList::default();
    for (id, state) in fs.roots() {
        let is_nodes = matches!(&id.area, Area::Folder(f) if f.as_str() == "custom_nodes");
        let RootState::Ready(dir) = state else {
            continue;
        };
        if !is_nodes {
            continue;
        }
        let root = RemotePath::from_parts(id.clone(), RelPath::root());
        let listing = fs.list(&root).map_err(NodeError::remote)?;
        out.rejected.extend(
            listing
                .rejected
                .iter()
                .map(|r| format!("{}: {}", r.dir, r.error)),
        );
        for e in listing.entries {
            let name = e.name.as_str();
            let loaded = match e.kind {
                Kind::Dir | Kind::Symlink => !name.starts_with('.') && name != "__pycache__",
                Kind::File => std::path::Path::new(name)
                    .extension()
                    .is_some_and(|x| x == "py"),
                Kind::Other => false,
            };
            if !loaded {
                continue;
            }
            let git = fs
                .path(id.clone(), &format!("{name}/.git"))
                .and_then(|p| fs.exists(&p))
                .unwrap_or(false);
            let commit = if git {
                head(fs, &dir.join(name))?
            } else {
                None
            };
            out.nodes.push(InstalledNode {
                name: name.to_owned(),
                folder: dir.to_string(),
                commit,
            });
        }
    }
    Ok(out)
}

/// `git rev-parse HEAD` of the checkout at `dir`; `None` when git finds no commit there.
fn head(fs: &RemoteFs<SftpHost>, dir: &camino::Utf8Path) -> Result<Option<String>, NodeError> {
    let cmd = git_in(dir.as_str()).args(["rev-parse", "--verify", "--quiet", "HEAD"]);
    let out = fs
        .host()
        .session()
        .exec(&cmd)
        .map_err(|e| NodeError::Exec {
            step: "git rev-parse",
            source: Box::new(e),
        })?;
    let commit = out.stdout_lossy().trim().to_owned();
    let ok = out.success() && commit.len() == 40 && commit.bytes().all(|b| b.is_ascii_hexdigit());
    Ok(ok.then_some(commit))
}
