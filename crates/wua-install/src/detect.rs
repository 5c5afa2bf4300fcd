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
    let Some(rule) = &doc.applicability.is_installed else { return Ok(None) };
    let installed: BTreeSet<String> = tx.all_installed()?.into_iter().map(|r| r.update_id).collect();
    match evaluate_rule(rule, &Machine::this_machine(root, installed)) {
        Ok(verdict) => Ok(Some(verdict)),
        Err(e) => {
            tracing::warn!(update_id = %doc.update_id, error = %e, "the is_installed rule cannot be evaluated; the agent's records decide");
            Ok(None)
        }
    }
}

/// `IsInstalled` (D-40): by the update's `is_installed` rule when it has one; otherwise the
/// update id is installed at this revision or a newer one (an older revision is not offered
/// over a newer one), or at an older revision with the same content.
pub fn installed_equivalent(tx: &Tx<'_>, root: &Path, doc: &UpdateDocument) -> Result<bool, StoreError> {
    if let Some(verdict) = installed_by_rule(tx, root, doc)? {
        return Ok(verdict);
    }
    let Some(installed) = tx.installed(&doc.update_id)? else { return Ok(false) };
    if installed.revision >= doc.revision_number {
        return Ok(true);
    }
    Ok(match tx.document(&doc.update_id, installed.revision)? {
        Some(old) => old.content == doc.content,
        None => false,
    })
}
