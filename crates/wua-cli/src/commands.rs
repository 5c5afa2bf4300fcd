//! One function per verb.

use std::path::Path;

use wua_agent::wua_types::{
    HResult, InstallationResult, OperationResultCode, UpdateCollection, UpdateOperation, WuError,
};
use wua_agent::{BootIdSource, SessionOptions, UpdateSession};
use wua_package::Compression;

use crate::{Cli, CliResult, Command, EXIT_CALL_ERROR, EXIT_FAILED, EXIT_OK, EXIT_REBOOT_REQUIRED, PackageCommand};
use crate::{jobrun, output};

/// The client application id the CLI records in history.
pub const CLIENT_ID: &str = "wua-cli";

pub fn run(cli: &Cli) -> CliResult<u8> {
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

/// Opens a session; `WUA_BOOT_ID_FILE` replaces the system's boot id (tests simulate a reboot
/// with it).
pub fn open_session(_cli: &Cli, state_dir: &Path, root: &Path) -> CliResult<UpdateSession> {
    let mut options = SessionOptions::new(state_dir, root);
    if let Some(file) = std::env::var_os("WUA_BOOT_ID_FILE") {
        options.boot_id = BootIdSource::File(file.into());
    }
    let session = UpdateSession::open(options).map_err(|mut e| {
        // This user cannot create the state directory, or cannot open its datastore: say what
        // to do.
        let denied = e.hresult == HResult::E_ACCESSDENIED;
        if denied || (e.hresult == HResult::WUA_E_STATE_DIR && !state_dir.exists()) {
            e.message.push_str(if state_dir == Path::new(wua_agent::DEFAULT_STATE_DIR) {
                "; run as root or pass --state-dir with a directory you can write"
            } else {
                "; run as root or pass a --state-dir you can write"
            });
        }
        e
    })?;
    session.set_client_application_id(CLIENT_ID);
    Ok(session)
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
pub fn install(cli: &Cli, session: &UpdateSession, updates: UpdateCollection, forced: bool) -> CliResult<u8> {
    let installer = session.create_update_installer();
    installer.set_updates(updates.clone());
    installer.set_is_forced(forced);
    let result = jobrun::run(cli, &installer, &updates, UpdateOperation::Installation)?;
    output::print_result(cli, "install", &updates, &result);
    Ok(exit_code(&result))
}

/// 0, 1 or 102 from a result.
pub fn exit_code(result: &InstallationResult) -> u8 {
    match result.result_code {
        OperationResultCode::Succeeded if result.reboot_required => EXIT_REBOOT_REQUIRED,
        OperationResultCode::Succeeded => EXIT_OK,
        OperationResultCode::NotStarted | OperationResultCode::InProgress => EXIT_CALL_ERROR,
        _ => EXIT_FAILED,
    }
}
