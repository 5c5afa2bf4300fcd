//! What a search returns from a service's index: the updates that apply to this machine or
//! are installed on it, with their flags read in bulk (one read transaction), left out when
//! superseded (D-28), matched against the criteria (D-26, D-27).
//!
//! Deployment (D-27): a repository, a mirror or an export deploys every update for
//! installation; a managed server deploys only what the signed approvals of the computer's
//! group name ([`Deployment::Approved`]): install -> `Installation` (`IsAssigned`), optional ->
//! `OptionalInstallation` (`BrowseOnly`), uninstall -> `Uninstallation`; anything else has no
//! deployment, so only a `DeploymentAction=*` search finds it. An approval's deadline wins over
//! the document's.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use wua_catalog::{Applicable, Candidate, Criteria, DeploymentFilter, Machine, Subject, applicability, superseded};
use wua_install::ContentCache;
use wua_store::IndexApproval;
use wua_types::api::ApprovalAction;
use wua_types::{
    Category, DeploymentAction, HResult, OperationResultCode, SearchResult, ServerSelection, Update, UpdateCollection,
    UpdateDocument, UpdateException, UpdateExceptionContext, UpdateFlags, UpdateStateSink, UpdateType, WuError,
};

use crate::session::{UpdateSession, eula_hash};

/// How the searched service deploys its updates (D-27).
#[derive(Debug)]
pub(crate) enum Deployment {
    /// Every update for installation: a repository, a mirror, an offline export.
    Everything,
    /// Only what the computer's group's signed approvals name, by update id.
    Approved(BTreeMap<String, IndexApproval>),
}

impl Deployment {
    /// The deployment of `update_id`, and the deadline an approval sets.
    fn of(&self, update_id: &str) -> (Option<DeploymentAction>, Option<&str>) {
        match self {
            Deployment::Everything => (Some(DeploymentAction::Installation), None),
            Deployment::Approved(approvals) => match approvals.get(update_id) {
                Some(a) => {
                    let action = match a.action {
                        ApprovalAction::Install => DeploymentAction::Installation,
                        ApprovalAction::Optional => DeploymentAction::OptionalInstallation,
                        ApprovalAction::Uninstall => DeploymentAction::Uninstallation,
                    };
                    (Some(action), a.deadline.as_deref())
                }
                None => (None, None),
            },
        }
    }
}

/// What the search sees of one update.
struct Seen {
    document: Arc<UpdateDocument>,
    flags: UpdateFlags,
    applicable: bool,
    /// An approval's deadline (D-27).
    deadline: Option<String>,
}

impl Subject for Seen {
    fn update_type(&self) -> UpdateType {
        self.document.update_type
    }
    fn update_id(&self) -> &str {
        &self.document.update_id
    }
    fn revision_number(&self) -> i32 {
        self.document.revision_number
    }
    fn category_ids(&self) -> Vec<String> {
        self.document.categories.iter().map(|c| c.id.clone()).collect()
    }
    fn is_installed(&self) -> bool {
        self.flags.is_installed
    }
    fn is_hidden(&self) -> bool {
        self.flags.is_hidden
    }
    fn is_present(&self) -> bool {
        self.flags.is_present
    }
    fn reboot_required(&self) -> bool {
        self.flags.reboot_required
    }
    fn is_assigned(&self) -> bool {
        self.flags.deployment_action == Some(DeploymentAction::Installation)
    }
    fn browse_only(&self) -> bool {
        self.flags.deployment_action == Some(DeploymentAction::OptionalInstallation)
    }
    fn auto_select_on_web_sites(&self) -> bool {
        self.flags.deployment_action.is_some_and(|a| a != DeploymentAction::OptionalInstallation)
    }
    fn deployments(&self) -> Vec<DeploymentFilter> {
        self.flags.deployment_action.and_then(DeploymentFilter::from_action).into_iter().collect()
    }
}

/// What a search looks through: the offered revisions of service `service_id`, selected by
/// `selection`, its D-42 warnings, and how it deploys them.
pub(crate) struct Offered<'a> {
    pub(crate) selection: ServerSelection,
    pub(crate) service_id: &'a str,
    pub(crate) documents: Vec<UpdateDocument>,
    pub(crate) skipped: Vec<String>,
    pub(crate) deployment: Deployment,
}

/// Searches what `offered` holds for `criteria` on the session's machine (D-27: the
/// deployment is the service's).
pub(crate) fn evaluate(
    session: &UpdateSession,
    offered: Offered<'_>,
    criteria: &Criteria,
    include_superseded: bool,
) -> Result<SearchResult, WuError> {
    let Offered { selection, service_id, documents, skipped, deployment } = offered;
    let root = session.root();
    let boot = session.inner.boot_id.current();
    let cache = ContentCache::new(session.state_dir());
    let mut store = session.store();
    let tx = store.read()?;
    let installed: BTreeMap<String, i32> = tx.all_installed()?.into_iter().map(|r| (r.update_id, r.revision)).collect();
    let hidden = tx.hidden_ids()?;
    let eulas = tx.accepted_eulas()?;
    let reboots: BTreeSet<String> = tx.pending_reboots(&boot)?.into_iter().map(|r| r.update_id).collect();
    let machine = Machine::this_machine(root, installed.keys().cloned().collect());
    let mut seen = Vec::new();
    for document in documents {
        let id = document.update_id.clone();
        let is_installed = wua_install::installed_equivalent_on(&tx, &machine, &document)?;
        let applicable = applicability(&document.applicability, &machine) == Applicable::Yes;
        if !is_installed && !applicable {
            continue;
        }
        let eula_accepted = match &document.eula {
            None => true,
            Some(text) => eulas.contains(&(id.clone(), eula_hash(text))),
        };
        let (deployment_action, deadline) = deployment.of(&id);
        let flags = UpdateFlags {
            is_installed,
            is_downloaded: cache.has_all(&document.content),
            is_hidden: hidden.contains(&id),
            eula_accepted,
            reboot_required: reboots.contains(&id),
            is_present: installed.contains_key(&id),
            deployment_action,
        };
        seen.push(Seen { document: Arc::new(document), flags, applicable, deadline: deadline.map(str::to_owned) });
    }
    drop(tx);
    drop(store);
    let out = if include_superseded {
        BTreeSet::new()
    } else {
        let candidates: Vec<Candidate<'_>> = seen
            .iter()
            .map(|s| Candidate {
                update_id: &s.document.update_id,
                supersedes: &s.document.superseded_update_ids,
                is_installed: s.flags.is_installed,
                applicable: s.applicable,
                // D-28: deployed for this computer means offered to install (assigned or
                // optional); an approval to uninstall supersedes nothing.
                deployed: matches!(
                    s.flags.deployment_action,
                    Some(DeploymentAction::Installation | DeploymentAction::OptionalInstallation)
                ),
                hidden: s.flags.is_hidden,
            })
            .collect();
        superseded(&candidates)
    };
    let sink: Arc<dyn UpdateStateSink> = session.inner.clone();
    let mut updates = Vec::new();
    let mut categories: BTreeMap<String, Category> = BTreeMap::new();
    for s in seen {
        if out.contains(&s.document.update_id) || !criteria.matches(&s) {
            continue;
        }
        for c in &s.document.categories {
            categories.entry(c.id.clone()).or_insert_with(|| c.clone());
        }
        let update = Update::from_service(s.document, s.flags, Some(sink.clone()), selection, service_id.to_owned());
        updates.push(match s.deadline {
            Some(deadline) => update.with_deadline(deadline),
            None => update,
        });
    }
    let warnings: Vec<UpdateException> = skipped
        .into_iter()
        .map(|message| UpdateException {
            message,
            hresult: HResult::WUA_E_CATALOG_ENTRY_SKIPPED,
            context: UpdateExceptionContext::SearchIncomplete,
        })
        .collect();
    Ok(SearchResult {
        result_code: if warnings.is_empty() {
            OperationResultCode::Succeeded
        } else {
            OperationResultCode::SucceededWithErrors
        },
        updates: UpdateCollection::read_only_from(updates),
        root_categories: categories.into_values().collect(),
        warnings,
    })
}
