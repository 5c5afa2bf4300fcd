//! The TOML publishing manifest: everything of an update document except its content list,
//! which comes from the payload directory.

use std::collections::BTreeMap;
use std::path::Path;

use serde::Deserialize;
use wua_catalog::{RULE_KINDS, RuleError};
use wua_types::{
    Applicability, Category, CommandHandler, ContentEntry, Handler, InstallationBehavior, SCHEMA_VERSION,
    SCHEMA_VERSION_LINKS, UpdateDocument, UpdateType,
};

use crate::error::PackageError;

/// A parsed manifest. `docs/formats.md` has a complete example.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Manifest {
    /// Identity and descriptive fields.
    pub update: ManifestUpdate,
    /// `InstallationBehavior`.
    #[serde(default)]
    pub installation_behavior: InstallationBehavior,
    /// `UninstallationBehavior`.
    #[serde(default)]
    pub uninstallation_behavior: InstallationBehavior,
    /// The handler: `kind = "files"` or `kind = "command"` with its data.
    pub handler: toml::Value,
    /// Applicability rules (carried into the document as JSON).
    #[serde(default)]
    pub applicability: Option<toml::Value>,
    /// Per-path overrides of what the payload directory says (mode, owner).
    #[serde(default)]
    pub content: BTreeMap<String, ContentOverride>,
}

/// The `[update]` table.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ManifestUpdate {
    /// `UpdateID` (lower-case UUID).
    pub id: String,
    /// `RevisionNumber` (default 1).
    #[serde(default = "one")]
    pub revision: i32,
    /// `Title`.
    pub title: String,
    /// `Description`.
    #[serde(default)]
    pub description: String,
    /// `KBArticleIDs`.
    #[serde(default)]
    pub kb_article_ids: Vec<String>,
    /// `MsrcSeverity`.
    #[serde(default)]
    pub msrc_severity: String,
    /// `Type`: "Software" or "Driver".
    #[serde(default = "software", rename = "type")]
    pub update_type: UpdateType,
    /// `IsMandatory`.
    #[serde(default)]
    pub is_mandatory: bool,
    /// `IsUninstallable` (default true).
    #[serde(default = "yes")]
    pub is_uninstallable: bool,
    /// License text inline.
    #[serde(default)]
    pub eula: Option<String>,
    /// License text from a file, relative to the manifest.
    #[serde(default)]
    pub eula_file: Option<String>,
    /// `SupersededUpdateIDs`.
    #[serde(default)]
    pub superseded_update_ids: Vec<String>,
    /// `Deadline`, RFC 3339.
    #[serde(default)]
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
    /// `Categories`.
    #[serde(default)]
    pub categories: Vec<Category>,
}

/// A `[content."path"]` table.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ContentOverride {
    /// Permission bits as an octal string, e.g. "0755".
    pub mode: Option<String>,
    /// Owner uid.
    pub uid: Option<u32>,
    /// Group gid.
    pub gid: Option<u32>,
}

fn one() -> i32 {
    1
}
fn yes() -> bool {
    true
}
fn software() -> UpdateType {
    UpdateType::Software
}

impl Manifest {
    /// Reads and parses a manifest file.
    pub fn load(path: &Path) -> Result<Self, PackageError> {
        let text = fs_err::read_to_string(path).map_err(|e| PackageError::io(path, e))?;
        Self::parse(&text, path)
    }

    /// Parses manifest text; `path` names it in errors.
    pub fn parse(text: &str, path: &Path) -> Result<Self, PackageError> {
        toml::from_str(text).map_err(|e| PackageError::Manifest { path: path.into(), detail: e.to_string() })
    }

    /// Builds the update document from this manifest and a content list; `manifest_dir`
    /// resolves `eula_file`.
    pub fn to_document(
        &self,
        manifest_path: &Path,
        mut content: Vec<ContentEntry>,
    ) -> Result<UpdateDocument, PackageError> {
        let bad = |detail: String| PackageError::Manifest { path: manifest_path.into(), detail };
        let u = &self.update;
        let eula = match (&u.eula, &u.eula_file) {
            (Some(_), Some(_)) => return Err(bad("give either eula or eula_file, not both".into())),
            (Some(text), None) => Some(text.clone()),
            (None, Some(file)) => {
                let dir = manifest_path.parent().unwrap_or(Path::new("."));
                Some(fs_err::read_to_string(dir.join(file)).map_err(|e| bad(format!("eula_file: {e}")))?)
            }
            (None, None) => None,
        };
        let handler = self.handler(manifest_path)?;
        for (path, o) in &self.content {
            let entry = content
                .iter_mut()
                .find(|e| &e.path == path)
                .ok_or_else(|| bad(format!("[content.{path:?}] names no file of the payload")))?;
            if let (Some(_), true) = (&o.mode, entry.is_link()) {
                return Err(bad(format!("[content.{path:?}] is a symbolic link: a link has no mode of its own")));
            }
            if let Some(mode) = &o.mode {
                entry.mode = u32::from_str_radix(mode, 8)
                    .ok()
                    .filter(|m| *m <= 0o7777)
                    .ok_or_else(|| bad(format!("[content.{path:?}] mode {mode:?} is not octal such as \"0644\"")))?;
            }
            entry.uid = o.uid.or(entry.uid);
            entry.gid = o.gid.or(entry.gid);
        }
        let applicability = match &self.applicability {
            None => Applicability::default(),
            Some(v) => serde_json::to_value(v)
                .and_then(serde_json::from_value)
                .map_err(|e| bad(format!("[applicability]: {e}")))?,
        };
        check_rule_kinds(&applicability).map_err(bad)?;
        let doc = UpdateDocument {
            // Links need an agent that knows them: older ones would place a file.
            schema_version: if content.iter().any(ContentEntry::is_link) {
                SCHEMA_VERSION_LINKS
            } else {
                SCHEMA_VERSION
            },
            update_id: u.id.clone(),
            revision_number: u.revision,
            title: u.title.clone(),
            description: u.description.clone(),
            kb_article_ids: u.kb_article_ids.clone(),
            msrc_severity: u.msrc_severity.clone(),
            categories: u.categories.clone(),
            update_type: u.update_type,
            installation_behavior: self.installation_behavior.clone(),
            uninstallation_behavior: self.uninstallation_behavior.clone(),
            is_mandatory: u.is_mandatory,
            is_uninstallable: u.is_uninstallable,
            eula,
            superseded_update_ids: u.superseded_update_ids.clone(),
            deadline: u.deadline.clone(),
            support_url: u.support_url.clone(),
            release_notes: u.release_notes.clone(),
            uninstallation_notes: u.uninstallation_notes.clone(),
            handler,
            content,
            applicability,
        };
        doc.validate().map_err(|source| PackageError::Document { path: manifest_path.into(), source })?;
        Ok(doc)
    }

    fn handler(&self, manifest_path: &Path) -> Result<Handler, PackageError> {
        let bad = |detail: String| PackageError::Manifest {
            path: manifest_path.into(),
            detail: format!("[handler]: {detail}"),
        };
        let json = serde_json::to_value(&self.handler).map_err(|e| bad(e.to_string()))?;
        let kind = json.get("kind").and_then(|k| k.as_str()).unwrap_or_default().to_owned();
        match kind.as_str() {
            "files" => Ok(Handler::Files),
            "command" => {
                check_terminate_grace(&json, "").map_err(bad)?;
                if let Some(uninstall) = json.get("uninstall") {
                    check_terminate_grace(uninstall, "uninstall.").map_err(bad)?;
                }
                serde_json::from_value::<CommandHandler>(json).map(Handler::Command).map_err(|e| bad(e.to_string()))
            }
            "" => Err(bad("missing field `kind`".into())),
            // D-42: an unknown handler is not a structural fault; it fails at install.
            _ => Ok(Handler::Unknown(json)),
        }
    }
}

/// Refuses a rule kind the agent does not know in `[applicability]`. Agents pass over unknown
/// kinds (the update is not applicable, D-42) so that a catalog from a newer publisher stays
/// usable; in a publisher's own manifest such a kind is a mistake (a typo most often) that
/// would silently make the update applicable nowhere, so it is refused here, naming the kind,
/// where it is and the kinds there are.
fn check_rule_kinds(applicability: &Applicability) -> Result<(), String> {
    let rules = [("is_installed", &applicability.is_installed), ("is_installable", &applicability.is_installable)];
    for (name, rule) in rules {
        let Some(rule) = rule else { continue };
        let Err(fault) = wua_catalog::check_kinds(rule) else { continue };
        let at = if fault.at.is_empty() { String::new() } else { format!(" (at {})", fault.at) };
        return Err(match fault.error {
            RuleError::UnknownKind { kind } => format!(
                "[applicability] {name}: unknown rule kind {kind:?}{at}; the kinds are {} (agents pass over unknown kinds only in catalogs from newer publishers, D-42)",
                RULE_KINDS.join(", ")
            ),
            other => format!("[applicability] {name}{at}: {other}"),
        });
    }
    Ok(())
}

/// D-23: `terminate_grace_secs`, when given, is a whole number of seconds from 0 to
/// [`CommandHandler::MAX_TERMINATE_GRACE_SECS`]. Agents bound what a document asks (a document
/// from elsewhere may ask more); a publisher is told at build time instead.
/// `prefix` names the table within `[handler]` ("" or "uninstall.").
fn check_terminate_grace(table: &serde_json::Value, prefix: &str) -> Result<(), String> {
    let Some(value) = table.get("terminate_grace_secs") else { return Ok(()) };
    let max = CommandHandler::MAX_TERMINATE_GRACE_SECS;
    match value.as_u64() {
        Some(secs) if secs <= max => Ok(()),
        _ => Err(format!(
            "{prefix}terminate_grace_secs = {value} is not allowed: give a whole number of seconds from 0 to {max}"
        )),
    }
}
