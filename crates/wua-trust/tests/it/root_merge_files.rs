//! What `root::merge` leaves behind: the signed copies it is given are the caller's and stay as
//! they were (they may be the only record of the signatures gathered, and a merge that fails or
//! is killed runs again from them); the repository's own proposal of the version it installed
//! (`DIR/root-N.proposed.json`) is removed, by the merge or, after a crash, by the next writer.

use wua_trust::repo::{self, InitOptions, Lifetimes};
use wua_trust::root::{self, Rotation};

use crate::support::*;

/// A repository with two root keys (threshold 2) moved off it, update 1 published, and a
/// rotation of the timestamp key proposed: returns the fixture, the proposal and the two copies
/// signed with one root key each.
async fn proposed_with_two_signed_copies() -> (Fixture, std::path::PathBuf, Vec<std::path::PathBuf>) {
    let f = Fixture::new(InitOptions { root_keys: 2, root_threshold: 2, ..InitOptions::default() }).await;
    f.publish(1, 1, "one").await;
    let offline = f.work.join("offline");
    std::fs::create_dir_all(&offline).unwrap();
    for k in ["root-1.pk8", "root-2.pk8"] {
        std::fs::rename(f.repo.join("keys").join(k), offline.join(k)).unwrap();
    }
    let Rotation::Proposed(proposal) = root::rotate_key(&f.repo, "timestamp").await.unwrap() else {
        panic!("no root key is here: the rotation must wait for signatures")
    };
    assert_eq!(proposal, f.repo.join("root-2.proposed.json"));
    let mut copies = Vec::new();
    for k in ["root-1", "root-2"] {
        let copy = f.work.join(format!("{k}-signed.json"));
        std::fs::copy(&proposal, &copy).unwrap();
        root::sign(&copy, &offline.join(format!("{k}.pk8"))).await.unwrap();
        copies.push(copy);
    }
    (f, proposal, copies)
}

fn bytes_of(files: &[std::path::PathBuf]) -> Vec<Vec<u8>> {
    files.iter().map(|p| std::fs::read(p).unwrap_or_else(|e| panic!("{}: {e}", p.display()))).collect()
}

fn root_version(f: &Fixture) -> u64 {
    let root: serde_json::Value = serde_json::from_slice(&f.trusted_root()).unwrap();
    root["signed"]["version"].as_u64().unwrap()
}

/// A refused merge (one signature of two) and the merge that installs the root both leave the
/// signed copies byte for byte; the installed proposal is gone, a copy kept inside the
/// repository's directory under another name stays.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn merge_keeps_the_signed_copies_and_removes_its_own_proposal() {
    let (f, proposal, mut copies) = proposed_with_two_signed_copies().await;
    // The administrator's own copy beside the repository's files.
    let inside = f.repo.join("root-2.signed-by-1.json");
    std::fs::copy(&copies[0], &inside).unwrap();
    copies.push(inside);
    let before = bytes_of(&copies);

    let e = root::merge(&f.repo, &copies[..1]).await.unwrap_err();
    assert_eq!(e.hresult(), wua_types::HResult::WUA_E_TRUST_SIGNATURE, "{e}");
    assert_eq!(bytes_of(&copies), before, "a refused merge changes no copy");
    assert!(proposal.exists(), "the repository still waits for signatures");

    root::merge(&f.repo, &copies).await.unwrap();
    assert_eq!(root_version(&f), 2);
    assert_eq!(bytes_of(&copies), before, "the merged copies are the caller's");
    assert!(!proposal.exists(), "the installed proposal is removed");
    let source = serve(&f.repo.join("repository")).await;
    assert_eq!(f.refresh_installed(&source).await.unwrap().catalog().documents.len(), 1);
}

/// The repository's own proposal given as one of the copies (signed in place) is still removed
/// once installed: it is the repository's, not a copy.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_proposal_merged_in_place_is_removed() {
    let (f, proposal, copies) = proposed_with_two_signed_copies().await;
    root::sign(&proposal, &f.work.join("offline/root-1.pk8")).await.unwrap();
    let before = bytes_of(&copies[1..]);
    root::merge(&f.repo, &[proposal.clone(), copies[1].clone()]).await.unwrap();
    assert_eq!(root_version(&f), 2);
    assert!(!proposal.exists());
    assert_eq!(bytes_of(&copies[1..]), before);
}

/// A merge killed after it installed the root leaves its proposal; the next writer removes it
/// (and the proposals of older versions), but not a proposal of a version still to come.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_next_writer_removes_proposals_a_crash_left() {
    let (f, proposal, copies) = proposed_with_two_signed_copies().await;
    root::merge(&f.repo, &copies).await.unwrap();
    // As a crash between installing root.json and removing the proposal would leave it, with
    // an older one beside it and one of the next version, not yet signed.
    std::fs::copy(&copies[0], &proposal).unwrap();
    let older = f.repo.join("root-1.proposed.json");
    std::fs::copy(&copies[0], &older).unwrap();
    let next = f.repo.join("root-3.proposed.json");
    std::fs::copy(&copies[0], &next).unwrap();
    repo::resign(&f.repo, &Lifetimes::default()).await.unwrap();
    assert!(!proposal.exists() && !older.exists(), "installed versions' proposals are removed");
    assert!(next.exists(), "a proposal of a version not installed stays");
}
