//! `/healthz` and `/metrics`.

use std::sync::Arc;

use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};

use crate::app::App;
use crate::store::{Storage, now_s};

/// `GET /healthz`: 200 while the database answers and the timestamp has more than a quarter
/// of its lifetime left; 503 otherwise (the re-signing timer is not keeping up).
pub async fn healthz<S: Storage>(State(app): State<Arc<App<S>>>) -> Response {
    if let Err(e) = app.storage.groups().await {
        return (StatusCode::SERVICE_UNAVAILABLE, format!("database: {e}\n")).into_response();
    }
    let lifetime = app.config.signing.timestamp_lifetime_seconds as i64;
    match app.repository.timestamp_expires() {
        Ok(expires) if expires - now_s() > lifetime / 4 => (StatusCode::OK, "ok\n").into_response(),
        Ok(expires) => (
            StatusCode::SERVICE_UNAVAILABLE,
            format!(
                "the repository's timestamp expires in {} s (less than a quarter of {lifetime} s)\n",
                expires - now_s()
            ),
        )
            .into_response(),
        Err(e) => (StatusCode::SERVICE_UNAVAILABLE, format!("repository: {e}\n")).into_response(),
    }
}

/// `GET /metrics`.
pub async fn metrics<S: Storage>(State(app): State<Arc<App<S>>>) -> Response {
    let fleet = match app.storage.fleet_counts().await {
        Ok(f) => f,
        Err(e) => return (StatusCode::SERVICE_UNAVAILABLE, format!("database: {e}\n")).into_response(),
    };
    let expires_in = app.repository.timestamp_expires().ok().map(|t| t - now_s());
    ([(header::CONTENT_TYPE, "text/plain; version=0.0.4")], app.metrics.render(&fleet, expires_in)).into_response()
}
