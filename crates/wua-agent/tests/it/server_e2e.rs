//! The agent against the real `wua-server`, in process on 127.0.0.1 (its router over its
//! SQLite storage and a signed repository): registration, check-in, approvals made through
//! the administrators' API reaching search (D-27), outcomes and scans reported and counted,
//! the server unreachable during a flush (events kept), and a 500 after the server stored a
//! batch (retried, counted once: the server's `duplicates` shows the resend).

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};

use axum::extract::{Request, State};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use wua_agent::ManagedServerRegistration;
use wua_agent::wua_types::api::{
    Approval, ApprovalAction, ApprovalChanges, ComputerDetail, CreateEnrolmentKey, CreateGroup, EnrolmentKey,
    MoveComputer, ReportBody, UpdateState, UpdateStatus,
};
use wua_agent::wua_types::{HResult, OperationResultCode};
use wua_fetch::{ApiMethod, ApiRequest, FetchLimits, Fetcher};
use wua_server::app::App;
use wua_server::repository::Repository;
use wua_server::store::{SqliteStorage, Storage};
use wua_server::token::{self, TokenKind};

use crate::search::{Repo, found};
use crate::support::*;

/// The real server on a thread of its own; stops when dropped.
struct RealServer {
    url: String,
    addr: SocketAddr,
    data_dir: PathBuf,
    admin: String,
    /// Answer this many next report batches 500 after the server handled them.
    fail_reports: Arc<AtomicU32>,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl RealServer {
    /// A data directory for `repo` (`wua server init`), an administrator token, and the server
    /// on a free port.
    fn start(w: &World, repo: &Repo) -> RealServer {
        let data_dir = w.work.join("server");
        repo.runtime.block_on(wua_server::init(&data_dir, &repo.dir)).unwrap();
        let (admin, secret) = token::generate(TokenKind::Admin).unwrap();
        let storage = SqliteStorage::open(&data_dir).unwrap();
        repo.runtime.block_on(storage.create_admin_token(&secret.id, "test", &secret.digest())).unwrap();
        drop(storage);
        RealServer::serve(data_dir, admin, "127.0.0.1:0".parse().unwrap())
    }

    fn serve(data_dir: PathBuf, admin: String, addr: SocketAddr) -> RealServer {
        let fail_reports = Arc::new(AtomicU32::new(0));
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let (tx, rx) = std::sync::mpsc::channel();
        let (dir, fail) = (data_dir.clone(), fail_reports.clone());
        let thread = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
            runtime.block_on(async move {
                let config = wua_server::ServerConfig::load(&dir).unwrap();
                let repository = Repository::open(&config.repository).unwrap();
                let storage = SqliteStorage::open(&dir).unwrap();
                let app = Arc::new(App { storage, config, repository, metrics: Default::default() });
                let router =
                    wua_server::app::router(app).layer(axum::middleware::from_fn_with_state(fail, fail_after_handling));
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
                tx.send(listener.local_addr().unwrap()).unwrap();
                let _ = axum::serve(listener, router)
                    .with_graceful_shutdown(async move {
                        let _ = stopped.await;
                    })
                    .await;
            });
        });
        let addr = rx.recv().unwrap();
        RealServer {
            url: format!("http://{addr}"),
            addr,
            data_dir,
            admin,
            fail_reports,
            stop: Some(stop),
            thread: Some(thread),
        }
    }

    /// Stops the server; [`RealServer::restart`] brings it back on the same port and data.
    fn shut_down(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }

    fn restart(mut self) -> RealServer {
        self.shut_down();
        RealServer::serve(self.data_dir.clone(), self.admin.clone(), self.addr)
    }

    /// An administrator's call; the answer's JSON (must succeed).
    fn admin<B: serde::Serialize, T: serde::de::DeserializeOwned>(
        &self,
        method: ApiMethod,
        path: &str,
        body: Option<&B>,
    ) -> T {
        let url = url::Url::parse(&format!("{}{path}", self.url)).unwrap();
        let json = body.map(|b| serde_json::to_vec(b).unwrap());
        let request = ApiRequest { method, url: &url, bearer: Some(&self.admin), json: json.as_deref() };
        let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        let answer = runtime
            .block_on(async { Fetcher::new(FetchLimits::default(), &[]).unwrap().send(&request, 1 << 20).await })
            .unwrap();
        assert!(answer.is_success(), "{path}: {} {}", answer.status, String::from_utf8_lossy(&answer.body));
        // A 204 has no body: read as null.
        let body: &[u8] = if answer.body.is_empty() { b"null" } else { &answer.body };
        serde_json::from_slice(body).unwrap()
    }

    fn get<T: serde::de::DeserializeOwned>(&self, path: &str) -> T {
        self.admin::<(), T>(ApiMethod::Get, path, None)
    }
}

impl Drop for RealServer {
    fn drop(&mut self) {
        self.shut_down();
    }
}

/// Answers 500 instead of what the server answered, after the server handled the request,
/// for as many report batches as asked: a server that stored and then failed to say so.
async fn fail_after_handling(State(fail): State<Arc<AtomicU32>>, request: Request, next: Next) -> Response {
    let reports = request.uri().path() == "/api/v1/agent/reports";
    let response = next.run(request).await;
    if reports && fail.fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1)).is_ok() {
        let error = wua_agent::wua_types::api::ApiError::new(HResult::WUA_E_SERVER_STORAGE, "injected after storing");
        let body = serde_json::to_vec(&error).unwrap();
        return (
            axum::http::StatusCode::INTERNAL_SERVER_ERROR,
            [(axum::http::header::CONTENT_TYPE, "application/json")],
            body,
        )
            .into_response();
    }
    response
}

/// Groups `ring-1` and `ring-2`, and an enrolment key into `ring-1` that lets a computer pick
/// its group.
fn enrolment_key(server: &RealServer) -> String {
    for name in ["ring-1", "ring-2"] {
        let group = CreateGroup { name: name.into(), description: String::new() };
        let _: serde_json::Value = server.admin(ApiMethod::Post, "/api/v1/groups", Some(&group));
    }
    let create = CreateEnrolmentKey {
        description: "test".into(),
        group: Some("ring-1".into()),
        allow_client_targeting: true,
        expires_at: None,
    };
    let key: EnrolmentKey = server.admin(ApiMethod::Post, "/api/v1/enrolment-keys", Some(&create));
    key.key.unwrap()
}

fn approve(server: &RealServer, group: &str, approvals: Vec<Approval>) {
    let changes = ApprovalChanges { approve: approvals, unapprove: vec![] };
    let _: serde_json::Value =
        server.admin(ApiMethod::Post, &format!("/api/v1/groups/{group}/approvals"), Some(&changes));
}

fn registration(server: &RealServer, root: &[u8], key: &str, group: Option<&str>) -> ManagedServerRegistration {
    ManagedServerRegistration {
        name: None,
        server_url: server.url.clone(),
        trusted_root: root.to_vec(),
        enrolment_key: key.to_owned(),
        ca_bundle: None,
        requested_group: group.map(str::to_owned),
    }
}

fn token_of(state: &Path, service_id: &str) -> String {
    std::fs::read_to_string(state.join("services").join(service_id).join("token")).unwrap()
}

/// Register (the group asked for, the same computer again), check in (a move by an
/// administrator seen), approvals made through the API reach search signed (D-27), an install
/// and a scan reported and counted as WSUS counts them.
#[test]
fn e2e_register_approve_install_and_report() {
    let w = World::new().unwrap();
    let repo = Repo::new(&w);
    repo.publish(1, 1, "");
    repo.publish(2, 1, "");
    let server = RealServer::start(&w, &repo);
    let key = enrolment_key(&server);
    let s = session(&w);
    let manager = s.create_update_service_manager();

    let bad = manager.add_managed_server(&registration(&server, &repo.root(), "wua_e_00_00", None)).unwrap_err();
    assert_eq!(bad.hresult, HResult::WUA_E_SERVER_ENROLMENT, "{bad}");

    let service = manager.add_managed_server(&registration(&server, &repo.root(), &key, Some("ring-2"))).unwrap();
    assert_eq!(service.group.as_deref(), Some("ring-2"), "client-side targeting");
    let computer = service.computer_id.clone().unwrap();
    let first_token = token_of(&w.state, &service.service_id);
    assert!(first_token.starts_with("wua_c_"));
    let again = manager.add_managed_server(&registration(&server, &repo.root(), &key, Some("ring-1"))).unwrap();
    assert_eq!(again.computer_id.as_deref(), Some(computer.as_str()), "the same machine id: the same computer");
    assert_ne!(token_of(&w.state, &service.service_id), first_token);
    assert_eq!(again.group.as_deref(), Some("ring-2"), "a computer keeps its group when it registers again");

    let moved = MoveComputer { group: "ring-1".into() };
    let _: serde_json::Value =
        server.admin(ApiMethod::Put, &format!("/api/v1/computers/{computer}/group"), Some(&moved));
    assert_eq!(manager.check_in(&service.service_id).unwrap().group, "ring-1");

    approve(
        &server,
        "ring-1",
        vec![Approval { update_id: test_id(1), action: ApprovalAction::Install, deadline: None }],
    );
    approve(
        &server,
        "ring-2",
        vec![Approval { update_id: test_id(2), action: ApprovalAction::Install, deadline: None }],
    );
    let searcher = s.create_update_searcher();
    let r = searcher.search("").unwrap();
    assert_eq!(found(&r), [(test_id(1), 1)], "ring-1's approval only");
    assert!(r.updates.item(0).unwrap().is_assigned());

    let scan = searcher.search("DeploymentAction=*").unwrap();
    let needed: Vec<String> = scan.updates.iter().map(|u| u.identity().update_id).collect();
    manager.enqueue_report(&service.service_id, &ReportBody::Scan { needed, installed: vec![] }).unwrap();
    let updates = r.updates.copy();
    let downloader = s.create_update_downloader();
    downloader.set_updates(updates.clone());
    assert_eq!(downloader.download().unwrap().result_code, OperationResultCode::Succeeded);
    let installer = s.create_update_installer();
    installer.set_updates(updates);
    assert_eq!(installer.install().unwrap().result_code, OperationResultCode::Succeeded);

    let flush = manager.flush_outbox(&service.service_id).unwrap();
    assert!(flush.error.is_none(), "{:?}", flush.error);
    assert_eq!((flush.sent, flush.accepted, flush.duplicates, flush.remaining), (2, 2, 0, 0));
    let detail: ComputerDetail = server.get(&format!("/api/v1/computers/{computer}"));
    let state_of = |id: &str| detail.updates.iter().find(|u| u.update_id == id).map(|u| u.state);
    assert_eq!(state_of(&test_id(1)), Some(UpdateState::Installed), "{detail:?}");
    assert_eq!(state_of(&test_id(2)), Some(UpdateState::Needed), "{detail:?}");
    let status: UpdateStatus = server.get(&format!("/api/v1/updates/{}/status", test_id(1)));
    assert_eq!(status.installed, 1, "{status:?}");
}

/// D-17 against the real server: unreachable during a flush -> every event kept; back -> sent;
/// a 500 after the server stored a batch -> the batch is sent again and counted once, the
/// server answering the resend as duplicates.
#[test]
fn e2e_flush_survives_an_unreachable_server_and_a_500_after_storing() {
    let w = World::new().unwrap();
    let repo = Repo::new(&w);
    repo.publish(1, 1, "");
    let mut server = RealServer::start(&w, &repo);
    let key = enrolment_key(&server);
    let s = session(&w);
    let manager = s.create_update_service_manager();
    let id = manager.add_managed_server(&registration(&server, &repo.root(), &key, None)).unwrap().service_id;
    let computer = manager.managed_server().unwrap().unwrap().computer_id;
    for i in 0..5 {
        manager.enqueue_report(&id, &ReportBody::Reboot { required: i % 2 == 0 }).unwrap();
    }

    server.shut_down();
    let flush = manager.flush_outbox_in_batches(&id, 2).unwrap();
    assert_eq!(flush.error.as_ref().map(|e| e.hresult), Some(HResult::WU_E_NO_CONNECTION), "{flush:?}");
    assert_eq!((flush.sent, flush.remaining), (0, 5), "every event kept");

    let server = server.restart();
    server.fail_reports.store(1, Ordering::SeqCst);
    let flush = manager.flush_outbox_in_batches(&id, 2).unwrap();
    assert!(flush.error.is_none(), "{flush:?}");
    assert_eq!((flush.batches, flush.sent, flush.remaining), (3, 5, 0));
    assert_eq!((flush.accepted, flush.duplicates), (3, 2), "the server counted the resent batch as duplicates");
    assert_eq!(server.fail_reports.load(Ordering::SeqCst), 0);
    let detail: ComputerDetail = server.get(&format!("/api/v1/computers/{computer}"));
    assert!(detail.computer.reboot_required, "the last reboot event (required) is the state: {detail:?}");
}
