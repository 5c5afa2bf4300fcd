//! One function per verb.

use wua_agent::UpdateSession;
use wua_agent::wua_types::{HResult, Update, UpdateCollection, UpdateOperation, WuError};
use wua_package::Compression;

use crate::session::open_session;
use crate::{CacheCommand, Cli, CliResult, Command, EXIT_OK, PackageCommand, exit_code};
use crate::{jobrun, output, services};

/// Runs the verb the command line names; the process's exit code.
pub(crate) fn run(cli: &Cli) -> CliResult<u8> {
    match &cli.command {
        Command::Package(PackageCommand::Build { manifest, payload, output, zstd }) => {
            let compression = if *zstd { Compression::Zstd } else { Compression::None };
            let doc = wua_package::build_package(manifest, payload, output, compression)?;
            output::print_built(cli, &doc, output);
            Ok(EXIT_OK)
        }
        Command::Package(PackageCommand::Import { files }) => {
            let session = open_session(cli, &cli.state_dir, &cli.root)?;
            let mut updates = UpdateCollection::new();
            for file in files {
                updates.add(session.open_package(file)?)?;
            }
            output::print_imported(cli, &updates);
            Ok(EXIT_OK)
        }
        Command::InstallPackage { files, accept_eula, forced } => {
            let session = open_session(cli, &cli.state_dir, &cli.root)?;
            let mut updates = UpdateCollection::new();
            for file in files {
                updates.add(session.open_package(file)?)?;
            }
            accept_eulas(cli, &updates, *accept_eula)?;
            install(cli, &session, updates, *forced)
        }
        Command::Install { update_ids, all, service, accept_eula, forced } => {
            let session = open_session(cli, &cli.state_dir, &cli.root)?;
            let updates = if *all {
                services::search(&session, service.as_deref(), "", false)?.updates.copy()
            } else {
                known_or_synced(&session, service.as_deref(), update_ids)?
            };
            if updates.is_empty() {
                output::print_nothing_to_install(cli);
                return Ok(EXIT_OK);
            }
            services::download_missing(cli, &session, &updates)?;
            accept_eulas(cli, &updates, *accept_eula)?;
            install(cli, &session, updates, *forced)
        }
        Command::Search { search } => {
            let session = open_session(cli, &cli.state_dir, &cli.root)?;
            let result = services::search(&session, search.service.as_deref(), &search.criteria, search.offline)?;
            output::print_search(cli, &result);
            Ok(EXIT_OK)
        }
        Command::Download { search, forced } => {
            let session = open_session(cli, &cli.state_dir, &cli.root)?;
            let found =
                services::search(&session, search.service.as_deref(), &search.criteria, search.offline)?.updates.copy();
            if found.is_empty() {
                output::print_nothing_to_install(cli);
                return Ok(EXIT_OK);
            }
            let downloader = session.create_update_downloader();
            downloader.set_updates(found.clone());
            downloader.set_is_forced(*forced);
            let result = downloader.download()?;
            output::print_download(cli, &found, &result);
            Ok(services::download_exit_code(&result))
        }
        Command::Service(command) => services::run(cli, command),
        Command::Cache(CacheCommand::Clean { all }) => {
            let session = open_session(cli, &cli.state_dir, &cli.root)?;
            let cleaned = session.clean_cache(*all)?;
            output::print_cache_cleaned(cli, &cleaned);
            Ok(EXIT_OK)
        }
        Command::Uninstall { update_ids, forced } => {
            let session = open_session(cli, &cli.state_dir, &cli.root)?;
            let updates = known(&session, update_ids)?;
            let installer = session.create_update_installer();
            installer.set_updates(updates.clone());
            installer.set_is_forced(*forced);
            let result = jobrun::run(cli, &installer, &updates, UpdateOperation::Uninstallation)?;
            output::print_result(cli, "uninstall", &updates, &result);
            Ok(exit_code(&result))
        }
        Command::History { start, count } => {
            let session = open_session(cli, &cli.state_dir, &cli.root)?;
            let searcher = session.create_update_searcher();
            let total = searcher.get_total_history_count()?;
            let entries = searcher.query_history(*start, *count)?;
            output::print_history(cli, total, &entries);
            Ok(EXIT_OK)
        }
        Command::Status => {
            let session = open_session(cli, &cli.state_dir, &cli.root)?;
            output::print_status(cli, &session)?;
            Ok(EXIT_OK)
        }
        Command::Recover => {
            let session = open_session(cli, &cli.state_dir, &cli.root)?;
            let done = session.recover()?;
            output::print_recovered(cli, &done);
            Ok(EXIT_OK)
        }
        Command::Agent(crate::AgentCommand::Run { once, config }) => crate::agent_run::run(cli, *once, config),
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

/// The newest known revision of each id, each update once, in the order first named; an
/// unknown id is a call error.
fn known(session: &UpdateSession, ids: &[String]) -> CliResult<UpdateCollection> {
    known_by(ids, |id| session.find_update(id))
}

/// The newest revision of each id among those the datastore knows (imported, installed) and
/// the service offers (refreshed first); the service's when the revisions are equal, so history
/// names where it came from.
fn known_or_synced(session: &UpdateSession, service: Option<&str>, ids: &[String]) -> CliResult<UpdateCollection> {
    known_by(ids, |id| {
        let known = session.find_update(id)?;
        let synced = services::find_synced(session, service, id)?;
        Ok(match (known, synced) {
            (Some(k), Some(s)) if s.identity().revision_number >= k.identity().revision_number => Some(s),
            (Some(k), _) => Some(k),
            (None, s) => s,
        })
    })
}

/// Each id's update as `lookup` finds it, each update once, in the order first named.
fn known_by(ids: &[String], lookup: impl Fn(&str) -> CliResult<Option<Update>>) -> CliResult<UpdateCollection> {
    let mut updates = UpdateCollection::new();
    let mut seen = std::collections::HashSet::new();
    for id in ids {
        let update = lookup(id)?.ok_or_else(|| {
            WuError::new(HResult::WU_E_UNKNOWN_ID, format!("no update with id {id} is known to this agent"))
        })?;
        // Compared as resolved, so two spellings of one id count as one.
        if seen.insert(update.identity()) {
            updates.add(update)?;
        }
    }
    Ok(updates)
}

/// With `--accept-eula`, prints each unaccepted license and accepts it (D-14).
fn accept_eulas(cli: &Cli, updates: &UpdateCollection, accept: bool) -> CliResult<()> {
    if !accept {
        return Ok(());
    }
    for update in updates {
        if !update.eula_text().is_empty() && !update.eula_accepted() {
            output::print_eula(cli, update);
            update.accept_eula()?;
        }
    }
    Ok(())
}

/// Installs `updates` and prints the result table.
pub(crate) fn install(cli: &Cli, session: &UpdateSession, updates: UpdateCollection, forced: bool) -> CliResult<u8> {
    let installer = session.create_update_installer();
    installer.set_updates(updates.clone());
    installer.set_is_forced(forced);
    let result = jobrun::run(cli, &installer, &updates, UpdateOperation::Installation)?;
    output::print_result(cli, "install", &updates, &result);
    Ok(exit_code(&result))
}
