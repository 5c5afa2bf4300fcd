//! Durable atomic replacement: a reader sees the old file or the new one, never a mix, and
//! after a crash the file is one of the two.

use std::fs::OpenOptions;
use std::io::{self, Write};
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use crate::with_path;

/// Replaces `path` with `bytes`, durably: a temporary file in the same directory
/// (`.{name}.tmp-{pid}-{n}`), written, given `mode` explicitly (so the umask does not decide:
/// 0o644 for shared files, 0o600 for private ones), synced, renamed over `path`, then the
/// directory synced. On an error the temporary file is removed and `path` is unchanged.
pub fn write_atomic(path: &Path, bytes: &[u8], mode: u32) -> io::Result<()> {
    let dir = parent_of(path);
    let tmp = temp_name(path)?;
    let result = write_synced(&tmp, bytes, mode)
        .and_then(|()| std::fs::rename(&tmp, path).map_err(|e| with_path(e, "rename into place", path)));
    if result.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    result?;
    fsync_dir(dir)
}

/// Syncs a directory, so the names created, renamed or removed in it are durable.
pub fn fsync_dir(dir: &Path) -> io::Result<()> {
    let file = std::fs::File::open(dir).map_err(|e| with_path(e, "open directory", dir))?;
    file.sync_all().map_err(|e| with_path(e, "sync directory", dir))
}

/// The directory `path` is in (`.` for a bare name).
fn parent_of(path: &Path) -> &Path {
    match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    }
}

/// A temporary name beside `path`, unique in this process and across processes.
fn temp_name(path: &Path) -> io::Result<PathBuf> {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let name = path
        .file_name()
        .ok_or_else(|| with_path(io::Error::new(io::ErrorKind::InvalidInput, "no file name"), "replace", path))?;
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    let mut tmp = std::ffi::OsString::from(".");
    tmp.push(name);
    tmp.push(format!(".tmp-{}-{n}", std::process::id()));
    Ok(parent_of(path).join(tmp))
}

fn write_synced(tmp: &Path, bytes: &[u8], mode: u32) -> io::Result<()> {
    let mut file = OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(mode)
        .open(tmp)
        .map_err(|e| with_path(e, "create", tmp))?;
    file.write_all(bytes).map_err(|e| with_path(e, "write", tmp))?;
    file.set_permissions(std::fs::Permissions::from_mode(mode)).map_err(|e| with_path(e, "chmod", tmp))?;
    file.sync_all().map_err(|e| with_path(e, "sync", tmp))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn mode_of(path: &Path) -> u32 {
        std::fs::metadata(path).unwrap().permissions().mode() & 0o7777
    }

    #[test]
    fn replaces_with_the_mode_asked_and_leaves_no_temporary() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("root.json");
        write_atomic(&path, b"one", 0o644).unwrap();
        assert_eq!(std::fs::read(&path).unwrap(), b"one");
        assert_eq!(mode_of(&path), 0o644);
        write_atomic(&path, b"two", 0o600).unwrap();
        assert_eq!(std::fs::read(&path).unwrap(), b"two");
        assert_eq!(mode_of(&path), 0o600);
        let names: Vec<_> = std::fs::read_dir(dir.path()).unwrap().map(|e| e.unwrap().file_name()).collect();
        assert_eq!(names, ["root.json"]);
    }

    #[test]
    fn a_failed_replace_changes_nothing_and_names_the_path() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("file");
        write_atomic(&path, b"old", 0o644).unwrap();
        // A directory cannot be replaced by a file: the rename fails.
        let target = dir.path().join("sub");
        std::fs::create_dir(&target).unwrap();
        std::fs::write(target.join("x"), b"x").unwrap();
        let e = write_atomic(&target, b"new", 0o644).unwrap_err();
        assert!(e.to_string().contains(&*target.to_string_lossy()), "{e}");
        let mut names: Vec<_> = std::fs::read_dir(dir.path()).unwrap().map(|e| e.unwrap().file_name()).collect();
        names.sort();
        assert_eq!(names, ["file", "sub"], "the temporary file is removed");
        assert_eq!(std::fs::read(&path).unwrap(), b"old");
        let e = write_atomic(&dir.path().join("missing/file"), b"x", 0o644).unwrap_err();
        assert_eq!(e.kind(), io::ErrorKind::NotFound);
        assert!(e.to_string().contains("missing/"), "{e}");
    }
}
