//! A revoked key stays revoked whatever the server and the cache hold: an agent on its
//! install-time root that followed a timestamp-key rotation refuses a timestamp signed by the
//! old key even when the newer root is hidden from the server and its cache was cleared.

use wua_trust::Refusal;
use wua_trust::repo::InitOptions;
use wua_trust::root::{self, Rotation};

use crate::support::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn revoked_timestamp_key_with_the_newer_root_hidden() {
    let f = Fixture::new(InitOptions::default()).await;
    f.publish(1, 1, "one").await;
    let source = serve(&f.repo.join("repository")).await;
    f.refresh_installed(&source).await.unwrap();
    assert_eq!(root::rotate_key(&f.repo, "timestamp").await.unwrap(), Rotation::Installed);
    f.refresh_installed(&source).await.unwrap();

    // The server hides every root after the first; the agent's cache is gone.
    let metadata = f.repo.join("repository/metadata");
    let (newest_root, _) = newest(&metadata, "root");
    assert!(newest_root >= 2);
    for v in 2..=newest_root {
        std::fs::remove_file(metadata.join(format!("{v}.root.json"))).unwrap();
    }
    std::fs::remove_dir_all(f.state.join("tuf-cache")).unwrap();
    let revoked = f.repo.join("keys/timestamp.revoked-1.pk8");
    resign_file(&metadata.join("timestamp.json"), &revoked, bump_version).await;
    assert_refused_from(&f, &f.installed_root(), &source, Refusal::Signature).await;
}
