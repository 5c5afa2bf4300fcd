//! Crash safety of an agent's trusted state: a real `wua repo verify` (an agent's refresh) is
//! killed with SIGKILL at each step of the swap of its trusted state (the `crash-points`
//! counter), then a power loss is simulated (every file of a state not made current is
//! truncated to zero length, as a file system does with what was never synced). After each,
//! a replayed older timestamp is still refused as a rollback, and the genuine repository
//! verifies.

use std::os::unix::process::ExitStatusExt;
use std::path::{Path, PathBuf};
use std::process::Command;

use crate::support::*;

fn repo_cmd() -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_wua"));
    c.env_remove("WUA_CRASH_AT_STEP").env_remove("WUA_PAUSE_AT_STEP").env_remove("WUA_CRASH_LOG");
    c.arg("--json").arg("repo");
    c
}

fn ok(cmd: &mut Command) -> serde_json::Value {
    let o = run(cmd);
    assert!(o.status.success(), "{}", text(&o));
    json(&o)
}

/// The agent's refresh, on its install-time root.
fn verify(world: &Path) -> Command {
    let mut c = repo_cmd();
    c.arg("verify").arg(world.join("repo")).arg("--state").arg(world.join("agent"));
    c.arg("--root").arg(world.join("repo/repository/metadata/1.root.json"));
    c
}

fn publish(world: &Path, n: u32) {
    let payload = world.join(format!("payload-{n}"));
    wua_test_support::write_payload(&payload, &[(&format!("opt/u{n}/file"), 0o644, b"content\n")]).unwrap();
    let manifest = world.join(format!("m{n}.toml"));
    std::fs::write(&manifest, files_manifest(&test_id(n), 1, "update", "", "")).unwrap();
    ok(repo_cmd().arg("publish").arg(world.join("repo")).arg(&manifest).arg("--payload").arg(&payload));
}

/// `repo/` with updates 1 and 2, `old-timestamp.json` (the timestamp of update 1 alone), an
/// agent that trusted the state with update 2, and update 3 published since.
fn template(dir: &Path) -> PathBuf {
    let world = dir.join("template");
    std::fs::create_dir_all(&world).unwrap();
    ok(repo_cmd().arg("init").arg(world.join("repo")));
    publish(&world, 1);
    let ts = world.join("repo/repository/metadata/timestamp.json");
    std::fs::copy(&ts, world.join("old-timestamp.json")).unwrap();
    publish(&world, 2);
    assert_eq!(ok(&mut verify(&world))["documents"], 2);
    publish(&world, 3);
    world
}

/// Truncates every file of every `tuf-<n>/` that `tuf` does not link to.
fn lose_unsynced(state: &Path) {
    let current = std::fs::read_link(state.join("tuf")).unwrap();
    for entry in std::fs::read_dir(state).unwrap() {
        let entry = entry.unwrap();
        let name = entry.file_name();
        if !name.to_string_lossy().starts_with("tuf-") || Path::new(&name) == current || !entry.path().is_dir() {
            continue;
        }
        for file in std::fs::read_dir(entry.path()).unwrap() {
            std::fs::File::create(file.unwrap().path()).unwrap();
        }
    }
}

fn assert_replay_refused(world: &Path, when: &str) {
    let ts = world.join("repo/repository/metadata/timestamp.json");
    let genuine = std::fs::read(&ts).unwrap();
    std::fs::copy(world.join("old-timestamp.json"), &ts).unwrap();
    let o = run(&mut verify(world));
    assert!(!o.status.success(), "{when}: the replayed timestamp is accepted: {}", text(&o));
    assert_eq!(json(&o)["hresult_name"], "WUA_E_TRUST_ROLLBACK", "{when}: {}", text(&o));
    std::fs::write(&ts, genuine).unwrap();
    assert_eq!(ok(&mut verify(world))["documents"], 3, "{when}");
}

#[test]
fn a_refresh_killed_at_every_step_of_the_swap() {
    let dir = tempfile::tempdir().unwrap();
    let template = template(dir.path());
    let steps = {
        let world = dir.path().join("steps");
        copy_tree(&template, &world).unwrap();
        let log = dir.path().join("steps.log");
        ok(verify(&world).env("WUA_CRASH_LOG", &log));
        std::fs::read_to_string(&log).unwrap().lines().map(str::to_owned).collect::<Vec<_>>()
    };
    for label in ["copy synced", "new link made", "link swapped", "swap synced", "previous removed"] {
        assert!(steps.iter().any(|s| s.ends_with(&format!("trusted-state: {label}"))), "no {label:?} in {steps:?}");
    }
    for (i, step) in steps.iter().enumerate() {
        let world = dir.path().join(format!("w{i}"));
        copy_tree(&template, &world).unwrap();
        let o = run(verify(&world).env("WUA_CRASH_AT_STEP", (i + 1).to_string()));
        assert_eq!(o.status.signal(), Some(libc::SIGKILL), "step {step}: {}", text(&o));
        lose_unsynced(&world.join("agent"));
        assert_replay_refused(&world, &format!("killed at {step}, then a power loss"));
    }
}
