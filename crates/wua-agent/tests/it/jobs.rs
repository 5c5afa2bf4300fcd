//! The installer's jobs (D-18..D-25): callbacks, progress, misuse, time-outs, abort, and D-8's
//! exclusivity within one process. Every wait is bounded, so a deadlock fails instead of
//! hanging: by `end_*_timeout`, or, around a plain `end_*` (which must stay tested) and calls
//! that must return at once, by the test's watchdog.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, mpsc};
use std::thread::ThreadId;
use std::time::Duration;

use wua_agent::wua_types::{HResult, InstallationProgress, OperationResultCode as Orc, UpdateOperation};
use wua_agent::{
    AsyncState, CompletedCallback, InstallationJob, ProgressCallback, SessionOptions, UpdateInstaller, UpdateSession,
};

use crate::support::*;

const LONG: Duration = Duration::from_secs(60);

#[derive(Debug)]
enum Event {
    Progress(ThreadId, InstallationProgress),
    Completed(ThreadId, bool),
}

/// Callbacks that record what they see.
fn recorder() -> (Arc<Mutex<Vec<Event>>>, Option<ProgressCallback>, Option<CompletedCallback>) {
    let events = Arc::new(Mutex::new(Vec::new()));
    let (a, b) = (events.clone(), events.clone());
    let progress: ProgressCallback = Box::new(move |_job: &InstallationJob, args| {
        a.lock().unwrap().push(Event::Progress(std::thread::current().id(), args.progress.clone()));
    });
    let completed: CompletedCallback = Box::new(move |job: &InstallationJob, _args| {
        b.lock().unwrap().push(Event::Completed(std::thread::current().id(), job.is_completed()));
    });
    (events, Some(progress), Some(completed))
}

fn many_files(n: usize) -> Vec<(String, u32, Vec<u8>)> {
    (0..n).map(|i| (format!("data/f{i:04}"), 0o644, format!("file {i}").into_bytes())).collect()
}

fn as_refs(files: &[(String, u32, Vec<u8>)]) -> Vec<(&str, u32, &[u8])> {
    files.iter().map(|(p, m, b)| (p.as_str(), *m, b.as_slice())).collect()
}

/// D-18, D-19, D-20, D-25: callbacks on the job's thread, never concurrently, start and end
/// of every update, percentages that never decrease, completion exactly once and last, the
/// job completed only after it returned, and the async state handed back unchanged.
#[test]
fn d18_d19_d20_d25_callbacks_and_progress() {
    let _watchdog = watchdog("d18_d19_d20_d25_callbacks_and_progress");
    let w = World::new().unwrap();
    let s = session(&w);
    let big = many_files(400);
    let a = simple(&w, &s, 1, &as_refs(&big));
    let b = simple(&w, &s, 2, &[("b/one", 0o644, b"1")]);
    let c = simple(&w, &s, 3, &[("c/one", 0o644, b"1")]);
    let i = s.create_update_installer();
    i.set_updates(coll(&[&a, &b, &c]));
    let (events, on_progress, on_completed) = recorder();
    let state: AsyncState = Arc::new(String::from("caller's state"));
    let job = i.begin_install(on_progress, on_completed, Some(state.clone())).unwrap();
    assert!(Arc::ptr_eq(job.async_state().unwrap(), &state), "D-25");
    let r = i.end_install(&job).unwrap();
    assert!(job.is_completed());
    assert_eq!((r.result_code, r.hresult), (Orc::Succeeded, HResult::S_OK));
    assert_eq!(job.async_state().unwrap().downcast_ref::<String>().unwrap(), "caller's state");

    let events = events.lock().unwrap();
    let me = std::thread::current().id();
    let mut last_percent = 0;
    let mut seen_start = [false; 3];
    let mut seen_end = [false; 3];
    for (n, e) in events.iter().enumerate() {
        match e {
            Event::Progress(t, p) => {
                assert_ne!(*t, me, "D-18: callbacks run on the job's thread");
                assert!(p.percent_complete >= last_percent, "D-20: percent_complete went down at {n}");
                last_percent = p.percent_complete;
                let k = p.current_update_index as usize;
                seen_start[k] |= p.current_update_percent_complete == 0;
                seen_end[k] |= p.current_update_percent_complete == 100;
                if p.current_update_percent_complete == 100 {
                    assert_eq!(p.get_update_result(k as i32).unwrap().result_code, Orc::Succeeded);
                }
            }
            Event::Completed(t, completed_already) => {
                assert_eq!(n, events.len() - 1, "D-19: completion comes last");
                assert_ne!(*t, me);
                assert!(!completed_already, "D-19: the job is completed only after the callback returned");
            }
        }
    }
    assert_eq!(events.iter().filter(|e| matches!(e, Event::Completed(..))).count(), 1, "D-19: exactly once");
    assert_eq!((seen_start, seen_end), ([true; 3], [true; 3]), "D-20: start and end of each update");
    assert_eq!(last_percent, 100);
    // D-20: each update weighs the same: the first update's end is a third of the job.
    let first_end = events
        .iter()
        .find_map(|e| match e {
            Event::Progress(_, p) if p.current_update_index == 0 && p.current_update_percent_complete == 100 => {
                Some(p.percent_complete)
            }
            _ => None,
        })
        .unwrap();
    assert_eq!(first_end, 33);
    // D-20: get_progress is a fresh snapshot of the final state.
    let p = job.get_progress();
    assert_eq!((p.percent_complete, p.update_results.len()), (100, 3));
}

/// D-21: a job from another installer and a job of the other kind -> E_INVALIDARG; a second
/// end -> WU_E_INVALID_OPERATION; end after clean_up still returns the result.
#[test]
fn d21_misuse_of_end() {
    let _watchdog = watchdog("d21_misuse_of_end");
    let w = World::new().unwrap();
    let s = session(&w);
    let u = simple(&w, &s, 1, &[("x", 0o644, b"x")]);
    let i = s.create_update_installer();
    let other = s.create_update_installer();
    i.set_updates(coll(&[&u]));
    let job = i.begin_install(None, None, None).unwrap();
    assert_eq!(other.end_install(&job).unwrap_err().hresult, HResult::E_INVALIDARG);
    assert_eq!(i.end_uninstall(&job).unwrap_err().hresult, HResult::E_INVALIDARG);
    assert_eq!(i.end_uninstall_timeout(&job, LONG).unwrap_err().hresult, HResult::E_INVALIDARG);
    job.clean_up().unwrap();
    job.clean_up().unwrap(); // D-24: idempotent
    let r = i.end_install(&job).unwrap();
    assert_eq!(r.result_code, Orc::Succeeded);
    assert_eq!(i.end_install(&job).unwrap_err().hresult, HResult::WU_E_INVALID_OPERATION);
    assert_eq!(i.end_install_timeout(&job, LONG).unwrap_err().hresult, HResult::WU_E_INVALID_OPERATION);

    let un = i.begin_uninstall(None, None, None).unwrap();
    assert_eq!(i.end_install(&un).unwrap_err().hresult, HResult::E_INVALIDARG);
    assert_eq!(un.operation(), UpdateOperation::Uninstallation);
    assert_eq!(i.end_uninstall(&un).unwrap().result_code, Orc::Succeeded);
    assert!(!w.root.join("x").exists());
    // D-23: an abort of a completed job is a no-op that succeeds.
    un.request_abort().unwrap();
}

/// D-22: end with a time-out on a running job -> WU_E_TIME_OUT without consuming it; the job
/// ends normally later, also through the async counterpart.
#[test]
fn d22_end_with_time_out_and_async_end() {
    let _watchdog = watchdog("d22_end_with_time_out_and_async_end");
    let w = World::new().unwrap();
    let s = session(&w);
    let dir = w.work.join("hold1");
    let u = holding_update(&w, &s, 1, &dir);
    let i = s.create_update_installer();
    i.set_updates(coll(&[&u]));
    let job = i.begin_install(None, None, None).unwrap();
    wait_for("the program to start", LONG, || dir.join("pid").exists());
    let e = i.end_install_timeout(&job, Duration::from_millis(50)).unwrap_err();
    assert_eq!(e.hresult, HResult::WU_E_TIME_OUT);
    assert!(!job.is_completed());
    std::fs::remove_file(dir.join("hold")).unwrap();
    let r = block_on(i.end_install_async(&job)).unwrap();
    assert_eq!((r.result_code, r.hresult), (Orc::Succeeded, HResult::S_OK));
    assert_eq!(i.end_install(&job).unwrap_err().hresult, HResult::WU_E_INVALID_OPERATION);
    assert_eq!(block_on(i.end_install_async(&job)).unwrap_err().hresult, HResult::WU_E_INVALID_OPERATION);
}

/// D-24: clean_up and end from inside the job's own callbacks -> WU_E_INVALID_OPERATION at
/// once, no deadlock; a panicking callback is caught and the job goes on (D-19).
#[test]
fn d24_clean_up_and_end_inside_callbacks() {
    // The ends inside the callbacks must return at once; one that waited would hang the job.
    let _watchdog = watchdog("d24_clean_up_and_end_inside_callbacks");
    let w = World::new().unwrap();
    let s = session(&w);
    let u = simple(&w, &s, 1, &[("x", 0o644, b"x")]);
    let i = Arc::new(s.create_update_installer());
    i.set_updates(coll(&[&u]));
    let (tx, rx) = mpsc::channel::<(&'static str, HResult)>();
    let (tx1, i1) = (Mutex::new(tx.clone()), i.clone());
    let calls = Arc::new(AtomicUsize::new(0));
    let calls1 = calls.clone();
    let progress: ProgressCallback = Box::new(move |job: &InstallationJob, _| {
        if calls1.fetch_add(1, Ordering::SeqCst) == 0 {
            let tx = tx1.lock().unwrap();
            tx.send(("progress clean_up", job.clean_up().unwrap_err().hresult)).unwrap();
            tx.send(("progress end", i1.end_install(job).unwrap_err().hresult)).unwrap();
            panic!("a callback that panics");
        }
    });
    let (tx2, i2) = (Mutex::new(tx), i.clone());
    let completed: CompletedCallback = Box::new(move |job: &InstallationJob, _| {
        let tx = tx2.lock().unwrap();
        tx.send(("completed clean_up", job.clean_up().unwrap_err().hresult)).unwrap();
        tx.send(("completed end", i2.end_install_timeout(job, LONG).unwrap_err().hresult)).unwrap();
    });
    let job = i.begin_install(Some(progress), Some(completed), None).unwrap();
    let r = i.end_install_timeout(&job, LONG).expect("no deadlock");
    assert_eq!(r.result_code, Orc::Succeeded, "the job went on after the panic");
    let got: Vec<_> = rx.try_iter().collect();
    assert_eq!(
        got,
        vec![
            ("progress clean_up", HResult::WU_E_INVALID_OPERATION),
            ("progress end", HResult::WU_E_INVALID_OPERATION),
            ("completed clean_up", HResult::WU_E_INVALID_OPERATION),
            ("completed end", HResult::WU_E_INVALID_OPERATION),
        ]
    );
    assert!(calls.load(Ordering::SeqCst) >= 2, "progress callbacks continued after the panic");
    job.clean_up().unwrap();
}

/// D-23 in the middle of a three-update job whose second update is a sleeping command: the
/// first keeps its result, the program's process group is gone, its uninstall command ran, the
/// second and third are Aborted with WU_E_CALL_CANCELLED, the job is Aborted, and the
/// completion callback fires once, after every progress callback.
#[test]
fn d23_abort_in_the_middle_of_a_job() {
    let w = World::new().unwrap();
    let s = session(&w);
    let dir = w.work.join("hold2");
    let first = simple(&w, &s, 1, &[("a/one", 0o644, b"1")]);
    let second = holding_update(&w, &s, 2, &dir);
    let third = simple(&w, &s, 3, &[("c/three", 0o644, b"3")]);
    let i = s.create_update_installer();
    i.set_updates(coll(&[&first, &second, &third]));
    let (events, on_progress, on_completed) = recorder();
    let job = i.begin_install(on_progress, on_completed, None).unwrap();
    wait_for("the program to start", LONG, || dir.join("pid").exists());
    let pid = read_pid(&dir.join("pid"));
    let child = read_pid(&dir.join("child.pid"));
    assert!(pid_alive(pid) && pid_alive(child));
    job.request_abort().unwrap();
    let r = i.end_install_timeout(&job, LONG).unwrap();
    assert_eq!((r.result_code, r.hresult), (Orc::Aborted, HResult::WU_E_CALL_CANCELLED));
    let codes: Vec<_> = r.update_results.iter().map(|u| (u.result_code, u.hresult)).collect();
    assert_eq!(
        codes,
        vec![
            (Orc::Succeeded, HResult::S_OK),
            (Orc::Aborted, HResult::WU_E_CALL_CANCELLED),
            (Orc::Aborted, HResult::WU_E_CALL_CANCELLED),
        ]
    );
    assert!(!pid_alive(pid), "the program ({pid}) is gone");
    assert!(!pid_alive(child), "its process group ({child}) is gone");
    assert_eq!(std::fs::read_to_string(dir.join("undone")).unwrap().trim(), "uninstall", "D-38");
    let message = &r.update_results[1].message;
    assert!(message.ends_with("; the uninstall command ran: exit code 0"), "{message}");
    assert!(w.root.join("a/one").exists() && !w.root.join("c/three").exists());
    let events = events.lock().unwrap();
    assert_eq!(events.iter().filter(|e| matches!(e, Event::Completed(..))).count(), 1);
    assert!(matches!(events.last(), Some(Event::Completed(..))));
    // The aborted and never-started updates are not installed.
    let s2 = session(&w);
    assert!(!s2.find_update(&test_id(2)).unwrap().unwrap().is_installed());
    assert!(!s2.find_update(&test_id(3)).unwrap().unwrap().is_installed());
    job.request_abort().unwrap(); // on a completed job: a no-op
}

/// D-23: an abort while a `files` update stages rolls it back: the root is as before.
#[test]
fn d23_abort_rolls_back_a_files_update() {
    let w = World::new().unwrap();
    let s = session(&w);
    std::fs::create_dir_all(w.root.join("data")).unwrap();
    std::fs::write(w.root.join("data/f0001"), "kept").unwrap();
    let files = many_files(300);
    let u = simple(&w, &s, 1, &as_refs(&files));
    let before = snapshot(&w.root, OWN).unwrap();
    let i = s.create_update_installer();
    i.set_updates(coll(&[&u]));
    let progress: ProgressCallback = Box::new(|job: &InstallationJob, _| job.request_abort().unwrap());
    let job = i.begin_install(Some(progress), None, None).unwrap();
    let r = i.end_install_timeout(&job, LONG).unwrap();
    assert_eq!((r.result_code, r.hresult), (Orc::Aborted, HResult::WU_E_CALL_CANCELLED));
    assert_eq!(r.update_results[0].result_code, Orc::Aborted);
    assert_eq!(snapshot(&w.root, OWN).unwrap(), before);
    let h = s.create_update_searcher().query_history(0, 1).unwrap();
    assert_eq!((h[0].result_code, h[0].hresult), (Orc::Aborted, HResult::WU_E_CALL_CANCELLED));
}

/// D-8: a second job in the same process, and a job of another state directory into the same
/// root, get WU_E_INSTALL_NOT_ALLOWED naming this process's pid; is_busy is true meanwhile.
#[test]
fn d8_two_jobs_in_one_process_and_two_state_dirs() {
    let w = World::new().unwrap();
    let s = session(&w);
    let dir = w.work.join("hold3");
    let holding = holding_update(&w, &s, 1, &dir);
    let other = simple(&w, &s, 2, &[("y", 0o644, b"y")]);
    let i = s.create_update_installer();
    assert!(!i.is_busy().unwrap());
    i.set_updates(coll(&[&holding]));
    let job = i.begin_install(None, None, None).unwrap();
    wait_for("the program to start", LONG, || dir.join("pid").exists());

    let second = s.create_update_installer();
    second.set_updates(coll(&[&other]));
    let e = second.begin_install(None, None, None).unwrap_err();
    assert_eq!(e.hresult, HResult::WU_E_INSTALL_NOT_ALLOWED);
    assert!(e.message.contains(&format!("pid {}", std::process::id())), "{e}");
    assert!(second.is_busy().unwrap());
    assert_eq!(i.uninstall().unwrap_err().hresult, HResult::WU_E_INSTALL_NOT_ALLOWED);

    // Another state directory, the same root: the root's lock excludes it.
    let state2 = w.work.join("state2");
    let mut o = SessionOptions::new(&state2, &w.root);
    o.boot_id = wua_agent::BootIdSource::File(boot_file(&w));
    let s2 = UpdateSession::open(o).unwrap();
    let pkg = w.package("other2", &files_manifest(&test_id(3), 1, "other", "", ""), &[("z", 0o644, b"z")]).unwrap();
    let u2 = s2.open_package(&pkg).unwrap();
    let i2: UpdateInstaller = s2.create_update_installer();
    i2.set_updates(coll(&[&u2]));
    assert!(i2.is_busy().unwrap());
    let e = i2.install().unwrap_err();
    assert_eq!(e.hresult, HResult::WU_E_INSTALL_NOT_ALLOWED);
    assert!(e.message.contains(&format!("pid {}", std::process::id())), "{e}");

    std::fs::remove_file(dir.join("hold")).unwrap();
    assert_eq!(i.end_install_timeout(&job, LONG).unwrap().result_code, Orc::Succeeded);
    assert!(!i.is_busy().unwrap());
    assert_eq!(i2.install().unwrap().result_code, Orc::Succeeded);
}

/// D-19: a completion callback may begin the next job: the lock is free by then.
#[test]
fn d19_completion_callback_may_begin_the_next_job() {
    let w = World::new().unwrap();
    let s = session(&w);
    let a = simple(&w, &s, 1, &[("a", 0o644, b"a")]);
    let b = simple(&w, &s, 2, &[("b", 0o644, b"b")]);
    let next = Arc::new(s.create_update_installer());
    next.set_updates(coll(&[&b]));
    let (tx, rx) = mpsc::channel();
    let tx = Mutex::new(tx);
    let n2 = next.clone();
    let completed: CompletedCallback = Box::new(move |_job: &InstallationJob, _| {
        tx.lock().unwrap().send(n2.begin_install(None, None, None).map_err(|e| e.hresult)).unwrap();
    });
    let i = s.create_update_installer();
    i.set_updates(coll(&[&a]));
    let job = i.begin_install(None, Some(completed), None).unwrap();
    assert_eq!(i.end_install_timeout(&job, LONG).unwrap().result_code, Orc::Succeeded);
    let second = rx.recv_timeout(LONG).unwrap().expect("the lock was free in the completion callback");
    assert_eq!(next.end_install_timeout(&second, LONG).unwrap().result_code, Orc::Succeeded);
}

/// D-8: `is_busy` asks the kernel and takes no lock, so a client polling it as fast as it can
/// never makes a real install fail as busy; and every refusal names a real pid, never 0.
#[test]
fn d8_polling_is_busy_never_fails_an_install() {
    let w = World::new().unwrap();
    let s = session(&w);
    let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let polls = Arc::new(AtomicUsize::new(0));
    let poller = {
        let (s, stop, polls) = (s.clone(), stop.clone(), polls.clone());
        std::thread::spawn(move || {
            let i = s.create_update_installer();
            while !stop.load(Ordering::Relaxed) {
                i.is_busy().unwrap();
                polls.fetch_add(1, Ordering::Relaxed);
            }
        })
    };
    for n in 0..30u32 {
        let u = simple(&w, &s, 100 + n, &[(&format!("poll/f{n}"), 0o644, b"x")]);
        let i = s.create_update_installer();
        i.set_updates(coll(&[&u]));
        let r = i.install().unwrap_or_else(|e| panic!("install {n} refused while is_busy was polled: {e}"));
        assert_eq!(r.result_code, Orc::Succeeded);
    }
    stop.store(true, Ordering::Relaxed);
    wua_test_support::join_within(poller, LONG, "the is_busy poller, stopped").unwrap();
    assert!(polls.load(Ordering::Relaxed) > 30, "the poller ran alongside");
}

/// D-8: `begin_install` waits a bounded moment for a holder that is finishing instead of
/// refusing at once: a lock released 300 ms after the call began does not fail it.
#[test]
fn d8_begin_waits_for_a_holder_that_is_finishing() {
    let w = World::new().unwrap();
    let s = session(&w);
    let u = simple(&w, &s, 1, &[("f", 0o644, b"f")]);
    let held = wua_install::InstallLock::acquire(s.state_dir(), s.root(), Duration::ZERO).unwrap();
    let release = std::thread::spawn(move || {
        std::thread::sleep(Duration::from_millis(300));
        drop(held);
    });
    let i = s.create_update_installer();
    i.set_updates(coll(&[&u]));
    assert_eq!(i.install().unwrap().result_code, Orc::Succeeded);
    wua_test_support::join_within(release, LONG, "the lock's releaser").unwrap();
}
