//! Crash safety of a repository's root change: a real `wua repo rotate-key` or `wua repo root
//! merge` is killed with SIGKILL at each of its steps (the `crash-points` counter). After every
//! kill the repository still verifies, by wua's verifier from a fresh agent on `root.json`, from
//! one on the first root, and for an agent that trusted the state before; and a following
//! `wua repo publish` works, verifies the same way, and completes a root change that had
//! published its new root version.

use std::ffi::OsString;
use std::os::unix::process::ExitStatusExt;
use std::path::{Path, PathBuf};
use std::process::Command;

use wua_trust::verify::{self, Source};

use crate::support::*;

/// A `wua --json repo ...` command.
fn repo_cmd() -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_wua"));
    c.env_remove("WUA_CRASH_AT_STEP").env_remove("WUA_PAUSE_AT_STEP").env_remove("WUA_CRASH_LOG");
    c.arg("--json").arg("repo");
    c
}

fn ok(cmd: &mut Command) {
    let o = run(cmd);
    assert!(o.status.success(), "{}", text(&o));
}

/// A template world: `repo/` with update 1 published, `agent/` (an agent that refreshed from
/// it), `offline/` (root keys moved off the repository), and the manifests and payload of a
/// second update. `root_keys` root keys with that threshold; with `offline_root_2`, root-2 is
/// moved to `offline/`.
fn template(dir: &Path, root_keys: &str, offline_root_2: bool) -> PathBuf {
    let world = dir.join("template");
    let repo = world.join("repo");
    std::fs::create_dir_all(world.join("offline")).unwrap();
    for n in [1, 2] {
        let payload = world.join(format!("payload-{n}"));
        wua_test_support::write_payload(&payload, &[(&format!("opt/u{n}/file"), 0o644, b"content\n")]).unwrap();
        std::fs::write(world.join(format!("m{n}.toml")), files_manifest(&test_id(n), 1, "update", "", "")).unwrap();
    }
    ok(repo_cmd().arg("init").args(["--root-keys", root_keys, "--root-threshold", root_keys]).arg(&repo));
    ok(repo_cmd().arg("publish").arg(&repo).arg(world.join("m1.toml")).arg("--payload").arg(world.join("payload-1")));
    if offline_root_2 {
        std::fs::rename(repo.join("keys/root-2.pk8"), world.join("offline/root-2.pk8")).unwrap();
    }
    let r = refresh(&repo.join("repository/metadata/1.root.json"), &world.join("agent"), &repo).unwrap();
    assert_eq!(r.catalog().documents.len(), 1);
    world
}

fn refresh(trusted_root: &Path, state: &Path, repo: &Path) -> Result<verify::Refreshed, wua_trust::TrustError> {
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    let source = Source::parse(repo.to_str().unwrap()).unwrap();
    rt.block_on(verify::refresh(&std::fs::read(trusted_root).unwrap(), state, &source))
}

/// The repository in `world` verifies with `documents` documents: from `root.json`, from the
/// first root (fresh agents), and for the agent that trusted an earlier state.
fn assert_verifies(world: &Path, documents: usize, when: &str) {
    let repo = world.join("repo");
    let first = repo.join("repository/metadata/1.root.json");
    for (trusted, state) in
        [(repo.join("root.json"), tempfile::tempdir().unwrap()), (first.clone(), tempfile::tempdir().unwrap())]
    {
        let r = refresh(&trusted, state.path(), &repo)
            .unwrap_or_else(|e| panic!("{when}: a fresh agent on {} refuses: {e}", trusted.display()));
        assert_eq!(r.catalog().documents.len(), documents, "{when}");
    }
    let r = refresh(&first, &world.join("agent"), &repo)
        .unwrap_or_else(|e| panic!("{when}: the agent that trusted the earlier state refuses: {e}"));
    assert_eq!(r.catalog().documents.len(), documents, "{when}");
}

fn root_version(repo: &Path) -> u64 {
    let root: serde_json::Value = serde_json::from_slice(&std::fs::read(repo.join("root.json")).unwrap()).unwrap();
    root["signed"]["version"].as_u64().unwrap()
}

fn incoming_keys(repo: &Path) -> Vec<String> {
    std::fs::read_dir(repo.join("keys"))
        .unwrap()
        .filter_map(|e| e.unwrap().file_name().into_string().ok())
        .filter(|n| n.ends_with(".next.pk8"))
        .collect()
}

/// Kills `args` (run in a copy of `template`, its paths relative to the copy) at each step and
/// checks the repository after each kill and after a following publish.
fn crash_at_every_step(template: &Path, args: &[&str]) {
    let command = |world: &Path| {
        let mut c = repo_cmd();
        c.args(
            args.iter().map(|a| a.strip_prefix('@').map_or_else(|| OsString::from(a), |rel| world.join(rel).into())),
        );
        c
    };
    // The steps, from a run that is not killed.
    let dir = tempfile::tempdir().unwrap();
    let world = dir.path().join("w");
    copy_tree(template, &world).unwrap();
    let log = dir.path().join("steps");
    ok(command(&world).env("WUA_CRASH_LOG", &log));
    assert_verifies(&world, 1, "after the uninterrupted run");
    assert_eq!(root_version(&world.join("repo")), 2);
    let steps: Vec<String> = std::fs::read_to_string(&log).unwrap().lines().map(str::to_owned).collect();
    let published = steps.iter().position(|s| s.ends_with("merge: root version published")).expect("merge's steps");
    for label in ["merge: signed for both roots", "merge: trusted root replaced", "merge: keys in place"] {
        assert!(steps.iter().any(|s| s.ends_with(label)), "no step {label:?} in {steps:?}");
    }

    for (i, step) in steps.iter().enumerate() {
        let n = i + 1;
        let dir = tempfile::tempdir().unwrap();
        let world = dir.path().join("w");
        copy_tree(template, &world).unwrap();
        let o = run(command(&world).env("WUA_CRASH_AT_STEP", n.to_string()));
        assert_eq!(o.status.signal(), Some(libc::SIGKILL), "step {step}: {}", text(&o));
        assert_verifies(&world, 1, &format!("killed at step {step}"));
        let repo = world.join("repo");
        ok(repo_cmd()
            .arg("publish")
            .arg(&repo)
            .arg(world.join("m2.toml"))
            .arg("--payload")
            .arg(world.join("payload-2")));
        assert_verifies(&world, 2, &format!("publishing after a kill at step {step}"));
        if i >= published {
            assert_eq!(root_version(&repo), 2, "step {step}: the publish completed the root change");
            assert!(incoming_keys(&repo).is_empty(), "step {step}: {:?}", incoming_keys(&repo));
        } else {
            assert_eq!(root_version(&repo), 1, "step {step}: the root change had not happened");
        }
    }
}

#[test]
fn rotate_an_online_key_killed_at_every_step() {
    let dir = tempfile::tempdir().unwrap();
    let template = template(dir.path(), "1", false);
    crash_at_every_step(&template, &["rotate-key", "@repo", "timestamp"]);
}

#[test]
fn rotate_a_root_key_killed_at_every_step() {
    let dir = tempfile::tempdir().unwrap();
    let template = template(dir.path(), "1", false);
    crash_at_every_step(&template, &["rotate-key", "@repo", "root-1"]);
}

/// The offline flow: the proposal is made here, signed with a root key kept elsewhere, and the
/// merge is what is killed.
#[test]
fn merge_a_signed_proposal_killed_at_every_step() {
    let dir = tempfile::tempdir().unwrap();
    let template = template(dir.path(), "2", true);
    let repo = template.join("repo");
    let o = run(repo_cmd().arg("rotate-key").arg(&repo).arg("snapshot"));
    assert!(o.status.success(), "{}", text(&o));
    let proposal = repo.join("root-2.proposed.json");
    assert_eq!(json(&o)["proposed"], proposal.to_str().unwrap());
    ok(repo_cmd().args(["root", "sign"]).arg(&proposal).arg("--key").arg(template.join("offline/root-2.pk8")));
    crash_at_every_step(&template, &["root", "merge", "@repo", "@repo/root-2.proposed.json"]);
}
