//! Runs an install or uninstall through the job API: progress bars on a terminal, Ctrl-C (and
//! SIGTERM, for `wua agent run`) as `request_abort`, a second one leaves at once (the journal
//! makes that safe: the next operation recovers what was interrupted, D-17, D-38).

use std::io::IsTerminal;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle};
use wua_agent::wua_types::{
    InstallationProgress, InstallationResult, UpdateCollection, UpdateOperation, lock_unpoisoned,
};
use wua_agent::{InstallationJob, ProgressCallback, UpdateInstaller};

use crate::{Cli, CliResult};

/// The job Ctrl-C aborts, while one runs.
static CURRENT_JOB: Mutex<Option<InstallationJob>> = Mutex::new(None);
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
    let job = lock_unpoisoned(&CURRENT_JOB).clone();
    let (note, code) = match by {
        Interrupt::CtrlC => ("stopping at the next safe point (press Ctrl-C again to leave at once)", EXIT_INTERRUPTED),
        Interrupt::Term => {
            ("SIGTERM: stopping at the next safe point (a second SIGTERM leaves at once)", EXIT_TERMINATED)
        }
    };
    match job {
        Some(job) if presses == 1 => {
            eprintln!("\nwua: {note}");
            let _ = job.request_abort();
        }
        Some(_) => {
            eprintln!("\nwua: leaving now; the next wua operation recovers the interrupted update");
            std::process::exit(code);
        }
        None => std::process::exit(code),
    }
}

/// Begins `operation` on `installer`, shows its progress, waits for the result.
pub(crate) fn run(
    cli: &Cli,
    installer: &UpdateInstaller,
    updates: &UpdateCollection,
    operation: UpdateOperation,
) -> CliResult<InstallationResult> {
    let view = Arc::new(ProgressView::new(cli, updates, operation));
    let on_progress = {
        let view = view.clone();
        let callback: ProgressCallback = Box::new(move |job, args| {
            // Registered here too, so a Ctrl-C finds the job even before `begin_*`'s caller
            // got to register it: the first callback precedes any work.
            set_current(Some(job));
            view.show(&args.progress)
        });
        Some(callback)
    };
    let job = match operation {
        UpdateOperation::Installation => installer.begin_install(on_progress, None, None)?,
        UpdateOperation::Uninstallation => installer.begin_uninstall(on_progress, None, None)?,
    };
    set_current(Some(&job));
    let result = match operation {
        UpdateOperation::Installation => installer.end_install(&job),
        UpdateOperation::Uninstallation => installer.end_uninstall(&job),
    };
    set_current(None);
    view.finish();
    result
}

fn set_current(job: Option<&InstallationJob>) {
    *lock_unpoisoned(&CURRENT_JOB) = job.cloned();
}

/// Two bars on a terminal (the job overall, the current update); nothing otherwise.
struct ProgressView {
    bars: Option<(MultiProgress, ProgressBar, ProgressBar)>,
    titles: Vec<String>,
}

impl ProgressView {
    fn new(cli: &Cli, updates: &UpdateCollection, operation: UpdateOperation) -> Self {
        let titles: Vec<String> = updates.iter().map(|u| u.title().to_owned()).collect();
        if cli.json || !std::io::stderr().is_terminal() {
            return ProgressView { bars: None, titles };
        }
        let multi = MultiProgress::with_draw_target(ProgressDrawTarget::stderr());
        let style = ProgressStyle::with_template("{spinner} {prefix:>10} [{bar:30}] {pos:>3}% {msg}")
            .unwrap_or_else(|_| ProgressStyle::default_bar())
            .progress_chars("=> ");
        let overall = multi.add(ProgressBar::new(100).with_style(style.clone()));
        overall.set_prefix(match operation {
            UpdateOperation::Installation => "installing",
            UpdateOperation::Uninstallation => "removing",
        });
        overall.set_message(format!("{} update(s)", titles.len()));
        let current = multi.add(ProgressBar::new(100).with_style(style));
        current.set_prefix("update");
        // A program reports no percentage: the tick shows the job is alive meanwhile.
        current.enable_steady_tick(std::time::Duration::from_millis(200));
        ProgressView { bars: Some((multi, overall, current)), titles }
    }

    fn show(&self, p: &InstallationProgress) {
        let Some((_, overall, current)) = &self.bars else { return };
        overall.set_position(p.percent_complete.clamp(0, 100) as u64);
        current.set_position(p.current_update_percent_complete.clamp(0, 100) as u64);
        let index = p.current_update_index.max(0) as usize;
        let title = self.titles.get(index).map(String::as_str).unwrap_or("");
        current.set_message(format!("{}/{} {title}", index + 1, self.titles.len()));
    }

    fn finish(&self) {
        if let Some((multi, overall, current)) = &self.bars {
            current.finish_and_clear();
            overall.finish_and_clear();
            let _ = multi.clear();
        }
    }
}
