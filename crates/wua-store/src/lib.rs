//! The agent datastore: one SQLite file (`<state>/wua.db`), WAL with `synchronous = FULL`,
//! versioned migrations from the first release. The only agent-side crate that speaks SQL.
//!
//! [`Store`] owns the connection; every access goes through a [`Tx`] (a transaction the caller
//! holds), so several records change atomically: the install journal, installed state and
//! file ownership, history, hidden flags, EULA acceptance and pending reboots of one
//! operation commit together or not at all (decisions D-17). A commit is durable when it
//! returns (WAL + `synchronous = FULL`).

mod migrations;
mod tx;

use std::path::{Path, PathBuf};
use std::time::Duration;

use rusqlite::{Connection, OpenFlags, TransactionBehavior};
use wua_types::{HResult, WuError};

pub use tx::{FileOwner, InstalledRecord, JournalPhase, JournalRecord, PendingReboot, RootBinding, Tx};

/// The schema version this build writes (datastores are migrated up to it).
pub const SCHEMA_VERSION: i64 = migrations::LATEST;

/// The datastore's file name inside the state directory.
pub const DB_FILE: &str = "wua.db";

/// A datastore error.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// SQLite failed on the named database.
    #[error("datastore {path}: {source}")]
    Sqlite {
        /// The database file.
        path: PathBuf,
        /// The cause.
        source: rusqlite::Error,
    },
    /// The schema is newer than this build knows.
    #[error("datastore {path} has schema version {found}; this wua knows up to {supported}")]
    TooNew {
        /// The database file.
        path: PathBuf,
        /// Its version.
        found: i64,
        /// This build's.
        supported: i64,
    },
    /// A different document is already recorded under this identity: a revision never changes.
    #[error(
        "datastore {path}: update {update_id} revision {revision} is already recorded with other content; \
         a revision never changes (publish the change as a new revision)"
    )]
    RevisionConflict {
        /// The database file.
        path: PathBuf,
        /// The update id.
        update_id: String,
        /// The revision.
        revision: i32,
    },
    /// A stored value does not decode.
    #[error("datastore {path}: bad stored value: {detail}")]
    Corrupt {
        /// The database file.
        path: PathBuf,
        /// What failed to decode.
        detail: String,
    },
}

impl StoreError {
    /// The code for this error.
    pub fn hresult(&self) -> HResult {
        match self {
            StoreError::Sqlite { source, .. } => match source.sqlite_error_code() {
                Some(
                    rusqlite::ErrorCode::CannotOpen
                    | rusqlite::ErrorCode::ReadOnly
                    | rusqlite::ErrorCode::PermissionDenied,
                ) => HResult::WUA_E_STATE_DIR,
                _ => HResult::WUA_E_STORE,
            },
            StoreError::TooNew { .. } => HResult::WUA_E_STORE_TOO_NEW,
            StoreError::RevisionConflict { .. } => HResult::WUA_E_REVISION_CONFLICT,
            StoreError::Corrupt { .. } => HResult::WUA_E_STORE,
        }
    }
}

impl From<StoreError> for WuError {
    fn from(e: StoreError) -> Self {
        WuError::new(e.hresult(), e.to_string())
    }
}

/// The open datastore.
#[derive(Debug)]
pub struct Store {
    conn: Connection,
    path: PathBuf,
}

impl Store {
    /// Opens (creating if needed) `<state_dir>/wua.db` for reading and writing and brings its
    /// schema up to date.
    pub fn open(state_dir: &Path) -> Result<Self, StoreError> {
        let path = state_dir.join(DB_FILE);
        let err = |source| StoreError::Sqlite { path: path.clone(), source };
        let conn = Connection::open_with_flags(
            &path,
            OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_CREATE | OpenFlags::SQLITE_OPEN_NO_MUTEX,
        )
        .map_err(err)?;
        conn.busy_timeout(Duration::from_secs(30)).map_err(err)?;
        // WAL keeps readers (`wua status`) out of a writer's way; FULL makes every commit durable
        // when it returns, which the journal protocol relies on.
        let mode: String = conn.query_row("PRAGMA journal_mode = WAL", [], |r| r.get(0)).map_err(err)?;
        if !mode.eq_ignore_ascii_case("wal") {
            return Err(StoreError::Corrupt { path, detail: format!("journal_mode is {mode}, not wal") });
        }
        conn.execute_batch("PRAGMA synchronous = FULL; PRAGMA foreign_keys = ON;").map_err(err)?;
        let mut store = Store { conn, path };
        migrations::migrate(&mut store)?;
        Ok(store)
    }

    /// Opens an existing datastore read-only (for callers that cannot write the state
    /// directory). The schema must already be current.
    pub fn open_read_only(state_dir: &Path) -> Result<Self, StoreError> {
        let path = state_dir.join(DB_FILE);
        let err = |source| StoreError::Sqlite { path: path.clone(), source };
        let conn =
            Connection::open_with_flags(&path, OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX)
                .map_err(err)?;
        conn.busy_timeout(Duration::from_secs(30)).map_err(err)?;
        let store = Store { conn, path };
        let version = migrations::version(&store)?;
        if version != migrations::LATEST {
            return Err(StoreError::TooNew { path: store.path.clone(), found: version, supported: migrations::LATEST });
        }
        Ok(store)
    }

    /// The database file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Starts a write transaction (takes SQLite's write lock at once).
    pub fn write(&mut self) -> Result<Tx<'_>, StoreError> {
        let tx = self
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .map_err(|source| StoreError::Sqlite { path: self.path.clone(), source })?;
        Ok(Tx::new(tx, &self.path))
    }

    /// Starts a read transaction (a consistent snapshot).
    pub fn read(&mut self) -> Result<Tx<'_>, StoreError> {
        let tx = self
            .conn
            .transaction_with_behavior(TransactionBehavior::Deferred)
            .map_err(|source| StoreError::Sqlite { path: self.path.clone(), source })?;
        Ok(Tx::new(tx, &self.path))
    }
}

/// The current time as RFC 3339 UTC, as every stored date is written.
pub fn now_rfc3339() -> String {
    time::OffsetDateTime::now_utc()
        .format(&time::format_description::well_known::Rfc3339)
        .unwrap_or_else(|_| "1970-01-01T00:00:00Z".into())
}
