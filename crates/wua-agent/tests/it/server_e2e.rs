//! The agent against the real `wua-server`, in process on 127.0.0.1
//! (`wua_test_support::server::RealServer`: its router over its SQLite storage and a signed
//! repository, wearing the fault layer): registration, check-in, approvals made through the
//! administrators' API reaching search (D-27), outcomes and scans reported and counted, the
//! server unreachable during a flush (events kept), and a 500 after the server stored a batch
//! (retried, counted once: the server's `duplicates` shows the resend).

use std::path::Path;

use wua_agent::ManagedServerRegistration;
use wua_agent::wua_types::api::{
    Approval, ApprovalAction, ComputerDetail, MoveComputer, ReportBody, UpdateState, UpdateStatus,
};
use wua_agent::wua_types::{HResult, OperationResultCode};
use wua_fetch::ApiMethod;
use wua_test_support::fault::Fault;
use wua_test_support::server::RealServer;

use crate::search::{Repo, found};
use crate::support::*;

/// The agent's report route.
pub(crate) const REPORTS: &str = "/api/v1/agent/reports";

/// The real server over `repo`, its data directory in `w`'s work space.
pub(crate) fn real_server(w: &World, repo: &Repo) -> RealServer {
    RealServer::start(&repo.dir, &w.work.join("server"))
}

pub(crate) fn registration(url: &str, root: &[u8], key: &str, group: Option<&str>) -> ManagedServerRegistration {
    ManagedServerRegistration {
        name: None,
        server_url: url.to_owned(),
        trusted_root: root.to_vec(),
        enrolment_key: key.to_owned(),
        ca_bundle: None,
        requested_group: group.map(str::to_owned),
    }
}

pub(crate) fn token_of(state: &Path, service_id: &str) -> String {
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
    let server = real_server(&w, &repo);
    let key = server.enrolment_key();
    let s = session(&w);
    let manager = s.create_update_service_manager();

    let bad = manager.add_managed_server(&registration(&server.url, &repo.root(), "wua_e_00_00", None)).unwrap_err();
    assert_eq!(bad.hresult, HResult::WUA_E_SERVER_ENROLMENT, "{bad}");

    let service = manager.add_managed_server(&registration(&server.url, &repo.root(), &key, Some("ring-2"))).unwrap();
    assert_eq!(service.group.as_deref(), Some("ring-2"), "client-side targeting");
    let computer = service.computer_id.clone().unwrap();
    let first_token = token_of(&w.state, &service.service_id);
    assert!(first_token.starts_with("wua_c_"));
    let again = manager.add_managed_server(&registration(&server.url, &repo.root(), &key, Some("ring-1"))).unwrap();
    assert_eq!(again.computer_id.as_deref(), Some(computer.as_str()), "the same machine id: the same computer");
    assert_ne!(token_of(&w.state, &service.service_id), first_token);
    assert_eq!(again.group.as_deref(), Some("ring-2"), "a computer keeps its group when it registers again");

    let moved = MoveComputer { group: "ring-1".into() };
    let _: serde_json::Value =
        server.admin(ApiMethod::Put, &format!("/api/v1/computers/{computer}/group"), Some(&moved));
    assert_eq!(manager.check_in(&service.service_id).unwrap().group, "ring-1");

    server.approve("ring-1", vec![Approval { update_id: test_id(1), action: ApprovalAction::Install, deadline: None }]);
    server.approve("ring-2", vec![Approval { update_id: test_id(2), action: ApprovalAction::Install, deadline: None }]);
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
    let mut server = real_server(&w, &repo);
    let key = server.enrolment_key();
    let s = session(&w);
    let manager = s.create_update_service_manager();
    let id = manager.add_managed_server(&registration(&server.url, &repo.root(), &key, None)).unwrap().service_id;
    let computer = manager.managed_server().unwrap().unwrap().computer_id;
    for i in 0..5 {
        manager.enqueue_report(&id, &ReportBody::Reboot { required: i % 2 == 0 }).unwrap();
    }

    server.stop();
    let flush = manager.flush_outbox_in_batches(&id, 2).unwrap();
    assert_eq!(flush.error.as_ref().map(|e| e.hresult), Some(HResult::WU_E_NO_CONNECTION), "{flush:?}");
    assert_eq!((flush.sent, flush.remaining), (0, 5), "every event kept");

    server.restart();
    server.faults().set_times(REPORTS, Fault::StatusAfterHandling(500), 1);
    let flush = manager.flush_outbox_in_batches(&id, 2).unwrap();
    assert!(flush.error.is_none(), "{flush:?}");
    assert_eq!((flush.batches, flush.sent, flush.remaining), (3, 5, 0));
    assert_eq!((flush.accepted, flush.duplicates), (3, 2), "the server counted the resent batch as duplicates");
    assert_eq!(server.faults().hits(REPORTS), 4, "three batches, the first twice");
    let detail: ComputerDetail = server.get(&format!("/api/v1/computers/{computer}"));
    assert!(detail.computer.reboot_required, "the last reboot event (required) is the state: {detail:?}");
}
