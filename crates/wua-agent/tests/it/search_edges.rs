//! Edges of `UpdateSearcher::search` against a served repository: an offline search opens no
//! connection (D-29), catalog entries this agent does not understand are warnings, online and
//! offline (D-42), and a refresh refused by the trust layer leaves the index and the trusted
//! state byte for byte as they were (D-29).

use std::net::{SocketAddr, TcpListener};
use std::time::Duration;

use wua_agent::wua_types::{HResult, OperationResultCode, SearchResult, UpdateExceptionContext};
use wua_test_support::fault::{Fault, FaultServer};
use wua_test_support::serve::Served;
use wua_trust::repo::{self, Lifetimes};

use crate::search::{Repo, add_service, found};
use crate::support::*;

/// What a search result says, for comparing two searches: the result code, the updates with
/// their flags (id, revision, installed, downloaded) and the warnings.
type Summary = (OperationResultCode, Vec<(String, i32, bool, bool)>, Vec<(String, HResult)>);

fn summary(r: &SearchResult) -> Summary {
    let updates = r
        .updates
        .iter()
        .map(|u| (u.identity().update_id, u.identity().revision_number, u.is_installed(), u.is_downloaded()))
        .collect();
    (r.result_code, updates, r.warnings.iter().map(|w| (w.message.clone(), w.hresult)).collect())
}

/// Listens on `addr` again once the server that had it let it go (`std` sets `SO_REUSEADDR`,
/// so connections of the old server in `TIME_WAIT` do not keep the address).
fn listen_again(addr: SocketAddr) -> TcpListener {
    let mut listener = None;
    wait_for("the old server to release its address", Duration::from_secs(30), || {
        listener = TcpListener::bind(addr).ok();
        listener.is_some()
    });
    let listener = listener.unwrap();
    listener.set_nonblocking(true).unwrap();
    listener
}

/// D-29: an offline search sends no request to a running server, and with the server gone
/// it gives the same result as the last online search without a single connection to its
/// address (a listener put there accepts nothing); an online search then fails with
/// `WU_E_NO_CONNECTION`.
#[test]
fn d29_an_offline_search_opens_no_connection() {
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let w = World::new().unwrap();
    let repo = Repo::new(&w);
    repo.publish(1, 1, "");
    repo.publish(2, 1, "");
    let server = runtime.block_on(FaultServer::start(wua_trust::static_repo::router(repo.served_tree()))).unwrap();
    let s = session(&w);
    add_service(&s, &server.url, &repo.root());
    let searcher = s.create_update_searcher();
    let online = searcher.search("").unwrap();
    assert_eq!(found(&online), [(test_id(1), 1), (test_id(2), 1)]);
    let requests = server.faults().requests().len();
    assert!(requests > 0, "the online search asked the server");
    // A new revision the offline search must not see: it never asks.
    repo.publish(1, 2, "");

    searcher.set_online(false);
    let offline = searcher.search("").unwrap();
    assert_eq!(summary(&offline), summary(&online), "D-29: the catalog already synced");
    assert_eq!(server.faults().requests()[requests..], [] as [String; 0], "D-29: no request while offline");

    let addr = server.addr;
    drop(server);
    let listener = listen_again(addr);
    let offline = searcher.search("").unwrap();
    assert_eq!(summary(&offline), summary(&online), "D-29: the same result with the server gone");
    match listener.accept() {
        Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {}
        other => panic!("D-29: the offline search connected to the server's address: {other:?}"),
    }
    drop(listener);
    searcher.set_online(true);
    let e = searcher.search("").unwrap_err();
    assert_eq!(e.hresult, HResult::WU_E_NO_CONNECTION, "{e}");
}

/// The newest working pack of a repository (`catalog/pack-NNNNNN.jsonl`).
fn newest_pack(repo: &Repo) -> std::path::PathBuf {
    std::fs::read_dir(repo.dir.join("catalog"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.file_name().unwrap().to_string_lossy().starts_with("pack-"))
        .max()
        .expect("a pack")
}

/// The newest pack of `repo`, its text and its first line (a `{"document": ...}` entry).
fn pack_and_first_line(repo: &Repo) -> (std::path::PathBuf, String, serde_json::Value) {
    let pack = newest_pack(repo);
    let text = std::fs::read_to_string(&pack).unwrap();
    let first: serde_json::Value = serde_json::from_str(text.lines().next().unwrap()).unwrap();
    assert!(first.get("document").is_some(), "a pack line is {{\"document\": ...}}: {first}");
    (pack, text, first)
}

/// Appends `lines` to `pack` (whose text was `text`), then re-signs the repository.
fn append_and_resign(repo: &Repo, pack: &std::path::Path, mut text: String, lines: &[&serde_json::Value]) {
    for line in lines {
        text.push_str(&format!("{line}\n"));
    }
    std::fs::write(pack, text).unwrap();
    repo.runtime.block_on(repo::resign(&repo.dir, &Lifetimes::default())).unwrap();
}

/// D-42: a pack holding an entry of a kind this agent does not know and a document it cannot
/// read (a future shape of a known field) is not refused: both are skipped and reported in
/// `warnings` (`WUA_E_CATALOG_ENTRY_SKIPPED`, `SearchIncomplete`, naming the pack and line),
/// the result is `SucceededWithErrors`, and every entry it does understand, before and after
/// them, is found. The warnings stay in the index: a later offline search reports them too,
/// also with the server gone, and a refresh that reads the pack again (it grew) reports each
/// once.
#[test]
fn d42_entries_this_agent_does_not_understand_are_warnings() {
    let w = World::new().unwrap();
    let repo = Repo::new(&w);
    repo.publish(1, 1, "");
    let (pack, text, first) = pack_and_first_line(&repo);
    let pack_name = pack.file_name().unwrap().to_string_lossy().into_owned();
    // Line 2: an entry kind a later repository version writes.
    let unknown = serde_json::json!({ "bundle": { "update_id": test_id(8), "members": [test_id(1)] } });
    // Line 3: a document whose title has a shape this agent does not read.
    let mut future = first.clone();
    future["document"]["update_id"] = test_id(9).into();
    future["document"]["title"] = serde_json::json!({ "en": "localized", "de": "lokalisiert" });
    // Line 4: a document it does read, after the two it skips.
    let mut later = first.clone();
    later["document"]["update_id"] = test_id(3).into();
    later["document"]["title"] = "update 3".into();
    append_and_resign(&repo, &pack, text, &[&unknown, &future, &later]);

    let server = Served::start(&repo.served_tree());
    let s = session(&w);
    add_service(&s, &server.url, &repo.root());
    let searcher = s.create_update_searcher();
    let check = |r: &SearchResult, expected: &[u32], how: &str| {
        assert_eq!(r.result_code, OperationResultCode::SucceededWithErrors, "D-42 ({how}): {:?}", r.warnings);
        let expected: Vec<(String, i32)> = expected.iter().map(|n| (test_id(*n), 1)).collect();
        assert_eq!(found(r), expected, "D-42 ({how}): the rest of the pack is read");
        assert_eq!(r.warnings.len(), 2, "D-42 ({how}): each skipped entry once: {:?}", r.warnings);
        for (warning, line) in r.warnings.iter().zip(["line 2", "line 3"]) {
            assert_eq!(warning.hresult, HResult::WUA_E_CATALOG_ENTRY_SKIPPED, "{how}: {warning:?}");
            assert_eq!(warning.context, UpdateExceptionContext::SearchIncomplete, "{how}: {warning:?}");
            assert!(
                warning.message.contains(&pack_name) && warning.message.contains(line),
                "{how}: names the pack and {line}: {}",
                warning.message
            );
        }
        assert!(r.warnings[1].message.contains("document skipped"), "{how}: {}", r.warnings[1].message);
    };
    let online = searcher.search("").unwrap();
    check(&online, &[1, 3], "online");
    check(&searcher.search("").unwrap(), &[1, 3], "online again, the pack not read again");
    searcher.set_online(false);
    let offline = searcher.search("").unwrap();
    check(&offline, &[1, 3], "offline");
    assert_eq!(summary(&offline), summary(&online));
    // A publish appends to the same pack: the next refresh reads it again, whole.
    repo.publish(4, 1, "");
    check(&searcher.search("").unwrap(), &[1, 3], "offline, before the next refresh");
    searcher.set_online(true);
    check(&searcher.search("").unwrap(), &[1, 3, 4], "online, the pack changed");
    searcher.set_online(false);
    drop(server);
    check(&searcher.search("").unwrap(), &[1, 3, 4], "offline, the server gone");
    let r = searcher.search(&format!("UpdateID='{}'", test_id(9))).unwrap();
    assert!(r.updates.is_empty(), "a skipped document is never an update");
    assert_eq!(r.result_code, OperationResultCode::SucceededWithErrors, "every search of the catalog says so");
}

/// D-29: a refresh the trust layer refuses, served over HTTP, fails the search with the named
/// trust HResult and leaves the agent's state directory (index, trusted state, cache) byte for
/// byte as it was, so an offline search still answers what the last good refresh saw: a
/// replayed older timestamp (`WUA_E_TRUST_ROLLBACK`), a timestamp signed by a key the root does
/// not list (`WUA_E_TRUST_SIGNATURE`), and a new pack served with a byte flipped after all the
/// metadata verified (`WUA_E_TRUST_HASH_MISMATCH`). Once the repository is sound again, an
/// online search sees everything.
#[test]
fn d29_a_refused_refresh_changes_nothing() {
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let w = World::new().unwrap();
    let repo = Repo::new(&w);
    repo.publish(1, 1, "");
    let server = runtime.block_on(FaultServer::start(wua_trust::static_repo::router(repo.served_tree()))).unwrap();
    let s = session(&w);
    add_service(&s, &server.url, &repo.root());
    let searcher = s.create_update_searcher();
    let offline = s.create_update_searcher();
    offline.set_online(false);
    assert_eq!(found(&searcher.search("").unwrap()), [(test_id(1), 1)]);
    let timestamp = repo.served_tree().join("metadata/timestamp.json");

    let refused = |expected: HResult, seen: &[(String, i32)], what: &str| {
        let before = snapshot(&w.state, &["wua.db-shm"]).unwrap();
        let e = searcher.search("").unwrap_err();
        assert_eq!(e.hresult, expected, "{what}: {e}");
        assert_eq!(snapshot(&w.state, &["wua.db-shm"]).unwrap(), before, "D-29 ({what}): nothing changed");
        assert_eq!(found(&offline.search("").unwrap()), seen, "{what}: the index is the last good one");
    };

    // A replayed older timestamp.
    let old = std::fs::read(&timestamp).unwrap();
    repo.publish(2, 1, "");
    assert_eq!(found(&searcher.search("").unwrap()), [(test_id(1), 1), (test_id(2), 1)]);
    std::fs::write(&timestamp, &old).unwrap();
    let seen = [(test_id(1), 1), (test_id(2), 1)];
    refused(HResult::WUA_E_TRUST_ROLLBACK, &seen, "a replayed timestamp");

    // A newer timestamp signed by a stranger.
    repo.runtime.block_on(repo::resign(&repo.dir, &Lifetimes::default())).unwrap();
    let stranger = wua_test_support::trust::stranger_key(&w.work);
    repo.runtime.block_on(wua_test_support::trust::resign_file(
        &timestamp,
        &stranger,
        wua_test_support::trust::bump_version,
    ));
    refused(HResult::WUA_E_TRUST_SIGNATURE, &seen, "a stranger's timestamp");

    // Sound metadata listing a new pack, the pack served with a byte flipped.
    repo.runtime.block_on(repo::resign(&repo.dir, &Lifetimes::default())).unwrap();
    repo.publish(3, 1, "");
    server.faults().set("*pack-*", Fault::FlipByte(10));
    refused(HResult::WUA_E_TRUST_HASH_MISMATCH, &seen, "a flipped pack");
    assert!(server.faults().hits("*pack-*") > 0, "the pack was asked for");

    server.faults().clear();
    assert_eq!(found(&searcher.search("").unwrap()), [(test_id(1), 1), (test_id(2), 1), (test_id(3), 1)]);
}

/// A document whose `schema_version` is past what this agent reads (a newer publisher's, with
/// content this agent could place wrong) is skipped with a warning naming
/// `WUA_E_DOCUMENT_TOO_NEW`, never offered; a version-2 document (links) is read.
#[test]
fn a_document_of_a_newer_schema_is_skipped_with_a_warning() {
    let w = World::new().unwrap();
    let repo = Repo::new(&w);
    repo.publish(1, 1, "");
    let (pack, text, first) = pack_and_first_line(&repo);
    let mut newer = first.clone();
    newer["document"]["update_id"] = test_id(5).into();
    newer["document"]["schema_version"] = (wua_agent::wua_types::MAX_SCHEMA_VERSION + 1).into();
    let mut links = first.clone();
    links["document"]["update_id"] = test_id(6).into();
    links["document"]["schema_version"] = wua_agent::wua_types::SCHEMA_VERSION_LINKS.into();
    append_and_resign(&repo, &pack, text, &[&newer, &links]);

    let server = Served::start(&repo.served_tree());
    let s = session(&w);
    add_service(&s, &server.url, &repo.root());
    let r = s.create_update_searcher().search("").unwrap();
    assert_eq!(r.result_code, OperationResultCode::SucceededWithErrors, "{:?}", r.warnings);
    assert_eq!(found(&r), vec![(test_id(1), 1), (test_id(6), 1)], "the newer schema is never offered");
    assert_eq!(r.warnings.len(), 1, "{:?}", r.warnings);
    assert_eq!(r.warnings[0].hresult, HResult::WUA_E_CATALOG_ENTRY_SKIPPED);
    assert!(r.warnings[0].message.contains("WUA_E_DOCUMENT_TOO_NEW"), "{}", r.warnings[0].message);
    drop(server);
}
