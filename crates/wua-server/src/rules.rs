//! Automatic approval rules (WSUS's): each update revision published or revised after a rule
//! exists is approved for the rule's groups when its classification and severity match, with
//! a deadline the rule's offset after now. The timer applies them; a revision is seen once.

use std::collections::BTreeMap;
use std::sync::Arc;

use wua_types::UpdateDocument;
use wua_types::api::{ApprovalChanges, ApprovalRule};

use crate::ServerError;
use crate::app::App;
use crate::store::Storage;

/// Whether `rule` matches `doc`.
pub fn matches(rule: &ApprovalRule, doc: &UpdateDocument) -> bool {
    let classification = rule.classifications.is_empty()
        || doc.categories.iter().any(|c| {
            c.category_type == "UpdateClassification"
                && rule.classifications.iter().any(|r| r.eq_ignore_ascii_case(&c.name) || r.eq_ignore_ascii_case(&c.id))
        });
    let severity =
        rule.severities.is_empty() || rule.severities.iter().any(|s| s.eq_ignore_ascii_case(&doc.msrc_severity));
    classification && severity
}

/// Applies the rules to the revisions they have not seen; returns how many approvals it made.
pub async fn apply_new<S: Storage>(app: &Arc<App<S>>) -> Result<usize, ServerError> {
    let published = app.repository.published()?;
    let revisions: Vec<(String, i32)> =
        published.offered.iter().map(|d| (d.update_id.clone(), d.revision_number)).collect();
    let unseen = app.storage.unseen_revisions(revisions).await?;
    if unseen.is_empty() {
        return Ok(0);
    }
    let rules = app.storage.rules().await?;
    let mut by_group: BTreeMap<String, (ApprovalChanges, Vec<String>)> = BTreeMap::new();
    let now = jiff::Timestamp::now();
    for doc in published.offered.iter().filter(|d| unseen.contains(&(d.update_id.clone(), d.revision_number))) {
        for rule in rules.iter().filter(|r| matches(r, doc)) {
            let deadline = rule.deadline_offset_days.and_then(|days| {
                let t = now.checked_add(jiff::SignedDuration::from_hours(24 * i64::from(days))).ok()?;
                jiff::Timestamp::from_second(t.as_second()).ok().map(|t| t.to_string())
            });
            for group in &rule.groups {
                let (changes, names) = by_group.entry(group.clone()).or_default();
                changes.approve.retain(|a| a.update_id != doc.update_id);
                changes.approve.push(wua_types::api::Approval {
                    update_id: doc.update_id.clone(),
                    action: rule.action,
                    deadline: deadline.clone(),
                });
                names.push(format!("rule {} ({})", rule.name, rule.id));
            }
        }
    }
    let mut made = 0;
    for (group, (changes, mut names)) in by_group {
        if app.storage.group_summary(&group).await?.is_none() {
            tracing::warn!(%group, "an approval rule names a group that no longer exists");
            continue;
        }
        let approvals = crate::approvals::apply(&app.repository, &app.config.signing, &group, &changes).await?;
        app.storage.set_approvals(&group, approvals).await?;
        let detail = serde_json::to_string(&changes).unwrap_or_default();
        names.sort();
        names.dedup();
        app.storage.audit(&names.join(", "), "change_approvals", &group, &detail).await?;
        made += changes.approve.len();
    }
    app.storage.mark_seen(unseen).await?;
    Ok(made)
}
