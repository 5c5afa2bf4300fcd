//! Writing a repository, for publishers and for the server that manages one.
//!
//! Every writer takes a [`RepoLock`] (`repo.lock`, an exclusive `flock` holding the writer's
//! pid, waited for a bounded time, [`RepoLock::DEFAULT_WAIT`] unless the caller says): each
//! public entry point below takes it once and calls its `_locked` form, which cannot run
//! without it, and a caller holding the lock calls the `_locked` forms itself.
//!
//! - `init`: a new repository (keys, the first root or, with the root keys elsewhere, a root
//!   proposal awaiting their signatures; the online roles, an empty catalog).
//! - `publish`, `revise`, `decline`: an update from a manifest and payload, a higher revision,
//!   a revision no longer offered; `add_blob` and `publish_documents` for bulk imports.
//! - `approve`, `unapprove`, `approve_many`: a group's approvals, signed by the delegated
//!   `approvals` role without the targets key; `read_approvals` and `groups` read them.
//! - `resign`: every online role re-signed with new versions and expiry dates, and what every
//!   other writer does last; [`Lifetimes`] says how long each role stays valid.
//!   `resign_timestamp`, `resign_snapshot`, `resign_approvals`: one role and those above it,
//!   with only their keys (what a server's timer runs; `expiries` says which is due).
//! - `set_managed`, `managed`: the mark of a repository a wua server manages, whose approvals
//!   change only through the server.
//! - `compact`, `list`: the publisher's working catalog of packs.
//!
//! A change is written in the order a reader can never see half of, each file durably
//! (`wua_fs::write_atomic`): blobs, then the new pack version (a new, hash-named target), then
//! the versioned metadata files, and `timestamp.json` last: until it is replaced, readers see
//! the previous state, complete. Every shared file is written mode 0644 whatever the umask;
//! keys stay 0600 in a 0700 directory. Root changes are `crate::root`'s.

mod approve;
mod catalog;
mod init;
mod lock;
mod managed;
mod online;
mod publish;
mod sign;

pub use approve::{
    ApprovalChange, approve, approve_locked, approve_many, approve_many_locked, approve_many_locked_with, groups,
    read_approvals, unapprove, unapprove_locked, valid_group_name,
};
pub use catalog::{compact, compact_locked, list};
pub use init::{InitOptions, init};
pub use lock::RepoLock;
pub(crate) use lock::root_pending;
pub use managed::{
    DEFAULT_API_BASE, Managed, clear_managed_locked, ensure_unmanaged, is_managed, managed, set_managed,
    set_managed_locked,
};
pub use online::{
    Expiries, expiries, resign_approvals, resign_approvals_locked, resign_snapshot, resign_snapshot_locked,
    resign_timestamp, resign_timestamp_locked,
};
pub use publish::{
    add_blob, add_blob_locked, decline, decline_locked, publish, publish_documents, publish_documents_locked,
    publish_locked, revise, revise_locked,
};
pub use sign::{Lifetimes, resign, resign_locked};
pub(crate) use sign::{expires_in, sign_transition, write_shared};
