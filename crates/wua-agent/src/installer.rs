//! `IUpdateInstaller`: its properties, validation in D-6..D-11's order, and the job calls
//! (`begin_*` / `end_*`, D-18..D-25). `install` and `uninstall` are `begin` + `end`, so both
//! halves share one engine (the job's thread, in `worker`).

use std::sync::Mutex;
use std::time::Duration;

use wua_install::DEFAULT_LOCK_WAIT;
use wua_install::{InstallLock, Target, bind_root, recover};
use wua_store::Store;
use wua_types::{
    HResult, InstallationImpact, InstallationResult, Update, UpdateCollection, UpdateDocument, UpdateOperation,
    WuError, lock_unpoisoned,
};

use crate::access::check_writable;
use crate::job::{AsyncState, CompletedCallback, InstallationJob, ProgressCallback};
use crate::session::UpdateSession;
use crate::worker::Work;

/// `IUpdateInstaller` (with `IUpdateInstaller2..4`'s members).
#[derive(Debug)]
pub struct UpdateInstaller {
    id: u64,
    session: UpdateSession,
    settings: Mutex<Settings>,
}

#[derive(Clone, Debug)]
struct Settings {
    updates: Option<UpdateCollection>,
    is_forced: bool,
    force_quiet: bool,
    allow_source_prompts: bool,
    attempt_close_apps_if_necessary: bool,
    client_application_id: String,
}

impl UpdateInstaller {
    pub(crate) fn new(session: UpdateSession) -> Self {
        let client_application_id = session.client_application_id();
        UpdateInstaller {
            id: crate::job::next_owner_id(),
            session,
            settings: Mutex::new(Settings {
                updates: None,
                is_forced: false,
                force_quiet: false,
                allow_source_prompts: true,
                attempt_close_apps_if_necessary: false,
                client_application_id,
            }),
        }
    }

    /// `Updates` (get): a read-only view of the collection to act on.
    pub fn updates(&self) -> Option<UpdateCollection> {
        lock_unpoisoned(&self.settings)
            .updates
            .as_ref()
            .map(|c| UpdateCollection::read_only_from(c.as_slice().to_vec()))
    }

    /// `Updates` (put).
    pub fn set_updates(&self, updates: UpdateCollection) {
        lock_unpoisoned(&self.settings).updates = Some(updates);
    }

    /// `IsForced` (default false, D-34): reinstall what is installed, uninstall what is not,
    /// and install or uninstall although a reboot is pending (D-9).
    pub fn is_forced(&self) -> bool {
        lock_unpoisoned(&self.settings).is_forced
    }

    /// Sets `IsForced`.
    pub fn set_is_forced(&self, value: bool) {
        lock_unpoisoned(&self.settings).is_forced = value;
    }

    /// `ForceQuiet` (default false): updates that may ask for input fail (D-16).
    pub fn force_quiet(&self) -> bool {
        lock_unpoisoned(&self.settings).force_quiet
    }

    /// Sets `ForceQuiet`.
    pub fn set_force_quiet(&self, value: bool) {
        lock_unpoisoned(&self.settings).force_quiet = value;
    }

    /// `AllowSourcePrompts` (default true; ignored: content always comes from the cache).
    pub fn allow_source_prompts(&self) -> bool {
        lock_unpoisoned(&self.settings).allow_source_prompts
    }

    /// Sets `AllowSourcePrompts`.
    pub fn set_allow_source_prompts(&self, value: bool) {
        lock_unpoisoned(&self.settings).allow_source_prompts = value;
    }

    /// `AttemptCloseAppsIfNecessary` (accepted and ignored).
    pub fn attempt_close_apps_if_necessary(&self) -> bool {
        lock_unpoisoned(&self.settings).attempt_close_apps_if_necessary
    }

    /// Sets `AttemptCloseAppsIfNecessary`.
    pub fn set_attempt_close_apps_if_necessary(&self, value: bool) {
        lock_unpoisoned(&self.settings).attempt_close_apps_if_necessary = value;
    }

    /// `ClientApplicationID`, inherited from the session.
    pub fn client_application_id(&self) -> String {
        lock_unpoisoned(&self.settings).client_application_id.clone()
    }

    /// Sets `ClientApplicationID`.
    pub fn set_client_application_id(&self, id: impl Into<String>) {
        lock_unpoisoned(&self.settings).client_application_id = id.into();
    }

    /// `RebootRequiredBeforeInstallation` (D-9): an `AlwaysRequiresReboot` update (or a
    /// handler's request) was installed or removed in this boot.
    pub fn reboot_required_before_installation(&self) -> Result<bool, WuError> {
        let boot = self.session.inner.boot_id.current();
        Ok(self.session.store().read()?.pending_reboots(&boot)?.iter().any(|r| r.blocking))
    }

    /// `IsBusy` (D-8): an install or uninstall holds this session's state directory or target
    /// root now, in this or another process. Advisory, as in WUA.
    pub fn is_busy(&self) -> Result<bool, WuError> {
        let inner = &self.session.inner;
        Ok(wua_install::lock_holder(&inner.state_dir, &inner.root)?.is_some())
    }

    /// `Install`: `begin_install` and `end_install` in one call.
    pub fn install(&self) -> Result<InstallationResult, WuError> {
        let job = self.begin(UpdateOperation::Installation, None, None, None)?;
        self.end_install(&job)
    }

    /// `Uninstall`: `begin_uninstall` and `end_uninstall` in one call.
    pub fn uninstall(&self) -> Result<InstallationResult, WuError> {
        let job = self.begin(UpdateOperation::Uninstallation, None, None, None)?;
        self.end_uninstall(&job)
    }

    /// `BeginInstall`: validates as `install` does (D-6..D-10, call errors at once), then
    /// returns a running job; no callback runs before this returns (D-18).
    pub fn begin_install(
        &self,
        on_progress_changed: Option<ProgressCallback>,
        on_completed: Option<CompletedCallback>,
        state: Option<AsyncState>,
    ) -> Result<InstallationJob, WuError> {
        self.begin(UpdateOperation::Installation, on_progress_changed, on_completed, state)
    }

    /// `BeginUninstall`.
    pub fn begin_uninstall(
        &self,
        on_progress_changed: Option<ProgressCallback>,
        on_completed: Option<CompletedCallback>,
        state: Option<AsyncState>,
    ) -> Result<InstallationJob, WuError> {
        self.begin(UpdateOperation::Uninstallation, on_progress_changed, on_completed, state)
    }

    /// `EndInstall`: waits for the job, then returns its result once (D-21).
    pub fn end_install(&self, job: &InstallationJob) -> Result<InstallationResult, WuError> {
        self.check_job(job, UpdateOperation::Installation)?;
        job.end(None)
    }

    /// `EndUninstall` (D-21).
    pub fn end_uninstall(&self, job: &InstallationJob) -> Result<InstallationResult, WuError> {
        self.check_job(job, UpdateOperation::Uninstallation)?;
        job.end(None)
    }

    /// `EndInstall` with a time-out (D-22): `WU_E_TIME_OUT` when the job is not done in time,
    /// without consuming it, so the caller can wait again or abort.
    pub fn end_install_timeout(&self, job: &InstallationJob, timeout: Duration) -> Result<InstallationResult, WuError> {
        self.check_job(job, UpdateOperation::Installation)?;
        job.end(Some(timeout))
    }

    /// `EndUninstall` with a time-out (D-22).
    pub fn end_uninstall_timeout(
        &self,
        job: &InstallationJob,
        timeout: Duration,
    ) -> Result<InstallationResult, WuError> {
        self.check_job(job, UpdateOperation::Uninstallation)?;
        job.end(Some(timeout))
    }

    /// `EndInstall` as a future (D-22): resolves when the job completes; it never blocks a
    /// runtime's thread.
    pub async fn end_install_async(&self, job: &InstallationJob) -> Result<InstallationResult, WuError> {
        self.check_job(job, UpdateOperation::Installation)?;
        job.end_future().await
    }

    /// `EndUninstall` as a future (D-22).
    pub async fn end_uninstall_async(&self, job: &InstallationJob) -> Result<InstallationResult, WuError> {
        self.check_job(job, UpdateOperation::Uninstallation)?;
        job.end_future().await
    }

    /// `RunWizard`: the library has no user interface (D-37); the CLI offers the interactive
    /// flow.
    pub fn run_wizard(&self, _dialog_title: &str) -> Result<InstallationResult, WuError> {
        Err(WuError::new(
            HResult::WU_E_NO_UI_SUPPORT,
            "the wua library has no user interface; use the wua command line",
        ))
    }

    /// `Commit(flags)`: accepted; nothing is staged for the next boot by wua's handlers (D-37).
    pub fn commit(&self, _flags: u32) -> Result<(), WuError> {
        Ok(())
    }

    /// D-21: the job must be this installer's and of the operation asked for; `end_*` from
    /// inside the job's own callback would wait for itself (D-24).
    fn check_job(&self, job: &InstallationJob, operation: UpdateOperation) -> Result<(), WuError> {
        if job.inner.owner_id != self.id {
            return Err(WuError::new(HResult::E_INVALIDARG, "the job was begun by another installer"));
        }
        if job.operation() != operation {
            let (given, asked) = match operation {
                UpdateOperation::Installation => ("an uninstall job", "end_install"),
                UpdateOperation::Uninstallation => ("an install job", "end_uninstall"),
            };
            return Err(WuError::new(HResult::E_INVALIDARG, format!("{given} was given to {asked}")));
        }
        job.refuse_inside_callback(match operation {
            UpdateOperation::Installation => "end_install",
            UpdateOperation::Uninstallation => "end_uninstall",
        })
    }

    /// Validation in D-6, D-7, D-8, D-9, D-10's order (after recovering what a crash left,
    /// D-17), then the job's thread.
    fn begin(
        &self,
        operation: UpdateOperation,
        on_progress_changed: Option<ProgressCallback>,
        on_completed: Option<CompletedCallback>,
        state: Option<AsyncState>,
    ) -> Result<InstallationJob, WuError> {
        let settings = lock_unpoisoned(&self.settings).clone();
        let inner = &self.session.inner;
        check_writable(&inner.state_dir, &inner.root)?;
        // D-7, D-11: the collection is snapshotted now.
        let updates: Vec<Update> = match &settings.updates {
            Some(c) if !c.is_empty() => c.as_slice().to_vec(),
            _ => {
                return Err(WuError::new(
                    HResult::WU_E_NO_UPDATE,
                    "the installer's update collection is unset or empty",
                ));
            }
        };
        // D-8
        let lock = InstallLock::acquire(&inner.state_dir, &inner.root, DEFAULT_LOCK_WAIT)?;
        // The blobs this job installs from stay while it runs (`wua cache clean` waits).
        let cache = wua_install::ContentCache::new(&inner.state_dir).hold_shared()?;
        let mut store = Store::open(&inner.state_dir)?;
        let boot_id = inner.boot_id.current();
        // A state directory serves one root: checked before any journal record is touched.
        let root_id = bind_root(&mut store, &inner.state_dir, &inner.root, &lock)?;
        {
            let target = Target {
                root: &inner.root,
                root_id: &root_id,
                state_dir: &inner.state_dir,
                boot_id: &boot_id,
                origin: wua_types::Origin {
                    client_application_id: &settings.client_application_id,
                    server_selection: wua_types::ServerSelection::Others,
                    service_id: "",
                },
            };
            // D-17: finish whatever a crash interrupted before doing anything else.
            let recovered = recover(&target, &mut store, &lock).map_err(WuError::from)?;
            tracing::debug!(recovered = recovered.len(), "install: interrupted operations recovered");
            store.transact(|tx| tx.clear_reboots_not_of(&boot_id))?;
        }
        // D-9
        let pending = store.read()?.pending_reboots(&boot_id)?;
        if let Some(r) = pending.iter().find(|r| r.blocking) {
            if !settings.is_forced {
                return Err(WuError::new(
                    HResult::WU_E_INSTALL_NOT_ALLOWED,
                    format!(
                        "a reboot is pending (update {} asked for one in this boot); reboot first or set is_forced",
                        r.update_id
                    ),
                ));
            }
        }
        // D-10
        if updates.len() > 1 {
            let exclusive = updates
                .iter()
                .find(|u| behavior(u.document(), operation).impact == InstallationImpact::RequiresExclusiveHandling);
            if let Some(u) = exclusive {
                return Err(WuError::new(
                    HResult::WU_E_EXCLUSIVE_INSTALL_CONFLICT,
                    format!(
                        "update {} needs exclusive handling and cannot be combined with others",
                        u.identity().update_id
                    ),
                ));
            }
        }
        let job = InstallationJob::new(
            self.id,
            operation,
            UpdateCollection::read_only_from(updates.clone()),
            on_progress_changed,
            on_completed,
            state,
        );
        let work = Work {
            job: job.clone(),
            session: self.session.clone(),
            operation,
            updates,
            is_forced: settings.is_forced,
            force_quiet: settings.force_quiet,
            client_application_id: settings.client_application_id,
            boot_id,
            root_id,
            lock,
            cache,
            store,
        };
        job.spawn_worker("wua-installation-job", move || work.run())?;
        Ok(job)
    }
}

pub(crate) fn behavior(doc: &UpdateDocument, operation: UpdateOperation) -> &wua_types::InstallationBehavior {
    match operation {
        UpdateOperation::Installation => &doc.installation_behavior,
        UpdateOperation::Uninstallation => &doc.uninstallation_behavior,
    }
}
