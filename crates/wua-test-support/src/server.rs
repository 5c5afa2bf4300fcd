//! The real update server (`wua-server`) in process on 127.0.0.1, for tests whose agent calls
//! are synchronous: [`RealServer`] makes a data directory for a signed repository (`wua server
//! init`), an administrator token, and serves the server's own router
//! (`wua_server::app::router` over its SQLite storage and the repository) from a runtime on a
//! thread of its own, over HTTP or, with a [`TestCa`]'s certificate in the server's
//! `[tls]` configuration, HTTPS through the server's own TLS listener.
//!
//! Faults come from the real server, never from a stand-in: the router wears the fault layer
//! ([`crate::fault::with_faults`]; [`RealServer::faults`]), so a test can answer a route with
//! a status before the server sees the request ([`Fault::Status`]) or after it stored what it
//! was sent ([`Fault::StatusAfterHandling`]); [`RealServer::stop`] and [`RealServer::restart`]
//! take it down and bring it back on the same port with the same data (and, with
//! [`RealServer::restart_with`], another configuration); a token is revoked through the
//! server's own API (delete the computer, or register its machine again: [`RealServer::register`]).
//!
//! Bounded: dropping it stops the server, ends stalls and drips, and waits at most a couple of
//! seconds for requests in flight; a server thread that does not end soon after is a failure
//! naming it, not a hang.
//!
//! [`Fault::Status`]: crate::fault::Fault::Status
//! [`Fault::StatusAfterHandling`]: crate::fault::Fault::StatusAfterHandling

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use serde::Serialize;
use serde::de::DeserializeOwned;
use tokio::sync::watch;
use wua_fetch::{ApiMethod, ApiRequest, FetchLimits, Fetcher};
use wua_server::ServerConfig;
use wua_server::app::App;
use wua_server::config::TlsConfig;
use wua_server::repository::Repository;
use wua_server::store::{SqliteStorage, Storage};
use wua_server::token::{self, TokenKind};
use wua_types::api::{
    Approval, ApprovalChanges, Computer, CreateEnrolmentKey, CreateGroup, EnrolmentKey, Page, RegisterRequest,
    RegisterResponse, ReportRecord,
};

use crate::bounded::join_within;
use crate::fault::{Faults, with_faults};
use crate::tls::TestCa;

/// How long a stop waits for requests in flight before it drops them.
const STOP_GRACE: Duration = Duration::from_secs(2);

/// How long the server's thread may take to report its address, and to end after a stop
/// (its grace, then the runtime's shutdown): a moment each, so a generous bound catches only a
/// hang.
const THREAD_LIMIT: Duration = Duration::from_secs(30);

/// The real server, running (or stopped by [`RealServer::stop`]); it stops when dropped.
#[derive(Debug)]
pub struct RealServer {
    /// Its base URL, `http://127.0.0.1:PORT` or `https://127.0.0.1:PORT` (no trailing slash).
    pub url: String,
    /// The address it listens on (kept across restarts).
    pub addr: SocketAddr,
    /// Its data directory.
    pub data_dir: PathBuf,
    /// An administrator token.
    pub admin_token: String,
    /// The CA's PEM a client needs to trust it, when it serves HTTPS.
    pub ca_pem: Option<PathBuf>,
    config: ServerConfig,
    faults: Faults,
    faults_stop: watch::Sender<bool>,
    running: Option<Running>,
    runtime: tokio::runtime::Runtime,
}

#[derive(Debug)]
struct Running {
    stop: tokio::sync::oneshot::Sender<()>,
    thread: std::thread::JoinHandle<()>,
}

impl RealServer {
    /// A data directory `data_dir` for the repository `repo` (it must hold the timestamp,
    /// snapshot and approvals keys), an administrator token, and the server on a free port.
    pub fn start(repo: &Path, data_dir: &Path) -> RealServer {
        RealServer::start_with(repo, data_dir, |_| {})
    }

    /// [`RealServer::start`] with the configuration `wua server init` wrote changed by `edit`
    /// (its `listen` is not used: the server takes a free port).
    pub fn start_with(repo: &Path, data_dir: &Path, edit: impl FnOnce(&mut ServerConfig)) -> RealServer {
        RealServer::create(repo, data_dir, None, edit)
    }

    /// [`RealServer::start_with`] over HTTPS: `ca`'s server certificate and key are written into
    /// the data directory and named in the configuration's `[tls]`; the CA's PEM is written
    /// beside them ([`RealServer::ca_pem`]) for clients.
    pub fn start_tls(repo: &Path, data_dir: &Path, ca: &TestCa, edit: impl FnOnce(&mut ServerConfig)) -> RealServer {
        RealServer::create(repo, data_dir, Some(ca), edit)
    }

    fn create(repo: &Path, data_dir: &Path, ca: Option<&TestCa>, edit: impl FnOnce(&mut ServerConfig)) -> RealServer {
        let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("runtime");
        let mut config = runtime.block_on(wua_server::init(data_dir, repo)).expect("wua server init");
        let (admin_token, secret) = token::generate(TokenKind::Admin).expect("an administrator token");
        let storage = SqliteStorage::open(data_dir).expect("the server's database");
        runtime.block_on(storage.create_admin_token(&secret.id, "tests", &secret.digest())).expect("admin token");
        drop(storage);
        let ca_pem = ca.map(|ca| {
            let (certificate, key, pem) = (data_dir.join("tls.crt"), data_dir.join("tls.key"), data_dir.join("ca.pem"));
            ca.write_server_pem(&certificate, &key).expect("the server's certificate");
            ca.write_ca_pem(&pem).expect("the CA's certificate");
            config.tls = Some(TlsConfig { certificate, key });
            pem
        });
        edit(&mut config);
        config.listen = "127.0.0.1:0".parse().expect("address");
        let (faults_stop, stopped) = watch::channel(false);
        let mut server = RealServer {
            url: String::new(),
            addr: config.listen,
            data_dir: data_dir.to_owned(),
            admin_token,
            ca_pem,
            config,
            faults: Faults::new(stopped),
            faults_stop,
            running: None,
            runtime,
        };
        server.serve();
        server
    }

    /// Serves the real router, wearing the fault layer, on `self.addr` (the same port again
    /// after a stop).
    fn serve(&mut self) {
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let (tx, rx) = std::sync::mpsc::channel::<Result<SocketAddr, String>>();
        let (config, data_dir, faults, addr) =
            (self.config.clone(), self.data_dir.clone(), self.faults.clone(), self.addr);
        let thread = std::thread::spawn(move || {
            let runtime = match tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build() {
                Ok(r) => r,
                Err(e) => return drop(tx.send(Err(format!("runtime: {e}")))),
            };
            runtime.block_on(async move {
                let bound = match listen(addr, &config).await {
                    Ok(b) => b,
                    Err(e) => return drop(tx.send(Err(e))),
                };
                let router = match app(&config, &data_dir) {
                    Ok(app) => with_faults(wua_server::app::router(app), faults),
                    Err(e) => return drop(tx.send(Err(e))),
                };
                let (shutdown_tx, shutdown) = watch::channel(false);
                let mut graceful = shutdown.clone();
                let graceful = async move {
                    let _ = graceful.wait_for(|s| *s).await;
                };
                let _ = tx.send(Ok(bound.1));
                let served = async move {
                    let _ = match bound.0 {
                        Bound::Plain(l) => axum::serve(l, router).with_graceful_shutdown(graceful).await,
                        Bound::Tls(l) => axum::serve(l, router).with_graceful_shutdown(graceful).await,
                    };
                };
                tokio::select! {
                    _ = served => {}
                    _ = async {
                        let _ = stopped.await;
                        let _ = shutdown_tx.send(true);
                        // Requests in flight get a moment; a stalled one is dropped after it.
                        tokio::time::sleep(STOP_GRACE).await;
                    } => {}
                }
            });
        });
        let addr = rx
            .recv_timeout(THREAD_LIMIT)
            .expect("the server thread reports")
            .unwrap_or_else(|e| panic!("the real server: {e}"));
        let scheme = if self.config.tls.is_some() { "https" } else { "http" };
        self.addr = addr;
        self.url = format!("{scheme}://{addr}");
        self.running = Some(Running { stop, thread });
    }

    /// The fault table of the layer around the server's router, to change while it runs.
    pub fn faults(&self) -> &Faults {
        &self.faults
    }

    /// Its configuration as served.
    pub fn config(&self) -> &ServerConfig {
        &self.config
    }

    /// Stops it: nothing listens on its port until [`RealServer::restart`]. Requests in
    /// flight are finished, or dropped after a couple of seconds.
    pub fn stop(&mut self) {
        if let Some(running) = self.running.take() {
            let _ = running.stop.send(());
            let _ = join_within(running.thread, THREAD_LIMIT, "the real server's thread, once stopped");
        }
    }

    /// Stops it (if it runs) and serves again on the same port with the same data and faults.
    pub fn restart(&mut self) {
        self.stop();
        self.serve();
    }

    /// [`RealServer::restart`] with its configuration changed by `edit`.
    pub fn restart_with(&mut self, edit: impl FnOnce(&mut ServerConfig)) {
        self.stop();
        edit(&mut self.config);
        self.serve();
    }

    /// One request to `path` with an optional bearer token and JSON body: the status and the
    /// body. Panics when no answer comes.
    pub fn call(&self, method: ApiMethod, path: &str, bearer: Option<&str>, json: Option<&[u8]>) -> (u16, Vec<u8>) {
        let url = url::Url::parse(&format!("{}{path}", self.url)).expect("URL");
        let request = ApiRequest { method, url: &url, bearer, json };
        let roots: Vec<PathBuf> = self.ca_pem.iter().cloned().collect();
        let limits = FetchLimits { retries: 0, ..FetchLimits::default() };
        let answer = self
            .runtime
            .block_on(async { Fetcher::new(limits, &roots)?.send(&request, 16 << 20).await })
            .unwrap_or_else(|e| panic!("{path}: {e}"));
        (answer.status, answer.body)
    }

    /// An administrator's call that must succeed; its answer's JSON (`null` for an empty one).
    pub fn admin<B: Serialize, T: DeserializeOwned>(&self, method: ApiMethod, path: &str, body: Option<&B>) -> T {
        let json = body.map(|b| serde_json::to_vec(b).expect("JSON"));
        let (status, body) = self.call(method, path, Some(&self.admin_token), json.as_deref());
        assert!((200..300).contains(&status), "{path}: {status} {}", String::from_utf8_lossy(&body));
        let body: &[u8] = if body.is_empty() { b"null" } else { &body };
        serde_json::from_slice(body).unwrap_or_else(|e| panic!("{path}: {e}: {}", String::from_utf8_lossy(body)))
    }

    /// `GET path` as an administrator.
    pub fn get<T: DeserializeOwned>(&self, path: &str) -> T {
        self.admin::<(), T>(ApiMethod::Get, path, None)
    }

    /// Groups `ring-1` and `ring-2`, and an enrolment key into `ring-1` that lets a computer
    /// pick its group; the key.
    pub fn enrolment_key(&self) -> String {
        for name in ["ring-1", "ring-2"] {
            let group = CreateGroup { name: name.into(), description: String::new() };
            let _: serde_json::Value = self.admin(ApiMethod::Post, "/api/v1/groups", Some(&group));
        }
        let create = CreateEnrolmentKey {
            description: "test".into(),
            group: Some("ring-1".into()),
            allow_client_targeting: true,
            expires_at: None,
        };
        let key: EnrolmentKey = self.admin(ApiMethod::Post, "/api/v1/enrolment-keys", Some(&create));
        key.key.expect("a new key's text")
    }

    /// Approves updates for `group` through the API.
    pub fn approve(&self, group: &str, approvals: Vec<Approval>) {
        let changes = ApprovalChanges { approve: approvals, unapprove: vec![] };
        let _: serde_json::Value =
            self.admin(ApiMethod::Post, &format!("/api/v1/groups/{group}/approvals"), Some(&changes));
    }

    /// Registers the machine `machine_id` with `key` as an agent would (the same machine id
    /// again keeps the computer and replaces its token: the old one stops working).
    pub fn register(&self, key: &str, machine_id: &str) -> RegisterResponse {
        let request = RegisterRequest {
            enrolment_key: key.to_owned(),
            machine_id: machine_id.to_owned(),
            hostname: "test".into(),
            requested_group: None,
            agent_version: String::new(),
        };
        let json = serde_json::to_vec(&request).expect("JSON");
        let (status, body) = self.call(ApiMethod::Post, "/api/v1/agent/register", None, Some(&json));
        assert_eq!(status, 200, "{}", String::from_utf8_lossy(&body));
        serde_json::from_slice(&body).expect("a registration")
    }

    /// The computers registered (the first thousand).
    pub fn computers(&self) -> Vec<Computer> {
        self.get::<Page<Computer>>("/api/v1/computers?limit=1000").items
    }

    /// The report events the server stored for `computer`, oldest first (the last thousand).
    pub fn events(&self, computer: &str) -> Vec<ReportRecord> {
        // The API lists the newest first.
        let mut events =
            self.get::<Page<ReportRecord>>(&format!("/api/v1/computers/{computer}/events?limit=1000")).items;
        events.reverse();
        events
    }
}

impl Drop for RealServer {
    fn drop(&mut self) {
        let _ = self.faults_stop.send(true);
        self.stop();
    }
}

/// A listener, plain or TLS.
enum Bound {
    Plain(tokio::net::TcpListener),
    Tls(wua_server::tls::TlsListener),
}

/// Binds `addr` (the port of a server just stopped may linger a moment) and, when the
/// configuration has `[tls]`, wraps it in the server's TLS listener; the listener and its
/// address.
async fn listen(addr: SocketAddr, config: &ServerConfig) -> Result<(Bound, SocketAddr), String> {
    let mut tries = 0;
    let listener = loop {
        match tokio::net::TcpListener::bind(addr).await {
            Ok(l) => break l,
            Err(_) if tries < 100 => {
                tries += 1;
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
            Err(e) => return Err(format!("bind {addr}: {e}")),
        }
    };
    let local = listener.local_addr().map_err(|e| e.to_string())?;
    match &config.tls {
        None => Ok((Bound::Plain(listener), local)),
        Some(tls) => {
            let tls = wua_server::tls::server_config(tls).map_err(|e| format!("TLS: {e}"))?;
            let listener = wua_server::tls::TlsListener::new(listener, tls).map_err(|e| format!("TLS: {e}"))?;
            Ok((Bound::Tls(listener), local))
        }
    }
}

/// The server's state over its data directory, as `wua server run` opens it.
fn app(config: &ServerConfig, data_dir: &Path) -> Result<Arc<App<SqliteStorage>>, String> {
    config.check().map_err(|e| e.to_string())?;
    let repository = Repository::open(&config.repository).map_err(|e| e.to_string())?;
    let storage = SqliteStorage::open(data_dir).map_err(|e| e.to_string())?;
    Ok(Arc::new(App { storage, config: config.clone(), repository, metrics: Default::default() }))
}
