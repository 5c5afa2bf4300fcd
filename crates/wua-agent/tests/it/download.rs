//! `UpdateDownloader::download` from a served repository into the content cache, then an
//! install and uninstall of what a search found (D-5, D-31).

use wua_agent::wua_types::{HResult, OperationResultCode, UpdateCollection};
use wua_test_support::serve::Served;

use crate::search::{Repo, add_service};
use crate::support::*;

/// Publish -> search -> download -> install -> uninstall, over HTTP on 127.0.0.1.
#[test]
fn d5_publish_search_download_install_uninstall() {
    let w = World::new().unwrap();
    let repo = Repo::new(&w);
    repo.publish(1, 1, "");
    let server = Served::start(&repo.served_tree());
    let s = session(&w);
    add_service(&s, &server.url, &repo.root());
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
    let cached: Vec<_> = walkdir::WalkDir::new(w.state.join("cache"))
        .into_iter()
        .flatten()
        .filter(|e| e.file_type().is_file())
        .collect();
    assert!(cached.is_empty(), "left in the cache: {cached:?}");
    let installer = s.create_update_installer();
    installer.set_updates(UpdateCollection::from_iter(found.iter().cloned()));
    let r = installer.install().unwrap();
    assert_eq!(r.update_results[0].hresult, HResult::WU_E_DM_NOTDOWNLOADED, "{r:?}");
    assert!(!w.root.join("opt").exists());
}
