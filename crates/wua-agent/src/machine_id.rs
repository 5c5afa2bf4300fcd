//! The machine id a managed server knows this computer by: `<root>/etc/machine-id` when the
//! target root has one (trimmed, not empty), else one the agent generates once (a UUID) and
//! keeps in its state directory (`<state>/machine-id`). Registering again with the same id
//! keeps the computer's identity on the server; two agents with their own roots and state
//! directories on one host are two computers.

use std::io::Write;
use std::path::Path;

use wua_types::{HResult, WuError};

/// The file in the state directory that keeps a generated id.
const GENERATED: &str = "machine-id";

/// The machine id of the target `root`, from `root` or generated once into `state_dir`.
pub(crate) fn machine_id(root: &Path, state_dir: &Path) -> Result<String, WuError> {
    if let Some(id) = read_id(&root.join("etc/machine-id"))? {
        return Ok(id);
    }
    let kept = state_dir.join(GENERATED);
    if let Some(id) = read_id(&kept)? {
        return Ok(id);
    }
    // Written under a temporary name and linked into place only if no other process did so
    // first: whoever links first decides, and every process then reads the same id.
    let io = |e: std::io::Error| WuError::new(HResult::WUA_E_STATE_DIR, format!("{}: {e}", kept.display()));
    let mut tmp = tempfile::Builder::new().prefix(".machine-id.").tempfile_in(state_dir).map_err(io)?;
    writeln!(tmp, "{}", uuid::Uuid::new_v4()).map_err(io)?;
    tmp.as_file().sync_all().map_err(io)?;
    match tmp.persist_noclobber(&kept) {
        Ok(_) => {}
        Err(e) if e.error.kind() == std::io::ErrorKind::AlreadyExists => {}
        Err(e) => return Err(io(e.error)),
    }
    wua_fs::fsync_dir(state_dir).map_err(io)?;
    read_id(&kept)?.ok_or_else(|| io(std::io::Error::other("the generated machine id is empty")))
}

/// The trimmed content of `path`; `None` when it is missing or blank.
fn read_id(path: &Path) -> Result<Option<String>, WuError> {
    match std::fs::read_to_string(path) {
        Ok(text) => {
            let id = text.trim();
            Ok((!id.is_empty()).then(|| id.to_owned()))
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => {
            let code = match e.kind() {
                std::io::ErrorKind::PermissionDenied => HResult::E_ACCESSDENIED,
                _ => HResult::WUA_E_STATE_DIR,
            };
            Err(WuError::new(code, format!("machine id {}: {e}", path.display())))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_root_s_id_wins_then_one_is_generated_once() {
        let dir = tempfile::tempdir().unwrap();
        let (root, state) = (dir.path().join("root"), dir.path().join("state"));
        std::fs::create_dir_all(root.join("etc")).unwrap();
        std::fs::create_dir_all(&state).unwrap();
        std::fs::write(root.join("etc/machine-id"), "  \n").unwrap();
        let generated = machine_id(&root, &state).unwrap();
        assert!(wua_types::is_uuid(&generated), "{generated}");
        assert_eq!(machine_id(&root, &state).unwrap(), generated, "generated once");
        std::fs::write(root.join("etc/machine-id"), "0123456789abcdef0123456789abcdef\n").unwrap();
        assert_eq!(machine_id(&root, &state).unwrap(), "0123456789abcdef0123456789abcdef");
        let other = dir.path().join("other-state");
        std::fs::create_dir_all(&other).unwrap();
        let bare = dir.path().join("bare-root");
        std::fs::create_dir_all(&bare).unwrap();
        assert_ne!(machine_id(&bare, &other).unwrap(), generated, "another state directory, another id");
    }
}
