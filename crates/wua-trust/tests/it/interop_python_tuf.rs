//! Interoperability: the reference client (python-tuf's `ngclient.Updater`, from the venv
//! `scripts/test` provides as `WUA_TUF_PYTHON`) refreshes a repository with the real layout
//! (consistent snapshots, the approvals delegation, several packs, a rotated root) over HTTP
//! and downloads packs and approvals, unmodified.

use wua_trust::repo::{self, ApprovalAction, InitOptions};
use wua_trust::root::{self, Rotation};

use crate::support::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn python_tuf_refreshes_and_downloads() {
    let Some(python) = std::env::var_os("WUA_TUF_PYTHON") else {
        assert!(std::env::var_os("CI").is_none(), "CI must provide WUA_TUF_PYTHON (scripts/test does)");
        eprintln!("skipped: WUA_TUF_PYTHON is not set (bash scripts/test sets it)");
        return;
    };
    let f = Fixture::new(InitOptions { seal_entries: 2, ..InitOptions::default() }).await;
    for n in 1..=5 {
        f.publish(n, 1, &format!("update {n}\n")).await;
    }
    repo::approve(&f.repo, &test_id(3), "web", ApprovalAction::Optional, None).await.unwrap();
    assert_eq!(root::rotate_key(&f.repo, "timestamp").await.unwrap(), Rotation::Installed);
    let root: serde_json::Value = serde_json::from_slice(&f.trusted_root()).unwrap();
    assert_eq!(root["signed"]["version"], 2, "the root was rotated");
    let source = serve(&f.repo.join("repository")).await;
    // The client starts from the first root and must follow the rotation.
    let first_root = f.repo.join("repository/metadata/1.root.json");
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/interop/tuf_client.py");
    let targets = ["pack-000001.jsonl", "pack-000003.jsonl", "approvals-web.json"];
    let (md, td) = (f.work.join("py-metadata"), f.work.join("py-targets"));
    let mut command = std::process::Command::new(python);
    command.arg(script).arg(&md).arg(source.base.as_str()).arg(&first_root).arg(&td).args(targets);
    // The server runs on this runtime: wait for the client on a blocking thread.
    let out = tokio::task::spawn_blocking(move || command.output()).await.unwrap().unwrap();
    let text = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    assert!(out.status.success(), "python-tuf failed:\n{text}");
    assert_eq!(text.lines().filter(|l| l.starts_with("OK ")).count(), 3, "{text}");
    for name in targets {
        let downloaded = std::fs::read(td.join(name)).unwrap();
        assert_eq!(downloaded, std::fs::read(f.repo.join("catalog").join(name)).unwrap(), "{name}");
    }
}
