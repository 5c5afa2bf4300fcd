//! Cleaning the content cache (`wua cache clean`): what no install or uninstall still needs
//! goes.
//!
//! Kept: the blobs of installed `command` updates (their uninstall command runs from them) and,
//! unless everything is asked for, the blobs of updates downloaded or imported and not yet
//! installed. Removed: everything else, and partial files of transfers that ended. The cache
//! is held exclusively meanwhile; downloads and installs hold it shared, so a clean waits for
//! them (a short while, then `WUA_E_CACHE_BUSY`) and they wait for a clean.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use wua_install::ContentCache;
use wua_types::{HResult, Handler, UpdateDocument, WuError};

use crate::session::UpdateSession;

/// How long a clean waits for downloads and installs to release the cache.
const CLEAN_WAIT: Duration = Duration::from_secs(2);

/// What a clean did.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct CacheCleaned {
    /// Blobs removed.
    pub removed: usize,
    /// Their bytes.
    pub bytes_freed: u64,
    /// Blobs kept.
    pub kept: usize,
    /// Partial files of ended transfers removed.
    pub partial_removed: usize,
}

impl UpdateSession {
    /// Cleans the content cache; with `all`, also the blobs of updates not yet installed (they
    /// are downloaded again when needed).
    pub fn clean_cache(&self, all: bool) -> Result<CacheCleaned, WuError> {
        self.require_writable("clean the content cache")?;
        let cache = ContentCache::new(self.state_dir());
        let _hold = cache.hold_exclusive(CLEAN_WAIT)?.ok_or_else(|| {
            WuError::new(
                HResult::WUA_E_CACHE_BUSY,
                format!("the content cache of {} is in use by a download or an install", self.state_dir().display()),
            )
        })?;
        let keep = self.blobs_to_keep(all)?;
        let mut done = CacheCleaned::default();
        for (sha, len) in cache.blobs()? {
            if keep.contains(&sha) {
                done.kept += 1;
                continue;
            }
            let path = cache.path(&sha);
            std::fs::remove_file(&path)
                .map_err(|e| WuError::new(HResult::WUA_E_CACHE_IO, format!("{}: {e}", path.display())))?;
            done.removed += 1;
            done.bytes_freed += len;
        }
        // No transfer runs while the cache is held exclusively: what is left of one is stale.
        let partial = self.state_dir().join("cache").join("partial");
        for entry in std::fs::read_dir(&partial).into_iter().flatten().flatten() {
            if std::fs::remove_file(entry.path()).is_ok() {
                done.partial_removed += 1;
            }
        }
        Ok(done)
    }

    /// The hashes of the blobs a clean keeps.
    fn blobs_to_keep(&self, all: bool) -> Result<BTreeSet<String>, WuError> {
        let mut store = self.store();
        let tx = store.read()?;
        let installed: BTreeMap<String, i32> =
            tx.all_installed()?.into_iter().map(|r| (r.update_id, r.revision)).collect();
        let mut keep = BTreeSet::new();
        let mut add = |doc: &UpdateDocument| keep.extend(doc.blobs().map(|c| c.sha256.clone()));
        for (id, revision) in &installed {
            if let Some(doc) = tx.document(id, *revision)? {
                if matches!(doc.handler, Handler::Command(_)) {
                    add(&doc);
                }
            }
        }
        if !all {
            let pending = |doc: &UpdateDocument| installed.get(&doc.update_id).is_none_or(|r| *r < doc.revision_number);
            for doc in tx.latest_documents()?.iter().filter(|d| pending(d)) {
                add(doc);
            }
            for service in tx.services()? {
                let (docs, _) = tx.index_offered(&service.service_id)?;
                for doc in docs.iter().filter(|d| pending(d)) {
                    add(doc);
                }
            }
        }
        Ok(keep)
    }
}
