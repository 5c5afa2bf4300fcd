//! The application: its state ([`App`]) and its router ([`router`]): the API under
//! `/api/v1`, the repository's public tree under `/repo/`, `/healthz` and `/metrics`, with a
//! body limit and a time-out on every route and the request metrics around them.

use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::Router;
use axum::extract::{DefaultBodyLimit, MatchedPath, Request, State};
use axum::http::{Method, StatusCode};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post, put};
use wua_types::HResult;

use crate::config::ServerConfig;
use crate::error::ApiFailure;
use crate::metrics::Metrics;
use crate::repository::Repository;
use crate::routes::{admin, agent, ops};
use crate::store::Storage;

/// What every route shares.
#[derive(Debug)]
pub struct App<S> {
    /// The database.
    pub storage: S,
    /// The configuration.
    pub config: ServerConfig,
    /// The managed repository.
    pub repository: Repository,
    /// Request and report counters.
    pub metrics: Metrics,
}

/// The server's router over `app`.
pub fn router<S: Storage>(app: Arc<App<S>>) -> Router {
    let limits = &app.config.limits;
    let reports = Router::new()
        .route("/api/v1/agent/reports", post(agent::reports::<S>))
        .layer(DefaultBodyLimit::max(limits.report_body_bytes));
    let api = Router::new()
        .route("/api/v1/agent/register", post(agent::register::<S>))
        .route("/api/v1/agent/config", get(agent::config::<S>))
        .route("/api/v1/groups", get(admin::groups::<S>).post(admin::create_group::<S>))
        .route("/api/v1/groups/{name}", get(admin::group::<S>).delete(admin::delete_group::<S>))
        .route("/api/v1/groups/{name}/approvals", post(admin::change_approvals::<S>))
        .route("/api/v1/computers", get(admin::computers::<S>))
        .route("/api/v1/computers/{id}", get(admin::computer::<S>).delete(admin::delete_computer::<S>))
        .route("/api/v1/computers/{id}/group", put(admin::move_computer::<S>))
        .route("/api/v1/computers/{id}/events", get(admin::computer_events::<S>))
        .route("/api/v1/enrolment-keys", get(admin::enrolment_keys::<S>).post(admin::create_enrolment_key::<S>))
        .route("/api/v1/enrolment-keys/{id}", axum::routing::delete(admin::revoke_enrolment_key::<S>))
        .route("/api/v1/updates/{id}/status", get(admin::update_status::<S>))
        .route("/api/v1/rules", get(admin::rules::<S>).post(admin::create_rule::<S>))
        .route("/api/v1/rules/{id}", axum::routing::delete(admin::delete_rule::<S>))
        .route("/api/v1/audit", get(admin::audit::<S>))
        .layer(DefaultBodyLimit::max(limits.body_bytes))
        .merge(reports)
        .route("/healthz", get(ops::healthz::<S>))
        .route("/metrics", get(ops::metrics::<S>))
        // After every route: it applies to the routes registered before it.
        .method_not_allowed_fallback(method_not_allowed)
        .fallback(not_found)
        .with_state(app.clone());
    let timeout = Duration::from_secs(app.config.limits.request_timeout_seconds);
    Router::new()
        .nest_service("/repo", wua_trust::static_repo::router(app.repository.public()))
        .merge(api)
        .layer(middleware::from_fn_with_state(timeout, time_out))
        .layer(middleware::from_fn_with_state(app, measure::<S>))
}

async fn not_found() -> ApiFailure {
    ApiFailure::not_found("no such route")
}

/// 405 in the API's shape (axum keeps the `Allow` header).
async fn method_not_allowed(method: Method) -> ApiFailure {
    ApiFailure::new(
        StatusCode::METHOD_NOT_ALLOWED,
        HResult::WUA_E_SERVER_BAD_REQUEST,
        format!("this route does not take {method}"),
    )
}

/// Answers 408 when a request takes longer than the configured time-out.
async fn time_out(State(limit): State<Duration>, request: Request, next: Next) -> Response {
    match tokio::time::timeout(limit, next.run(request)).await {
        Ok(response) => response,
        Err(_) => ApiFailure::new(
            StatusCode::REQUEST_TIMEOUT,
            HResult::WUA_E_SERVER_TIMEOUT,
            format!("the request took longer than {} s", limit.as_secs()),
        )
        .into_response(),
    }
}

/// Counts requests and their latency by route (the route's pattern, never the raw path).
async fn measure<S: Storage>(State(app): State<Arc<App<S>>>, request: Request, next: Next) -> Response {
    let route = match request.extensions().get::<MatchedPath>() {
        Some(p) => p.as_str().to_owned(),
        None if request.uri().path().starts_with("/repo/") => "/repo/".to_owned(),
        None => "other".to_owned(),
    };
    let method = request.method().to_string();
    let start = Instant::now();
    let response = next.run(request).await;
    let (status, elapsed) = (response.status().as_u16(), start.elapsed());
    app.metrics.record(&method, &route, status, elapsed);
    // The route's pattern, never the path or a header: no id or token reaches the log.
    tracing::debug!(%method, %route, status, micros = elapsed.as_micros() as u64, "request");
    response
}
