//! One function per verb.

use wua_agent::UpdateSession;
use wua_agent::wua_types::{HResult, UpdateCollection, WuError};
use wua_package::Compression;

use crate::jobrun::Licenses;
use crate::select::Pool;
use crate::settings::Agent;
use crate::{AgentCommand, CacheCommand, Cli, CliResult, Command, EXIT_OK, PackageCommand, SelectArgs, exit_code};
use crate::{jobrun, output, select, services, session};

/// Exit code of `wua search --exit-code` when updates are found (as `dnf check-update`).
pub(crate) const EXIT_UPDATES_AVAILABLE: u8 = 100;

/// Runs the verb the command line names; the process's exit code.
pub(crate) fn run(cli: &Cli) -> CliResult<u8> {
    match &cli.command {
        Command::Package { command: PackageCommand::Build { manifest, payload, output, zstd } } => {
            let compression = if *zstd { Compression::Zstd } else { Compression::None };
            let doc = wua_package::build_package(manifest, payload, output, compression)?;
            output::print_built(cli, &doc, output);
            Ok(EXIT_OK)
        }
        Command::Package { command: PackageCommand::Inspect { file } } => {
            // Verified in full, nothing written: every blob counts as already cached.
            let limits = wua_package::OpenLimits::default();
            let package = wua_package::open_package(file, &std::env::temp_dir(), &|_| true, &limits)?;
            output::print_inspected(cli, file, &package.document);
            Ok(EXIT_OK)
        }
        Command::Package { command: PackageCommand::Import { agent, files } } => {
            let session = session::open(&Agent::resolve(agent)?)?;
            let updates = open_packages(cli, &session, files)?;
            output::print_imported(cli, &updates);
            Ok(EXIT_OK)
        }
        Command::InstallPackage { agent, run, files, accept_eula, forced } => {
            let session = session::open(&Agent::resolve(agent)?.with(run))?;
            let updates = open_packages(cli, &session, files)?;
            let licenses = if *accept_eula { Licenses::Accept { print: true } } else { Licenses::Leave };
            install(cli, &session, updates, licenses, *forced)
        }
        Command::Install { agent, run, select, accept_eula, forced, interactive, reboot, reboot_at } => {
            let agent = Agent::resolve(agent)?.with(run);
            let policy = crate::reboot::Policy::resolve(*reboot, reboot_at.as_deref(), &agent)?;
            let session = session::open(&agent)?;
            let updates = if *interactive {
                match crate::wizard::choose(cli, &session, &select.filters)? {
                    Some(chosen) => chosen,
                    None => return Ok(EXIT_OK),
                }
            } else {
                match selected(cli, &session, select, "install")? {
                    Some(updates) => updates,
                    None => return Ok(EXIT_OK),
                }
            };
            services::download_missing(cli, &session, &updates)?;
            let licenses = match (*interactive, *accept_eula) {
                (true, _) => Licenses::Accept { print: false },
                (false, true) => Licenses::Accept { print: true },
                (false, false) => Licenses::Leave,
            };
            let code = install(cli, &session, updates, licenses, *forced)?;
            crate::reboot::after_install(cli, &policy, code)
        }
        Command::Search { agent, filters, exit_code } => {
            let session = session::open(&Agent::resolve(agent)?)?;
            let result = select::search(&session, filters)?;
            output::print_search(cli, &result);
            Ok(if *exit_code && !result.updates.is_empty() { EXIT_UPDATES_AVAILABLE } else { EXIT_OK })
        }
        Command::Download { agent, select, forced } => {
            let session = session::open(&Agent::resolve(agent)?)?;
            let Some(updates) = selected(cli, &session, select, "download")? else { return Ok(EXIT_OK) };
            let result = crate::transfer::download(cli, &session, &updates, *forced)?;
            output::print_download(cli, &updates, &result);
            Ok(services::download_exit_code(&result))
        }
        Command::Service { agent, command } => services::run(cli, &Agent::resolve(agent)?, command),
        Command::Cache { agent, command: CacheCommand::Clean { all } } => {
            let session = session::open(&Agent::resolve(agent)?)?;
            let cleaned = session.clean_cache(*all)?;
            output::print_cache_cleaned(cli, &cleaned);
            Ok(EXIT_OK)
        }
        Command::Uninstall { agent, run, update_ids, ids, forced, yes, dry_run } => {
            let session = session::open(&Agent::resolve(agent)?.with(run))?;
            let names: Vec<String> = update_ids.iter().chain(ids).cloned().collect();
            if names.is_empty() {
                return Err(WuError::new(
                    HResult::E_INVALIDARG,
                    "name the updates to uninstall: wua uninstall ID... (an id, a unique prefix, KB1234 or a title)",
                ));
            }
            let updates = Pool::known(&session)?.find_all(&names)?;
            if *dry_run {
                output::print_selected(cli, "uninstall", &updates, true);
                return Ok(EXIT_OK);
            }
            if !*yes && !crate::prompt::confirm(cli, "uninstall", &updates)? {
                return Ok(EXIT_OK);
            }
            let installer = session.create_update_installer();
            installer.set_updates(updates.clone());
            installer.set_is_forced(*forced);
            let result = jobrun::uninstall(cli, &session, &installer, &updates, *forced)?;
            output::print_result(cli, "uninstall", &updates, &result);
            Ok(exit_code(&result))
        }
        Command::Hide(named) | Command::Unhide(named) => {
            let hide = matches!(cli.command, Command::Hide(_));
            let session = session::open(&Agent::resolve(&named.agent)?)?;
            let updates = Pool::known_and_synced(&session, named.service.as_deref(), true)?.find_all(&named.ids)?;
            for update in &updates {
                update.set_is_hidden(hide)?;
            }
            output::print_hidden(cli, hide, &updates);
            Ok(EXIT_OK)
        }
        Command::Show { agent, id, service } => {
            let session = session::open(&Agent::resolve(agent)?)?;
            let update = Pool::known_and_synced(&session, service.as_deref(), true)?.find(id)?.clone();
            let files = session.files_of(&update.identity().update_id)?;
            output::print_show(cli, &update, &files);
            Ok(EXIT_OK)
        }
        Command::Files { agent, id } => {
            let session = session::open(&Agent::resolve(agent)?)?;
            let update = Pool::known(&session)?.find(id)?.clone();
            let files = session.files_of(&update.identity().update_id)?;
            output::print_files(cli, &update, &files);
            Ok(EXIT_OK)
        }
        Command::Owner { agent, path } => {
            let agent = Agent::resolve(agent)?;
            let session = session::open(&agent)?;
            let relative = crate::paths::relative_to_root(path, &agent.root)?;
            let owner = match session.file_owner(&relative)? {
                Some(id) => session.find_update(&id)?,
                None => None,
            };
            output::print_owner(cli, &relative, owner.as_ref())?;
            Ok(EXIT_OK)
        }
        Command::History { agent, start, count, last } => {
            let session = session::open(&Agent::resolve(agent)?)?;
            let (start, count) = match last {
                Some(n) => (0, *n),
                None => (*start, *count),
            };
            let searcher = session.create_update_searcher();
            let total = searcher.get_total_history_count()?;
            let entries = searcher.query_history(start, count)?;
            output::print_history(cli, total, &entries);
            Ok(EXIT_OK)
        }
        Command::Status { agent } => {
            let session = session::open(&Agent::resolve(agent)?)?;
            output::print_status(cli, &session)?;
            Ok(EXIT_OK)
        }
        Command::RebootStatus { agent } => {
            let session = session::open(&Agent::resolve(agent)?)?;
            let required = session.system_information().reboot_required()?;
            output::print_reboot_status(cli, required);
            Ok(if required { crate::EXIT_REBOOT_REQUIRED } else { EXIT_OK })
        }
        Command::Recover { agent, run } => {
            let session = session::open(&Agent::resolve(agent)?.with(run))?;
            let done = session.recover()?;
            output::print_recovered(cli, &done);
            Ok(EXIT_OK)
        }
        Command::Agent { agent, command: AgentCommand::Run { once, run, notification_level, reboot, reboot_at } } => {
            let mut agent = Agent::resolve(agent)?.with(run);
            if let Some(level) = notification_level {
                agent.config.notification_level = crate::agent_config::parse_notification_level(level)
                    .map_err(|e| WuError::new(HResult::E_INVALIDARG, format!("--notification-level: {e}")))?;
                agent.config.level_given = true;
            }
            let policy = crate::reboot::Policy::resolve(*reboot, reboot_at.as_deref(), &agent)?;
            let code = crate::agent_run::run(cli, *once, &agent)?;
            crate::reboot::after_install(cli, &policy, code)
        }
        Command::Quickstart { dir } => crate::quickstart::run(cli, dir),
        Command::Repo(command) => crate::repo::run(cli, command),
        Command::Server(command) => crate::server::run(cli, command),
        Command::Completions { shell } => {
            crate::shell::run_completions(<crate::Cli as clap::CommandFactory>::command(), *shell)
        }
        Command::Man { output } => {
            crate::shell::run_man(cli, <crate::Cli as clap::CommandFactory>::command(), output.as_deref())
        }
    }
}

/// Opens each package file (verifying it, with progress on a terminal).
fn open_packages(cli: &Cli, session: &UpdateSession, files: &[std::path::PathBuf]) -> CliResult<UpdateCollection> {
    let mut updates = UpdateCollection::new();
    for file in files {
        let update = crate::transfer::import(cli, session, file)?;
        updates.add(update)?;
    }
    Ok(updates)
}

/// What `wua download` or `wua install` acts on: the updates named, plus those a search finds
/// when filters, criteria or `--all` ask for one; `None` when that is nothing (said), or when
/// the user declined at the prompt.
fn selected(
    cli: &Cli,
    session: &UpdateSession,
    select: &SelectArgs,
    verb: &str,
) -> CliResult<Option<UpdateCollection>> {
    let filters = &select.filters;
    let searches = select.all || filters.narrows() || !filters.criteria.trim().is_empty();
    if select.update_ids.is_empty() && !searches {
        output::print_nothing_selected(cli, verb);
        return Ok(None);
    }
    let mut updates = if select.update_ids.is_empty() {
        UpdateCollection::new()
    } else {
        Pool::known_and_synced(session, filters.service.as_deref(), filters.offline)?.find_all(&select.update_ids)?
    };
    if searches {
        for found in &select::search(session, filters)?.updates {
            if !updates.iter().any(|u| u.identity().update_id == found.identity().update_id) {
                updates.add(found.clone())?;
            }
        }
    }
    if updates.is_empty() {
        output::print_nothing_to_install(cli);
        return Ok(None);
    }
    if select.dry_run {
        output::print_selected(cli, verb, &updates, true);
        return Ok(None);
    }
    if !select.yes && !crate::prompt::confirm(cli, verb, &updates)? {
        return Ok(None);
    }
    Ok(Some(updates))
}

/// Accepts the licenses (`--accept-eula`) once the call's checks have passed, installs
/// `updates` and prints the result table.
pub(crate) fn install(
    cli: &Cli,
    session: &UpdateSession,
    updates: UpdateCollection,
    licenses: Licenses,
    forced: bool,
) -> CliResult<u8> {
    let installer = session.create_update_installer();
    installer.set_updates(updates.clone());
    installer.set_is_forced(forced);
    let result = jobrun::install(cli, session, &installer, &updates, licenses, forced)?;
    output::print_result(cli, "install", &updates, &result);
    Ok(exit_code(&result))
}
