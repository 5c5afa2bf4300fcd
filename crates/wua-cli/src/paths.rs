//! Paths as the agent's verbs take them.

use std::path::{Component, Path};

use wua_agent::wua_types::{HResult, WuError};

use crate::CliResult;

/// Whether this process may write `dir` (or, when it does not exist yet, its nearest existing
/// parent): what an install needs before a license is recorded as accepted.
pub(crate) fn writable(dir: &Path) -> bool {
    use std::os::unix::ffi::OsStrExt;
    let mut at = dir;
    while !at.exists() {
        match at.parent() {
            Some(parent) if !parent.as_os_str().is_empty() => at = parent,
            _ => return true,
        }
    }
    let Ok(c) = std::ffi::CString::new(at.as_os_str().as_bytes()) else { return false };
    // SAFETY: `c` is a valid NUL-terminated path for the duration of the call.
    unsafe { libc::access(c.as_ptr(), libc::W_OK) == 0 }
}

/// `path` as the datastore records owned files: relative to the target root, without `.` or
/// `..`. An absolute path is read as inside the root (`/etc/x.conf` is `ROOT/etc/x.conf`);
/// a path that starts with the root's own path is taken as under it too.
pub(crate) fn relative_to_root(path: &Path, root: &Path) -> CliResult<String> {
    let inside = path.strip_prefix(root).ok().filter(|_| root != Path::new("/")).unwrap_or(path);
    let mut parts = Vec::new();
    for component in inside.components() {
        match component {
            Component::RootDir | Component::CurDir => {}
            Component::Normal(part) => parts.push(part.to_string_lossy().into_owned()),
            Component::ParentDir | Component::Prefix(_) => {
                return Err(WuError::new(
                    HResult::E_INVALIDARG,
                    format!("{}: give the path without `..`, as installed under the root", path.display()),
                ));
            }
        }
    }
    if parts.is_empty() {
        return Err(WuError::new(HResult::E_INVALIDARG, format!("{}: not a file under the root", path.display())));
    }
    Ok(parts.join("/"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_relative_to_the_root() {
        let r = |p: &str, root: &str| relative_to_root(Path::new(p), Path::new(root));
        assert_eq!(r("/etc/x.conf", "/").unwrap(), "etc/x.conf");
        assert_eq!(r("/etc/x.conf", "/tmp/root").unwrap(), "etc/x.conf");
        assert_eq!(r("/tmp/root/etc/x.conf", "/tmp/root").unwrap(), "etc/x.conf");
        assert_eq!(r("etc/./x.conf", "/").unwrap(), "etc/x.conf");
        assert!(r("/etc/../x", "/").is_err());
        assert!(r("/", "/").is_err());
    }
}
