//! wua's one HTTP client: every byte the agent fetches from a repository or a server goes
//! through a [`Fetcher`].
//!
//! - [`FetchLimits`]: the bounds of one fetching session (a refresh, a download job): a total
//!   deadline, a minimum transfer rate averaged over a window, a connect time-out, and retries
//!   with exponential backoff and jitter (each wait drawn from the upper half of a doubling
//!   base). Bounds are part of the API; each is documented with its default.
//! - [`Fetcher`]: one `reqwest` client (rustls, the platform's roots plus extra CA bundles,
//!   connection reuse) per session; the deadline starts when it is made. [`Fetcher::get`] reads
//!   a whole body of at most `max_len` bytes; [`Fetcher::stream`] yields it chunk by chunk
//!   under the same bounds ([`FetchStream`]). `file://` URLs are read from disk under the same
//!   bounds. Only transport failures are retried (connection errors, time-outs, 408, 429, 5xx):
//!   whether a body is acceptable is the caller's decision, and a body the caller refused is
//!   never fetched again here.
//! - [`Fetcher::download_to`]: a resumable, verified download into a partial file (D-31):
//!   bytes already there are hashed again and only the rest is asked for (`Range: bytes=K-`,
//!   `If-Range`; a `file://` URL is read from byte K); a `206` is appended only when its
//!   `Content-Range` is exactly the one asked for, a `200` starts over, a wrong range discards
//!   the partial file and starts over once; a body cut off is resumed from what was written,
//!   within the retries and the deadline. The length and SHA-256 are checked as it streams; a
//!   mismatch removes the partial file ([`FetchError::ContentMismatch`], [`Mismatch`]). The file
//!   is not synced and not renamed: the caller moves it into its cache. [`Downloaded`] says
//!   what it took (bytes reused and received, retries, restarts).
//! - [`Fetcher::send`]: a JSON request to an API ([`ApiRequest`]: a method, an optional bearer
//!   token, an optional body) and its answer ([`ApiAnswer`]: status and body, read under the
//!   same bounds); retried like `get`, and the last answer returned whatever its status, so
//!   the caller reads the server's error.
//! - [`FetchError`]: each variant names its URL; [`FetchError::hresult`] gives WUA's code (a
//!   time-out or a too-slow body is `WININET_E_TIMEOUT`, an HTTP status its
//!   `WU_E_PT_HTTP_STATUS_*` code, a failed connection or TLS handshake `WU_E_NO_CONNECTION`,
//!   content that does not match `WU_E_DM_INCORRECTFILEHASH`).
//! - [`FetchTransport`]: a `tough::Transport` over a [`Fetcher`], for `wua-trust`'s verifier:
//!   a missing file is `FileNotFound` (how TUF learns there is no newer root), and the last
//!   [`FetchError`] stays readable so the verifier can report its code.

mod api;
mod backoff;
mod download;
mod error;
mod fetcher;
mod limits;
mod transport;

pub use api::{ApiAnswer, ApiMethod, ApiRequest};
pub use download::Downloaded;
pub use error::{FetchError, Mismatch};
pub use fetcher::{FetchStream, Fetcher};
pub use limits::FetchLimits;
pub use transport::FetchTransport;
