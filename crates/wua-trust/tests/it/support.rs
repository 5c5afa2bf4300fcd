//! The trust tests' machinery lives in `wua_test_support::trust`; re-exported here under the
//! names the test modules use.

pub(crate) use wua_test_support::trust::*;
pub(crate) use wua_test_support::{files_manifest, test_id, write_payload};
