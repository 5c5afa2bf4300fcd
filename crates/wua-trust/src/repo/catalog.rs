//! The publisher's working catalog: the packs under `catalog/`, appended to and sealed, and
//! compaction, which rewrites them without superseded revisions.

use std::path::{Path, PathBuf};

use wua_types::UpdateDocument;

use super::lock::{RepoLock, open};
use super::sign::{Lifetimes, load_versions, resign_locked, write_shared};
use crate::error::TrustError;
use crate::layout::Layout;
use crate::pack::{self, Catalog, PackEntry, SEAL_BYTES, SEAL_ENTRIES};

/// Compacts the catalog when superseded entries make up at least half of it: the packs are
/// rewritten as new packs holding the newest revision of each update (with its decline, if it
/// was declined), and re-signed. Older revisions leave the catalog; agents keep the documents
/// of what they installed in their own datastore, so an installed copy stays visible and
/// uninstallable. Returns the number of entries dropped (0 when the rule did not call for it).
/// A refresh after a compaction fetches the new packs, as a cold sync does.
pub async fn compact(dir: &Path, force: bool) -> Result<usize, TrustError> {
    compact_locked(&RepoLock::acquire(dir, RepoLock::DEFAULT_WAIT).await?, force).await
}

/// [`compact`] under a lock the caller holds.
pub async fn compact_locked(lock: &RepoLock, force: bool) -> Result<usize, TrustError> {
    let layout = lock.layout();
    let catalog = working_catalog(layout)?;
    let total = catalog.documents.len() + catalog.declined.len();
    let mut newest: std::collections::BTreeMap<&str, &UpdateDocument> = std::collections::BTreeMap::new();
    for d in &catalog.documents {
        let slot = newest.entry(d.update_id.as_str()).or_insert(d);
        if d.revision_number > slot.revision_number {
            *slot = d;
        }
    }
    let mut entries: Vec<PackEntry> = Vec::new();
    for doc in newest.values() {
        entries.push(PackEntry::Document(Box::new((*doc).clone())));
        if catalog.declined.contains(&(doc.update_id.clone(), doc.revision_number)) {
            entries
                .push(PackEntry::Declined { update_id: doc.update_id.clone(), revision_number: doc.revision_number });
        }
    }
    let dropped = total - entries.len();
    if dropped == 0 || (!force && dropped * 2 < total) {
        return Ok(0);
    }
    // New pack numbers after the old ones, so a pack name never stands for other content.
    let old = pack_files(layout)?;
    let first = old.last().map_or(1, |(n, _)| n + 1);
    let seal = load_versions(layout)?.seal_entries.unwrap_or(SEAL_ENTRIES);
    for (n, chunk) in (first..).zip(entries.chunks(seal.max(1))) {
        let mut text = String::new();
        for e in chunk {
            text.push_str(&e.line().map_err(|e| TrustError::invalid(layout.catalog(), e.to_string()))?);
        }
        write_shared(&layout.catalog().join(pack::target_name(n)), text.as_bytes())?;
    }
    for (_, path) in old {
        fs_err::remove_file(&path).map_err(|e| TrustError::io(&path, e))?;
    }
    resign_locked(lock, &Lifetimes::default()).await?;
    Ok(dropped)
}

/// The publisher's view of the catalog (its working packs).
pub fn list(dir: &Path) -> Result<Catalog, TrustError> {
    working_catalog(&open(dir)?)
}

/// The working packs, in order.
pub(super) fn pack_files(layout: &Layout) -> Result<Vec<(u32, PathBuf)>, TrustError> {
    let dir = layout.catalog();
    let mut packs = Vec::new();
    for entry in std::fs::read_dir(&dir).map_err(|e| TrustError::io(&dir, e))? {
        let entry = entry.map_err(|e| TrustError::io(&dir, e))?;
        if let Some(n) = entry.file_name().to_str().and_then(pack::number) {
            packs.push((n, entry.path()));
        }
    }
    packs.sort();
    Ok(packs)
}

pub(super) fn working_catalog(layout: &Layout) -> Result<Catalog, TrustError> {
    let mut catalog = Catalog::default();
    for (n, path) in pack_files(layout)? {
        let text = fs_err::read_to_string(&path).map_err(|e| TrustError::io(&path, e))?;
        catalog.add_pack(&pack::target_name(n), &text);
    }
    Ok(catalog)
}

/// Appends an entry to the newest pack, or starts a new pack when that one is sealed.
pub(super) fn append(layout: &Layout, entry: &PackEntry) -> Result<(), TrustError> {
    append_all(layout, std::slice::from_ref(entry))
}

/// Appends entries to the newest pack and new ones as packs seal. Each pack written is
/// rewritten once, under a temporary name and renamed, so it is whole at every instant.
pub(super) fn append_all(layout: &Layout, entries: &[PackEntry]) -> Result<(), TrustError> {
    let packs = pack_files(layout)?;
    let seal = load_versions(layout)?.seal_entries.unwrap_or(SEAL_ENTRIES);
    let (mut n, mut text) = match packs.last() {
        Some((n, path)) => (*n, fs_err::read_to_string(path).map_err(|e| TrustError::io(path, e))?),
        None => (1, String::new()),
    };
    let mut lines = text.lines().count();
    let mut dirty = false;
    for entry in entries {
        let line = entry.line().map_err(|e| TrustError::invalid(layout.catalog(), e.to_string()))?;
        if lines >= seal || (lines > 0 && text.len() as u64 + line.len() as u64 > SEAL_BYTES) {
            if dirty {
                write_shared(&layout.catalog().join(pack::target_name(n)), text.as_bytes())?;
            }
            n += 1;
            text.clear();
            lines = 0;
        }
        text.push_str(&line);
        lines += 1;
        dirty = true;
    }
    if dirty {
        write_shared(&layout.catalog().join(pack::target_name(n)), text.as_bytes())?;
    }
    Ok(())
}
