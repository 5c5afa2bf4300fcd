//! A repository re-created under the same address, with another root, is refused with a named
//! error that says what the administrator must do; the trusted state is left as it was.

use wua_trust::TrustError;
use wua_trust::repo::{self, InitOptions};
use wua_types::HResult;

use crate::support::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_recreated_repository_is_refused_by_name() {
    let (f, source) = trusted(InitOptions::default()).await;
    f.refresh_installed(&source).await.unwrap();
    std::fs::remove_dir_all(&f.repo).unwrap();
    repo::init(&f.repo, &InitOptions::default()).await.unwrap();
    f.publish(1, 1, "one again").await;
    // The agent is given the new repository's root.
    let before = state_of(&f);
    let e = f.refresh_installed(&source).await.unwrap_err();
    assert!(matches!(e, TrustError::RepositoryChanged { .. }), "{e}");
    assert_eq!(e.hresult(), HResult::WUA_E_TRUST_IDENTITY, "{e}");
    assert!(e.to_string().contains("wua service reset"), "{e}");
    assert_eq!(state_of(&f), before);
    // A new root of the same repository (a rotation that chains from the first) is no change.
    let (f, source) = trusted(InitOptions::default()).await;
    f.refresh_installed(&source).await.unwrap();
    wua_trust::root::rotate_key(&f.repo, "timestamp").await.unwrap();
    f.refresh(&source).await.unwrap();
    f.refresh_installed(&source).await.unwrap();
}

/// A root newer than the state's that the caller gives is trusted only when the chain verified
/// from the state's root reaches it: a newer root of another repository (re-created, then a key
/// rotated so its root version passed the old one) is refused by name, the state left as it was;
/// a newer root of the same repository is taken.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_newer_root_of_another_repository_is_refused_by_name() {
    let (f, source) = trusted(InitOptions::default()).await;
    f.refresh_installed(&source).await.unwrap();
    std::fs::remove_dir_all(&f.repo).unwrap();
    repo::init(&f.repo, &InitOptions::default()).await.unwrap();
    wua_trust::root::rotate_key(&f.repo, "timestamp").await.unwrap();
    f.publish(1, 1, "one again").await;
    let before = state_of(&f);
    // `trusted_root` is the new repository's current root: version 2, the state's is 1.
    let e = f.refresh(&source).await.unwrap_err();
    assert_eq!(e.hresult(), HResult::WUA_E_TRUST_IDENTITY, "{e}");
    assert_eq!(state_of(&f), before);

    let (f, source) = trusted(InitOptions::default()).await;
    f.refresh_installed(&source).await.unwrap();
    wua_trust::root::rotate_key(&f.repo, "snapshot").await.unwrap();
    wua_trust::root::rotate_key(&f.repo, "timestamp").await.unwrap();
    // The agent is given root 3 it has never seen; the chain from its root 1 reaches it.
    f.refresh(&source).await.unwrap();
    let trusted: serde_json::Value =
        serde_json::from_slice(&std::fs::read(f.state.join("tuf/root.json")).unwrap()).unwrap();
    assert_eq!(trusted["signed"]["version"], 3);
}
