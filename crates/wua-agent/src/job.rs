//! `IInstallationJob`: the asynchronous half of the installer (decisions D-18..D-25).
//!
//! A job is a cloneable handle that knows its installer and its kind (D-43). Its work runs on
//! one thread of its own, which also invokes the callbacks, outside the job's lock: so
//! callbacks of one job never run concurrently, every progress callback comes before the
//! completion callback, and the completion callback runs exactly once (D-19). The job counts as
//! completed only after the completion callback returned. State sits behind one mutex and a
//! condition variable; waits use the standard library, never an async runtime (D-43).

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
    HResult, InstallationProgress, InstallationResult, UpdateCollection, UpdateInstallationResult, UpdateOperation,
    WuError, lock_unpoisoned, wait_unpoisoned,
};

/// `AsyncState`: any value the caller passes to `begin_*`, returned unchanged (D-25).
pub type AsyncState = Arc<dyn Any + Send + Sync>;

/// `IInstallationProgressChangedCallbackArgs`.
#[derive(Clone, Debug)]
pub struct InstallationProgressChangedCallbackArgs {
    /// `Progress`: a snapshot taken when the callback was invoked.
    pub progress: InstallationProgress,
}

/// `IInstallationCompletedCallbackArgs` (no members; reserved).
#[derive(Clone, Debug, Default)]
pub struct InstallationCompletedCallbackArgs {}

/// `IInstallationProgressChangedCallback`.
pub type ProgressCallback = Box<dyn Fn(&InstallationJob, &InstallationProgressChangedCallbackArgs) + Send + Sync>;
/// `IInstallationCompletedCallback`.
pub type CompletedCallback = Box<dyn Fn(&InstallationJob, &InstallationCompletedCallbackArgs) + Send + Sync>;

/// `IInstallationJob`.
#[derive(Clone)]
pub struct InstallationJob {
    pub(crate) inner: Arc<JobInner>,
}

impl std::fmt::Debug for InstallationJob {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("InstallationJob")
            .field("operation", &self.inner.operation)
            .field("is_completed", &self.is_completed())
            .finish_non_exhaustive()
    }
}

pub(crate) struct JobInner {
    pub(crate) installer_id: u64,
    pub(crate) operation: UpdateOperation,
    pub(crate) updates: UpdateCollection,
    async_state: Option<AsyncState>,
    pub(crate) abort: AtomicBool,
    state: Mutex<JobState>,
    done: Condvar,
    worker: Mutex<Option<ThreadId>>,
}

struct JobState {
    progress: InstallationProgress,
    result: Option<InstallationResult>,
    completed: bool,
    ended: bool,
    progress_callback: Option<ProgressCallback>,
    completed_callback: Option<CompletedCallback>,
    wakers: Vec<Waker>,
}

impl InstallationJob {
    pub(crate) fn new(
        installer_id: u64,
        operation: UpdateOperation,
        updates: UpdateCollection,
        progress_callback: Option<ProgressCallback>,
        completed_callback: Option<CompletedCallback>,
        async_state: Option<AsyncState>,
    ) -> Self {
        let n = updates.count();
        InstallationJob {
            inner: Arc::new(JobInner {
                installer_id,
                operation,
                updates,
                async_state,
                abort: AtomicBool::new(false),
                state: Mutex::new(JobState {
                    progress: InstallationProgress {
                        current_update_index: 0,
                        current_update_percent_complete: 0,
                        percent_complete: 0,
                        update_results: vec![UpdateInstallationResult::not_started(); n],
                    },
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

    fn state(&self) -> MutexGuard<'_, JobState> {
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

    /// Install or uninstall.
    pub fn operation(&self) -> UpdateOperation {
        self.inner.operation
    }

    /// `GetProgress`: a fresh snapshot (D-20).
    pub fn get_progress(&self) -> InstallationProgress {
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
    fn wait_completed(&self, timeout: Option<Duration>) -> (MutexGuard<'_, JobState>, bool) {
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
    pub(crate) fn end(&self, timeout: Option<Duration>) -> Result<InstallationResult, WuError> {
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
    pub(crate) fn end_future(&self) -> EndFuture {
        EndFuture { job: self.clone() }
    }

    // --- the worker's side -----------------------------------------------------------------

    pub(crate) fn set_worker(&self) {
        *lock_unpoisoned(&self.inner.worker) = Some(std::thread::current().id());
    }

    pub(crate) fn aborted(&self) -> bool {
        self.inner.abort.load(Ordering::SeqCst)
    }

    /// The start of update `index`: progress at its start, always a callback (D-20).
    pub(crate) fn start_update(&self, index: usize) {
        let n = self.inner.updates.count().max(1);
        let snapshot = self.update_progress(|p| {
            p.current_update_index = index as i32;
            p.current_update_percent_complete = 0;
            p.percent_complete = p.percent_complete.max((index * 100 / n) as i32);
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

    /// Updates the progress snapshot; returns it for a callback.
    fn update_progress(&self, f: impl FnOnce(&mut InstallationProgress)) -> InstallationProgress {
        let mut st = self.state();
        f(&mut st.progress);
        st.progress.clone()
    }

    /// Invokes the progress callback (on the worker thread, outside the lock; D-19). A panic in
    /// it is caught and logged; the job goes on.
    fn notify_progress(&self, progress: InstallationProgress) {
        let Some(cb) = self.state().progress_callback.take() else { return };
        let args = InstallationProgressChangedCallbackArgs { progress };
        if std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| cb(self, &args))).is_err() {
            tracing::error!("an installation progress callback panicked; the job goes on");
        }
        let mut st = self.state();
        if st.progress_callback.is_none() && !st.completed {
            st.progress_callback = Some(cb);
        }
    }

    /// Stores the result, runs the completion callback exactly once, then marks the job
    /// completed and wakes every waiter (D-19).
    pub(crate) fn complete(&self, result: InstallationResult) {
        let cb = {
            let mut st = self.state();
            st.progress.update_results = result.update_results.clone();
            st.result = Some(result);
            st.completed_callback.take()
        };
        if let Some(cb) = cb {
            if std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                cb(self, &InstallationCompletedCallbackArgs {})
            }))
            .is_err()
            {
                tracing::error!("an installation completed callback panicked");
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

fn take_result(st: &mut JobState) -> Result<InstallationResult, WuError> {
    if st.ended {
        return Err(WuError::new(HResult::WU_E_INVALID_OPERATION, "end was already called for this job"));
    }
    st.ended = true;
    st.result.clone().ok_or_else(|| WuError::new(HResult::WU_E_UNEXPECTED, "the job completed without a result"))
}

/// The future of an async `End*` (D-22).
#[derive(Debug)]
pub struct EndFuture {
    job: InstallationJob,
}

impl Future for EndFuture {
    type Output = Result<InstallationResult, WuError>;

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
