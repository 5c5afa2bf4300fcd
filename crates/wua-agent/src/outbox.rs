//! Sending the outbox to the managed server (D-17): the oldest events first, in batches, each
//! deleted only once the server acknowledged it.
//!
//! A batch that gets no answer (the server unreachable, or still failing after `wua-fetch`'s
//! retries with jittered backoff) stays queued, and so does everything after it: the next
//! flush, normally the next scheduled run, sends it again with the same keys, and the server
//! counts each event once (`ReportAck::duplicates`). A client error (4xx other than 408 and
//! 429: a revoked token, a batch the server refuses) ends the flush with that error: it is
//! reported, and the batch is neither retried in a loop nor thrown away.

use wua_types::WuError;
use wua_types::api::ReportBatch;

use crate::managed::client_of;
use crate::services::UpdateServiceManager;

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
    /// Events still queued after the flush.
    pub remaining: u64,
    /// Why the flush stopped early, if it did: the batch that failed and those after it are
    /// still queued.
    pub error: Option<WuError>,
}

impl UpdateServiceManager {
    /// Sends the outbox of the managed server `service_id`, [`REPORT_BATCH_MAX`] events at a
    /// time, oldest first, deleting each batch once acknowledged. A failed send is not the
    /// call's error (D-1): it is [`OutboxFlush::error`], and the events stay queued. The call
    /// fails only when the service is not a managed server, its token is missing, or the
    /// datastore fails.
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
        let batch = batch.max(1);
        crate::runtime::block_on(async {
            loop {
                let events = session.store().read()?.peek_outbox(service_id, batch)?;
                if events.is_empty() {
                    return Ok::<_, WuError>(());
                }
                let keys: Vec<String> = events.iter().map(|e| e.key.clone()).collect();
                let count = events.len() as u64;
                let ack = match client.report(&token, &ReportBatch { events }).await {
                    Ok(ack) => ack,
                    Err(e) => {
                        tracing::warn!(service = %service_id, status = ?e.status(), error = %e, "reports not sent; they stay queued");
                        flush.error = Some(e.into());
                        return Ok(());
                    }
                };
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
            }
        })??;
        flush.remaining = session.store().read()?.outbox_len(service_id)?;
        tracing::info!(
            service = %service_id,
            sent = flush.sent,
            accepted = flush.accepted,
            duplicates = flush.duplicates,
            remaining = flush.remaining,
            "flushed the report outbox"
        );
        Ok(flush)
    }
}
