//! D-6: whether this process may write a directory (effective ids, as the kernel checks).

use std::ffi::CString;
use std::os::unix::ffi::OsStrExt;
use std::path::Path;

use wua_types::{HResult, WuError};

/// D-6: the process must be able to write the state directory and the target root.
pub(crate) fn check_writable(state_dir: &Path, root: &Path) -> Result<(), WuError> {
    for (what, dir) in [("state directory", state_dir), ("target root", root)] {
        if !is_writable(dir) {
            return Err(WuError::new(
                HResult::E_ACCESSDENIED,
                format!("this process cannot write the {what} {}", dir.display()),
            ));
        }
    }
    Ok(())
}

/// `faccessat(W_OK, AT_EACCESS)`: true when the effective user may write `path`.
pub(crate) fn is_writable(path: &Path) -> bool {
    let Ok(c) = CString::new(path.as_os_str().as_bytes()) else { return false };
    // SAFETY: a valid NUL-terminated path; faccessat only reads it.
    unsafe { libc::faccessat(libc::AT_FDCWD, c.as_ptr(), libc::W_OK, libc::AT_EACCESS) == 0 }
}
