//! The job's thread: one outcome per update (D-1..D-5, D-12..D-16), each recorded in history,
//! progress at the start and end of each update (D-20), aborts at safe points (D-23).
//!
//! The thread owns the D-8 lock and its own datastore connection for the job's lifetime and
//! releases both before the completion callback runs, so a callback may begin the next job.

use wua_install::{ContentCache, InstallLock, Target, command, files};
use wua_store::Store;
use wua_types::{
    HResult, Handler, InstallationResult, OperationResultCode, Origin, Update, UpdateDocument,
    UpdateInstallationResult, UpdateOperation, WuError,
};

use crate::job::{InstallationJob, JobMonitor};
use crate::session::{UpdateSession, eula_hash};

/// Everything a job's thread needs, validated and locked by `begin_*`.
pub(crate) struct Work {
    pub(crate) job: InstallationJob,
    pub(crate) session: UpdateSession,
    pub(crate) operation: UpdateOperation,
    pub(crate) updates: Vec<Update>,
    pub(crate) is_forced: bool,
    pub(crate) force_quiet: bool,
    pub(crate) client_application_id: String,
    pub(crate) boot_id: String,
    pub(crate) root_id: String,
    pub(crate) lock: InstallLock,
    pub(crate) cache: wua_install::CacheHold,
    pub(crate) store: Store,
}

impl Work {
    /// Runs the job to completion on the current thread.
    pub(crate) fn run(mut self) {
        let job = self.job.clone();
        job.set_worker();
        let mut results = Vec::with_capacity(self.updates.len());
        let mut aborted = false;
        for index in 0..self.updates.len() {
            if job.aborted() {
                aborted = true;
                break;
            }
            job.start_update(index);
            let mut monitor = JobMonitor::new(&job, index);
            let result = self.one(index, &mut monitor);
            if result.result_code == OperationResultCode::Aborted && result.hresult == HResult::WU_E_CALL_CANCELLED {
                aborted = true;
            }
            job.finish_update(index, &result);
            results.push(result);
            if aborted {
                break;
            }
        }
        // D-23: updates not started are reported aborted.
        while results.len() < self.updates.len() {
            results.push(UpdateInstallationResult::aborted("not started: an abort was requested"));
        }
        let result = InstallationResult::aggregate(results, aborted);
        if self.operation == UpdateOperation::Installation
            && matches!(result.result_code, OperationResultCode::Succeeded | OperationResultCode::SucceededWithErrors)
        {
            // `LastInstallationSuccessDate` (D-44); the job's outcome stands whatever happens here.
            let at = wua_store::now_rfc3339();
            if let Err(e) = self.store.transact(|tx| tx.set_last_installation_success(&at)) {
                tracing::warn!(error = %e, "the installation's date could not be recorded");
            }
        }
        // The lock and the connection go before the completion callback (see the module).
        let Work { lock, cache, store, .. } = self;
        drop(store);
        drop(cache);
        drop(lock);
        job.complete(result);
    }

    /// The outcome of update `index`.
    fn one(&mut self, index: usize, monitor: &mut JobMonitor<'_>) -> UpdateInstallationResult {
        let update = self.updates[index].clone();
        let doc = update.document();
        let started = std::time::Instant::now();
        tracing::debug!(update_id = %doc.update_id, revision = doc.revision_number, index, "install: update started");
        let outcome = self.precheck(doc).and_then(|decided| match decided {
            Some(result) => {
                self.record(&update, &result)?;
                Ok(result)
            }
            None => Ok(self.handle(&update, monitor)),
        });
        let result = outcome.unwrap_or_else(|e| {
            // A call-level failure once the job runs is this update's outcome (D-1).
            tracing::error!(update_id = %doc.update_id, error = %e, "an update could not be processed");
            UpdateInstallationResult::failed(e.hresult, e.message)
        });
        tracing::debug!(
            update_id = %doc.update_id,
            result = %result.result_code,
            hresult = %result.hresult,
            reboot_required = result.reboot_required,
            ms = started.elapsed().as_millis() as u64,
            "install: update finished"
        );
        result
    }

    fn handle(&mut self, update: &Update, monitor: &mut JobMonitor<'_>) -> UpdateInstallationResult {
        let session = &self.session.inner;
        let doc = update.document().as_ref();
        let target = Target {
            root: &session.root,
            root_id: &self.root_id,
            state_dir: &session.state_dir,
            boot_id: &self.boot_id,
            origin: origin(&self.client_application_id, update),
        };
        // An uninstall acts on the installed revision (its files and its uninstall command).
        let installed;
        let doc = match self.operation {
            UpdateOperation::Installation => doc,
            UpdateOperation::Uninstallation => match installed_document(&mut self.store, doc) {
                Ok(d) => {
                    installed = d;
                    &installed
                }
                Err(e) => return UpdateInstallationResult::failed(e.hresult, e.message),
            },
        };
        // What is installed is recorded with its document (an update found by a search is
        // known only to its service's index until then); a revision never changes.
        if self.operation == UpdateOperation::Installation {
            if let Err(e) = self.store.transact(|tx| tx.put_document(doc)) {
                return UpdateInstallationResult::failed(e.hresult(), e.to_string());
            }
        }
        match (&doc.handler, self.operation) {
            (Handler::Files, UpdateOperation::Installation) => {
                files::install(&target, &mut self.store, &self.lock, doc, monitor)
            }
            (Handler::Files, UpdateOperation::Uninstallation) => {
                files::uninstall(&target, &mut self.store, &self.lock, doc, monitor)
            }
            (Handler::Command(_), operation) => {
                command::run(&target, &mut self.store, &self.lock, doc, operation, &session.command_options, monitor)
            }
            // `precheck` answered these (D-42).
            (Handler::Unknown(_), _) => UpdateInstallationResult::failed(
                HResult::WU_E_UH_UNKNOWNHANDLER,
                format!("update {}: unknown handler", doc.update_id),
            ),
        }
    }

    /// The outcomes decided before a handler runs, in order: D-5, D-16, D-14, D-42, D-12.
    fn precheck(&mut self, doc: &UpdateDocument) -> Result<Option<UpdateInstallationResult>, WuError> {
        let tx = self.store.read()?;
        let id = &doc.update_id;
        let done = |code| Ok(Some(UpdateInstallationResult::new(OperationResultCode::Succeeded, code)));
        let failed = |code, message: String| Ok(Some(UpdateInstallationResult::failed(code, message)));
        let quiet = |message| failed(HResult::WU_E_UH_DOESNOTSUPPORTACTION, message);
        match self.operation {
            UpdateOperation::Installation => {
                if !self.is_forced && wua_install::installed_equivalent(&tx, &self.session.inner.root, doc)? {
                    return done(HResult::WU_S_ALREADY_INSTALLED);
                }
                if self.force_quiet && doc.installation_behavior.can_request_user_input {
                    return quiet(format!("update {id} may ask for input and force_quiet is set"));
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
                let installed = match wua_install::installed_by_rule(&tx, &self.session.inner.root, doc)? {
                    Some(verdict) => verdict,
                    None => tx.installed(id)?.is_some(),
                };
                if !self.is_forced && !installed {
                    return done(HResult::WU_S_ALREADY_UNINSTALLED);
                }
                if !doc.is_uninstallable {
                    return quiet(format!("update {id} cannot be uninstalled"));
                }
                if self.force_quiet && doc.uninstallation_behavior.can_request_user_input {
                    return quiet(format!("update {id} may ask for input and force_quiet is set"));
                }
            }
        }
        if let Handler::Unknown(_) = &doc.handler {
            return failed(
                HResult::WU_E_UH_UNKNOWNHANDLER,
                format!(
                    "update {id}: handler {:?} is not known to this agent (a newer publisher's; this agent skips it)",
                    doc.handler.kind()
                ),
            );
        }
        let cache = ContentCache::new(&self.session.inner.state_dir);
        if self.operation == UpdateOperation::Installation && !cache.has_all(&doc.content) {
            return failed(HResult::WU_E_DM_NOTDOWNLOADED, format!("update {id}: content is missing from the cache"));
        }
        Ok(None)
    }

    fn record(&mut self, update: &Update, result: &UpdateInstallationResult) -> Result<(), WuError> {
        let origin = origin(&self.client_application_id, update);
        let entry = wua_install::history_entry(update.document(), self.operation, result, &origin, false);
        Ok(self.store.transact(|tx| tx.append_history(&entry))?)
    }
}

/// Who asked (`client`) and where `update` came from, as history records it.
fn origin<'a>(client: &'a str, update: &'a Update) -> Origin<'a> {
    Origin {
        client_application_id: client,
        server_selection: update.server_selection(),
        service_id: update.service_id().unwrap_or_default(),
    }
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
