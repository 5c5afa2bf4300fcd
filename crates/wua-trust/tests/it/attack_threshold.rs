//! A root threshold not met: a new root version carrying one signature where two are needed is
//! refused by agents, even when it is served as the next root. The agent starts from its
//! install-time root and has followed a rotation of the timestamp key first.

use wua_trust::Refusal;
use wua_trust::repo::InitOptions;
use wua_trust::root::{self, Rotation};

use crate::support::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn root_signed_below_threshold_is_refused() {
    let (f, source) = installed(InitOptions { root_keys: 2, root_threshold: 2, ..InitOptions::default() }).await;
    let py = PyTuf::installed(&f);
    if let Some(py) = &py {
        py.accepts(&source, &[]).await;
    }
    // Both root keys are here: the rotation is installed at once.
    rotate_online(&f, &source, "timestamp").await;
    if let Some(py) = &py {
        py.accepts(&source, &["pack-000001.jsonl"]).await;
    }
    let offline = f.work.join("offline");
    std::fs::create_dir_all(&offline).unwrap();
    std::fs::rename(f.repo.join("keys/root-2.pk8"), offline.join("root-2.pk8")).unwrap();
    // With one of the two root keys here, the rotation stays a proposal with one signature.
    let Rotation::Proposed(proposal) = root::rotate_key(&f.repo, "snapshot").await.unwrap() else {
        panic!("one root key of two cannot install a root");
    };
    let doc: serde_json::Value = serde_json::from_slice(&std::fs::read(&proposal).unwrap()).unwrap();
    assert_eq!(doc["signatures"].as_array().unwrap().len(), 1);
    assert_eq!(doc["signed"]["version"], 3);
    // Served anyway, as the next root version.
    std::fs::copy(&proposal, f.repo.join("repository/metadata/3.root.json")).unwrap();
    assert_refused_installed(&f, &source, Refusal::Signature).await;
    if let Some(py) = &py {
        py.refuses(&source, &[], "UnsignedMetadataError").await;
    }
}
