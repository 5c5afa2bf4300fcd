//! Report batches: concurrent and retried batches store each event once; a server stopped
//! while batches are in flight loses nothing and counts nothing twice.

use std::sync::Arc;

use serde_json::json;

use crate::support::{TestServer, event, installed, scan, update};

#[tokio::test]
async fn concurrent_and_retried_batches_count_each_event_once() {
    let server = Arc::new(TestServer::start(3).await);
    let key = server.enrolment_key(None, false).await;
    let mut computers = Vec::new();
    for m in 0..20 {
        computers.push(server.register(&key, &format!("machine-{m}")).await);
    }
    // Each computer: a scan and an install outcome, in two batches; every batch is sent three
    // times at once (an agent retrying after lost answers).
    let mut tasks = Vec::new();
    for (n, (_, token)) in computers.iter().enumerate() {
        let batches = [
            json!({"events": [event(&format!("scan-{n}"), scan(&[update(1), update(2)], &[]))]}),
            json!({"events": [event(&format!("install-{n}"), installed(&update(1), n % 2 == 0, false))]}),
        ];
        for batch in batches {
            for _ in 0..3 {
                let (server, token, body) = (server.clone(), token.clone(), batch.to_string());
                tasks.push(tokio::spawn(async move {
                    let (status, ack) = server.call("POST", "/api/v1/agent/reports", Some(&token), Some(&body)).await;
                    assert_eq!(status, 200, "{ack}");
                    (ack["accepted"].as_u64().unwrap(), ack["duplicates"].as_u64().unwrap())
                }));
            }
        }
    }
    let (mut accepted, mut duplicates) = (0, 0);
    for t in tasks {
        let (a, d) = t.await.unwrap();
        accepted += a;
        duplicates += d;
    }
    assert_eq!((accepted, duplicates), (40, 80));
    let s1 = server.admin("GET", &format!("/api/v1/updates/{}/status", update(1)), None).await;
    assert_eq!((s1["installed"].as_u64(), s1["failed"].as_u64(), s1["needed"].as_u64()), (Some(10), Some(10), Some(0)));
    let s2 = server.admin("GET", &format!("/api/v1/updates/{}/status", update(2)), None).await;
    assert_eq!(s2["needed"], 20, "{s2}");
    let (status, metrics) = server.call("GET", "/metrics", None, None).await;
    assert_eq!(status, 200);
    let metrics = metrics.as_str().unwrap();
    assert!(metrics.contains("wua_report_events_total{result=\"accepted\"} 40"), "{metrics}");
    assert!(metrics.contains("wua_report_events_total{result=\"duplicate\"} 80"), "{metrics}");
}

#[tokio::test]
async fn a_computer_reports_only_for_itself() {
    let server = TestServer::start(1).await;
    let key = server.enrolment_key(None, false).await;
    let (a, token_a) = server.register(&key, "a").await;
    let (b, _) = server.register(&key, "b").await;
    // No route takes a computer id from the agent: what A sends is A's, whatever it claims.
    let body = json!({"events": [event("k", installed(&update(1), true, false))], "computer_id": b}).to_string();
    let (status, _) = server.call("POST", "/api/v1/agent/reports", Some(&token_a), Some(&body)).await;
    assert_eq!(status, 400, "an unknown field is refused, never read");
    let body = json!({"events": [event("k", installed(&update(1), true, false))]}).to_string();
    let (status, _) = server.call("POST", "/api/v1/agent/reports", Some(&token_a), Some(&body)).await;
    assert_eq!(status, 200);
    let detail_a = server.admin("GET", &format!("/api/v1/computers/{a}"), None).await;
    let detail_b = server.admin("GET", &format!("/api/v1/computers/{b}"), None).await;
    assert_eq!(detail_a["updates"][0]["state"], "installed", "{detail_a}");
    assert_eq!(detail_b["updates"], json!([]), "{detail_b}");
}

#[tokio::test]
async fn a_server_stopped_mid_batch_loses_nothing_and_doubles_nothing() {
    let mut server = TestServer::start(2).await;
    let key = server.enrolment_key(None, false).await;
    let mut computers = Vec::new();
    for m in 0..50 {
        computers.push(server.register(&key, &format!("machine-{m}")).await.1);
    }
    let batches: Vec<(String, String)> = computers
        .iter()
        .enumerate()
        .map(|(n, token)| {
            let body = json!({"events": [
                event(&format!("scan-{n}"), scan(&[update(2)], &[])),
                event(&format!("install-{n}"), installed(&update(1), true, false)),
            ]});
            (token.clone(), body.to_string())
        })
        .collect();
    // Send every batch while the server shuts down part way.
    let client = server.client.clone();
    let url = server.url("/api/v1/agent/reports");
    let mut tasks = Vec::new();
    for (token, body) in batches.clone() {
        let (client, url) = (client.clone(), url.clone());
        tasks.push(tokio::spawn(async move {
            let sent =
                client.post(url).bearer_auth(token).header("content-type", "application/json").body(body).send().await;
            match sent {
                Ok(r) if r.status() == 200 => r.text().await.is_ok(),
                _ => false,
            }
        }));
    }
    tokio::time::sleep(std::time::Duration::from_millis(5)).await;
    server.restart().await;
    let mut acked = 0;
    for t in tasks {
        acked += u32::from(t.await.unwrap());
    }
    // The agents retry every batch they have no acknowledgement for — and, to be hostile,
    // the acknowledged ones too.
    let (mut accepted, mut duplicates) = (0, 0);
    for (token, body) in &batches {
        let (status, ack) = server.call("POST", "/api/v1/agent/reports", Some(token), Some(body)).await;
        assert_eq!(status, 200, "{ack}");
        accepted += ack["accepted"].as_u64().unwrap();
        duplicates += ack["duplicates"].as_u64().unwrap();
    }
    assert_eq!(accepted + duplicates, 100);
    assert!(duplicates >= 2 * u64::from(acked), "every acknowledged batch was stored: {duplicates} < 2 x {acked}");
    let s1 = server.admin("GET", &format!("/api/v1/updates/{}/status", update(1)), None).await;
    assert_eq!(s1["installed"], 50, "{s1}");
    let s2 = server.admin("GET", &format!("/api/v1/updates/{}/status", update(2)), None).await;
    assert_eq!(s2["needed"], 50, "{s2}");
}
