//! A server on 127.0.0.1 over a fresh repository with published updates, an administrator
//! token, and a small HTTP client that returns the status and the JSON body.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use serde_json::Value;
use wua_server::store::{SqliteStorage, Storage};
use wua_server::token::{self, TokenKind};
use wua_server::{Server, ServerConfig};
use wua_test_support::test_id;
use wua_test_support::trust::Fixture;
use wua_trust::repo::InitOptions;

/// The bound on one request of the tests' client, and on a graceful stop: they take
/// milliseconds, so a generous bound catches only a hang, before nextest's own bound on the
/// test (three minutes, `.config/nextest.toml`).
pub(crate) const LIMIT: Duration = Duration::from_secs(60);

/// A running server.
pub(crate) struct TestServer {
    pub(crate) fixture: Fixture,
    pub(crate) data_dir: PathBuf,
    pub(crate) addr: SocketAddr,
    pub(crate) admin: String,
    pub(crate) client: reqwest::Client,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    task: Option<tokio::task::JoinHandle<()>>,
}

/// Published update ids: `test_id(1)`..=`test_id(n)`.
pub(crate) fn update(n: u32) -> String {
    test_id(n)
}

impl TestServer {
    /// A server over a repository with `updates` published updates.
    pub(crate) async fn start(updates: u32) -> TestServer {
        Self::start_with(updates, |_| {}).await
    }

    /// The same, with the configuration changed by `edit`.
    pub(crate) async fn start_with(updates: u32, edit: impl FnOnce(&mut ServerConfig)) -> TestServer {
        let fixture = Fixture::new(InitOptions::default()).await;
        for n in 1..=updates {
            fixture.publish(n, 1, &format!("update {n}")).await;
        }
        let data_dir = fixture.work.join("server");
        let mut config = wua_server::init(&data_dir, &fixture.repo).await.unwrap();
        config.listen = "127.0.0.1:0".parse().unwrap();
        // The targets key stays with the publisher: the server never has it.
        std::fs::rename(fixture.repo.join("keys/targets.pk8"), fixture.work.join("publisher-targets.pk8")).unwrap();
        edit(&mut config);
        let storage = SqliteStorage::open(&data_dir).unwrap();
        let (admin, secret) = token::generate(TokenKind::Admin).unwrap();
        storage.create_admin_token(&secret.id, "tests", &secret.digest()).await.unwrap();
        let mut server = TestServer {
            fixture,
            data_dir,
            addr: "127.0.0.1:0".parse().unwrap(),
            admin,
            client: reqwest::Client::builder().timeout(LIMIT).build().unwrap(),
            stop: None,
            task: None,
        };
        server.run(config).await;
        server
    }

    async fn run(&mut self, config: ServerConfig) {
        let server = Server::bind(&self.data_dir, config).await.unwrap();
        self.addr = server.local_addr().unwrap();
        let (tx, rx) = tokio::sync::oneshot::channel::<()>();
        self.stop = Some(tx);
        self.task = Some(tokio::spawn(async move {
            server
                .run(async move {
                    let _ = rx.await;
                })
                .await
                .unwrap();
        }));
    }

    /// Stops the server gracefully and waits for it.
    pub(crate) async fn stop(&mut self) {
        if let Some(tx) = self.stop.take() {
            let _ = tx.send(());
        }
        if let Some(task) = self.task.take() {
            let stopped = tokio::time::timeout(LIMIT, task).await;
            stopped.unwrap_or_else(|_| panic!("the server did not stop within {LIMIT:?}")).unwrap();
        }
    }

    /// Starts it again on the same data directory (a new port).
    pub(crate) async fn restart(&mut self) {
        self.stop().await;
        let mut config = ServerConfig::load(&self.data_dir).unwrap();
        config.listen = "127.0.0.1:0".parse().unwrap();
        self.run(config).await;
    }

    /// The URL of `path`.
    pub(crate) fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    /// A request with an optional bearer token and JSON body; the status and the body (JSON,
    /// or a string when it is not JSON).
    pub(crate) async fn call(&self, method: &str, path: &str, token: Option<&str>, body: Option<&str>) -> (u16, Value) {
        let method = reqwest::Method::from_bytes(method.as_bytes()).unwrap();
        let mut req = self.client.request(method, self.url(path));
        if let Some(t) = token {
            req = req.header("authorization", format!("Bearer {t}"));
        }
        if let Some(b) = body {
            req = req.header("content-type", "application/json").body(b.to_owned());
        }
        let response = req.send().await.unwrap();
        let status = response.status().as_u16();
        let text = response.text().await.unwrap();
        (status, serde_json::from_str(&text).unwrap_or(Value::String(text)))
    }

    /// An administrator's call that must succeed.
    pub(crate) async fn admin(&self, method: &str, path: &str, body: Option<&str>) -> Value {
        let (status, value) = self.call(method, path, Some(&self.admin), body).await;
        assert!((200..300).contains(&status), "{method} {path}: {status} {value}");
        value
    }

    /// A group made through the API.
    pub(crate) async fn group(&self, name: &str) {
        self.admin("POST", "/api/v1/groups", Some(&format!(r#"{{"name":"{name}"}}"#))).await;
    }

    /// An enrolment key for `group` (through the API); its text.
    pub(crate) async fn enrolment_key(&self, group: Option<&str>, targeting: bool) -> String {
        let body = serde_json::json!({"group": group, "allow_client_targeting": targeting}).to_string();
        let v = self.admin("POST", "/api/v1/enrolment-keys", Some(&body)).await;
        v["key"].as_str().unwrap().to_owned()
    }

    /// Registers machine `machine_id` with `key`; (computer id, token).
    pub(crate) async fn register(&self, key: &str, machine_id: &str) -> (String, String) {
        let body = serde_json::json!({"enrolment_key": key, "machine_id": machine_id, "hostname": "h"}).to_string();
        let (status, v) = self.call("POST", "/api/v1/agent/register", None, Some(&body)).await;
        assert_eq!(status, 200, "{v}");
        (v["computer_id"].as_str().unwrap().to_owned(), v["token"].as_str().unwrap().to_owned())
    }

    /// Approves updates for a group through the API.
    pub(crate) async fn approve(&self, group: &str, approvals: Value) {
        let body = serde_json::json!({"approve": approvals}).to_string();
        self.admin("POST", &format!("/api/v1/groups/{group}/approvals"), Some(&body)).await;
    }

    /// A storage handle on the server's database (a second connection, as a CLI would open).
    pub(crate) fn storage(&self) -> SqliteStorage {
        SqliteStorage::open(&self.data_dir).unwrap()
    }
}

/// Asserts an error answer: status, and the HResult name in D-2's fields.
pub(crate) fn assert_error(got: &(u16, Value), status: u16, hresult_name: &str) {
    assert_eq!(got.0, status, "{}", got.1);
    assert_eq!(got.1["hresult_name"], hresult_name, "{}", got.1);
    assert!(got.1["error"].as_str().is_some_and(|e| !e.is_empty()), "{}", got.1);
    assert!(got.1["hresult_hex"].as_str().is_some_and(|h| h.starts_with("0xA0245")), "{}", got.1);
}

/// A report event, a second later than the one made before it (as an agent's clock moves).
pub(crate) fn event(key: &str, body: Value) -> Value {
    static CLOCK: std::sync::atomic::AtomicI64 = std::sync::atomic::AtomicI64::new(1_790_000_000);
    let at = jiff::Timestamp::from_second(CLOCK.fetch_add(1, std::sync::atomic::Ordering::Relaxed)).unwrap();
    serde_json::json!({"key": key, "at": at.to_string(), "event": body})
}

/// A scan event body.
pub(crate) fn scan(needed: &[String], installed: &[String]) -> Value {
    serde_json::json!({"kind": "scan", "needed": needed, "installed": installed})
}

/// An install outcome event body.
pub(crate) fn installed(update_id: &str, ok: bool, reboot: bool) -> Value {
    serde_json::json!({
        "kind": "outcome", "update_id": update_id, "revision_number": 1, "operation": "Installation",
        "result_code": if ok { "Succeeded" } else { "Failed" },
        "hresult": if ok { 0 } else { -2145116147i32 }, "reboot_required": reboot,
    })
}
