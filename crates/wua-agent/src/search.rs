//! What a search returns from a service's index: the updates that apply to this machine or
//! are installed on it, with their flags read in bulk (one read transaction), left out when
//! superseded (D-28), matched against the criteria (D-26, D-27).

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use wua_catalog::{Applicable, Candidate, Criteria, DeploymentFilter, Machine, Subject, applicability, superseded};
use wua_install::ContentCache;
use wua_types::{
    Category, DeploymentAction, HResult, OperationResultCode, SearchResult, ServerSelection, Update, UpdateCollection,
    UpdateDocument, UpdateException, UpdateExceptionContext, UpdateFlags, UpdateStateSink, UpdateType, WuError,
};

use crate::session::{UpdateSession, eula_hash};

/// What the search sees of one update.
struct Seen {
    document: Arc<UpdateDocument>,
    flags: UpdateFlags,
    applicable: bool,
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

/// Searches `documents` (the offered revisions of service `service_id`, selected by
/// `selection`; `skipped` its D-42 warnings) for
/// `criteria` on the session's machine. Every update of these services is deployed for
/// installation (D-27: only a managed server applies approvals).
pub(crate) fn evaluate(
    session: &UpdateSession,
    selection: ServerSelection,
    service_id: &str,
    documents: Vec<UpdateDocument>,
    skipped: Vec<String>,
    criteria: &Criteria,
    include_superseded: bool,
) -> Result<SearchResult, WuError> {
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
        let flags = UpdateFlags {
            is_installed,
            is_downloaded: cache.has_all(&document.content),
            is_hidden: hidden.contains(&id),
            eula_accepted,
            reboot_required: reboots.contains(&id),
            is_present: installed.contains_key(&id),
            deployment_action: Some(DeploymentAction::Installation),
        };
        seen.push(Seen { document: Arc::new(document), flags, applicable });
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
                deployed: s.flags.deployment_action.is_some(),
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
        updates.push(Update::from_service(s.document, s.flags, Some(sink.clone()), selection, service_id.to_owned()));
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
