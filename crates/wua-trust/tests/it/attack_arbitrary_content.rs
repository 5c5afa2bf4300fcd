//! Arbitrary-content attacks: a pack or a blob whose bytes are not the signed ones is refused.
//! The agent starts from its install-time root and has followed a key rotation first.

use wua_trust::Refusal;
use wua_trust::repo::InitOptions;
use wua_trust::verify;

use crate::support::*;

/// After the targets key is rotated, a served pack changed in place (same length) is refused
/// by wua and by python-tuf.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn swapped_pack_is_refused() {
    let (f, source) = installed(InitOptions::default()).await;
    let py = PyTuf::installed(&f);
    if let Some(py) = &py {
        py.accepts(&source, &["pack-000001.jsonl"]).await;
    }
    rotate_online(&f, &source, "targets").await;
    if let Some(py) = &py {
        py.accepts(&source, &["pack-000001.jsonl"]).await;
    }
    f.publish(2, 1, "two").await;
    let (pack, name) = (served_pack(&f), pack_target(&f));
    let mut bytes = std::fs::read(&pack).unwrap();
    let at = bytes.len() / 2;
    bytes[at] ^= 0x20; // same length, other content
    std::fs::write(&pack, bytes).unwrap();
    assert_refused_installed(&f, &source, Refusal::HashMismatch).await;
    if let Some(py) = &py {
        py.refuses(&source, &[&name], "LengthOrHashMismatchError").await;
    }
}

/// After the snapshot key is rotated, a blob whose bytes are not the catalog's is refused.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn swapped_blob_is_refused() {
    let (f, source) = installed(InitOptions::default()).await;
    rotate_online(&f, &source, "snapshot").await;
    if let Some(py) = PyTuf::installed(&f) {
        py.accepts(&source, &["pack-000001.jsonl"]).await;
    }
    let doc = f.publish(2, 1, "the real content").await;
    f.refresh_installed(&source).await.unwrap();
    let entry = &doc.content[0];
    std::fs::write(f.repo.join("repository/blobs/sha256").join(&entry.sha256), "the fake content").unwrap();
    let bytes = get(source.blob_url(&entry.sha256).unwrap()).await;
    let e = verify::check_blob(&bytes, entry).unwrap_err();
    assert_eq!(e.hresult(), wua_types::HResult::WUA_E_TRUST_HASH_MISMATCH, "{e}");
    let longer = [bytes.as_slice(), b"and more"].concat();
    let e = verify::check_blob(&longer, entry).unwrap_err();
    assert_eq!(e.hresult(), wua_types::HResult::WUA_E_TRUST_TOO_LARGE, "{e}");
    assert!(matches!(e, wua_trust::TrustError::Refused { refusal: Refusal::TooLarge, .. }));
}

/// A group's approvals changed in place (same length, other bytes) are refused: the approvals
/// role's entry names their hash as well as their length.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn swapped_approvals_are_refused() {
    let (f, source) = trusted(InitOptions::default()).await;
    let action = wua_trust::approvals::ApprovalAction::Install;
    wua_trust::repo::approve(&f.repo, &test_id(1), "web", action, None).await.unwrap();
    f.refresh(&source).await.unwrap();
    let targets = f.repo.join("repository/targets");
    let served = std::fs::read_dir(&targets)
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|p| p.to_string_lossy().ends_with("approvals-web.json"))
        .expect("the group's approvals are served");
    let mut bytes = std::fs::read(&served).unwrap();
    let at = bytes.iter().position(|&b| b == b'0').expect("the update id's digits");
    bytes[at] = b'1'; // same length, other content
    std::fs::write(&served, bytes).unwrap();
    // A fresh agent fetches them (the other one has them cached by hash).
    let fresh = tempfile::tempdir().unwrap();
    let e = verify::refresh(&f.trusted_root(), fresh.path(), &source).await.unwrap_err();
    assert_eq!(e.hresult(), wua_types::HResult::WUA_E_TRUST_HASH_MISMATCH, "{e}");
}
