//! Interoperability: the reference client (python-tuf's `ngclient.Updater`, from the venv
//! `scripts/test` provides as `WUA_TUF_PYTHON`) refreshes a repository with the real layout
//! (consistent snapshots, the approvals delegation, several packs, a rotated root) over HTTP
//! and downloads packs and approvals, unmodified.

use wua_trust::approvals::ApprovalAction;
use wua_trust::repo::{self, InitOptions};
use wua_trust::root::{self, Rotation};

use crate::support::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn python_tuf_refreshes_and_downloads() {
    let Some(python) = tuf_python() else { return };
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
    let targets = ["pack-000001.jsonl", "pack-000003.jsonl", "approvals-web.json"];
    let td = python_tuf_accepts(&python, &f.work, &source, &first_root, &targets).await;
    for name in targets {
        let downloaded = std::fs::read(td.join(name)).unwrap();
        assert_eq!(downloaded, std::fs::read(f.repo.join("catalog").join(name)).unwrap(), "{name}");
    }
}
