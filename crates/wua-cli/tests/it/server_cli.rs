//! `wua server` as an administrator runs it: real child processes over a real repository.
//! Tokens are never stored or logged in clear; a server killed mid-batch loses nothing and
//! counts nothing twice; a backup restored onto a fresh server keeps its agents talking; a
//! managed repository refuses approvals from the command line; the systemd unit verifies.

use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::{Value, json};
use wua_fetch::ApiMethod;

use crate::agent_run::{publish, repository};
use crate::server_support::ServerChild;
use crate::support::{CHILD_LIMIT, World, ok, repo_cmd, run, test_id, text};

fn wua_server() -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_wua"));
    c.env_remove("WUA_LOG").arg("server");
    c
}

/// A repository with `updates` published and the server over it.
fn setup(updates: u32) -> (World, PathBuf, ServerChild) {
    let w = World::new().unwrap();
    let repo = repository(&w);
    for n in 1..=updates {
        publish(&w, &repo, n, "", "");
    }
    let server = ServerChild::start(&w, &repo);
    (w, repo, server)
}

/// curl: (status, body as JSON or text).
fn curl(method: &str, url: &str, token: Option<&str>, body: Option<&str>) -> (u16, Value) {
    let mut c = Command::new("curl");
    c.args(["-sS", "-o", "-", "-w", "\n%{http_code}", "-X", method, url]);
    if let Some(t) = token {
        c.args(["-H", &format!("Authorization: Bearer {t}")]);
    }
    if let Some(b) = body {
        c.args(["-H", "Content-Type: application/json", "--data-binary", b]);
    }
    let o = run(&mut c);
    let out = String::from_utf8_lossy(&o.stdout).into_owned();
    let (body, code) = out.rsplit_once('\n').unwrap_or(("", "0"));
    (code.trim().parse().unwrap_or(0), serde_json::from_str(body).unwrap_or(Value::String(body.to_owned())))
}

fn register(server: &ServerChild, key: &str, machine: &str) -> (String, String) {
    let body = json!({"enrolment_key": key, "machine_id": machine}).to_string();
    let (status, v) = curl("POST", &format!("{}/api/v1/agent/register", server.url), None, Some(&body));
    assert_eq!(status, 200, "{v}");
    (v["computer_id"].as_str().unwrap().to_owned(), v["token"].as_str().unwrap().to_owned())
}

fn report(server: &ServerChild, token: &str, body: &str) -> (u16, Value) {
    curl("POST", &format!("{}/api/v1/agent/reports", server.url), Some(token), Some(body))
}

/// Computer `n`'s batch: a scan needing update 2, then update 1 installed.
fn batch(n: usize) -> String {
    json!({"events": [
        {"key": format!("scan-{n}"), "at": "2026-11-30T00:00:00Z", "event": {"kind": "scan", "needed": [test_id(2)], "installed": []}},
        {"key": format!("install-{n}"), "at": "2026-11-30T00:00:01Z", "event": {"kind": "outcome", "update_id": test_id(1),
            "revision_number": 1, "operation": "Installation", "result_code": "Succeeded", "hresult": 0, "reboot_required": false}},
    ]})
    .to_string()
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
}

#[test]
fn tokens_are_never_stored_or_logged_in_clear() {
    let (_w, _repo, mut server) = setup(1);
    let key = server.enrolment_key();
    let (_, token) = register(&server, &key, "m1");
    let (status, _) = curl("GET", &format!("{}/api/v1/agent/config", server.url), Some(&token), None);
    assert_eq!(status, 200);
    assert_eq!(report(&server, &token, &batch(0)).0, 200);
    // Refused attempts are logged too; their tokens must not be.
    curl("GET", &format!("{}/api/v1/groups", server.url), Some(&token), None);
    assert!(server.stop(), "SIGTERM ends the server cleanly");
    let log = std::fs::read(&server.log).unwrap();
    assert!(contains(&log, b"computer registered"), "the log is written: {}", String::from_utf8_lossy(&log));
    let files: Vec<PathBuf> = walkdir::WalkDir::new(&server.data_dir)
        .into_iter()
        .filter_map(Result::ok)
        .filter(|e| e.file_type().is_file())
        .map(|e| e.into_path())
        .chain([server.log.clone()])
        .collect();
    assert!(files.iter().any(|f| f.ends_with("server.sqlite")), "{files:?}");
    for secret in [&server.admin, &key, &token] {
        let hex_part = secret.rsplit('_').next().unwrap();
        let raw = hex::decode(hex_part).unwrap();
        for file in &files {
            let bytes = std::fs::read(file).unwrap();
            assert!(!contains(&bytes, hex_part.as_bytes()), "{} holds a token in clear", file.display());
            assert!(!contains(&bytes, &raw), "{} holds a token's raw bytes", file.display());
        }
    }
}

#[test]
fn a_server_killed_mid_batch_loses_nothing_and_doubles_nothing() {
    let (_w, _repo, mut server) = setup(2);
    let key = server.enrolment_key();
    let tokens: Vec<String> = (0..40).map(|m| register(&server, &key, &format!("m{m}")).1).collect();
    // Batches in flight from many agents at once; the server is killed among them.
    let url = format!("{}/api/v1/agent/reports", server.url);
    let senders: Vec<_> = tokens
        .iter()
        .enumerate()
        .map(|(n, t)| {
            let (url, t) = (url.clone(), t.clone());
            std::thread::spawn(move || curl("POST", &url, Some(&t), Some(&batch(n))).0 == 200)
        })
        .collect();
    std::thread::sleep(std::time::Duration::from_millis(30));
    server.kill();
    // Bounded: each sender's curl is (`run`).
    let acked = senders
        .into_iter()
        .map(|h| wua_test_support::join_within(h, CHILD_LIMIT, "a batch's sender").unwrap())
        .filter(|a| *a)
        .count() as u64;
    // Restarted, every agent sends its batch again (it has no acknowledgement, or lost it).
    server.restart();
    let (mut accepted, mut duplicates) = (0, 0);
    for (n, t) in tokens.iter().enumerate() {
        let (status, ack) = report(&server, t, &batch(n));
        assert_eq!(status, 200, "{ack}");
        accepted += ack["accepted"].as_u64().unwrap();
        duplicates += ack["duplicates"].as_u64().unwrap();
    }
    assert_eq!(accepted + duplicates, 80);
    assert!(duplicates >= 2 * acked, "an acknowledged batch was lost: {duplicates} < 2 x {acked}");
    let s1 = server.get(&format!("/api/v1/updates/{}/status", test_id(1)));
    assert_eq!(s1["installed"], 40, "{s1}");
    let s2 = server.get(&format!("/api/v1/updates/{}/status", test_id(2)));
    assert_eq!(s2["needed"], 40, "{s2}");
}

#[test]
fn a_backup_restored_onto_a_fresh_server_keeps_its_agents() {
    let (w, repo, mut server) = setup(2);
    let key = server.enrolment_key();
    server.approve("ring-1", &test_id(1), wua_agent::wua_types::api::ApprovalAction::Install, None);
    let (id, token) = register(&server, &key, "m1");
    assert_eq!(report(&server, &token, &batch(0)).0, 200);
    // Backed up while it runs.
    let backup = w.work.join("backup");
    let o = run(wua_server().arg("backup").arg(&backup).arg("--data-dir").arg(&server.data_dir));
    assert!(o.status.success(), "{}", text(&o));
    assert!(server.stop());
    // The old machine is gone; a fresh one restores the backup.
    std::fs::remove_dir_all(&server.data_dir).unwrap();
    std::fs::remove_dir_all(&repo).unwrap();
    let fresh = w.work.join("fresh");
    let o = run(wua_server().arg("restore").arg(&backup).arg("--data-dir").arg(&fresh));
    assert!(o.status.success(), "{}", text(&o));
    let restored = ServerChild::open(&fresh, &server.log, &server.admin);
    // The agent's token still works, its old events are known, new ones are taken.
    let (_, config) = curl("GET", &format!("{}/api/v1/agent/config", restored.url), Some(&token), None);
    assert_eq!(config["group"], "ring-1");
    assert_eq!(report(&restored, &token, &batch(0)).1, json!({"accepted": 0, "duplicates": 2}));
    assert_eq!(report(&restored, &token, &batch(1)).1, json!({"accepted": 2, "duplicates": 0}));
    assert_eq!(restored.states(&id).get(&test_id(1)).map(String::as_str), Some("installed"));
    // The restored repository is served and still verifies for an agent; approvals go on.
    let (status, _) = curl("GET", &format!("{}/repo/metadata/timestamp.json", restored.url), None, None);
    assert_eq!(status, 200);
    restored.approve("ring-1", &test_id(2), wua_agent::wua_types::api::ApprovalAction::Optional, None);
    let state = w.work.join("agent-state");
    std::fs::create_dir_all(&state).unwrap();
    let root = fresh.join("repository/repository/metadata/1.root.json");
    let refreshed = crate::support::refresh_from(&root, &state, &fresh.join("repository")).unwrap();
    assert_eq!(refreshed.approvals["ring-1"].len(), 2);
    let _ = restored.admin::<()>(ApiMethod::Get, "/api/v1/groups", None);
}

#[test]
fn a_managed_repository_refuses_approvals_from_the_command_line() {
    let (w, repo, _server) = setup(1);
    let o = run(repo_cmd().arg("approve").arg(&repo).arg(test_id(1)).args(["--group", "web", "--action", "install"]));
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    assert!(text(&o).contains("POST /api/v1/groups/web/approvals"), "{}", text(&o));
    assert!(text(&o).contains("WUA_E_REPO_MANAGED"), "{}", text(&o));
    // Publishing still works from the command line where the targets key is.
    publish(&w, &repo, 9, "", "");
    let listed = ok(repo_cmd().arg("list").arg(&repo));
    assert!(listed.to_string().contains(&test_id(9)), "{listed}");
}

/// The server's unit passes `systemd-analyze verify` with ExecStart pointing at the built
/// binary.
#[test]
fn the_server_unit_verifies() {
    let dist = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../dist");
    let dir = tempfile::tempdir().unwrap();
    let unit = std::fs::read_to_string(dist.join("wua-server.service")).unwrap();
    assert!(unit.contains("ExecStart=/usr/bin/wua server run --data-dir /var/lib/wua-server"), "{unit}");
    let unit = unit.replace("ExecStart=/usr/bin/wua ", &format!("ExecStart={} ", env!("CARGO_BIN_EXE_wua")));
    std::fs::write(dir.path().join("wua-server.service"), unit).unwrap();
    let o = run(Command::new("systemd-analyze").arg("verify").arg(dir.path().join("wua-server.service")));
    assert!(o.status.success(), "{}", text(&o));
    assert!(!String::from_utf8_lossy(&o.stderr).contains("wua-server.service"), "{}", text(&o));
}
