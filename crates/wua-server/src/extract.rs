//! Request extractors that answer in the API's error shape: [`ApiJson`] (a body parsed into a
//! type, 400 for bad JSON, 413 past the route's limit, 415 without a JSON content type),
//! [`ApiQuery`] and [`ApiPath`] (400), and the bearer-token guards [`AdminAuth`] and
//! [`AgentAuth`].

use std::sync::Arc;

use axum::extract::rejection::JsonRejection;
use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::request::Parts;
use axum::http::{StatusCode, header};
use serde::de::DeserializeOwned;
use wua_types::HResult;

use crate::app::App;
use crate::error::ApiFailure;
use crate::store::Storage;
use crate::token::{self, TokenKind};

/// A JSON body parsed into `T`.
#[derive(Debug)]
pub struct ApiJson<T>(pub T);

impl<T: DeserializeOwned, St: Send + Sync> FromRequest<St> for ApiJson<T> {
    type Rejection = ApiFailure;

    async fn from_request(req: Request, state: &St) -> Result<Self, Self::Rejection> {
        match axum::Json::<T>::from_request(req, state).await {
            Ok(axum::Json(v)) => Ok(ApiJson(v)),
            Err(rejection) => Err(json_failure(rejection)),
        }
    }
}

fn json_failure(rejection: JsonRejection) -> ApiFailure {
    let status = rejection.status();
    let text = rejection.body_text();
    if status == StatusCode::PAYLOAD_TOO_LARGE {
        ApiFailure::new(status, HResult::WUA_E_SERVER_TOO_LARGE, "the request body is larger than this route allows")
    } else if status == StatusCode::UNSUPPORTED_MEDIA_TYPE {
        ApiFailure::new(status, HResult::WUA_E_SERVER_BAD_REQUEST, "send the body as Content-Type: application/json")
    } else {
        ApiFailure::bad_request(format!("malformed request body: {text}"))
    }
}

/// A query string parsed into `T` (400 in the API's shape when it does not parse).
#[derive(Debug)]
pub struct ApiQuery<T>(pub T);

impl<T: DeserializeOwned, St: Send + Sync> FromRequestParts<St> for ApiQuery<T> {
    type Rejection = ApiFailure;

    async fn from_request_parts(parts: &mut Parts, state: &St) -> Result<Self, Self::Rejection> {
        match axum::extract::Query::<T>::from_request_parts(parts, state).await {
            Ok(axum::extract::Query(v)) => Ok(ApiQuery(v)),
            Err(rejection) => Err(ApiFailure::bad_request(format!("malformed query: {}", rejection.body_text()))),
        }
    }
}

/// A path parameter parsed into `T` (400 in the API's shape when it does not parse, e.g. a
/// percent-escape that is not UTF-8).
#[derive(Debug)]
pub struct ApiPath<T>(pub T);

impl<T: DeserializeOwned + Send, St: Send + Sync> FromRequestParts<St> for ApiPath<T> {
    type Rejection = ApiFailure;

    async fn from_request_parts(parts: &mut Parts, state: &St) -> Result<Self, Self::Rejection> {
        match axum::extract::Path::<T>::from_request_parts(parts, state).await {
            Ok(axum::extract::Path(v)) => Ok(ApiPath(v)),
            Err(rejection) => Err(ApiFailure::bad_request(format!("malformed path: {}", rejection.body_text()))),
        }
    }
}

/// The bearer token of a request, if it has one.
fn bearer(parts: &Parts) -> Option<&str> {
    let value = parts.headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, token) = value.split_once(' ')?;
    scheme.eq_ignore_ascii_case("bearer").then(|| token.trim())
}

/// An administrator, authenticated by an administrator token.
#[derive(Clone, Debug)]
pub struct AdminAuth {
    /// `name (id)`, for the audit log.
    pub actor: String,
}

impl<S: Storage> FromRequestParts<Arc<App<S>>> for AdminAuth {
    type Rejection = ApiFailure;

    async fn from_request_parts(parts: &mut Parts, app: &Arc<App<S>>) -> Result<Self, Self::Rejection> {
        let text = bearer(parts).ok_or_else(|| ApiFailure::unauthorized("this route needs an administrator token"))?;
        let Some(secret) = token::parse(TokenKind::Admin, text) else {
            if token::parse(TokenKind::Computer, text).is_some() {
                return Err(ApiFailure::forbidden("a computer's token cannot call administrator routes"));
            }
            return Err(ApiFailure::unauthorized("not an administrator token"));
        };
        match app.storage.admin_token(&secret.id).await? {
            Some(row) if !row.revoked && secret.matches(&row.digest) => {
                Ok(AdminAuth { actor: format!("{} ({})", row.owner, row.id) })
            }
            _ => Err(ApiFailure::unauthorized("unknown or revoked administrator token")),
        }
    }
}

/// A computer, authenticated by its own token.
#[derive(Clone, Debug)]
pub struct AgentAuth {
    /// The computer's id.
    pub computer_id: String,
}

impl<S: Storage> FromRequestParts<Arc<App<S>>> for AgentAuth {
    type Rejection = ApiFailure;

    async fn from_request_parts(parts: &mut Parts, app: &Arc<App<S>>) -> Result<Self, Self::Rejection> {
        let text = bearer(parts).ok_or_else(|| ApiFailure::unauthorized("this route needs a computer token"))?;
        let Some(secret) = token::parse(TokenKind::Computer, text) else {
            if token::parse(TokenKind::Admin, text).is_some() {
                return Err(ApiFailure::forbidden("agent routes take a computer's token, not an administrator's"));
            }
            return Err(ApiFailure::unauthorized("not a computer token"));
        };
        match app.storage.computer_token(&secret.id).await? {
            Some(row) if !row.revoked && secret.matches(&row.digest) => Ok(AgentAuth { computer_id: row.owner }),
            _ => Err(ApiFailure::unauthorized("unknown token, or the computer registered again or was deleted")),
        }
    }
}
