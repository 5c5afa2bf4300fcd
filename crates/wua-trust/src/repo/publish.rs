//! Publishing: updates from a manifest and payload (new, or a higher revision), declines, and
//! bulk publishing of documents whose blobs were added first.

use std::collections::HashMap;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;

use wua_fs::SHARED_FILE_MODE;
use wua_types::UpdateDocument;

use super::catalog::{append, append_all, working_catalog};
use super::lock::RepoLock;
use super::sign::{Lifetimes, resign_locked};
use crate::error::TrustError;
use crate::layout::Layout;
use crate::pack::PackEntry;

/// Publishes the update a publishing manifest and its payload describe (a new update, or a
/// higher revision of a published one): blobs, the pack entry, and signed metadata.
pub async fn publish(dir: &Path, manifest: &Path, payload: &Path) -> Result<UpdateDocument, TrustError> {
    publish_locked(&RepoLock::acquire(dir, RepoLock::DEFAULT_WAIT).await?, manifest, payload).await
}

/// Publishes a new revision of an update that is already published (its revision must be
/// higher); refused for an update id the repository does not have.
pub async fn revise(dir: &Path, manifest: &Path, payload: &Path) -> Result<UpdateDocument, TrustError> {
    revise_locked(&RepoLock::acquire(dir, RepoLock::DEFAULT_WAIT).await?, manifest, payload).await
}

/// [`publish`] under a lock the caller holds.
pub async fn publish_locked(lock: &RepoLock, manifest: &Path, payload: &Path) -> Result<UpdateDocument, TrustError> {
    publish_as(lock, manifest, payload, false).await
}

/// [`revise`] under a lock the caller holds.
pub async fn revise_locked(lock: &RepoLock, manifest: &Path, payload: &Path) -> Result<UpdateDocument, TrustError> {
    publish_as(lock, manifest, payload, true).await
}

async fn publish_as(
    lock: &RepoLock,
    manifest: &Path,
    payload: &Path,
    revision: bool,
) -> Result<UpdateDocument, TrustError> {
    let layout = lock.layout();
    let package_err = |e: wua_package::PackageError| TrustError::invalid(manifest, e.to_string());
    let parsed = wua_package::Manifest::load(manifest).map_err(package_err)?;
    let files = wua_package::scan_payload(payload).map_err(package_err)?;
    let document =
        parsed.to_document(manifest, files.iter().map(|f| f.entry.clone()).collect()).map_err(package_err)?;
    let catalog = working_catalog(layout)?;
    if revision && !catalog.documents.iter().any(|d| d.update_id == document.update_id) {
        return Err(TrustError::invalid(
            manifest,
            format!("update {} is not published; publish it first", document.update_id),
        ));
    }
    if let Some(newest) =
        catalog.documents.iter().filter(|d| d.update_id == document.update_id).map(|d| d.revision_number).max()
    {
        if document.revision_number <= newest {
            return Err(TrustError::invalid(
                manifest,
                format!(
                    "update {} is published at revision {newest}; a new revision must be higher than that (revision = {} in the manifest)",
                    document.update_id, document.revision_number
                ),
            ));
        }
    }
    let mut stored = false;
    // A link's target is in the document: it has no blob.
    for f in files.iter().filter(|f| !f.entry.is_link()) {
        let mut source = fs_err::File::open(&f.source).map_err(|e| TrustError::io(&f.source, e))?;
        stored |= store_blob(layout, &f.entry.sha256, &mut source, &f.source)?;
    }
    if stored {
        wua_fs::fsync_dir(&layout.blobs()).map_err(|e| TrustError::io(layout.blobs(), e))?;
    }
    append(layout, &PackEntry::Document(Box::new(document.clone())))?;
    resign_locked(lock, &Lifetimes::default()).await?;
    Ok(document)
}

/// Declines a published revision: no longer offered to new installs; an installed copy stays
/// visible and uninstallable.
pub async fn decline(dir: &Path, update_id: &str, revision_number: i32) -> Result<(), TrustError> {
    decline_locked(&RepoLock::acquire(dir, RepoLock::DEFAULT_WAIT).await?, update_id, revision_number).await
}

/// [`decline`] under a lock the caller holds.
pub async fn decline_locked(lock: &RepoLock, update_id: &str, revision_number: i32) -> Result<(), TrustError> {
    let layout = lock.layout();
    let catalog = working_catalog(layout)?;
    if catalog.document(update_id, revision_number).is_none() {
        return Err(TrustError::invalid(
            &layout.dir,
            format!("update {update_id} revision {revision_number} is not published"),
        ));
    }
    append(layout, &PackEntry::Declined { update_id: update_id.into(), revision_number })?;
    resign_locked(lock, &Lifetimes::default()).await
}

/// Stores a blob in the repository (content-addressed); returns its SHA-256 and size. For
/// bulk publishing with [`publish_documents`].
pub fn add_blob(dir: &Path, bytes: &[u8]) -> Result<(String, u64), TrustError> {
    add_blob_locked(&RepoLock::acquire_blocking(dir, RepoLock::DEFAULT_WAIT)?, bytes)
}

/// [`add_blob`] under a lock the caller holds.
pub fn add_blob_locked(lock: &RepoLock, bytes: &[u8]) -> Result<(String, u64), TrustError> {
    let layout = lock.layout();
    let sha = wua_fs::sha256_hex(bytes);
    if store_blob(layout, &sha, &mut &bytes[..], Path::new("<bytes>"))? {
        wua_fs::fsync_dir(&layout.blobs()).map_err(|e| TrustError::io(layout.blobs(), e))?;
    }
    Ok((sha, bytes.len() as u64))
}

/// Stores the bytes `source` yields as the blob `sha256` unless the repository has it: copied
/// to a temporary file, hashed on the way, synced and given mode 0644, then renamed into place
/// only if the bytes are the ones named (a payload changed since it was scanned is refused).
/// The caller syncs the blob directory once for all. Returns whether a blob was stored.
fn store_blob(layout: &Layout, sha256: &str, source: &mut dyn std::io::Read, from: &Path) -> Result<bool, TrustError> {
    let path = layout.blob(sha256);
    if path.exists() {
        return Ok(false);
    }
    let dir = layout.blobs();
    let mut tmp = tempfile::NamedTempFile::new_in(&dir).map_err(|e| TrustError::io(&dir, e))?;
    let (_, digest) =
        wua_fs::copy_hashing(source, &mut std::io::BufWriter::with_capacity(256 * 1024, tmp.as_file_mut()))
            .map_err(|e| TrustError::io(from, e))?;
    if hex::encode(digest) != sha256 {
        return Err(TrustError::invalid(
            from,
            format!("changed while it was published (its SHA-256 is no longer {sha256})"),
        ));
    }
    let file = tmp.as_file();
    file.set_permissions(std::fs::Permissions::from_mode(SHARED_FILE_MODE))
        .and_then(|()| file.sync_all())
        .map_err(|e| TrustError::io(tmp.path(), e))?;
    tmp.persist(&path).map_err(|e| TrustError::io(&path, e.error))?;
    Ok(true)
}

/// Publishes many documents in one signed change (a catalog import): each must be valid, name
/// only blobs the repository has, and be a new update or a higher revision.
pub async fn publish_documents(dir: &Path, documents: Vec<UpdateDocument>) -> Result<(), TrustError> {
    publish_documents_locked(&RepoLock::acquire(dir, RepoLock::DEFAULT_WAIT).await?, documents).await
}

/// [`publish_documents`] under a lock the caller holds.
pub async fn publish_documents_locked(lock: &RepoLock, documents: Vec<UpdateDocument>) -> Result<(), TrustError> {
    let layout = lock.layout();
    let dir = &layout.dir;
    let catalog = working_catalog(layout)?;
    let mut newest: HashMap<String, i32> = HashMap::new();
    for d in &catalog.documents {
        let slot = newest.entry(d.update_id.clone()).or_insert(d.revision_number);
        *slot = (*slot).max(d.revision_number);
    }
    for doc in &documents {
        doc.validate().map_err(|e| TrustError::invalid(dir, e.message))?;
        if newest.get(&doc.update_id).is_some_and(|r| doc.revision_number <= *r) {
            return Err(TrustError::invalid(
                dir,
                format!(
                    "update {} revision {} is not newer than the published one",
                    doc.update_id, doc.revision_number
                ),
            ));
        }
        newest.insert(doc.update_id.clone(), doc.revision_number);
        if let Some(missing) = doc.blobs().find(|c| !layout.blob(&c.sha256).is_file()) {
            return Err(TrustError::invalid(
                dir,
                format!("update {}: blob {} is not in the repository", doc.update_id, missing.sha256),
            ));
        }
    }
    let entries: Vec<PackEntry> = documents.into_iter().map(|d| PackEntry::Document(Box::new(d))).collect();
    append_all(layout, &entries)?;
    resign_locked(lock, &Lifetimes::default()).await
}
