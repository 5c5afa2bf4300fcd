//! Free space, as an unprivileged writer sees it.

use std::ffi::CString;
use std::io;
use std::os::unix::ffi::OsStrExt;
use std::path::Path;

use crate::with_path;

/// Bytes an unprivileged process may still write on the filesystem holding `dir`.
pub fn available_bytes(dir: &Path) -> io::Result<u64> {
    let c = CString::new(dir.as_os_str().as_bytes())
        .map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "path contains a NUL byte"))?;
    let mut st = std::mem::MaybeUninit::<libc::statvfs>::uninit();
    // SAFETY: `c` is a NUL-terminated path and `st` is writable memory of the type statvfs(3)
    // fills in.
    if unsafe { libc::statvfs(c.as_ptr(), st.as_mut_ptr()) } != 0 {
        return Err(with_path(io::Error::last_os_error(), "statvfs", dir));
    }
    // SAFETY: statvfs returned 0, so it initialised `st`.
    let st = unsafe { st.assume_init() };
    #[allow(clippy::unnecessary_cast)] // u64 here; fsblkcnt_t and c_ulong are 32 bits on some targets
    Ok((st.f_bavail as u64).saturating_mul(st.f_frsize as u64))
}
