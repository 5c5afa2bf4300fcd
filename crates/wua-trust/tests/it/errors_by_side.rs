//! Errors say which side failed: a failure while a repository is signed or written is a write
//! error (`WUA_E_REPO_WRITE`), never a verification refusal such as "malformed metadata"; a root
//! proposal short of signatures is its own error, and only that one leaves a rotation proposed.

use wua_trust::TrustError;
use wua_trust::repo::InitOptions;
use wua_trust::root::{self, Rotation};
use wua_types::HResult;

use crate::support::*;

/// The snapshot key is gone: signing fails while publishing.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failure_while_publishing_is_a_write_error() {
    let f = Fixture::new(InitOptions::default()).await;
    std::fs::remove_file(f.repo.join("keys/snapshot.pk8")).unwrap();
    let base = f.work.join("u1");
    write_payload(&base.join("payload"), &[("opt/u1/file", 0o644, b"one")]).unwrap();
    std::fs::write(base.join("m.toml"), files_manifest(&test_id(1), 1, "one", "", "")).unwrap();
    let e = wua_trust::repo::publish(&f.repo, &base.join("m.toml"), &base.join("payload")).await.unwrap_err();
    assert!(matches!(e, TrustError::Write { .. }), "{e:?}");
    assert_eq!(e.hresult(), HResult::WUA_E_REPO_WRITE);
    assert!(!e.to_string().contains("malformed"), "{e}");
}

/// With every root key here, a rotation whose re-signing fails is an error, not a proposal
/// "awaiting root signatures".
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rotation_fails_rather_than_waiting_when_signing_fails() {
    let f = Fixture::new(InitOptions::default()).await;
    std::fs::remove_file(f.repo.join("keys/snapshot.pk8")).unwrap();
    let e = root::rotate_key(&f.repo, "timestamp").await.unwrap_err();
    assert_eq!(e.hresult(), HResult::WUA_E_REPO_WRITE, "{e}");
}

/// A proposal signed by one root key of two: the merge is refused for its threshold, and the
/// rotation waits for signatures.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_proposal_short_of_signatures_is_a_threshold_error() {
    let f = Fixture::new(InitOptions { root_keys: 2, root_threshold: 2, ..InitOptions::default() }).await;
    std::fs::rename(f.repo.join("keys/root-2.pk8"), f.work.join("root-2.pk8")).unwrap();
    let Rotation::Proposed(proposal) = root::rotate_key(&f.repo, "snapshot").await.unwrap() else {
        panic!("root-2 is elsewhere: the rotation must wait")
    };
    let e = root::merge(&f.repo, std::slice::from_ref(&proposal)).await.unwrap_err();
    match &e {
        TrustError::RootThreshold { whose, path, .. } => {
            assert_eq!(*whose, "the current root's");
            assert_eq!(path, &proposal);
        }
        other => panic!("expected a threshold error, got {other:?}"),
    }
    assert_eq!(e.hresult(), HResult::WUA_E_TRUST_SIGNATURE);
    root::sign(&proposal, &f.work.join("root-2.pk8")).await.unwrap();
    root::merge(&f.repo, &[proposal]).await.unwrap();
}
