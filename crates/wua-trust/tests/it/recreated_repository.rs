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

/// The agent's own repository is served, but the caller gives a newer root of another one: the
/// chain from the state's root verifies and does not reach it, so it is refused by name.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_newer_root_the_chain_does_not_reach_is_refused() {
    let (f, source) = trusted(InitOptions::default()).await;
    let other = Fixture::new(InitOptions::default()).await;
    wua_trust::root::rotate_key(&other.repo, "timestamp").await.unwrap();
    let before = state_of(&f);
    let e = wua_trust::verify::refresh(&other.trusted_root(), &f.state, &source).await.unwrap_err();
    assert_eq!(e.hresult(), HResult::WUA_E_TRUST_IDENTITY, "{e}");
    assert_eq!(state_of(&f), before);
}

/// The state of a wua from before the roots of a repository were recorded (no `tuf-identity`):
/// the caller's root is the anchor, the refresh goes on and records it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_state_from_before_identities_were_kept() {
    let (f, source) = trusted(InitOptions::default()).await;
    let identities = f.state.join("tuf-identity");
    std::fs::remove_file(&identities).unwrap();
    f.publish(2, 1, "two").await;
    f.refresh(&source).await.unwrap();
    assert_eq!(std::fs::read_to_string(&identities).unwrap().lines().count(), 1, "root 1 recorded again");
}

/// Only verified roots join a repository's identities: a forged next root a server once
/// offered (and the refresh refused) is not recorded by a later refresh that succeeds.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refused_root_is_never_an_identity() {
    let (f, source) = trusted(InitOptions::default()).await;
    let metadata = f.repo.join("repository/metadata");
    let mut forged: serde_json::Value =
        serde_json::from_slice(&std::fs::read(metadata.join("1.root.json")).unwrap()).unwrap();
    bump_version(&mut forged["signed"]);
    std::fs::write(metadata.join("2.root.json"), serde_json::to_vec(&forged).unwrap()).unwrap();
    f.refresh(&source).await.unwrap_err();
    std::fs::remove_file(metadata.join("2.root.json")).unwrap();
    f.refresh(&source).await.unwrap();
    let identities = std::fs::read_to_string(f.state.join("tuf-identity")).unwrap();
    assert_eq!(identities.lines().count(), 1, "{identities}");
}

/// The caller gives root 2 while the repository is at root 3 and the state at root 1: the
/// chain this refresh fetched passes through root 2, which is taken as the repository's.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_intermediate_root_the_chain_passes_is_taken() {
    let (f, source) = trusted(InitOptions::default()).await;
    wua_trust::root::rotate_key(&f.repo, "snapshot").await.unwrap();
    let root_2 = std::fs::read(f.repo.join("repository/metadata/2.root.json")).unwrap();
    wua_trust::root::rotate_key(&f.repo, "timestamp").await.unwrap();
    wua_trust::verify::refresh(&root_2, &f.state, &source).await.unwrap();
    let trusted: serde_json::Value =
        serde_json::from_slice(&std::fs::read(f.state.join("tuf/root.json")).unwrap()).unwrap();
    assert_eq!(trusted["signed"]["version"], 3);
}

/// Every root of the chain a refresh followed joins the repository's identities: after a
/// refresh from root 1 to root 3, root 2 given later is the same repository's (older than the
/// state's, so the state's root 3 is kept).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_root_of_a_followed_chain_is_the_repository_s() {
    let (f, source) = trusted(InitOptions::default()).await;
    wua_trust::root::rotate_key(&f.repo, "snapshot").await.unwrap();
    let root_2 = std::fs::read(f.repo.join("repository/metadata/2.root.json")).unwrap();
    wua_trust::root::rotate_key(&f.repo, "timestamp").await.unwrap();
    f.refresh(&source).await.unwrap();
    wua_trust::verify::refresh(&root_2, &f.state, &source).await.unwrap();
    let trusted: serde_json::Value =
        serde_json::from_slice(&std::fs::read(f.state.join("tuf/root.json")).unwrap()).unwrap();
    assert_eq!(trusted["signed"]["version"], 3);
}
