//! The transport under `wua-trust`'s verifier.

use std::sync::{Arc, Mutex, PoisonError};

use futures::TryStreamExt;
use tough::{Transport, TransportError, TransportErrorKind, TransportStream};
use url::Url;

use crate::{FetchError, Fetcher};

/// A `tough::Transport` over a [`Fetcher`]: every metadata file and target the TUF verifier
/// reads comes through the fetcher's client, deadline, minimum rate and retries.
///
/// Lengths are the verifier's business (it stops reading at a file's signed length or its
/// role's size limit), so a file is streamed with no limit of its own beyond `max_len`. A
/// [`FetchError::NotFound`] becomes [`TransportErrorKind::FileNotFound`] (a missing
/// `N+1.root.json` is how TUF learns there is no newer root); everything else is
/// [`TransportErrorKind::Other`] (an unsupported scheme is `UnsupportedUrlScheme`). The
/// [`FetchError`] is the transport error's source, and the last one is kept
/// ([`FetchTransport::last_error`]) so the verifier can report its code.
#[derive(Clone, Debug)]
pub struct FetchTransport {
    fetcher: Fetcher,
    max_len: u64,
    last_error: Arc<Mutex<Option<FetchError>>>,
}

impl FetchTransport {
    /// A transport over `fetcher`, with no length limit of its own.
    pub fn new(fetcher: Fetcher) -> FetchTransport {
        FetchTransport { fetcher, max_len: u64::MAX, last_error: Arc::new(Mutex::new(None)) }
    }

    /// The same, refusing any file longer than `max_len` bytes.
    pub fn with_max_len(mut self, max_len: u64) -> FetchTransport {
        self.max_len = max_len;
        self
    }

    /// The fetcher underneath.
    pub fn fetcher(&self) -> &Fetcher {
        &self.fetcher
    }

    /// The last fetch that failed through this transport or its clones, a missing file
    /// included (a refresh that verified may have met one: the probe for a newer root).
    pub fn last_error(&self) -> Option<FetchError> {
        self.last_error.lock().unwrap_or_else(PoisonError::into_inner).clone()
    }
}

/// Keeps `e` as the last error and converts it for the verifier.
fn record(last: &Mutex<Option<FetchError>>, e: FetchError) -> TransportError {
    *last.lock().unwrap_or_else(PoisonError::into_inner) = Some(e.clone());
    let kind = match e {
        FetchError::NotFound { .. } => TransportErrorKind::FileNotFound,
        FetchError::Unsupported { .. } => TransportErrorKind::UnsupportedUrlScheme,
        _ => TransportErrorKind::Other,
    };
    let url = e.url().map(Url::to_string).unwrap_or_default();
    TransportError::new_with_cause(kind, url, e)
}

#[tough::async_trait]
impl Transport for FetchTransport {
    async fn fetch(&self, url: Url) -> Result<TransportStream, TransportError> {
        match self.fetcher.stream(&url, self.max_len).await {
            Ok(stream) => {
                let last = self.last_error.clone();
                Ok(Box::pin(stream.map_err(move |e| record(&last, e))))
            }
            Err(e) => Err(record(&self.last_error, e)),
        }
    }
}
