//! `IUpdateDownloader`: fetches the content of updates a search found into the content cache
//! (D-5, D-31).
//!
//! A blob is fetched from the update's service at the URL its SHA-256 names, into a partial
//! file apart from the cache (`<state>/cache/partial/<sha256>`), its length and SHA-256 checked
//! while it streams (`wua_fetch::Fetcher::download_to`); a transfer cut off resumes with
//! `Range` after the partial bytes were hashed again. Only a blob that matched is renamed into
//! the cache, so a partial or corrupt file is never taken for content. A lock per blob makes a
//! second process fetching the same blob wait, then find the one good copy in the cache.
//! Downloads take no D-8 lock.
//!
//! `begin_download` returns a [`DownloadJob`] (the job core of installs, D-43) whose thread
//! fetches update by update, reporting bytes and phases (D-32) and stopping at an abort
//! between chunks (D-23).

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures::StreamExt;
use wua_fetch::{FetchLimits, Fetcher};
use wua_install::ContentCache;
use wua_store::ServiceKind;
use wua_trust::verify::Source;
use wua_types::{
    ContentEntry, DownloadPhase, DownloadPriority, DownloadResult, HResult, OperationResultCode, Update,
    UpdateCollection, UpdateDownloadResult, WuError, lock_unpoisoned,
};

use crate::job::{AsyncState, DownloadCompletedCallback, DownloadJob, DownloadProgressCallback};
use crate::session::UpdateSession;

/// How many blobs of an update a download fetches at once by default.
pub const DEFAULT_PARALLEL_TRANSFERS: usize = 4;

/// `IUpdateDownloader`. Clones share their settings and their identity (a job of one is a
/// job of the other).
#[derive(Clone, Debug)]
pub struct UpdateDownloader {
    id: u64,
    session: UpdateSession,
    settings: Arc<Mutex<Settings>>,
}

#[derive(Clone, Debug)]
struct Settings {
    updates: UpdateCollection,
    parallel_transfers: usize,
    is_forced: bool,
    priority: DownloadPriority,
    client_application_id: String,
}

impl UpdateDownloader {
    pub(crate) fn new(session: UpdateSession) -> Self {
        let settings = Settings {
            updates: UpdateCollection::new(),
            parallel_transfers: DEFAULT_PARALLEL_TRANSFERS,
            is_forced: false,
            priority: DownloadPriority::Normal,
            client_application_id: session.client_application_id(),
        };
        UpdateDownloader { id: crate::job::next_owner_id(), session, settings: Arc::new(Mutex::new(settings)) }
    }

    fn settings(&self) -> Settings {
        lock_unpoisoned(&self.settings).clone()
    }

    /// `Updates`.
    pub fn updates(&self) -> UpdateCollection {
        self.settings().updates
    }

    /// Sets `Updates`.
    pub fn set_updates(&self, updates: UpdateCollection) {
        lock_unpoisoned(&self.settings).updates = updates;
    }

    /// `IsForced` (default false, D-34): fetch again what the cache already holds.
    pub fn is_forced(&self) -> bool {
        self.settings().is_forced
    }

    /// Sets `IsForced`.
    pub fn set_is_forced(&self, forced: bool) {
        lock_unpoisoned(&self.settings).is_forced = forced;
    }

    /// `Priority` (default `Normal`, D-34). Recorded; transfers of one job run in order.
    pub fn priority(&self) -> DownloadPriority {
        self.settings().priority
    }

    /// Sets `Priority`.
    pub fn set_priority(&self, priority: DownloadPriority) {
        lock_unpoisoned(&self.settings).priority = priority;
    }

    /// How many blobs of an update are fetched at once (wua's; default
    /// [`DEFAULT_PARALLEL_TRANSFERS`]).
    pub fn parallel_transfers(&self) -> usize {
        self.settings().parallel_transfers
    }

    /// Sets how many blobs of an update are fetched at once (at least 1).
    pub fn set_parallel_transfers(&self, transfers: usize) {
        lock_unpoisoned(&self.settings).parallel_transfers = transfers.max(1);
    }

    /// `ClientApplicationID`.
    pub fn client_application_id(&self) -> String {
        self.settings().client_application_id
    }

    /// Sets `ClientApplicationID`.
    pub fn set_client_application_id(&self, id: impl Into<String>) {
        lock_unpoisoned(&self.settings).client_application_id = id.into();
    }

    /// `Download`: `begin_download` and `end_download` in one call. Each update's content is
    /// fetched into the cache, one outcome per update (D-1): `Succeeded`, with
    /// `WU_S_ALREADY_DOWNLOADED` when the cache held it all and `is_forced` is false (D-5), or
    /// `Failed` with the fetch's code (`WU_E_PT_*`, `WU_E_NO_CONNECTION`,
    /// `WU_E_DM_INCORRECTFILEHASH`). No updates -> `WU_E_NO_UPDATE`.
    pub fn download(&self) -> Result<DownloadResult, WuError> {
        let job = self.begin_download(None, None, None)?;
        self.end_download(&job)
    }

    /// `BeginDownload`: validates (no updates -> `WU_E_NO_UPDATE`; a state directory this
    /// process cannot write -> `E_ACCESSDENIED`), then returns a running job; no callback runs
    /// before this returns (D-18). Progress reports bytes and phases (D-32).
    pub fn begin_download(
        &self,
        on_progress_changed: Option<DownloadProgressCallback>,
        on_completed: Option<DownloadCompletedCallback>,
        state: Option<AsyncState>,
    ) -> Result<DownloadJob, WuError> {
        let settings = self.settings();
        if settings.updates.is_empty() {
            return Err(WuError::new(HResult::WU_E_NO_UPDATE, "the downloader has no updates to download"));
        }
        self.session.require_writable("download updates")?;
        let cache = ContentCache::new(self.session.state_dir());
        cache.ensure()?;
        // What this job downloads stays while it runs (`wua cache clean` waits).
        let hold = cache.hold_shared()?;
        let partial = self.session.state_dir().join("cache").join("partial");
        fs_err::create_dir_all(&partial).map_err(|e| cache_error(&partial, e))?;
        // D-7, D-11: the collection is snapshotted now.
        let updates = UpdateCollection::read_only_from(settings.updates.as_slice().to_vec());
        let job = DownloadJob::new(self.id, (), updates, on_progress_changed, on_completed, state);
        let work = Work {
            job: job.clone(),
            session: self.session.clone(),
            fetchers: Default::default(),
            parallel: settings.parallel_transfers,
            cache,
            _hold: hold,
            partial,
            is_forced: settings.is_forced,
        };
        job.spawn_worker("wua-download", move || work.run())?;
        Ok(job)
    }

    /// `EndDownload`: waits for the job, then returns its result once (D-21).
    pub fn end_download(&self, job: &DownloadJob) -> Result<DownloadResult, WuError> {
        self.check_job(job)?;
        job.end(None)
    }

    /// `EndDownload` with a time-out (D-22).
    pub fn end_download_timeout(&self, job: &DownloadJob, timeout: Duration) -> Result<DownloadResult, WuError> {
        self.check_job(job)?;
        job.end(Some(timeout))
    }

    /// `EndDownload` as a future (D-22).
    pub async fn end_download_async(&self, job: &DownloadJob) -> Result<DownloadResult, WuError> {
        self.check_job(job)?;
        job.end_future().await
    }

    /// D-21: the job must be this downloader's; D-24: not from inside its own callback.
    fn check_job(&self, job: &DownloadJob) -> Result<(), WuError> {
        if job.inner.owner_id != self.id {
            return Err(WuError::new(HResult::E_INVALIDARG, "the job was begun by another downloader"));
        }
        job.refuse_inside_callback("end_download")
    }
}

/// What a download job's thread needs.
struct Work {
    job: DownloadJob,
    session: UpdateSession,
    /// Fetchers by service id, made when first needed.
    fetchers: std::cell::RefCell<std::collections::HashMap<String, Fetcher>>,
    parallel: usize,
    cache: ContentCache,
    _hold: wua_install::CacheHold,
    partial: PathBuf,
    is_forced: bool,
}

impl Work {
    fn run(self) {
        let job = self.job.clone();
        job.set_worker();
        // The fetches run on this thread (the job's own: callbacks come from here, D-19), in a
        // runtime of its own.
        let runtime = match tokio::runtime::Builder::new_current_thread().enable_all().build() {
            Ok(runtime) => runtime,
            Err(e) => {
                let failed = UpdateDownloadResult {
                    result_code: OperationResultCode::Failed,
                    hresult: HResult::WU_E_UNEXPECTED,
                    message: format!("cannot start the download runtime: {e}"),
                };
                let n = job.updates().count();
                job.complete(DownloadResult::aggregate(vec![failed; n], false));
                return;
            }
        };
        // Blobs shared by several updates are fetched once.
        let distinct: std::collections::BTreeMap<&str, u64> =
            job.updates().iter().flat_map(|u| self.missing(u)).map(|c| (c.sha256.as_str(), c.size)).collect();
        job.set_total_to_download(distinct.values().sum());
        let mut results = Vec::with_capacity(job.updates().count());
        let mut aborted = false;
        for (index, update) in job.updates().iter().enumerate() {
            if job.aborted() {
                aborted = true;
                break;
            }
            let missing = self.missing(update);
            let bytes: u64 = missing.iter().map(|c| c.size).sum();
            let started = std::time::Instant::now();
            tracing::debug!(update = %update.identity().update_id, blobs = missing.len(), bytes, "download: started");
            job.start_download(index, bytes);
            let result = self.one(&runtime, index, update, &missing).unwrap_or_else(|e| UpdateDownloadResult {
                result_code: if e.hresult == HResult::WU_E_CALL_CANCELLED {
                    OperationResultCode::Aborted
                } else {
                    OperationResultCode::Failed
                },
                hresult: e.hresult,
                message: e.message,
            });
            aborted |= result.hresult == HResult::WU_E_CALL_CANCELLED;
            tracing::debug!(
                update = %update.identity().update_id,
                result = %result.result_code,
                hresult = %result.hresult,
                ms = started.elapsed().as_millis() as u64,
                "download: finished"
            );
            job.finish_download(index, &result);
            results.push(result);
            if aborted {
                break;
            }
        }
        // D-23: updates not started are reported aborted.
        while results.len() < job.updates().count() {
            results.push(UpdateDownloadResult {
                result_code: OperationResultCode::Aborted,
                hresult: HResult::WU_E_CALL_CANCELLED,
                message: "not started: an abort was requested".into(),
            });
        }
        // The cache is released before the completion callback, which may clean it.
        drop(self);
        job.complete(DownloadResult::aggregate(results, aborted));
    }

    /// The fetcher for `service`'s downloads: one per service and job, so its connections and
    /// its TLS setup serve every update of the job.
    fn fetcher(&self, service: &wua_store::ServiceRecord) -> Result<Fetcher, WuError> {
        let mut fetchers = self.fetchers.borrow_mut();
        if let Some(f) = fetchers.get(&service.service_id) {
            return Ok(f.clone());
        }
        let ca: Vec<PathBuf> = service.ca_bundle.iter().map(PathBuf::from).collect();
        let fetcher = Fetcher::new(download_limits(), &ca).map_err(|e| WuError::new(e.hresult(), e.to_string()))?;
        fetchers.insert(service.service_id.clone(), fetcher.clone());
        Ok(fetcher)
    }

    /// The distinct blobs of `update` the cache lacks (all of them when forced): a blob two
    /// paths share is fetched once (two transfers of one blob in this process would wait for
    /// each other's lock).
    fn missing<'u>(&self, update: &'u Update) -> Vec<&'u ContentEntry> {
        let doc = update.document();
        let mut seen = std::collections::BTreeSet::new();
        doc.blobs()
            .filter(|c| self.is_forced || !self.cache.contains(&c.sha256, c.size))
            .filter(|c| seen.insert(c.sha256.as_str()))
            .collect()
    }

    fn one(
        &self,
        runtime: &tokio::runtime::Runtime,
        index: usize,
        update: &Update,
        missing: &[&ContentEntry],
    ) -> Result<UpdateDownloadResult, WuError> {
        let doc = update.document();
        if missing.is_empty() {
            return Ok(UpdateDownloadResult {
                result_code: OperationResultCode::Succeeded,
                hresult: HResult::WU_S_ALREADY_DOWNLOADED,
                message: String::new(),
            });
        }
        let service_id = update.service_id().ok_or_else(|| {
            WuError::new(
                HResult::WU_E_DM_NOTDOWNLOADED,
                format!("update {} comes from no service; its content can only be imported", doc.update_id),
            )
        })?;
        let service = self.session.service(service_id)?.ok_or_else(|| {
            WuError::new(HResult::WU_E_UNKNOWN_SERVICE, format!("service {service_id} is no longer registered"))
        })?;
        if service.kind == ServiceKind::ScanPackage {
            return self.adopt_from_export(index, Path::new(&service.source), missing);
        }
        let source = Source::parse(&service.source).map_err(WuError::from)?;
        let fetcher = self.fetcher(&service)?;
        let job = &self.job;
        runtime.block_on(async {
            job.download_phase(DownloadPhase::Downloading);
            // Up to `parallel` transfers at once, all polled on this thread (the job's: its
            // callbacks come from here, D-19).
            let throttle = Mutex::new(Throttle::new());
            let transfers = missing.iter().map(|entry| {
                let throttle = &throttle;
                let fetcher = &fetcher;
                let source = &source;
                async move {
                    let mut arrived = |bytes| {
                        job.downloaded(index, bytes);
                        if lock_unpoisoned(throttle).due() {
                            job.notify_current();
                        }
                        !job.aborted()
                    };
                    fetch_blob(fetcher, source, entry, &self.cache, &self.partial, &mut arrived).await
                }
            });
            let done: Vec<Result<(), WuError>> =
                futures::stream::iter(transfers).buffer_unordered(self.parallel.max(1)).collect().await;
            done.into_iter().collect::<Result<Vec<()>, WuError>>()?;
            job.download_phase(DownloadPhase::Verifying);
            Ok::<_, WuError>(())
        })?;
        Ok(UpdateDownloadResult {
            result_code: OperationResultCode::Succeeded,
            hresult: HResult::S_OK,
            message: String::new(),
        })
    }
}

impl Work {
    /// An export with content (`wua repo export --with-content`) as the download source: one
    /// streaming pass over it verifies and adopts the blobs needed, without unpacking the rest.
    /// A scan package holds no blobs: `WU_E_DM_NOTDOWNLOADED` names what is missing.
    fn adopt_from_export(
        &self,
        index: usize,
        export: &Path,
        missing: &[&ContentEntry],
    ) -> Result<UpdateDownloadResult, WuError> {
        let wanted: std::collections::BTreeSet<String> = missing.iter().map(|c| c.sha256.clone()).collect();
        self.job.download_phase(DownloadPhase::Downloading);
        let staging = tempfile::Builder::new()
            .prefix(".export-")
            .tempdir_in(&self.partial)
            .map_err(|e| cache_error(&self.partial, e))?;
        let found = wua_trust::export::extract_blobs(export, &wanted, staging.path()).map_err(WuError::from)?;
        self.job.download_phase(DownloadPhase::Verifying);
        if let Some(absent) = missing.iter().find(|c| !found.contains(&c.sha256)) {
            return Err(WuError::new(
                HResult::WU_E_DM_NOTDOWNLOADED,
                format!(
                    "{} holds no blob {} (a scan package holds no content; export it with --with-content)",
                    export.display(),
                    absent.sha256
                ),
            ));
        }
        for entry in missing {
            let path = staging.path().join(&entry.sha256);
            let len = std::fs::metadata(&path).map_err(|e| cache_error(&path, e))?.len();
            if len != entry.size {
                return Err(WuError::new(
                    HResult::WU_E_DM_INCORRECTFILEHASH,
                    format!("blob {} in {} has {len} bytes, {} listed", entry.sha256, export.display(), entry.size),
                ));
            }
            self.cache.adopt(&path, &entry.sha256)?;
            self.job.downloaded(index, entry.size);
        }
        Ok(UpdateDownloadResult {
            result_code: OperationResultCode::Succeeded,
            hresult: HResult::S_OK,
            message: String::new(),
        })
    }
}

/// D-20's pace for progress callbacks in the middle of an update: at most one per 100 ms.
struct Throttle {
    last: std::time::Instant,
}

impl Throttle {
    fn new() -> Self {
        Throttle { last: std::time::Instant::now() }
    }

    fn due(&mut self) -> bool {
        if self.last.elapsed() >= Duration::from_millis(100) {
            self.last = std::time::Instant::now();
            return true;
        }
        false
    }
}

/// The bounds of a download: the minimum rate and retries of a refresh, and no total deadline
/// worth the name (a large blob on a slow link takes what it takes while it keeps moving).
fn download_limits() -> FetchLimits {
    FetchLimits { total_deadline: std::time::Duration::from_secs(24 * 3600), ..FetchLimits::default() }
}

/// Fetches one blob into its partial file (`<partial>/<sha256>`, resumed with `Range` when a
/// transfer before left part of it; its bytes are hashed again first), checking its length and
/// SHA-256 as it streams (D-31), then renames it into the cache. A lock per blob makes a second
/// process wait for the first, then find the blob in the cache. `arrived` is told each chunk's
/// length; false stops the transfer (an abort, D-23), keeping the partial file.
async fn fetch_blob(
    fetcher: &Fetcher,
    source: &Source,
    entry: &ContentEntry,
    cache: &ContentCache,
    partial: &Path,
    arrived: &mut (dyn FnMut(u64) -> bool + Send),
) -> Result<(), WuError> {
    let url = source.blob_url(&entry.sha256).map_err(WuError::from)?;
    let lock_path = partial.join(format!("{}.lock", entry.sha256));
    let _lock = wua_fs::LockFile::acquire_within(&lock_path, BLOB_LOCK_WAIT)
        .map_err(|e| WuError::new(HResult::WUA_E_CACHE_IO, format!("blob {}: {e}", entry.sha256)))?;
    if cache.contains(&entry.sha256, entry.size) {
        // Another process fetched it while this one waited.
        return Ok(());
    }
    let path = partial.join(&entry.sha256);
    fetcher
        .download_to_with(&url, &path, entry.size, &entry.sha256, arrived)
        .await
        .map_err(|e| WuError::new(e.hresult(), e.to_string()))?;
    cache.adopt(&path, &entry.sha256).map_err(WuError::from)
}

/// How long a download waits for another process fetching the same blob.
const BLOB_LOCK_WAIT: Duration = Duration::from_secs(3600);

fn cache_error(path: &Path, e: std::io::Error) -> WuError {
    WuError::new(HResult::WUA_E_CACHE_IO, format!("{}: {e}", path.display()))
}

impl UpdateSession {
    /// `CreateUpdateDownloader`.
    pub fn create_update_downloader(&self) -> UpdateDownloader {
        UpdateDownloader::new(self.clone())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A download keeps a refresh's bounds on a stalled transfer (the minimum rate, the
    /// connection time-out, the retries) but not its total deadline: a large blob on a slow
    /// link may take hours while it keeps moving.
    #[test]
    fn download_limits_bound_a_stall_not_a_long_transfer() {
        let limits = download_limits();
        let refresh = FetchLimits::default();
        assert_eq!(FetchLimits { total_deadline: refresh.total_deadline, ..limits }, refresh);
        assert_eq!(limits.total_deadline, Duration::from_secs(24 * 3600));
    }
}
