//! The agent and the real update server, both as child processes (`wua server run`, `wua
//! service add --server`, `wua agent run --once`): registration and the token's file, the
//! refusal of plain http to a remote host, an outcome and its report surviving a SIGKILL right
//! after the install's commit (D-17), and scheduled runs that check in by interval, report
//! their scans, act on approvals (deadlines and uninstalls included) and keep their reports
//! while the server is down.

use std::os::unix::fs::PermissionsExt;
use std::os::unix::process::{CommandExt, ExitStatusExt};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use wua_agent::wua_types::api::{ApprovalAction, ReportBody};
use wua_agent::wua_types::{OperationResultCode, UpdateOperation};
use wua_store::Store;

use crate::agent_run::{agent_run, ids, publish, repository};
use crate::server_support::ServerChild;
use crate::support::*;

fn trusted_root(repo: &Path) -> PathBuf {
    repo.join("repository/metadata/1.root.json")
}

/// `wua service add --server URL` with the key from WUA_ENROLMENT_KEY; the service's JSON.
fn add_server(w: &World, server: &ServerChild, repo: &Path, key: &str, extra: &[&str]) -> serde_json::Value {
    let mut c = agent(w);
    c.args(["service", "add", "--server", &server.url, "--trusted-root"]).arg(trusted_root(repo)).args(extra);
    c.env("WUA_ENROLMENT_KEY", key);
    ok(&mut c)
}

/// Every file under `dir` but `except` whose bytes hold `needle`.
fn files_holding(dir: &Path, needle: &str, except: &Path) -> Vec<PathBuf> {
    walkdir::WalkDir::new(dir)
        .into_iter()
        .filter_map(Result::ok)
        .filter(|e| e.file_type().is_file() && e.path() != except)
        .filter(|e| {
            let bytes = std::fs::read(e.path()).unwrap_or_default();
            bytes.windows(needle.len()).any(|w| w == needle.as_bytes())
        })
        .map(|e| e.path().to_owned())
        .collect()
}

/// Registration through `wua service add --server` under umask 0: the token is in its own
/// file, mode 0600, and in no other file of the state directory (the datastore, its WAL); the
/// service lists as a managed server with the computer's id and group; adding it again keeps
/// the service and the computer.
#[test]
fn service_add_server_keeps_the_token_in_a_0600_file_only() {
    let w = World::new().unwrap();
    let repo = repository(&w);
    publish(&w, &repo, 1, "", "");
    let server = ServerChild::start(&w, &repo);
    let key = server.enrolment_key();

    let mut c = agent(&w);
    c.args(["service", "add", "--server", &server.url, "--name", "hq", "--group", "ring-2", "--trusted-root"])
        .arg(trusted_root(&repo))
        .env("WUA_ENROLMENT_KEY", &key);
    // SAFETY: umask(2) is async-signal-safe and changes only the child's own mask.
    unsafe {
        c.pre_exec(|| {
            libc::umask(0);
            Ok(())
        });
    }
    let service = ok(&mut c);
    assert_eq!(service["kind"], "managed_server", "{service}");
    assert_eq!((service["is_managed"].as_bool(), service["name"].as_str()), (Some(true), Some("hq")));
    assert_eq!(service["service_url"], server.url.as_str());
    assert_eq!(service["group"], "ring-2", "client-side targeting");
    let id = service["service_id"].as_str().unwrap().to_owned();
    let computer = service["computer_id"].as_str().unwrap().to_owned();

    let token_file = w.state.join("services").join(&id).join("token");
    let token = std::fs::read_to_string(&token_file).unwrap();
    assert!(token.starts_with("wua_c_"), "{token}");
    assert_eq!(std::fs::metadata(&token_file).unwrap().permissions().mode() & 0o777, 0o600, "under umask 0");
    assert_eq!(files_holding(&w.state, &token, &token_file), Vec::<PathBuf>::new(), "the token is in its file only");
    assert_eq!(files_holding(&w.state, &key, &token_file), Vec::<PathBuf>::new(), "the enrolment key is nowhere");

    let list = ok(agent(&w).args(["service", "list"]));
    let s = &list["services"][0];
    assert_eq!(
        (s["kind"].as_str(), s["computer_id"].as_str(), s["group"].as_str()),
        (Some("managed_server"), Some(computer.as_str()), Some("ring-2"))
    );
    let o = run(wua(&w.state, &w.root).args(["service", "list"]));
    let out = text(&o);
    assert!(out.contains("managed server") && out.contains(&computer) && out.contains("ring-2"), "{out}");
    assert!(out.contains("computer id") && out.contains("group"), "{out}");

    let computers = server.get("/api/v1/computers");
    assert_eq!(computers["items"][0]["id"], computer.as_str());
    assert_eq!(computers["items"][0]["group"], "ring-2");

    let again = add_server(&w, &server, &repo, &key, &[]);
    assert_eq!(
        (again["service_id"].as_str(), again["computer_id"].as_str()),
        (Some(id.as_str()), Some(computer.as_str()))
    );
    assert_eq!(ok(agent(&w).args(["service", "list"]))["services"].as_array().unwrap().len(), 1);
}

/// An enrolment key never travels over plain http to a host that is not loopback: refused at
/// once with WUA_E_SERVER_INSECURE_URL (192.0.2.1 is TEST-NET: nothing answers there, a
/// connection would wait for its time-out), and nothing is recorded.
#[test]
fn service_add_server_refuses_plain_http_to_a_remote_host() {
    let w = World::new().unwrap();
    let root = w.work.join("root.json");
    std::fs::write(&root, br#"{"signed":{"_type":"root","version":1},"signatures":[]}"#).unwrap();
    let started = Instant::now();
    let o = run(agent(&w)
        .args(["service", "add", "--server", "http://192.0.2.1:8530", "--enrolment-key", "wua_e_1_2", "--trusted-root"])
        .arg(&root));
    assert!(started.elapsed() < Duration::from_secs(5), "refused before any connection: {:?}", started.elapsed());
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    let j = json(&o);
    assert_eq!(
        (j["hresult_name"].as_str(), j["hresult_hex"].as_str()),
        (Some("WUA_E_SERVER_INSECURE_URL"), Some("0xA024500A"))
    );
    assert!(j["error"].as_str().unwrap().contains("https"), "{j}");
    assert!(!w.state.join("services").exists());
    assert!(ok(agent(&w).args(["service", "list"]))["services"].as_array().unwrap().is_empty());

    let o = run(agent(&w)
        .args(["service", "add", "--server", "https://192.0.2.1:8531", "--trusted-root"])
        .arg(&root)
        .env_remove("WUA_ENROLMENT_KEY"));
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    assert_eq!(json(&o)["hresult_name"], "E_INVALIDARG", "no key");
}

/// `agent.toml`: a notification level and the managed server.
fn server_config(w: &World, server: &ServerChild, repo: &Path, key: &str, level: &str, group: &str) -> PathBuf {
    let path = w.work.join("agent.toml");
    std::fs::write(
        &path,
        format!(
            "[policy]\nnotification_level = \"{level}\"\n\n[server]\nurl = \"{}\"\ntrusted_root = \"{}\"\n\
             enrolment_key = \"{key}\"\ngroup = \"{group}\"\n",
            server.url,
            trusted_root(repo).display()
        ),
    )
    .unwrap();
    path
}

/// The next run checks in again: the last check-in moved an interval back.
fn make_checkin_due(w: &World) {
    let conn = rusqlite::Connection::open(w.state.join("wua.db")).unwrap();
    conn.execute("UPDATE managed_servers SET last_checkin = '2000-01-01T00:00:00Z'", []).unwrap();
}

fn reports(run: &serde_json::Value) -> (u64, u64, u64) {
    let r = &run["managed_server"]["reports"];
    (r["sent"].as_u64().unwrap(), r["accepted"].as_u64().unwrap(), r["remaining"].as_u64().unwrap())
}

/// Scheduled runs with a managed server declared in `agent.toml` (with the group to ask
/// for): the first registers, checks in, reports its full scan, installs what the group's
/// approval assigns (the optional one skipped) and sends outcome and reboot state; a run
/// before the check-in interval only sends reports; an uninstall approval uninstalls; an
/// approval's passed deadline installs under NotifyBeforeDownload too.
#[test]
fn agent_runs_follow_the_server() {
    let w = World::new().unwrap();
    let repo = repository(&w);
    for n in 1..=3 {
        publish(&w, &repo, n, "", "");
    }
    let server = ServerChild::start(&w, &repo);
    let key = server.enrolment_key();
    server.approve("ring-2", &test_id(1), ApprovalAction::Install, None);
    server.approve("ring-2", &test_id(2), ApprovalAction::Optional, None);
    server.approve("ring-1", &test_id(3), ApprovalAction::Install, None);
    let cfg = server_config(&w, &server, &repo, &key, "ScheduledInstallation", "ring-2");

    let first = ok(&mut agent_run(agent(&w), &cfg));
    let m = &first["managed_server"];
    assert_eq!((m["registered"].as_bool(), m["checked_in"].as_bool()), (Some(true), Some(true)), "{first}");
    assert_eq!(m["group"], "ring-2");
    assert_eq!((m["scan"]["needed"].as_u64(), m["scan"]["installed"].as_u64()), (Some(3), Some(0)), "{first}");
    assert_eq!(m["reboot_reported"], false);
    assert_eq!(first["services_added"][0]["kind"], "managed_server");
    assert_eq!(ids(&first["found"]), [test_id(1), test_id(2)], "approved for ring-2 (install, optional)");
    assert_eq!(ids(&first["installed"]), [test_id(1)]);
    assert_eq!(ids(&first["skipped"]), [test_id(2)]);
    assert_eq!(reports(&first), (3, 3, 0), "scan, outcome, reboot: {first}");
    assert!(m["reports"]["error"].is_null());
    assert_eq!(std::fs::read(w.root.join("opt/u1/file")).unwrap(), b"u1");
    let computer = ok(agent(&w).args(["service", "list"]))["services"][0]["computer_id"].as_str().unwrap().to_owned();
    let states = server.states(&computer);
    assert_eq!(states.get(&test_id(1)).map(String::as_str), Some("installed"), "{states:?}");
    assert_eq!(states.get(&test_id(2)).map(String::as_str), Some("needed"), "{states:?}");

    // Before the interval: reports only, nothing searched, nobody registered again.
    let checkins = server.get(&format!("/api/v1/computers/{computer}"))["computer"]["last_checkin"].clone();
    let second = ok(&mut agent_run(agent(&w), &cfg));
    let m = &second["managed_server"];
    assert_eq!((m["registered"].as_bool(), m["checked_in"].as_bool()), (Some(false), Some(false)), "{second}");
    assert!(m["scan"].is_null() && ids(&second["found"]).is_empty(), "{second}");
    assert_eq!(reports(&second), (0, 0, 0));
    assert_eq!(server.get(&format!("/api/v1/computers/{computer}"))["computer"]["last_checkin"], checkins);
    let o = run(&mut agent_run(wua(&w.state, &w.root), &cfg));
    assert!(text(&o).contains("has not passed; only reports were sent"), "{}", text(&o));

    // An uninstall approval, at the next check-in.
    server.approve("ring-2", &test_id(1), ApprovalAction::Uninstall, None);
    make_checkin_due(&w);
    let third = ok(&mut agent_run(agent(&w), &cfg));
    assert_eq!(third["managed_server"]["checked_in"], true);
    assert_eq!(ids(&third["uninstalled"]), [test_id(1)], "{third}");
    assert_eq!(third["uninstall"]["result_code"], "Succeeded");
    assert!(!w.root.join("opt/u1/file").exists());
    assert_eq!(reports(&third).2, 0);

    // A deadline that passed installs whatever the level.
    server.approve("ring-2", &test_id(3), ApprovalAction::Install, Some("2020-01-01T00:00:00Z"));
    let cfg = server_config(&w, &server, &repo, &key, "NotifyBeforeDownload", "ring-2");
    make_checkin_due(&w);
    let fourth = ok(&mut agent_run(agent(&w), &cfg));
    assert_eq!(ids(&fourth["installed"]), [test_id(3)], "{fourth}");
    assert!(w.root.join("opt/u3/file").exists());
    assert_eq!(server.states(&computer).get(&test_id(3)).map(String::as_str), Some("installed"));
}

/// The server down: a run before the interval keeps its reports (exit 0, the error shown); a
/// run that must check in fails with the connection's code; once the server is back, the
/// queued reports go.
#[test]
fn agent_runs_keep_reports_while_the_server_is_down() {
    let w = World::new().unwrap();
    let repo = repository(&w);
    publish(&w, &repo, 1, "", "");
    let mut server = ServerChild::start(&w, &repo);
    let key = server.enrolment_key();
    server.approve("ring-1", &test_id(1), ApprovalAction::Install, None);
    let cfg = server_config(&w, &server, &repo, &key, "ScheduledInstallation", "ring-1");
    let first = ok(&mut agent_run(agent(&w), &cfg));
    assert_eq!(ids(&first["installed"]), [test_id(1)]);
    let computer = ok(agent(&w).args(["service", "list"]))["services"][0]["computer_id"].as_str().unwrap().to_owned();

    ok(agent(&w).args(["uninstall", "--update-id", &test_id(1)]));
    server.stop();
    let down = ok(&mut agent_run(agent(&w), &cfg));
    let r = &down["managed_server"]["reports"];
    assert_eq!(r["error"]["hresult_name"], "WU_E_NO_CONNECTION", "{down}");
    assert_eq!((r["sent"].as_u64(), r["remaining"].as_u64()), (Some(0), Some(1)), "the outcome stays queued");
    make_checkin_due(&w);
    let o = run(&mut agent_run(agent(&w), &cfg));
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    assert_eq!(json(&o)["hresult_name"], "WU_E_NO_CONNECTION");

    server.restart();
    let back = ok(&mut agent_run(agent(&w), &cfg));
    assert_eq!(back["managed_server"]["checked_in"], true);
    assert_eq!(back["managed_server"]["reports"]["remaining"], 0, "{back}");
    assert!(
        back["managed_server"]["reports"]["sent"].as_u64().unwrap() >= 2,
        "the outcome and this run's scan: {back}"
    );
    assert_eq!(ids(&back["installed"]), [test_id(1)], "approved for installation: installed again");
    assert_eq!(server.states(&computer).get(&test_id(1)).map(String::as_str), Some("installed"));
}

/// D-17: SIGKILL right after an install's commit and before anything was sent: after the
/// restart the outbox holds exactly one report, the outcome of that install, and the history
/// exactly one entry; the next run sends it and the server counts the update installed.
#[test]
fn d17_an_outcome_and_its_report_survive_a_kill_after_the_commit() {
    let w = World::new().unwrap();
    let repo = repository(&w);
    publish(&w, &repo, 1, "", "");
    let server = ServerChild::start(&w, &repo);
    let key = server.enrolment_key();
    let service = add_server(&w, &server, &repo, &key, &[]);
    let service_id = service["service_id"].as_str().unwrap().to_owned();
    let computer = service["computer_id"].as_str().unwrap().to_owned();
    server.approve("ring-1", &test_id(1), ApprovalAction::Install, None);
    let install = ["install", "--update-id", &test_id(1)];

    // Where the install commits: counted on a copy of this agent.
    let copy = w.work.join("copy");
    let (copy_state, copy_root) = (copy.join("state"), copy.join("root"));
    copy_tree(&w.state, &copy_state).unwrap();
    copy_tree(&w.root, &copy_root).unwrap();
    let log = w.work.join("steps.log");
    let o = run(wua(&copy_state, &copy_root).args(install).env("WUA_CRASH_LOG", &log));
    assert!(o.status.success(), "{}", text(&o));
    let steps = std::fs::read_to_string(&log).unwrap();
    let commit = steps
        .lines()
        .find_map(|l| l.strip_suffix(" commit"))
        .unwrap_or_else(|| panic!("no commit step in {steps}"))
        .to_owned();

    let o = run(wua(&w.state, &w.root).args(install).env("WUA_CRASH_AT_STEP", &commit));
    assert_eq!(o.status.signal(), Some(9), "killed at step {commit}: {}", text(&o));
    let outbox = |state: &Path| {
        let mut store = Store::open(state).unwrap();
        let tx = store.read().unwrap();
        (tx.history_count().unwrap(), tx.peek_outbox(&service_id, 100).unwrap())
    };
    for phase in ["killed", "recovered"] {
        let (history, events) = outbox(&w.state);
        assert_eq!(history, 1, "{phase}");
        assert_eq!(events.len(), 1, "{phase}: {events:?}");
        match &events[0].event {
            ReportBody::Outcome { update_id, operation, result_code, .. } => {
                assert_eq!(update_id, &test_id(1));
                assert_eq!((*operation, *result_code), (UpdateOperation::Installation, OperationResultCode::Succeeded));
            }
            other => panic!("{phase}: {other:?}"),
        }
        if phase == "killed" {
            ok(agent(&w).arg("recover"));
        }
    }
    let before = server.states(&computer);
    assert!(before.values().all(|s| s == "no_status"), "nothing was sent before the kill: {before:?}");

    let cfg = w.work.join("agent.toml");
    std::fs::write(&cfg, "[policy]\nnotification_level = \"NotifyBeforeDownload\"\n").unwrap();
    let next = ok(&mut agent_run(agent(&w), &cfg));
    assert_eq!(reports(&next), (3, 3, 0), "the outcome, the scan, the reboot state: {next}");
    assert_eq!(server.states(&computer).get(&test_id(1)).map(String::as_str), Some("installed"));
    assert_eq!(outbox(&w.state).0, 1, "one history entry still");
}

/// A report the server refuses for good (an outcome whose update id is not one, queued through
/// the datastore as a damaged agent could have) does not block the outbox: the run sends the
/// others, sets it aside as a dead letter with the server's answer (in its JSON and text),
/// and `wua status` lists it, in JSON and in its table, until the service is removed; the next
/// run does not send it again.
#[test]
fn agent_runs_set_a_refused_report_aside_as_a_dead_letter() {
    let w = World::new().unwrap();
    let repo = repository(&w);
    publish(&w, &repo, 1, "", "");
    let server = ServerChild::start(&w, &repo);
    let key = server.enrolment_key();
    let service = add_server(&w, &server, &repo, &key, &[]);
    let service_id = service["service_id"].as_str().unwrap().to_owned();
    let computer = service["computer_id"].as_str().unwrap().to_owned();
    let bad = ReportBody::Outcome {
        update_id: "not-an-update-id".into(),
        revision_number: 1,
        operation: UpdateOperation::Installation,
        result_code: OperationResultCode::Succeeded,
        hresult: wua_agent::wua_types::HResult::S_OK,
        reboot_required: false,
    };
    let bad_key = Store::open(&w.state).unwrap().transact(|tx| tx.enqueue_event(&service_id, &bad)).unwrap();

    let status = ok(agent(&w).arg("status"));
    let m = &status["managed_server"];
    assert_eq!(
        (m["computer_id"].as_str(), m["pending_reports"].as_u64()),
        (Some(computer.as_str()), Some(1)),
        "{status}"
    );
    assert_eq!(m["dead_letters"].as_array().map(Vec::len), Some(0));

    let cfg = w.work.join("agent.toml");
    std::fs::write(&cfg, "[policy]\nnotification_level = \"NotifyBeforeDownload\"\n").unwrap();
    let first = ok(&mut agent_run(agent(&w), &cfg));
    let r = &first["managed_server"]["reports"];
    assert!(r["error"].is_null(), "{first}");
    assert_eq!(reports(&first), (2, 2, 0), "the scan and the reboot state went: {first}");
    let dead = r["dead_lettered"].as_array().unwrap();
    assert_eq!(dead.len(), 1, "{first}");
    assert_eq!((dead[0]["key"].as_str(), dead[0]["status"].as_u64()), (Some(bad_key.as_str()), Some(400)));
    assert_eq!(dead[0]["hresult_name"], "WUA_E_SERVER_BAD_REQUEST");
    assert_eq!(dead[0]["hresult_hex"], "0xA0245003");
    assert!(dead[0]["error"].as_str().unwrap().contains("not an update id"), "{first}");
    assert_eq!(dead[0]["event"]["kind"], "outcome");
    assert_eq!(dead[0]["event"]["update_id"], "not-an-update-id");
    assert_eq!(server.states(&computer).get(&test_id(1)).map(String::as_str), Some("needed"), "the scan arrived");

    let status = ok(agent(&w).arg("status"));
    let m = &status["managed_server"];
    assert_eq!(m["pending_reports"], 0, "{status}");
    let letters = m["dead_letters"].as_array().unwrap();
    assert_eq!(letters.len(), 1, "{status}");
    assert_eq!(
        (letters[0]["key"].as_str(), letters[0]["hresult_name"].as_str()),
        (Some(bad_key.as_str()), Some("WUA_E_SERVER_BAD_REQUEST"))
    );
    let o = run(wua(&w.state, &w.root).arg("status"));
    let t = text(&o);
    assert!(o.status.success(), "{t}");
    assert!(t.contains("dead letters: 1 report the server refused for good"), "{t}");
    assert!(
        t.contains("WUA_E_SERVER_BAD_REQUEST") && t.contains("not an update id") && t.contains(&bad_key[..8]),
        "{t}"
    );

    make_checkin_due(&w);
    let o = run(&mut agent_run(wua(&w.state, &w.root), &cfg));
    assert!(o.status.success(), "{}", text(&o));
    assert!(!text(&o).contains("refused for good"), "sent once, not again: {}", text(&o));
    let next = ok(agent(&w).arg("status"));
    assert_eq!(next["managed_server"]["dead_letters"].as_array().map(Vec::len), Some(1), "kept");

    ok(agent(&w).args(["service", "remove", &service_id]));
    let gone = Store::open(&w.state).unwrap().read().unwrap().dead_letter_count(&service_id).unwrap();
    assert_eq!(gone, 0, "removing the service forgets its dead letters");
    assert!(ok(agent(&w).arg("status"))["managed_server"].is_null());
}

/// The whole flow with two real agents, each with its own root, and the real server: publish;
/// approve for group A (ring-1) with a deadline that overrides the document's; one agent in A,
/// one in B (ring-2); the update is offered to A's agent and not to B's; B's computer moved
/// into A sees it at its next check-in; download, install, uninstall; the status then shows
/// each computer's results and the update's counts.
#[test]
fn two_agents_two_groups_end_to_end() {
    let (a, b) = (World::new().unwrap(), World::new().unwrap());
    let repo = repository(&a);
    publish(&a, &repo, 1, "deadline = \"2030-01-01T00:00:00Z\"", "");
    let server = ServerChild::start(&a, &repo);
    let key = server.enrolment_key();
    server.approve("ring-1", &test_id(1), ApprovalAction::Install, Some("2031-02-03T04:05:06Z"));
    let cfg_a = server_config(&a, &server, &repo, &key, "NotifyBeforeDownload", "ring-1");
    let cfg_b = server_config(&b, &server, &repo, &key, "ScheduledInstallation", "ring-2");
    let computer =
        |w: &World| ok(agent(w).args(["service", "list"]))["services"][0]["computer_id"].as_str().unwrap().to_owned();

    // A sees the update assigned, with the approval's deadline; B (ring-2) is offered nothing.
    let run_a = ok(&mut agent_run(agent(&a), &cfg_a));
    assert_eq!(ids(&run_a["found"]), [test_id(1)], "{run_a}");
    let search_a = ok(agent(&a).args(["search", "--offline"]));
    assert_eq!(search_a["updates"][0]["is_assigned"], true, "{search_a}");
    assert_eq!(search_a["updates"][0]["deadline"], "2031-02-03T04:05:06Z", "the approval's deadline wins");
    let run_b = ok(&mut agent_run(agent(&b), &cfg_b));
    assert!(ids(&run_b["found"]).is_empty(), "not approved for ring-2: {run_b}");
    assert!(ids(&run_b["installed"]).is_empty());
    let (ca, cb) = (computer(&a), computer(&b));
    assert_ne!(ca, cb, "two roots, two machine ids, two computers");

    // A: download, install, uninstall by hand.
    ok(agent(&a).arg("download"));
    ok(agent(&a).args(["install", "--update-id", &test_id(1)]));
    assert!(a.root.join("opt/u1/file").exists());
    ok(agent(&a).args(["uninstall", "--update-id", &test_id(1)]));
    assert!(!a.root.join("opt/u1/file").exists());

    // B moves into A's group: its next check-in sees the approval and installs.
    server.admin(
        wua_fetch::ApiMethod::Put,
        &format!("/api/v1/computers/{cb}/group"),
        Some(&serde_json::json!({"group": "ring-1"})),
    );
    make_checkin_due(&b);
    let run_b = ok(&mut agent_run(agent(&b), &cfg_b));
    assert_eq!(run_b["managed_server"]["group"], "ring-1", "{run_b}");
    assert_eq!(ids(&run_b["installed"]), [test_id(1)], "{run_b}");
    assert!(b.root.join("opt/u1/file").exists());

    // A's next run checks in, scans (needed again) and sends its outcomes.
    make_checkin_due(&a);
    let run_a = ok(&mut agent_run(agent(&a), &cfg_a));
    assert_eq!(run_a["managed_server"]["reports"]["remaining"], 0, "{run_a}");

    let states_a = server.states(&ca);
    let states_b = server.states(&cb);
    assert_eq!(states_a.get(&test_id(1)).map(String::as_str), Some("needed"), "{states_a:?}");
    assert_eq!(states_b.get(&test_id(1)).map(String::as_str), Some("installed"), "{states_b:?}");
    let outcomes: Vec<(String, String)> = server.get(&format!("/api/v1/computers/{ca}/events"))["items"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["event"]["kind"] == "outcome")
        .map(|e| {
            let o = &e["event"];
            (o["operation"].as_str().unwrap().to_owned(), o["result_code"].as_str().unwrap().to_owned())
        })
        .collect();
    assert_eq!(
        outcomes,
        [("Uninstallation".to_owned(), "Succeeded".to_owned()), ("Installation".to_owned(), "Succeeded".to_owned())],
        "A's history, newest first"
    );
    let status = server.get(&format!("/api/v1/updates/{}/status", test_id(1)));
    assert_eq!(
        ["installed", "needed", "failed", "not_applicable", "pending_reboot", "no_status"]
            .map(|k| status[k].as_u64().unwrap()),
        [1, 1, 0, 0, 0, 0],
        "{status}"
    );
    let group = server.get("/api/v1/groups/ring-1");
    assert_eq!((&group["group"]["computers"], &group["computers_needing_updates"]), (&2.into(), &1.into()), "{group}");
}
