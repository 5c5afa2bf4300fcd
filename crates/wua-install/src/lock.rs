//! The two D-8 lock files: `<state>/state.lock` and `<root>/var/lib/wua/root.lock`.
//!
//! Each is a [`wua_fs::LockFile`]: an exclusive `flock` on its own open file description, so it
//! excludes other processes and a second job in the same process alike, and a dead holder's
//! lock is freed by the kernel. A refused caller is told the holder's pid as the kernel
//! records it (`/proc/locks`), so a contender that arrives between the holder's `flock` and
//! its pid write is never told pid 0 or a previous holder's pid.

use std::os::unix::fs::MetadataExt;
use std::path::Path;
use std::time::Duration;

use wua_fs::{LockError, LockFile};

use crate::error::InstallError;
use crate::root_admin_dir;

/// The lock file name inside the state directory.
pub(crate) const STATE_LOCK: &str = "state.lock";
/// The lock file name inside `<root>/var/lib/wua`.
pub(crate) const ROOT_LOCK: &str = "root.lock";

/// How long `begin_*` and `wua recover` wait for a holder that is finishing before they
/// report it (D-8): long enough for a moment's overlap (a probe, the end of another job),
/// short enough that a caller learns of a real install at once.
pub const DEFAULT_LOCK_WAIT: Duration = Duration::from_secs(2);

/// Proof that this thread holds the D-8 locks; dropping it releases them.
#[derive(Debug)]
pub struct InstallLock {
    _locks: Vec<LockFile>,
}

impl InstallLock {
    /// Takes both locks in D-8's order, each within `wait`; `WU_E_INSTALL_NOT_ALLOWED` naming
    /// the holder's pid when one stays held. When both paths are the same file (the defaults),
    /// it is taken once.
    pub fn acquire(state_dir: &Path, root: &Path, wait: Duration) -> Result<Self, InstallError> {
        let state_path = state_dir.join(STATE_LOCK);
        let admin = root_admin_dir(root);
        fs_err::create_dir_all(&admin).map_err(|e| InstallError::io(&admin, e))?;
        let root_path = admin.join(ROOT_LOCK);
        let asked = std::time::Instant::now();
        let state = LockFile::acquire_within(&state_path, wait)?;
        let same = match (state.file().metadata(), fs_err::metadata(&root_path)) {
            (Ok(a), Ok(b)) => a.dev() == b.dev() && a.ino() == b.ino(),
            _ => false,
        };
        let mut locks = vec![state];
        if !same {
            locks.push(LockFile::acquire_within(&root_path, wait)?);
        }
        tracing::debug!(
            state_lock = %state_path.display(),
            root_lock = %root_path.display(),
            waited_ms = asked.elapsed().as_millis() as u64,
            "lock: the state directory's and the root's install locks taken"
        );
        Ok(InstallLock { _locks: locks })
    }
}

impl From<LockError> for InstallError {
    fn from(e: LockError) -> Self {
        match e {
            LockError::Busy { path, holder } => InstallError::Busy { path, pid: holder },
            LockError::Io { path, source } => InstallError::Lock { path, source },
        }
    }
}

/// The pid of the operation holding this state directory's lock now, or `None`: while it is
/// held, the journal's records are that live operation's, not interrupted ones (it recovered
/// every interrupted one before it began).
pub fn state_holder(state_dir: &Path) -> Result<Option<u32>, InstallError> {
    let path = state_dir.join(STATE_LOCK);
    wua_fs::lock_holder(&path).map_err(|e| InstallError::Lock { path, source: e })
}

/// `IsBusy` (D-8): the pid of whoever holds either lock now, or `None`. Advisory, as in WUA:
/// the answer can be stale as soon as it is given. It asks the kernel and takes no lock, so
/// polling it never makes a real install fail. A holder whose pid is not visible from here
/// (another pid namespace) counts as busy with pid 0.
pub fn holder(state_dir: &Path, root: &Path) -> Result<Option<u32>, InstallError> {
    for path in [state_dir.join(STATE_LOCK), root_admin_dir(root).join(ROOT_LOCK)] {
        let found = wua_fs::lock_holder(&path).map_err(|e| InstallError::Lock { path: path.clone(), source: e })?;
        if found.is_some() {
            return Ok(found);
        }
    }
    Ok(None)
}
