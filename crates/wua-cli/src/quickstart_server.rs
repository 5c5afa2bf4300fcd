//! The quickstart's update server: `wua server` over the quickstart's repository (data in
//! `DIR/server`), run in this process on 127.0.0.1, with an administrator token made for the
//! run and revoked at its end. The quickstart speaks to it over HTTP as an administrator would
//! (groups, an enrolment key, approvals, status) and registers the agent with it.

use std::path::Path;

use serde::Serialize;
use serde::de::DeserializeOwned;
use wua_agent::wua_types::api::{
    Approval, ApprovalAction, ApprovalChanges, ComputerDetail, CreateEnrolmentKey, CreateGroup, EnrolmentKey,
};
use wua_agent::wua_types::{HResult, WuError};
use wua_fetch::{ApiMethod, ApiRequest, FetchLimits, Fetcher};
use wua_server::store::{SqliteStorage, Storage};
use wua_server::token::{self, TokenKind};
use wua_server::{Server, ServerConfig};

use crate::CliResult;

/// The group the quickstart's computer joins.
pub(crate) const GROUP: &str = "quickstart";

/// A running server and the run's administrator token.
pub(crate) struct QuickServer {
    /// `http://127.0.0.1:PORT`.
    pub(crate) url: String,
    admin: String,
    admin_id: String,
    storage: SqliteStorage,
    fetcher: Fetcher,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    task: Option<tokio::task::JoinHandle<Result<(), wua_server::ServerError>>>,
}

fn server_error(e: wua_server::ServerError) -> WuError {
    WuError::from(e)
}

fn fetch_error(e: wua_fetch::FetchError) -> WuError {
    WuError::new(e.hresult(), e.to_string())
}

impl QuickServer {
    /// Sets up `dir/server` for `repo` the first time, then runs the server on 127.0.0.1:`port`
    /// (an earlier run's, so that the agent's service stays valid), or on a free port when
    /// there is none or it is taken.
    pub(crate) fn start(
        runtime: &tokio::runtime::Runtime,
        dir: &Path,
        repo: &Path,
        port: Option<u16>,
    ) -> CliResult<QuickServer> {
        let data = dir.join("server");
        let mut config = if data.join(wua_server::config::CONFIG_FILE).exists() {
            ServerConfig::load(&data).map_err(server_error)?
        } else {
            runtime.block_on(wua_server::init(&data, repo)).map_err(server_error)?
        };
        let at = |port: u16| std::net::SocketAddr::from(([127, 0, 0, 1], port));
        let bound = match port {
            Some(port) => {
                config.listen = at(port);
                runtime.block_on(Server::bind(&data, config.clone())).ok()
            }
            None => None,
        };
        let server = match bound {
            Some(server) => server,
            None => {
                config.listen = at(0);
                runtime.block_on(Server::bind(&data, config)).map_err(server_error)?
            }
        };
        let addr = server.local_addr().map_err(server_error)?;
        let (tx, rx) = tokio::sync::oneshot::channel::<()>();
        let task = runtime.spawn(server.run(async move {
            let _ = rx.await;
        }));
        let storage = SqliteStorage::open(&data).map_err(server_error)?;
        let (admin, secret) = token::generate(TokenKind::Admin)
            .map_err(|_| WuError::new(HResult::WUA_E_SERVER_UNAVAILABLE, "no random bytes for a token"))?;
        runtime
            .block_on(storage.create_admin_token(&secret.id, "wua quickstart", &secret.digest()))
            .map_err(server_error)?;
        let fetcher = Fetcher::new(FetchLimits::default(), &[]).map_err(fetch_error)?;
        Ok(QuickServer {
            url: format!("http://{addr}"),
            admin,
            admin_id: secret.id,
            storage,
            fetcher,
            stop: Some(tx),
            task: Some(task),
        })
    }

    /// An administrator's call; the answer parsed as `T`. `allow` lists statuses besides 2xx
    /// that are fine (409 for a group that exists).
    fn call<B: Serialize, T: DeserializeOwned>(
        &self,
        runtime: &tokio::runtime::Runtime,
        method: ApiMethod,
        path: &str,
        body: Option<&B>,
        allow: &[u16],
    ) -> CliResult<Option<T>> {
        let bad = |what: String| WuError::new(HResult::WUA_E_SERVER_PROTOCOL, format!("{path}: {what}"));
        let url = url::Url::parse(&format!("{}{path}", self.url)).map_err(|e| bad(e.to_string()))?;
        let json = body.map(serde_json::to_vec).transpose().map_err(|e| bad(e.to_string()))?;
        let request = ApiRequest { method, url: &url, bearer: Some(&self.admin), json: json.as_deref() };
        let answer = runtime.block_on(self.fetcher.send(&request, 16 << 20)).map_err(fetch_error)?;
        if allow.contains(&answer.status) {
            return Ok(None);
        }
        if !answer.is_success() {
            return Err(bad(format!("HTTP {}: {}", answer.status, String::from_utf8_lossy(&answer.body))));
        }
        serde_json::from_slice(&answer.body).map(Some).map_err(|e| bad(e.to_string()))
    }

    /// The quickstart's group and an enrolment key into it: (the key, its id).
    pub(crate) fn enrolment_key(&self, runtime: &tokio::runtime::Runtime) -> CliResult<(String, String)> {
        let group = CreateGroup { name: GROUP.into(), description: "wua quickstart's computer".into() };
        self.call::<_, serde_json::Value>(runtime, ApiMethod::Post, "/api/v1/groups", Some(&group), &[409])?;
        let create = CreateEnrolmentKey {
            description: "wua quickstart".into(),
            group: Some(GROUP.into()),
            allow_client_targeting: false,
            expires_at: None,
        };
        let key: Option<EnrolmentKey> =
            self.call(runtime, ApiMethod::Post, "/api/v1/enrolment-keys", Some(&create), &[])?;
        match key {
            Some(EnrolmentKey { id, key: Some(text), .. }) => Ok((text, id)),
            _ => Err(WuError::new(HResult::WUA_E_SERVER_PROTOCOL, "no enrolment key in the answer")),
        }
    }

    /// Revokes enrolment key `id` (the agent registered: the key has done its job).
    pub(crate) fn revoke_key(&self, runtime: &tokio::runtime::Runtime, id: &str) -> CliResult<()> {
        let path = format!("/api/v1/enrolment-keys/{id}");
        self.call::<(), serde_json::Value>(runtime, ApiMethod::Delete, &path, None, &[204]).map(drop)
    }

    /// Approves `update_ids` for installation by the quickstart's group.
    pub(crate) fn approve(&self, runtime: &tokio::runtime::Runtime, update_ids: &[String]) -> CliResult<()> {
        let changes = ApprovalChanges {
            approve: update_ids
                .iter()
                .map(|id| Approval { update_id: id.clone(), action: ApprovalAction::Install, deadline: None })
                .collect(),
            unapprove: vec![],
        };
        let path = format!("/api/v1/groups/{GROUP}/approvals");
        self.call::<_, serde_json::Value>(runtime, ApiMethod::Post, &path, Some(&changes), &[]).map(drop)
    }

    /// The server's status report for computer `id`: the computer and its updates' states.
    pub(crate) fn computer(&self, runtime: &tokio::runtime::Runtime, id: &str) -> CliResult<ComputerDetail> {
        // The id comes from the agent's datastore: it must stay one path segment.
        if id.is_empty() || !id.chars().all(|c| c.is_ascii_alphanumeric() || c == '-') {
            return Err(WuError::new(HResult::WUA_E_SERVER_PROTOCOL, format!("computer id {id:?}")));
        }
        let path = format!("/api/v1/computers/{id}");
        let detail: Option<ComputerDetail> = self.call::<(), _>(runtime, ApiMethod::Get, &path, None, &[])?;
        detail.ok_or_else(|| WuError::new(HResult::WUA_E_SERVER_PROTOCOL, "no computer in the answer"))
    }

    /// Revokes the run's administrator token and stops the server (requests in flight finish).
    pub(crate) fn stop(mut self, runtime: &tokio::runtime::Runtime) -> CliResult<()> {
        runtime.block_on(self.storage.revoke_admin_token(&self.admin_id)).map_err(server_error)?;
        if let Some(tx) = self.stop.take() {
            let _ = tx.send(());
        }
        if let Some(task) = self.task.take() {
            if let Ok(Err(e)) = runtime.block_on(task) {
                return Err(server_error(e));
            }
        }
        Ok(())
    }
}
