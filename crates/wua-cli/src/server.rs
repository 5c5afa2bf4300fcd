//! `wua server ...`: the update server's verbs (wua-server): set up a data directory, run the
//! server, make and revoke administrator tokens, back up and restore.

use std::path::{Path, PathBuf};

use wua_agent::wua_types::{HResult, WuError};
use wua_server::store::{Changed, DB_FILE, SqliteStorage, Storage};
use wua_server::token::{self, TokenKind};
use wua_server::{Server, ServerConfig, ServerError};

use crate::output::print_table;
use crate::{Cli, CliResult, EXIT_OK, ServerCommand, TokenCommand};

pub(crate) fn run(cli: &Cli, command: &ServerCommand) -> CliResult<u8> {
    let rt = tokio::runtime::Runtime::new()
        .map_err(|e| WuError::new(HResult::WUA_E_SERVER_CONFIG, format!("starting the runtime: {e}")))?;
    rt.block_on(run_async(cli, command)).map_err(WuError::from)
}

async fn run_async(cli: &Cli, command: &ServerCommand) -> Result<u8, ServerError> {
    match command {
        ServerCommand::Init { data_dir, repository } => {
            let config = wua_server::init(data_dir, repository).await?;
            if cli.json {
                println!("{}", serde_json::json!({"data_dir": data_dir, "repository": config.repository}));
            } else {
                println!(
                    "server data in {} for repository {}; make an administrator token with `wua server token create --data-dir {} --name NAME`",
                    data_dir.display(),
                    config.repository.display(),
                    data_dir.display()
                );
            }
        }
        ServerCommand::Run { data_dir, listen } => {
            let mut config = ServerConfig::load(data_dir)?;
            if let Some(l) = listen {
                config.listen = *l;
            }
            let scheme = if config.tls.is_some() { "https" } else { "http" };
            let server = Server::bind(data_dir, config).await?;
            let addr = server.local_addr()?;
            println!("listening on {scheme}://{addr}/");
            server.run(shutdown_signal()).await?;
        }
        ServerCommand::Token(TokenCommand::Create { data_dir, name }) => {
            let storage = SqliteStorage::open(data_dir)?;
            let (text, secret) = token::generate(TokenKind::Admin)
                .map_err(|_| ServerError::Config("the system gave no random bytes".into()))?;
            storage.create_admin_token(&secret.id, name, &secret.digest()).await?;
            storage.audit("wua server token create", "create_admin_token", &secret.id, name).await?;
            if cli.json {
                println!("{}", serde_json::json!({"id": secret.id, "name": name, "token": text}));
            } else {
                // The token itself goes to stdout alone, so `$(wua server token create ...)`
                // captures it; it is shown only now.
                eprintln!("administrator token {} ({name}); it is shown once:", secret.id);
                println!("{text}");
            }
        }
        ServerCommand::Token(TokenCommand::List { data_dir }) => {
            let tokens = SqliteStorage::open(data_dir)?.admin_tokens().await?;
            if cli.json {
                let list: Vec<_> = tokens
                    .iter()
                    .map(|(id, name, created, revoked)| serde_json::json!({"id": id, "name": name, "created_at": created, "revoked": revoked}))
                    .collect();
                println!("{}", serde_json::Value::Array(list));
            } else {
                let rows: Vec<Vec<String>> = tokens
                    .into_iter()
                    .map(|(id, name, created, revoked)| {
                        vec![id, name, created, if revoked { "revoked".into() } else { "active".into() }]
                    })
                    .collect();
                print_table(&["id", "name", "created", "state"], &rows);
            }
        }
        ServerCommand::Token(TokenCommand::Revoke { data_dir, id }) => {
            let storage = SqliteStorage::open(data_dir)?;
            if storage.revoke_admin_token(id).await? != Changed::Done {
                return Err(ServerError::Config(format!("no active administrator token {id}")));
            }
            storage.audit("wua server token revoke", "revoke_admin_token", id, "").await?;
            println!("revoked administrator token {id}");
        }
        ServerCommand::Backup { data_dir, output } => {
            backup(data_dir, output).await?;
            println!("backed up {} to {}", data_dir.display(), output.display());
        }
        ServerCommand::Restore { backup, data_dir } => {
            restore(backup, data_dir)?;
            println!("restored {} into {}", backup.display(), data_dir.display());
        }
    }
    Ok(EXIT_OK)
}

/// SIGTERM or SIGINT.
async fn shutdown_signal() {
    use tokio::signal::unix::{SignalKind, signal};
    let (Ok(mut term), Ok(mut int)) = (signal(SignalKind::terminate()), signal(SignalKind::interrupt())) else {
        return std::future::pending().await;
    };
    tokio::select! {
        _ = term.recv() => {}
        _ = int.recv() => {}
    }
}

/// A backup directory: `server.sqlite` (SQLite's online backup, consistent while the server
/// runs), `server.toml`, and `repository/`, a copy of the repository directory taken under its
/// writer lock.
async fn backup(data_dir: &Path, output: &Path) -> Result<(), ServerError> {
    let config = ServerConfig::load(data_dir)?;
    if output.exists() {
        return Err(ServerError::Config(format!("{} exists; back up into a new directory", output.display())));
    }
    fs_err::create_dir_all(output).map_err(|e| io(output, e))?;
    let storage = SqliteStorage::open(data_dir)?;
    storage.backup(&output.join(DB_FILE)).await?;
    let lock = wua_trust::repo::RepoLock::acquire(&config.repository, wua_trust::repo::RepoLock::DEFAULT_WAIT).await?;
    copy_tree(&config.repository, &output.join("repository"))?;
    drop(lock);
    let mut saved = config.clone();
    saved.repository = PathBuf::from("repository");
    let text = toml::to_string(&saved).map_err(|e| ServerError::Config(e.to_string()))?;
    fs_err::write(output.join(wua_server::config::CONFIG_FILE), text).map_err(|e| io(output, e))?;
    Ok(())
}

/// Restores a backup into a new data directory; the repository goes to `DATA_DIR/repository`.
fn restore(backup: &Path, data_dir: &Path) -> Result<(), ServerError> {
    if data_dir.exists() && fs_err::read_dir(data_dir).map_err(|e| io(data_dir, e))?.next().is_some() {
        return Err(ServerError::Config(format!("{} is not empty; restore into a new directory", data_dir.display())));
    }
    let mut config = ServerConfig::load(backup)?;
    fs_err::create_dir_all(data_dir).map_err(|e| io(data_dir, e))?;
    let repository = std::path::absolute(data_dir.join("repository")).map_err(|e| io(data_dir, e))?;
    copy_tree(&backup.join("repository"), &repository)?;
    fs_err::copy(backup.join(DB_FILE), data_dir.join(DB_FILE)).map_err(|e| io(data_dir, e))?;
    config.repository = repository;
    let text = toml::to_string(&config).map_err(|e| ServerError::Config(e.to_string()))?;
    fs_err::write(data_dir.join(wua_server::config::CONFIG_FILE), text).map_err(|e| io(data_dir, e))?;
    // Opening migrates a backup from an older server.
    SqliteStorage::open(data_dir)?;
    Ok(())
}

fn io(path: &Path, e: std::io::Error) -> ServerError {
    ServerError::Config(format!("{}: {e}", path.display()))
}

/// Copies a directory tree (files, directories and their modes; the repository has no links).
fn copy_tree(from: &Path, to: &Path) -> Result<(), ServerError> {
    use std::os::unix::fs::PermissionsExt;
    fs_err::create_dir_all(to).map_err(|e| io(to, e))?;
    for entry in fs_err::read_dir(from).map_err(|e| io(from, e))? {
        let entry = entry.map_err(|e| io(from, e))?;
        let (src, dst) = (entry.path(), to.join(entry.file_name()));
        let meta = fs_err::symlink_metadata(&src).map_err(|e| io(&src, e))?;
        if meta.is_dir() {
            copy_tree(&src, &dst)?;
            fs_err::set_permissions(&dst, std::fs::Permissions::from_mode(meta.permissions().mode()))
                .map_err(|e| io(&dst, e))?;
        } else if meta.is_file() {
            // The writer lock file is not part of the repository's state.
            if entry.file_name() == "repo.lock" {
                continue;
            }
            fs_err::copy(&src, &dst).map_err(|e| io(&src, e))?;
        }
    }
    Ok(())
}
