//! `wua agent run --once` with a managed server (`wua server`): the server's check-in interval
//! paces the run, the signed approvals of the computer's group decide what is deployed (D-27),
//! and everything the run finds and does is reported through the outbox (D-17).
//!
//! 1. Before the check-in interval has passed since the last check-in, the run only sends the
//!    report outbox and leaves.
//! 2. Otherwise it checks in (`GET config`: the group and interval are recorded), then, unless
//!    an operation runs or a reboot is pending (D-8, D-9), searches the managed server online
//!    with `DeploymentAction=*` (every update that applies or is installed, deployed or not)
//!    and queues a `scan` report of what is needed and installed: only this full scan is ever
//!    reported, never a narrower `wua search`.
//! 3. It acts by the notification level on what is approved for installation (optional
//!    updates are listed as skipped), as a run without a server does; at an approval's deadline
//!    (or the document's) an update is downloaded and installed whatever the level. Updates
//!    approved for uninstallation that are installed are uninstalled under
//!    `ScheduledInstallation`, or at their deadline under any level.
//! 4. Whatever happened, it queues a `reboot` report when the reboot state changed and sends
//!    the outbox: outcomes were queued by the installs themselves. A failed send leaves the
//!    reports queued for the next run and is shown, but does not change the exit code.

use wua_agent::wua_types::api::ReportBody;
use wua_agent::wua_types::{
    AutomaticUpdatesNotificationLevel as Level, DeploymentAction, InstallationResult, ServerSelection, Update,
    UpdateCollection, UpdateOperation,
};
use wua_agent::{ManagedServer, OutboxFlush, UpdateSession};

use crate::agent_run::{AgentRunReport, installable, refuse_if_blocked, succeeded};
use crate::{Cli, CliResult, EXIT_FAILED, EXIT_OK, EXIT_REBOOT_REQUIRED, exit_code, jobrun, output};

/// What a run did with the managed server.
#[derive(Debug)]
pub(crate) struct ManagedRun {
    /// The service.
    pub service_id: String,
    /// The server's URL.
    pub server_url: String,
    /// Registered in this run, from the configuration's `[server]`.
    pub registered: bool,
    /// Checked in (false: the interval had not passed; the run only sent reports).
    pub checked_in: bool,
    /// The computer's group after the run.
    pub group: String,
    /// The check-in interval after the run.
    pub checkin_interval_seconds: u64,
    /// The `scan` report queued: (needed, installed).
    pub scan: Option<(usize, usize)>,
    /// The `reboot` report queued, if the state changed.
    pub reboot_reported: Option<bool>,
    /// The send of the outbox.
    pub flush: Option<OutboxFlush>,
}

/// Runs the managed-server flow; `report` is the run's so far (the configuration read, the
/// services registered).
pub(crate) fn run(
    cli: &Cli,
    session: &UpdateSession,
    server: ManagedServer,
    registered: bool,
    mut report: AgentRunReport,
) -> CliResult<u8> {
    let manager = session.create_update_service_manager();
    let id = server.service_id.clone();
    let mut managed = ManagedRun {
        service_id: id.clone(),
        server_url: server.server_url.clone(),
        registered,
        checked_in: false,
        group: server.group.clone(),
        checkin_interval_seconds: server.checkin_interval_seconds,
        scan: None,
        reboot_reported: None,
        flush: None,
    };
    if !server.checkin_due(time::OffsetDateTime::now_utc()) {
        managed.flush = Some(manager.flush_outbox(&id)?);
        report.managed = Some(managed);
        output::print_agent_run(cli, &report);
        return Ok(EXIT_OK);
    }
    let config = manager.check_in(&id)?;
    managed.checked_in = true;
    managed.group = config.group;
    managed.checkin_interval_seconds = config.checkin_interval_seconds;

    let outcome = act(cli, session, &id, &mut report, &mut managed);

    // Reported whatever the run did, or failed to do: the reboot state, then everything queued.
    let reboot = session.system_information().reboot_required()?;
    if manager.report_reboot_state(&id, reboot)? {
        managed.reboot_reported = Some(reboot);
    }
    managed.flush = Some(manager.flush_outbox(&id)?);
    report.managed = Some(managed);
    let code = outcome?;
    output::print_agent_run(cli, &report);
    Ok(code)
}

/// Steps 2 and 3: scan, report the scan, install and uninstall by policy and deadline.
fn act(
    cli: &Cli,
    session: &UpdateSession,
    service_id: &str,
    report: &mut AgentRunReport,
    managed: &mut ManagedRun,
) -> CliResult<u8> {
    refuse_if_blocked(session)?;
    let searcher = session.create_update_searcher();
    searcher.set_server_selection(ServerSelection::ManagedServer);
    let scan = searcher.search("DeploymentAction=*")?.updates;
    let (installed, needed): (Vec<&Update>, Vec<&Update>) = scan.iter().partition(|u| u.is_installed());
    let ids = |us: &[&Update]| us.iter().map(|u| u.identity().update_id).collect::<Vec<_>>();
    let body = ReportBody::Scan { needed: ids(&needed), installed: ids(&installed) };
    session.create_update_service_manager().enqueue_report(service_id, &body)?;
    managed.scan = Some((needed.len(), installed.len()));

    let now = time::OffsetDateTime::now_utc();
    let level = report.effective_level;
    let offered = |u: &&Update| {
        matches!(u.deployment_action(), DeploymentAction::Installation | DeploymentAction::OptionalInstallation)
    };
    report.found = needed.iter().copied().filter(|u| !u.is_hidden()).filter(offered).cloned().collect();

    // What to download, and what of it to install.
    let mut wanted = UpdateCollection::new();
    for update in &report.found {
        if update.browse_only() {
            let reason = "optional (BrowseOnly): automatic updates leave it to an administrator";
            report.skipped.push((update.clone(), reason.into()));
        } else if level != Level::NotifyBeforeDownload || deadline_passed(update, now) {
            wanted.add(update.clone())?;
        }
    }
    let mut code = EXIT_OK;
    if !wanted.is_empty() {
        let downloader = session.create_update_downloader();
        downloader.set_updates(wanted.clone());
        let downloaded = downloader.download()?;
        if downloaded.update_results.iter().any(|r| !succeeded(r.result_code)) {
            code = EXIT_FAILED;
        }
        report.download = Some((wanted.clone(), downloaded.clone()));
        let installable = installable(report, &wanted, &downloaded, |update| {
            level == Level::ScheduledInstallation || deadline_passed(update, now)
        })?;
        if !installable.is_empty() {
            let result = operate(cli, session, &installable, UpdateOperation::Installation)?;
            code = combine(code, exit_code(&result));
            report.install = Some((installable, result));
        }
    }

    // Approved for uninstallation and installed.
    let removable: UpdateCollection = installed
        .iter()
        .copied()
        .filter(|u| u.deployment_action() == DeploymentAction::Uninstallation)
        .filter(|u| level == Level::ScheduledInstallation || deadline_passed(u, now))
        .cloned()
        .collect();
    if !removable.is_empty() {
        let result = operate(cli, session, &removable, UpdateOperation::Uninstallation)?;
        code = combine(code, exit_code(&result));
        report.uninstall = Some((removable, result));
    }
    Ok(code)
}

fn operate(
    cli: &Cli,
    session: &UpdateSession,
    updates: &UpdateCollection,
    operation: UpdateOperation,
) -> CliResult<InstallationResult> {
    let installer = session.create_update_installer();
    installer.set_updates(updates.clone());
    jobrun::run(cli, &installer, updates, operation)
}

/// The worse of two exit codes: a failure over a reboot request over success.
fn combine(a: u8, b: u8) -> u8 {
    let rank = |c: u8| match c {
        EXIT_OK => 0,
        EXIT_REBOOT_REQUIRED => 1,
        EXIT_FAILED => 2,
        _ => 3,
    };
    if rank(b) > rank(a) { b } else { a }
}

/// Whether `update` has a deadline (an approval's or its document's, D-27) that has passed.
/// An unreadable deadline never passes.
fn deadline_passed(update: &Update, now: time::OffsetDateTime) -> bool {
    update
        .deadline()
        .and_then(|d| time::OffsetDateTime::parse(d, &time::format_description::well_known::Rfc3339).ok())
        .is_some_and(|d| d <= now)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exit_codes_combine_to_the_worst() {
        assert_eq!(combine(EXIT_OK, EXIT_REBOOT_REQUIRED), EXIT_REBOOT_REQUIRED);
        assert_eq!(combine(EXIT_REBOOT_REQUIRED, EXIT_FAILED), EXIT_FAILED);
        assert_eq!(combine(EXIT_FAILED, EXIT_OK), EXIT_FAILED);
        assert_eq!(combine(EXIT_OK, EXIT_OK), EXIT_OK);
    }
}
