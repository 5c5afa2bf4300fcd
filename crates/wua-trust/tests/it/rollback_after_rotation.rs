//! Rollback protection survives the rotation of an online key. The agent is given only the root
//! it was installed with (the repository's `1.root.json`) and follows each rotation itself;
//! afterwards a replayed older timestamp, and a timestamp signed with the current key that names
//! an older snapshot, are refused.

use wua_trust::Refusal;
use wua_trust::repo::InitOptions;
use wua_trust::root::{self, Rotation};
use wua_trust::verify::Source;

use crate::support::*;

/// A repository whose `role` key was rotated after an agent on its install-time root trusted
/// it, and an update published and refreshed after the rotation.
/// python-tuf's client, from the same install-time root, refreshes alongside and accepts.
async fn rotated(role: &str) -> (Fixture, Source, Option<PyTuf>) {
    let f = Fixture::new(InitOptions::default()).await;
    f.publish(1, 1, "one").await;
    let source = serve(&f.repo.join("repository")).await;
    f.refresh_installed(&source).await.unwrap();
    let py = PyTuf::installed(&f);
    if let Some(py) = &py {
        py.accepts(&source, &[]).await;
    }
    assert_eq!(root::rotate_key(&f.repo, role).await.unwrap(), Rotation::Installed);
    f.publish(2, 1, "two").await;
    let r = f.refresh_installed(&source).await.unwrap();
    assert_eq!(r.catalog().documents.len(), 2, "the agent follows the rotation");
    if let Some(py) = &py {
        py.accepts(&source, &["pack-000001.jsonl"]).await;
    }
    (f, source, py)
}

async fn older_timestamp_is_refused(role: &str) {
    let (f, source, py) = rotated(role).await;
    let ts = f.repo.join("repository/metadata/timestamp.json");
    let old = std::fs::read(&ts).unwrap();
    f.publish(3, 1, "three").await;
    f.refresh_installed(&source).await.unwrap();
    if let Some(py) = &py {
        py.accepts(&source, &[]).await;
    }
    std::fs::write(&ts, old).unwrap();
    assert_refused_from(&f, &f.installed_root(), &source, Refusal::Rollback).await;
    if let Some(py) = &py {
        py.refuses(&source, &[], "BadVersionNumberError").await;
    }
}

/// A holder of the current timestamp key serves a newer timestamp naming the previous snapshot.
async fn older_snapshot_is_refused(role: &str) {
    let (f, source, py) = rotated(role).await;
    f.publish(3, 1, "three").await;
    f.refresh_installed(&source).await.unwrap();
    if let Some(py) = &py {
        py.accepts(&source, &[]).await;
    }
    let metadata = f.repo.join("repository/metadata");
    let (current, _) = newest(&metadata, "snapshot");
    let previous = metadata.join(format!("{}.snapshot.json", current - 1));
    let bytes = std::fs::read(&previous).unwrap();
    resign_file(&metadata.join("timestamp.json"), &f.repo.join("keys/timestamp.pk8"), |signed| {
        bump_version(signed);
        let meta = &mut signed["meta"]["snapshot.json"];
        meta["version"] = serde_json::json!(current - 1);
        if meta.get("length").is_some() {
            meta["length"] = serde_json::json!(bytes.len());
        }
        if meta.get("hashes").is_some() {
            meta["hashes"] = serde_json::json!({ "sha256": wua_fs::sha256_hex(&bytes) });
        }
    })
    .await;
    assert_refused_from(&f, &f.installed_root(), &source, Refusal::Rollback).await;
    if let Some(py) = &py {
        py.refuses(&source, &[], "BadVersionNumberError").await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn older_timestamp_after_rotating_the_timestamp_key() {
    older_timestamp_is_refused("timestamp").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn older_timestamp_after_rotating_the_snapshot_key() {
    older_timestamp_is_refused("snapshot").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn older_snapshot_after_rotating_the_timestamp_key() {
    older_snapshot_is_refused("timestamp").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn older_snapshot_after_rotating_the_snapshot_key() {
    older_snapshot_is_refused("snapshot").await;
}
