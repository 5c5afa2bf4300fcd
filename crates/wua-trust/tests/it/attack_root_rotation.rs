//! Root rotation revokes old keys: once an agent on its install-time root has followed a root
//! that replaced the timestamp key, a timestamp signed by the old key is refused. The rotation
//! itself goes through the offline flow: a proposal signed with each root key elsewhere and
//! merged, refused with too few. A root key rotated away cannot sign the next root.

use wua_trust::Refusal;
use wua_trust::repo::InitOptions;
use wua_trust::root::{self, Rotation};

use crate::support::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn threshold_two_root_rotation_and_revoked_key() {
    let (f, source) = installed(InitOptions { root_keys: 2, root_threshold: 2, ..InitOptions::default() }).await;
    let py = PyTuf::installed(&f);
    if let Some(py) = &py {
        py.accepts(&source, &[]).await;
    }
    // The root keys leave the repository machine.
    let offline = f.work.join("offline");
    std::fs::create_dir_all(&offline).unwrap();
    for k in ["root-1.pk8", "root-2.pk8"] {
        std::fs::rename(f.repo.join("keys").join(k), offline.join(k)).unwrap();
    }
    let proposal = match root::rotate_key(&f.repo, "timestamp").await.unwrap() {
        Rotation::Proposed(p) => p,
        Rotation::Installed => panic!("no root key is here: the rotation must wait for signatures"),
    };
    let (a, b) = (f.work.join("a.json"), f.work.join("b.json"));
    std::fs::copy(&proposal, &a).unwrap();
    std::fs::copy(&proposal, &b).unwrap();
    root::sign(&a, &offline.join("root-1.pk8")).await.unwrap();
    root::sign(&b, &offline.join("root-2.pk8")).await.unwrap();
    // One signature of a threshold of two is refused.
    let e = root::merge(&f.repo, std::slice::from_ref(&a)).await.unwrap_err();
    assert_eq!(e.hresult(), wua_types::HResult::WUA_E_TRUST_SIGNATURE, "{e}");
    // A key that is no root key cannot sign.
    let e = root::sign(&b, &f.repo.join("keys/targets.pk8")).await.unwrap_err();
    assert_eq!(e.hresult(), wua_types::HResult::WUA_E_TRUST_KEY, "{e}");
    root::merge(&f.repo, &[a, b]).await.unwrap();
    let r = f.refresh_installed(&source).await.unwrap();
    assert_eq!(r.catalog().documents.len(), 1, "the agent follows the rotation");
    let root: serde_json::Value = serde_json::from_slice(&f.trusted_root()).unwrap();
    assert_eq!(root["signed"]["version"], 2);
    if let Some(py) = &py {
        py.accepts(&source, &["pack-000001.jsonl"]).await;
    }

    // The old timestamp key is revoked.
    let revoked = f.repo.join("keys/timestamp.revoked-1.pk8");
    assert!(revoked.exists());
    resign_file(&f.repo.join("repository/metadata/timestamp.json"), &revoked, bump_version).await;
    assert_refused_installed(&f, &source, Refusal::Signature).await;
    if let Some(py) = &py {
        py.refuses(&source, &[], "UnsignedMetadataError").await;
    }
}

/// A root key itself is rotated: the new root is signed by the current root keys and by the
/// new key, agents follow it, and the old key is no longer a root key: a next root signed by
/// the remaining root key and the revoked one is refused.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_root_key_is_rotated() {
    let (f, source) = installed(InitOptions { root_keys: 2, root_threshold: 2, ..InitOptions::default() }).await;
    let py = PyTuf::installed(&f);
    if let Some(py) = &py {
        py.accepts(&source, &[]).await;
    }
    let old_id = hex::encode(&*wua_trust::keys::public_key(&f.repo.join("keys/root-2.pk8")).unwrap().key_id().unwrap());
    assert_eq!(root::rotate_key(&f.repo, "root-2").await.unwrap(), Rotation::Installed);
    let root: serde_json::Value = serde_json::from_slice(&f.trusted_root()).unwrap();
    let ids: Vec<&str> =
        root["signed"]["roles"]["root"]["keyids"].as_array().unwrap().iter().map(|v| v.as_str().unwrap()).collect();
    assert_eq!(ids.len(), 2);
    assert!(!ids.contains(&old_id.as_str()), "the old root key is gone");
    let revoked = f.repo.join("keys/root-2.revoked-1.pk8");
    assert!(revoked.exists());
    f.refresh_installed(&source).await.unwrap();
    if let Some(py) = &py {
        py.accepts(&source, &["pack-000001.jsonl"]).await;
    }
    // The next rotation is signed by the new set.
    rotate_online(&f, &source, "snapshot").await;
    if let Some(py) = &py {
        py.accepts(&source, &["pack-000001.jsonl"]).await;
    }

    // A next root signed by root-1 and the revoked root-2 meets no threshold.
    let metadata = f.repo.join("repository/metadata");
    let (n, current) = newest(&metadata, "root");
    assert_eq!(n, 3);
    let hostile = metadata.join(format!("{}.root.json", n + 1));
    std::fs::copy(current, &hostile).unwrap();
    resign_file_with(&hostile, &[&f.repo.join("keys/root-1.pk8"), &revoked], bump_version).await;
    assert_refused_installed(&f, &source, Refusal::Signature).await;
    if let Some(py) = &py {
        py.refuses(&source, &[], "UnsignedMetadataError").await;
    }
}
