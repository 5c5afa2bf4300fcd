//! Crash safety of the signings that leave the targets alone: a real `wua repo approve` (the
//! approvals, snapshot and timestamp signed without the targets key) and `wua repo resign
//! --only timestamp|snapshot|approvals` are killed with SIGKILL at each of their steps. After
//! every kill the repository verifies, for a fresh agent and for the agent that trusted the
//! state before, holding the old approvals or the new ones; and a following approval signs
//! and verifies the same way (the versions a killed run saved are never used again).

use std::os::unix::process::ExitStatusExt;
use std::path::{Path, PathBuf};

use wua_trust::approvals::ApprovalAction;

use crate::support::*;

/// `repo/` with update 1 published and approved for `web` (install), its targets key moved to
/// `offline/`, and `agent/`, an agent that refreshed from it.
fn template(dir: &Path) -> PathBuf {
    let world = dir.join("template");
    let repo = world.join("repo");
    std::fs::create_dir_all(world.join("offline")).unwrap();
    let payload = world.join("payload");
    wua_test_support::write_payload(&payload, &[("opt/u1/file", 0o644, b"content\n")]).unwrap();
    std::fs::write(world.join("m.toml"), files_manifest(&test_id(1), 1, "update", "", "")).unwrap();
    ok(repo_cmd().arg("init").arg(&repo));
    ok(repo_cmd().arg("publish").arg(&repo).arg(world.join("m.toml")).arg("--payload").arg(&payload));
    ok(repo_cmd().arg("approve").arg(&repo).arg(test_id(1)).args(["--group", "web", "--action", "install"]));
    std::fs::rename(repo.join("keys/targets.pk8"), world.join("offline/targets.pk8")).unwrap();
    let r = refresh_from(&repo.join("root.json"), &world.join("agent"), &repo).unwrap();
    assert_eq!(r.approvals["web"][0].action, ApprovalAction::Install);
    world
}

/// The repository in `world` verifies, for a fresh agent and for the agent that trusted an
/// earlier state, with `web`'s approval of update 1 being one of `actions`; returns it.
fn assert_verifies(world: &Path, actions: &[ApprovalAction], when: &str) -> ApprovalAction {
    let repo = world.join("repo");
    let fresh = tempfile::tempdir().unwrap();
    let mut seen = Vec::new();
    for state in [fresh.path().to_path_buf(), world.join("agent")] {
        let r = refresh_from(&repo.join("repository/metadata/1.root.json"), &state, &repo)
            .unwrap_or_else(|e| panic!("{when}: an agent refuses: {e}"));
        assert_eq!(r.catalog().documents.len(), 1, "{when}");
        let action = r.approvals["web"][0].action;
        assert!(actions.contains(&action), "{when}: {action:?}");
        seen.push(action);
    }
    assert_eq!(seen[0], seen[1], "{when}");
    seen[0]
}

/// Runs `args` (`@` marks a path in the copy of the template) uninterrupted, then killed at
/// each of its steps, checking the repository after each kill and after a following approval.
/// `actions`: the approvals of `web` a reader may see (before, after).
fn crash_at_every_step(template: &Path, args: &[&str], labels: &[&str], actions: &[ApprovalAction]) {
    let command = |world: &Path| {
        let mut c = repo_cmd();
        for a in args {
            match a.strip_prefix('@') {
                Some(rel) => c.arg(world.join(rel)),
                None => c.arg(a),
            };
        }
        c
    };
    let dir = tempfile::tempdir().unwrap();
    let world = dir.path().join("w");
    copy_tree(template, &world).unwrap();
    let log = dir.path().join("steps");
    ok(command(&world).env("WUA_CRASH_LOG", &log));
    assert_eq!(assert_verifies(&world, actions, "after the uninterrupted run"), actions[actions.len() - 1]);
    let steps: Vec<String> = std::fs::read_to_string(&log).unwrap().lines().map(str::to_owned).collect();
    for label in labels {
        assert!(steps.iter().any(|s| s.ends_with(label)), "no step {label:?} in {steps:?}");
    }

    for (i, step) in steps.iter().enumerate() {
        let dir = tempfile::tempdir().unwrap();
        let world = dir.path().join("w");
        copy_tree(template, &world).unwrap();
        let o = run(command(&world).env("WUA_CRASH_AT_STEP", (i + 1).to_string()));
        assert_eq!(o.status.signal(), Some(libc::SIGKILL), "step {step}: {}", text(&o));
        assert_verifies(&world, actions, &format!("killed at step {step}"));
        let repo = world.join("repo");
        ok(repo_cmd().arg("approve").arg(&repo).arg(test_id(1)).args(["--group", "web", "--action", "uninstall"]));
        let after = assert_verifies(&world, &[ApprovalAction::Uninstall], &format!("approving after a kill at {step}"));
        assert_eq!(after, ApprovalAction::Uninstall);
        assert!(!repo.join("keys/targets.pk8").exists());
    }
}

#[test]
fn an_approval_without_the_targets_key_killed_at_every_step() {
    let dir = tempfile::tempdir().unwrap();
    let template = template(dir.path());
    crash_at_every_step(
        &template,
        &["approve", "@repo", &test_id(1), "--group", "web", "--action", "optional"],
        &[
            "sign approvals: versions saved",
            "sign approvals: versioned metadata written",
            "sign approvals: timestamp written",
        ],
        &[ApprovalAction::Install, ApprovalAction::Optional],
    );
}

#[test]
fn a_timestamp_re_signing_killed_at_every_step() {
    let dir = tempfile::tempdir().unwrap();
    let template = template(dir.path());
    crash_at_every_step(
        &template,
        &["resign", "@repo", "--only", "timestamp"],
        &["sign timestamp: versions saved", "sign timestamp: timestamp written"],
        &[ApprovalAction::Install],
    );
}

#[test]
fn a_snapshot_re_signing_killed_at_every_step() {
    let dir = tempfile::tempdir().unwrap();
    let template = template(dir.path());
    crash_at_every_step(
        &template,
        &["resign", "@repo", "--only", "snapshot"],
        &[
            "sign snapshot: versions saved",
            "sign snapshot: versioned metadata written",
            "sign snapshot: timestamp written",
        ],
        &[ApprovalAction::Install],
    );
}

/// The merge installing the first root of a repository whose root keys stay offline, killed at
/// each step: either the repository still waits and the merge runs again from the same signed
/// copies, or the root is installed; a publish then signs everything, and it verifies.
#[test]
fn a_first_root_merge_killed_at_every_step() {
    let dir = tempfile::tempdir().unwrap();
    let template = dir.path().join("template");
    let offline = template.join("offline");
    std::fs::create_dir_all(&offline).unwrap();
    let pubkey = offline.join("root.pub");
    ok(repo_cmd().args(["key", "generate"]).arg(offline.join("root.pk8")).arg("--public").arg(&pubkey));
    let repo = template.join("repo");
    ok(repo_cmd().arg("init").arg(&repo).arg("--root-public-key").arg(&pubkey));
    std::fs::copy(repo.join("root-1.proposed.json"), offline.join("copy.json")).unwrap();
    ok(repo_cmd().args(["root", "sign"]).arg(offline.join("copy.json")).arg("--key").arg(offline.join("root.pk8")));
    let payload = template.join("payload");
    wua_test_support::write_payload(&payload, &[("opt/u1/file", 0o644, b"content\n")]).unwrap();
    std::fs::write(template.join("m.toml"), files_manifest(&test_id(1), 1, "update", "", "")).unwrap();

    let merge = |world: &Path| {
        let mut c = repo_cmd();
        c.args(["root", "merge"]).arg(world.join("repo")).arg(world.join("offline/copy.json"));
        c
    };
    let publish_and_verify = |world: &Path, when: &str| {
        let repo = world.join("repo");
        ok(repo_cmd().arg("publish").arg(&repo).arg(world.join("m.toml")).arg("--payload").arg(world.join("payload")));
        let fresh = tempfile::tempdir().unwrap();
        let r = refresh_from(&repo.join("root.json"), fresh.path(), &repo)
            .unwrap_or_else(|e| panic!("{when}: a fresh agent refuses: {e}"));
        assert_eq!(r.catalog().documents.len(), 1, "{when}");
        assert!(!repo.join("root-1.proposed.json").exists(), "{when}: the installed proposal is gone");
    };
    let tmp = tempfile::tempdir().unwrap();
    let world = tmp.path().join("w");
    copy_tree(&template, &world).unwrap();
    let log = tmp.path().join("steps");
    ok(merge(&world).env("WUA_CRASH_LOG", &log));
    publish_and_verify(&world, "after the uninterrupted merge");
    let steps: Vec<String> = std::fs::read_to_string(&log).unwrap().lines().map(str::to_owned).collect();
    assert!(steps.iter().any(|s| s.ends_with("merge first: trusted root installed")), "{steps:?}");

    for (i, step) in steps.iter().enumerate() {
        let tmp = tempfile::tempdir().unwrap();
        let world = tmp.path().join("w");
        copy_tree(&template, &world).unwrap();
        let o = run(merge(&world).env("WUA_CRASH_AT_STEP", (i + 1).to_string()));
        assert_eq!(o.status.signal(), Some(libc::SIGKILL), "step {step}: {}", text(&o));
        if !world.join("repo/root.json").exists() {
            ok(&mut merge(&world));
        }
        publish_and_verify(&world, &format!("killed at step {step}"));
    }
}
