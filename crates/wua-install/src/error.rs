//! Errors of the install machinery that are call-level failures (D-1). Per-update outcomes are
//! data (`UpdateInstallationResult`), not errors.

use std::path::PathBuf;

use wua_store::StoreError;
use wua_types::{HResult, WuError};

/// A failure that stops an operation before or outside the per-update work.
#[derive(Debug, thiserror::Error)]
pub enum InstallError {
    /// Another install or uninstall holds the lock (D-8).
    #[error(
        "another installation is running ({}, lock {})",
        pid.map_or_else(|| "its pid is not visible from here".to_owned(), |p| format!("pid {p}")),
        path.display()
    )]
    Busy {
        /// The lock file.
        path: PathBuf,
        /// The holder's pid as the kernel records it, when visible.
        pid: Option<u32>,
    },
    /// A lock file could not be created, opened or written.
    #[error("lock file {}: {source}", path.display())]
    Lock {
        /// The lock file.
        path: PathBuf,
        /// The cause.
        source: std::io::Error,
    },
    /// An I/O error on a named path.
    #[error("{path}: {source}")]
    Io {
        /// The path.
        path: PathBuf,
        /// The cause.
        source: std::io::Error,
    },
    /// The datastore failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The state directory belongs to another target root: nothing is done to this one.
    #[error(
        "state directory {state_dir} belongs to the target root {bound_path} (root id {bound_id}), \
         not to {root} ({}); use the state directory that root was installed with, or another --state-dir",
        root_id.as_deref().map_or_else(|| "a root wua has not used".to_owned(), |id| format!("root id {id}"))
    )]
    RootMismatch {
        /// The state directory.
        state_dir: PathBuf,
        /// The root it belongs to, as last seen.
        bound_path: String,
        /// That root's id.
        bound_id: String,
        /// The root asked for.
        root: PathBuf,
        /// Its id, if it has one.
        root_id: Option<String>,
    },
    /// A journal plan in the datastore does not decode.
    #[error("journal record {op_id}: {detail}")]
    BadJournal {
        /// The operation.
        op_id: String,
        /// What failed.
        detail: String,
    },
}

impl InstallError {
    /// The code for this error.
    pub fn hresult(&self) -> HResult {
        match self {
            InstallError::Busy { .. } => HResult::WU_E_INSTALL_NOT_ALLOWED,
            InstallError::Lock { source, .. } if source.kind() == std::io::ErrorKind::PermissionDenied => {
                HResult::E_ACCESSDENIED
            }
            InstallError::Lock { .. } => HResult::WUA_E_LOCK_IO,
            InstallError::Io { source, .. } if source.kind() == std::io::ErrorKind::PermissionDenied => {
                HResult::E_ACCESSDENIED
            }
            InstallError::Io { .. } => HResult::WUA_E_INSTALL_IO,
            InstallError::Store(e) => e.hresult(),
            InstallError::BadJournal { .. } => HResult::WUA_E_STORE,
            InstallError::RootMismatch { .. } => HResult::WUA_E_ROOT_MISMATCH,
        }
    }

    pub(crate) fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        InstallError::Io { path: path.into(), source }
    }
}

impl From<InstallError> for WuError {
    fn from(e: InstallError) -> Self {
        WuError::new(e.hresult(), e.to_string())
    }
}
