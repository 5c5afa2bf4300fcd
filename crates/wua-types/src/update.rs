//! `IUpdate` and `IUpdateCollection`.
//!
//! An [`Update`] is a shared handle, as a COM object is: clones see the same flags. Setting
//! `is_hidden` or accepting the EULA goes through the [`UpdateStateSink`] of the session that
//! made the update, so the change persists per machine (D-14, D-36).

use std::sync::{Arc, Mutex, MutexGuard};

use crate::document::{UpdateDocument, UpdateIdentity};
use crate::enums::{DeploymentAction, ServerSelection};
use crate::hresult::{HResult, WuError};

/// Where an update's per-machine flags are persisted (the agent's datastore).
pub trait UpdateStateSink: Send + Sync {
    /// Records acceptance of the update's license terms (keyed by the EULA's text).
    fn accept_eula(&self, document: &UpdateDocument) -> Result<(), WuError>;
    /// Records the hidden flag of an update id.
    fn set_hidden(&self, update_id: &str, hidden: bool) -> Result<(), WuError>;
}

/// The per-machine flags of an update, as seen when it was obtained.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct UpdateFlags {
    /// `IsInstalled` (this revision or, for D-40, an equivalent one).
    pub is_installed: bool,
    /// `IsDownloaded`: every content blob is in the cache.
    pub is_downloaded: bool,
    /// `IsHidden`.
    pub is_hidden: bool,
    /// `EulaAccepted` (true when there is no EULA, D-14).
    pub eula_accepted: bool,
    /// `RebootRequired`: a restart is pending to finish this update's install or uninstall.
    pub reboot_required: bool,
    /// `IsPresent`: some revision of the update id is installed.
    pub is_present: bool,
    /// `DeploymentAction`: what the update is deployed for on this computer (D-27); `None`
    /// for an update no service deploys (a standalone package).
    pub deployment_action: Option<DeploymentAction>,
}

/// `IUpdate`: a document plus this machine's flags.
#[derive(Clone)]
pub struct Update {
    inner: Arc<UpdateInner>,
}

struct UpdateInner {
    document: Arc<UpdateDocument>,
    flags: Mutex<UpdateFlags>,
    sink: Option<Arc<dyn UpdateStateSink>>,
    /// The service a search found it in (its content is downloaded from there), with the
    /// server selection the search used.
    origin: Option<(ServerSelection, String)>,
    /// `Deadline`: the document's, or the one an approval set (D-27). Kept apart from the
    /// document, which is recorded as published and never changes.
    deadline: Option<String>,
}

impl std::fmt::Debug for Update {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Update")
            .field("identity", &self.identity())
            .field("title", &self.title())
            .field("flags", &self.flags())
            .finish()
    }
}

impl Update {
    /// An update whose flag changes persist through `sink`.
    pub fn new(document: Arc<UpdateDocument>, mut flags: UpdateFlags, sink: Option<Arc<dyn UpdateStateSink>>) -> Self {
        if document.eula.is_none() {
            flags.eula_accepted = true;
        }
        let deadline = document.deadline.clone();
        Update { inner: Arc::new(UpdateInner { document, flags: Mutex::new(flags), sink, origin: None, deadline }) }
    }

    /// An update a search with `server_selection` found in the service `service_id`.
    pub fn from_service(
        document: Arc<UpdateDocument>,
        flags: UpdateFlags,
        sink: Option<Arc<dyn UpdateStateSink>>,
        server_selection: ServerSelection,
        service_id: String,
    ) -> Self {
        let update = Update::new(document, flags, sink);
        let inner = UpdateInner {
            document: update.inner.document.clone(),
            flags: Mutex::new(update.flags()),
            sink: update.inner.sink.clone(),
            origin: Some((server_selection, service_id)),
            deadline: update.inner.deadline.clone(),
        };
        Update { inner: Arc::new(inner) }
    }

    /// The same update with `deadline` (RFC 3339) in place of the document's: an approval's
    /// deadline wins over the document's (D-27). Flags are copied; the new handle is separate.
    pub fn with_deadline(&self, deadline: impl Into<String>) -> Self {
        let inner = UpdateInner {
            document: self.inner.document.clone(),
            flags: Mutex::new(self.flags()),
            sink: self.inner.sink.clone(),
            origin: self.inner.origin.clone(),
            deadline: Some(deadline.into()),
        };
        Update { inner: Arc::new(inner) }
    }

    /// `Deadline`, RFC 3339: an approval's (D-27), else the document's; `None` without one.
    pub fn deadline(&self) -> Option<&str> {
        self.inner.deadline.as_deref()
    }

    /// The service a search found this update in; `None` for a standalone package.
    pub fn service_id(&self) -> Option<&str> {
        self.inner.origin.as_ref().map(|(_, id)| id.as_str())
    }

    /// The server selection of the search that found this update (`Others` for a standalone
    /// package, which no service supplied).
    pub fn server_selection(&self) -> ServerSelection {
        self.inner.origin.as_ref().map_or(ServerSelection::Others, |(s, _)| *s)
    }

    /// An update with default flags and nowhere to persist them (for tests).
    #[cfg(test)]
    pub(crate) fn detached(document: UpdateDocument) -> Self {
        Update::new(Arc::new(document), UpdateFlags::default(), None)
    }

    fn lock_flags(&self) -> MutexGuard<'_, UpdateFlags> {
        // The flags are plain data: a panic while holding the lock cannot leave them invalid.
        crate::sync::lock_unpoisoned(&self.inner.flags)
    }

    /// The metadata document.
    pub fn document(&self) -> &Arc<UpdateDocument> {
        &self.inner.document
    }

    /// A copy of the flags.
    pub fn flags(&self) -> UpdateFlags {
        *self.lock_flags()
    }

    /// `Identity`.
    pub fn identity(&self) -> UpdateIdentity {
        self.inner.document.identity()
    }

    /// `Title`.
    pub fn title(&self) -> &str {
        &self.inner.document.title
    }

    /// `IsInstalled`, as of when the update was obtained.
    pub fn is_installed(&self) -> bool {
        self.lock_flags().is_installed
    }

    /// `IsDownloaded`.
    pub fn is_downloaded(&self) -> bool {
        self.lock_flags().is_downloaded
    }

    /// `IsMandatory`.
    pub fn is_mandatory(&self) -> bool {
        self.inner.document.is_mandatory
    }

    /// `IsUninstallable`.
    pub fn is_uninstallable(&self) -> bool {
        self.inner.document.is_uninstallable
    }

    /// `RebootRequired`.
    pub fn reboot_required(&self) -> bool {
        self.lock_flags().reboot_required
    }

    /// `IsPresent`.
    pub fn is_present(&self) -> bool {
        self.lock_flags().is_present
    }

    /// `DeploymentAction` (`None` when no service deploys it, D-27).
    pub fn deployment_action(&self) -> DeploymentAction {
        self.lock_flags().deployment_action.unwrap_or(DeploymentAction::None)
    }

    /// `IsAssigned`: deployed for installation (D-27).
    pub fn is_assigned(&self) -> bool {
        self.deployment_action() == DeploymentAction::Installation
    }

    /// `BrowseOnly`: deployed as optional (D-27).
    pub fn browse_only(&self) -> bool {
        self.deployment_action() == DeploymentAction::OptionalInstallation
    }

    /// `AutoSelectOnWebSites`: deployed, and not optional (D-27).
    pub fn auto_select_on_web_sites(&self) -> bool {
        self.lock_flags().deployment_action.is_some_and(|a| a != DeploymentAction::OptionalInstallation)
    }

    /// `EulaText` (empty when there is none).
    pub fn eula_text(&self) -> &str {
        self.inner.document.eula.as_deref().unwrap_or("")
    }

    /// `EulaAccepted`: true for an update without a EULA (D-14).
    pub fn eula_accepted(&self) -> bool {
        self.lock_flags().eula_accepted
    }

    /// `AcceptEula()`: records acceptance for this machine (D-14).
    pub fn accept_eula(&self) -> Result<(), WuError> {
        if self.inner.document.eula.is_none() {
            return Ok(());
        }
        if let Some(sink) = &self.inner.sink {
            sink.accept_eula(&self.inner.document)?;
        }
        self.lock_flags().eula_accepted = true;
        Ok(())
    }

    /// `IsHidden`.
    pub fn is_hidden(&self) -> bool {
        self.lock_flags().is_hidden
    }

    /// `IsHidden = value`. Hiding a mandatory update or one with a deadline ->
    /// `WU_E_DS_DECLINENOTALLOWED` (D-36).
    pub fn set_is_hidden(&self, hidden: bool) -> Result<(), WuError> {
        let doc = &self.inner.document;
        if hidden && (doc.is_mandatory || self.deadline().is_some()) {
            return Err(WuError::new(
                HResult::WU_E_DS_DECLINENOTALLOWED,
                format!("update {} is mandatory or has a deadline and cannot be hidden", doc.update_id),
            ));
        }
        if let Some(sink) = &self.inner.sink {
            sink.set_hidden(&doc.update_id, hidden)?;
        }
        self.lock_flags().is_hidden = hidden;
        Ok(())
    }
}

/// `IUpdateCollection`: one type with a read-only flag (D-33, D-43).
#[derive(Clone, Debug, Default)]
pub struct UpdateCollection {
    items: Vec<Update>,
    read_only: bool,
}

impl UpdateCollection {
    /// An empty writable collection (`new UpdateCollection`).
    pub fn new() -> Self {
        UpdateCollection::default()
    }

    /// A read-only collection, as the agent hands out (D-33).
    pub fn read_only_from(items: Vec<Update>) -> Self {
        UpdateCollection { items, read_only: true }
    }

    /// `ReadOnly`.
    pub fn read_only(&self) -> bool {
        self.read_only
    }

    /// `Count`.
    pub fn count(&self) -> usize {
        self.items.len()
    }

    /// True when empty.
    pub fn is_empty(&self) -> bool {
        self.items.is_empty()
    }

    /// `Item(index)`; out of range -> `WU_E_INVALIDINDEX`.
    pub fn item(&self, index: i32) -> Result<&Update, WuError> {
        usize::try_from(index)
            .ok()
            .and_then(|i| self.items.get(i))
            .ok_or_else(|| invalid_index(index, self.items.len()))
    }

    /// Iterates the updates in order.
    pub fn iter(&self) -> std::slice::Iter<'_, Update> {
        self.items.iter()
    }

    fn writable(&self, what: &str) -> Result<(), WuError> {
        if self.read_only {
            return Err(WuError::new(HResult::WU_E_NOT_SUPPORTED, format!("{what} on a read-only collection")));
        }
        Ok(())
    }

    /// `Add`: appends and returns the new index.
    pub fn add(&mut self, update: Update) -> Result<i32, WuError> {
        self.writable("Add")?;
        self.items.push(update);
        Ok(i32::try_from(self.items.len() - 1).unwrap_or(i32::MAX))
    }

    /// `Insert(index, update)`; `index == count` appends (D-33).
    pub fn insert(&mut self, index: i32, update: Update) -> Result<(), WuError> {
        self.writable("Insert")?;
        let i = usize::try_from(index).ok().filter(|i| *i <= self.items.len());
        let Some(i) = i else { return Err(invalid_index(index, self.items.len())) };
        self.items.insert(i, update);
        Ok(())
    }

    /// `RemoveAt(index)`.
    pub fn remove_at(&mut self, index: i32) -> Result<(), WuError> {
        self.writable("RemoveAt")?;
        let i = usize::try_from(index).ok().filter(|i| *i < self.items.len());
        let Some(i) = i else { return Err(invalid_index(index, self.items.len())) };
        self.items.remove(i);
        Ok(())
    }

    /// `Clear`.
    pub fn clear(&mut self) -> Result<(), WuError> {
        self.writable("Clear")?;
        self.items.clear();
        Ok(())
    }

    /// `Copy`: a writable shallow copy (the same update objects, D-33).
    pub fn copy(&self) -> UpdateCollection {
        UpdateCollection { items: self.items.clone(), read_only: false }
    }

    /// The updates as a slice.
    pub fn as_slice(&self) -> &[Update] {
        &self.items
    }
}

impl FromIterator<Update> for UpdateCollection {
    fn from_iter<T: IntoIterator<Item = Update>>(iter: T) -> Self {
        UpdateCollection { items: iter.into_iter().collect(), read_only: false }
    }
}

impl<'a> IntoIterator for &'a UpdateCollection {
    type Item = &'a Update;
    type IntoIter = std::slice::Iter<'a, Update>;
    fn into_iter(self) -> Self::IntoIter {
        self.items.iter()
    }
}

pub(crate) fn invalid_index(index: i32, count: usize) -> WuError {
    WuError::new(HResult::WU_E_INVALIDINDEX, format!("index {index} is out of range (count {count})"))
}
