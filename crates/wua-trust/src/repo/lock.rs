//! The writers' lock: the proof every writer of a repository takes.

use std::path::Path;
use std::time::Duration;

use wua_fs::{LockError, LockFile};

use crate::error::TrustError;
use crate::layout::Layout;

/// The writers' lock: an exclusive `flock` on `repo.lock`, with the holder's pid inside. Every
/// function that changes a repository takes one (`&RepoLock`), so none can run without it;
/// dropping it releases the lock.
#[derive(Debug)]
pub struct RepoLock {
    _file: LockFile,
    layout: Layout,
}

impl RepoLock {
    /// How long a writer waits for another to finish by default: long enough that a writer
    /// never fails because another finished a moment later.
    pub const DEFAULT_WAIT: Duration = Duration::from_secs(10);

    /// Takes the lock of the repository in `dir`, waiting at most `wait` for another writer to
    /// finish, then `WUA_E_REPO_LOCKED` naming the holder's pid. The wait happens on a blocking
    /// thread, never on the runtime's.
    pub async fn acquire(dir: &Path, wait: Duration) -> Result<RepoLock, TrustError> {
        RepoLock::acquire_in(open(dir)?, wait).await
    }

    /// [`RepoLock::acquire`], also for a repository created with its root keys elsewhere whose
    /// first root still awaits its signatures: the lock `root::merge_locked` installs that root
    /// under. Every other writer refuses such a repository.
    pub async fn acquire_any(dir: &Path, wait: Duration) -> Result<RepoLock, TrustError> {
        if !Layout::is_repository(dir) {
            return Err(not_a_repository(dir));
        }
        RepoLock::acquire_in(Layout::new(dir), wait).await
    }

    /// [`RepoLock::acquire`] for callers outside a runtime.
    pub fn acquire_blocking(dir: &Path, wait: Duration) -> Result<RepoLock, TrustError> {
        RepoLock::take(open(dir)?, wait)
    }

    /// The lock of a repository being created (`init`), or one already opened.
    pub(crate) async fn acquire_in(layout: Layout, wait: Duration) -> Result<RepoLock, TrustError> {
        let dir = layout.dir.clone();
        tokio::task::spawn_blocking(move || RepoLock::take(layout, wait))
            .await
            .map_err(|e| TrustError::io(dir, std::io::Error::other(e.to_string())))?
    }

    fn take(layout: Layout, wait: Duration) -> Result<RepoLock, TrustError> {
        match LockFile::acquire_within(&layout.lock(), wait) {
            Ok(file) => Ok(RepoLock { _file: file, layout }),
            Err(LockError::Busy { holder, .. }) => Err(TrustError::Locked { path: layout.dir, holder }),
            Err(LockError::Io { path, source }) => Err(TrustError::io(path, source)),
        }
    }

    /// The repository this lock is for.
    pub fn layout(&self) -> &Layout {
        &self.layout
    }
}

/// The layout of the repository in `dir`, refused unless it is one whose root is signed.
pub(super) fn open(dir: &Path) -> Result<Layout, TrustError> {
    if !Layout::is_repository(dir) {
        return Err(not_a_repository(dir));
    }
    let layout = Layout::new(dir);
    if layout.is_root_pending() {
        return Err(root_pending(&layout));
    }
    Ok(layout)
}

fn not_a_repository(dir: &Path) -> TrustError {
    TrustError::invalid(dir, "is not a wua repository (wua repo init creates one)")
}

/// The refusal of a repository whose first root has not been signed: nothing can be published
/// before agents have a root to trust.
pub(crate) fn root_pending(layout: &Layout) -> TrustError {
    let proposal = layout.root_proposal(1);
    TrustError::invalid(
        &layout.dir,
        format!(
            "its root is not signed yet: sign copies of {} with the root keys (`wua repo root sign FILE --key KEY`, a threshold of them), then install them with `wua repo root merge {} FILE...`",
            proposal.display(),
            layout.dir.display()
        ),
    )
}
