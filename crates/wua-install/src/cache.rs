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

    /// Whether every content blob of a document is present (`IsDownloaded`); links have none.
    pub fn has_all(&self, content: &[ContentEntry]) -> bool {
        content.iter().filter(|c| !c.is_link()).all(|c| self.contains(&c.sha256, c.size))
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
                tracing::info!(path = %entry.path().display(), pid, "removed a staging file of an interrupted import");
                removed += 1;
            }
        }
        Ok(removed)
    }

    /// Holds the cache shared (downloads and installs: the blobs they use stay) until the
    /// returned guard is dropped; waits while `wua cache clean` holds it exclusively.
    pub fn hold_shared(&self) -> Result<CacheHold, InstallError> {
        let file = self.lock_file()?;
        file.lock_shared().map_err(|e| InstallError::io(self.lock_path(), e))?;
        Ok(CacheHold { _file: file })
    }

    /// Holds the cache exclusively (`wua cache clean`), waiting at most `wait` for downloads
    /// and installs to finish; `None` when they did not.
    pub fn hold_exclusive(&self, wait: std::time::Duration) -> Result<Option<CacheHold>, InstallError> {
        let file = self.lock_file()?;
        let deadline = std::time::Instant::now() + wait;
        loop {
            match file.try_lock() {
                Ok(()) => return Ok(Some(CacheHold { _file: file })),
                Err(std::fs::TryLockError::WouldBlock) if std::time::Instant::now() < deadline => {
                    std::thread::sleep(std::time::Duration::from_millis(50));
                }
                Err(std::fs::TryLockError::WouldBlock) => return Ok(None),
                Err(std::fs::TryLockError::Error(e)) => return Err(InstallError::io(self.lock_path(), e)),
            }
        }
    }

    /// The cache's lock file, beside the blobs (`<state>/cache/cache.lock`).
    fn lock_path(&self) -> PathBuf {
        self.dir.with_file_name("cache.lock")
    }

    fn lock_file(&self) -> Result<std::fs::File, InstallError> {
        self.ensure()?;
        let path = self.lock_path();
        std::fs::OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&path)
            .map_err(|e| InstallError::io(&path, e))
    }

    /// Every blob in the cache, by hash, with its size.
    pub fn blobs(&self) -> Result<Vec<(String, u64)>, InstallError> {
        let entries = match std::fs::read_dir(&self.dir) {
            Ok(entries) => entries,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
            Err(e) => return Err(InstallError::io(&self.dir, e)),
        };
        let mut out = Vec::new();
        for entry in entries {
            let entry = entry.map_err(|e| InstallError::io(&self.dir, e))?;
            let name = entry.file_name().to_string_lossy().into_owned();
            if wua_types::is_sha256_hex(&name) {
                let len = entry.metadata().map(|m| m.len()).unwrap_or(0);
                out.push((name, len));
            }
        }
        Ok(out)
    }

    /// Moves a verified staged file into the cache under its hash.
    pub fn adopt(&self, staged: &Path, sha256: &str) -> Result<(), InstallError> {
        let target = self.path(sha256);
        fs_err::rename(staged, &target).map_err(|e| InstallError::io(&target, e))
    }
}

/// A hold on the content cache (shared or exclusive), released when dropped.
#[derive(Debug)]
pub struct CacheHold {
    _file: std::fs::File,
}
