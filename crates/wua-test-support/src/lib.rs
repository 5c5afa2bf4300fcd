//! Builders for wua's tests: temporary worlds (a root and a state directory), payloads,
//! manifests and packages, and byte-for-byte snapshots of a root; [`fault`], an HTTP
//! fault-injection layer (stalls, drips, error statuses, cut bodies, broken ranges, flipped
//! bytes, an answer lost after the work was done) and a real server that wears it, over HTTP
//! or HTTPS; [`tls`], a CA and a server certificate made at test time; [`server`], the real
//! update server in process (its own router, storage and TLS) wearing the fault layer;
//! [`trust`], signed repositories served over HTTP, hostile ones, an agent on its install-time
//! root, and python-tuf's client beside it; [`bounded`], waits with a limit (a child process
//! run or waited for, a pipe read, a thread joined) and a watchdog over a whole test. Used from
//! integration tests and the benchmark runner only; never shipped.

#![allow(clippy::print_stdout, clippy::print_stderr)]

pub mod bounded;
pub mod fault;
pub mod serve;
pub mod server;
pub mod tls;
pub mod trust;

use std::collections::BTreeMap;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
pub use bounded::{
    Drain, Watchdog, join_within, output_within, read_line_within, wait_with_output_within, wait_within,
};
pub use wua_fs::sha256_hex;

/// A temporary directory with `root/` (holding an empty `var/lib`), `state/`, `work/` inside.
#[derive(Debug)]
pub struct World {
    /// Keeps the directory alive.
    pub dir: tempfile::TempDir,
    /// The target root.
    pub root: PathBuf,
    /// The state directory.
    pub state: PathBuf,
    /// Scratch space for payloads and packages.
    pub work: PathBuf,
}

impl World {
    /// A fresh world (the directories exist).
    pub fn new() -> Result<Self> {
        let dir = tempfile::Builder::new().prefix("wua-test-").tempdir()?;
        let root = dir.path().join("root");
        let state = dir.path().join("state");
        let work = dir.path().join("work");
        for d in [&root, &state, &work] {
            fs_err::create_dir_all(d)?;
        }
        // As on a real system: wua's lock and backups live in <root>/var/lib/wua.
        fs_err::create_dir_all(root.join("var/lib"))?;
        Ok(World { dir, root, state, work })
    }

    /// Writes a payload (path, mode, bytes) under `work/NAME/payload`, a manifest beside it
    /// and builds `work/NAME.wuapkg`.
    pub fn package(&self, name: &str, manifest: &str, files: &[(&str, u32, &[u8])]) -> Result<PathBuf> {
        self.package_with_links(name, manifest, files, &[])
    }

    /// [`World::package`] with symbolic links in the payload too: (path, target).
    pub fn package_with_links(
        &self,
        name: &str,
        manifest: &str,
        files: &[(&str, u32, &[u8])],
        links: &[(&str, &str)],
    ) -> Result<PathBuf> {
        let base = self.work.join(name);
        let payload = base.join("payload");
        write_payload(&payload, files)?;
        for (path, target) in links {
            let link = payload.join(path);
            if let Some(parent) = link.parent() {
                fs_err::create_dir_all(parent)?;
            }
            std::os::unix::fs::symlink(target, &link)?;
        }
        let manifest_path = base.join("manifest.toml");
        fs_err::write(&manifest_path, manifest)?;
        let out = self.work.join(format!("{name}.wuapkg"));
        wua_package::build_package(&manifest_path, &payload, &out, wua_package::Compression::None)
            .with_context(|| format!("building {name}"))?;
        Ok(out)
    }
}

/// Writes files (path, mode, bytes) under `dir`.
pub fn write_payload(dir: &Path, files: &[(&str, u32, &[u8])]) -> Result<()> {
    fs_err::create_dir_all(dir)?;
    for (path, mode, bytes) in files {
        let file = dir.join(path);
        if let Some(parent) = file.parent() {
            fs_err::create_dir_all(parent)?;
        }
        fs_err::write(&file, bytes)?;
        fs_err::set_permissions(&file, std::fs::Permissions::from_mode(*mode))?;
    }
    Ok(())
}

/// A manifest for a `files` update; `extra` is appended to the `[update]` table, `tail` after
/// the handler table.
pub fn files_manifest(id: &str, revision: i32, title: &str, extra: &str, tail: &str) -> String {
    format!(
        "[update]\nid = \"{id}\"\nrevision = {revision}\ntitle = \"{title}\"\n{extra}\n\n[handler]\nkind = \"files\"\n\n{tail}\n"
    )
}

/// A manifest for a `command` update; `handler` continues the `[handler]` table after
/// `kind = "command"` (it may open `[handler.uninstall]` at its end).
pub fn command_manifest(id: &str, title: &str, extra: &str, handler: &str) -> String {
    format!("[update]\nid = \"{id}\"\ntitle = \"{title}\"\n{extra}\n\n[handler]\nkind = \"command\"\n{handler}\n")
}

/// The exit-code table most command updates use (D-15): 0 succeeded, 3010 and 1641 succeeded
/// with a reboot, 1602 cancelled.
pub const RETURN_CODES: &str = r#"return_codes = [
  { code = 0, result = "Succeeded" },
  { code = 3010, result = "Succeeded", reboot = true },
  { code = 1641, result = "Succeeded", reboot = true },
  { code = 1602, result = "Cancelled" },
]"#;

/// A program that writes its pid (and a background child's) into the directory given as its
/// first argument, then runs until `<dir>/hold` is removed, and exits with its second argument.
/// With `ignore-term` as its third argument it (and its child) ignore SIGTERM.
pub const HOLDING: &[u8] = b"#!/bin/sh
d=\"$1\"
[ \"$3\" = ignore-term ] && trap '' TERM
sleep 300 &
echo $! > \"$d/child.pid\"
echo $$ > \"$d/pid.tmp\" && mv \"$d/pid.tmp\" \"$d/pid\"
while [ -e \"$d/hold\" ]; do sleep 0.02; done
kill -9 $! 2>/dev/null
exit \"${2:-0}\"
";

/// An uninstall program that records `$WUA_OPERATION` in `<dir>/undone`.
const UNINSTALL: &[u8] = b"#!/bin/sh\necho \"$WUA_OPERATION\" > \"$1/undone\"\n";

/// The `[handler]` keys of a holding command: `hold.sh DIR 0 EXTRA`, with `uninstall.sh DIR`
/// as its uninstall command.
fn holding_handler(dir: &Path, extra: &str) -> String {
    format!(
        "program = \"hold.sh\"\narguments = [\"{d}\", \"0\", \"{extra}\"]\n{RETURN_CODES}\n\n[handler.uninstall]\nprogram = \"uninstall.sh\"\narguments = [\"{d}\"]\nreturn_codes = [{{ code = 0, result = \"Succeeded\" }}]\n",
        d = dir.display()
    )
}

/// Builds a holding command package (see [`HOLDING`]) for update `test_id(n)`; creates
/// `dir/hold`. `extra` is the program's third argument, `tail` more manifest tables.
pub fn holding_package(w: &World, n: u32, dir: &Path, extra: &str, tail: &str) -> Result<PathBuf> {
    let (manifest, files) = holding_update(n, dir, extra, tail)?;
    w.package(&format!("hold{n}"), &manifest, &files)
}

/// A payload file: its path, mode and bytes.
pub type PayloadFile = (&'static str, u32, &'static [u8]);

/// The manifest and payload files of [`holding_package`]'s update, to
/// publish into a repository instead; creates `dir/hold`.
pub fn holding_update(n: u32, dir: &Path, extra: &str, tail: &str) -> Result<(String, Vec<PayloadFile>)> {
    fs_err::create_dir_all(dir)?;
    fs_err::write(dir.join("hold"), "")?;
    let handler = format!("{}\n{tail}", holding_handler(dir, extra));
    let manifest = command_manifest(&test_id(n), &format!("holding command {n}"), "", &handler);
    Ok((manifest, vec![("hold.sh", 0o755, HOLDING), ("uninstall.sh", 0o755, UNINSTALL)]))
}

/// Waits until `cond` holds, polling every 10 ms; panics naming `what` after `limit`.
pub fn wait_for(what: &str, limit: std::time::Duration, mut cond: impl FnMut() -> bool) {
    let deadline = std::time::Instant::now() + limit;
    while !cond() {
        assert!(std::time::Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
}

/// True while `pid` runs (a zombie counts as gone).
pub fn pid_alive(pid: i32) -> bool {
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        Ok(text) => {
            text.rfind(')').and_then(|i| text[i + 1..].split_whitespace().next()).is_some_and(|s| s != "Z" && s != "X")
        }
        Err(_) => false,
    }
}

/// Reads a pid a test program wrote into a file.
pub fn read_pid(path: &Path) -> i32 {
    std::fs::read_to_string(path)
        .unwrap_or_default()
        .trim()
        .parse()
        .unwrap_or_else(|_| panic!("no pid in {}", path.display()))
}

/// A deterministic UUID for test number `n`.
pub fn test_id(n: u32) -> String {
    format!("00000000-0000-4000-8000-{n:012x}")
}

/// What is at one path of a snapshot.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Node {
    /// A directory and its mode.
    Dir(u32),
    /// A regular file: mode and SHA-256 of its bytes.
    File(u32, String),
    /// A symbolic link and its target.
    Link(String),
}

/// A byte-for-byte description of a tree, by relative path. Paths under `exclude` (relative)
/// are left out.
pub fn snapshot(root: &Path, exclude: &[&str]) -> Result<BTreeMap<String, Node>> {
    let mut out = BTreeMap::new();
    for item in walkdir::WalkDir::new(root).min_depth(1).sort_by_file_name() {
        let item = item?;
        let rel = item.path().strip_prefix(root)?.to_string_lossy().into_owned();
        if exclude.iter().any(|e| rel == *e || rel.starts_with(&format!("{e}/"))) {
            continue;
        }
        let meta = item.path().symlink_metadata()?;
        let mode = meta.mode() & 0o7777;
        let node = if meta.file_type().is_symlink() {
            Node::Link(fs_err::read_link(item.path())?.to_string_lossy().into_owned())
        } else if meta.is_dir() {
            Node::Dir(mode)
        } else {
            Node::File(mode, sha256_hex(&fs_err::read(item.path())?))
        };
        out.insert(rel, node);
    }
    Ok(out)
}

/// Copies a tree (files, directories, symbolic links, modes).
pub fn copy_tree(from: &Path, to: &Path) -> Result<()> {
    fs_err::create_dir_all(to)?;
    for item in walkdir::WalkDir::new(from).min_depth(1).sort_by_file_name() {
        let item = item?;
        let rel = item.path().strip_prefix(from)?;
        let dest = to.join(rel);
        let meta = item.path().symlink_metadata()?;
        if meta.file_type().is_symlink() {
            std::os::unix::fs::symlink(fs_err::read_link(item.path())?, &dest)?;
        } else if meta.is_dir() {
            fs_err::create_dir_all(&dest)?;
            fs_err::set_permissions(&dest, meta.permissions())?;
        } else {
            fs_err::copy(item.path(), &dest)?;
            fs_err::set_permissions(&dest, meta.permissions())?;
        }
    }
    Ok(())
}

/// Writes a package by hand: `update.json` as given (it may be invalid on purpose) and the
/// blobs as (entry name suffix, bytes), with no checks. For hostile-input tests.
pub fn raw_package(out: &Path, document: &serde_json::Value, blobs: &[(&str, &[u8])]) -> Result<()> {
    let file = fs_err::File::create(out)?;
    let mut tar = tar::Builder::new(file);
    let json = serde_json::to_vec(document)?;
    let mut append = |name: &str, data: &[u8]| -> Result<()> {
        let mut h = tar::Header::new_ustar();
        h.set_size(data.len() as u64);
        h.set_mode(0o644);
        h.set_entry_type(tar::EntryType::Regular);
        tar.append_data(&mut h, name, data)?;
        Ok(())
    };
    append("update.json", &json)?;
    for (name, data) in blobs {
        append(&format!("blobs/sha256/{name}"), data)?;
    }
    tar.into_inner()?;
    Ok(())
}

/// Writes a zstd package whose document lists one blob (`big.img`) of `declared` bytes and
/// whose archive holds that blob's header followed by `filler` zero bytes (the blob's declared
/// size and SHA-256 are not its bytes'; with `filler == declared` the size is right but the
/// hash is not). Such a package is a few KiB whatever it declares.
pub fn oversized_zstd_package(out: &Path, declared: u64, filler: u64) -> Result<()> {
    use std::io::Write;
    let sha = sha256_hex(b"not the blob's bytes");
    let document = serde_json::json!({
        "schema_version": 1, "update_id": test_id(99), "revision_number": 1, "title": "oversized",
        "handler": { "kind": "files" },
        "content": [{ "sha256": sha, "size": declared, "path": "big.img", "mode": "0644" }],
    });
    let json = serde_json::to_vec(&document)?;
    let mut z = zstd::Encoder::new(fs_err::File::create(out)?, 3)?;
    let header = |name: &str, size: u64| -> Result<tar::Header> {
        let mut h = tar::Header::new_ustar();
        h.set_path(name)?;
        h.set_size(size);
        h.set_mode(0o644);
        h.set_entry_type(tar::EntryType::Regular);
        h.set_cksum();
        Ok(h)
    };
    z.write_all(header("update.json", json.len() as u64)?.as_bytes())?;
    z.write_all(&json)?;
    z.write_all(&vec![0u8; json.len().next_multiple_of(512) - json.len()])?;
    z.write_all(header(&format!("blobs/sha256/{sha}"), declared)?.as_bytes())?;
    let chunk = vec![0u8; 1 << 20];
    let mut left = filler;
    while left > 0 {
        let n = left.min(chunk.len() as u64) as usize;
        z.write_all(&chunk[..n])?;
        left -= n as u64;
    }
    z.finish()?.sync_all()?;
    Ok(())
}

/// Total bytes of the regular files under `dir` (0 if it does not exist).
pub fn tree_bytes(dir: &Path) -> u64 {
    walkdir::WalkDir::new(dir)
        .into_iter()
        .filter_map(|e| e.ok())
        .filter(|e| e.file_type().is_file())
        .filter_map(|e| e.metadata().ok())
        .map(|m| m.len())
        .sum()
}
