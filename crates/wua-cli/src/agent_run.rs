//! `wua agent run --once`: one scheduled run of the agent, acting as WUA's Automatic Updates does
//! on its `NotificationLevel` (reference 11.3), from the policy in `agent.toml`
//! ([`crate::agent_config`]):
//!
//! 1. `Disabled`: nothing at all (the state directory is not opened).
//! 2. The services the file declares are registered (non-volatile) unless a registered service
//!    has the same source.
//! 3. A pending reboot (D-9) or a running install, uninstall or recovery (D-8) refuses the run:
//!    exit 2, nothing searched.
//! 4. An online search of the default service selection (`IsInstalled=0 and IsHidden=0`).
//! 5. `NotifyBeforeDownload`, and `NotConfigured`, which acts as it: the updates found are
//!    listed. `NotifyBeforeInstallation`: the updates that are not optional (`BrowseOnly`) are
//!    downloaded too. `ScheduledInstallation`: then those downloaded whose license terms are
//!    accepted are installed in one job (SIGTERM and Ctrl-C are its `request_abort`); the others
//!    are listed as skipped with the reason.
//!
//! With a managed server (registered, or declared in `[server]` and registered by the run) the
//! run follows the server instead ([`crate::agent_managed`]): it checks in when the check-in
//! interval has passed (a run before that only sends the report outbox), scans, reports, acts on
//! the approvals of the computer's group (deadlines included) and sends its reports.
//!
//! Exit codes are the CLI's: 0 done, 1 an update failed (a download or an install), 2 the call
//! failed or was refused, 102 installed and a reboot is required.

use std::path::{Path, PathBuf};

use wua_agent::wua_types::{
    AutomaticUpdatesNotificationLevel as Level, DownloadResult, HResult, InstallationResult, OperationResultCode,
    Update, UpdateCollection, UpdateOperation, WuError,
};
use wua_agent::{ManagedServerRegistration, NON_VOLATILE_SERVICE, UpdateService, UpdateSession};

use crate::agent_config::{AgentConfig, ServiceDeclaration, is_url};
use crate::agent_managed::ManagedRun;
use crate::{Cli, CliResult, EXIT_FAILED, EXIT_OK, EXIT_REBOOT_REQUIRED, exit_code, jobrun, output, services};

/// The client application id the agent's runs record in history.
pub(crate) const CLIENT_ID: &str = "wua-agent";

/// What one run found and did, for the summary.
#[derive(Debug)]
pub(crate) struct AgentRunReport {
    /// The configuration file.
    pub config: PathBuf,
    /// The configured level.
    pub notification_level: Level,
    /// The level acted on (`NotConfigured` acts as `NotifyBeforeDownload`).
    pub effective_level: Level,
    /// Services registered from the configuration in this run.
    pub services_added: Vec<UpdateService>,
    /// What the search found.
    pub found: UpdateCollection,
    /// The updates downloaded and the download's result.
    pub download: Option<(UpdateCollection, DownloadResult)>,
    /// The updates installed and the install's result.
    pub install: Option<(UpdateCollection, InstallationResult)>,
    /// Updates the policy would act on but did not, with the reason.
    pub skipped: Vec<(Update, String)>,
    /// The updates uninstalled (approved for uninstallation) and the uninstall's result.
    pub uninstall: Option<(UpdateCollection, InstallationResult)>,
    /// What the run did with the managed server, when the agent has one.
    pub managed: Option<ManagedRun>,
}

/// Runs `wua agent run`.
pub(crate) fn run(cli: &Cli, once: bool, agent: &crate::settings::Agent) -> CliResult<u8> {
    if !once {
        return Err(WuError::new(
            HResult::E_INVALIDARG,
            "`wua agent run` needs --once: it runs once and leaves; the schedule is systemd's \
             (wua-agent.timer)",
        ));
    }
    if !agent.config.found && !agent.config.level_given {
        // The agent acts on machines only by an administrator's explicit policy.
        AgentConfig::load(&agent.config.path)?;
    }
    let config = &agent.config;
    let level = config.notification_level;
    let mut report = AgentRunReport {
        config: config.path.clone(),
        notification_level: level,
        effective_level: effective(level),
        services_added: Vec::new(),
        found: UpdateCollection::new(),
        download: None,
        install: None,
        skipped: Vec::new(),
        uninstall: None,
        managed: None,
    };
    if level == Level::Disabled {
        output::print_agent_run(cli, &report);
        return Ok(EXIT_OK);
    }
    jobrun::handle_termination();
    let session = crate::session::open(agent)?;
    session.set_client_application_id(CLIENT_ID);
    report.services_added = register_services(&session, config)?;
    let registered = register_server(&session, config)?;
    if let Some(service) = &registered {
        report.services_added.push(service.clone());
    }
    if let Some(server) = session.create_update_service_manager().managed_server()? {
        return crate::agent_managed::run(cli, &session, server, registered.is_some(), report);
    }
    refuse_if_blocked(&session)?;

    let found = services::search(&session, None, "", false)
        .map_err(|mut e| {
            if e.hresult == HResult::WU_E_NO_SERVICE {
                e.message.push_str(&format!("; or declare one in {} ([services.NAME])", config.path.display()));
            }
            e
        })?
        .updates
        .copy();
    report.found = found.clone();
    if report.effective_level == Level::NotifyBeforeDownload {
        output::print_agent_run(cli, &report);
        return Ok(EXIT_OK);
    }

    let mut wanted = UpdateCollection::new();
    for update in &found {
        if update.browse_only() {
            let reason = "optional (BrowseOnly): automatic updates leave it to an administrator";
            report.skipped.push((update.clone(), reason.into()));
        } else {
            wanted.add(update.clone())?;
        }
    }
    if wanted.is_empty() {
        output::print_agent_run(cli, &report);
        return Ok(EXIT_OK);
    }
    let downloader = session.create_update_downloader();
    downloader.set_updates(wanted.clone());
    let downloaded = downloader.download()?;
    let download_failed = downloaded.update_results.iter().any(|r| !succeeded(r.result_code));
    report.download = Some((wanted.clone(), downloaded.clone()));
    if report.effective_level == Level::NotifyBeforeInstallation {
        output::print_agent_run(cli, &report);
        return Ok(if download_failed { EXIT_FAILED } else { EXIT_OK });
    }

    let installable = installable(&mut report, &wanted, &downloaded, |_| true)?;
    if installable.is_empty() {
        output::print_agent_run(cli, &report);
        return Ok(if download_failed { EXIT_FAILED } else { EXIT_OK });
    }
    let installer = session.create_update_installer();
    installer.set_updates(installable.clone());
    let result = jobrun::run(cli, &installer, &installable, UpdateOperation::Installation)?;
    let code = match exit_code(&result) {
        EXIT_OK | EXIT_REBOOT_REQUIRED if download_failed => EXIT_FAILED,
        code => code,
    };
    report.install = Some((installable, result));
    output::print_agent_run(cli, &report);
    Ok(code)
}

/// The level a run acts on: `NotConfigured` acts as `NotifyBeforeDownload` (it changes
/// nothing on the machine until an administrator chooses).
pub(crate) fn effective(level: Level) -> Level {
    match level {
        Level::NotConfigured => Level::NotifyBeforeDownload,
        level => level,
    }
}

/// Of `wanted` (downloaded as `downloaded` says), those `now` selects that can be installed:
/// the ones not downloaded and those whose license terms are not accepted go to the report's
/// skipped list, with the reason.
pub(crate) fn installable(
    report: &mut AgentRunReport,
    wanted: &UpdateCollection,
    downloaded: &DownloadResult,
    now: impl Fn(&Update) -> bool,
) -> CliResult<UpdateCollection> {
    let mut installable = UpdateCollection::new();
    for (update, r) in wanted.iter().zip(&downloaded.update_results) {
        if !now(update) {
            continue;
        }
        if !succeeded(r.result_code) {
            report.skipped.push((update.clone(), format!("not downloaded ({})", r.hresult)));
        } else if !update.eula_text().is_empty() && !update.eula_accepted() {
            let id = update.identity().update_id;
            let reason = format!("license terms not accepted (`wua install --update-id {id} --accept-eula`)");
            report.skipped.push((update.clone(), reason));
        } else {
            installable.add(update.clone())?;
        }
    }
    Ok(installable)
}

pub(crate) fn succeeded(code: OperationResultCode) -> bool {
    matches!(code, OperationResultCode::Succeeded | OperationResultCode::SucceededWithErrors)
}

/// D-8 and D-9 before anything is searched: a running operation or a pending reboot refuses
/// the run with `WU_E_INSTALL_NOT_ALLOWED`.
pub(crate) fn refuse_if_blocked(session: &UpdateSession) -> CliResult<()> {
    let refused = |why: String| {
        WuError::new(HResult::WU_E_INSTALL_NOT_ALLOWED, format!("{why}; the agent run searched nothing and leaves"))
    };
    if let Some(pid) = session.operation_in_progress()? {
        return Err(refused(format!("an install, uninstall or recovery is running (pid {pid})")));
    }
    let installer = session.create_update_installer();
    if installer.is_busy()? {
        return Err(refused(format!(
            "an install or uninstall into {} is running from another state directory",
            session.root().display()
        )));
    }
    if installer.reboot_required_before_installation()? {
        return Err(refused("a reboot is pending: an update installed in this boot needs it first".into()));
    }
    Ok(())
}

/// Registers each declared service that no registered service has the source of; marks it the
/// default when it says so. Returns the services added.
fn register_services(session: &UpdateSession, config: &AgentConfig) -> CliResult<Vec<UpdateService>> {
    if config.services.is_empty() {
        return Ok(Vec::new());
    }
    let manager = session.create_update_service_manager();
    let registered = manager.services()?;
    let mut added = Vec::new();
    for declared in &config.services {
        if registered.iter().any(|s| same_source(&s.service_url, &declared.source)) {
            continue;
        }
        let context = |e: WuError| {
            WuError::new(e.hresult, format!("{}: services.{}: {}", config.path.display(), declared.name, e.message))
        };
        let service = add(&manager, declared).map_err(context)?;
        if declared.default {
            manager.set_default(&service.service_id).map_err(context)?;
        }
        tracing::info!(service = %service.service_id, name = %declared.name, "registered a service from the agent configuration");
        let service = manager.services()?.into_iter().find(|s| s.service_id == service.service_id).unwrap_or(service);
        added.push(service);
    }
    Ok(added)
}

/// Registers with the `[server]` the configuration declares, unless the agent is registered
/// with a managed server at that URL; returns the service when it registered now.
fn register_server(session: &UpdateSession, config: &AgentConfig) -> CliResult<Option<UpdateService>> {
    let Some(declared) = &config.server else { return Ok(None) };
    let manager = session.create_update_service_manager();
    if let Some(current) = manager.managed_server()? {
        if same_source(&current.server_url, &declared.url) {
            return Ok(None);
        }
    }
    let context = |e: WuError| WuError::new(e.hresult, format!("{}: server: {}", config.path.display(), e.message));
    let trusted = fs_err::read(&declared.trusted_root)
        .map_err(|e| context(WuError::new(HResult::E_INVALIDARG, format!("trusted_root: {e}"))))?;
    let service = manager
        .add_managed_server(&ManagedServerRegistration {
            name: declared.name.clone(),
            server_url: declared.url.clone(),
            trusted_root: trusted,
            enrolment_key: declared.enrolment_key.clone(),
            ca_bundle: declared.ca_bundle.clone(),
            requested_group: declared.group.clone(),
        })
        .map_err(context)?;
    tracing::info!(service = %service.service_id, server = %declared.url, "registered with the managed server from the agent configuration");
    Ok(Some(service))
}

fn add(manager: &wua_agent::UpdateServiceManager, declared: &ServiceDeclaration) -> CliResult<UpdateService> {
    let trusted = fs_err::read(&declared.trusted_root)
        .map_err(|e| WuError::new(HResult::E_INVALIDARG, format!("trusted_root: {e}")))?;
    let source = Path::new(&declared.source);
    if !is_url(&declared.source) && source.is_file() {
        manager.add_scan_package_service(&declared.name, source, &trusted, NON_VOLATILE_SERVICE)
    } else {
        manager.add_repository_service(
            &declared.name,
            &declared.source,
            &trusted,
            declared.ca_bundle.as_deref(),
            NON_VOLATILE_SERVICE,
        )
    }
}

/// Whether two service sources name the same thing: URLs alike but for a trailing slash,
/// paths alike once resolved.
fn same_source(a: &str, b: &str) -> bool {
    match (is_url(a), is_url(b)) {
        (true, true) => a.trim_end_matches('/') == b.trim_end_matches('/'),
        (false, false) => {
            let resolve = |p: &str| std::fs::canonicalize(p).unwrap_or_else(|_| PathBuf::from(p));
            resolve(a) == resolve(b)
        }
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sources_compare_resolved() {
        assert!(same_source("https://u.example/repo/", "https://u.example/repo"));
        assert!(!same_source("https://u.example/repo", "https://u.example/other"));
        assert!(same_source("/tmp/../tmp", "/tmp"));
        assert!(!same_source("/tmp", "https://tmp"));
    }

    #[test]
    fn not_configured_acts_as_notify_before_download() {
        assert_eq!(effective(Level::NotConfigured), Level::NotifyBeforeDownload);
        assert_eq!(effective(Level::ScheduledInstallation), Level::ScheduledInstallation);
    }
}
