//! Repositories a wua server manages: `managed.json` marks one, and names the server's API.
//!
//! A server that adopts a repository holds its approvals, snapshot and timestamp keys and signs
//! every change of approvals itself; approving from the command line beside it would race the
//! server's own view of the groups, so the public `approve`, `unapprove` and `approve_many`
//! refuse a managed repository (`WUA_E_REPO_MANAGED`), naming the API route to use instead.
//! Their `_locked` forms do not: they are the server's. Publishing, revising and declining are
//! the publisher's and keep working.

use std::path::Path;

use serde::{Deserialize, Serialize};

use super::lock::{RepoLock, open};
use super::sign::write_shared;
use crate::error::TrustError;

/// The API base path a wua server serves by default.
pub const DEFAULT_API_BASE: &str = "/api/v1";

/// What `managed.json` says about the server managing a repository.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Managed {
    /// The path of the server's API, e.g. `/api/v1`.
    pub api_base: String,
    /// Where people reach the server, when it says (a URL, for messages only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub server: Option<String>,
}

impl Managed {
    /// A marker naming the API under `api_base`.
    pub fn new(api_base: impl Into<String>) -> Self {
        Managed { api_base: api_base.into(), server: None }
    }

    /// The route that changes `group`'s approvals: `POST <api_base>/groups/<group>/approvals`.
    pub fn approvals_route(&self, group: &str) -> String {
        format!("POST {}/groups/{group}/approvals", self.api_base.trim_end_matches('/'))
    }
}

/// Marks the repository in `dir` as managed by a wua server (`wua server init`).
pub async fn set_managed(dir: &Path, managed: &Managed) -> Result<(), TrustError> {
    set_managed_locked(&RepoLock::acquire(dir, RepoLock::DEFAULT_WAIT).await?, managed)
}

/// [`set_managed`] under a lock the caller holds.
pub fn set_managed_locked(lock: &RepoLock, managed: &Managed) -> Result<(), TrustError> {
    let path = lock.layout().managed();
    let bytes = serde_json::to_vec_pretty(managed).map_err(|e| TrustError::invalid(&path, e.to_string()))?;
    write_shared(&path, &bytes)
}

/// Removes the mark: the command line approves again (a server giving the repository up).
pub fn clear_managed_locked(lock: &RepoLock) -> Result<(), TrustError> {
    let path = lock.layout().managed();
    wua_fs::remove_file_if_present(&path).map(|_| ()).map_err(|e| TrustError::io(&path, e))
}

/// The server managing the repository in `dir`, if one does.
pub fn managed(dir: &Path) -> Result<Option<Managed>, TrustError> {
    read(&open(dir)?.managed())
}

/// Whether a wua server manages the repository in `dir`.
pub fn is_managed(dir: &Path) -> Result<bool, TrustError> {
    Ok(managed(dir)?.is_some())
}

/// Refuses a change of `group`'s approvals from outside the server when a server manages the
/// repository (`WUA_E_REPO_MANAGED`, naming the route to use). Checked under the lock, so a
/// server adopting the repository at the same moment is seen.
pub fn ensure_unmanaged(lock: &RepoLock, group: &str) -> Result<(), TrustError> {
    let layout = lock.layout();
    match read(&layout.managed())? {
        None => Ok(()),
        Some(m) => {
            let mut route = m.approvals_route(group);
            if let Some(server) = &m.server {
                route = format!("{route} on {server}");
            }
            Err(TrustError::Managed { path: layout.dir.clone(), route })
        }
    }
}

fn read(path: &Path) -> Result<Option<Managed>, TrustError> {
    match std::fs::read(path) {
        Ok(bytes) => serde_json::from_slice(&bytes)
            .map(Some)
            .map_err(|e| TrustError::invalid(path, format!("is not a managed-repository marker: {e}"))),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(TrustError::io(path, e)),
    }
}
