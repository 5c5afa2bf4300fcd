//! Approvals come from the delegated approvals role only: approvals planted as a top-level
//! target of the same name (what a holder of the targets key could sign) are not used.

use wua_trust::approvals::{Approval, ApprovalAction, GroupApprovals, approvals_target};
use wua_trust::repo::{self, InitOptions};

use crate::support::*;

/// A length-and-hashes entry for `bytes`, with only the fields `like` has.
fn meta_for(like: &serde_json::Value, version: Option<u64>, bytes: &[u8]) -> serde_json::Value {
    let mut meta = like.clone();
    if let Some(v) = version {
        meta["version"] = serde_json::json!(v);
    }
    if meta.get("length").is_some() {
        meta["length"] = serde_json::json!(bytes.len());
    }
    if meta.get("hashes").is_some() {
        meta["hashes"] = serde_json::json!({ "sha256": wua_fs::sha256_hex(bytes) });
    }
    meta
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn approvals_planted_in_the_top_level_targets_are_not_used() {
    let (f, source) = trusted(InitOptions::default()).await;
    repo::approve(&f.repo, &test_id(1), "web", ApprovalAction::Install, None).await.unwrap();
    let genuine = f.refresh_installed(&source).await.unwrap().approvals;
    assert_eq!(genuine["web"].len(), 1);

    // The holder of the targets, snapshot and timestamp keys lists its own approvals of group
    // "web" as a top-level target, with a newer targets, snapshot and timestamp.
    let name = approvals_target("web");
    let planted = GroupApprovals {
        group: "web".into(),
        approvals: vec![Approval { update_id: test_id(1), action: ApprovalAction::Uninstall, deadline: None }],
    };
    let bytes = serde_json::to_vec(&planted).unwrap();
    let public = f.repo.join("repository");
    std::fs::write(public.join(format!("targets/{}.{name}", wua_fs::sha256_hex(&bytes))), &bytes).unwrap();
    let metadata = public.join("metadata");
    let keys = f.repo.join("keys");
    let (targets_v, targets_path) = newest(&metadata, "targets");
    let new_targets = metadata.join(format!("{}.targets.json", targets_v + 1));
    std::fs::copy(&targets_path, &new_targets).unwrap();
    resign_file(&new_targets, &keys.join("targets.pk8"), |signed| {
        bump_version(signed);
        let entry = serde_json::json!({ "length": bytes.len(), "hashes": { "sha256": wua_fs::sha256_hex(&bytes) } });
        signed["targets"][&name] = entry;
    })
    .await;
    let targets_bytes = std::fs::read(&new_targets).unwrap();
    let (snapshot_v, snapshot_path) = newest(&metadata, "snapshot");
    let new_snapshot = metadata.join(format!("{}.snapshot.json", snapshot_v + 1));
    std::fs::copy(&snapshot_path, &new_snapshot).unwrap();
    resign_file(&new_snapshot, &keys.join("snapshot.pk8"), |signed| {
        bump_version(signed);
        let like = signed["meta"]["targets.json"].clone();
        signed["meta"]["targets.json"] = meta_for(&like, Some(targets_v + 1), &targets_bytes);
    })
    .await;
    let snapshot_bytes = std::fs::read(&new_snapshot).unwrap();
    resign_file(&metadata.join("timestamp.json"), &keys.join("timestamp.pk8"), |signed| {
        bump_version(signed);
        let like = signed["meta"]["snapshot.json"].clone();
        signed["meta"]["snapshot.json"] = meta_for(&like, Some(snapshot_v + 1), &snapshot_bytes);
    })
    .await;

    let r = f.refresh_installed(&source).await.unwrap();
    assert_eq!(r.approvals, genuine, "the approvals role's approvals, never the planted ones");
}
