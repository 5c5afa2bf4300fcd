//! Exit codes, JSON output, access checks, and readers during a live install.

use std::os::unix::fs::PermissionsExt;
use std::process::Stdio;
use std::time::{Duration, Instant};

use crate::support::*;

/// Exit codes 0, 1, 2 and 102, and D-2's JSON fields.
#[test]
fn exit_codes_and_json() {
    let w = World::new().unwrap();
    let tail = "[installation_behavior]\nreboot_behavior = \"AlwaysRequiresReboot\"\n";
    let reboot =
        w.package("r", &files_manifest(&test_id(1), 1, "needs reboot", "", tail), &[("boot/x", 0o644, b"x")]).unwrap();
    let plain = w.package("p", &files_manifest(&test_id(2), 1, "plain", "", ""), &[("etc/p", 0o644, b"p")]).unwrap();
    let eula = w
        .package("e", &files_manifest(&test_id(3), 1, "eula", "eula = \"terms\"", ""), &[("etc/e", 0o644, b"e")])
        .unwrap();
    let o = run(wua(&w.state, &w.root).args(["--json", "install-package"]).arg(&eula));
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    let j = json(&o);
    assert_eq!(j["result_code"], "Failed");
    assert_eq!(j["hresult_name"], "WU_E_EULAS_DECLINED");
    assert_eq!(j["hresult_hex"], "0x80240023");
    assert_eq!(j["hresult"], 0x8024_0023_u32 as i32);
    assert_eq!(j["updates"][0]["hresult_name"], "WU_E_EULAS_DECLINED");
    let o = run(wua(&w.state, &w.root).args(["install-package", "--accept-eula"]).arg(&eula));
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    assert!(text(&o).contains("terms"), "the EULA is printed before it is accepted");
    let o = run(wua(&w.state, &w.root).arg("install-package").arg(&reboot));
    assert_eq!(o.status.code(), Some(102), "{}", text(&o));
    // D-9 through the CLI: blocked until the boot id changes, --forced overrides.
    let o = run(wua(&w.state, &w.root).arg("install-package").arg(&plain));
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    assert!(text(&o).contains("WU_E_INSTALL_NOT_ALLOWED (0x80240016)"), "{}", text(&o));
    std::fs::write(w.dir.path().join("boot_id"), "boot-2").unwrap();
    let o = run(wua(&w.state, &w.root).arg("install-package").arg(&plain));
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    let o = run(wua(&w.state, &w.root).args(["uninstall", "--update-id", "00000000-0000-4000-8000-00000000ffff"]));
    assert_eq!(o.status.code(), Some(2));
    assert!(text(&o).contains("WU_E_UNKNOWN_ID"), "{}", text(&o));
    let o = run(wua(&w.state, &w.root).args(["--json", "history"]));
    let h = json(&o);
    assert_eq!(h["total"], 4);
    assert_eq!(h["entries"][0]["hresult_name"], "S_OK");
    assert_eq!(h["entries"][0]["client_application_id"], "wua-cli");
    let o = run(wua(&w.state, &w.root).args(["install-package", "--no-such-flag"]));
    assert_eq!(o.status.code(), Some(2));
}

/// D-6: a process that cannot write the state directory or the target root gets
/// E_ACCESSDENIED, before anything else, and nothing changes. Runs the CLI as uid 65534.
#[test]
fn d6_access_denied_for_unprivileged_caller() {
    // SAFETY: geteuid has no preconditions.
    if unsafe { libc_geteuid() } != 0 {
        eprintln!("not root: cannot switch to an unprivileged uid; skipping");
        return;
    }
    let w = World::new().unwrap();
    let pkg = w.package("p", &files_manifest(&test_id(1), 1, "p", "", ""), &[("etc/p", 0o644, b"p")]).unwrap();
    let o = run(wua(&w.state, &w.root).arg("install-package").arg(&pkg));
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    // Let uid 65534 reach everything, and write the state directory but not the root.
    for d in [w.dir.path(), &w.work, &w.state, &w.state.join("cache"), &w.state.join("cache/sha256")] {
        std::fs::set_permissions(d, std::fs::Permissions::from_mode(0o777)).unwrap();
    }
    for f in std::fs::read_dir(&w.state).unwrap() {
        let f = f.unwrap().path();
        if f.is_file() {
            std::fs::set_permissions(&f, std::fs::Permissions::from_mode(0o666)).unwrap();
        }
    }
    std::fs::set_permissions(w.dir.path().join("boot_id"), std::fs::Permissions::from_mode(0o644)).unwrap();
    let before = snapshot(&w.root, &[]).unwrap();
    let as_nobody = |args: &[&str]| {
        let mut c = std::process::Command::new("setpriv");
        c.args(["--reuid=65534", "--regid=65534", "--clear-groups", env!("CARGO_BIN_EXE_wua")]);
        c.env("WUA_STATE_DIR", &w.state).env("WUA_ROOT", &w.root).args(args);
        c.env("WUA_BOOT_ID_FILE", w.dir.path().join("boot_id"));
        run(&mut c)
    };
    let o = as_nobody(&["uninstall", "--update-id", &test_id(1)]);
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    assert!(text(&o).contains("E_ACCESSDENIED (0x80070005)") && text(&o).contains("target root"), "{}", text(&o));
    // The state directory is not writable either: still E_ACCESSDENIED.
    std::fs::set_permissions(&w.state, std::fs::Permissions::from_mode(0o755)).unwrap();
    let o = as_nobody(&["uninstall", "--update-id", &test_id(1)]);
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    assert!(text(&o).contains("E_ACCESSDENIED (0x80070005)"), "{}", text(&o));
    assert_eq!(snapshot(&w.root, &[]).unwrap(), before);
    let o = run(wua(&w.state, &w.root).args(["--json", "status"]));
    assert_eq!(json(&o)["updates"][0]["is_installed"], true);
}

/// Runs the CLI as uid 65534 with a fixed boot id file; `state` is passed as `--state-dir`
/// when given (otherwise the default applies: `WUA_STATE_DIR` is removed).
fn as_nobody(w: &World, state: Option<&std::path::Path>, args: &[&str]) -> std::process::Output {
    let mut c = std::process::Command::new("setpriv");
    c.args(["--reuid=65534", "--regid=65534", "--clear-groups", env!("CARGO_BIN_EXE_wua")]);
    c.env_remove("WUA_STATE_DIR");
    if let Some(state) = state {
        c.env("WUA_STATE_DIR", state);
    }
    c.env("WUA_ROOT", &w.root).args(args);
    c.env_remove("WUA_LOG");
    c.env("WUA_BOOT_ID_FILE", w.dir.path().join("boot_id"));
    run(&mut c)
}

/// Every directory under `dir` (and `dir`) 0755, every file 0644: readable, not writable, by
/// anyone but root.
fn read_only_for_others(dir: &std::path::Path) {
    for e in walkdir::WalkDir::new(dir) {
        let e = e.unwrap();
        let mode = if e.file_type().is_dir() { 0o755 } else { 0o644 };
        if !e.file_type().is_symlink() {
            std::fs::set_permissions(e.path(), std::fs::Permissions::from_mode(mode)).unwrap();
        }
    }
}

/// Item 13: a user who can read but not write the state directory runs `wua status` and
/// `wua history` (text and JSON): the datastore opens truly read-only, both without `-wal` and
/// `-shm` files (after a clean checkpoint) and with them (a writer has the datastore open,
/// its newest commits still in the WAL). Runs the CLI as uid 65534.
#[test]
fn readers_who_cannot_write_the_state_directory() {
    // SAFETY: geteuid has no preconditions.
    if unsafe { libc_geteuid() } != 0 {
        eprintln!("not root: cannot switch to an unprivileged uid; skipping");
        return;
    }
    let w = World::new().unwrap();
    let p1 = w.package("p1", &files_manifest(&test_id(1), 1, "first", "", ""), &[("etc/p1", 0o644, b"1")]).unwrap();
    let p2 = w.package("p2", &files_manifest(&test_id(2), 1, "second", "", ""), &[("etc/p2", 0o644, b"2")]).unwrap();
    let o = run(wua(&w.state, &w.root).arg("install-package").arg(&p1));
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    std::fs::set_permissions(w.dir.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
    std::fs::set_permissions(w.dir.path().join("boot_id"), std::fs::Permissions::from_mode(0o644)).unwrap();
    let db = w.state.join("wua.db");
    let wal = w.state.join("wua.db-wal");
    let shm = w.state.join("wua.db-shm");
    let check = |titles: &[&str], case: &str| {
        let o = as_nobody(&w, Some(&w.state), &["--json", "status"]);
        assert_eq!(o.status.code(), Some(0), "{case}: {}", text(&o));
        let j = json(&o);
        let updates = j["updates"].as_array().unwrap();
        assert_eq!(updates.len(), titles.len(), "{case}: {j}");
        for u in updates {
            assert_eq!(u["is_installed"], true, "{case}: {j}");
        }
        assert_eq!(j["interrupted_operations"], 0, "{case}: {j}");
        let o = as_nobody(&w, Some(&w.state), &["status"]);
        assert_eq!(o.status.code(), Some(0), "{case}: {}", text(&o));
        for t in titles {
            assert!(text(&o).contains(t), "{case}: {}", text(&o));
        }
        let o = as_nobody(&w, Some(&w.state), &["--json", "history"]);
        assert_eq!(o.status.code(), Some(0), "{case}: {}", text(&o));
        let j = json(&o);
        assert_eq!(j["total"], titles.len(), "{case}: {j}");
        assert!(j["entries"].as_array().unwrap().iter().all(|e| e["hresult_name"] == "S_OK"), "{case}: {j}");
        let o = as_nobody(&w, Some(&w.state), &["history"]);
        assert_eq!(o.status.code(), Some(0), "{case}: {}", text(&o));
        assert!(text(&o).contains(&format!("history: {} entries", titles.len())), "{case}: {}", text(&o));
        for t in titles {
            assert!(text(&o).contains(t), "{case}: {}", text(&o));
        }
    };

    // After a clean checkpoint (the last connection to close checkpoints and removes -wal and
    // -shm) only the database file is left. The connection reads first: one that never opened
    // the WAL would not checkpoint it when it closes.
    let conn = rusqlite::Connection::open(&db).unwrap();
    conn.query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |_| Ok(())).unwrap();
    drop(conn);
    read_only_for_others(&w.state);
    assert!(
        db.exists() && !wal.exists() && !shm.exists(),
        "a clean close leaves only the database file: {:?}",
        std::fs::read_dir(&w.state).unwrap().map(|e| e.unwrap().file_name()).collect::<Vec<_>>()
    );
    let before = snapshot(&w.state, &[]).unwrap();
    check(&["first"], "no -wal, no -shm");
    assert!(!wal.exists() && !shm.exists(), "the reader created -wal or -shm");
    assert_eq!(snapshot(&w.state, &[]).unwrap(), before, "the reader changed the state directory");

    // A writer holds the datastore open; the next install's commits stay in its WAL. It does
    // not checkpoint when it closes, so afterwards -wal and -shm stay behind with those commits
    // (as after a crash).
    let holder = rusqlite::Connection::open(&db).unwrap();
    assert!(holder.set_db_config(rusqlite::config::DbConfig::SQLITE_DBCONFIG_NO_CKPT_ON_CLOSE, true).unwrap());
    let mode: String = holder.query_row("PRAGMA journal_mode", [], |r| r.get(0)).unwrap();
    assert_eq!(mode, "wal");
    let o = run(wua(&w.state, &w.root).arg("install-package").arg(&p2));
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    read_only_for_others(&w.state);
    assert!(wal.exists() && shm.exists(), "a writer with the datastore open keeps -wal and -shm");
    assert!(std::fs::metadata(&wal).unwrap().len() > 32, "the newest commits are in the WAL");
    check(&["first", "second"], "-wal and -shm, a writer connected");

    drop(holder);
    assert!(wal.exists() && shm.exists() && std::fs::metadata(&wal).unwrap().len() > 32);
    read_only_for_others(&w.state);
    check(&["first", "second"], "-wal and -shm, no writer connected");
}

/// Item 13: a state directory that cannot be created names the way out; for the default
/// `/var/lib/wua` that is "run as root or pass --state-dir". Runs the CLI as uid 65534.
#[test]
fn a_state_directory_that_cannot_be_created_says_what_to_do() {
    // SAFETY: geteuid has no preconditions.
    if unsafe { libc_geteuid() } != 0 {
        eprintln!("not root: cannot switch to an unprivileged uid; skipping");
        return;
    }
    let w = World::new().unwrap();
    std::fs::set_permissions(w.dir.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
    std::fs::write(w.dir.path().join("boot_id"), "boot-1").unwrap();
    std::fs::set_permissions(w.dir.path().join("boot_id"), std::fs::Permissions::from_mode(0o644)).unwrap();
    let locked = w.dir.path().join("locked");
    std::fs::create_dir(&locked).unwrap();
    std::fs::set_permissions(&locked, std::fs::Permissions::from_mode(0o755)).unwrap();
    let state = locked.join("state");
    for args in [&["status"][..], &["history"], &["--json", "status"]] {
        let o = as_nobody(&w, Some(&state), args);
        assert_eq!(o.status.code(), Some(2), "{args:?}: {}", text(&o));
        let t = text(&o);
        assert!(t.contains("WUA_E_STATE_DIR") && t.contains(&state.display().to_string()), "{args:?}: {t}");
        assert!(t.contains("--state-dir"), "{args:?}: {t}");
        assert!(!state.exists());
    }
    // The default, only where it certainly cannot be created by uid 65534.
    let default = std::path::Path::new("/var/lib/wua");
    let parent_mode = std::fs::metadata("/var/lib").map(|m| m.permissions().mode()).unwrap_or(0o777);
    if default.exists() || parent_mode & 0o002 != 0 {
        eprintln!("/var/lib/wua exists or /var/lib is world-writable: skipping the default case");
        return;
    }
    for args in [&["status"][..], &["--json", "history"]] {
        let o = as_nobody(&w, None, args);
        assert_eq!(o.status.code(), Some(2), "{args:?}: {}", text(&o));
        let t = text(&o);
        assert!(t.contains("WUA_E_STATE_DIR") && t.contains("/var/lib/wua"), "{args:?}: {t}");
        assert!(t.contains("run as root or pass --state-dir"), "{args:?}: {t}");
        assert!(!default.exists());
    }
}

unsafe extern "C" {
    #[link_name = "geteuid"]
    fn libc_geteuid() -> u32;
}

/// A reader (`wua status`) during a live install never recovers it, and a second installer
/// is refused with the holder's pid (D-8 across processes).
#[test]
fn status_during_a_live_install_does_not_recover_it() {
    let w = World::new().unwrap();
    let files: Vec<(String, Vec<u8>)> = (0..20).map(|n| (format!("opt/live/f{n}"), vec![n as u8; 100])).collect();
    let spec: Vec<(&str, u32, &[u8])> = files.iter().map(|(p, b)| (p.as_str(), 0o644, b.as_slice())).collect();
    let pkg = w.package("live", &files_manifest(&test_id(1), 1, "live", "", ""), &spec).unwrap();
    let other =
        w.package("other", &files_manifest(&test_id(2), 1, "other", "", ""), &[("etc/o", 0o644, b"o")]).unwrap();
    let pause = w.work.join("paused");
    let log = w.work.join("steps.log");
    // Pause right after the intent commit: staged files exist, the journal says Intent.
    let probe =
        run(wua(&w.work.join("probe-state"), &w.root).arg("install-package").arg(&pkg).env("WUA_CRASH_LOG", &log));
    assert!(probe.status.success(), "{}", text(&probe));
    let intent_step = std::fs::read_to_string(&log)
        .unwrap()
        .lines()
        .find(|l| l.ends_with(" intent"))
        .unwrap()
        .split(' ')
        .next()
        .unwrap()
        .to_owned();
    run(wua(&w.work.join("probe-state"), &w.root).args(["uninstall", "--update-id", &test_id(1)]));
    let mut child = wua(&w.state, &w.root)
        .arg("install-package")
        .arg(&pkg)
        .env("WUA_PAUSE_AT_STEP", &intent_step)
        .env("WUA_PAUSE_FILE", &pause)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(60);
    while !pause.exists() {
        assert!(Instant::now() < deadline, "the install never reached its pause point");
        std::thread::sleep(Duration::from_millis(10));
    }
    let staged_before = snapshot(&w.root, OWN).unwrap();
    let o = run(wua(&w.state, &w.root).args(["--json", "status"]));
    assert!(o.status.success(), "{}", text(&o));
    // A live operation is not an interrupted one: status names it and does not send the user
    // to `wua recover` (which would only wait for it).
    let j = json(&o);
    assert_eq!(j["interrupted_operations"], 0, "a live operation is not an interrupted one: {j}");
    assert_eq!(j["operation_in_progress_pid"], child.id(), "{j}");
    assert_eq!(snapshot(&w.root, OWN).unwrap(), staged_before, "status changed the root of a live install");
    let o = run(wua(&w.state, &w.root).arg("install-package").arg(&other));
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    assert!(text(&o).contains(&format!("pid {}", child.id())), "{}", text(&o));
    let o = run(wua(&w.state, &w.root).arg("recover"));
    assert_eq!(o.status.code(), Some(2), "recover waits its turn: {}", text(&o));
    std::fs::remove_file(&pause).unwrap();
    let status = wait(&mut child, "the paused install, resumed");
    assert!(status.success());
    assert_eq!(std::fs::read(w.root.join("opt/live/f7")).unwrap(), vec![7u8; 100]);
    let o = run(wua(&w.state, &w.root).args(["--json", "history"]));
    let h = json(&o);
    assert_eq!(h["total"], 1);
    assert_eq!(h["entries"][0]["recovered"], false);
}

/// `wua repo serve DIR` serves the directory over HTTP on the address it prints.
#[test]
fn repo_serve_serves_a_directory() {
    use std::io::{Read, Write};
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("hello.json"), "{}").unwrap();
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_wua"))
        .args(["repo", "serve", "--listen", "127.0.0.1:0"])
        .arg(dir.path())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let line = wua_test_support::read_line_within(&mut child, CHILD_LIMIT, "`wua repo serve`'s address");
    let addr = line.trim().rsplit_once("http://").unwrap().1.trim_end_matches('/').to_owned();
    let mut s = std::net::TcpStream::connect(&addr).unwrap();
    // Bounded: a server that never answers fails the read instead of holding the test.
    s.set_read_timeout(Some(CHILD_LIMIT)).unwrap();
    s.write_all(format!("GET /hello.json HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n").as_bytes()).unwrap();
    let mut reply = String::new();
    s.read_to_string(&mut reply).unwrap();
    child.kill().unwrap();
    wait(&mut child, "`wua repo serve`, killed");
    assert!(reply.starts_with("HTTP/1.1 200") && reply.ends_with("{}"), "{reply}");
}

/// The repository verbs through the binary: init, publish, revise, approve, decline, list,
/// resign (and `refresh`, its old name, still accepted), rotate-key, export; errors carry their
/// codes.
#[test]
fn repo_verbs() {
    let w = World::new().unwrap();
    let repo = w.work.join("repo");
    let wua = || {
        let mut c = std::process::Command::new(env!("CARGO_BIN_EXE_wua"));
        c.arg("--json").arg("repo");
        c
    };
    let payload = w.work.join("payload");
    wua_test_support::write_payload(&payload, &[("etc/app.conf", 0o644, b"v1")]).unwrap();
    let m1 = w.work.join("m1.toml");
    let m2 = w.work.join("m2.toml");
    std::fs::write(&m1, files_manifest(&test_id(1), 1, "app", "", "")).unwrap();
    std::fs::write(&m2, files_manifest(&test_id(1), 2, "app", "", "")).unwrap();
    let ok = |o: std::process::Output| {
        assert_eq!(o.status.code(), Some(0), "{}", text(&o));
        json(&o)
    };
    ok(run(wua().args(["init", "--root-keys", "2", "--root-threshold", "2"]).arg(&repo)));
    ok(run(wua().arg("publish").arg(&repo).arg(&m1).arg("--payload").arg(&payload)));
    let o = run(wua().arg("publish").arg(&repo).arg(&m1).arg("--payload").arg(&payload));
    assert_eq!(o.status.code(), Some(2));
    assert_eq!(json(&o)["hresult_name"], "WUA_E_REPO_INVALID");
    let j = ok(run(wua().arg("revise").arg(&repo).arg(&m2).arg("--payload").arg(&payload)));
    assert_eq!(j["revision_number"], 2);
    ok(run(wua().arg("approve").arg(&repo).arg(test_id(1)).args(["--group", "web", "--action", "install"])));
    ok(run(wua().arg("decline").arg(&repo).arg(test_id(1)).args(["--revision", "1"])));
    let j = ok(run(wua().arg("list").arg(&repo)));
    assert_eq!(j["updates"].as_array().unwrap().len(), 2);
    assert_eq!(j["updates"][0]["declined"], true);
    let j = ok(run(wua().arg("resign").arg(&repo)));
    assert_eq!(j["roles"], serde_json::json!(["targets", "approvals", "snapshot", "timestamp"]));
    let j = ok(run(wua().arg("refresh").arg(&repo)));
    assert_eq!(j["roles"].as_array().unwrap().len(), 4, "the hidden alias re-signs the same: {j}");
    let j = ok(run(wua().arg("rotate-key").arg(&repo).arg("snapshot")));
    assert_eq!(j["rotated"], "snapshot");
    let out = w.work.join("scan.tar");
    let j = ok(run(wua().arg("export").arg(&repo).arg("-o").arg(&out)));
    assert!(j["files"].as_u64().unwrap() > 5 && out.exists());
    let o = run(wua().arg("rotate-key").arg(&repo).arg("root"));
    assert_eq!(json(&o)["hresult_name"], "WUA_E_REPO_INVALID");
}

/// `wua repo ...` without `--json`, with no crash or pause point set.
fn repo_text() -> std::process::Command {
    let mut c = std::process::Command::new(env!("CARGO_BIN_EXE_wua"));
    c.env_remove("WUA_CRASH_AT_STEP").env_remove("WUA_PAUSE_AT_STEP").env_remove("WUA_CRASH_LOG");
    c.arg("repo");
    c
}

/// A repository in `dir` with updates published from `updates` (id, revision, title), each
/// with one file.
fn published_repo(dir: &std::path::Path, updates: &[(&str, i32, &str)]) -> std::path::PathBuf {
    let repo = dir.join("repo");
    ok(repo_cmd().arg("init").arg(&repo));
    let payload = dir.join("payload");
    wua_test_support::write_payload(&payload, &[("etc/app.conf", 0o644, b"v1")]).unwrap();
    for (i, (id, revision, title)) in updates.iter().enumerate() {
        let m = dir.join(format!("m{i}.toml"));
        std::fs::write(&m, files_manifest(id, *revision, title, "", "")).unwrap();
        ok(repo_cmd().arg("publish").arg(&repo).arg(&m).arg("--payload").arg(&payload));
    }
    repo
}

/// What a repository serves and its working catalog, byte for byte (not `repo.lock`, which
/// every writer, refused or not, stamps with its pid).
fn published_state(repo: &std::path::Path) -> Vec<std::collections::BTreeMap<std::path::PathBuf, Vec<u8>>> {
    ["repository", "catalog"].iter().map(|d| wua_test_support::trust::tree(&repo.join(d))).collect()
}

/// A call error of `wua --json`: exit 2 and its HResult's name; returns the message.
fn call_error(o: &std::process::Output, hresult_name: &str) -> String {
    assert_eq!(o.status.code(), Some(2), "{}", text(o));
    let j = json(o);
    assert_eq!(j["hresult_name"], hresult_name, "{j}");
    j["error"].as_str().unwrap_or_default().to_owned()
}

/// `wua repo decline`, `approve` and `unapprove` take the update as `--update-id ID` (as the
/// agent's verbs) or positionally, exactly one of the two (clap refuses neither and both), and
/// either as any unique prefix of a published id, in any case; an ambiguous prefix is
/// `E_INVALIDARG` listing the candidates with their titles, an unknown one `WU_E_UNKNOWN_ID`,
/// and neither changes the repository.
#[test]
fn repo_verbs_take_update_id_by_flag_or_position_and_unique_prefix() {
    let dir = tempfile::tempdir().unwrap();
    let other = "3f2b7c1e-8a4d-4e6f-9b0c-5d1a2e3f4a5b";
    // Alike but for their last two digits.
    let two = test_id(0x20);
    let repo = published_repo(dir.path(), &[(&test_id(1), 1, "app one"), (&two, 1, "app two"), (other, 1, "other")]);

    // By flag, with the 8 characters the tables show (and in capitals); by position, whole.
    let j = ok(repo_cmd()
        .arg("approve")
        .arg(&repo)
        .args(["--update-id", "3F2B7C1E", "--group", "web"])
        .args(["--action", "install"]));
    assert_eq!((j["approved"].as_str(), j["group"].as_str()), (Some(other), Some("web")), "{j}");
    let j = ok(repo_cmd().arg("approve").arg(&repo).arg(test_id(1)).args(["--group", "db", "--action", "optional"]));
    assert_eq!(j["approved"], test_id(1));
    // A prefix that only one id has, although every test id begins alike.
    let j = ok(repo_cmd().arg("decline").arg(&repo).args(["--update-id", &two[..35], "--revision", "1"]));
    assert_eq!(j["declined"], two);
    let j = ok(repo_cmd().arg("unapprove").arg(&repo).args(["--group", "db", "--update-id", &test_id(1)]));
    assert_eq!(j["unapproved"], test_id(1));

    let before = published_state(&repo);
    // Ambiguous: two published ids begin with it; both are named, with their titles.
    for verb in [
        &["decline", "--revision", "1"][..],
        &["approve", "--group", "web", "--action", "install"],
        &["unapprove", "--group", "web"],
    ] {
        let o = run(repo_cmd().arg(verb[0]).arg(&repo).args(["--update-id", "00000000"]).args(&verb[1..]));
        let e = call_error(&o, "E_INVALIDARG");
        for says in ["ambiguous", "\"00000000\"", &test_id(1), "\"app one\"", &two, "\"app two\""] {
            assert!(e.contains(says), "{verb:?}: {says:?} missing: {e}");
        }
        assert!(!e.contains(other), "{e}");
        // Unknown.
        let o = run(repo_cmd().arg(verb[0]).arg(&repo).arg("ffff").args(&verb[1..]));
        let e = call_error(&o, "WU_E_UNKNOWN_ID");
        assert!(e.contains("\"ffff\"") && e.contains("no published update"), "{e}");
    }
    let o = run(repo_cmd().arg("decline").arg(&repo).args(["--update-id", "", "--revision", "1"]));
    call_error(&o, "E_INVALIDARG");

    // Neither form, or both: clap's usage error (exit 2) names both forms.
    let o = run(repo_text().arg("approve").arg(&repo).args(["--group", "web", "--action", "install"]));
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    let e = String::from_utf8_lossy(&o.stderr).into_owned();
    assert!(e.contains("required") && e.contains("UPDATE_ID") && e.contains("--update-id"), "{e}");
    assert!(e.contains("Usage: wua repo approve DIR (--update-id ID | UPDATE_ID)"), "{e}");
    let o = run(repo_text().arg("decline").arg(&repo).arg(other).args(["--update-id", other, "--revision", "1"]));
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    assert!(String::from_utf8_lossy(&o.stderr).contains("cannot be used with"), "{}", text(&o));
    assert_eq!(published_state(&repo), before, "a refused verb changes nothing");
}

/// `wua repo refresh` is now `wua repo resign` ("refresh" is an agent's sync); the old name
/// stays accepted but is listed nowhere.
#[test]
fn repo_resign_keeps_refresh_as_a_hidden_alias() {
    let o = run(repo_text().arg("--help"));
    assert!(o.status.success(), "{}", text(&o));
    let help = String::from_utf8_lossy(&o.stdout).into_owned();
    assert!(help.contains("resign") && !help.contains("refresh"), "{help}");
    let o = run(repo_text().args(["refresh", "--help"]));
    assert!(o.status.success(), "{}", text(&o));
    let help = String::from_utf8_lossy(&o.stdout).into_owned();
    assert!(help.contains("Usage: wua repo resign") && !help.contains("alias"), "{help}");
}

/// `wua repo list` reads right at every size: "no updates published" instead of an empty
/// table, "1 update", "2 updates", revisions and declines counted, and each group's approvals
/// (group, update, title, action, deadline) in a second table and in `--json`.
#[test]
fn repo_list_shows_approvals_and_counts_that_read_right() {
    let dir = tempfile::tempdir().unwrap();
    let repo = published_repo(dir.path(), &[]);
    let list = || {
        let o = run(repo_text().arg("list").arg(&repo));
        assert!(o.status.success(), "{}", text(&o));
        String::from_utf8_lossy(&o.stdout).into_owned()
    };
    assert_eq!(list(), "no updates published\n");
    let j = ok(repo_cmd().arg("list").arg(&repo));
    assert_eq!(j, serde_json::json!({ "updates": [], "approvals": [] }));

    let payload = dir.path().join("payload");
    let publish = |verb: &str, n: u32, revision: i32, title: &str| {
        let m = dir.path().join(format!("m{n}-{revision}.toml"));
        std::fs::write(&m, files_manifest(&test_id(n), revision, title, "", "")).unwrap();
        ok(repo_cmd().arg(verb).arg(&repo).arg(&m).arg("--payload").arg(&payload));
    };
    publish("publish", 1, 1, "app");
    let out = list();
    assert!(out.contains(&test_id(1)) && out.contains("\n1 update published\n"), "{out}");
    assert!(out.ends_with("\n\nno approvals\n"), "{out}");

    publish("revise", 1, 2, "app, second revision");
    ok(repo_cmd().arg("decline").arg(&repo).args(["--update-id", &test_id(1), "--revision", "1"]));
    publish("publish", 2, 1, "db");
    ok(repo_cmd().arg("approve").arg(&repo).args([
        "--update-id",
        &test_id(1),
        "--group",
        "web",
        "--action",
        "install",
    ]));
    ok(repo_cmd().arg("approve").arg(&repo).args(["--update-id", &test_id(2), "--group", "web"]).args([
        "--action",
        "optional",
        "--deadline",
        "2031-02-03T04:05:06Z",
    ]));
    ok(repo_cmd().arg("approve").arg(&repo).args([
        "--update-id",
        &test_id(2),
        "--group",
        "db",
        "--action",
        "uninstall",
    ]));
    let out = list();
    assert!(out.contains("\n2 updates published (3 revisions, 1 declined)\n"), "{out}");
    let approvals = out.split("\n\n").nth(1).unwrap_or_else(|| panic!("no approvals table: {out}"));
    let lines: Vec<&str> = approvals.lines().collect();
    assert_eq!(lines.len(), 6, "header, rule, 3 approvals, summary: {approvals}");
    for h in ["group", "update id", "title", "action", "deadline"] {
        assert!(lines[0].contains(h), "{}", lines[0]);
    }
    let row = |group: &str, n: u32| {
        lines[2..5]
            .iter()
            .find(|l| l.starts_with(&format!("{group} ")) && l.contains(&test_id(n)))
            .unwrap_or_else(|| panic!("no row for {group} {n}: {approvals}"))
            .to_string()
    };
    assert!(row("db", 2).contains("uninstall") && row("db", 2).contains("db"), "{approvals}");
    assert!(row("web", 1).contains("app, second revision") && row("web", 1).contains("install"), "{approvals}");
    assert!(row("web", 2).contains("optional") && row("web", 2).contains("2031-02-03T04:05:06Z"), "{approvals}");
    assert_eq!(lines[5], "3 approvals for 2 groups");

    let j = ok(repo_cmd().arg("list").arg(&repo));
    assert_eq!(j["updates"].as_array().unwrap().len(), 3, "{j}");
    assert_eq!(
        j["approvals"],
        serde_json::json!([
            { "group": "db", "update_id": test_id(2), "title": "db", "action": "uninstall", "deadline": null },
            { "group": "web", "update_id": test_id(1), "title": "app, second revision", "action": "install", "deadline": null },
            { "group": "web", "update_id": test_id(2), "title": "db", "action": "optional", "deadline": "2031-02-03T04:05:06Z" },
        ])
    );

    // One approval, one group: singulars.
    ok(repo_cmd().arg("unapprove").arg(&repo).args(["--update-id", &test_id(2), "--group", "web"]));
    ok(repo_cmd().arg("unapprove").arg(&repo).args(["--update-id", &test_id(1), "--group", "web"]));
    assert!(list().ends_with("\n1 approval for 1 group\n"), "{}", list());
}

/// D-42's leniency for rule kinds an agent does not know is for catalogs from newer
/// publishers: `wua package build`, `wua repo publish` and `wua repo revise` refuse a manifest
/// naming an unknown kind (exit 2), naming the kind, the manifest and the known kinds, and
/// build or publish nothing.
#[test]
fn d42_manifests_with_an_unknown_rule_kind_are_refused_by_build_publish_and_revise() {
    let dir = tempfile::tempdir().unwrap();
    let repo = published_repo(dir.path(), &[(&test_id(1), 1, "app")]);
    let payload = dir.path().join("payload");
    let tail = "[applicability]\nis_installable = { any = [{ arch = \"amd64\" }, { dpkg_pakage = { name = \"openssl\" } }] }\n";
    let says = |e: &str, manifest: &std::path::Path| {
        for s in [
            "\"dpkg_pakage\"",
            "is_installable",
            "any[1]",
            &*manifest.to_string_lossy(),
            "dpkg_package",
            "update_installed",
        ] {
            assert!(e.contains(s), "{s:?} missing: {e}");
        }
    };
    let new = dir.path().join("new.toml");
    std::fs::write(&new, files_manifest(&test_id(2), 1, "new", "", tail)).unwrap();
    let out = dir.path().join("new.wuapkg");
    let o = run(std::process::Command::new(env!("CARGO_BIN_EXE_wua"))
        .args(["--json", "package", "build"])
        .arg(&new)
        .arg("--payload")
        .arg(&payload)
        .arg("-o")
        .arg(&out));
    says(&call_error(&o, "WUA_E_MANIFEST_INVALID"), &new);
    assert!(!out.exists());

    let before = published_state(&repo);
    let o = run(repo_cmd().arg("publish").arg(&repo).arg(&new).arg("--payload").arg(&payload));
    says(&call_error(&o, "WUA_E_REPO_INVALID"), &new);
    let revision = dir.path().join("rev2.toml");
    std::fs::write(&revision, files_manifest(&test_id(1), 2, "app", "", tail)).unwrap();
    let o = run(repo_cmd().arg("revise").arg(&repo).arg(&revision).arg("--payload").arg(&payload));
    says(&call_error(&o, "WUA_E_REPO_INVALID"), &revision);
    assert_eq!(published_state(&repo), before, "nothing was published");
}

/// Two imported updates `a` and `b`, with their ids.
fn two_imported(w: &World) -> (String, String) {
    let a = w.package("a", &files_manifest(&test_id(1), 1, "a", "", ""), &[("etc/a", 0o644, b"a")]).unwrap();
    let b = w.package("b", &files_manifest(&test_id(2), 1, "b", "", ""), &[("etc/b", 0o644, b"b")]).unwrap();
    let o = run(wua(&w.state, &w.root).args(["package", "import"]).arg(&a).arg(&b));
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    (test_id(1), test_id(2))
}

/// The ids of a `--json` result's updates, in order.
fn result_ids(j: &serde_json::Value) -> Vec<String> {
    let updates = j["updates"].as_array().unwrap_or_else(|| panic!("no updates: {j}"));
    updates.iter().map(|u| u["update_id"].as_str().unwrap_or_default().to_owned()).collect()
}

/// `--update-id A --update-id A` installs A once: one update in the job, one history entry.
#[test]
fn install_repeated_update_id_installs_once() {
    let w = World::new().unwrap();
    let (a, _) = two_imported(&w);
    let o = run(wua(&w.state, &w.root).args(["--json", "install", "--update-id", &a, "--update-id", &a]));
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    assert_eq!(result_ids(&json(&o)), [a], "{}", text(&o));
    let h = json(&run(wua(&w.state, &w.root).args(["--json", "history"])));
    assert_eq!(h["total"], 1, "{h}");
}

/// `--update-id B A B` (docs/cli.md's `--update-id ID...`) and the repeated flag mix: every id
/// once, in the order first given, for install and uninstall.
#[test]
fn update_id_takes_several_values_deduplicated_in_order() {
    let w = World::new().unwrap();
    let (a, b) = two_imported(&w);
    let o = run(wua(&w.state, &w.root).args(["--json", "install", "--update-id", &b, &a, &b]));
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    assert_eq!(result_ids(&json(&o)), [b.clone(), a.clone()]);
    let o = run(wua(&w.state, &w.root).args(["--json", "uninstall", "--update-id", &a, &b, "--update-id", &a]));
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    assert_eq!(result_ids(&json(&o)), [a.clone(), b.clone()]);
    let h = json(&run(wua(&w.state, &w.root).args(["--json", "history"])));
    assert_eq!(h["total"], 4, "{h}");
}
