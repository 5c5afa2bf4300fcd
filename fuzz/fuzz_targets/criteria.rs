//! The search-criteria parser never panics, and what it accepts it accepts again when the
//! same text is parsed twice (no hidden state).
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(text) = std::str::from_utf8(data) {
        let first = wua_catalog::parse_criteria(text);
        let again = wua_catalog::parse_criteria(text);
        assert_eq!(first.is_ok(), again.is_ok());
        let escaped = wua_catalog::escape_string(text);
        let _ = wua_catalog::parse_criteria(&format!("UpdateID = {escaped}"));
    }
});
