//! [`SqliteStorage`]: the server's SQLite database (`server.sqlite` in the data directory).
//!
//! One writer thread owns the only write connection and commits in groups: it takes every job
//! waiting (up to [`GROUP`]), runs each in a savepoint of one transaction, commits once
//! (`synchronous = FULL`: the commit is durable), and only then answers each job. So a report
//! is acknowledged only once it is on disk, and many concurrent reports share one fsync.
//! Reads run on a small pool of read connections off the async threads (WAL lets them read
//! while the writer writes); at most [`READERS`] at once, so a read waits for a pooled
//! connection instead of opening one of its own.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use rusqlite::{Connection, OpenFlags, OptionalExtension, params};
use tokio::sync::{mpsc, oneshot};
use wua_types::api::{
    Approval, ApprovalAction, ApprovalRule, AuditEntry, Computer, ComputerDetail, ComputerUpdate, CreateApprovalRule,
    EnrolmentKey, Group, GroupSummary, Page, ReportAck, ReportEvent, ReportRecord, UpdateState, UpdateStatus,
};
use wua_types::{HResult, lock_unpoisoned};

use super::migrations::{LATEST, migrate};
use super::status::{Fleet, add_group, state_of};
use super::{Changed, EnrolmentKeyRow, FleetCounts, Registration, Storage, TokenRow, now_s, rfc3339};
use crate::ServerError;

/// The database file in the data directory.
pub const DB_FILE: &str = "server.sqlite";

/// At most this many jobs share one commit.
const GROUP: usize = 256;

/// Reads at once, and read connections kept open. A read beyond them waits (without holding a
/// blocking thread) for a pooled connection; without the bound, a burst of requests opened a
/// connection per read beyond the pool (parsing the schema each time) and held a blocking
/// thread for each (a hundred and more under 200 concurrent reports).
const READERS: usize = 8;

/// How long a connection waits for a lock before it reports the database busy.
const BUSY_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(10);

/// A write job: runs inside the group's transaction and returns what to do once the commit
/// succeeded or failed.
type Job = Box<dyn FnOnce(&Connection) -> Box<dyn FnOnce(Result<(), rusqlite::Error>) + Send> + Send>;

/// The SQLite storage.
#[derive(Debug, Clone)]
pub struct SqliteStorage {
    path: Arc<PathBuf>,
    jobs: mpsc::Sender<Job>,
    readers: Arc<Mutex<Vec<Connection>>>,
    read_slots: Arc<tokio::sync::Semaphore>,
}

fn open(path: &Path, read_only: bool) -> rusqlite::Result<Connection> {
    let flags = if read_only {
        OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX
    } else {
        OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_CREATE | OpenFlags::SQLITE_OPEN_NO_MUTEX
    };
    let conn = Connection::open_with_flags(path, flags)?;
    conn.busy_timeout(BUSY_TIMEOUT)?;
    conn.execute_batch("PRAGMA foreign_keys = ON;")?;
    if !read_only {
        conn.query_row("PRAGMA journal_mode = WAL", [], |r| r.get::<_, String>(0))?;
        conn.execute_batch("PRAGMA synchronous = FULL;")?;
    }
    Ok(conn)
}

impl SqliteStorage {
    /// Opens (creating and migrating) the database in `data_dir` and starts its writer.
    pub fn open(data_dir: &Path) -> Result<SqliteStorage, ServerError> {
        let path = data_dir.join(DB_FILE);
        let err = |source| ServerError::Storage { path: path.clone(), source };
        let mut conn = open(&path, false).map_err(err)?;
        migrate(&mut conn).map_err(|e| match e {
            Ok(found) => ServerError::TooNew { path: path.clone(), found, supported: LATEST },
            Err(source) => err(source),
        })?;
        let (jobs, rx) = mpsc::channel(4 * GROUP);
        let writer_path = path.clone();
        std::thread::Builder::new()
            .name("wua-server-db".into())
            .spawn(move || writer(conn, rx, writer_path))
            .map_err(|e| ServerError::io(&path, e))?;
        Ok(SqliteStorage {
            path: Arc::new(path),
            jobs,
            readers: Arc::new(Mutex::new(Vec::new())),
            read_slots: Arc::new(tokio::sync::Semaphore::new(READERS)),
        })
    }

    /// The database file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    fn err(&self, source: rusqlite::Error) -> ServerError {
        ServerError::Storage { path: (*self.path).clone(), source }
    }

    /// Runs `f` on a read connection, off the async threads.
    async fn read<T: Send + 'static>(
        &self,
        f: impl FnOnce(&Connection) -> rusqlite::Result<T> + Send + 'static,
    ) -> Result<T, ServerError> {
        let _slot = self.read_slots.acquire().await.map_err(|_| ServerError::Stopped)?;
        let (path, readers) = (self.path.clone(), self.readers.clone());
        let result = tokio::task::spawn_blocking(move || {
            let conn = match lock_unpoisoned(&readers).pop() {
                Some(c) => c,
                None => open(&path, true)?,
            };
            let out = f(&conn);
            let mut pool = lock_unpoisoned(&readers);
            if pool.len() < READERS {
                pool.push(conn);
            }
            out
        })
        .await
        .map_err(|_| ServerError::Stopped)?;
        result.map_err(|e| self.err(e))
    }

    /// Runs `f` in the writer's next group commit; answers once the commit is durable.
    async fn write<T: Send + 'static>(
        &self,
        f: impl FnOnce(&Connection) -> rusqlite::Result<T> + Send + 'static,
    ) -> Result<T, ServerError> {
        let (tx, rx) = oneshot::channel();
        let job: Job = Box::new(move |conn: &Connection| {
            let result = (|| {
                conn.execute_batch("SAVEPOINT job")?;
                match f(conn) {
                    Ok(v) => {
                        conn.execute_batch("RELEASE job")?;
                        Ok(v)
                    }
                    Err(e) => {
                        conn.execute_batch("ROLLBACK TO job; RELEASE job")?;
                        Err(e)
                    }
                }
            })();
            Box::new(move |commit: Result<(), rusqlite::Error>| {
                let _ = tx.send(commit.and(result));
            })
        });
        self.jobs.send(job).await.map_err(|_| ServerError::Stopped)?;
        rx.await.map_err(|_| ServerError::Stopped)?.map_err(|e| self.err(e))
    }
}

impl SqliteStorage {
    /// Revokes the unrevoked row `id` of `table` (tokens, enrolment keys).
    async fn revoke(&self, table: &'static str, id: &str) -> Result<Changed, ServerError> {
        let id = id.to_owned();
        self.write(move |c| {
            let sql = format!("UPDATE {table} SET revoked_at = ?2 WHERE id = ?1 AND revoked_at IS NULL");
            let n = c.execute(&sql, params![id, now_s()])?;
            Ok(if n == 1 { Changed::Done } else { Changed::NotFound })
        })
        .await
    }
}

/// The writer thread: group commits until every sender is gone.
fn writer(conn: Connection, mut rx: mpsc::Receiver<Job>, path: PathBuf) {
    while let Some(first) = rx.blocking_recv() {
        let mut batch = vec![first];
        while batch.len() < GROUP {
            match rx.try_recv() {
                Ok(job) => batch.push(job),
                Err(_) => break,
            }
        }
        if let Err(e) = conn.execute_batch("BEGIN IMMEDIATE") {
            tracing::error!(path = %path.display(), error = %e, "cannot begin a transaction");
            for job in batch {
                drop(job);
            }
            continue;
        }
        let replies: Vec<_> = batch.into_iter().map(|job| job(&conn)).collect();
        let commit = conn.execute_batch("COMMIT");
        if commit.is_err() {
            let _ = conn.execute_batch("ROLLBACK");
        }
        for reply in replies {
            reply(match &commit {
                Ok(()) => Ok(()),
                Err(e) => Err(rusqlite::Error::SqliteFailure(
                    rusqlite::ffi::Error::new(rusqlite::ffi::SQLITE_IOERR),
                    Some(format!("commit failed: {e}")),
                )),
            });
        }
    }
}

fn corrupt(detail: impl Into<String>) -> rusqlite::Error {
    rusqlite::Error::ToSqlConversionFailure(detail.into().into())
}

fn action_text(a: ApprovalAction) -> &'static str {
    match a {
        ApprovalAction::Install => "install",
        ApprovalAction::Uninstall => "uninstall",
        ApprovalAction::Optional => "optional",
    }
}

fn action_of(text: &str) -> rusqlite::Result<ApprovalAction> {
    Ok(match text {
        "install" => ApprovalAction::Install,
        "uninstall" => ApprovalAction::Uninstall,
        "optional" => ApprovalAction::Optional,
        other => return Err(corrupt(format!("unknown approval action {other:?}"))),
    })
}

fn token_row(conn: &Connection, sql: &str, id: &str) -> rusqlite::Result<Option<TokenRow>> {
    conn.prepare_cached(sql)?
        .query_row([id], |r| {
            Ok(TokenRow { id: id.to_owned(), owner: r.get(0)?, digest: r.get(1)?, revoked: r.get::<_, bool>(2)? })
        })
        .optional()
}

fn group_exists(conn: &Connection, name: &str) -> rusqlite::Result<bool> {
    conn.prepare_cached("SELECT 1 FROM groups WHERE name = ?1")?
        .query_row([name], |_| Ok(()))
        .optional()
        .map(|o| o.is_some())
}

fn computer_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<Computer> {
    Ok(Computer {
        id: r.get(0)?,
        machine_id: r.get(1)?,
        hostname: r.get(2)?,
        group: r.get(3)?,
        registered_at: rfc3339(r.get(4)?),
        last_checkin: r.get::<_, Option<i64>>(5)?.map(rfc3339),
        last_report: r.get::<_, Option<i64>>(6)?.map(rfc3339),
        reboot_required: r.get(7)?,
    })
}

const COMPUTER_COLUMNS: &str =
    "id, machine_id, hostname, group_name, registered_at, last_checkin, last_report, reboot_required";

fn approvals_of(conn: &Connection, group: &str) -> rusqlite::Result<Vec<Approval>> {
    let mut stmt = conn
        .prepare_cached("SELECT update_id, action, deadline FROM approvals WHERE group_name = ?1 ORDER BY update_id")?;
    let rows = stmt.query_map([group], |r| Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?, r.get(2)?)))?;
    let mut out = Vec::new();
    for row in rows {
        let (update_id, action, deadline) = row?;
        out.push(Approval { update_id, action: action_of(&action)?, deadline });
    }
    Ok(out)
}

fn key_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<(EnrolmentKey, Vec<u8>, Option<i64>)> {
    let expires: Option<i64> = r.get(5)?;
    Ok((
        EnrolmentKey {
            id: r.get(0)?,
            key: None,
            description: r.get(2)?,
            group: r.get(3)?,
            allow_client_targeting: r.get(4)?,
            expires_at: expires.map(rfc3339),
            revoked_at: r.get::<_, Option<i64>>(6)?.map(rfc3339),
            created_at: rfc3339(r.get(7)?),
        },
        r.get(1)?,
        expires,
    ))
}

const KEY_COLUMNS: &str =
    "id, digest, description, group_name, allow_client_targeting, expires_at, revoked_at, created_at";

impl Storage for SqliteStorage {
    async fn admin_token(&self, id: &str) -> Result<Option<TokenRow>, ServerError> {
        let id = id.to_owned();
        self.read(move |c| {
            token_row(c, "SELECT name, digest, revoked_at IS NOT NULL FROM admin_tokens WHERE id = ?1", &id)
        })
        .await
    }

    async fn computer_token(&self, id: &str) -> Result<Option<TokenRow>, ServerError> {
        let id = id.to_owned();
        self.read(move |c| token_row(c, "SELECT id, token_digest, 0 FROM computers WHERE token_id = ?1", &id)).await
    }

    async fn create_admin_token(&self, id: &str, name: &str, digest: &[u8]) -> Result<(), ServerError> {
        let (id, name, digest) = (id.to_owned(), name.to_owned(), digest.to_vec());
        self.write(move |c| {
            c.execute(
                "INSERT INTO admin_tokens (id, name, digest, created_at) VALUES (?1, ?2, ?3, ?4)",
                params![id, name, digest, now_s()],
            )
            .map(drop)
        })
        .await
    }

    async fn admin_tokens(&self) -> Result<Vec<(String, String, String, bool)>, ServerError> {
        self.read(|c| {
            let mut stmt = c.prepare(
                "SELECT id, name, created_at, revoked_at IS NOT NULL FROM admin_tokens ORDER BY created_at, id",
            )?;
            let rows = stmt.query_map([], |r| Ok((r.get(0)?, r.get(1)?, rfc3339(r.get(2)?), r.get(3)?)))?;
            rows.collect()
        })
        .await
    }

    async fn revoke_admin_token(&self, id: &str) -> Result<Changed, ServerError> {
        self.revoke("admin_tokens", id).await
    }

    async fn enrolment_key(&self, id: &str) -> Result<Option<EnrolmentKeyRow>, ServerError> {
        let id = id.to_owned();
        self.read(move |c| {
            c.prepare_cached(&format!("SELECT {KEY_COLUMNS} FROM enrolment_keys WHERE id = ?1"))?
                .query_row([&id], key_row)
                .optional()
                .map(|o| o.map(|(key, digest, expires_at)| EnrolmentKeyRow { key, digest, expires_at }))
        })
        .await
    }

    async fn create_enrolment_key(&self, row: EnrolmentKeyRow) -> Result<Changed, ServerError> {
        self.write(move |c| {
            if let Some(g) = &row.key.group {
                if !group_exists(c, g)? {
                    return Ok(Changed::Conflict);
                }
            }
            c.execute(
                "INSERT INTO enrolment_keys (id, digest, description, group_name, allow_client_targeting, expires_at, created_at)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
                params![
                    row.key.id,
                    row.digest,
                    row.key.description,
                    row.key.group,
                    row.key.allow_client_targeting,
                    row.expires_at,
                    now_s()
                ],
            )?;
            Ok(Changed::Done)
        })
        .await
    }

    async fn enrolment_keys(&self) -> Result<Vec<EnrolmentKey>, ServerError> {
        self.read(|c| {
            let mut stmt = c.prepare(&format!("SELECT {KEY_COLUMNS} FROM enrolment_keys ORDER BY created_at, id"))?;
            let rows = stmt.query_map([], key_row)?;
            rows.map(|r| r.map(|(k, _, _)| k)).collect()
        })
        .await
    }

    async fn revoke_enrolment_key(&self, id: &str) -> Result<Changed, ServerError> {
        self.revoke("enrolment_keys", id).await
    }

    async fn register(&self, r: Registration) -> Result<(String, String), ServerError> {
        self.write(move |c| {
            let existing: Option<(String, String)> = c
                .prepare_cached("SELECT id, group_name FROM computers WHERE machine_id = ?1")?
                .query_row([&r.machine_id], |row| Ok((row.get(0)?, row.get(1)?)))
                .optional()?;
            if let Some((id, group)) = existing {
                // The same machine again: same identity and group, a new token (the old one
                // stops working).
                c.execute(
                    "UPDATE computers SET hostname = ?2, token_id = ?3, token_digest = ?4 WHERE id = ?1",
                    params![id, r.hostname, r.token_id, r.token_digest],
                )?;
                return Ok((id, group));
            }
            let group = if group_exists(c, &r.group)? { r.group } else { wua_types::api::UNASSIGNED_GROUP.to_owned() };
            let id = uuid::Uuid::new_v4().to_string();
            c.execute(
                "INSERT INTO computers (id, machine_id, hostname, group_name, token_id, token_digest, registered_at)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
                params![id, r.machine_id, r.hostname, group, r.token_id, r.token_digest, now_s()],
            )?;
            add_group(c, &group, [1, 0, 0, 0, 0])?;
            Ok((id, group))
        })
        .await
    }

    async fn checkin(&self, computer_id: &str) -> Result<Option<String>, ServerError> {
        let id = computer_id.to_owned();
        self.write(move |c| {
            c.prepare_cached("UPDATE computers SET last_checkin = ?2 WHERE id = ?1 RETURNING group_name")?
                .query_row(params![id, now_s()], |r| r.get(0))
                .optional()
        })
        .await
    }

    async fn ingest(&self, computer_id: &str, events: Vec<ReportEvent>) -> Result<Option<ReportAck>, ServerError> {
        let id = computer_id.to_owned();
        self.write(move |c| {
            let Some(mut fleet) = Fleet::load(c, &id)? else { return Ok(None) };
            let now = now_s();
            let mut ack = ReportAck { accepted: 0, duplicates: 0 };
            for e in &events {
                let body = serde_json::to_string(&e.event).map_err(|e| corrupt(e.to_string()))?;
                let fresh = c
                    .prepare_cached(
                        "INSERT OR IGNORE INTO events (computer_id, key, received_at, at, event, seq)
                         VALUES (?1, ?2, ?3, ?4, ?5, (SELECT COALESCE(MAX(seq), 0) + 1 FROM events WHERE computer_id = ?1))",
                    )?
                    .execute(params![id, e.key, now, e.at, body])?;
                if fresh == 0 {
                    ack.duplicates += 1;
                    continue;
                }
                // Checked when the batch was parsed; the server's clock if it somehow is not.
                let at = e.at.parse::<jiff::Timestamp>().map(|t| t.as_second()).unwrap_or(now);
                fleet.apply(c, &e.event, at)?;
                ack.accepted += 1;
            }
            fleet.finish(c, now)?;
            Ok(Some(ack))
        })
        .await
    }

    async fn groups(&self) -> Result<Vec<Group>, ServerError> {
        self.read(|c| {
            let mut stmt = c.prepare("SELECT name, description, computers FROM groups ORDER BY name")?;
            let rows =
                stmt.query_map([], |r| Ok(Group { name: r.get(0)?, description: r.get(1)?, computers: r.get(2)? }))?;
            rows.collect()
        })
        .await
    }

    async fn create_group(&self, name: &str, description: &str) -> Result<Changed, ServerError> {
        let (name, description) = (name.to_owned(), description.to_owned());
        self.write(move |c| {
            let n = c.execute(
                "INSERT OR IGNORE INTO groups (name, description, created_at) VALUES (?1, ?2, ?3)",
                params![name, description, now_s()],
            )?;
            Ok(if n == 1 { Changed::Done } else { Changed::Conflict })
        })
        .await
    }

    async fn delete_group(&self, name: &str) -> Result<Changed, ServerError> {
        let name = name.to_owned();
        self.write(move |c| {
            let computers: Option<i64> =
                c.query_row("SELECT computers FROM groups WHERE name = ?1", [&name], |r| r.get(0)).optional()?;
            match computers {
                None => Ok(Changed::NotFound),
                Some(n) if n > 0 || name == wua_types::api::UNASSIGNED_GROUP => Ok(Changed::Conflict),
                Some(_) => {
                    c.execute("DELETE FROM update_counts WHERE group_name = ?1", [&name])?;
                    c.execute("DELETE FROM groups WHERE name = ?1", [&name])?;
                    Ok(Changed::Done)
                }
            }
        })
        .await
    }

    async fn group_summary(&self, name: &str) -> Result<Option<GroupSummary>, ServerError> {
        let name = name.to_owned();
        self.read(move |c| {
            let row = c
                .query_row(
                    "SELECT name, description, computers, scanned, needing, failing, pending_reboot FROM groups WHERE name = ?1",
                    [&name],
                    |r| {
                        Ok(GroupSummary {
                            group: Group { name: r.get(0)?, description: r.get(1)?, computers: r.get(2)? },
                            computers_reporting: r.get(3)?,
                            computers_needing_updates: r.get(4)?,
                            computers_with_failures: r.get(5)?,
                            computers_pending_reboot: r.get(6)?,
                            approvals: vec![],
                        })
                    },
                )
                .optional()?;
            match row {
                None => Ok(None),
                Some(mut s) => {
                    s.approvals = approvals_of(c, &name)?;
                    Ok(Some(s))
                }
            }
        })
        .await
    }

    async fn set_approvals(&self, group: &str, approvals: Vec<Approval>) -> Result<(), ServerError> {
        let group = group.to_owned();
        self.write(move |c| {
            c.execute("DELETE FROM approvals WHERE group_name = ?1", [&group])?;
            let mut stmt = c.prepare_cached(
                "INSERT INTO approvals (group_name, update_id, action, deadline) VALUES (?1, ?2, ?3, ?4)",
            )?;
            for a in &approvals {
                stmt.execute(params![group, a.update_id, action_text(a.action), a.deadline])?;
            }
            Ok(())
        })
        .await
    }

    async fn computers(&self, after: Option<String>, limit: u32) -> Result<Page<Computer>, ServerError> {
        self.read(move |c| {
            let mut stmt = c.prepare_cached(&format!(
                "SELECT {COMPUTER_COLUMNS} FROM computers WHERE id > ?1 ORDER BY id LIMIT ?2"
            ))?;
            let items: Vec<Computer> =
                stmt.query_map(params![after.unwrap_or_default(), limit], computer_row)?.collect::<Result<_, _>>()?;
            let next = if items.len() == limit as usize { items.last().map(|c| c.id.clone()) } else { None };
            Ok(Page { items, next })
        })
        .await
    }

    async fn computer(&self, id: &str) -> Result<Option<ComputerDetail>, ServerError> {
        let id = id.to_owned();
        self.read(move |c| {
            let Some(computer) = c
                .prepare_cached(&format!("SELECT {COMPUTER_COLUMNS} FROM computers WHERE id = ?1"))?
                .query_row([&id], computer_row)
                .optional()?
            else {
                return Ok(None);
            };
            let scanned: bool = c.query_row("SELECT scanned FROM computers WHERE id = ?1", [&id], |r| r.get(0))?;
            let mut updates = Vec::new();
            let mut stmt = c.prepare_cached(
                "SELECT update_id, state, hresult, at FROM computer_updates WHERE computer_id = ?1 ORDER BY update_id",
            )?;
            let rows = stmt.query_map([&id], |r| {
                Ok((r.get::<_, String>(0)?, r.get::<_, i64>(1)?, r.get::<_, Option<i32>>(2)?, r.get::<_, i64>(3)?))
            })?;
            for row in rows {
                let (update_id, code, hresult, at) = row?;
                let state = state_of(code).ok_or_else(|| corrupt(format!("state {code} of update {update_id}")))?;
                updates.push(ComputerUpdate { update_id, state, hresult: hresult.map(HResult), at: rfc3339(at) });
            }
            // Approved for its group and not reported: not applicable once it has scanned.
            let derived = if scanned { UpdateState::NotApplicable } else { UpdateState::NoStatus };
            let at = computer.last_report.clone().unwrap_or_else(|| computer.registered_at.clone());
            for a in approvals_of(c, &computer.group)? {
                if !updates.iter().any(|u| u.update_id == a.update_id) {
                    updates.push(ComputerUpdate {
                        update_id: a.update_id,
                        state: derived,
                        hresult: None,
                        at: at.clone(),
                    });
                }
            }
            updates.sort_by(|a, b| a.update_id.cmp(&b.update_id));
            Ok(Some(ComputerDetail { computer, updates }))
        })
        .await
    }

    async fn computer_events(
        &self,
        id: &str,
        after: Option<String>,
        limit: u32,
    ) -> Result<Option<Page<ReportRecord>>, ServerError> {
        let id = id.to_owned();
        self.read(move |c| {
            if !c.prepare_cached("SELECT 1 FROM computers WHERE id = ?1")?.exists([&id])? {
                return Ok(None);
            }
            // The cursor is the sequence number of the last item of the previous page.
            let before = after.as_deref().and_then(|a| a.parse::<i64>().ok()).unwrap_or(i64::MAX);
            let mut stmt = c.prepare_cached(
                "SELECT key, at, received_at, event, seq FROM events WHERE computer_id = ?1 AND seq < ?2
                 ORDER BY seq DESC LIMIT ?3",
            )?;
            let rows = stmt.query_map(params![id, before, limit], |r| {
                Ok((
                    r.get::<_, String>(0)?,
                    r.get::<_, String>(1)?,
                    r.get::<_, i64>(2)?,
                    r.get::<_, String>(3)?,
                    r.get::<_, i64>(4)?,
                ))
            })?;
            let mut items = Vec::new();
            let mut last = None;
            for row in rows {
                let (key, at, received, event, seq) = row?;
                let event = serde_json::from_str(&event).map_err(|e| corrupt(format!("event {key}: {e}")))?;
                last = Some(seq.to_string());
                items.push(ReportRecord { key, at, received_at: rfc3339(received), event });
            }
            let next = if items.len() == limit as usize { last } else { None };
            Ok(Some(Page { items, next }))
        })
        .await
    }

    async fn move_computer(&self, id: &str, group: &str) -> Result<Changed, ServerError> {
        let (id, group) = (id.to_owned(), group.to_owned());
        self.write(move |c| {
            if !group_exists(c, &group)? {
                return Ok(Changed::Conflict);
            }
            let Some(fleet) = Fleet::load(c, &id)? else { return Ok(Changed::NotFound) };
            fleet.leave(c, Some(&group))?;
            c.execute("UPDATE computers SET group_name = ?2 WHERE id = ?1", params![id, group])?;
            Ok(Changed::Done)
        })
        .await
    }

    async fn delete_computer(&self, id: &str) -> Result<Changed, ServerError> {
        let id = id.to_owned();
        self.write(move |c| {
            let Some(fleet) = Fleet::load(c, &id)? else { return Ok(Changed::NotFound) };
            fleet.leave(c, None)?;
            c.execute("DELETE FROM computer_updates WHERE computer_id = ?1", [&id])?;
            c.execute("DELETE FROM events WHERE computer_id = ?1", [&id])?;
            c.execute("DELETE FROM computers WHERE id = ?1", [&id])?;
            Ok(Changed::Done)
        })
        .await
    }

    async fn update_status(&self, update_id: &str) -> Result<UpdateStatus, ServerError> {
        let update_id = update_id.to_owned();
        self.read(move |c| {
            let mut s = UpdateStatus { update_id: update_id.clone(), ..UpdateStatus::default() };
            // Per group: the reported counts, and for groups it is approved for, the scanned
            // computers that did not list it (not applicable).
            let mut stmt = c.prepare_cached(
                "SELECT g.scanned, u.installed, u.needed, u.failed, u.pending_reboot, a.update_id IS NOT NULL
                 FROM groups g
                 LEFT JOIN update_counts u ON u.group_name = g.name AND u.update_id = ?1
                 LEFT JOIN approvals a ON a.group_name = g.name AND a.update_id = ?1",
            )?;
            let rows = stmt.query_map([&update_id], |r| {
                Ok((
                    r.get::<_, u64>(0)?,
                    r.get::<_, Option<u64>>(1)?.unwrap_or(0),
                    r.get::<_, Option<u64>>(2)?.unwrap_or(0),
                    r.get::<_, Option<u64>>(3)?.unwrap_or(0),
                    r.get::<_, Option<u64>>(4)?.unwrap_or(0),
                    r.get::<_, bool>(5)?,
                ))
            })?;
            for row in rows {
                let (scanned, installed, needed, failed, pending, approved) = row?;
                s.installed += installed;
                s.needed += needed;
                s.failed += failed;
                s.pending_reboot += pending;
                if approved {
                    s.not_applicable += scanned.saturating_sub(installed + needed + failed + pending);
                }
            }
            let total: u64 = c.query_row("SELECT COALESCE(SUM(computers), 0) FROM groups", [], |r| r.get(0))?;
            s.no_status = total.saturating_sub(s.installed + s.needed + s.failed + s.pending_reboot + s.not_applicable);
            Ok(s)
        })
        .await
    }

    async fn fleet_counts(&self) -> Result<FleetCounts, ServerError> {
        self.read(|c| {
            let now = now_s();
            let mut counts = FleetCounts::default();
            (counts.computers, counts.needing, counts.failing, counts.pending_reboot) = c.query_row(
                "SELECT COALESCE(SUM(computers),0), COALESCE(SUM(needing),0), COALESCE(SUM(failing),0), COALESCE(SUM(pending_reboot),0) FROM groups",
                [],
                |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)),
            )?;
            let bounds = [3_600u64, 86_400, 7 * 86_400, 30 * 86_400];
            let mut stmt = c.prepare_cached(
                "SELECT COUNT(*) FILTER (WHERE last_report IS NULL),
                        COUNT(*) FILTER (WHERE last_report >= ?1 - 3600),
                        COUNT(*) FILTER (WHERE last_report >= ?1 - 86400),
                        COUNT(*) FILTER (WHERE last_report >= ?1 - 604800),
                        COUNT(*) FILTER (WHERE last_report >= ?1 - 2592000),
                        COUNT(*) FILTER (WHERE last_report IS NOT NULL)
                 FROM computers",
            )?;
            let row: [u64; 6] = stmt.query_row([now], |r| {
                Ok([r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?, r.get(5)?])
            })?;
            counts.by_report_age.push((None, row[0]));
            for (i, b) in bounds.iter().enumerate() {
                counts.by_report_age.push((Some(*b), row[i + 1]));
            }
            counts.by_report_age.push((Some(u64::MAX), row[5]));
            Ok(counts)
        })
        .await
    }

    async fn rules(&self) -> Result<Vec<ApprovalRule>, ServerError> {
        self.read(|c| {
            let mut stmt = c.prepare("SELECT id, rule, created_at FROM approval_rules ORDER BY id")?;
            let rows =
                stmt.query_map([], |r| Ok((r.get::<_, i64>(0)?, r.get::<_, String>(1)?, r.get::<_, i64>(2)?)))?;
            let mut out = Vec::new();
            for row in rows {
                let (id, text, created) = row?;
                let rule: CreateApprovalRule =
                    serde_json::from_str(&text).map_err(|e| corrupt(format!("approval rule {id}: {e}")))?;
                out.push(ApprovalRule {
                    id,
                    name: rule.name,
                    classifications: rule.classifications,
                    severities: rule.severities,
                    groups: rule.groups,
                    action: rule.action,
                    deadline_offset_days: rule.deadline_offset_days,
                    created_at: rfc3339(created),
                });
            }
            Ok(out)
        })
        .await
    }

    async fn create_rule(&self, rule: CreateApprovalRule) -> Result<Result<ApprovalRule, String>, ServerError> {
        self.write(move |c| {
            for g in &rule.groups {
                if !group_exists(c, g)? {
                    return Ok(Err(g.clone()));
                }
            }
            let text = serde_json::to_string(&rule).map_err(|e| corrupt(e.to_string()))?;
            let now = now_s();
            c.execute(
                "INSERT INTO approval_rules (name, rule, created_at) VALUES (?1, ?2, ?3)",
                params![rule.name, text, now],
            )?;
            Ok(Ok(ApprovalRule {
                id: c.last_insert_rowid(),
                name: rule.name,
                classifications: rule.classifications,
                severities: rule.severities,
                groups: rule.groups,
                action: rule.action,
                deadline_offset_days: rule.deadline_offset_days,
                created_at: rfc3339(now),
            }))
        })
        .await
    }

    async fn delete_rule(&self, id: i64) -> Result<Changed, ServerError> {
        self.write(move |c| {
            let n = c.execute("DELETE FROM approval_rules WHERE id = ?1", [id])?;
            Ok(if n == 1 { Changed::Done } else { Changed::NotFound })
        })
        .await
    }

    async fn unseen_revisions(&self, revisions: Vec<(String, i32)>) -> Result<Vec<(String, i32)>, ServerError> {
        self.read(move |c| {
            let mut stmt = c.prepare_cached("SELECT 1 FROM seen_revisions WHERE update_id = ?1 AND revision = ?2")?;
            let mut out = Vec::new();
            for (id, rev) in revisions {
                if !stmt.exists(params![id, rev])? {
                    out.push((id, rev));
                }
            }
            Ok(out)
        })
        .await
    }

    async fn mark_seen(&self, revisions: Vec<(String, i32)>) -> Result<(), ServerError> {
        self.write(move |c| {
            let mut stmt =
                c.prepare_cached("INSERT OR IGNORE INTO seen_revisions (update_id, revision) VALUES (?1, ?2)")?;
            for (id, rev) in &revisions {
                stmt.execute(params![id, rev])?;
            }
            Ok(())
        })
        .await
    }

    async fn audit(&self, actor: &str, action: &str, target: &str, detail: &str) -> Result<(), ServerError> {
        let (actor, action, target, detail) =
            (actor.to_owned(), action.to_owned(), target.to_owned(), detail.to_owned());
        self.write(move |c| {
            c.prepare_cached("INSERT INTO audit (at, actor, action, target, detail) VALUES (?1, ?2, ?3, ?4, ?5)")?
                .execute(params![now_s(), actor, action, target, detail])
                .map(drop)
        })
        .await
    }

    async fn audit_log(&self, before: Option<i64>, limit: u32) -> Result<Page<AuditEntry>, ServerError> {
        self.read(move |c| {
            let mut stmt = c.prepare_cached(
                "SELECT id, at, actor, action, target, detail FROM audit WHERE id < ?1 ORDER BY id DESC LIMIT ?2",
            )?;
            let items: Vec<AuditEntry> = stmt
                .query_map(params![before.unwrap_or(i64::MAX), limit], |r| {
                    Ok(AuditEntry {
                        id: r.get(0)?,
                        at: rfc3339(r.get(1)?),
                        actor: r.get(2)?,
                        action: r.get(3)?,
                        target: r.get(4)?,
                        detail: r.get(5)?,
                    })
                })?
                .collect::<Result<_, _>>()?;
            let next = if items.len() == limit as usize { items.last().map(|e| e.id.to_string()) } else { None };
            Ok(Page { items, next })
        })
        .await
    }

    async fn prune_events(&self, cutoff: i64) -> Result<u64, ServerError> {
        self.write(move |c| c.execute("DELETE FROM events WHERE received_at < ?1", [cutoff]).map(|n| n as u64)).await
    }

    async fn backup(&self, dest: &Path) -> Result<(), ServerError> {
        let dest = dest.to_owned();
        self.read(move |c| {
            let mut out = Connection::open(&dest)?;
            let backup = rusqlite::backup::Backup::new(c, &mut out)?;
            backup.run_to_completion(256, std::time::Duration::from_millis(5), None)?;
            drop(backup);
            out.execute_batch("PRAGMA journal_mode = DELETE;")
        })
        .await
    }
}
