//! `wua` processes at the same instant on one state directory: two searches of one service
//! (their refreshes meet at the trusted state's refresh lock and the datastore), two downloads
//! of one blob (the per-blob lock), and two services on two repositories with different roots
//! that do not disturb each other.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};

use wua_test_support::fault::{Fault, FaultServer};
use wua_test_support::serve::Served;

use crate::search_cli::revisions;
use crate::services::{ids, publish};
use crate::support::*;

/// Starts every command before waiting for any, and returns their outputs in order.
fn at_once(mut commands: Vec<Command>) -> Vec<Output> {
    let children: Vec<Child> = commands
        .iter_mut()
        .map(|c| c.stdout(Stdio::piped()).stderr(Stdio::piped()).spawn().expect("spawn wua"))
        .collect();
    children.into_iter().enumerate().map(|(n, c)| finish(c, &format!("wua command {n} of those at once"))).collect()
}

/// `wua --json search` of `service` (the default selection when `None`).
fn search(w: &World, service: Option<&str>) -> Command {
    let mut c = agent(w);
    c.arg("search");
    if let Some(id) = service {
        c.args(["--service", id]);
    }
    c
}

/// A repository in `w.work/NAME` (its own keys, so its own root) with `test_id(n)` for each `n`.
fn repository_at(w: &World, name: &str, ns: &[u32]) -> PathBuf {
    let repo = w.work.join(name);
    ok(agent(w).args(["repo", "init"]).arg(&repo));
    for n in ns {
        publish(w, &repo, *n, 1);
    }
    repo
}

fn add_service(w: &World, name: &str, repo: &Path, url: &str) -> String {
    let root = repo.join("repository/metadata/1.root.json");
    let added = ok(agent(w).args(["service", "add", name, url]).arg("--trusted-root").arg(&root));
    added["service_id"].as_str().unwrap().to_owned()
}

/// Two `wua search` of one service started at the same instant, on a cold index first, then
/// after each of three publishes: both succeed with the same, right result (the second
/// refresh waits at the refresh lock and the datastore's busy time-out; it is never refused
/// as busy), and a following search agrees.
#[test]
fn two_searches_at_once_on_one_service() {
    let w = World::new().unwrap();
    let repo = repository_at(&w, "repo", &[1]);
    let server = Served::start(&repo.join("repository"));
    add_service(&w, "main", &repo, &server.url);
    for round in 1..=4u32 {
        if round > 1 {
            publish(&w, &repo, round, 1);
        }
        let expected: Vec<(String, i64)> = (1..=round).map(|n| (test_id(n), 1)).collect();
        for o in at_once(vec![search(&w, None), search(&w, None)]) {
            assert_eq!(o.status.code(), Some(0), "round {round}: both succeed: {}", text(&o));
            assert_eq!(revisions(&json(&o)), expected, "round {round}");
        }
        assert_eq!(revisions(&ok(&mut search(&w, None))), expected, "round {round}: a following search");
        assert_eq!(revisions(&ok(search(&w, None).arg("--offline"))), expected, "round {round}: the index");
    }
}

/// Two `wua download` of the same blob at once (its transfer dripped by the server, so they
/// overlap): both exit 0 with `Succeeded`, and the cache holds one copy of the blob, whole and
/// with its hash, and nothing partial beside it; a third download finds it there (D-5).
#[test]
fn two_downloads_of_one_blob_at_once() {
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let w = World::new().unwrap();
    let repo = w.work.join("repo");
    ok(agent(&w).args(["repo", "init"]).arg(&repo));
    let content: Vec<u8> = (0..600u32).map(|i| (i * 31 % 251) as u8).collect();
    let sha = sha256_hex(&content);
    let payload = w.work.join("payload");
    wua_test_support::write_payload(&payload, &[("opt/u1/file", 0o644, &content)]).unwrap();
    let manifest = w.work.join("m1.toml");
    std::fs::write(&manifest, files_manifest(&test_id(1), 1, "update 1", "", "")).unwrap();
    ok(agent(&w).args(["repo", "publish"]).arg(&repo).arg(&manifest).arg("--payload").arg(&payload));
    let server = runtime.block_on(FaultServer::start(wua_trust::static_repo::router(repo.join("repository")))).unwrap();
    server.faults().set("*/blobs/sha256/*", Fault::Drip { bytes_per_sec: 1000 });
    add_service(&w, "main", &repo, &server.url);

    let download = || {
        let mut c = agent(&w);
        c.args(["download", "--all"]);
        c
    };
    for o in at_once(vec![download(), download()]) {
        assert_eq!(o.status.code(), Some(0), "{}", text(&o));
        let j = json(&o);
        assert_eq!(j["result_code"], "Succeeded", "{j}");
        let hresult = j["updates"][0]["hresult_name"].as_str().unwrap();
        assert!(["S_OK", "WU_S_ALREADY_DOWNLOADED"].contains(&hresult), "{j}");
    }
    assert!(server.faults().hits("*/blobs/sha256/*") >= 1);
    let cache = w.state.join("cache");
    let files: Vec<PathBuf> = walkdir::WalkDir::new(&cache)
        .into_iter()
        .map(|e| e.unwrap())
        .filter(|e| e.file_type().is_file() && e.path().extension().is_none_or(|x| x != "lock"))
        .map(|e| e.path().strip_prefix(&cache).unwrap().to_path_buf())
        .collect();
    assert_eq!(files, [Path::new("sha256").join(&sha)], "one copy, nothing partial");
    let cached = std::fs::read(cache.join("sha256").join(&sha)).unwrap();
    assert_eq!(sha256_hex(&cached), sha);
    assert_eq!(cached, content);
    let j = ok(&mut download());
    assert_eq!(j["updates"][0]["hresult_name"], "WU_S_ALREADY_DOWNLOADED", "D-5: {j}");
}

/// Two services on two repositories with different roots: each search by `--service ID` sees
/// its own repository, also when both run at once; a refresh of the second refused by its
/// trust layer (a replayed timestamp, `WUA_E_TRUST_ROLLBACK`), alone or at the same instant as
/// a search of the first, leaves the first's trusted state untouched and its search right.
/// With two services and none default, a search without `--service` is `WU_E_NO_SERVICE`.
#[test]
fn a_second_service_does_not_disturb_the_first() {
    let w = World::new().unwrap();
    let a = repository_at(&w, "a", &[1, 2]);
    let b = repository_at(&w, "b", &[3]);
    let root = |r: &Path| std::fs::read(r.join("repository/metadata/1.root.json")).unwrap();
    assert_ne!(root(&a), root(&b), "two roots");
    let (server_a, server_b) = (Served::start(&a.join("repository")), Served::start(&b.join("repository")));
    let id_a = add_service(&w, "a", &a, &server_a.url);
    let id_b = add_service(&w, "b", &b, &server_b.url);
    let (one, two, three) = (test_id(1), test_id(2), test_id(3));

    let found = at_once(vec![search(&w, Some(&id_a)), search(&w, Some(&id_b))]);
    for (o, (id, expected)) in found.iter().zip([(&id_a, vec![one.clone(), two.clone()]), (&id_b, vec![three.clone()])])
    {
        assert_eq!(o.status.code(), Some(0), "{}", text(o));
        let j = json(o);
        assert_eq!(ids(&j), expected, "{id}");
        assert!(j["updates"].as_array().unwrap().iter().all(|u| u["service_id"] == id.as_str()), "{j}");
    }
    let o = run(&mut search(&w, None));
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    assert_eq!(json(&o)["hresult_name"], "WU_E_NO_SERVICE");

    // The second repository replays an older timestamp.
    let ts = b.join("repository/metadata/timestamp.json");
    let old = std::fs::read(&ts).unwrap();
    publish(&w, &b, 4, 1);
    assert_eq!(ids(&ok(&mut search(&w, Some(&id_b)))), [three.clone(), test_id(4)]);
    std::fs::write(&ts, old).unwrap();
    let trusted_a = snapshot(&w.state.join("services").join(&id_a), &[]).unwrap();
    let o = run(&mut search(&w, Some(&id_b)));
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    assert_eq!(json(&o)["hresult_name"], "WUA_E_TRUST_ROLLBACK");
    assert_eq!(snapshot(&w.state.join("services").join(&id_a), &[]).unwrap(), trusted_a, "the first is untouched");
    assert_eq!(ids(&ok(search(&w, Some(&id_a)).arg("--offline"))), [one.clone(), two.clone()]);

    let both = at_once(vec![search(&w, Some(&id_a)), search(&w, Some(&id_b))]);
    assert_eq!(both[0].status.code(), Some(0), "{}", text(&both[0]));
    assert_eq!(ids(&json(&both[0])), [one.clone(), two.clone()]);
    assert_eq!(both[1].status.code(), Some(2), "{}", text(&both[1]));
    assert_eq!(json(&both[1])["hresult_name"], "WUA_E_TRUST_ROLLBACK");
    assert_eq!(ids(&ok(search(&w, Some(&id_b)).arg("--offline"))), [three, test_id(4)], "b's last good index");
    assert_eq!(ids(&ok(&mut search(&w, Some(&id_a)))), [one, two]);
}

/// D-29: the index never goes back to older metadata than a search already indexed. A search
/// held after its refresh verified the repository (a crash point's pause) and before it wrote
/// the index, while the repository publishes again and a second search indexes the newer
/// metadata, then resumed: an offline search still answers what the second one indexed.
#[test]
fn d29_a_refresh_that_finishes_late_never_rolls_the_index_back() {
    const STEP: &str = " service refresh: verified, not yet indexed";
    let w = World::new().unwrap();
    let repo = repository_at(&w, "repo", &[1]);
    let server = Served::start(&repo.join("repository"));
    add_service(&w, "main", &repo, &server.url);
    assert_eq!(ids(&ok(&mut search(&w, None))), [test_id(1)]);
    publish(&w, &repo, 2, 1);

    // The step to hold at, from the same search on a copy of the state directory.
    let probe = w.dir.path().join("probe");
    copy_tree(&w.state, &probe).unwrap();
    let log = w.work.join("steps.log");
    let o = run(wua(&probe, &w.root).args(["--json", "search"]).env("WUA_CRASH_LOG", &log));
    assert_eq!(ids(&json(&o)), [test_id(1), test_id(2)], "{}", text(&o));
    let steps = std::fs::read_to_string(&log).unwrap();
    let step = steps.lines().find(|l| l.ends_with(STEP)).unwrap_or_else(|| panic!("no step {STEP:?}: {steps}"));
    let step = step.split(' ').next().unwrap().to_owned();

    let pause = w.work.join("paused");
    let late = search(&w, None)
        .env("WUA_PAUSE_AT_STEP", &step)
        .env("WUA_PAUSE_FILE", &pause)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    wait_for("the first search to verify", std::time::Duration::from_secs(60), || pause.exists());
    publish(&w, &repo, 3, 1);
    let all = [test_id(1), test_id(2), test_id(3)];
    assert_eq!(ids(&ok(&mut search(&w, None))), all, "the second search indexes the newest metadata");
    std::fs::remove_file(&pause).unwrap();
    let o = finish(late, "the late search, resumed");
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    assert_eq!(ids(&ok(search(&w, None).arg("--offline"))), all, "D-29: the index did not go back");
    assert_eq!(ids(&ok(&mut search(&w, None))), all);
}
