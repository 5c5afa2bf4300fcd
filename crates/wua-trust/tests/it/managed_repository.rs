//! A repository a wua server manages (`managed.json`): its approvals change only through the
//! server, so the public approval writers refuse it with `WUA_E_REPO_MANAGED`, naming the API
//! route; the locked forms (the server's) and publishing keep working.

use wua_trust::TrustError;
use wua_trust::approvals::ApprovalAction;
use wua_trust::repo::{self, ApprovalChange, InitOptions, Managed, RepoLock};
use wua_types::HResult;

use crate::support::*;

fn assert_managed(e: TrustError, route: &str) {
    assert!(matches!(e, TrustError::Managed { .. }), "{e:?}");
    assert_eq!(e.hresult(), HResult::WUA_E_REPO_MANAGED);
    assert_eq!(e.hresult().hex(), "0xA0244011");
    assert!(e.to_string().contains(route), "the error names {route}: {e}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_managed_repository_refuses_approvals_from_outside_the_server() {
    let (f, source) = trusted(InitOptions::default()).await;
    assert!(!repo::is_managed(&f.repo).unwrap());
    repo::set_managed(&f.repo, &Managed::new(repo::DEFAULT_API_BASE)).await.unwrap();
    assert!(repo::is_managed(&f.repo).unwrap());
    assert_eq!(repo::managed(&f.repo).unwrap(), Some(Managed::new("/api/v1")));
    let marker = std::fs::metadata(f.repo.join("managed.json")).unwrap();
    assert_eq!(std::os::unix::fs::PermissionsExt::mode(&marker.permissions()) & 0o777, 0o644);

    let id = test_id(1);
    let route = "POST /api/v1/groups/web/approvals";
    assert_managed(repo::approve(&f.repo, &id, "web", ApprovalAction::Install, None).await.unwrap_err(), route);
    assert_managed(repo::unapprove(&f.repo, &id, "web").await.unwrap_err(), route);
    let change = ApprovalChange::Approve {
        update_id: id.clone(),
        group: "web".into(),
        action: ApprovalAction::Install,
        deadline: None,
    };
    assert_managed(repo::approve_many(&f.repo, &[change]).await.unwrap_err(), route);
    assert!(f.refresh(&source).await.unwrap().approvals.is_empty());

    // The server's own path: the locked forms.
    let lock = RepoLock::acquire(&f.repo, RepoLock::DEFAULT_WAIT).await.unwrap();
    repo::approve_locked(&lock, &id, "web", ApprovalAction::Optional, None).await.unwrap();
    drop(lock);
    assert_eq!(f.refresh(&source).await.unwrap().approvals["web"].len(), 1);

    // Publishing is the publisher's and keeps working.
    f.publish(2, 1, "two").await;
    assert_eq!(f.refresh(&source).await.unwrap().catalog().documents.len(), 2);

    // A server that says where it is is named too; a server giving up the repository.
    let lock = RepoLock::acquire(&f.repo, RepoLock::DEFAULT_WAIT).await.unwrap();
    let m = Managed { api_base: "/api/v1/".into(), server: Some("https://wua.example:8443".into()) };
    repo::set_managed_locked(&lock, &m).unwrap();
    drop(lock);
    let e = repo::unapprove(&f.repo, &id, "web").await.unwrap_err();
    assert_managed(e, "POST /api/v1/groups/web/approvals on https://wua.example:8443");
    let lock = RepoLock::acquire(&f.repo, RepoLock::DEFAULT_WAIT).await.unwrap();
    repo::clear_managed_locked(&lock).unwrap();
    drop(lock);
    repo::unapprove(&f.repo, &id, "web").await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_torn_marker_is_refused_by_name() {
    let (f, _source) = trusted(InitOptions::default()).await;
    std::fs::write(f.repo.join("managed.json"), b"{\"api_b").unwrap();
    let e = repo::approve(&f.repo, &test_id(1), "web", ApprovalAction::Install, None).await.unwrap_err();
    assert_eq!(e.hresult(), HResult::WUA_E_REPO_INVALID, "{e}");
    assert!(e.to_string().contains("managed.json"), "{e}");
}
