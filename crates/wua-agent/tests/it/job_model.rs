//! A property test of the job state machine (D-18..D-25, D-8): random sequences of begin,
//! progress reads, abort, end, end with a time-out, clean-up and misuse, run from three threads
//! on real jobs (real programs and files), checked against a model. A watchdog fails a case
//! that does not finish, so a deadlock is a failure, not a hang.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, mpsc};
use std::time::Duration;

use proptest::prelude::*;
use proptest::test_runner::{Config, TestCaseError, TestRunner};
use wua_agent::wua_types::{HResult, InstallationResult, OperationResultCode as Orc, Update, WuError};
use wua_agent::{CompletedCallback, InstallationJob, ProgressCallback, UpdateInstaller, UpdateSession};

use crate::support::*;

const WATCHDOG: Duration = Duration::from_secs(120);
const LONG: Duration = Duration::from_secs(60);

#[derive(Clone, Debug)]
enum Op {
    /// Thread 0 only: begin a job on one of the update sets.
    Begin {
        uninstall: bool,
        set: usize,
    },
    Progress(usize),
    Abort(usize),
    End(usize),
    EndTimeout(usize, u64),
    CleanUp(usize),
    EndWrongKind(usize),
    EndOtherInstaller(usize),
}

fn shared_op() -> impl Strategy<Value = Op> {
    prop_oneof![
        3 => any::<usize>().prop_map(Op::Progress),
        1 => any::<usize>().prop_map(Op::Abort),
        2 => any::<usize>().prop_map(Op::End),
        2 => (any::<usize>(), 0u64..80).prop_map(|(j, ms)| Op::EndTimeout(j, ms)),
        1 => any::<usize>().prop_map(Op::CleanUp),
        1 => any::<usize>().prop_map(Op::EndWrongKind),
        1 => any::<usize>().prop_map(Op::EndOtherInstaller),
    ]
}

fn first_thread_op() -> impl Strategy<Value = Op> {
    prop_oneof![
        2 => (any::<bool>(), 0usize..4).prop_map(|(uninstall, set)| Op::Begin { uninstall, set }),
        3 => shared_op(),
    ]
}

fn scenario() -> impl Strategy<Value = Vec<Vec<Op>>> {
    (
        prop::collection::vec(first_thread_op(), 1..10),
        prop::collection::vec(shared_op(), 0..8),
        prop::collection::vec(shared_op(), 0..8),
    )
        .prop_map(|(a, b, c)| vec![a, b, c])
}

/// One begun job and what the model knows of it.
struct Tracked {
    job: InstallationJob,
    installer: Arc<UpdateInstaller>,
    uninstall: bool,
    /// Progress percentages seen by the callback, then `-1` for the completion callback.
    callbacks: Arc<Mutex<Vec<i32>>>,
    completions: Arc<AtomicUsize>,
    ends_ok: AtomicUsize,
    abort_requested: AtomicBool,
}

struct Fixture {
    session: UpdateSession,
    sets: Vec<Vec<Update>>,
    other: UpdateInstaller,
}

fn fixture(w: &World) -> Fixture {
    let session = session(w);
    let sleeping = |n: u32, secs: &str| {
        let handler = format!(
            "program = \"sleep.sh\"\narguments = [\"{secs}\"]\n{RETURN_CODES}\n\n[handler.uninstall]\nprogram = \"sleep.sh\"\narguments = [\"{secs}\"]\n{RETURN_CODES}\n"
        );
        command_update(w, &session, n, &handler, &[("sleep.sh", 0o755, b"#!/bin/sh\nsleep \"$1\"\n")])
    };
    let files = simple(w, &session, 1, &[("m/a", 0o644, b"a"), ("m/b", 0o644, b"b")]);
    let fast = sleeping(2, "0.01");
    let slow = sleeping(3, "0.2");
    let sets = vec![vec![files.clone()], vec![fast.clone()], vec![slow.clone()], vec![files, slow, fast]];
    let other = session.create_update_installer();
    Fixture { session, sets, other }
}

fn check(cond: bool, what: impl Into<String>) -> Result<(), TestCaseError> {
    if cond { Ok(()) } else { Err(TestCaseError::fail(what.into())) }
}

fn expect_err(r: Result<InstallationResult, WuError>, codes: &[HResult], what: &str) -> Result<(), TestCaseError> {
    match r {
        Err(e) if codes.contains(&e.hresult) => Ok(()),
        other => Err(TestCaseError::fail(format!("{what}: expected one of {codes:?}, got {other:?}"))),
    }
}

/// Runs one thread's ops; thread 0 may begin jobs.
fn run_ops(fx: &Fixture, jobs: &Mutex<Vec<Arc<Tracked>>>, ops: &[Op]) -> Result<(), TestCaseError> {
    let mut seen_percent: HashMap<usize, i32> = HashMap::new();
    for op in ops {
        if let Op::Begin { uninstall, set } = op {
            let all_completed = jobs.lock().unwrap().iter().all(|t| t.job.is_completed());
            let installer = Arc::new(fx.session.create_update_installer());
            installer.set_updates(fx.sets[*set].iter().cloned().collect());
            installer.set_is_forced(true); // every job really runs its handlers
            let callbacks = Arc::new(Mutex::new(Vec::new()));
            let completions = Arc::new(AtomicUsize::new(0));
            let (c1, c2, n) = (callbacks.clone(), callbacks.clone(), completions.clone());
            let progress: ProgressCallback =
                Box::new(move |_j: &InstallationJob, a| c1.lock().unwrap().push(a.progress.percent_complete));
            let completed: CompletedCallback = Box::new(move |_j: &InstallationJob, _| {
                n.fetch_add(1, Ordering::SeqCst);
                c2.lock().unwrap().push(-1);
            });
            let begun = if *uninstall {
                installer.begin_uninstall(Some(progress), Some(completed), None)
            } else {
                installer.begin_install(Some(progress), Some(completed), None)
            };
            match begun {
                Ok(job) => jobs.lock().unwrap().push(Arc::new(Tracked {
                    job,
                    installer,
                    uninstall: *uninstall,
                    callbacks,
                    completions,
                    ends_ok: AtomicUsize::new(0),
                    abort_requested: AtomicBool::new(false),
                })),
                Err(e) => {
                    check(e.hresult == HResult::WU_E_INSTALL_NOT_ALLOWED, format!("D-8: begin failed with {e}"))?;
                    check(!all_completed, "D-8: begin refused although every job had completed")?;
                }
            }
            continue;
        }
        let picked = {
            let jobs = jobs.lock().unwrap();
            let index = match op {
                Op::Progress(i)
                | Op::Abort(i)
                | Op::End(i)
                | Op::EndTimeout(i, _)
                | Op::CleanUp(i)
                | Op::EndWrongKind(i)
                | Op::EndOtherInstaller(i) => *i,
                Op::Begin { .. } => unreachable!("handled above"),
            };
            if jobs.is_empty() { None } else { Some((index % jobs.len(), jobs[index % jobs.len()].clone())) }
        };
        let Some((k, t)) = picked else { continue };
        let end_timeout = |t: &Tracked, d| {
            if t.uninstall {
                t.installer.end_uninstall_timeout(&t.job, d)
            } else {
                t.installer.end_install_timeout(&t.job, d)
            }
        };
        match op {
            Op::Progress(_) => {
                let p = t.job.get_progress();
                let last = seen_percent.entry(k).or_insert(0);
                check(p.percent_complete >= *last, "D-20: percent_complete went down between reads")?;
                *last = p.percent_complete;
            }
            Op::Abort(_) => {
                t.abort_requested.store(true, Ordering::SeqCst);
                check(t.job.request_abort().is_ok(), "D-23: request_abort failed")?;
            }
            Op::End(_) | Op::EndTimeout(..) => {
                let r = match op {
                    Op::EndTimeout(_, ms) => end_timeout(&t, Duration::from_millis(*ms)),
                    // Bounded: a job that never completes fails with WU_E_TIME_OUT below.
                    _ => end_timeout(&t, LONG),
                };
                match r {
                    Ok(_) => {
                        check(t.job.is_completed(), "D-21: end returned before the job completed")?;
                        check(t.ends_ok.fetch_add(1, Ordering::SeqCst) == 0, "D-21: a second end succeeded")?;
                    }
                    // Another thread's end took the result (its count may not be up yet: `drain`
                    // checks that exactly one end succeeded).
                    Err(e) if e.hresult == HResult::WU_E_INVALID_OPERATION => {}
                    Err(e) if e.hresult == HResult::WU_E_TIME_OUT && matches!(op, Op::EndTimeout(..)) => {}
                    Err(e) => return Err(TestCaseError::fail(format!("end: {e}"))),
                }
            }
            Op::CleanUp(_) => {
                check(t.job.clean_up().is_ok(), "D-24: clean_up failed")?;
                check(t.job.is_completed(), "D-24: clean_up returned before completion")?;
            }
            Op::EndWrongKind(_) => {
                let r = if t.uninstall { t.installer.end_install(&t.job) } else { t.installer.end_uninstall(&t.job) };
                expect_err(r, &[HResult::E_INVALIDARG], "D-21 wrong kind")?;
            }
            Op::EndOtherInstaller(_) => {
                let r = if t.uninstall { fx.other.end_uninstall(&t.job) } else { fx.other.end_install(&t.job) };
                expect_err(r, &[HResult::E_INVALIDARG], "D-21 other installer")?;
            }
            Op::Begin { .. } => unreachable!(),
        }
    }
    Ok(())
}

/// Ends what is left (every job has completed) and checks every job's callbacks and result
/// against the model.
fn drain(jobs: &[Arc<Tracked>]) -> Result<(), TestCaseError> {
    for t in jobs {
        let r = if t.uninstall { t.installer.end_uninstall(&t.job) } else { t.installer.end_install(&t.job) };
        let already = t.ends_ok.load(Ordering::SeqCst);
        match (r, already) {
            (Ok(result), 0) => {
                let aborted = result.result_code == Orc::Aborted;
                if aborted {
                    check(result.hresult == HResult::WU_E_CALL_CANCELLED, "D-23: aborted job's HResult")?;
                    check(t.abort_requested.load(Ordering::SeqCst), "D-23: aborted without a request")?;
                } else {
                    check(result.result_code == Orc::Succeeded, format!("unexpected result {result:?}"))?;
                }
            }
            (Err(e), 1) if e.hresult == HResult::WU_E_INVALID_OPERATION => {}
            (other, n) => return Err(TestCaseError::fail(format!("final end after {n} ends: {other:?}"))),
        }
        check(t.job.is_completed(), "D-21: completed after end")?;
        check(t.completions.load(Ordering::SeqCst) == 1, "D-19: completion callback exactly once")?;
        let calls = t.callbacks.lock().unwrap().clone();
        check(calls.last() == Some(&-1), format!("D-19: completion comes last: {calls:?}"))?;
        let progress: Vec<i32> = calls[..calls.len() - 1].to_vec();
        check(!progress.contains(&-1), "D-19: one completion")?;
        check(progress.windows(2).all(|w| w[0] <= w[1]), format!("D-20: percentages went down: {progress:?}"))?;
        let started = t.job.get_progress().update_results.iter().any(|r| r.result_code != Orc::Aborted);
        check(!started || !progress.is_empty(), "D-20: a started update has its start callback")?;
        check(t.job.clean_up().is_ok(), "D-24: clean_up is idempotent")?;
    }
    Ok(())
}

/// D-8, D-18..D-25 hold for random concurrent sequences, and nothing deadlocks.
#[test]
fn d18_to_d25_job_state_machine() {
    let w = World::new().unwrap();
    let fx = Arc::new(fixture(&w));
    let mut runner = TestRunner::new(Config { cases: 64, failure_persistence: None, ..Config::default() });
    runner
        .run(&scenario(), |threads| {
            let fx = fx.clone();
            let (tx, rx) = mpsc::channel();
            // The watchdog: the case runs on its own thread and must report in time.
            std::thread::spawn(move || {
                let jobs = Arc::new(Mutex::new(Vec::new()));
                let outcome = std::thread::scope(|scope| {
                    let handles: Vec<_> = threads.iter().map(|ops| scope.spawn(|| run_ops(&fx, &jobs, ops))).collect();
                    handles
                        .into_iter()
                        .map(|h| h.join().unwrap_or_else(|_| Err(TestCaseError::fail("panic"))))
                        .collect()
                });
                let outcome: Result<Vec<()>, TestCaseError> = outcome;
                let jobs = jobs.lock().unwrap();
                // Whatever happened, no job runs into the next case (D-24: clean_up waits).
                let cleaned = jobs.iter().all(|t| t.job.clean_up().is_ok());
                let outcome = outcome.and_then(|_| check(cleaned, "D-24: clean_up failed")).and_then(|_| drain(&jobs));
                let _ = tx.send(outcome);
            });
            match rx.recv_timeout(WATCHDOG) {
                Ok(outcome) => outcome,
                Err(_) => panic!("a job sequence did not finish within {WATCHDOG:?}: deadlock"),
            }
        })
        .unwrap();
}
