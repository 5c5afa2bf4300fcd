//! What an unattended install does when an update asks for a reboot (PSWindowsUpdate's
//! `-AutoReboot` / `-IgnoreReboot`): never restart (the default; say so), restart at once, or
//! at a set time of day. The restart runs the configured command, `shutdown -r {when}` unless
//! `[agent] reboot_command` says otherwise, with `{when}` replaced by `now` or `HH:MM`.

use wua_agent::wua_types::{HResult, WuError};

use crate::settings::Agent;
use crate::{Cli, CliResult, EXIT_REBOOT_REQUIRED, RebootPolicyArg};

/// The restart command unless the configuration names another.
pub(crate) const DEFAULT_REBOOT_COMMAND: &[&str] = &["shutdown", "-r", "{when}"];

/// The resolved policy.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Policy {
    /// When to restart.
    pub when: When,
    /// The command, `{when}` not yet replaced.
    pub command: Vec<String>,
}

/// When to restart after an install asked for it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum When {
    /// Never: report that a reboot is required.
    Never,
    /// At once.
    Now,
    /// At this local time of day (`HH:MM`).
    At(String),
}

impl Policy {
    /// From the flags (or `WUA_REBOOT`, `WUA_REBOOT_AT`), else the configuration file, else
    /// never.
    pub(crate) fn resolve(arg: Option<RebootPolicyArg>, at: Option<&str>, agent: &Agent) -> CliResult<Policy> {
        let policy = arg.or(agent.config.reboot);
        let at = at.map(str::to_owned).or_else(|| agent.config.reboot_at.clone());
        let when = match policy {
            None | Some(RebootPolicyArg::Never) => When::Never,
            Some(RebootPolicyArg::IfRequired) => When::Now,
            Some(RebootPolicyArg::AtTime) => {
                let at = at.ok_or_else(|| {
                    WuError::new(
                        HResult::E_INVALIDARG,
                        "--reboot at-time needs --reboot-at HH:MM (a local time of day)",
                    )
                })?;
                When::At(parse_time(&at)?)
            }
        };
        let command = agent
            .config
            .reboot_command
            .clone()
            .unwrap_or_else(|| DEFAULT_REBOOT_COMMAND.iter().map(|s| (*s).to_owned()).collect());
        Ok(Policy { when, command })
    }
}

/// `HH:MM`, checked.
pub(crate) fn parse_time(text: &str) -> CliResult<String> {
    let bad =
        || WuError::new(HResult::E_INVALIDARG, format!("reboot time \"{text}\": expected HH:MM (00:00 to 23:59)"));
    let (h, m) = text.split_once(':').ok_or_else(bad)?;
    let (h, m): (u8, u8) = (h.parse().map_err(|_| bad())?, m.parse().map_err(|_| bad())?);
    if h > 23 || m > 59 || text.len() != 5 {
        return Err(bad());
    }
    Ok(format!("{h:02}:{m:02}"))
}

/// After an install that exited with `code`: restart as the policy says when a reboot is
/// required. The exit code stays what the install gave.
pub(crate) fn after_install(cli: &Cli, policy: &Policy, code: u8) -> CliResult<u8> {
    if code != EXIT_REBOOT_REQUIRED {
        return Ok(code);
    }
    let when = match &policy.when {
        When::Never => {
            if !cli.json && !cli.quiet {
                eprintln!(
                    "wua: a reboot is required to finish: restart the machine (or pass --reboot if-required); \
                     installs wait for it, `wua reboot-status` shows it"
                );
            }
            return Ok(code);
        }
        When::Now => "now".to_owned(),
        When::At(time) => time.clone(),
    };
    let argv: Vec<String> = policy.command.iter().map(|a| a.replace("{when}", &when)).collect();
    let Some((program, args)) = argv.split_first() else {
        return Err(WuError::new(HResult::E_INVALIDARG, "agent.reboot_command is empty"));
    };
    tracing::info!(command = ?argv, "restarting as the reboot policy says");
    let status = std::process::Command::new(program).args(args).status().map_err(|e| {
        WuError::new(HResult::WU_E_UNEXPECTED, format!("running the reboot command {}: {e}", argv.join(" ")))
    })?;
    if !status.success() {
        return Err(WuError::new(
            HResult::WU_E_UNEXPECTED,
            format!("the reboot command {} failed ({status})", argv.join(" ")),
        ));
    }
    if !cli.json && !cli.quiet {
        eprintln!(
            "wua: reboot {} ({})",
            if when == "now" { "started".into() } else { format!("scheduled at {when}") },
            argv.join(" ")
        );
    }
    Ok(code)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_of_day() {
        assert_eq!(parse_time("03:30").unwrap(), "03:30");
        for bad in ["3:30", "24:00", "12:60", "noon", "12:3a", ""] {
            assert_eq!(parse_time(bad).unwrap_err().hresult, HResult::E_INVALIDARG, "{bad}");
        }
    }
}
