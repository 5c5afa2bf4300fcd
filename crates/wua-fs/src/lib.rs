//! wua's filesystem primitives, one implementation of each, shared by every crate that
//! touches files:
//!
//! - [`LockFile`]: an exclusive `flock` on a file that holds its holder's pid (std's
//!   `File::try_lock`), taken at once or within a bounded wait, and [`lock_holder`], which
//!   names the holder from the kernel's `/proc/locks` without taking the lock.
//! - [`write_atomic`]: the one way to replace a file durably (temporary file in the same
//!   directory, explicit mode, `fsync`, `rename`, `fsync` of the directory), and [`fsync_dir`].
//! - [`copy_hashing`] (a copy that hashes what it writes, on `io::copy`), [`sha256_file`] and
//!   [`sha256_hex`].
//! - [`remove_file_if_present`], [`remove_dir_all_if_present`]: removal of what may already be
//!   gone.
//! - [`available_bytes`]: the free space an unprivileged writer may still use.
//! - [`syncfs`]: one flush for a whole filesystem.
//! - [`crash_point`]: named crash points for crash-safety tests (compiled in with the
//!   `crash-points` feature only).
//!
//! Every `io::Error` these functions return names the path it is about.

mod atomic;
mod crash;
mod hash;
mod lock;
mod remove;
mod space;
mod sync;

pub use atomic::{fsync_dir, write_atomic};
pub use crash::crash_point;
pub use hash::{copy_hashing, copy_hashing_with, sha256_file, sha256_hex};
pub use lock::{LockError, LockFile, lock_holder};
pub use remove::{remove_dir_all_if_present, remove_file_if_present};
pub use space::available_bytes;
pub use sync::syncfs;

/// Mode of files meant to be shared (repository metadata, packs, blobs, `root.json`).
pub const SHARED_FILE_MODE: u32 = 0o644;
/// Mode of private files (keys, tokens).
pub const PRIVATE_FILE_MODE: u32 = 0o600;

/// An `io::Error` of the same kind that names `path` and what was being done, with the
/// original's message (as `fs-err` does for the calls it wraps).
pub(crate) fn with_path(cause: std::io::Error, op: &'static str, path: &std::path::Path) -> std::io::Error {
    std::io::Error::new(cause.kind(), PathError { op, path: path.to_path_buf(), cause })
}

#[derive(Debug, thiserror::Error)]
#[error("failed to {op} `{}`: {cause}", path.display())]
struct PathError {
    op: &'static str,
    path: std::path::PathBuf,
    cause: std::io::Error,
}
