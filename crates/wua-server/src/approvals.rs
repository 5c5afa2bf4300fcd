//! Approvals through the API: a group's changes are signed into the repository at once by
//! the `approvals` role (never the targets key), under the repository's writer lock, and the
//! group's signed approvals are read back for the database's mirror.

use wua_trust::approvals::Approval as SignedApproval;
use wua_trust::repo::{ApprovalChange, RepoLock};
use wua_types::api::{Approval, ApprovalChanges};

use crate::ServerError;
use crate::config::SigningConfig;
use crate::repository::Repository;

/// Applies `changes` to `group`'s approvals, signs once (with the server's lifetimes), and returns the group's approvals as
/// signed.
pub async fn apply(
    repository: &Repository,
    signing: &SigningConfig,
    group: &str,
    changes: &ApprovalChanges,
) -> Result<Vec<Approval>, ServerError> {
    let mut batch: Vec<ApprovalChange> = changes
        .approve
        .iter()
        .map(|a| ApprovalChange::Approve {
            update_id: a.update_id.clone(),
            group: group.to_owned(),
            action: a.action,
            deadline: a.deadline.clone(),
        })
        .collect();
    batch.extend(
        changes.unapprove.iter().map(|id| ApprovalChange::Unapprove { update_id: id.clone(), group: group.to_owned() }),
    );
    let lock = RepoLock::acquire(repository.dir(), RepoLock::DEFAULT_WAIT).await?;
    wua_trust::repo::approve_many_locked_with(&lock, &batch, &crate::resign::lifetimes(signing)).await?;
    drop(lock);
    read(repository, group)
}

/// A group's approvals as the publisher's working catalog holds them.
pub fn read(repository: &Repository, group: &str) -> Result<Vec<Approval>, ServerError> {
    let signed = wua_trust::repo::read_approvals(repository.dir(), group)?;
    Ok(signed
        .approvals
        .into_iter()
        .map(|SignedApproval { update_id, action, deadline }| Approval { update_id, action, deadline })
        .collect())
}
