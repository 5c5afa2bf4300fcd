//! A stand-in for `wua server`'s agent routes, for the agent's tests: register, config,
//! reports (JSON, `wua_types::api`), and a signed repository at `/repo/` served by the
//! repository's static handler. It keeps what it was sent so a test can look, and can be told
//! to misbehave:
//!
//! - [`FakeState::fail_after_store`]: answer the next report batches 500 after storing them
//!   (a server that committed and then failed to answer: a resend must not double anything);
//! - [`FakeState::reject_reports`]: answer report batches with this status without storing;
//! - [`FakeState::revoke_tokens`]: every token stops working (401).
//!
//! Like the real server it dedupes events by (computer, key), keeps a computer's id across
//! registrations with the same machine id, and issues a new token each time.
//!
//! It runs on `127.0.0.1` from a runtime on a thread of its own (tests whose agent calls are
//! synchronous), stops when dropped, and can be started again on the same port with the same
//! state ([`FakeServer::restart`]) to play a server that was down for a while.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use wua_types::HResult;
use wua_types::api::{
    AgentConfig, ApiError, RegisterRequest, RegisterResponse, ReportAck, ReportBatch, ReportEvent, UNASSIGNED_GROUP,
};

/// A computer the fake server knows.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FakeComputer {
    /// Its id.
    pub id: String,
    /// The machine id it registered with.
    pub machine_id: String,
    /// Its current token.
    pub token: String,
    /// Its group.
    pub group: String,
}

/// What the fake server knows and how it behaves; change it while it runs.
#[derive(Debug)]
pub struct FakeState {
    /// The one enrolment key it accepts.
    pub enrolment_key: String,
    /// The group computers join when they ask for none.
    pub default_group: String,
    /// The interval it hands out.
    pub checkin_interval_seconds: u64,
    /// The computers registered.
    pub computers: Vec<FakeComputer>,
    /// Every registration request, in order.
    pub registrations: Vec<RegisterRequest>,
    /// Every check-in, by computer id.
    pub checkins: Vec<String>,
    /// The events stored (once per computer and key), in order.
    pub events: Vec<(String, ReportEvent)>,
    /// The sizes of the report batches received, failing ones included.
    pub batches: Vec<usize>,
    /// Events received again under a stored key, in all.
    pub duplicates: u64,
    /// Answer this many next report batches 500 after storing them.
    pub fail_after_store: u32,
    /// Answer report batches with this status, storing nothing.
    pub reject_reports: Option<u16>,
    /// Refuse every token.
    pub revoke_tokens: bool,
    /// Requests that carried an `Authorization` header, by path, with the header's value.
    pub authorizations: Vec<(String, String)>,
}

impl FakeState {
    fn new(enrolment_key: &str) -> FakeState {
        FakeState {
            enrolment_key: enrolment_key.to_owned(),
            default_group: UNASSIGNED_GROUP.to_owned(),
            checkin_interval_seconds: 3600,
            computers: Vec::new(),
            registrations: Vec::new(),
            checkins: Vec::new(),
            events: Vec::new(),
            batches: Vec::new(),
            duplicates: 0,
            fail_after_store: 0,
            reject_reports: None,
            revoke_tokens: false,
            authorizations: Vec::new(),
        }
    }
}

type Shared = Arc<Mutex<FakeState>>;

/// A running fake server; it stops when dropped.
#[derive(Debug)]
pub struct FakeServer {
    /// Its base URL, `http://127.0.0.1:PORT` (no trailing slash).
    pub url: String,
    /// The address it listens on.
    pub addr: SocketAddr,
    state: Shared,
    repo: Option<PathBuf>,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl FakeServer {
    /// Starts a fake server accepting `enrolment_key`, serving the served tree `repo` (a
    /// repository's `repository/`) at `/repo/` when given.
    pub fn start(enrolment_key: &str, repo: Option<PathBuf>) -> FakeServer {
        let state = Arc::new(Mutex::new(FakeState::new(enrolment_key)));
        FakeServer::serve("127.0.0.1:0".parse().expect("address"), state, repo)
    }

    /// Stops this server and starts another on the same port with the same state (a server
    /// that was down and came back).
    pub fn restart(mut self) -> FakeServer {
        let (addr, state, repo) = (self.addr, self.state.clone(), self.repo.clone());
        self.shut_down();
        FakeServer::serve(addr, state, repo)
    }

    /// Stops it and keeps nothing listening on its port; [`FakeServer::restart`] brings it back.
    pub fn stop(mut self) -> StoppedServer {
        self.shut_down();
        StoppedServer { addr: self.addr, state: self.state.clone(), repo: self.repo.clone() }
    }

    /// Its state, to look at or change.
    pub fn state(&self) -> MutexGuard<'_, FakeState> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn serve(addr: SocketAddr, state: Shared, repo: Option<PathBuf>) -> FakeServer {
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let (tx, rx) = std::sync::mpsc::channel();
        let app = router(state.clone(), repo.clone());
        let thread = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("runtime");
            runtime.block_on(async move {
                // The port of a server just stopped may linger a moment.
                let mut tries = 0;
                let listener = loop {
                    match tokio::net::TcpListener::bind(addr).await {
                        Ok(l) => break l,
                        Err(_) if tries < 100 => {
                            tries += 1;
                            tokio::time::sleep(std::time::Duration::from_millis(20)).await;
                        }
                        Err(e) => panic!("bind {addr}: {e}"),
                    }
                };
                tx.send(listener.local_addr().expect("address")).expect("report the address");
                let _ = axum::serve(listener, app)
                    .with_graceful_shutdown(async move {
                        let _ = stopped.await;
                    })
                    .await;
            });
        });
        let addr = rx.recv().expect("the server started");
        FakeServer { url: format!("http://{addr}"), addr, state, repo, stop: Some(stop), thread: Some(thread) }
    }

    fn shut_down(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

impl Drop for FakeServer {
    fn drop(&mut self) {
        self.shut_down();
    }
}

/// A fake server that is down: nothing listens on its port.
#[derive(Debug)]
pub struct StoppedServer {
    addr: SocketAddr,
    state: Shared,
    repo: Option<PathBuf>,
}

impl StoppedServer {
    /// Starts it again on the same port with the same state.
    pub fn restart(self) -> FakeServer {
        FakeServer::serve(self.addr, self.state, self.repo)
    }

    /// Its state.
    pub fn state(&self) -> MutexGuard<'_, FakeState> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

fn router(state: Shared, repo: Option<PathBuf>) -> Router {
    let api = Router::new()
        .route("/api/v1/agent/register", post(register))
        .route("/api/v1/agent/config", get(config))
        .route("/api/v1/agent/reports", post(reports))
        .with_state(state);
    match repo {
        Some(tree) => api.nest_service("/repo", wua_trust::static_repo::router(tree)),
        None => api,
    }
}

fn lock(state: &Shared) -> MutexGuard<'_, FakeState> {
    state.lock().unwrap_or_else(PoisonError::into_inner)
}

fn json<T: serde::Serialize>(status: StatusCode, body: &T) -> Response {
    let text = serde_json::to_vec(body).expect("serialize");
    (status, [(header::CONTENT_TYPE, "application/json")], text).into_response()
}

fn error(status: StatusCode, code: HResult, message: &str) -> Response {
    json(status, &ApiError::new(code, message))
}

/// The computer a request's token names, recording the header.
fn authorized(state: &mut FakeState, path: &str, headers: &HeaderMap) -> Option<FakeComputer> {
    let value = headers.get(header::AUTHORIZATION)?.to_str().ok()?.to_owned();
    state.authorizations.push((path.to_owned(), value.clone()));
    if state.revoke_tokens {
        return None;
    }
    let token = value.strip_prefix("Bearer ")?;
    state.computers.iter().find(|c| c.token == token).cloned()
}

async fn register(State(state): State<Shared>, body: Bytes) -> Response {
    let Ok(request) = serde_json::from_slice::<RegisterRequest>(&body) else {
        return error(StatusCode::BAD_REQUEST, HResult::WUA_E_SERVER_BAD_REQUEST, "not a registration");
    };
    let mut s = lock(&state);
    s.registrations.push(request.clone());
    if request.enrolment_key != s.enrolment_key {
        return error(StatusCode::UNAUTHORIZED, HResult::WUA_E_SERVER_ENROLMENT, "unknown enrolment key");
    }
    // Unguessable enough that finding it in a file means it was written there.
    let seed = format!("{}-{:?}", s.registrations.len(), std::time::SystemTime::now());
    let token = format!("wua_c_{}", wua_fs::sha256_hex(seed.as_bytes()));
    let group = request.requested_group.clone().unwrap_or_else(|| s.default_group.clone());
    let computer = match s.computers.iter_mut().find(|c| c.machine_id == request.machine_id) {
        Some(c) => {
            c.token = token;
            c.group = group;
            c.clone()
        }
        None => {
            let c = FakeComputer {
                id: uuid_like(1000 + s.computers.len()),
                machine_id: request.machine_id.clone(),
                token,
                group,
            };
            s.computers.push(c.clone());
            c
        }
    };
    let config = AgentConfig {
        computer_id: computer.id.clone(),
        group: computer.group.clone(),
        checkin_interval_seconds: s.checkin_interval_seconds,
    };
    json(StatusCode::OK, &RegisterResponse { computer_id: computer.id, token: computer.token, config })
}

async fn config(State(state): State<Shared>, headers: HeaderMap) -> Response {
    let mut s = lock(&state);
    let Some(computer) = authorized(&mut s, "/api/v1/agent/config", &headers) else {
        return error(StatusCode::UNAUTHORIZED, HResult::WUA_E_SERVER_UNAUTHORIZED, "unknown token");
    };
    s.checkins.push(computer.id.clone());
    let config = AgentConfig {
        computer_id: computer.id,
        group: computer.group,
        checkin_interval_seconds: s.checkin_interval_seconds,
    };
    json(StatusCode::OK, &config)
}

async fn reports(State(state): State<Shared>, headers: HeaderMap, body: Bytes) -> Response {
    let mut s = lock(&state);
    let Some(computer) = authorized(&mut s, "/api/v1/agent/reports", &headers) else {
        return error(StatusCode::UNAUTHORIZED, HResult::WUA_E_SERVER_UNAUTHORIZED, "unknown token");
    };
    let Ok(batch) = serde_json::from_slice::<ReportBatch>(&body) else {
        return error(StatusCode::BAD_REQUEST, HResult::WUA_E_SERVER_BAD_REQUEST, "not a report batch");
    };
    s.batches.push(batch.events.len());
    if let Some(status) = s.reject_reports {
        let status = StatusCode::from_u16(status).unwrap_or(StatusCode::BAD_REQUEST);
        return error(status, HResult::WUA_E_SERVER_BAD_REQUEST, "reports refused");
    }
    let mut ack = ReportAck { accepted: 0, duplicates: 0 };
    for event in batch.events {
        if s.events.iter().any(|(c, e)| *c == computer.id && e.key == event.key) {
            ack.duplicates += 1;
            s.duplicates += 1;
        } else {
            ack.accepted += 1;
            s.events.push((computer.id.clone(), event));
        }
    }
    if s.fail_after_store > 0 {
        s.fail_after_store -= 1;
        return error(StatusCode::INTERNAL_SERVER_ERROR, HResult::WUA_E_SERVER_STORAGE, "stored, then failed");
    }
    json(StatusCode::OK, &ack)
}

/// A UUID-shaped id from a number (stable and readable in test output).
fn uuid_like(n: usize) -> String {
    format!("00000000-0000-4000-8000-{n:012x}")
}
