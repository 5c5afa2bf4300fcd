//! Storage: everything the server keeps, behind one async trait ([`Storage`]) so another
//! database can be added beside SQLite ([`SqliteStorage`], the default, in the data directory).
//!
//! Status is stored sparsely: a row only for an update a computer reported (installed, needed,
//! failed, pending reboot), and aggregates per update and group, and per group, kept up to
//! date as each report is applied. A status query reads the aggregates of one update (one row
//! per group), never every computer. "Not applicable" and "no status" are derived: see
//! [`wua_types::api::UpdateState`].

mod migrations;
mod sqlite;
mod status;

use std::future::Future;
use std::path::Path;

pub use sqlite::{DB_FILE, SqliteStorage};
use wua_types::api::{
    Approval, ApprovalRule, AuditEntry, Computer, ComputerDetail, CreateApprovalRule, EnrolmentKey, Group,
    GroupSummary, Page, ReportAck, ReportEvent, ReportRecord, UpdateStatus,
};

use crate::ServerError;

/// A stored token: the digest of its secret, and whether it was revoked.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TokenRow {
    /// The token's id.
    pub id: String,
    /// What it is called (an administrator's token) or whom it belongs to (a computer id).
    pub owner: String,
    /// SHA-256 of the secret.
    pub digest: Vec<u8>,
    /// Revoked tokens never authenticate.
    pub revoked: bool,
}

/// A stored enrolment key.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct EnrolmentKeyRow {
    /// What the API shows.
    pub key: EnrolmentKey,
    /// SHA-256 of the secret.
    pub digest: Vec<u8>,
    /// Expiry, Unix seconds.
    pub expires_at: Option<i64>,
}

/// A computer registering (or registering again with the same machine id).
#[derive(Clone, Debug)]
pub struct Registration {
    /// The machine id it sent.
    pub machine_id: String,
    /// Its host name.
    pub hostname: String,
    /// The group for a new computer (an existing one keeps its own).
    pub group: String,
    /// The new token's id and digest (a registration replaces the token).
    pub token_id: String,
    /// SHA-256 of the new token's secret.
    pub token_digest: Vec<u8>,
}

/// What a change to a named thing did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Changed {
    /// Done.
    Done,
    /// There is no such thing.
    NotFound,
    /// It conflicts (exists already, is not empty, names a missing group).
    Conflict,
}

/// Counts for `/metrics`.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct FleetCounts {
    /// Computers by the age of their last report: (upper bound in seconds or `None` for
    /// "never reported", count).
    pub by_report_age: Vec<(Option<u64>, u64)>,
    /// Computers needing updates, with failures, pending reboot, all.
    pub needing: u64,
    /// With at least one failed update.
    pub failing: u64,
    /// Waiting for a reboot.
    pub pending_reboot: u64,
    /// All computers.
    pub computers: u64,
}

/// Everything the server stores. Methods are async; an implementation on a blocking database
/// runs its work off the async threads.
pub trait Storage: Send + Sync + 'static {
    /// An administrator token by id.
    fn admin_token(&self, id: &str) -> impl Future<Output = Result<Option<TokenRow>, ServerError>> + Send;
    /// A computer token by id (`owner` is the computer id).
    fn computer_token(&self, id: &str) -> impl Future<Output = Result<Option<TokenRow>, ServerError>> + Send;
    /// Stores a new administrator token.
    fn create_admin_token(
        &self,
        id: &str,
        name: &str,
        digest: &[u8],
    ) -> impl Future<Output = Result<(), ServerError>> + Send;
    /// Administrator tokens (without digests): (id, name, created RFC 3339, revoked).
    fn admin_tokens(&self) -> impl Future<Output = Result<Vec<(String, String, String, bool)>, ServerError>> + Send;
    /// Revokes an administrator token.
    fn revoke_admin_token(&self, id: &str) -> impl Future<Output = Result<Changed, ServerError>> + Send;

    /// An enrolment key by id.
    fn enrolment_key(&self, id: &str) -> impl Future<Output = Result<Option<EnrolmentKeyRow>, ServerError>> + Send;
    /// Stores a new enrolment key.
    fn create_enrolment_key(&self, row: EnrolmentKeyRow) -> impl Future<Output = Result<Changed, ServerError>> + Send;
    /// Every enrolment key.
    fn enrolment_keys(&self) -> impl Future<Output = Result<Vec<EnrolmentKey>, ServerError>> + Send;
    /// Revokes an enrolment key.
    fn revoke_enrolment_key(&self, id: &str) -> impl Future<Output = Result<Changed, ServerError>> + Send;

    /// Registers a computer (or again, keeping its id and group); returns its id and group.
    fn register(&self, r: Registration) -> impl Future<Output = Result<(String, String), ServerError>> + Send;
    /// Records a check-in; the computer's group, or `None` if it was deleted.
    fn checkin(&self, computer_id: &str) -> impl Future<Output = Result<Option<String>, ServerError>> + Send;
    /// Applies a batch of a computer's events, each once (by its key).
    fn ingest(
        &self,
        computer_id: &str,
        events: Vec<ReportEvent>,
    ) -> impl Future<Output = Result<Option<ReportAck>, ServerError>> + Send;

    /// Every group.
    fn groups(&self) -> impl Future<Output = Result<Vec<Group>, ServerError>> + Send;
    /// Creates a group.
    fn create_group(&self, name: &str, description: &str) -> impl Future<Output = Result<Changed, ServerError>> + Send;
    /// Deletes an empty group.
    fn delete_group(&self, name: &str) -> impl Future<Output = Result<Changed, ServerError>> + Send;
    /// One group's summary (approvals from the mirror of the signed approvals).
    fn group_summary(&self, name: &str) -> impl Future<Output = Result<Option<GroupSummary>, ServerError>> + Send;
    /// Replaces the mirror of a group's signed approvals.
    fn set_approvals(
        &self,
        group: &str,
        approvals: Vec<Approval>,
    ) -> impl Future<Output = Result<(), ServerError>> + Send;

    /// Computers by id, a page after `after`.
    fn computers(
        &self,
        after: Option<String>,
        limit: u32,
    ) -> impl Future<Output = Result<Page<Computer>, ServerError>> + Send;
    /// One computer and its updates (reported, and derived from its group's approvals).
    fn computer(&self, id: &str) -> impl Future<Output = Result<Option<ComputerDetail>, ServerError>> + Send;
    /// A computer's report events, newest first, a page after cursor `after`; `None` when the
    /// computer does not exist.
    fn computer_events(
        &self,
        id: &str,
        after: Option<String>,
        limit: u32,
    ) -> impl Future<Output = Result<Option<Page<ReportRecord>>, ServerError>> + Send;
    /// Moves a computer to another (existing) group.
    fn move_computer(&self, id: &str, group: &str) -> impl Future<Output = Result<Changed, ServerError>> + Send;
    /// Deletes a computer, its token and its status.
    fn delete_computer(&self, id: &str) -> impl Future<Output = Result<Changed, ServerError>> + Send;

    /// One update's counts over every computer.
    fn update_status(&self, update_id: &str) -> impl Future<Output = Result<UpdateStatus, ServerError>> + Send;
    /// Counts for `/metrics`.
    fn fleet_counts(&self) -> impl Future<Output = Result<FleetCounts, ServerError>> + Send;

    /// The automatic approval rules.
    fn rules(&self) -> impl Future<Output = Result<Vec<ApprovalRule>, ServerError>> + Send;
    /// Stores a rule (its groups must exist: `Err` names a missing one).
    fn create_rule(
        &self,
        rule: CreateApprovalRule,
    ) -> impl Future<Output = Result<Result<ApprovalRule, String>, ServerError>> + Send;
    /// Deletes a rule.
    fn delete_rule(&self, id: i64) -> impl Future<Output = Result<Changed, ServerError>> + Send;
    /// Which of `revisions` (update id, revision) the rules have not seen yet.
    fn unseen_revisions(
        &self,
        revisions: Vec<(String, i32)>,
    ) -> impl Future<Output = Result<Vec<(String, i32)>, ServerError>> + Send;
    /// Records revisions as seen by the rules.
    fn mark_seen(&self, revisions: Vec<(String, i32)>) -> impl Future<Output = Result<(), ServerError>> + Send;

    /// Appends to the audit log.
    fn audit(
        &self,
        actor: &str,
        action: &str,
        target: &str,
        detail: &str,
    ) -> impl Future<Output = Result<(), ServerError>> + Send;
    /// The audit log, newest first, a page before sequence number `before`.
    fn audit_log(
        &self,
        before: Option<i64>,
        limit: u32,
    ) -> impl Future<Output = Result<Page<AuditEntry>, ServerError>> + Send;
    /// Deletes report events received before `cutoff` (Unix seconds); returns how many.
    fn prune_events(&self, cutoff: i64) -> impl Future<Output = Result<u64, ServerError>> + Send;
    /// Writes a consistent copy of the database to `dest` while the server runs.
    fn backup(&self, dest: &Path) -> impl Future<Output = Result<(), ServerError>> + Send;
}

/// Now, Unix seconds.
pub(crate) fn now_s() -> i64 {
    jiff::Timestamp::now().as_second()
}

/// Unix seconds as RFC 3339.
pub(crate) fn rfc3339(s: i64) -> String {
    jiff::Timestamp::from_second(s).map(|t| t.to_string()).unwrap_or_default()
}
