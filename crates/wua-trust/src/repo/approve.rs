//! Approvals: which group's computers are asked to install, uninstall or see an update,
//! written as `approvals-<group>.json` targets that the delegated `approvals` role signs.

use std::path::{Path, PathBuf};

use super::catalog::working_catalog;
use super::lock::RepoLock;
use super::sign::{Lifetimes, resign_locked, write_shared};
use crate::approvals::{Approval, ApprovalAction, GroupApprovals, approvals_target};
use crate::error::TrustError;
use crate::layout::Layout;

fn check_group(dir: &Path, group: &str) -> Result<(), TrustError> {
    let ok = !group.is_empty()
        && group.len() <= 64
        && group.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_' || b == b'.')
        && !group.starts_with('.');
    if ok {
        Ok(())
    } else {
        Err(TrustError::invalid(dir, format!("group name {group:?}: use letters, digits, '.', '-', '_' (at most 64)")))
    }
}

/// Approves a published update for a group (replacing an earlier approval of it for that
/// group), signed by the `approvals` role.
pub async fn approve(
    dir: &Path,
    update_id: &str,
    group: &str,
    action: ApprovalAction,
    deadline: Option<&str>,
) -> Result<(), TrustError> {
    approve_locked(&RepoLock::acquire(dir, RepoLock::DEFAULT_WAIT).await?, update_id, group, action, deadline).await
}

/// [`approve`] under a lock the caller holds.
pub async fn approve_locked(
    lock: &RepoLock,
    update_id: &str,
    group: &str,
    action: ApprovalAction,
    deadline: Option<&str>,
) -> Result<(), TrustError> {
    let layout = lock.layout();
    let dir = &layout.dir;
    check_group(dir, group)?;
    if let Some(d) = deadline {
        d.parse::<jiff::Timestamp>()
            .map_err(|e| TrustError::invalid(dir, format!("deadline {d:?} is not RFC 3339: {e}")))?;
    }
    if !working_catalog(layout)?.documents.iter().any(|d| d.update_id == update_id) {
        return Err(TrustError::invalid(dir, format!("update {update_id} is not published")));
    }
    let mut approvals = read_approvals(layout, group)?;
    approvals.approvals.retain(|a| a.update_id != update_id);
    approvals.approvals.push(Approval { update_id: update_id.into(), action, deadline: deadline.map(str::to_owned) });
    approvals.approvals.sort_by(|a, b| a.update_id.cmp(&b.update_id));
    write_approvals(layout, &approvals)?;
    resign_locked(lock, &Lifetimes::default()).await
}

/// Withdraws an update's approval for a group.
pub async fn unapprove(dir: &Path, update_id: &str, group: &str) -> Result<(), TrustError> {
    unapprove_locked(&RepoLock::acquire(dir, RepoLock::DEFAULT_WAIT).await?, update_id, group).await
}

/// [`unapprove`] under a lock the caller holds.
pub async fn unapprove_locked(lock: &RepoLock, update_id: &str, group: &str) -> Result<(), TrustError> {
    let layout = lock.layout();
    check_group(&layout.dir, group)?;
    let mut approvals = read_approvals(layout, group)?;
    let before = approvals.approvals.len();
    approvals.approvals.retain(|a| a.update_id != update_id);
    if approvals.approvals.len() == before {
        return Err(TrustError::invalid(&layout.dir, format!("update {update_id} is not approved for group {group}")));
    }
    write_approvals(layout, &approvals)?;
    resign_locked(lock, &Lifetimes::default()).await
}

fn read_approvals(layout: &Layout, group: &str) -> Result<GroupApprovals, TrustError> {
    let path = layout.catalog().join(approvals_target(group));
    match std::fs::read(&path) {
        Ok(bytes) => serde_json::from_slice(&bytes).map_err(|e| TrustError::invalid(&path, e.to_string())),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            Ok(GroupApprovals { group: group.into(), approvals: vec![] })
        }
        Err(e) => Err(TrustError::io(&path, e)),
    }
}

fn write_approvals(layout: &Layout, approvals: &GroupApprovals) -> Result<(), TrustError> {
    let path = layout.catalog().join(approvals_target(&approvals.group));
    let bytes = serde_json::to_vec_pretty(approvals).map_err(|e| TrustError::invalid(&path, e.to_string()))?;
    write_shared(&path, &bytes)
}

/// The working approvals files.
pub(super) fn approvals_files(layout: &Layout) -> Result<Vec<(String, PathBuf)>, TrustError> {
    let dir = layout.catalog();
    let mut files = Vec::new();
    for entry in std::fs::read_dir(&dir).map_err(|e| TrustError::io(&dir, e))? {
        let entry = entry.map_err(|e| TrustError::io(&dir, e))?;
        if let Some(name) = entry.file_name().to_str().filter(|n| n.starts_with("approvals-") && n.ends_with(".json")) {
            files.push((name.to_owned(), entry.path()));
        }
    }
    files.sort();
    Ok(files)
}
