//! Rollback attacks: an older timestamp, or newer metadata naming an older targets version, is
//! refused once a newer one is trusted. The agent starts from its install-time root and has
//! followed a key rotation first.

use wua_trust::Refusal;
use wua_trust::repo::{self, InitOptions, Lifetimes};

use crate::support::*;

/// After the timestamp key is rotated, a timestamp the new key signed is replayed once a newer
/// one is trusted.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn older_timestamp_is_refused() {
    let (f, source, py) = installed_then_rotated("timestamp").await;
    let ts = f.repo.join("repository/metadata/timestamp.json");
    let old = std::fs::read(&ts).unwrap();
    f.publish(2, 1, "two").await;
    f.refresh_installed(&source).await.unwrap();
    if let Some(py) = &py {
        py.accepts(&source, &[]).await;
    }
    std::fs::write(&ts, old).unwrap();
    assert_refused_installed(&f, &source, Refusal::Rollback).await;
    if let Some(py) = &py {
        py.refuses(&source, &[], "BadVersionNumberError").await;
    }
}

/// After the targets key is rotated, a publisher (or an attacker with the online keys) signs
/// targets version 1 again, under a newer snapshot and timestamp.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn older_targets_version_is_refused() {
    let (f, source) = installed(InitOptions::default()).await;
    let py = PyTuf::installed(&f);
    if let Some(py) = &py {
        py.accepts(&source, &[]).await;
    }
    rotate_online(&f, &source, "targets").await;
    f.publish(2, 1, "two").await;
    f.refresh_installed(&source).await.unwrap();
    if let Some(py) = &py {
        py.accepts(&source, &["pack-000001.jsonl"]).await;
    }
    let versions = f.repo.join("catalog/versions.json");
    let mut v: serde_json::Value = serde_json::from_slice(&std::fs::read(&versions).unwrap()).unwrap();
    v["targets"] = serde_json::json!(0);
    std::fs::write(&versions, serde_json::to_vec(&v).unwrap()).unwrap();
    std::fs::remove_file(f.repo.join("repository/metadata/1.targets.json")).unwrap();
    repo::resign(&f.repo, &Lifetimes::default()).await.unwrap();
    assert_refused_installed(&f, &source, Refusal::Rollback).await;
    if let Some(py) = &py {
        py.refuses(&source, &[], "BadVersionNumberError").await;
    }
}
