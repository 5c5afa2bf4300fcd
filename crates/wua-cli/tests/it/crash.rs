//! Crash safety (D-17): a real `wua` process installs and uninstalls multi-update jobs and is
//! killed with SIGKILL at every journal step (the `crash-points` step counter); after each kill
//! `wua recover` runs and the root must equal one of the job's checkpoints byte for byte (the
//! state before the job, after each of its updates, or after the job: every update is
//! all-or-nothing), with installed state, file ownership, backups and history agreeing.

use std::collections::{BTreeMap, BTreeSet};
use std::os::unix::process::ExitStatusExt;
use std::path::{Path, PathBuf};

use wua_store::Store;
use wua_test_support::Node;

use crate::support::*;

/// What must agree with the disk at a checkpoint.
#[derive(Clone, Debug, PartialEq)]
struct State {
    tree: BTreeMap<String, Node>,
    installed: BTreeSet<(String, i32)>,
    owners: BTreeSet<(String, String, String)>,
}

fn state_of(root: &Path, state: &Path) -> State {
    let mut store = Store::open(state).unwrap();
    let tx = store.read().unwrap();
    let installed: BTreeSet<_> = tx.all_installed().unwrap().into_iter().map(|r| (r.update_id, r.revision)).collect();
    let mut owners = BTreeSet::new();
    let mut backups = BTreeSet::new();
    for (id, _) in &installed {
        for f in tx.files_of(id).unwrap() {
            if let Some(b) = &f.backup {
                backups.insert(b.clone());
            }
            owners.insert((f.path, f.update_id, f.sha256));
        }
    }
    assert!(tx.journal().unwrap().is_empty(), "recovery left a journal record");
    // Every backup the records name is on disk, and nothing else is left in the backup area.
    let area = root.join("var/lib/wua/backup");
    let mut on_disk = BTreeSet::new();
    if area.exists() {
        for e in walkdir::WalkDir::new(&area).min_depth(1) {
            let e = e.unwrap();
            if e.file_type().is_file() || e.file_type().is_symlink() {
                on_disk.insert(e.path().strip_prefix(root).unwrap().to_string_lossy().into_owned());
            }
        }
    }
    assert_eq!(on_disk, backups, "backup area and ownership records disagree");
    State { tree: snapshot(root, OWN).unwrap(), installed, owners }
}

/// A copy of a template world (root + state) in a fresh temporary directory.
struct Copy {
    _dir: tempfile::TempDir,
    root: PathBuf,
    state: PathBuf,
}

fn copy_of(root: &Path, state: &Path) -> Copy {
    let dir = tempfile::Builder::new().prefix("wua-crash-").tempdir().unwrap();
    let (r, s) = (dir.path().join("root"), dir.path().join("state"));
    copy_tree(root, &r).unwrap();
    copy_tree(state, &s).unwrap();
    Copy { _dir: dir, root: r, state: s }
}

fn ok(cmd: &mut std::process::Command) {
    let o = run(cmd);
    assert!(o.status.success(), "{}", text(&o));
}

fn history(state: &Path) -> Vec<wua_agent::wua_types::UpdateHistoryEntry> {
    let mut store = Store::open(state).unwrap();
    let tx = store.read().unwrap();
    let mut h = tx.history(0, 10_000).unwrap();
    h.reverse();
    h
}

/// Runs `args` from the template at every step until it completes, checking each outcome
/// against `checkpoints`; returns (points, labels seen, checkpoint indexes observed).
fn crash_everywhere(
    template: &Copy,
    args: &[String],
    checkpoints: &[State],
    job_updates: &[String],
) -> (usize, BTreeSet<String>, BTreeSet<usize>) {
    let base_history = history(&template.state).len();
    let mut labels = BTreeSet::new();
    let mut observed = BTreeSet::new();
    let mut points = 0;
    for step in 1.. {
        let c = copy_of(&template.root, &template.state);
        let log = c.state.parent().unwrap().join("steps.log");
        let out = run(wua(&c.state, &c.root)
            .args(args)
            .env("WUA_CRASH_AT_STEP", step.to_string())
            .env("WUA_CRASH_LOG", &log));
        let killed = out.status.signal() == Some(9);
        let steps = std::fs::read_to_string(&log).unwrap_or_default();
        if let Some(last) = steps.lines().last() {
            labels.insert(last.split_once(' ').map(|x| x.1).unwrap_or("").to_owned());
        }
        if !killed {
            assert!(out.status.code().is_some(), "step {step}: {}", text(&out));
            let got = state_of(&c.root, &c.state);
            assert_eq!(&got, checkpoints.last().unwrap(), "the uninterrupted run must reach the final checkpoint");
            break;
        }
        points += 1;
        // Recovery itself may be cut short: kill it at a varying step, then let it finish.
        let again = run(wua(&c.state, &c.root).arg("recover").env("WUA_CRASH_AT_STEP", (step % 3 + 1).to_string()));
        assert!(again.status.success() || again.status.signal() == Some(9), "{}", text(&again));
        ok(wua(&c.state, &c.root).arg("recover"));
        let got = state_of(&c.root, &c.state);
        let j = checkpoints.iter().position(|cp| *cp == got).unwrap_or_else(|| {
            panic!("step {step} ({:?}): the root matches no checkpoint\n{got:#?}", steps.lines().last())
        });
        observed.insert(j);
        // History: the job's first j updates once each, plus at most one recovered rollback.
        let h = history(&c.state);
        let new = &h[base_history..];
        let succeeded: Vec<_> =
            new.iter().filter(|e| e.result_code == wua_agent::wua_types::OperationResultCode::Succeeded).collect();
        assert_eq!(succeeded.len(), j, "step {step}: history {new:#?}");
        for (e, id) in succeeded.iter().zip(job_updates) {
            assert_eq!(&e.update_identity.update_id, id, "step {step}");
        }
        let failed: Vec<_> =
            new.iter().filter(|e| e.result_code != wua_agent::wua_types::OperationResultCode::Succeeded).collect();
        assert!(failed.len() <= 1, "step {step}: {new:#?}");
        for e in failed {
            assert!(e.recovered, "step {step}");
            assert_eq!(e.hresult, wua_agent::wua_types::HResult::WUA_E_OPERATION_INTERRUPTED);
        }
        assert!(new.iter().filter(|e| e.recovered).count() <= 1, "step {step}: exactly one recovered entry at most");
        assert!(step < 500, "runaway");
    }
    (points, labels, observed)
}

fn package(w: &World, name: &str, id: u32, rev: i32, files: &[(&str, u32, &[u8])]) -> String {
    let m = files_manifest(&test_id(id), rev, &format!("crash test {name}"), "", "");
    w.package(name, &m, files).unwrap().to_string_lossy().into_owned()
}

/// D-17: SIGKILL at every journal step of install, revision replacement and uninstall jobs.
#[test]
fn d17_sigkill_at_every_step() {
    let w = World::new().unwrap();
    std::fs::create_dir_all(w.root.join("etc")).unwrap();
    std::fs::create_dir_all(w.root.join("usr/bin")).unwrap();
    std::fs::write(w.root.join("etc/keep.conf"), "original content\n").unwrap();
    std::fs::write(w.root.join("usr/bin/existing-tool"), "#!/bin/sh\n").unwrap();
    let a1 = package(
        &w,
        "a1",
        1,
        1,
        &[
            ("etc/keep.conf", 0o600, b"from update a, revision 1\n"),
            ("etc/app/a.conf", 0o644, b"a = 1\n"),
            ("usr/bin/app", 0o755, b"#!/bin/sh\necho app 1\n"),
            ("usr/lib/app/deep/lib1.so", 0o644, b"lib one"),
            ("usr/share/app/doc.txt", 0o644, b"documentation"),
        ],
    );
    let b = package(
        &w,
        "b",
        2,
        1,
        &[("opt/b/one", 0o644, b"one"), ("opt/b/two", 0o640, b"two"), ("opt/b/sub/three", 0o700, b"three")],
    );
    let a2 = package(
        &w,
        "a2",
        1,
        2,
        &[
            ("etc/keep.conf", 0o644, b"from update a, revision 2\n"),
            ("etc/app/a.conf", 0o644, b"a = 2\n"),
            ("usr/bin/app", 0o750, b"#!/bin/sh\necho app 2\n"),
            ("usr/lib/app/deep/lib2.so", 0o644, b"lib two"),
        ],
    );
    let (id1, id2) = (test_id(1), test_id(2));
    let s0 = Copy { _dir: tempfile::tempdir().unwrap(), root: w.root.clone(), state: w.state.clone() };

    // Checkpoints, built one update at a time.
    let c = copy_of(&s0.root, &s0.state);
    let st0 = state_of(&c.root, &c.state);
    ok(wua(&c.state, &c.root).args(["install-package", &a1]));
    let st1 = state_of(&c.root, &c.state);
    ok(wua(&c.state, &c.root).args(["install-package", &b]));
    let st2 = state_of(&c.root, &c.state);
    let t2 = copy_of(&c.root, &c.state);
    ok(wua(&c.state, &c.root).args(["install-package", &a2]));
    let st3 = state_of(&c.root, &c.state);
    let t3 = copy_of(&c.root, &c.state);
    ok(wua(&c.state, &c.root).args(["uninstall", "--update-id", &id1]));
    let st4 = state_of(&c.root, &c.state);
    ok(wua(&c.state, &c.root).args(["uninstall", "--update-id", &id2]));
    let st5 = state_of(&c.root, &c.state);
    assert_eq!(st5.tree, st0.tree, "install then uninstall gives back the original tree");

    /// (template, arguments, checkpoints, the job's update ids in order)
    type Job<'a> = (&'a Copy, Vec<String>, Vec<State>, Vec<String>);
    let jobs: Vec<Job<'_>> = vec![
        (
            &s0,
            vec!["install-package".into(), a1.clone(), b.clone()],
            vec![st0, st1, st2.clone()],
            vec![id1.clone(), id2.clone()],
        ),
        (&t2, vec!["install-package".into(), a2.clone()], vec![st2, st3.clone()], vec![id1.clone()]),
        (
            &t3,
            vec!["uninstall".into(), "--update-id".into(), id1.clone(), "--update-id".into(), id2.clone()],
            vec![st3, st4, st5],
            vec![id1.clone(), id2.clone()],
        ),
    ];
    let mut total = 0;
    let mut all_labels = BTreeSet::new();
    for (template, args, checkpoints, ids) in &jobs {
        let (points, labels, observed) = crash_everywhere(template, args, checkpoints, ids);
        eprintln!("{args:?}: {points} kill points, phases {labels:?}, checkpoints reached {observed:?}");
        assert!(
            observed.contains(&0) && observed.contains(&(checkpoints.len() - 1)),
            "{args:?}: both outcomes must be observed, saw {observed:?}"
        );
        total += points;
        all_labels.extend(labels);
    }
    for phase in ["stage", "intent", "rename", "commit", "cleanup"] {
        assert!(all_labels.contains(phase), "no kill in phase {phase}: {all_labels:?}");
    }
    assert!(total >= 50, "only {total} kill points");
}

fn package_with_links(
    w: &World,
    name: &str,
    id: u32,
    rev: i32,
    files: &[(&str, u32, &[u8])],
    links: &[(&str, &str)],
) -> String {
    let m = files_manifest(&test_id(id), rev, &format!("crash test {name}"), "", "");
    w.package_with_links(name, &m, files, links).unwrap().to_string_lossy().into_owned()
}

/// D-17 with symbolic links: SIGKILL at every journal step of a job that places links over a
/// file, a link and nothing, a revision that retargets, adds and drops links, and the
/// uninstall that puts back what the links replaced.
#[test]
fn d17_sigkill_at_every_step_with_links() {
    let w = World::new().unwrap();
    std::fs::create_dir_all(w.root.join("usr/lib")).unwrap();
    std::fs::create_dir_all(w.root.join("etc/alternatives")).unwrap();
    std::fs::write(w.root.join("usr/lib/libfoo.so"), "a file the link replaces\n").unwrap();
    std::os::unix::fs::symlink("/usr/bin/vi", w.root.join("etc/alternatives/editor")).unwrap();
    let l1 = package_with_links(
        &w,
        "l1",
        1,
        1,
        &[("usr/lib/libfoo.so.1", 0o644, b"library one")],
        &[
            ("usr/lib/libfoo.so", "libfoo.so.1"),
            ("etc/alternatives/editor", "/usr/bin/wua-editor"),
            ("usr/bin/foo", "../lib/libfoo.so.1"),
        ],
    );
    let l2 = package_with_links(
        &w,
        "l2",
        1,
        2,
        &[("usr/lib/libfoo.so.2", 0o644, b"library two")],
        &[("usr/lib/libfoo.so", "libfoo.so.2"), ("usr/lib/libfoo.so.compat", "libfoo.so.2")],
    );
    let id1 = test_id(1);
    let s0 = Copy { _dir: tempfile::tempdir().unwrap(), root: w.root.clone(), state: w.state.clone() };
    let c = copy_of(&s0.root, &s0.state);
    let st0 = state_of(&c.root, &c.state);
    ok(wua(&c.state, &c.root).args(["install-package", &l1]));
    let st1 = state_of(&c.root, &c.state);
    let t1 = copy_of(&c.root, &c.state);
    assert_eq!(st1.tree["usr/lib/libfoo.so"], Node::Link("libfoo.so.1".into()));
    ok(wua(&c.state, &c.root).args(["install-package", &l2]));
    let st2 = state_of(&c.root, &c.state);
    let t2 = copy_of(&c.root, &c.state);
    assert_eq!(st2.tree["usr/lib/libfoo.so"], Node::Link("libfoo.so.2".into()));
    ok(wua(&c.state, &c.root).args(["uninstall", "--update-id", &id1]));
    let st3 = state_of(&c.root, &c.state);
    assert_eq!(st3.tree, st0.tree, "install, revise, uninstall gives back the original tree");

    let jobs: Vec<(&Copy, Vec<String>, Vec<State>)> = vec![
        (&s0, vec!["install-package".into(), l1.clone()], vec![st0, st1.clone()]),
        (&t1, vec!["install-package".into(), l2.clone()], vec![st1, st2.clone()]),
        (&t2, vec!["uninstall".into(), "--update-id".into(), id1.clone()], vec![st2, st3]),
    ];
    let mut all_labels = BTreeSet::new();
    for (template, args, checkpoints) in &jobs {
        let (points, labels, observed) = crash_everywhere(template, args, checkpoints, std::slice::from_ref(&id1));
        assert!(points > 0 && observed.contains(&0) && observed.contains(&1), "{args:?}: {observed:?}");
        all_labels.extend(labels);
    }
    for phase in ["stage", "intent", "rename", "commit", "cleanup"] {
        assert!(all_labels.contains(phase), "no kill in phase {phase}: {all_labels:?}");
    }
}

/// A worker that panics (a bug, injected with `WUA_PANIC_AT_STEP`) still ends its job: the
/// install fails with `WU_E_UNEXPECTED` at once instead of waiting forever, the lock is free,
/// and `wua recover` brings the root to one of the update's two states, as after a crash.
#[test]
fn a_panicking_worker_fails_its_job() {
    let w = World::new().unwrap();
    let pkg = w.package("app", &files_manifest(&test_id(1), 1, "app", "", ""), &[("etc/a", 0o644, b"new")]).unwrap();
    std::fs::create_dir_all(w.root.join("etc")).unwrap();
    std::fs::write(w.root.join("etc/a"), b"old").unwrap();
    ok(wua(&w.state, &w.root).args(["package", "import"]).arg(&pkg));
    let template = copy_of(&w.root, &w.state);
    // The steps of an uninterrupted install, by label.
    let dry = copy_of(&template.root, &template.state);
    let log = dry.state.parent().unwrap().join("steps.log");
    ok(wua(&dry.state, &dry.root).arg("install-package").arg(&pkg).env("WUA_CRASH_LOG", &log));
    let steps = std::fs::read_to_string(&log).unwrap();
    let step_of = |label: &str| steps.lines().find_map(|l| l.strip_suffix(&format!(" {label}"))).unwrap().to_owned();
    // Before the intent the update rolls back; after it, forward.
    for (label, expect) in [("stage", &b"old"[..]), ("rename", &b"new"[..])] {
        let c = copy_of(&template.root, &template.state);
        let o = run(wua(&c.state, &c.root)
            .args(["--json", "install-package"])
            .arg(&pkg)
            .env("WUA_PANIC_AT_STEP", step_of(label)));
        assert_eq!(o.status.code(), Some(1), "{label}: {}", text(&o));
        let result = json(&o);
        assert_eq!(result["hresult_name"], "WU_E_UNEXPECTED", "{label}: {result}");
        ok(wua(&c.state, &c.root).arg("recover"));
        assert_eq!(std::fs::read(c.root.join("etc/a")).unwrap(), expect, "{label}");
        let got = state_of(&c.root, &c.state);
        assert_eq!(got.installed.len(), usize::from(label == "rename"), "{label}: {got:?}");
    }
}
