//! The agent datastore: one SQLite file (`<state>/wua.db`), WAL with `synchronous = FULL`,
//! versioned migrations from the first release. The only agent-side crate that speaks SQL.
//!
//! [`Store`] owns the connection; every access goes through a [`Tx`] (a transaction the caller
//! holds), so several records change atomically: the install journal, installed state and
//! file ownership, history, hidden flags, EULA acceptance and pending reboots of one
//! operation commit together or not at all (decisions D-17). A commit is durable when it
//! returns (WAL + `synchronous = FULL`).
//!
//! For a managed server (`wua server`) it also keeps the registration ([`ManagedServerRecord`];
//! never the token), the signed approvals of the computer's group in the service's index
//! ([`IndexApproval`]), the outbox of reports (`outbox`), which every history entry feeds in
//! its own transaction, and the dead letters ([`DeadLetter`]): events the server refused for
//! good, moved out of the outbox with its answer.
//!
//! It also keeps the dates `IAutomaticUpdatesResults` reports: the last successful search and
//! installation (`Tx::automatic_updates_results`).

mod managed;
mod migrations;
mod outbox;
mod results;
mod services;
mod tx;

use std::path::{Path, PathBuf};
use std::time::Duration;

use rusqlite::{Connection, OpenFlags, TransactionBehavior};
use wua_types::{HResult, WuError};

pub use managed::ManagedServerRecord;
pub use outbox::DeadLetter;
pub use services::{IndexApproval, PackEntries, ServiceKind, ServiceRecord};
pub use tx::{FileOwner, InstalledRecord, JournalPhase, JournalRecord, PendingReboot, RootBinding, Tx};

/// The schema version this build writes (datastores are migrated up to it).
pub const SCHEMA_VERSION: i64 = migrations::LATEST;

/// The datastore's file name inside the state directory.
const DB_FILE: &str = "wua.db";

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
    /// The schema is older than this build's, and the datastore was opened read-only, so it
    /// cannot be migrated.
    #[error(
        "datastore {path} has schema version {found}, older than this wua's {supported}, and this process \
         cannot write it to bring it up to date; run any writing command once as a user who can write the \
         state directory (for example `wua recover` as root), then try again"
    )]
    TooOld {
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
    fn sqlite_code(&self) -> Option<rusqlite::ErrorCode> {
        match self {
            StoreError::Sqlite { source, .. } => source.sqlite_error_code(),
            _ => None,
        }
    }

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
            StoreError::TooOld { .. } => HResult::WUA_E_STORE_TOO_OLD,
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
        conn.busy_timeout(BUSY_TIMEOUT).map_err(err)?;
        // WAL keeps readers (`wua status`) out of a writer's way; FULL makes every commit durable
        // when it returns, which the journal protocol relies on.
        let mode = wal_mode(&conn).map_err(err)?;
        if !mode.eq_ignore_ascii_case("wal") {
            return Err(StoreError::Corrupt { path, detail: format!("journal_mode is {mode}, not wal") });
        }
        conn.execute_batch("PRAGMA synchronous = FULL; PRAGMA foreign_keys = ON;").map_err(err)?;
        let mut store = Store { conn, path };
        migrations::migrate(&mut store)?;
        Ok(store)
    }

    /// Opens an existing datastore read-only, for callers that cannot write the state directory
    /// (`wua status` as an ordinary user). Nothing in the directory is created or changed.
    ///
    /// The datastore is in WAL mode, whose readers normally share the `-wal` and `-shm` files
    /// beside it. When they exist (a writer has it open, or one left them behind) they are
    /// opened read-only and the newest commits are read from the WAL. When they do not exist
    /// (the last writer checkpointed and removed them) and cannot be created, the database file
    /// holds every commit and is read as immutable (SQLite takes no locks then): the caveat is
    /// that a writer which starts and checkpoints during that read can be missed or, at worst,
    /// make the read fail; reading again sees it.
    ///
    /// The schema must be current: an older one is [`StoreError::TooOld`] (a writing open
    /// migrates it), a newer one [`StoreError::TooNew`].
    pub fn open_read_only(state_dir: &Path) -> Result<Self, StoreError> {
        let path = state_dir.join(DB_FILE);
        let store = match Self::open_uri(&path, false) {
            Ok(store) => store,
            // The WAL's files are missing and cannot be created here: without them every
            // commit is in the database file itself.
            Err(e @ StoreError::Sqlite { .. })
                if path.is_file()
                    && matches!(
                        e.sqlite_code(),
                        Some(rusqlite::ErrorCode::CannotOpen | rusqlite::ErrorCode::ReadOnly)
                    ) =>
            {
                Self::open_uri(&path, true).map_err(|_| e)?
            }
            Err(e) => return Err(e),
        };
        let version = migrations::version(&store)?;
        if version < migrations::LATEST {
            return Err(StoreError::TooOld { path: store.path, found: version, supported: migrations::LATEST });
        }
        if version > migrations::LATEST {
            return Err(StoreError::TooNew { path: store.path, found: version, supported: migrations::LATEST });
        }
        Ok(store)
    }

    /// A read-only connection by URI (`mode=ro`, and `immutable=1` when asked), checked by
    /// reading the schema version (which opens the WAL, if any).
    fn open_uri(path: &Path, immutable: bool) -> Result<Self, StoreError> {
        let err = |source| StoreError::Sqlite { path: path.to_owned(), source };
        let mut uri = format!("file:{}?mode=ro", uri_path(path));
        if immutable {
            uri.push_str("&immutable=1");
        }
        let conn = Connection::open_with_flags(
            &uri,
            OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_URI | OpenFlags::SQLITE_OPEN_NO_MUTEX,
        )
        .map_err(err)?;
        conn.busy_timeout(BUSY_TIMEOUT).map_err(err)?;
        let store = Store { conn, path: path.to_owned() };
        migrations::version(&store)?;
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

    /// Runs `f` in a write transaction and commits it when `f` succeeds (durable on return);
    /// an error from `f` rolls everything back. The one shape for write-then-commit.
    pub fn transact<T, E: From<StoreError>>(&mut self, f: impl FnOnce(&Tx<'_>) -> Result<T, E>) -> Result<T, E> {
        let tx = self.write()?;
        let out = f(&tx)?;
        tx.commit()?;
        Ok(out)
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

/// A path as the path part of an SQLite `file:` URI: every byte but the unreserved ones and `/`
/// percent-encoded (so `?`, `#` and `%` in a name stay part of it).
fn uri_path(path: &Path) -> String {
    use std::fmt::Write;
    use std::os::unix::ffi::OsStrExt;
    let mut out = String::new();
    for &b in path.as_os_str().as_bytes() {
        if b.is_ascii_alphanumeric() || b"-._~/".contains(&b) {
            out.push(char::from(b));
        } else {
            let _ = write!(out, "%{b:02X}");
        }
    }
    out
}

/// Switches a connection to WAL and returns the journal mode now in force. A new datastore
/// opened by two processes at the same instant makes one of them see `SQLITE_BUSY` here
/// without SQLite's busy handler being asked (the switch needs the database to itself), so
/// it is retried for as long as the busy timeout.
fn wal_mode(conn: &Connection) -> Result<String, rusqlite::Error> {
    let deadline = std::time::Instant::now() + BUSY_TIMEOUT;
    loop {
        match conn.query_row("PRAGMA journal_mode = WAL", [], |r| r.get(0)) {
            Err(e)
                if matches!(e.sqlite_error_code(), Some(rusqlite::ErrorCode::DatabaseBusy))
                    && std::time::Instant::now() < deadline =>
            {
                std::thread::sleep(Duration::from_millis(10));
            }
            other => return other,
        }
    }
}

/// How long a connection waits for another writer.
const BUSY_TIMEOUT: Duration = Duration::from_secs(30);

/// The current time as RFC 3339 UTC, as every stored date is written.
pub fn now_rfc3339() -> String {
    time::OffsetDateTime::now_utc()
        .format(&time::format_description::well_known::Rfc3339)
        .unwrap_or_else(|_| "1970-01-01T00:00:00Z".into())
}
