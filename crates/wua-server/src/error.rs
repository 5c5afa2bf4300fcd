//! Errors: [`ServerError`] for the server's own failures (storage, repository, configuration),
//! and [`ApiFailure`], what a route answers: an HTTP status with JSON `error` and D-2's three
//! HResult fields.

use std::path::PathBuf;

use axum::Json;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use wua_types::api::ApiError;
use wua_types::{HResult, WuError};

/// A failure of the server itself.
#[derive(Debug, thiserror::Error)]
pub enum ServerError {
    /// The database failed.
    #[error("database {path}: {source}")]
    Storage {
        /// The database file.
        path: PathBuf,
        /// What SQLite said.
        source: rusqlite::Error,
    },
    /// The database holds something this server cannot read.
    #[error("database {path}: {detail}")]
    Corrupt {
        /// The database file.
        path: PathBuf,
        /// What is wrong.
        detail: String,
    },
    /// The database was written by a newer server.
    #[error("database {path} has schema version {found}; this server knows up to {supported}")]
    TooNew {
        /// The database file.
        path: PathBuf,
        /// Its version.
        found: i64,
        /// This build's.
        supported: i64,
    },
    /// The configuration or the data directory is invalid.
    #[error("{0}")]
    Config(String),
    /// A file could not be read or written.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// What failed.
        source: std::io::Error,
    },
    /// The storage's writer stopped (the server is shutting down).
    #[error("the database writer has stopped")]
    Stopped,
    /// The repository could not be changed or read.
    #[error("{0}")]
    Repository(#[from] wua_trust::TrustError),
}

impl ServerError {
    /// The HResult (D-2).
    pub fn hresult(&self) -> HResult {
        match self {
            ServerError::Storage { .. } | ServerError::Corrupt { .. } | ServerError::TooNew { .. } => {
                HResult::WUA_E_SERVER_STORAGE
            }
            ServerError::Config(_) | ServerError::Io { .. } => HResult::WUA_E_SERVER_CONFIG,
            ServerError::Stopped => HResult::WUA_E_SERVER_UNAVAILABLE,
            ServerError::Repository(e) => e.hresult(),
        }
    }

    pub(crate) fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        ServerError::Io { path: path.into(), source }
    }
}

impl From<ServerError> for WuError {
    fn from(e: ServerError) -> Self {
        WuError::new(e.hresult(), e.to_string())
    }
}

/// What a route answers when it cannot do what was asked.
#[derive(Debug)]
pub struct ApiFailure {
    /// The HTTP status.
    pub status: StatusCode,
    /// The JSON body.
    pub body: ApiError,
}

impl ApiFailure {
    /// A failure with `status`, `hresult` and a message.
    pub fn new(status: StatusCode, hresult: HResult, message: impl Into<String>) -> Self {
        ApiFailure { status, body: ApiError::new(hresult, message) }
    }

    /// 400: the request is malformed.
    pub fn bad_request(message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, HResult::WUA_E_SERVER_BAD_REQUEST, message)
    }

    /// 401: no token, or one the server does not know.
    pub fn unauthorized(message: impl Into<String>) -> Self {
        Self::new(StatusCode::UNAUTHORIZED, HResult::WUA_E_SERVER_UNAUTHORIZED, message)
    }

    /// 403: a valid token that may not do this.
    pub fn forbidden(message: impl Into<String>) -> Self {
        Self::new(StatusCode::FORBIDDEN, HResult::WUA_E_SERVER_FORBIDDEN, message)
    }

    /// 404: no such thing.
    pub fn not_found(message: impl Into<String>) -> Self {
        Self::new(StatusCode::NOT_FOUND, HResult::WUA_E_SERVER_NOT_FOUND, message)
    }

    /// 503: the system gave no random bytes for a token.
    pub fn no_randomness() -> Self {
        Self::new(
            StatusCode::SERVICE_UNAVAILABLE,
            HResult::WUA_E_SERVER_UNAVAILABLE,
            "no random bytes for a token; retry",
        )
    }

    /// 409: it conflicts with the server's state.
    pub fn conflict(message: impl Into<String>) -> Self {
        Self::new(StatusCode::CONFLICT, HResult::WUA_E_SERVER_CONFLICT, message)
    }
}

impl From<ServerError> for ApiFailure {
    fn from(e: ServerError) -> Self {
        let status = match &e {
            ServerError::Stopped => StatusCode::SERVICE_UNAVAILABLE,
            // The repository refused the change itself (an approval it cannot make).
            ServerError::Repository(t) if t.hresult() == HResult::WUA_E_REPO_INVALID => StatusCode::CONFLICT,
            ServerError::Repository(t) if t.hresult() == HResult::WUA_E_REPO_LOCKED => StatusCode::SERVICE_UNAVAILABLE,
            _ => StatusCode::INTERNAL_SERVER_ERROR,
        };
        // Storage details stay in the log; the client learns the code and that it may retry.
        tracing::error!(error = %e, "request failed");
        let message = match &e {
            ServerError::Repository(t) => t.to_string(),
            ServerError::Stopped => "the server is shutting down; retry later".to_owned(),
            _ => "the server could not store or read this; retry later".to_owned(),
        };
        ApiFailure::new(status, e.hresult(), message)
    }
}

impl IntoResponse for ApiFailure {
    fn into_response(self) -> Response {
        (self.status, Json(self.body)).into_response()
    }
}
