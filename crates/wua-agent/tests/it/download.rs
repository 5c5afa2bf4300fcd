//! `UpdateDownloader::download` from a served repository into the content cache, then an
//! install and uninstall of what a search found (D-5, D-31).

use wua_agent::wua_types::{HResult, OperationResultCode, UpdateCollection};
use wua_test_support::serve::Served;

use crate::search::{Repo, add_service};
use crate::support::*;

/// Updates `1..=n` published (revision 1) in a repository served on 127.0.0.1, and a session
/// that uses it.
fn served(w: &World, n: u32) -> (Repo, Served, wua_agent::UpdateSession) {
    let repo = Repo::new(w);
    for i in 1..=n {
        repo.publish(i, 1, "");
    }
    let server = Served::start(&repo.served_tree());
    let s = session(w);
    add_service(&s, &server.url, &repo.root());
    (repo, server, s)
}

/// Updates `1..` with one blob each of `blobs`, served on 127.0.0.1 a byte at a time (1000
/// bytes a second), and a session that uses them; the runtime serves while it lives.
fn dripping(
    w: &World,
    blobs: &[&[u8]],
) -> (tokio::runtime::Runtime, wua_test_support::fault::FaultServer, wua_agent::UpdateSession) {
    use wua_test_support::fault::{Fault, FaultServer};
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let repo = Repo::new(w);
    for (n, blob) in (1..).zip(blobs) {
        repo.publish_content(n, blob);
    }
    let server = runtime.block_on(FaultServer::start(wua_trust::static_repo::router(repo.served_tree()))).unwrap();
    server.faults().set("*/blobs/sha256/*", Fault::Drip { bytes_per_sec: 1000 });
    let s = session(w);
    add_service(&s, &server.url, &repo.root());
    (runtime, server, s)
}

/// Publish -> search -> download -> install -> uninstall, over HTTP on 127.0.0.1.
#[test]
fn d5_publish_search_download_install_uninstall() {
    let w = World::new().unwrap();
    let (_repo, _server, s) = served(&w, 1);
    let found = s.create_update_searcher().search("IsInstalled=0").unwrap().updates;
    assert_eq!(found.count(), 1);
    assert!(!found.item(0).unwrap().is_downloaded());

    let downloader = s.create_update_downloader();
    assert_eq!(downloader.download().unwrap_err().hresult, HResult::WU_E_NO_UPDATE);
    downloader.set_updates(found.copy());
    let r = downloader.download().unwrap();
    assert_eq!((r.result_code, r.hresult), (OperationResultCode::Succeeded, HResult::S_OK), "{r:?}");
    let again = downloader.download().unwrap();
    assert_eq!(again.update_results[0].hresult, HResult::WU_S_ALREADY_DOWNLOADED, "D-5");
    let found = s.create_update_searcher().search("IsInstalled=0").unwrap().updates;
    assert!(found.item(0).unwrap().is_downloaded());

    let installer = s.create_update_installer();
    installer.set_updates(found.copy());
    let r = installer.install().unwrap();
    assert_eq!(r.result_code, OperationResultCode::Succeeded, "{r:?}");
    assert_eq!(std::fs::read(w.root.join("opt/u1/file")).unwrap(), b"r1");
    let searcher = s.create_update_searcher();
    assert!(searcher.search("IsInstalled=0").unwrap().updates.is_empty());
    let installed = searcher.search("IsInstalled=1").unwrap().updates;
    assert_eq!(installed.count(), 1);
    assert!(installed.item(0).unwrap().is_present());

    let uninstaller = s.create_update_installer();
    uninstaller.set_updates(installed.copy());
    let r = uninstaller.uninstall().unwrap();
    assert_eq!(r.result_code, OperationResultCode::Succeeded, "{r:?}");
    assert!(!w.root.join("opt/u1/file").exists());
    let history = searcher.query_history(0, 10).unwrap();
    assert_eq!(history.len(), 2);
}

/// D-34: the downloader's properties have their defaults and read back what was set; a
/// forced download fetches again what the cache holds (D-5).
#[test]
fn d34_downloader_properties_and_a_forced_download() {
    use wua_agent::wua_types::DownloadPriority;
    let w = World::new().unwrap();
    let (_repo, _server, s) = served(&w, 1);
    let d = s.create_update_downloader();
    assert!(d.updates().is_empty() && !d.is_forced());
    assert_eq!(
        (d.priority(), d.parallel_transfers()),
        (DownloadPriority::Normal, wua_agent::DEFAULT_PARALLEL_TRANSFERS)
    );
    assert_eq!(d.client_application_id(), "Unknown");
    d.set_priority(DownloadPriority::High);
    d.set_parallel_transfers(0);
    d.set_client_application_id("d34-download");
    assert_eq!((d.priority(), d.parallel_transfers()), (DownloadPriority::High, 1), "at least one transfer");
    d.set_parallel_transfers(7);
    assert_eq!((d.parallel_transfers(), d.client_application_id().as_str()), (7, "d34-download"));
    d.set_updates(s.create_update_searcher().search("").unwrap().updates);
    assert_eq!(d.updates().count(), 1);
    assert_eq!(d.download().unwrap().update_results[0].hresult, HResult::S_OK);
    assert_eq!(d.download().unwrap().update_results[0].hresult, HResult::WU_S_ALREADY_DOWNLOADED);
    d.set_is_forced(true);
    assert!(d.is_forced());
    assert_eq!(d.download().unwrap().update_results[0].hresult, HResult::S_OK, "fetched again");
    d.set_is_forced(false);
    assert!(!d.is_forced());
}

/// D-31: a blob the server serves with a byte flipped is discarded
/// (`WU_E_DM_INCORRECTFILEHASH`), nothing partial or corrupt is left in the cache, and the
/// install then finds nothing to install from.
#[test]
fn d31_a_flipped_byte_is_discarded() {
    let w = World::new().unwrap();
    let repo = Repo::new(&w);
    repo.publish(1, 1, "");
    for blob in std::fs::read_dir(repo.served_tree().join("blobs/sha256")).unwrap() {
        let path = blob.unwrap().path();
        let mut bytes = std::fs::read(&path).unwrap();
        bytes[0] ^= 1;
        std::fs::write(&path, bytes).unwrap();
    }
    let server = Served::start(&repo.served_tree());
    let s = session(&w);
    add_service(&s, &server.url, &repo.root());
    let found = s.create_update_searcher().search("").unwrap().updates;
    let downloader = s.create_update_downloader();
    downloader.set_updates(found.copy());
    let r = downloader.download().unwrap();
    assert_eq!((r.result_code, r.hresult), (OperationResultCode::Failed, HResult::WU_E_DM_INCORRECTFILEHASH), "{r:?}");
    assert_eq!(r.update_results[0].result_code, OperationResultCode::Failed, "a failure, not an abort: {r:?}");
    let cached: Vec<_> = walkdir::WalkDir::new(w.state.join("cache"))
        .into_iter()
        .flatten()
        // Content, partial or whole (the per-blob lock files hold no content).
        .filter(|e| e.file_type().is_file() && e.path().extension().is_none_or(|x| x != "lock"))
        .collect();
    assert!(cached.is_empty(), "left in the cache: {cached:?}");
    let installer = s.create_update_installer();
    installer.set_updates(UpdateCollection::from_iter(found.iter().cloned()));
    let r = installer.install().unwrap();
    assert_eq!(r.update_results[0].hresult, HResult::WU_E_DM_NOTDOWNLOADED, "{r:?}");
    assert!(!w.root.join("opt").exists());
}

/// D-32, D-19..D-21, D-24: a download job's progress reports phases in order and bytes that
/// never decrease, its completion callback runs once, `end_download` returns once, a job of
/// another downloader is refused, and `end_download` inside the job's own callback is refused.
#[test]
fn d32_download_job_progress_and_misuse() {
    use std::sync::{Arc, Mutex};
    use wua_agent::wua_types::DownloadPhase;
    use wua_agent::{DownloadCompletedCallback, DownloadProgress, DownloadProgressCallback};
    // Bounds the plain `end_download`s (kept: that API must stay tested).
    let _watchdog = watchdog("d32_download_job_progress_and_misuse");
    let w = World::new().unwrap();
    let (_repo, _server, s) = served(&w, 2);
    let found = s.create_update_searcher().search("").unwrap().updates;
    assert_eq!(found.count(), 2);
    let downloader = s.create_update_downloader();
    downloader.set_updates(found.copy());
    let seen: Arc<Mutex<Vec<DownloadProgress>>> = Arc::default();
    let inside: Arc<Mutex<Vec<HResult>>> = Arc::default();
    let (seen2, inside2, d2) = (seen.clone(), inside.clone(), downloader.clone());
    let progress: DownloadProgressCallback = Box::new(move |job, args| {
        seen2.lock().unwrap().push(args.progress.clone());
        if let Err(e) = d2.end_download(job) {
            inside2.lock().unwrap().push(e.hresult);
        }
    });
    let completions = Arc::new(Mutex::new(0));
    let c2 = completions.clone();
    let completed: DownloadCompletedCallback = Box::new(move |_, _| *c2.lock().unwrap() += 1);
    let job = downloader.begin_download(Some(progress), Some(completed), None).unwrap();
    let other = s.create_update_downloader();
    assert_eq!(other.end_download(&job).unwrap_err().hresult, HResult::E_INVALIDARG, "D-21");
    let r = downloader.end_download(&job).unwrap();
    assert_eq!(r.result_code, OperationResultCode::Succeeded, "{r:?}");
    assert_eq!(downloader.end_download(&job).unwrap_err().hresult, HResult::WU_E_INVALID_OPERATION, "D-21");
    assert!(job.is_completed());
    assert_eq!(*completions.lock().unwrap(), 1, "D-19");
    let inside = inside.lock().unwrap();
    assert!(!inside.is_empty() && inside.iter().all(|h| *h == HResult::WU_E_INVALID_OPERATION), "D-24: {inside:?}");
    let seen = seen.lock().unwrap();
    let mut last = (0, DownloadPhase::Initializing, 0u64);
    for p in seen.iter() {
        if p.current_update_index == last.0 {
            assert!(p.current_update_download_phase.value() >= last.1.value(), "D-32: phases go forward: {seen:?}");
        }
        assert!(p.total_bytes_downloaded >= last.2, "D-32: bytes never decrease: {seen:?}");
        last = (p.current_update_index, p.current_update_download_phase, p.total_bytes_downloaded);
    }
    for index in 0..2 {
        let first = seen.iter().find(|p| p.current_update_index == index).expect("a callback for each update");
        let start = (first.current_update_download_phase, first.current_update_percent_complete);
        assert_eq!(start, (DownloadPhase::Initializing, 0), "D-20: each update's start has a callback: {seen:?}");
        // Its end has one too: the update at 100%, the job at its share, the update's result.
        let end = seen.iter().find(|p| p.current_update_index == index && p.current_update_percent_complete == 100);
        let end = end.unwrap_or_else(|| panic!("D-20: update {index}'s end has a callback: {seen:?}"));
        assert_eq!(end.percent_complete, (index + 1) * 50, "{seen:?}");
        assert_eq!(end.update_results[index as usize].result_code, OperationResultCode::Succeeded, "{seen:?}");
    }
    let phases: Vec<_> =
        seen.iter().filter(|p| p.current_update_index == 0).map(|p| p.current_update_download_phase).collect();
    assert!(phases.contains(&DownloadPhase::Downloading) && phases.contains(&DownloadPhase::Verifying), "{phases:?}");
    let end = job.get_progress();
    assert_eq!(end.total_bytes_downloaded, end.total_bytes_to_download);
    assert_eq!(end.total_bytes_downloaded, 2, "one blob of two bytes, shared by both updates, fetched once");
    let debug = format!("{job:?}");
    assert!(debug.contains("Download") && debug.contains("is_completed: true"), "{debug}");
}

/// D-23: a download aborted from its first progress callback ends `Aborted`, and the finished
/// job's progress reports every update as its result does: none is left "not started".
#[test]
fn d23_an_aborted_download_reports_every_update_in_its_progress() {
    use wua_agent::DownloadProgressCallback;
    let w = World::new().unwrap();
    let (_repo, _server, s) = served(&w, 2);
    let downloader = s.create_update_downloader();
    downloader.set_updates(s.create_update_searcher().search("").unwrap().updates);
    let abort: DownloadProgressCallback = Box::new(|job, _| job.request_abort().unwrap());
    let job = downloader.begin_download(Some(abort), None, None).unwrap();
    let r = downloader.end_download_timeout(&job, TEST_LIMIT).unwrap();
    assert_eq!(r.result_code, OperationResultCode::Aborted, "{r:?}");
    assert_eq!(r.update_results[1].result_code, OperationResultCode::Aborted, "never started: {r:?}");
    let progress = job.get_progress();
    assert_eq!(progress.update_results, r.update_results);
}

/// D-20, D-32: while a blob arrives, the progress callback runs within the update (at most
/// every 100 ms), with the bytes and the percentages so far: two updates, each with a blob
/// dripped over about half a second, are reported part way through, not only at their start
/// and end, and the job's percentage is the mean of the updates'.
#[test]
fn d32_progress_within_an_update_while_its_blob_arrives() {
    use std::sync::{Arc, Mutex};
    use wua_agent::DownloadProgressCallback;
    let w = World::new().unwrap();
    let (_runtime, _server, s) = dripping(&w, &[&[5u8; 500], &[6u8; 500]]);
    let downloader = s.create_update_downloader();
    downloader.set_updates(s.create_update_searcher().search("").unwrap().updates);
    /// (update index, its bytes, its %, the job's %) at a callback.
    type Seen = (i32, u64, i32, i32);
    let seen: Arc<Mutex<Vec<Seen>>> = Arc::default();
    let seen2 = seen.clone();
    let progress: DownloadProgressCallback = Box::new(move |_, args| {
        let p = &args.progress;
        let at = (p.current_update_index, p.current_update_bytes_downloaded);
        seen2.lock().unwrap().push((at.0, at.1, p.current_update_percent_complete, p.percent_complete));
    });
    let job = downloader.begin_download(Some(progress), None, None).unwrap();
    let r = downloader.end_download_timeout(&job, TEST_LIMIT).unwrap();
    assert_eq!(r.result_code, OperationResultCode::Succeeded, "{r:?}");
    let seen = seen.lock().unwrap();
    for index in 0..2 {
        let within: Vec<_> = seen.iter().filter(|(i, bytes, ..)| *i == index && (1..500).contains(bytes)).collect();
        assert!(!within.is_empty(), "no callback while update {index}'s blob arrived: {seen:?}");
        // Throttled (one per 100 ms at most), not one per byte: 250 would take 25 s.
        assert!(within.len() < 250, "{} callbacks for 500 bytes", within.len());
        for (_, bytes, update, overall) in within {
            assert_eq!(*update as u64, bytes * 100 / 500, "{seen:?}");
            assert_eq!(*overall, (index * 100 + update) / 2, "the mean of the updates': {seen:?}");
        }
    }
}

/// D-23: an abort while the only update's blob arrives stops the transfer: the update and the
/// job end `Aborted`, and the blob is not in the cache.
#[test]
fn d23_an_abort_during_a_transfer() {
    use wua_agent::DownloadProgressCallback;
    let w = World::new().unwrap();
    let (_runtime, _server, s) = dripping(&w, &[&[5u8; 2000]]);
    let downloader = s.create_update_downloader();
    let updates = s.create_update_searcher().search("").unwrap().updates;
    let sha256 = updates.item(0).unwrap().document().content[0].sha256.clone();
    downloader.set_updates(updates);
    let abort: DownloadProgressCallback = Box::new(|job, args| {
        if args.progress.current_update_bytes_downloaded > 0 {
            job.request_abort().unwrap();
        }
    });
    let job = downloader.begin_download(Some(abort), None, None).unwrap();
    let r = downloader.end_download_timeout(&job, TEST_LIMIT).unwrap();
    let update = &r.update_results[0];
    assert_eq!((update.result_code, update.hresult), (OperationResultCode::Aborted, HResult::WU_E_CALL_CANCELLED));
    assert_eq!(r.result_code, OperationResultCode::Aborted, "{r:?}");
    assert!(!w.state.join("cache/sha256").join(sha256).exists());
}

/// D-30: a search job's result is handed out once; criteria errors surface at `end_search`;
/// a job of another searcher is refused; `end_search` inside its own callback too (D-24).
#[test]
fn d30_search_jobs() {
    // Bounds the plain `end_search`s (kept: that API must stay tested).
    let _watchdog = watchdog("d30_search_jobs");
    let w = World::new().unwrap();
    let repo = Repo::new(&w);
    repo.publish(1, 1, "");
    let s = session(&w);
    add_service(&s, &repo.dir.to_string_lossy(), &repo.root());
    let searcher = s.create_update_searcher();
    let job = searcher.begin_search("IsInstalled=0", None, None).unwrap();
    assert_eq!(s.create_update_searcher().end_search(&job).unwrap_err().hresult, HResult::E_INVALIDARG);
    assert_eq!(searcher.end_search(&job).unwrap().updates.count(), 1);
    assert_eq!(searcher.end_search(&job).unwrap_err().hresult, HResult::WU_E_INVALID_OPERATION, "D-30");
    let bad = searcher.begin_search("IsInstalled=2", None, None).expect("criteria are checked at end_search");
    assert_eq!(searcher.end_search(&bad).unwrap_err().hresult, HResult::WU_E_INVALID_CRITERIA);
    // D-24: end_search and clean_up inside the job's own completion callback are refused at once.
    let inside = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    let (seen, s2) = (inside.clone(), searcher.clone());
    let completed: wua_agent::SearchCompletedCallback = Box::new(move |job, _| {
        seen.lock().unwrap().push(s2.end_search(job).map(|_| ()).unwrap_err().hresult);
        seen.lock().unwrap().push(job.clean_up().unwrap_err().hresult);
    });
    let job = searcher.begin_search("", Some(completed), None).unwrap();
    assert_eq!(searcher.end_search(&job).unwrap().updates.count(), 1);
    assert_eq!(*inside.lock().unwrap(), [HResult::WU_E_INVALID_OPERATION, HResult::WU_E_INVALID_OPERATION], "D-24");
}

/// D-31 through the fault layer: a transfer cut mid-body resumes with `Range` and ends with
/// the right bytes; a server that ignores `Range` makes it start over and still end right; a
/// lasting 503 fails with its `WU_E_PT_*` code and nothing reaches the cache.
#[test]
fn d31_cut_transfers_resume_and_faults_are_named() {
    use wua_test_support::fault::{Fault, FaultServer};
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let w = World::new().unwrap();
    let repo = Repo::new(&w);
    let content: Vec<u8> = (0..300_000u32).map(|i| (i * 7 % 251) as u8).collect();
    repo.publish_content(1, &content);
    let server = runtime.block_on(FaultServer::start(wua_trust::static_repo::router(repo.served_tree()))).unwrap();
    let s = session(&w);
    add_service(&s, &server.url, &repo.root());
    let found = s.create_update_searcher().search("").unwrap().updates;
    let download = || {
        let d = s.create_update_downloader();
        d.set_updates(found.copy());
        d.set_is_forced(true);
        d.download().unwrap()
    };
    let cached =
        || std::fs::read(w.state.join("cache/sha256").join(&found.item(0).unwrap().document().content[0].sha256));

    server.faults().set_times("*/blobs/sha256/*", Fault::CutAfter(100_000), 1);
    let r = download();
    assert_eq!(r.result_code, OperationResultCode::Succeeded, "{r:?}");
    let ranges = server.faults().ranges("*/blobs/sha256/*");
    assert!(ranges.iter().any(|r| r.as_deref().is_some_and(|r| r.starts_with("bytes="))), "no resume: {ranges:?}");
    assert_eq!(cached().unwrap(), content);

    std::fs::remove_dir_all(w.state.join("cache/sha256")).unwrap();
    server.faults().clear();
    server.faults().set_times("*/blobs/sha256/*", Fault::CutAfter(50_000), 1);
    server.faults().set_times("*/blobs/sha256/*", Fault::IgnoreRange, 1);
    let r = download();
    assert_eq!(r.result_code, OperationResultCode::Succeeded, "{r:?}");
    assert_eq!(cached().unwrap(), content);

    std::fs::remove_dir_all(w.state.join("cache/sha256")).unwrap();
    server.faults().clear();
    server.faults().set("*/blobs/sha256/*", Fault::Status(503));
    let r = download();
    assert_eq!(r.update_results[0].hresult, HResult::WU_E_PT_HTTP_STATUS_SERVICE_UNAVAIL, "{r:?}");
    assert!(cached().is_err(), "nothing reaches the cache");
}

/// A service's CA bundle: its HTTPS server (a certificate made at test time) is refused
/// without the bundle and accepted with it.
#[test]
fn https_needs_the_services_ca_bundle() {
    use wua_agent::NON_VOLATILE_SERVICE;
    use wua_test_support::fault::FaultServer;
    use wua_test_support::tls::TestCa;
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let w = World::new().unwrap();
    let repo = Repo::new(&w);
    repo.publish(1, 1, "");
    let ca = TestCa::new().unwrap();
    let server =
        runtime.block_on(FaultServer::start_tls(wua_trust::static_repo::router(repo.served_tree()), &ca)).unwrap();
    let s = session(&w);
    let manager = s.create_update_service_manager();
    let plain = manager.add_repository_service("plain", &server.url, &repo.root(), None, 0).unwrap();
    let searcher = s.create_update_searcher();
    searcher.set_server_selection(wua_agent::wua_types::ServerSelection::Others);
    searcher.set_service_id(&plain.service_id);
    let e = searcher.search("").unwrap_err();
    assert_eq!(e.hresult, HResult::WU_E_NO_CONNECTION, "{e}");
    let pem = w.work.join("ca.pem");
    std::fs::write(&pem, ca.ca_pem()).unwrap();
    let with_ca =
        manager.add_repository_service("with ca", &server.url, &repo.root(), Some(&pem), NON_VOLATILE_SERVICE).unwrap();
    searcher.set_service_id(&with_ca.service_id);
    assert_eq!(searcher.search("").unwrap().updates.count(), 1);
}

/// Offline: an export with content, registered as a scan package service, is searched,
/// downloaded (one streaming pass adopts the blobs needed) and installed with no network; a
/// scan package without content names what it lacks.
#[test]
fn an_export_with_content_installs_with_no_network() {
    use wua_trust::export::{ExportKind, export};
    let w = World::new().unwrap();
    let repo = Repo::new(&w);
    repo.publish(1, 1, "");
    repo.publish_content(2, b"second");
    let full = w.work.join("full.tar");
    let scan = w.work.join("scan.tar");
    export(&repo.dir, &full, ExportKind::WithContent).unwrap();
    export(&repo.dir, &scan, ExportKind::ScanPackage).unwrap();
    std::fs::remove_dir_all(&repo.dir).unwrap();

    let s = session(&w);
    let manager = s.create_update_service_manager();
    let offline = manager.add_scan_package_service("full", &full, &repo.root_bytes, 0).unwrap();
    let searcher = s.create_update_searcher();
    searcher.set_server_selection(wua_agent::wua_types::ServerSelection::Others);
    searcher.set_service_id(&offline.service_id);
    let found = searcher.search("").unwrap().updates;
    assert_eq!(found.count(), 2);
    let downloader = s.create_update_downloader();
    downloader.set_updates(found.copy());
    let r = downloader.download().unwrap();
    assert_eq!(r.result_code, OperationResultCode::Succeeded, "{r:?}");
    let installer = s.create_update_installer();
    installer.set_updates(found.copy());
    assert_eq!(installer.install().unwrap().result_code, OperationResultCode::Succeeded);
    assert_eq!(std::fs::read(w.root.join("opt/u2/file")).unwrap(), b"second");

    let w2 = World::new().unwrap();
    let s2 = session(&w2);
    let scan_only =
        s2.create_update_service_manager().add_scan_package_service("scan", &scan, &repo.root_bytes, 0).unwrap();
    let searcher = s2.create_update_searcher();
    searcher.set_server_selection(wua_agent::wua_types::ServerSelection::Others);
    searcher.set_service_id(&scan_only.service_id);
    let found = searcher.search("").unwrap().updates;
    let downloader = s2.create_update_downloader();
    downloader.set_updates(found.copy());
    let r = downloader.download().unwrap();
    assert_eq!(r.update_results[0].hresult, HResult::WU_E_DM_NOTDOWNLOADED, "{r:?}");
}

/// An update of many blobs is fetched several at a time (the default four, and one at a time
/// when set so), with a blob two paths share fetched once; every byte ends right.
#[test]
fn many_blobs_are_fetched_in_parallel() {
    let w = World::new().unwrap();
    let repo = Repo::new(&w);
    let contents: Vec<Vec<u8>> = (0..12u8).map(|i| vec![i; 30_000 + i as usize]).collect();
    let mut files: Vec<(String, u32, &[u8])> =
        contents.iter().enumerate().map(|(i, c)| (format!("opt/many/{i}"), 0o644, c.as_slice())).collect();
    files.push(("opt/many/again".into(), 0o644, contents[0].as_slice()));
    let files: Vec<(&str, u32, &[u8])> = files.iter().map(|(p, m, c)| (p.as_str(), *m, *c)).collect();
    repo.publish_files(1, &files);
    let server = Served::start(&repo.served_tree());
    let s = session(&w);
    add_service(&s, &server.url, &repo.root());
    let found = s.create_update_searcher().search("").unwrap().updates;
    for parallel in [wua_agent::DEFAULT_PARALLEL_TRANSFERS, 1] {
        let downloader = s.create_update_downloader();
        downloader.set_updates(found.copy());
        downloader.set_is_forced(true);
        downloader.set_parallel_transfers(parallel);
        let r = downloader.download().unwrap();
        assert_eq!(r.result_code, OperationResultCode::Succeeded, "{parallel}: {r:?}");
        for c in &contents {
            let sha = wua_test_support::sha256_hex(c);
            assert_eq!(std::fs::read(w.state.join("cache/sha256").join(sha)).unwrap(), *c);
        }
    }
}

/// Network work runs on threads with runtimes of their own: a session searched, downloaded
/// with and dropped inside a caller's async runtime (here a current-thread one) neither
/// panics nor nests a runtime.
#[test]
fn a_session_inside_an_async_runtime() {
    // Bounds the awaited ends.
    let _watchdog = watchdog("a_session_inside_an_async_runtime");
    let w = World::new().unwrap();
    let repo = Repo::new(&w);
    repo.publish(1, 1, "");
    let server = Served::start(&repo.served_tree());
    let caller = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    caller.block_on(async {
        let s = session(&w);
        add_service(&s, &server.url, &repo.root());
        let searcher = s.create_update_searcher();
        let found = searcher.end_search_async(&searcher.begin_search("", None, None).unwrap()).await.unwrap().updates;
        let downloader = s.create_update_downloader();
        downloader.set_updates(found.copy());
        let job = downloader.begin_download(None, None, None).unwrap();
        let r = downloader.end_download_async(&job).await.unwrap();
        assert_eq!(r.result_code, OperationResultCode::Succeeded, "{r:?}");
        assert_eq!(searcher.search("IsInstalled=0").unwrap().updates.count(), 1, "a synchronous call works here too");
        drop((searcher, downloader, job, s));
    });
}

/// D-40 for an update found by a search: its document is recorded when it is installed, so
/// the next revision with the same content is found installed.
#[test]
fn d40_the_next_revision_of_a_searched_update_with_the_same_content() {
    let w = World::new().unwrap();
    let (repo, _server, s) = served(&w, 1);
    let updates = s.create_update_searcher().search("IsInstalled=0").unwrap().updates;
    let downloader = s.create_update_downloader();
    downloader.set_updates(updates.copy());
    assert_eq!(downloader.download().unwrap().result_code, OperationResultCode::Succeeded);
    let installer = s.create_update_installer();
    installer.set_updates(updates);
    assert_eq!(installer.install().unwrap().result_code, OperationResultCode::Succeeded);
    // Revision 2 changes only its title: the same file.
    let payload = w.work.join("r2/payload");
    wua_test_support::write_payload(&payload, &[("opt/u1/file", 0o644, b"r1")]).unwrap();
    let manifest = w.work.join("r2/manifest.toml");
    std::fs::write(&manifest, files_manifest(&test_id(1), 2, "update 1, retitled", "", "")).unwrap();
    repo.runtime.block_on(wua_trust::repo::publish(&repo.dir, &manifest, &payload)).unwrap();
    let installed = s.create_update_searcher().search("IsInstalled=1").unwrap();
    assert_eq!(crate::search::found(&installed), [(test_id(1), 2)]);
}
