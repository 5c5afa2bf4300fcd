//! Signatures by the wrong key: a timestamp signed by a key the root does not list, and
//! approvals signed by a key other than the approvals role's, are refused. The agent starts
//! from its install-time root and has followed a key rotation first.

use wua_trust::Refusal;
use wua_trust::approvals::ApprovalAction;
use wua_trust::repo::{self, InitOptions};

use crate::support::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn timestamp_signed_by_a_stranger_is_refused() {
    let (f, source, py) = installed_then_rotated("timestamp").await;
    let stranger = stranger_key(&f.work);
    resign_file(&f.repo.join("repository/metadata/timestamp.json"), &stranger, bump_version).await;
    assert_refused_installed(&f, &source, Refusal::Signature).await;
    if let Some(py) = &py {
        py.refuses(&source, &[], "UnsignedMetadataError").await;
    }
}

/// Approvals signed by the approvals key are read, before and after that key is rotated;
/// approvals signed by another key (here the targets key, under a consistent snapshot
/// re-signed by the real snapshot and timestamp keys) are refused.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn approvals_signed_by_another_key_are_refused() {
    let (f, source) = installed(InitOptions::default()).await;
    let py = PyTuf::installed(&f);
    repo::approve(&f.repo, &test_id(1), "web", ApprovalAction::Install, Some("2030-01-01T00:00:00Z")).await.unwrap();
    let r = f.refresh_installed(&source).await.unwrap();
    let web = &r.approvals["web"];
    assert_eq!(web.len(), 1);
    assert_eq!((web[0].update_id.as_str(), web[0].action), (test_id(1).as_str(), ApprovalAction::Install));
    assert_eq!(web[0].deadline.as_deref(), Some("2030-01-01T00:00:00Z"));
    if let Some(py) = &py {
        py.accepts(&source, &["approvals-web.json"]).await;
    }
    let r = rotate_online(&f, &source, "approvals").await;
    assert_eq!(r.approvals["web"].len(), 1, "the approvals survive the rotation");
    if let Some(py) = &py {
        py.accepts(&source, &["approvals-web.json"]).await;
    }
    repo::unapprove(&f.repo, &test_id(1), "web").await.unwrap();
    assert!(f.refresh_installed(&source).await.unwrap().approvals["web"].is_empty());
    if let Some(py) = &py {
        py.accepts(&source, &["approvals-web.json"]).await;
    }

    // The attacker signs a new approvals version with the targets key and patches snapshot and
    // timestamp (with their real keys) so every hash, length and version agrees.
    let metadata = f.repo.join("repository/metadata");
    let keys = f.repo.join("keys");
    let (n, current) = newest(&metadata, "approvals");
    let approvals = metadata.join(format!("{}.approvals.json", n + 1));
    std::fs::copy(&current, &approvals).unwrap();
    resign_file(&approvals, &keys.join("targets.pk8"), bump_version).await;
    let bytes = std::fs::read(&approvals).unwrap();
    let (_, snapshot) = newest(&metadata, "snapshot");
    let next_snapshot = {
        let (n, _) = newest(&metadata, "snapshot");
        metadata.join(format!("{}.snapshot.json", n + 1))
    };
    std::fs::copy(&snapshot, &next_snapshot).unwrap();
    resign_file(&next_snapshot, &keys.join("snapshot.pk8"), |signed| {
        bump_version(signed);
        let meta = &mut signed["meta"]["approvals.json"];
        bump_version(meta);
        if meta.get("length").is_some() {
            meta["length"] = serde_json::json!(bytes.len());
        }
        if meta.get("hashes").is_some() {
            meta["hashes"]["sha256"] = serde_json::json!(wua_fs::sha256_hex(&bytes));
        }
    })
    .await;
    let snap_bytes = std::fs::read(&next_snapshot).unwrap();
    resign_file(&metadata.join("timestamp.json"), &keys.join("timestamp.pk8"), |signed| {
        bump_version(signed);
        let meta = &mut signed["meta"]["snapshot.json"];
        bump_version(meta);
        if meta.get("length").is_some() {
            meta["length"] = serde_json::json!(snap_bytes.len());
        }
        if meta.get("hashes").is_some() {
            meta["hashes"]["sha256"] = serde_json::json!(wua_fs::sha256_hex(&snap_bytes));
        }
    })
    .await;
    assert_refused_installed(&f, &source, Refusal::Signature).await;
    if let Some(py) = &py {
        py.refuses(&source, &["approvals-web.json"], "UnsignedMetadataError").await;
    }
}
