//! `IUpdateSession`: a state directory, a target root and the caller's identity.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use wua_install::command::{CommandOptions, DEFAULT_TERMINATE_GRACE, MAX_TERMINATE_GRACE};
use wua_install::{BootIdSource, ContentCache, InstallLock, RecoveredOperation, Target};
use wua_package::OpenLimits;
use wua_store::{Store, StoreError};
use wua_types::{
    AutomaticUpdatesResults, HResult, Update, UpdateCollection, UpdateDocument, UpdateFlags, UpdateStateSink, WuError,
    lock_unpoisoned,
};

use crate::access::is_writable;
use crate::installer::UpdateInstaller;
use crate::searcher::UpdateSearcher;
use crate::system::SystemInformation;

/// The default state directory.
pub const DEFAULT_STATE_DIR: &str = "/var/lib/wua";

/// How to open a session.
#[derive(Clone, Debug)]
pub struct SessionOptions {
    /// The agent's state directory (datastore, cache, locks, logs).
    pub state_dir: PathBuf,
    /// The target root updates install into.
    pub root: PathBuf,
    /// Where the boot id comes from (D-9).
    pub boot_id: BootIdSource,
    /// What opening a standalone package may write (its declared content is checked against
    /// these and the cache's free space before a byte is written).
    pub package_limits: OpenLimits,
    /// How long a `command` program has between SIGTERM and SIGKILL when the agent ends it
    /// (an abort, its time limit; D-23), unless the update's metadata gives its own
    /// `terminate_grace_secs`, which wins. Default 2 s; at most one hour (`open` refuses more
    /// with `E_INVALIDARG`).
    pub terminate_grace: Duration,
}

impl SessionOptions {
    /// Options for a state directory and a root, with the system's boot id.
    pub fn new(state_dir: impl Into<PathBuf>, root: impl Into<PathBuf>) -> Self {
        SessionOptions {
            state_dir: state_dir.into(),
            root: root.into(),
            boot_id: BootIdSource::System,
            package_limits: OpenLimits::default(),
            terminate_grace: DEFAULT_TERMINATE_GRACE,
        }
    }
}

/// `IUpdateSession`. Cheap to clone; clones share state.
#[derive(Clone, Debug)]
pub struct UpdateSession {
    pub(crate) inner: Arc<SessionInner>,
}

#[derive(Debug)]
pub(crate) struct SessionInner {
    pub(crate) state_dir: PathBuf,
    pub(crate) root: PathBuf,
    pub(crate) boot_id: BootIdSource,
    package_limits: OpenLimits,
    /// How `command` programs run (D-23's grace).
    pub(crate) command_options: CommandOptions,
    store: Mutex<Store>,
    client_application_id: Mutex<String>,
    /// Services added for this session only (without `NonVolatileService`).
    pub(crate) services: Mutex<Vec<wua_store::ServiceRecord>>,
}

impl UpdateSession {
    /// Opens a session: creates the state directory if needed and opens its datastore
    /// (read-only when the process cannot write it; installs then fail with
    /// `E_ACCESSDENIED`, D-6). A `terminate_grace` over one hour -> `E_INVALIDARG`.
    pub fn open(options: SessionOptions) -> Result<Self, WuError> {
        let SessionOptions { state_dir, root, boot_id, package_limits, terminate_grace } = options;
        if terminate_grace > MAX_TERMINATE_GRACE {
            return Err(WuError::new(
                HResult::E_INVALIDARG,
                format!(
                    "terminate_grace of {} s is longer than the longest allowed, {} s",
                    terminate_grace.as_secs_f64(),
                    MAX_TERMINATE_GRACE.as_secs()
                ),
            ));
        }
        let state_err = |what: String| {
            WuError::new(HResult::WUA_E_STATE_DIR, format!("state directory {}: {what}", state_dir.display()))
        };
        match std::fs::metadata(&state_dir) {
            Ok(m) if !m.is_dir() => return Err(state_err("is not a directory".into())),
            Ok(_) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                std::fs::create_dir_all(&state_dir).map_err(|e| state_err(format!("cannot be created: {e}")))?;
            }
            Err(e) => return Err(state_err(e.to_string())),
        }
        let state_dir = fs_err::canonicalize(&state_dir).map_err(|e| state_err(e.to_string()))?;
        let root = match fs_err::canonicalize(&root) {
            Ok(r) if r.is_dir() => r,
            Ok(r) => {
                return Err(WuError::new(
                    HResult::COR_E_DIRECTORYNOTFOUND,
                    format!("target root {} is not a directory", r.display()),
                ));
            }
            Err(e) => return Err(WuError::new(HResult::COR_E_DIRECTORYNOTFOUND, format!("target root: {e}"))),
        };
        let store = if is_writable(&state_dir) { Store::open(&state_dir) } else { Store::open_read_only(&state_dir) };
        let store = store.map_err(|e| {
            // A datastore this process cannot open is a matter of access; a schema it cannot
            // use (older, newer) keeps its own code.
            let code = match e {
                StoreError::Sqlite { .. } if !is_writable(&state_dir) => HResult::E_ACCESSDENIED,
                _ => e.hresult(),
            };
            WuError::new(code, e.to_string())
        })?;
        Ok(UpdateSession {
            inner: Arc::new(SessionInner {
                state_dir,
                root,
                boot_id,
                package_limits,
                command_options: CommandOptions { terminate_grace },
                store: Mutex::new(store),
                client_application_id: Mutex::new("Unknown".into()),
                services: Mutex::new(Vec::new()),
            }),
        })
    }

    /// The state directory (canonical).
    pub fn state_dir(&self) -> &Path {
        &self.inner.state_dir
    }

    /// The target root (canonical).
    pub fn root(&self) -> &Path {
        &self.inner.root
    }

    /// `ClientApplicationID` ("Unknown" until set, D-34).
    pub fn client_application_id(&self) -> String {
        lock_unpoisoned(&self.inner.client_application_id).clone()
    }

    /// Sets `ClientApplicationID`; installers created afterwards inherit it.
    pub fn set_client_application_id(&self, id: impl Into<String>) {
        *lock_unpoisoned(&self.inner.client_application_id) = id.into();
    }

    /// `CreateUpdateInstaller`.
    pub fn create_update_installer(&self) -> UpdateInstaller {
        UpdateInstaller::new(self.clone())
    }

    /// `CreateUpdateSearcher`.
    pub fn create_update_searcher(&self) -> UpdateSearcher {
        UpdateSearcher::new(self.clone())
    }

    /// `SystemInformation`.
    pub fn system_information(&self) -> SystemInformation {
        SystemInformation::new(self.clone())
    }

    /// Opens a standalone package: verifies it, puts its content in the cache and records its
    /// update, which then counts as downloaded (as WUA's standalone installer does). A bad
    /// package changes nothing.
    pub fn open_package(&self, path: &Path) -> Result<Update, WuError> {
        self.open_package_observed(path, Arc::default())
    }

    /// [`UpdateSession::open_package`], counting the bytes of the file read so far into
    /// `bytes_read` (for a progress display on another thread).
    pub fn open_package_observed(
        &self,
        path: &Path,
        bytes_read: Arc<std::sync::atomic::AtomicU64>,
    ) -> Result<Update, WuError> {
        self.require_writable(&format!("import {}", path.display()))?;
        let cache = ContentCache::new(&self.inner.state_dir);
        cache.ensure()?;
        let limits = &self.inner.package_limits;
        let package = wua_package::open_package_observed(path, cache.dir(), &|_| false, limits, bytes_read)?;
        for blob in &package.staged {
            cache.adopt(&blob.path, &blob.sha256)?;
        }
        let document = package.document.clone();
        package.keep();
        self.store().transact(|tx| tx.put_document(&document))?;
        self.update_for(Arc::new(document))
    }

    /// `E_ACCESSDENIED` when this process cannot write the state directory (D-6), naming what
    /// it was about to do.
    pub(crate) fn require_writable(&self, what: &str) -> Result<(), WuError> {
        if is_writable(&self.inner.state_dir) {
            return Ok(());
        }
        Err(WuError::new(
            HResult::E_ACCESSDENIED,
            format!("cannot write the state directory {} to {what}", self.inner.state_dir.display()),
        ))
    }

    /// `IAutomaticUpdates2::Results` (`IAutomaticUpdatesResults`): when a search through an
    /// [`UpdateSearcher`] last succeeded and when an installation last ended `Succeeded` or
    /// `SucceededWithErrors` (RFC 3339 UTC; `None` for never; D-44).
    pub fn automatic_updates_results(&self) -> Result<AutomaticUpdatesResults, WuError> {
        Ok(self.store().read()?.automatic_updates_results()?)
    }

    /// Records now as `LastSearchSuccessDate` (D-44). A search must not fail over it: a process
    /// that cannot write the state directory (an unprivileged user searching offline) searches
    /// without recording, and any other failure is logged.
    pub(crate) fn record_search_success(&self) {
        if !is_writable(&self.inner.state_dir) {
            tracing::debug!(
                state_dir = %self.inner.state_dir.display(),
                "the state directory is not writable: the search's date is not recorded"
            );
            return;
        }
        let at = wua_store::now_rfc3339();
        if let Err(e) = self.store().transact(|tx| tx.set_last_search_success(&at)) {
            // A session opened read-only keeps its read-only connection even if the directory
            // became writable since: not worth more than a debug line either.
            tracing::debug!(error = %e, "the search's date could not be recorded");
        }
    }

    /// The newest recorded revision of an update id, or `None`.
    pub fn find_update(&self, update_id: &str) -> Result<Option<Update>, WuError> {
        let doc = self.store().read()?.latest_document(update_id)?;
        doc.map(|d| self.update_for(Arc::new(d))).transpose()
    }

    /// Operations a crash interrupted that still wait for recovery (read without the lock;
    /// recovery itself runs only under it, D-17). While an operation runs on this state
    /// directory (its lock is held) its journal record is live, not interrupted: then 0.
    pub fn interrupted_operations(&self) -> Result<usize, WuError> {
        if self.operation_in_progress()?.is_some() {
            return Ok(0);
        }
        Ok(self.store().read()?.journal()?.len())
    }

    /// The pid of the install, uninstall or recovery running on this state directory now, if
    /// any (advisory: it can end as soon as this returns).
    pub fn operation_in_progress(&self) -> Result<Option<u32>, WuError> {
        Ok(wua_install::state_holder(&self.inner.state_dir)?)
    }

    /// Finishes or undoes operations a crash interrupted (D-17), under the D-8 lock: what every
    /// install and uninstall does first, as a verb of its own (`wua recover`).
    pub fn recover(&self) -> Result<Vec<RecoveredOperation>, WuError> {
        let inner = &self.inner;
        crate::access::check_writable(&inner.state_dir, &inner.root)?;
        let lock = InstallLock::acquire(&inner.state_dir, &inner.root, wua_install::DEFAULT_LOCK_WAIT)?;
        let mut store = Store::open(&inner.state_dir)?;
        let root_id = wua_install::bind_root(&mut store, &inner.state_dir, &inner.root, &lock)?;
        let boot_id = inner.boot_id.current();
        let client = self.client_application_id();
        let target = Target {
            root: &inner.root,
            root_id: &root_id,
            state_dir: &inner.state_dir,
            boot_id: &boot_id,
            origin: wua_types::Origin {
                client_application_id: &client,
                server_selection: wua_types::ServerSelection::Others,
                service_id: "",
            },
        };
        Ok(wua_install::recover(&target, &mut store, &lock)?)
    }

    /// The paths (relative to the root) an installed `files` update owns, sorted: what
    /// `dpkg -L` lists.
    pub fn files_of(&self, update_id: &str) -> Result<Vec<String>, WuError> {
        Ok(self.store().read()?.files_of(update_id)?.into_iter().map(|f| f.path).collect())
    }

    /// The update id that owns `path` (relative to the root), if an installed update does:
    /// what `dpkg -S` answers.
    pub fn file_owner(&self, path: &str) -> Result<Option<String>, WuError> {
        Ok(self.store().read()?.file_owner(path)?.map(|f| f.update_id))
    }

    /// Every recorded update (newest revision of each), read-only.
    pub fn known_updates(&self) -> Result<UpdateCollection, WuError> {
        let docs = self.store().read()?.latest_documents()?;
        let items = docs.into_iter().map(|d| self.update_for(Arc::new(d))).collect::<Result<_, _>>()?;
        Ok(UpdateCollection::read_only_from(items))
    }

    /// Builds an `IUpdate` for a document with this machine's flags.
    pub(crate) fn update_for(&self, document: Arc<UpdateDocument>) -> Result<Update, WuError> {
        let flags = self.flags_of(&document)?;
        let sink: Arc<dyn UpdateStateSink> = self.inner.clone();
        Ok(Update::new(document, flags, Some(sink)))
    }

    fn flags_of(&self, doc: &UpdateDocument) -> Result<UpdateFlags, WuError> {
        let boot = self.inner.boot_id.current();
        let mut store = self.store();
        let tx = store.read()?;
        let is_installed = wua_install::installed_equivalent(&tx, &self.inner.root, doc)?;
        let eula_accepted = match &doc.eula {
            None => true,
            Some(text) => tx.eula_accepted(&doc.update_id, &eula_hash(text))?,
        };
        Ok(UpdateFlags {
            is_installed,
            is_downloaded: ContentCache::new(&self.inner.state_dir).has_all(&doc.content),
            is_hidden: tx.is_hidden(&doc.update_id)?,
            eula_accepted,
            reboot_required: tx.pending_reboots(&boot)?.iter().any(|r| r.update_id == doc.update_id),
            is_present: tx.installed(&doc.update_id)?.is_some(),
            deployment_action: None,
        })
    }

    pub(crate) fn store(&self) -> MutexGuard<'_, Store> {
        lock_unpoisoned(&self.inner.store)
    }
}

impl UpdateStateSink for SessionInner {
    fn accept_eula(&self, document: &UpdateDocument) -> Result<(), WuError> {
        let Some(text) = &document.eula else { return Ok(()) };
        Ok(lock_unpoisoned(&self.store).transact(|tx| tx.accept_eula(&document.update_id, &eula_hash(text)))?)
    }

    fn set_hidden(&self, update_id: &str, hidden: bool) -> Result<(), WuError> {
        Ok(lock_unpoisoned(&self.store).transact(|tx| tx.set_hidden(update_id, hidden))?)
    }
}

/// Acceptance is keyed by the EULA's text, so new terms in a new revision ask again.
pub(crate) fn eula_hash(text: &str) -> String {
    wua_fs::sha256_hex(text.as_bytes())
}
