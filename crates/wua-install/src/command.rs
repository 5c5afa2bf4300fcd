//! The `command` handler: runs a program from the update's content (WSUS
//! `CommandLineInstallation` semantics; decisions D-15, D-38, D-41).
//!
//! One operation:
//!
//! 1. **work directory**: a verified copy of the content under `<state>/work/<op>/` (D-13,
//!    D-41); a mismatch fails the update before anything runs.
//! 2. **start**: a journal record is committed before the program starts, so a program never
//!    runs unrecorded; the program starts as the leader of a process group of its own with
//!    `WUA_OPERATION_ID` in its environment, and a second commit records its group and start
//!    time. A crash between the two commits leaves a record without a group: recovery then
//!    finds the program by that environment variable.
//! 3. **wait**: stdin from `/dev/null`, stdout and stderr to `<state>/logs/<op>.log`, the
//!    `WUA_*` environment; polled for its exit, an abort (D-23) and its time limit (D-41).
//!    Either ends the process group: SIGTERM, then SIGKILL after a grace the update's metadata
//!    (`terminate_grace_secs`) or else the agent ([`CommandOptions`]) sets.
//! 4. **commit**: installed state, the reboot record, the history entry (with the raw exit code
//!    and the log) and the removal of the journal record, in one transaction.
//!
//! A program cannot be rolled back by the agent (D-38): an abort terminates its process group
//! and runs the update's uninstall command, if it has one; recovery after a crash kills what
//! is left of the group and records the update as not installed.

use std::os::unix::process::{CommandExt, ExitStatusExt};
use std::path::{Path, PathBuf};
use std::process::{Child, ExitStatus, Stdio};
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};
use wua_store::{InstalledRecord, JournalPhase, JournalRecord, Store};
use wua_types::{
    CommandHandler, CommandResult, HResult, Handler, InstallationRebootBehavior, OperationResultCode, UpdateDocument,
    UpdateInstallationResult, UpdateOperation, WuError,
};

use crate::Target;
use crate::cache::ContentCache;
use crate::crash_point;
use crate::error::InstallError;
use crate::fsops::{self, CopyOutcome};
use crate::history::history_entry;
use crate::lock::InstallLock;
use crate::monitor::Monitor;
use crate::process::{self, ProcessGroup};
use crate::reboot::record_pending_reboot;
use crate::recovery::RecoveredOperation;

/// How long a program has to leave after SIGTERM (abort, time limit) before SIGKILL when
/// neither the update's metadata nor the agent's settings say (D-23).
pub const DEFAULT_TERMINATE_GRACE: Duration = Duration::from_secs(2);

/// The longest grace the agent gives, whatever the metadata or the settings ask: one hour
/// ([`CommandHandler::MAX_TERMINATE_GRACE_SECS`]).
pub const MAX_TERMINATE_GRACE: Duration = Duration::from_secs(CommandHandler::MAX_TERMINATE_GRACE_SECS);

/// What the agent decides about running `command` programs, beside each update's metadata.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CommandOptions {
    /// The grace between SIGTERM and SIGKILL for an update whose metadata gives none (D-23);
    /// at most [`MAX_TERMINATE_GRACE`] is used.
    pub terminate_grace: Duration,
}

impl Default for CommandOptions {
    fn default() -> Self {
        CommandOptions { terminate_grace: DEFAULT_TERMINATE_GRACE }
    }
}

impl CommandOptions {
    /// D-23: the grace for `cmd`: its metadata's value (for an uninstall command, the install
    /// command's when it has none of its own; `install` is `None` for the install command
    /// itself), else this agent's; never more than [`MAX_TERMINATE_GRACE`].
    pub fn terminate_grace_for(&self, cmd: &CommandHandler, install: Option<&CommandHandler>) -> Duration {
        cmd.terminate_grace(install).unwrap_or(self.terminate_grace).min(MAX_TERMINATE_GRACE)
    }
}

/// How often a running program is polled for its exit, an abort and its time limit.
const POLL: Duration = Duration::from_millis(20);

/// How long the handler keeps killing a process group until it is gone (SIGKILL is final
/// once sent: the wait lets it take effect, and kills what the group forked meanwhile).
const KILL_WAIT: Duration = Duration::from_secs(5);

/// The journal plan of a running command: enough to find its process group after a crash.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct CommandPlan {
    /// The program's process group, once it was started.
    pub group: Option<ProcessGroup>,
    /// The boot the group belongs to (after a reboot nothing of it survives).
    pub boot_id: String,
    /// The working directory (absolute).
    pub work_dir: PathBuf,
    /// The log file (absolute).
    pub log: PathBuf,
}

/// `<state>/work`: per-operation working directories.
pub fn work_root(state_dir: &Path) -> PathBuf {
    state_dir.join("work")
}

/// `<state>/logs`: program logs, referenced by history entries.
pub fn log_root(state_dir: &Path) -> PathBuf {
    state_dir.join("logs")
}

/// How a program run ended.
#[derive(Debug)]
enum Ended {
    /// It exited, or was killed by a signal from outside the agent.
    Status(ExitStatus),
    /// Over its time limit: its group was terminated (how the program ended, when known).
    TimedOut(u64, Option<ExitStatus>),
    /// An abort was requested: its group was terminated (how the program ended, when known).
    Aborted(Option<ExitStatus>),
    /// It could not be started.
    NotStarted(String),
}

/// Installs or uninstalls a `command` update. Every outcome is a per-update result (D-1).
pub fn run(
    target: &Target<'_>,
    store: &mut Store,
    _lock: &InstallLock,
    doc: &UpdateDocument,
    operation: UpdateOperation,
    options: &CommandOptions,
    monitor: &mut dyn Monitor,
) -> UpdateInstallationResult {
    let id = &doc.update_id;
    let record_only = |store: &mut Store, result: UpdateInstallationResult| {
        let entry = history_entry(doc, operation, &result, &target.origin, false);
        if let Err(e) = commit(store, target, doc, operation, None, &result, entry) {
            tracing::error!(error = %e, update_id = %id, "could not record a command update's outcome");
        }
        result
    };
    let Handler::Command(handler) = &doc.handler else {
        let r = UpdateInstallationResult::failed(HResult::WU_E_UH_WRONGHANDLER, format!("update {id} is no command"));
        return record_only(store, r);
    };
    let (cmd, install) = match operation {
        UpdateOperation::Installation => (handler, None),
        UpdateOperation::Uninstallation => match handler.uninstall.as_deref() {
            Some(u) => (u, Some(handler)),
            None => {
                let r = UpdateInstallationResult::failed(
                    HResult::WU_E_UH_DOESNOTSUPPORTACTION,
                    format!("update {id} has no uninstall command"),
                );
                return record_only(store, r);
            }
        },
    };
    let op_id = uuid::Uuid::new_v4().to_string();
    let work = work_root(target.state_dir).join(&op_id);
    let log = log_root(target.state_dir).join(format!("{op_id}.log"));
    match prepare_work_dir(target.state_dir, doc, &work) {
        Ok(None) => {}
        Ok(Some(failure)) => {
            remove_work_dir(&work);
            return record_only(store, failure);
        }
        Err(e) => {
            remove_work_dir(&work);
            let err = WuError::from(e);
            return record_only(store, UpdateInstallationResult::failed(err.hresult, err.message));
        }
    }
    if monitor.abort_requested() {
        remove_work_dir(&work);
        return record_only(
            store,
            UpdateInstallationResult::aborted("an abort was requested before the program started"),
        );
    }

    let mut record = JournalRecord::start(
        &op_id,
        operation,
        doc,
        target.root_id,
        JournalPhase::Intent,
        String::new(),
        &target.origin,
    );
    let mut plan = CommandPlan { group: None, boot_id: target.boot_id.to_owned(), work_dir: work.clone(), log };
    let grace = options.terminate_grace_for(cmd, install);
    let ended = execute(target, store, doc, operation, cmd, grace, &mut record, &mut plan, monitor);
    let mut result = outcome(doc, operation, cmd, &ended);
    if matches!(ended, Ended::Aborted(_)) && operation == UpdateOperation::Installation {
        // D-38: the program's effects are its own; its uninstall command undoes them.
        if let Some(undo) = handler.uninstall.as_deref() {
            let again = execute(
                target,
                store,
                doc,
                UpdateOperation::Uninstallation,
                undo,
                options.terminate_grace_for(undo, Some(handler)),
                &mut record,
                &mut plan,
                &mut crate::monitor::Unmonitored,
            );
            result.message = format!("{}; the uninstall command ran: {}", result.message, describe(&again));
        }
    }
    let mut entry = history_entry(doc, operation, &result, &target.origin, false);
    entry.unmapped_result_code = unmapped(&ended);
    entry.log_path = Some(plan.log.display().to_string());
    let committed = commit(store, target, doc, operation, Some(&op_id), &result, entry);
    crash_point("commit");
    remove_work_dir(&work);
    match committed {
        Ok(()) => {
            monitor.progress(100);
            result
        }
        Err(e) => {
            // The record stays; recovery will record the outcome as interrupted.
            let err = WuError::from(e);
            UpdateInstallationResult::failed(err.hresult, format!("recording the outcome failed: {}", err.message))
        }
    }
}

/// Copies and verifies the content into the working directory (D-41, D-13). `Ok(Some(..))` is
/// a per-update failure.
fn prepare_work_dir(
    state_dir: &Path,
    doc: &UpdateDocument,
    work: &Path,
) -> Result<Option<UpdateInstallationResult>, InstallError> {
    let cache = ContentCache::new(state_dir);
    if !cache.has_all(&doc.content) {
        return Ok(Some(UpdateInstallationResult::failed(
            HResult::WU_E_DM_NOTDOWNLOADED,
            format!("update {}: content is missing from the cache", doc.update_id),
        )));
    }
    fs_err::create_dir_all(work).map_err(|e| InstallError::io(work, e))?;
    let mut buf = vec![0u8; crate::files::BUF_SIZE];
    for c in &doc.content {
        let dst = work.join(&c.path);
        if let Some(parent) = dst.parent() {
            fs_err::create_dir_all(parent).map_err(|e| InstallError::io(parent, e))?;
        }
        let copied =
            fsops::stage_verified(&cache.path(&c.sha256), &dst, &c.sha256, c.size, c.mode, (None, None), &mut buf)?;
        if let CopyOutcome::Mismatch(why) = copied {
            return Ok(Some(UpdateInstallationResult::failed(
                HResult::WU_E_DM_INCORRECTFILEHASH,
                format!("content {} of update {}: {why}", c.path, doc.update_id),
            )));
        }
    }
    Ok(None)
}

/// Journals the operation, starts the program, journals its group and waits. `grace` is the
/// time between SIGTERM and SIGKILL when the agent ends the program (D-23).
#[allow(clippy::too_many_arguments)]
fn execute(
    target: &Target<'_>,
    store: &mut Store,
    doc: &UpdateDocument,
    operation: UpdateOperation,
    cmd: &CommandHandler,
    grace: Duration,
    record: &mut JournalRecord,
    plan: &mut CommandPlan,
    monitor: &mut dyn Monitor,
) -> Ended {
    plan.group = None;
    if let Err(e) = journal(store, record, plan) {
        return Ended::NotStarted(format!("the journal record could not be written: {e}"));
    }
    let mut child = match spawn(target, doc, operation, cmd, plan, &record.op_id) {
        Ok(child) => child,
        Err(e) => return Ended::NotStarted(e.to_string()),
    };
    crash_point("command-spawned");
    let pgid = child.id() as i32;
    let group = ProcessGroup { pgid, start_ticks: process::start_ticks(pgid).unwrap_or(0) };
    plan.group = Some(group);
    if let Err(e) = journal(store, record, plan) {
        // Recovery can still find the program by its environment; stop it now anyway.
        group.terminate(grace, KILL_WAIT);
        let _ = child.wait();
        return Ended::NotStarted(format!("the journal record could not be written: {e}"));
    }
    crash_point("command-started");
    let limit = cmd.time_limit_secs();
    let deadline = Instant::now().checked_add(Duration::from_secs(limit));
    loop {
        match child.try_wait() {
            Ok(Some(status)) => return Ended::Status(status),
            Ok(None) => {}
            Err(e) => tracing::warn!(error = %e, pgid, "waiting for a command program failed; trying again"),
        }
        if monitor.abort_requested() {
            tracing::debug!(pgid, grace_ms = grace.as_millis() as u64, "an abort was requested: terminating");
            group.terminate(grace, KILL_WAIT);
            return Ended::Aborted(child.wait().ok());
        }
        if deadline.is_some_and(|d| Instant::now() >= d) {
            tracing::debug!(pgid, grace_ms = grace.as_millis() as u64, "over the time limit: terminating");
            group.terminate(grace, KILL_WAIT);
            return Ended::TimedOut(limit, child.wait().ok());
        }
        std::thread::sleep(POLL);
    }
}

/// Writes the record with the plan as it is now (a durable commit).
fn journal(store: &mut Store, record: &mut JournalRecord, plan: &CommandPlan) -> Result<(), InstallError> {
    record.plan = serde_json::to_string(plan)
        .map_err(|e| InstallError::BadJournal { op_id: record.op_id.clone(), detail: e.to_string() })?;
    store.transact(|tx| tx.put_journal(record))?;
    Ok(())
}

/// The environment variable that names the operation a program belongs to.
pub const OPERATION_ID_ENV: &str = "WUA_OPERATION_ID";

/// Starts the program in a process group of its own (D-41's environment, stdin, log).
fn spawn(
    target: &Target<'_>,
    doc: &UpdateDocument,
    operation: UpdateOperation,
    cmd: &CommandHandler,
    plan: &CommandPlan,
    op_id: &str,
) -> Result<Child, InstallError> {
    let logs = plan.log.parent().unwrap_or(Path::new("."));
    fs_err::create_dir_all(logs).map_err(|e| InstallError::io(logs, e))?;
    let log = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(&plan.log)
        .map_err(|e| InstallError::io(&plan.log, e))?;
    let log2 = log.try_clone().map_err(|e| InstallError::io(&plan.log, e))?;
    let program = plan.work_dir.join(&cmd.program);
    std::process::Command::new(&program)
        .args(&cmd.arguments)
        .current_dir(&plan.work_dir)
        .env("WUA_TARGET_ROOT", target.root)
        .env("WUA_UPDATE_ID", &doc.update_id)
        .env("WUA_REVISION", doc.revision_number.to_string())
        .env("WUA_OPERATION", operation_word(operation))
        .env(OPERATION_ID_ENV, op_id)
        .stdin(Stdio::null())
        .stdout(log)
        .stderr(log2)
        .process_group(0)
        .spawn()
        .map_err(|e| InstallError::io(format!("cannot start {}", program.display()), e))
}

fn operation_word(operation: UpdateOperation) -> &'static str {
    match operation {
        UpdateOperation::Installation => "install",
        UpdateOperation::Uninstallation => "uninstall",
    }
}

/// D-15: the per-update result of a run.
fn outcome(
    doc: &UpdateDocument,
    operation: UpdateOperation,
    cmd: &CommandHandler,
    ended: &Ended,
) -> UpdateInstallationResult {
    let behavior = match operation {
        UpdateOperation::Installation => &doc.installation_behavior,
        UpdateOperation::Uninstallation => &doc.uninstallation_behavior,
    };
    let always = behavior.reboot_behavior == InstallationRebootBehavior::AlwaysRequiresReboot;
    match ended {
        Ended::Status(status) => match status.code() {
            Some(code) => {
                let (mapped, reboot) = cmd.map_exit_code(code);
                let mut r = match mapped {
                    CommandResult::Succeeded => {
                        UpdateInstallationResult::new(OperationResultCode::Succeeded, HResult::S_OK)
                    }
                    CommandResult::Failed => UpdateInstallationResult::failed(
                        HResult::WU_E_UH_INSTALLERFAILURE,
                        format!("{} exited with code {code}, which means failure", cmd.program),
                    ),
                    CommandResult::Cancelled => UpdateInstallationResult {
                        message: format!("{} exited with code {code}, which means cancelled", cmd.program),
                        ..UpdateInstallationResult::new(
                            OperationResultCode::Aborted,
                            HResult::WU_E_UH_OPERATIONCANCELLED,
                        )
                    },
                };
                r.reboot_required = mapped == CommandResult::Succeeded && (reboot || always);
                r
            }
            None => UpdateInstallationResult::failed(
                HResult::WU_E_UH_INSTALLERFAILURE,
                format!("{} was killed by signal {} from outside the agent", cmd.program, status.signal().unwrap_or(0)),
            ),
        },
        Ended::TimedOut(limit, _) => UpdateInstallationResult::failed(
            HResult::WU_E_UH_INSTALLERHUNG,
            format!("{} ran over its time limit of {limit} s; its process group was killed", cmd.program),
        ),
        Ended::Aborted(_) => UpdateInstallationResult::aborted(format!(
            "an abort was requested; the process group of {} was terminated",
            cmd.program
        )),
        Ended::NotStarted(why) => UpdateInstallationResult::failed(HResult::WU_E_UH_INSTALLERFAILURE, why.clone()),
    }
}

fn describe(ended: &Ended) -> String {
    match ended {
        Ended::Status(s) => match s.code() {
            Some(c) => format!("exit code {c}"),
            None => format!("killed by signal {}", s.signal().unwrap_or(0)),
        },
        Ended::TimedOut(limit, _) => format!("over its time limit of {limit} s"),
        Ended::Aborted(_) => "aborted".into(),
        Ended::NotStarted(why) => why.clone(),
    }
}

/// The history's `unmapped_result_code` (D-15): the exit code, or 128 + the signal number as a
/// shell reports it (also for a program the agent terminated), 0 when nothing ran.
fn unmapped(ended: &Ended) -> i32 {
    let status = match ended {
        Ended::Status(s) => Some(s),
        Ended::TimedOut(_, s) | Ended::Aborted(s) => s.as_ref(),
        Ended::NotStarted(_) => None,
    };
    status.and_then(|s| s.code().or_else(|| s.signal().map(|n| 128 + n))).unwrap_or(0)
}

/// Records the outcome of an operation in one transaction.
fn commit(
    store: &mut Store,
    target: &Target<'_>,
    doc: &UpdateDocument,
    operation: UpdateOperation,
    op_id: Option<&str>,
    result: &UpdateInstallationResult,
    entry: wua_types::UpdateHistoryEntry,
) -> Result<(), InstallError> {
    store.transact(|tx| -> Result<(), InstallError> {
        if result.result_code == OperationResultCode::Succeeded {
            match operation {
                UpdateOperation::Installation => tx.set_installed(&InstalledRecord::now(doc, vec![]))?,
                UpdateOperation::Uninstallation => tx.remove_installed(&doc.update_id)?,
            }
        }
        if result.reboot_required {
            // D-9: a reboot the handler reported blocks further installs until the machine
            // reboots.
            record_pending_reboot(tx, target, doc, operation)?;
        }
        tx.append_history(&entry)?;
        if let Some(op_id) = op_id {
            tx.remove_journal(op_id)?;
        }
        Ok(())
    })
}

fn remove_work_dir(work: &Path) {
    if let Err(e) = wua_fs::remove_dir_all_if_present(work) {
        tracing::warn!(path = %work.display(), error = %e, "could not remove a command's working directory");
    }
}

/// Recovery of a command interrupted by a crash (D-38): kills what is left of its process
/// group, then evaluates the update's `is_installed` rule if it has one and records what it
/// finds (a completed operation is `Succeeded`); without a rule it records the update as not
/// installed with a `Failed` "operation interrupted" entry. Either entry is marked recovered.
pub(crate) fn recover(
    target: &Target<'_>,
    store: &mut Store,
    doc: &UpdateDocument,
    rec: &JournalRecord,
) -> Result<RecoveredOperation, InstallError> {
    let plan: CommandPlan = serde_json::from_str(&rec.plan)
        .map_err(|e| InstallError::BadJournal { op_id: rec.op_id.clone(), detail: e.to_string() })?;
    let mut killed = Vec::new();
    if plan.boot_id == target.boot_id {
        // Without a recorded group (a crash right after the start), the program is found by
        // the operation id in its environment.
        let groups = match plan.group {
            Some(group) => vec![group],
            None => process::groups_with_env(OPERATION_ID_ENV, &rec.op_id),
        };
        for group in groups {
            // Killed and gone before the is_installed rule looks at what they left.
            killed.extend(group.kill(KILL_WAIT));
        }
    }
    let what = if killed.is_empty() {
        "no process of it was left".to_owned()
    } else {
        format!("its surviving processes {killed:?} were killed")
    };
    // What the program left: the update's is_installed rule says, if it has one; otherwise the
    // update is recorded as not installed.
    let found = crate::detect::installed_by_rule(&store.read()?, target.root, doc)?;
    let completed = match (rec.operation, found) {
        (UpdateOperation::Installation, Some(installed)) => installed,
        (UpdateOperation::Uninstallation, Some(installed)) => !installed,
        (_, None) => false,
    };
    let result = if completed {
        UpdateInstallationResult {
            message: format!(
                "the program was interrupted by a crash of the agent; {what}; its is_installed rule finds the {} complete",
                operation_word(rec.operation)
            ),
            ..UpdateInstallationResult::new(OperationResultCode::Succeeded, HResult::S_OK)
        }
    } else {
        let recorded = match found {
            Some(true) => "its is_installed rule finds the update installed",
            Some(false) => "its is_installed rule finds the update not installed",
            None => "the update is recorded as not installed",
        };
        UpdateInstallationResult::failed(
            HResult::WUA_E_OPERATION_INTERRUPTED,
            format!("the program was interrupted by a crash of the agent; {what}; {recorded}"),
        )
    };
    let mut entry = history_entry(doc, rec.operation, &result, &target.origin, true);
    entry.log_path = Some(plan.log.display().to_string());
    store.transact(|tx| -> Result<(), InstallError> {
        match found {
            Some(true) => tx.set_installed(&InstalledRecord::now(doc, vec![]))?,
            Some(false) | None => tx.remove_installed(&doc.update_id)?,
        }
        tx.append_history(&entry)?;
        tx.remove_journal(&rec.op_id)?;
        Ok(())
    })?;
    crash_point("recovered");
    remove_work_dir(&plan.work_dir);
    Ok(RecoveredOperation {
        op_id: rec.op_id.clone(),
        operation: rec.operation,
        update_id: rec.update_id.clone(),
        rolled_forward: false,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use wua_types::CommandResult;

    fn command(grace: Option<u64>) -> CommandHandler {
        CommandHandler {
            program: "run.sh".into(),
            arguments: vec![],
            return_codes: vec![],
            default_result: CommandResult::Failed,
            reboot_by_default: false,
            time_limit_secs: None,
            terminate_grace_secs: grace,
            uninstall: None,
        }
    }

    /// D-23: the update's value wins over the agent's; the agent's applies without one; both
    /// are bounded.
    #[test]
    fn d23_grace_precedence() {
        let secs = Duration::from_secs;
        assert_eq!(CommandOptions::default().terminate_grace, DEFAULT_TERMINATE_GRACE);
        let agent = CommandOptions { terminate_grace: Duration::from_millis(1500) };
        assert_eq!(agent.terminate_grace_for(&command(None), None), Duration::from_millis(1500));
        assert_eq!(agent.terminate_grace_for(&command(Some(9)), None), secs(9));
        assert_eq!(agent.terminate_grace_for(&command(Some(0)), None), secs(0));
        assert_eq!(agent.terminate_grace_for(&command(None), Some(&command(Some(7)))), secs(7));
        assert_eq!(agent.terminate_grace_for(&command(Some(1)), Some(&command(Some(7)))), secs(1));
        let long = CommandOptions { terminate_grace: Duration::MAX };
        assert_eq!(long.terminate_grace_for(&command(None), None), MAX_TERMINATE_GRACE);
        assert_eq!(long.terminate_grace_for(&command(Some(u64::MAX)), None), MAX_TERMINATE_GRACE);
    }
}
