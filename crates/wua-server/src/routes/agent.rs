//! The agents' routes: register (an enrolment key buys a computer id and a token), config
//! (check-in), reports (batches of events, each applied once by its key). A computer's token
//! reaches only these routes and only its own computer: no route takes a computer id.

use std::sync::Arc;
use std::sync::atomic::Ordering;

use axum::Json;
use axum::extract::State;
use wua_types::HResult;
use wua_types::api::{AgentConfig, RegisterRequest, RegisterResponse, ReportAck, ReportBatch, ReportBody};

use crate::app::App;
use crate::error::ApiFailure;
use crate::extract::{AgentAuth, ApiJson};
use crate::store::{Registration, Storage, now_s};
use crate::token::{self, TokenKind};

fn enrolment_refused() -> ApiFailure {
    ApiFailure::new(
        axum::http::StatusCode::UNAUTHORIZED,
        HResult::WUA_E_SERVER_ENROLMENT,
        "the enrolment key is unknown, expired or revoked",
    )
}

/// `POST /api/v1/agent/register`.
pub async fn register<S: Storage>(
    State(app): State<Arc<App<S>>>,
    ApiJson(req): ApiJson<RegisterRequest>,
) -> Result<Json<RegisterResponse>, ApiFailure> {
    let machine_id = req.machine_id.trim();
    if machine_id.is_empty() || machine_id.len() > 128 || !machine_id.bytes().all(|b| b.is_ascii_graphic()) {
        return Err(ApiFailure::bad_request("machine_id must be 1 to 128 printable ASCII characters"));
    }
    if req.hostname.len() > 255 || req.agent_version.len() > 64 {
        return Err(ApiFailure::bad_request("hostname (255) or agent_version (64) is too long"));
    }
    let secret = token::parse(TokenKind::Enrolment, &req.enrolment_key).ok_or_else(enrolment_refused)?;
    let key = match app.storage.enrolment_key(&secret.id).await? {
        Some(k) if secret.matches(&k.digest) => k,
        _ => return Err(enrolment_refused()),
    };
    if key.key.revoked_at.is_some() || key.expires_at.is_some_and(|t| t <= now_s()) {
        return Err(enrolment_refused());
    }
    let requested = req.requested_group.filter(|g| key.key.allow_client_targeting && wua_types::api::is_group_name(g));
    let group = requested.or(key.key.group.clone()).unwrap_or_else(|| wua_types::api::UNASSIGNED_GROUP.to_owned());
    let (text, token) = token::generate(TokenKind::Computer).map_err(|_| ApiFailure::no_randomness())?;
    let (computer_id, group) = app
        .storage
        .register(Registration {
            machine_id: machine_id.to_owned(),
            hostname: req.hostname,
            group,
            token_id: token.id.clone(),
            token_digest: token.digest().to_vec(),
        })
        .await?;
    tracing::info!(computer = %computer_id, %group, key = %secret.id, "computer registered");
    Ok(Json(RegisterResponse {
        config: AgentConfig {
            computer_id: computer_id.clone(),
            group,
            checkin_interval_seconds: app.config.checkin_interval_seconds,
        },
        computer_id,
        token: text,
    }))
}

/// `GET /api/v1/agent/config`.
pub async fn config<S: Storage>(
    State(app): State<Arc<App<S>>>,
    auth: AgentAuth,
) -> Result<Json<AgentConfig>, ApiFailure> {
    let group = app
        .storage
        .checkin(&auth.computer_id)
        .await?
        .ok_or_else(|| ApiFailure::unauthorized("the computer was deleted; register again"))?;
    Ok(Json(AgentConfig {
        computer_id: auth.computer_id,
        group,
        checkin_interval_seconds: app.config.checkin_interval_seconds,
    }))
}

/// `POST /api/v1/agent/reports`.
pub async fn reports<S: Storage>(
    State(app): State<Arc<App<S>>>,
    auth: AgentAuth,
    ApiJson(batch): ApiJson<ReportBatch>,
) -> Result<Json<ReportAck>, ApiFailure> {
    if batch.events.len() > app.config.limits.batch_events {
        return Err(ApiFailure::bad_request(format!(
            "a batch holds at most {} events; this one has {}",
            app.config.limits.batch_events,
            batch.events.len()
        )));
    }
    for (i, e) in batch.events.iter().enumerate() {
        if e.key.is_empty() || e.key.len() > 64 {
            return Err(ApiFailure::bad_request(format!("event {i}: key must be 1 to 64 characters")));
        }
        if e.at.parse::<jiff::Timestamp>().is_err() {
            return Err(ApiFailure::bad_request(format!("event {i}: at {:?} is not RFC 3339", e.at)));
        }
        let ids: Box<dyn Iterator<Item = &String>> = match &e.event {
            ReportBody::Scan { needed, installed } => Box::new(needed.iter().chain(installed)),
            ReportBody::Outcome { update_id, .. } => Box::new(std::iter::once(update_id)),
            ReportBody::Reboot { .. } => Box::new(std::iter::empty()),
        };
        for id in ids {
            if !wua_types::is_uuid(id) {
                return Err(ApiFailure::bad_request(format!("event {i}: {id:?} is not an update id")));
            }
        }
    }
    let ack = app
        .storage
        .ingest(&auth.computer_id, batch.events)
        .await?
        .ok_or_else(|| ApiFailure::unauthorized("the computer was deleted; register again"))?;
    app.metrics.events_accepted.fetch_add(u64::from(ack.accepted), Ordering::Relaxed);
    app.metrics.events_duplicate.fetch_add(u64::from(ack.duplicates), Ordering::Relaxed);
    Ok(Json(ack))
}
