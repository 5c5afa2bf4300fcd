//! The repository the server manages: which updates are published (cached until the
//! publisher's catalog changes), the timestamp's expiry for `/healthz`, and approvals.
//!
//! The server holds the timestamp, snapshot and approvals keys only; publishing (the targets
//! key) stays with the publisher's `wua repo publish`.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::SystemTime;

use wua_trust::Layout;
use wua_types::{UpdateDocument, lock_unpoisoned};

use crate::ServerError;

/// The managed repository.
#[derive(Debug)]
pub struct Repository {
    layout: Layout,
    catalog: Mutex<Option<(SystemTime, Arc<Published>)>>,
}

/// The publisher's catalog as the server uses it.
#[derive(Debug, Default)]
pub struct Published {
    /// Every published update id.
    pub ids: BTreeSet<String>,
    /// Every revision offered (published and not declined), in publishing order.
    pub offered: Vec<UpdateDocument>,
}

impl Repository {
    /// The repository in `dir`.
    pub fn open(dir: &Path) -> Result<Repository, ServerError> {
        if !Layout::is_repository(dir) {
            return Err(ServerError::Config(format!("{}: not a wua repository (see `wua repo init`)", dir.display())));
        }
        Ok(Repository { layout: Layout::new(dir), catalog: Mutex::new(None) })
    }

    /// Its directory.
    pub fn dir(&self) -> &Path {
        &self.layout.dir
    }

    /// What a static host serves.
    pub fn public(&self) -> PathBuf {
        self.layout.public()
    }

    /// The published catalog, re-read when the publisher's catalog changed (every writer
    /// rewrites `catalog/versions.json`).
    pub fn published(&self) -> Result<Arc<Published>, ServerError> {
        let versions = self.layout.versions();
        let modified =
            std::fs::metadata(&versions).and_then(|m| m.modified()).map_err(|e| ServerError::io(&versions, e))?;
        if let Some((at, published)) = lock_unpoisoned(&self.catalog).as_ref() {
            if *at == modified {
                return Ok(published.clone());
            }
        }
        let catalog = wua_trust::repo::list(&self.layout.dir)?;
        let ids = catalog.documents.iter().map(|d| d.update_id.clone()).collect();
        let offered = catalog
            .documents
            .into_iter()
            .filter(|d| !catalog.declined.contains(&(d.update_id.clone(), d.revision_number)))
            .collect();
        let published = Arc::new(Published { ids, offered });
        *lock_unpoisoned(&self.catalog) = Some((modified, published.clone()));
        Ok(published)
    }

    /// When the served timestamp expires, Unix seconds.
    pub fn timestamp_expires(&self) -> Result<i64, ServerError> {
        let path = self.layout.metadata().join("timestamp.json");
        let bytes = fs_err::read(&path).map_err(|e| ServerError::io(&path, e))?;
        #[derive(serde::Deserialize)]
        struct Signed {
            signed: Expires,
        }
        #[derive(serde::Deserialize)]
        struct Expires {
            expires: String,
        }
        let signed: Signed =
            serde_json::from_slice(&bytes).map_err(|e| ServerError::Config(format!("{}: {e}", path.display())))?;
        let t: jiff::Timestamp = signed
            .signed
            .expires
            .parse()
            .map_err(|e| ServerError::Config(format!("{}: expires: {e}", path.display())))?;
        Ok(t.as_second())
    }
}
