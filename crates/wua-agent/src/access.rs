//! D-6: whether this process may write a directory (effective ids, as the kernel checks).

use std::ffi::CString;
use std::os::unix::ffi::OsStrExt;
use std::path::Path;

/// `faccessat(W_OK, AT_EACCESS)`: true when the effective user may write `path`.
pub fn is_writable(path: &Path) -> bool {
    let Ok(c) = CString::new(path.as_os_str().as_bytes()) else { return false };
    // SAFETY: a valid NUL-terminated path; faccessat only reads it.
    unsafe { libc::faccessat(libc::AT_FDCWD, c.as_ptr(), libc::W_OK, libc::AT_EACCESS) == 0 }
}
