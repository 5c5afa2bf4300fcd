//! Recovery after a crash (D-17): finishes or undoes every journaled operation. It runs only
//! under the D-8 lock (the caller proves it with an [`InstallLock`]), so it can never touch a
//! live operation. This module only dispatches: each handler recovers its own operations
//! (`files::recover`, `command::recover`); here are the checks every record passes first (its
//! root, its document) and the removal of what interrupted imports and commands left.

use wua_store::{JournalRecord, Store};
use wua_types::{Handler, Origin, UpdateDocument, UpdateOperation};

use crate::Target;
use crate::command;
use crate::error::InstallError;
use crate::files;
use crate::lock::InstallLock;

/// What recovery did with one interrupted operation.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RecoveredOperation {
    /// The operation's id.
    pub op_id: String,
    /// Install or uninstall.
    pub operation: UpdateOperation,
    /// The update.
    pub update_id: String,
    /// True when it was rolled forward (completed), false when rolled back.
    pub rolled_forward: bool,
}

/// Recovers every journaled operation, oldest first.
pub fn recover(
    target: &Target<'_>,
    store: &mut Store,
    lock: &InstallLock,
) -> Result<Vec<RecoveredOperation>, InstallError> {
    let records = store.read()?.journal()?;
    let mut out = Vec::with_capacity(records.len());
    for rec in records {
        out.push(recover_one(target, store, lock, &rec)?);
    }
    crate::cache::ContentCache::new(target.state_dir).remove_stale_imports()?;
    // Working directories of commands that never got a journal record (the agent died before
    // it recorded the program, which then never ran) belong to no one now.
    let work = command::work_root(target.state_dir);
    if let Ok(dir) = std::fs::read_dir(&work) {
        for entry in dir.flatten() {
            if let Err(e) = wua_fs::remove_dir_all_if_present(&entry.path()) {
                tracing::warn!(path = %entry.path().display(), error = %e, "could not remove a stale working directory");
            }
        }
    }
    Ok(out)
}

fn recover_one(
    target: &Target<'_>,
    store: &mut Store,
    lock: &InstallLock,
    rec: &JournalRecord,
) -> Result<RecoveredOperation, InstallError> {
    let bad = |detail: String| InstallError::BadJournal { op_id: rec.op_id.clone(), detail };
    // `bind_root` keeps a state directory to one root; a record naming another root is never
    // applied here whatever led to it.
    if let Some(id) = rec.root_id.as_deref().filter(|id| *id != target.root_id) {
        return Err(bad(format!(
            "it belongs to the target root with id {id}, not to {} (root id {})",
            target.root.display(),
            target.root_id
        )));
    }
    // The record carries its document; older records name one that is recorded.
    let doc: UpdateDocument = match &rec.document {
        Some(doc) => doc.clone(),
        None => store
            .read()?
            .document(&rec.update_id, rec.revision)?
            .ok_or_else(|| bad(format!("no document for {} rev {}", rec.update_id, rec.revision)))?,
    };
    // The history entry names the caller of the interrupted operation and its update's service.
    let origin = Origin {
        client_application_id: &rec.client_application_id,
        server_selection: rec.server_selection,
        service_id: &rec.service_id,
    };
    let target = Target { origin, ..*target };
    tracing::info!(op_id = %rec.op_id, update_id = %rec.update_id, phase = ?rec.phase, "recovering an interrupted operation");
    match doc.handler {
        Handler::Command(_) => command::recover(&target, store, &doc, rec),
        _ => files::recover(&target, store, lock, rec, &doc),
    }
}
