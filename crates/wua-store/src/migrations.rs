//! Versioned schema migrations, tracked by `PRAGMA user_version`. A migration is appended,
//! never edited: an agent upgraded in place brings an old datastore forward step by step.

use crate::{Store, StoreError};

const MIGRATIONS: &[&str] = &[
    // 1: the first schema.
    r#"
    CREATE TABLE update_documents (
        update_id   TEXT NOT NULL,
        revision    INTEGER NOT NULL,
        document    TEXT NOT NULL,
        recorded_at TEXT NOT NULL,
        PRIMARY KEY (update_id, revision)
    );
    CREATE TABLE installed (
        update_id    TEXT PRIMARY KEY,
        revision     INTEGER NOT NULL,
        installed_at TEXT NOT NULL,
        created_dirs TEXT NOT NULL
    );
    CREATE TABLE file_owners (
        path      TEXT PRIMARY KEY,
        update_id TEXT NOT NULL,
        sha256    TEXT NOT NULL,
        backup    TEXT
    );
    CREATE INDEX file_owners_by_update ON file_owners (update_id);
    CREATE TABLE journal (
        op_id                 TEXT PRIMARY KEY,
        operation             INTEGER NOT NULL,
        update_id             TEXT NOT NULL,
        revision              INTEGER NOT NULL,
        phase                 TEXT NOT NULL,
        plan                  TEXT NOT NULL,
        client_application_id TEXT NOT NULL,
        started_at            TEXT NOT NULL
    );
    CREATE TABLE history (
        id        INTEGER PRIMARY KEY AUTOINCREMENT,
        update_id TEXT NOT NULL,
        date      TEXT NOT NULL,
        entry     TEXT NOT NULL
    );
    CREATE TABLE hidden (
        update_id TEXT PRIMARY KEY
    );
    CREATE TABLE eula_acceptance (
        update_id   TEXT NOT NULL,
        eula_sha256 TEXT NOT NULL,
        accepted_at TEXT NOT NULL,
        PRIMARY KEY (update_id, eula_sha256)
    );
    CREATE TABLE pending_reboots (
        update_id   TEXT NOT NULL,
        operation   INTEGER NOT NULL,
        boot_id     TEXT NOT NULL,
        blocking    INTEGER NOT NULL,
        recorded_at TEXT NOT NULL
    );
    "#,
    // 2: a state directory belongs to one target root; a journal record names its root and
    // carries the document its recovery needs.
    r#"
    CREATE TABLE root_binding (
        singleton INTEGER PRIMARY KEY CHECK (singleton = 1),
        root_id   TEXT NOT NULL,
        root_path TEXT NOT NULL,
        bound_at  TEXT NOT NULL
    );
    ALTER TABLE journal ADD COLUMN root_id TEXT;
    ALTER TABLE journal ADD COLUMN document TEXT;
    "#,
    // 3: update services, and a per-service index of the catalog each one serves (its packs,
    // by name and hash, and what each pack says), apart from `update_documents` (what this
    // machine imported or installed). A journal record names the service its update came from.
    r#"
    CREATE TABLE services (
        service_id   TEXT PRIMARY KEY,
        name         TEXT NOT NULL,
        kind         TEXT NOT NULL,
        source       TEXT NOT NULL,
        trusted_root BLOB NOT NULL,
        ca_bundle    TEXT,
        is_default   INTEGER NOT NULL,
        added_at     TEXT NOT NULL
    );
    CREATE TABLE service_index (
        service_id       TEXT PRIMARY KEY,
        snapshot_version INTEGER NOT NULL,
        refreshed_at     TEXT NOT NULL
    );
    CREATE TABLE index_packs (
        service_id TEXT NOT NULL,
        pack       TEXT NOT NULL,
        sha256     TEXT NOT NULL,
        PRIMARY KEY (service_id, pack)
    );
    CREATE TABLE index_documents (
        service_id TEXT NOT NULL,
        pack       TEXT NOT NULL,
        update_id  TEXT NOT NULL,
        revision   INTEGER NOT NULL,
        document   TEXT NOT NULL
    );
    CREATE INDEX index_documents_by_pack ON index_documents (service_id, pack);
    CREATE TABLE index_declines (
        service_id TEXT NOT NULL,
        pack       TEXT NOT NULL,
        update_id  TEXT NOT NULL,
        revision   INTEGER NOT NULL
    );
    CREATE INDEX index_declines_by_pack ON index_declines (service_id, pack);
    CREATE TABLE index_warnings (
        service_id TEXT NOT NULL,
        pack       TEXT NOT NULL,
        message    TEXT NOT NULL
    );
    CREATE INDEX index_warnings_by_pack ON index_warnings (service_id, pack);
    ALTER TABLE journal ADD COLUMN server_selection INTEGER;
    ALTER TABLE journal ADD COLUMN service_id TEXT;
    "#,
    // 4: managed-server services (the computer's id, group and check-in state beside the
    // service; its token is a file, never a row), the signed approvals of the computer's group
    // in the service's index (D-27), and the outbox of reports to the server, written in the
    // transaction of what they report (D-17).
    r#"
    CREATE TABLE managed_servers (
        service_id               TEXT PRIMARY KEY,
        server_url               TEXT NOT NULL,
        computer_id              TEXT NOT NULL,
        group_name               TEXT NOT NULL,
        checkin_interval_seconds INTEGER NOT NULL,
        last_checkin             TEXT,
        reported_reboot          INTEGER,
        registered_at            TEXT NOT NULL
    );
    CREATE TABLE index_approvals (
        service_id TEXT NOT NULL,
        group_name TEXT NOT NULL,
        update_id  TEXT NOT NULL,
        action     TEXT NOT NULL,
        deadline   TEXT,
        PRIMARY KEY (service_id, update_id)
    );
    CREATE TABLE outbox (
        id         INTEGER PRIMARY KEY,
        service_id TEXT NOT NULL,
        key        TEXT NOT NULL UNIQUE,
        at         TEXT NOT NULL,
        event      TEXT NOT NULL
    );
    CREATE INDEX outbox_by_service ON outbox (service_id, id);
    "#,
    // 5: dead letters: outbox events the server refused for good (a 400 for the event alone, a
    // 413 for one event), moved out of the outbox with the server's answer so the events after
    // them flow; kept, never dropped silently.
    r#"
    CREATE TABLE dead_letters (
        id         INTEGER PRIMARY KEY,
        service_id TEXT NOT NULL,
        key        TEXT NOT NULL UNIQUE,
        at         TEXT NOT NULL,
        event      TEXT NOT NULL,
        status     INTEGER NOT NULL,
        hresult    INTEGER NOT NULL,
        message    TEXT NOT NULL,
        dead_at    TEXT NOT NULL
    );
    CREATE INDEX dead_letters_by_service ON dead_letters (service_id, id);
    "#,
    // 6: dates the agent keeps about itself, one row per name: `IAutomaticUpdatesResults`'
    // last successful search (`last_search_success`) and installation
    // (`last_installation_success`), RFC 3339 UTC.
    r#"
    CREATE TABLE agent_dates (
        name TEXT PRIMARY KEY,
        at   TEXT NOT NULL
    );
    "#,
];

/// The schema version this build writes.
pub(crate) const LATEST: i64 = MIGRATIONS.len() as i64;

pub(crate) fn version(store: &Store) -> Result<i64, StoreError> {
    store
        .conn
        .query_row("PRAGMA user_version", [], |r| r.get(0))
        .map_err(|source| StoreError::Sqlite { path: store.path.clone(), source })
}

pub(crate) fn migrate(store: &mut Store) -> Result<(), StoreError> {
    let path = store.path.clone();
    let err = |source| StoreError::Sqlite { path: path.clone(), source };
    let tx = store.conn.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate).map_err(err)?;
    let current: i64 = tx.query_row("PRAGMA user_version", [], |r| r.get(0)).map_err(err)?;
    if current > LATEST {
        return Err(StoreError::TooNew { path: path.clone(), found: current, supported: LATEST });
    }
    for (i, sql) in MIGRATIONS.iter().enumerate().skip(current as usize) {
        tx.execute_batch(sql).map_err(err)?;
        tx.execute_batch(&format!("PRAGMA user_version = {}", i + 1)).map_err(err)?;
    }
    tx.commit().map_err(err)
}
