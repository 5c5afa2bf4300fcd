//! The update metadata document: one JSON document per update revision.
//!
//! Unknown fields are ignored when read, so older agents read newer catalogs; an unknown
//! handler kind is kept as [`Handler::Unknown`] and fails only at install (D-42).
//! `docs/formats.md` documents every field with a complete example.

use serde::{Deserialize, Serialize};

use crate::enums::{InstallationImpact, InstallationRebootBehavior, UpdateType};
use crate::hresult::{HResult, WuError};

/// The schema version of a document that needs nothing newer than version 1 had: what this
/// build writes unless a document carries symbolic links.
pub const SCHEMA_VERSION: u32 = 1;

/// The schema version of a document with symbolic links in its content
/// ([`ContentEntry::link_target`]): agents that read only version 1 would place a link as a
/// file, so such a document says it needs version 2.
pub const SCHEMA_VERSION_LINKS: u32 = 2;

/// The highest schema version this agent reads. A document with a higher one is skipped with a
/// warning in a search and refused by `open_package` (`WUA_E_DOCUMENT_TOO_NEW`), never placed
/// by rules it does not know; within a version, unknown fields are ignored (D-42).
pub const MAX_SCHEMA_VERSION: u32 = SCHEMA_VERSION_LINKS;

/// The longest link target a document may carry (Linux's `PATH_MAX` less its NUL).
pub const MAX_LINK_TARGET: usize = 4095;

/// `IUpdateIdentity`: the update id (a UUID, lower case) and the revision number.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct UpdateIdentity {
    /// `UpdateID`.
    pub update_id: String,
    /// `RevisionNumber`.
    pub revision_number: i32,
}

impl std::fmt::Display for UpdateIdentity {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} rev {}", self.update_id, self.revision_number)
    }
}

/// One revision of an update, as published.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct UpdateDocument {
    /// The schema version the writer used.
    pub schema_version: u32,
    /// `UpdateID`: a UUID in its lower-case hyphenated form.
    pub update_id: String,
    /// `RevisionNumber`, at least 1.
    pub revision_number: i32,
    /// `Title`.
    pub title: String,
    /// `Description`.
    #[serde(default)]
    pub description: String,
    /// `KBArticleIDs`, without a "KB" prefix.
    #[serde(default)]
    pub kb_article_ids: Vec<String>,
    /// `MsrcSeverity`: "Critical", "Important", "Moderate", "Low" or empty.
    #[serde(default)]
    pub msrc_severity: String,
    /// `Categories`.
    #[serde(default)]
    pub categories: Vec<Category>,
    /// `Type`.
    #[serde(default = "default_type", rename = "type")]
    pub update_type: UpdateType,
    /// `InstallationBehavior`.
    #[serde(default)]
    pub installation_behavior: InstallationBehavior,
    /// `UninstallationBehavior`.
    #[serde(default)]
    pub uninstallation_behavior: InstallationBehavior,
    /// `IsMandatory`.
    #[serde(default)]
    pub is_mandatory: bool,
    /// `IsUninstallable`.
    #[serde(default = "default_true")]
    pub is_uninstallable: bool,
    /// `EulaText`; `None` when the update has no license terms.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub eula: Option<String>,
    /// `SupersededUpdateIDs`.
    #[serde(default)]
    pub superseded_update_ids: Vec<String>,
    /// `Deadline`, RFC 3339.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub deadline: Option<String>,
    /// `SupportUrl`.
    #[serde(default)]
    pub support_url: String,
    /// `ReleaseNotes`.
    #[serde(default)]
    pub release_notes: String,
    /// `UninstallationNotes`.
    #[serde(default)]
    pub uninstallation_notes: String,
    /// The installation handler and its data.
    pub handler: Handler,
    /// The content blobs.
    #[serde(default)]
    pub content: Vec<ContentEntry>,
    /// Applicability rules, kept as written until the rule evaluator reads them.
    #[serde(default)]
    pub applicability: Applicability,
}

fn default_type() -> UpdateType {
    UpdateType::Software
}

fn default_true() -> bool {
    true
}

impl UpdateDocument {
    /// The identity of this revision.
    pub fn identity(&self) -> UpdateIdentity {
        UpdateIdentity { update_id: self.update_id.clone(), revision_number: self.revision_number }
    }

    /// Parses a document from JSON and checks it: a schema newer than this agent reads is
    /// `WUA_E_DOCUMENT_TOO_NEW`, a malformed document `WUA_E_DOCUMENT_INVALID`.
    pub fn from_json(bytes: &[u8]) -> Result<Self, WuError> {
        let doc: UpdateDocument = serde_json::from_slice(bytes)
            .map_err(|e| WuError::new(HResult::WUA_E_DOCUMENT_INVALID, format!("update metadata document: {e}")))?;
        // A newer schema first: its rules, not this agent's checks, say what is valid.
        doc.check_schema_version()?;
        doc.validate()?;
        Ok(doc)
    }

    /// Structural checks every reader relies on: a UUID id, a positive revision, safe and
    /// unique content paths, well-formed hashes.
    pub fn validate(&self) -> Result<(), WuError> {
        let invalid = |what: String| {
            Err(WuError::new(HResult::WUA_E_DOCUMENT_INVALID, format!("update {}: {what}", self.update_id)))
        };
        if !is_uuid(&self.update_id) {
            return invalid(format!("update_id {:?} is not a lower-case UUID", self.update_id));
        }
        if self.revision_number < 1 {
            return invalid(format!("revision_number {} must be at least 1", self.revision_number));
        }
        if self.title.trim().is_empty() {
            return invalid("title is empty".into());
        }
        for id in &self.superseded_update_ids {
            if !is_uuid(id) {
                return invalid(format!("superseded update id {id:?} is not a lower-case UUID"));
            }
        }
        let links = self.content.iter().any(ContentEntry::is_link);
        if links && self.schema_version < SCHEMA_VERSION_LINKS {
            return invalid(format!(
                "it has symbolic links in its content but schema_version {} (links need {SCHEMA_VERSION_LINKS})",
                self.schema_version
            ));
        }
        if links && !matches!(self.handler, Handler::Files) {
            return invalid("symbolic links are content of the files handler only".into());
        }
        for entry in &self.content {
            if let Some(target) = &entry.link_target {
                if target.is_empty() || target.len() > MAX_LINK_TARGET || target.contains('\0') {
                    return invalid(format!(
                        "content {:?}: a link target must be 1 to {MAX_LINK_TARGET} bytes without NUL",
                        entry.path
                    ));
                }
            }
            if !is_sha256_hex(&entry.sha256) {
                return invalid(format!(
                    "content {:?}: sha256 {:?} is not 64 lower-case hex digits",
                    entry.path, entry.sha256
                ));
            }
            if entry.mode & !0o7777 != 0 {
                return invalid(format!("content {:?}: mode {:o} has bits beyond 07777", entry.path, entry.mode));
            }
        }
        if let Handler::Command(c) = &self.handler {
            // The programs run from the working directory that holds the content (D-41).
            for cmd in std::iter::once(c).chain(c.uninstall.as_deref()) {
                if let Err(e) = check_content_path(&cmd.program) {
                    return invalid(format!("command program: {}", e.message));
                }
            }
        }
        check_content_paths(self.content.iter().map(|e| e.path.as_str()))
            .map_err(|e| WuError::new(e.hresult, format!("update {}: {}", self.update_id, e.message)))
    }

    /// The total size of the content in bytes (what is downloaded: links carry none).
    pub fn content_size(&self) -> u64 {
        self.blobs().map(|e| e.size).sum()
    }

    /// The content entries that are blobs to fetch, cache and verify: every entry but links.
    pub fn blobs(&self) -> impl Iterator<Item = &ContentEntry> {
        self.content.iter().filter(|e| !e.is_link())
    }

    /// `WUA_E_DOCUMENT_TOO_NEW` when the document needs a schema newer than this agent reads
    /// ([`MAX_SCHEMA_VERSION`]): its content could not be placed by rules this agent knows.
    pub fn check_schema_version(&self) -> Result<(), WuError> {
        if self.schema_version <= MAX_SCHEMA_VERSION {
            return Ok(());
        }
        Err(WuError::new(
            HResult::WUA_E_DOCUMENT_TOO_NEW,
            format!(
                "update {} revision {} needs document schema {}; this agent reads up to {MAX_SCHEMA_VERSION}: \
                 update wua to install it",
                self.update_id, self.revision_number, self.schema_version
            ),
        ))
    }
}

/// `ICategory`, reduced to what documents carry.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Category {
    /// `CategoryID` (UUID).
    pub id: String,
    /// `Name`.
    pub name: String,
    /// `Type`, e.g. "UpdateClassification" or "Product".
    #[serde(default, rename = "type")]
    pub category_type: String,
}

/// `IInstallationBehavior`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct InstallationBehavior {
    /// `Impact`.
    pub impact: InstallationImpact,
    /// `RebootBehavior`.
    pub reboot_behavior: InstallationRebootBehavior,
    /// `CanRequestUserInput`.
    pub can_request_user_input: bool,
    /// `RequiresNetworkConnectivity`.
    pub requires_network_connectivity: bool,
}

impl Default for InstallationBehavior {
    fn default() -> Self {
        InstallationBehavior {
            impact: InstallationImpact::Normal,
            reboot_behavior: InstallationRebootBehavior::NeverReboots,
            can_request_user_input: false,
            requires_network_connectivity: false,
        }
    }
}

/// Applicability rules (architecture page, "Applicability"), carried as JSON expression trees;
/// `wua_catalog::rules` parses and evaluates them, so a rule kind this agent does not know
/// never breaks reading the document (D-42).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct Applicability {
    /// The rule that says whether the update is installed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub is_installed: Option<serde_json::Value>,
    /// The rule that says whether the update can be installed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub is_installable: Option<serde_json::Value>,
    /// Update ids that must be installed first.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub prerequisites: Vec<String>,
}

/// A content blob: its SHA-256 and size, where it goes and its mode.
///
/// For the `files` handler `path` is the target path under the root; for `command` it is the
/// path inside the program's working directory.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ContentEntry {
    /// SHA-256 of the bytes, 64 lower-case hex digits.
    pub sha256: String,
    /// Size in bytes.
    pub size: u64,
    /// Relative path, `/`-separated.
    pub path: String,
    /// Permission bits (`0o7777` at most), written in JSON as an octal string such as `"0644"`.
    #[serde(with = "octal_mode", default = "default_mode")]
    pub mode: u32,
    /// Owner uid to set; `None` keeps the agent's.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub uid: Option<u32>,
    /// Group gid to set; `None` keeps the agent's.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub gid: Option<u32>,
    /// A symbolic link instead of a file: its target, carried here (no blob). `sha256` and
    /// `size` are then those of the target's bytes, so an agent of schema version 1, which
    /// does not know this field, fails to fetch a blob rather than placing something wrong. A
    /// target is data: an absolute one names a path inside the root as the running system
    /// sees it, and wua never follows a link while planning or placing.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub link_target: Option<String>,
}

impl ContentEntry {
    /// Whether this entry is a symbolic link.
    pub fn is_link(&self) -> bool {
        self.link_target.is_some()
    }
}

fn default_mode() -> u32 {
    0o644
}

mod octal_mode {
    use serde::{Deserialize, Deserializer, Serializer};

    pub(super) fn serialize<S: Serializer>(mode: &u32, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&format!("{mode:04o}"))
    }

    pub(super) fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<u32, D::Error> {
        let text = String::deserialize(d)?;
        u32::from_str_radix(&text, 8).ok().filter(|m| *m <= 0o7777).ok_or_else(|| {
            serde::de::Error::custom(format!("mode {text:?} is not an octal permission such as \"0644\""))
        })
    }
}

/// The installation handler (`HandlerID`) with its data.
#[derive(Clone, Debug, PartialEq)]
pub enum Handler {
    /// Places files from the content under the root (crash-safe, journaled).
    Files,
    /// Runs a program from the content (WSUS `CommandLineInstallation` semantics).
    Command(CommandHandler),
    /// A handler this agent does not know: the document still parses; installing it fails
    /// with `WU_E_UH_UNKNOWNHANDLER` (D-42). The raw JSON is kept so it round-trips.
    Unknown(serde_json::Value),
}

impl Handler {
    /// The handler's kind as written in documents.
    pub fn kind(&self) -> &str {
        match self {
            Handler::Files => "files",
            Handler::Command(_) => "command",
            Handler::Unknown(v) => v.get("kind").and_then(|k| k.as_str()).unwrap_or("(none)"),
        }
    }
}

impl Serialize for Handler {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self {
            Handler::Files => serde_json::json!({ "kind": "files" }).serialize(s),
            Handler::Command(c) => {
                let mut v = serde_json::to_value(c).map_err(serde::ser::Error::custom)?;
                if let Some(map) = v.as_object_mut() {
                    map.insert("kind".into(), "command".into());
                }
                v.serialize(s)
            }
            Handler::Unknown(v) => v.serialize(s),
        }
    }
}

impl<'de> Deserialize<'de> for Handler {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let value = serde_json::Value::deserialize(d)?;
        match value.get("kind").and_then(|k| k.as_str()) {
            Some("files") => Ok(Handler::Files),
            Some("command") => serde_json::from_value(value).map(Handler::Command).map_err(serde::de::Error::custom),
            Some(_) => Ok(Handler::Unknown(value)),
            None => Err(serde::de::Error::custom("handler has no \"kind\"")),
        }
    }
}

/// The `command` handler's data (reference 12.1, decisions D-15, D-38, D-41).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct CommandHandler {
    /// The program, relative to the content directory.
    pub program: String,
    /// Its arguments.
    #[serde(default)]
    pub arguments: Vec<String>,
    /// The exit-code table.
    #[serde(default)]
    pub return_codes: Vec<ReturnCode>,
    /// Result for an exit code not in the table.
    #[serde(default = "default_result")]
    pub default_result: CommandResult,
    /// Reboot flag for an exit code not in the table.
    #[serde(default)]
    pub reboot_by_default: bool,
    /// Time limit in seconds (default one hour, D-41).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub time_limit_secs: Option<u64>,
    /// Seconds the program's process group has between SIGTERM and SIGKILL when the agent
    /// terminates it (abort, time limit; D-23). `None` takes the agent's setting; on an
    /// uninstall command, `None` takes the install command's value first. Agents that predate
    /// the field ignore it (D-42) and use their own grace.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub terminate_grace_secs: Option<u64>,
    /// The optional uninstall command.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub uninstall: Option<Box<CommandHandler>>,
}

impl CommandHandler {
    /// The time limit when the metadata gives none: one hour (D-41).
    pub(crate) const DEFAULT_TIME_LIMIT_SECS: u64 = 3600;

    /// The longest grace between SIGTERM and SIGKILL metadata may ask for (one hour): a
    /// manifest asking for more is refused when it is built.
    pub const MAX_TERMINATE_GRACE_SECS: u64 = 3600;

    /// Maps an exit code through the table; an unlisted code takes the defaults (D-15).
    ///
    /// An exit status on Linux has 8 bits, so a table code outside 0..=255 (Windows' 3010 and
    /// 1641) matches the status it truncates to (194 and 105) when no row has that status
    /// itself.
    pub fn map_exit_code(&self, code: i32) -> (CommandResult, bool) {
        let exact = self.return_codes.iter().find(|r| r.code == code);
        let truncated = || self.return_codes.iter().find(|r| !(0..=255).contains(&r.code) && r.code & 0xFF == code);
        match exact.or_else(truncated) {
            Some(row) => (row.result, row.reboot),
            None => (self.default_result, self.reboot_by_default),
        }
    }

    /// The time limit in seconds.
    pub fn time_limit_secs(&self) -> u64 {
        self.time_limit_secs.unwrap_or(Self::DEFAULT_TIME_LIMIT_SECS)
    }

    /// The grace the metadata asks for when the agent terminates this command's program
    /// (D-23), if it asks: its own `terminate_grace_secs`, else `install`'s (the update's
    /// value, when this is its uninstall command; pass `None` for the install command itself).
    /// A value past [`Self::MAX_TERMINATE_GRACE_SECS`] counts as that bound: documents are
    /// not rejected over it (a later agent may allow more, D-42), and the bound keeps a
    /// document from holding an abort for longer.
    pub fn terminate_grace(&self, install: Option<&CommandHandler>) -> Option<std::time::Duration> {
        let secs = self.terminate_grace_secs.or_else(|| install.and_then(|i| i.terminate_grace_secs))?;
        Some(std::time::Duration::from_secs(secs.min(Self::MAX_TERMINATE_GRACE_SECS)))
    }
}

fn default_result() -> CommandResult {
    CommandResult::Failed
}

/// One row of a command's exit-code table.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReturnCode {
    /// The exit code.
    pub code: i32,
    /// What it means.
    pub result: CommandResult,
    /// Whether it asks for a reboot.
    #[serde(default)]
    pub reboot: bool,
    /// Optional text for people.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
}

/// A mapped command outcome (WSUS `Result`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum CommandResult {
    /// The command succeeded.
    Succeeded,
    /// The command failed.
    Failed,
    /// The command was cancelled.
    Cancelled,
}

/// True for a lower-case hyphenated UUID (`8-4-4-4-12` hex digits).
pub fn is_uuid(text: &str) -> bool {
    let b = text.as_bytes();
    b.len() == 36
        && b.iter().enumerate().all(|(i, c)| match i {
            8 | 13 | 18 | 23 => *c == b'-',
            _ => c.is_ascii_digit() || (b'a'..=b'f').contains(c),
        })
}

/// True for 64 lower-case hex digits.
pub fn is_sha256_hex(text: &str) -> bool {
    text.len() == 64 && text.bytes().all(|c| c.is_ascii_digit() || (b'a'..=b'f').contains(&c))
}

/// The directory, relative to a target root, where wua keeps its own files (D-8). No update
/// may place content there.
pub const RESERVED_ROOT_DIR: &str = "var/lib/wua";

/// Checks one content path: relative, `/`-separated, no empty, `.` or `..` component, no NUL,
/// not under [`RESERVED_ROOT_DIR`].
pub(crate) fn check_content_path(path: &str) -> Result<(), WuError> {
    let unsafe_path =
        |why: &str| Err(WuError::new(HResult::WUA_E_PACKAGE_UNSAFE_PATH, format!("content path {path:?} {why}")));
    if path.is_empty() {
        return unsafe_path("is empty");
    }
    if path.starts_with('/') {
        return unsafe_path("is absolute");
    }
    if path.contains('\0') {
        return unsafe_path("contains a NUL byte");
    }
    if path.contains('\\') {
        return unsafe_path("contains a backslash");
    }
    for part in path.split('/') {
        match part {
            "" => return unsafe_path("has an empty component"),
            "." => return unsafe_path("has a '.' component"),
            ".." => return unsafe_path("has a '..' component (path traversal)"),
            _ => {}
        }
    }
    if path == RESERVED_ROOT_DIR || path.starts_with(&format!("{RESERVED_ROOT_DIR}/")) {
        return unsafe_path("is under var/lib/wua, which is reserved for wua's own files");
    }
    Ok(())
}

/// Checks a set of content paths: each safe, none twice, and none used both as a file and as a
/// directory (`a` and `a/b`).
pub(crate) fn check_content_paths<'a>(paths: impl IntoIterator<Item = &'a str>) -> Result<(), WuError> {
    let mut files = std::collections::BTreeSet::new();
    for path in paths {
        check_content_path(path)?;
        if !files.insert(path) {
            return Err(WuError::new(
                HResult::WUA_E_PACKAGE_DUPLICATE_PATH,
                format!("content path {path:?} appears twice"),
            ));
        }
    }
    // In sorted order a directory prefix `a/` sorts right after `a` and before `a/b`, but other
    // names (`a-b`, `a.b`) may come between, so check every ancestor explicitly.
    for path in &files {
        let mut end = 0;
        while let Some(pos) = path[end..].find('/') {
            end += pos;
            let ancestor = &path[..end];
            if files.contains(ancestor) {
                return Err(WuError::new(
                    HResult::WUA_E_PACKAGE_PATH_CONFLICT,
                    format!("{ancestor:?} is a file, but {path:?} needs it to be a directory"),
                ));
            }
            end += 1;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// D-45: a link entry needs schema 2 and the files handler, and a well-formed target; a
    /// schema past this agent's is `WUA_E_DOCUMENT_TOO_NEW`, before any other check.
    #[test]
    fn d45_link_entries_and_schema_versions() {
        let with_link = |schema: u32, target: &str| {
            let mut d = doc();
            d.schema_version = schema;
            d.content.push(ContentEntry {
                sha256: "b".repeat(64),
                size: target.len() as u64,
                path: "etc/link".into(),
                mode: 0o777,
                uid: None,
                gid: None,
                link_target: Some(target.into()),
            });
            d
        };
        with_link(SCHEMA_VERSION_LINKS, "x.conf").validate().unwrap();
        let code = |d: UpdateDocument| d.validate().unwrap_err().hresult;
        assert_eq!(code(with_link(SCHEMA_VERSION, "x.conf")), HResult::WUA_E_DOCUMENT_INVALID);
        assert_eq!(code(with_link(SCHEMA_VERSION_LINKS, "")), HResult::WUA_E_DOCUMENT_INVALID);
        assert_eq!(
            code(with_link(SCHEMA_VERSION_LINKS, &"a".repeat(MAX_LINK_TARGET + 1))),
            HResult::WUA_E_DOCUMENT_INVALID
        );
        assert_eq!(code(with_link(SCHEMA_VERSION_LINKS, "a\0b")), HResult::WUA_E_DOCUMENT_INVALID);
        let mut command = with_link(SCHEMA_VERSION_LINKS, "x");
        command.handler = Handler::Command(serde_json::from_value(serde_json::json!({"program": "run.sh"})).unwrap());
        assert_eq!(code(command), HResult::WUA_E_DOCUMENT_INVALID);
        // The blobs leave links out.
        let d = with_link(SCHEMA_VERSION_LINKS, "x.conf");
        assert_eq!(d.blobs().count(), 1);
        assert_eq!(d.content_size(), 3);
        // A newer schema: refused by its version, whatever else it holds.
        let mut newer = with_link(MAX_SCHEMA_VERSION + 1, "");
        newer.title = String::new();
        assert_eq!(newer.check_schema_version().unwrap_err().hresult, HResult::WUA_E_DOCUMENT_TOO_NEW);
        let json = serde_json::to_vec(&newer).unwrap();
        assert_eq!(UpdateDocument::from_json(&json).unwrap_err().hresult, HResult::WUA_E_DOCUMENT_TOO_NEW);
    }

    fn doc() -> UpdateDocument {
        UpdateDocument {
            schema_version: SCHEMA_VERSION,
            update_id: "5f3c8a52-2d1e-4c3b-9a7f-0e6d5c4b3a21".into(),
            revision_number: 1,
            title: "Sample".into(),
            description: String::new(),
            kb_article_ids: vec![],
            msrc_severity: String::new(),
            categories: vec![],
            update_type: UpdateType::Software,
            installation_behavior: InstallationBehavior::default(),
            uninstallation_behavior: InstallationBehavior::default(),
            is_mandatory: false,
            is_uninstallable: true,
            eula: None,
            superseded_update_ids: vec![],
            deadline: None,
            support_url: String::new(),
            release_notes: String::new(),
            uninstallation_notes: String::new(),
            handler: Handler::Files,
            content: vec![ContentEntry {
                sha256: "a".repeat(64),
                size: 3,
                path: "etc/x.conf".into(),
                mode: 0o600,
                uid: None,
                gid: None,
                link_target: None,
            }],
            applicability: Applicability::default(),
        }
    }

    #[test]
    fn round_trips_and_writes_octal_modes() {
        let d = doc();
        let json = serde_json::to_string(&d).unwrap();
        assert!(json.contains("\"mode\":\"0600\""), "{json}");
        assert_eq!(UpdateDocument::from_json(json.as_bytes()).unwrap(), d);
    }

    /// D-42: a new field is ignored and an unknown handler still parses.
    #[test]
    fn d42_forward_compatible_reading() {
        let mut v = serde_json::to_value(doc()).unwrap();
        v["a_field_from_the_future"] = serde_json::json!({"x": 1});
        v["handler"] = serde_json::json!({"kind": "flatpak", "ref": "org.example.App"});
        let d: UpdateDocument = serde_json::from_value(v).unwrap();
        assert_eq!(d.handler.kind(), "flatpak");
        let again = serde_json::to_value(&d).unwrap();
        assert_eq!(again["handler"]["ref"], "org.example.App");
    }

    /// D-15: listed codes map by the table, unlisted ones by the defaults.
    #[test]
    fn d15_exit_code_table() {
        let row = |code, result, reboot| ReturnCode { code, result, reboot, description: None };
        let mut c = CommandHandler {
            program: "setup".into(),
            arguments: vec![],
            return_codes: vec![
                row(0, CommandResult::Succeeded, false),
                row(3010, CommandResult::Succeeded, true),
                row(1641, CommandResult::Succeeded, true),
                row(1602, CommandResult::Cancelled, false),
            ],
            default_result: CommandResult::Failed,
            reboot_by_default: false,
            time_limit_secs: None,
            terminate_grace_secs: None,
            uninstall: None,
        };
        assert_eq!(c.map_exit_code(0), (CommandResult::Succeeded, false));
        assert_eq!(c.map_exit_code(3010), (CommandResult::Succeeded, true));
        assert_eq!(c.map_exit_code(1641), (CommandResult::Succeeded, true));
        assert_eq!(c.map_exit_code(1602), (CommandResult::Cancelled, false));
        assert_eq!(c.map_exit_code(7), (CommandResult::Failed, false));
        // What exit(3010) and exit(1641) leave of those codes on Linux.
        assert_eq!(c.map_exit_code(194), (CommandResult::Succeeded, true));
        assert_eq!(c.map_exit_code(105), (CommandResult::Succeeded, true));
        c.return_codes.push(row(194, CommandResult::Failed, false));
        assert_eq!(c.map_exit_code(194), (CommandResult::Failed, false), "an exact row wins");
        c.return_codes.pop();
        assert_eq!(c.time_limit_secs(), 3600);
        c.default_result = CommandResult::Succeeded;
        c.reboot_by_default = true;
        assert_eq!(c.map_exit_code(7), (CommandResult::Succeeded, true));
    }

    fn command(grace: Option<u64>, uninstall: Option<CommandHandler>) -> CommandHandler {
        CommandHandler {
            program: "run.sh".into(),
            arguments: vec![],
            return_codes: vec![],
            default_result: CommandResult::Failed,
            reboot_by_default: false,
            time_limit_secs: None,
            terminate_grace_secs: grace,
            uninstall: uninstall.map(Box::new),
        }
    }

    /// D-42, D-23: `terminate_grace_secs` is optional (absent: the agent decides, and it is
    /// not written), round-trips, and a handler key this build does not know is ignored, which
    /// is how an agent older than `terminate_grace_secs` reads a document carrying it.
    #[test]
    fn d42_terminate_grace_is_optional_and_forward_compatible() {
        let mut d = doc();
        d.handler = Handler::Command(command(None, None));
        let v = serde_json::to_value(&d).unwrap();
        assert!(v["handler"].get("terminate_grace_secs").is_none(), "{v}");
        d.handler = Handler::Command(command(Some(30), Some(command(Some(5), None))));
        let json = serde_json::to_string(&d).unwrap();
        assert_eq!(UpdateDocument::from_json(json.as_bytes()).unwrap(), d);
        let mut v = serde_json::to_value(&d).unwrap();
        assert_eq!(
            (&v["handler"]["terminate_grace_secs"], &v["handler"]["uninstall"]["terminate_grace_secs"]),
            (&30.into(), &5.into())
        );
        v["handler"]["a_handler_key_from_the_future"] = serde_json::json!(1);
        v["handler"]["uninstall"]["another_one"] = serde_json::json!("x");
        let again = UpdateDocument::from_json(v.to_string().as_bytes()).unwrap();
        assert_eq!(again, d);
    }

    /// D-23: the grace the metadata asks for: a command's own value, else (for an uninstall
    /// command) the install command's, else none; bounded by the maximum.
    #[test]
    fn d23_terminate_grace_from_metadata() {
        use std::time::Duration;
        let secs = Duration::from_secs;
        let install = command(Some(30), None);
        assert_eq!(install.terminate_grace(None), Some(secs(30)));
        assert_eq!(command(None, None).terminate_grace(None), None);
        assert_eq!(command(None, None).terminate_grace(Some(&install)), Some(secs(30)), "inherited");
        assert_eq!(command(Some(0), None).terminate_grace(Some(&install)), Some(secs(0)), "its own wins");
        assert_eq!(command(None, None).terminate_grace(Some(&command(None, None))), None);
        let max = CommandHandler::MAX_TERMINATE_GRACE_SECS;
        assert_eq!(command(Some(u64::MAX), None).terminate_grace(None), Some(secs(max)), "bounded");
        assert_eq!(command(Some(max), None).terminate_grace(None), Some(secs(max)));
    }

    /// `validate` at the edges of each rule: the first valid revision number, superseded ids,
    /// a link target of the longest length allowed.
    #[test]
    fn validate_at_the_edges() {
        let code = |d: &UpdateDocument| d.validate().map_err(|e| e.hresult);
        let mut d = doc();
        for (revision, valid) in [(i32::MIN, false), (0, false), (1, true), (2, true), (i32::MAX, true)] {
            d.revision_number = revision;
            assert_eq!(code(&d).is_ok(), valid, "revision {revision}");
        }
        d.revision_number = 1;
        d.superseded_update_ids = vec!["0a3c8a52-2d1e-4c3b-9a7f-0e6d5c4b3a21".into()];
        d.validate().unwrap();
        d.superseded_update_ids.push("0A3C8A52-2D1E-4C3B-9A7F-0E6D5C4B3A22".into());
        assert_eq!(code(&d), Err(HResult::WUA_E_DOCUMENT_INVALID), "ids are lower case");
        d.superseded_update_ids.clear();
        d.schema_version = SCHEMA_VERSION_LINKS;
        d.content.push(ContentEntry {
            sha256: "b".repeat(64),
            size: 1,
            path: "etc/link".into(),
            mode: 0o777,
            uid: None,
            gid: None,
            link_target: Some("a".repeat(MAX_LINK_TARGET)),
        });
        d.validate().unwrap();
    }

    /// The id and hash syntax: lower-case hexadecimal of the exact length, hyphens where a UUID
    /// has them.
    #[test]
    fn uuid_and_sha256_syntax() {
        let uuid = "0a3c8a52-2d1e-4c3b-9a7f-0e6d5c4b3a21";
        assert!(is_uuid(uuid));
        for bad in [
            "",
            "abc",
            "0a3c8a52",
            &uuid[..35],
            &format!("{uuid}0"),
            &uuid.replace('-', "0"),
            &uuid.to_uppercase(),
            &uuid.replace('a', "g"),
        ] {
            assert!(!is_uuid(bad), "{bad:?}");
        }
        let hash = "0123456789abcdef".repeat(4);
        assert!(is_sha256_hex(&hash));
        for bad in ["", "ab", &hash[..63], &format!("{hash}0"), &hash.to_uppercase(), &hash.replace('a', "g")] {
            assert!(!is_sha256_hex(bad), "{bad:?}");
        }
    }

    /// What a document may leave out: an update is uninstallable and a file's mode is 0644
    /// unless the document says otherwise; an identity reads as WUA's logs write it.
    #[test]
    fn defaults_of_an_omitted_field() {
        let mut d = doc();
        d.content[0].mode = 0o600;
        d.is_uninstallable = false;
        let mut json = serde_json::to_value(&d).unwrap();
        json.as_object_mut().unwrap().remove("is_uninstallable");
        json["content"][0].as_object_mut().unwrap().remove("mode");
        let read = UpdateDocument::from_json(&serde_json::to_vec(&json).unwrap()).unwrap();
        assert!(read.is_uninstallable);
        assert_eq!(read.content[0].mode, 0o644);
        let identity = UpdateIdentity { update_id: d.update_id.clone(), revision_number: 7 };
        assert_eq!(identity.to_string(), format!("{} rev 7", d.update_id));
    }

    #[test]
    fn rejects_bad_identity_and_paths() {
        let mut d = doc();
        d.update_id = "not-a-uuid".into();
        assert_eq!(d.validate().unwrap_err().hresult, HResult::WUA_E_DOCUMENT_INVALID);
        for (bad, code) in [
            ("../etc/passwd", HResult::WUA_E_PACKAGE_UNSAFE_PATH),
            ("/etc/passwd", HResult::WUA_E_PACKAGE_UNSAFE_PATH),
            ("a//b", HResult::WUA_E_PACKAGE_UNSAFE_PATH),
            ("a/./b", HResult::WUA_E_PACKAGE_UNSAFE_PATH),
            ("var/lib/wua/state.db", HResult::WUA_E_PACKAGE_UNSAFE_PATH),
        ] {
            assert_eq!(check_content_path(bad).unwrap_err().hresult, code, "{bad}");
        }
        assert!(check_content_path("var/lib/wuax").is_ok());
        assert_eq!(check_content_paths(["a/b", "a/b"]).unwrap_err().hresult, HResult::WUA_E_PACKAGE_DUPLICATE_PATH);
        assert_eq!(check_content_paths(["a", "a-b", "a/b"]).unwrap_err().hresult, HResult::WUA_E_PACKAGE_PATH_CONFLICT);
        assert!(check_content_paths(["a/b", "a/c", "ab"]).is_ok());
    }
}
