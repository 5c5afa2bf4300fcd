//! The update metadata document reader never panics; a document it accepts round-trips.
#![no_main]

use libfuzzer_sys::fuzz_target;
use wua_types::UpdateDocument;

fuzz_target!(|data: &[u8]| {
    if let Ok(doc) = UpdateDocument::from_json(data) {
        let json = serde_json::to_vec(&doc).expect("a parsed document serializes");
        let again = UpdateDocument::from_json(&json).expect("a written document reads back");
        assert_eq!(again, doc);
    }
});
