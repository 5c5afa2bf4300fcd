//! The fetch errors and their codes.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use url::Url;
use wua_types::HResult;

/// A failed fetch. Every variant names what was fetched. Sources are shared (`Arc`), so an
/// error can be kept (see [`crate::FetchTransport::last_error`]) and handed on.
#[derive(Clone, Debug, thiserror::Error)]
pub enum FetchError {
    /// The caller stopped a download between chunks (an abort request); the partial file stays.
    #[error("{url}: the download was stopped")]
    Stopped {
        /// What was fetched.
        url: Url,
    },
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
    /// The TLS handshake failed: most often a certificate no trusted root vouches for (pass
    /// the repository's CA bundle as an extra root), one for another name, or an expired one.
    /// Not retried: another try meets the same certificate.
    #[error("{url}: TLS: {detail}")]
    Tls {
        /// What was fetched.
        url: Url,
        /// The TLS library's account (e.g. `invalid peer certificate: UnknownIssuer`).
        detail: Box<str>,
        /// The client's error.
        source: Arc<reqwest::Error>,
    },
    /// A download's content does not match the length or SHA-256 it was listed with (a body
    /// longer than the length is refused while it streams). The partial file was removed.
    #[error("{url}: {mismatch}")]
    ContentMismatch {
        /// What was fetched.
        url: Url,
        /// What came and what was expected.
        mismatch: Box<Mismatch>,
    },
    /// A server answered a download's request with a part that is not the one asked for (a
    /// `206` whose `Content-Range` is not `bytes K-(LEN-1)/LEN`, or is missing or unreadable),
    /// again after the partial file was discarded and the download started over.
    #[error(
        "{url}: asked for the bytes from {asked_from} on, the server answered 206 with Content-Range {content_range:?}"
    )]
    BadRange {
        /// What was fetched.
        url: Url,
        /// The first byte asked for (0: the whole file, asked without `Range`).
        asked_from: u64,
        /// The header as sent (empty when it was missing).
        content_range: Box<str>,
    },
    /// The partial file of a download could not be opened, read or written.
    #[error("{url}: partial file {}: {source}", path.display())]
    PartialFile {
        /// What was fetched.
        url: Url,
        /// The partial file.
        path: Box<Path>,
        /// The cause.
        source: Arc<std::io::Error>,
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

/// What a download got instead of the content it was listed with.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Mismatch {
    /// The partial file, now removed.
    pub path: PathBuf,
    /// The listed length.
    pub expected_len: u64,
    /// The listed SHA-256 (lowercase hex).
    pub expected_sha256: String,
    /// The bytes that came. For a body refused for running past the listed length: how far it
    /// had come, or one more than the listed length when the length it declared was already
    /// over it.
    pub got_len: u64,
    /// The SHA-256 of what came, when all of it came.
    pub got_sha256: Option<String>,
}

impl std::fmt::Display for Mismatch {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.got_sha256 {
            Some(sha) => write!(f, "{} bytes with SHA-256 {sha}", self.got_len)?,
            None => write!(f, "{} bytes or more", self.got_len)?,
        }
        write!(
            f,
            ", expected {} bytes with SHA-256 {}; the partial file {} was removed",
            self.expected_len,
            self.expected_sha256,
            self.path.display()
        )
    }
}

impl FetchError {
    /// The code for this error: WUA's own wherever one fits.
    ///
    /// - `TimedOut`, `TooSlow`: `WININET_E_TIMEOUT` (0x80072EE2), the WinHTTP time-out WUA
    ///   itself reports for a server that does not answer in time.
    /// - `Status`: the `WU_E_PT_HTTP_STATUS_*` code of the status, `WU_E_PT_HTTP_STATUS_NOT_MAPPED`
    ///   for one WUA has no code for; `NotFound`: `WU_E_PT_HTTP_STATUS_NOT_FOUND` (for
    ///   `file://` URLs too).
    /// - `Connect`: `WU_E_NO_CONNECTION`; `Tls` too (a certificate that is not trusted, like
    ///   any failed handshake, leaves no connection; WUA's WinHTTP would say
    ///   `ERROR_WINHTTP_SECURE_FAILURE`, which wua's table does not hold). The variant and its
    ///   message say it was TLS.
    /// - `ContentMismatch`: `WU_E_DM_INCORRECTFILEHASH`.
    /// - `BadRange`: `WU_E_DM_BITSTRANSFERERROR` (a transfer the server broke).
    /// - `PartialFile`: `E_ACCESSDENIED` when permission was denied, else `WUA_E_CACHE_IO`
    ///   (partial files live beside the content cache).
    /// - `TooLarge`: `WUA_E_TRUST_TOO_LARGE` (an endless-data attack, or a limit too small).
    /// - `Io`: `E_ACCESSDENIED` when permission was denied, else `WU_E_DM_BITSTRANSFERERROR`.
    /// - `Unsupported`, `Setup`: `E_INVALIDARG` (the caller's input is wrong).
    pub fn hresult(&self) -> HResult {
        match self {
            FetchError::Stopped { .. } => HResult::WU_E_CALL_CANCELLED,
            FetchError::TimedOut { .. } | FetchError::TooSlow { .. } => HResult::WININET_E_TIMEOUT,
            FetchError::Status { status, .. } => status_hresult(*status),
            FetchError::NotFound { .. } => HResult::WU_E_PT_HTTP_STATUS_NOT_FOUND,
            FetchError::Connect { .. } | FetchError::Tls { .. } => HResult::WU_E_NO_CONNECTION,
            FetchError::ContentMismatch { .. } => HResult::WU_E_DM_INCORRECTFILEHASH,
            FetchError::BadRange { .. } => HResult::WU_E_DM_BITSTRANSFERERROR,
            FetchError::PartialFile { source, .. } if source.kind() == std::io::ErrorKind::PermissionDenied => {
                HResult::E_ACCESSDENIED
            }
            FetchError::PartialFile { .. } => HResult::WUA_E_CACHE_IO,
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
            FetchError::Stopped { url }
            | FetchError::TimedOut { url, .. }
            | FetchError::TooSlow { url, .. }
            | FetchError::TooLarge { url, .. }
            | FetchError::Status { url, .. }
            | FetchError::NotFound { url }
            | FetchError::Connect { url, .. }
            | FetchError::Tls { url, .. }
            | FetchError::ContentMismatch { url, .. }
            | FetchError::BadRange { url, .. }
            | FetchError::PartialFile { url, .. }
            | FetchError::Io { url, .. }
            | FetchError::Unsupported { url } => Some(url),
            FetchError::Setup { .. } => None,
        }
    }

    /// A transport failure another try may cure: a broken or refused connection, a time-out, a
    /// too-slow transfer, or a status that says "later" (408, 429, 5xx). Never a body that was
    /// too long, a 404 or another client error, a TLS failure, content that does not match.
    pub fn is_transient(&self) -> bool {
        match self {
            FetchError::TimedOut { .. } | FetchError::TooSlow { .. } | FetchError::Connect { .. } => true,
            FetchError::Status { status, .. } => *status >= 500 || *status == 408 || *status == 429,
            _ => false,
        }
    }
}

impl FetchError {
    /// The error of a request that got no response: [`FetchError::Tls`] when the TLS library
    /// is among its causes, else [`FetchError::Connect`].
    pub(crate) fn from_send(url: &Url, e: reqwest::Error) -> FetchError {
        match tls_cause(&e) {
            Some(tls) => FetchError::Tls { url: url.clone(), detail: tls.to_string().into(), source: Arc::new(e) },
            None => FetchError::Connect { url: url.clone(), source: Arc::new(e) },
        }
    }
}

/// The TLS error among the causes of `e`. An `io::Error` hides the error it wraps from
/// `source()` (it displays it instead), so the walk goes into it (`get_ref`); the TLS client
/// reports a failed handshake as an `io::Error` wrapping one that wraps the `rustls::Error`.
fn tls_cause<'a>(e: &'a (dyn std::error::Error + 'static)) -> Option<&'a rustls::Error> {
    let mut next = Some(e);
    while let Some(e) = next {
        if let Some(tls) = e.downcast_ref::<rustls::Error>() {
            return Some(tls);
        }
        next = match e.downcast_ref::<std::io::Error>().and_then(std::io::Error::get_ref) {
            Some(wrapped) => Some(wrapped as &(dyn std::error::Error + 'static)),
            None => e.source(),
        };
    }
    None
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
        let mismatch = FetchError::ContentMismatch {
            url: url(),
            mismatch: Box::new(Mismatch {
                path: "/p".into(),
                expected_len: 1,
                expected_sha256: "00".into(),
                got_len: 2,
                got_sha256: None,
            }),
        };
        assert_eq!(
            mismatch.to_string(),
            "http://127.0.0.1/x: 2 bytes or more, expected 1 bytes with SHA-256 00; the partial file /p was removed"
        );
        assert_eq!(mismatch.hresult().hex(), "0x80246002");
        assert!(!mismatch.is_transient());
        let bad_range = FetchError::BadRange { url: url(), asked_from: 5, content_range: "x".into() };
        assert_eq!(bad_range.hresult(), HResult::WU_E_DM_BITSTRANSFERERROR);
        let denied = std::io::Error::from(std::io::ErrorKind::PermissionDenied);
        let partial = FetchError::PartialFile { url: url(), path: Path::new("/p").into(), source: Arc::new(denied) };
        assert_eq!(partial.hresult(), HResult::E_ACCESSDENIED);
        let full = std::io::Error::other("disk full");
        let partial = FetchError::PartialFile { url: url(), path: Path::new("/p").into(), source: Arc::new(full) };
        assert_eq!(partial.hresult(), HResult::WUA_E_CACHE_IO);
    }

    #[test]
    fn a_tls_error_is_found_inside_an_io_error() {
        let tls = rustls::Error::InvalidCertificate(rustls::CertificateError::UnknownIssuer);
        // As the TLS client nests it: an io::Error in an io::Error.
        let io = std::io::Error::other(std::io::Error::new(std::io::ErrorKind::InvalidData, tls));
        let found = tls_cause(&io).expect("found");
        assert!(found.to_string().contains("certificate"), "{found}");
        assert!(tls_cause(&std::io::Error::other("refused")).is_none());
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
