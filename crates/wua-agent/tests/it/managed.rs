//! A managed server as a service: registration (machine id, token file, the insecure-URL
//! refusal), check-in, D-27 (the signed approvals of the computer's group decide deployment),
//! and the outbox (D-17: outcomes queued with their history entry; flushed in batches, kept
//! when the server is unreachable, resent without doubling). The server is
//! `wua_test_support::fake_server`, real HTTP on 127.0.0.1.

use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::time::{Duration, Instant};

use wua_agent::wua_types::api::{ApprovalAction, ReportBody};
use wua_agent::wua_types::{DeploymentAction, HResult, OperationResultCode, ServerSelection, UpdateOperation};
use wua_agent::{ManagedServerRegistration, UpdateSession};
use wua_store::{ManagedServerRecord, ServiceKind, ServiceRecord, Store};
use wua_test_support::fake_server::FakeServer;
use wua_test_support::serve::Served;

use crate::search::{Repo, found};
use crate::support::*;

const KEY: &str = "wua_e_test-key";

fn registration(url: &str, root: &[u8], group: Option<&str>) -> ManagedServerRegistration {
    ManagedServerRegistration {
        name: None,
        server_url: url.to_owned(),
        trusted_root: root.to_vec(),
        enrolment_key: KEY.to_owned(),
        ca_bundle: None,
        requested_group: group.map(str::to_owned),
    }
}

/// Every file of the state directory's datastore (the database, its WAL and shared memory).
fn datastore_bytes(state: &Path) -> Vec<u8> {
    let mut all = Vec::new();
    for name in ["wua.db", "wua.db-wal", "wua.db-shm"] {
        if let Ok(bytes) = std::fs::read(state.join(name)) {
            all.extend(bytes);
        }
    }
    all
}

fn contains(haystack: &[u8], needle: &str) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle.as_bytes())
}

/// Registration records the service (kind, computer id, group), writes the token to its own
/// file with mode 0600 and nowhere in the datastore; registering again keeps the service and
/// the computer's identity and replaces the token; check-in follows the server's group.
#[test]
fn register_and_check_in() {
    let w = World::new().unwrap();
    let repo = Repo::new(&w);
    let server = FakeServer::start(KEY, Some(repo.served_tree()));
    let s = session(&w);
    let manager = s.create_update_service_manager();
    let service = manager.add_managed_server(&registration(&server.url, &repo.root(), Some("ring-1"))).unwrap();
    assert!(service.is_managed && service.non_volatile && !service.is_scan_package_service, "{service:?}");
    assert_eq!(service.service_url, server.url);
    assert_eq!(service.group.as_deref(), Some("ring-1"));
    let computer = server.state().computers[0].clone();
    assert_eq!(service.computer_id.as_deref(), Some(computer.id.as_str()));
    assert_eq!(server.state().registrations[0].requested_group.as_deref(), Some("ring-1"));

    let token_file = w.state.join("services").join(&service.service_id).join("token");
    assert_eq!(std::fs::read_to_string(&token_file).unwrap(), computer.token);
    assert_eq!(std::fs::metadata(&token_file).unwrap().permissions().mode() & 0o777, 0o600);
    assert!(!contains(&datastore_bytes(&w.state), &computer.token), "the token is not in the datastore");
    assert!(!contains(&datastore_bytes(&w.state), KEY), "nor is the enrolment key");

    let listed = manager.services().unwrap();
    assert_eq!(listed, std::slice::from_ref(&service));
    let m = manager.managed_server().unwrap().unwrap();
    assert_eq!((m.computer_id.as_str(), m.group.as_str()), (computer.id.as_str(), "ring-1"));
    assert!(m.last_checkin.is_none() && m.checkin_due(time::OffsetDateTime::now_utc()), "{m:?}");

    // Again: the same service, the same computer, a new token.
    let again = manager.add_managed_server(&registration(&server.url, &repo.root(), None)).unwrap();
    assert_eq!(again.service_id, service.service_id);
    assert_eq!(again.computer_id, service.computer_id);
    let computers = server.state().computers.clone();
    assert_eq!(computers.len(), 1, "one computer: the machine id is the same");
    assert_ne!(computers[0].token, computer.token);
    assert_eq!(std::fs::read_to_string(&token_file).unwrap(), computers[0].token);
    assert_eq!(manager.services().unwrap().len(), 1);

    // Check-in: the group the server says, the interval, the time.
    server.state().computers[0].group = "ring-2".into();
    server.state().checkin_interval_seconds = 60;
    let config = manager.check_in(&service.service_id).unwrap();
    assert_eq!((config.group.as_str(), config.checkin_interval_seconds), ("ring-2", 60));
    let m = manager.managed_server().unwrap().unwrap();
    assert_eq!((m.group.as_str(), m.checkin_interval_seconds), ("ring-2", 60));
    let now = time::OffsetDateTime::now_utc();
    assert!(!m.checkin_due(now) && m.checkin_due(now + time::Duration::seconds(61)), "{m:?}");
    let auth = server.state().authorizations.last().unwrap().1.clone();
    assert_eq!(auth, format!("Bearer {}", computers[0].token));

    // Another server while registered with this one: refused.
    let other = FakeServer::start(KEY, None);
    let e = manager.add_managed_server(&registration(&other.url, &repo.root(), None)).unwrap_err();
    assert_eq!(e.hresult, HResult::E_INVALIDARG, "{e}");
    assert!(other.state().registrations.is_empty());

    // A reset keeps the registration; removing the service forgets it and its token.
    manager.reset_service(&service.service_id).unwrap();
    assert!(token_file.exists());
    manager.check_in(&service.service_id).unwrap();
    manager.remove_service(&service.service_id).unwrap();
    assert!(!token_file.exists());
    assert!(manager.managed_server().unwrap().is_none());
}

/// A token (or an enrolment key) never travels over plain http to a host that is not
/// loopback: refused at once, before any connection (192.0.2.1 is TEST-NET: nothing answers,
/// a connection attempt would wait for the connect time-out). A key the server refuses is its
/// code, and nothing is recorded.
#[test]
fn insecure_urls_and_bad_keys_are_refused() {
    let w = World::new().unwrap();
    let s = session(&w);
    let manager = s.create_update_service_manager();
    let root = br#"{"signed":{"_type":"root","version":1}}"#;
    let started = Instant::now();
    let e = manager.add_managed_server(&registration("http://192.0.2.1:8530", root, None)).unwrap_err();
    assert!(started.elapsed() < Duration::from_secs(1), "refused before any connection: {:?}", started.elapsed());
    assert_eq!(e.hresult, HResult::WUA_E_SERVER_INSECURE_URL, "{e}");
    assert_eq!(e.hresult.hex(), "0xA024500A");
    assert!(manager.services().unwrap().is_empty());
    assert!(!w.state.join("services").exists(), "nothing written");

    let server = FakeServer::start("wua_e_another-key", None);
    let e = manager.add_managed_server(&registration(&server.url, root, None)).unwrap_err();
    assert_eq!(e.hresult, HResult::WUA_E_SERVER_ENROLMENT, "{e}");
    assert!(manager.services().unwrap().is_empty());
    assert!(!w.state.join("services").exists());
    let bad_group = manager.add_managed_server(&registration(&server.url, root, Some("a/b"))).unwrap_err();
    assert_eq!(bad_group.hresult, HResult::E_INVALIDARG);
}

/// The machine id: `<root>/etc/machine-id` when present, else one generated once and kept in
/// the state directory. Two agents with their own roots are two computers; the same agent
/// registering twice is one.
#[test]
fn machine_ids_from_the_root_or_generated_once() {
    let server = FakeServer::start(KEY, None);
    let root_json = br#"{"signed":{"_type":"root","version":1}}"#;
    let register = |w: &World| {
        session(w)
            .create_update_service_manager()
            .add_managed_server(&registration(&server.url, root_json, None))
            .unwrap()
    };
    let (a, b) = (World::new().unwrap(), World::new().unwrap());
    let ca = register(&a);
    let cb = register(&b);
    assert_ne!(ca.computer_id, cb.computer_id, "two roots, two computers");
    let ids: Vec<String> = server.state().registrations.iter().map(|r| r.machine_id.clone()).collect();
    assert!(ids.iter().all(|id| wua_agent::wua_types::is_uuid(id)), "{ids:?}");
    assert_eq!(std::fs::read_to_string(a.state.join("machine-id")).unwrap().trim(), ids[0]);
    assert_eq!(register(&a).computer_id, ca.computer_id, "the same root again: the same computer");
    assert_eq!(server.state().registrations[2].machine_id, ids[0]);

    let c = World::new().unwrap();
    std::fs::create_dir_all(c.root.join("etc")).unwrap();
    std::fs::write(c.root.join("etc/machine-id"), "5c1c4b0b8a0a4c7e9d3c2b1a09f8e7d6\n").unwrap();
    register(&c);
    assert_eq!(server.state().registrations[3].machine_id, "5c1c4b0b8a0a4c7e9d3c2b1a09f8e7d6");
    assert!(!c.state.join("machine-id").exists(), "nothing generated when the root has one");
}

/// Records a managed-server service directly in the datastore, as a registration would, for a
/// repository served at `url`: the search side needs no server API.
fn managed_service(w: &World, url: &str, root: &[u8], group: &str) -> String {
    let service_id = "6d1b2a3c-0000-4000-8000-000000000001".to_owned();
    let mut store = Store::open(&w.state).unwrap();
    store
        .transact(|tx| {
            tx.put_service(&ServiceRecord {
                service_id: service_id.clone(),
                name: "managed".into(),
                kind: ServiceKind::ManagedServer,
                source: url.to_owned(),
                trusted_root: root.to_vec(),
                ca_bundle: None,
                is_default: false,
                added_at: wua_store::now_rfc3339(),
            })?;
            tx.put_managed_server(&ManagedServerRecord {
                service_id: service_id.clone(),
                server_url: "http://127.0.0.1:1".into(),
                computer_id: "c".into(),
                group: group.into(),
                checkin_interval_seconds: 3600,
                last_checkin: None,
                reported_reboot: None,
                registered_at: wua_store::now_rfc3339(),
            })
        })
        .unwrap();
    service_id
}

/// D-27: for a managed server, the signed approvals of the computer's group decide deployment:
/// group A sees its install approval as `IsAssigned` (the approval's deadline over the
/// document's), its optional one as `BrowseOnly`, its uninstall approval only under
/// `DeploymentAction='Uninstallation'`, and an update approved for nobody only under
/// `DeploymentAction=*`, with no deployment; group B, with other approvals, sees none of A's.
/// A plain repository service of the same repository still deploys everything.
#[test]
fn d27_a_managed_server_deploys_what_the_group_s_approvals_say() {
    let w = World::new().unwrap();
    let repo = Repo::new(&w);
    // Update 1 carries a deadline of its own.
    let payload = w.work.join("u1-payload");
    wua_test_support::write_payload(&payload, &[("opt/u1/file", 0o644, b"r1")]).unwrap();
    let manifest = w.work.join("u1.toml");
    let extra = "deadline = \"2031-01-01T00:00:00Z\"";
    std::fs::write(&manifest, files_manifest(&test_id(1), 1, "update 1", extra, "")).unwrap();
    repo.runtime.block_on(wua_trust::repo::publish(&repo.dir, &manifest, &payload)).unwrap();
    for n in 2..=4 {
        repo.publish(n, 1, "");
    }
    let approve = |n: u32, group: &str, action, deadline: Option<&str>| {
        repo.runtime.block_on(wua_trust::repo::approve(&repo.dir, &test_id(n), group, action, deadline)).unwrap();
    };
    approve(1, "ring-a", ApprovalAction::Install, Some("2030-06-01T00:00:00Z"));
    approve(2, "ring-a", ApprovalAction::Optional, None);
    approve(3, "ring-a", ApprovalAction::Uninstall, None);
    approve(2, "ring-b", ApprovalAction::Install, None);
    let served = Served::start(&repo.served_tree());

    let s = session(&w);
    managed_service(&w, &served.url, &repo.root(), "ring-a");
    let searcher = s.create_update_searcher();
    let r = searcher.search("").unwrap();
    assert_eq!(found(&r), [(test_id(1), 1)], "the default criteria: assigned updates only");
    let u = r.updates.item(0).unwrap();
    assert!(u.is_assigned() && !u.browse_only() && u.auto_select_on_web_sites());
    assert_eq!(u.deployment_action(), DeploymentAction::Installation);
    assert_eq!(u.deadline(), Some("2030-06-01T00:00:00Z"), "the approval's deadline wins");
    assert_eq!(u.document().deadline.as_deref(), Some("2031-01-01T00:00:00Z"), "the document is as published");
    assert_eq!(u.set_is_hidden(true).unwrap_err().hresult, HResult::WU_E_DS_DECLINENOTALLOWED, "D-36");

    let optional = searcher.search("DeploymentAction='OptionalInstallation'").unwrap();
    assert_eq!(found(&optional), [(test_id(2), 1)]);
    let u = optional.updates.item(0).unwrap();
    assert!(u.browse_only() && !u.is_assigned() && !u.auto_select_on_web_sites());
    assert_eq!(found(&searcher.search("BrowseOnly=1 and DeploymentAction=*").unwrap()), [(test_id(2), 1)]);
    assert_eq!(found(&searcher.search("DeploymentAction='Uninstallation'").unwrap()), [(test_id(3), 1)]);
    let all = searcher.search("DeploymentAction=*").unwrap();
    assert_eq!(found(&all), [(test_id(1), 1), (test_id(2), 1), (test_id(3), 1), (test_id(4), 1)]);
    let unapproved = all.updates.iter().find(|u| u.identity().update_id == test_id(4)).unwrap();
    assert_eq!(unapproved.deployment_action(), DeploymentAction::None, "approved for nobody: no deployment");
    assert!(!unapproved.is_assigned() && !unapproved.browse_only() && !unapproved.auto_select_on_web_sites());
    assert_eq!(unapproved.deadline(), None);
    for selection in [ServerSelection::Default, ServerSelection::ManagedServer] {
        searcher.set_server_selection(selection);
        assert_eq!(found(&searcher.search("").unwrap()), [(test_id(1), 1)], "{selection:?}");
    }

    // Group B, on its own agent: its approval, none of A's.
    let wb = World::new().unwrap();
    let sb = session(&wb);
    managed_service(&wb, &served.url, &repo.root(), "ring-b");
    let rb = sb.create_update_searcher().search("").unwrap();
    assert_eq!(found(&rb), [(test_id(2), 1)]);
    assert!(rb.updates.item(0).unwrap().is_assigned());
    let one = sb.create_update_searcher().search(&format!("UpdateID='{}' and DeploymentAction=*", test_id(1))).unwrap();
    assert_eq!(one.updates.item(0).unwrap().deployment_action(), DeploymentAction::None);
    assert_eq!(one.updates.item(0).unwrap().deadline(), Some("2031-01-01T00:00:00Z"), "the document's deadline");

    // The computer moved to B: A's approvals no longer apply, even offline before a refresh.
    let mut store = Store::open(&w.state).unwrap();
    store
        .transact(|tx| tx.set_checkin("6d1b2a3c-0000-4000-8000-000000000001", "ring-b", 60, "2026-01-01T00:00:00Z"))
        .unwrap();
    drop(store);
    searcher.set_online(false);
    assert!(found(&searcher.search("").unwrap()).is_empty(), "approvals indexed for A are none of B's");
    searcher.set_online(true);
    assert_eq!(found(&searcher.search("").unwrap()), [(test_id(2), 1)], "refreshed: B's approvals");

    // A repository service of the same repository deploys everything (D-27).
    let wr = World::new().unwrap();
    let sr = session(&wr);
    crate::search::add_service(&sr, &served.url, &repo.root());
    let rr = sr.create_update_searcher().search("").unwrap();
    assert_eq!(found(&rr).len(), 4);
    assert!(rr.updates.iter().all(|u| u.is_assigned()));
}

/// D-17: an install records its history entry and queues its outcome report in one commit;
/// the flush sends it and deletes it once acknowledged. A reboot state is queued once per
/// change.
#[test]
fn d17_outcomes_are_queued_with_their_history_and_flushed() {
    let w = World::new().unwrap();
    let server = FakeServer::start(KEY, None);
    let s = session(&w);
    let manager = s.create_update_service_manager();
    let root_json = br#"{"signed":{"_type":"root","version":1}}"#;
    let service = manager.add_managed_server(&registration(&server.url, root_json, None)).unwrap();
    let id = &service.service_id;

    let u = simple(&w, &s, 1, &[("opt/one", 0o644, b"1")]);
    assert_eq!(install(&s, &[&u]).result_code, OperationResultCode::Succeeded);
    assert_eq!(s.create_update_searcher().get_total_history_count().unwrap(), 1);
    assert!(manager.report_reboot_state(id, false).unwrap(), "the first state is queued");
    assert!(!manager.report_reboot_state(id, false).unwrap(), "an unchanged state is not");
    assert_eq!(manager.managed_server().unwrap().unwrap().pending_reports, 2);

    let flush = manager.flush_outbox(id).unwrap();
    assert_eq!((flush.batches, flush.sent, flush.accepted, flush.duplicates, flush.remaining), (1, 2, 2, 0, 0));
    assert!(flush.error.is_none());
    let events = server.state().events.clone();
    assert_eq!(events.len(), 2);
    match &events[0].1.event {
        ReportBody::Outcome { update_id, operation, result_code, hresult, .. } => {
            assert_eq!(update_id, &test_id(1));
            assert_eq!(
                (*operation, *result_code, *hresult),
                (UpdateOperation::Installation, OperationResultCode::Succeeded, HResult::S_OK)
            );
        }
        other => panic!("expected an outcome, got {other:?}"),
    }
    assert_eq!(events[1].1.event, ReportBody::Reboot { required: false });
    assert_eq!(manager.flush_outbox(id).unwrap().sent, 0, "nothing left");
}

/// D-17: the server unreachable during a flush leaves every event queued; once it is back the
/// same events go; a 500 after the server stored a batch is retried and nothing is doubled
/// (the server counts the resend as duplicates); a 4xx stops the flush at once, reported, the
/// batch kept.
#[test]
fn d17_flush_keeps_events_until_acknowledged() {
    let w = World::new().unwrap();
    let server = FakeServer::start(KEY, None);
    let s = session(&w);
    let manager = s.create_update_service_manager();
    let root_json = br#"{"signed":{"_type":"root","version":1}}"#;
    let id = manager.add_managed_server(&registration(&server.url, root_json, None)).unwrap().service_id;
    for i in 0..5 {
        manager.enqueue_report(&id, &ReportBody::Reboot { required: i % 2 == 0 }).unwrap();
    }
    let queued: Vec<String> = {
        let mut store = Store::open(&w.state).unwrap();
        store.read().unwrap().peek_outbox(&id, 10).unwrap().into_iter().map(|e| e.key).collect()
    };

    let down = server.stop();
    let flush = manager.flush_outbox_in_batches(&id, 2).unwrap();
    let e = flush.error.clone().expect("an unreachable server is reported");
    assert_eq!(e.hresult, HResult::WU_E_NO_CONNECTION, "{e}");
    assert_eq!((flush.sent, flush.remaining), (0, 5), "every event kept");

    let server = down.restart();
    server.state().fail_after_store = 1;
    let flush = manager.flush_outbox_in_batches(&id, 2).unwrap();
    assert!(flush.error.is_none(), "{:?}", flush.error);
    assert_eq!((flush.batches, flush.sent, flush.remaining), (3, 5, 0));
    assert_eq!((flush.accepted, flush.duplicates), (3, 2), "the first batch was stored, then resent");
    let st = server.state();
    assert_eq!(st.batches, [2, 2, 2, 1], "the failed batch once more, then the rest");
    assert_eq!(st.duplicates, 2);
    let keys: Vec<String> = st.events.iter().map(|(_, e)| e.key.clone()).collect();
    assert_eq!(keys, queued, "each event once, in order, with its key");
    drop(st);

    manager.enqueue_report(&id, &ReportBody::Reboot { required: true }).unwrap();
    server.state().revoke_tokens = true;
    let flush = manager.flush_outbox(&id).unwrap();
    let e = flush.error.expect("a revoked token is reported");
    assert_eq!(e.hresult, HResult::WUA_E_SERVER_UNAUTHORIZED, "{e}");
    assert_eq!(flush.remaining, 1, "kept for the next run");
    assert_eq!(server.state().batches.len(), 4, "not sent at all: the token was refused");
    server.state().revoke_tokens = false;
    server.state().reject_reports = Some(400);
    let before = server.state().batches.len();
    let flush = manager.flush_outbox(&id).unwrap();
    assert_eq!(flush.error.unwrap().hresult, HResult::WUA_E_SERVER_BAD_REQUEST);
    assert_eq!(server.state().batches.len(), before + 1, "a 4xx is not retried");
    assert_eq!(flush.remaining, 1);
}

/// `ServerSelection`: `Default` and `ManagedServer` pick the managed server; `WindowsUpdate`
/// never does.
#[test]
fn the_default_selection_is_the_managed_server() {
    let w = World::new().unwrap();
    let repo = Repo::new(&w);
    repo.publish(1, 1, "");
    let served = Served::start(&repo.served_tree());
    let s: UpdateSession = session(&w);
    let plain = crate::search::add_service(&s, &served.url, &repo.root());
    s.create_update_service_manager().set_default(&plain).unwrap();
    let managed = managed_service(&w, &served.url, &repo.root(), "ring-a");
    let searcher = s.create_update_searcher();
    let r = searcher.search("DeploymentAction=*").unwrap();
    assert_eq!(r.updates.item(0).unwrap().service_id(), Some(managed.as_str()));
    searcher.set_server_selection(ServerSelection::WindowsUpdate);
    let r = searcher.search("").unwrap();
    assert_eq!(r.updates.item(0).unwrap().service_id(), Some(plain.as_str()));
}
