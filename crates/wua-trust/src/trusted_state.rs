//! The agent's trusted TUF state on disk, durable and swapped atomically.
//!
//! In a state directory, `tuf` is a symbolic link to the current state, `tuf-<n>/`. A refresh
//! works on a copy, `tuf-<n+1>/`; when everything verified, every file of the copy and the copy
//! itself are synced, and one `rename` of a new link (`tuf.link-new`, pointing to the copy) over
//! `tuf` makes it current; the state directory is synced, and only then is `tuf-<n>/` removed.
//! A crash leaves `tuf` pointing to one complete state, the old or the new: [`TrustedState::open`]
//! removes whatever else a crash left (a copy never made current, a previous state not yet
//! removed, a stray link), and moves the layout of older wua versions (`tuf/` a directory,
//! `tuf.old/` left by a crash between their two renames) into this one.
//!
//! An empty or torn trusted file (a power loss on a file system that lost what was not synced)
//! is an error that names it ([`TrustError::StateCorrupt`]), never "no previous version": the
//! verifier would take a missing timestamp for a first use and accept any version.

use std::path::{Path, PathBuf};

use wua_fs::crash_point;

use crate::error::TrustError;

/// The link to the current state.
const CURRENT: &str = "tuf";
/// The new link, renamed over [`CURRENT`].
const NEW_LINK: &str = "tuf.link-new";
/// What older wua versions left: the state of a crash between their two renames.
const LEGACY_OLD: &str = "tuf.old";
/// What older wua versions left: a copy never swapped in.
const LEGACY_NEW: &str = "tuf.new";

/// The trusted state of one state directory; the caller holds its refresh lock.
#[derive(Debug)]
pub(crate) struct TrustedState {
    dir: PathBuf,
    current: u64,
}

impl TrustedState {
    /// Opens the trusted state in `state_dir`, creating an empty one on first use and
    /// repairing what a crash left; checks every trusted file is whole.
    pub(crate) fn open(state_dir: &Path) -> Result<TrustedState, TrustError> {
        fs_err::create_dir_all(state_dir).map_err(|e| TrustError::io(state_dir, e))?;
        let current = repair(state_dir)?;
        let state = TrustedState { dir: state_dir.to_path_buf(), current };
        check_whole(&state.current_dir())?;
        Ok(state)
    }

    /// The directory of the current state.
    pub(crate) fn current_dir(&self) -> PathBuf {
        self.dir.join(generation(self.current))
    }

    /// A fresh copy of the current state for a refresh to work on.
    pub(crate) fn begin(&self) -> Result<PathBuf, TrustError> {
        let next = self.dir.join(generation(self.current + 1));
        remove_dir_if_present(&next)?;
        if let Err(e) = copy_dir(&self.current_dir(), &next) {
            // A copy that failed part way (a full disk) is not left behind; if this fails too,
            // the next `open` removes it.
            let _ = remove_dir_if_present(&next);
            return Err(e);
        }
        Ok(next)
    }

    /// Makes the copy `begin` returned current, durably, and removes the previous state.
    pub(crate) fn commit(self, next: &Path) -> Result<(), TrustError> {
        sync_tree(next)?;
        crash_point("trusted-state: copy synced");
        let link = self.dir.join(NEW_LINK);
        remove_file_if_present(&link)?;
        let target = generation(self.current + 1);
        std::os::unix::fs::symlink(&target, &link).map_err(|e| TrustError::io(&link, e))?;
        crash_point("trusted-state: new link made");
        let current = self.dir.join(CURRENT);
        fs_err::rename(&link, &current).map_err(|e| TrustError::io(&current, e))?;
        crash_point("trusted-state: link swapped");
        wua_fs::fsync_dir(&self.dir).map_err(|e| TrustError::io(&self.dir, e))?;
        crash_point("trusted-state: swap synced");
        remove_dir_if_present(&self.current_dir())?;
        crash_point("trusted-state: previous removed");
        Ok(())
    }

    /// Drops the copy of a refresh that failed.
    pub(crate) fn abandon(&self, next: &Path) -> Result<(), TrustError> {
        remove_dir_if_present(next)
    }
}

fn generation(n: u64) -> String {
    format!("{CURRENT}-{n}")
}

/// The `n` of a `tuf-<n>` name.
fn generation_of(name: &str) -> Option<u64> {
    let n = name.strip_prefix(CURRENT)?.strip_prefix('-')?;
    (!n.is_empty() && n.bytes().all(|b| b.is_ascii_digit())).then(|| n.parse().ok()).flatten()
}

/// Brings the state directory to one complete state that `tuf` links to, and returns its
/// generation.
fn repair(dir: &Path) -> Result<u64, TrustError> {
    let current = dir.join(CURRENT);
    remove_dir_if_present(&dir.join(LEGACY_NEW))?;
    remove_file_if_present(&dir.join(NEW_LINK))?;
    let generations = generations(dir)?;
    let linked = match std::fs::symlink_metadata(&current) {
        Ok(m) if m.file_type().is_symlink() => {
            let target = fs_err::read_link(&current).map_err(|e| TrustError::io(&current, e))?;
            let n = target.to_str().and_then(generation_of).filter(|n| generations.contains(n));
            if n.is_none() {
                return Err(TrustError::StateCorrupt {
                    path: current,
                    detail: format!("links to {}, which is not a trusted state", target.display()),
                });
            }
            n
        }
        Ok(m) if m.is_dir() => {
            // The layout of older wua versions: the directory becomes a generation.
            let n = generations.iter().max().map_or(0, |n| n + 1);
            let to = dir.join(generation(n));
            fs_err::rename(&current, &to).map_err(|e| TrustError::io(&current, e))?;
            sync_tree(&to)?;
            wua_fs::fsync_dir(dir).map_err(|e| TrustError::io(dir, e))?;
            // Linked now; what else is here goes below, as after any crash.
            Some(link_to(dir, n)?)
        }
        Ok(_) => {
            return Err(TrustError::StateCorrupt { path: current, detail: "is neither a link nor a directory".into() });
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
        Err(e) => return Err(TrustError::io(&current, e)),
    };
    let n = match linked {
        Some(n) => n,
        None => {
            let legacy = dir.join(LEGACY_OLD);
            if legacy.is_dir() {
                // Older wua versions crashed between `tuf` → `tuf.old` and `tuf.new` → `tuf`.
                let n = generations.iter().max().map_or(0, |n| n + 1);
                let to = dir.join(generation(n));
                fs_err::rename(&legacy, &to).map_err(|e| TrustError::io(&legacy, e))?;
                sync_tree(&to)?;
                n
            } else if let Some(&n) = generations.iter().max() {
                // Only a first use, or the move of an older layout, leaves no link: the newest
                // generation is the state it made.
                n
            } else {
                let to = dir.join(generation(0));
                fs_err::create_dir_all(&to).map_err(|e| TrustError::io(&to, e))?;
                sync_tree(&to)?;
                0
            }
        }
    };
    if linked.is_none() {
        link_to(dir, n)?;
    }
    remove_dir_if_present(&dir.join(LEGACY_OLD))?;
    // Whatever other generation is here was never made current, or is the previous state.
    for other in generations.into_iter().filter(|&g| g != n) {
        remove_dir_if_present(&dir.join(generation(other)))?;
    }
    Ok(n)
}

/// Points `tuf` at generation `n` (no link exists), durably.
fn link_to(dir: &Path, n: u64) -> Result<u64, TrustError> {
    let link = dir.join(NEW_LINK);
    std::os::unix::fs::symlink(generation(n), &link).map_err(|e| TrustError::io(&link, e))?;
    let current = dir.join(CURRENT);
    fs_err::rename(&link, &current).map_err(|e| TrustError::io(&current, e))?;
    wua_fs::fsync_dir(dir).map_err(|e| TrustError::io(dir, e))?;
    Ok(n)
}

fn generations(dir: &Path) -> Result<Vec<u64>, TrustError> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir).map_err(|e| TrustError::io(dir, e))? {
        let entry = entry.map_err(|e| TrustError::io(dir, e))?;
        if let Some(n) = entry.file_name().to_str().and_then(generation_of) {
            out.push(n);
        }
    }
    Ok(out)
}

/// Every trusted file is whole JSON: an empty or torn one names itself.
fn check_whole(dir: &Path) -> Result<(), TrustError> {
    for entry in std::fs::read_dir(dir).map_err(|e| TrustError::io(dir, e))? {
        let entry = entry.map_err(|e| TrustError::io(dir, e))?;
        let path = entry.path();
        if !entry.file_type().map_err(|e| TrustError::io(&path, e))?.is_file() {
            continue;
        }
        let bytes = fs_err::read(&path).map_err(|e| TrustError::io(&path, e))?;
        if bytes.is_empty() {
            return Err(TrustError::StateCorrupt { path, detail: "is empty".into() });
        }
        if let Err(e) = serde_json::from_slice::<serde::de::IgnoredAny>(&bytes) {
            return Err(TrustError::StateCorrupt { path, detail: format!("is torn: {e}") });
        }
    }
    Ok(())
}

/// Syncs every file under `dir`, then `dir` itself.
fn sync_tree(dir: &Path) -> Result<(), TrustError> {
    for entry in std::fs::read_dir(dir).map_err(|e| TrustError::io(dir, e))? {
        let entry = entry.map_err(|e| TrustError::io(dir, e))?;
        let path = entry.path();
        if entry.file_type().map_err(|e| TrustError::io(&path, e))?.is_dir() {
            sync_tree(&path)?;
        } else {
            let file = fs_err::File::open(&path).map_err(|e| TrustError::io(&path, e))?;
            file.sync_all().map_err(|e| TrustError::io(&path, e))?;
        }
    }
    wua_fs::fsync_dir(dir).map_err(|e| TrustError::io(dir, e))
}

fn copy_dir(from: &Path, to: &Path) -> Result<(), TrustError> {
    fs_err::create_dir_all(to).map_err(|e| TrustError::io(to, e))?;
    for entry in std::fs::read_dir(from).map_err(|e| TrustError::io(from, e))? {
        let entry = entry.map_err(|e| TrustError::io(from, e))?;
        let (src, dst) = (entry.path(), to.join(entry.file_name()));
        if entry.file_type().map_err(|e| TrustError::io(&src, e))?.is_dir() {
            copy_dir(&src, &dst)?;
        } else {
            fs_err::copy(&src, &dst).map_err(|e| TrustError::io(&src, e))?;
        }
    }
    Ok(())
}

pub(crate) fn remove_dir_if_present(dir: &Path) -> Result<(), TrustError> {
    wua_fs::remove_dir_all_if_present(dir).map(|_| ()).map_err(|e| TrustError::io(dir, e))
}

fn remove_file_if_present(path: &Path) -> Result<(), TrustError> {
    wua_fs::remove_file_if_present(path).map(|_| ()).map_err(|e| TrustError::io(path, e))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A state directory with `names` as empty directories and `root.json` in `trusted`.
    fn state_with(dirs: &[&str], trusted: &str) -> tempfile::TempDir {
        let dir = tempfile::tempdir().unwrap();
        for name in dirs {
            std::fs::create_dir(dir.path().join(name)).unwrap();
        }
        std::fs::write(dir.path().join(trusted).join("root.json"), b"{\"signed\": 1}").unwrap();
        dir
    }

    /// The state directory's entries (links shown with their target), sorted.
    fn entries(dir: &Path) -> Vec<String> {
        let mut out: Vec<String> = std::fs::read_dir(dir)
            .unwrap()
            .map(|e| {
                let e = e.unwrap();
                let name = e.file_name().to_string_lossy().into_owned();
                match std::fs::read_link(e.path()) {
                    Ok(target) => format!("{name} -> {}", target.display()),
                    Err(_) => name,
                }
            })
            .collect();
        out.sort();
        out
    }

    /// The layout of older wua versions, `tuf/` a directory: it becomes the generation after
    /// any other there (a copy a crash left), which goes.
    #[test]
    fn an_older_layout_becomes_a_generation() {
        let dir = state_with(&["tuf", "tuf-3", "tuf.new"], "tuf");
        let state = TrustedState::open(dir.path()).unwrap();
        assert_eq!(entries(dir.path()), ["tuf -> tuf-4", "tuf-4"]);
        assert_eq!(std::fs::read(state.current_dir().join("root.json")).unwrap(), b"{\"signed\": 1}");
    }

    /// Older versions crashed between `tuf` → `tuf.old` and `tuf.new` → `tuf`: `tuf.old` is the
    /// trusted state.
    #[test]
    fn an_older_crash_leaves_tuf_old_current() {
        let dir = state_with(&["tuf.old", "tuf.new"], "tuf.old");
        let state = TrustedState::open(dir.path()).unwrap();
        assert_eq!(entries(dir.path()), ["tuf -> tuf-0", "tuf-0"]);
        assert!(state.current_dir().join("root.json").is_file());
        // With a generation there (a copy of this layout never made current): the next one.
        let dir = state_with(&["tuf.old", "tuf-2"], "tuf.old");
        let state = TrustedState::open(dir.path()).unwrap();
        assert_eq!(entries(dir.path()), ["tuf -> tuf-3", "tuf-3"]);
        assert!(state.current_dir().join("root.json").is_file());
    }

    /// What a crash of this layout leaves: the link stays, other generations and a stray new
    /// link go.
    #[test]
    fn a_crash_s_leftovers_go() {
        let dir = state_with(&["tuf-1", "tuf-2", "tuf-3"], "tuf-2");
        std::os::unix::fs::symlink("tuf-2", dir.path().join("tuf")).unwrap();
        std::os::unix::fs::symlink("tuf-3", dir.path().join(NEW_LINK)).unwrap();
        TrustedState::open(dir.path()).unwrap();
        assert_eq!(entries(dir.path()), ["tuf -> tuf-2", "tuf-2"]);
        // First use: an empty generation 0.
        let empty = tempfile::tempdir().unwrap();
        TrustedState::open(empty.path()).unwrap();
        assert_eq!(entries(empty.path()), ["tuf -> tuf-0", "tuf-0"]);
    }

    /// A `tuf` that is a file, or a link to something that is not a generation here, is an
    /// error that names it; nothing is changed.
    #[test]
    fn a_tuf_that_is_neither_is_corrupt() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("tuf"), b"").unwrap();
        let e = TrustedState::open(dir.path()).unwrap_err();
        assert!(
            matches!(&e, TrustError::StateCorrupt { detail, .. } if detail.contains("neither a link nor a directory")),
            "{e}"
        );
        assert_eq!(entries(dir.path()), ["tuf"]);

        let dir = state_with(&["tuf-1"], "tuf-1");
        std::os::unix::fs::symlink("tuf-2", dir.path().join("tuf")).unwrap();
        let e = TrustedState::open(dir.path()).unwrap_err();
        assert!(matches!(&e, TrustError::StateCorrupt { detail, .. } if detail.contains("links to tuf-2")), "{e}");
        assert_eq!(entries(dir.path()), ["tuf -> tuf-2", "tuf-1"]);
    }

    /// Only `tuf-` and decimal digits name a generation: not a sign `parse` would accept, nor
    /// an empty number or another prefix.
    #[test]
    fn generation_names() {
        assert_eq!(generation_of(&generation(7)), Some(7));
        assert_eq!(generation_of("tuf-0012"), Some(12));
        for name in ["tuf-", "tuf-+5", "tuf--5", "tuf-5a", "tuf5", "tufx-5", "tuf-99999999999999999999"] {
            assert_eq!(generation_of(name), None, "{name}");
        }
    }

    /// A sync that fails is an error, never taken for durability.
    #[test]
    fn sync_tree_reports_what_it_cannot_sync() {
        let tmp = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(tmp.path().join("a/b")).unwrap();
        std::fs::write(tmp.path().join("a/b/f"), b"x").unwrap();
        sync_tree(&tmp.path().join("a")).unwrap();
        let e = sync_tree(&tmp.path().join("missing")).unwrap_err();
        assert!(e.to_string().contains("missing"), "{e}");
    }
}
