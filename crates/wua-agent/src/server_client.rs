//! The agent's side of the managed server's API (`/api/v1/agent/...`, types from
//! `wua_types::api`): register with an enrolment key, read the computer's configuration, send a
//! batch of reports. Requests go through `wua-fetch` (its client, the service's CA bundle, its
//! deadline, retries with jittered backoff for transport failures and 408/429/5xx); an error
//! answer is read as the API's `ApiError`, so the server's own code reaches the caller.
//!
//! Secrets: the client is made from a [`ServerUrl`], which refused plain HTTP to anything but
//! loopback before any connection; tokens and enrolment keys are never logged.

use std::path::PathBuf;
use std::time::Duration;

use serde::de::DeserializeOwned;
use wua_fetch::{ApiMethod, ApiRequest, FetchLimits, Fetcher};
use wua_types::api::{API_PREFIX, AgentConfig, ApiError, RegisterRequest, RegisterResponse, ReportAck, ReportBatch};

use crate::server_error::ServerError;
use crate::server_url::ServerUrl;

/// The longest answer the agent reads from the API (answers are small JSON documents).
const MAX_ANSWER: u64 = 1 << 20;

/// The bounds of one exchange with the server (a registration, a check-in, a flush of the
/// outbox): the fetcher's defaults, but five minutes in all rather than half an hour, so a
/// scheduled run facing a dead server moves on and leaves its reports for the next run.
pub(crate) fn server_limits() -> FetchLimits {
    FetchLimits { total_deadline: Duration::from_secs(300), ..FetchLimits::default() }
}

/// A client of one managed server.
#[derive(Clone, Debug)]
pub(crate) struct ServerClient {
    url: ServerUrl,
    fetcher: Fetcher,
}

impl ServerClient {
    /// A client of `url` trusting the platform's roots and `ca_bundle`; its deadline starts now.
    pub(crate) fn new(url: &ServerUrl, ca_bundle: Option<PathBuf>, limits: FetchLimits) -> Result<Self, ServerError> {
        let fetcher = Fetcher::new(limits, &ca_bundle.into_iter().collect::<Vec<_>>())?;
        Ok(ServerClient { url: url.clone(), fetcher })
    }

    /// `POST /api/v1/agent/register`.
    pub(crate) async fn register(&self, request: &RegisterRequest) -> Result<RegisterResponse, ServerError> {
        let body = json(request)?;
        let answer: RegisterResponse = self.call(ApiMethod::Post, "/agent/register", None, Some(&body)).await?;
        let url = self.url.route(&format!("{API_PREFIX}/agent/register"))?;
        if answer.computer_id.is_empty() || !is_header_safe(&answer.token) {
            return Err(ServerError::Protocol {
                url: url.to_string(),
                detail: "the registration has no computer id, or a token that cannot be sent back".into(),
            });
        }
        check_config(&url, &answer.config)?;
        Ok(answer)
    }

    /// `GET /api/v1/agent/config`.
    pub(crate) async fn config(&self, token: &str) -> Result<AgentConfig, ServerError> {
        let config: AgentConfig = self.call(ApiMethod::Get, "/agent/config", Some(token), None).await?;
        check_config(&self.url.route(&format!("{API_PREFIX}/agent/config"))?, &config)?;
        Ok(config)
    }

    /// `POST /api/v1/agent/reports`.
    pub(crate) async fn report(&self, token: &str, batch: &ReportBatch) -> Result<ReportAck, ServerError> {
        let body = json(batch)?;
        self.call(ApiMethod::Post, "/agent/reports", Some(token), Some(&body)).await
    }

    /// One call: the answer parsed as `T` on success, the server's `ApiError` otherwise.
    async fn call<T: DeserializeOwned>(
        &self,
        method: ApiMethod,
        route: &str,
        bearer: Option<&str>,
        body: Option<&[u8]>,
    ) -> Result<T, ServerError> {
        let url = self.url.route(&format!("{API_PREFIX}{route}"))?;
        let request = ApiRequest { method, url: &url, bearer, json: body };
        let answer = self.fetcher.send(&request, MAX_ANSWER).await?;
        if !answer.is_success() {
            return Err(match serde_json::from_slice::<ApiError>(&answer.body) {
                Ok(api) => ServerError::Api { url: url.to_string(), status: answer.status, api },
                Err(_) => ServerError::Status { url: url.to_string(), status: answer.status },
            });
        }
        serde_json::from_slice(&answer.body)
            .map_err(|e| ServerError::Protocol { url: url.to_string(), detail: e.to_string() })
    }
}

fn json<T: serde::Serialize>(value: &T) -> Result<Vec<u8>, ServerError> {
    serde_json::to_vec(value).map_err(|e| ServerError::Protocol { url: String::new(), detail: e.to_string() })
}

/// A configuration the agent can act on: a group name an approvals target can carry.
fn check_config(url: &url::Url, config: &AgentConfig) -> Result<(), ServerError> {
    if !wua_types::api::is_group_name(&config.group) {
        return Err(ServerError::Protocol {
            url: url.to_string(),
            detail: format!("group {:?} is not a valid group name", config.group),
        });
    }
    Ok(())
}

/// A token the agent can put in an `Authorization` header and a file: printable ASCII, no
/// spaces.
fn is_header_safe(token: &str) -> bool {
    !token.is_empty() && token.len() <= 4096 && token.bytes().all(|b| b.is_ascii_graphic())
}
