//! docs/decisions.md is the record of the decisions the code cites: every `D-n` named in a
//! `.rs` file anywhere under `crates/` has an entry there, a line starting with `- D-n `.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

const WORKSPACE: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../..");

/// The decision ids cited in `text`: `D-` followed by digits, not preceded by a letter, digit or
/// `_` (so a GUID whose hex digits end in a `D` before a dash is not a citation). The digits are taken whole, so
/// `D-12` is 12, never 1.
fn cited_ids(text: &str) -> Vec<u32> {
    let bytes = text.as_bytes();
    let mut ids = Vec::new();
    let mut i = 0;
    while let Some(at) = text[i..].find("D-").map(|p| p + i) {
        i = at + 2;
        if at > 0 && (bytes[at - 1].is_ascii_alphanumeric() || bytes[at - 1] == b'_') {
            continue;
        }
        let digits = text[i..].bytes().take_while(u8::is_ascii_digit).count();
        if digits > 0 {
            if let Ok(n) = text[i..i + digits].parse() {
                ids.push(n);
            }
            i += digits;
        }
    }
    ids
}

/// The ids that have an entry in the document: lines starting with `- D-n ` (the digits, then
/// a space), each id with the number of entries it has.
fn entry_ids(doc: &str) -> BTreeMap<u32, usize> {
    let mut entries = BTreeMap::new();
    for line in doc.lines() {
        let Some(rest) = line.strip_prefix("- D-") else { continue };
        let digits = rest.bytes().take_while(u8::is_ascii_digit).count();
        if digits > 0 && rest[digits..].starts_with(' ') {
            if let Ok(n) = rest[..digits].parse() {
                *entries.entry(n).or_insert(0) += 1;
            }
        }
    }
    entries
}

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display())) {
        let path = entry.unwrap().path();
        let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("");
        if path.is_dir() {
            if !name.starts_with('.') && name != "target" {
                rust_files(&path, out);
            }
        } else if name.ends_with(".rs") {
            out.push(path);
        }
    }
}

#[test]
fn every_cited_decision_has_an_entry_in_docs_decisions_md() {
    let crates = Path::new(WORKSPACE).join("crates");
    let mut files = Vec::new();
    rust_files(&crates, &mut files);
    files.sort();
    // Where each id is first cited, for the failure message.
    let mut cited: BTreeMap<u32, PathBuf> = BTreeMap::new();
    for file in &files {
        let text = std::fs::read_to_string(file).unwrap_or_else(|e| panic!("{}: {e}", file.display()));
        for id in cited_ids(&text) {
            cited.entry(id).or_insert_with(|| file.strip_prefix(WORKSPACE).unwrap_or(file).to_path_buf());
        }
    }
    assert!(files.len() > 50 && cited.len() > 10, "the walk of {} found too little", crates.display());

    let doc_path = Path::new(WORKSPACE).join("docs/decisions.md");
    let doc = std::fs::read_to_string(&doc_path).unwrap_or_else(|e| panic!("{}: {e}", doc_path.display()));
    let entries = entry_ids(&doc);

    let missing: Vec<String> = cited
        .iter()
        .filter(|(id, _)| !entries.contains_key(id))
        .map(|(id, file)| format!("D-{id} (cited in {})", file.display()))
        .collect();
    assert!(
        missing.is_empty(),
        "docs/decisions.md has no entry (a line starting with `- D-n `) for {} cited id(s): {}",
        missing.len(),
        missing.join(", ")
    );
    let twice: Vec<String> = entries.iter().filter(|(_, n)| **n > 1).map(|(id, _)| format!("D-{id}")).collect();
    assert!(twice.is_empty(), "docs/decisions.md has more than one entry for: {}", twice.join(", "));
}

#[test]
fn citations_and_entries_are_matched_whole() {
    // D-1 is not a prefix match for D-12, in citations or in entries.
    assert_eq!(cited_ids("see D-12 and D-6..D-10; (D-1)"), [12, 6, 10, 1]);
    assert_eq!(cited_ids(concat!("const CAT: &str = \"0FA1201D", "-4330\"; XD-2 _D-3")), Vec::<u32>::new());
    let doc = "- D-1 one\n- D-12 twelve\n- D-3x not an entry\n  - D-4 indented\n## D-5 heading\n";
    let entries = entry_ids(doc);
    assert_eq!(entries.keys().copied().collect::<BTreeSet<u32>>(), BTreeSet::from([1, 12]));
    assert!(!entry_ids("- D-12 twelve\n").contains_key(&1));
    assert!(!entry_ids("- D-1 one\n").contains_key(&12));
}
