//! `wua agent run --once` against a signed repository directory declared in `agent.toml`: each
//! notification level, the EULA skip, D-8 and D-9 refusals, SIGTERM as `request_abort`, bad
//! configurations, services registered once; and the systemd units in `dist/`.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

use crate::support::*;

const LONG: Duration = Duration::from_secs(60);

/// `wua agent run --once --config CONFIG` (add `--json` with [`agent`]).
pub(crate) fn agent_run(mut c: Command, config: &Path) -> Command {
    c.args(["agent", "run", "--once", "--config"]).arg(config);
    c
}

/// An empty repository in `w.work/repo`.
pub(crate) fn repository(w: &World) -> PathBuf {
    let repo = w.work.join("repo");
    ok(agent(w).args(["repo", "init"]).arg(&repo));
    repo
}

/// Publishes `test_id(n)`, a `files` update writing `opt/u{n}/file`; `extra` continues its
/// `[update]` table, `tail` follows the handler.
pub(crate) fn publish(w: &World, repo: &Path, n: u32, extra: &str, tail: &str) {
    let payload = w.work.join(format!("payload-{n}"));
    let content = format!("u{n}");
    wua_test_support::write_payload(&payload, &[(&format!("opt/u{n}/file"), 0o644, content.as_bytes())]).unwrap();
    let manifest = w.work.join(format!("m{n}.toml"));
    std::fs::write(&manifest, files_manifest(&test_id(n), 1, &format!("update {n}"), extra, tail)).unwrap();
    ok(agent(w).args(["repo", "publish"]).arg(repo).arg(&manifest).arg("--payload").arg(&payload));
}

/// `w.work/agent.toml` with `level` and the repository declared as service `main` (its
/// trusted root relative to the file).
fn config(w: &World, repo: &Path, level: &str) -> PathBuf {
    let path = w.work.join("agent.toml");
    std::fs::write(
        &path,
        format!(
            "[policy]\nnotification_level = \"{level}\"\n\n[services.main]\nsource = \"{}\"\n\
             trusted_root = \"repo/repository/metadata/1.root.json\"\ndefault = true\n",
            repo.display()
        ),
    )
    .unwrap();
    path
}

pub(crate) fn ids(v: &serde_json::Value) -> Vec<String> {
    v.as_array().unwrap().iter().map(|u| u["update_id"].as_str().unwrap().to_owned()).collect()
}

/// Regular files in the content cache.
fn cached_files(w: &World) -> usize {
    walkdir::WalkDir::new(w.state.join("cache"))
        .into_iter()
        .filter_map(Result::ok)
        .filter(|e| e.file_type().is_file())
        .count()
}

/// NotifyBeforeDownload lists what is needed and downloads nothing; NotConfigured acts as it.
/// The declared service is registered by the first run only.
#[test]
fn notify_before_download_lists_and_downloads_nothing() {
    let w = World::new().unwrap();
    let repo = repository(&w);
    publish(&w, &repo, 1, "", "");
    publish(&w, &repo, 2, "", "");
    let cfg = config(&w, &repo, "NotifyBeforeDownload");
    let j = ok(&mut agent_run(agent(&w), &cfg));
    assert_eq!(j["notification_level"], "NotifyBeforeDownload");
    assert_eq!(j["services_added"].as_array().unwrap().len(), 1, "{j}");
    assert_eq!(j["services_added"][0]["name"], "main");
    assert_eq!(j["services_added"][0]["is_default_au_service"], true);
    assert_eq!(ids(&j["found"]), [test_id(1), test_id(2)]);
    assert!(ids(&j["downloaded"]).is_empty() && ids(&j["installed"]).is_empty(), "{j}");
    assert!(j["download"].is_null() && j["install"].is_null(), "{j}");
    assert_eq!(cached_files(&w), 0, "nothing downloaded");

    let cfg = config(&w, &repo, "NotConfigured");
    let o = run(&mut agent_run(wua(&w.state, &w.root), &cfg));
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    let out = text(&o);
    assert!(out.contains("notification level NotConfigured (acts as NotifyBeforeDownload)"), "{out}");
    assert!(out.contains("update 1") && out.contains("needed (not downloaded)"), "{out}");
    assert!(out.contains("2 found, 0 downloaded, 0 installed, 0 skipped"), "{out}");
    assert!(!out.contains("service added"), "registered by the first run only: {out}");
    assert_eq!(cached_files(&w), 0);
    assert_eq!(ok(agent(&w).args(["service", "list"]))["services"].as_array().unwrap().len(), 1);
}

/// NotifyBeforeInstallation downloads what is needed and installs nothing.
#[test]
fn notify_before_installation_downloads_but_installs_nothing() {
    let w = World::new().unwrap();
    let repo = repository(&w);
    publish(&w, &repo, 1, "", "");
    publish(&w, &repo, 2, "", "");
    let cfg = config(&w, &repo, "NotifyBeforeInstallation");
    let j = ok(&mut agent_run(agent(&w), &cfg));
    assert_eq!(ids(&j["found"]), [test_id(1), test_id(2)]);
    assert_eq!(ids(&j["downloaded"]), [test_id(1), test_id(2)], "{j}");
    assert_eq!(j["download"]["result_code"], "Succeeded");
    assert!(ids(&j["installed"]).is_empty() && j["install"].is_null(), "{j}");
    assert!(cached_files(&w) >= 2, "the content is cached");
    assert!(!w.root.join("opt/u1/file").exists() && !w.root.join("opt/u2/file").exists());
    let found = ok(agent(&w).args(["search", "--offline"]));
    assert!(found["updates"].as_array().unwrap().iter().all(|u| u["is_downloaded"] == true), "{found}");
}

/// ScheduledInstallation installs what it found, and skips (naming it) an update whose license
/// terms are not accepted; once they are, the update installs by hand.
#[test]
fn scheduled_installation_installs_and_skips_an_unaccepted_eula() {
    let w = World::new().unwrap();
    let repo = repository(&w);
    publish(&w, &repo, 1, "", "");
    publish(&w, &repo, 2, "eula = \"terms\"", "");
    let cfg = config(&w, &repo, "ScheduledInstallation");
    let o = run(&mut agent_run(agent(&w), &cfg));
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    let j = json(&o);
    assert_eq!(ids(&j["installed"]), [test_id(1)], "{j}");
    assert_eq!(j["install"]["result_code"], "Succeeded");
    assert_eq!(ids(&j["skipped"]), [test_id(2)]);
    assert!(j["skipped"][0]["reason"].as_str().unwrap().contains("license terms not accepted"), "{j}");
    assert_eq!(ids(&j["downloaded"]), [test_id(1), test_id(2)], "downloaded ahead of the acceptance");
    assert_eq!(std::fs::read(w.root.join("opt/u1/file")).unwrap(), b"u1");
    assert!(!w.root.join("opt/u2/file").exists());

    // In the table, the skipped update is named with its reason.
    let o = run(&mut agent_run(wua(&w.state, &w.root), &cfg));
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    let out = text(&o);
    let row = out.lines().find(|l| l.starts_with("update 2")).unwrap_or_else(|| panic!("{out}"));
    assert!(row.contains("skipped: license terms not accepted"), "{out}");
    assert!(out.contains("1 found, 1 downloaded, 0 installed, 1 skipped"), "{out}");

    ok(agent(&w).args(["install", "--update-id", &test_id(2), "--accept-eula"]));
    assert!(w.root.join("opt/u2/file").exists());
    let j = ok(&mut agent_run(agent(&w), &cfg));
    assert!(ids(&j["found"]).is_empty(), "{j}");
}

/// Disabled does nothing: no service registered, the state directory untouched.
#[test]
fn disabled_does_nothing() {
    let w = World::new().unwrap();
    let repo = repository(&w);
    publish(&w, &repo, 1, "", "");
    let cfg = config(&w, &repo, "Disabled");
    let o = run(&mut agent_run(wua(&w.state, &w.root), &cfg));
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    assert!(text(&o).contains("automatic updates are disabled"), "{}", text(&o));
    assert_eq!(std::fs::read_dir(&w.state).unwrap().count(), 0, "the state directory is untouched");
    let j = ok(&mut agent_run(agent(&w), &cfg));
    assert_eq!(j["notification_level"], "Disabled");
    assert!(ids(&j["found"]).is_empty() && j["install"].is_null());
    assert!(!w.root.join("opt/u1/file").exists());
}

/// D-9: an install that asks for a reboot exits 102; the next run is refused with exit 2
/// (nothing searched or installed) until the boot id changes.
#[test]
fn d9_a_pending_reboot_refuses_the_run() {
    let w = World::new().unwrap();
    let repo = repository(&w);
    publish(&w, &repo, 1, "", "[installation_behavior]\nreboot_behavior = \"AlwaysRequiresReboot\"\n");
    let cfg = config(&w, &repo, "ScheduledInstallation");
    let o = run(&mut agent_run(agent(&w), &cfg));
    assert_eq!(o.status.code(), Some(102), "{}", text(&o));
    assert_eq!(json(&o)["reboot_required"], true);

    publish(&w, &repo, 2, "", "");
    let o = run(&mut agent_run(agent(&w), &cfg));
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    let j = json(&o);
    assert_eq!(j["hresult_name"], "WU_E_INSTALL_NOT_ALLOWED");
    assert!(j["error"].as_str().unwrap().contains("a reboot is pending"), "{j}");
    assert!(!w.root.join("opt/u2/file").exists());

    std::fs::write(w.dir.path().join("boot_id"), "boot-2").unwrap();
    let j = ok(&mut agent_run(agent(&w), &cfg));
    assert_eq!(ids(&j["installed"]), [test_id(2)], "{j}");
    assert!(w.root.join("opt/u2/file").exists());
}

/// D-8: while an install holds the state directory, a run is refused with exit 2 naming its pid.
#[test]
fn d8_a_running_install_refuses_the_run() {
    let w = World::new().unwrap();
    let repo = repository(&w);
    publish(&w, &repo, 2, "", "");
    let cfg = config(&w, &repo, "ScheduledInstallation");
    let dir = w.work.join("hold");
    let holding = holding_package(&w, 1, &dir, "", "").unwrap();
    let first = wua(&w.state, &w.root)
        .arg("install-package")
        .arg(&holding)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    wait_for("the first install's program", LONG, || dir.join("pid").exists());
    let o = run(&mut agent_run(agent(&w), &cfg));
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    let j = json(&o);
    assert_eq!(j["hresult_name"], "WU_E_INSTALL_NOT_ALLOWED");
    assert!(j["error"].as_str().unwrap().contains(&format!("pid {}", first.id())), "{j}");
    std::fs::remove_file(dir.join("hold")).unwrap();
    assert!(finish(first, "the first install").status.success());
    assert!(!w.root.join("opt/u2/file").exists());
    let j = ok(&mut agent_run(agent(&w), &cfg));
    assert_eq!(ids(&j["installed"]), [test_id(2)], "{j}");
}

/// SIGTERM during the install (systemd stopping the unit) is `request_abort` (D-23): the
/// program's group is terminated, its uninstall command runs, the result is Aborted, exit 1.
#[test]
fn sigterm_aborts_the_install() {
    let w = World::new().unwrap();
    let repo = repository(&w);
    let dir = w.work.join("hold");
    let (manifest, files) = wua_test_support::holding_update(1, &dir, "", "").unwrap();
    let payload = w.work.join("hold-payload");
    wua_test_support::write_payload(&payload, &files).unwrap();
    let manifest_path = w.work.join("hold.toml");
    std::fs::write(&manifest_path, manifest).unwrap();
    ok(agent(&w).args(["repo", "publish"]).arg(&repo).arg(&manifest_path).arg("--payload").arg(&payload));
    let cfg = config(&w, &repo, "ScheduledInstallation");
    let child =
        agent_run(agent(&w), &cfg).stdin(Stdio::null()).stdout(Stdio::piped()).stderr(Stdio::piped()).spawn().unwrap();
    wait_for("the program", LONG, || dir.join("pid").exists());
    let pid = read_pid(&dir.join("pid"));
    // SAFETY: kill(2) of a child this test started.
    unsafe { libc::kill(child.id() as i32, libc::SIGTERM) };
    let out = finish(child, "the run after SIGTERM");
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    let j = json(&out);
    assert_eq!(j["install"]["result_code"], "Aborted", "{j}");
    assert_eq!(j["install"]["hresult_name"], "WU_E_CALL_CANCELLED");
    assert!(ids(&j["installed"]).is_empty());
    assert!(String::from_utf8_lossy(&out.stderr).contains("SIGTERM: stopping at the next safe point"));
    assert!(!pid_alive(pid));
    assert_eq!(std::fs::read_to_string(dir.join("undone")).unwrap().trim(), "uninstall");
}

/// Bad configurations are call errors (exit 2, E_INVALIDARG) naming the key; so are a missing
/// file and a run without --once.
#[test]
fn a_bad_config_names_the_key() {
    let w = World::new().unwrap();
    let cfg = w.work.join("agent.toml");
    for (body, key) in [
        ("[policy]\nnotification_level = \"Sometimes\"\n", "policy.notification_level"),
        ("[policy]\nlevel = \"Disabled\"\n", "policy.level"),
        ("[services.main]\nsource = \"/srv/repo\"\ntrusted_root = \"r.json\"\nurl = \"x\"\n", "services.main.url"),
        ("[services.main]\nsource = \"/srv/repo\"\n", "services.main.trusted_root"),
        ("[policy\n", "line 1"),
    ] {
        std::fs::write(&cfg, body).unwrap();
        let o = run(&mut agent_run(agent(&w), &cfg));
        assert_eq!(o.status.code(), Some(2), "{}", text(&o));
        let j = json(&o);
        assert_eq!(j["hresult_name"], "E_INVALIDARG", "{j}");
        assert!(j["error"].as_str().unwrap().contains(key), "{key}: {j}");
        let o = run(&mut agent_run(wua(&w.state, &w.root), &cfg));
        assert!(text(&o).contains(key), "{}", text(&o));
    }
    // A declared trusted root that cannot be read fails at registration, naming the service.
    std::fs::write(&cfg, "[services.main]\nsource = \"/srv/repo\"\ntrusted_root = \"missing.json\"\n").unwrap();
    let o = run(&mut agent_run(agent(&w), &cfg));
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    assert!(json(&o)["error"].as_str().unwrap().contains("services.main: trusted_root"), "{}", text(&o));

    let missing = w.work.join("none.toml");
    let o = run(&mut agent_run(wua(&w.state, &w.root), &missing));
    assert_eq!(o.status.code(), Some(2));
    assert!(text(&o).contains("no agent configuration at") && text(&o).contains("create it"), "{}", text(&o));
    let o = run(wua(&w.state, &w.root).args(["agent", "run", "--config"]).arg(&cfg));
    assert_eq!(o.status.code(), Some(2));
    assert!(text(&o).contains("--once"), "{}", text(&o));
}

/// A declared service whose source a registered service already has is not added again, by
/// the same or a later run; services are kept as `wua service add` keeps them.
#[test]
fn config_services_are_registered_once() {
    let w = World::new().unwrap();
    let repo = repository(&w);
    publish(&w, &repo, 1, "", "");
    let root = repo.join("repository/metadata/1.root.json");
    // Added by hand first, spelled with a trailing `/.`: the same directory.
    ok(agent(&w).args(["service", "add", "by-hand"]).arg(repo.join(".")).arg("--trusted-root").arg(&root));
    let cfg = config(&w, &repo, "NotifyBeforeDownload");
    for _ in 0..2 {
        let j = ok(&mut agent_run(agent(&w), &cfg));
        assert!(j["services_added"].as_array().unwrap().is_empty(), "{j}");
        assert_eq!(ids(&j["found"]), [test_id(1)]);
    }
    let list = ok(agent(&w).args(["service", "list"]));
    assert_eq!(list["services"].as_array().unwrap().len(), 1, "{list}");
    assert_eq!(list["services"][0]["name"], "by-hand");
}

/// The units in `dist/` pass `systemd-analyze verify` with ExecStart pointing at the built
/// binary (verify fails when ExecStart's binary is missing).
#[test]
fn systemd_units_verify() {
    let dist = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../dist");
    let dir = tempfile::tempdir().unwrap();
    let service = std::fs::read_to_string(dist.join("wua-agent.service")).unwrap();
    assert!(service.contains("ExecStart=/usr/bin/wua agent run --once"), "{service}");
    let service = service.replace("ExecStart=/usr/bin/wua ", &format!("ExecStart={} ", env!("CARGO_BIN_EXE_wua")));
    std::fs::write(dir.path().join("wua-agent.service"), service).unwrap();
    std::fs::copy(dist.join("wua-agent.timer"), dir.path().join("wua-agent.timer")).unwrap();
    let mut verify = Command::new("systemd-analyze");
    verify.arg("verify").arg(dir.path().join("wua-agent.service")).arg(dir.path().join("wua-agent.timer"));
    let o = wua_test_support::output_within(&mut verify, CHILD_LIMIT)
        .expect("systemd-analyze (Debian package systemd; scripts/test installs it)");
    assert!(o.status.success(), "{}", text(&o));
    // Unknown keys are only warnings: none may name our units.
    let stderr = String::from_utf8_lossy(&o.stderr);
    assert!(!stderr.contains("wua-agent"), "{stderr}");
}
