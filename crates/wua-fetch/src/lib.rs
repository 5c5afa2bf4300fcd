//! wua's one HTTP client: every byte the agent fetches from a repository or a server goes
//! through a [`Fetcher`].
//!
//! - [`FetchLimits`]: the bounds of one fetching session (a refresh, later a download job): a
//!   total deadline, a minimum transfer rate averaged over a window, a connect time-out, and
//!   retries with exponential backoff. Bounds are part of the API; each is documented with its
//!   default.
//! - [`Fetcher`]: one `reqwest` client (rustls, the platform's roots plus extra CA bundles,
//!   connection reuse) per session; the deadline starts when it is made. [`Fetcher::get`] reads
//!   a whole body of at most `max_len` bytes; [`Fetcher::stream`] yields it chunk by chunk
//!   under the same bounds ([`FetchStream`]). `file://` URLs are read from disk under the same
//!   bounds. Only transport failures are retried (connection errors, time-outs, 408, 429, 5xx):
//!   whether a body is acceptable is the caller's decision, and a body the caller refused is
//!   never fetched again here.
//! - [`FetchError`]: each variant names its URL; [`FetchError::hresult`] gives WUA's code (a
//!   time-out or a too-slow body is `WININET_E_TIMEOUT`, an HTTP status its
//!   `WU_E_PT_HTTP_STATUS_*` code).
//! - [`FetchTransport`]: a `tough::Transport` over a [`Fetcher`], for `wua-trust`'s verifier:
//!   a missing file is `FileNotFound` (how TUF learns there is no newer root), and the last
//!   [`FetchError`] stays readable so the verifier can report its code.

mod error;
mod fetcher;
mod limits;
mod transport;

pub use error::FetchError;
pub use fetcher::{FetchStream, Fetcher};
pub use limits::FetchLimits;
pub use transport::FetchTransport;
