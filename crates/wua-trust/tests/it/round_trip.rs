//! Publish, refresh through the verifier over HTTP, read every document and blob; revise,
//! decline; key files; the threshold root.

use std::os::unix::fs::PermissionsExt;

use wua_trust::repo::{self, InitOptions};
use wua_trust::verify::{self, Source};

use crate::support::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn publish_then_refresh_over_http_reads_every_document_and_blob() {
    let f = Fixture::new(InitOptions { root_keys: 2, root_threshold: 2, ..InitOptions::default() }).await;
    let mut published = Vec::new();
    for n in 1..=5 {
        published.push(f.publish(n, 1, &format!("content of update {n}\n")).await);
    }
    let source = serve(&f.repo.join("repository")).await;
    let r = f.refresh(&source).await.unwrap();
    assert_eq!(r.catalog().documents, published);
    assert!(r.catalog().warnings.is_empty(), "{:?}", r.catalog().warnings);
    for doc in &r.catalog().documents {
        for entry in &doc.content {
            let bytes = get(source.blob_url(&entry.sha256).unwrap()).await;
            verify::check_blob(&bytes, entry).unwrap();
        }
    }
    // A second refresh with nothing new fetches only the timestamp.
    let again = f.refresh(&source).await.unwrap();
    assert_eq!(again.catalog().documents.len(), 5);
    let timestamp = std::fs::metadata(f.repo.join("repository/metadata/timestamp.json")).unwrap().len();
    assert_eq!(again.bytes_fetched, timestamp, "only timestamp.json is fetched again");
}

/// `revise`: the new revision is what a refresh offers; `decline`: not offered, but its
/// document stays readable (an installed copy stays visible).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn revise_and_decline() {
    let f = Fixture::new(InitOptions::default()).await;
    f.publish(1, 1, "one").await;
    f.publish(2, 1, "two").await;
    let rev2 = f.publish(1, 2, "one, revised").await;
    let source = Source::parse(f.repo.to_str().unwrap()).unwrap();
    let r = f.refresh(&source).await.unwrap();
    let offered: Vec<_> = r.catalog().offered().into_iter().map(|d| (d.update_id.clone(), d.revision_number)).collect();
    assert_eq!(offered, vec![(test_id(1), 2), (test_id(2), 1)]);
    assert_eq!(r.catalog().offered()[0], &rev2);

    repo::decline(&f.repo, &test_id(2), 1).await.unwrap();
    let r = f.refresh(&source).await.unwrap();
    let offered: Vec<_> = r.catalog().offered().into_iter().map(|d| d.update_id.clone()).collect();
    assert_eq!(offered, vec![test_id(1)]);
    assert!(r.catalog().document(&test_id(2), 1).is_some(), "a declined document stays readable");
    // A revision must be higher than the published one.
    let base = f.work.join("old");
    write_payload(&base.join("payload"), &[("x", 0o644, b"x")]).unwrap();
    std::fs::write(base.join("m.toml"), files_manifest(&test_id(1), 2, "again", "", "")).unwrap();
    let e = repo::publish(&f.repo, &base.join("m.toml"), &base.join("payload")).await.unwrap_err();
    assert_eq!(e.hresult(), wua_types::HResult::WUA_E_REPO_INVALID);
    assert!(e.to_string().contains("revision 2"), "{e}");
}

/// Key files are created with mode 0600 in a 0700 directory; the root of a threshold-2
/// repository carries two root signatures.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn key_files_and_threshold_root() {
    let f = Fixture::new(InitOptions { root_keys: 3, root_threshold: 2, ..InitOptions::default() }).await;
    let keys = f.repo.join("keys");
    assert_eq!(std::fs::metadata(&keys).unwrap().permissions().mode() & 0o777, 0o700);
    let mut names = Vec::new();
    for e in std::fs::read_dir(&keys).unwrap() {
        let e = e.unwrap();
        assert_eq!(e.metadata().unwrap().permissions().mode() & 0o777, 0o600, "{:?}", e.path());
        names.push(e.file_name().into_string().unwrap());
    }
    names.sort();
    assert_eq!(
        names,
        ["approvals.pk8", "root-1.pk8", "root-2.pk8", "root-3.pk8", "snapshot.pk8", "targets.pk8", "timestamp.pk8"]
    );
    let root: serde_json::Value = serde_json::from_slice(&f.trusted_root()).unwrap();
    assert_eq!(root["signed"]["roles"]["root"]["threshold"], 2);
    assert_eq!(root["signatures"].as_array().unwrap().len(), 3, "init signs with every root key it made");
    let bad =
        repo::init(&f.work.join("bad"), &InitOptions { root_keys: 1, root_threshold: 2, ..InitOptions::default() })
            .await
            .unwrap_err();
    assert_eq!(bad.hresult(), wua_types::HResult::WUA_E_REPO_INVALID);
}

/// A reader refreshing in a loop while `publish` runs never sees a half-published state: every
/// refresh verifies, the catalog only grows, and every blob a verified document names is there.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn readers_never_see_a_half_published_state() {
    let f = std::sync::Arc::new(Fixture::new(InitOptions { seal_entries: 3, ..InitOptions::default() }).await);
    f.publish(1, 1, "first").await;
    let source = serve(&f.repo.join("repository")).await;
    let publisher = {
        let f = f.clone();
        tokio::spawn(async move {
            for n in 2..=12 {
                f.publish(n, 1, &format!("update {n}")).await;
            }
        })
    };
    let mut seen = 0;
    let mut refreshes = 0;
    loop {
        let done = publisher.is_finished();
        let r = f.refresh(&source).await.expect("a refresh during publishing verifies");
        refreshes += 1;
        assert!(r.catalog().documents.len() >= seen, "the catalog never shrinks");
        seen = r.catalog().documents.len();
        for doc in &r.catalog().documents {
            for e in &doc.content {
                verify::check_blob(&get(source.blob_url(&e.sha256).unwrap()).await, e).unwrap();
            }
        }
        if done {
            break;
        }
    }
    publisher.await.unwrap();
    assert_eq!(seen, 12);
    assert!(refreshes >= 2, "the reader ran during publishing");
}

/// Compaction: only when superseded entries are half the catalog (or forced); the newest
/// revisions and their declines stay, agents see the same offered updates afterwards.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn compaction_keeps_what_is_offered() {
    let f = Fixture::new(InitOptions { seal_entries: 2, ..InitOptions::default() }).await;
    f.publish(1, 1, "a").await;
    f.publish(2, 1, "b").await;
    assert_eq!(repo::compact(&f.repo, false).await.unwrap(), 0, "nothing superseded");
    f.publish(1, 2, "a2").await;
    f.publish(1, 3, "a3").await;
    repo::decline(&f.repo, &test_id(2), 1).await.unwrap();
    let source = Source::parse(f.repo.to_str().unwrap()).unwrap();
    let before = f.refresh(&source).await.unwrap();
    let offered = |r: &verify::Refreshed| {
        r.catalog().offered().into_iter().map(|d| (d.update_id.clone(), d.revision_number)).collect::<Vec<_>>()
    };
    // 5 entries, 2 superseded: below half, so only a forced compaction runs.
    assert_eq!(repo::compact(&f.repo, false).await.unwrap(), 0);
    assert_eq!(repo::compact(&f.repo, true).await.unwrap(), 2);
    let after = f.refresh(&source).await.unwrap();
    assert_eq!(offered(&after), offered(&before));
    assert_eq!(after.catalog().documents.len(), 2);
    assert!(after.catalog().declined.contains(&(test_id(2), 1)));
    assert!(after.catalog().document(&test_id(1), 1).is_none(), "an old revision left the catalog");
}
