//! The `wua` command line: the agent's verbs for an administrator.
//!
//! Exit codes (docs/cli.md): 0 every update succeeded, 1 an update failed or was aborted,
//! 2 the call itself failed (bad arguments, bad input, busy, access), 102 every update
//! succeeded but a reboot is required.

#![allow(clippy::print_stdout, clippy::print_stderr)]

mod commands;
mod jobrun;
mod output;
mod quickstart;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use wua_agent::wua_types::WuError;

/// wua: the Windows Update Agent for Linux.
#[derive(Debug, Parser)]
#[command(name = "wua", version, about)]
pub struct Cli {
    /// The agent's state directory.
    #[arg(long, global = true, env = "WUA_STATE_DIR", default_value = wua_agent::DEFAULT_STATE_DIR)]
    pub state_dir: PathBuf,
    /// The target root updates install into.
    #[arg(long, global = true, env = "WUA_ROOT", default_value = "/")]
    pub root: PathBuf,
    /// Print machine-readable JSON instead of tables.
    #[arg(long, global = true)]
    pub json: bool,
    #[command(subcommand)]
    pub command: Command,
}

/// The verbs.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Build and inspect standalone package files.
    #[command(subcommand)]
    Package(PackageCommand),
    /// Import standalone packages and install their updates.
    InstallPackage {
        /// Package files.
        #[arg(required = true)]
        files: Vec<PathBuf>,
        /// Accept the license terms of these updates (they are printed first).
        #[arg(long)]
        accept_eula: bool,
        /// Reinstall what is installed, and install although a reboot is pending.
        #[arg(long)]
        forced: bool,
    },
    /// Install updates already known to this agent (imported or downloaded), by id.
    Install {
        /// Update ids to install (the newest known revision of each).
        #[arg(long = "update-id", required = true)]
        update_ids: Vec<String>,
        /// Accept the license terms of these updates (they are printed first).
        #[arg(long)]
        accept_eula: bool,
        /// Reinstall what is installed, and install although a reboot is pending.
        #[arg(long)]
        forced: bool,
    },
    /// Uninstall installed updates.
    Uninstall {
        /// Update ids to remove.
        #[arg(long = "update-id", required = true)]
        update_ids: Vec<String>,
        /// Uninstall although the update is not recorded as installed or a reboot is pending.
        #[arg(long)]
        forced: bool,
    },
    /// Show the update history, newest first.
    History {
        /// The first entry to show (0 is the newest).
        #[arg(long, default_value_t = 0)]
        start: i32,
        /// How many entries to show.
        #[arg(long, default_value_t = 50)]
        count: i32,
    },
    /// Show the known updates, their state and whether a reboot is pending.
    Status,
    /// Finish or undo operations a crash or power loss interrupted (installs and uninstalls
    /// do this first anyway).
    Recover,
    /// Work with an update repository.
    #[command(subcommand)]
    Repo(RepoCommand),
    /// Build sample packages and install them into DIR/root (state in DIR/state).
    Quickstart {
        /// Where to work (created if missing).
        #[arg(default_value = "wua-quickstart")]
        dir: PathBuf,
    },
}

/// `wua package ...`.
#[derive(Debug, Subcommand)]
pub enum PackageCommand {
    /// Build a package file from a manifest and a payload directory.
    Build {
        /// The TOML publishing manifest.
        manifest: PathBuf,
        /// The payload directory.
        #[arg(long)]
        payload: PathBuf,
        /// The package file to write.
        #[arg(short = 'o', long = "output")]
        output: PathBuf,
        /// Compress the package with zstd.
        #[arg(long)]
        zstd: bool,
    },
    /// Verify packages and bring their updates into the agent (content cached, metadata
    /// recorded) without installing them.
    Import {
        /// Package files.
        #[arg(required = true)]
        files: Vec<PathBuf>,
    },
}

/// `wua repo ...`.
#[derive(Debug, Subcommand)]
pub enum RepoCommand {
    /// Serve a repository directory over HTTP as a static host would (ranges, ETags, no
    /// listing), until interrupted.
    Serve {
        /// The repository directory.
        dir: PathBuf,
        /// The address to listen on.
        #[arg(long, default_value = "127.0.0.1:8080")]
        listen: std::net::SocketAddr,
    },
}

/// Exit code: every update succeeded.
pub const EXIT_OK: u8 = 0;
/// Exit code: an update failed or was aborted.
pub const EXIT_FAILED: u8 = 1;
/// Exit code: the call failed.
pub const EXIT_CALL_ERROR: u8 = 2;
/// Exit code: every update succeeded and a reboot is required.
pub const EXIT_REBOOT_REQUIRED: u8 = 102;

fn main() -> ExitCode {
    tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::from_env("WUA_LOG"))
        .with_writer(std::io::stderr)
        .init();
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => {
            let _ = e.print();
            return ExitCode::from(if e.use_stderr() { EXIT_CALL_ERROR } else { EXIT_OK });
        }
    };
    jobrun::handle_interrupts();
    match commands::run(&cli) {
        Ok(code) => ExitCode::from(code),
        Err(e) => {
            output::print_error(&cli, &e);
            ExitCode::from(EXIT_CALL_ERROR)
        }
    }
}

/// A call-level failure for the CLI: an agent error, or the CLI's own.
pub type CliResult<T> = Result<T, WuError>;
