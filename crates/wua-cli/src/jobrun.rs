//! Runs an install or uninstall through the job API: progress bars on a terminal, Ctrl-C (and
//! SIGTERM, for `wua agent run`) as `request_abort`, a second one leaves at once (the journal
//! makes that safe: the next operation recovers what was interrupted, D-17, D-38).

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use wua_agent::wua_types::{
    HResult, InstallationProgress, InstallationResult, OperationResultCode, UpdateCollection, UpdateOperation, WuError,
    lock_unpoisoned,
};
use wua_agent::{
    InstallationProgressChangedCallbackArgs, JobKind, JobProgressCallback, UpdateInstaller, UpdateSession,
};

use crate::progress::{Display, Outcome, Snapshot};

use crate::{Cli, CliResult};

/// What Ctrl-C aborts, while a job runs: its `request_abort`.
static CURRENT_ABORT: Mutex<Option<Box<dyn Fn() + Send>>> = Mutex::new(None);
static INTERRUPTS: AtomicUsize = AtomicUsize::new(0);

/// Exit status after a second Ctrl-C (128 + SIGINT, as a shell reports it).
const EXIT_INTERRUPTED: i32 = 130;
/// Exit status after a second SIGTERM (128 + SIGTERM).
const EXIT_TERMINATED: i32 = 143;

/// A signal that asks the running job to stop.
#[derive(Clone, Copy, Debug)]
enum Interrupt {
    /// Ctrl-C (SIGINT).
    CtrlC,
    /// SIGTERM (systemd stopping the unit, `kill`).
    Term,
}

/// Installs the Ctrl-C handler: the first press asks the running job to stop at its next safe
/// point; a second press, or one while no job runs, leaves at once.
pub(crate) fn handle_interrupts() {
    if let Err(e) = ctrlc::set_handler(|| interrupted(Interrupt::CtrlC)) {
        tracing::warn!(error = %e, "Ctrl-C cannot abort installs in this process");
    }
}

/// Makes SIGTERM do what Ctrl-C does (`wua agent run`, which systemd stops with SIGTERM): the
/// first asks the running job to stop at its next safe point, a second one, or one while no
/// job runs, leaves at once (exit 143). Returns once the handler is in place.
pub(crate) fn handle_termination() {
    let (ready, installed) = std::sync::mpsc::sync_channel::<Result<(), String>>(1);
    let spawned = std::thread::Builder::new().name("wua-sigterm".into()).spawn(move || {
        let runtime = match tokio::runtime::Builder::new_current_thread().enable_io().build() {
            Ok(runtime) => runtime,
            Err(e) => {
                let _ = ready.send(Err(e.to_string()));
                return;
            }
        };
        runtime.block_on(async move {
            use tokio::signal::unix::{SignalKind, signal};
            let mut term = match signal(SignalKind::terminate()) {
                Ok(term) => term,
                Err(e) => {
                    let _ = ready.send(Err(e.to_string()));
                    return;
                }
            };
            let _ = ready.send(Ok(()));
            while term.recv().await.is_some() {
                interrupted(Interrupt::Term);
            }
        });
    });
    let outcome = match spawned {
        Ok(_) => installed.recv().unwrap_or_else(|e| Err(e.to_string())),
        Err(e) => Err(e.to_string()),
    };
    if let Err(e) = outcome {
        tracing::warn!(error = %e, "SIGTERM cannot abort installs in this process");
    }
}

/// The first interruption asks the running job to stop; a second one, or one while no job
/// runs, leaves at once.
fn interrupted(by: Interrupt) {
    let presses = INTERRUPTS.fetch_add(1, Ordering::SeqCst) + 1;
    let (note, code) = match by {
        Interrupt::CtrlC => ("stopping at the next safe point (press Ctrl-C again to leave at once)", EXIT_INTERRUPTED),
        Interrupt::Term => {
            ("SIGTERM: stopping at the next safe point (a second SIGTERM leaves at once)", EXIT_TERMINATED)
        }
    };
    let abort = lock_unpoisoned(&CURRENT_ABORT);
    match abort.as_ref() {
        Some(abort) if presses == 1 => {
            // Said at once, above any bars; the job stops at its next safe point.
            crate::progress::announce(&format!("wua: {note}"));
            abort();
        }
        Some(_) => {
            crate::progress::announce("wua: leaving now; the next wua operation recovers the interrupted update");
            std::process::exit(code);
        }
        None => std::process::exit(code),
    }
}

/// What an install does with license terms not yet accepted.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Licenses {
    /// Leave them: such an update fails with `WU_E_EULAS_DECLINED`.
    Leave,
    /// Accept them (`print`: show each first, as `--accept-eula` does; the wizard has shown
    /// them already).
    Accept { print: bool },
}

/// Makes Ctrl-C abort `job` while it runs (`None`: nothing to abort; Ctrl-C leaves at once).
pub(crate) fn set_abort(abort: Option<Box<dyn Fn() + Send>>) {
    *lock_unpoisoned(&CURRENT_ABORT) = abort;
}

/// Checks what an install would refuse before anything is shown or recorded, then accepts the
/// licenses (with `accept_eula`: each is printed first, D-14) and installs.
pub(crate) fn install(
    cli: &Cli,
    session: &UpdateSession,
    installer: &UpdateInstaller,
    updates: &UpdateCollection,
    licenses: Licenses,
    forced: bool,
) -> CliResult<InstallationResult> {
    preflight(session, installer, forced)?;
    if let Licenses::Accept { print } = licenses {
        for update in updates {
            if !update.eula_text().is_empty() && !update.eula_accepted() {
                if print {
                    crate::output::print_eula(cli, update);
                }
                update.accept_eula()?;
            }
        }
    }
    run(cli, installer, updates, UpdateOperation::Installation)
}

/// Checks what an uninstall would refuse, in the CLI's words, then uninstalls.
pub(crate) fn uninstall(
    cli: &Cli,
    session: &UpdateSession,
    installer: &UpdateInstaller,
    updates: &UpdateCollection,
    forced: bool,
) -> CliResult<InstallationResult> {
    preflight(session, installer, forced)?;
    run(cli, installer, updates, UpdateOperation::Uninstallation)
}

/// The checks of `begin_install` a license must not be accepted before: a pending reboot
/// (D-9, unless forced), an operation already running (D-8), a state directory this user
/// cannot write (D-6). The install checks them again under its lock.
fn preflight(session: &UpdateSession, installer: &UpdateInstaller, forced: bool) -> CliResult<()> {
    if !forced && installer.reboot_required_before_installation()? {
        return Err(WuError::new(
            HResult::WU_E_INSTALL_NOT_ALLOWED,
            "a reboot is pending: an update installed or removed in this boot needs it first; restart the \
             machine (`wua reboot-status` shows it), or pass --forced to go ahead anyway",
        ));
    }
    if let Some(pid) = session.operation_in_progress()? {
        // The install waits a moment for it, as D-8 says; only say so here.
        tracing::debug!(pid, "another operation runs on this state directory; the install waits for it");
    }
    if !crate::paths::writable(session.state_dir()) {
        return Err(WuError::new(
            HResult::E_ACCESSDENIED,
            format!(
                "cannot write the state directory {}: run as root or pass a --state-dir you can write",
                session.state_dir().display()
            ),
        ));
    }
    Ok(())
}

/// Begins `operation` on `installer`, shows its progress, waits for the result.
pub(crate) fn run(
    cli: &Cli,
    installer: &UpdateInstaller,
    updates: &UpdateCollection,
    operation: UpdateOperation,
) -> CliResult<InstallationResult> {
    let titles: Vec<String> = updates.iter().map(|u| u.title().to_owned()).collect();
    let verb = match operation {
        UpdateOperation::Installation => "install",
        UpdateOperation::Uninstallation => "uninstall",
    };
    let watch = Watch::new(cli, verb, titles, false);
    let on_progress = Some(watch.callback(|args: &InstallationProgressChangedCallbackArgs| snapshot(&args.progress)));
    let job = match operation {
        UpdateOperation::Installation => installer.begin_install(on_progress, None, None)?,
        UpdateOperation::Uninstallation => installer.begin_uninstall(on_progress, None, None)?,
    };
    let result = match operation {
        UpdateOperation::Installation => installer.end_install(&job),
        UpdateOperation::Uninstallation => installer.end_uninstall(&job),
    };
    let outcomes = result
        .as_ref()
        .ok()
        .map(|r| r.update_results.iter().map(|u| Outcome::of(u.result_code, u.hresult, u.reboot_required)).collect());
    watch.finish(outcomes, result.as_ref().map_or(true, |r| r.result_code == OperationResultCode::Aborted));
    result
}

/// A running job's display and Ctrl-C: each progress callback shows its snapshot and makes
/// Ctrl-C abort the job; `finish` draws the end.
pub(crate) struct Watch {
    display: Arc<Display>,
    last: Arc<Mutex<Snapshot>>,
}

impl Watch {
    pub(crate) fn new(cli: &Cli, verb: &'static str, titles: Vec<String>, with_bytes: bool) -> Watch {
        Watch { display: Arc::new(Display::new(cli, verb, titles, with_bytes)), last: Arc::default() }
    }

    /// The progress callback of a job of kind `K`; `view` reads its arguments.
    pub(crate) fn callback<K: JobKind>(
        &self,
        view: impl Fn(&K::ProgressArgs) -> Snapshot + Send + Sync + 'static,
    ) -> JobProgressCallback<K> {
        let (display, last) = (self.display.clone(), self.last.clone());
        Box::new(move |job, args| {
            // Registered from the callback, so a Ctrl-C finds the job even before `begin_*`'s
            // caller could register it: the first callback precedes any work.
            let job = job.clone();
            set_abort(Some(Box::new(move || {
                let _ = job.request_abort();
            })));
            let snapshot = view(args);
            display.show(&snapshot);
            *lock_unpoisoned(&last) = snapshot;
        })
    }

    /// The job ended (with `outcomes` when it returned a result): Ctrl-C no longer aborts it,
    /// and the display draws its last frame (or clears, when `aborted`).
    pub(crate) fn finish(&self, outcomes: Option<Vec<Option<Outcome>>>, aborted: bool) {
        set_abort(None);
        let mut end = lock_unpoisoned(&self.last).clone();
        if let Some(outcomes) = outcomes {
            end.percent = 100;
            if let Some((_, total)) = end.bytes {
                end.bytes = Some((total, total));
            }
            end.finished = outcomes;
        }
        self.display.finish(&end, aborted);
    }
}

/// The display's view of an install's progress.
fn snapshot(p: &InstallationProgress) -> Snapshot {
    Snapshot {
        index: p.current_update_index.max(0) as usize,
        percent: p.percent_complete,
        current_percent: p.current_update_percent_complete,
        bytes: None,
        finished: p.update_results.iter().map(|u| Outcome::of(u.result_code, u.hresult, u.reboot_required)).collect(),
    }
}
