//! Filesystem primitives of the journal: safe path resolution under the root, verified copies,
//! idempotent renames and `syncfs`.

use std::collections::{BTreeMap, HashMap};
use std::io::{Read, Write};
use std::os::unix::fs::{DirBuilderExt, MetadataExt, OpenOptionsExt, PermissionsExt};
use std::path::{Component, Path, PathBuf};

use wua_types::{HResult, WuError};

use crate::error::InstallError;

/// What is at a path (without following a final symbolic link).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Kind {
    /// Nothing.
    Missing,
    /// A directory.
    Dir,
    /// A regular file, a symbolic link, or anything else that is not a directory.
    File,
}

/// `lstat` as a [`Kind`].
pub(crate) fn kind(path: &Path) -> Result<Kind, InstallError> {
    match std::fs::symlink_metadata(path) {
        Ok(m) if m.is_dir() => Ok(Kind::Dir),
        Ok(_) => Ok(Kind::File),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Kind::Missing),
        Err(e) => Err(InstallError::io(path, e)),
    }
}

/// A directory resolved under the root: its real path relative to the root (symbolic links
/// followed) and the components that do not exist yet, parents first.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct ResolvedDir {
    /// The real directory, relative to the root ("" for the root itself).
    pub real: String,
    /// Directories to create (relative to the root), parents first.
    pub missing: Vec<String>,
}

/// Resolves the parent directories of content paths under a root, refusing anything that
/// leads outside it; results are cached per directory, so 10,000 files in a few directories
/// cost a few `lstat` calls.
#[derive(Debug)]
pub(crate) struct Resolver {
    root: PathBuf,
    cache: HashMap<String, ResolvedDir>,
}

impl Resolver {
    /// A resolver for `root` (canonical, absolute).
    pub(crate) fn new(root: &Path) -> Self {
        Resolver { root: root.to_path_buf(), cache: HashMap::new() }
    }

    /// Resolves `dir` (a relative, checked content directory, "" for the root).
    ///
    /// A symbolic link is followed as the kernel of the running system would (D-45): an
    /// absolute target is a path inside the root, so it never leads out of it (a target that
    /// names the root's own place on this machine, written from outside, is read as under the
    /// root too); a relative one continues from the link's directory and must stay under the
    /// root: otherwise `WUA_E_PATH_ESCAPES_ROOT`.
    /// A component that exists but is not a directory -> `WUA_E_TARGET_TYPE_CONFLICT`.
    pub(crate) fn resolve(&mut self, dir: &str) -> Result<ResolvedDir, WuError> {
        if let Some(hit) = self.cache.get(dir) {
            return Ok(hit.clone());
        }
        let resolved = self.resolve_uncached(dir)?;
        self.cache.insert(dir.to_owned(), resolved.clone());
        Ok(resolved)
    }

    fn resolve_uncached(&self, dir: &str) -> Result<ResolvedDir, WuError> {
        let mut real: Vec<String> = Vec::new();
        let mut pending: Vec<String> = dir.split('/').filter(|c| !c.is_empty()).rev().map(str::to_owned).collect();
        let mut links = 0;
        let mut missing = Vec::new();
        // No part is `.`: content directories are checked (`check_content_path`) and a link's
        // target is read through `Path::components`, which drops them.
        while let Some(comp) = pending.pop() {
            // `real` holds no links, so its parent is the kernel's `..` (not a lexical step back
            // over a link's name); a missing directory left again need not be created.
            if comp == ".." {
                if missing.last() == Some(&real.join("/")) {
                    missing.pop();
                }
                if real.pop().is_none() {
                    return Err(escape(dir, "'..' leads above the root"));
                }
                continue;
            }
            if !missing.is_empty() {
                // Below a missing directory everything is missing.
                real.push(comp);
                missing.push(real.join("/"));
                continue;
            }
            let candidate = self.root.join(real.join("/")).join(&comp);
            let io =
                |e: std::io::Error| WuError::new(HResult::WUA_E_INSTALL_IO, format!("{}: {e}", candidate.display()));
            match std::fs::symlink_metadata(&candidate) {
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                    real.push(comp);
                    missing.push(real.join("/"));
                }
                Err(e) => return Err(io(e)),
                Ok(m) if m.is_dir() => real.push(comp),
                Ok(m) if m.file_type().is_symlink() => {
                    links += 1;
                    if links > 40 {
                        return Err(escape(dir, "too many levels of symbolic links"));
                    }
                    let target = std::fs::read_link(&candidate).map_err(io)?;
                    // An absolute target continues from the root, as on the running system
                    // (D-45); one that already names the root's place on this machine is taken
                    // as that place. A relative one continues from the link's directory. Either
                    // way its components are resolved in turn, so a `..` after a link in the
                    // target is the kernel's.
                    let rel = if target.is_absolute() {
                        let inside = match target.strip_prefix(&self.root) {
                            Ok(inside) => inside.to_path_buf(),
                            Err(_) => target.strip_prefix("/").map(Path::to_path_buf).unwrap_or_default(),
                        };
                        real.clear();
                        inside
                    } else {
                        target.clone()
                    };
                    for c in rel.components().rev() {
                        match c {
                            Component::Normal(s) => pending.push(s.to_string_lossy().into_owned()),
                            Component::ParentDir => pending.push("..".to_owned()),
                            Component::CurDir | Component::RootDir | Component::Prefix(_) => {}
                        }
                    }
                }
                Ok(_) => {
                    return Err(WuError::new(
                        HResult::WUA_E_TARGET_TYPE_CONFLICT,
                        format!("{} is a file, but content needs a directory there", candidate.display()),
                    ));
                }
            }
        }
        Ok(ResolvedDir { real: real.join("/"), missing })
    }
}

fn escape(dir: &str, why: &str) -> WuError {
    WuError::new(HResult::WUA_E_PATH_ESCAPES_ROOT, format!("directory {dir:?}: {why}"))
}

/// Joins a root and a relative path.
pub(crate) fn under(root: &Path, rel: &str) -> PathBuf {
    if rel.is_empty() { root.to_path_buf() } else { root.join(rel) }
}

/// Blobs this large or larger are staged by a hard link from the cache when possible.
pub(crate) const LINK_MIN_SIZE: u64 = 1024 * 1024;

/// The outcome of staging one file.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum CopyOutcome {
    /// The bytes matched; the file was hard-linked from the cache (true) or copied (false).
    Verified {
        /// True when the staged file is the cache's inode.
        linked: bool,
    },
    /// The source does not match the expected hash or size (D-13); the bad cache entry was
    /// removed so it is fetched or imported again.
    Mismatch(String),
}

/// Stages `src` (a cache blob) as the new file `dst` and verifies its bytes (D-13), then sets
/// mode and owner. `dst` must not exist. Nothing is fsynced: the caller syncs the filesystem.
///
/// A large blob ([`LINK_MIN_SIZE`] or more) on the same filesystem and not linked anywhere yet
/// (link count 1) becomes `dst` by a hard link and is verified by reading: its data is written
/// once, when it entered the cache, and `syncfs` makes it durable with the rest. Other blobs
/// are copied while they are hashed. Either way what lands in the root is what was verified.
///
/// Linking shares the inode between the cache entry and the installed file, so an in-place edit
/// of the installed file changes the cached bytes too; the next use detects it (D-13) and drops
/// the entry. Small files, where such edits are common (configuration), are always copied.
pub(crate) fn stage_verified(
    src: &Path,
    dst: &Path,
    sha256: &str,
    size: u64,
    mode: u32,
    owner: (Option<u32>, Option<u32>),
    buf: &mut [u8],
) -> Result<CopyOutcome, InstallError> {
    let meta = match std::fs::symlink_metadata(src) {
        Ok(m) if m.is_file() => m,
        Ok(_) => return Ok(CopyOutcome::Mismatch(format!("{} is not a regular file", src.display()))),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            return Ok(CopyOutcome::Mismatch(format!("{} is missing from the cache", src.display())));
        }
        Err(e) => return Err(InstallError::io(src, e)),
    };
    let linked = size >= LINK_MIN_SIZE && meta.nlink() == 1 && std::fs::hard_link(src, dst).is_ok();
    let (verdict, copied) = if linked {
        (verify(dst, sha256, size, buf)?, None)
    } else {
        let (verdict, out) = copy_hashing(src, dst, sha256, size, buf)?;
        (verdict, Some(out))
    };
    if let Some(why) = verdict {
        drop(copied);
        remove_file_if_present(dst)?;
        // A cache entry that does not match its name is damaged: drop it.
        remove_file_if_present(src)?;
        return Ok(CopyOutcome::Mismatch(why));
    }
    // The copy's own handle sets owner and mode (no second open per file).
    let out = match copied {
        Some(out) => out,
        None => std::fs::OpenOptions::new().write(true).open(dst).map_err(|e| InstallError::io(dst, e))?,
    };
    if owner.0.is_some() || owner.1.is_some() {
        std::os::unix::fs::fchown(&out, owner.0, owner.1).map_err(|e| InstallError::io(dst, e))?;
    }
    // After chown, which may clear set-id bits.
    out.set_permissions(std::fs::Permissions::from_mode(mode)).map_err(|e| InstallError::io(dst, e))?;
    Ok(CopyOutcome::Verified { linked })
}

/// Reads `path` and checks its size and SHA-256; `Some(why)` on a mismatch.
fn verify(path: &Path, sha256: &str, size: u64, buf: &mut [u8]) -> Result<Option<String>, InstallError> {
    let mut input = std::fs::File::open(path).map_err(|e| InstallError::io(path, e))?;
    hash_into(&mut input, &mut std::io::sink(), path, sha256, size, buf)
}

fn copy_hashing(
    src: &Path,
    dst: &Path,
    sha256: &str,
    size: u64,
    buf: &mut [u8],
) -> Result<(Option<String>, std::fs::File), InstallError> {
    let mut input = std::fs::File::open(src).map_err(|e| InstallError::io(src, e))?;
    let mut out = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(dst)
        .map_err(|e| InstallError::io(dst, e))?;
    let verdict = hash_into(&mut input, &mut out, src, sha256, size, buf)?;
    Ok((verdict, out))
}

/// Copies `input` to `out` while hashing it, reading at most one byte past `size`; `Some(why)`
/// when the bytes are not the `size` bytes with SHA-256 `sha256` that the document lists.
fn hash_into(
    input: &mut std::fs::File,
    out: &mut dyn Write,
    src: &Path,
    sha256: &str,
    size: u64,
    buf: &mut [u8],
) -> Result<Option<String>, InstallError> {
    // The caller's buffer, kept across every file of a package.
    let mut limited = input.take(size.saturating_add(1));
    let (total, digest) = wua_fs::copy_hashing_with(&mut limited, out, buf).map_err(|e| InstallError::io(src, e))?;
    if total > size {
        return Ok(Some(format!("{} is longer than the {size} bytes listed", src.display())));
    }
    if total != size {
        return Ok(Some(format!("{} has {total} bytes, {size} listed", src.display())));
    }
    let actual = hex::encode(digest);
    if actual != sha256 {
        return Ok(Some(format!("{} hashes to {actual}, {sha256} listed", src.display())));
    }
    Ok(None)
}

/// SHA-256 of a file, or `None` when it is missing or not a regular file.
pub(crate) fn sha256_of(path: &Path) -> Result<Option<String>, InstallError> {
    use std::os::unix::ffi::OsStrExt;
    match std::fs::symlink_metadata(path) {
        Ok(m) if m.is_file() => wua_fs::sha256_file(path).map_err(|e| InstallError::io(path, e)),
        // A link is its target's bytes, as its content entry records them; never followed.
        Ok(m) if m.file_type().is_symlink() => {
            let target = std::fs::read_link(path).map_err(|e| InstallError::io(path, e))?;
            Ok(Some(wua_fs::sha256_hex(target.as_os_str().as_bytes())))
        }
        Ok(_) => Ok(None),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(InstallError::io(path, e)),
    }
}

/// Creates the symbolic link `dst` to `target` (replacing what a crashed attempt left at
/// `dst`), owned by `owner` where given. The target is written as it is, never resolved.
pub(crate) fn stage_link(target: &str, dst: &Path, owner: (Option<u32>, Option<u32>)) -> Result<(), InstallError> {
    remove_file_if_present(dst)?;
    std::os::unix::fs::symlink(target, dst).map_err(|e| InstallError::io(dst, e))?;
    if owner.0.is_some() || owner.1.is_some() {
        std::os::unix::fs::lchown(dst, owner.0, owner.1).map_err(|e| InstallError::io(dst, e))?;
    }
    Ok(())
}

/// Renames `from` to `to` if `from` exists; a missing `from` is a step already done (the
/// journal's steps are idempotent).
pub(crate) fn rename_if_present(from: &Path, to: &Path) -> Result<bool, InstallError> {
    match std::fs::rename(from, to) {
        Ok(()) => Ok(true),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound && kind(from)? == Kind::Missing => Ok(false),
        Err(e) => Err(InstallError::io(format!("{} -> {}", from.display(), to.display()), e)),
    }
}

/// Removes a file if present.
pub(crate) fn remove_file_if_present(path: &Path) -> Result<(), InstallError> {
    wua_fs::remove_file_if_present(path).map(|_| ()).map_err(|e| InstallError::io(path, e))
}

/// Removes a directory if it exists and is empty; anything else is left alone.
pub(crate) fn remove_dir_if_empty(path: &Path) -> Result<(), InstallError> {
    match std::fs::remove_dir(path) {
        Ok(()) => Ok(()),
        Err(e) if matches!(e.raw_os_error(), Some(libc::ENOENT | libc::ENOTEMPTY | libc::EEXIST | libc::ENOTDIR)) => {
            Ok(())
        }
        Err(e) => Err(InstallError::io(path, e)),
    }
}

/// Creates one directory (mode 0755) if it does not exist.
pub(crate) fn create_dir_if_missing(path: &Path) -> Result<(), InstallError> {
    match std::fs::DirBuilder::new().mode(0o755).create(path) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists && path.is_dir() => Ok(()),
        Err(e) => Err(InstallError::io(path, e)),
    }
}

/// The filesystems an operation touched, one directory on each, so each is synced once.
#[derive(Debug, Default)]
pub(crate) struct SyncSet {
    by_dev: BTreeMap<u64, PathBuf>,
}

impl SyncSet {
    /// Notes the filesystem of `dir` (an existing directory).
    pub(crate) fn add(&mut self, dir: &Path) -> Result<(), InstallError> {
        let m = std::fs::metadata(dir).map_err(|e| InstallError::io(dir, e))?;
        self.by_dev.entry(m.dev()).or_insert_with(|| dir.to_path_buf());
        Ok(())
    }

    /// The device number of the filesystem holding `dir`.
    pub(crate) fn dev_of(dir: &Path) -> Result<u64, InstallError> {
        std::fs::metadata(dir).map(|m| m.dev()).map_err(|e| InstallError::io(dir, e))
    }

    /// The device numbers of the filesystems noted.
    #[cfg(test)]
    pub(crate) fn devices(&self) -> Vec<u64> {
        self.by_dev.keys().copied().collect()
    }

    /// `syncfs` on each filesystem: everything written there so far is durable on return.
    pub(crate) fn sync(&self) -> Result<(), InstallError> {
        for dir in self.by_dev.values() {
            syncfs(dir)?;
        }
        Ok(())
    }
}

/// `syncfs(2)` on the filesystem holding `dir`.
pub(crate) fn syncfs(dir: &Path) -> Result<(), InstallError> {
    wua_fs::syncfs(dir).map_err(|e| InstallError::io(dir, e))
}

#[cfg(test)]
mod tests {
    use std::os::unix::fs::symlink;

    use super::*;

    /// A scratch area holding the root (`<base>/root`, canonical) and, beside it, places
    /// outside the root.
    struct Scratch {
        _base: tempfile::TempDir,
        base: PathBuf,
        root: PathBuf,
    }

    impl Scratch {
        fn new() -> Self {
            let tmp = tempfile::tempdir().unwrap();
            let base = tmp.path().canonicalize().unwrap();
            let root = base.join("root");
            std::fs::create_dir(&root).unwrap();
            Scratch { _base: tmp, base, root }
        }

        fn dir(&self, rel: &str) {
            std::fs::create_dir_all(self.root.join(rel)).unwrap();
        }

        fn file(&self, rel: &str) {
            std::fs::write(self.root.join(rel), b"x").unwrap();
        }

        fn link(&self, rel: &str, target: impl AsRef<Path>) {
            symlink(target, self.root.join(rel)).unwrap();
        }

        fn resolver(&self) -> Resolver {
            Resolver::new(&self.root)
        }

        /// Where the kernel lands for `dir` under the root (the path must exist), relative.
        fn kernel(&self, dir: &str) -> String {
            let real = std::fs::canonicalize(under(&self.root, dir)).unwrap();
            real.strip_prefix(&self.root).unwrap().to_str().unwrap().to_owned()
        }
    }

    fn found(real: &str, missing: &[&str]) -> ResolvedDir {
        ResolvedDir { real: real.to_owned(), missing: missing.iter().map(|m| (*m).to_owned()).collect() }
    }

    fn refused(result: Result<ResolvedDir, WuError>) -> HResult {
        match result {
            Ok(r) => panic!("resolved to {r:?}, expected an error"),
            Err(e) => e.hresult,
        }
    }

    #[test]
    fn plain_directories_resolve_to_themselves() {
        let s = Scratch::new();
        s.dir("a/b/c");
        let mut r = s.resolver();
        assert_eq!(r.resolve("").unwrap(), found("", &[]));
        assert_eq!(r.resolve("a").unwrap(), found("a", &[]));
        assert_eq!(r.resolve("a/b/c").unwrap(), found("a/b/c", &[]));
        assert_eq!(s.kernel("a/b/c"), "a/b/c");
    }

    #[test]
    fn missing_directories_are_listed_parents_first() {
        let s = Scratch::new();
        s.dir("a");
        let mut r = s.resolver();
        assert_eq!(r.resolve("x").unwrap(), found("x", &["x"]));
        // Everything below the first missing component is missing too, parents first.
        assert_eq!(r.resolve("a/b/c/d").unwrap(), found("a/b/c/d", &["a/b", "a/b/c", "a/b/c/d"]));
    }

    #[test]
    fn relative_symlink_chain_is_followed() {
        let s = Scratch::new();
        s.dir("c/d/e");
        s.dir("p");
        s.link("a", "b");
        s.link("b", "c/d");
        // Relative to the link's own directory, as the kernel does.
        s.link("p/q", "../a");
        let mut r = s.resolver();
        assert_eq!(r.resolve("a").unwrap(), found("c/d", &[]));
        assert_eq!(r.resolve("a/e").unwrap(), found("c/d/e", &[]));
        assert_eq!(r.resolve("p/q/e").unwrap(), found("c/d/e", &[]));
        for dir in ["a", "a/e", "p/q/e"] {
            assert_eq!(r.resolve(dir).unwrap().real, s.kernel(dir), "{dir}");
        }
        // Below the chain, missing parts are missing under the real target.
        assert_eq!(r.resolve("a/new/deeper").unwrap(), found("c/d/new/deeper", &["c/d/new", "c/d/new/deeper"]));
    }

    #[test]
    fn absolute_link_inside_the_root_is_followed() {
        let s = Scratch::new();
        s.dir("x/y");
        // Absolute on the machine: `<root>/x`, not `/x`.
        s.link("abs", s.root.join("x"));
        s.link("x/y/back", s.root.join("x"));
        s.link("top", &s.root);
        let mut r = s.resolver();
        assert_eq!(r.resolve("abs").unwrap(), found("x", &[]));
        assert_eq!(r.resolve("abs/y").unwrap(), found("x/y", &[]));
        assert_eq!(r.resolve("x/y/back/y").unwrap(), found("x/y", &[]));
        assert_eq!(r.resolve("top").unwrap(), found("", &[]));
        assert_eq!(r.resolve("top/abs/new").unwrap(), found("x/new", &["x/new"]));
        for dir in ["abs", "abs/y", "x/y/back/y", "top"] {
            assert_eq!(r.resolve(dir).unwrap().real, s.kernel(dir), "{dir}");
        }
    }

    /// D-45: an absolute target is a path inside the root, as the running system sees it.
    #[test]
    fn absolute_link_targets_are_paths_inside_the_root() {
        let s = Scratch::new();
        s.dir("srv/data");
        s.link("data", "/srv/data");
        s.link("etc-link", "/etc");
        let mut r = s.resolver();
        assert_eq!(r.resolve("data").unwrap(), found("srv/data", &[]));
        assert_eq!(r.resolve("data/new").unwrap(), found("srv/data/new", &["srv/data/new"]));
        // The machine's /etc is never reached: the root's etc is created instead.
        assert_eq!(r.resolve("etc-link/app").unwrap(), found("etc/app", &["etc", "etc/app"]));
    }

    /// `.` parts of a link's target are no part of the real path; a name the filesystem
    /// refuses (too long) is an I/O error, not a directory to create; `kind` says what is at
    /// a path and fails the same way.
    #[test]
    fn dot_parts_of_targets_and_names_the_filesystem_refuses() {
        let s = Scratch::new();
        s.dir("usr/lib");
        s.link("lib", "./usr/./lib");
        let mut r = s.resolver();
        assert_eq!(r.resolve("lib").unwrap(), found("usr/lib", &[]));
        assert_eq!(r.resolve("lib/x/..").unwrap(), found("usr/lib", &[]));
        let long = "x".repeat(300);
        assert_eq!(r.resolve(&long).unwrap_err().hresult, HResult::WUA_E_INSTALL_IO);
        assert_eq!(kind(&s.root.join("usr/lib")).unwrap(), Kind::Dir);
        assert_eq!(kind(&s.root.join("lib")).unwrap(), Kind::File, "a link is not followed");
        assert_eq!(kind(&s.root.join("none")).unwrap(), Kind::Missing);
        assert!(kind(&s.root.join(&long)).is_err());
    }

    #[test]
    fn symlink_loops_are_refused() {
        let s = Scratch::new();
        s.dir("d");
        // The plain case: a long chain that ends is followed.
        for i in 0..10 {
            s.link(&format!("l{i}"), format!("l{}", i + 1));
        }
        s.link("l10", "d");
        assert_eq!(s.resolver().resolve("l0").unwrap(), found("d", &[]));

        // A loop and a self-link end in an error, not a hang or a stack overflow.
        s.link("a", "b");
        s.link("b", "a");
        s.link("self", "self");
        s.link("d/abs-loop", s.root.join("d/abs-loop"));
        let mut r = s.resolver();
        for dir in ["a", "b", "a/below", "self", "self/below", "d/abs-loop"] {
            assert_eq!(refused(r.resolve(dir)), HResult::WUA_E_PATH_ESCAPES_ROOT, "{dir}");
        }
    }

    /// The kernel's limit (MAXSYMLINKS): 40 links in one lookup are followed, the 41st is ELOOP.
    #[test]
    fn symlink_limit_is_the_kernels() {
        let s = Scratch::new();
        s.dir("d");
        for i in 0..41 {
            s.link(&format!("l{i}"), format!("l{}", i + 1));
        }
        s.link("l41", "d");
        // l1 -> ... -> l41 -> d: 41 links.
        let mut r = s.resolver();
        assert!(std::fs::metadata(s.root.join("l2")).unwrap().is_dir());
        assert_eq!(r.resolve("l2").unwrap(), found("d", &[]));
        let kernel = std::fs::metadata(s.root.join("l1")).unwrap_err();
        assert_eq!(kernel.raw_os_error(), Some(libc::ELOOP));
        assert_eq!(refused(r.resolve("l1")), HResult::WUA_E_PATH_ESCAPES_ROOT);
    }

    #[test]
    fn links_out_of_the_root_are_refused_at_every_depth() {
        let s = Scratch::new();
        let outside = s.base.join("outside");
        std::fs::create_dir_all(outside.join("sub")).unwrap();
        // A sibling whose name starts with the root's: a string prefix, not a path prefix.
        let evil = s.base.join("root-evil");
        std::fs::create_dir(&evil).unwrap();
        s.dir("a/b");
        // The plain case: links at depth 1, 2 and 3 that stay inside are followed.
        s.link("in1", "a");
        s.link("a/in2", "b");
        s.link("a/b/in3", "../..");
        let mut r = s.resolver();
        assert_eq!(r.resolve("in1").unwrap(), found("a", &[]));
        assert_eq!(r.resolve("a/in2").unwrap(), found("a/b", &[]));
        assert_eq!(r.resolve("a/b/in3").unwrap(), found("", &[]));

        // Out of the root by `..`, at every depth: refused. An absolute target out of the root's
        // place on this machine is a path inside the root (D-45): it never leads out either.
        s.link("out1", &outside);
        s.link("a/out2", &outside);
        s.link("a/b/out3", outside.join("sub"));
        s.link("a/b/up", "../../..");
        s.link("a/b/up-and-over", "../../../outside");
        s.link("gone", s.base.join("does-not-exist"));
        s.link("evil", &evil);
        s.link("dotdot-abs", s.root.join("a/../../outside"));
        s.link("a/via", "../out1");
        let mut r = s.resolver();
        for dir in ["a/b/up", "a/b/up-and-over/sub", "in1/b/up", "dotdot-abs"] {
            assert_eq!(refused(r.resolve(dir)), HResult::WUA_E_PATH_ESCAPES_ROOT, "{dir}");
        }
        let inside = |p: &Path| p.strip_prefix("/").unwrap().to_string_lossy().into_owned();
        for (dir, place) in [
            ("out1", inside(&outside)),
            ("out1/sub", inside(&outside.join("sub"))),
            ("a/out2/new", inside(&outside.join("new"))),
            ("a/b/out3", inside(&outside.join("sub"))),
            ("gone/new", inside(&s.base.join("does-not-exist/new"))),
            ("evil", inside(&evil)),
            ("a/via", inside(&outside)),
        ] {
            let resolved = r.resolve(dir).unwrap();
            assert_eq!(resolved.real, place, "{dir}");
            assert!(!resolved.missing.is_empty(), "{dir}: created inside the root, not found outside it");
        }
        assert!(!s.base.join("does-not-exist").exists());
    }

    /// `..` after a link is the parent of the link's real target, as the kernel has it, not a
    /// lexical step back over the link's name. Content paths never hold `..` (they are checked
    /// before they get here), but link targets do.
    #[test]
    fn dotdot_after_a_link_is_the_kernels() {
        let s = Scratch::new();
        s.dir("sub/inner");
        s.dir("sub/y");
        // A decoy where the lexical reading of `x/../y` would land.
        s.dir("y");
        s.link("x", "sub/inner");
        // In a link's target: x/../y is sub/inner/../y, that is sub/y.
        s.link("l", "x/../y");
        s.link("labs", s.root.join("x/../y"));
        let mut r = s.resolver();
        for dir in ["l", "labs"] {
            assert_eq!(s.kernel(dir), "sub/y", "{dir}");
            assert_eq!(r.resolve(dir).unwrap(), found("sub/y", &[]), "{dir}");
        }
        s.link("lnew", "x/../new");
        assert_eq!(r.resolve("lnew").unwrap(), found("sub/new", &["sub/new"]));

        // The same in the directory itself (outside the contract, but it must still not escape).
        assert_eq!(s.kernel("x/../y"), "sub/y");
        assert_eq!(r.resolve("x/../y").unwrap(), found("sub/y", &[]));
        assert_eq!(refused(r.resolve("..")), HResult::WUA_E_PATH_ESCAPES_ROOT);
        assert_eq!(refused(r.resolve("x/../../..")), HResult::WUA_E_PATH_ESCAPES_ROOT);
    }

    /// A link to a directory that does not exist (inside the root): the missing part is reported
    /// under the link's real target, so the directories are created where the link points and
    /// the link itself is left alone; nothing is ever created through a link out of the root.
    #[test]
    fn dangling_link_inside_the_root_reports_its_target_missing() {
        let s = Scratch::new();
        s.dir("a");
        s.link("d", "gone/deeper");
        s.link("a/up", "../gone2");
        s.link("abs", s.root.join("gone3"));
        let mut r = s.resolver();
        assert_eq!(r.resolve("d").unwrap(), found("gone/deeper", &["gone", "gone/deeper"]));
        assert_eq!(r.resolve("d/e").unwrap(), found("gone/deeper/e", &["gone", "gone/deeper", "gone/deeper/e"]));
        assert_eq!(r.resolve("a/up").unwrap(), found("gone2", &["gone2"]));
        assert_eq!(r.resolve("abs/e").unwrap(), found("gone3/e", &["gone3", "gone3/e"]));
        // `..` after a missing part steps back out of it, which then need not be created (the
        // kernel would stop at the missing part; either way the place is inside the root).
        s.link("back", "gone4/../a/new");
        assert_eq!(r.resolve("back").unwrap(), found("a/new", &["a/new"]));
        // Once created, the kernel agrees.
        std::fs::create_dir_all(s.root.join("gone/deeper/e")).unwrap();
        assert_eq!(s.kernel("d/e"), "gone/deeper/e");

        // Dangling to a place out of the root's on this machine: a path inside the root (D-45).
        s.link("out", s.base.join("nowhere"));
        let nowhere = s.base.join("nowhere/e");
        assert_eq!(r.resolve("out/e").unwrap().real, nowhere.strip_prefix("/").unwrap().to_string_lossy());
        assert!(!s.base.join("nowhere").exists());
    }

    #[test]
    fn file_where_a_directory_is_expected_is_a_conflict() {
        let s = Scratch::new();
        s.dir("a");
        s.file("f");
        s.file("a/f");
        s.link("lf", "a/f");
        let mut r = s.resolver();
        assert_eq!(r.resolve("a").unwrap(), found("a", &[]));
        for dir in ["f", "f/below", "a/f", "a/f/below", "lf", "lf/below"] {
            assert_eq!(refused(r.resolve(dir)), HResult::WUA_E_TARGET_TYPE_CONFLICT, "{dir}");
        }
    }

    /// Answers are cached per directory: the second call gives the first answer, even if the
    /// tree changed in between (one resolver serves one plan); a new resolver looks again.
    #[test]
    fn cache_answers_the_same_twice() {
        let s = Scratch::new();
        s.dir("a");
        s.link("l", "a");
        let mut r = s.resolver();
        let first = r.resolve("l/b").unwrap();
        assert_eq!(first, found("a/b", &["a/b"]));
        assert_eq!(r.resolve("l/b").unwrap(), first);
        s.dir("a/b");
        assert_eq!(r.resolve("l/b").unwrap(), first);
        assert_eq!(s.resolver().resolve("l/b").unwrap(), found("a/b", &[]));
    }

    /// A name longer than a filesystem allows: every call on it fails with ENAMETOOLONG, an
    /// error none of the helpers below may take for "missing" or "already there".
    fn too_long(s: &Scratch) -> PathBuf {
        s.base.join("n".repeat(300))
    }

    #[test]
    fn sha256_of_reads_files_and_link_targets_and_names_other_faults() {
        let s = Scratch::new();
        s.file("f");
        s.link("l", "some/where");
        s.dir("d");
        assert_eq!(sha256_of(&s.root.join("f")).unwrap(), Some(wua_fs::sha256_hex(b"x")));
        // A link is the bytes of its target, never what it points at.
        assert_eq!(sha256_of(&s.root.join("l")).unwrap(), Some(wua_fs::sha256_hex(b"some/where")));
        assert_eq!(sha256_of(&s.root.join("d")).unwrap(), None);
        assert_eq!(sha256_of(&s.root.join("missing")).unwrap(), None);
        let e = sha256_of(&too_long(&s)).unwrap_err();
        assert!(e.to_string().contains("nnnn"), "{e}");
    }

    /// D-17's steps are idempotent: a rename whose source is gone is a step already done, and
    /// nothing else is.
    #[test]
    fn rename_if_present_is_done_only_when_the_source_is_gone() {
        let s = Scratch::new();
        s.file("f");
        s.dir("full/inside");
        let (from, to) = (s.root.join("f"), s.root.join("g"));
        assert!(rename_if_present(&from, &to).unwrap());
        assert!(!rename_if_present(&from, &to).unwrap(), "a missing source is a step already done");
        // The source is there but the destination's directory is not: an error, not "done".
        let e = rename_if_present(&to, &s.root.join("no/such/dir/g")).unwrap_err();
        assert!(e.to_string().contains("no/such/dir/g"), "{e}");
        assert!(to.exists());
        // A directory that is not empty cannot be replaced: an error.
        s.dir("empty");
        assert!(rename_if_present(&s.root.join("empty"), &s.root.join("full")).is_err());
        assert!(s.root.join("empty").is_dir() && s.root.join("full/inside").is_dir());
    }

    #[test]
    fn remove_dir_if_empty_leaves_what_is_not_an_empty_directory() {
        let s = Scratch::new();
        s.dir("full/inside");
        s.dir("empty");
        s.file("f");
        for kept in ["full", "f", "missing", "f/below"] {
            remove_dir_if_empty(&s.root.join(kept)).unwrap();
        }
        assert!(s.root.join("full/inside").is_dir() && s.root.join("f").is_file());
        remove_dir_if_empty(&s.root.join("empty")).unwrap();
        assert!(!s.root.join("empty").exists());
        assert!(remove_dir_if_empty(&too_long(&s)).is_err());
    }

    #[test]
    fn create_dir_if_missing_accepts_only_a_directory_already_there() {
        let s = Scratch::new();
        s.file("f");
        let dir = s.root.join("d");
        create_dir_if_missing(&dir).unwrap();
        create_dir_if_missing(&dir).unwrap();
        assert!(dir.is_dir());
        let mode = std::fs::metadata(&dir).unwrap().permissions().mode() & 0o7777;
        assert_eq!(mode & !0o022, 0o755 & !0o022, "mode {mode:o}");
        // A file in its place, or no parent: errors that name the path.
        for bad in ["f", "no/parent"] {
            let e = create_dir_if_missing(&s.root.join(bad)).unwrap_err();
            assert!(e.to_string().contains(bad), "{e}");
        }
        assert!(s.root.join("f").is_file());
    }

    /// A sync that fails is an error, never taken for durability.
    #[test]
    fn sync_failures_are_reported() {
        let s = Scratch::new();
        s.dir("a");
        let mut set = SyncSet::default();
        set.add(&s.root.join("a")).unwrap();
        set.sync().unwrap();
        syncfs(&s.root).unwrap();
        std::fs::remove_dir(s.root.join("a")).unwrap();
        let e = set.sync().unwrap_err();
        assert!(e.to_string().contains("root/a"), "{e}");
        assert!(syncfs(&s.root.join("a")).is_err());
    }
}
