//! Whether an update is installed, by its `is_installed` rule when it has one (D-38, D-40).
//!
//! Without a rule, "installed" is what the agent's own records say. A rule that cannot be
//! evaluated (malformed, or of a kind this agent does not know, D-42) is logged and treated as
//! absent, so the records decide.

use std::collections::BTreeSet;
use std::path::Path;

use wua_catalog::{Machine, evaluate_rule};
use wua_store::{StoreError, Tx};
use wua_types::UpdateDocument;

/// The verdict of `doc`'s `is_installed` rule on the machine with target `root`, or `None`
/// when it has no rule (or one that cannot be evaluated).
pub fn installed_by_rule(tx: &Tx<'_>, root: &Path, doc: &UpdateDocument) -> Result<Option<bool>, StoreError> {
    if doc.applicability.is_installed.is_none() {
        return Ok(None);
    }
    let installed: BTreeSet<String> = tx.all_installed()?.into_iter().map(|r| r.update_id).collect();
    Ok(installed_by_rule_on(&Machine::this_machine(root, installed), doc))
}

/// [`installed_by_rule`] on a view of the machine the caller holds (a search evaluates every
/// update on one view).
fn installed_by_rule_on(machine: &Machine, doc: &UpdateDocument) -> Option<bool> {
    let rule = doc.applicability.is_installed.as_ref()?;
    match evaluate_rule(rule, machine) {
        Ok(verdict) => Some(verdict),
        Err(e) => {
            tracing::warn!(update_id = %doc.update_id, error = %e, "the is_installed rule cannot be evaluated; the agent's records decide");
            None
        }
    }
}

/// `IsInstalled` (D-40): by the update's `is_installed` rule when it has one; otherwise the
/// update id is installed at this revision or a newer one (an older revision is not offered
/// over a newer one), or at an older revision with the same content.
pub fn installed_equivalent(tx: &Tx<'_>, root: &Path, doc: &UpdateDocument) -> Result<bool, StoreError> {
    match installed_by_rule(tx, root, doc)? {
        Some(verdict) => Ok(verdict),
        None => installed_by_records(tx, doc),
    }
}

/// [`installed_equivalent`] on a view of the machine the caller holds (a search).
pub fn installed_equivalent_on(tx: &Tx<'_>, machine: &Machine, doc: &UpdateDocument) -> Result<bool, StoreError> {
    match installed_by_rule_on(machine, doc) {
        Some(verdict) => Ok(verdict),
        None => installed_by_records(tx, doc),
    }
}

/// D-40 by the agent's records: this revision or a newer one, or an older one with the same
/// content.
fn installed_by_records(tx: &Tx<'_>, doc: &UpdateDocument) -> Result<bool, StoreError> {
    let Some(installed) = tx.installed(&doc.update_id)? else { return Ok(false) };
    if installed.revision >= doc.revision_number {
        return Ok(true);
    }
    Ok(match tx.document(&doc.update_id, installed.revision)? {
        Some(old) => old.content == doc.content,
        None => false,
    })
}
