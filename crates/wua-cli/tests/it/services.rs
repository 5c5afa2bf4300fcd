//! `wua service`, `wua search`, `wua download` and `wua install --all` against a signed
//! repository: served over HTTP on 127.0.0.1, and as a directory.

use std::path::Path;

use wua_test_support::serve::Served;

use crate::support::*;

/// A repository in `w.work/repo` with `test_id(n)` for each `n`, published through the CLI.
pub(crate) fn repository(w: &World, ns: &[u32]) -> std::path::PathBuf {
    let repo = w.work.join("repo");
    ok(agent(w).args(["repo", "init"]).arg(&repo));
    for n in ns {
        publish(w, &repo, *n, 1);
    }
    repo
}

pub(crate) fn publish(w: &World, repo: &Path, n: u32, revision: i32) {
    let payload = w.work.join(format!("payload-{n}-{revision}"));
    wua_test_support::write_payload(&payload, &[(&format!("opt/u{n}/file"), 0o644, format!("r{revision}").as_bytes())])
        .unwrap();
    let manifest = w.work.join(format!("m{n}-{revision}.toml"));
    std::fs::write(&manifest, files_manifest(&test_id(n), revision, &format!("update {n}"), "", "")).unwrap();
    ok(agent(w).args(["repo", "publish"]).arg(repo).arg(&manifest).arg("--payload").arg(&payload));
}

pub(crate) fn ids(v: &serde_json::Value) -> Vec<String> {
    v["updates"].as_array().unwrap().iter().map(|u| u["update_id"].as_str().unwrap().to_owned()).collect()
}

/// The whole flow through the command line, over HTTP: add a service, search, install
/// everything found (downloaded first), a new revision seen after the next search; then
/// reset and remove the service.
#[test]
fn service_search_install_all_over_http() {
    let w = World::new().unwrap();
    let repo = repository(&w, &[1, 2]);
    let server = Served::start(&repo.join("repository"));
    let root = repo.join("repository/metadata/1.root.json");
    let added =
        ok(agent(&w).args(["service", "add", "main", &server.url, "--default"]).arg("--trusted-root").arg(&root));
    let id = added["service_id"].as_str().unwrap().to_owned();
    assert_eq!(added["is_default_au_service"], true);
    let list = ok(agent(&w).args(["service", "list"]));
    assert_eq!(list["services"].as_array().unwrap().len(), 1);

    let found = ok(agent(&w).arg("search"));
    assert_eq!(ids(&found), [test_id(1), test_id(2)]);
    assert_eq!(found["updates"][0]["is_assigned"], true);
    assert_eq!(found["updates"][0]["service_id"], id.as_str());

    let installed = ok(agent(&w).args(["install", "--all"]));
    assert_eq!(installed["result_code"], "Succeeded", "{installed}");
    assert_eq!(std::fs::read(w.root.join("opt/u2/file")).unwrap(), b"r1");
    assert!(ids(&ok(agent(&w).arg("search"))).is_empty());
    assert_eq!(ids(&ok(agent(&w).args(["search", "IsInstalled=1", "--offline"]))), [test_id(1), test_id(2)]);

    publish(&w, &repo, 1, 2);
    let found = ok(agent(&w).arg("search"));
    assert_eq!(ids(&found), [test_id(1)], "the new revision is offered");
    assert_eq!(found["updates"][0]["revision_number"], 2);
    let downloaded = ok(agent(&w).args(["download", "--all"]));
    assert_eq!(downloaded["result_code"], "Succeeded", "{downloaded}");
    ok(agent(&w).args(["install", "--update-id", &test_id(1)]));
    assert_eq!(std::fs::read(w.root.join("opt/u1/file")).unwrap(), b"r2");

    ok(agent(&w).args(["service", "reset", &id]));
    assert!(!w.state.join("services").join(&id).exists());
    assert!(ids(&ok(agent(&w).arg("search"))).is_empty(), "a reset service trusts its root again");
    ok(agent(&w).args(["service", "remove", &id]));
    let o = run(agent(&w).arg("search"));
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    assert_eq!(json(&o)["hresult_name"], "WU_E_NO_SERVICE");
}

/// A repository directory as a service, and a trust failure at refresh: the search fails with
/// the named error and the index is left as it was (an offline search still answers).
#[test]
fn a_repository_directory_and_a_refused_refresh() {
    let w = World::new().unwrap();
    let repo = repository(&w, &[1]);
    let root = repo.join("repository/metadata/1.root.json");
    ok(agent(&w).args(["service", "add", "dir"]).arg(&repo).arg("--trusted-root").arg(&root));
    assert_eq!(ids(&ok(agent(&w).arg("search"))), [test_id(1)]);
    // A replayed older timestamp: a rollback.
    let ts = repo.join("repository/metadata/timestamp.json");
    let old = std::fs::read(&ts).unwrap();
    publish(&w, &repo, 2, 1);
    assert_eq!(ids(&ok(agent(&w).arg("search"))), [test_id(1), test_id(2)]);
    std::fs::write(&ts, old).unwrap();
    let o = run(agent(&w).arg("search"));
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    assert_eq!(json(&o)["hresult_name"], "WUA_E_TRUST_ROLLBACK", "{}", text(&o));
    assert_eq!(ids(&ok(agent(&w).args(["search", "--offline"]))), [test_id(1), test_id(2)]);
}

/// History records the service an update came from (`server_selection`, `service_id`), also
/// in the entry recovery writes for an install a crash interrupted (carried by the journal).
#[test]
fn history_names_the_service_even_after_a_crash() {
    use std::os::unix::process::ExitStatusExt;
    let w = World::new().unwrap();
    let repo = repository(&w, &[1, 2]);
    let root = repo.join("repository/metadata/1.root.json");
    let added = ok(agent(&w).args(["service", "add", "dir"]).arg(&repo).arg("--trusted-root").arg(&root));
    let id = added["service_id"].as_str().unwrap().to_owned();
    ok(agent(&w).args(["install", "--update-id", &test_id(1)]));
    let history = ok(agent(&w).arg("history"));
    assert_eq!(history["entries"][0]["service_id"], id.as_str(), "{history}");
    assert_eq!(history["entries"][0]["server_selection"], "Default");

    // Killed once the install's intent is committed: recovery rolls it forward.
    ok(agent(&w).args(["download", &format!("UpdateID='{}'", test_id(2))]));
    let log = w.work.join("steps.log");
    ok(agent(&w).args(["install", "--update-id", &test_id(2)]).env("WUA_CRASH_LOG", &log));
    ok(agent(&w).args(["uninstall", "--update-id", &test_id(2)]));
    let steps = std::fs::read_to_string(&log).unwrap();
    let intent =
        steps.lines().find(|l| l.ends_with(" intent")).expect("an intent step").split(' ').next().unwrap().to_owned();
    let o = run(agent(&w).args(["install", "--update-id", &test_id(2)]).env("WUA_CRASH_AT_STEP", &intent));
    assert_eq!(o.status.signal(), Some(libc::SIGKILL), "{}", text(&o));
    ok(agent(&w).arg("recover"));
    let history = ok(agent(&w).arg("history"));
    let newest = &history["entries"][0];
    assert_eq!(newest["recovered"], true, "{history}");
    assert_eq!(newest["service_id"], id.as_str(), "{history}");
    assert_eq!(newest["server_selection"], "Default");
}

/// `wua cache clean`: keeps what an uninstall or a later install needs, removes the rest;
/// `--all` removes what is downloaded and not installed too; while an install holds the cache,
/// a clean is refused by name and the install goes on.
#[test]
fn cache_clean_keeps_what_is_needed() {
    let w = World::new().unwrap();
    let repo = w.work.join("repo");
    ok(agent(&w).args(["repo", "init"]).arg(&repo));
    for n in [1, 2] {
        let payload = w.work.join(format!("payload-{n}"));
        wua_test_support::write_payload(&payload, &[(&format!("opt/u{n}/file"), 0o644, format!("u{n}").as_bytes())])
            .unwrap();
        let manifest = w.work.join(format!("m{n}.toml"));
        std::fs::write(&manifest, files_manifest(&test_id(n), 1, &format!("update {n}"), "", "")).unwrap();
        ok(agent(&w).args(["repo", "publish"]).arg(&repo).arg(&manifest).arg("--payload").arg(&payload));
    }
    let root = repo.join("repository/metadata/1.root.json");
    ok(agent(&w).args(["service", "add", "dir"]).arg(&repo).arg("--trusted-root").arg(&root));
    ok(agent(&w).args(["install", "--update-id", &test_id(1)]));
    ok(agent(&w).args(["download", &format!("UpdateID='{}'", test_id(2))]));
    let blob = |text: &str| w.state.join("cache/sha256").join(sha256_hex(text.as_bytes()));
    assert!(blob("u1").exists() && blob("u2").exists());

    let cleaned = ok(agent(&w).args(["cache", "clean"]));
    assert_eq!((cleaned["removed"].as_u64(), cleaned["kept"].as_u64()), (Some(1), Some(1)), "{cleaned}");
    assert!(!blob("u1").exists(), "an installed files update needs no blob");
    assert!(blob("u2").exists(), "downloaded and not installed: kept");
    ok(agent(&w).args(["install", "--update-id", &test_id(2)]));

    ok(agent(&w).args(["download", "--forced", "IsInstalled=1"]));
    let cleaned = ok(agent(&w).args(["cache", "clean", "--all"]));
    assert_eq!(cleaned["kept"], 0, "{cleaned}");

    // An install holds the cache: a clean waits a moment, then is refused by name.
    let dir = w.work.join("hold");
    let holding = holding_package(&w, 3, &dir, "", "").unwrap();
    let mut first = wua(&w.state, &w.root).arg("install-package").arg(&holding).spawn().unwrap();
    wait_for("the holding install's program", std::time::Duration::from_secs(60), || dir.join("pid").exists());
    let o = run(agent(&w).args(["cache", "clean"]));
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    assert_eq!(json(&o)["hresult_name"], "WUA_E_CACHE_BUSY");
    std::fs::remove_file(dir.join("hold")).unwrap();
    assert!(wait(&mut first, "the holding install, released").success());
    let cleaned = ok(agent(&w).args(["cache", "clean", "--all"]));
    assert_eq!(cleaned["kept"], 2, "an installed command update keeps its two programs for its uninstall: {cleaned}");
    ok(agent(&w).args(["uninstall", "--update-id", &test_id(3)]));
}

/// A search killed between the trusted state's swap and the index's commit (SIGKILL at the
/// crash point between them) leaves the old index; the next online search repairs it, and an
/// offline search then agrees.
#[test]
fn a_crash_between_verifying_and_indexing_is_repaired_by_the_next_refresh() {
    use std::os::unix::process::ExitStatusExt;
    let w = World::new().unwrap();
    let repo = repository(&w, &[1]);
    let root = repo.join("repository/metadata/1.root.json");
    ok(agent(&w).args(["service", "add", "dir"]).arg(&repo).arg("--trusted-root").arg(&root));
    assert_eq!(ids(&ok(agent(&w).arg("search"))), [test_id(1)]);
    publish(&w, &repo, 2, 1);
    let log = w.work.join("steps.log");
    let probe = w.work.join("probe");
    copy_tree(&w.state, &probe).unwrap();
    ok(wua(&probe, &w.root).args(["--json", "search"]).env("WUA_CRASH_LOG", &log));
    let steps = std::fs::read_to_string(&log).unwrap();
    let step = steps
        .lines()
        .find(|l| l.ends_with("service refresh: verified, not yet indexed"))
        .and_then(|l| l.split(' ').next())
        .expect("the crash point between verifying and indexing")
        .to_owned();
    let o = run(agent(&w).arg("search").env("WUA_CRASH_AT_STEP", &step));
    assert_eq!(o.status.signal(), Some(libc::SIGKILL), "{}", text(&o));
    assert_eq!(ids(&ok(agent(&w).args(["search", "--offline"]))), [test_id(1)], "the index is the old one");
    assert_eq!(ids(&ok(agent(&w).arg("search"))), [test_id(1), test_id(2)], "the next refresh repairs it");
    assert_eq!(ids(&ok(agent(&w).args(["search", "--offline"]))), [test_id(1), test_id(2)]);
}
