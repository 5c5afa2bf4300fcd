//! Removing what may already be gone.

use std::io;
use std::path::Path;

/// Removes the file at `path`; `Ok(false)` when there was none.
pub fn remove_file_if_present(path: &Path) -> io::Result<bool> {
    match fs_err::remove_file(path) {
        Ok(()) => Ok(true),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(false),
        Err(e) => Err(e),
    }
}

/// Removes the directory at `path` and everything in it; `Ok(false)` when there was none.
pub fn remove_dir_all_if_present(path: &Path) -> io::Result<bool> {
    match fs_err::remove_dir_all(path) {
        Ok(()) => Ok(true),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(false),
        Err(e) => Err(e),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn removes_once() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("f");
        std::fs::write(&path, b"x").unwrap();
        assert!(remove_file_if_present(&path).unwrap());
        assert!(!remove_file_if_present(&path).unwrap());
        let e = remove_file_if_present(dir.path()).unwrap_err();
        assert!(e.to_string().contains(&*dir.path().to_string_lossy()), "{e}");
    }

    #[test]
    fn removes_a_tree_once() {
        let dir = tempfile::tempdir().unwrap();
        let tree = dir.path().join("t");
        std::fs::create_dir_all(tree.join("a/b")).unwrap();
        std::fs::write(tree.join("a/b/f"), b"x").unwrap();
        assert!(remove_dir_all_if_present(&tree).unwrap());
        assert!(!tree.exists());
        assert!(!remove_dir_all_if_present(&tree).unwrap());
        // Only "not found" is "already gone": a file where a directory is expected is an error.
        let file = dir.path().join("f");
        std::fs::write(&file, b"x").unwrap();
        let e = remove_dir_all_if_present(&file.join("sub")).unwrap_err();
        assert!(e.to_string().contains("sub"), "{e}");
    }
}
