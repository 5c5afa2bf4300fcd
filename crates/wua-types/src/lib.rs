//! The vocabulary of wua: the Windows Update Agent object model's data types, with no I/O.
//!
//! - [`HResult`] and [`WuError`]: WUA's status codes (exact values) and wua's own block;
//!   every error in wua carries one (decisions D-2).
//! - WUA's enumerations with their numeric values ([`OperationResultCode`], ...).
//! - [`UpdateDocument`]: the metadata document of one update revision (JSON, forward
//!   compatible), with its [`Handler`] and [`ContentEntry`] list.
//! - [`Update`] and [`UpdateCollection`]: `IUpdate` and `IUpdateCollection` (one collection type
//!   with a read-only flag, D-33).
//! - [`InstallationResult`], [`InstallationProgress`], [`UpdateHistoryEntry`]: what
//!   operations return and record; [`InstallationResult::aggregate`] is D-3;
//!   [`AutomaticUpdatesResults`]: the last successful search and installation.
//! - [`api`]: the `wua server` API's request, response and report types, shared by agent and
//!   server.
//! - [`lock_unpoisoned`]: mutex-poison recovery, the one place wua takes a poisoned lock's data.
//! - [`is_uuid`], [`is_sha256_hex`], [`RESERVED_ROOT_DIR`]: the identifier rules and the
//!   reserved directory every crate checks against.

pub mod api;
mod document;
mod enums;
mod hresult;
mod result;
mod sync;
mod update;

pub use document::{
    Applicability, Category, CommandHandler, CommandResult, ContentEntry, Handler, InstallationBehavior,
    MAX_LINK_TARGET, MAX_SCHEMA_VERSION, RESERVED_ROOT_DIR, ReturnCode, SCHEMA_VERSION, SCHEMA_VERSION_LINKS,
    UpdateDocument, UpdateIdentity, is_sha256_hex, is_uuid,
};
pub use enums::*;
pub use hresult::{HResult, WuError};
pub use result::{
    AutomaticUpdatesResults, DownloadResult, InstallationProgress, InstallationResult, Origin, SearchResult,
    UpdateDownloadResult, UpdateException, UpdateHistoryEntry, UpdateInstallationResult,
};
pub use sync::{lock_unpoisoned, wait_unpoisoned};
pub use update::{Update, UpdateCollection, UpdateFlags, UpdateStateSink};

#[cfg(test)]
mod collection_tests {
    use super::*;

    fn update(title: &str) -> Update {
        let mut doc: UpdateDocument = serde_json::from_value(serde_json::json!({
            "schema_version": 1,
            "update_id": "5f3c8a52-2d1e-4c3b-9a7f-0e6d5c4b3a21",
            "revision_number": 1,
            "title": title,
            "handler": {"kind": "files"},
        }))
        .unwrap();
        doc.is_mandatory = title == "mandatory";
        Update::detached(doc)
    }

    /// D-33: read-only collections refuse every change; writable ones index-check.
    #[test]
    fn d33_collection_rules() {
        let mut ro = UpdateCollection::read_only_from(vec![update("a")]);
        assert!(ro.read_only());
        assert_eq!(ro.add(update("b")).unwrap_err().hresult, HResult::WU_E_NOT_SUPPORTED);
        assert_eq!(ro.insert(0, update("b")).unwrap_err().hresult, HResult::WU_E_NOT_SUPPORTED);
        assert_eq!(ro.remove_at(0).unwrap_err().hresult, HResult::WU_E_NOT_SUPPORTED);
        assert_eq!(ro.clear().unwrap_err().hresult, HResult::WU_E_NOT_SUPPORTED);
        let mut rw = ro.copy();
        assert!(!rw.read_only());
        assert_eq!(rw.insert(1, update("end")).map(|_| rw.count()), Ok(2));
        assert_eq!(rw.insert(3, update("x")).unwrap_err().hresult, HResult::WU_E_INVALIDINDEX);
        assert_eq!(rw.insert(-1, update("x")).unwrap_err().hresult, HResult::WU_E_INVALIDINDEX);
        assert_eq!(rw.remove_at(2).unwrap_err().hresult, HResult::WU_E_INVALIDINDEX);
        assert_eq!(rw.item(5).unwrap_err().hresult, HResult::WU_E_INVALIDINDEX);
        assert_eq!(rw.add(update("c")), Ok(2));
        // Shallow: the copy holds the same update objects.
        rw.item(0).unwrap().accept_eula().unwrap();
        assert_eq!(ro.count(), 1);
    }

    /// D-14: no EULA means accepted. D-36: a mandatory update cannot be hidden.
    #[test]
    fn d14_d36_flags() {
        let u = update("a");
        assert!(u.eula_accepted());
        u.set_is_hidden(true).unwrap();
        assert!(u.is_hidden());
        let m = update("mandatory");
        assert_eq!(m.set_is_hidden(true).unwrap_err().hresult, HResult::WU_E_DS_DECLINENOTALLOWED);
        assert!(m.set_is_hidden(false).is_ok());
    }

    /// D-27: an approval's deadline wins over the document's, and counts for D-36; the
    /// document itself is left as published.
    #[test]
    fn d27_an_approval_deadline_overrides_the_document() {
        let u = update("a");
        assert_eq!(u.deadline(), None);
        let d = u.with_deadline("2030-01-01T00:00:00Z");
        assert_eq!(d.deadline(), Some("2030-01-01T00:00:00Z"));
        assert_eq!(d.document().deadline, None);
        assert_eq!(d.set_is_hidden(true).unwrap_err().hresult, HResult::WU_E_DS_DECLINENOTALLOWED);
        assert_eq!(u.deadline(), None, "the original handle keeps its own");
    }
}
