//! Approvals through the API: the changes are signed into the repository by the `approvals`
//! role (never the targets key), under the repository's writer lock, and the group's signed
//! approvals are read back for the database's mirror.

use wua_trust::approvals::{Approval as SignedApproval, GroupApprovals, approvals_target};
use wua_trust::repo::RepoLock;
use wua_types::api::{Approval, ApprovalChanges};

use crate::ServerError;
use crate::repository::Repository;

/// Applies `changes` to `group`'s approvals and signs once; returns the group's approvals as
/// signed.
pub async fn apply(
    repository: &Repository,
    group: &str,
    changes: &ApprovalChanges,
) -> Result<Vec<Approval>, ServerError> {
    let lock = RepoLock::acquire(repository.dir(), RepoLock::DEFAULT_WAIT).await?;
    for a in &changes.approve {
        wua_trust::repo::approve_locked(&lock, &a.update_id, group, a.action, a.deadline.as_deref()).await?;
    }
    for id in &changes.unapprove {
        wua_trust::repo::unapprove_locked(&lock, id, group).await?;
    }
    drop(lock);
    read(repository, group)
}

/// A group's approvals as the publisher's working catalog holds them.
pub fn read(repository: &Repository, group: &str) -> Result<Vec<Approval>, ServerError> {
    let path = repository.dir().join("catalog").join(approvals_target(group));
    let signed: GroupApprovals = match std::fs::read(&path) {
        Ok(bytes) => {
            serde_json::from_slice(&bytes).map_err(|e| ServerError::Config(format!("{}: {e}", path.display())))?
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => GroupApprovals::default(),
        Err(e) => return Err(ServerError::io(&path, e)),
    };
    Ok(signed
        .approvals
        .into_iter()
        .map(|SignedApproval { update_id, action, deadline }| Approval { update_id, action, deadline })
        .collect())
}
