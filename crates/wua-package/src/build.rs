//! Building a standalone package file from a manifest and a payload directory.

use std::collections::BTreeSet;
use std::io::{Read, Write};
use std::os::unix::fs::PermissionsExt;
use std::path::Path;

use wua_types::UpdateDocument;

use crate::error::PackageError;
use crate::manifest::Manifest;
use crate::payload::{PayloadFile, scan_payload};
use crate::{BLOB_PREFIX, DOCUMENT_NAME};

/// Whether to compress the package.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Compression {
    /// A plain tar file.
    None,
    /// A zstd-compressed tar file (level 3).
    Zstd,
}

/// Builds `out` from `manifest_path` and `payload_dir`; returns the document it holds.
///
/// The file is written under a temporary name beside `out` and renamed into place, so a failed
/// build never leaves a partial package at `out`. It is readable by everyone (0644) whatever
/// the umask: a package is meant to be shared.
pub fn build_package(
    manifest_path: &Path,
    payload_dir: &Path,
    out: &Path,
    compression: Compression,
) -> Result<UpdateDocument, PackageError> {
    let manifest = Manifest::load(manifest_path)?;
    let files = scan_payload(payload_dir)?;
    let document = manifest.to_document(manifest_path, files.iter().map(|f| f.entry.clone()).collect())?;

    let dir = out.parent().filter(|p| !p.as_os_str().is_empty()).unwrap_or(Path::new("."));
    let tmp =
        tempfile::Builder::new().prefix(".wua-package-").tempfile_in(dir).map_err(|e| PackageError::io(dir, e))?;
    // A package is meant to be shared: 0644 whatever the umask (tempfile creates 0600, and a
    // mode given at creation would be narrowed by the umask; fchmod is not).
    tmp.as_file()
        .set_permissions(std::fs::Permissions::from_mode(0o644))
        .map_err(|e| PackageError::io(tmp.path(), e))?;
    let file = tmp.as_file().try_clone().map_err(|e| PackageError::io(tmp.path(), e))?;
    let json = serde_json::to_vec_pretty(&document)
        .map_err(|e| PackageError::Manifest { path: manifest_path.into(), detail: e.to_string() })?;
    let io_err = |e| PackageError::io(tmp.path(), e);
    match compression {
        Compression::None => {
            let mut w = write_tar(std::io::BufWriter::with_capacity(1 << 20, file), &json, &files)?;
            w.flush().map_err(io_err)?;
        }
        Compression::Zstd => {
            let encoder = zstd::Encoder::new(file, 3).map_err(io_err)?;
            let encoder = write_tar(encoder, &json, &files)?;
            encoder.finish().map_err(io_err)?.flush().map_err(io_err)?;
        }
    }
    tmp.persist(out).map_err(|e| PackageError::io(out, e.error))?;
    Ok(document)
}

fn write_tar<W: Write>(writer: W, json: &[u8], files: &[PayloadFile]) -> Result<W, PackageError> {
    let mut tar = tar::Builder::new(writer);
    append(&mut tar, DOCUMENT_NAME, json.len() as u64, &mut &json[..])
        .map_err(|e| PackageError::io(DOCUMENT_NAME, e))?;
    let mut written = BTreeSet::new();
    // A link carries its target in the document: it has no blob.
    for f in files.iter().filter(|f| !f.entry.is_link()) {
        if !written.insert(f.entry.sha256.as_str()) {
            continue; // one blob serves every path with the same bytes
        }
        let mut src = fs_err::File::open(&f.source).map_err(|e| PackageError::io(&f.source, e))?;
        let size = src.metadata().map_err(|e| PackageError::io(&f.source, e))?.len();
        if size != f.entry.size {
            return Err(PackageError::Payload { path: f.source.clone(), detail: "changed while packaging".into() });
        }
        // Read exactly `size` bytes even if the file grows meanwhile.
        append(&mut tar, &format!("{BLOB_PREFIX}{}", f.entry.sha256), size, &mut (&mut src).take(size))
            .map_err(|e| PackageError::io(&f.source, e))?;
    }
    tar.into_inner().map_err(|e| PackageError::io("package", e))
}

fn append<W: Write>(tar: &mut tar::Builder<W>, name: &str, size: u64, data: &mut dyn Read) -> std::io::Result<()> {
    let mut header = tar::Header::new_ustar();
    header.set_size(size);
    header.set_mode(0o644);
    header.set_entry_type(tar::EntryType::Regular);
    header.set_mtime(0);
    tar.append_data(&mut header, name, data)
}
