//! `IAutomaticUpdatesResults`' dates (D-44): recorded, read back, and brought forward from a
//! datastore of the schema before them.

use wua_store::{Store, now_rfc3339};
use wua_types::AutomaticUpdatesResults;

fn results(store: &mut Store) -> AutomaticUpdatesResults {
    store.read().unwrap().automatic_updates_results().unwrap()
}

#[test]
fn d44_dates_are_recorded_and_the_last_one_wins() {
    let dir = tempfile::tempdir().unwrap();
    let mut store = Store::open(dir.path()).unwrap();
    assert_eq!(results(&mut store), AutomaticUpdatesResults::default(), "a fresh datastore has none");
    store.transact(|tx| tx.set_last_search_success("2026-01-02T03:04:05Z")).unwrap();
    assert_eq!(
        results(&mut store),
        AutomaticUpdatesResults { last_search_success_date: Some("2026-01-02T03:04:05Z".into()), ..Default::default() }
    );
    let now = now_rfc3339();
    store
        .transact(|tx| {
            tx.set_last_installation_success(&now)?;
            // Earlier as text, later as a date: the last recorded wins.
            tx.set_last_search_success("2026-01-02T03:04:05.5Z")
        })
        .unwrap();
    drop(store);
    let mut store = Store::open_read_only(dir.path()).unwrap();
    let r = results(&mut store);
    assert_eq!(r.last_search_success_date.as_deref(), Some("2026-01-02T03:04:05.5Z"));
    assert_eq!(r.last_installation_success_date, Some(now));
    // A read-only connection cannot record one: an error, never a panic.
    store.transact(|tx| tx.set_last_search_success("2026-01-03T00:00:00Z")).unwrap_err();
}

/// A datastore at the schema before the dates (version 6 added them) migrates, keeps its
/// rows, and reports no dates until something succeeds.
#[test]
fn d44_a_datastore_of_the_previous_schema_migrates() {
    assert_eq!(
        wua_store::SCHEMA_VERSION,
        6,
        "this test makes a version-5 datastore by undoing migration 6; undo the later ones too"
    );
    let dir = tempfile::tempdir().unwrap();
    drop(Store::open(dir.path()).unwrap());
    // The migration list only grows, so the current schema without migration 6 is exactly what
    // a wua of schema version 5 created.
    let conn = rusqlite::Connection::open(dir.path().join("wua.db")).unwrap();
    conn.execute_batch("DROP TABLE agent_dates; PRAGMA user_version = 5;").unwrap();
    conn.execute("INSERT INTO hidden (update_id) VALUES (?1)", ["00000000-0000-4000-8000-000000000001"]).unwrap();
    conn.execute(
        "INSERT INTO history (update_id, date, entry) VALUES (?1, ?2, ?3)",
        ["00000000-0000-4000-8000-000000000001", "2025-12-31T23:59:59Z", "{}"],
    )
    .unwrap();
    drop(conn);
    let err = Store::open_read_only(dir.path()).unwrap_err();
    assert!(matches!(err, wua_store::StoreError::TooOld { found: 5, .. }), "{err:?}");

    let mut store = Store::open(dir.path()).unwrap();
    assert_eq!(results(&mut store), AutomaticUpdatesResults::default());
    assert!(store.read().unwrap().is_hidden("00000000-0000-4000-8000-000000000001").unwrap(), "rows are kept");
    store.transact(|tx| tx.set_last_search_success("2026-01-02T03:04:05Z")).unwrap();
    drop(store);
    let conn = rusqlite::Connection::open(dir.path().join("wua.db")).unwrap();
    let version: i64 = conn.query_row("PRAGMA user_version", [], |r| r.get(0)).unwrap();
    assert_eq!(version, 6);
    let history: i64 = conn.query_row("SELECT count(*) FROM history", [], |r| r.get(0)).unwrap();
    assert_eq!(history, 1, "the migration kept the history");
    let at: String =
        conn.query_row("SELECT at FROM agent_dates WHERE name = 'last_search_success'", [], |r| r.get(0)).unwrap();
    assert_eq!(at, "2026-01-02T03:04:05Z");
}
