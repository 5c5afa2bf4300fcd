//! The shapes of everything `--json` prints, one type per document (docs/cli.md). Field names
//! are WUA's property names in snake_case where WUA has the property; every HResult appears as
//! D-2's three fields ([`HResultFields`], flattened).
//!
//! Each document is one pretty-printed JSON object on stdout.

use std::path::PathBuf;

use serde::Serialize;
use wua_agent::wua_types::api::ReportBody;
use wua_agent::wua_types::{
    AutomaticUpdatesNotificationLevel, DownloadResult, HResult, InstallationResult, OperationResultCode, SearchResult,
    ServerSelection, Update, UpdateCollection, UpdateDocument, UpdateHistoryEntry, UpdateIdentity,
    UpdateInstallationResult, UpdateOperation, WuError,
};
use wua_agent::{ManagedServer, RecoveredOperation, UpdateService};

use crate::agent_managed::ManagedRun;
use crate::agent_run::AgentRunReport;

/// Prints a document on stdout, pretty.
pub(crate) fn print(doc: &impl Serialize) {
    match serde_json::to_string_pretty(doc) {
        Ok(text) => println!("{text}"),
        Err(e) => eprintln!("wua: error: printing JSON: {e}"),
    }
}

/// D-2: an HResult as `hresult` (signed 32-bit), `hresult_name` and `hresult_hex`; flattened
/// into the object that carries the code.
#[derive(Debug, Serialize)]
pub(crate) struct HResultFields {
    /// The code, signed as WUA's `HRESULT`.
    pub hresult: i32,
    /// The constant's name, or the hex spelling for a code outside the table.
    pub hresult_name: String,
    /// The unsigned hex spelling, `0x80240016`.
    pub hresult_hex: String,
}

impl From<HResult> for HResultFields {
    fn from(h: HResult) -> Self {
        HResultFields { hresult: h.0, hresult_name: h.name_or_hex(), hresult_hex: h.hex() }
    }
}

/// Any verb's call error (exit code 2).
#[derive(Debug, Serialize)]
pub(crate) struct CallError {
    /// What went wrong, with its context.
    pub error: String,
    #[serde(flatten)]
    pub hresult: HResultFields,
}

impl From<&WuError> for CallError {
    fn from(e: &WuError) -> Self {
        CallError { error: e.message.clone(), hresult: e.hresult.into() }
    }
}

/// `wua package build`: the package written.
#[derive(Debug, Serialize)]
pub(crate) struct Built {
    /// The package file.
    pub package: PathBuf,
    pub update_id: String,
    pub revision_number: i32,
    pub title: String,
    /// How many content files it carries.
    pub files: usize,
    /// Their total size.
    pub bytes: u64,
}

impl Built {
    pub(crate) fn new(doc: &UpdateDocument, package: &std::path::Path) -> Self {
        Built {
            package: package.to_owned(),
            update_id: doc.update_id.clone(),
            revision_number: doc.revision_number,
            title: doc.title.clone(),
            files: doc.content.len(),
            bytes: doc.content_size(),
        }
    }
}

/// `wua package import`: the updates brought in.
#[derive(Debug, Serialize)]
pub(crate) struct Imported {
    pub imported: Vec<ImportedUpdate>,
}

/// `wua package import`: one update brought in.
#[derive(Debug, Serialize)]
pub(crate) struct ImportedUpdate {
    pub update_id: String,
    pub revision_number: i32,
    pub title: String,
    pub is_installed: bool,
}

impl From<&Update> for ImportedUpdate {
    fn from(u: &Update) -> Self {
        let UpdateIdentity { update_id, revision_number } = u.identity();
        ImportedUpdate { update_id, revision_number, title: u.title().to_owned(), is_installed: u.is_installed() }
    }
}

/// `wua install-package`, `install`, `uninstall` (and each `quickstart` sample):
/// `IInstallationResult`.
#[derive(Debug, Serialize)]
pub(crate) struct Operation {
    /// `install` or `uninstall`.
    pub operation: String,
    pub result_code: OperationResultCode,
    #[serde(flatten)]
    pub hresult: HResultFields,
    pub reboot_required: bool,
    /// `GetUpdateResult(i)` for each update, in the job's order.
    pub updates: Vec<UpdateResult>,
}

impl Operation {
    pub(crate) fn new(operation: &str, updates: &UpdateCollection, result: &InstallationResult) -> Self {
        Operation {
            operation: operation.to_owned(),
            result_code: result.result_code,
            hresult: result.hresult.into(),
            reboot_required: result.reboot_required,
            updates: updates.iter().zip(&result.update_results).map(|(u, r)| UpdateResult::new(u, r)).collect(),
        }
    }
}

/// `wua install-package`, `install`, `uninstall`: one update's `IUpdateInstallationResult`.
#[derive(Debug, Serialize)]
pub(crate) struct UpdateResult {
    pub update_id: String,
    pub revision_number: i32,
    pub title: String,
    pub result_code: OperationResultCode,
    #[serde(flatten)]
    pub hresult: HResultFields,
    pub reboot_required: bool,
    /// What happened, for people; empty on success.
    pub message: String,
    /// Non-fatal notes (D-39).
    pub warnings: Vec<String>,
}

impl UpdateResult {
    fn new(update: &Update, r: &UpdateInstallationResult) -> Self {
        let UpdateIdentity { update_id, revision_number } = update.identity();
        UpdateResult {
            update_id,
            revision_number,
            title: update.title().to_owned(),
            result_code: r.result_code,
            hresult: r.hresult.into(),
            reboot_required: r.reboot_required,
            message: r.message.clone(),
            warnings: r.warnings.clone(),
        }
    }
}

/// `wua history`: `GetTotalHistoryCount` and a page of `QueryHistory`.
#[derive(Debug, Serialize)]
pub(crate) struct History {
    pub total: i32,
    pub entries: Vec<HistoryEntry>,
}

/// `wua history`: one `IUpdateHistoryEntry`, with wua's additions.
#[derive(Debug, Serialize)]
pub(crate) struct HistoryEntry {
    pub operation: UpdateOperation,
    pub result_code: OperationResultCode,
    #[serde(flatten)]
    pub hresult: HResultFields,
    /// The handler's raw code (a command's exit code), 0 otherwise.
    pub unmapped_result_code: i32,
    /// RFC 3339 UTC.
    pub date: String,
    pub update_identity: UpdateIdentity,
    pub title: String,
    pub description: String,
    pub client_application_id: String,
    pub server_selection: ServerSelection,
    pub service_id: String,
    pub support_url: String,
    pub uninstallation_notes: String,
    /// The entry recovery wrote for an interrupted operation (D-17).
    pub recovered: bool,
    /// What happened, for people.
    pub message: String,
    /// Non-fatal notes (D-39).
    pub warnings: Vec<String>,
    /// A log file in the state directory (command output), or null.
    pub log_path: Option<String>,
    /// The update asked for a reboot to complete.
    pub reboot_required: bool,
}

impl From<&UpdateHistoryEntry> for HistoryEntry {
    fn from(e: &UpdateHistoryEntry) -> Self {
        // Every field named: a field added to the entry fails to compile here until it is printed.
        let UpdateHistoryEntry {
            operation,
            result_code,
            hresult,
            unmapped_result_code,
            date,
            update_identity,
            title,
            description,
            client_application_id,
            server_selection,
            service_id,
            support_url,
            uninstallation_notes,
            recovered,
            message,
            warnings,
            log_path,
            reboot_required,
        } = e;
        HistoryEntry {
            operation: *operation,
            result_code: *result_code,
            hresult: (*hresult).into(),
            unmapped_result_code: *unmapped_result_code,
            date: date.clone(),
            update_identity: update_identity.clone(),
            title: title.clone(),
            description: description.clone(),
            client_application_id: client_application_id.clone(),
            server_selection: *server_selection,
            service_id: service_id.clone(),
            support_url: support_url.clone(),
            uninstallation_notes: uninstallation_notes.clone(),
            recovered: *recovered,
            message: message.clone(),
            warnings: warnings.clone(),
            log_path: log_path.clone(),
            reboot_required: *reboot_required,
        }
    }
}

/// `wua recover`: the operations finished or undone.
#[derive(Debug, Serialize)]
pub(crate) struct Recovered {
    pub recovered: Vec<RecoveredEntry>,
}

/// `wua recover`: one interrupted operation.
#[derive(Debug, Serialize)]
pub(crate) struct RecoveredEntry {
    /// The journal's operation id.
    pub op_id: String,
    pub operation: UpdateOperation,
    pub update_id: String,
    /// True when completed, false when rolled back.
    pub rolled_forward: bool,
}

impl From<&RecoveredOperation> for RecoveredEntry {
    fn from(r: &RecoveredOperation) -> Self {
        RecoveredEntry {
            op_id: r.op_id.clone(),
            operation: r.operation,
            update_id: r.update_id.clone(),
            rolled_forward: r.rolled_forward,
        }
    }
}

/// `wua status`: the session, the machine's reboot state and the known updates.
#[derive(Debug, Serialize)]
pub(crate) struct Status {
    pub state_dir: PathBuf,
    pub root: PathBuf,
    /// `ISystemInformation.RebootRequired`.
    pub reboot_required: bool,
    /// `IUpdateInstaller.RebootRequiredBeforeInstallation`.
    pub reboot_required_before_installation: bool,
    /// Journaled operations waiting for recovery (D-17); a running operation's record is not
    /// one of them.
    pub interrupted_operations: usize,
    /// The pid of the install, uninstall or recovery running on this state directory now.
    pub operation_in_progress_pid: Option<u32>,
    pub updates: Vec<StatusUpdate>,
    /// The services this agent searches.
    pub services: Vec<Service>,
    /// `IAutomaticUpdatesResults.LastSearchSuccessDate` (RFC 3339), or null: never.
    pub last_search_success_date: Option<String>,
    /// `IAutomaticUpdatesResults.LastInstallationSuccessDate` (RFC 3339), or null: never.
    pub last_installation_success_date: Option<String>,
    /// The managed server this agent is registered with, or null.
    pub managed_server: Option<StatusManaged>,
}

/// `wua status`: the managed server, its outbox and its dead letters.
#[derive(Debug, Serialize)]
pub(crate) struct StatusManaged {
    pub service_id: String,
    pub server_url: String,
    pub computer_id: String,
    pub group: String,
    pub checkin_interval_seconds: u64,
    /// The last check-in (RFC 3339), or null before the first.
    pub last_checkin: Option<String>,
    /// Reports queued, sent by the next run.
    pub pending_reports: u64,
    /// Reports the server refused for good, kept, oldest first.
    pub dead_letters: Vec<DeadLetter>,
}

impl StatusManaged {
    pub(crate) fn new(m: &ManagedServer, dead: &[wua_agent::DeadLetter]) -> Self {
        StatusManaged {
            service_id: m.service_id.clone(),
            server_url: m.server_url.clone(),
            computer_id: m.computer_id.clone(),
            group: m.group.clone(),
            checkin_interval_seconds: m.checkin_interval_seconds,
            last_checkin: m.last_checkin.clone(),
            pending_reports: m.pending_reports,
            dead_letters: dead.iter().map(DeadLetter::from).collect(),
        }
    }
}

/// A report the managed server refused for good (a dead letter): the event, and the server's
/// answer as `status`, `error` (its message) and the three HResult fields.
#[derive(Debug, Serialize)]
pub(crate) struct DeadLetter {
    /// The report's idempotency key.
    pub key: String,
    /// When the report was made.
    pub at: String,
    /// The report as queued (`kind` and its fields, as the API carries it).
    pub event: ReportBody,
    /// The HTTP status the server refused it with.
    pub status: u16,
    /// The server's message.
    pub error: String,
    #[serde(flatten)]
    pub hresult: HResultFields,
    /// When it was set aside.
    pub dead_at: String,
}

impl From<&wua_agent::DeadLetter> for DeadLetter {
    fn from(d: &wua_agent::DeadLetter) -> Self {
        DeadLetter {
            key: d.key.clone(),
            at: d.at.clone(),
            event: d.event.clone(),
            status: d.status,
            error: d.message.clone(),
            hresult: d.hresult.into(),
            dead_at: d.dead_at.clone(),
        }
    }
}

/// `wua status`: one known update and its flags.
#[derive(Debug, Serialize)]
pub(crate) struct StatusUpdate {
    pub update_id: String,
    pub revision_number: i32,
    pub title: String,
    pub is_installed: bool,
    pub is_downloaded: bool,
    pub is_hidden: bool,
    pub eula_accepted: bool,
    pub reboot_required: bool,
}

impl From<&Update> for StatusUpdate {
    fn from(u: &Update) -> Self {
        let UpdateIdentity { update_id, revision_number } = u.identity();
        let f = u.flags();
        StatusUpdate {
            update_id,
            revision_number,
            title: u.title().to_owned(),
            is_installed: f.is_installed,
            is_downloaded: f.is_downloaded,
            is_hidden: f.is_hidden,
            eula_accepted: f.eula_accepted,
            reboot_required: f.reboot_required,
        }
    }
}

/// `wua quickstart`: where it worked, one row per sample, the history, and the server's view
/// of this computer.
#[derive(Debug, Serialize)]
pub(crate) struct Quickstart {
    pub root: PathBuf,
    pub state_dir: PathBuf,
    pub repository: PathBuf,
    /// The sample revisions this run published (`name rev N`); empty on a rerun.
    pub published: Vec<String>,
    /// One row per sample, in the order of the samples.
    pub samples: Vec<QuickstartSample>,
    /// Every row is what the quick start must end with (the exit code is 0 then).
    pub end_state_reached: bool,
    /// The install jobs this run ran, in order (none on a rerun).
    pub installs: Vec<Operation>,
    /// The agent's history afterwards, newest first.
    pub history: History,
    /// `ISystemInformation.RebootRequired` afterwards. Nothing reboots the machine: the agent
    /// only records that the root waits for a reboot (D-9).
    pub reboot_required: bool,
    /// The update server the agent was registered with, for the run.
    pub server: String,
    /// The agent's registration with it.
    pub service: QuickstartService,
    /// The reports the agent sent.
    pub reports: QuickstartReports,
    /// The server's status report for this computer (`GET /api/v1/computers/{id}`).
    pub computer: wua_agent::wua_types::api::ComputerDetail,
}

/// `wua quickstart`: the agent's managed-server service.
#[derive(Debug, Serialize)]
pub(crate) struct QuickstartService {
    pub service_id: String,
    /// The computer's id on the server (kept across runs: the same machine id registers).
    pub computer_id: String,
    /// The service of an earlier run was kept (the server listens on the same port again).
    pub kept: bool,
    /// The earlier run's server URL, when the server now listens elsewhere (its service was
    /// replaced by one at the new port).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub replaced_url: Option<String>,
}

/// `wua quickstart`: what the agent's outbox sent.
#[derive(Debug, Serialize)]
pub(crate) struct QuickstartReports {
    pub sent: u64,
    pub accepted: u64,
    pub remaining: u64,
}

/// `wua quickstart`: what happened to a sample.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub(crate) enum QuickstartOutcome {
    /// Installed by this run.
    Installed,
    /// Installed by this run, and it asked for a reboot (nothing reboots: D-9 records it).
    InstalledRebootRequired,
    /// An earlier run installed it (this revision, or an equivalent one, D-40).
    AlreadyInstalled,
    /// Left out of the search: an update that supersedes it is installed or offered (D-28).
    NotOfferedSuperseded,
    /// Offered, but not installed: a reboot an earlier install asked for is pending (D-9).
    NotInstalledRebootPending,
    /// Neither installed nor offered, and nothing supersedes it.
    NotOffered,
    /// Its download or install failed (the HResult says why).
    Failed,
}

/// `wua quickstart`: one sample's row.
#[derive(Debug, Serialize)]
pub(crate) struct QuickstartSample {
    /// The sample's name (`hello`, `licensed`, `old-tool`, `new-tool`, `kernel-tuning`).
    pub name: String,
    pub update_id: String,
    /// The revision installed, or offered.
    pub revision: i32,
    pub title: String,
    pub outcome: QuickstartOutcome,
    /// The install's HResult; `WU_S_ALREADY_INSTALLED` for what an earlier run installed.
    #[serde(flatten)]
    pub hresult: HResultFields,
    /// A reboot is pending for it (simulated: the machine is not rebooted).
    pub reboot_required: bool,
    /// `EulaAccepted` afterwards (true for an update without license terms, D-14).
    pub eula_accepted: bool,
    /// The license terms this run showed and accepted.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub eula_shown: Option<String>,
    /// The sample that supersedes it (D-28).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub superseded_by: Option<String>,
    /// The revision this run installed first and then replaced (D-40).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub replaced_revision: Option<i32>,
    /// What happened, for people (a failure's message).
    #[serde(skip_serializing_if = "String::is_empty")]
    pub message: String,
}

/// `wua repo init`: the repository and the file agents trust.
#[derive(Debug, Serialize)]
pub(crate) struct RepoInitialized {
    /// The repository.
    pub initialized: PathBuf,
    pub trusted_root: PathBuf,
    /// With the root keys elsewhere: the first root, to be signed and merged before anything
    /// is published (`trusted_root` is written by the merge).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub root_proposal: Option<PathBuf>,
}

/// `wua repo publish` and `revise`: the revision published.
#[derive(Debug, Serialize)]
pub(crate) struct RepoPublished {
    pub update_id: String,
    pub revision_number: i32,
    pub title: String,
}

/// `wua repo decline`: the revision declined.
#[derive(Debug, Serialize)]
pub(crate) struct RepoDeclined {
    /// The update id.
    pub declined: String,
    pub revision_number: i32,
}

/// `wua repo resign`: the repository re-signed.
#[derive(Debug, Serialize)]
pub(crate) struct RepoResigned {
    pub resigned: PathBuf,
    /// The roles re-signed.
    pub roles: Vec<&'static str>,
}

/// `wua repo verify`: what a refresh verified.
#[derive(Debug, Serialize)]
pub(crate) struct RepoVerified {
    pub snapshot_version: u64,
    pub documents: usize,
}

/// `wua repo compact`: how many superseded entries left the catalog.
#[derive(Debug, Serialize)]
pub(crate) struct RepoCompacted {
    pub dropped: usize,
}

/// `wua repo rotate-key`, when the new key is installed: the role.
#[derive(Debug, Serialize)]
pub(crate) struct RepoRotated {
    pub rotated: String,
}

/// `wua repo rotate-key root-N`, when the root keys are elsewhere: the proposal to sign.
#[derive(Debug, Serialize)]
pub(crate) struct RepoProposed {
    pub proposed: PathBuf,
}

/// `wua repo approve`: the update and the group.
#[derive(Debug, Serialize)]
pub(crate) struct RepoApproved {
    /// The update id.
    pub approved: String,
    pub group: String,
}

/// `wua repo unapprove`: the update and the group.
#[derive(Debug, Serialize)]
pub(crate) struct RepoUnapproved {
    /// The update id.
    pub unapproved: String,
    pub group: String,
}

/// `wua repo export`: the file written and how many files it holds.
#[derive(Debug, Serialize)]
pub(crate) struct RepoExported {
    /// The file written.
    pub export: PathBuf,
    pub files: usize,
}

/// `wua repo root sign`: the proposal signed.
#[derive(Debug, Serialize)]
pub(crate) struct RootSigned {
    pub signed: PathBuf,
}

/// `wua repo key generate`: the key files and the key id.
#[derive(Debug, Serialize)]
pub(crate) struct KeyGenerated {
    /// The private key file.
    pub key: PathBuf,
    pub public: PathBuf,
    pub key_id: String,
}

/// `wua repo root merge`: how many signed copies were merged.
#[derive(Debug, Serialize)]
pub(crate) struct RootMerged {
    pub merged: usize,
}

/// `wua repo list`: the published revisions and every group's approvals.
#[derive(Debug, Serialize)]
pub(crate) struct RepoList {
    pub updates: Vec<RepoListEntry>,
    /// The approvals of every group, by group and then update id.
    pub approvals: Vec<RepoListApproval>,
}

/// `wua repo list`: one update approved for one group (D-27).
#[derive(Debug, Serialize)]
pub(crate) struct RepoListApproval {
    pub group: String,
    pub update_id: String,
    /// The title of the update's newest revision.
    pub title: String,
    /// `install`, `uninstall` or `optional`.
    pub action: wua_trust::approvals::ApprovalAction,
    /// The RFC 3339 deadline, or null.
    pub deadline: Option<String>,
}

/// `wua repo list`: one published revision.
#[derive(Debug, Serialize)]
pub(crate) struct RepoListEntry {
    pub update_id: String,
    pub revision_number: i32,
    pub title: String,
    /// Declined: no longer offered to new installs.
    pub declined: bool,
}

/// `wua search`: the `ISearchResult`.
#[derive(Debug, Serialize)]
pub(crate) struct Search {
    pub result_code: OperationResultCode,
    pub updates: Vec<SearchUpdate>,
    pub root_categories: Vec<String>,
    pub warnings: Vec<SearchWarning>,
}

impl From<&SearchResult> for Search {
    fn from(r: &SearchResult) -> Self {
        Search {
            result_code: r.result_code,
            updates: r.updates.iter().map(SearchUpdate::from).collect(),
            root_categories: r.root_categories.iter().map(|c| c.name.clone()).collect(),
            warnings: r
                .warnings
                .iter()
                .map(|w| SearchWarning { message: w.message.clone(), hresult: w.hresult.into() })
                .collect(),
        }
    }
}

/// `wua search`: one update found, with its flags.
#[derive(Debug, Serialize)]
pub(crate) struct SearchUpdate {
    #[serde(flatten)]
    pub status: StatusUpdate,
    pub is_present: bool,
    pub is_mandatory: bool,
    pub is_assigned: bool,
    pub browse_only: bool,
    pub deployment_action: String,
    /// `Deadline`: an approval's when it has one (D-27), else the document's.
    pub deadline: Option<String>,
    pub service_id: Option<String>,
}

impl From<&Update> for SearchUpdate {
    fn from(u: &Update) -> Self {
        SearchUpdate {
            status: StatusUpdate::from(u),
            is_present: u.is_present(),
            is_mandatory: u.is_mandatory(),
            is_assigned: u.is_assigned(),
            browse_only: u.browse_only(),
            deployment_action: u.deployment_action().to_string(),
            deadline: u.deadline().map(str::to_owned),
            service_id: u.service_id().map(str::to_owned),
        }
    }
}

/// `wua search`: one warning (D-42).
#[derive(Debug, Serialize)]
pub(crate) struct SearchWarning {
    pub message: String,
    #[serde(flatten)]
    pub hresult: HResultFields,
}

/// `wua download`: the `IDownloadResult`.
#[derive(Debug, Serialize)]
pub(crate) struct Download {
    pub result_code: OperationResultCode,
    #[serde(flatten)]
    pub hresult: HResultFields,
    pub updates: Vec<DownloadedUpdate>,
}

impl Download {
    pub(crate) fn new(updates: &UpdateCollection, r: &DownloadResult) -> Self {
        Download {
            result_code: r.result_code,
            hresult: r.hresult.into(),
            updates: updates
                .iter()
                .zip(&r.update_results)
                .map(|(u, r)| DownloadedUpdate {
                    update_id: u.identity().update_id,
                    revision_number: u.identity().revision_number,
                    result_code: r.result_code,
                    hresult: r.hresult.into(),
                    message: r.message.clone(),
                })
                .collect(),
        }
    }
}

/// `wua download`: one update's outcome.
#[derive(Debug, Serialize)]
pub(crate) struct DownloadedUpdate {
    pub update_id: String,
    pub revision_number: i32,
    pub result_code: OperationResultCode,
    #[serde(flatten)]
    pub hresult: HResultFields,
    pub message: String,
}

/// `wua install --all`, `wua download`: a search that found nothing.
#[derive(Debug, Serialize)]
pub(crate) struct Nothing {
    pub updates: usize,
}

/// `wua service add`, and one entry of `wua service list`.
#[derive(Debug, Serialize)]
pub(crate) struct Service {
    pub service_id: String,
    pub name: String,
    /// `repository`, `scan_package` or `managed_server`.
    pub kind: &'static str,
    /// The repository's URL or directory, the export file, or the managed server's URL.
    pub service_url: String,
    pub is_scan_package_service: bool,
    pub is_managed: bool,
    pub is_default_au_service: bool,
    pub ca_bundle: Option<PathBuf>,
    /// A managed server's id for this computer, or null.
    pub computer_id: Option<String>,
    /// A managed server's group for this computer, or null.
    pub group: Option<String>,
}

impl From<&UpdateService> for Service {
    fn from(s: &UpdateService) -> Self {
        Service {
            service_id: s.service_id.clone(),
            name: s.name.clone(),
            kind: service_kind(s),
            service_url: s.service_url.clone(),
            is_scan_package_service: s.is_scan_package_service,
            is_managed: s.is_managed,
            is_default_au_service: s.is_default_au_service,
            ca_bundle: s.ca_bundle.clone(),
            computer_id: s.computer_id.clone(),
            group: s.group.clone(),
        }
    }
}

/// What a service reads from, as `wua service list` names it.
pub(crate) fn service_kind(s: &UpdateService) -> &'static str {
    if s.is_managed {
        "managed_server"
    } else if s.is_scan_package_service {
        "scan_package"
    } else {
        "repository"
    }
}

/// `wua service list`.
#[derive(Debug, Serialize)]
pub(crate) struct Services {
    pub services: Vec<Service>,
}

/// `wua service remove|reset|default`.
#[derive(Debug, Serialize)]
pub(crate) struct ServiceDone {
    pub service_id: String,
    pub done: String,
}

/// `wua agent run`: what the run found and did.
#[derive(Debug, Serialize)]
pub(crate) struct AgentRun {
    /// The configuration file read.
    pub config: PathBuf,
    /// `[policy] notification_level`.
    pub notification_level: AutomaticUpdatesNotificationLevel,
    /// The level acted on (`NotConfigured` acts as `NotifyBeforeDownload`).
    pub effective_notification_level: AutomaticUpdatesNotificationLevel,
    /// Services registered from the configuration in this run.
    pub services_added: Vec<Service>,
    /// What the search found.
    pub found: Vec<AgentRunUpdate>,
    /// What is in the cache after the download (downloaded now or before).
    pub downloaded: Vec<AgentRunUpdate>,
    /// What the install installed.
    pub installed: Vec<AgentRunUpdate>,
    /// What the policy would act on but did not.
    pub skipped: Vec<AgentRunSkipped>,
    /// The download's `IDownloadResult`, or null when nothing was downloaded.
    pub download: Option<Download>,
    /// The install's `IInstallationResult`, or null when nothing was installed.
    pub install: Option<Operation>,
    /// What the uninstall removed (approved for uninstallation by a managed server).
    pub uninstalled: Vec<AgentRunUpdate>,
    /// The uninstall's `IInstallationResult`, or null when nothing was uninstalled.
    pub uninstall: Option<Operation>,
    /// The install or the uninstall asked for a reboot.
    pub reboot_required: bool,
    /// What the run did with the managed server, or null without one.
    pub managed_server: Option<AgentRunManaged>,
}

/// `wua agent run`: the managed server's part.
#[derive(Debug, Serialize)]
pub(crate) struct AgentRunManaged {
    pub service_id: String,
    pub server_url: String,
    /// Registered in this run, from the configuration's `[server]`.
    pub registered: bool,
    /// Checked in; false when the check-in interval had not passed (the run only sent reports).
    pub checked_in: bool,
    pub group: String,
    pub checkin_interval_seconds: u64,
    /// The scan report queued, or null when there was no full scan.
    pub scan: Option<AgentRunScan>,
    /// The reboot state reported, or null when it did not change.
    pub reboot_reported: Option<bool>,
    /// The send of the report outbox, or null when it was not sent.
    pub reports: Option<AgentRunReports>,
}

/// `wua agent run`: the scan report's counts.
#[derive(Debug, Serialize)]
pub(crate) struct AgentRunScan {
    pub needed: usize,
    pub installed: usize,
}

/// `wua agent run`: the send of the report outbox.
#[derive(Debug, Serialize)]
pub(crate) struct AgentRunReports {
    pub batches: u32,
    pub sent: u64,
    pub accepted: u64,
    pub duplicates: u64,
    /// Reports still queued (sent by a later run).
    pub remaining: u64,
    /// Reports the server refused for good in this send, set aside as dead letters (the rest
    /// went on; `wua status` lists them all).
    pub dead_lettered: Vec<DeadLetter>,
    /// Why the send stopped, or null.
    pub error: Option<CallError>,
}

impl From<&ManagedRun> for AgentRunManaged {
    fn from(m: &ManagedRun) -> Self {
        AgentRunManaged {
            service_id: m.service_id.clone(),
            server_url: m.server_url.clone(),
            registered: m.registered,
            checked_in: m.checked_in,
            group: m.group.clone(),
            checkin_interval_seconds: m.checkin_interval_seconds,
            scan: m.scan.map(|(needed, installed)| AgentRunScan { needed, installed }),
            reboot_reported: m.reboot_reported,
            reports: m.flush.as_ref().map(|f| AgentRunReports {
                batches: f.batches,
                sent: f.sent,
                accepted: f.accepted,
                duplicates: f.duplicates,
                remaining: f.remaining,
                dead_lettered: f.dead_lettered.iter().map(DeadLetter::from).collect(),
                error: f.error.as_ref().map(CallError::from),
            }),
        }
    }
}

impl AgentRun {
    pub(crate) fn new(r: &AgentRunReport) -> Self {
        let passed = |updates: &UpdateCollection, codes: Vec<OperationResultCode>| -> Vec<AgentRunUpdate> {
            updates
                .iter()
                .zip(codes)
                .filter(|(_, c)| matches!(c, OperationResultCode::Succeeded | OperationResultCode::SucceededWithErrors))
                .map(|(u, _)| AgentRunUpdate::from(u))
                .collect()
        };
        AgentRun {
            config: r.config.clone(),
            notification_level: r.notification_level,
            effective_notification_level: r.effective_level,
            services_added: r.services_added.iter().map(Service::from).collect(),
            found: r.found.iter().map(AgentRunUpdate::from).collect(),
            downloaded: r
                .download
                .as_ref()
                .map(|(u, d)| passed(u, d.update_results.iter().map(|x| x.result_code).collect()))
                .unwrap_or_default(),
            installed: r
                .install
                .as_ref()
                .map(|(u, i)| passed(u, i.update_results.iter().map(|x| x.result_code).collect()))
                .unwrap_or_default(),
            skipped: r
                .skipped
                .iter()
                .map(|(u, reason)| AgentRunSkipped { update: AgentRunUpdate::from(u), reason: reason.clone() })
                .collect(),
            download: r.download.as_ref().map(|(u, d)| Download::new(u, d)),
            install: r.install.as_ref().map(|(u, i)| Operation::new("install", u, i)),
            uninstalled: r
                .uninstall
                .as_ref()
                .map(|(u, i)| passed(u, i.update_results.iter().map(|x| x.result_code).collect()))
                .unwrap_or_default(),
            uninstall: r.uninstall.as_ref().map(|(u, i)| Operation::new("uninstall", u, i)),
            reboot_required: r.install.as_ref().is_some_and(|(_, i)| i.reboot_required)
                || r.uninstall.as_ref().is_some_and(|(_, i)| i.reboot_required),
            managed_server: r.managed.as_ref().map(AgentRunManaged::from),
        }
    }
}

/// `wua agent run`: one update named in the summary.
#[derive(Debug, Serialize)]
pub(crate) struct AgentRunUpdate {
    pub update_id: String,
    pub revision_number: i32,
    pub title: String,
}

impl From<&Update> for AgentRunUpdate {
    fn from(u: &Update) -> Self {
        let UpdateIdentity { update_id, revision_number } = u.identity();
        AgentRunUpdate { update_id, revision_number, title: u.title().to_owned() }
    }
}

/// `wua agent run`: an update left alone, and why.
#[derive(Debug, Serialize)]
pub(crate) struct AgentRunSkipped {
    #[serde(flatten)]
    pub update: AgentRunUpdate,
    /// Why: optional, not downloaded, license terms not accepted.
    pub reason: String,
}

/// `wua cache clean`.
#[derive(Debug, Serialize)]
pub(crate) struct CacheCleaned {
    pub removed: usize,
    pub bytes_freed: u64,
    pub kept: usize,
    pub partial_removed: usize,
}
