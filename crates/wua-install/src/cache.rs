//! The content cache: blobs by SHA-256 at `<state>/cache/sha256/<hex>`.
//!
//! The cache is not fsynced: every install re-verifies each byte while staging (D-13), so a
//! torn cache file is detected, removed, and fetched or imported again.
//!
//! An install stages a large blob by hard-linking it into the root when it can (same
//! filesystem, blob not linked anywhere yet; see `fsops::stage_verified`), so an installed
//! file may share its inode with its cache entry. The cache directory is private (0700) because the inode carries the installed mode.

use std::path::{Path, PathBuf};

use wua_types::ContentEntry;

use crate::error::InstallError;

/// The content cache of a state directory.
#[derive(Clone, Debug)]
pub struct ContentCache {
    dir: PathBuf,
}

impl ContentCache {
    /// The cache under `state_dir` (created on first use).
    pub fn new(state_dir: &Path) -> Self {
        ContentCache { dir: state_dir.join("cache").join("sha256") }
    }

    /// The cache directory (also where imports are staged before they are renamed in).
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Creates the cache directory (private: 0700).
    pub fn ensure(&self) -> Result<(), InstallError> {
        use std::os::unix::fs::DirBuilderExt;
        std::fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(&self.dir)
            .map_err(|e| InstallError::io(&self.dir, e))?;
        use std::os::unix::fs::PermissionsExt;
        fs_err::set_permissions(&self.dir, std::fs::Permissions::from_mode(0o700))
            .map_err(|e| InstallError::io(&self.dir, e))
    }

    /// Where a blob lives.
    pub fn path(&self, sha256: &str) -> PathBuf {
        self.dir.join(sha256)
    }

    /// Whether a blob of the right size is present (its bytes are checked when used).
    pub fn contains(&self, sha256: &str, size: u64) -> bool {
        std::fs::metadata(self.path(sha256)).is_ok_and(|m| m.is_file() && m.len() == size)
    }

    /// Whether every content blob of a document is present (`IsDownloaded`).
    pub fn has_all(&self, content: &[ContentEntry]) -> bool {
        content.iter().all(|c| self.contains(&c.sha256, c.size))
    }

    /// Removes what imports killed half-way (Ctrl-C, a crash) left: staging files whose
    /// importing process is gone. A live import's files are left alone, since imports do not
    /// take the D-8 lock. Returns how many were removed.
    pub fn remove_stale_imports(&self) -> Result<usize, InstallError> {
        let entries = match std::fs::read_dir(&self.dir) {
            Ok(entries) => entries,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(0),
            Err(e) => return Err(InstallError::io(&self.dir, e)),
        };
        let mut removed = 0;
        for entry in entries {
            let entry = entry.map_err(|e| InstallError::io(&self.dir, e))?;
            let name = entry.file_name();
            let Some(pid) = name.to_str().and_then(wua_package::staging_owner) else { continue };
            let owner_runs = pid == std::process::id() || crate::process::is_running(pid as i32);
            if !owner_runs {
                crate::fsops::remove_file_if_present(&entry.path())?;
                removed += 1;
            }
        }
        Ok(removed)
    }

    /// Moves a verified staged file into the cache under its hash.
    pub fn adopt(&self, staged: &Path, sha256: &str) -> Result<(), InstallError> {
        let target = self.path(sha256);
        fs_err::rename(staged, &target).map_err(|e| InstallError::io(&target, e))
    }
}
