//! Catalog packs: append-only files of JSON lines, the TUF targets of a wua repository.
//!
//! Each line is one entry: `{"document": <update metadata document>}` (a published revision) or
//! `{"declined": {"update_id": ..., "revision_number": ...}}` (no longer offered to new
//! installs). A new entry goes into the newest pack; a pack is sealed (never written again)
//! once it holds [`SEAL_ENTRIES`] entries or [`SEAL_BYTES`] bytes, so a refresh after a small
//! change fetches the newest pack and nothing else. A reader skips a line it does not
//! understand and reports it (D-42): one new kind of entry never breaks a catalog for older
//! agents.

use std::collections::BTreeSet;

use serde::{Deserialize, Serialize};
use wua_types::UpdateDocument;

/// A pack with this many entries is sealed.
pub const SEAL_ENTRIES: usize = 1000;
/// A pack of this many bytes is sealed.
pub const SEAL_BYTES: u64 = 4 * 1024 * 1024;

/// The TUF target name of pack number `n` (1-based). Names are flat (no `/`), so the
/// consistent-snapshot name `<sha256>.<name>` is the same for every TUF client.
pub fn target_name(n: u32) -> String {
    format!("pack-{n:06}.jsonl")
}

/// The number of a pack from its target name.
pub fn number(target: &str) -> Option<u32> {
    target.strip_prefix("pack-")?.strip_suffix(".jsonl")?.parse().ok()
}

/// One line of a pack.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PackEntry {
    /// A published revision.
    Document(Box<UpdateDocument>),
    /// A revision no longer offered to new installs.
    Declined {
        /// The update id.
        update_id: String,
        /// The revision.
        revision_number: i32,
    },
}

impl PackEntry {
    /// The line for this entry (JSON and a newline).
    pub fn line(&self) -> Result<String, serde_json::Error> {
        Ok(format!("{}\n", serde_json::to_string(self)?))
    }
}

/// What the packs of a catalog say, read in pack order.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Catalog {
    /// Every published revision, in publishing order.
    pub documents: Vec<UpdateDocument>,
    /// Declined revisions.
    pub declined: BTreeSet<(String, i32)>,
    /// Lines that were skipped (D-42), with where they were.
    pub warnings: Vec<String>,
}

impl Catalog {
    /// Adds the lines of one pack; `name` places skipped lines in warnings.
    pub fn add_pack(&mut self, name: &str, text: &str) {
        for (n, line) in text.lines().enumerate() {
            if line.trim().is_empty() {
                continue;
            }
            let where_ = format!("{name} line {}", n + 1);
            let value: serde_json::Value = match serde_json::from_str(line) {
                Ok(v) => v,
                Err(e) => {
                    self.warnings.push(format!("{where_}: not JSON: {e}"));
                    continue;
                }
            };
            if let Some(doc) = value.get("document") {
                // The document's own reader (validation, D-42's rules) on its JSON text.
                match UpdateDocument::from_json(doc.to_string().as_bytes()) {
                    Ok(doc) => self.documents.push(doc),
                    Err(e) => self.warnings.push(format!("{where_}: document skipped: {e}")),
                }
            } else if let Some(d) = value.get("declined") {
                let id = d.get("update_id").and_then(|v| v.as_str());
                let rev = d.get("revision_number").and_then(|v| v.as_i64()).and_then(|r| i32::try_from(r).ok());
                match (id, rev) {
                    (Some(id), Some(rev)) => {
                        self.declined.insert((id.to_owned(), rev));
                    }
                    _ => self.warnings.push(format!("{where_}: malformed decline skipped")),
                }
            } else {
                self.warnings.push(format!("{where_}: an entry of a kind this agent does not know was skipped"));
            }
        }
    }

    /// The newest revision of each update id that is not declined, in id order. Of two
    /// entries with the same revision (which `publish` refuses to write), the first read
    /// stays: a later pack cannot change a revision agents already read.
    pub fn offered(&self) -> Vec<&UpdateDocument> {
        let mut newest: std::collections::BTreeMap<&str, &UpdateDocument> = std::collections::BTreeMap::new();
        for doc in &self.documents {
            if self.declined.contains(&(doc.update_id.clone(), doc.revision_number)) {
                continue;
            }
            let slot = newest.entry(doc.update_id.as_str()).or_insert(doc);
            if doc.revision_number > slot.revision_number {
                *slot = doc;
            }
        }
        newest.into_values().collect()
    }

    /// The document of one revision, declined or not (an installed copy stays visible).
    pub fn document(&self, update_id: &str, revision_number: i32) -> Option<&UpdateDocument> {
        self.documents.iter().find(|d| d.update_id == update_id && d.revision_number == revision_number)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn doc(n: u32, revision: i32, title: &str) -> UpdateDocument {
        let json = serde_json::json!({
            "schema_version": 1,
            "update_id": format!("00000000-0000-4000-8000-{n:012x}"),
            "revision_number": revision,
            "title": title,
            "handler": {"kind": "files"},
        });
        UpdateDocument::from_json(json.to_string().as_bytes()).unwrap()
    }

    /// The newest revision that is not declined; of a repeated revision, the first read.
    #[test]
    fn offered_revisions() {
        let catalog = Catalog {
            documents: vec![
                doc(1, 1, "a1"),
                doc(1, 3, "a3"),
                doc(1, 2, "a2"),
                doc(1, 3, "a3 again"),
                doc(2, 1, "b1"),
                doc(2, 2, "b2"),
            ],
            declined: BTreeSet::from([(doc(2, 2, "b2").update_id, 2)]),
            warnings: Vec::new(),
        };
        let offered: Vec<&str> = catalog.offered().iter().map(|d| d.title.as_str()).collect();
        assert_eq!(offered, ["a3", "b1"]);
    }
}
