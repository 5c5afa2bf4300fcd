//! Re-signing on a timer. Each tick re-signs, under the repository's writer lock, only what
//! is past half its lifetime: the timestamp (timestamp key only), the snapshot (snapshot and
//! timestamp keys), the approvals role (approvals, snapshot and timestamp keys). Nothing here
//! re-hashes a pack or touches the targets key.

use jiff::SignedDuration;
use wua_trust::repo::{self, Lifetimes, RepoLock};

use crate::ServerError;
use crate::config::SigningConfig;
use crate::repository::Repository;

/// What one tick re-signed.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Resigned {
    /// The timestamp.
    pub timestamp: bool,
    /// The snapshot (and so the timestamp).
    pub snapshot: bool,
    /// The approvals role (and so the snapshot and the timestamp).
    pub approvals: bool,
}

/// The lifetimes the server signs with.
pub fn lifetimes(signing: &SigningConfig) -> Lifetimes {
    let secs = |s: u64| SignedDuration::from_secs(i64::try_from(s).unwrap_or(i64::MAX));
    Lifetimes {
        timestamp: secs(signing.timestamp_lifetime_seconds),
        snapshot: secs(signing.snapshot_lifetime_seconds),
        ..Lifetimes::default()
    }
}

/// One tick: re-signs what is past half its lifetime.
pub async fn tick(repository: &Repository, signing: &SigningConfig) -> Result<Resigned, ServerError> {
    let lifetimes = lifetimes(signing);
    let expiries = repo::expiries(repository.dir())?;
    let now = jiff::Timestamp::now();
    let near = |expires: jiff::Timestamp, lifetime: SignedDuration| now.duration_until(expires) < lifetime / 2;
    let mut done = Resigned::default();
    if near(expiries.approvals, lifetimes.targets) {
        done.approvals = true;
    } else if near(expiries.snapshot, lifetimes.snapshot) {
        done.snapshot = true;
    } else if near(expiries.timestamp, lifetimes.timestamp) {
        done.timestamp = true;
    } else {
        return Ok(done);
    }
    let lock = RepoLock::acquire(repository.dir(), RepoLock::DEFAULT_WAIT).await?;
    if done.approvals {
        repo::resign_approvals_locked(&lock, &lifetimes).await?;
    } else if done.snapshot {
        repo::resign_snapshot_locked(&lock, &lifetimes).await?;
    } else {
        repo::resign_timestamp_locked(&lock, &lifetimes).await?;
    }
    tracing::info!(?done, "re-signed the repository's online roles");
    Ok(done)
}
