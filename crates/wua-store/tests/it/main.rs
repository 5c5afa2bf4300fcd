//! wua-store: migrations, durability settings, typed access.

mod managed;
mod results;

use wua_store::{JournalPhase, JournalRecord, PendingReboot, Store};
use wua_types::{HResult, UpdateOperation};

#[test]
fn opens_in_wal_with_full_sync_and_current_schema() {
    let dir = tempfile::tempdir().unwrap();
    drop(Store::open(dir.path()).unwrap());
    let conn = rusqlite::Connection::open(dir.path().join("wua.db")).unwrap();
    let mode: String = conn.query_row("PRAGMA journal_mode", [], |r| r.get(0)).unwrap();
    assert_eq!(mode, "wal");
    let version: i64 = conn.query_row("PRAGMA user_version", [], |r| r.get(0)).unwrap();
    assert_eq!(version, wua_store::SCHEMA_VERSION);
    // Reopening an up-to-date datastore changes nothing.
    drop(Store::open(dir.path()).unwrap());
}

#[test]
fn a_newer_schema_is_refused_not_damaged() {
    let dir = tempfile::tempdir().unwrap();
    drop(Store::open(dir.path()).unwrap());
    let conn = rusqlite::Connection::open(dir.path().join("wua.db")).unwrap();
    conn.execute_batch("PRAGMA user_version = 99").unwrap();
    drop(conn);
    let err = Store::open(dir.path()).unwrap_err();
    assert_eq!(err.hresult(), HResult::WUA_E_STORE_TOO_NEW);
    assert!(err.to_string().contains("99"), "{err}");
    let conn = rusqlite::Connection::open(dir.path().join("wua.db")).unwrap();
    let version: i64 = conn.query_row("PRAGMA user_version", [], |r| r.get(0)).unwrap();
    assert_eq!(version, 99);
}

#[test]
fn uncommitted_transactions_roll_back() {
    let dir = tempfile::tempdir().unwrap();
    let mut store = Store::open(dir.path()).unwrap();
    let rec = JournalRecord {
        op_id: "op".into(),
        operation: UpdateOperation::Installation,
        update_id: "u".into(),
        revision: 1,
        phase: JournalPhase::Staging,
        plan: "{}".into(),
        client_application_id: "t".into(),
        server_selection: wua_types::ServerSelection::Others,
        service_id: "5b0c7a5e-0000-4000-8000-000000000000".into(),
        started_at: "2026-01-01T00:00:00Z".into(),
        root_id: None,
        document: None,
    };
    {
        let tx = store.write().unwrap();
        tx.put_journal(&rec).unwrap();
        tx.add_pending_reboot(&PendingReboot {
            update_id: "u".into(),
            operation: UpdateOperation::Installation,
            boot_id: "b1".into(),
            blocking: true,
        })
        .unwrap();
        // dropped without commit
    }
    assert!(store.read().unwrap().journal().unwrap().is_empty());
    let tx = store.write().unwrap();
    tx.put_journal(&rec).unwrap();
    tx.set_journal_phase("op", JournalPhase::Intent).unwrap();
    tx.commit().unwrap();
    let j = store.read().unwrap().journal().unwrap();
    assert_eq!(j.len(), 1);
    assert_eq!(j[0].phase, JournalPhase::Intent);
}

/// D-9: reboot requests belong to the boot they were made in.
#[test]
fn d9_reboots_are_tied_to_a_boot() {
    let dir = tempfile::tempdir().unwrap();
    let mut store = Store::open(dir.path()).unwrap();
    let tx = store.write().unwrap();
    tx.add_pending_reboot(&PendingReboot {
        update_id: "u".into(),
        operation: UpdateOperation::Installation,
        boot_id: "b1".into(),
        blocking: true,
    })
    .unwrap();
    tx.commit().unwrap();
    assert_eq!(store.read().unwrap().pending_reboots("b1").unwrap().len(), 1);
    assert!(store.read().unwrap().pending_reboots("b2").unwrap().is_empty());
    let tx = store.write().unwrap();
    tx.clear_reboots_not_of("b2").unwrap();
    tx.commit().unwrap();
    assert!(store.read().unwrap().pending_reboots("b1").unwrap().is_empty());
}

/// The first schema, as a wua of schema version 1 created it (kept here verbatim: the
/// migration list may only grow, so this is what an old datastore holds).
const SCHEMA_V1: &str = r#"
    CREATE TABLE update_documents (
        update_id TEXT NOT NULL, revision INTEGER NOT NULL, document TEXT NOT NULL,
        recorded_at TEXT NOT NULL, PRIMARY KEY (update_id, revision));
    CREATE TABLE installed (
        update_id TEXT PRIMARY KEY, revision INTEGER NOT NULL, installed_at TEXT NOT NULL,
        created_dirs TEXT NOT NULL);
    CREATE TABLE file_owners (
        path TEXT PRIMARY KEY, update_id TEXT NOT NULL, sha256 TEXT NOT NULL, backup TEXT);
    CREATE INDEX file_owners_by_update ON file_owners (update_id);
    CREATE TABLE journal (
        op_id TEXT PRIMARY KEY, operation INTEGER NOT NULL, update_id TEXT NOT NULL,
        revision INTEGER NOT NULL, phase TEXT NOT NULL, plan TEXT NOT NULL,
        client_application_id TEXT NOT NULL, started_at TEXT NOT NULL);
    CREATE TABLE history (
        id INTEGER PRIMARY KEY AUTOINCREMENT, update_id TEXT NOT NULL, date TEXT NOT NULL,
        entry TEXT NOT NULL);
    CREATE TABLE hidden (update_id TEXT PRIMARY KEY);
    CREATE TABLE eula_acceptance (
        update_id TEXT NOT NULL, eula_sha256 TEXT NOT NULL, accepted_at TEXT NOT NULL,
        PRIMARY KEY (update_id, eula_sha256));
    CREATE TABLE pending_reboots (
        update_id TEXT NOT NULL, operation INTEGER NOT NULL, boot_id TEXT NOT NULL,
        blocking INTEGER NOT NULL, recorded_at TEXT NOT NULL);
    PRAGMA user_version = 1;
"#;

/// An older datastore opened read-only (the first unprivileged `wua status` after an upgrade)
/// is reported as older, with what to do, not as "written by a newer wua"; a writing open
/// brings it up to date, after which it opens read-only.
#[test]
fn an_older_schema_read_only_says_run_a_writing_command() {
    let dir = tempfile::tempdir().unwrap();
    let conn = rusqlite::Connection::open(dir.path().join("wua.db")).unwrap();
    let mode: String = conn.query_row("PRAGMA journal_mode = WAL", [], |r| r.get(0)).unwrap();
    assert_eq!(mode, "wal");
    conn.execute_batch(SCHEMA_V1).unwrap();
    conn.execute("INSERT INTO hidden (update_id) VALUES (?1)", ["00000000-0000-4000-8000-000000000001"]).unwrap();
    drop(conn);
    const { assert!(wua_store::SCHEMA_VERSION > 1) };

    let err = Store::open_read_only(dir.path()).unwrap_err();
    assert!(
        matches!(err, wua_store::StoreError::TooOld { found: 1, supported: wua_store::SCHEMA_VERSION, .. }),
        "{err:?}"
    );
    assert_eq!(err.hresult(), HResult::WUA_E_STORE_TOO_OLD);
    let msg = err.to_string();
    assert!(msg.contains("older") && msg.contains("wua recover") && !msg.contains("newer"), "{msg}");
    // Refused, not changed.
    let conn = rusqlite::Connection::open(dir.path().join("wua.db")).unwrap();
    let version: i64 = conn.query_row("PRAGMA user_version", [], |r| r.get(0)).unwrap();
    assert_eq!(version, 1);
    drop(conn);

    drop(Store::open(dir.path()).unwrap());
    let mut store = Store::open_read_only(dir.path()).unwrap();
    let tx = store.read().unwrap();
    assert!(tx.journal().unwrap().is_empty());
    drop(tx);
    let conn = rusqlite::Connection::open(dir.path().join("wua.db")).unwrap();
    let version: i64 = conn.query_row("PRAGMA user_version", [], |r| r.get(0)).unwrap();
    assert_eq!(version, wua_store::SCHEMA_VERSION);
    let hidden: i64 = conn.query_row("SELECT count(*) FROM hidden", [], |r| r.get(0)).unwrap();
    assert_eq!(hidden, 1, "the migration kept the old rows");
}

/// A newer datastore opened read-only is still "newer".
#[test]
fn a_newer_schema_read_only_is_too_new() {
    let dir = tempfile::tempdir().unwrap();
    drop(Store::open(dir.path()).unwrap());
    let conn = rusqlite::Connection::open(dir.path().join("wua.db")).unwrap();
    conn.execute_batch("PRAGMA user_version = 99").unwrap();
    drop(conn);
    let err = Store::open_read_only(dir.path()).unwrap_err();
    assert_eq!(err.hresult(), HResult::WUA_E_STORE_TOO_NEW);
    assert!(err.to_string().contains("99"), "{err}");
}

/// The read-only open names the file by URI: characters URIs reserve stay part of the name.
#[test]
fn read_only_open_of_a_path_with_uri_characters() {
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path().join("st?ate#1%20 x");
    std::fs::create_dir(&state).unwrap();
    drop(Store::open(&state).unwrap());
    let mut store = Store::open_read_only(&state).unwrap();
    assert_eq!(store.path(), state.join("wua.db"));
    assert!(store.read().unwrap().journal().unwrap().is_empty());
    // A missing datastore is an error, and nothing is created.
    let missing = dir.path().join("missing");
    std::fs::create_dir(&missing).unwrap();
    Store::open_read_only(&missing).unwrap_err();
    assert_eq!(std::fs::read_dir(&missing).unwrap().count(), 0);
}
