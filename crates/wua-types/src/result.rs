//! Results, progress and history entries of install and uninstall operations, and search results.

use serde::{Deserialize, Serialize};

use crate::document::UpdateIdentity;
use crate::enums::{OperationResultCode, ServerSelection, UpdateExceptionContext, UpdateOperation};
use crate::hresult::{HResult, WuError};
use crate::update::invalid_index;

/// `IUpdateInstallationResult`: the outcome of one update, plus wua's context text.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct UpdateInstallationResult {
    /// `ResultCode`.
    pub result_code: OperationResultCode,
    /// `HResult`.
    pub hresult: HResult,
    /// `RebootRequired`.
    pub reboot_required: bool,
    /// What happened, for people (why it failed, which path, which owner). Empty on success.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub message: String,
    /// Non-fatal notes, e.g. a file left in place on uninstall because it was changed (D-39).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub warnings: Vec<String>,
}

impl UpdateInstallationResult {
    /// A result with no message or warnings.
    pub fn new(result_code: OperationResultCode, hresult: HResult) -> Self {
        UpdateInstallationResult {
            result_code,
            hresult,
            reboot_required: false,
            message: String::new(),
            warnings: vec![],
        }
    }

    /// `Failed` with `hresult` and a message.
    pub fn failed(hresult: HResult, message: impl Into<String>) -> Self {
        UpdateInstallationResult { message: message.into(), ..Self::new(OperationResultCode::Failed, hresult) }
    }

    /// `Aborted` with `WU_E_CALL_CANCELLED`: stopped or never started because an abort was
    /// requested (D-23).
    pub fn aborted(message: impl Into<String>) -> Self {
        UpdateInstallationResult {
            message: message.into(),
            ..Self::new(OperationResultCode::Aborted, HResult::WU_E_CALL_CANCELLED)
        }
    }

    /// `NotStarted`, the state of an update the operation has not reached.
    pub fn not_started() -> Self {
        Self::new(OperationResultCode::NotStarted, HResult::S_OK)
    }
}

/// `IInstallationResult`: the overall outcome and one result per update, indexed as the
/// collection was when the operation began (D-4).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct InstallationResult {
    /// `ResultCode` (D-3).
    pub result_code: OperationResultCode,
    /// `HResult` (D-3).
    pub hresult: HResult,
    /// `RebootRequired`: OR of the per-update flags (D-3).
    pub reboot_required: bool,
    /// One entry per update.
    pub update_results: Vec<UpdateInstallationResult>,
}

impl InstallationResult {
    /// Folds per-update results into the overall result as D-3 says. `aborted` is true when an
    /// abort was requested and honoured.
    pub fn aggregate(update_results: Vec<UpdateInstallationResult>, aborted: bool) -> Self {
        let reboot_required = update_results.iter().any(|r| r.reboot_required);
        let succeeded = update_results.iter().filter(|r| r.result_code == OperationResultCode::Succeeded).count();
        let (result_code, hresult) = if aborted {
            (OperationResultCode::Aborted, HResult::WU_E_CALL_CANCELLED)
        } else if succeeded == update_results.len() {
            (OperationResultCode::Succeeded, HResult::S_OK)
        } else if succeeded > 0 {
            (OperationResultCode::SucceededWithErrors, HResult::S_OK)
        } else if let [only] = update_results.as_slice() {
            (OperationResultCode::Failed, only.hresult)
        } else {
            (OperationResultCode::Failed, HResult::WU_E_ALL_UPDATES_FAILED)
        };
        InstallationResult { result_code, hresult, reboot_required, update_results }
    }

    /// `GetUpdateResult(index)`; out of range -> `WU_E_INVALIDINDEX` (D-4).
    pub fn get_update_result(&self, index: i32) -> Result<&UpdateInstallationResult, WuError> {
        result_at(&self.update_results, index)
    }
}

/// The result at a WUA index (D-4).
fn result_at(results: &[UpdateInstallationResult], index: i32) -> Result<&UpdateInstallationResult, WuError> {
    usize::try_from(index).ok().and_then(|i| results.get(i)).ok_or_else(|| invalid_index(index, results.len()))
}

/// `IInstallationProgress`: a snapshot.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct InstallationProgress {
    /// `CurrentUpdateIndex`.
    pub current_update_index: i32,
    /// `CurrentUpdatePercentComplete`.
    pub current_update_percent_complete: i32,
    /// `PercentComplete`.
    pub percent_complete: i32,
    /// Results so far, one per update.
    pub update_results: Vec<UpdateInstallationResult>,
}

impl InstallationProgress {
    /// `GetUpdateResult(index)`; out of range -> `WU_E_INVALIDINDEX` (D-4).
    pub fn get_update_result(&self, index: i32) -> Result<&UpdateInstallationResult, WuError> {
        result_at(&self.update_results, index)
    }
}

/// Who asked for an operation and where its update came from: what history records of it
/// (D-34, D-35), carried through the journal so a recovered entry says the same.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Origin<'a> {
    /// The caller's `ClientApplicationID`.
    pub client_application_id: &'a str,
    /// The `ServerSelection` the update was found with (`Others` for a standalone package).
    pub server_selection: ServerSelection,
    /// The id of the service the update came from (empty for a standalone package).
    pub service_id: &'a str,
}

/// `IUpdateHistoryEntry`, with wua's additions (`recovered`, `warnings`, `log_path`,
/// `reboot_required`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct UpdateHistoryEntry {
    /// `Operation`.
    pub operation: UpdateOperation,
    /// `ResultCode`.
    pub result_code: OperationResultCode,
    /// `HResult` (mapped).
    pub hresult: HResult,
    /// `UnmappedResultCode`: the handler's raw code (a command's exit code), 0 otherwise.
    pub unmapped_result_code: i32,
    /// `Date`, RFC 3339 UTC.
    pub date: String,
    /// `UpdateIdentity`.
    pub update_identity: UpdateIdentity,
    /// `Title`.
    pub title: String,
    /// `Description`.
    pub description: String,
    /// `ClientApplicationID` of the caller (D-34).
    pub client_application_id: String,
    /// `ServerSelection`.
    pub server_selection: ServerSelection,
    /// `ServiceID` (empty for standalone packages).
    pub service_id: String,
    /// `SupportUrl`.
    pub support_url: String,
    /// `UninstallationNotes`.
    pub uninstallation_notes: String,
    /// True for the entry recovery wrote for an interrupted operation (D-17).
    pub recovered: bool,
    /// What happened, for people.
    pub message: String,
    /// Non-fatal notes (D-39).
    pub warnings: Vec<String>,
    /// A log file in the state directory (command output), if any.
    pub log_path: Option<String>,
    /// The update asked for a reboot to complete (its result's `RebootRequired`); what a
    /// managed server is told with the outcome. False in entries written before it was kept.
    #[serde(default)]
    pub reboot_required: bool,
}

/// `IUpdateDownloadResult`: the outcome of one update's download, plus wua's context text.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct UpdateDownloadResult {
    /// `ResultCode`.
    pub result_code: OperationResultCode,
    /// `HResult`.
    pub hresult: HResult,
    /// What happened, for people. Empty on success.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub message: String,
}

/// `IDownloadResult`: the overall outcome (D-3, as for installs) and one result per update.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct DownloadResult {
    /// `ResultCode` (D-3).
    pub result_code: OperationResultCode,
    /// `HResult` (D-3).
    pub hresult: HResult,
    /// One entry per update.
    pub update_results: Vec<UpdateDownloadResult>,
}

impl DownloadResult {
    /// Folds per-update results into the overall result as D-3 says (the same rule as
    /// [`InstallationResult::aggregate`]).
    pub fn aggregate(update_results: Vec<UpdateDownloadResult>, aborted: bool) -> Self {
        let as_install =
            update_results.iter().map(|r| UpdateInstallationResult::new(r.result_code, r.hresult)).collect();
        let overall = InstallationResult::aggregate(as_install, aborted);
        DownloadResult { result_code: overall.result_code, hresult: overall.hresult, update_results }
    }

    /// `GetUpdateResult(index)`; out of range -> `WU_E_INVALIDINDEX` (D-4).
    pub fn get_update_result(&self, index: i32) -> Result<&UpdateDownloadResult, WuError> {
        let len = self.update_results.len();
        usize::try_from(index).ok().and_then(|i| self.update_results.get(i)).ok_or_else(|| invalid_index(index, len))
    }
}

/// `IUpdateException`: a non-fatal problem of a search (D-42).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct UpdateException {
    /// `Message`.
    pub message: String,
    /// `HResult`.
    pub hresult: HResult,
    /// `Context`.
    pub context: UpdateExceptionContext,
}

/// `ISearchResult`.
#[derive(Clone, Debug)]
pub struct SearchResult {
    /// `ResultCode`: `SucceededWithErrors` when a document was skipped (D-42).
    pub result_code: OperationResultCode,
    /// `Updates` (read-only).
    pub updates: crate::update::UpdateCollection,
    /// `RootCategories`: the distinct categories of the returned updates.
    pub root_categories: Vec<crate::document::Category>,
    /// `Warnings`.
    pub warnings: Vec<UpdateException>,
}

/// `IAutomaticUpdatesResults`: when this machine last searched and last installed
/// successfully, as RFC 3339 UTC dates (`None`: never, or not since the agent began recording
/// them).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct AutomaticUpdatesResults {
    /// `LastSearchSuccessDate`: the end of the last search that returned a result (online or
    /// offline, `Succeeded` or `SucceededWithErrors`).
    pub last_search_success_date: Option<String>,
    /// `LastInstallationSuccessDate`: the end of the last installation whose overall result was
    /// `Succeeded` or `SucceededWithErrors`.
    pub last_installation_success_date: Option<String>,
}

#[cfg(test)]
mod tests {
    use super::*;
    use OperationResultCode::*;

    /// The constructors of an update's result: code, HRESULT and the message given.
    #[test]
    fn update_result_constructors() {
        let failed = UpdateInstallationResult::failed(HResult::WU_E_INSTALL_NOT_ALLOWED, "no access");
        assert_eq!(
            (failed.result_code, failed.hresult, failed.message.as_str()),
            (Failed, HResult::WU_E_INSTALL_NOT_ALLOWED, "no access")
        );
        let aborted = UpdateInstallationResult::aborted("stopped before it began");
        assert_eq!(
            (aborted.result_code, aborted.hresult, aborted.message.as_str()),
            (Aborted, HResult::WU_E_CALL_CANCELLED, "stopped before it began")
        );
        let not_started = UpdateInstallationResult::not_started();
        assert_eq!(
            (not_started.result_code, not_started.hresult, not_started.message.as_str()),
            (NotStarted, HResult::S_OK, "")
        );
        assert!(!failed.reboot_required && !aborted.reboot_required);
    }

    fn r(code: OperationResultCode, h: HResult, reboot: bool) -> UpdateInstallationResult {
        UpdateInstallationResult { reboot_required: reboot, ..UpdateInstallationResult::new(code, h) }
    }

    /// D-3: the aggregation table.
    #[test]
    fn d3_overall_result() {
        let ok = r(Succeeded, HResult::S_OK, false);
        let failed = r(Failed, HResult::WU_E_DM_NOTDOWNLOADED, false);
        let all = InstallationResult::aggregate(vec![ok.clone(), r(Succeeded, HResult::S_OK, true)], false);
        assert_eq!((all.result_code, all.hresult, all.reboot_required), (Succeeded, HResult::S_OK, true));
        let some = InstallationResult::aggregate(vec![ok.clone(), failed.clone()], false);
        assert_eq!((some.result_code, some.hresult), (SucceededWithErrors, HResult::S_OK));
        let one = InstallationResult::aggregate(vec![failed.clone()], false);
        assert_eq!((one.result_code, one.hresult), (Failed, HResult::WU_E_DM_NOTDOWNLOADED));
        let none = InstallationResult::aggregate(vec![failed.clone(), failed.clone()], false);
        assert_eq!((none.result_code, none.hresult), (Failed, HResult::WU_E_ALL_UPDATES_FAILED));
        // A per-update Aborted that no abort request caused counts as a failure.
        let cancelled = r(Aborted, HResult::WU_E_UH_OPERATIONCANCELLED, false);
        let c = InstallationResult::aggregate(vec![ok.clone(), cancelled], false);
        assert_eq!((c.result_code, c.hresult), (SucceededWithErrors, HResult::S_OK));
        let ab = InstallationResult::aggregate(vec![ok, failed], true);
        assert_eq!((ab.result_code, ab.hresult), (Aborted, HResult::WU_E_CALL_CANCELLED));
    }

    /// D-4: out-of-range indexes.
    #[test]
    fn d4_get_update_result_index() {
        let res = InstallationResult::aggregate(vec![r(Succeeded, HResult::S_OK, false)], false);
        assert!(res.get_update_result(0).is_ok());
        assert_eq!(res.get_update_result(1).unwrap_err().hresult, HResult::WU_E_INVALIDINDEX);
        assert_eq!(res.get_update_result(-1).unwrap_err().hresult, HResult::WU_E_INVALIDINDEX);
    }
}
