//! The two D-8 lock files: `<state>/state.lock` and `<root>/var/lib/wua/root.lock`.
//!
//! Each is an exclusive `flock` on its own open file description, so it excludes other
//! processes and a second job in the same process alike; a dead holder's lock is freed by the
//! kernel. The holder writes its pid into the files so a refused caller can name it.

use std::fs::File;
use std::io::{Read, Seek, SeekFrom, Write};
use std::os::fd::AsRawFd;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

use crate::error::InstallError;
use crate::root_admin_dir;

/// The lock file name inside the state directory.
pub const STATE_LOCK: &str = "state.lock";
/// The lock file name inside `<root>/var/lib/wua`.
pub const ROOT_LOCK: &str = "root.lock";

/// Proof that this thread holds the D-8 locks; dropping it releases them.
#[derive(Debug)]
pub struct InstallLock {
    _files: Vec<File>,
}

impl InstallLock {
    /// Takes both locks without waiting, in D-8's order; `WU_E_INSTALL_NOT_ALLOWED` naming the
    /// holder's pid when either is held.
    pub fn acquire(state_dir: &Path, root: &Path) -> Result<Self, InstallError> {
        let state_path = state_dir.join(STATE_LOCK);
        let admin = root_admin_dir(root);
        fs_err::create_dir_all(&admin).map_err(|e| InstallError::io(&admin, e))?;
        let root_path = admin.join(ROOT_LOCK);
        let mut files = vec![lock_file(&state_path)?];
        let same = match (fs_err::metadata(&state_path), fs_err::metadata(&root_path)) {
            (Ok(a), Ok(b)) => a.dev() == b.dev() && a.ino() == b.ino(),
            _ => false,
        };
        if !same {
            files.push(lock_file(&root_path)?);
        }
        let pid = std::process::id().to_string();
        for (file, path) in files.iter_mut().zip([&state_path, &root_path]) {
            let written = file
                .set_len(0)
                .and_then(|_| file.seek(SeekFrom::Start(0)))
                .and_then(|_| file.write_all(pid.as_bytes()));
            written.map_err(|e| InstallError::io(path, e))?;
        }
        Ok(InstallLock { _files: files })
    }
}

/// `IsBusy` (D-8): the pid of whoever holds either lock now, or `None`. Advisory, as in WUA:
/// the answer can be stale as soon as it is given. The probe takes a shared lock for an
/// instant, so it never blocks and never creates a file.
pub fn holder(state_dir: &Path, root: &Path) -> Result<Option<u32>, InstallError> {
    for path in [state_dir.join(STATE_LOCK), root_admin_dir(root).join(ROOT_LOCK)] {
        let mut file = match File::open(&path) {
            Ok(f) => f,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
            Err(e) => return Err(InstallError::io(&path, e)),
        };
        // SAFETY: flock on a valid, owned file descriptor.
        if unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_SH | libc::LOCK_NB) } != 0 {
            let err = std::io::Error::last_os_error();
            if err.raw_os_error() == Some(libc::EWOULDBLOCK) {
                let mut text = String::new();
                let _ = file.read_to_string(&mut text);
                return Ok(Some(text.trim().parse().unwrap_or(0)));
            }
            return Err(InstallError::io(&path, err));
        }
    }
    Ok(None)
}

fn lock_file(path: &PathBuf) -> Result<File, InstallError> {
    let mut file = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .open(path)
        .map_err(|e| InstallError::io(path, e))?;
    // SAFETY: flock on a valid, owned file descriptor.
    let rc = unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) };
    if rc != 0 {
        let err = std::io::Error::last_os_error();
        if err.raw_os_error() == Some(libc::EWOULDBLOCK) {
            let mut text = String::new();
            let _ = file.read_to_string(&mut text);
            return Err(InstallError::Busy { path: path.clone(), pid: text.trim().parse().unwrap_or(0) });
        }
        return Err(InstallError::io(path, err));
    }
    Ok(file)
}
