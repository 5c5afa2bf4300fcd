//! Sending the outbox to the managed server (D-17): the oldest events first, in batches, each
//! deleted only once the server acknowledged it.
//!
//! A batch that gets no answer (the server unreachable, or still failing after `wua-fetch`'s
//! retries with jittered backoff) stays queued, and so does everything after it: the next
//! flush, normally the next scheduled run, sends it again with the same keys, and the server
//! counts each event once (`ReportAck::duplicates`). So does a batch refused for a reason that
//! is not its own (a revoked token, a 404, a 400 that is not the server's own answer): the
//! flush ends with that error, reported, and nothing is thrown away.
//!
//! A batch the server refuses for good would otherwise block the outbox forever, so it is
//! taken apart: a 413 (too large, whoever said it) or the server's own 400 (a batch over its
//! event limit, or an event it will not take) splits the batch in halves, each sent on its own,
//! down to one event; an event refused alone is moved to the dead letters with the server's
//! answer ([`DeadLetter`]: its status, code and message) and the flush goes on with the rest.
//! Nothing is dropped silently: dead letters stay in the datastore, shown by `wua status` and
//! in the flush's result, until the service is removed. A batch whose every event went once
//! split (so it was refused for its size, not for an event) makes the rest of the flush send
//! batches no larger than the largest piece acknowledged.

use wua_types::WuError;
use wua_types::api::{ReportBatch, ReportEvent};

use crate::managed::client_of;
use crate::server_error::ServerError;
use crate::services::UpdateServiceManager;

pub use wua_store::DeadLetter;

/// The most events sent in one request.
pub const REPORT_BATCH_MAX: usize = 500;

/// What a flush of the outbox did.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct OutboxFlush {
    /// Batches the server acknowledged.
    pub batches: u32,
    /// Events in those batches (now deleted from the outbox).
    pub sent: u64,
    /// Events the server stored now.
    pub accepted: u64,
    /// Events the server already had from an earlier send (same key).
    pub duplicates: u64,
    /// Events the server refused for good in this flush, moved to the dead letters.
    pub dead_lettered: Vec<DeadLetter>,
    /// Events still queued after the flush.
    pub remaining: u64,
    /// Why the flush stopped early, if it did: the batch that failed and those after it are
    /// still queued.
    pub error: Option<WuError>,
}

impl UpdateServiceManager {
    /// Sends the outbox of the managed server `service_id`, [`REPORT_BATCH_MAX`] events at a
    /// time, oldest first, deleting each batch once acknowledged and moving an event the server
    /// refuses for good to the dead letters (see the module's documentation). A failed send is
    /// not the call's error (D-1): it is [`OutboxFlush::error`], and the events stay queued.
    /// The call fails only when the service is not a managed server, its token is missing, or
    /// the datastore fails.
    pub fn flush_outbox(&self, service_id: &str) -> Result<OutboxFlush, WuError> {
        self.flush_outbox_in_batches(service_id, REPORT_BATCH_MAX)
    }

    /// [`UpdateServiceManager::flush_outbox`] with batches of at most `batch` events (at least 1).
    pub fn flush_outbox_in_batches(&self, service_id: &str, batch: usize) -> Result<OutboxFlush, WuError> {
        let session = &self.session;
        session.require_writable("send reports")?;
        let (record, managed) = session.managed(service_id)?;
        let mut flush = OutboxFlush::default();
        if session.store().read()?.outbox_len(service_id)? == 0 {
            return Ok(flush);
        }
        let token = crate::token::read(&session.service_dir(service_id))?;
        let client = client_of(&record, &managed)?;
        let mut limit = batch.max(1);
        crate::runtime::block_on(async {
            loop {
                let events = session.store().read()?.peek_outbox(service_id, limit)?;
                if events.is_empty() {
                    return Ok::<_, WuError>(());
                }
                // The pieces still to send, the next one last.
                let mut pieces = vec![events];
                let (mut split, mut refused_alone, mut largest_sent) = (false, false, 0);
                while let Some(mut piece) = pieces.pop() {
                    let count = piece.len() as u64;
                    let keys: Vec<String> = piece.iter().map(|e| e.key.clone()).collect();
                    let batch = ReportBatch { events: piece };
                    let e = match client.report(&token, &batch).await {
                        Ok(ack) => {
                            if u64::from(ack.accepted) + u64::from(ack.duplicates) != count {
                                tracing::warn!(
                                    service = %service_id,
                                    sent = count,
                                    accepted = ack.accepted,
                                    duplicates = ack.duplicates,
                                    "the server's acknowledgement does not count the batch sent"
                                );
                            }
                            let deleted = session.store().transact(|tx| tx.delete_outbox(&keys))?;
                            flush.batches += 1;
                            flush.sent += count;
                            flush.accepted += u64::from(ack.accepted);
                            flush.duplicates += u64::from(ack.duplicates);
                            if deleted == 0 {
                                // Another flush deleted them meanwhile: it is sending this outbox too.
                                return Ok(());
                            }
                            largest_sent = largest_sent.max(keys.len());
                            continue;
                        }
                        Err(e) => e,
                    };
                    piece = batch.events;
                    if !e.refused_for_good() {
                        tracing::warn!(service = %service_id, status = ?e.status(), error = %e, "reports not sent; they stay queued");
                        flush.error = Some(e.into());
                        return Ok(());
                    }
                    if piece.len() > 1 {
                        tracing::info!(service = %service_id, events = piece.len(), status = ?e.status(), error = %e, "the server refused a batch; sending it in halves");
                        let second = piece.split_off(piece.len() / 2);
                        pieces.push(second);
                        pieces.push(piece);
                        split = true;
                        continue;
                    }
                    refused_alone = true;
                    if let Some(letter) = dead_letter(self, service_id, &piece[0], &e)? {
                        flush.dead_lettered.push(letter);
                    }
                }
                if split && !refused_alone && largest_sent > 0 {
                    // Every event went once split: the batch was too large for the server.
                    limit = limit.min(largest_sent);
                }
            }
        })??;
        flush.remaining = session.store().read()?.outbox_len(service_id)?;
        tracing::info!(
            service = %service_id,
            sent = flush.sent,
            accepted = flush.accepted,
            duplicates = flush.duplicates,
            dead_lettered = flush.dead_lettered.len(),
            remaining = flush.remaining,
            "flushed the report outbox"
        );
        Ok(flush)
    }

    /// The events the managed server `service_id` refused for good, oldest first.
    pub fn dead_letters(&self, service_id: &str) -> Result<Vec<DeadLetter>, WuError> {
        self.session.managed(service_id)?;
        Ok(self.session.store().read()?.dead_letters(service_id)?)
    }
}

/// Moves `event`, refused alone with `e`, to the dead letters; the letter as recorded, or
/// `None` when another flush already took the event out of the outbox.
fn dead_letter(
    manager: &UpdateServiceManager,
    service_id: &str,
    event: &ReportEvent,
    e: &ServerError,
) -> Result<Option<DeadLetter>, WuError> {
    let (status, hresult, message) = (e.status().unwrap_or_default(), e.hresult(), e.server_message());
    let moved =
        manager.session.store().transact(|tx| tx.dead_letter(service_id, &event.key, status, hresult, &message))?;
    if !moved {
        return Ok(None);
    }
    tracing::error!(
        service = %service_id,
        key = %event.key,
        status,
        hresult = %hresult,
        error = %message,
        "the server refused a report for good; it is kept as a dead letter and the others go on"
    );
    let letter = manager.session.store().read()?.dead_letters(service_id)?.into_iter().find(|d| d.key == event.key);
    Ok(letter)
}
