//! Managed servers in the datastore: the outbox commits with the history entry it reports
//! (D-17), keys survive until acknowledged, the group's approvals in the index (D-27), and
//! removing the service forgets all of it.

use wua_store::{IndexApproval, ManagedServerRecord, ServiceKind, ServiceRecord, Store};
use wua_types::api::{ApprovalAction, ReportBody};
use wua_types::{HResult, OperationResultCode, ServerSelection, UpdateHistoryEntry, UpdateIdentity, UpdateOperation};

const MANAGED: &str = "00000000-0000-4000-8000-00000000000a";
const REPO: &str = "00000000-0000-4000-8000-00000000000b";

fn service(id: &str, kind: ServiceKind) -> ServiceRecord {
    ServiceRecord {
        service_id: id.into(),
        name: id.into(),
        kind,
        source: "http://127.0.0.1:1/repo".into(),
        trusted_root: b"{}".to_vec(),
        ca_bundle: None,
        is_default: false,
        added_at: "2026-01-01T00:00:00Z".into(),
    }
}

fn registration() -> ManagedServerRecord {
    ManagedServerRecord {
        service_id: MANAGED.into(),
        server_url: "http://127.0.0.1:1".into(),
        computer_id: "c1".into(),
        group: "ring-1".into(),
        checkin_interval_seconds: 3600,
        last_checkin: None,
        reported_reboot: None,
        registered_at: "2026-01-01T00:00:00Z".into(),
    }
}

fn entry(update_id: &str, reboot_required: bool) -> UpdateHistoryEntry {
    UpdateHistoryEntry {
        operation: UpdateOperation::Installation,
        result_code: OperationResultCode::Succeeded,
        hresult: HResult::S_OK,
        unmapped_result_code: 0,
        date: "2026-01-01T00:00:00Z".into(),
        update_identity: UpdateIdentity { update_id: update_id.into(), revision_number: 3 },
        title: "t".into(),
        description: String::new(),
        client_application_id: "test".into(),
        server_selection: ServerSelection::Others,
        service_id: String::new(),
        support_url: String::new(),
        uninstallation_notes: String::new(),
        recovered: false,
        message: String::new(),
        warnings: vec![],
        log_path: None,
        reboot_required,
    }
}

fn store_with_services() -> (tempfile::TempDir, Store) {
    let dir = tempfile::tempdir().unwrap();
    let mut store = Store::open(dir.path()).unwrap();
    store
        .transact(|tx| {
            tx.put_service(&service(REPO, ServiceKind::Repository))?;
            tx.put_service(&service(MANAGED, ServiceKind::ManagedServer))?;
            tx.put_managed_server(&registration())
        })
        .map_err(|e: wua_store::StoreError| e)
        .unwrap();
    (dir, store)
}

/// D-17: a history entry queues its outcome report for the managed server in its own
/// transaction: rolled back together, committed together.
#[test]
fn d17_the_outcome_report_commits_with_the_history_entry() {
    let (_dir, mut store) = store_with_services();
    {
        let tx = store.write().unwrap();
        tx.append_history(&entry("u1", false)).unwrap();
        // dropped: rolled back
    }
    let tx = store.read().unwrap();
    assert_eq!(tx.history_count().unwrap(), 0);
    assert_eq!(tx.outbox_len(MANAGED).unwrap(), 0);
    drop(tx);

    store.transact(|tx| tx.append_history(&entry("u1", true))).unwrap();
    let tx = store.read().unwrap();
    assert_eq!(tx.history_count().unwrap(), 1);
    let events = tx.peek_outbox(MANAGED, 10).unwrap();
    assert_eq!(events.len(), 1, "one event, for the managed server only");
    assert_eq!(tx.outbox_len(REPO).unwrap(), 0);
    assert!(wua_types::is_uuid(&events[0].key), "{}", events[0].key);
    assert_eq!(
        events[0].event,
        ReportBody::Outcome {
            update_id: "u1".into(),
            revision_number: 3,
            operation: UpdateOperation::Installation,
            result_code: OperationResultCode::Succeeded,
            hresult: HResult::S_OK,
            reboot_required: true,
        }
    );
}

/// Events come out oldest first, keep their keys until deleted, and a key queued twice is one
/// event.
#[test]
fn the_outbox_is_peeked_in_order_and_deleted_by_key() {
    let (_dir, mut store) = store_with_services();
    let keys: Vec<String> = (0..5)
        .map(|i| store.transact(|tx| tx.enqueue_event(MANAGED, &ReportBody::Reboot { required: i % 2 == 0 })).unwrap())
        .collect();
    let tx = store.read().unwrap();
    let first = tx.peek_outbox(MANAGED, 3).unwrap();
    assert_eq!(first.iter().map(|e| e.key.clone()).collect::<Vec<_>>(), keys[..3]);
    assert_eq!(tx.peek_outbox(MANAGED, 3).unwrap(), first, "peeking changes nothing");
    drop(tx);
    store.transact(|tx| tx.put_outbox(MANAGED, &first[0])).unwrap();
    assert_eq!(store.read().unwrap().outbox_len(MANAGED).unwrap(), 5, "the same key is the same event");
    let deleted = store.transact(|tx| tx.delete_outbox(&[keys[0].clone(), keys[1].clone(), "gone".into()])).unwrap();
    assert_eq!(deleted, 2);
    let rest = store.read().unwrap().peek_outbox(MANAGED, 10).unwrap();
    assert_eq!(rest.iter().map(|e| e.key.clone()).collect::<Vec<_>>(), keys[2..]);
}

/// An event the server refused for good moves from the outbox to the dead letters with the
/// server's answer, in the caller's transaction: the events around it stay queued in order, a
/// second move is a no-op, and removing the service forgets the dead letters too.
#[test]
fn a_refused_event_moves_to_the_dead_letters() {
    let (_dir, mut store) = store_with_services();
    let keys: Vec<String> = (0..3)
        .map(|i| store.transact(|tx| tx.enqueue_event(MANAGED, &ReportBody::Reboot { required: i == 1 })).unwrap())
        .collect();
    {
        let tx = store.write().unwrap();
        assert!(tx.dead_letter(MANAGED, &keys[1], 400, HResult::WUA_E_SERVER_BAD_REQUEST, "no").unwrap());
        // dropped: rolled back
    }
    assert_eq!(store.read().unwrap().outbox_len(MANAGED).unwrap(), 3);
    assert_eq!(store.read().unwrap().dead_letter_count(MANAGED).unwrap(), 0);

    let message = "event 0: \"x\" is not an update id";
    let moved = store.transact(|tx| tx.dead_letter(MANAGED, &keys[1], 400, HResult::WUA_E_SERVER_BAD_REQUEST, message));
    assert!(moved.unwrap());
    assert!(!store.transact(|tx| tx.dead_letter(MANAGED, &keys[1], 413, HResult::WUA_E_SERVER_TOO_LARGE, "")).unwrap());
    assert!(!store.transact(|tx| tx.dead_letter(REPO, &keys[0], 400, HResult::WUA_E_SERVER_BAD_REQUEST, "")).unwrap());
    let tx = store.read().unwrap();
    let rest: Vec<String> = tx.peek_outbox(MANAGED, 10).unwrap().into_iter().map(|e| e.key).collect();
    assert_eq!(rest, [keys[0].clone(), keys[2].clone()], "the others stay queued, in order");
    let dead = tx.dead_letters(MANAGED).unwrap();
    assert_eq!(dead.len(), 1);
    let d = &dead[0];
    assert_eq!(
        (d.key.as_str(), d.status, d.hresult, d.message.as_str()),
        (keys[1].as_str(), 400, HResult::WUA_E_SERVER_BAD_REQUEST, message)
    );
    assert_eq!(d.event, ReportBody::Reboot { required: true });
    assert!(!d.at.is_empty() && !d.dead_at.is_empty());
    assert_eq!(tx.dead_letter_count(MANAGED).unwrap(), 1);
    assert!(tx.dead_letters(REPO).unwrap().is_empty());
    drop(tx);

    assert!(store.transact(|tx| tx.remove_service(MANAGED)).unwrap());
    assert_eq!(store.read().unwrap().dead_letter_count(MANAGED).unwrap(), 0);
}

/// D-27: the index holds one group's approvals; another group sees none of them; a refresh
/// replaces them whole; removing the service forgets registration, approvals and outbox.
#[test]
fn d27_approvals_are_kept_for_the_group_they_were_signed_for() {
    let (dir, mut store) = store_with_services();
    let approval = |id: &str, action, deadline: Option<&str>| IndexApproval {
        update_id: id.into(),
        action,
        deadline: deadline.map(str::to_owned),
    };
    let signed = [
        approval("u1", ApprovalAction::Install, Some("2030-01-01T00:00:00Z")),
        approval("u2", ApprovalAction::Optional, None),
    ];
    store.transact(|tx| tx.put_index_approvals(MANAGED, "ring-1", &signed)).unwrap();
    let tx = store.read().unwrap();
    let got = tx.index_approvals(MANAGED, "ring-1").unwrap();
    assert_eq!(got.values().cloned().collect::<Vec<_>>(), signed);
    assert!(tx.index_approvals(MANAGED, "ring-2").unwrap().is_empty());
    drop(tx);
    store
        .transact(|tx| tx.put_index_approvals(MANAGED, "ring-1", &[approval("u3", ApprovalAction::Uninstall, None)]))
        .unwrap();
    let got = store.read().unwrap().index_approvals(MANAGED, "ring-1").unwrap();
    assert_eq!(got.keys().collect::<Vec<_>>(), ["u3"]);

    store
        .transact(|tx| {
            tx.set_checkin(MANAGED, "ring-2", 60, "2026-01-02T00:00:00Z")?;
            tx.set_reported_reboot(MANAGED, true)?;
            tx.enqueue_event(MANAGED, &ReportBody::Reboot { required: true }).map(|_| ())
        })
        .unwrap();
    let m = store.read().unwrap().managed_server(MANAGED).unwrap().unwrap();
    assert_eq!((m.group.as_str(), m.checkin_interval_seconds), ("ring-2", 60));
    assert_eq!(m.last_checkin.as_deref(), Some("2026-01-02T00:00:00Z"));
    assert_eq!(m.reported_reboot, Some(true));

    assert!(store.transact(|tx| tx.remove_service(MANAGED)).unwrap());
    let tx = store.read().unwrap();
    assert!(tx.managed_server(MANAGED).unwrap().is_none());
    assert!(tx.index_approvals(MANAGED, "ring-1").unwrap().is_empty());
    assert_eq!(tx.outbox_len(MANAGED).unwrap(), 0);
    assert_eq!(tx.services().unwrap().len(), 1);
    drop(tx);
    drop(store);
    // A history entry with no managed server left queues nothing.
    let mut store = Store::open(dir.path()).unwrap();
    store.transact(|tx| tx.append_history(&entry("u9", false))).unwrap();
    assert_eq!(store.read().unwrap().outbox_len(MANAGED).unwrap(), 0);
}
