//! Lock files: an exclusive `flock` (std's `File::try_lock`, which is `flock(2)` on Linux) on a
//! file that also holds the holder's pid.
//!
//! The lock belongs to the open file description, so it excludes other processes and a second
//! acquisition in the same process alike, and the kernel frees it when its holder dies. The pid
//! written into the file is only a hint: a contender that arrives between the holder's `flock`
//! and its pid write would read nothing or a previous holder's pid. [`lock_holder`] therefore asks
//! the kernel (`/proc/locks`, by the file's device and inode) and reads the file only when
//! `/proc/locks` cannot be read.

use std::fs::{File, TryLockError};
use std::io;
use std::os::unix::fs::{FileExt, MetadataExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use crate::with_path;

/// The first pause between two attempts of [`LockFile::acquire_within`].
const FIRST_BACKOFF: Duration = Duration::from_millis(10);
/// The longest pause between two attempts of [`LockFile::acquire_within`].
const MAX_BACKOFF: Duration = Duration::from_millis(100);

/// Proof that this process holds the exclusive lock on a file; dropping it releases the lock.
#[derive(Debug)]
pub struct LockFile {
    file: File,
    path: PathBuf,
}

/// Why a lock could not be taken.
#[derive(Debug, thiserror::Error)]
pub enum LockError {
    /// Another open file description holds the lock (another process, or another holder in this
    /// one).
    #[error("{} is locked by {}", path.display(), holder_text(*holder))]
    Busy {
        /// The lock file.
        path: PathBuf,
        /// The holder's pid, when the kernel (or, failing that, the file) names one.
        holder: Option<u32>,
    },
    /// The lock file could not be created, opened, locked or written.
    #[error("lock file {}: {source}", path.display())]
    Io {
        /// The lock file.
        path: PathBuf,
        /// The cause.
        source: io::Error,
    },
}

fn holder_text(holder: Option<u32>) -> String {
    match holder {
        Some(pid) => format!("process {pid}"),
        None => "another process".into(),
    }
}

impl LockFile {
    /// Takes the exclusive lock on `path` without waiting, creating the file (mode 0644, whatever
    /// the umask) if it is missing, and writes this process's pid into it. `Busy` names the
    /// holder as [`lock_holder`] finds it.
    pub fn try_acquire(path: &Path) -> Result<LockFile, LockError> {
        let io_err = |source: io::Error| LockError::Io { path: path.to_path_buf(), source };
        let file = open_or_create(path).map_err(io_err)?;
        match file.try_lock() {
            Ok(()) => {}
            Err(TryLockError::WouldBlock) => {
                return Err(LockError::Busy { path: path.to_path_buf(), holder: lock_holder(path).ok().flatten() });
            }
            Err(TryLockError::Error(e)) => return Err(io_err(e)),
        }
        let pid = std::process::id().to_string();
        file.set_len(0).and_then(|()| file.write_all_at(pid.as_bytes(), 0)).map_err(io_err)?;
        Ok(LockFile { file, path: path.to_path_buf() })
    }

    /// Takes the exclusive lock on `path`, retrying with a short backoff (10 ms growing to
    /// 100 ms) while another holder has it, for at most `wait`; then `Busy`. A zero `wait`
    /// tries once.
    pub fn acquire_within(path: &Path, wait: Duration) -> Result<LockFile, LockError> {
        let deadline = Instant::now() + wait;
        let mut pause = FIRST_BACKOFF;
        loop {
            match LockFile::try_acquire(path) {
                Err(LockError::Busy { .. }) if Instant::now() < deadline => {
                    let left = deadline.saturating_duration_since(Instant::now());
                    std::thread::sleep(pause.min(left));
                    pause = (pause * 2).min(MAX_BACKOFF);
                }
                other => return other,
            }
        }
    }

    /// The lock file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The open lock file (to compare its identity with another file's, for example).
    pub fn file(&self) -> &File {
        &self.file
    }
}

/// Opens the lock file for reading and writing, creating it with mode 0644 (set explicitly, so
/// the umask does not decide: a reader without write access can still read the pid).
fn open_or_create(path: &Path) -> io::Result<File> {
    let created = std::fs::OpenOptions::new().read(true).write(true).create_new(true).mode(0o644).open(path);
    match created {
        Ok(file) => {
            file.set_permissions(std::fs::Permissions::from_mode(0o644)).map_err(|e| with_path(e, "chmod", path))?;
            Ok(file)
        }
        Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {
            std::fs::OpenOptions::new().read(true).write(true).open(path).map_err(|e| with_path(e, "open", path))
        }
        Err(e) => Err(with_path(e, "create", path)),
    }
}

/// The pid of whoever holds a `flock` on the file at `path` now, without taking any lock:
/// the kernel's record in `/proc/locks`, matched by the file's device and inode. `None` when
/// the file does not exist, nobody holds a lock on it, or the holder is not visible from this
/// pid namespace (the kernel shows it as pid 0). Only when `/proc/locks` cannot be read is
/// the pid written in the file used. Never `Some(0)`. Advisory: the answer can be stale as
/// soon as it is given.
pub fn lock_holder(path: &Path) -> io::Result<Option<u32>> {
    let meta = match std::fs::metadata(path) {
        Ok(m) => m,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(with_path(e, "stat", path)),
    };
    match std::fs::read_to_string("/proc/locks") {
        Ok(locks) => Ok(flock_holder(&locks, libc::major(meta.dev()), libc::minor(meta.dev()), meta.ino())),
        Err(_) => match std::fs::read_to_string(path) {
            Ok(text) => Ok(parse_pid(text.trim())),
            Err(e) => Err(with_path(e, "read", path)),
        },
    }
}

/// The pid of the first `FLOCK` holder (not a waiter) of the inode `ino` on device
/// `major:minor` in the text of `/proc/locks`:
/// `1: FLOCK  ADVISORY  WRITE 1736 fe:00:5308640 0 EOF` (device numbers in hex), waiters as
/// `1: -> FLOCK ...`.
fn flock_holder(locks: &str, major: u32, minor: u32, ino: u64) -> Option<u32> {
    locks.lines().find_map(|line| {
        let fields: Vec<&str> = line.split_whitespace().collect();
        let [_, kind, _, _, pid, id, ..] = fields.as_slice() else { return None };
        if *kind != "FLOCK" {
            return None; // a waiter ("->"), a POSIX or OFD lock, a lease
        }
        let mut parts = id.split(':');
        let maj = u32::from_str_radix(parts.next()?, 16).ok()?;
        let min = u32::from_str_radix(parts.next()?, 16).ok()?;
        let inode: u64 = parts.next()?.parse().ok()?;
        (maj == major && min == minor && inode == ino).then(|| parse_pid(pid)).flatten()
    })
}

/// A positive pid, or `None` (0, negative or not a number).
fn parse_pid(text: &str) -> Option<u32> {
    text.parse::<u32>().ok().filter(|pid| *pid > 0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_proc_locks() {
        let text = "1: POSIX  ADVISORY  WRITE 77 fe:00:42 0 EOF\n\
                    2: FLOCK  ADVISORY  WRITE 1736 fe:00:5308640 0 EOF\n\
                    2: -> FLOCK  ADVISORY  WRITE 4161 fe:00:5308640 0 EOF\n\
                    3: FLOCK  ADVISORY  WRITE 0 fe:01:9 0 EOF\n\
                    4: FLOCK  ADVISORY  READ  12 103:0a:9 0 EOF\n";
        assert_eq!(flock_holder(text, 0xfe, 0, 5308640), Some(1736));
        assert_eq!(flock_holder(text, 0xfe, 0, 42), None, "a POSIX lock is not a flock");
        assert_eq!(flock_holder(text, 0xfe, 1, 9), None, "pid 0 is no pid");
        assert_eq!(flock_holder(text, 0x103, 0x0a, 9), Some(12), "device numbers are hex");
        assert_eq!(flock_holder(text, 0xfe, 0, 1), None);
        let waiter_only = "2: -> FLOCK  ADVISORY  WRITE 4161 fe:00:7 0 EOF\n";
        assert_eq!(flock_holder(waiter_only, 0xfe, 0, 7), None, "a waiter is not the holder");
    }

    #[test]
    fn holder_is_this_process_while_locked_here() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("x.lock");
        assert_eq!(lock_holder(&path).unwrap(), None, "no file, no holder");
        let lock = LockFile::try_acquire(&path).unwrap();
        assert_eq!(lock_holder(&path).unwrap(), Some(std::process::id()));
        assert_eq!(std::fs::read_to_string(&path).unwrap(), std::process::id().to_string());
        match LockFile::try_acquire(&path) {
            Err(LockError::Busy { holder, .. }) => assert_eq!(holder, Some(std::process::id())),
            other => panic!("expected busy, got {other:?}"),
        }
        drop(lock);
        assert_eq!(lock_holder(&path).unwrap(), None, "a free file has no holder");
        LockFile::try_acquire(&path).unwrap();
    }

    #[test]
    fn lock_file_is_created_0644_whatever_the_umask() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("x.lock");
        // SAFETY: umask(2) only sets the process's file-creation mask.
        let old = unsafe { libc::umask(0o077) };
        let lock = LockFile::try_acquire(&path);
        // SAFETY: as above, restoring the previous mask.
        unsafe { libc::umask(old) };
        let _lock = lock.unwrap();
        assert_eq!(std::fs::metadata(&path).unwrap().permissions().mode() & 0o777, 0o644);
    }

    /// A lock taken by another process (`flock(1)`, which locks, then runs its command and
    /// holds the lock until it ends) is that process's, whatever stale pid the file holds.
    #[test]
    fn holder_is_the_child_not_the_stale_pid_in_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("x.lock");
        std::fs::write(&path, "999999").unwrap();
        // The command ends by itself (killing `flock` would leave its `sleep` holding the lock).
        let spawned = std::process::Command::new("flock").arg("-x").arg(&path).args(["sleep", "2"]).spawn();
        let mut child = spawned.unwrap_or_else(|e| panic!("flock(1) from util-linux is needed: {e}"));
        let deadline = Instant::now() + Duration::from_secs(2);
        let mut seen = None;
        while seen.is_none() && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(10));
            seen = lock_holder(&path).unwrap();
        }
        let busy = LockFile::try_acquire(&path);
        let waited = Instant::now();
        let within = LockFile::acquire_within(&path, Duration::from_millis(150));
        let elapsed = waited.elapsed();
        assert!(wait_bounded(&mut child).success());
        assert_eq!(seen, Some(child.id()), "the kernel names the child");
        match busy {
            Err(LockError::Busy { holder, .. }) => assert_eq!(holder, Some(child.id())),
            other => panic!("expected busy, got {other:?}"),
        }
        assert!(matches!(within, Err(LockError::Busy { holder: Some(_), .. })), "{within:?}");
        assert!(elapsed >= Duration::from_millis(150), "acquire_within waited {elapsed:?}");
        // Once the child is gone the kernel has freed the lock.
        assert_eq!(lock_holder(&path).unwrap(), None);
        LockFile::acquire_within(&path, Duration::from_secs(1)).unwrap();
    }

    /// Waits for `child` for at most a minute, then kills it and fails: were `flock(1)` slower
    /// to start than the polling above, `busy` would hold the lock and the child would wait for
    /// it for as long as this test runs.
    fn wait_bounded(child: &mut std::process::Child) -> std::process::ExitStatus {
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            if let Some(status) = child.try_wait().unwrap() {
                return status;
            }
            if Instant::now() >= deadline {
                let _ = child.kill();
                let _ = child.wait(); // bounded: SIGKILLed
                panic!("flock(1) did not end within 60 s");
            }
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    /// A lock released while a contender waits is taken by it within the bound.
    #[test]
    fn acquire_within_takes_a_lock_released_meanwhile() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("x.lock");
        let first = LockFile::try_acquire(&path).unwrap();
        let releaser = std::thread::spawn(move || {
            std::thread::sleep(Duration::from_millis(100));
            drop(first);
        });
        let second = LockFile::acquire_within(&path, Duration::from_secs(5));
        releaser.join().unwrap();
        assert!(second.is_ok(), "{second:?}");
    }

    #[test]
    fn busy_error_names_path_and_holder() {
        let e = LockError::Busy { path: "/r/repo.lock".into(), holder: Some(42) };
        assert_eq!(e.to_string(), "/r/repo.lock is locked by process 42");
        let e = LockError::Busy { path: "/r/repo.lock".into(), holder: None };
        assert_eq!(e.to_string(), "/r/repo.lock is locked by another process");
    }
}
