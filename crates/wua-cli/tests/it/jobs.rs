//! Jobs through the real binary: D-8 across processes, D-38 after a SIGKILL of the agent while a
//! program runs, and Ctrl-C as `request_abort` (a second one leaves at once). Every wait is
//! bounded; synchronisation is on files the programs write, never on time.

use std::os::unix::process::ExitStatusExt;
use std::process::{Child, Stdio};
use std::time::Duration;

use wua_agent::{BootIdSource, SessionOptions, UpdateSession};

use crate::support::*;

const LONG: Duration = Duration::from_secs(60);

fn spawn(cmd: &mut std::process::Command) -> Child {
    cmd.stdin(Stdio::null()).stdout(Stdio::piped()).stderr(Stdio::piped()).spawn().expect("start wua")
}

fn signal(pid: u32, sig: i32) {
    // SAFETY: kill(2) of a child this test started.
    unsafe { libc::kill(pid as i32, sig) };
}

fn library_session(w: &World) -> UpdateSession {
    let mut o = SessionOptions::new(&w.state, &w.root);
    o.boot_id = BootIdSource::File(w.state.parent().unwrap().join("boot_id"));
    UpdateSession::open(o).unwrap()
}

/// D-8 across processes: while the first `wua` holds the lock with a sleeping command, a
/// second gets WU_E_INSTALL_NOT_ALLOWED naming the first one's pid, as does one with another
/// state directory into the same root; `is_busy()` is true meanwhile and false after.
#[test]
fn d8_second_process_is_refused_with_the_holders_pid() {
    let w = World::new().unwrap();
    let dir = w.work.join("hold");
    let holding = holding_package(&w, 1, &dir, "", "").unwrap();
    let other =
        w.package("other", &files_manifest(&test_id(2), 1, "other", "", ""), &[("etc/o", 0o644, b"o")]).unwrap();
    let first = spawn(wua(&w.state, &w.root).arg("install-package").arg(&holding));
    wait_for("the first install's program", LONG, || dir.join("pid").exists());

    let o = run(wua(&w.state, &w.root).args(["--json", "install-package"]).arg(&other));
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    let j = json(&o);
    assert_eq!(j["hresult_name"], "WU_E_INSTALL_NOT_ALLOWED");
    assert!(j["error"].as_str().unwrap().contains(&format!("pid {}", first.id())), "{j}");

    let state2 = w.work.join("state2");
    let o = run(wua(&state2, &w.root).arg("install-package").arg(&other));
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    assert!(text(&o).contains("WU_E_INSTALL_NOT_ALLOWED") && text(&o).contains(&format!("pid {}", first.id())));

    let installer = library_session(&w).create_update_installer();
    assert!(installer.is_busy().unwrap());
    std::fs::remove_file(dir.join("hold")).unwrap();
    let out = finish(first, "the first install, released");
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    assert!(!installer.is_busy().unwrap());
    let o = run(wua(&w.state, &w.root).arg("install-package").arg(&other));
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
}

/// D-38: SIGKILL of the agent while a command runs; the program's process group survives the
/// agent, and the next locked operation (`wua recover`) kills it and records the update as not
/// installed with one recovered `Failed` entry carrying WUA_E_OPERATION_INTERRUPTED.
#[test]
fn d38_crash_during_a_command() {
    let w = World::new().unwrap();
    let dir = w.work.join("hold");
    let holding = holding_package(&w, 1, &dir, "", "").unwrap();
    let mut agent = spawn(wua(&w.state, &w.root).arg("install-package").arg(&holding));
    wait_for("the program", LONG, || dir.join("pid").exists());
    let (pid, child) = (read_pid(&dir.join("pid")), read_pid(&dir.join("child.pid")));
    agent.kill().unwrap(); // SIGKILL
    wait(&mut agent, "the agent, SIGKILLed");
    assert!(pid_alive(pid) && pid_alive(child), "the program's group outlives the agent");

    let o = run(wua(&w.state, &w.root).args(["--json", "status"]));
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    assert!(pid_alive(pid), "a reader does not recover");

    let o = run(wua(&w.state, &w.root).args(["--json", "recover"]));
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    assert!(!pid_alive(pid) && !pid_alive(child), "recovery killed the surviving process group");
    let o = run(wua(&w.state, &w.root).args(["--json", "history"]));
    let h = json(&o);
    let entries = h["entries"].as_array().unwrap();
    assert_eq!(entries.len(), 1, "{h}");
    assert_eq!(entries[0]["result_code"], "Failed");
    assert_eq!(entries[0]["hresult_name"], "WUA_E_OPERATION_INTERRUPTED");
    assert_eq!(entries[0]["recovered"], true);
    // The entry names the processes recovery killed: the program and the child it started.
    let message = entries[0]["message"].as_str().unwrap_or_default();
    let killed = message.split_once("its surviving processes [").and_then(|(_, rest)| rest.split_once(']'));
    let killed: Vec<i32> = killed.map_or(vec![], |(list, _)| list.split(", ").filter_map(|p| p.parse().ok()).collect());
    assert!(killed.contains(&pid) && killed.contains(&child), "{message}");
    let update = library_session(&w).find_update(&test_id(1)).unwrap().unwrap();
    assert!(!update.is_installed());
    let o = run(wua(&w.state, &w.root).args(["--json", "recover"]));
    assert_eq!(json(&o)["recovered"].as_array().map(Vec::len), Some(0), "recovered once");
}

/// Ctrl-C during `wua install-package` is `request_abort` (D-23): the program's group is
/// terminated, its uninstall command runs, the result is Aborted and the exit code 1.
#[test]
fn ctrl_c_aborts_the_job() {
    let w = World::new().unwrap();
    let dir = w.work.join("hold");
    let holding = holding_package(&w, 1, &dir, "", "").unwrap();
    let after =
        w.package("after", &files_manifest(&test_id(2), 1, "after", "", ""), &[("etc/a", 0o644, b"a")]).unwrap();
    let agent = spawn(wua(&w.state, &w.root).args(["--json", "install-package"]).arg(&holding).arg(&after));
    wait_for("the program", LONG, || dir.join("pid").exists());
    let pid = read_pid(&dir.join("pid"));
    signal(agent.id(), libc::SIGINT);
    let out = finish(agent, "the agent after Ctrl-C");
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    let j = json(&out);
    assert_eq!((j["result_code"].as_str(), j["hresult_name"].as_str()), (Some("Aborted"), Some("WU_E_CALL_CANCELLED")));
    assert_eq!(j["updates"][0]["result_code"], "Aborted");
    assert_eq!(j["updates"][1]["result_code"], "Aborted");
    assert!(!pid_alive(pid));
    assert_eq!(std::fs::read_to_string(dir.join("undone")).unwrap().trim(), "uninstall");
    assert!(!w.root.join("etc/a").exists());
}

/// A second Ctrl-C leaves at once (exit 130) while the program ignores SIGTERM; the journal
/// makes that safe: `wua recover` kills what is left and records the interruption.
#[test]
fn second_ctrl_c_leaves_at_once() {
    let w = World::new().unwrap();
    let dir = w.work.join("hold");
    let holding = holding_package(&w, 1, &dir, "ignore-term", "").unwrap();
    let agent = spawn(wua(&w.state, &w.root).arg("install-package").arg(&holding));
    wait_for("the program", LONG, || dir.join("pid").exists());
    let pid = read_pid(&dir.join("pid"));
    signal(agent.id(), libc::SIGINT);
    // The agent answers the first Ctrl-C on stderr before it terminates the group, which takes
    // its grace period because the program ignores SIGTERM; the second leaves at once.
    // Read on a thread (a read of the pipe would wait for as long as the agent says nothing).
    let mut agent = agent;
    let stderr = wua_test_support::Drain::start(agent.stderr.take().unwrap());
    wait_for("the first Ctrl-C's answer", LONG, || stderr.is_closed() || stderr.text().contains("safe point"));
    signal(agent.id(), libc::SIGINT);
    let status = wait(&mut agent, "the agent after a second Ctrl-C");
    assert_eq!(status.code(), Some(130));
    let o = run(wua(&w.state, &w.root).args(["--json", "recover"]));
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    assert!(!pid_alive(pid));
}

/// SIGKILLs the agent while its program `pid` runs, then `wua recover`, which must end the
/// program; the newest history entry.
fn kill_and_recover(w: &World, mut agent: Child, pid: i32) -> serde_json::Value {
    agent.kill().unwrap();
    wait(&mut agent, "the agent, SIGKILLed");
    let o = run(wua(&w.state, &w.root).args(["--json", "recover"]));
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    assert!(!pid_alive(pid));
    let h = json(&run(wua(&w.state, &w.root).args(["--json", "history"])));
    h["entries"][0].clone()
}

/// D-38 with an `is_installed` rule: after a SIGKILL of the agent while the program runs,
/// recovery kills the group, evaluates the rule and records what it finds: here the program
/// had done its work, so the update is installed and the recovered entry is `Succeeded`.
#[test]
fn d38_crash_during_a_command_with_an_is_installed_rule() {
    let w = World::new().unwrap();
    let dir = w.work.join("hold");
    let rule = "[applicability]\nis_installed = { file_exists = \"opt/done/marker\" }\n";
    let holding = holding_package(&w, 1, &dir, "", rule).unwrap();
    let agent = spawn(wua(&w.state, &w.root).arg("install-package").arg(&holding));
    wait_for("the program", LONG, || dir.join("pid").exists());
    let pid = read_pid(&dir.join("pid"));
    // What the program did before the crash: the rule will find it.
    std::fs::create_dir_all(w.root.join("opt/done")).unwrap();
    std::fs::write(w.root.join("opt/done/marker"), "done").unwrap();
    let e = &kill_and_recover(&w, agent, pid);
    assert_eq!((e["result_code"].as_str(), e["hresult_name"].as_str()), (Some("Succeeded"), Some("S_OK")), "{e}");
    assert_eq!(e["recovered"], true);
    let message = e["message"].as_str().unwrap_or_default();
    assert!(message.ends_with("its is_installed rule finds the install complete"), "{message}");
    assert!(library_session(&w).find_update(&test_id(1)).unwrap().unwrap().is_installed());
}

/// D-38 for an uninstall command: the agent is killed while the uninstall program runs, after
/// it did its work; recovery evaluates the `is_installed` rule, finds the update gone and
/// records the uninstall as `Succeeded` (recovered).
#[test]
fn d38_crash_during_an_uninstall_command_with_an_is_installed_rule() {
    let w = World::new().unwrap();
    let dir = w.work.join("hold");
    std::fs::create_dir_all(&dir).unwrap();
    let marker = w.root.join("opt/done");
    let handler = format!(
        "program = \"mark.sh\"\narguments = [\"{m}\"]\n{codes}\n\n[handler.uninstall]\nprogram = \"hold.sh\"\n\
         arguments = [\"{d}\", \"0\", \"\"]\nreturn_codes = [{{ code = 0, result = \"Succeeded\" }}]\n\n\
         [applicability]\nis_installed = {{ file_exists = \"opt/done/marker\" }}\n",
        m = marker.display(),
        d = dir.display(),
        codes = wua_test_support::RETURN_CODES,
    );
    let manifest = wua_test_support::command_manifest(&test_id(1), "uninstall holds", "", &handler);
    let mark: &[u8] = b"#!/bin/sh\nmkdir -p \"$1\" && touch \"$1/marker\"\n";
    let pkg =
        w.package("u", &manifest, &[("mark.sh", 0o755, mark), ("hold.sh", 0o755, wua_test_support::HOLDING)]).unwrap();
    let o = run(wua(&w.state, &w.root).arg("install-package").arg(&pkg));
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    assert!(marker.join("marker").exists());
    std::fs::write(dir.join("hold"), "").unwrap();
    let agent = spawn(wua(&w.state, &w.root).args(["uninstall", &test_id(1)]));
    wait_for("the uninstall program", LONG, || dir.join("pid").exists());
    let pid = read_pid(&dir.join("pid"));
    // What the program did before the crash: the rule will find the update gone.
    std::fs::remove_file(marker.join("marker")).unwrap();
    let e = &kill_and_recover(&w, agent, pid);
    assert_eq!(
        (e["operation"].as_str(), e["result_code"].as_str()),
        (Some("Uninstallation"), Some("Succeeded")),
        "{e}"
    );
    assert_eq!(e["recovered"], true);
    let message = e["message"].as_str().unwrap_or_default();
    assert!(message.ends_with("its is_installed rule finds the uninstall complete"), "{message}");
    assert!(!library_session(&w).find_update(&test_id(1)).unwrap().unwrap().is_installed());
}

/// D-38 in the narrowest window: the agent dies right after it started the program, before
/// it recorded the program's process group. The journal record written before the start lets
/// recovery find the program by the operation id in its environment, kill it, and record the
/// interruption.
#[test]
fn d38_crash_before_the_group_is_recorded() {
    let w = World::new().unwrap();
    let dir = w.work.join("hold");
    let holding = holding_package(&w, 1, &dir, "", "").unwrap();
    let log = w.work.join("crash.log");
    let o = run(wua(&w.state, &w.root)
        .arg("install-package")
        .arg(&holding)
        .env("WUA_CRASH_LOG", &log)
        .env("WUA_CRASH_AT_STEP", "1"));
    assert_eq!(o.status.signal(), Some(9), "{}", text(&o));
    assert_eq!(std::fs::read_to_string(&log).unwrap().trim(), "1 command-spawned");
    wait_for("the program", LONG, || dir.join("pid").exists());
    let (pid, child) = (read_pid(&dir.join("pid")), read_pid(&dir.join("child.pid")));
    assert!(pid_alive(pid) && pid_alive(child));
    let o = run(wua(&w.state, &w.root).args(["--json", "recover"]));
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    assert!(!pid_alive(pid) && !pid_alive(child), "found by its environment and killed");
    let h = json(&run(wua(&w.state, &w.root).args(["--json", "history"])));
    assert_eq!(h["entries"][0]["hresult_name"], "WUA_E_OPERATION_INTERRUPTED", "{h}");
    assert_eq!(h["entries"][0]["recovered"], true);
}
