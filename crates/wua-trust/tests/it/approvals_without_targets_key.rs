//! Approvals are signed without the targets key (what a wua server does, holding only the
//! approvals, snapshot and timestamp keys): a new approvals, snapshot and timestamp version, the
//! served targets untouched, verified by wua's agent and python-tuf. A batch of changes is
//! checked whole and signed once.

use wua_trust::TrustError;
use wua_trust::approvals::{Approval, ApprovalAction, GroupApprovals};
use wua_trust::repo::{self, ApprovalChange, InitOptions};
use wua_types::HResult;

use crate::support::*;

fn approve(update_id: String, group: &str, action: ApprovalAction) -> ApprovalChange {
    ApprovalChange::Approve { update_id, group: group.into(), action, deadline: None }
}

/// The repository's files, but the writers' lock (it holds the last writer's pid).
fn files(f: &Fixture) -> std::collections::BTreeMap<std::path::PathBuf, Vec<u8>> {
    let mut t = tree(&f.repo);
    t.remove(std::path::Path::new("repo.lock"));
    t
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn approvals_are_signed_with_the_targets_key_moved_away() {
    let (f, source) = trusted(InitOptions::default()).await;
    let before = served_versions(&f.repo);
    let targets_file = newest(&f.repo.join("repository/metadata"), "targets").1;
    let targets_bytes = std::fs::read(&targets_file).unwrap();
    let away = f.work.join("targets.pk8");
    std::fs::rename(f.repo.join("keys/targets.pk8"), &away).unwrap();

    let deadline = "2030-01-01T00:00:00Z";
    repo::approve(&f.repo, &test_id(1), "web", ApprovalAction::Install, Some(deadline)).await.unwrap();
    let after = served_versions(&f.repo);
    assert_eq!(after.targets, before.targets, "the targets role is not re-signed");
    assert_eq!(std::fs::read(&targets_file).unwrap(), targets_bytes);
    assert_eq!(newest(&f.repo.join("repository/metadata"), "targets").0, before.targets, "no new targets file");
    assert_eq!(after.approvals, before.approvals + 1);
    assert_eq!(after.snapshot, before.snapshot + 1);
    assert_eq!(after.timestamp, before.timestamp + 1);
    assert!(!f.repo.join("keys/targets.pk8").exists());

    // The agent that trusted the previous state, and a fresh one from the install-time root.
    let approved =
        vec![Approval { update_id: test_id(1), action: ApprovalAction::Install, deadline: Some(deadline.into()) }];
    let r = f.refresh(&source).await.unwrap();
    assert_eq!(r.approvals["web"], approved);
    let fresh = tempfile::tempdir().unwrap();
    let r = wua_trust::verify::refresh(&f.installed_root(), fresh.path(), &source).await.unwrap();
    assert_eq!(r.approvals["web"], approved);
    assert_eq!(r.catalog().documents.len(), 1);
    if let Some(python) = tuf_python() {
        let targets = ["approvals-web.json", "pack-000001.jsonl"];
        let td = python_tuf_accepts(&python, &f.work, &source, &f.installed_root_path(), &targets).await;
        let got: GroupApprovals =
            serde_json::from_slice(&std::fs::read(td.join("approvals-web.json")).unwrap()).unwrap();
        assert_eq!(got.approvals, approved);
    }

    repo::unapprove(&f.repo, &test_id(1), "web").await.unwrap();
    assert_eq!(served_versions(&f.repo).targets, before.targets);
    assert!(f.refresh(&source).await.unwrap().approvals.get("web").is_none_or(Vec::is_empty));

    // With the targets key back, a full re-sign carries the approvals on.
    std::fs::rename(&away, f.repo.join("keys/targets.pk8")).unwrap();
    repo::approve(&f.repo, &test_id(1), "db", ApprovalAction::Optional, None).await.unwrap();
    repo::resign(&f.repo, &repo::Lifetimes::default()).await.unwrap();
    let r = f.refresh(&source).await.unwrap();
    assert_eq!(r.approvals["db"].len(), 1);
    assert!(served_versions(&f.repo).targets > before.targets);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_batch_of_100_approvals_over_3_groups_is_signed_once() {
    let (f, source) = trusted(InitOptions::default()).await;
    for n in 2..=34 {
        f.publish(n, 1, &format!("update {n}\n")).await;
    }
    let before = served_versions(&f.repo);
    std::fs::rename(f.repo.join("keys/targets.pk8"), f.work.join("targets.pk8")).unwrap();
    let groups = ["web", "db", "edge"];
    let changes: Vec<ApprovalChange> =
        (0..100).map(|i| approve(test_id(i / 3 + 1), groups[i as usize % 3], ApprovalAction::Install)).collect();
    repo::approve_many(&f.repo, &changes).await.unwrap();

    let after = served_versions(&f.repo);
    assert_eq!(
        (after.approvals, after.snapshot, after.timestamp, after.targets),
        (before.approvals + 1, before.snapshot + 1, before.timestamp + 1, before.targets),
        "one new approvals, snapshot and timestamp version; the targets untouched"
    );
    let r = f.refresh(&source).await.unwrap();
    let counts: Vec<(String, usize)> = r.approvals.iter().map(|(g, a)| (g.clone(), a.len())).collect();
    assert_eq!(counts, vec![("db".into(), 33), ("edge".into(), 33), ("web".into(), 34)]);

    // The working copy, as a server reads it.
    let web = repo::read_approvals(&f.repo, "web").unwrap();
    assert_eq!(web.approvals, r.approvals["web"]);
    let all = repo::groups(&f.repo).unwrap();
    assert_eq!(all.iter().map(|g| g.group.as_str()).collect::<Vec<_>>(), ["db", "edge", "web"]);
    assert_eq!(repo::read_approvals(&f.repo, "nobody").unwrap().approvals, vec![]);

    // Approve and withdraw in one batch: one signing again, and the withdrawal holds.
    let changes = vec![
        approve(test_id(5), "lab", ApprovalAction::Optional),
        ApprovalChange::Unapprove { update_id: test_id(1), group: "web".into() },
        ApprovalChange::Unapprove { update_id: test_id(5), group: "lab".into() },
    ];
    repo::approve_many(&f.repo, &changes).await.unwrap();
    assert_eq!(served_versions(&f.repo).approvals, after.approvals + 1);
    let r = f.refresh(&source).await.unwrap();
    assert_eq!(r.approvals["web"].len(), 33);
    assert!(r.approvals.get("lab").is_none_or(Vec::is_empty));

    // An empty batch changes nothing.
    let files_before = files(&f);
    repo::approve_many(&f.repo, &[]).await.unwrap();
    assert_eq!(files(&f), files_before);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_batch_with_one_bad_change_is_refused_whole() {
    let (f, _source) = trusted(InitOptions::default()).await;
    f.publish(2, 1, "two").await;
    repo::approve(&f.repo, &test_id(1), "web", ApprovalAction::Install, None).await.unwrap();
    let good = approve(test_id(2), "web", ApprovalAction::Install);
    let bad: Vec<(ApprovalChange, &str)> = vec![
        (approve(test_id(1), "../etc", ApprovalAction::Install), "group name"),
        (approve(test_id(1), "", ApprovalAction::Install), "group name"),
        (
            ApprovalChange::Approve {
                update_id: test_id(1),
                group: "web".into(),
                action: ApprovalAction::Install,
                deadline: Some("next tuesday".into()),
            },
            "RFC 3339",
        ),
        (approve(test_id(99), "web", ApprovalAction::Install), "is not published"),
        (ApprovalChange::Unapprove { update_id: test_id(2), group: "db".into() }, "is not approved"),
    ];
    for (change, says) in bad {
        let before = files(&f);
        let e = repo::approve_many(&f.repo, &[good.clone(), change.clone()]).await.unwrap_err();
        assert_eq!(e.hresult(), HResult::WUA_E_REPO_INVALID, "{e}");
        let text = e.to_string();
        assert!(text.contains(says) && text.contains("change 2 of 2"), "{change:?}: {text}");
        assert_eq!(files(&f), before, "{change:?}: nothing written");
    }
    // Withdrawing twice in one batch: the second finds nothing to withdraw.
    let twice = ApprovalChange::Unapprove { update_id: test_id(1), group: "web".into() };
    let e = repo::approve_many(&f.repo, &[twice.clone(), twice]).await.unwrap_err();
    assert!(e.to_string().contains("is not approved for group web"), "{e}");
    assert!(repo::valid_group_name("web-1.eu_west"));
    for name in ["", ".hidden", "a/b", "a b", &"x".repeat(65)] {
        assert!(!repo::valid_group_name(name), "{name:?}");
    }
}

/// After the approvals key was replaced without the targets being re-signed, approvals cannot
/// be signed alone: refused by name before anything changes.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_approvals_key_the_targets_do_not_delegate_to_is_refused() {
    let (f, _source) = trusted(InitOptions::default()).await;
    let key = f.repo.join("keys/approvals.pk8");
    std::fs::remove_file(&key).unwrap();
    wua_trust::keys::generate(&key).unwrap();
    let before = files(&f);
    let e = repo::approve(&f.repo, &test_id(1), "web", ApprovalAction::Install, None).await.unwrap_err();
    assert!(matches!(&e, TrustError::Key { path, .. } if *path == key), "{e:?}");
    assert_eq!(e.hresult(), HResult::WUA_E_TRUST_KEY);
    assert!(e.to_string().contains("re-sign the targets role first"), "{e}");
    assert_eq!(files(&f), before, "nothing served, saved or working changed");
}
