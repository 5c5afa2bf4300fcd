//! Every route refuses what it must, in the API's error shape (D-2): no token or an unknown
//! one (401), the wrong kind of token (403), malformed JSON or paths (400), a method the route
//! does not take (405), oversized bodies (413), unknown ids (404); tokens are revoked at once;
//! the repository cannot be escaped.

use serde_json::json;

use crate::support::{TestServer, assert_error, update};

/// Every administrator route, with a body where it takes one.
fn admin_routes() -> Vec<(&'static str, String, Option<String>)> {
    let u = update(1);
    vec![
        ("GET", "/api/v1/groups".into(), None),
        ("POST", "/api/v1/groups".into(), Some(r#"{"name":"g"}"#.into())),
        ("GET", "/api/v1/groups/unassigned".into(), None),
        ("DELETE", "/api/v1/groups/g".into(), None),
        ("POST", "/api/v1/groups/unassigned/approvals".into(), Some(format!(r#"{{"unapprove":["{u}"]}}"#))),
        ("GET", "/api/v1/computers".into(), None),
        ("GET", "/api/v1/computers/x".into(), None),
        ("GET", "/api/v1/computers/x/events".into(), None),
        ("GET", "/api/v1/rules".into(), None),
        ("POST", "/api/v1/rules".into(), Some(r#"{"name":"r","groups":["g"],"action":"install"}"#.into())),
        ("DELETE", "/api/v1/rules/1".into(), None),
        ("DELETE", "/api/v1/computers/x".into(), None),
        ("PUT", "/api/v1/computers/x/group".into(), Some(r#"{"group":"g"}"#.into())),
        ("GET", "/api/v1/enrolment-keys".into(), None),
        ("POST", "/api/v1/enrolment-keys".into(), Some("{}".into())),
        ("DELETE", "/api/v1/enrolment-keys/x".into(), None),
        ("GET", format!("/api/v1/updates/{u}/status"), None),
        ("GET", "/api/v1/audit".into(), None),
    ]
}

#[tokio::test]
async fn tokens_reach_only_their_own_routes() {
    let server = TestServer::start(1).await;
    let key = server.enrolment_key(None, false).await;
    let (_, computer) = server.register(&key, "m1").await;
    for (method, path, body) in admin_routes() {
        let body = body.as_deref();
        assert_error(&server.call(method, &path, None, body).await, 401, "WUA_E_SERVER_UNAUTHORIZED");
        assert_error(&server.call(method, &path, Some("wua_a_nonsense"), body).await, 401, "WUA_E_SERVER_UNAUTHORIZED");
        // A computer's token never reaches an administrator route.
        assert_error(&server.call(method, &path, Some(&computer), body).await, 403, "WUA_E_SERVER_FORBIDDEN");
    }
    let report = r#"{"events":[]}"#;
    for (method, path, body) in [("GET", "/api/v1/agent/config", None), ("POST", "/api/v1/agent/reports", Some(report))]
    {
        assert_error(&server.call(method, path, None, body).await, 401, "WUA_E_SERVER_UNAUTHORIZED");
        assert_error(&server.call(method, path, Some(&server.admin), body).await, 403, "WUA_E_SERVER_FORBIDDEN");
        // A well-formed token that was never issued.
        let forged = format!("wua_c_{}_{}", "0".repeat(16), "1".repeat(64));
        assert_error(&server.call(method, path, Some(&forged), body).await, 401, "WUA_E_SERVER_UNAUTHORIZED");
        let (status, _) = server.call(method, path, Some(&computer), body).await;
        assert_eq!(status, 200, "{method} {path}");
    }
}

#[tokio::test]
async fn malformed_and_oversized_requests_are_refused() {
    let server = TestServer::start_with(1, |c| {
        c.limits.body_bytes = 4096;
        c.limits.report_body_bytes = 64 * 1024;
    })
    .await;
    let key = server.enrolment_key(None, false).await;
    let (_, computer) = server.register(&key, "m1").await;
    let admin = Some(server.admin.as_str());
    for body in ["{", "[]", r#"{"name": 5}"#, r#"{"name":"g","extra":1}"#, r#"{"name":"../x"}"#, r#"{"name":""}"#] {
        assert_error(&server.call("POST", "/api/v1/groups", admin, Some(body)).await, 400, "WUA_E_SERVER_BAD_REQUEST");
    }
    let big = json!({"name": "g", "description": "x".repeat(5000)}).to_string();
    assert_error(&server.call("POST", "/api/v1/groups", admin, Some(&big)).await, 413, "WUA_E_SERVER_TOO_LARGE");
    let ev = |i: usize| json!({"key": format!("k{i}"), "at": "2026-11-30T00:00:00Z", "event": {"kind": "reboot", "required": false}});
    let many = json!({"events": (0..2000).map(ev).collect::<Vec<_>>()}).to_string();
    assert!(many.len() > 64 * 1024);
    assert_error(
        &server.call("POST", "/api/v1/agent/reports", Some(&computer), Some(&many)).await,
        413,
        "WUA_E_SERVER_TOO_LARGE",
    );
    for bad in [
        json!({"events": [{"key": "", "at": "2026-11-30T00:00:00Z", "event": {"kind": "reboot", "required": true}}]}),
        json!({"events": [{"key": "k", "at": "yesterday", "event": {"kind": "reboot", "required": true}}]}),
        json!({"events": [{"key": "k", "at": "2026-11-30T00:00:00Z", "event": {"kind": "scan", "needed": ["../x"], "installed": []}}]}),
        json!({"events": [{"key": "k", "at": "2026-11-30T00:00:00Z", "event": {"kind": "reboot"}}]}),
        json!({"events": [{"key": "k", "at": "2026-11-30T00:00:00Z", "event": {"kind": "dance"}}]}),
    ] {
        let got = server.call("POST", "/api/v1/agent/reports", Some(&computer), Some(&bad.to_string())).await;
        assert_error(&got, 400, "WUA_E_SERVER_BAD_REQUEST");
    }
    // Without a JSON content type.
    let response = server
        .client
        .post(server.url("/api/v1/groups"))
        .header("authorization", format!("Bearer {}", server.admin))
        .body(r#"{"name":"g"}"#)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status().as_u16(), 415);
    assert_error(&server.call("GET", "/api/v1/computers?limit=x", admin, None).await, 400, "WUA_E_SERVER_BAD_REQUEST");
    assert_error(&server.call("GET", "/api/v1/nothing", admin, None).await, 404, "WUA_E_SERVER_NOT_FOUND");
    // A method the route does not take, and a path parameter that is not UTF-8: the same shape.
    let response = server
        .client
        .patch(server.url("/api/v1/groups"))
        .header("authorization", format!("Bearer {}", server.admin))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status().as_u16(), 405);
    assert_eq!(response.headers()["allow"], "GET,HEAD,POST");
    let body: serde_json::Value = serde_json::from_str(&response.text().await.unwrap()).unwrap();
    assert_error(&(405, body), 405, "WUA_E_SERVER_BAD_REQUEST");
    assert_error(
        &server.call("PUT", "/api/v1/agent/reports", Some(&computer), None).await,
        405,
        "WUA_E_SERVER_BAD_REQUEST",
    );
    for method in ["GET", "DELETE"] {
        let got = server.call(method, "/api/v1/groups/%FF", admin, None).await;
        assert_error(&got, 400, "WUA_E_SERVER_BAD_REQUEST");
    }
}

#[tokio::test]
async fn unknown_ids_are_404() {
    let server = TestServer::start(1).await;
    let admin = Some(server.admin.as_str());
    let unknown = "00000000-0000-4000-8000-00000000ffff";
    for (method, path, body) in [
        ("GET", "/api/v1/groups/nope".to_owned(), None),
        ("DELETE", "/api/v1/groups/nope".to_owned(), None),
        (
            "POST",
            "/api/v1/groups/nope/approvals".to_owned(),
            Some(format!(r#"{{"approve":[{{"update_id":"{}","action":"install"}}]}}"#, update(1))),
        ),
        ("GET", format!("/api/v1/computers/{unknown}"), None),
        ("GET", format!("/api/v1/computers/{unknown}/events"), None),
        ("DELETE", format!("/api/v1/computers/{unknown}"), None),
        ("PUT", format!("/api/v1/computers/{unknown}/group"), Some(r#"{"group":"unassigned"}"#.to_owned())),
        ("DELETE", "/api/v1/enrolment-keys/0123456789abcdef".to_owned(), None),
        ("GET", format!("/api/v1/updates/{unknown}/status"), None),
        (
            "POST",
            "/api/v1/groups/unassigned/approvals".to_owned(),
            Some(format!(r#"{{"approve":[{{"update_id":"{unknown}","action":"install"}}]}}"#)),
        ),
    ] {
        let got = server.call(method, &path, admin, body.as_deref()).await;
        assert_error(&got, 404, "WUA_E_SERVER_NOT_FOUND");
    }
    // Moving a real computer into a group that does not exist.
    let key = server.enrolment_key(None, false).await;
    let (id, _) = server.register(&key, "m1").await;
    let got = server.call("PUT", &format!("/api/v1/computers/{id}/group"), admin, Some(r#"{"group":"nope"}"#)).await;
    assert_error(&got, 404, "WUA_E_SERVER_NOT_FOUND");
    // A group that exists is a conflict, the unassigned group cannot be deleted.
    server.group("a").await;
    assert_error(
        &server.call("POST", "/api/v1/groups", admin, Some(r#"{"name":"a"}"#)).await,
        409,
        "WUA_E_SERVER_CONFLICT",
    );
    assert_error(&server.call("DELETE", "/api/v1/groups/unassigned", admin, None).await, 409, "WUA_E_SERVER_CONFLICT");
}

#[tokio::test]
async fn enrolment_keys_and_tokens_stop_working_at_once() {
    let server = TestServer::start(1).await;
    let admin = Some(server.admin.as_str());
    let key = server.enrolment_key(None, false).await;
    let (id, first) = server.register(&key, "m1").await;
    // Registering again with the same machine id keeps the identity; the old token stops.
    let (again, second) = server.register(&key, "m1").await;
    assert_eq!(again, id);
    assert_error(
        &server.call("GET", "/api/v1/agent/config", Some(&first), None).await,
        401,
        "WUA_E_SERVER_UNAUTHORIZED",
    );
    assert_eq!(server.call("GET", "/api/v1/agent/config", Some(&second), None).await.0, 200);
    // A revoked enrolment key registers nothing more.
    let keys = server.admin("GET", "/api/v1/enrolment-keys", None).await;
    let key_id = keys[0]["id"].as_str().unwrap().to_owned();
    assert!(keys[0].get("key").is_none(), "a listed key never shows the secret: {keys}");
    server.admin("DELETE", &format!("/api/v1/enrolment-keys/{key_id}"), None).await;
    let body = json!({"enrolment_key": key, "machine_id": "m2"}).to_string();
    assert_error(
        &server.call("POST", "/api/v1/agent/register", None, Some(&body)).await,
        401,
        "WUA_E_SERVER_ENROLMENT",
    );
    // An expired one neither.
    let expired =
        server.admin("POST", "/api/v1/enrolment-keys", Some(r#"{"expires_at":"2020-01-01T00:00:00Z"}"#)).await["key"]
            .as_str()
            .unwrap()
            .to_owned();
    let body = json!({"enrolment_key": expired, "machine_id": "m3"}).to_string();
    assert_error(
        &server.call("POST", "/api/v1/agent/register", None, Some(&body)).await,
        401,
        "WUA_E_SERVER_ENROLMENT",
    );
    // A deleted computer's token stops at once.
    server.admin("DELETE", &format!("/api/v1/computers/{id}"), None).await;
    assert_error(
        &server.call("GET", "/api/v1/agent/config", Some(&second), None).await,
        401,
        "WUA_E_SERVER_UNAUTHORIZED",
    );
    // A revoked administrator token stops at once.
    let storage = server.storage();
    use wua_server::store::Storage;
    let tokens = storage.admin_tokens().await.unwrap();
    storage.revoke_admin_token(&tokens[0].0).await.unwrap();
    assert_error(&server.call("GET", "/api/v1/groups", admin, None).await, 401, "WUA_E_SERVER_UNAUTHORIZED");
}

#[tokio::test]
async fn the_repository_is_served_and_never_escaped() {
    let server = TestServer::start(1).await;
    let (status, body) = server.call("GET", "/repo/metadata/timestamp.json", None, None).await;
    assert_eq!(status, 200);
    assert!(body["signed"]["version"].is_u64(), "{body}");
    for path in [
        "/repo/../server.toml",
        "/repo/%2e%2e/server.toml",
        "/repo/..%2fserver.toml",
        "/repo/metadata/..%2f..%2froot.json",
        "/repo/%2e%2e/keys/targets.pk8",
        "/repo//etc/passwd",
        "/repo/metadata/%00",
    ] {
        let response = server.client.get(server.url(path)).send().await.unwrap();
        assert!(
            response.status() == 404 || response.status() == 400,
            "{path}: {} {:?}",
            response.status(),
            response.text().await
        );
    }
    // A raw request line with `..` (a client that does not normalise the path).
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut tcp = tokio::net::TcpStream::connect(server.addr).await.unwrap();
    tcp.write_all(b"GET /repo/../keys/targets.pk8 HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n").await.unwrap();
    let mut answer = String::new();
    tokio::time::timeout(crate::support::LIMIT, tcp.read_to_string(&mut answer)).await.unwrap().unwrap();
    assert!(answer.starts_with("HTTP/1.1 404") || answer.starts_with("HTTP/1.1 400"), "{answer}");
}

// Multi-threaded: curl runs as a blocking child while the server answers.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn curl_fetches_ranges_and_revalidates() {
    let server = TestServer::start(1).await;
    let url = server.url("/repo/metadata/timestamp.json");
    let whole = std::fs::read(server.fixture.repo.join("repository/metadata/timestamp.json")).unwrap();
    let curl = |args: &[&str]| {
        let mut curl = std::process::Command::new("curl");
        curl.args(["-sS", "-D", "-"]).args(args).arg(&url);
        let out = wua_test_support::output_within(&mut curl, crate::support::LIMIT).unwrap();
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        String::from_utf8(out.stdout).unwrap()
    };
    let full = curl(&[]);
    assert!(full.starts_with("HTTP/1.1 200"), "{full}");
    let etag = full
        .lines()
        .find_map(|l| l.strip_prefix("etag: ").or_else(|| l.strip_prefix("ETag: ")))
        .unwrap()
        .trim()
        .to_owned();
    let ranged = curl(&["-H", "Range: bytes=0-9"]);
    assert!(ranged.starts_with("HTTP/1.1 206"), "{ranged}");
    assert!(ranged.to_ascii_lowercase().contains(&format!("content-range: bytes 0-9/{}", whole.len())), "{ranged}");
    assert!(ranged.ends_with(std::str::from_utf8(&whole[..10]).unwrap()), "{ranged}");
    let cached = curl(&["-H", &format!("If-None-Match: {etag}")]);
    assert!(cached.starts_with("HTTP/1.1 304"), "{cached}");
}

// Multi-threaded: the test waits (blocking) for the server's timer.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn healthz_and_metrics() {
    let server = TestServer::start(1).await;
    let (status, _) = server.call("GET", "/healthz", None, None).await;
    assert_eq!(status, 200);
    server.call("GET", "/api/v1/groups", Some(&server.admin), None).await;
    let (status, text) = server.call("GET", "/metrics", None, None).await;
    assert_eq!(status, 200);
    let text = text.as_str().unwrap();
    for needle in [
        r#"wua_http_requests_total{method="GET",route="/api/v1/groups",status="200"} 1"#,
        "wua_http_request_duration_seconds_bucket{route=\"/api/v1/groups\"",
        "wua_report_events_total{result=\"accepted\"} 0",
        "wua_computers{state=\"all\"} 0",
        "wua_computers_by_report_age{le=\"never\"} 0",
        "wua_timestamp_expires_in_seconds ",
    ] {
        assert!(text.contains(needle), "{needle} not in\n{text}");
    }
    // A timestamp past half its configured lifetime is re-signed by the timer with the
    // timestamp key alone (the targets key is not in the repository: see support.rs).
    let mut fresh = TestServer::start_with(1, |c| {
        c.signing.timestamp_lifetime_seconds = 30 * 86_400;
        c.signing.snapshot_lifetime_seconds = 30 * 86_400;
    })
    .await;
    wua_test_support::wait_for("the timer's re-signing", std::time::Duration::from_secs(30), || {
        let t = wua_trust::repo::expiries(&fresh.fixture.repo).unwrap().timestamp;
        jiff::Timestamp::now().duration_until(t) > jiff::SignedDuration::from_hours(24 * 20)
    });
    let (status, body) = fresh.call("GET", "/healthz", None, None).await;
    assert_eq!(status, 200, "{body}");
    let names: Vec<String> = std::fs::read_dir(fresh.fixture.repo.join("repository/metadata"))
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    assert!(!names.iter().any(|n| n.starts_with("3.targets")), "targets were not re-signed: {names:?}");
    fresh.stop().await;
    // Without the timestamp key the timer cannot, and /healthz reports the timestamp's expiry
    // within a quarter of its lifetime.
    let mut stale = TestServer::start_with(1, |c| {
        c.signing.timestamp_lifetime_seconds = 30 * 86_400;
        c.signing.snapshot_lifetime_seconds = 30 * 86_400;
        std::fs::remove_file(c.repository.join("keys/timestamp.pk8")).unwrap();
    })
    .await;
    let (status, body) = stale.call("GET", "/healthz", None, None).await;
    assert_eq!(status, 503, "{body}");
    assert!(body.as_str().unwrap().contains("timestamp expires"), "{body}");
    stale.stop().await;
}

#[tokio::test]
async fn tls_serves_the_api_and_the_repository() {
    let ca = wua_test_support::tls::TestCa::new().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let (cert, key, ca_pem) = (dir.path().join("server.pem"), dir.path().join("server.key"), dir.path().join("ca.pem"));
    ca.write_server_pem(&cert, &key).unwrap();
    ca.write_ca_pem(&ca_pem).unwrap();
    let tls = wua_server::config::TlsConfig { certificate: cert.clone(), key: key.clone() };
    let mut server = TestServer::start_with(1, |c| c.tls = Some(tls)).await;
    let ca_cert = reqwest::Certificate::from_pem(&std::fs::read(&ca_pem).unwrap()).unwrap();
    let client = reqwest::Client::builder().tls_certs_merge([ca_cert]).build().unwrap();
    let base = format!("https://localhost:{}", server.addr.port());
    let r = client.get(format!("{base}/api/v1/groups")).bearer_auth(&server.admin).send().await.unwrap();
    assert_eq!(r.status(), 200);
    let r = client.get(format!("{base}/repo/metadata/timestamp.json")).send().await.unwrap();
    assert_eq!(r.status(), 200);
    // Plain HTTP to the TLS port gets no answer, and a client without the CA refuses it.
    assert!(reqwest::get(format!("http://{}/healthz", server.addr)).await.is_err());
    assert!(reqwest::Client::new().get(format!("{base}/healthz")).send().await.is_err());
    // A key file that is not a key: the server refuses to start, naming it.
    std::fs::write(&key, "not a key").unwrap();
    let mut config = wua_server::ServerConfig::load(&server.data_dir).unwrap();
    config.tls = Some(wua_server::config::TlsConfig { certificate: cert, key: key.clone() });
    config.listen = "127.0.0.1:0".parse().unwrap();
    let e = wua_server::Server::bind(&server.data_dir, config).await.unwrap_err();
    assert!(e.to_string().contains(key.to_str().unwrap()), "{e}");
    server.stop().await;
}
