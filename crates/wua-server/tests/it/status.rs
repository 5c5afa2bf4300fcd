//! Status as WSUS reports it: per update the counts of computers installed / needed / failed /
//! not applicable / pending reboot / no status; per computer its updates; per group a summary;
//! moving a computer moves its counts. Approvals through the API are signed into the
//! repository and audited.

use serde_json::{Value, json};

use crate::support::{TestServer, event, installed, scan, update};

async fn report(server: &TestServer, token: &str, events: Vec<Value>) {
    let body = json!({ "events": events }).to_string();
    let (status, ack) = server.call("POST", "/api/v1/agent/reports", Some(token), Some(&body)).await;
    assert_eq!(status, 200, "{ack}");
}

async fn counts(server: &TestServer, n: u32) -> [u64; 6] {
    let s = server.admin("GET", &format!("/api/v1/updates/{}/status", update(n)), None).await;
    ["installed", "needed", "failed", "not_applicable", "pending_reboot", "no_status"].map(|k| s[k].as_u64().unwrap())
}

#[tokio::test]
async fn update_computer_and_group_status() {
    let server = TestServer::start(3).await;
    server.group("a").await;
    server.group("b").await;
    server
        .approve(
            "a",
            json!([{"update_id": update(1), "action": "install"}, {"update_id": update(2), "action": "optional"}]),
        )
        .await;
    let key_a = server.enrolment_key(Some("a"), false).await;
    let key_b = server.enrolment_key(Some("b"), false).await;
    let (a1, t_a1) = server.register(&key_a, "a1").await;
    let (_, t_a2) = server.register(&key_a, "a2").await;
    let (_, t_a3) = server.register(&key_a, "a3").await;
    let (b1, t_b1) = server.register(&key_b, "b1").await;
    // No reports yet: every computer has no status.
    assert_eq!(counts(&server, 1).await, [0, 0, 0, 0, 0, 4]);
    // a1 needs 1 and installs it (reboot pending); a2 fails it; a3's scan lists neither 1 nor
    // 2 (not applicable there); b1 needs 1, which is not approved for b.
    report(
        &server,
        &t_a1,
        vec![event("s", scan(&[update(1)], &[update(2)])), event("i", installed(&update(1), true, true))],
    )
    .await;
    report(&server, &t_a2, vec![event("s", scan(&[update(1)], &[])), event("i", installed(&update(1), false, false))])
        .await;
    report(&server, &t_a3, vec![event("s", scan(&[update(3)], &[]))]).await;
    report(&server, &t_b1, vec![event("s", scan(&[update(1)], &[]))]).await;
    // installed, needed, failed, not applicable, pending reboot, no status
    assert_eq!(counts(&server, 1).await, [0, 1, 1, 1, 1, 0]);
    assert_eq!(counts(&server, 2).await, [1, 0, 0, 2, 0, 1]);
    assert_eq!(counts(&server, 3).await, [0, 1, 0, 0, 0, 3]);
    // A failure stays a failure through the next scan; a reboot completes a1's install.
    report(&server, &t_a2, vec![event("s2", scan(&[update(1)], &[]))]).await;
    report(&server, &t_a1, vec![event("r", json!({"kind": "reboot", "required": false}))]).await;
    assert_eq!(counts(&server, 1).await, [1, 1, 1, 1, 0, 0]);

    let detail = server.admin("GET", &format!("/api/v1/computers/{a1}"), None).await;
    let states: Vec<(&str, &str)> = detail["updates"]
        .as_array()
        .unwrap()
        .iter()
        .map(|u| (u["update_id"].as_str().unwrap(), u["state"].as_str().unwrap()))
        .collect();
    assert_eq!(states, [(update(1).as_str(), "installed"), (update(2).as_str(), "installed")]);
    let a = server.admin("GET", "/api/v1/groups/a", None).await;
    assert_eq!(
        (
            &a["group"]["computers"],
            &a["computers_reporting"],
            &a["computers_needing_updates"],
            &a["computers_with_failures"]
        ),
        (&json!(3), &json!(3), &json!(1), &json!(1)),
        "{a}"
    );
    assert_eq!(a["approvals"].as_array().unwrap().len(), 2, "{a}");

    // b1 moves to a: its needed update 1 is now counted in a (the totals stay), and 2
    // (approved for a, not in its scan) becomes not applicable for it.
    let b_before = server.admin("GET", "/api/v1/groups/b", None).await;
    assert_eq!(b_before["computers_needing_updates"], 1, "{b_before}");
    server.admin("PUT", &format!("/api/v1/computers/{b1}/group"), Some(r#"{"group":"a"}"#)).await;
    assert_eq!(counts(&server, 1).await, [1, 1, 1, 1, 0, 0]);
    assert_eq!(counts(&server, 2).await, [1, 0, 0, 3, 0, 0]);
    let b = server.admin("GET", "/api/v1/groups/b", None).await;
    assert_eq!(
        (&b["group"]["computers"], &b["computers_reporting"], &b["computers_needing_updates"]),
        (&json!(0), &json!(0), &json!(0)),
        "{b}"
    );
    let a = server.admin("GET", "/api/v1/groups/a", None).await;
    assert_eq!((&a["group"]["computers"], &a["computers_needing_updates"]), (&json!(4), &json!(2)), "{a}");
    let groups = server.admin("GET", "/api/v1/groups", None).await;
    assert_eq!(groups.as_array().unwrap().len(), 3, "{groups}");

    // The approvals are in the signed repository, and the audit log says who did what.
    let signed: Value =
        serde_json::from_slice(&std::fs::read(server.fixture.repo.join("catalog/approvals-a.json")).unwrap()).unwrap();
    assert_eq!(signed["approvals"].as_array().unwrap().len(), 2, "{signed}");
    let audit = server.admin("GET", "/api/v1/audit?limit=3", None).await;
    let actions: Vec<&str> = audit["items"].as_array().unwrap().iter().map(|e| e["action"].as_str().unwrap()).collect();
    assert_eq!(actions, ["move_computer", "create_enrolment_key", "create_enrolment_key"], "{audit}");
    assert!(audit["items"][0]["actor"].as_str().unwrap().starts_with("tests ("), "{audit}");
    assert!(audit["next"].is_string(), "{audit}");

    // Its history: every event it sent, newest first, paged.
    let events = server.admin("GET", &format!("/api/v1/computers/{a1}/events?limit=2"), None).await;
    let kinds: Vec<&str> =
        events["items"].as_array().unwrap().iter().map(|e| e["event"]["kind"].as_str().unwrap()).collect();
    assert_eq!(kinds, ["reboot", "outcome"], "{events}");
    let rest = server
        .admin("GET", &format!("/api/v1/computers/{a1}/events?after={}", events["next"].as_str().unwrap()), None)
        .await;
    assert_eq!(rest["items"].as_array().unwrap().len(), 1, "{rest}");
    assert_eq!(rest["items"][0]["event"]["kind"], "scan");
    assert!(rest["next"].is_null(), "{rest}");
    let bad = server.call("GET", &format!("/api/v1/computers/{a1}/events?after=x"), Some(&server.admin), None).await;
    crate::support::assert_error(&bad, 400, "WUA_E_SERVER_BAD_REQUEST");

    // Deleting a computer takes its counts away.
    server.admin("DELETE", &format!("/api/v1/computers/{b1}"), None).await;
    assert_eq!(counts(&server, 1).await, [1, 0, 1, 1, 0, 0]);
    let page = server.admin("GET", "/api/v1/computers?limit=2", None).await;
    assert_eq!(page["items"].as_array().unwrap().len(), 2);
    let rest = server.admin("GET", &format!("/api/v1/computers?after={}", page["next"].as_str().unwrap()), None).await;
    assert_eq!(rest["items"].as_array().unwrap().len(), 1, "{rest}");
}

#[tokio::test]
async fn client_side_targeting_needs_a_key_that_allows_it() {
    let server = TestServer::start(1).await;
    server.group("ring1").await;
    let plain = server.enrolment_key(None, false).await;
    let targeting = server.enrolment_key(None, true).await;
    let register = |key: String, machine: &'static str| {
        let body = json!({"enrolment_key": key, "machine_id": machine, "requested_group": "ring1"}).to_string();
        let server = &server;
        async move { server.call("POST", "/api/v1/agent/register", None, Some(&body)).await.1 }
    };
    assert_eq!(register(plain, "m1").await["config"]["group"], "unassigned");
    assert_eq!(register(targeting.clone(), "m2").await["config"]["group"], "ring1");
    // A group that does not exist: the computer waits in the unassigned group.
    let body = json!({"enrolment_key": targeting, "machine_id": "m3", "requested_group": "nope"}).to_string();
    assert_eq!(
        server.call("POST", "/api/v1/agent/register", None, Some(&body)).await.1["config"]["group"],
        "unassigned"
    );
}
