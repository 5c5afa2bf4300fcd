//! Downloads and package imports with progress (bytes, rate, ETA on a terminal; plain lines
//! without one), and Ctrl-C aborting a download as it aborts an install.

use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

use wua_agent::wua_types::{DownloadResult, OperationResultCode, Update, UpdateCollection};
use wua_agent::{DownloadProgress, DownloadProgressChangedCallbackArgs, UpdateSession};

use crate::jobrun::Watch;
use crate::progress::{Display, Outcome, Snapshot};
use crate::{Cli, CliResult};

/// Downloads `updates` (again, when `forced`) with progress; the result.
pub(crate) fn download(
    cli: &Cli,
    session: &UpdateSession,
    updates: &UpdateCollection,
    forced: bool,
) -> CliResult<DownloadResult> {
    let downloader = session.create_update_downloader();
    downloader.set_updates(updates.clone());
    downloader.set_is_forced(forced);
    let titles = updates.iter().map(|u| u.title().to_owned()).collect();
    let watch = Watch::new(cli, "download", titles, true);
    let on_progress = Some(watch.callback(|args: &DownloadProgressChangedCallbackArgs| snapshot(&args.progress)));
    let job = downloader.begin_download(on_progress, None, None)?;
    let result = downloader.end_download(&job);
    let outcomes = result
        .as_ref()
        .ok()
        .map(|r| r.update_results.iter().map(|u| Outcome::of(u.result_code, u.hresult, false)).collect());
    watch.finish(outcomes, result.as_ref().map_or(true, |r| r.result_code == OperationResultCode::Aborted));
    result
}

/// The display's view of a download's progress.
fn snapshot(p: &DownloadProgress) -> Snapshot {
    Snapshot {
        index: p.current_update_index.max(0) as usize,
        percent: p.percent_complete,
        current_percent: p.current_update_percent_complete,
        bytes: Some((p.total_bytes_downloaded, p.total_bytes_to_download)),
        finished: p.update_results.iter().map(|u| Outcome::of(u.result_code, u.hresult, false)).collect(),
    }
}

/// Imports one package file, showing the bytes verified so far while it is read.
pub(crate) fn import(cli: &Cli, session: &UpdateSession, file: &Path) -> CliResult<Update> {
    let total = std::fs::metadata(file).map(|m| m.len()).unwrap_or(0);
    // The file's name: a bar's line has no room for a long path.
    let title = file.file_name().map_or_else(|| file.display().to_string(), |n| n.to_string_lossy().into_owned());
    let display = Arc::new(Display::new(cli, "import", vec![title], true));
    let read = Arc::new(AtomicU64::new(0));
    let done = Arc::new(AtomicBool::new(false));
    let ticker = {
        let (display, read, done) = (display.clone(), read.clone(), done.clone());
        std::thread::Builder::new().name("wua-import-progress".into()).spawn(move || {
            while !done.load(Ordering::Acquire) {
                display.show(&Snapshot {
                    bytes: Some((read.load(Ordering::Relaxed).min(total), total)),
                    finished: vec![None],
                    ..Snapshot::default()
                });
                std::thread::park_timeout(Duration::from_millis(100));
            }
        })
    };
    let opened = session.open_package_observed(file, read.clone());
    done.store(true, Ordering::Release);
    if let Ok(ticker) = ticker {
        ticker.thread().unpark();
        let _ = ticker.join();
    }
    let outcome = match &opened {
        Ok(_) => Outcome::of(OperationResultCode::Succeeded, wua_agent::wua_types::HResult::S_OK, false),
        Err(e) => Outcome::of(OperationResultCode::Failed, e.hresult, false),
    };
    display.finish(
        &Snapshot { percent: 100, bytes: Some((total, total)), finished: vec![outcome], ..Snapshot::default() },
        false,
    );
    opened
}
