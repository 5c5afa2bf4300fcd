//! Automatic approval rules: a revision published after a rule, of a classification and
//! severity it matches, is approved for its groups with the rule's deadline; others are not.

use std::time::Duration;

use serde_json::json;
use wua_test_support::{files_manifest, test_id, write_payload};

use crate::support::{TestServer, assert_error};

/// Publishes update `n` as the publisher does (holding the targets key for the moment).
async fn publish(server: &TestServer, n: u32, extra: &str) {
    let repo = &server.fixture.repo;
    let key = server.fixture.work.join("publisher-targets.pk8");
    std::fs::rename(&key, repo.join("keys/targets.pk8")).unwrap();
    let base = server.fixture.work.join(format!("rule-u{n}"));
    write_payload(&base.join("payload"), &[(&format!("opt/u{n}/file"), 0o644, b"x")]).unwrap();
    std::fs::write(base.join("m.toml"), files_manifest(&test_id(n), 1, &format!("update {n}"), extra, "")).unwrap();
    wua_trust::repo::publish(repo, &base.join("m.toml"), &base.join("payload")).await.unwrap();
    std::fs::rename(repo.join("keys/targets.pk8"), &key).unwrap();
}

const SECURITY: &str = r#"categories = [{ id = "0fa1201d-4330-4fa8-8ae9-b877473b6441", name = "Security Updates", type = "UpdateClassification" }]"#;

// Multi-threaded: the test waits (blocking) for the server's timer.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rule_approves_matching_revisions_published_after_it() {
    let server = TestServer::start_with(1, |c| c.signing.check_interval_seconds = 1).await;
    server.group("web").await;
    let admin = Some(server.admin.as_str());
    let bad = server.call("POST", "/api/v1/rules", admin, Some(r#"{"name":"r","groups":[],"action":"install"}"#)).await;
    assert_error(&bad, 400, "WUA_E_SERVER_BAD_REQUEST");
    let missing =
        server.call("POST", "/api/v1/rules", admin, Some(r#"{"name":"r","groups":["nope"],"action":"install"}"#)).await;
    assert_error(&missing, 404, "WUA_E_SERVER_NOT_FOUND");
    let rule = json!({
        "name": "critical security", "classifications": ["Security Updates"], "severities": ["Critical"],
        "groups": ["web"], "action": "install", "deadline_offset_days": 7,
    });
    let made = server.admin("POST", "/api/v1/rules", Some(&rule.to_string())).await;
    assert_eq!(server.admin("GET", "/api/v1/rules", None).await.as_array().unwrap().len(), 1);

    publish(&server, 2, &format!("msrc_severity = \"Critical\"\n{SECURITY}")).await;
    publish(&server, 3, &format!("msrc_severity = \"Low\"\n{SECURITY}")).await;
    publish(&server, 4, "msrc_severity = \"Critical\"").await;
    let web = || async { server.admin("GET", "/api/v1/groups/web", None).await };
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    let summary = loop {
        let s = web().await;
        if !s["approvals"].as_array().unwrap().is_empty() || std::time::Instant::now() > deadline {
            break s;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    let approvals = summary["approvals"].as_array().unwrap();
    assert_eq!(approvals.len(), 1, "{summary}");
    assert_eq!(approvals[0]["update_id"], test_id(2));
    assert_eq!(approvals[0]["action"], "install");
    let due: jiff::Timestamp = approvals[0]["deadline"].as_str().unwrap().parse().unwrap();
    let days = jiff::Timestamp::now().duration_until(due).as_hours() / 24;
    assert!((6..=7).contains(&days), "{due}");
    // Signed into the repository, audited under the rule's name.
    let signed = wua_trust::repo::read_approvals(&server.fixture.repo, "web").unwrap();
    assert_eq!(signed.approvals.len(), 1);
    let audit = server.admin("GET", "/api/v1/audit?limit=1", None).await;
    assert_eq!(audit["items"][0]["actor"], format!("rule critical security ({})", made["id"]), "{audit}");
    // Deleting the rule: later revisions are no longer approved.
    server.admin("DELETE", &format!("/api/v1/rules/{}", made["id"]), None).await;
    assert_error(&server.call("DELETE", "/api/v1/rules/999", admin, None).await, 404, "WUA_E_SERVER_NOT_FOUND");
    publish(&server, 5, &format!("msrc_severity = \"Critical\"\n{SECURITY}")).await;
    tokio::time::sleep(Duration::from_secs(3)).await;
    assert_eq!(web().await["approvals"].as_array().unwrap().len(), 1);
}
