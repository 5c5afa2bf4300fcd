//! The rule evaluator never panics on any JSON rule, against an empty root.
#![no_main]

use libfuzzer_sys::fuzz_target;
use wua_catalog::{Machine, evaluate_rule};

fuzz_target!(|data: &[u8]| {
    if let Ok(rule) = serde_json::from_slice::<serde_json::Value>(data) {
        let root = std::env::temp_dir().join("wua-fuzz-empty-root");
        let _ = std::fs::create_dir_all(&root);
        let machine = Machine {
            root,
            arch: "x86_64".into(),
            kernel: "6.1.0".into(),
            installed_updates: Default::default(),
        };
        let _ = evaluate_rule(&rule, &machine);
    }
});
