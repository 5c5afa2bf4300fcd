//! Approvals (D-27), as both sides see them: the publisher writes them (`repo::approve`), the
//! agent reads them from a verified refresh (`verify`). Each group's approvals are one TUF target,
//! `approvals-<group>.json`, signed by the delegated `approvals` role.

use serde::{Deserialize, Serialize};

/// The delegated role that signs approvals (D-27), with its own online key.
pub const APPROVALS: &str = "approvals";

/// What an approval asks of a group's computers (D-27); the API's type.
pub use wua_types::api::ApprovalAction;

/// One update approved for a group.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Approval {
    /// The update.
    pub update_id: String,
    /// What to do with it.
    pub action: ApprovalAction,
    /// An RFC 3339 deadline; it overrides the document's (D-27).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub deadline: Option<String>,
}

/// The approvals of one group: the content of the `approvals-<group>.json` target, signed by
/// the `approvals` role.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct GroupApprovals {
    /// The group.
    pub group: String,
    /// Its approvals, by update id.
    pub approvals: Vec<Approval>,
}

/// The TUF target name of a group's approvals.
pub fn approvals_target(group: &str) -> String {
    format!("approvals-{group}.json")
}
