//! Turning a payload directory into content entries (paths, modes, SHA-256, sizes).

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use wua_types::ContentEntry;

use crate::error::PackageError;

/// A content entry together with the payload file it came from.
#[derive(Clone, Debug)]
pub struct PayloadFile {
    /// The entry for the document.
    pub entry: ContentEntry,
    /// The source file.
    pub source: PathBuf,
}

/// Walks `dir` in sorted order and hashes every regular file; a symbolic link becomes a link
/// entry carrying its target (never followed). Devices, FIFOs and sockets are refused: the
/// `files` handler places files and links only. Empty directories are not recorded
/// (directories are implied by the files in them).
pub fn scan_payload(dir: &Path) -> Result<Vec<PayloadFile>, PackageError> {
    let meta = fs_err::metadata(dir).map_err(|e| PackageError::io(dir, e))?;
    if !meta.is_dir() {
        return Err(PackageError::Payload { path: dir.into(), detail: "not a directory".into() });
    }
    let mut files = Vec::new();
    for item in walkdir::WalkDir::new(dir).follow_links(false).sort_by_file_name().min_depth(1) {
        let item = item.map_err(|e| {
            let path = e.path().map(Path::to_path_buf).unwrap_or_else(|| dir.into());
            PackageError::Payload { path, detail: e.to_string() }
        })?;
        let ft = item.file_type();
        if ft.is_dir() {
            continue;
        }
        let rel = item.path().strip_prefix(dir).map_err(|_| PackageError::Payload {
            path: item.path().into(),
            detail: "outside the payload directory".into(),
        })?;
        let rel = rel
            .to_str()
            .ok_or_else(|| PackageError::Payload { path: item.path().into(), detail: "path is not UTF-8".into() })?
            .to_owned();
        if ft.is_symlink() {
            files.push(PayloadFile { entry: link_entry(item.path(), rel)?, source: item.path().into() });
            continue;
        }
        if !ft.is_file() {
            return Err(PackageError::Payload {
                path: item.path().into(),
                detail: "not a regular file or a symbolic link; the files handler places those only".into(),
            });
        }
        let meta =
            item.metadata().map_err(|e| PackageError::Payload { path: item.path().into(), detail: e.to_string() })?;
        let (sha256, size) = hash_file(item.path())?;
        files.push(PayloadFile {
            entry: ContentEntry {
                sha256,
                size,
                path: rel,
                mode: meta.permissions().mode() & 0o7777,
                uid: None,
                gid: None,
                link_target: None,
            },
            source: item.path().into(),
        });
    }
    Ok(files)
}

/// The entry of the symbolic link at `path` (payload path `rel`): its target as written, with
/// the SHA-256 and length of the target's bytes.
fn link_entry(path: &Path, rel: String) -> Result<ContentEntry, PackageError> {
    let target = fs_err::read_link(path).map_err(|e| PackageError::io(path, e))?;
    let target = target
        .to_str()
        .ok_or_else(|| PackageError::Payload { path: path.into(), detail: "the link's target is not UTF-8".into() })?;
    if target.is_empty() || target.len() > wua_types::MAX_LINK_TARGET {
        return Err(PackageError::Payload {
            path: path.into(),
            detail: format!("the link's target must be 1 to {} bytes", wua_types::MAX_LINK_TARGET),
        });
    }
    Ok(ContentEntry {
        sha256: wua_fs::sha256_hex(target.as_bytes()),
        size: target.len() as u64,
        path: rel,
        mode: 0o777,
        uid: None,
        gid: None,
        link_target: Some(target.to_owned()),
    })
}

/// SHA-256 (lower-case hex) and length of a file.
fn hash_file(path: &Path) -> Result<(String, u64), PackageError> {
    let file = fs_err::File::open(path).map_err(|e| PackageError::io(path, e))?;
    let mut reader = std::io::BufReader::with_capacity(256 * 1024, file);
    let (size, digest) =
        wua_fs::copy_hashing(&mut reader, &mut std::io::sink()).map_err(|e| PackageError::io(path, e))?;
    Ok((hex::encode(digest), size))
}
