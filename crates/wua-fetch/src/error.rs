//! The fetch errors and their codes.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use url::Url;
use wua_types::HResult;

/// A failed fetch. Every variant names what was fetched. Sources are shared (`Arc`), so an
/// error can be kept (see [`crate::FetchTransport::last_error`]) and handed on.
#[derive(Clone, Debug, thiserror::Error)]
pub enum FetchError {
    /// The fetcher's total deadline passed, or a connection could not be made in time.
    #[error("{url}: timed out ({what})")]
    TimedOut {
        /// What was fetched.
        url: Url,
        /// Which bound: "the total deadline" or "connecting".
        what: &'static str,
    },
    /// Fewer bytes than the minimum rate asks arrived in one window (a stalled or dripping
    /// server; also a response whose headers did not come within the window).
    #[error("{url}: {got} bytes in {window:?}, fewer than the minimum rate's {want}")]
    TooSlow {
        /// What was fetched.
        url: Url,
        /// The bytes that arrived in the window.
        got: u64,
        /// The bytes the minimum rate asks for in one window.
        want: u64,
        /// The window.
        window: Duration,
    },
    /// The body is longer than the caller's limit; it was refused while streaming.
    #[error("{url}: longer than the limit of {max_len} bytes (refused after {read})")]
    TooLarge {
        /// What was fetched.
        url: Url,
        /// The caller's limit.
        max_len: u64,
        /// The bytes read when it was refused (at most one chunk over the limit; 0 when the
        /// declared length was already too long).
        read: u64,
    },
    /// The server answered with an error status other than 404.
    #[error("{url}: HTTP status {status}")]
    Status {
        /// What was fetched.
        url: Url,
        /// The status code.
        status: u16,
    },
    /// The file does not exist (HTTP 404, or a missing `file://` path).
    #[error("{url}: not found")]
    NotFound {
        /// What was fetched.
        url: Url,
    },
    /// No connection could be made, or it broke while the body was read.
    #[error("{url}: {source}")]
    Connect {
        /// What was fetched.
        url: Url,
        /// The client's account of it.
        source: Arc<reqwest::Error>,
    },
    /// Reading a `file://` URL failed.
    #[error("{url}: {source}")]
    Io {
        /// What was read.
        url: Url,
        /// The cause.
        source: Arc<std::io::Error>,
    },
    /// The URL's scheme is not `http`, `https` or `file`, or a `file://` URL is not a path.
    #[error("{url}: not an http, https or file URL")]
    Unsupported {
        /// The URL.
        url: Url,
    },
    /// An extra root certificate could not be read or parsed, or the client could not be built.
    #[error("{}: {detail}", path.display())]
    Setup {
        /// The certificate file (empty when the client itself failed).
        path: PathBuf,
        /// What is wrong.
        detail: String,
    },
}

impl FetchError {
    /// The code for this error: WUA's own wherever one fits.
    ///
    /// - `TimedOut`, `TooSlow`: `WININET_E_TIMEOUT` (0x80072EE2), the WinHTTP time-out WUA
    ///   itself reports for a server that does not answer in time.
    /// - `Status`: the `WU_E_PT_HTTP_STATUS_*` code of the status, `WU_E_PT_HTTP_STATUS_NOT_MAPPED`
    ///   for one WUA has no code for; `NotFound`: `WU_E_PT_HTTP_STATUS_NOT_FOUND` (for
    ///   `file://` URLs too).
    /// - `Connect`: `WU_E_NO_CONNECTION`.
    /// - `TooLarge`: `WUA_E_TRUST_TOO_LARGE` (an endless-data attack, or a limit too small).
    /// - `Io`: `E_ACCESSDENIED` when permission was denied, else `WU_E_DM_BITSTRANSFERERROR`.
    /// - `Unsupported`, `Setup`: `E_INVALIDARG` (the caller's input is wrong).
    pub fn hresult(&self) -> HResult {
        match self {
            FetchError::TimedOut { .. } | FetchError::TooSlow { .. } => HResult::WININET_E_TIMEOUT,
            FetchError::Status { status, .. } => status_hresult(*status),
            FetchError::NotFound { .. } => HResult::WU_E_PT_HTTP_STATUS_NOT_FOUND,
            FetchError::Connect { .. } => HResult::WU_E_NO_CONNECTION,
            FetchError::TooLarge { .. } => HResult::WUA_E_TRUST_TOO_LARGE,
            FetchError::Io { source, .. } if source.kind() == std::io::ErrorKind::PermissionDenied => {
                HResult::E_ACCESSDENIED
            }
            FetchError::Io { .. } => HResult::WU_E_DM_BITSTRANSFERERROR,
            FetchError::Unsupported { .. } | FetchError::Setup { .. } => HResult::E_INVALIDARG,
        }
    }

    /// The URL fetched, when the error has one.
    pub fn url(&self) -> Option<&Url> {
        match self {
            FetchError::TimedOut { url, .. }
            | FetchError::TooSlow { url, .. }
            | FetchError::TooLarge { url, .. }
            | FetchError::Status { url, .. }
            | FetchError::NotFound { url }
            | FetchError::Connect { url, .. }
            | FetchError::Io { url, .. }
            | FetchError::Unsupported { url } => Some(url),
            FetchError::Setup { .. } => None,
        }
    }

    /// A transport failure another try may cure: a broken or refused connection, a time-out, a
    /// too-slow transfer, or a status that says "later" (408, 429, 5xx). Never a body that was
    /// too long, a 404 or another client error.
    pub fn is_transient(&self) -> bool {
        match self {
            FetchError::TimedOut { .. } | FetchError::TooSlow { .. } | FetchError::Connect { .. } => true,
            FetchError::Status { status, .. } => *status >= 500 || *status == 408 || *status == 429,
            _ => false,
        }
    }
}

/// WUA's code for an HTTP error status.
fn status_hresult(status: u16) -> HResult {
    match status {
        400 => HResult::WU_E_PT_HTTP_STATUS_BAD_REQUEST,
        401 => HResult::WU_E_PT_HTTP_STATUS_DENIED,
        403 => HResult::WU_E_PT_HTTP_STATUS_FORBIDDEN,
        404 => HResult::WU_E_PT_HTTP_STATUS_NOT_FOUND,
        405 => HResult::WU_E_PT_HTTP_STATUS_BAD_METHOD,
        407 => HResult::WU_E_PT_HTTP_STATUS_PROXY_AUTH_REQ,
        408 => HResult::WU_E_PT_HTTP_STATUS_REQUEST_TIMEOUT,
        409 => HResult::WU_E_PT_HTTP_STATUS_CONFLICT,
        410 => HResult::WU_E_PT_HTTP_STATUS_GONE,
        500 => HResult::WU_E_PT_HTTP_STATUS_SERVER_ERROR,
        501 => HResult::WU_E_PT_HTTP_STATUS_NOT_SUPPORTED,
        502 => HResult::WU_E_PT_HTTP_STATUS_BAD_GATEWAY,
        503 => HResult::WU_E_PT_HTTP_STATUS_SERVICE_UNAVAIL,
        504 => HResult::WU_E_PT_HTTP_STATUS_GATEWAY_TIMEOUT,
        505 => HResult::WU_E_PT_HTTP_STATUS_VERSION_NOT_SUP,
        _ => HResult::WU_E_PT_HTTP_STATUS_NOT_MAPPED,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn url() -> Url {
        Url::parse("http://127.0.0.1/x").unwrap()
    }

    #[test]
    fn codes() {
        let timed_out = FetchError::TimedOut { url: url(), what: "the total deadline" };
        let too_slow = FetchError::TooSlow { url: url(), got: 1, want: 2, window: Duration::from_secs(1) };
        assert_eq!(timed_out.hresult(), HResult::WININET_E_TIMEOUT);
        assert_eq!(too_slow.hresult(), HResult::WININET_E_TIMEOUT);
        assert_eq!(HResult::WININET_E_TIMEOUT.hex(), "0x80072EE2");
        assert_eq!(FetchError::Status { url: url(), status: 503 }.hresult().hex(), "0x80244022");
        assert_eq!(FetchError::Status { url: url(), status: 418 }.hresult(), HResult::WU_E_PT_HTTP_STATUS_NOT_MAPPED);
        assert_eq!(FetchError::NotFound { url: url() }.hresult().hex(), "0x80244019");
        assert_eq!(FetchError::TooLarge { url: url(), max_len: 1, read: 2 }.hresult(), HResult::WUA_E_TRUST_TOO_LARGE);
    }

    #[test]
    fn transient() {
        assert!(FetchError::Status { url: url(), status: 500 }.is_transient());
        assert!(FetchError::Status { url: url(), status: 429 }.is_transient());
        assert!(!FetchError::Status { url: url(), status: 403 }.is_transient());
        assert!(!FetchError::NotFound { url: url() }.is_transient());
        assert!(!FetchError::TooLarge { url: url(), max_len: 1, read: 2 }.is_transient());
    }
}
