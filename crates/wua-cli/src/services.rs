//! `wua service`, and the searches and downloads of `search`, `download` and `install`.

use std::path::Path;

use wua_agent::wua_types::{
    DownloadResult, HResult, OperationResultCode, SearchResult, ServerSelection, UpdateCollection, WuError,
};
use wua_agent::{ManagedServerRegistration, NON_VOLATILE_SERVICE, UpdateSearcher, UpdateSession};

use crate::{Cli, CliResult, EXIT_CALL_ERROR, EXIT_FAILED, EXIT_OK, ServiceCommand, output};

/// Runs `wua service ...`.
pub(crate) fn run(cli: &Cli, agent: &crate::settings::Agent, command: &ServiceCommand) -> CliResult<u8> {
    let session = crate::session::open(agent)?;
    let manager = session.create_update_service_manager();
    match command {
        ServiceCommand::Add {
            name,
            source,
            trusted_root,
            ca_bundle,
            default,
            server,
            enrolment_key,
            server_name,
            group,
        } => {
            let trusted = fs_err::read(trusted_root).map_err(|e| WuError::new(HResult::E_INVALIDARG, e.to_string()))?;
            // The CLI's services outlive the process: always `NonVolatileService`.
            let service = match (server, name, source) {
                (Some(server), _, _) => {
                    let enrolment_key = enrolment_key.clone().ok_or_else(|| {
                        WuError::new(
                            HResult::E_INVALIDARG,
                            "--server needs an enrolment key: --enrolment-key KEY, or WUA_ENROLMENT_KEY",
                        )
                    })?;
                    manager.add_managed_server(&ManagedServerRegistration {
                        name: server_name.clone(),
                        server_url: server.clone(),
                        trusted_root: trusted,
                        enrolment_key,
                        ca_bundle: ca_bundle.clone(),
                        requested_group: group.clone(),
                    })?
                }
                (None, Some(name), Some(source)) if Path::new(source).is_file() => {
                    manager.add_scan_package_service(name, Path::new(source), &trusted, NON_VOLATILE_SERVICE)?
                }
                (None, Some(name), Some(source)) => manager.add_repository_service(
                    name,
                    source,
                    &trusted,
                    ca_bundle.as_deref(),
                    NON_VOLATILE_SERVICE,
                )?,
                _ => return Err(WuError::new(HResult::E_INVALIDARG, "service add needs NAME and SOURCE, or --server")),
            };
            if *default {
                manager.set_default(&service.service_id)?;
            }
            let service =
                manager.services()?.into_iter().find(|s| s.service_id == service.service_id).unwrap_or(service);
            output::print_service_added(cli, &service);
        }
        ServiceCommand::List => output::print_services(cli, &manager.services()?),
        ServiceCommand::Remove { id } => {
            manager.remove_service(id)?;
            output::print_service_done(cli, "removed", id);
        }
        ServiceCommand::Reset { id } => {
            manager.reset_service(id)?;
            output::print_service_done(cli, "reset", id);
        }
        ServiceCommand::Default { id } => {
            manager.set_default(id)?;
            output::print_service_done(cli, "made the default", id);
        }
    }
    Ok(EXIT_OK)
}

/// A searcher on `service` (or the default selection), online unless `offline`.
pub(crate) fn searcher(session: &UpdateSession, service: Option<&str>, offline: bool) -> UpdateSearcher {
    let searcher = session.create_update_searcher();
    if let Some(id) = service {
        searcher.set_server_selection(ServerSelection::Others);
        searcher.set_service_id(id);
    }
    searcher.set_online(!offline);
    searcher
}

/// Searches `service` (or the default selection) for `criteria`.
pub(crate) fn search(
    session: &UpdateSession,
    service: Option<&str>,
    criteria: &str,
    offline: bool,
) -> CliResult<SearchResult> {
    searcher(session, service, offline).search(criteria)
}

/// Downloads what of `updates` a service offers and the cache lacks; a failed download is a
/// call error naming the update (its install could not succeed).
pub(crate) fn download_missing(cli: &Cli, session: &UpdateSession, updates: &UpdateCollection) -> CliResult<()> {
    let missing: UpdateCollection =
        updates.iter().filter(|u| !u.is_downloaded() && u.service_id().is_some()).cloned().collect();
    if missing.is_empty() {
        return Ok(());
    }
    // With progress, as `wua download` shows it.
    let result = crate::transfer::download(cli, session, &missing, false)?;
    if !cli.json {
        output::print_download(cli, &missing, &result);
    }
    Ok(())
}

/// 0 when every download succeeded, 1 otherwise.
pub(crate) fn download_exit_code(result: &DownloadResult) -> u8 {
    match result.result_code {
        OperationResultCode::Succeeded => EXIT_OK,
        OperationResultCode::NotStarted | OperationResultCode::InProgress => EXIT_CALL_ERROR,
        _ => EXIT_FAILED,
    }
}
