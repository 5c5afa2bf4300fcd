//! Questions at a terminal: `wua install` and friends ask before acting when a person runs
//! them (stdin and stderr are terminals); scripts, `--yes`, `--json` and `--quiet` are not
//! asked.

use std::io::{BufRead, IsTerminal, Write};

use wua_agent::wua_types::{HResult, UpdateCollection, WuError};

use crate::{Cli, CliResult, output};

/// Whether a person is at the terminal to answer.
pub(crate) fn interactive(cli: &Cli) -> bool {
    !cli.json && !cli.quiet && std::io::stdin().is_terminal() && std::io::stderr().is_terminal()
}

/// Lists `updates` and asks whether to `verb` them; true without a person to ask.
pub(crate) fn confirm(cli: &Cli, verb: &str, updates: &UpdateCollection) -> CliResult<bool> {
    if !interactive(cli) {
        return Ok(true);
    }
    output::print_selected(cli, verb, updates, false);
    let n = updates.count();
    let question = format!("{verb} {n} update{}? [y/N] ", if n == 1 { "" } else { "s" });
    let yes = ask(&question)?.is_some_and(|a| matches!(a.trim().to_ascii_lowercase().as_str(), "y" | "yes"));
    if !yes {
        eprintln!("nothing done");
    }
    Ok(yes)
}

/// Prints `question` on stderr and reads one line; `None` at the end of input.
pub(crate) fn ask(question: &str) -> CliResult<Option<String>> {
    let mut err = std::io::stderr();
    let _ = write!(err, "{question}");
    let _ = err.flush();
    let mut line = String::new();
    let n = std::io::stdin()
        .lock()
        .read_line(&mut line)
        .map_err(|e| WuError::new(HResult::WU_E_UNEXPECTED, format!("reading the answer: {e}")))?;
    Ok((n > 0).then_some(line))
}
