//! `wua server` as an administrator runs it: real child processes over a real repository.
//! Tokens are never stored or logged in clear; a server killed mid-batch loses nothing and
//! counts nothing twice; a backup restored onto a fresh server keeps its agents talking; a
//! managed repository refuses approvals from the command line; the systemd unit verifies.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

use serde_json::{Value, json};

use crate::support::{files_manifest, ok, repo_cmd, test_id, text};

/// A repository with `updates` published, a server data directory for it, an administrator
/// token.
struct Setup {
    _dir: tempfile::TempDir,
    repo: PathBuf,
    data: PathBuf,
    admin: String,
    work: PathBuf,
}

fn wua_server() -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_wua"));
    c.env_remove("WUA_LOG").arg("server");
    c
}

fn setup(updates: u32) -> Setup {
    let dir = tempfile::tempdir().unwrap();
    let (repo, data, work) = (dir.path().join("repo"), dir.path().join("data"), dir.path().join("work"));
    std::fs::create_dir_all(&work).unwrap();
    ok(repo_cmd().arg("init").arg(&repo));
    for n in 1..=updates {
        let base = work.join(format!("u{n}"));
        wua_test_support::write_payload(&base.join("payload"), &[(&format!("opt/u{n}"), 0o644, b"x")]).unwrap();
        std::fs::write(base.join("m.toml"), files_manifest(&test_id(n), 1, &format!("u{n}"), "", "")).unwrap();
        ok(repo_cmd().arg("publish").arg(&repo).arg(base.join("m.toml")).arg("--payload").arg(base.join("payload")));
    }
    let o = wua_server().args(["init", "--data-dir"]).arg(&data).arg("--repository").arg(&repo).output().unwrap();
    assert!(o.status.success(), "{}", text(&o));
    let o = wua_server().args(["token", "create", "--name", "tests", "--data-dir"]).arg(&data).output().unwrap();
    assert!(o.status.success(), "{}", text(&o));
    let admin = String::from_utf8(o.stdout).unwrap().trim().to_owned();
    assert!(admin.starts_with("wua_a_"), "{admin}");
    Setup { _dir: dir, repo, data, admin, work }
}

/// A running `wua server run`; its stderr (the log) goes to `log`.
struct Running {
    child: Child,
    base: String,
}

fn start(data: &Path, log: &Path) -> Running {
    let mut child = wua_server()
        .args(["run", "--listen", "127.0.0.1:0", "--data-dir"])
        .arg(data)
        .env("WUA_LOG", "trace")
        .stdout(Stdio::piped())
        .stderr(std::fs::OpenOptions::new().create(true).append(true).open(log).unwrap())
        .spawn()
        .unwrap();
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap()).read_line(&mut line).unwrap();
    let base =
        line.trim().strip_prefix("listening on ").unwrap_or_else(|| panic!("{line}")).trim_end_matches('/').to_owned();
    Running { child, base }
}

impl Running {
    fn signal(&mut self, sig: i32) -> std::process::ExitStatus {
        // SAFETY: signalling our own child.
        unsafe { libc::kill(self.child.id() as i32, sig) };
        self.child.wait().unwrap()
    }
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
    let o = c.output().unwrap();
    let out = String::from_utf8_lossy(&o.stdout).into_owned();
    let (body, code) = out.rsplit_once('\n').unwrap_or(("", "0"));
    (code.trim().parse().unwrap_or(0), serde_json::from_str(body).unwrap_or(Value::String(body.to_owned())))
}

fn admin(r: &Running, s: &Setup, method: &str, path: &str, body: Option<&str>) -> Value {
    let (status, v) = curl(method, &format!("{}{path}", r.base), Some(&s.admin), body);
    assert!((200..300).contains(&status), "{method} {path}: {status} {v}");
    v
}

fn register(r: &Running, key: &str, machine: &str) -> (String, String) {
    let body = json!({"enrolment_key": key, "machine_id": machine}).to_string();
    let (status, v) = curl("POST", &format!("{}/api/v1/agent/register", r.base), None, Some(&body));
    assert_eq!(status, 200, "{v}");
    (v["computer_id"].as_str().unwrap().to_owned(), v["token"].as_str().unwrap().to_owned())
}

fn batch(n: usize) -> String {
    json!({"events": [
        {"key": format!("scan-{n}"), "at": "2026-11-30T00:00:00Z", "event": {"kind": "scan", "needed": [test_id(2)], "installed": []}},
        {"key": format!("install-{n}"), "at": "2026-11-30T00:00:01Z", "event": {"kind": "outcome", "update_id": test_id(1),
            "revision_number": 1, "operation": "Installation", "result_code": "Succeeded", "hresult": 0, "reboot_required": false}},
    ]})
    .to_string()
}

fn files_of(dir: &Path) -> Vec<PathBuf> {
    walkdir::WalkDir::new(dir)
        .into_iter()
        .filter_map(|e| e.ok())
        .filter(|e| e.file_type().is_file())
        .map(|e| e.into_path())
        .collect()
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
}

#[test]
fn tokens_are_never_stored_or_logged_in_clear() {
    let s = setup(1);
    let log = s.work.join("server.log");
    let mut r = start(&s.data, &log);
    let key = admin(&r, &s, "POST", "/api/v1/enrolment-keys", Some("{}"))["key"].as_str().unwrap().to_owned();
    let (_, token) = register(&r, &key, "m1");
    let (status, _) = curl("GET", &format!("{}/api/v1/agent/config", r.base), Some(&token), None);
    assert_eq!(status, 200);
    let (status, _) = curl("POST", &format!("{}/api/v1/agent/reports", r.base), Some(&token), Some(&batch(0)));
    assert_eq!(status, 200);
    // Refused attempts are logged too; their tokens must not be.
    curl("GET", &format!("{}/api/v1/groups", r.base), Some(&token), None);
    assert!(r.signal(libc::SIGTERM).success());
    let log_text = std::fs::read(&log).unwrap();
    assert!(contains(&log_text, b"computer registered"), "the log is written: {}", String::from_utf8_lossy(&log_text));
    for secret in [&s.admin, &key, &token] {
        let hex_part = secret.rsplit('_').next().unwrap();
        let raw = hex::decode(hex_part).unwrap();
        for file in files_of(&s.data).into_iter().chain([log.clone()]) {
            let bytes = std::fs::read(&file).unwrap();
            assert!(!contains(&bytes, hex_part.as_bytes()), "{} holds a token in clear", file.display());
            assert!(!contains(&bytes, &raw), "{} holds a token's raw bytes", file.display());
        }
    }
}

#[test]
fn a_server_killed_mid_batch_loses_nothing_and_doubles_nothing() {
    let s = setup(2);
    let log = s.work.join("server.log");
    let mut r = start(&s.data, &log);
    let key = admin(&r, &s, "POST", "/api/v1/enrolment-keys", Some("{}"))["key"].as_str().unwrap().to_owned();
    let tokens: Vec<String> = (0..40).map(|m| register(&r, &key, &format!("m{m}")).1).collect();
    // Batches in flight from many agents at once; the server is killed among them.
    let url = format!("{}/api/v1/agent/reports", r.base);
    let senders: Vec<_> = tokens
        .iter()
        .enumerate()
        .map(|(n, t)| {
            let (url, t) = (url.clone(), t.clone());
            std::thread::spawn(move || curl("POST", &url, Some(&t), Some(&batch(n))).0 == 200)
        })
        .collect();
    std::thread::sleep(std::time::Duration::from_millis(30));
    r.signal(libc::SIGKILL);
    let acked = senders.into_iter().map(|h| h.join().unwrap()).filter(|a| *a).count() as u64;
    // Restarted, every agent sends its batch again (it has no acknowledgement, or lost it).
    let r = start(&s.data, &log);
    let url = format!("{}/api/v1/agent/reports", r.base);
    let (mut accepted, mut duplicates) = (0, 0);
    for (n, t) in tokens.iter().enumerate() {
        let (status, ack) = curl("POST", &url, Some(t), Some(&batch(n)));
        assert_eq!(status, 200, "{ack}");
        accepted += ack["accepted"].as_u64().unwrap();
        duplicates += ack["duplicates"].as_u64().unwrap();
    }
    assert_eq!(accepted + duplicates, 80);
    assert!(duplicates >= 2 * acked, "an acknowledged batch was lost: {duplicates} < 2 x {acked}");
    let s1 = admin(&r, &s, "GET", &format!("/api/v1/updates/{}/status", test_id(1)), None);
    assert_eq!(s1["installed"], 40, "{s1}");
    let s2 = admin(&r, &s, "GET", &format!("/api/v1/updates/{}/status", test_id(2)), None);
    assert_eq!(s2["needed"], 40, "{s2}");
    let mut r = r;
    r.signal(libc::SIGTERM);
}

#[test]
fn a_backup_restored_onto_a_fresh_server_keeps_its_agents() {
    let s = setup(2);
    let log = s.work.join("server.log");
    let mut r = start(&s.data, &log);
    admin(&r, &s, "POST", "/api/v1/groups", Some(r#"{"name":"web"}"#));
    admin(
        &r,
        &s,
        "POST",
        "/api/v1/groups/web/approvals",
        Some(&json!({"approve": [{"update_id": test_id(1), "action": "install"}]}).to_string()),
    );
    let key =
        admin(&r, &s, "POST", "/api/v1/enrolment-keys", Some(r#"{"group":"web"}"#))["key"].as_str().unwrap().to_owned();
    let (id, token) = register(&r, &key, "m1");
    let (status, _) = curl("POST", &format!("{}/api/v1/agent/reports", r.base), Some(&token), Some(&batch(0)));
    assert_eq!(status, 200);
    // Backed up while it runs.
    let backup = s.work.join("backup");
    let o = wua_server().arg("backup").arg(&backup).arg("--data-dir").arg(&s.data).output().unwrap();
    assert!(o.status.success(), "{}", text(&o));
    assert!(r.signal(libc::SIGTERM).success());
    // The old machine is gone; a fresh one restores the backup.
    std::fs::remove_dir_all(&s.data).unwrap();
    std::fs::remove_dir_all(&s.repo).unwrap();
    let fresh = s.work.join("fresh");
    let o = wua_server().arg("restore").arg(&backup).arg("--data-dir").arg(&fresh).output().unwrap();
    assert!(o.status.success(), "{}", text(&o));
    let mut r = start(&fresh, &log);
    // The agent's token still works, its old events are known, new ones are taken.
    assert_eq!(curl("GET", &format!("{}/api/v1/agent/config", r.base), Some(&token), None).1["group"], "web");
    let (_, ack) = curl("POST", &format!("{}/api/v1/agent/reports", r.base), Some(&token), Some(&batch(0)));
    assert_eq!(ack, json!({"accepted": 0, "duplicates": 2}));
    let (_, ack) = curl("POST", &format!("{}/api/v1/agent/reports", r.base), Some(&token), Some(&batch(1)));
    assert_eq!(ack, json!({"accepted": 2, "duplicates": 0}));
    let detail = admin(&r, &s, "GET", &format!("/api/v1/computers/{id}"), None);
    assert_eq!(detail["updates"][0]["state"], "installed", "{detail}");
    // The restored repository is served and still verifies for an agent, and approvals go on.
    let (status, _) = curl("GET", &format!("{}/repo/metadata/timestamp.json", r.base), None, None);
    assert_eq!(status, 200);
    admin(
        &r,
        &s,
        "POST",
        "/api/v1/groups/web/approvals",
        Some(&json!({"approve": [{"update_id": test_id(2), "action": "optional"}]}).to_string()),
    );
    let state = s.work.join("agent-state");
    std::fs::create_dir_all(&state).unwrap();
    let refreshed =
        crate::support::refresh_from(&fresh.join("repository/root.json"), &state, &fresh.join("repository")).unwrap();
    assert_eq!(refreshed.approvals["web"].len(), 2);
    r.signal(libc::SIGTERM);
}

#[test]
fn a_managed_repository_refuses_approvals_from_the_command_line() {
    let s = setup(1);
    let o = repo_cmd()
        .arg("approve")
        .arg(&s.repo)
        .arg(test_id(1))
        .args(["--group", "web", "--action", "install"])
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    assert!(text(&o).contains("POST /api/v1/groups/web/approvals"), "{}", text(&o));
    assert!(text(&o).contains("WUA_E_REPO_MANAGED"), "{}", text(&o));
    // Publishing still works from the command line where the targets key is.
    let base = s.work.join("u9");
    wua_test_support::write_payload(&base.join("payload"), &[("opt/u9", 0o644, b"x")]).unwrap();
    std::fs::write(base.join("m.toml"), files_manifest(&test_id(9), 1, "u9", "", "")).unwrap();
    ok(repo_cmd().arg("publish").arg(&s.repo).arg(base.join("m.toml")).arg("--payload").arg(base.join("payload")));
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
    let o = Command::new("systemd-analyze").arg("verify").arg(dir.path().join("wua-server.service")).output().unwrap();
    assert!(o.status.success(), "{}", text(&o));
    assert!(!String::from_utf8_lossy(&o.stderr).contains("wua-server.service"), "{}", text(&o));
}
