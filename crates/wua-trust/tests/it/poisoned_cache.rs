//! A cache that cannot poison: versions an attacker signed ahead of the publisher with the
//! compromised online keys, once cached by an agent, do not wedge it after the publisher
//! rotates those keys; a repository re-created under the same address is refused by name even
//! when the old one had a rotated root cached.

use wua_trust::TrustError;
use wua_trust::approvals::ApprovalAction;
use wua_trust::repo::{self, InitOptions};
use wua_trust::verify::Source;
use wua_types::HResult;

use crate::support::*;

/// Copies the served tree to `mirror` and signs there, with the current snapshot and timestamp
/// keys, `ahead` snapshots past the publisher's (and timestamps naming them); the agent
/// refreshes from the mirror after each, so every one of them is cached.
async fn fast_forward(f: &Fixture, ahead: u64) {
    let mirror = f.work.join("mirror");
    copy_tree(&f.repo.join("repository"), &mirror);
    let source = serve(&mirror).await;
    let metadata = mirror.join("metadata");
    let (current, path) = newest(&metadata, "snapshot");
    let keys = f.repo.join("keys");
    for k in 1..=ahead {
        let next = metadata.join(format!("{}.snapshot.json", current + k));
        std::fs::copy(&path, &next).unwrap();
        resign_file(&next, &keys.join("snapshot.pk8"), |signed| {
            signed["version"] = serde_json::json!(current + k);
            // Longer than the publisher's will be.
            signed["x-attacker"] = serde_json::json!("padding ".repeat(64));
        })
        .await;
        let bytes = std::fs::read(&next).unwrap();
        resign_file(&metadata.join("timestamp.json"), &keys.join("timestamp.pk8"), |signed| {
            signed["version"] = serde_json::json!(signed["version"].as_u64().unwrap() + 10);
            let meta = &mut signed["meta"]["snapshot.json"];
            meta["version"] = serde_json::json!(current + k);
            meta["length"] = serde_json::json!(bytes.len());
            meta["hashes"] = serde_json::json!({ "sha256": wua_fs::sha256_hex(&bytes) });
        })
        .await;
        f.refresh_installed(&source).await.expect("the attacker's versions verify under the compromised keys");
    }
}

fn copy_tree(from: &std::path::Path, to: &std::path::Path) {
    std::fs::create_dir_all(to).unwrap();
    for e in std::fs::read_dir(from).unwrap() {
        let e = e.unwrap();
        if e.file_type().unwrap().is_dir() {
            copy_tree(&e.path(), &to.join(e.file_name()));
        } else {
            std::fs::copy(e.path(), to.join(e.file_name())).unwrap();
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn versions_signed_ahead_do_not_wedge_the_agent_after_rotation() {
    let f = Fixture::new(InitOptions::default()).await;
    f.publish(1, 1, "one").await;
    let source = serve(&f.repo.join("repository")).await;
    f.refresh_installed(&source).await.unwrap();
    fast_forward(&f, 4).await;
    // The publisher learns of the compromise and rotates the online keys.
    for role in ["snapshot", "timestamp"] {
        wua_trust::root::rotate_key(&f.repo, role).await.unwrap();
    }
    f.refresh_installed(&source).await.expect("after the rotation");
    // Three more publisher changes, each followed.
    f.publish(2, 1, "two").await;
    let r = f.refresh_installed(&source).await.expect("after a publish");
    assert_eq!(r.catalog().documents.len(), 2);
    repo::decline(&f.repo, &test_id(1), 1).await.unwrap();
    f.refresh_installed(&source).await.expect("after a decline");
    repo::approve(&f.repo, &test_id(2), "web", ApprovalAction::Install, None).await.unwrap();
    let r = f.refresh_installed(&source).await.expect("after an approval");
    assert!(r.approvals.contains_key("web"));
}

async fn assert_identity_refused(f: &Fixture, source: &Source) {
    let before = state_of(f);
    let e = f.refresh_installed(source).await.unwrap_err();
    assert!(matches!(e, TrustError::RepositoryChanged { .. }), "{e}");
    assert_eq!(e.hresult(), HResult::WUA_E_TRUST_IDENTITY, "{e}");
    assert!(e.to_string().contains("wua service reset ID"), "{e}");
    assert_eq!(state_of(f), before);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_recreated_repository_is_refused_even_with_a_rotated_root_cached() {
    let f = Fixture::new(InitOptions::default()).await;
    f.publish(1, 1, "one").await;
    let source = serve(&f.repo.join("repository")).await;
    f.refresh_installed(&source).await.unwrap();
    // The old repository's root changes twice (a rotation of an online key, then another).
    wua_trust::root::rotate_key(&f.repo, "targets").await.unwrap();
    wua_trust::root::rotate_key(&f.repo, "snapshot").await.unwrap();
    f.refresh_installed(&source).await.unwrap();
    // Re-created under the same address, with roots of the same versions.
    std::fs::remove_dir_all(&f.repo).unwrap();
    repo::init(&f.repo, &InitOptions::default()).await.unwrap();
    f.publish(1, 1, "one again").await;
    assert_identity_refused(&f, &source).await;
    wua_trust::root::rotate_key(&f.repo, "targets").await.unwrap();
    wua_trust::root::rotate_key(&f.repo, "snapshot").await.unwrap();
    assert_identity_refused(&f, &source).await;
    // What `wua service reset` does to the state (the trusted state and identity) leaves a
    // cache bound to the old repository: it is not used for the new one.
    for name in ["tuf", "tuf-identity"] {
        let p = f.state.join(name);
        if p.is_dir() && !p.is_symlink() {
            std::fs::remove_dir_all(&p).unwrap();
        } else {
            let _ = std::fs::remove_file(&p);
        }
    }
    for e in std::fs::read_dir(&f.state).unwrap() {
        let p = e.unwrap().path();
        if p.file_name().unwrap().to_string_lossy().starts_with("tuf-") && p.is_dir() && !p.ends_with("tuf-cache") {
            std::fs::remove_dir_all(&p).unwrap();
        }
    }
    let r = f.refresh_installed(&source).await.expect("a new repository from its own first root");
    assert_eq!(r.catalog().documents.len(), 1);
}

/// A root in the cache that does not verify (put there by something other than a refresh)
/// fails one refresh and leaves the cache: the next refresh asks the server and succeeds.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refused_root_in_the_cache_is_dropped() {
    let (f, source) = trusted(InitOptions::default()).await;
    let mut forged: serde_json::Value =
        serde_json::from_slice(&std::fs::read(f.repo.join("repository/metadata/1.root.json")).unwrap()).unwrap();
    bump_version(&mut forged["signed"]);
    let bytes = serde_json::to_vec(&forged).unwrap();
    let cached = f.state.join("tuf-cache").join(format!("2.root.json.{}", wua_fs::sha256_hex(&bytes)));
    std::fs::write(&cached, &bytes).unwrap();
    let e = f.refresh(&source).await.unwrap_err();
    assert!(!cached.exists(), "the refused root is not served again: {e}");
    f.refresh(&source).await.unwrap();
}
