//! The `wua server` API's request, response and report types (`/api/v1/...`), shared by the
//! agent and the server so both sides parse the same shapes. `docs/api.md` and
//! `docs/openapi.json` describe the routes; tests round-trip the OpenAPI examples through these
//! types.
//!
//! Every type refuses unknown fields: a request is parsed into these types, never into a
//! free-form map, and a misspelt field is an error rather than a silent default.

use serde::{Deserialize, Serialize};

use crate::{HResult, OperationResultCode, UpdateOperation};

/// The API's path prefix.
pub const API_PREFIX: &str = "/api/v1";

/// The group a computer joins when neither its enrolment key nor its configuration names one
/// (WSUS's "Unassigned Computers").
pub const UNASSIGNED_GROUP: &str = "unassigned";

/// Whether `name` is a valid group name: letters, digits, `.`, `-`, `_`, at most 64, not
/// starting with `.` (the rule the repository's approvals targets follow).
pub fn is_group_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 64
        && name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_' || b == b'.')
        && !name.starts_with('.')
}

/// What an approval asks of a group's computers (D-27).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ApprovalAction {
    /// Install it (`IsAssigned`).
    Install,
    /// Uninstall it.
    Uninstall,
    /// Offer it as optional (`BrowseOnly`).
    Optional,
}

/// An error answer: `error` says what was wrong, with D-2's three HResult fields.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ApiError {
    /// What was wrong, for people.
    pub error: String,
    /// The HResult (signed 32-bit).
    pub hresult: i32,
    /// Its name, or its hex spelling when it has none.
    pub hresult_name: String,
    /// `0x` and eight hex digits.
    pub hresult_hex: String,
}

impl ApiError {
    /// An error with `hresult` and a message.
    pub fn new(hresult: HResult, error: impl Into<String>) -> Self {
        ApiError {
            error: error.into(),
            hresult: hresult.0,
            hresult_name: hresult.name_or_hex(),
            hresult_hex: hresult.hex(),
        }
    }

    /// The HResult.
    pub fn code(&self) -> HResult {
        HResult(self.hresult)
    }
}

// ---- agents ----

/// `POST /api/v1/agent/register`: an enrolment key buys a computer id and a token.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RegisterRequest {
    /// The enrolment key an administrator made (`wua_e_...`).
    pub enrolment_key: String,
    /// The machine id: `<root>/etc/machine-id`, or one the agent generated once and keeps.
    /// Registering again with the same machine id keeps the computer's identity.
    pub machine_id: String,
    /// The host name, for people.
    #[serde(default)]
    pub hostname: String,
    /// The group the agent's configuration asks for (client-side targeting); honoured only
    /// when the enrolment key allows it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub requested_group: Option<String>,
    /// The agent's version.
    #[serde(default)]
    pub agent_version: String,
}

/// The answer to a registration.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RegisterResponse {
    /// The computer's id (a UUID), stable across registrations with the same machine id.
    pub computer_id: String,
    /// The computer's token (`wua_c_...`): shown once, stored by the server as a digest.
    pub token: String,
    /// What the computer is asked to do.
    pub config: AgentConfig,
}

/// `GET /api/v1/agent/config`: the computer's group and check-in interval.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AgentConfig {
    /// The computer's id.
    pub computer_id: String,
    /// Its group: it picks the signed approvals `approvals-<group>.json` (D-27).
    pub group: String,
    /// How often the agent checks in (a run before that only flushes its outbox).
    pub checkin_interval_seconds: u64,
}

/// `POST /api/v1/agent/reports`: a batch of events from one computer's outbox.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ReportBatch {
    /// The events, oldest first.
    pub events: Vec<ReportEvent>,
}

/// One event. `key` is made when the event is enqueued, so a batch sent again after a lost
/// answer is recognised and never counted twice.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ReportEvent {
    /// The idempotency key (a UUID).
    pub key: String,
    /// When the event happened, RFC 3339.
    pub at: String,
    /// What happened.
    pub event: ReportBody,
}

/// What a report says.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
pub enum ReportBody {
    /// A scheduled run's full scan: the updates it found needed and installed. Updates approved
    /// for the computer's group that it lists in neither are not applicable.
    Scan {
        /// Applicable, not installed.
        needed: Vec<String>,
        /// Installed.
        installed: Vec<String>,
    },
    /// One update's install or uninstall result.
    Outcome {
        /// The update.
        update_id: String,
        /// Its revision.
        revision_number: i32,
        /// Install or uninstall.
        operation: UpdateOperation,
        /// The result code.
        result_code: OperationResultCode,
        /// The HResult.
        hresult: HResult,
        /// Whether it needs a reboot to complete.
        reboot_required: bool,
    },
    /// The computer's reboot state: `false` once it restarted after updates that needed it.
    Reboot {
        /// A reboot is pending.
        required: bool,
    },
}

/// The answer to a report batch.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ReportAck {
    /// Events stored now.
    pub accepted: u32,
    /// Events already stored by an earlier send (same key), not counted again.
    pub duplicates: u32,
}

// ---- administrators ----

/// `POST /api/v1/groups`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CreateGroup {
    /// The group's name ([`is_group_name`]).
    pub name: String,
    /// What it is for.
    #[serde(default)]
    pub description: String,
}

/// A group, as listed.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Group {
    /// The name.
    pub name: String,
    /// What it is for.
    pub description: String,
    /// How many computers it holds.
    pub computers: u64,
}

/// `GET /api/v1/groups/{name}`: a group's summary, as WSUS shows it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GroupSummary {
    /// The group.
    pub group: Group,
    /// Computers that sent at least one scan.
    pub computers_reporting: u64,
    /// Computers with at least one needed update.
    pub computers_needing_updates: u64,
    /// Computers with at least one failed update.
    pub computers_with_failures: u64,
    /// Computers waiting for a reboot.
    pub computers_pending_reboot: u64,
    /// Its approvals.
    pub approvals: Vec<Approval>,
}

/// One approval of a group, as the API takes and shows it. The signed target
/// (`wua_trust::approvals::Approval`) has the same fields but accepts unknown ones, so that
/// agents read approvals a newer server signs; the API refuses them.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Approval {
    /// The update.
    pub update_id: String,
    /// What to do with it.
    pub action: ApprovalAction,
    /// An RFC 3339 deadline; it overrides the document's (D-27).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub deadline: Option<String>,
}

/// `POST /api/v1/groups/{name}/approvals`: approvals to add (or replace) and withdraw for one
/// group, signed once.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ApprovalChanges {
    /// Approvals to add or replace.
    #[serde(default)]
    pub approve: Vec<Approval>,
    /// Update ids whose approval is withdrawn.
    #[serde(default)]
    pub unapprove: Vec<String>,
}

/// A computer, as listed.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Computer {
    /// Its id.
    pub id: String,
    /// Its machine id.
    pub machine_id: String,
    /// Its host name.
    pub hostname: String,
    /// Its group.
    pub group: String,
    /// When it registered first, RFC 3339.
    pub registered_at: String,
    /// When it last asked for its configuration.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_checkin: Option<String>,
    /// When its last report arrived.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_report: Option<String>,
    /// Whether it waits for a reboot.
    pub reboot_required: bool,
}

/// `PUT /api/v1/computers/{id}/group`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MoveComputer {
    /// The group to move it to.
    pub group: String,
}

/// An update's state on one computer, as WSUS reports it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum UpdateState {
    /// Installed.
    Installed,
    /// Applicable and not installed.
    Needed,
    /// Its last install or uninstall failed.
    Failed,
    /// Installed, waiting for a reboot.
    PendingReboot,
    /// Approved for the computer's group, and its latest scan lists it neither as needed nor
    /// as installed or failed.
    NotApplicable,
    /// The computer has not reported on it.
    NoStatus,
}

/// `GET /api/v1/computers/{id}`: a computer and its updates.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ComputerDetail {
    /// The computer.
    pub computer: Computer,
    /// Its updates' states, by update id.
    pub updates: Vec<ComputerUpdate>,
}

/// One update on one computer.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ComputerUpdate {
    /// The update.
    pub update_id: String,
    /// Its state.
    pub state: UpdateState,
    /// The HResult of its last install or uninstall, if one was reported.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hresult: Option<HResult>,
    /// When this state was reported, RFC 3339.
    pub at: String,
}

/// `GET /api/v1/updates/{id}/status`: how many computers are in each state for one update.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UpdateStatus {
    /// The update.
    pub update_id: String,
    /// Installed.
    pub installed: u64,
    /// Needed.
    pub needed: u64,
    /// Failed.
    pub failed: u64,
    /// Not applicable (see [`UpdateState::NotApplicable`]).
    pub not_applicable: u64,
    /// Installed, pending a reboot.
    pub pending_reboot: u64,
    /// Computers with no status for it.
    pub no_status: u64,
}

/// `POST /api/v1/enrolment-keys`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CreateEnrolmentKey {
    /// What the key is for.
    #[serde(default)]
    pub description: String,
    /// The group computers registering with it join.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub group: Option<String>,
    /// Whether a computer may pick its own group (client-side targeting).
    #[serde(default)]
    pub allow_client_targeting: bool,
    /// When it stops working, RFC 3339; never when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expires_at: Option<String>,
}

/// An enrolment key, as listed (`key` only in the answer that created it).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EnrolmentKey {
    /// Its id.
    pub id: String,
    /// The key itself (`wua_e_...`), present once, when it is created.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key: Option<String>,
    /// What it is for.
    pub description: String,
    /// The group computers registering with it join.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub group: Option<String>,
    /// Whether a computer may pick its own group.
    pub allow_client_targeting: bool,
    /// When it stops working.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expires_at: Option<String>,
    /// When it was revoked.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub revoked_at: Option<String>,
    /// When it was made.
    pub created_at: String,
}

/// `POST /api/v1/rules`: an automatic approval rule (WSUS's), applied to each update revision
/// published or revised after it exists.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CreateApprovalRule {
    /// A name for people.
    pub name: String,
    /// Classifications it matches (the names or ids of an update's `UpdateClassification`
    /// categories); empty matches any.
    #[serde(default)]
    pub classifications: Vec<String>,
    /// MSRC severities it matches (`Critical`, `Important`, ...); empty matches any.
    #[serde(default)]
    pub severities: Vec<String>,
    /// The groups it approves for (at least one).
    pub groups: Vec<String>,
    /// What the approvals ask.
    pub action: ApprovalAction,
    /// A deadline this many days after the rule approves, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub deadline_offset_days: Option<u32>,
}

/// An automatic approval rule, as listed.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ApprovalRule {
    /// Its id.
    pub id: i64,
    /// A name for people.
    pub name: String,
    /// Classifications it matches; empty matches any.
    pub classifications: Vec<String>,
    /// Severities it matches; empty matches any.
    pub severities: Vec<String>,
    /// The groups it approves for.
    pub groups: Vec<String>,
    /// What the approvals ask.
    pub action: ApprovalAction,
    /// A deadline this many days after the rule approves, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub deadline_offset_days: Option<u32>,
    /// When it was made, RFC 3339.
    pub created_at: String,
}

/// `GET /api/v1/computers/{id}/events`: one report event as the server received it (kept for
/// the retention period).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ReportRecord {
    /// The event's idempotency key.
    pub key: String,
    /// When it happened (the agent's clock), RFC 3339.
    pub at: String,
    /// When the server stored it, RFC 3339.
    pub received_at: String,
    /// What it said.
    pub event: ReportBody,
}

/// One administrator action, as the audit log keeps it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AuditEntry {
    /// Its sequence number.
    pub id: i64,
    /// When, RFC 3339.
    pub at: String,
    /// Which administrator token (its id and name).
    pub actor: String,
    /// What was done (`approve`, `move_computer`, ...).
    pub action: String,
    /// What it was done to.
    pub target: String,
    /// Details, for people.
    pub detail: String,
}

/// A page of a list: `items` and the cursor of the next page.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Page<T> {
    /// The items.
    pub items: Vec<T>,
    /// Pass as `after` for the next page; absent on the last.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub next: Option<String>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unknown_fields_are_refused() {
        let e = serde_json::from_str::<MoveComputer>(r#"{"group":"a","grop":"b"}"#).unwrap_err();
        assert!(e.to_string().contains("grop"), "{e}");
        let e = serde_json::from_str::<ReportBody>(r#"{"kind":"reboot","required":true,"x":1}"#).unwrap_err();
        assert!(e.to_string().contains('x'), "{e}");
    }

    #[test]
    fn a_report_event_round_trips() {
        let event = ReportEvent {
            key: "k".into(),
            at: "2026-01-01T00:00:00Z".into(),
            event: ReportBody::Outcome {
                update_id: "u".into(),
                revision_number: 2,
                operation: UpdateOperation::Installation,
                result_code: OperationResultCode::Failed,
                hresult: HResult::WU_E_UH_INSTALLERFAILURE,
                reboot_required: false,
            },
        };
        let text = serde_json::to_string(&event).unwrap();
        assert!(text.contains(r#""kind":"outcome""#), "{text}");
        assert_eq!(serde_json::from_str::<ReportEvent>(&text).unwrap(), event);
    }

    #[test]
    fn group_names() {
        assert!(is_group_name("ring-1.a_b"));
        for bad in ["", ".hidden", "a/b", "a b", &"x".repeat(65)] {
            assert!(!is_group_name(bad), "{bad:?}");
        }
    }
}
