//! One-file exports of a repository: the offline scan package (metadata and catalog packs, as
//! WUA's `wsusscn2.cab`) or a complete offline repository (with the blobs its documents name).
//! An export is a tar archive of the current signed state only (every root version, then the
//! timestamp, snapshot, targets and approvals it names), taken under the writers' lock, so it
//! is one consistent signed state; an agent verifies it like any source (`verify::refresh` with a [`crate::verify::Source`]
//! made by [`unpack`]), with no network.

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use crate::error::TrustError;
use crate::layout::Layout;
use crate::repo::RepoLock;

/// What an export holds.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ExportKind {
    /// Metadata and catalog packs: enough to search offline.
    ScanPackage,
    /// Metadata, packs and every blob: enough to install offline.
    WithContent,
}

/// Writes an export of the repository in `dir` to `out` (through a temporary file renamed into
/// place, mode 0644: an export is meant to be carried to agents). Returns the number of files
/// it holds.
pub fn export(dir: &Path, out: &Path, kind: ExportKind) -> Result<usize, TrustError> {
    export_locked(&RepoLock::acquire_blocking(dir, RepoLock::DEFAULT_WAIT)?, out, kind)
}

/// [`export`] under a lock the caller holds (so the export is one signed state).
pub fn export_locked(lock: &RepoLock, out: &Path, kind: ExportKind) -> Result<usize, TrustError> {
    let layout = lock.layout();
    let parent = out.parent().filter(|p| !p.as_os_str().is_empty()).unwrap_or(Path::new("."));
    let tmp = tempfile::NamedTempFile::new_in(parent).map_err(|e| TrustError::io(parent, e))?;
    let mut tar = tar::Builder::new(std::io::BufWriter::new(tmp.as_file()));
    tar.mode(tar::HeaderMode::Deterministic);
    let mut count = 0;
    for (path, name) in current_files(layout, kind)? {
        tar.append_path_with_name(&path, &name).map_err(|e| TrustError::io(&path, e))?;
        count += 1;
    }
    let writer = tar.into_inner().map_err(|e| TrustError::io(out, e))?;
    drop(writer);
    let file = tmp.as_file();
    file.set_permissions(std::fs::Permissions::from_mode(wua_fs::SHARED_FILE_MODE))
        .and_then(|()| file.sync_all())
        .map_err(|e| TrustError::io(out, e))?;
    tmp.persist(out).map_err(|e| TrustError::io(out, e.error))?;
    wua_fs::fsync_dir(parent).map_err(|e| TrustError::io(parent, e))?;
    Ok(count)
}

/// The files of the current signed state: every root version (agents may trust an old one),
/// `timestamp.json`, the snapshot it names, the targets and approvals versions that snapshot
/// names, the targets those list and, with content, the blobs the current documents name.
fn current_files(layout: &Layout, kind: ExportKind) -> Result<Vec<(PathBuf, String)>, TrustError> {
    let metadata = layout.metadata();
    let mut files = Vec::new();
    for entry in std::fs::read_dir(&metadata).map_err(|e| TrustError::io(&metadata, e))? {
        let name = entry.map_err(|e| TrustError::io(&metadata, e))?.file_name().to_string_lossy().into_owned();
        if name.ends_with(".root.json") {
            files.push((metadata.join(&name), format!("metadata/{name}")));
        }
    }
    files.sort();
    let read = |name: &str| -> Result<serde_json::Value, TrustError> {
        let path = metadata.join(name);
        let bytes = std::fs::read(&path).map_err(|e| TrustError::io(&path, e))?;
        serde_json::from_slice(&bytes).map_err(|e| TrustError::invalid(&path, e.to_string()))
    };
    let mut take = |name: String| files.push((metadata.join(&name), format!("metadata/{name}")));
    let timestamp = read("timestamp.json")?;
    take("timestamp.json".into());
    let version = |v: &serde_json::Value, role: &str| v["signed"]["meta"][format!("{role}.json")]["version"].as_u64();
    let snapshot_name = format!(
        "{}.snapshot.json",
        version(&timestamp, "snapshot")
            .ok_or_else(|| TrustError::invalid(&metadata, "timestamp.json names no snapshot"))?
    );
    let snapshot = read(&snapshot_name)?;
    take(snapshot_name);
    let mut targets = Vec::new();
    for role in ["targets", crate::approvals::APPROVALS] {
        if let Some(v) = version(&snapshot, role) {
            let name = format!("{v}.{role}.json");
            let doc = read(&name)?;
            take(name);
            if let Some(map) = doc["signed"]["targets"].as_object() {
                for (target, info) in map {
                    if let Some(sha) = info["hashes"]["sha256"].as_str() {
                        targets.push(format!("{sha}.{target}"));
                    }
                }
            }
        }
    }
    let mut catalog = crate::pack::Catalog::default();
    for name in targets {
        let path = layout.targets().join(&name);
        if kind == ExportKind::WithContent && name.contains(".pack-") {
            let text = std::fs::read_to_string(&path).map_err(|e| TrustError::io(&path, e))?;
            catalog.add_pack(&name, &text);
        }
        files.push((path, format!("targets/{name}")));
    }
    let mut blobs: Vec<&str> = catalog.documents.iter().flat_map(|d| d.blobs().map(|c| c.sha256.as_str())).collect();
    blobs.sort_unstable();
    blobs.dedup();
    for sha in blobs {
        files.push((layout.blob(sha), format!("blobs/sha256/{sha}")));
    }
    Ok(files)
}

/// Unpacks an export into `into` (a fresh directory) as a served tree. Nothing in the archive
/// may leave it: only regular files under `metadata/`, `targets/` and `blobs/sha256/` are
/// taken. Verification happens when it is refreshed from.
pub fn unpack(file: &Path, into: &Path) -> Result<(), TrustError> {
    unpack_filtered(file, into, |_| true)
}

/// Extracts the blobs of an export (`ExportKind::WithContent`) whose SHA-256 is in `wanted`,
/// in one streaming pass: each is written to `into/<sha256>` as it is hashed, and kept only
/// when its bytes match its name (a blob that does not is removed and refused with
/// `Refusal::HashMismatch`). Returns the hashes found; the rest of the export is skipped.
pub fn extract_blobs(
    file: &Path,
    wanted: &std::collections::BTreeSet<String>,
    into: &Path,
) -> Result<std::collections::BTreeSet<String>, TrustError> {
    let mut found = std::collections::BTreeSet::new();
    for_each_entry(file, |path, entry| {
        let Some(sha) = path.strip_prefix("blobs/sha256/") else { return Ok(()) };
        if !wanted.contains(sha) || found.contains(sha) {
            return Ok(());
        }
        let dest = into.join(sha);
        let mut out = std::fs::File::create(&dest).map_err(|e| TrustError::io(&dest, e))?;
        let (_, digest) = wua_fs::copy_hashing(entry, &mut out).map_err(|e| TrustError::io(file, e))?;
        if hex::encode(digest) != sha {
            drop(out);
            let _ = std::fs::remove_file(&dest);
            return Err(TrustError::Refused {
                refusal: crate::error::Refusal::HashMismatch,
                detail: format!("{}: blob {sha} does not match its name", file.display()),
            });
        }
        found.insert(sha.to_owned());
        Ok(())
    })?;
    Ok(found)
}

/// Checks an export before anything of it is written: its entries are as [`unpack`] takes
/// them, every metadata file is whole JSON and every target is what its hash-name says.
pub(crate) fn check(file: &Path) -> Result<(), TrustError> {
    for_each_entry(file, |path, entry| {
        if let Some(name) = path.strip_prefix("metadata/") {
            let mut bytes = Vec::new();
            std::io::Read::read_to_end(&mut std::io::Read::take(entry, METADATA_LIMIT), &mut bytes)
                .map_err(|e| TrustError::io(file, e))?;
            serde_json::from_slice::<serde::de::IgnoredAny>(&bytes)
                .map_err(|e| malformed(format!("{}: {name}: {e}", file.display())))?;
        } else if let Some(name) = path.strip_prefix("targets/") {
            let (sha, _) = name.split_once('.').unwrap_or((name, ""));
            // Hashed as it streams: a hostile export's target never has to fit in memory.
            let (_, digest) = wua_fs::copy_hashing(entry, &mut std::io::sink()).map_err(|e| TrustError::io(file, e))?;
            let got = hex::encode(digest);
            if !wua_types::is_sha256_hex(sha) || got != sha {
                return Err(TrustError::Refused {
                    refusal: crate::error::Refusal::HashMismatch,
                    detail: format!("{}: target {name} has SHA-256 {got}", file.display()),
                });
            }
        }
        Ok(())
    })
}

/// Calls `each` with every entry of the export `file` and its path, after checking that the
/// entry is a regular file at a path [`unpack`] takes: the one reading of an export's layout.
fn for_each_entry(
    file: &Path,
    mut each: impl FnMut(&str, &mut tar::Entry<'_, std::io::BufReader<std::fs::File>>) -> Result<(), TrustError>,
) -> Result<(), TrustError> {
    let input = std::fs::File::open(file).map_err(|e| TrustError::io(file, e))?;
    let mut archive = tar::Archive::new(std::io::BufReader::new(input));
    for entry in archive.entries().map_err(|e| TrustError::io(file, e))? {
        let mut entry = entry.map_err(|e| malformed(format!("{}: {e}", file.display())))?;
        let path = entry.path().map_err(|e| malformed(e.to_string()))?.to_string_lossy().into_owned();
        if !allowed(&path) || !entry.header().entry_type().is_file() {
            return Err(malformed(format!("{}: unexpected entry {path:?}", file.display())));
        }
        each(&path, &mut entry)?;
    }
    Ok(())
}

fn malformed(detail: String) -> TrustError {
    TrustError::Refused { refusal: crate::error::Refusal::Malformed, detail }
}

/// The most of one metadata file an export check reads.
const METADATA_LIMIT: u64 = 64 << 20;

fn allowed(path: &str) -> bool {
    ["metadata/", "targets/", "blobs/sha256/"].iter().any(|p| {
        path.strip_prefix(p).is_some_and(|rest| !rest.is_empty() && !rest.contains('/') && rest != "." && rest != "..")
    })
}

/// [`unpack`]: the whole export.
fn unpack_filtered(file: &Path, into: &Path, take: impl Fn(&str) -> bool) -> Result<(), TrustError> {
    for d in ["metadata", "targets", "blobs/sha256"] {
        fs_err::create_dir_all(into.join(d)).map_err(|e| TrustError::io(into, e))?;
    }
    for_each_entry(file, |path, entry| {
        if !take(path) {
            return Ok(());
        }
        let dest = into.join(path);
        entry.unpack(&dest).map_err(|e| TrustError::io(&dest, e))?;
        Ok(())
    })
}

/// Unpacks the metadata of an export alone (a refresh verifies it before any target is
/// unpacked: [`unpack_targets`]).
pub(crate) fn unpack_metadata(file: &Path, into: &Path) -> Result<(), TrustError> {
    unpack_filtered(file, into, |path| path.starts_with("metadata/"))
}

/// Unpacks the targets of an export that `listed` names (file names under `targets/`, as the
/// verified metadata lists them); the rest of the export is left out.
pub(crate) fn unpack_targets(file: &Path, into: &Path, listed: &[String]) -> Result<(), TrustError> {
    let listed: std::collections::BTreeSet<&str> = listed.iter().map(String::as_str).collect();
    unpack_filtered(file, into, |path| path.strip_prefix("targets/").is_some_and(|name| listed.contains(name)))
}
