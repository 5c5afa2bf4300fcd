//! Shell integration: completion scripts (`wua completions`) and man pages (`wua man`).
//!
//! Both are generated from the clap definitions at run time rather than kept as files, so they
//! cannot drift from what the parser accepts; the Debian package (scripts/build-deb) runs the
//! binary it ships to make them. The generators take a `clap::Command` and return bytes or
//! write files; only the `run_*` functions print.

use std::io::Write;
use std::path::{Path, PathBuf};

use wua_agent::wua_types::{HResult, WuError};

use crate::{Cli, CliResult, EXIT_OK};

/// The shells `wua completions` writes a script for: the ones Debian ships completion
/// directories for.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum CompletionShell {
    /// bash (bash-completion).
    Bash,
    /// zsh.
    Zsh,
    /// fish.
    Fish,
}

impl CompletionShell {
    fn generator(self) -> clap_complete::Shell {
        match self {
            CompletionShell::Bash => clap_complete::Shell::Bash,
            CompletionShell::Zsh => clap_complete::Shell::Zsh,
            CompletionShell::Fish => clap_complete::Shell::Fish,
        }
    }
}

/// The completion script for `shell`, for the command `cmd` as it is invoked (its name).
pub(crate) fn completion_script(cmd: clap::Command, shell: CompletionShell) -> CliResult<Vec<u8>> {
    use clap_complete::Generator;
    let name = cmd.get_name().to_owned();
    let mut cmd = cmd.bin_name(name);
    // `try_generate` on a built command rather than `clap_complete::generate`, which panics
    // when its writer fails; building is what `generate` would do first.
    cmd.build();
    let mut script = Vec::new();
    shell
        .generator()
        .try_generate(&cmd, &mut script)
        .map_err(|e| WuError::new(HResult::WU_E_UNEXPECTED, format!("generating the completion script: {e}")))?;
    Ok(script)
}

/// The man page of `cmd` itself (roff, section 1), e.g. `wua.1`.
pub(crate) fn man_page(cmd: clap::Command) -> CliResult<Vec<u8>> {
    let mut page = Vec::new();
    // No date: the page of one version is byte-identical from build to build. No `help`
    // subcommand: it gets no page of its own (below), so the list of subcommands leaves it out.
    clap_mangen::Man::new(cmd.disable_help_subcommand(true))
        .render(&mut page)
        .map_err(|e| WuError::new(HResult::WU_E_UNEXPECTED, format!("rendering the man page: {e}")))?;
    Ok(page)
}

/// Writes the man pages of `cmd` and of each of its visible subcommands, nested ones too
/// (`wua.1`, `wua-install.1`, `wua-repo-init.1`, ...), into `dir`, created if missing; the
/// files written, sorted.
pub(crate) fn write_man_pages(cmd: clap::Command, dir: &Path) -> CliResult<Vec<PathBuf>> {
    fs_err::create_dir_all(dir).map_err(|e| io_error(dir, e))?;
    // The same walk as `clap_mangen::generate_to`, which does not report the files it wrote:
    // hidden subcommands and the `help` subcommand get no page.
    let mut cmd = cmd.disable_help_subcommand(true);
    cmd.build();
    let mut written = Vec::new();
    write_pages(&cmd, dir, &mut written)?;
    written.sort();
    Ok(written)
}

fn write_pages(cmd: &clap::Command, dir: &Path, written: &mut Vec<PathBuf>) -> CliResult<()> {
    for sub in cmd.get_subcommands().filter(|s| !s.is_hide_set()) {
        write_pages(sub, dir, written)?;
    }
    let man = clap_mangen::Man::new(cmd.clone());
    let path = dir.join(man.get_filename());
    let mut page = Vec::new();
    man.render(&mut page)
        .map_err(|e| WuError::new(HResult::WU_E_UNEXPECTED, format!("rendering {}: {e}", path.display())))?;
    fs_err::write(&path, page).map_err(|e| io_error(&path, e))?;
    written.push(path);
    Ok(())
}

/// An I/O failure on `path` as the HResult closest to its cause.
fn io_error(path: &Path, e: std::io::Error) -> WuError {
    use std::io::ErrorKind;
    let hresult = match e.kind() {
        ErrorKind::PermissionDenied | ErrorKind::ReadOnlyFilesystem => HResult::E_ACCESSDENIED,
        ErrorKind::NotFound | ErrorKind::NotADirectory => HResult::COR_E_DIRECTORYNOTFOUND,
        _ => HResult::WU_E_UNEXPECTED,
    };
    // fs_err's message already names the path; a plain io::Error's does not.
    let text = e.to_string();
    let message = if text.contains(&*path.to_string_lossy()) { text } else { format!("{}: {text}", path.display()) };
    WuError::new(hresult, message)
}

/// `wua completions SHELL`: the script on stdout.
pub(crate) fn run_completions(cmd: clap::Command, shell: CompletionShell) -> CliResult<u8> {
    let script = completion_script(cmd, shell)?;
    write_stdout(&script)?;
    Ok(EXIT_OK)
}

/// `wua man [--output DIR]`: every page into DIR (their paths printed), or `wua.1` on stdout.
pub(crate) fn run_man(cli: &Cli, cmd: clap::Command, output: Option<&Path>) -> CliResult<u8> {
    match output {
        None => write_stdout(&man_page(cmd)?)?,
        Some(dir) => {
            let written = write_man_pages(cmd, dir)?;
            if cli.json {
                crate::json::print(&serde_json::json!({ "written": written }));
            } else {
                for path in &written {
                    println!("{}", path.display());
                }
            }
        }
    }
    Ok(EXIT_OK)
}

/// Writes `bytes` to stdout; a failure (a full disk behind a redirection) is an error, not a
/// panic as `print!` would make it.
fn write_stdout(bytes: &[u8]) -> CliResult<()> {
    let mut out = std::io::stdout().lock();
    out.write_all(bytes)
        .and_then(|()| out.flush())
        .map_err(|e| WuError::new(HResult::WU_E_UNEXPECTED, format!("writing to stdout: {e}")))
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn every_shell_gets_a_script_naming_the_verbs() {
        for shell in [CompletionShell::Bash, CompletionShell::Zsh, CompletionShell::Fish] {
            let script = String::from_utf8(completion_script(Cli::command(), shell).unwrap()).unwrap();
            assert!(script.contains("install-package"), "{shell:?}");
            assert!(script.contains("completions"), "{shell:?}");
        }
    }

    #[test]
    fn man_pages_cover_nested_subcommands_and_skip_hidden_ones() {
        let dir = tempfile::tempdir().unwrap();
        let written = write_man_pages(Cli::command(), &dir.path().join("man1")).unwrap();
        let names: Vec<String> =
            written.iter().map(|p| p.file_name().unwrap().to_string_lossy().into_owned()).collect();
        for name in ["wua.1", "wua-install.1", "wua-repo-init.1", "wua-server-token-create.1", "wua-man.1"] {
            assert!(names.iter().any(|n| n == name), "{name} missing from {names:?}");
        }
        assert!(!names.iter().any(|n| n.contains("help") || n == "wua-repo-verify.1"), "{names:?}");
        let top = fs_err::read_to_string(dir.path().join("man1/wua.1")).unwrap();
        // The roff crate's preamble (defining the apostrophe string) comes before the title.
        let title = top.lines().find(|l| !l.starts_with(".ie ") && !l.starts_with(".el ")).unwrap();
        assert!(title.starts_with(".TH wua 1 "), "{top}");
        assert_eq!(top.as_bytes(), man_page(Cli::command()).unwrap(), "the printed page is the written one");
    }

    #[test]
    fn an_unwritable_output_is_an_error_not_a_panic() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("file");
        fs_err::write(&file, "").unwrap();
        let e = write_man_pages(Cli::command(), &file.join("man1")).unwrap_err();
        assert_ne!(e.hresult, HResult::S_OK);
        assert!(e.message.contains("file/man1"), "{}", e.message);
    }
}
