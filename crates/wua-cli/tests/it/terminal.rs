//! The CLI on a real terminal (tmux, from Debian; `scripts/test` installs it) and the same
//! commands piped: bars kept on screen with their final frame and a clean table on a
//! terminal; plain progress lines and no control characters in a pipe.

use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use wua_test_support::{World, files_manifest, test_id};

use crate::support::{CHILD_LIMIT, run, text};

/// A tmux server of its own (socket name per test), torn down when dropped.
struct Tmux {
    socket: String,
}

impl Tmux {
    /// Starts `script` (run by sh) in a detached 120x40 session; None when tmux is missing.
    fn start(name: &str, script: &str) -> Option<Tmux> {
        if wua_test_support::output_within(Command::new("tmux").arg("-V"), CHILD_LIMIT).is_err() {
            // scripts/test installs tmux; without it there is no terminal to test on.
            return None;
        }
        let socket = format!("wua-test-{name}-{}", std::process::id());
        let o = run(Command::new("tmux")
            .args(["-L", &socket, "-f", "/dev/null", "new-session", "-d", "-x", "120", "-y", "40", "-s", "t"])
            .args(["sh", "-c", script])
            .env("TERM", "xterm-256color"));
        assert!(o.status.success(), "tmux new-session failed: {}", text(&o));
        Some(Tmux { socket })
    }

    /// The visible screen as text (no escapes).
    fn screen(&self) -> String {
        let o = run(Command::new("tmux").args(["-L", &self.socket, "capture-pane", "-p", "-S", "-500", "-t", "t"]));
        String::from_utf8_lossy(&o.stdout).into_owned()
    }

    /// Waits until the screen shows `marker` (the script prints it when done).
    fn wait_for(&self, marker: &str, limit: Duration) -> String {
        let start = Instant::now();
        loop {
            let screen = self.screen();
            if screen.contains(marker) {
                return screen;
            }
            assert!(start.elapsed() < limit, "the terminal never showed {marker:?}:\n{screen}");
            std::thread::sleep(Duration::from_millis(100));
        }
    }
}

impl Drop for Tmux {
    fn drop(&mut self) {
        // Not `run`, which panics when tmux cannot start: nothing to tear down then.
        let _ = wua_test_support::output_within(
            Command::new("tmux").args(["-L", &self.socket, "kill-server"]),
            CHILD_LIMIT,
        );
    }
}

fn quote(p: &Path) -> String {
    format!("'{}'", p.display().to_string().replace('\'', "'\\''"))
}

/// Two packages: one small, one with a 4 MiB file (so import and install take a moment).
fn two_packages(w: &World) -> (std::path::PathBuf, std::path::PathBuf) {
    let big = vec![7u8; 4 << 20];
    let a = w
        .package(
            "a",
            &files_manifest(&test_id(1), 1, "terminal sample one", "", ""),
            &[("opt/term/one.txt", 0o644, b"one\n")],
        )
        .unwrap();
    let b = w
        .package(
            "b",
            &files_manifest(&test_id(2), 1, "terminal sample two", "", ""),
            &[("opt/term/two.bin", 0o644, &big)],
        )
        .unwrap();
    (a, b)
}

#[test]
fn an_install_on_a_terminal_keeps_its_final_bars_and_prints_a_clean_table() {
    let w = World::new().unwrap();
    let (a, b) = two_packages(&w);
    let boot = w.dir.path().join("boot_id");
    std::fs::write(&boot, "boot-1").unwrap();
    let script = format!(
        "WUA_STATE_DIR={} WUA_ROOT={} WUA_BOOT_ID_FILE={} {} install-package {} {}; echo \"EXIT=$?\"; sleep 60",
        quote(&w.state),
        quote(&w.root),
        quote(&boot),
        quote(Path::new(env!("CARGO_BIN_EXE_wua"))),
        quote(&a),
        quote(&b)
    );
    let Some(tmux) = Tmux::start("install", &script) else { return };
    let screen = tmux.wait_for("EXIT=", Duration::from_secs(120));
    assert!(screen.contains("EXIT=0"), "{screen}");
    // The final frames stay: the import bars and the install's overall bar at 100%, and its
    // summary.
    assert!(screen.lines().any(|l| l.contains("install [") && l.contains("100%")), "{screen}");
    assert!(screen.lines().any(|l| l.contains("install [") && l.ends_with("2 of 2 done")), "{screen}");
    assert!(screen.lines().any(|l| l.contains("update [") && l.contains("2/2 terminal sample two")), "{screen}");
    assert!(screen.lines().filter(|l| l.contains("import [")).count() >= 2, "{screen}");
    // A clean table: its header and rule on lines of their own, then a row per update.
    let lines: Vec<&str> = screen.lines().collect();
    let header = lines.iter().position(|l| l.starts_with("#  update")).unwrap_or_else(|| panic!("{screen}"));
    assert!(lines[header + 1].starts_with("-  ----"), "{screen}");
    assert!(lines[header + 2].starts_with("1  "), "{screen}");
    assert!(lines[header + 2].contains("terminal sample one") && lines[header + 2].contains("Succeeded"), "{screen}");
    assert!(lines[header + 3].contains("terminal sample two") && lines[header + 3].contains("Succeeded"), "{screen}");
    // No half-drawn frame left: no line holds a bar and something else.
    assert!(!screen.lines().any(|l| l.matches('[').count() > 1 && l.contains("update")), "{screen}");
}

#[test]
fn the_same_install_piped_prints_plain_progress_lines_and_no_control_characters() {
    let w = World::new().unwrap();
    let (a, b) = two_packages(&w);
    let o = run(crate::support::wua(&w.state, &w.root).arg("install-package").arg(&a).arg(&b));
    let all = text(&o);
    assert_eq!(o.status.code(), Some(0), "{all}");
    assert!(!all.chars().any(|c| c.is_control() && c != '\n'), "control characters in: {all:?}");
    let stderr = String::from_utf8_lossy(&o.stderr);
    for line in [
        "wua: install 1/2 started: terminal sample one",
        "wua: install 1/2 finished: terminal sample one: Succeeded (S_OK)",
        "wua: install 2/2 started: terminal sample two",
        "wua: install 2/2 finished: terminal sample two: Succeeded (S_OK)",
    ] {
        assert_eq!(stderr.lines().filter(|l| *l == line).count(), 1, "{line:?} once in:\n{stderr}");
    }
    assert!(stderr.contains("wua: import 1/1 started:") && stderr.contains("wua: import 1/1 finished:"), "{stderr}");
    // --quiet and --json: no progress at all.
    let w2 = World::new().unwrap();
    let (a2, _) = two_packages(&w2);
    let o = run(crate::support::wua(&w2.state, &w2.root).args(["--quiet", "install-package"]).arg(&a2));
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    assert!(!String::from_utf8_lossy(&o.stderr).contains("wua: install"), "{}", text(&o));
}

#[test]
fn the_quickstart_on_a_terminal_shows_its_progress_and_a_clean_table() {
    let dir = tempfile::Builder::new().prefix("wua-quickstart-tty-").tempdir().unwrap();
    let script = format!(
        "cd {} && {} quickstart qs; echo \"EXIT=$?\"; sleep 60",
        quote(dir.path()),
        quote(Path::new(env!("CARGO_BIN_EXE_wua")))
    );
    let Some(tmux) = Tmux::start("quickstart", &script) else { return };
    let screen = tmux.wait_for("EXIT=", Duration::from_secs(180));
    assert!(screen.contains("EXIT=0"), "{screen}");
    // The final frames of the downloads and installs stay on screen.
    assert!(screen.lines().any(|l| l.contains("download [") && l.contains("done")), "{screen}");
    assert!(screen.lines().any(|l| l.contains("install [") && l.contains("100%")), "{screen}");
    // The result table has a clean row per sample, kernel-tuning's saying the reboot is simulated.
    for sample in ["hello", "licensed", "old-tool", "new-tool", "kernel-tuning"] {
        assert!(screen.lines().any(|l| l.contains(sample)), "{sample}: {screen}");
    }
    assert!(screen.contains("reboot required (simulated)"), "{screen}");
    // No bar frame is left mixed into a table row.
    assert!(!screen.lines().any(|l| l.contains("[===") && l.contains("S_OK")), "{screen}");
}

impl Tmux {
    /// Types `keys` (tmux key names) into the session.
    fn keys(&self, keys: &[&str]) {
        let o = run(Command::new("tmux").args(["-L", &self.socket, "send-keys", "-t", "t"]).args(keys));
        assert!(o.status.success(), "tmux send-keys: {}", text(&o));
    }
}

/// `wua install --interactive`: the wizard lists, asks which, shows the license and asks for
/// its acceptance, then installs.
#[test]
fn the_wizard_at_a_terminal_chooses_reads_the_license_and_installs() {
    let w = World::new().unwrap();
    let repo = crate::agent_run::repository(&w);
    crate::agent_run::publish(&w, &repo, 1, "", "");
    crate::agent_run::publish(&w, &repo, 2, "eula = \"WIZARD TERMS\"", "");
    crate::agent_run::publish(&w, &repo, 3, "", "");
    let mut add = crate::support::agent(&w);
    add.args(["service", "add", "main"])
        .arg(&repo)
        .arg("--trusted-root")
        .arg(repo.join("repository/metadata/1.root.json"));
    crate::support::ok(&mut add);
    let boot = w.dir.path().join("boot_id");
    let script = format!(
        "WUA_STATE_DIR={} WUA_ROOT={} WUA_BOOT_ID_FILE={} {} install --interactive; echo \"EXIT=$?\"; sleep 60",
        quote(&w.state),
        quote(&w.root),
        quote(&boot),
        quote(Path::new(env!("CARGO_BIN_EXE_wua")))
    );
    let Some(tmux) = Tmux::start("wizard", &script) else { return };
    let screen = tmux.wait_for("install which?", Duration::from_secs(60));
    assert!(screen.contains("update 1") && screen.contains("update 2") && screen.contains("update 3"), "{screen}");
    tmux.keys(&["1 2", "Enter"]);
    let screen = tmux.wait_for("accept them? [y/N]", Duration::from_secs(30));
    assert!(screen.contains("WIZARD TERMS"), "{screen}");
    tmux.keys(&["y", "Enter"]);
    let screen = tmux.wait_for("EXIT=", Duration::from_secs(60));
    assert!(screen.contains("EXIT=0"), "{screen}");
    assert!(w.root.join("opt/u1/file").exists() && w.root.join("opt/u2/file").exists(), "{screen}");
    assert!(!w.root.join("opt/u3/file").exists(), "not chosen: {screen}");
}

/// Ctrl-C during an install: acknowledged at once, the job stops at its next safe point, no
/// bar stays on screen, exit 1; the program's effects are undone.
#[test]
fn ctrl_c_is_acknowledged_at_once_and_leaves_no_stale_bar() {
    let w = World::new().unwrap();
    let hold = w.dir.path().join("hold");
    let pkg = wua_test_support::holding_package(&w, 1, &hold, "", "").unwrap();
    let boot = w.dir.path().join("boot_id");
    std::fs::write(&boot, "boot-1").unwrap();
    let script = format!(
        // The shell runs a trap of its own for SIGINT (children get the default back), so it
        // outlives the Ctrl-C and prints the exit code.
        "trap true INT; WUA_STATE_DIR={} WUA_ROOT={} WUA_BOOT_ID_FILE={} {} install-package {}; echo \"EXIT=$?\"; sleep 60",
        quote(&w.state),
        quote(&w.root),
        quote(&boot),
        quote(Path::new(env!("CARGO_BIN_EXE_wua"))),
        quote(&pkg)
    );
    let Some(tmux) = Tmux::start("ctrlc", &script) else { return };
    // The program runs: its pid file is there.
    wua_test_support::wait_for("the program to start", Duration::from_secs(60), || hold.join("pid").exists());
    tmux.wait_for("install [", Duration::from_secs(30));
    tmux.keys(&["C-c"]);
    tmux.wait_for("stopping at the next safe point", Duration::from_secs(10));
    let screen = tmux.wait_for("EXIT=", Duration::from_secs(60));
    assert!(screen.contains("EXIT=1"), "aborted: {screen}");
    assert!(screen.contains("Aborted"), "{screen}");
    let after: Vec<&str> = screen.lines().skip_while(|l| !l.contains("stopping at the next safe point")).collect();
    assert!(!after.iter().any(|l| l.contains("install [")), "a stale bar stayed:\n{screen}");
}
