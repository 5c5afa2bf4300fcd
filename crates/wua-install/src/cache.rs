//! The content cache: blobs by SHA-256 at `<state>/cache/sha256/<hex>`.
//!
//! The cache is not fsynced: every install re-verifies each byte while staging (D-13), so a
//! torn cache file is detected (and, for a repository, fetched again).

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

    /// Creates the cache directory.
    pub fn ensure(&self) -> Result<(), InstallError> {
        fs_err::create_dir_all(&self.dir).map_err(|e| InstallError::io(&self.dir, e))
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

    /// Moves a verified staged file into the cache under its hash.
    pub fn adopt(&self, staged: &Path, sha256: &str) -> Result<(), InstallError> {
        let target = self.path(sha256);
        fs_err::rename(staged, &target).map_err(|e| InstallError::io(&target, e))
    }
}
