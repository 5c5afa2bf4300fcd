//! `wua install --interactive`: WUA's wizard at a terminal. It lists what a search finds, lets
//! the user choose, shows each license and asks for its acceptance; the install then runs with
//! progress. Without a terminal on stdin and stderr it refuses with
//! `WU_E_NO_INTERACTIVE_USER` (the library's `run_wizard` stays `WU_E_NO_UI_SUPPORT`).

use wua_agent::UpdateSession;
use wua_agent::wua_types::{HResult, UpdateCollection, WuError};

use crate::prompt::{ask, interactive};
use crate::{Cli, CliResult, FilterArgs, output, select};

/// The updates the user chose and whose licenses they accepted; `None` when they chose none.
pub(crate) fn choose(cli: &Cli, session: &UpdateSession, filters: &FilterArgs) -> CliResult<Option<UpdateCollection>> {
    if !interactive(cli) {
        return Err(WuError::new(
            HResult::WU_E_NO_INTERACTIVE_USER,
            "--interactive needs a terminal on stdin and stderr (and no --json or --quiet); \
             name the updates with --update-id, or select them with filters and --yes",
        ));
    }
    let found = select::search(session, filters)?.updates;
    if found.is_empty() {
        eprintln!("no updates found");
        return Ok(None);
    }
    output::print_selected(cli, "install", &found, false);
    let chosen = loop {
        let Some(answer) = ask("install which? (numbers like 1 3, \"all\", or Enter for none) ")? else {
            return Ok(None);
        };
        match parse_choice(&answer, found.count()) {
            Ok(chosen) => break chosen,
            Err(why) => eprintln!("{why}"),
        }
    };
    let mut accepted = UpdateCollection::new();
    for index in chosen {
        let Some(update) = found.iter().nth(index) else { continue };
        if !update.eula_text().is_empty() && !update.eula_accepted() {
            eprintln!("\nLicense terms of \"{}\":\n\n{}\n", update.title(), update.eula_text().trim_end());
            let yes = ask("accept them? [y/N] ")?
                .is_some_and(|a| matches!(a.trim().to_ascii_lowercase().as_str(), "y" | "yes"));
            if !yes {
                eprintln!("\"{}\" left out: its license terms were not accepted", update.title());
                continue;
            }
        }
        accepted.add(update.clone())?;
    }
    Ok((!accepted.is_empty()).then_some(accepted))
}

/// The 0-based indexes an answer chooses among `n` rows numbered from 1.
fn parse_choice(answer: &str, n: usize) -> Result<Vec<usize>, String> {
    let answer = answer.trim();
    if answer.eq_ignore_ascii_case("all") {
        return Ok((0..n).collect());
    }
    let mut out = Vec::new();
    for word in answer.split(|c: char| c.is_whitespace() || c == ',').filter(|w| !w.is_empty()) {
        match word.parse::<usize>() {
            Ok(k) if (1..=n).contains(&k) => {
                if !out.contains(&(k - 1)) {
                    out.push(k - 1);
                }
            }
            _ => return Err(format!("\"{word}\" is not a number from 1 to {n}")),
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn choices() {
        assert_eq!(parse_choice("all", 3), Ok(vec![0, 1, 2]));
        assert_eq!(parse_choice(" 3 1,3 ", 3), Ok(vec![2, 0]));
        assert_eq!(parse_choice("", 3), Ok(vec![]));
        assert!(parse_choice("4", 3).is_err());
        assert!(parse_choice("x", 3).is_err());
    }
}
