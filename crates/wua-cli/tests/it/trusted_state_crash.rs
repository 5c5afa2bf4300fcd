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

/// The steps of `wua repo verify EXPORT` (an offline refresh), as its crash log lists them.
fn offline_steps(world: &Path, export: &Path, log: &Path) -> (std::process::Output, Vec<String>) {
    let mut c = repo_cmd();
    c.arg("verify").arg(export).arg("--state").arg(world.join("agent"));
    c.arg("--root").arg(world.join("repo/repository/metadata/1.root.json"));
    let o = run(c.env("WUA_CRASH_LOG", log));
    let steps = std::fs::read_to_string(log).unwrap_or_default();
    (
        o,
        steps
            .lines()
            .filter_map(|l| Some(l.split_once(' ')?.1.to_owned()))
            .filter(|l| l.starts_with("export:"))
            .collect(),
    )
}

/// An export's targets are unpacked only after its metadata verified, and only those it lists:
/// an export of another repository (whole, hash-named, but signed by other keys) has its
/// metadata refused before any target is written.
#[test]
fn an_export_is_verified_from_its_metadata_before_its_targets_are_unpacked() {
    let dir = tempfile::tempdir().unwrap();
    let world = template(dir.path());
    let export = dir.path().join("scan.tar");
    ok(repo_cmd().arg("export").arg(world.join("repo")).arg("-o").arg(&export));
    let (o, steps) = offline_steps(&world, &export, &dir.path().join("good.log"));
    assert!(o.status.success(), "{}", text(&o));
    assert_eq!(json(&o)["documents"], 3);
    assert_eq!(steps, ["export: metadata unpacked", "export: metadata verified", "export: targets unpacked"]);

    let other = dir.path().join("other");
    std::fs::create_dir_all(&other).unwrap();
    ok(repo_cmd().arg("init").arg(other.join("repo")));
    publish(&other, 1);
    let hostile = dir.path().join("other.tar");
    ok(repo_cmd().arg("export").arg(other.join("repo")).arg("-o").arg(&hostile));
    // The refresh lock holds the pid of its last holder; the rest must not change.
    let state = |world: &Path| {
        let mut t = wua_test_support::trust::tree(&world.join("agent"));
        t.remove(Path::new("tuf.lock"));
        t
    };
    let before = state(&world);
    let (o, steps) = offline_steps(&world, &hostile, &dir.path().join("hostile.log"));
    assert!(!o.status.success(), "another repository's export is accepted: {}", text(&o));
    assert_eq!(json(&o)["hresult_name"], "WUA_E_TRUST_SIGNATURE", "{}", text(&o));
    assert_eq!(steps, ["export: metadata unpacked"], "targets were unpacked before the metadata verified");
    assert!(state(&world) == before, "the refused export changed the agent's state");
}

/// A refresh on a full file system (the state directory on a tmpfs filled to all but `slack`
/// KiB, in a private mount namespace) either verifies or fails as an I/O failure by name with
/// the trusted state left as it was; copied out afterwards, the state still refuses a replayed
/// older timestamp.
#[test]
fn a_refresh_on_a_full_disk_is_an_io_failure_and_changes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let template = template(dir.path());
    let mut failures = 0;
    for slack in [0, 8, 16, 20, 24, 28, 32] {
        let world = dir.path().join(format!("slack-{slack}"));
        copy_tree(&template, &world).unwrap();
        let agent = world.join("agent");
        let after = world.join("after");
        let out = world.join("out.json");
        let script = r#"
            fs="$(mktemp -d)"
            mount -t tmpfs -o size=2m tmpfs "$fs"
            cp -a "$AGENT"/. "$fs"/
            dd if=/dev/zero of="$fs/slack" bs=1k count="$SLACK" 2>/dev/null
            dd if=/dev/zero of="$fs/filler" bs=4k 2>/dev/null || true
            rm "$fs/slack"
            "$WUA" --json repo verify "$REPO" --state "$fs" --root "$ROOT" > "$OUT" || true
            rm "$fs/filler"
            mkdir -p "$AFTER"
            cp -a "$fs"/. "$AFTER"/
        "#;
        let o = run(std::process::Command::new("unshare")
            .args(["--mount", "--propagation", "private", "bash", "-euc", script])
            .env("WUA", env!("CARGO_BIN_EXE_wua"))
            .env_remove("WUA_CRASH_AT_STEP")
            .env("SLACK", slack.to_string())
            .env("AGENT", &agent)
            .env("AFTER", &after)
            .env("OUT", &out)
            .env("REPO", world.join("repo"))
            .env("ROOT", world.join("repo/repository/metadata/1.root.json")));
        assert!(o.status.success(), "{}", text(&o));
        let report: serde_json::Value = serde_json::from_slice(&std::fs::read(&out).unwrap()).unwrap();
        if report["documents"] != 3 {
            assert_eq!(report["hresult_name"], "WUA_E_TRUST_IO", "{slack} KiB free: {report}");
            failures += 1;
            let state = |dir: &Path| {
                let mut t = wua_test_support::trust::tree(dir);
                t.remove(Path::new("tuf.lock"));
                t
            };
            let (now, before) = (state(&after), state(&agent));
            let changed: Vec<_> = now.keys().chain(before.keys()).filter(|k| now.get(*k) != before.get(*k)).collect();
            assert!(changed.is_empty(), "{slack} KiB free: the failed refresh changed {changed:?}: {report}");
        }
        std::fs::remove_dir_all(&agent).unwrap();
        std::fs::rename(&after, &agent).unwrap();
        assert_replay_refused(&world, &format!("after a refresh with {slack} KiB free"));
    }
    assert!(failures > 0, "no refresh ran out of space");
}
