//! Where the agent's options come from (flag, then `WUA_*` variable, then `agent.toml`, then
//! the default), and the reboot policy of an unattended install.

use std::path::Path;
use std::process::Command;

use wua_test_support::{RETURN_CODES, World, command_manifest, test_id};

use crate::support::*;

/// `wua --json status` with the given environment and flags; its `state_dir` and `root`.
fn where_status(config: Option<&Path>, env: &[(&str, &Path)], flags: &[&str]) -> (String, String) {
    let mut c = Command::new(env!("CARGO_BIN_EXE_wua"));
    c.env_remove("WUA_STATE_DIR").env_remove("WUA_ROOT").env_remove("WUA_CONFIG").env_remove("WUA_LOG");
    for (k, v) in env {
        c.env(k, v);
    }
    c.args(["--json", "status"]);
    if let Some(config) = config {
        c.arg("--config").arg(config);
    }
    c.args(flags);
    let v = ok(&mut c);
    (v["state_dir"].as_str().unwrap().to_owned(), v["root"].as_str().unwrap().to_owned())
}

#[test]
fn flags_then_variables_then_the_file_then_defaults() {
    let w = World::new().unwrap();
    let d = w.dir.path();
    for sub in ["file-state", "file-root", "env-state", "env-root", "flag-state", "flag-root"] {
        std::fs::create_dir_all(d.join(sub).join("var/lib")).unwrap();
    }
    let config = d.join("agent.toml");
    std::fs::write(&config, "[agent]\nstate_dir = \"file-state\"\nroot = \"file-root\"\n").unwrap();
    let s = |p: &str| d.join(p).display().to_string();
    // The file (relative paths are the file's directory's).
    assert_eq!(where_status(Some(&config), &[], &[]), (s("file-state"), s("file-root")));
    // A variable beats the file.
    let env_state = d.join("env-state");
    assert_eq!(where_status(Some(&config), &[("WUA_STATE_DIR", &env_state)], &[]), (s("env-state"), s("file-root")));
    // A flag beats both; the file's path can come from WUA_CONFIG too.
    let (fs, fr) = (s("flag-state"), s("flag-root"));
    assert_eq!(
        where_status(
            None,
            &[("WUA_CONFIG", &config), ("WUA_STATE_DIR", &env_state)],
            &["--state-dir", &fs, "--root", &fr]
        ),
        (fs.clone(), fr.clone())
    );
    // A named configuration file must exist; a bad key is named.
    let missing =
        run(Command::new(env!("CARGO_BIN_EXE_wua")).args(["--json", "status", "--config"]).arg(d.join("nope.toml")));
    assert_eq!(missing.status.code(), Some(2), "{}", text(&missing));
    assert_eq!(json(&missing)["hresult_name"], "E_INVALIDARG");
    std::fs::write(&config, "[agent]\nreboot = \"sometimes\"\n").unwrap();
    let bad = run(Command::new(env!("CARGO_BIN_EXE_wua")).args(["--json", "status", "--config"]).arg(&config));
    assert!(json(&bad)["error"].as_str().unwrap().contains("agent.reboot"), "{}", text(&bad));
}

/// An update whose program exits 3010: installed, a reboot required.
fn reboot_package(w: &World) -> std::path::PathBuf {
    let handler = format!("program = \"install.sh\"\n{RETURN_CODES}\n");
    w.package(
        "reboot",
        &command_manifest(&test_id(9), "needs a reboot", "", &handler),
        &[("install.sh", 0o755, b"#!/bin/sh\nexit 3010\n")],
    )
    .unwrap()
}

#[test]
fn the_reboot_policy_runs_the_configured_command_or_only_says_so() {
    for (flags, expect) in [
        (&[][..], None),
        (&["--reboot", "never"][..], None),
        (&["--reboot", "if-required"][..], Some("now")),
        (&["--reboot", "at-time", "--reboot-at", "03:30"][..], Some("03:30")),
    ] {
        let w = World::new().unwrap();
        let pkg = reboot_package(&w);
        ok(agent(&w).args(["package", "import"]).arg(&pkg));
        let marker = w.dir.path().join("rebooted");
        let config = w.dir.path().join("agent.toml");
        std::fs::write(
            &config,
            format!("[agent]\nreboot_command = [\"sh\", \"-c\", \"echo {{when}} > {}\"]\n", marker.display()),
        )
        .unwrap();
        let mut c = wua(&w.state, &w.root);
        c.args(["install", "--update-id", "needs a reboot", "--config"]).arg(&config).args(flags);
        let o = run(&mut c);
        assert_eq!(o.status.code(), Some(102), "{flags:?}: {}", text(&o));
        let written = std::fs::read_to_string(&marker).ok();
        assert_eq!(written.as_deref().map(str::trim), expect, "{flags:?}: {}", text(&o));
        if expect.is_none() {
            assert!(text(&o).contains("a reboot is required to finish"), "{}", text(&o));
        }
        // reboot-status says so, with exit 102.
        let status = run(agent(&w).arg("reboot-status"));
        assert_eq!(status.status.code(), Some(102), "{}", text(&status));
    }
    // at-time without a time is refused before anything is installed.
    let w = World::new().unwrap();
    let o = run(agent(&w).args(["install", "--all", "--reboot", "at-time"]));
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    assert!(json(&o)["error"].as_str().unwrap().contains("--reboot-at"), "{}", text(&o));
}

/// `wua agent run --notification-level` (or `WUA_NOTIFICATION_LEVEL`) wins over the file's
/// `[policy] notification_level`; a bad level is refused naming the flag.
#[test]
fn the_notification_level_from_the_command_line_wins_over_the_file() {
    let w = World::new().unwrap();
    let config = w.dir.path().join("agent.toml");
    std::fs::write(&config, "[policy]\nnotification_level = \"ScheduledInstallation\"\n").unwrap();
    let run_with = |extra: &[&str], env: Option<&str>| {
        let mut c = agent(&w);
        c.args(["agent", "run", "--once", "--config"]).arg(&config).args(extra);
        c.env_remove("WUA_NOTIFICATION_LEVEL");
        if let Some(level) = env {
            c.env("WUA_NOTIFICATION_LEVEL", level);
        }
        run(&mut c)
    };
    let o = run_with(&["--notification-level", "disabled"], None);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    assert_eq!(json(&o)["notification_level"], "Disabled", "{}", text(&o));
    let o = run_with(&[], Some("Disabled"));
    assert_eq!(json(&o)["notification_level"], "Disabled", "{}", text(&o));
    let o = run_with(&["--notification-level", "sometimes"], None);
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    assert!(json(&o)["error"].as_str().unwrap().contains("--notification-level"), "{}", text(&o));
}

/// `--terminate-grace-secs` (and `WUA_TERMINATE_GRACE_SECS`) reach the command handler: a
/// program past its time limit that traps SIGTERM and carries on is killed after a 1 s grace
/// before it finishes, and finishes within a 30 s one.
#[test]
fn the_grace_before_sigkill_comes_from_the_command_line() {
    let script: &[u8] = b"#!/bin/sh
trap 'echo term >> \"$WUA_TARGET_ROOT/log\"' TERM
sleep 30 & wait $!
sleep 3 & wait $!
echo done >> \"$WUA_TARGET_ROOT/log\"
exit 0
";
    for (how, expect) in [("flag", "term\n"), ("variable", "term\ndone\n")] {
        let w = World::new().unwrap();
        let handler = format!("program = \"slow.sh\"\ntime_limit_secs = 1\n{RETURN_CODES}\n");
        let pkg = w
            .package("slow", &command_manifest(&test_id(5), "slow", "", &handler), &[("slow.sh", 0o755, script)])
            .unwrap();
        let mut c = wua(&w.state, &w.root);
        c.args(["--json", "install-package"]).arg(&pkg);
        match how {
            "flag" => c.args(["--terminate-grace-secs", "1"]),
            _ => c.env("WUA_TERMINATE_GRACE_SECS", "30"),
        };
        let o = run(&mut c);
        assert_eq!(o.status.code(), Some(1), "past its time limit: {}", text(&o));
        let log = std::fs::read_to_string(w.root.join("log")).unwrap_or_default();
        assert_eq!(log, expect, "{how}: {}", text(&o));
    }
}

/// `WUA_LOG=debug` says what the agent does (locks and how long it waited, each update and how
/// long it took), in plain text in a pipe, without the libraries' chatter.
#[test]
fn wua_log_debug_shows_the_agents_phases() {
    let w = World::new().unwrap();
    let pkg = w
        .package("p", &wua_test_support::files_manifest(&test_id(3), 1, "logged", "", ""), &[("opt/l", 0o644, b"l")])
        .unwrap();
    let o = run(wua(&w.state, &w.root).env("WUA_LOG", "debug").arg("install-package").arg(&pkg));
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    let err = String::from_utf8_lossy(&o.stderr);
    for phase in [
        "session: opened",
        "install locks taken",
        "waited_ms=",
        "install: update started",
        "install: update finished",
        "ms=",
    ] {
        assert!(err.contains(phase), "{phase:?} missing:\n{err}");
    }
    assert!(!err.contains('\u{1b}'), "no colours in a pipe: {err:?}");
}
