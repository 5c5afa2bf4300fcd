//! One job core for WUA's three kinds of jobs (D-43): `IInstallationJob`, `IDownloadJob` and
//! `ISearchJob`, the asynchronous halves of the installer, the downloader and the searcher
//! (decisions D-18..D-25, D-30).
//!
//! A [`Job`] is a cloneable handle that knows its owner (the installer, downloader or searcher
//! that began it), a tag (install or uninstall, for installation jobs) and its kind
//! ([`JobKind`]: its progress and result types). Its work runs on one thread of its own, which
//! also invokes the callbacks, outside the job's lock: so callbacks of one job never run
//! concurrently, every progress callback comes before the completion callback, and the
//! completion callback runs exactly once (D-19). The job counts as completed only after the
//! completion callback returned. State sits behind one mutex and a condition variable; waits
//! use the standard library, never an async runtime (D-43).

use std::any::Any;
use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::task::{Context, Poll, Waker};
use std::thread::ThreadId;
use std::time::{Duration, Instant};

use wua_install::Monitor;
use wua_types::{
    DownloadPhase, DownloadResult, HResult, InstallationProgress, InstallationResult, OperationResultCode,
    SearchResult, UpdateCollection, UpdateDownloadResult, UpdateInstallationResult, UpdateOperation, WuError,
    lock_unpoisoned, wait_unpoisoned,
};

/// A new id for an installer, downloader or searcher: what tells a job's owner apart (D-21).
pub(crate) fn next_owner_id() -> u64 {
    static NEXT: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(1);
    NEXT.fetch_add(1, Ordering::Relaxed)
}

/// `AsyncState`: any value the caller passes to `begin_*`, returned unchanged (D-25).
pub type AsyncState = Arc<dyn Any + Send + Sync>;

/// What distinguishes the three kinds of jobs: their progress, result and callback arguments.
pub trait JobKind: Send + Sync + 'static {
    /// The progress snapshot (`GetProgress`).
    type Progress: Clone + Send + Sync + std::fmt::Debug;
    /// What `End*` returns.
    type Result: Clone + Send + Sync;
    /// What tells jobs of one owner apart (install or uninstall), `()` when nothing does.
    type Tag: Copy + Eq + Send + Sync + std::fmt::Debug;
    /// The progress callback's arguments.
    type ProgressArgs;
    /// The completion callback's arguments (reserved, no members).
    type CompletedArgs: Default;
    /// The progress before any work, for `n` updates.
    fn initial_progress(n: usize) -> Self::Progress;
    /// The progress callback's arguments for a snapshot.
    fn progress_args(progress: Self::Progress) -> Self::ProgressArgs;
    /// The progress once the result is known (per-update results copied in).
    fn final_progress(progress: &mut Self::Progress, result: &Self::Result);
    /// The result of a job whose worker failed with `error` at `progress`: the updates it
    /// finished keep their results, the others fail with `error`.
    fn failed(progress: &Self::Progress, error: &WuError) -> Self::Result;
}

/// Installation and uninstallation jobs (`IInstallationJob`).
#[derive(Debug)]
pub struct Installation;

impl JobKind for Installation {
    type Progress = InstallationProgress;
    type Result = InstallationResult;
    type Tag = UpdateOperation;
    type ProgressArgs = InstallationProgressChangedCallbackArgs;
    type CompletedArgs = InstallationCompletedCallbackArgs;
    fn initial_progress(n: usize) -> InstallationProgress {
        InstallationProgress {
            current_update_index: 0,
            current_update_percent_complete: 0,
            percent_complete: 0,
            update_results: vec![UpdateInstallationResult::not_started(); n],
        }
    }
    fn progress_args(progress: InstallationProgress) -> InstallationProgressChangedCallbackArgs {
        InstallationProgressChangedCallbackArgs { progress }
    }
    fn final_progress(progress: &mut InstallationProgress, result: &InstallationResult) {
        progress.update_results = result.update_results.clone();
    }
    fn failed(progress: &InstallationProgress, error: &WuError) -> InstallationResult {
        let results = progress.update_results.iter().map(|r| match r.result_code {
            OperationResultCode::NotStarted => UpdateInstallationResult::failed(error.hresult, error.message.clone()),
            _ => r.clone(),
        });
        InstallationResult::aggregate(results.collect(), false)
    }
}

/// Download jobs (`IDownloadJob`).
#[derive(Debug)]
pub struct Download;

impl JobKind for Download {
    type Progress = DownloadProgress;
    type Result = DownloadResult;
    type Tag = ();
    type ProgressArgs = DownloadProgressChangedCallbackArgs;
    type CompletedArgs = DownloadCompletedCallbackArgs;
    fn initial_progress(n: usize) -> DownloadProgress {
        DownloadProgress {
            current_update_index: 0,
            current_update_percent_complete: 0,
            percent_complete: 0,
            current_update_bytes_downloaded: 0,
            current_update_bytes_to_download: 0,
            total_bytes_downloaded: 0,
            total_bytes_to_download: 0,
            current_update_download_phase: DownloadPhase::Initializing,
            update_results: vec![not_started_download(); n],
        }
    }
    fn progress_args(progress: DownloadProgress) -> DownloadProgressChangedCallbackArgs {
        DownloadProgressChangedCallbackArgs { progress }
    }
    fn final_progress(progress: &mut DownloadProgress, result: &DownloadResult) {
        progress.update_results = result.update_results.clone();
    }
    fn failed(progress: &DownloadProgress, error: &WuError) -> DownloadResult {
        let results = progress.update_results.iter().map(|r| match r.result_code {
            OperationResultCode::NotStarted => UpdateDownloadResult {
                result_code: OperationResultCode::Failed,
                hresult: error.hresult,
                message: error.message.clone(),
            },
            _ => r.clone(),
        });
        DownloadResult::aggregate(results.collect(), false)
    }
}

/// Search jobs (`ISearchJob`: no progress). Criteria errors surface at `EndSearch`.
#[derive(Debug)]
pub struct Search;

impl JobKind for Search {
    type Progress = ();
    type Result = Result<SearchResult, WuError>;
    type Tag = ();
    type ProgressArgs = ();
    type CompletedArgs = SearchCompletedCallbackArgs;
    fn initial_progress(_: usize) {}
    fn progress_args(_: ()) {}
    fn final_progress(_: &mut (), _: &Self::Result) {}
    fn failed(_: &(), error: &WuError) -> Self::Result {
        Err(error.clone())
    }
}

/// `IInstallationJob`.
pub type InstallationJob = Job<Installation>;
/// `IDownloadJob`.
pub type DownloadJob = Job<Download>;
/// `ISearchJob`.
pub type SearchJob = Job<Search>;

/// `IInstallationProgressChangedCallbackArgs`.
#[derive(Clone, Debug)]
pub struct InstallationProgressChangedCallbackArgs {
    /// `Progress`: a snapshot taken when the callback was invoked.
    pub progress: InstallationProgress,
}

/// `IInstallationCompletedCallbackArgs` (no members; reserved).
#[derive(Clone, Debug, Default)]
pub struct InstallationCompletedCallbackArgs {}

/// `IDownloadProgress`: a snapshot (D-32).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DownloadProgress {
    /// `CurrentUpdateIndex`.
    pub current_update_index: i32,
    /// `CurrentUpdatePercentComplete`.
    pub current_update_percent_complete: i32,
    /// `PercentComplete`.
    pub percent_complete: i32,
    /// `CurrentUpdateBytesDownloaded`.
    pub current_update_bytes_downloaded: u64,
    /// `CurrentUpdateBytesToDownload`.
    pub current_update_bytes_to_download: u64,
    /// `TotalBytesDownloaded`: never decreases.
    pub total_bytes_downloaded: u64,
    /// `TotalBytesToDownload`.
    pub total_bytes_to_download: u64,
    /// `CurrentUpdateDownloadPhase` (D-32: `Initializing`, `Downloading`, `Verifying` in order).
    pub current_update_download_phase: DownloadPhase,
    /// Results so far, one per update.
    pub update_results: Vec<UpdateDownloadResult>,
}

impl DownloadProgress {
    /// `GetUpdateResult(index)`; out of range -> `WU_E_INVALIDINDEX` (D-4).
    pub fn get_update_result(&self, index: i32) -> Result<&UpdateDownloadResult, WuError> {
        let len = self.update_results.len();
        usize::try_from(index).ok().and_then(|i| self.update_results.get(i)).ok_or_else(|| {
            WuError::new(HResult::WU_E_INVALIDINDEX, format!("index {index} is out of range (0..{len})"))
        })
    }
}

fn not_started_download() -> UpdateDownloadResult {
    UpdateDownloadResult {
        result_code: wua_types::OperationResultCode::NotStarted,
        hresult: HResult::S_OK,
        message: String::new(),
    }
}

/// `IDownloadProgressChangedCallbackArgs`.
#[derive(Clone, Debug)]
pub struct DownloadProgressChangedCallbackArgs {
    /// `Progress`: a snapshot taken when the callback was invoked.
    pub progress: DownloadProgress,
}

/// `IDownloadCompletedCallbackArgs` (no members; reserved).
#[derive(Clone, Debug, Default)]
pub struct DownloadCompletedCallbackArgs {}

/// `ISearchCompletedCallbackArgs` (no members; reserved).
#[derive(Clone, Debug, Default)]
pub struct SearchCompletedCallbackArgs {}

/// A job's progress callback.
pub type JobProgressCallback<K> = Box<dyn Fn(&Job<K>, &<K as JobKind>::ProgressArgs) + Send + Sync>;
/// A job's completion callback.
pub type JobCompletedCallback<K> = Box<dyn Fn(&Job<K>, &<K as JobKind>::CompletedArgs) + Send + Sync>;
/// `IInstallationProgressChangedCallback`.
pub type ProgressCallback = JobProgressCallback<Installation>;
/// `IInstallationCompletedCallback`.
pub type CompletedCallback = JobCompletedCallback<Installation>;
/// `IDownloadProgressChangedCallback`.
pub type DownloadProgressCallback = JobProgressCallback<Download>;
/// `IDownloadCompletedCallback`.
pub type DownloadCompletedCallback = JobCompletedCallback<Download>;
/// `ISearchCompletedCallback`.
pub type SearchCompletedCallback = JobCompletedCallback<Search>;

/// A job of kind `K` (see [`InstallationJob`], [`DownloadJob`], [`SearchJob`]).
pub struct Job<K: JobKind> {
    pub(crate) inner: Arc<JobInner<K>>,
}

impl<K: JobKind> Clone for Job<K> {
    fn clone(&self) -> Self {
        Job { inner: self.inner.clone() }
    }
}

impl<K: JobKind> std::fmt::Debug for Job<K> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Job")
            .field("kind", &std::any::type_name::<K>())
            .field("tag", &self.inner.tag)
            .field("is_completed", &self.is_completed())
            .finish_non_exhaustive()
    }
}

pub(crate) struct JobInner<K: JobKind> {
    /// The installer, downloader or searcher that began it.
    pub(crate) owner_id: u64,
    pub(crate) tag: K::Tag,
    pub(crate) updates: UpdateCollection,
    async_state: Option<AsyncState>,
    pub(crate) abort: AtomicBool,
    state: Mutex<JobState<K>>,
    done: Condvar,
    worker: Mutex<Option<ThreadId>>,
}

struct JobState<K: JobKind> {
    progress: K::Progress,
    result: Option<K::Result>,
    completed: bool,
    ended: bool,
    progress_callback: Option<JobProgressCallback<K>>,
    completed_callback: Option<JobCompletedCallback<K>>,
    wakers: Vec<Waker>,
}

impl<K: JobKind> Job<K> {
    pub(crate) fn new(
        owner_id: u64,
        tag: K::Tag,
        updates: UpdateCollection,
        progress_callback: Option<JobProgressCallback<K>>,
        completed_callback: Option<JobCompletedCallback<K>>,
        async_state: Option<AsyncState>,
    ) -> Self {
        let n = updates.count();
        Job {
            inner: Arc::new(JobInner {
                owner_id,
                tag,
                updates,
                async_state,
                abort: AtomicBool::new(false),
                state: Mutex::new(JobState {
                    progress: K::initial_progress(n),
                    result: None,
                    completed: false,
                    ended: false,
                    progress_callback,
                    completed_callback,
                    wakers: Vec::new(),
                }),
                done: Condvar::new(),
                worker: Mutex::new(None),
            }),
        }
    }

    fn state(&self) -> MutexGuard<'_, JobState<K>> {
        // Plain data behind the lock; callbacks never run while it is held.
        lock_unpoisoned(&self.inner.state)
    }

    /// `AsyncState` (D-25).
    pub fn async_state(&self) -> Option<&AsyncState> {
        self.inner.async_state.as_ref()
    }

    /// `IsCompleted`: true once the completion callback has returned (D-19).
    pub fn is_completed(&self) -> bool {
        self.state().completed
    }

    /// `Updates`: the job's updates, read-only, indexed as results and progress are (D-4).
    pub fn updates(&self) -> &UpdateCollection {
        &self.inner.updates
    }

    /// `GetProgress`: a fresh snapshot (D-20, D-32; a search job's is `()`).
    pub fn get_progress(&self) -> K::Progress {
        self.state().progress.clone()
    }

    /// `RequestAbort`: work stops at the next safe point (D-23); a no-op on a completed job.
    pub fn request_abort(&self) -> Result<(), WuError> {
        if !self.is_completed() {
            self.inner.abort.store(true, Ordering::SeqCst);
        }
        Ok(())
    }

    /// `CleanUp`: waits for completion, then drops the callbacks; idempotent. From inside one
    /// of this job's callbacks -> `WU_E_INVALID_OPERATION` at once (D-24).
    pub fn clean_up(&self) -> Result<(), WuError> {
        self.refuse_inside_callback("clean_up")?;
        let mut st = self.wait_completed(None).0;
        st.progress_callback = None;
        st.completed_callback = None;
        Ok(())
    }

    pub(crate) fn refuse_inside_callback(&self, what: &str) -> Result<(), WuError> {
        let worker = *lock_unpoisoned(&self.inner.worker);
        if worker == Some(std::thread::current().id()) {
            return Err(WuError::new(
                HResult::WU_E_INVALID_OPERATION,
                format!("{what} was called from inside one of the job's own callbacks, which would wait for itself"),
            ));
        }
        Ok(())
    }

    /// Waits until completed or `timeout`; returns the guard and whether it completed.
    fn wait_completed(&self, timeout: Option<Duration>) -> (MutexGuard<'_, JobState<K>>, bool) {
        let deadline = timeout.map(|t| Instant::now() + t);
        let mut st = self.state();
        while !st.completed {
            match deadline {
                None => st = wait_unpoisoned(&self.inner.done, st, None),
                Some(d) => {
                    let now = Instant::now();
                    if now >= d {
                        return (st, false);
                    }
                    st = wait_unpoisoned(&self.inner.done, st, Some(d - now));
                }
            }
        }
        (st, true)
    }

    /// `End*`: waits (up to `timeout`), then hands out the result once (D-21, D-22).
    pub(crate) fn end(&self, timeout: Option<Duration>) -> Result<K::Result, WuError> {
        self.refuse_inside_callback("end")?;
        let (mut st, done) = self.wait_completed(timeout);
        if !done {
            return Err(WuError::new(
                HResult::WU_E_TIME_OUT,
                "the job did not complete in time; wait again or abort it",
            ));
        }
        take_result(&mut st)
    }

    /// The async `End*` (D-22): resolves when the job completes.
    pub(crate) fn end_future(&self) -> EndFuture<K> {
        EndFuture { job: self.clone() }
    }

    // --- the worker's side -----------------------------------------------------------------

    /// Runs `work` on a new thread named `name`, the job's worker, which completes the job. A
    /// worker that panics (a bug: nothing reachable from input panics) or returns without
    /// completing the job still completes it, with `WU_E_UNEXPECTED` for every update it did
    /// not finish, so no `End*` waits forever.
    pub(crate) fn spawn_worker(&self, name: &str, work: impl FnOnce() + Send + 'static) -> Result<(), WuError> {
        let job = self.clone();
        let spawned = std::thread::Builder::new().name(name.into()).spawn(move || {
            let panicked = std::panic::catch_unwind(std::panic::AssertUnwindSafe(work)).is_err();
            if !job.is_completed() {
                tracing::error!(panicked, "a job's worker ended without completing its job; it completes as failed");
                let error = WuError::new(
                    HResult::WU_E_UNEXPECTED,
                    "the job's worker failed unexpectedly (a bug in wua; the log says where)",
                );
                let result = K::failed(&job.state().progress, &error);
                job.complete(result);
            }
        });
        spawned.map(drop).map_err(|e| WuError::new(HResult::WU_E_UNEXPECTED, format!("cannot start {name}: {e}")))
    }

    pub(crate) fn set_worker(&self) {
        *lock_unpoisoned(&self.inner.worker) = Some(std::thread::current().id());
    }

    pub(crate) fn aborted(&self) -> bool {
        self.inner.abort.load(Ordering::SeqCst)
    }

    /// A progress callback with the current snapshot.
    pub(crate) fn notify_current(&self) {
        let snapshot = self.state().progress.clone();
        self.notify_progress(snapshot);
    }

    /// Updates the progress snapshot; returns it for a callback.
    fn update_progress(&self, f: impl FnOnce(&mut K::Progress)) -> K::Progress {
        let mut st = self.state();
        f(&mut st.progress);
        st.progress.clone()
    }

    /// Invokes the progress callback (on the worker thread, outside the lock; D-19). A panic in
    /// it is caught and logged; the job goes on.
    fn notify_progress(&self, progress: K::Progress) {
        let Some(cb) = self.state().progress_callback.take() else { return };
        let args = K::progress_args(progress);
        if std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| cb(self, &args))).is_err() {
            tracing::error!("a job's progress callback panicked; the job goes on");
        }
        // Back in its place: only this thread takes it, and the job cannot complete meanwhile
        // (completion runs on this thread too; `clean_up` waits for it).
        self.state().progress_callback = Some(cb);
    }

    /// Stores the result, runs the completion callback exactly once, then marks the job
    /// completed and wakes every waiter (D-19). A job completes once: a later call changes
    /// nothing.
    pub(crate) fn complete(&self, result: K::Result) {
        let cb = {
            let mut st = self.state();
            if st.result.is_some() {
                return;
            }
            K::final_progress(&mut st.progress, &result);
            st.result = Some(result);
            st.completed_callback.take()
        };
        if let Some(cb) = cb {
            if std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| cb(self, &K::CompletedArgs::default())))
                .is_err()
            {
                tracing::error!("a job's completed callback panicked");
            }
        }
        let wakers = {
            let mut st = self.state();
            st.completed = true;
            st.progress_callback = None;
            std::mem::take(&mut st.wakers)
        };
        *lock_unpoisoned(&self.inner.worker) = None;
        self.inner.done.notify_all();
        for w in wakers {
            w.wake();
        }
    }
}

impl Job<Installation> {
    /// Install or uninstall.
    pub fn operation(&self) -> UpdateOperation {
        self.inner.tag
    }

    /// The start of update `index`: progress at its start, always a callback (D-20). The
    /// overall percentage stays where the previous update's end (`finish_update`) left it.
    pub(crate) fn start_update(&self, index: usize) {
        let snapshot = self.update_progress(|p| {
            p.current_update_index = index as i32;
            p.current_update_percent_complete = 0;
        });
        self.notify_progress(snapshot);
    }

    /// The end of update `index` with its result: always a callback (D-20).
    pub(crate) fn finish_update(&self, index: usize, result: &UpdateInstallationResult) {
        let n = self.inner.updates.count().max(1);
        let snapshot = self.update_progress(|p| {
            p.current_update_index = index as i32;
            p.current_update_percent_complete = 100;
            p.percent_complete = p.percent_complete.max(((index + 1) * 100 / n) as i32);
            if let Some(slot) = p.update_results.get_mut(index) {
                *slot = result.clone();
            }
        });
        self.notify_progress(snapshot);
    }
}

impl Job<Download> {
    /// The start of update `index` (`to_download` bytes): phase `Initializing`, always a
    /// callback (D-20, D-32). The overall percentage stays where the previous update's end
    /// (`finish_download`) left it.
    pub(crate) fn start_download(&self, index: usize, to_download: u64) {
        let snapshot = self.update_progress(|p| {
            p.current_update_index = index as i32;
            p.current_update_percent_complete = 0;
            p.current_update_bytes_downloaded = 0;
            p.current_update_bytes_to_download = to_download;
            p.current_update_download_phase = DownloadPhase::Initializing;
        });
        self.notify_progress(snapshot);
    }

    /// The current update moved to `phase` (D-32: phases only move forward).
    pub(crate) fn download_phase(&self, phase: DownloadPhase) {
        let snapshot = self.update_progress(|p| {
            if phase.value() > p.current_update_download_phase.value() {
                p.current_update_download_phase = phase;
            }
        });
        self.notify_progress(snapshot);
    }

    /// `bytes` more of the current update arrived (D-32: byte counts never decrease).
    pub(crate) fn downloaded(&self, index: usize, bytes: u64) {
        let n = self.inner.updates.count().max(1);
        self.update_progress(|p| {
            p.current_update_bytes_downloaded += bytes;
            p.total_bytes_downloaded += bytes;
            let done = p.current_update_bytes_downloaded.min(p.current_update_bytes_to_download) * 100;
            if let Some(percent) = done.checked_div(p.current_update_bytes_to_download) {
                // 100 is the update's end (`finish_download`).
                p.current_update_percent_complete = p.current_update_percent_complete.max(percent.min(99) as i32);
                let overall = ((index * 100 + p.current_update_percent_complete as usize) / n) as i32;
                p.percent_complete = p.percent_complete.max(overall);
            }
        });
    }

    /// The total to download, known once the updates' content was looked at.
    pub(crate) fn set_total_to_download(&self, total: u64) {
        self.update_progress(|p| p.total_bytes_to_download = total);
    }

    /// The end of update `index` with its result: always a callback (D-20).
    pub(crate) fn finish_download(&self, index: usize, result: &UpdateDownloadResult) {
        let n = self.inner.updates.count().max(1);
        let snapshot = self.update_progress(|p| {
            p.current_update_index = index as i32;
            p.current_update_percent_complete = 100;
            p.percent_complete = p.percent_complete.max(((index + 1) * 100 / n) as i32);
            if let Some(slot) = p.update_results.get_mut(index) {
                *slot = result.clone();
            }
        });
        self.notify_progress(snapshot);
    }
}

fn take_result<K: JobKind>(st: &mut JobState<K>) -> Result<K::Result, WuError> {
    if st.ended {
        return Err(WuError::new(HResult::WU_E_INVALID_OPERATION, "end was already called for this job"));
    }
    st.ended = true;
    st.result.clone().ok_or_else(|| WuError::new(HResult::WU_E_UNEXPECTED, "the job completed without a result"))
}

/// The future of an async `End*` (D-22).
#[derive(Debug)]
pub struct EndFuture<K: JobKind> {
    job: Job<K>,
}

impl<K: JobKind> Future for EndFuture<K> {
    type Output = Result<K::Result, WuError>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let mut st = self.job.state();
        if st.completed {
            return Poll::Ready(take_result(&mut st));
        }
        st.wakers.push(cx.waker().clone());
        Poll::Pending
    }
}

/// The monitor of the update a job is working on: progress within the update becomes the job's
/// snapshot at once and a callback when it moved by at least one point and the last callback
/// is at least 100 ms old (D-20); an abort request is the job's (D-23).
pub(crate) struct JobMonitor<'a> {
    job: &'a InstallationJob,
    index: usize,
    notified_percent: u32,
    notified_at: Instant,
}

/// D-20: at most one in-between progress callback per this interval.
const PROGRESS_INTERVAL: Duration = Duration::from_millis(100);

impl<'a> JobMonitor<'a> {
    /// Right after [`InstallationJob::start_update`] for `index`.
    pub(crate) fn new(job: &'a InstallationJob, index: usize) -> Self {
        JobMonitor { job, index, notified_percent: 0, notified_at: Instant::now() }
    }
}

impl Monitor for JobMonitor<'_> {
    fn progress(&mut self, percent: u32) {
        let percent = percent.min(100);
        let n = self.job.inner.updates.count().max(1);
        let index = self.index;
        let snapshot = self.job.update_progress(|p| {
            p.current_update_percent_complete = p.current_update_percent_complete.max(percent as i32);
            let overall = ((index * 100 + percent as usize) / n) as i32;
            p.percent_complete = p.percent_complete.max(overall);
        });
        // The end of the update has a callback of its own (`finish_update`).
        if percent < 100 && percent > self.notified_percent && self.notified_at.elapsed() >= PROGRESS_INTERVAL {
            self.notified_percent = percent;
            self.notified_at = Instant::now();
            self.job.notify_progress(snapshot);
        }
    }

    fn abort_requested(&self) -> bool {
        self.job.aborted()
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Mutex;

    use wua_install::Monitor;
    use wua_types::{OperationResultCode, Update, UpdateDocument, UpdateFlags, UpdateInstallationResult};

    use super::*;

    fn updates(n: u32) -> UpdateCollection {
        let mut c = UpdateCollection::new();
        for i in 1..=n {
            let json = format!(
                r#"{{"schema_version": 1, "update_id": "00000000-0000-4000-8000-{i:012x}", "revision_number": 1,
                    "title": "u{i}", "handler": {{"kind": "files"}}}}"#
            );
            let doc = UpdateDocument::from_json(json.as_bytes()).unwrap();
            c.add(Update::new(Arc::new(doc), UpdateFlags::default(), None)).unwrap();
        }
        c
    }

    /// The progress callbacks seen: (index, update %, job %) each.
    type Seen = Arc<Mutex<Vec<(i32, i32, i32)>>>;

    /// A job of `n` updates whose progress callbacks are recorded.
    fn recorded(n: u32) -> (InstallationJob, Seen) {
        let seen: Seen = Arc::default();
        let sink = seen.clone();
        let cb: ProgressCallback = Box::new(move |_, args| {
            let p = &args.progress;
            sink.lock().unwrap().push((p.current_update_index, p.current_update_percent_complete, p.percent_complete));
        });
        (InstallationJob::new(1, UpdateOperation::Installation, updates(n), Some(cb), None, None), seen)
    }

    /// D-20: progress within an update moves the update's and the job's percentages (the job's
    /// is the updates' mean), at most one callback per interval and only forward; each update's
    /// start and end always call back, and a finished two-update job is at 100%.
    #[test]
    fn d20_progress_within_and_across_updates() {
        let (job, seen) = recorded(2);
        job.start_update(0);
        // The interval has passed: this one calls back.
        let mut m =
            JobMonitor { job: &job, index: 0, notified_percent: 0, notified_at: Instant::now() - PROGRESS_INTERVAL };
        m.progress(40);
        // Within the interval (a moment that never ends): recorded in the snapshot, no callback.
        m.notified_at = Instant::now() + Duration::from_secs(3600);
        m.progress(60);
        assert_eq!(job.get_progress().current_update_percent_complete, 60);
        assert_eq!(job.get_progress().percent_complete, 30);
        // Backwards is no step back, and 100 waits for the update's end.
        m.notified_at = Instant::now() - PROGRESS_INTERVAL;
        m.progress(20);
        m.progress(100);
        assert_eq!(job.get_progress().current_update_percent_complete, 100);
        job.finish_update(0, &UpdateInstallationResult::new(OperationResultCode::Succeeded, HResult::S_OK));
        job.start_update(1);
        let mut m = JobMonitor::new(&job, 1);
        m.notified_at = Instant::now() - PROGRESS_INTERVAL;
        m.progress(50);
        // The same point again, the interval passed: no callback (it did not move).
        m.notified_at = Instant::now() - PROGRESS_INTERVAL;
        m.progress(50);
        job.finish_update(1, &UpdateInstallationResult::new(OperationResultCode::Succeeded, HResult::S_OK));
        assert_eq!(
            *seen.lock().unwrap(),
            [(0, 0, 0), (0, 40, 20), (0, 100, 50), (1, 0, 50), (1, 50, 75), (1, 100, 100)],
            "start, in between, end of each update"
        );
        assert_eq!(job.get_progress().percent_complete, 100);
    }

    /// A worker that panics still completes its job: the update it finished keeps its result,
    /// the one it was on fails with `WU_E_UNEXPECTED`; a search fails with it.
    #[test]
    fn a_panicking_worker_completes_its_job() {
        let (job, _) = recorded(2);
        let worker = job.clone();
        job.spawn_worker("test-worker", move || {
            worker.start_update(0);
            worker.finish_update(0, &UpdateInstallationResult::new(OperationResultCode::Succeeded, HResult::S_OK));
            worker.start_update(1);
            panic!("a bug");
        })
        .unwrap();
        let r = job.end(Some(Duration::from_secs(60))).unwrap();
        let codes: Vec<_> = r.update_results.iter().map(|u| (u.result_code, u.hresult)).collect();
        let failed = (OperationResultCode::Failed, HResult::WU_E_UNEXPECTED);
        assert_eq!(codes, [(OperationResultCode::Succeeded, HResult::S_OK), failed]);
        assert_eq!(r.result_code, OperationResultCode::SucceededWithErrors);
        assert_eq!(job.get_progress().update_results, r.update_results);

        let download = DownloadJob::new(1, (), updates(2), None, None, None);
        let worker = download.clone();
        download
            .spawn_worker("test-worker", move || {
                worker.start_download(0, 0);
                let done = UpdateDownloadResult {
                    result_code: OperationResultCode::Succeeded,
                    hresult: HResult::S_OK,
                    message: String::new(),
                };
                worker.finish_download(0, &done);
                panic!("a bug");
            })
            .unwrap();
        let r = download.end(Some(Duration::from_secs(60))).unwrap();
        let codes: Vec<_> = r.update_results.iter().map(|u| (u.result_code, u.hresult)).collect();
        assert_eq!(codes, [(OperationResultCode::Succeeded, HResult::S_OK), failed]);

        let search = SearchJob::new(1, (), UpdateCollection::new(), None, None, None);
        search.spawn_worker("test-worker", || panic!("a bug")).unwrap();
        let e = search.end(Some(Duration::from_secs(60))).unwrap().unwrap_err();
        assert_eq!(e.hresult, HResult::WU_E_UNEXPECTED);

        // A worker that returns without completing its job (a bug too) completes it the same way.
        let search = SearchJob::new(1, (), UpdateCollection::new(), None, None, None);
        search.spawn_worker("test-worker", || ()).unwrap();
        let e = search.end(Some(Duration::from_secs(60))).unwrap().unwrap_err();
        assert_eq!(e.hresult, HResult::WU_E_UNEXPECTED);
    }

    /// A job completes once: its result, its progress and its completed callback are the
    /// first completion's, before and after `End*`.
    #[test]
    fn a_job_completes_once() {
        let calls = Arc::new(Mutex::new(0));
        let counter = calls.clone();
        let done: CompletedCallback = Box::new(move |_, _| *counter.lock().unwrap() += 1);
        let job = InstallationJob::new(1, UpdateOperation::Installation, updates(1), None, Some(done), None);
        let ok = UpdateInstallationResult::new(OperationResultCode::Succeeded, HResult::S_OK);
        let failed = UpdateInstallationResult::failed(HResult::WU_E_UNEXPECTED, "a second completion");
        job.complete(InstallationResult::aggregate(vec![ok.clone()], false));
        job.complete(InstallationResult::aggregate(vec![failed.clone()], false));
        assert_eq!(job.end(Some(Duration::from_secs(60))).unwrap().update_results, std::slice::from_ref(&ok));
        job.complete(InstallationResult::aggregate(vec![failed], false));
        assert_eq!(job.get_progress().update_results, [ok]);
        assert_eq!(*calls.lock().unwrap(), 1);
    }
}
