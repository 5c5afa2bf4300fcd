//! Re-signing one role and those above it with only their keys (a server's timer): the
//! timestamp alone, the snapshot and timestamp, the approvals, snapshot and timestamp; and the
//! expiry dates that tell the timer which is due. None of them reads a pack.

use wua_trust::TrustError;
use wua_trust::repo::{self, InitOptions, Lifetimes};
use wua_types::HResult;

use crate::support::*;

/// Moves every key but `keep` out of the repository's `keys/`.
fn keep_only(f: &Fixture, keep: &[&str]) {
    let away = f.work.join("keys-away");
    std::fs::create_dir_all(&away).unwrap();
    for role in ["targets", "snapshot", "timestamp", "approvals"].into_iter().filter(|r| !keep.contains(r)) {
        std::fs::rename(f.repo.join(format!("keys/{role}.pk8")), away.join(format!("{role}.pk8"))).unwrap();
    }
}

/// Within a minute of now plus `d`.
fn about(t: jiff::Timestamp, d: jiff::SignedDuration) {
    let want = jiff::Timestamp::now().checked_add(d).unwrap();
    let off = want.duration_since(t).abs();
    assert!(off < jiff::SignedDuration::from_secs(60), "{t} is not about {want}");
}

/// A working pack changed after the last full signing: a signing that re-hashed the packs
/// would publish it (and the agent would then see a third document).
fn change_the_working_pack(f: &Fixture) {
    let pack = f.repo.join("catalog").join(pack_target(f));
    let mut text = std::fs::read_to_string(&pack).unwrap();
    let first = text.lines().next().unwrap().to_owned();
    text.push_str(&first.replace(&test_id(1), &test_id(7)));
    text.push('\n');
    std::fs::write(&pack, text).unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_timestamp_is_re_signed_with_only_the_timestamp_key() {
    let (f, source) = trusted(InitOptions::default()).await;
    f.publish(2, 1, "two").await;
    let py = PyTuf::installed(&f);
    if let Some(py) = &py {
        py.accepts(&source, &["pack-000001.jsonl"]).await;
    }
    f.refresh(&source).await.unwrap();
    let before = served_versions(&f.repo);
    let expiries = repo::expiries(&f.repo).unwrap();
    about(expiries.timestamp, Lifetimes::default().timestamp);
    about(expiries.snapshot, Lifetimes::default().snapshot);
    about(expiries.targets, Lifetimes::default().targets);
    about(expiries.approvals, Lifetimes::default().targets);
    keep_only(&f, &["timestamp"]);
    change_the_working_pack(&f);

    let lifetimes = Lifetimes { timestamp: jiff::SignedDuration::from_hours(48), ..Lifetimes::default() };
    repo::resign_timestamp(&f.repo, &lifetimes).await.unwrap();
    let after = served_versions(&f.repo);
    assert_eq!(after, ServedVersions { timestamp: before.timestamp + 1, ..before }, "only the timestamp is new");
    let now = repo::expiries(&f.repo).unwrap();
    about(now.timestamp, lifetimes.timestamp);
    assert_eq!((now.snapshot, now.targets, now.approvals), (expiries.snapshot, expiries.targets, expiries.approvals));

    let r = f.refresh(&source).await.unwrap();
    assert_eq!(r.snapshot_version, before.snapshot);
    assert_eq!(r.catalog().documents.len(), 2, "the changed working pack was not published");
    let fresh = tempfile::tempdir().unwrap();
    wua_trust::verify::refresh(&f.installed_root(), fresh.path(), &source).await.unwrap();
    if let Some(py) = &py {
        py.accepts(&source, &["pack-000001.jsonl"]).await;
    }

    // Again: versions keep going up.
    repo::resign_timestamp(&f.repo, &Lifetimes::default()).await.unwrap();
    assert_eq!(served_versions(&f.repo).timestamp, before.timestamp + 2);
    f.refresh(&source).await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_snapshot_is_re_signed_with_only_the_snapshot_and_timestamp_keys() {
    let (f, source) = trusted(InitOptions::default()).await;
    let py = PyTuf::installed(&f);
    if let Some(py) = &py {
        py.accepts(&source, &[]).await;
    }
    let before = served_versions(&f.repo);
    let expiries = repo::expiries(&f.repo).unwrap();
    keep_only(&f, &["snapshot", "timestamp"]);
    change_the_working_pack(&f);

    let lifetimes = Lifetimes { snapshot: jiff::SignedDuration::from_hours(24 * 3), ..Lifetimes::default() };
    repo::resign_snapshot(&f.repo, &lifetimes).await.unwrap();
    let after = served_versions(&f.repo);
    assert_eq!(
        after,
        ServedVersions { timestamp: before.timestamp + 1, snapshot: before.snapshot + 1, ..before },
        "a new snapshot and timestamp; the same targets and approvals"
    );
    let now = repo::expiries(&f.repo).unwrap();
    about(now.snapshot, lifetimes.snapshot);
    assert_eq!((now.targets, now.approvals), (expiries.targets, expiries.approvals));

    let r = f.refresh(&source).await.unwrap();
    assert_eq!(r.snapshot_version, before.snapshot + 1);
    assert_eq!(r.catalog().documents.len(), 1, "the changed working pack was not published");
    if let Some(py) = &py {
        py.accepts(&source, &["pack-000001.jsonl"]).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_approvals_are_re_signed_without_the_targets_key() {
    let (f, source) = trusted(InitOptions::default()).await;
    repo::approve(&f.repo, &test_id(1), "web", wua_trust::approvals::ApprovalAction::Install, None).await.unwrap();
    f.refresh(&source).await.unwrap();
    let before = served_versions(&f.repo);
    keep_only(&f, &["approvals", "snapshot", "timestamp"]);
    change_the_working_pack(&f);
    repo::resign_approvals(&f.repo, &Lifetimes::default()).await.unwrap();
    assert_eq!(
        served_versions(&f.repo),
        ServedVersions {
            timestamp: before.timestamp + 1,
            snapshot: before.snapshot + 1,
            approvals: before.approvals + 1,
            ..before
        }
    );
    let r = f.refresh(&source).await.unwrap();
    assert_eq!(r.approvals["web"].len(), 1);
    assert_eq!(r.catalog().documents.len(), 1);
}

/// A key that is not here fails by its file name, before anything is saved or served.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_missing_key_changes_nothing() {
    let (f, _source) = trusted(InitOptions::default()).await;
    keep_only(&f, &["snapshot"]);
    let before = tree(&f.repo.join("repository"));
    let versions = std::fs::read(f.repo.join("catalog/versions.json")).unwrap();
    for e in [
        repo::resign_timestamp(&f.repo, &Lifetimes::default()).await.unwrap_err(),
        repo::resign_snapshot(&f.repo, &Lifetimes::default()).await.unwrap_err(),
    ] {
        assert!(matches!(&e, TrustError::Io { path, .. } if path.ends_with("keys/timestamp.pk8")), "{e:?}");
        assert_eq!(e.hresult(), HResult::WUA_E_TRUST_IO);
    }
    assert_eq!(tree(&f.repo.join("repository")), before);
    assert_eq!(std::fs::read(f.repo.join("catalog/versions.json")).unwrap(), versions);
}
