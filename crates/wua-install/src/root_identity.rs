//! A state directory belongs to one target root.
//!
//! The journal's plans are paths relative to a root, so an interrupted operation recovered
//! against another tree would roll files forward into it or delete them from it. A root's
//! identity is a random id in `<root>/var/lib/wua/root-id`, written at the root's first use;
//! the state directory records the id of the root it was first used with and refuses any other
//! root, naming both. Not the device number: that can change across a reboot on LVM,
//! overlayfs or btrfs. Several state directories may share one root (D-8 keeps their
//! operations apart); one state directory never serves two roots.

use std::io::Write;
use std::path::Path;

use wua_store::{RootBinding, Store};

use crate::error::InstallError;
use crate::lock::InstallLock;
use crate::root_admin_dir;

/// The file in `<root>/var/lib/wua` that holds the root's identity.
pub const ROOT_ID_FILE: &str = "root-id";

/// Checks that the state directory of `store` belongs to `root` and returns the root's id,
/// recording the binding (and giving the root an id) at first use. Runs under the D-8 lock,
/// before recovery, so no journal record is ever applied to another tree.
pub fn bind_root(
    store: &mut Store,
    state_dir: &Path,
    root: &Path,
    _lock: &InstallLock,
) -> Result<String, InstallError> {
    let found = read_root_id(root)?;
    let root_path = root.display().to_string();
    // The common case reads only: a job's own overhead stays a read here.
    if let (Some(bound), Some(id)) = (store.read()?.root_binding()?, &found) {
        if bound.root_id == *id && bound.root_path == root_path {
            return Ok(bound.root_id);
        }
    }
    let tx = store.write()?;
    let id = match (tx.root_binding()?, found) {
        (Some(bound), Some(id)) if bound.root_id == id => {
            if bound.root_path != root_path {
                tx.set_root_binding(&RootBinding { root_id: id.clone(), root_path })?;
            }
            id
        }
        (Some(bound), found) => {
            return Err(InstallError::RootMismatch {
                state_dir: state_dir.to_path_buf(),
                bound_path: bound.root_path,
                bound_id: bound.root_id,
                root: root.to_path_buf(),
                root_id: found,
            });
        }
        (None, found) => {
            let id = match found {
                Some(id) => id,
                None => create_root_id(root)?,
            };
            tx.set_root_binding(&RootBinding { root_id: id.clone(), root_path })?;
            id
        }
    };
    tx.commit()?;
    Ok(id)
}

/// The root's id, or `None` when it has never been used by wua.
pub(crate) fn read_root_id(root: &Path) -> Result<Option<String>, InstallError> {
    let path = root_admin_dir(root).join(ROOT_ID_FILE);
    match std::fs::read_to_string(&path) {
        Ok(text) => {
            let id = text.trim();
            if wua_types::is_uuid(id) {
                Ok(Some(id.to_owned()))
            } else {
                Err(InstallError::io(
                    &path,
                    std::io::Error::new(std::io::ErrorKind::InvalidData, "not a root id (expected a UUID)"),
                ))
            }
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(InstallError::io(&path, e)),
    }
}

/// Gives a root its id: written whole to a temporary file, made durable, then linked into
/// place (a link never replaces, so a concurrent first use keeps whichever id came first and
/// no reader ever sees a partial id).
fn create_root_id(root: &Path) -> Result<String, InstallError> {
    let dir = root_admin_dir(root);
    fs_err::create_dir_all(&dir).map_err(|e| InstallError::io(&dir, e))?;
    let path = dir.join(ROOT_ID_FILE);
    let tmp = dir.join(format!(".{ROOT_ID_FILE}.{}", uuid::Uuid::new_v4()));
    let id = uuid::Uuid::new_v4().to_string();
    let written = (|| -> std::io::Result<()> {
        let mut f = std::fs::OpenOptions::new().write(true).create_new(true).open(&tmp)?;
        f.write_all(format!("{id}\n").as_bytes())?;
        f.sync_all()?;
        match std::fs::hard_link(&tmp, &path) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {}
            Err(e) => return Err(e),
        }
        std::fs::File::open(&dir)?.sync_all()
    })();
    let _ = std::fs::remove_file(&tmp);
    written.map_err(|e| InstallError::io(&path, e))?;
    read_root_id(root)?.ok_or_else(|| {
        InstallError::io(&path, std::io::Error::new(std::io::ErrorKind::NotFound, "the root id vanished"))
    })
}
