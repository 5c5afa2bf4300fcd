//! The job property test's state machine (D-18..D-25, D-30) on the other two kinds of jobs the
//! core serves (D-43): download and search jobs, begun on a real repository served on
//! 127.0.0.1, from three threads at once, checked against a model, under a watchdog.

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, mpsc};
use std::time::Duration;

use proptest::prelude::*;
use proptest::test_runner::{Config, TestCaseError, TestRunner};
use wua_agent::wua_types::{HResult, OperationResultCode as Orc, UpdateCollection};
use wua_agent::{
    DownloadCompletedCallback, DownloadJob, DownloadProgressCallback, SearchCompletedCallback, SearchJob,
    UpdateDownloader, UpdateSearcher, UpdateSession,
};
use wua_test_support::serve::Served;

use crate::search::{Repo, add_service};
use crate::support::*;

const WATCHDOG: Duration = Duration::from_secs(120);
const LONG: Duration = Duration::from_secs(60);

#[derive(Clone, Debug)]
enum Op {
    /// Thread 0 only: begin a download (`true`) or a search job.
    Begin(bool),
    Progress(usize),
    Abort(usize),
    End(usize),
    EndTimeout(usize, u64),
    CleanUp(usize),
    EndOtherOwner(usize),
}

fn shared_op() -> impl Strategy<Value = Op> {
    prop_oneof![
        2 => any::<usize>().prop_map(Op::Progress),
        1 => any::<usize>().prop_map(Op::Abort),
        2 => any::<usize>().prop_map(Op::End),
        2 => (any::<usize>(), 0u64..50).prop_map(|(j, ms)| Op::EndTimeout(j, ms)),
        1 => any::<usize>().prop_map(Op::CleanUp),
        1 => any::<usize>().prop_map(Op::EndOtherOwner),
    ]
}

fn scenario() -> impl Strategy<Value = Vec<Vec<Op>>> {
    let first = prop_oneof![2 => any::<bool>().prop_map(Op::Begin), 3 => shared_op()];
    (
        prop::collection::vec(first, 1..8),
        prop::collection::vec(shared_op(), 0..8),
        prop::collection::vec(shared_op(), 0..8),
    )
        .prop_map(|(a, b, c)| vec![a, b, c])
}

/// A begun job of either kind.
enum Begun {
    Download(DownloadJob, Arc<UpdateDownloader>),
    Search(SearchJob, Arc<UpdateSearcher>),
}

/// What an `end_*` returned, reduced to what the model checks.
type Ended = Result<Orc, HResult>;

impl Begun {
    fn is_completed(&self) -> bool {
        match self {
            Begun::Download(j, _) => j.is_completed(),
            Begun::Search(j, _) => j.is_completed(),
        }
    }
    fn request_abort(&self) -> bool {
        match self {
            Begun::Download(j, _) => j.request_abort().is_ok(),
            Begun::Search(j, _) => j.request_abort().is_ok(),
        }
    }
    fn clean_up(&self) -> bool {
        match self {
            Begun::Download(j, _) => j.clean_up().is_ok(),
            Begun::Search(j, _) => j.clean_up().is_ok(),
        }
    }
    fn end(&self, timeout: Duration) -> Ended {
        match self {
            Begun::Download(j, d) => d.end_download_timeout(j, timeout).map(|r| r.result_code).map_err(|e| e.hresult),
            Begun::Search(j, s) => s.end_search_timeout(j, timeout).map(|r| r.result_code).map_err(|e| e.hresult),
        }
    }
    fn end_by_other(&self, fx: &Fixture) -> Ended {
        match self {
            Begun::Download(j, _) => fx.other_downloader.end_download(j).map(|r| r.result_code).map_err(|e| e.hresult),
            Begun::Search(j, _) => fx.other_searcher.end_search(j).map(|r| r.result_code).map_err(|e| e.hresult),
        }
    }
    fn progress_bytes(&self) -> u64 {
        match self {
            Begun::Download(j, _) => j.get_progress().total_bytes_downloaded,
            Begun::Search(..) => 0,
        }
    }
}

struct Tracked {
    job: Begun,
    /// Bytes seen by the progress callback, then `u64::MAX` for the completion callback.
    callbacks: Arc<Mutex<Vec<u64>>>,
    completions: Arc<AtomicUsize>,
    ends_ok: AtomicUsize,
    abort_requested: AtomicBool,
}

struct Fixture {
    session: UpdateSession,
    updates: UpdateCollection,
    other_downloader: UpdateDownloader,
    other_searcher: UpdateSearcher,
}

fn check(cond: bool, what: impl Into<String>) -> Result<(), TestCaseError> {
    if cond { Ok(()) } else { Err(TestCaseError::fail(what.into())) }
}

fn begin(fx: &Fixture, download: bool) -> Tracked {
    let callbacks = Arc::new(Mutex::new(Vec::new()));
    let completions = Arc::new(AtomicUsize::new(0));
    let (c1, c2, n) = (callbacks.clone(), callbacks.clone(), completions.clone());
    let job = if download {
        let downloader = Arc::new(fx.session.create_update_downloader());
        downloader.set_updates(fx.updates.copy());
        downloader.set_is_forced(true); // every job really fetches
        let progress: DownloadProgressCallback =
            Box::new(move |_, a| c1.lock().unwrap().push(a.progress.total_bytes_downloaded));
        let completed: DownloadCompletedCallback = Box::new(move |_, _| {
            n.fetch_add(1, Ordering::SeqCst);
            c2.lock().unwrap().push(u64::MAX);
        });
        Begun::Download(downloader.begin_download(Some(progress), Some(completed), None).unwrap(), downloader)
    } else {
        let searcher = Arc::new(fx.session.create_update_searcher());
        searcher.set_online(false);
        let completed: SearchCompletedCallback = Box::new(move |_, _| {
            n.fetch_add(1, Ordering::SeqCst);
            c2.lock().unwrap().push(u64::MAX);
        });
        Begun::Search(searcher.begin_search("IsInstalled=0", Some(completed), None).unwrap(), searcher)
    };
    Tracked { job, callbacks, completions, ends_ok: AtomicUsize::new(0), abort_requested: AtomicBool::new(false) }
}

fn run_ops(fx: &Fixture, jobs: &Mutex<Vec<Arc<Tracked>>>, ops: &[Op]) -> Result<(), TestCaseError> {
    let mut seen_bytes = std::collections::HashMap::new();
    for op in ops {
        if let Op::Begin(download) = op {
            let t = Arc::new(begin(fx, *download));
            jobs.lock().unwrap().push(t);
            continue;
        }
        let index = match op {
            Op::Progress(i)
            | Op::Abort(i)
            | Op::End(i)
            | Op::EndTimeout(i, _)
            | Op::CleanUp(i)
            | Op::EndOtherOwner(i) => *i,
            Op::Begin(_) => unreachable!("handled above"),
        };
        let picked = {
            let jobs = jobs.lock().unwrap();
            (!jobs.is_empty()).then(|| (index % jobs.len(), jobs[index % jobs.len()].clone()))
        };
        let Some((k, t)) = picked else { continue };
        match op {
            Op::Progress(_) => {
                let bytes = t.job.progress_bytes();
                let last = seen_bytes.entry(k).or_insert(0);
                check(bytes >= *last, "D-32: bytes went down between reads")?;
                *last = bytes;
            }
            Op::Abort(_) => {
                t.abort_requested.store(true, Ordering::SeqCst);
                check(t.job.request_abort(), "D-23: request_abort failed")?;
            }
            Op::End(_) | Op::EndTimeout(..) => {
                let timeout = match op {
                    Op::EndTimeout(_, ms) => Duration::from_millis(*ms),
                    _ => LONG,
                };
                match t.job.end(timeout) {
                    Ok(_) => {
                        check(t.job.is_completed(), "D-21: end returned before the job completed")?;
                        check(t.ends_ok.fetch_add(1, Ordering::SeqCst) == 0, "D-21, D-30: a second end succeeded")?;
                    }
                    // Another thread's end took the result (its count may not be up yet: `drain`
                    // checks that exactly one end succeeded).
                    Err(HResult::WU_E_INVALID_OPERATION) => {}
                    Err(HResult::WU_E_TIME_OUT) if matches!(op, Op::EndTimeout(..)) => {}
                    Err(e) => return Err(TestCaseError::fail(format!("end: {e}"))),
                }
            }
            Op::CleanUp(_) => {
                check(t.job.clean_up(), "D-24: clean_up failed")?;
                check(t.job.is_completed(), "D-24: clean_up returned before completion")?;
            }
            Op::EndOtherOwner(_) => {
                check(t.job.end_by_other(fx) == Err(HResult::E_INVALIDARG), "D-21: a job of another owner")?;
            }
            Op::Begin(_) => unreachable!(),
        }
    }
    Ok(())
}

fn drain(jobs: &[Arc<Tracked>]) -> Result<(), TestCaseError> {
    for t in jobs {
        match (t.job.end(LONG), t.ends_ok.load(Ordering::SeqCst)) {
            (Ok(Orc::Aborted), 0) => {
                check(t.abort_requested.load(Ordering::SeqCst), "D-23: aborted without a request")?
            }
            (Ok(code), 0) => check(code == Orc::Succeeded, format!("unexpected result {code:?}"))?,
            (Err(HResult::WU_E_INVALID_OPERATION), 1) => {}
            (other, n) => return Err(TestCaseError::fail(format!("final end after {n} ends: {other:?}"))),
        }
        check(t.job.is_completed(), "D-21: completed after end")?;
        check(t.completions.load(Ordering::SeqCst) == 1, "D-19: completion callback exactly once")?;
        let calls = t.callbacks.lock().unwrap().clone();
        check(calls.last() == Some(&u64::MAX), format!("D-19: completion comes last: {calls:?}"))?;
        let progress = &calls[..calls.len() - 1];
        check(progress.windows(2).all(|w| w[0] <= w[1]), format!("D-32: bytes went down: {progress:?}"))?;
        check(t.job.clean_up(), "D-24: clean_up is idempotent")?;
    }
    Ok(())
}

/// D-18..D-25 and D-30 hold for download and search jobs under random concurrent sequences.
#[test]
fn d18_to_d25_download_and_search_jobs() {
    let w = World::new().unwrap();
    let repo = Repo::new(&w);
    repo.publish(1, 1, "");
    repo.publish_content(2, &vec![7u8; 200_000]);
    let server = Served::start(&repo.served_tree());
    let session = session(&w);
    add_service(&session, &server.url, &repo.root());
    let updates = session.create_update_searcher().search("").unwrap().updates;
    assert_eq!(updates.count(), 2);
    let fx = Arc::new(Fixture {
        other_downloader: session.create_update_downloader(),
        other_searcher: session.create_update_searcher(),
        session,
        updates,
    });
    let mut runner = TestRunner::new(Config { cases: 32, failure_persistence: None, ..Config::default() });
    runner
        .run(&scenario(), |threads| {
            let fx = fx.clone();
            let (tx, rx) = mpsc::channel();
            std::thread::spawn(move || {
                let jobs = Arc::new(Mutex::new(Vec::new()));
                let outcome: Result<Vec<()>, TestCaseError> = std::thread::scope(|scope| {
                    let handles: Vec<_> = threads.iter().map(|ops| scope.spawn(|| run_ops(&fx, &jobs, ops))).collect();
                    handles
                        .into_iter()
                        .map(|h| h.join().unwrap_or_else(|_| Err(TestCaseError::fail("panic"))))
                        .collect()
                });
                let jobs = jobs.lock().unwrap();
                let cleaned = jobs.iter().all(|t| t.job.clean_up());
                let outcome = outcome.and_then(|_| check(cleaned, "D-24: clean_up failed")).and_then(|_| drain(&jobs));
                let _ = tx.send(outcome);
            });
            match rx.recv_timeout(WATCHDOG) {
                Ok(outcome) => outcome,
                Err(_) => panic!("a job sequence did not finish within {WATCHDOG:?}: deadlock"),
            }
        })
        .unwrap();
    drop(server);
}
