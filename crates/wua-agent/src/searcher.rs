//! `IUpdateSearcher`: searches of a service's catalog (D-26..D-29, D-42) and history queries
//! (D-35).

use std::sync::{Arc, Mutex};

use wua_types::{
    HResult, SearchResult, ServerSelection, UpdateCollection, UpdateHistoryEntry, WuError, lock_unpoisoned,
};

use wua_store::ServiceKind;

use crate::job::{AsyncState, SearchCompletedCallback, SearchJob};
use crate::search::{Deployment, Offered};
use crate::session::UpdateSession;

/// `IUpdateSearcher`. Clones share their settings and their identity (a job of one is a job of
/// the other).
#[derive(Clone, Debug)]
pub struct UpdateSearcher {
    id: u64,
    session: UpdateSession,
    settings: Arc<Mutex<Settings>>,
}

#[derive(Clone, Debug)]
struct Settings {
    online: bool,
    include_superseded: bool,
    server_selection: ServerSelection,
    service_id: String,
    client_application_id: String,
}

impl UpdateSearcher {
    pub(crate) fn new(session: UpdateSession) -> Self {
        let settings = Settings {
            online: true,
            include_superseded: false,
            server_selection: ServerSelection::Default,
            service_id: String::new(),
            client_application_id: session.client_application_id(),
        };
        UpdateSearcher { id: crate::job::next_owner_id(), session, settings: Arc::new(Mutex::new(settings)) }
    }

    fn settings(&self) -> Settings {
        lock_unpoisoned(&self.settings).clone()
    }

    /// `Online` (default true, D-34): refresh the service's catalog before searching (D-29).
    pub fn online(&self) -> bool {
        self.settings().online
    }

    /// Sets `Online`; `false` searches the catalog already synced, with no network.
    pub fn set_online(&self, online: bool) {
        lock_unpoisoned(&self.settings).online = online;
    }

    /// `IncludePotentiallySupersededUpdates` (default false, D-28).
    pub fn include_potentially_superseded_updates(&self) -> bool {
        self.settings().include_superseded
    }

    /// Sets `IncludePotentiallySupersededUpdates`.
    pub fn set_include_potentially_superseded_updates(&self, include: bool) {
        lock_unpoisoned(&self.settings).include_superseded = include;
    }

    /// `ServerSelection` (default `Default`).
    pub fn server_selection(&self) -> ServerSelection {
        self.settings().server_selection
    }

    /// Sets `ServerSelection`.
    pub fn set_server_selection(&self, selection: ServerSelection) {
        lock_unpoisoned(&self.settings).server_selection = selection;
    }

    /// `ServiceID`: the service searched when `ServerSelection` is `Others`.
    pub fn service_id(&self) -> String {
        self.settings().service_id
    }

    /// Sets `ServiceID`.
    pub fn set_service_id(&self, service_id: impl Into<String>) {
        lock_unpoisoned(&self.settings).service_id = service_id.into();
    }

    /// `ClientApplicationID` (the session's when the searcher was made).
    pub fn client_application_id(&self) -> String {
        self.settings().client_application_id
    }

    /// Sets `ClientApplicationID`.
    pub fn set_client_application_id(&self, id: impl Into<String>) {
        lock_unpoisoned(&self.settings).client_application_id = id.into();
    }

    /// `EscapeString`: `text` as a criteria string literal, quotes included (D-26).
    pub fn escape_string(&self, text: &str) -> String {
        wua_catalog::escape_string(text)
    }

    /// `Search`: `begin_search` and `end_search` in one call: the updates of the selected
    /// service that match `criteria` (D-26; the empty string means `IsInstalled=0 and
    /// IsHidden=0`). Online (the default), the service's catalog is refreshed first (D-29): a
    /// failed refresh is the call's error and changes nothing; offline, the catalog already
    /// synced is searched with no network.
    pub fn search(&self, criteria: &str) -> Result<SearchResult, WuError> {
        let job = self.begin_search(criteria, None, None)?;
        self.end_search(&job)
    }

    /// `BeginSearch`: returns a running job at once (D-18); criteria errors, like every other
    /// failure of the search, surface at `end_search` (reference, `EndSearch`).
    pub fn begin_search(
        &self,
        criteria: &str,
        on_completed: Option<SearchCompletedCallback>,
        state: Option<AsyncState>,
    ) -> Result<SearchJob, WuError> {
        let job = SearchJob::new(self.id, (), UpdateCollection::new(), None, on_completed, state);
        let (worker, searcher, criteria) = (job.clone(), self.clone(), criteria.to_owned());
        job.spawn_worker("wua-search", move || {
            worker.set_worker();
            let result = searcher.run(&criteria);
            worker.complete(result);
        })?;
        Ok(job)
    }

    /// `EndSearch`: waits for the job, then returns its result once; a second call for the
    /// same job -> `WU_E_INVALID_OPERATION` (D-30); a job of another searcher -> `E_INVALIDARG`.
    pub fn end_search(&self, job: &SearchJob) -> Result<SearchResult, WuError> {
        self.check_job(job)?;
        job.end(None)?
    }

    /// `EndSearch` with a time-out (D-22).
    pub fn end_search_timeout(&self, job: &SearchJob, timeout: std::time::Duration) -> Result<SearchResult, WuError> {
        self.check_job(job)?;
        job.end(Some(timeout))?
    }

    /// `EndSearch` as a future (D-22).
    pub async fn end_search_async(&self, job: &SearchJob) -> Result<SearchResult, WuError> {
        self.check_job(job)?;
        job.end_future().await?
    }

    fn check_job(&self, job: &SearchJob) -> Result<(), WuError> {
        if job.inner.owner_id != self.id {
            return Err(WuError::new(HResult::E_INVALIDARG, "the job was begun by another searcher"));
        }
        job.refuse_inside_callback("end_search")
    }

    /// The search itself, on the job's thread.
    fn run(&self, criteria: &str) -> Result<SearchResult, WuError> {
        let settings = self.settings();
        let parsed = wua_catalog::parse_criteria(criteria).map_err(|e| WuError::new(e.hresult(), e.to_string()))?;
        let (service, selection) = self.session.select_service(settings.server_selection, &settings.service_id)?;
        if settings.online {
            self.session.refresh_service(&service)?;
        }
        let (documents, skipped, deployment) = {
            let mut store = self.session.store();
            let tx = store.read()?;
            if tx.index_version(&service.service_id)?.is_none() {
                return Err(WuError::new(
                    HResult::WUA_E_NOT_SYNCED,
                    format!("service {} ({}) was never synced: search online first", service.name, service.service_id),
                ));
            }
            let (documents, skipped) = tx.index_offered(&service.service_id)?;
            // D-27: only a managed server applies approvals, those of the computer's group.
            let deployment = match tx.managed_server(&service.service_id)? {
                Some(managed) if service.kind == ServiceKind::ManagedServer => {
                    Deployment::Approved(tx.index_approvals(&service.service_id, &managed.group)?)
                }
                _ => Deployment::Everything,
            };
            (documents, skipped, deployment)
        };
        let offered = Offered { selection, service_id: &service.service_id, documents, skipped, deployment };
        let result = crate::search::evaluate(&self.session, offered, &parsed, settings.include_superseded)?;
        self.session.record_search_success();
        Ok(result)
    }

    /// `QueryHistory(start, count)`: newest first; `start < 0` or `count <= 0` ->
    /// `WU_E_INVALIDINDEX`; `start` past the end -> empty (D-35).
    pub fn query_history(&self, start: i32, count: i32) -> Result<Vec<UpdateHistoryEntry>, WuError> {
        if start < 0 || count <= 0 {
            return Err(WuError::new(
                HResult::WU_E_INVALIDINDEX,
                format!("query_history(start {start}, count {count}): start must be >= 0 and count > 0"),
            ));
        }
        Ok(self.session.store().read()?.history(start as u64, count as u64)?)
    }

    /// `GetTotalHistoryCount`.
    pub fn get_total_history_count(&self) -> Result<i32, WuError> {
        let n = self.session.store().read()?.history_count()?;
        Ok(i32::try_from(n).unwrap_or(i32::MAX))
    }
}
