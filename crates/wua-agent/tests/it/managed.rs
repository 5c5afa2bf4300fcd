//! A managed server as a service: registration (machine id, token file, the insecure-URL
//! refusal, HTTPS with a CA bundle), check-in, D-27 (the signed approvals of the computer's
//! group decide deployment), and the outbox (D-17: outcomes queued with their history entry;
//! flushed in batches, kept when the server is unreachable or refuses the token, resent
//! without doubling; a batch the server refuses for good split, and an event it refuses alone
//! kept as a dead letter while the rest goes). The server is the real `wua-server` in process
//! (`wua_test_support::server::RealServer`); its faults come from the fault layer around its
//! router, its admin API and stopping and restarting it.

use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::time::{Duration, Instant};

use wua_agent::UpdateSession;
use wua_agent::wua_types::api::{ApprovalAction, MoveComputer, ReportBody};
use wua_agent::wua_types::{DeploymentAction, HResult, OperationResultCode, ServerSelection, UpdateOperation};
use wua_fetch::ApiMethod;
use wua_store::{ManagedServerRecord, ServiceKind, ServiceRecord, Store};
use wua_test_support::fault::Fault;
use wua_test_support::serve::Served;
use wua_test_support::server::RealServer;
use wua_test_support::tls::TestCa;

use crate::search::{Repo, found};
use crate::server_e2e::{REPORTS, real_server, registration, token_of};
use crate::support::*;

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

/// The status of an agent call made with `token` (200: the server takes it; 401: refused).
fn config_status(server: &RealServer, token: &str) -> u16 {
    server.call(ApiMethod::Get, "/api/v1/agent/config", Some(token), None).0
}

/// The machine id the agent of `w` registered with (generated into its state directory).
fn machine_id(w: &World) -> String {
    std::fs::read_to_string(w.state.join("machine-id")).unwrap().trim().to_owned()
}

/// Registration records the service (kind, computer id, group), writes the token to its own
/// file with mode 0600 and nowhere in the datastore; registering again keeps the service and
/// the computer's identity and replaces the token (the old one stops working); check-in
/// follows the server's group and interval.
#[test]
fn register_and_check_in() {
    let w = World::new().unwrap();
    let repo = Repo::new(&w);
    let mut server = real_server(&w, &repo);
    let key = server.enrolment_key();
    let s = session(&w);
    let manager = s.create_update_service_manager();
    let service = manager.add_managed_server(&registration(&server.url, &repo.root(), &key, Some("ring-2"))).unwrap();
    assert!(service.is_managed && service.non_volatile && !service.is_scan_package_service, "{service:?}");
    assert_eq!(service.service_url, server.url);
    assert_eq!(service.group.as_deref(), Some("ring-2"));
    let computers = server.computers();
    assert_eq!(computers.len(), 1, "{computers:?}");
    let computer = computers[0].clone();
    assert_eq!(service.computer_id.as_deref(), Some(computer.id.as_str()));
    assert_eq!(computer.group, "ring-2", "the group asked for, the key allowing it");
    assert_eq!(computer.machine_id, machine_id(&w));

    let token_file = w.state.join("services").join(&service.service_id).join("token");
    let token = token_of(&w.state, &service.service_id);
    assert!(token.starts_with("wua_c_"), "{token}");
    assert_eq!(config_status(&server, &token), 200, "the server takes the token written");
    assert_eq!(std::fs::metadata(&token_file).unwrap().permissions().mode() & 0o777, 0o600);
    assert!(!contains(&datastore_bytes(&w.state), &token), "the token is not in the datastore");
    assert!(!contains(&datastore_bytes(&w.state), &key), "nor is the enrolment key");

    let listed = manager.services().unwrap();
    assert_eq!(listed, std::slice::from_ref(&service));
    let m = manager.managed_server().unwrap().unwrap();
    assert_eq!((m.computer_id.as_str(), m.group.as_str()), (computer.id.as_str(), "ring-2"));
    assert_eq!((m.pending_reports, m.dead_letters), (0, 0));
    assert!(m.last_checkin.is_none() && m.checkin_due(time::OffsetDateTime::now_utc()), "{m:?}");

    // Again: the same service, the same computer, a new token; the old one is refused.
    let again = manager.add_managed_server(&registration(&server.url, &repo.root(), &key, None)).unwrap();
    assert_eq!(again.service_id, service.service_id);
    assert_eq!(again.computer_id, service.computer_id);
    assert_eq!(server.computers().len(), 1, "one computer: the machine id is the same");
    let new_token = token_of(&w.state, &service.service_id);
    assert_ne!(new_token, token);
    assert_eq!((config_status(&server, &token), config_status(&server, &new_token)), (401, 200));
    assert_eq!(manager.services().unwrap().len(), 1);

    // Check-in: the group an administrator moved it to, the interval the server says, the time.
    let moved = MoveComputer { group: "ring-1".into() };
    let _: serde_json::Value =
        server.admin(ApiMethod::Put, &format!("/api/v1/computers/{}/group", computer.id), Some(&moved));
    server.restart_with(|c| c.checkin_interval_seconds = 60);
    let config = manager.check_in(&service.service_id).unwrap();
    assert_eq!((config.group.as_str(), config.checkin_interval_seconds), ("ring-1", 60));
    let m = manager.managed_server().unwrap().unwrap();
    assert_eq!((m.group.as_str(), m.checkin_interval_seconds), ("ring-1", 60));
    let now = time::OffsetDateTime::now_utc();
    assert!(!m.checkin_due(now) && m.checkin_due(now + time::Duration::seconds(61)), "{m:?}");
    assert!(server.computers()[0].last_checkin.is_some(), "the server saw the check-in");

    // Another server while registered with this one: refused before any request.
    let w2 = World::new().unwrap();
    let other = real_server(&w2, &Repo::new(&w2));
    let e = manager.add_managed_server(&registration(&other.url, &repo.root(), &key, None)).unwrap_err();
    assert_eq!(e.hresult, HResult::E_INVALIDARG, "{e}");
    assert!(other.faults().requests().is_empty(), "{:?}", other.faults().requests());
    assert!(other.computers().is_empty());

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
/// code, and nothing is recorded on either side; a group name that cannot be one is refused
/// before any request.
#[test]
fn insecure_urls_and_bad_keys_are_refused() {
    let w = World::new().unwrap();
    let s = session(&w);
    let manager = s.create_update_service_manager();
    let root = br#"{"signed":{"_type":"root","version":1}}"#;
    let started = Instant::now();
    let e = manager.add_managed_server(&registration("http://192.0.2.1:8530", root, "wua_e_x", None)).unwrap_err();
    assert!(started.elapsed() < Duration::from_secs(1), "refused before any connection: {:?}", started.elapsed());
    assert_eq!(e.hresult, HResult::WUA_E_SERVER_INSECURE_URL, "{e}");
    assert_eq!(e.hresult.hex(), "0xA024500A");
    assert!(manager.services().unwrap().is_empty());
    assert!(!w.state.join("services").exists(), "nothing written");

    let repo = Repo::new(&w);
    let server = real_server(&w, &repo);
    let key = server.enrolment_key();
    let unknown = "wua_e_00000000000000000000000000_another";
    let e = manager.add_managed_server(&registration(&server.url, root, unknown, None)).unwrap_err();
    assert_eq!(e.hresult, HResult::WUA_E_SERVER_ENROLMENT, "{e}");
    assert!(manager.services().unwrap().is_empty());
    assert!(!w.state.join("services").exists());
    assert!(server.computers().is_empty(), "the server registered nobody");
    let sent = server.faults().hits("/api/v1/agent/register");
    assert_eq!(sent, 1);
    let bad_group = manager.add_managed_server(&registration(&server.url, root, &key, Some("a/b"))).unwrap_err();
    assert_eq!(bad_group.hresult, HResult::E_INVALIDARG);
    assert_eq!(server.faults().hits("/api/v1/agent/register"), sent, "refused before any request");
}

/// The machine id: `<root>/etc/machine-id` when present, else one generated once and kept in
/// the state directory. Two agents with their own roots are two computers; the same agent
/// registering twice is one.
#[test]
fn machine_ids_from_the_root_or_generated_once() {
    let w = World::new().unwrap();
    let repo = Repo::new(&w);
    let server = real_server(&w, &repo);
    let key = server.enrolment_key();
    let register = |w: &World| {
        session(w)
            .create_update_service_manager()
            .add_managed_server(&registration(&server.url, &repo.root(), &key, None))
            .unwrap()
    };
    let (a, b) = (World::new().unwrap(), World::new().unwrap());
    let ca = register(&a);
    let cb = register(&b);
    assert_ne!(ca.computer_id, cb.computer_id, "two roots, two computers");
    let machine_of = |id: &Option<String>| {
        server.computers().into_iter().find(|c| Some(&c.id) == id.as_ref()).map(|c| c.machine_id).unwrap()
    };
    let (ma, mb) = (machine_of(&ca.computer_id), machine_of(&cb.computer_id));
    assert!(wua_agent::wua_types::is_uuid(&ma) && wua_agent::wua_types::is_uuid(&mb), "{ma} {mb}");
    assert_ne!(ma, mb);
    assert_eq!(machine_id(&a), ma);
    assert_eq!(register(&a).computer_id, ca.computer_id, "the same root again: the same computer");
    assert_eq!(server.computers().len(), 2);

    let c = World::new().unwrap();
    std::fs::create_dir_all(c.root.join("etc")).unwrap();
    std::fs::write(c.root.join("etc/machine-id"), "5c1c4b0b8a0a4c7e9d3c2b1a09f8e7d6\n").unwrap();
    let cc = register(&c);
    assert_eq!(machine_of(&cc.computer_id), "5c1c4b0b8a0a4c7e9d3c2b1a09f8e7d6");
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
            tx.put_managed_server(&group_record(&service_id, group))
        })
        .unwrap();
    service_id
}

/// The managed-server record of a registration into `group` (its server is never reached).
fn group_record(service_id: &str, group: &str) -> ManagedServerRecord {
    ManagedServerRecord {
        service_id: service_id.to_owned(),
        server_url: "http://127.0.0.1:1".into(),
        computer_id: "c".into(),
        group: group.into(),
        checkin_interval_seconds: 3600,
        last_checkin: None,
        reported_reboot: None,
        registered_at: wua_store::now_rfc3339(),
    }
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
    // The same flags as criteria, read by the searcher from each update's deployment.
    let flagged = |criteria: &str| {
        let r = searcher.search(&format!("{criteria} and DeploymentAction=*")).unwrap();
        found(&r).into_iter().map(|(id, _)| id).collect::<Vec<_>>()
    };
    assert_eq!(flagged("IsAssigned=1"), [test_id(1)]);
    assert_eq!(flagged("IsAssigned=0"), [test_id(2), test_id(3), test_id(4)]);
    assert_eq!(flagged("BrowseOnly=0"), [test_id(1), test_id(3), test_id(4)]);
    assert_eq!(flagged("AutoSelectOnWebSites=1"), [test_id(1), test_id(3)]);
    assert_eq!(flagged("AutoSelectOnWebSites=0"), [test_id(2), test_id(4)]);
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
    let plain = crate::search::add_service(&sr, &served.url, &repo.root());
    let rr = sr.create_update_searcher().search("").unwrap();
    assert_eq!(found(&rr).len(), 4);
    assert!(rr.updates.iter().all(|u| u.is_assigned()));
    // Only a managed-server service applies approvals, even with a group recorded beside a
    // repository service (which no registration writes).
    let mut store = Store::open(&wr.state).unwrap();
    store.transact(|tx| tx.put_managed_server(&group_record(&plain, "ring-a"))).unwrap();
    drop(store);
    assert_eq!(found(&sr.create_update_searcher().search("").unwrap()).len(), 4);
}

/// D-17: an install records its history entry and queues its outcome report in one commit;
/// the flush sends it and deletes it once acknowledged. A reboot state is queued once per
/// change.
#[test]
fn d17_outcomes_are_queued_with_their_history_and_flushed() {
    let w = World::new().unwrap();
    let repo = Repo::new(&w);
    let server = real_server(&w, &repo);
    let key = server.enrolment_key();
    let s = session(&w);
    let manager = s.create_update_service_manager();
    let service = manager.add_managed_server(&registration(&server.url, &repo.root(), &key, None)).unwrap();
    let id = &service.service_id;
    let computer = service.computer_id.clone().unwrap();

    let u = simple(&w, &s, 1, &[("opt/one", 0o644, b"1")]);
    assert_eq!(install(&s, &[&u]).result_code, OperationResultCode::Succeeded);
    assert_eq!(s.create_update_searcher().get_total_history_count().unwrap(), 1);
    assert!(manager.report_reboot_state(id, false).unwrap(), "the first state is queued");
    assert!(!manager.report_reboot_state(id, false).unwrap(), "an unchanged state is not");
    assert_eq!(manager.managed_server().unwrap().unwrap().pending_reports, 2);

    let flush = manager.flush_outbox(id).unwrap();
    assert_eq!((flush.batches, flush.sent, flush.accepted, flush.duplicates, flush.remaining), (1, 2, 2, 0, 0));
    assert!(flush.error.is_none() && flush.dead_lettered.is_empty(), "{flush:?}");
    let events = server.events(&computer);
    assert_eq!(events.len(), 2);
    match &events[0].event {
        ReportBody::Outcome { update_id, operation, result_code, hresult, .. } => {
            assert_eq!(update_id, &test_id(1));
            assert_eq!(
                (*operation, *result_code, *hresult),
                (UpdateOperation::Installation, OperationResultCode::Succeeded, HResult::S_OK)
            );
        }
        other => panic!("expected an outcome, got {other:?}"),
    }
    assert_eq!(events[1].event, ReportBody::Reboot { required: false });
    assert_eq!(manager.flush_outbox(id).unwrap().sent, 0, "nothing left");
    assert_eq!(server.faults().hits(REPORTS), 1, "an empty outbox sends nothing");
}

/// D-17: the server unreachable during a flush leaves every event queued; once it is back the
/// same events go; a 500 after the server stored a batch is retried and nothing is doubled
/// (the server counts the resend as duplicates); a 500 before it stored one is retried and
/// counted once. A token the server no longer takes (the machine registered again elsewhere)
/// and a 400 that is not the server's own answer stop the flush at once, reported, the batch
/// kept and not retried; registering again sends it.
#[test]
fn d17_flush_keeps_events_until_acknowledged() {
    let w = World::new().unwrap();
    let repo = Repo::new(&w);
    let mut server = real_server(&w, &repo);
    let key = server.enrolment_key();
    let s = session(&w);
    let manager = s.create_update_service_manager();
    let service = manager.add_managed_server(&registration(&server.url, &repo.root(), &key, None)).unwrap();
    let (id, computer) = (service.service_id.clone(), service.computer_id.clone().unwrap());
    for i in 0..5 {
        manager.enqueue_report(&id, &ReportBody::Reboot { required: i % 2 == 0 }).unwrap();
    }
    let queued: Vec<String> = {
        let mut store = Store::open(&w.state).unwrap();
        store.read().unwrap().peek_outbox(&id, 10).unwrap().into_iter().map(|e| e.key).collect()
    };

    server.stop();
    let flush = manager.flush_outbox_in_batches(&id, 2).unwrap();
    let e = flush.error.clone().expect("an unreachable server is reported");
    assert_eq!(e.hresult, HResult::WU_E_NO_CONNECTION, "{e}");
    assert_eq!((flush.sent, flush.remaining), (0, 5), "every event kept");

    server.restart();
    server.faults().set_times(REPORTS, Fault::StatusAfterHandling(500), 1);
    let flush = manager.flush_outbox_in_batches(&id, 2).unwrap();
    assert!(flush.error.is_none(), "{:?}", flush.error);
    assert_eq!((flush.batches, flush.sent, flush.remaining), (3, 5, 0));
    assert_eq!((flush.accepted, flush.duplicates), (3, 2), "the first batch was stored, then resent");
    assert_eq!(server.faults().hits(REPORTS), 4, "the failed batch once more, then the rest");
    let keys: Vec<String> = server.events(&computer).into_iter().map(|e| e.key).collect();
    assert_eq!(keys, queued, "each event once, in order, with its key");

    // A 500 before the server saw the batch: sent again, stored once.
    manager.enqueue_report(&id, &ReportBody::Reboot { required: false }).unwrap();
    server.faults().set_times(REPORTS, Fault::Status(500), 1);
    let flush = manager.flush_outbox(&id).unwrap();
    assert!(flush.error.is_none(), "{:?}", flush.error);
    assert_eq!((flush.sent, flush.accepted, flush.duplicates, flush.remaining), (1, 1, 0, 0));
    assert_eq!(server.faults().hits(REPORTS), 6);

    // The machine registered again (by someone else): the agent's token is no longer taken.
    manager.enqueue_report(&id, &ReportBody::Reboot { required: true }).unwrap();
    let replaced = server.register(&key, &machine_id(&w));
    assert_eq!(replaced.computer_id, computer);
    let flush = manager.flush_outbox(&id).unwrap();
    let e = flush.error.expect("a revoked token is reported");
    assert_eq!(e.hresult, HResult::WUA_E_SERVER_UNAUTHORIZED, "{e}");
    assert_eq!(flush.remaining, 1, "kept for the next run");
    assert!(flush.dead_lettered.is_empty(), "a refused token is no refused event");
    assert_eq!(server.faults().hits(REPORTS), 7, "sent once, not retried");
    assert_eq!(server.events(&computer).len(), 6, "nothing stored");

    // A 400 with no word from the server (a proxy's): the batch is kept, not taken apart.
    manager.add_managed_server(&registration(&server.url, &repo.root(), &key, None)).unwrap();
    server.faults().set(REPORTS, Fault::Status(400));
    let flush = manager.flush_outbox(&id).unwrap();
    assert_eq!(flush.error.unwrap().hresult, HResult::WU_E_PT_HTTP_STATUS_BAD_REQUEST);
    assert_eq!((flush.remaining, flush.dead_lettered.len()), (1, 0));
    assert_eq!(server.faults().hits(REPORTS), 8, "a 4xx is not retried");

    server.faults().clear();
    let flush = manager.flush_outbox(&id).unwrap();
    assert!(flush.error.is_none(), "{:?}", flush.error);
    assert_eq!((flush.sent, flush.remaining), (1, 0));
    assert_eq!(server.events(&computer).len(), 7);
    assert_eq!(manager.managed_server().unwrap().unwrap().dead_letters, 0);
}

/// An outcome whose update id is not one: the server refuses any batch holding it (400). The
/// batch is sent in halves down to that event, which moves to the dead letters with the
/// server's code and message, while every other event reaches the server, in order; batches
/// over the server's event limit (400 too) are split the same way. An event larger than the
/// server takes (413) alone is a dead letter too. Nothing is lost: the dead letters stay
/// listed, and the outbox is empty.
#[test]
fn d17_a_batch_the_server_refuses_is_split_and_a_refused_event_kept_as_a_dead_letter() {
    let w = World::new().unwrap();
    let repo = Repo::new(&w);
    let mut server = RealServer::start_with(&repo.dir, &w.work.join("server"), |c| c.limits.batch_events = 3);
    let key = server.enrolment_key();
    let s = session(&w);
    let manager = s.create_update_service_manager();
    let service = manager.add_managed_server(&registration(&server.url, &repo.root(), &key, None)).unwrap();
    let (id, computer) = (service.service_id.clone(), service.computer_id.clone().unwrap());
    let bad = ReportBody::Outcome {
        update_id: "not-an-update-id".into(),
        revision_number: 1,
        operation: UpdateOperation::Installation,
        result_code: OperationResultCode::Succeeded,
        hresult: HResult::S_OK,
        reboot_required: false,
    };
    let mut store = Store::open(&w.state).unwrap();
    let mut good = Vec::new();
    let mut bad_key = String::new();
    for i in 0..10 {
        let body = if i == 3 { bad.clone() } else { ReportBody::Reboot { required: i % 2 == 0 } };
        let key = store.transact(|tx| tx.enqueue_event(&id, &body)).unwrap();
        if i == 3 { bad_key = key } else { good.push(key) }
    }
    drop(store);

    let flush = manager.flush_outbox(&id).unwrap();
    assert!(flush.error.is_none(), "{:?}", flush.error);
    assert_eq!((flush.sent, flush.accepted, flush.remaining), (9, 9, 0), "{flush:?}");
    assert_eq!(flush.dead_lettered.len(), 1, "{flush:?}");
    let dead = &flush.dead_lettered[0];
    assert_eq!(
        (dead.key.as_str(), dead.status, dead.hresult),
        (bad_key.as_str(), 400, HResult::WUA_E_SERVER_BAD_REQUEST)
    );
    assert!(dead.message.contains("not an update id"), "the server's message: {}", dead.message);
    assert_eq!(dead.event, bad);
    let keys: Vec<String> = server.events(&computer).into_iter().map(|e| e.key).collect();
    assert_eq!(keys, good, "every other event, once, in order");
    // 10 (400), 5 (400), 2, 3 (400), 1, 2 (400), the bad one alone (400), 1, 5 (400), 2, 3.
    assert_eq!(server.faults().hits(REPORTS), 11, "sent in halves down to the refused event");
    assert_eq!(manager.dead_letters(&id).unwrap(), flush.dead_lettered);
    let m = manager.managed_server().unwrap().unwrap();
    assert_eq!((m.pending_reports, m.dead_letters), (0, 1));
    let again = manager.flush_outbox(&id).unwrap();
    assert_eq!((again.sent, again.dead_lettered.len()), (0, 0), "a dead letter is not sent again");

    // Too large alone: a scan of 300 updates against a 4 KiB report body.
    server.restart_with(|c| c.limits.report_body_bytes = 4096);
    let big = ReportBody::Scan { needed: (1..=300).map(test_id).collect(), installed: vec![] };
    let small = manager.enqueue_report(&id, &ReportBody::Reboot { required: true }).unwrap();
    let big_key = manager.enqueue_report(&id, &big).unwrap();
    let last = manager.enqueue_report(&id, &ReportBody::Reboot { required: false }).unwrap();
    let flush = manager.flush_outbox(&id).unwrap();
    assert!(flush.error.is_none(), "{:?}", flush.error);
    assert_eq!((flush.sent, flush.remaining), (2, 0), "{flush:?}");
    let dead = &flush.dead_lettered;
    assert_eq!(dead.len(), 1, "{flush:?}");
    assert_eq!(
        (dead[0].key.as_str(), dead[0].status, dead[0].hresult),
        (big_key.as_str(), 413, HResult::WUA_E_SERVER_TOO_LARGE)
    );
    let keys: Vec<String> = server.events(&computer).into_iter().map(|e| e.key).skip(9).collect();
    assert_eq!(keys, [small, last]);
    let letters = manager.dead_letters(&id).unwrap();
    assert_eq!(letters.iter().map(|d| d.key.as_str()).collect::<Vec<_>>(), [bad_key.as_str(), big_key.as_str()]);
    assert_eq!(manager.managed_server().unwrap().unwrap().dead_letters, 2);

    // Batches over the server's event limit and no refused event: once a batch went split,
    // the rest of the flush sends batches of the size that went.
    for i in 0..16 {
        manager.enqueue_report(&id, &ReportBody::Reboot { required: i % 2 == 0 }).unwrap();
    }
    let before = server.faults().hits(REPORTS);
    let flush = manager.flush_outbox_in_batches(&id, 8).unwrap();
    assert!(flush.error.is_none() && flush.dead_lettered.is_empty(), "{flush:?}");
    assert_eq!((flush.sent, flush.remaining, flush.batches), (16, 0, 8));
    // 8 (400), 4 (400), 2, 2, 4 (400), 2, 2; then 2, 2, 2, 2.
    assert_eq!(server.faults().hits(REPORTS) - before, 11);
}

/// Registration over HTTPS: the real server with its `[tls]` certificate (signed by a CA made
/// at test time). Without the CA bundle the agent refuses the server's certificate: the TLS
/// failure's code, nothing recorded on either side. With it, the agent registers, checks in,
/// searches the server's repository over the same HTTPS and flushes its outbox.
#[test]
fn registration_over_https_with_a_ca_bundle() {
    let w = World::new().unwrap();
    let repo = Repo::new(&w);
    repo.publish(1, 1, "");
    let ca = TestCa::new().unwrap();
    let server = RealServer::start_tls(&repo.dir, &w.work.join("server"), &ca, |_| {});
    assert!(server.url.starts_with("https://127.0.0.1:"), "{}", server.url);
    let key = server.enrolment_key();
    server.approve(
        "ring-1",
        vec![wua_agent::wua_types::api::Approval {
            update_id: test_id(1),
            action: ApprovalAction::Install,
            deadline: None,
        }],
    );
    let s = session(&w);
    let manager = s.create_update_service_manager();

    let e = manager.add_managed_server(&registration(&server.url, &repo.root(), &key, None)).unwrap_err();
    assert_eq!(e.hresult, HResult::WU_E_NO_CONNECTION, "{e}");
    assert!(e.message.contains("TLS"), "{e}");
    assert!(manager.services().unwrap().is_empty());
    assert!(!w.state.join("services").exists(), "nothing written");
    assert!(server.computers().is_empty(), "the server registered nobody");

    let mut with_ca = registration(&server.url, &repo.root(), &key, None);
    with_ca.ca_bundle = server.ca_pem.clone();
    let service = manager.add_managed_server(&with_ca).unwrap();
    assert_eq!(service.service_url, server.url);
    let computer = service.computer_id.clone().unwrap();
    assert_eq!(server.computers().len(), 1);
    assert_eq!(manager.check_in(&service.service_id).unwrap().group, "ring-1");
    let r = s.create_update_searcher().search("").unwrap();
    assert_eq!(found(&r), [(test_id(1), 1)], "the repository over HTTPS, ring-1's approval");

    manager.enqueue_report(&service.service_id, &ReportBody::Reboot { required: false }).unwrap();
    let flush = manager.flush_outbox(&service.service_id).unwrap();
    assert!(flush.error.is_none(), "{:?}", flush.error);
    assert_eq!((flush.sent, flush.remaining), (1, 0));
    assert_eq!(server.events(&computer).len(), 1);
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
