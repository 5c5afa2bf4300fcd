//! `IAutomaticUpdatesResults` (`UpdateSession::automatic_updates_results`, D-44): the dates of
//! the last successful search and installation, kept in the datastore.

use std::os::unix::fs::PermissionsExt;
use std::path::Path;

use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;
use wua_agent::wua_types::{AutomaticUpdatesResults, HResult, OperationResultCode as Orc};
use wua_agent::{SessionOptions, UpdateSession};

use crate::search::{Repo, add_service, found};
use crate::support::*;

/// A recorded date: RFC 3339 in UTC, between `before` and now.
fn check_date(date: Option<&str>, before: OffsetDateTime) -> OffsetDateTime {
    let text = date.expect("a date is recorded");
    let at = OffsetDateTime::parse(text, &Rfc3339).unwrap_or_else(|e| panic!("{text}: {e}"));
    assert!(text.ends_with('Z') && at.offset().is_utc(), "{text}");
    assert!(before <= at && at <= OffsetDateTime::now_utc(), "{text}");
    at
}

/// A session searching a repository directory with `test_id(1)` published.
fn searchable(w: &World) -> (Repo, UpdateSession) {
    let repo = Repo::new(w);
    repo.publish(1, 1, "");
    let s = session(w);
    add_service(&s, &repo.dir.to_string_lossy(), &repo.root());
    (repo, s)
}

/// A fresh state has no dates; a search online and one offline record the search's; a failed
/// search records nothing; a successful install records the install's, a failed install and
/// an uninstall leave it, and `SucceededWithErrors` counts as success.
#[test]
fn d44_dates_of_searches_and_installations() {
    let w = World::new().unwrap();
    let (_repo, s) = searchable(&w);
    assert_eq!(s.automatic_updates_results().unwrap(), AutomaticUpdatesResults::default());

    let searcher = s.create_update_searcher();
    searcher.search("IsInstalled=").unwrap_err();
    assert_eq!(s.automatic_updates_results().unwrap(), AutomaticUpdatesResults::default(), "a failed search");
    let before = OffsetDateTime::now_utc();
    assert_eq!(found(&searcher.search("").unwrap()), [(test_id(1), 1)]);
    let r = s.automatic_updates_results().unwrap();
    let online = check_date(r.last_search_success_date.as_deref(), before);
    assert_eq!(r.last_installation_success_date, None);
    searcher.set_online(false);
    let before = OffsetDateTime::now_utc();
    searcher.search("").unwrap();
    let offline = check_date(s.automatic_updates_results().unwrap().last_search_success_date.as_deref(), before);
    assert!(offline >= online);

    // A failed installation (D-15: exit code 7 means failure) records nothing.
    let handler = format!("program = \"run.sh\"\n{RETURN_CODES}\n");
    let failing = command_update(&w, &s, 2, &handler, &[("run.sh", 0o755, b"#!/bin/sh\nexit 7\n")]);
    assert_eq!(install(&s, &[&failing]).result_code, Orc::Failed);
    assert_eq!(s.automatic_updates_results().unwrap().last_installation_success_date, None);

    let ok = simple(&w, &s, 3, &[("opt/three", 0o644, b"3")]);
    let before = OffsetDateTime::now_utc();
    assert_eq!(install(&s, &[&ok]).result_code, Orc::Succeeded);
    let r = s.automatic_updates_results().unwrap();
    let installed = check_date(r.last_installation_success_date.as_deref(), before);
    assert_eq!(r.last_search_success_date.as_deref(), Some(offline.format(&Rfc3339).unwrap()).as_deref());

    // An uninstall is no installation.
    assert_eq!(uninstall(&s, &[&ok]).result_code, Orc::Succeeded);
    assert_eq!(
        s.automatic_updates_results().unwrap().last_installation_success_date.as_deref(),
        Some(installed.format(&Rfc3339).unwrap()).as_deref()
    );

    // One update succeeds, one fails: SucceededWithErrors (D-3) is a success here.
    let before = OffsetDateTime::now_utc();
    let r = install(&s, &[&ok, &failing]);
    assert_eq!(r.result_code, Orc::SucceededWithErrors);
    check_date(s.automatic_updates_results().unwrap().last_installation_success_date.as_deref(), before);

    // Nothing to do is success too (D-5): the date moves.
    let before = OffsetDateTime::now_utc();
    let r = install(&s, &[&ok]);
    assert_eq!((r.result_code, r.update_results[0].hresult), (Orc::Succeeded, HResult::WU_S_ALREADY_INSTALLED));
    check_date(s.automatic_updates_results().unwrap().last_installation_success_date.as_deref(), before);

    // The dates are the datastore's: another session sees them.
    assert_eq!(session(&w).automatic_updates_results().unwrap(), s.automatic_updates_results().unwrap());
}

/// A datastore of the schema before the dates (version 5) migrates when a session opens it:
/// its history and installed state stay, it has no dates, and the next search records one.
#[test]
fn d44_an_older_datastore_migrates_and_keeps_its_data() {
    let w = World::new().unwrap();
    let (_repo, s) = searchable(&w);
    let u = simple(&w, &s, 3, &[("opt/three", 0o644, b"3")]);
    assert_eq!(install(&s, &[&u]).result_code, Orc::Succeeded);
    s.create_update_searcher().search("").unwrap();
    drop((u, s));
    // The migration list only grows: the current schema without migration 6 is version 5's.
    assert_eq!(wua_store::SCHEMA_VERSION, 6, "undo the later migrations here too");
    let conn = rusqlite::Connection::open(w.state.join("wua.db")).unwrap();
    conn.execute_batch("DROP TABLE agent_dates; PRAGMA user_version = 5;").unwrap();
    drop(conn);

    let s = session(&w);
    assert_eq!(s.automatic_updates_results().unwrap(), AutomaticUpdatesResults::default());
    let searcher = s.create_update_searcher();
    assert_eq!(searcher.get_total_history_count().unwrap(), 1, "the history is kept");
    assert!(s.find_update(&test_id(3)).unwrap().unwrap().is_installed(), "the installed state is kept");
    searcher.set_online(false);
    let before = OffsetDateTime::now_utc();
    searcher.search("").unwrap();
    check_date(s.automatic_updates_results().unwrap().last_search_success_date.as_deref(), before);
}

/// Set for the child process of [`d44_search_as_a_user_who_cannot_write_the_state`]: the world's
/// directory.
const CHILD_ENV: &str = "WUA_TEST_READ_ONLY_SEARCH_WORLD";

/// The bound on that child: past its own bound on its search (120 s), so its message comes
/// first, and within nextest's on the test (180 s).
const CHILD_LIMIT: std::time::Duration = std::time::Duration::from_secs(160);

/// A user who can read but not write the state directory searches offline: the search works,
/// reads the dates, and records nothing. The search runs in a child process as uid 65534
/// (root ignores permission bits): this test binary, running [`read_only_search_child`].
#[test]
fn d44_search_as_a_user_who_cannot_write_the_state() {
    // SAFETY: geteuid has no preconditions.
    if unsafe { libc::geteuid() } != 0 {
        eprintln!("not root: cannot switch to an unprivileged uid; skipping");
        return;
    }
    let w = World::new().unwrap();
    let (_repo, s) = searchable(&w);
    s.create_update_searcher().search("").unwrap();
    let recorded = s.automatic_updates_results().unwrap();
    assert!(recorded.last_search_success_date.is_some());
    drop(s);
    // Readable by everyone, writable by root only.
    for e in walkdir::WalkDir::new(w.dir.path()) {
        let e = e.unwrap();
        let mode = if e.file_type().is_dir() { 0o755 } else { 0o644 };
        if !e.file_type().is_symlink() {
            std::fs::set_permissions(e.path(), std::fs::Permissions::from_mode(mode)).unwrap();
        }
    }
    // The datastore's files are left out: the search's thread may still be closing this
    // process's connection, which checkpoints the WAL; the dates below say what it holds.
    let db = ["wua.db", "wua.db-wal", "wua.db-shm"];
    let before = snapshot(&w.state, &db).unwrap();
    let mut child = std::process::Command::new("setpriv");
    child
        .args(["--reuid=65534", "--regid=65534", "--clear-groups"])
        .arg(std::env::current_exe().unwrap())
        .args(["--exact", "au_results::read_only_search_child", "--nocapture", "--test-threads=1"])
        .env(CHILD_ENV, w.dir.path());
    // Past its own bound (its end_search_timeout), the child is killed and named.
    let out = wua_test_support::output_within(&mut child, CHILD_LIMIT).unwrap();
    let text = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    assert!(out.status.success(), "{text}");
    assert!(text.contains("1 passed"), "the child ran its test: {text}");
    assert_eq!(snapshot(&w.state, &db).unwrap(), before, "the state directory did not change");
    assert_eq!(session(&w).automatic_updates_results().unwrap(), recorded, "nothing was recorded");
}

/// The child of [`d44_search_as_a_user_who_cannot_write_the_state`]; does nothing on its own.
#[test]
fn read_only_search_child() {
    let Some(world) = std::env::var_os(CHILD_ENV) else { return };
    let world = Path::new(&world);
    // SAFETY: geteuid has no preconditions.
    assert_ne!(unsafe { libc::geteuid() }, 0, "runs unprivileged");
    let mut o = SessionOptions::new(world.join("state"), world.join("root"));
    o.boot_id = wua_agent::BootIdSource::File(world.join("work/boot_id"));
    let s = UpdateSession::open(o).unwrap();
    let recorded = s.automatic_updates_results().unwrap();
    assert!(recorded.last_search_success_date.is_some());
    let searcher = s.create_update_searcher();
    searcher.set_online(false);
    // Waited for with a time-out, so that a search that never completes fails here rather
    // than holding the parent forever.
    let job = searcher.begin_search("", None, None).unwrap();
    let r = searcher.end_search_timeout(&job, std::time::Duration::from_secs(120)).unwrap();
    assert_eq!(found(&r), [(test_id(1), 1)]);
    assert_eq!(s.automatic_updates_results().unwrap(), recorded);
}
