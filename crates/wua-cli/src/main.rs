//! The `wua` command line: the agent's verbs for an administrator.
//!
//! Exit codes (docs/cli.md): 0 every update succeeded, 1 an update failed or was aborted,
//! 2 the call itself failed (bad arguments, bad input, busy, access), 102 every update
//! succeeded but a reboot is required.

#![allow(clippy::print_stdout, clippy::print_stderr)]

mod agent_config;
mod agent_managed;
mod agent_run;
mod args;
mod commands;
mod hints;
mod jobrun;
mod json;
mod json_inspect;
mod output;
mod paths;
mod progress;
mod prompt;
mod quickstart;
mod quickstart_server;
mod reboot;
mod repo;
mod select;
mod server;
mod services;
mod session;
mod settings;
mod shell;
mod transfer;
mod wizard;

use std::process::ExitCode;

use clap::Parser;
use wua_agent::wua_types::{HResult, WuError};

pub use args::*;

/// Exit code: every update succeeded.
pub const EXIT_OK: u8 = 0;
/// Exit code: an update failed or was aborted.
pub const EXIT_FAILED: u8 = 1;
/// Exit code: the call failed.
pub const EXIT_CALL_ERROR: u8 = 2;
/// Exit code: every update succeeded and a reboot is required.
pub const EXIT_REBOOT_REQUIRED: u8 = 102;

/// 0, 1 or 102 from a result.
pub fn exit_code(result: &wua_agent::wua_types::InstallationResult) -> u8 {
    match result.result_code {
        wua_agent::wua_types::OperationResultCode::Succeeded if result.reboot_required => EXIT_REBOOT_REQUIRED,
        wua_agent::wua_types::OperationResultCode::Succeeded => EXIT_OK,
        wua_agent::wua_types::OperationResultCode::NotStarted
        | wua_agent::wua_types::OperationResultCode::InProgress => EXIT_CALL_ERROR,
        _ => EXIT_FAILED,
    }
}

fn main() -> ExitCode {
    // Like other Unix tools, end quietly when the reader of our output goes away (`| head`).
    // SAFETY: restoring the default disposition of SIGPIPE before any thread starts.
    unsafe {
        libc::signal(libc::SIGPIPE, libc::SIG_DFL);
    }
    tracing_subscriber::fmt()
        .with_env_filter(log_filter(std::env::var("WUA_LOG").unwrap_or_default().trim()))
        .with_writer(std::io::stderr)
        // Colours only on a terminal: the journal and pipes get plain text.
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .init();
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => {
            // Under --json a bad command line is a JSON error too, so a script parses one
            // shape; --help and --version print as they always do.
            if e.use_stderr() && std::env::args_os().any(|a| a == "--json") {
                let error = WuError::new(HResult::E_INVALIDARG, e.render().to_string().trim_end());
                json::print(&json::CallError::from(&error));
            } else {
                let _ = e.print();
            }
            return ExitCode::from(if e.use_stderr() { EXIT_CALL_ERROR } else { EXIT_OK });
        }
    };
    if cli.quiet && !cli.json {
        silence_stdout();
    }
    jobrun::handle_interrupts();
    match commands::run(&cli) {
        Ok(code) => ExitCode::from(code),
        Err(e) => {
            output::print_error(&cli, &e);
            ExitCode::from(EXIT_CALL_ERROR)
        }
    }
}

/// The crates whose logs `WUA_LOG=LEVEL` shows: wua's own.
const WUA_CRATES: &[&str] = &[
    "wua",
    "wua_agent",
    "wua_catalog",
    "wua_fetch",
    "wua_fs",
    "wua_install",
    "wua_package",
    "wua_server",
    "wua_store",
    "wua_trust",
];

/// `WUA_LOG`: a bare level (`debug`) is wua's crates at that level and the libraries under them
/// at `warn`, so the log says what the agent does; anything else is a full `tracing` filter
/// (`WUA_LOG=debug,hyper=trace`).
fn log_filter(value: &str) -> tracing_subscriber::EnvFilter {
    const LEVELS: &[&str] = &["error", "warn", "info", "debug", "trace"];
    let directives = if LEVELS.contains(&value.to_ascii_lowercase().as_str()) {
        let ours: Vec<String> = WUA_CRATES.iter().map(|c| format!("{c}={value}")).collect();
        format!("warn,{}", ours.join(","))
    } else if value.is_empty() {
        "warn".to_owned()
    } else {
        value.to_owned()
    };
    tracing_subscriber::EnvFilter::try_new(&directives).unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn"))
}

/// `--quiet`: what the verbs print on stdout goes nowhere; errors still reach stderr, and the
/// exit code still says how it went.
fn silence_stdout() {
    use std::os::fd::AsRawFd;
    if let Ok(null) = std::fs::OpenOptions::new().write(true).open("/dev/null") {
        // SAFETY: dup2 onto stdout's descriptor; `null` stays open until dup2 has returned.
        unsafe {
            libc::dup2(null.as_raw_fd(), libc::STDOUT_FILENO);
        }
    }
}

/// A call-level failure for the CLI: an agent error, or the CLI's own.
pub type CliResult<T> = Result<T, WuError>;
