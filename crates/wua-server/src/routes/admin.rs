//! The administrators' routes: groups, computers, enrolment keys, approvals (signed into the
//! repository by the `approvals` role), status as WSUS reports it, and the audit log. Every
//! change is written to the audit log with the administrator token that made it.

use std::sync::Arc;

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use serde::Deserialize;
use wua_types::api::{
    ApprovalChanges, ApprovalRule, AuditEntry, Computer, ComputerDetail, CreateApprovalRule, CreateEnrolmentKey,
    CreateGroup, EnrolmentKey, Group, GroupSummary, MoveComputer, Page, ReportRecord, UpdateStatus, is_group_name,
};

use crate::app::App;
use crate::error::ApiFailure;
use crate::extract::{AdminAuth, ApiJson, ApiPath, ApiQuery};
use crate::store::{Changed, EnrolmentKeyRow, Storage};
use crate::token::{self, TokenKind};

/// `?after=&limit=` of a list.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PageQuery {
    after: Option<String>,
    limit: Option<u32>,
}

fn limit(q: &PageQuery) -> u32 {
    q.limit.unwrap_or(100).clamp(1, 1000)
}

fn group_name(name: &str) -> Result<(), ApiFailure> {
    if is_group_name(name) {
        Ok(())
    } else {
        Err(ApiFailure::bad_request(format!(
            "group name {name:?}: use letters, digits, '.', '-', '_' (at most 64, not starting with '.')"
        )))
    }
}

/// `GET /api/v1/groups`.
pub async fn groups<S: Storage>(State(app): State<Arc<App<S>>>, _: AdminAuth) -> Result<Json<Vec<Group>>, ApiFailure> {
    Ok(Json(app.storage.groups().await?))
}

/// `POST /api/v1/groups`.
pub async fn create_group<S: Storage>(
    State(app): State<Arc<App<S>>>,
    auth: AdminAuth,
    ApiJson(req): ApiJson<CreateGroup>,
) -> Result<(StatusCode, Json<Group>), ApiFailure> {
    group_name(&req.name)?;
    if req.description.len() > 1024 {
        return Err(ApiFailure::bad_request("description is longer than 1024 bytes"));
    }
    match app.storage.create_group(&req.name, &req.description).await? {
        Changed::Done => {}
        _ => return Err(ApiFailure::conflict(format!("group {} exists", req.name))),
    }
    app.storage.audit(&auth.actor, "create_group", &req.name, &req.description).await?;
    Ok((StatusCode::CREATED, Json(Group { name: req.name, description: req.description, computers: 0 })))
}

/// `GET /api/v1/groups/{name}`.
pub async fn group<S: Storage>(
    State(app): State<Arc<App<S>>>,
    _: AdminAuth,
    ApiPath(name): ApiPath<String>,
) -> Result<Json<GroupSummary>, ApiFailure> {
    app.storage.group_summary(&name).await?.map(Json).ok_or_else(|| ApiFailure::not_found(format!("no group {name}")))
}

/// `DELETE /api/v1/groups/{name}`.
pub async fn delete_group<S: Storage>(
    State(app): State<Arc<App<S>>>,
    auth: AdminAuth,
    ApiPath(name): ApiPath<String>,
) -> Result<StatusCode, ApiFailure> {
    match app.storage.delete_group(&name).await? {
        Changed::Done => {}
        Changed::NotFound => return Err(ApiFailure::not_found(format!("no group {name}"))),
        Changed::Conflict => {
            return Err(ApiFailure::conflict(format!("group {name} still has computers (or is the unassigned group)")));
        }
    }
    app.storage.audit(&auth.actor, "delete_group", &name, "").await?;
    Ok(StatusCode::NO_CONTENT)
}

/// `POST /api/v1/groups/{name}/approvals`: approve and withdraw in one signing.
pub async fn change_approvals<S: Storage>(
    State(app): State<Arc<App<S>>>,
    auth: AdminAuth,
    ApiPath(name): ApiPath<String>,
    ApiJson(changes): ApiJson<ApprovalChanges>,
) -> Result<Json<GroupSummary>, ApiFailure> {
    group_name(&name)?;
    if app.storage.group_summary(&name).await?.is_none() {
        return Err(ApiFailure::not_found(format!("no group {name}")));
    }
    if changes.approve.is_empty() && changes.unapprove.is_empty() {
        return Err(ApiFailure::bad_request("nothing to approve or withdraw"));
    }
    let published = app.repository.published()?;
    for id in changes.approve.iter().map(|a| &a.update_id).chain(&changes.unapprove) {
        if !published.ids.contains(id) {
            return Err(ApiFailure::not_found(format!("update {id} is not published")));
        }
    }
    for a in &changes.approve {
        if let Some(d) = &a.deadline {
            if d.parse::<jiff::Timestamp>().is_err() {
                return Err(ApiFailure::bad_request(format!("deadline {d:?} of {} is not RFC 3339", a.update_id)));
            }
        }
    }
    let approvals = crate::approvals::apply(&app.repository, &app.config.signing, &name, &changes).await?;
    app.storage.set_approvals(&name, approvals).await?;
    let detail = serde_json::to_string(&changes).unwrap_or_default();
    app.storage.audit(&auth.actor, "change_approvals", &name, &detail).await?;
    let summary = app.storage.group_summary(&name).await?;
    summary.map(Json).ok_or_else(|| ApiFailure::not_found(format!("no group {name}")))
}

/// `GET /api/v1/computers`.
pub async fn computers<S: Storage>(
    State(app): State<Arc<App<S>>>,
    _: AdminAuth,
    ApiQuery(q): ApiQuery<PageQuery>,
) -> Result<Json<Page<Computer>>, ApiFailure> {
    Ok(Json(app.storage.computers(q.after.clone(), limit(&q)).await?))
}

/// `GET /api/v1/computers/{id}`.
pub async fn computer<S: Storage>(
    State(app): State<Arc<App<S>>>,
    _: AdminAuth,
    ApiPath(id): ApiPath<String>,
) -> Result<Json<ComputerDetail>, ApiFailure> {
    app.storage.computer(&id).await?.map(Json).ok_or_else(|| ApiFailure::not_found(format!("no computer {id}")))
}

/// `GET /api/v1/computers/{id}/events`: its report events, newest first (kept for the
/// retention period).
pub async fn computer_events<S: Storage>(
    State(app): State<Arc<App<S>>>,
    _: AdminAuth,
    ApiPath(id): ApiPath<String>,
    ApiQuery(q): ApiQuery<PageQuery>,
) -> Result<Json<Page<ReportRecord>>, ApiFailure> {
    if q.after.as_deref().is_some_and(|a| a.parse::<u64>().is_err()) {
        return Err(ApiFailure::bad_request("after: use the `next` of the previous page (a number)"));
    }
    let page = app.storage.computer_events(&id, q.after.clone(), limit(&q)).await?;
    page.map(Json).ok_or_else(|| ApiFailure::not_found(format!("no computer {id}")))
}

/// `PUT /api/v1/computers/{id}/group`.
pub async fn move_computer<S: Storage>(
    State(app): State<Arc<App<S>>>,
    auth: AdminAuth,
    ApiPath(id): ApiPath<String>,
    ApiJson(req): ApiJson<MoveComputer>,
) -> Result<StatusCode, ApiFailure> {
    group_name(&req.group)?;
    match app.storage.move_computer(&id, &req.group).await? {
        Changed::Done => {}
        Changed::NotFound => return Err(ApiFailure::not_found(format!("no computer {id}"))),
        Changed::Conflict => return Err(ApiFailure::not_found(format!("no group {}", req.group))),
    }
    app.storage.audit(&auth.actor, "move_computer", &id, &req.group).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// `DELETE /api/v1/computers/{id}`.
pub async fn delete_computer<S: Storage>(
    State(app): State<Arc<App<S>>>,
    auth: AdminAuth,
    ApiPath(id): ApiPath<String>,
) -> Result<StatusCode, ApiFailure> {
    match app.storage.delete_computer(&id).await? {
        Changed::Done => {}
        _ => return Err(ApiFailure::not_found(format!("no computer {id}"))),
    }
    app.storage.audit(&auth.actor, "delete_computer", &id, "").await?;
    Ok(StatusCode::NO_CONTENT)
}

/// `GET /api/v1/enrolment-keys`.
pub async fn enrolment_keys<S: Storage>(
    State(app): State<Arc<App<S>>>,
    _: AdminAuth,
) -> Result<Json<Vec<EnrolmentKey>>, ApiFailure> {
    Ok(Json(app.storage.enrolment_keys().await?))
}

/// `POST /api/v1/enrolment-keys`: the key is in this answer only.
pub async fn create_enrolment_key<S: Storage>(
    State(app): State<Arc<App<S>>>,
    auth: AdminAuth,
    ApiJson(req): ApiJson<CreateEnrolmentKey>,
) -> Result<(StatusCode, Json<EnrolmentKey>), ApiFailure> {
    if let Some(g) = &req.group {
        group_name(g)?;
    }
    let expires_at = match &req.expires_at {
        None => None,
        Some(t) => Some(
            t.parse::<jiff::Timestamp>()
                .map_err(|e| ApiFailure::bad_request(format!("expires_at {t:?} is not RFC 3339: {e}")))?
                .as_second(),
        ),
    };
    if req.description.len() > 1024 {
        return Err(ApiFailure::bad_request("description is longer than 1024 bytes"));
    }
    let (text, secret) = token::generate(TokenKind::Enrolment).map_err(|_| ApiFailure::no_randomness())?;
    let key = EnrolmentKey {
        id: secret.id.clone(),
        key: None,
        description: req.description,
        group: req.group,
        allow_client_targeting: req.allow_client_targeting,
        expires_at: expires_at.map(crate::store::rfc3339),
        revoked_at: None,
        created_at: crate::store::rfc3339(crate::store::now_s()),
    };
    let row = EnrolmentKeyRow { key: key.clone(), digest: secret.digest().to_vec(), expires_at };
    if app.storage.create_enrolment_key(row).await? != Changed::Done {
        return Err(ApiFailure::not_found(format!("no group {}", key.group.as_deref().unwrap_or_default())));
    }
    app.storage.audit(&auth.actor, "create_enrolment_key", &key.id, &key.description).await?;
    Ok((StatusCode::CREATED, Json(EnrolmentKey { key: Some(text), ..key })))
}

/// `DELETE /api/v1/enrolment-keys/{id}`: revokes it.
pub async fn revoke_enrolment_key<S: Storage>(
    State(app): State<Arc<App<S>>>,
    auth: AdminAuth,
    ApiPath(id): ApiPath<String>,
) -> Result<StatusCode, ApiFailure> {
    match app.storage.revoke_enrolment_key(&id).await? {
        Changed::Done => {}
        _ => return Err(ApiFailure::not_found(format!("no unrevoked enrolment key {id}"))),
    }
    app.storage.audit(&auth.actor, "revoke_enrolment_key", &id, "").await?;
    Ok(StatusCode::NO_CONTENT)
}

/// `GET /api/v1/updates/{id}/status`.
pub async fn update_status<S: Storage>(
    State(app): State<Arc<App<S>>>,
    _: AdminAuth,
    ApiPath(id): ApiPath<String>,
) -> Result<Json<UpdateStatus>, ApiFailure> {
    if !app.repository.published()?.ids.contains(&id) {
        return Err(ApiFailure::not_found(format!("update {id} is not published")));
    }
    Ok(Json(app.storage.update_status(&id).await?))
}

/// `?before=&limit=` of the audit log.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AuditQuery {
    before: Option<i64>,
    limit: Option<u32>,
}

/// `GET /api/v1/audit`.
pub async fn audit<S: Storage>(
    State(app): State<Arc<App<S>>>,
    _: AdminAuth,
    ApiQuery(q): ApiQuery<AuditQuery>,
) -> Result<Json<Page<AuditEntry>>, ApiFailure> {
    Ok(Json(app.storage.audit_log(q.before, q.limit.unwrap_or(100).clamp(1, 1000)).await?))
}

/// `GET /api/v1/rules`.
pub async fn rules<S: Storage>(
    State(app): State<Arc<App<S>>>,
    _: AdminAuth,
) -> Result<Json<Vec<ApprovalRule>>, ApiFailure> {
    Ok(Json(app.storage.rules().await?))
}

/// `POST /api/v1/rules`.
pub async fn create_rule<S: Storage>(
    State(app): State<Arc<App<S>>>,
    auth: AdminAuth,
    ApiJson(req): ApiJson<CreateApprovalRule>,
) -> Result<(StatusCode, Json<ApprovalRule>), ApiFailure> {
    if req.name.is_empty() || req.name.len() > 256 {
        return Err(ApiFailure::bad_request("name must be 1 to 256 bytes"));
    }
    if req.groups.is_empty() {
        return Err(ApiFailure::bad_request("a rule approves for at least one group"));
    }
    for g in &req.groups {
        group_name(g)?;
    }
    if req.classifications.len() + req.severities.len() + req.groups.len() > 256 {
        return Err(ApiFailure::bad_request("at most 256 classifications, severities and groups"));
    }
    let rule = match app.storage.create_rule(req).await? {
        Ok(rule) => rule,
        Err(group) => return Err(ApiFailure::not_found(format!("no group {group}"))),
    };
    let detail = serde_json::to_string(&rule).unwrap_or_default();
    app.storage.audit(&auth.actor, "create_rule", &rule.id.to_string(), &detail).await?;
    Ok((StatusCode::CREATED, Json(rule)))
}

/// `DELETE /api/v1/rules/{id}`.
pub async fn delete_rule<S: Storage>(
    State(app): State<Arc<App<S>>>,
    auth: AdminAuth,
    ApiPath(id): ApiPath<String>,
) -> Result<StatusCode, ApiFailure> {
    let n: i64 = id.parse().map_err(|_| ApiFailure::not_found(format!("no rule {id}")))?;
    if app.storage.delete_rule(n).await? != Changed::Done {
        return Err(ApiFailure::not_found(format!("no rule {id}")));
    }
    app.storage.audit(&auth.actor, "delete_rule", &id, "").await?;
    Ok(StatusCode::NO_CONTENT)
}
