//! What can go wrong talking to a managed server, each with its code (D-2): the server's own
//! `WUA_E_SERVER_*` code when its error answer carries one, WUA's HTTP and connection codes
//! otherwise. No variant ever holds a token or an enrolment key.

use std::path::PathBuf;

use wua_fetch::FetchError;
use wua_types::api::ApiError;
use wua_types::{HResult, WuError};

/// A failed exchange with a managed server.
#[derive(Debug, thiserror::Error)]
pub(crate) enum ServerError {
    /// The server URL is not one (`E_INVALIDARG`).
    #[error("server URL {url:?}: {detail}")]
    InvalidUrl {
        /// The URL as given.
        url: String,
        /// What is wrong.
        detail: String,
    },
    /// A secret would travel over plain HTTP to a host that is not loopback
    /// (`WUA_E_SERVER_INSECURE_URL`); nothing was sent.
    #[error("{url}: refusing to send {secret} over plain http to a host that is not loopback; use https")]
    InsecureUrl {
        /// The URL.
        url: String,
        /// What would have travelled.
        secret: &'static str,
    },
    /// No answer came, or its body could not be read whole.
    #[error("{0}")]
    Fetch(#[from] FetchError),
    /// The server answered with an error and said why (its `ApiError`).
    #[error("{url}: HTTP {status}: {}", .api.error)]
    Api {
        /// The route.
        url: String,
        /// The status.
        status: u16,
        /// The server's error.
        api: ApiError,
    },
    /// The server answered with an error status and no error the API defines.
    #[error("{url}: HTTP status {status}")]
    Status {
        /// The route.
        url: String,
        /// The status.
        status: u16,
    },
    /// A success answer that is not what the API defines (`WUA_E_SERVER_PROTOCOL`).
    #[error("{url}: the answer is not what the API defines: {detail}")]
    Protocol {
        /// The route.
        url: String,
        /// What is wrong.
        detail: String,
    },
    /// The service's token file is missing or unreadable.
    #[error("token {}: {detail}", path.display())]
    Token {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        detail: String,
        /// `WUA_E_SERVER_UNAUTHORIZED` when it is missing (register again), `WUA_E_STATE_DIR`
        /// when it cannot be read or written.
        code: HResult,
    },
}

impl ServerError {
    /// The code for this error.
    pub(crate) fn hresult(&self) -> HResult {
        match self {
            ServerError::InvalidUrl { .. } => HResult::E_INVALIDARG,
            ServerError::InsecureUrl { .. } => HResult::WUA_E_SERVER_INSECURE_URL,
            ServerError::Fetch(e) => e.hresult(),
            // A server that answers with an error but a code that is no error (or none) is
            // reported by its status.
            ServerError::Api { api, status, url } if api.hresult >= 0 => {
                ServerError::Status { url: url.clone(), status: *status }.hresult()
            }
            ServerError::Api { api, .. } => api.code(),
            ServerError::Status { url, status } => match url::Url::parse(url) {
                Ok(url) => FetchError::Status { url, status: *status }.hresult(),
                Err(_) => HResult::WU_E_PT_HTTP_STATUS_NOT_MAPPED,
            },
            ServerError::Protocol { .. } => HResult::WUA_E_SERVER_PROTOCOL,
            ServerError::Token { code, .. } => *code,
        }
    }

    /// Whether the server refused the request for what it carries, so that sending it again
    /// as it is can never succeed: a 413 (from the server or anything before it), or a 400 the
    /// server itself answered with its `ApiError`. A 400 without the API's error (a proxy's)
    /// is not: it may refuse every request alike, and the outbox keeps what it refused.
    pub(crate) fn refused_for_good(&self) -> bool {
        match self {
            ServerError::Api { status, .. } => matches!(status, 400 | 413),
            ServerError::Status { status, .. } => *status == 413,
            _ => false,
        }
    }

    /// What the server said: its `ApiError`'s message when it sent one, else this error's text.
    pub(crate) fn server_message(&self) -> String {
        match self {
            ServerError::Api { api, .. } => api.error.clone(),
            other => other.to_string(),
        }
    }

    /// The HTTP status the server answered with, when it answered.
    pub(crate) fn status(&self) -> Option<u16> {
        match self {
            ServerError::Api { status, .. } | ServerError::Status { status, .. } => Some(*status),
            _ => None,
        }
    }
}

impl From<ServerError> for WuError {
    fn from(e: ServerError) -> Self {
        WuError::new(e.hresult(), e.to_string())
    }
}
