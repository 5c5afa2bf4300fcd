//! The trust errors: every refusal names what was wrong and carries a code from wua's trust
//! block (D-2), one per attack the TUF client resists. The writing side has errors of its own
//! (`Write`, `RootThreshold`, `Locked`, `Managed`), so a publisher's failure never reads as an attack.

use std::path::PathBuf;

use wua_types::{HResult, WuError};

/// A failure of the repository, its keys or its verification.
#[derive(Debug, thiserror::Error)]
pub enum TrustError {
    /// Reading or writing a file failed.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The cause.
        source: std::io::Error,
    },
    /// A signing key is missing, unreadable or not one the role lists.
    #[error("key {path}: {detail}")]
    Key {
        /// The key file.
        path: PathBuf,
        /// What is wrong.
        detail: String,
    },
    /// The directory is not a wua repository, or a publishing input is invalid.
    #[error("{path}: {detail}")]
    Invalid {
        /// The repository or the input.
        path: PathBuf,
        /// What is wrong.
        detail: String,
    },
    /// Another writer held the repository lock for longer than this one would wait.
    #[error("repository {path} is locked by another writer ({})", match holder {
        Some(pid) => format!("pid {pid}"),
        None => "pid unknown".into(),
    })]
    Locked {
        /// The repository.
        path: PathBuf,
        /// The holder's pid, as the kernel names it (`wua_fs::lock_holder`).
        holder: Option<u32>,
    },
    /// The repository is managed by a wua server (`repo::set_managed`): its approvals change
    /// only through the server's API, which signs them.
    #[error("repository {path} is managed by a wua server: change its approvals through the server's API ({route})")]
    Managed {
        /// The repository.
        path: PathBuf,
        /// The API route that does it, e.g. `POST /api/v1/groups/web/approvals`.
        route: String,
    },
    /// Signing or writing the repository's metadata failed (the TUF library's account of it):
    /// a failure of the publisher's side, never a verification refusal.
    #[error("writing repository {path}: {source}")]
    Write {
        /// The repository.
        path: PathBuf,
        /// The cause.
        source: Box<dyn std::error::Error + Send + Sync>,
    },
    /// A root proposal does not carry a threshold of valid signatures of the current root's
    /// root keys, or of its own: it waits for more signatures (`root::sign`).
    #[error("{path}: the root proposal does not meet {whose} root threshold: {detail}")]
    RootThreshold {
        /// The proposal.
        path: PathBuf,
        /// Whose threshold: "the current root's" or "its own".
        whose: &'static str,
        /// The verifier's account of it.
        detail: String,
    },
    /// The repository could not be fetched from (`wua-fetch`): a time-out or a transfer slower
    /// than the minimum rate, an HTTP error status, a refused connection. Its code is the
    /// fetch's (`WININET_E_TIMEOUT`, `WU_E_PT_HTTP_STATUS_*`, `WU_E_NO_CONNECTION`).
    #[error("fetching from the repository: {0}")]
    Fetch(#[from] wua_fetch::FetchError),
    /// A file of the agent's trusted state is empty, torn or not what it should be (a power
    /// loss, or a hand edit): the state cannot be trusted and is never taken for a first use.
    #[error("the trusted state is damaged: {} {detail}", path.display())]
    StateCorrupt {
        /// The file.
        path: PathBuf,
        /// What is wrong with it.
        detail: String,
    },
    /// Another refresh held the state directory's refresh lock for longer than this one would
    /// wait.
    #[error("the trusted state {} is being refreshed by another process ({})", path.display(), match holder {
        Some(pid) => format!("pid {pid}"),
        None => "pid unknown".into(),
    })]
    Busy {
        /// The state directory.
        path: PathBuf,
        /// The holder's pid, as the kernel names it.
        holder: Option<u32>,
    },
    /// The root the agent is given is not of the repository its trusted state comes from (a
    /// repository re-created under the same address with another root).
    #[error(
        "the repository changed identity: the root given is not of the repository the trusted state {} comes from (re-created under the same address?); `wua service reset ID` clears the service's trusted state and cache",
        state.display()
    )]
    RepositoryChanged {
        /// The state directory.
        state: PathBuf,
    },
    /// Verification refused what the repository served.
    #[error("{refusal}: {detail}")]
    Refused {
        /// Which check failed.
        refusal: Refusal,
        /// The verifier's account of it.
        detail: String,
    },
}

/// The check a verification failed: each is a distinct attack TUF resists.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Refusal {
    /// Expired metadata (freeze attack).
    Expired,
    /// A version older than the trusted one (rollback attack).
    Rollback,
    /// Metadata that does not match the snapshot or timestamp listing it (mix-and-match).
    MixAndMatch,
    /// Content that does not match its signed hash (arbitrary content).
    HashMismatch,
    /// A file longer than listed or than the limit (endless data).
    TooLarge,
    /// Too few valid signatures, or signatures by keys the role does not list.
    Signature,
    /// Malformed metadata or pack.
    Malformed,
    /// The repository could not be reached.
    Unreachable,
    /// The system clock is earlier than at a previous refresh (a clock corrected backwards):
    /// expiry cannot be judged until it passes that time again.
    ClockBackwards,
}

impl std::fmt::Display for Refusal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Refusal::Expired => "expired metadata (freeze attack?)",
            Refusal::Rollback => "older metadata than trusted (rollback attack?)",
            Refusal::MixAndMatch => "metadata that does not match its snapshot (mix-and-match attack?)",
            Refusal::HashMismatch => "content that does not match its signed hash (arbitrary content?)",
            Refusal::TooLarge => "a file longer than listed (endless-data attack?)",
            Refusal::Signature => "signatures that do not meet the role's threshold (wrong or revoked keys?)",
            Refusal::Malformed => "malformed repository metadata",
            Refusal::Unreachable => "the repository could not be reached",
            Refusal::ClockBackwards => "the system clock is earlier than at a previous refresh",
        })
    }
}

impl TrustError {
    /// The code for this error.
    pub fn hresult(&self) -> HResult {
        match self {
            TrustError::Io { .. } => HResult::WUA_E_TRUST_IO,
            TrustError::Key { .. } => HResult::WUA_E_TRUST_KEY,
            TrustError::Invalid { .. } => HResult::WUA_E_REPO_INVALID,
            TrustError::Locked { .. } => HResult::WUA_E_REPO_LOCKED,
            TrustError::Managed { .. } => HResult::WUA_E_REPO_MANAGED,
            TrustError::Write { .. } => HResult::WUA_E_REPO_WRITE,
            TrustError::RootThreshold { .. } => HResult::WUA_E_TRUST_SIGNATURE,
            TrustError::Fetch(e) => e.hresult(),
            TrustError::StateCorrupt { .. } => HResult::WUA_E_TRUST_STATE_CORRUPT,
            TrustError::Busy { .. } => HResult::WUA_E_TRUST_BUSY,
            TrustError::RepositoryChanged { .. } => HResult::WUA_E_TRUST_IDENTITY,
            TrustError::Refused { refusal, .. } => match refusal {
                Refusal::Expired => HResult::WUA_E_TRUST_EXPIRED,
                Refusal::Rollback => HResult::WUA_E_TRUST_ROLLBACK,
                Refusal::MixAndMatch => HResult::WUA_E_TRUST_MIX_AND_MATCH,
                Refusal::HashMismatch => HResult::WUA_E_TRUST_HASH_MISMATCH,
                Refusal::TooLarge => HResult::WUA_E_TRUST_TOO_LARGE,
                Refusal::Signature => HResult::WUA_E_TRUST_SIGNATURE,
                Refusal::Malformed => HResult::WUA_E_TRUST_METADATA,
                Refusal::Unreachable => HResult::WU_E_NO_CONNECTION,
                Refusal::ClockBackwards => HResult::WUA_E_TRUST_CLOCK,
            },
        }
    }

    pub(crate) fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        TrustError::Io { path: path.into(), source }
    }

    pub(crate) fn invalid(path: impl Into<PathBuf>, detail: impl Into<String>) -> Self {
        TrustError::Invalid { path: path.into(), detail: detail.into() }
    }

    /// A failure of the TUF library while the repository at `path` was signed or written.
    pub(crate) fn write(path: impl Into<PathBuf>, source: impl Into<Box<dyn std::error::Error + Send + Sync>>) -> Self {
        TrustError::Write { path: path.into(), source: source.into() }
    }
}

/// Classifies an error of the TUF library, met while verifying, by the check that failed.
/// A failure to read or write the trusted state is an I/O error, never a refusal.
pub(crate) fn refused(e: tough::error::Error) -> TrustError {
    use tough::error::Error as E;
    match &e {
        E::DatastoreCreate { path, source, .. }
        | E::DatastoreOpen { path, source, .. }
        | E::DatastoreRemove { path, source, .. } => {
            TrustError::Io { path: path.clone(), source: std::io::Error::new(source.kind(), e.to_string()) }
        }
        E::DatastoreInit { source, .. } => {
            TrustError::Io { path: PathBuf::new(), source: std::io::Error::new(source.kind(), e.to_string()) }
        }
        _ => {
            let refusal = classify(&e);
            if refusal == Refusal::Unreachable {
                if let Some(fetch) = fetch_cause(&e) {
                    return TrustError::Fetch(fetch.clone());
                }
            }
            TrustError::Refused { refusal, detail: e.to_string() }
        }
    }
}

/// The fetch failure behind a transport error, when the transport was `wua-fetch`'s.
fn fetch_cause<'a>(e: &'a (dyn std::error::Error + 'static)) -> Option<&'a wua_fetch::FetchError> {
    let mut cause = Some(e);
    while let Some(c) = cause {
        if let Some(fetch) = c.downcast_ref::<wua_fetch::FetchError>() {
            return Some(fetch);
        }
        cause = c.source();
    }
    None
}

/// The check behind an error. The verifier checks sizes and hashes while it reads a download,
/// so those failures arrive wrapped in a transport error: its causes are looked at first.
fn classify(e: &tough::error::Error) -> Refusal {
    use tough::error::Error as E;
    if let E::Transport { .. } = e {
        let mut cause = std::error::Error::source(e);
        while let Some(c) = cause {
            if let Some(inner) = c.downcast_ref::<tough::error::Error>() {
                return classify(inner);
            }
            cause = c.source();
        }
        return Refusal::Unreachable;
    }
    match e {
        E::ExpiredMetadata { .. } => Refusal::Expired,
        E::OlderMetadata { .. } | E::OlderSnapshotInTimestamp { .. } | E::SnapshotRoleRollback { .. } => {
            Refusal::Rollback
        }
        E::VersionMismatch { .. }
        | E::MetaMissing { .. }
        | E::SnapshotRoleMissing { .. }
        | E::SnapshotTargetsMetaMissing { .. }
        | E::MissingSnapshotMeta { .. }
        | E::RoleNotInMeta { .. } => Refusal::MixAndMatch,
        // Metadata whose hash is not the one its snapshot or timestamp lists.
        E::HashMismatch { context, .. } if context.ends_with(".json") => Refusal::MixAndMatch,
        E::HashMismatch { .. } => Refusal::HashMismatch,
        E::MaxSizeExceeded { .. } | E::MaxUpdatesExceeded { .. } => Refusal::TooLarge,
        E::VerifyMetadata { .. } | E::VerifyRoleMetadata { .. } | E::VerifyTrustedMetadata { .. } => Refusal::Signature,
        E::SystemTimeSteppedBackward { .. } => Refusal::ClockBackwards,
        _ => Refusal::Malformed,
    }
}

impl From<TrustError> for WuError {
    fn from(e: TrustError) -> Self {
        WuError::new(e.hresult(), e.to_string())
    }
}
