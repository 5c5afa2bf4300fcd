//! The jobs scenario (second issue): a job's own overhead and its callback latency, in process.
//!
//! Each iteration installs an update that is already installed (so the outcome is
//! `WU_S_ALREADY_INSTALLED`, D-5) through `begin_install` with both callbacks, then
//! `end_install`. The baseline is the same work without a job, measured in the same run: the
//! D-8 locks, the datastore opened, the recovery check, the pending-reboot check and the
//! history commit. The difference is what the job machinery costs (a thread, two or more
//! callbacks, a condition variable). Latencies: from `begin_install` returning to the first
//! progress callback, and from the completion callback to `end_install` returning.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{Result, ensure};
use wua_agent::wua_types::{HResult, OperationResultCode, UpdateOperation, lock_unpoisoned};
use wua_agent::{CompletedCallback, InstallationJob, ProgressCallback, SessionOptions, UpdateSession};
use wua_install::{InstallLock, Target};
use wua_store::Store;
use wua_test_support::{World, files_manifest, test_id};

use crate::median;

#[derive(Default)]
struct Stamps {
    first_progress: Option<Instant>,
    completed: Option<Instant>,
}

pub(crate) fn run(iterations: usize) -> Result<()> {
    let w = World::new()?;
    let session = UpdateSession::open(SessionOptions::new(&w.state, &w.root))?;
    let pkg = w.package("u", &files_manifest(&test_id(1), 1, "bench", "", ""), &[("etc/bench", 0o644, b"x")])?;
    let update = session.open_package(&pkg)?;
    let installer = session.create_update_installer();
    installer.set_updates([update].into_iter().collect());
    ensure!(installer.install()?.result_code == OperationResultCode::Succeeded, "the first install failed");

    let mut total = Vec::with_capacity(iterations);
    let mut baseline = Vec::with_capacity(iterations);
    let mut to_first_callback = Vec::with_capacity(iterations);
    let mut completion_to_end = Vec::with_capacity(iterations);
    for _ in 0..iterations {
        // The job.
        let stamps = Arc::new(Mutex::new(Stamps::default()));
        let (a, b) = (stamps.clone(), stamps.clone());
        let progress: ProgressCallback = Box::new(move |_: &InstallationJob, _| {
            let mut s = lock_unpoisoned(&a);
            s.first_progress.get_or_insert_with(Instant::now);
        });
        let completed: CompletedCallback = Box::new(move |_: &InstallationJob, _| {
            lock_unpoisoned(&b).completed = Some(Instant::now());
        });
        let start = Instant::now();
        let job = installer.begin_install(Some(progress), Some(completed), None)?;
        let begun = Instant::now();
        let result = installer.end_install(&job)?;
        let ended = Instant::now();
        ensure!(result.update_results[0].hresult == HResult::WU_S_ALREADY_INSTALLED, "unexpected {result:?}");
        total.push(ended - start);
        let s = lock_unpoisoned(&stamps);
        if let (Some(first), Some(done)) = (s.first_progress, s.completed) {
            to_first_callback.push(first.saturating_duration_since(begun));
            completion_to_end.push(ended.saturating_duration_since(done));
        }
        drop(s);

        // The same work without a job.
        let start = Instant::now();
        same_work_without_a_job(&session)?;
        baseline.push(start.elapsed());
    }
    let (t, b) = (median(total), median(baseline));
    let us = |d: Duration| format!("{:.1} µs", d.as_secs_f64() * 1e6);
    println!("wua-bench jobs: {iterations} iterations, medians, in process");
    println!();
    println!("{:<58} {:>12}", "measurement", "median");
    println!("{:<58} {:>12}", "begin + callbacks + end, already-installed update", us(t));
    println!("{:<58} {:>12}", "baseline: the same work without a job", us(b));
    println!("{:<58} {:>12}", "the job's own overhead (difference)", us(t.saturating_sub(b)));
    println!("{:<58} {:>12}", "ratio job / baseline", format!("{:.2}x", t.as_secs_f64() / b.as_secs_f64()));
    println!("{:<58} {:>12}", "latency: begin returned -> first progress callback", us(median(to_first_callback)));
    println!("{:<58} {:>12}", "latency: completion callback -> end returned", us(median(completion_to_end)));
    println!();
    println!("Target: the job's own overhead under 1 ms.");
    Ok(())
}

/// What an install of an already-installed update does outside the job machinery: the locks,
/// the datastore, recovery and reboot checks, the precheck's read and the history commit.
fn same_work_without_a_job(session: &UpdateSession) -> Result<()> {
    let lock = InstallLock::acquire(session.state_dir(), session.root(), std::time::Duration::ZERO)?;
    let mut store = Store::open(session.state_dir())?;
    let boot = wua_install::BootIdSource::System.current();
    let root_id = wua_install::bind_root(&mut store, session.state_dir(), session.root(), &lock)?;
    let target = Target {
        root: session.root(),
        root_id: &root_id,
        state_dir: session.state_dir(),
        boot_id: &boot,
        origin: wua_agent::wua_types::Origin {
            client_application_id: "bench",
            server_selection: wua_agent::wua_types::ServerSelection::Others,
            service_id: "",
        },
    };
    wua_install::recover(&target, &mut store, &lock)?;
    {
        let tx = store.write()?;
        tx.clear_reboots_not_of(&boot)?;
        tx.commit()?;
    }
    let doc = {
        let tx = store.read()?;
        ensure!(tx.pending_reboots(&boot)?.is_empty(), "a reboot is pending");
        ensure!(tx.installed(&test_id(1))?.is_some(), "not installed");
        tx.latest_document(&test_id(1))?.ok_or_else(|| anyhow::anyhow!("no document"))?
    };
    let result = wua_agent::wua_types::UpdateInstallationResult::new(
        OperationResultCode::Succeeded,
        HResult::WU_S_ALREADY_INSTALLED,
    );
    let entry = wua_install::history_entry(&doc, UpdateOperation::Installation, &result, &target.origin, false);
    let tx = store.write()?;
    tx.append_history(&entry)?;
    tx.commit()?;
    Ok(())
}
