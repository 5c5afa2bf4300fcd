//! The server database's schema, tracked by `PRAGMA user_version`. A migration is appended,
//! never edited: a server upgraded in place brings its database forward step by step.
//!
//! Times are Unix seconds (INTEGER) wherever they are compared; an agent's own event time is
//! kept as the RFC 3339 text it sent.

use rusqlite::Connection;

const MIGRATIONS: &[&str] = &[
    // 1: the first schema.
    r#"
    CREATE TABLE groups (
        name           TEXT PRIMARY KEY,
        description    TEXT NOT NULL,
        created_at     INTEGER NOT NULL,
        -- aggregates, kept as computers join, leave and report
        computers      INTEGER NOT NULL DEFAULT 0,
        scanned        INTEGER NOT NULL DEFAULT 0,
        needing        INTEGER NOT NULL DEFAULT 0,
        failing        INTEGER NOT NULL DEFAULT 0,
        pending_reboot INTEGER NOT NULL DEFAULT 0
    );
    INSERT INTO groups (name, description, created_at) VALUES ('unassigned', 'Computers no key or rule placed in a group', strftime('%s', 'now'));
    CREATE TABLE computers (
        id              TEXT PRIMARY KEY,
        machine_id      TEXT NOT NULL UNIQUE,
        hostname        TEXT NOT NULL,
        group_name      TEXT NOT NULL REFERENCES groups(name),
        token_id        TEXT NOT NULL UNIQUE,
        token_digest    BLOB NOT NULL,
        registered_at   INTEGER NOT NULL,
        last_checkin    INTEGER,
        last_report     INTEGER,
        scanned         INTEGER NOT NULL DEFAULT 0,
        reboot_required INTEGER NOT NULL DEFAULT 0,
        needed          INTEGER NOT NULL DEFAULT 0,
        failed          INTEGER NOT NULL DEFAULT 0
    );
    CREATE INDEX computers_by_group ON computers (group_name);
    CREATE TABLE computer_updates (
        computer_id TEXT NOT NULL,
        update_id   TEXT NOT NULL,
        state       INTEGER NOT NULL,
        hresult     INTEGER,
        at          INTEGER NOT NULL,
        PRIMARY KEY (computer_id, update_id)
    ) WITHOUT ROWID;
    CREATE TABLE update_counts (
        update_id      TEXT NOT NULL,
        group_name     TEXT NOT NULL,
        installed      INTEGER NOT NULL,
        needed         INTEGER NOT NULL,
        failed         INTEGER NOT NULL,
        pending_reboot INTEGER NOT NULL,
        PRIMARY KEY (update_id, group_name)
    ) WITHOUT ROWID;
    CREATE TABLE approvals (
        group_name TEXT NOT NULL,
        update_id  TEXT NOT NULL,
        action     TEXT NOT NULL,
        deadline   TEXT,
        PRIMARY KEY (group_name, update_id)
    ) WITHOUT ROWID;
    CREATE INDEX approvals_by_update ON approvals (update_id);
    CREATE TABLE events (
        computer_id TEXT NOT NULL,
        key         TEXT NOT NULL,
        received_at INTEGER NOT NULL,
        at          TEXT NOT NULL,
        event       TEXT NOT NULL,
        PRIMARY KEY (computer_id, key)
    ) WITHOUT ROWID;
    CREATE INDEX events_by_age ON events (received_at);
    CREATE TABLE enrolment_keys (
        id                     TEXT PRIMARY KEY,
        digest                 BLOB NOT NULL,
        description            TEXT NOT NULL,
        group_name             TEXT,
        allow_client_targeting INTEGER NOT NULL,
        expires_at             INTEGER,
        revoked_at             INTEGER,
        created_at             INTEGER NOT NULL
    );
    CREATE TABLE admin_tokens (
        id         TEXT PRIMARY KEY,
        name       TEXT NOT NULL,
        digest     BLOB NOT NULL,
        created_at INTEGER NOT NULL,
        revoked_at INTEGER
    );
    CREATE TABLE audit (
        id     INTEGER PRIMARY KEY,
        at     INTEGER NOT NULL,
        actor  TEXT NOT NULL,
        action TEXT NOT NULL,
        target TEXT NOT NULL,
        detail TEXT NOT NULL
    );
    "#,
    // 2: automatic approval rules, and the revisions they have seen.
    r#"
    CREATE TABLE approval_rules (
        id         INTEGER PRIMARY KEY,
        name       TEXT NOT NULL,
        rule       TEXT NOT NULL,
        created_at INTEGER NOT NULL
    );
    CREATE TABLE seen_revisions (
        update_id TEXT NOT NULL,
        revision  INTEGER NOT NULL,
        PRIMARY KEY (update_id, revision)
    ) WITHOUT ROWID;
    "#,
    // 3: a computer's events numbered in the order they arrived (per computer), for its
    // history.
    r#"
    ALTER TABLE events ADD COLUMN seq INTEGER NOT NULL DEFAULT 0;
    CREATE INDEX events_by_computer ON events (computer_id, seq);
    "#,
];

/// The schema version this build writes.
pub(crate) const LATEST: i64 = MIGRATIONS.len() as i64;

/// Brings the database to [`LATEST`]; `Err(Some(found))` when it is newer than this build.
pub(crate) fn migrate(conn: &mut Connection) -> Result<(), Result<i64, rusqlite::Error>> {
    let tx = conn.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate).map_err(Err)?;
    let current: i64 = tx.query_row("PRAGMA user_version", [], |r| r.get(0)).map_err(Err)?;
    if current > LATEST {
        return Err(Ok(current));
    }
    for (i, sql) in MIGRATIONS.iter().enumerate().skip(current as usize) {
        tx.execute_batch(sql).map_err(Err)?;
        tx.execute_batch(&format!("PRAGMA user_version = {}", i + 1)).map_err(Err)?;
    }
    tx.commit().map_err(Err)
}
