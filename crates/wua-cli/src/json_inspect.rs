//! The `--json` documents of the verbs that look at updates one by one: `wua show`, `files`,
//! `owner`, `package inspect`, `hide`/`unhide`, a selection (`--dry-run`, a prompt) and
//! `reboot-status` (docs/cli.md gives each schema).

use std::path::PathBuf;

use serde::Serialize;
use wua_agent::wua_types::{Update, UpdateCollection, UpdateDocument};

/// An update in a list: its identity and title.
#[derive(Debug, Serialize)]
pub(crate) struct UpdateRef {
    pub update_id: String,
    pub revision_number: i32,
    pub title: String,
}

impl From<&Update> for UpdateRef {
    fn from(u: &Update) -> Self {
        let id = u.identity();
        UpdateRef { update_id: id.update_id, revision_number: id.revision_number, title: u.title().to_owned() }
    }
}

/// `wua install|download|uninstall --dry-run`: what would be acted on.
#[derive(Debug, Serialize)]
pub(crate) struct Selected {
    /// `install`, `download` or `uninstall`.
    pub operation: String,
    pub dry_run: bool,
    pub updates: Vec<UpdateRef>,
}

/// `wua hide` / `wua unhide`.
#[derive(Debug, Serialize)]
pub(crate) struct Hidden {
    pub is_hidden: bool,
    pub updates: Vec<UpdateRef>,
}

/// `wua show ID`: one update's document, flags and owned files.
#[derive(Debug, Serialize)]
pub(crate) struct Show {
    pub update_id: String,
    pub revision_number: i32,
    pub title: String,
    pub description: String,
    pub kb_article_ids: Vec<String>,
    pub msrc_severity: String,
    pub categories: Vec<ShowCategory>,
    #[serde(rename = "type")]
    pub update_type: String,
    pub is_installed: bool,
    pub is_downloaded: bool,
    pub is_hidden: bool,
    pub is_mandatory: bool,
    pub is_uninstallable: bool,
    pub eula_text: Option<String>,
    pub eula_accepted: bool,
    pub superseded_update_ids: Vec<String>,
    pub deadline: Option<String>,
    pub support_url: String,
    pub reboot_behavior: String,
    /// The handler's kind: `files` or `command`.
    pub handler: String,
    /// Content size in bytes.
    pub max_download_size: u64,
    /// The service it came from, when it is a service's.
    pub service_id: Option<String>,
    /// The files it owns in the root, when installed (paths relative to the root).
    pub files: Vec<String>,
}

/// A category of [`Show`].
#[derive(Debug, Serialize)]
pub(crate) struct ShowCategory {
    pub category_id: String,
    pub name: String,
    #[serde(rename = "type")]
    pub category_type: String,
}

impl Show {
    pub(crate) fn new(u: &Update, files: &[String]) -> Self {
        let doc = u.document();
        let flags = u.flags();
        Show {
            update_id: doc.update_id.clone(),
            revision_number: doc.revision_number,
            title: doc.title.clone(),
            description: doc.description.clone(),
            kb_article_ids: doc.kb_article_ids.clone(),
            msrc_severity: doc.msrc_severity.clone(),
            categories: doc
                .categories
                .iter()
                .map(|c| ShowCategory {
                    category_id: c.id.clone(),
                    name: c.name.clone(),
                    category_type: c.category_type.clone(),
                })
                .collect(),
            update_type: format!("{:?}", doc.update_type),
            is_installed: flags.is_installed,
            is_downloaded: flags.is_downloaded,
            is_hidden: flags.is_hidden,
            is_mandatory: doc.is_mandatory,
            is_uninstallable: doc.is_uninstallable,
            eula_text: doc.eula.clone(),
            eula_accepted: flags.eula_accepted,
            superseded_update_ids: doc.superseded_update_ids.clone(),
            deadline: u.deadline().map(str::to_owned).or_else(|| doc.deadline.clone()),
            support_url: doc.support_url.clone(),
            reboot_behavior: format!("{:?}", doc.installation_behavior.reboot_behavior),
            handler: handler_kind(doc).to_owned(),
            max_download_size: doc.content_size(),
            service_id: u.service_id().map(str::to_owned),
            files: files.to_vec(),
        }
    }
}

/// `files` or `command`.
pub(crate) fn handler_kind(doc: &UpdateDocument) -> &'static str {
    match doc.handler {
        wua_agent::wua_types::Handler::Files => "files",
        wua_agent::wua_types::Handler::Command(_) => "command",
        _ => "unknown",
    }
}

/// `wua files ID`.
#[derive(Debug, Serialize)]
pub(crate) struct Files {
    pub update_id: String,
    pub title: String,
    pub is_installed: bool,
    /// Paths relative to the root, sorted.
    pub files: Vec<String>,
}

/// `wua owner PATH`.
#[derive(Debug, Serialize)]
pub(crate) struct Owner {
    /// The path asked about, relative to the root.
    pub path: String,
    /// The update that owns it, or null.
    pub owner: Option<UpdateRef>,
}

/// `wua package inspect FILE`.
#[derive(Debug, Serialize)]
pub(crate) struct Inspected {
    pub package: PathBuf,
    /// Always true: a package that fails verification is an error.
    pub verified: bool,
    /// The document's schema version (2 when it carries links).
    pub schema_version: u32,
    pub update_id: String,
    pub revision_number: i32,
    pub title: String,
    pub handler: String,
    pub content: Vec<InspectedFile>,
}

/// A content entry of [`Inspected`].
#[derive(Debug, Serialize)]
pub(crate) struct InspectedFile {
    pub path: String,
    pub size: u64,
    pub mode: String,
    pub sha256: String,
    /// A symbolic link's target, or null for a file.
    pub link_target: Option<String>,
}

impl Inspected {
    pub(crate) fn new(package: &std::path::Path, doc: &UpdateDocument) -> Self {
        Inspected {
            package: package.to_owned(),
            verified: true,
            schema_version: doc.schema_version,
            update_id: doc.update_id.clone(),
            revision_number: doc.revision_number,
            title: doc.title.clone(),
            handler: handler_kind(doc).to_owned(),
            content: doc
                .content
                .iter()
                .map(|c| InspectedFile {
                    path: c.path.clone(),
                    size: c.size,
                    mode: format!("{:04o}", c.mode),
                    sha256: c.sha256.clone(),
                    link_target: c.link_target.clone(),
                })
                .collect(),
        }
    }
}

/// `wua reboot-status`.
#[derive(Debug, Serialize)]
pub(crate) struct RebootStatus {
    pub reboot_required: bool,
}

/// Each update of a collection as an [`UpdateRef`].
pub(crate) fn refs(updates: &UpdateCollection) -> Vec<UpdateRef> {
    updates.iter().map(UpdateRef::from).collect()
}
