//! The `wua repo` side of a repository a server runs: root keys that never touch the
//! repository's machine (`repo key generate`, `repo init --root-public-key`, `repo root sign`
//! on each key's machine, `repo root merge`), approvals refused from the command line once a
//! server manages the repository, and the online roles re-signed one at a time
//! (`repo resign --only`).

use std::path::{Path, PathBuf};

use crate::support::*;

/// A payload and a manifest for update `n`, in `dir`.
fn update(dir: &Path, n: u32) -> (PathBuf, PathBuf) {
    let payload = dir.join(format!("payload-{n}"));
    wua_test_support::write_payload(&payload, &[(&format!("opt/u{n}/file"), 0o644, b"content\n")]).unwrap();
    let manifest = dir.join(format!("m{n}.toml"));
    std::fs::write(&manifest, files_manifest(&test_id(n), 1, &format!("update {n}"), "", "")).unwrap();
    (manifest, payload)
}

fn publish(repo: &Path, dir: &Path, n: u32) -> std::process::Output {
    let (manifest, payload) = update(dir, n);
    run(repo_cmd().arg("publish").arg(repo).arg(manifest).arg("--payload").arg(payload))
}

/// Every file under `dir`.
fn files(dir: &Path) -> Vec<PathBuf> {
    walkdir::WalkDir::new(dir)
        .into_iter()
        .map(|e| e.unwrap())
        .filter(|e| e.file_type().is_file())
        .map(|e| e.into_path())
        .collect()
}

#[test]
fn a_repository_whose_root_keys_stay_offline() {
    let dir = tempfile::tempdir().unwrap();
    // Two root keys, made on two other machines; only their public halves travel.
    let (a, b) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    for m in [&a, &b] {
        let key = m.path().join("root.pk8");
        let j = ok(repo_cmd().args(["key", "generate"]).arg(&key).arg("--public").arg(m.path().join("root.pub")));
        assert_eq!(j["key_id"].as_str().unwrap().len(), 64, "{j}");
        let mode = std::os::unix::fs::PermissionsExt::mode(&std::fs::metadata(&key).unwrap().permissions());
        assert_eq!(mode & 0o777, 0o600);
    }
    // A key file is never replaced.
    let o = run(repo_cmd()
        .args(["key", "generate"])
        .arg(a.path().join("root.pk8"))
        .arg("--public")
        .arg(dir.path().join("x.pub")));
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));

    let repo = dir.path().join("repo");
    let j = ok(repo_cmd()
        .arg("init")
        .arg(&repo)
        .arg("--root-public-key")
        .arg(a.path().join("root.pub"))
        .arg("--root-public-key")
        .arg(b.path().join("root.pub"))
        .args(["--root-threshold", "2"]));
    let proposal = repo.join("root-1.proposed.json");
    assert_eq!(j["root_proposal"], proposal.to_str().unwrap());
    assert!(!repo.join("root.json").exists());

    // Nothing is published before the root is signed.
    let o = publish(&repo, dir.path(), 1);
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    assert!(text(&o).contains("WUA_E_REPO_INVALID") && text(&o).contains("not signed yet"), "{}", text(&o));
    assert!(text(&o).contains("root-1.proposed.json"), "{}", text(&o));

    // Each holder signs a copy on its own machine.
    let copies: Vec<PathBuf> = [&a, &b]
        .iter()
        .map(|m| {
            let copy = m.path().join("root-1.json");
            std::fs::copy(&proposal, &copy).unwrap();
            ok(repo_cmd().args(["root", "sign"]).arg(&copy).arg("--key").arg(m.path().join("root.pk8")));
            copy
        })
        .collect();

    // One signature of two is refused, and the repository still waits.
    let o = run(repo_cmd().args(["root", "merge"]).arg(&repo).arg(&copies[0]));
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    assert!(text(&o).contains("WUA_E_TRUST_SIGNATURE") && text(&o).contains("threshold"), "{}", text(&o));
    assert!(!repo.join("root.json").exists() && proposal.exists());
    assert_eq!(publish(&repo, dir.path(), 1).status.code(), Some(2));

    let signed: Vec<Vec<u8>> = copies.iter().map(|c| std::fs::read(c).unwrap()).collect();
    ok(repo_cmd().args(["root", "merge"]).arg(&repo).args(&copies));
    assert!(repo.join("root.json").exists() && !proposal.exists(), "the installed proposal is removed");
    let after: Vec<Vec<u8>> = copies.iter().map(|c| std::fs::read(c).expect("the merge kept the copy")).collect();
    assert_eq!(after, signed, "the signed copies given to the merge are the holders', left as they were");
    let o = publish(&repo, dir.path(), 1);
    assert!(o.status.success(), "{}", text(&o));

    // wua's verifier, through the command and the API, from the root agents are given.
    let state = dir.path().join("state");
    let j =
        ok(repo_cmd().arg("verify").arg(&repo).arg("--state").arg(&state).arg("--root").arg(repo.join("root.json")));
    assert_eq!(j["documents"], 1, "{j}");
    let fresh = tempfile::tempdir().unwrap();
    let r = refresh_from(&repo.join("repository/metadata/1.root.json"), fresh.path(), &repo).unwrap();
    assert_eq!(r.catalog().documents.len(), 1);
    // The reference client.
    if let Some(python) = wua_test_support::trust::tuf_python() {
        let rt = tokio::runtime::Runtime::new().unwrap();
        rt.block_on(async {
            let source = wua_test_support::trust::serve(&repo.join("repository")).await;
            let work = dir.path().join("py");
            let root = repo.join("root.json");
            wua_test_support::trust::python_tuf_accepts(&python, &work, &source, &root, &["pack-000001.jsonl"]).await;
        });
    }

    // No root private key is in the repository: no root-N.pk8, no file holding a root key.
    let root_keys: Vec<Vec<u8>> = [&a, &b].iter().map(|m| std::fs::read(m.path().join("root.pk8")).unwrap()).collect();
    for file in files(&repo) {
        let name = file.file_name().unwrap().to_string_lossy().into_owned();
        assert!(!(name.starts_with("root-") && name.ends_with(".pk8")), "{}", file.display());
        let bytes = std::fs::read(&file).unwrap();
        assert!(!root_keys.contains(&bytes), "{} is a root key", file.display());
    }
    let mut keys: Vec<String> =
        files(&repo.join("keys")).iter().map(|p| p.file_name().unwrap().to_string_lossy().into_owned()).collect();
    keys.sort();
    assert_eq!(keys, ["approvals.pk8", "snapshot.pk8", "targets.pk8", "timestamp.pk8"]);
}

#[test]
fn offline_root_keys_are_checked_before_anything_is_created() {
    let dir = tempfile::tempdir().unwrap();
    let a = dir.path().join("a.pk8");
    ok(repo_cmd().args(["key", "generate"]).arg(&a).arg("--public").arg(dir.path().join("a.pub")));
    let repo = dir.path().join("repo");
    let cases: Vec<(Vec<std::ffi::OsString>, &str)> = vec![
        // A private key where a public one belongs.
        (vec!["--root-public-key".into(), a.clone().into()], "WUA_E_TRUST_KEY"),
        // The same key twice.
        (
            vec![
                "--root-public-key".into(),
                dir.path().join("a.pub").into(),
                "--root-public-key".into(),
                dir.path().join("a.pub").into(),
                "--root-threshold".into(),
                "2".into(),
            ],
            "given twice",
        ),
        // A threshold above the keys.
        (
            vec!["--root-public-key".into(), dir.path().join("a.pub").into(), "--root-threshold".into(), "2".into()],
            "threshold",
        ),
        // Keys made here and keys kept elsewhere at once.
        (
            vec!["--root-keys".into(), "2".into(), "--root-public-key".into(), dir.path().join("a.pub").into()],
            "cannot be used with",
        ),
    ];
    for (args, says) in cases {
        let o = run(repo_cmd().arg("init").arg(&repo).args(&args));
        assert_eq!(o.status.code(), Some(2), "{args:?}: {}", text(&o));
        assert!(text(&o).contains(says), "{args:?}: {}", text(&o));
        assert!(!repo.exists(), "{args:?}: nothing is created");
    }
}

#[test]
fn a_managed_repository_refuses_approvals_from_the_command_line() {
    let dir = tempfile::tempdir().unwrap();
    let repo = dir.path().join("repo");
    ok(repo_cmd().arg("init").arg(&repo));
    assert!(publish(&repo, dir.path(), 1).status.success());
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    let managed = wua_trust::repo::Managed::new(wua_trust::repo::DEFAULT_API_BASE);
    rt.block_on(wua_trust::repo::set_managed(&repo, &managed)).unwrap();

    let id = test_id(1);
    for args in [
        vec!["approve".to_owned(), id.clone(), "--group".into(), "web".into(), "--action".into(), "install".into()],
        vec!["unapprove".to_owned(), id.clone(), "--group".into(), "web".into()],
    ] {
        let before = wua_test_support::trust::tree(&repo.join("repository"));
        let o = run(repo_cmd().arg(&args[0]).arg(&repo).args(&args[1..]));
        assert_eq!(o.status.code(), Some(2), "{args:?}: {}", text(&o));
        let out = text(&o);
        assert!(out.contains("WUA_E_REPO_MANAGED") && out.contains("0xA0244011"), "{out}");
        assert!(out.contains("POST /api/v1/groups/web/approvals"), "the error names the API route: {out}");
        assert_eq!(wua_test_support::trust::tree(&repo.join("repository")), before);
    }
    // Publishing, revising and declining are the publisher's.
    assert!(publish(&repo, dir.path(), 2).status.success());
    ok(repo_cmd().arg("decline").arg(&repo).arg(test_id(2)).args(["--revision", "1"]));
    let r = refresh_from(&repo.join("root.json"), &dir.path().join("state"), &repo).unwrap();
    assert_eq!(r.catalog().documents.len(), 2);
    assert!(r.approvals.is_empty());
}

/// `resign --only`: the timestamp with only its key, the snapshot with its key and the
/// timestamp's, the approvals without the targets key.
#[test]
fn resign_only_re_signs_one_role_and_those_above_it() {
    let dir = tempfile::tempdir().unwrap();
    let repo = dir.path().join("repo");
    ok(repo_cmd().arg("init").arg(&repo));
    assert!(publish(&repo, dir.path(), 1).status.success());
    let state = dir.path().join("state");
    refresh_from(&repo.join("root.json"), &state, &repo).unwrap();
    let away = dir.path().join("away");
    std::fs::create_dir(&away).unwrap();
    let keys = repo.join("keys");
    for (only, keep, roles) in [
        ("timestamp", &["timestamp"][..], &["timestamp"][..]),
        ("snapshot", &["snapshot", "timestamp"][..], &["snapshot", "timestamp"][..]),
        ("approvals", &["approvals", "snapshot", "timestamp"][..], &["approvals", "snapshot", "timestamp"][..]),
    ] {
        for role in ["targets", "snapshot", "timestamp", "approvals"] {
            let (here, there) = (keys.join(format!("{role}.pk8")), away.join(format!("{role}.pk8")));
            if keep.contains(&role) && there.exists() {
                std::fs::rename(&there, &here).unwrap();
            } else if !keep.contains(&role) && here.exists() {
                std::fs::rename(&here, &there).unwrap();
            }
        }
        let before = wua_test_support::trust::served_versions(&repo);
        let j = ok(repo_cmd().arg("resign").arg(&repo).args(["--only", only]));
        assert_eq!(j["roles"], serde_json::json!(roles), "{only}");
        let after = wua_test_support::trust::served_versions(&repo);
        assert_eq!(after.targets, before.targets, "{only}");
        assert_eq!(after.timestamp, before.timestamp + 1, "{only}");
        refresh_from(&repo.join("root.json"), &state, &repo).unwrap_or_else(|e| panic!("{only}: {e}"));
    }
    // The full re-sign needs the targets key.
    let o = run(repo_cmd().arg("resign").arg(&repo));
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    assert!(text(&o).contains("targets.pk8"), "{}", text(&o));
}
