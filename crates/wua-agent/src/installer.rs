//! `IUpdateInstaller`, synchronous half: validation in D-6..D-11's order, then one outcome per
//! update (D-1..D-5, D-12..D-16), each recorded in history.

use std::sync::Mutex;

use wua_install::{ContentCache, InstallLock, Target, files, recover};
use wua_store::{Store, Tx};
use wua_types::{
    HResult, Handler, InstallationImpact, InstallationResult, OperationResultCode, Update, UpdateCollection,
    UpdateDocument, UpdateInstallationResult, UpdateOperation, WuError,
};

use crate::access::is_writable;
use crate::session::{SessionInner, UpdateSession, eula_hash, lock};

/// `IUpdateInstaller` (with `IUpdateInstaller2..4`'s members).
#[derive(Debug)]
pub struct UpdateInstaller {
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
        lock(&self.settings).updates.as_ref().map(|c| UpdateCollection::read_only_from(c.as_slice().to_vec()))
    }

    /// `Updates` (put).
    pub fn set_updates(&self, updates: UpdateCollection) {
        lock(&self.settings).updates = Some(updates);
    }

    /// `IsForced` (default false, D-34): reinstall what is installed, uninstall what is not,
    /// and install or uninstall although a reboot is pending (D-9).
    pub fn is_forced(&self) -> bool {
        lock(&self.settings).is_forced
    }

    /// Sets `IsForced`.
    pub fn set_is_forced(&self, value: bool) {
        lock(&self.settings).is_forced = value;
    }

    /// `ForceQuiet` (default false): updates that may ask for input fail (D-16).
    pub fn force_quiet(&self) -> bool {
        lock(&self.settings).force_quiet
    }

    /// Sets `ForceQuiet`.
    pub fn set_force_quiet(&self, value: bool) {
        lock(&self.settings).force_quiet = value;
    }

    /// `AllowSourcePrompts` (default true; ignored: content always comes from the cache).
    pub fn allow_source_prompts(&self) -> bool {
        lock(&self.settings).allow_source_prompts
    }

    /// Sets `AllowSourcePrompts`.
    pub fn set_allow_source_prompts(&self, value: bool) {
        lock(&self.settings).allow_source_prompts = value;
    }

    /// `AttemptCloseAppsIfNecessary` (accepted and ignored).
    pub fn attempt_close_apps_if_necessary(&self) -> bool {
        lock(&self.settings).attempt_close_apps_if_necessary
    }

    /// Sets `AttemptCloseAppsIfNecessary`.
    pub fn set_attempt_close_apps_if_necessary(&self, value: bool) {
        lock(&self.settings).attempt_close_apps_if_necessary = value;
    }

    /// `ClientApplicationID`, inherited from the session.
    pub fn client_application_id(&self) -> String {
        lock(&self.settings).client_application_id.clone()
    }

    /// Sets `ClientApplicationID`.
    pub fn set_client_application_id(&self, id: impl Into<String>) {
        lock(&self.settings).client_application_id = id.into();
    }

    /// `RebootRequiredBeforeInstallation` (D-9): an `AlwaysRequiresReboot` update (or a
    /// handler's request) was installed or removed in this boot.
    pub fn reboot_required_before_installation(&self) -> Result<bool, WuError> {
        let boot = self.session.inner.boot_id.current();
        Ok(self.session.store().read()?.pending_reboots(&boot)?.iter().any(|r| r.blocking))
    }

    /// `Install`.
    pub fn install(&self) -> Result<InstallationResult, WuError> {
        self.run(UpdateOperation::Installation)
    }

    /// `Uninstall`.
    pub fn uninstall(&self) -> Result<InstallationResult, WuError> {
        self.run(UpdateOperation::Uninstallation)
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

    fn run(&self, operation: UpdateOperation) -> Result<InstallationResult, WuError> {
        let settings = lock(&self.settings).clone();
        let inner = &self.session.inner;
        check_writable(inner)?;
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
        let lock = InstallLock::acquire(&inner.state_dir, &inner.root)?;
        let mut store = Store::open(&inner.state_dir)?;
        let boot_id = inner.boot_id.current();
        let target = Target {
            root: &inner.root,
            state_dir: &inner.state_dir,
            boot_id: &boot_id,
            client_application_id: &settings.client_application_id,
        };
        // D-17: finish whatever a crash interrupted before doing anything else.
        recover(&target, &mut store, &lock).map_err(WuError::from)?;
        {
            let tx = store.write()?;
            tx.clear_reboots_not_of(&boot_id)?;
            tx.commit()?;
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
        let mut results = Vec::with_capacity(updates.len());
        for update in &updates {
            let doc = update.document();
            let mut progress = |_pct: u32| {};
            let result = match precheck(&mut store, &inner.state_dir, doc, operation, &settings)? {
                Some(r) => {
                    record(&mut store, doc, operation, &r, &settings.client_application_id)?;
                    r
                }
                None => match operation {
                    UpdateOperation::Installation => files::install(&target, &mut store, &lock, doc, &mut progress),
                    UpdateOperation::Uninstallation => {
                        let installed_doc = installed_document(&mut store, doc)?;
                        files::uninstall(&target, &mut store, &lock, &installed_doc, &mut progress)
                    }
                },
            };
            results.push(result);
        }
        Ok(InstallationResult::aggregate(results, false))
    }
}

/// D-6: the process must be able to write the state directory and the target root.
pub(crate) fn check_writable(inner: &SessionInner) -> Result<(), WuError> {
    for (what, dir) in [("state directory", &inner.state_dir), ("target root", &inner.root)] {
        if !is_writable(dir) {
            return Err(WuError::new(
                HResult::E_ACCESSDENIED,
                format!("this process cannot write the {what} {}", dir.display()),
            ));
        }
    }
    Ok(())
}

fn behavior(doc: &UpdateDocument, operation: UpdateOperation) -> &wua_types::InstallationBehavior {
    match operation {
        UpdateOperation::Installation => &doc.installation_behavior,
        UpdateOperation::Uninstallation => &doc.uninstallation_behavior,
    }
}

/// The outcomes decided before a handler runs, in order: D-5, D-16, D-14, D-42, D-12.
fn precheck(
    store: &mut Store,
    state_dir: &std::path::Path,
    doc: &UpdateDocument,
    operation: UpdateOperation,
    settings: &Settings,
) -> Result<Option<UpdateInstallationResult>, WuError> {
    let tx = store.read()?;
    let id = &doc.update_id;
    let done = |code| Ok(Some(UpdateInstallationResult::new(OperationResultCode::Succeeded, code)));
    let failed = |code, message: String| Ok(Some(UpdateInstallationResult::failed(code, message)));
    match operation {
        UpdateOperation::Installation => {
            if !settings.is_forced && installed_equivalent(&tx, doc)? {
                return done(HResult::WU_S_ALREADY_INSTALLED);
            }
            if settings.force_quiet && doc.installation_behavior.can_request_user_input {
                return failed(
                    HResult::WU_E_UH_DOESNOTSUPPORTACTION,
                    format!("update {id} may ask for input and force_quiet is set"),
                );
            }
            if let Some(text) = &doc.eula {
                if !tx.eula_accepted(id, &eula_hash(text))? {
                    return failed(
                        HResult::WU_E_EULAS_DECLINED,
                        format!("the license terms of update {id} are not accepted"),
                    );
                }
            }
        }
        UpdateOperation::Uninstallation => {
            if !settings.is_forced && tx.installed(id)?.is_none() {
                return done(HResult::WU_S_ALREADY_UNINSTALLED);
            }
            if !doc.is_uninstallable {
                return failed(HResult::WU_E_UH_DOESNOTSUPPORTACTION, format!("update {id} cannot be uninstalled"));
            }
            if settings.force_quiet && doc.uninstallation_behavior.can_request_user_input {
                return failed(
                    HResult::WU_E_UH_DOESNOTSUPPORTACTION,
                    format!("update {id} may ask for input and force_quiet is set"),
                );
            }
        }
    }
    match &doc.handler {
        Handler::Files => {}
        Handler::Command(_) => {
            return failed(
                HResult::WU_E_UH_UNKNOWNHANDLER,
                format!("update {id}: the command handler is not available in this build yet"),
            );
        }
        Handler::Unknown(_) => {
            return failed(
                HResult::WU_E_UH_UNKNOWNHANDLER,
                format!("update {id}: handler {:?} is not known to this agent (D-42)", doc.handler.kind()),
            );
        }
    }
    if operation == UpdateOperation::Installation && !ContentCache::new(state_dir).has_all(&doc.content) {
        return failed(HResult::WU_E_DM_NOTDOWNLOADED, format!("update {id}: content is missing from the cache"));
    }
    Ok(None)
}

/// D-40: the update id is installed at this revision or a newer one (an older revision is not
/// offered over a newer one), or at an older revision with the same content (until rules
/// exist, content decides whether a newer revision is needed).
pub(crate) fn installed_equivalent(tx: &Tx<'_>, doc: &UpdateDocument) -> Result<bool, WuError> {
    let Some(installed) = tx.installed(&doc.update_id)? else { return Ok(false) };
    if installed.revision >= doc.revision_number {
        return Ok(true);
    }
    Ok(match tx.document(&doc.update_id, installed.revision)? {
        Some(old) => old.content == doc.content,
        None => false,
    })
}

/// For an uninstall, the installed revision's document (its uninstall behaviour applies).
fn installed_document(store: &mut Store, doc: &UpdateDocument) -> Result<UpdateDocument, WuError> {
    let tx = store.read()?;
    let installed = match tx.installed(&doc.update_id)? {
        Some(rec) if rec.revision != doc.revision_number => tx.document(&doc.update_id, rec.revision)?,
        _ => None,
    };
    Ok(installed.unwrap_or_else(|| doc.clone()))
}

fn record(
    store: &mut Store,
    doc: &UpdateDocument,
    operation: UpdateOperation,
    result: &UpdateInstallationResult,
    client_application_id: &str,
) -> Result<(), WuError> {
    let tx = store.write()?;
    tx.append_history(&wua_install::history_entry(doc, operation, result, client_application_id, false))?;
    tx.commit()?;
    Ok(())
}
