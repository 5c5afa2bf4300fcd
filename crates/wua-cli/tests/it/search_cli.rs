//! `wua search` against a served repository: a process that cannot write the state directory
//! (D-6, D-29), new revisions and declines seen at the next refresh and not before (D-29), and
//! the reference's "everything actionable" query (D-26, D-27).

use std::os::unix::fs::PermissionsExt;
use std::path::Path;

use wua_test_support::serve::Served;

use crate::services::{ids, publish, repository};
use crate::support::*;

/// `(id, revision)` of each update a `wua --json search` found.
pub(crate) fn revisions(v: &serde_json::Value) -> Vec<(String, i64)> {
    v["updates"]
        .as_array()
        .unwrap()
        .iter()
        .map(|u| (u["update_id"].as_str().unwrap().to_owned(), u["revision_number"].as_i64().unwrap()))
        .collect()
}

/// Adds the repository at `repo`, served at `url`, as the default service.
fn add_default(w: &World, repo: &Path, url: &str) -> String {
    let root = repo.join("repository/metadata/1.root.json");
    let added = ok(agent(w).args(["service", "add", "main", url, "--default"]).arg("--trusted-root").arg(&root));
    added["service_id"].as_str().unwrap().to_owned()
}

/// Publishes `test_id(n)` rev 1 through the CLI with `tail` appended to its manifest.
fn publish_with(w: &World, repo: &Path, n: u32, tail: &str) {
    let payload = w.work.join(format!("payload-{n}-tail"));
    wua_test_support::write_payload(&payload, &[(&format!("opt/u{n}/file"), 0o644, b"tail")]).unwrap();
    let manifest = w.work.join(format!("m{n}-tail.toml"));
    std::fs::write(&manifest, files_manifest(&test_id(n), 1, &format!("update {n}"), "", tail)).unwrap();
    ok(agent(w).args(["repo", "publish"]).arg(repo).arg(&manifest).arg("--payload").arg(&payload));
}

unsafe extern "C" {
    #[link_name = "geteuid"]
    fn libc_geteuid() -> u32;
}

/// D-6, D-29: a process that can read but not write the state directory (the CLI as uid
/// 65534) searches the catalog already synced with `--offline`, and gets `E_ACCESSDENIED`
/// naming the state directory for an online search (a refresh writes the trusted state and
/// the index) and for a download; nothing in the state directory changes. Root's next online
/// search still works and sees what was published meanwhile.
#[test]
fn d6_a_reader_searches_offline_and_is_denied_online() {
    // SAFETY: geteuid has no preconditions.
    if unsafe { libc_geteuid() } != 0 {
        eprintln!("not root: cannot switch to an unprivileged uid; skipping");
        return;
    }
    let w = World::new().unwrap();
    let repo = repository(&w, &[1]);
    let server = Served::start(&repo.join("repository"));
    add_default(&w, &repo, &server.url);
    assert_eq!(ids(&ok(agent(&w).arg("search"))), [test_id(1)]);
    publish(&w, &repo, 2, 1);

    // Readable by anyone, writable by root alone.
    std::fs::set_permissions(w.dir.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
    std::fs::set_permissions(w.dir.path().join("boot_id"), std::fs::Permissions::from_mode(0o644)).unwrap();
    for e in walkdir::WalkDir::new(&w.state) {
        let e = e.unwrap();
        let mode = if e.file_type().is_dir() { 0o755 } else { 0o644 };
        if !e.file_type().is_symlink() {
            std::fs::set_permissions(e.path(), std::fs::Permissions::from_mode(mode)).unwrap();
        }
    }
    let as_nobody = |args: &[&str]| {
        let mut c = std::process::Command::new("setpriv");
        c.args(["--reuid=65534", "--regid=65534", "--clear-groups", env!("CARGO_BIN_EXE_wua")]);
        c.env("WUA_STATE_DIR", &w.state).env("WUA_ROOT", &w.root).arg("--json").args(args);
        c.env_remove("WUA_LOG");
        c.env("WUA_BOOT_ID_FILE", w.dir.path().join("boot_id"));
        run(&mut c)
    };
    let before = snapshot(&w.state, &["wua.db-shm"]).unwrap();
    let o = as_nobody(&["search", "--offline"]);
    assert_eq!(o.status.code(), Some(0), "D-29: {}", text(&o));
    assert_eq!(ids(&json(&o)), [test_id(1)], "the catalog already synced");
    for args in
        [&["search"][..], &["search", "IsInstalled=1"], &["download", "--all"], &["download", "--all", "--offline"]]
    {
        let o = as_nobody(args);
        assert_eq!(o.status.code(), Some(2), "D-6 {args:?}: {}", text(&o));
        let j = json(&o);
        assert_eq!(j["hresult_name"], "E_ACCESSDENIED", "D-6 {args:?}: {j}");
        assert_eq!(j["hresult_hex"], "0x80070005");
        assert!(text(&o).contains(&*w.state.to_string_lossy()), "names the state directory: {}", text(&o));
    }
    assert_eq!(snapshot(&w.state, &["wua.db-shm"]).unwrap(), before, "D-6: nothing changed");
    assert_eq!(ids(&ok(agent(&w).arg("search"))), [test_id(1), test_id(2)]);
}

/// D-29 through the CLI: a revision published, then declined, is seen by the next online
/// search and never by an offline one before it (the index changes only at a refresh);
/// `wua repo list` marks the decline.
#[test]
fn d29_new_revision_and_decline_seen_at_the_next_refresh() {
    let w = World::new().unwrap();
    let repo = repository(&w, &[1, 2]);
    let server = Served::start(&repo.join("repository"));
    add_default(&w, &repo, &server.url);
    let search = |offline: bool| {
        let mut c = agent(&w);
        c.arg("search");
        if offline {
            c.arg("--offline");
        }
        revisions(&ok(&mut c))
    };
    let (one, two) = (test_id(1), test_id(2));
    assert_eq!(search(false), [(one.clone(), 1), (two.clone(), 1)]);

    publish(&w, &repo, 1, 2);
    assert_eq!(search(true), [(one.clone(), 1), (two.clone(), 1)], "not refreshed yet");
    assert_eq!(search(false), [(one.clone(), 2), (two.clone(), 1)], "the new revision replaces the old");
    assert_eq!(search(true), [(one.clone(), 2), (two.clone(), 1)], "and is in the index");

    ok(agent(&w).args(["repo", "decline"]).arg(&repo).args([&one, "--revision", "2"]));
    let list = ok(agent(&w).args(["repo", "list"]).arg(&repo));
    assert!(
        list["updates"]
            .as_array()
            .unwrap()
            .iter()
            .any(|e| e["update_id"] == one.as_str() && e["revision_number"] == 2 && e["declined"] == true),
        "{list}"
    );
    assert_eq!(search(true), [(one.clone(), 2), (two.clone(), 1)], "not refreshed yet");
    assert_eq!(search(false), [(one.clone(), 1), (two.clone(), 1)], "a declined revision is not offered");
    assert_eq!(search(true), [(one, 1), (two, 1)]);
}

/// The reference's "everything actionable" query (D-26, D-27), its four groups: on a machine
/// with one installed and one not-installed update it finds the one to install; an installed
/// update waiting for a reboot joins it (group 3) until the boot id changes. Nothing matches
/// the `Uninstallation` groups: a plain repository deploys every update for installation
/// (D-27).
#[test]
fn d27_the_everything_actionable_query() {
    const ACTIONABLE: &str = "IsInstalled=0 and DeploymentAction='Installation' or IsPresent=1 and \
        DeploymentAction='Uninstallation' or IsInstalled=1 and DeploymentAction='Installation' and \
        RebootRequired=1 or IsInstalled=0 and DeploymentAction='Uninstallation' and RebootRequired=1";
    let w = World::new().unwrap();
    let repo = repository(&w, &[1, 2]);
    let server = Served::start(&repo.join("repository"));
    add_default(&w, &repo, &server.url);
    let search = |criteria: &str| ids(&ok(agent(&w).args(["search", criteria])));
    let o = run(agent(&w).args(["install", "--update-id", &test_id(1)]));
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));

    assert_eq!(search(ACTIONABLE), [test_id(2)], "only the update to install");
    assert_eq!(search("IsInstalled=1"), [test_id(1)]);
    assert_eq!(search("IsPresent=1"), [test_id(1)]);
    assert!(search("IsPresent=1 and DeploymentAction='Uninstallation'").is_empty(), "D-27");
    assert_eq!(search("IsPresent=1 and DeploymentAction=*"), [test_id(1)]);

    publish_with(&w, &repo, 3, "[installation_behavior]\nreboot_behavior = \"AlwaysRequiresReboot\"\n");
    let o = run(agent(&w).args(["install", "--update-id", &test_id(3)]));
    assert_eq!(o.status.code(), Some(102), "installed, a reboot pending: {}", text(&o));
    assert_eq!(search("RebootRequired=1 and IsInstalled=1"), [test_id(3)]);
    assert_eq!(search(ACTIONABLE), [test_id(2), test_id(3)], "group 3: installed, a reboot pending");

    std::fs::write(w.dir.path().join("boot_id"), "boot-2").unwrap();
    assert_eq!(search(ACTIONABLE), [test_id(2)], "after the reboot");
    assert_eq!(search("IsInstalled=1"), [test_id(1), test_id(3)]);
}
