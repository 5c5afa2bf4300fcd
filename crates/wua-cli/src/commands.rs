//! One function per verb.

use wua_agent::UpdateSession;
use wua_agent::wua_types::{HResult, UpdateCollection, UpdateOperation, WuError};
use wua_package::Compression;

use crate::session::open_session;
use crate::{Cli, CliResult, Command, EXIT_OK, PackageCommand, exit_code};
use crate::{jobrun, output};

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
        Command::Install { update_ids, accept_eula, forced } => {
            let session = open_session(cli, &cli.state_dir, &cli.root)?;
            let updates = known(&session, update_ids)?;
            accept_eulas(cli, &updates, *accept_eula)?;
            install(cli, &session, updates, *forced)
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
        Command::Quickstart { dir } => crate::quickstart::run(cli, dir),
        Command::Repo(command) => crate::repo::run(cli, command),
    }
}

/// The newest known revision of each id, each update once, in the order first named; an
/// unknown id is a call error.
fn known(session: &UpdateSession, ids: &[String]) -> CliResult<UpdateCollection> {
    let mut updates = UpdateCollection::new();
    let mut seen = std::collections::HashSet::new();
    for id in ids {
        let update = session.find_update(id)?.ok_or_else(|| {
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
