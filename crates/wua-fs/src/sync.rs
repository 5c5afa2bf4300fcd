//! `syncfs(2)`: one flush for every dirty file of a filesystem, where an `fsync` per file would
//! cost several times as much (architecture: batched durability).

use std::io;
use std::os::fd::AsRawFd;
use std::path::Path;

use crate::with_path;

/// Flushes the filesystem that holds `dir` (any path on it) to stable storage.
pub fn syncfs(dir: &Path) -> io::Result<()> {
    let file = fs_err::File::open(dir)?;
    // SAFETY: syncfs(2) only reads the descriptor number; `file` owns that descriptor and keeps
    // it open for the duration of the call.
    let rc = unsafe { libc::syncfs(file.as_raw_fd()) };
    if rc != 0 {
        return Err(with_path(io::Error::last_os_error(), "syncfs", dir));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    #[test]
    fn syncs_or_names_the_path() {
        let dir = tempfile::tempdir().unwrap();
        super::syncfs(dir.path()).unwrap();
        let missing = dir.path().join("missing");
        let e = super::syncfs(&missing).unwrap_err();
        assert!(e.to_string().contains(&*missing.to_string_lossy()), "{e}");
    }
}
