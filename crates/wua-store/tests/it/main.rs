//! wua-store: migrations, durability settings, typed access.

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
