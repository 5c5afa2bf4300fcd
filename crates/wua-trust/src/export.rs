//! One-file exports of a repository: the offline scan package (metadata and catalog packs, as
//! WUA's `wsusscn2.cab`) or a complete offline repository (with every blob). An export is a tar
//! archive of the served tree taken under the writers' lock, so it is one consistent signed
//! state; an agent verifies it like any source (`verify::refresh` with a [`crate::verify::Source`]
//! made by [`unpack`]), with no network.

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
/// place). Returns the number of files it holds.
pub fn export(dir: &Path, out: &Path, kind: ExportKind) -> Result<usize, TrustError> {
    if !Layout::is_repository(dir) {
        return Err(TrustError::invalid(dir, "is not a wua repository"));
    }
    let layout = Layout::new(dir);
    let _lock = RepoLock::acquire(&layout)?;
    let parent = out.parent().filter(|p| !p.as_os_str().is_empty()).unwrap_or(Path::new("."));
    let tmp = tempfile::NamedTempFile::new_in(parent).map_err(|e| TrustError::io(parent, e))?;
    let mut tar = tar::Builder::new(std::io::BufWriter::new(tmp.as_file()));
    tar.mode(tar::HeaderMode::Deterministic);
    let mut count = 0;
    let mut dirs = vec![(layout.metadata(), "metadata"), (layout.targets(), "targets")];
    if kind == ExportKind::WithContent {
        dirs.push((layout.blobs(), "blobs/sha256"));
    }
    for (dir, name) in dirs {
        let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
            .map_err(|e| TrustError::io(&dir, e))?
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| p.is_file())
            .collect();
        files.sort();
        for file in files {
            let Some(file_name) = file.file_name().and_then(|n| n.to_str()) else { continue };
            tar.append_path_with_name(&file, format!("{name}/{file_name}")).map_err(|e| TrustError::io(&file, e))?;
            count += 1;
        }
    }
    let writer = tar.into_inner().map_err(|e| TrustError::io(out, e))?;
    drop(writer);
    tmp.as_file().sync_all().map_err(|e| TrustError::io(out, e))?;
    tmp.persist(out).map_err(|e| TrustError::io(out, e.error))?;
    Ok(count)
}

/// Unpacks an export into `into` (a fresh directory) as a served tree. Nothing in the archive
/// may leave it: only regular files under `metadata/`, `targets/` and `blobs/sha256/` are
/// taken. Verification happens when it is refreshed from.
pub fn unpack(file: &Path, into: &Path) -> Result<(), TrustError> {
    let input = std::fs::File::open(file).map_err(|e| TrustError::io(file, e))?;
    let mut archive = tar::Archive::new(std::io::BufReader::new(input));
    for d in ["metadata", "targets", "blobs/sha256"] {
        fs_err::create_dir_all(into.join(d)).map_err(|e| TrustError::io(into, e))?;
    }
    let bad = |detail: String| TrustError::Refused { refusal: crate::error::Refusal::Malformed, detail };
    for entry in archive.entries().map_err(|e| TrustError::io(file, e))? {
        let mut entry = entry.map_err(|e| bad(format!("{}: {e}", file.display())))?;
        let path = entry.path().map_err(|e| bad(e.to_string()))?.to_string_lossy().into_owned();
        let allowed = ["metadata/", "targets/", "blobs/sha256/"].iter().any(|p| {
            path.strip_prefix(p)
                .is_some_and(|rest| !rest.is_empty() && !rest.contains('/') && rest != "." && rest != "..")
        });
        if !allowed || !entry.header().entry_type().is_file() {
            return Err(bad(format!("{}: unexpected entry {path:?}", file.display())));
        }
        let dest = into.join(&path);
        entry.unpack(&dest).map_err(|e| TrustError::io(&dest, e))?;
    }
    Ok(())
}
