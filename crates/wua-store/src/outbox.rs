//! The outbox: reports waiting to be sent to a managed server (D-17).
//!
//! An event is written in the transaction of what it reports: every history entry
//! ([`Tx::append_history`]) queues an `outcome` event for each managed-server service in the
//! same commit, so after a crash the outcome and its report exist together or not at all. Each
//! event gets its idempotency key (a UUID) when it is queued; a batch sent again after a lost
//! answer carries the same keys and the server counts it once. Events leave the outbox only
//! when the server acknowledged them ([`Tx::delete_outbox`]), or when it refused them for good:
//! then [`Tx::dead_letter`] moves the event, in one statement pair of the caller's transaction,
//! to the dead letters with the server's answer, where it stays for people to see
//! ([`Tx::dead_letters`]) until its service is removed.

use rusqlite::params;
use wua_types::api::{ReportBody, ReportEvent};
use wua_types::{HResult, UpdateHistoryEntry};

use crate::tx::Tx;
use crate::{StoreError, now_rfc3339};

/// An event the server refused for good, moved out of the outbox.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DeadLetter {
    /// Its idempotency key.
    pub key: String,
    /// When it was made (RFC 3339).
    pub at: String,
    /// What it reported.
    pub event: ReportBody,
    /// The HTTP status the server refused it with (400, 413).
    pub status: u16,
    /// The server's code for the refusal (its `ApiError`'s, else the status's).
    pub hresult: HResult,
    /// The server's message.
    pub message: String,
    /// When it was moved here (RFC 3339).
    pub dead_at: String,
}

impl Tx<'_> {
    /// Queues `body` for the service `service_id`, made now with a new key; returns the key.
    pub fn enqueue_event(&self, service_id: &str, body: &ReportBody) -> Result<String, StoreError> {
        let event = ReportEvent { key: uuid::Uuid::new_v4().to_string(), at: now_rfc3339(), event: body.clone() };
        self.put_outbox(service_id, &event)?;
        Ok(event.key)
    }

    /// Queues `event` as it is (its key and time already made) for `service_id`. A key already
    /// queued is left as it is: the event it names is the same event.
    pub fn put_outbox(&self, service_id: &str, event: &ReportEvent) -> Result<(), StoreError> {
        let json = serde_json::to_string(&event.event).map_err(|e| self.corrupt(e.to_string()))?;
        let mut stmt = self
            .tx
            .prepare_cached("INSERT OR IGNORE INTO outbox (service_id, key, at, event) VALUES (?1, ?2, ?3, ?4)")
            .map_err(|e| self.err(e))?;
        stmt.execute(params![service_id, event.key, event.at, json]).map_err(|e| self.err(e))?;
        Ok(())
    }

    /// The oldest `limit` events queued for `service_id`, oldest first.
    pub fn peek_outbox(&self, service_id: &str, limit: usize) -> Result<Vec<ReportEvent>, StoreError> {
        let mut stmt = self
            .tx
            .prepare_cached("SELECT key, at, event FROM outbox WHERE service_id = ?1 ORDER BY id LIMIT ?2")
            .map_err(|e| self.err(e))?;
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        let rows = stmt
            .query_map(params![service_id, limit], |r| {
                Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?, r.get::<_, String>(2)?))
            })
            .map_err(|e| self.err(e))?;
        let mut out = Vec::new();
        for row in rows {
            let (key, at, json) = row.map_err(|e| self.err(e))?;
            let event = serde_json::from_str(&json).map_err(|e| self.corrupt(format!("outbox event {key}: {e}")))?;
            out.push(ReportEvent { key, at, event });
        }
        Ok(out)
    }

    /// How many events wait for `service_id`.
    pub fn outbox_len(&self, service_id: &str) -> Result<u64, StoreError> {
        let n: i64 = self
            .tx
            .query_row("SELECT COUNT(*) FROM outbox WHERE service_id = ?1", params![service_id], |r| r.get(0))
            .map_err(|e| self.err(e))?;
        Ok(u64::try_from(n).unwrap_or(0))
    }

    /// Removes the events with these keys (the server acknowledged them); returns how many
    /// were still queued.
    pub fn delete_outbox(&self, keys: &[String]) -> Result<usize, StoreError> {
        let mut stmt = self.tx.prepare_cached("DELETE FROM outbox WHERE key = ?1").map_err(|e| self.err(e))?;
        let mut n = 0;
        for key in keys {
            n += stmt.execute(params![key]).map_err(|e| self.err(e))?;
        }
        Ok(n)
    }

    /// Moves the event `key` of `service_id` from the outbox to the dead letters with the
    /// server's refusal (`status`, `hresult`, `message`); true when it was still queued.
    pub fn dead_letter(
        &self,
        service_id: &str,
        key: &str,
        status: u16,
        hresult: HResult,
        message: &str,
    ) -> Result<bool, StoreError> {
        let moved = self
            .tx
            .prepare_cached(
                "INSERT OR IGNORE INTO dead_letters (service_id, key, at, event, status, hresult, message, dead_at)
                 SELECT service_id, key, at, event, ?3, ?4, ?5, ?6 FROM outbox WHERE service_id = ?1 AND key = ?2",
            )
            .and_then(|mut stmt| stmt.execute(params![service_id, key, status, hresult.0, message, now_rfc3339()]))
            .map_err(|e| self.err(e))?;
        let deleted = self
            .tx
            .prepare_cached("DELETE FROM outbox WHERE service_id = ?1 AND key = ?2")
            .and_then(|mut stmt| stmt.execute(params![service_id, key]))
            .map_err(|e| self.err(e))?;
        Ok(moved > 0 || deleted > 0)
    }

    /// The dead letters of `service_id`, oldest first.
    pub fn dead_letters(&self, service_id: &str) -> Result<Vec<DeadLetter>, StoreError> {
        let mut stmt = self
            .tx
            .prepare_cached(
                "SELECT key, at, event, status, hresult, message, dead_at FROM dead_letters
                 WHERE service_id = ?1 ORDER BY id",
            )
            .map_err(|e| self.err(e))?;
        let rows = stmt
            .query_map(params![service_id], |r| {
                Ok((
                    r.get::<_, String>(0)?,
                    r.get::<_, String>(1)?,
                    r.get::<_, String>(2)?,
                    r.get::<_, i64>(3)?,
                    r.get::<_, i32>(4)?,
                    r.get::<_, String>(5)?,
                    r.get::<_, String>(6)?,
                ))
            })
            .map_err(|e| self.err(e))?;
        let mut out = Vec::new();
        for row in rows {
            let (key, at, json, status, hresult, message, dead_at) = row.map_err(|e| self.err(e))?;
            let event = serde_json::from_str(&json).map_err(|e| self.corrupt(format!("dead letter {key}: {e}")))?;
            let status =
                u16::try_from(status).map_err(|_| self.corrupt(format!("dead letter {key}: status {status}")))?;
            out.push(DeadLetter { key, at, event, status, hresult: HResult(hresult), message, dead_at });
        }
        Ok(out)
    }

    /// How many dead letters `service_id` has.
    pub fn dead_letter_count(&self, service_id: &str) -> Result<u64, StoreError> {
        let n: i64 = self
            .tx
            .query_row("SELECT COUNT(*) FROM dead_letters WHERE service_id = ?1", params![service_id], |r| r.get(0))
            .map_err(|e| self.err(e))?;
        Ok(u64::try_from(n).unwrap_or(0))
    }

    /// Queues the `outcome` report of `entry` for every managed-server service (the caller's
    /// transaction is the history entry's).
    pub(crate) fn enqueue_outcome(&self, entry: &UpdateHistoryEntry) -> Result<(), StoreError> {
        let services = self.managed_server_ids()?;
        if services.is_empty() {
            return Ok(());
        }
        let body = ReportBody::Outcome {
            update_id: entry.update_identity.update_id.clone(),
            revision_number: entry.update_identity.revision_number,
            operation: entry.operation,
            result_code: entry.result_code,
            hresult: entry.hresult,
            reboot_required: entry.reboot_required,
        };
        for service_id in services {
            self.enqueue_event(&service_id, &body)?;
        }
        Ok(())
    }
}
