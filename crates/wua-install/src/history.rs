//! Building history entries (D-35), so every writer records the same fields.

use wua_store::now_rfc3339;
use wua_types::{Origin, UpdateDocument, UpdateHistoryEntry, UpdateInstallationResult, UpdateOperation};

/// The history entry for one update's outcome.
pub fn history_entry(
    doc: &UpdateDocument,
    operation: UpdateOperation,
    result: &UpdateInstallationResult,
    origin: &Origin<'_>,
    recovered: bool,
) -> UpdateHistoryEntry {
    UpdateHistoryEntry {
        operation,
        result_code: result.result_code,
        hresult: result.hresult,
        unmapped_result_code: 0,
        date: now_rfc3339(),
        update_identity: doc.identity(),
        title: doc.title.clone(),
        description: doc.description.clone(),
        client_application_id: origin.client_application_id.to_owned(),
        server_selection: origin.server_selection,
        service_id: origin.service_id.to_owned(),
        support_url: doc.support_url.clone(),
        uninstallation_notes: doc.uninstallation_notes.clone(),
        recovered,
        message: result.message.clone(),
        warnings: result.warnings.clone(),
        log_path: None,
        reboot_required: result.reboot_required,
    }
}
