//! Rollback attacks: an older timestamp, or newer metadata naming an older targets version, is
//! refused once a newer one is trusted.

use wua_trust::Refusal;
use wua_trust::repo::{self, InitOptions, Lifetimes};

use crate::support::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn older_timestamp_is_refused() {
    let f = Fixture::new(InitOptions::default()).await;
    f.publish(1, 1, "one").await;
    let ts = f.repo.join("repository/metadata/timestamp.json");
    let old = std::fs::read(&ts).unwrap();
    f.publish(2, 1, "two").await;
    let source = serve(&f.repo.join("repository")).await;
    f.refresh(&source).await.unwrap();
    std::fs::write(&ts, old).unwrap();
    assert_refused(&f, &source, Refusal::Rollback).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn older_targets_version_is_refused() {
    let f = Fixture::new(InitOptions::default()).await;
    f.publish(1, 1, "one").await;
    f.publish(2, 1, "two").await;
    let source = serve(&f.repo.join("repository")).await;
    f.refresh(&source).await.unwrap();
    // A publisher (or an attacker with the online keys) signs targets version 1 again, under a
    // newer snapshot and timestamp.
    let versions = f.repo.join("catalog/versions.json");
    let mut v: serde_json::Value = serde_json::from_slice(&std::fs::read(&versions).unwrap()).unwrap();
    v["targets"] = serde_json::json!(0);
    std::fs::write(&versions, serde_json::to_vec(&v).unwrap()).unwrap();
    std::fs::remove_file(f.repo.join("repository/metadata/1.targets.json")).unwrap();
    repo::resign(&f.repo, &Lifetimes::default()).await.unwrap();
    assert_refused(&f, &source, Refusal::Rollback).await;
}
