//! Approvals: which group's computers are asked to install, uninstall or see an update,
//! written as `approvals-<group>.json` targets that the delegated `approvals` role signs.
//!
//! A change of approvals is signed without the targets key (`online::sign_approvals`): a new
//! `approvals` version, snapshot and timestamp, so whoever holds the approvals, snapshot and
//! timestamp keys (a wua server) can approve while the publisher keeps the targets key. A batch
//! of changes ([`approve_many`]) is validated whole, written, and signed once.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use super::catalog::working_catalog;
use super::lock::{RepoLock, open};
use super::managed::ensure_unmanaged;
use super::online::{check_approvals_signing, sign_approvals};
use super::sign::{Lifetimes, write_shared};
use crate::approvals::{Approval, ApprovalAction, GroupApprovals, approvals_target};
use crate::error::TrustError;
use crate::layout::Layout;

/// One change of a group's approvals, for [`approve_many`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ApprovalChange {
    /// Approves a published update for a group, replacing an earlier approval of it there.
    Approve {
        /// The update.
        update_id: String,
        /// The group ([`valid_group_name`]).
        group: String,
        /// What the group's computers do with it.
        action: ApprovalAction,
        /// An RFC 3339 deadline.
        deadline: Option<String>,
    },
    /// Withdraws an update's approval for a group (refused when it is not approved there).
    Unapprove {
        /// The update.
        update_id: String,
        /// The group.
        group: String,
    },
}

impl ApprovalChange {
    fn group(&self) -> &str {
        match self {
            ApprovalChange::Approve { group, .. } | ApprovalChange::Unapprove { group, .. } => group,
        }
    }
}

/// Whether `group` may name a group: 1 to 64 letters, digits, `.`, `-` and `_`, not starting
/// with `.` (it becomes part of a file and target name, `approvals-<group>.json`).
pub fn valid_group_name(group: &str) -> bool {
    wua_types::api::is_group_name(group)
}

fn check_group(dir: &Path, group: &str) -> Result<(), TrustError> {
    if valid_group_name(group) {
        Ok(())
    } else {
        Err(TrustError::invalid(dir, format!("group name {group:?}: use letters, digits, '.', '-', '_' (at most 64)")))
    }
}

/// Approves a published update for a group (replacing an earlier approval of it for that
/// group), signed by the `approvals` role. Refused in a repository a wua server manages
/// (`WUA_E_REPO_MANAGED`): its approvals change through the server.
pub async fn approve(
    dir: &Path,
    update_id: &str,
    group: &str,
    action: ApprovalAction,
    deadline: Option<&str>,
) -> Result<(), TrustError> {
    let lock = RepoLock::acquire(dir, RepoLock::DEFAULT_WAIT).await?;
    ensure_unmanaged(&lock, group)?;
    approve_locked(&lock, update_id, group, action, deadline).await
}

/// [`approve`] under a lock the caller holds, whether or not a server manages the repository
/// (the server's own path).
pub async fn approve_locked(
    lock: &RepoLock,
    update_id: &str,
    group: &str,
    action: ApprovalAction,
    deadline: Option<&str>,
) -> Result<(), TrustError> {
    let change = ApprovalChange::Approve {
        update_id: update_id.into(),
        group: group.into(),
        action,
        deadline: deadline.map(str::to_owned),
    };
    approve_many_locked(lock, std::slice::from_ref(&change)).await
}

/// Withdraws an update's approval for a group. Refused in a repository a wua server manages.
pub async fn unapprove(dir: &Path, update_id: &str, group: &str) -> Result<(), TrustError> {
    let lock = RepoLock::acquire(dir, RepoLock::DEFAULT_WAIT).await?;
    ensure_unmanaged(&lock, group)?;
    unapprove_locked(&lock, update_id, group).await
}

/// [`unapprove`] under a lock the caller holds, whether or not a server manages the repository.
pub async fn unapprove_locked(lock: &RepoLock, update_id: &str, group: &str) -> Result<(), TrustError> {
    let change = ApprovalChange::Unapprove { update_id: update_id.into(), group: group.into() };
    approve_many_locked(lock, std::slice::from_ref(&change)).await
}

/// Applies `changes` in order and signs once: every change is checked first (group names,
/// deadlines, updates published, withdrawals of approvals that exist at that point of the
/// batch), and one refused change refuses the batch with nothing written. Then each group
/// touched is written and the approvals, snapshot and timestamp are signed once (not the
/// targets). An empty batch changes nothing. Refused in a repository a wua server manages.
pub async fn approve_many(dir: &Path, changes: &[ApprovalChange]) -> Result<(), TrustError> {
    let lock = RepoLock::acquire(dir, RepoLock::DEFAULT_WAIT).await?;
    if let Some(change) = changes.first() {
        ensure_unmanaged(&lock, change.group())?;
    }
    approve_many_locked(&lock, changes).await
}

/// [`approve_many`] under a lock the caller holds, whether or not a server manages the
/// repository.
pub async fn approve_many_locked(lock: &RepoLock, changes: &[ApprovalChange]) -> Result<(), TrustError> {
    approve_many_locked_with(lock, changes, &Lifetimes::default()).await
}

/// [`approve_many_locked`], signing with `lifetimes` (a server's configured lifetimes).
pub async fn approve_many_locked_with(
    lock: &RepoLock,
    changes: &[ApprovalChange],
    lifetimes: &Lifetimes,
) -> Result<(), TrustError> {
    if changes.is_empty() {
        return Ok(());
    }
    let layout = lock.layout();
    let dir = &layout.dir;
    let refused = |i: usize, e: TrustError| match e {
        TrustError::Invalid { path, detail } if changes.len() > 1 => {
            TrustError::Invalid { path, detail: format!("change {} of {}: {detail}", i + 1, changes.len()) }
        }
        other => other,
    };
    let mut published: Option<std::collections::HashSet<String>> = None;
    let mut touched: BTreeMap<String, GroupApprovals> = BTreeMap::new();
    for (i, change) in changes.iter().enumerate() {
        let group = change.group();
        check_group(dir, group).map_err(|e| refused(i, e))?;
        if !touched.contains_key(group) {
            touched.insert(group.to_owned(), load_group(layout, group)?);
        }
        match change {
            ApprovalChange::Approve { update_id, action, deadline, .. } => {
                if let Some(d) = deadline {
                    d.parse::<jiff::Timestamp>().map_err(|e| {
                        refused(i, TrustError::invalid(dir, format!("deadline {d:?} is not RFC 3339: {e}")))
                    })?;
                }
                // Read once, and only when a batch approves something.
                if published.is_none() {
                    published = Some(working_catalog(layout)?.documents.into_iter().map(|d| d.update_id).collect());
                }
                if !published.as_ref().is_some_and(|ids| ids.contains(update_id)) {
                    return Err(refused(i, TrustError::invalid(dir, format!("update {update_id} is not published"))));
                }
                let Some(approvals) = touched.get_mut(group) else { continue };
                approvals.approvals.retain(|a| a.update_id != *update_id);
                approvals.approvals.push(Approval {
                    update_id: update_id.clone(),
                    action: *action,
                    deadline: deadline.clone(),
                });
            }
            ApprovalChange::Unapprove { update_id, .. } => {
                let Some(approvals) = touched.get_mut(group) else { continue };
                let before = approvals.approvals.len();
                approvals.approvals.retain(|a| a.update_id != *update_id);
                if approvals.approvals.len() == before {
                    return Err(refused(
                        i,
                        TrustError::invalid(dir, format!("update {update_id} is not approved for group {group}")),
                    ));
                }
            }
        }
    }
    // A batch that cannot be signed changes nothing, not even the working copy.
    check_approvals_signing(layout)?;
    for approvals in touched.values_mut() {
        approvals.approvals.sort_by(|a, b| a.update_id.cmp(&b.update_id));
        write_group(layout, approvals)?;
    }
    sign_approvals(lock, lifetimes).await
}

/// A group's approvals as the publisher's working copy holds them (`catalog/approvals-*.json`;
/// what was last signed, unless a change is being signed right now). A group without approvals
/// has an empty list.
pub fn read_approvals(dir: &Path, group: &str) -> Result<GroupApprovals, TrustError> {
    let layout = open(dir)?;
    check_group(dir, group)?;
    load_group(&layout, group)
}

/// Every group's approvals in the working copy, by group name.
pub fn groups(dir: &Path) -> Result<Vec<GroupApprovals>, TrustError> {
    let layout = open(dir)?;
    let mut out = Vec::new();
    for (name, path) in approvals_files(&layout)? {
        let Some(group) = name.strip_prefix("approvals-").and_then(|n| n.strip_suffix(".json")) else { continue };
        if valid_group_name(group) {
            out.push(parse_group(&path, &fs_err::read(&path).map_err(|e| TrustError::io(&path, e))?)?);
        }
    }
    Ok(out)
}

fn load_group(layout: &Layout, group: &str) -> Result<GroupApprovals, TrustError> {
    let path = layout.catalog().join(approvals_target(group));
    match std::fs::read(&path) {
        Ok(bytes) => parse_group(&path, &bytes),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            Ok(GroupApprovals { group: group.into(), approvals: vec![] })
        }
        Err(e) => Err(TrustError::io(&path, e)),
    }
}

fn parse_group(path: &Path, bytes: &[u8]) -> Result<GroupApprovals, TrustError> {
    serde_json::from_slice(bytes).map_err(|e| TrustError::invalid(path, e.to_string()))
}

fn write_group(layout: &Layout, approvals: &GroupApprovals) -> Result<(), TrustError> {
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
