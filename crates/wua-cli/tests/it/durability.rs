//! Durability order of one install (D-17), read from `strace -f -y` of the real CLI, because a
//! SIGKILL test passes even with every fsync removed: staged content is created, then made
//! durable (`syncfs`), then the intent commit reaches disk (an fsync of the datastore or its
//! `-wal`), then the renames, then a `syncfs`, then the completion commit.

use std::process::Command;

use crate::support::*;

#[derive(Debug)]
enum Call {
    CreateStaged,
    SyncFs,
    DbSync,
    Rename,
}

fn parse(trace: &str) -> Vec<(Call, String)> {
    let mut out = Vec::new();
    for line in trace.lines() {
        // "1234  fsync(5</tmp/x/state/wua.db-wal>) = 0", unfinished/resumed pairs aside.
        let body = line.split_once(char::is_whitespace).map(|x| x.1.trim_start()).unwrap_or(line);
        if body.contains("<unfinished") || body.starts_with("<...") || body.contains("= -1") {
            continue;
        }
        let call = if body.starts_with("syncfs(") {
            Call::SyncFs
        } else if (body.starts_with("fsync(") || body.starts_with("fdatasync(")) && body.contains("wua.db") {
            Call::DbSync
        } else if body.starts_with("rename") {
            Call::Rename
        } else if body.starts_with("openat(") && body.contains("/.wua-") && body.contains("O_CREAT") {
            Call::CreateStaged
        } else {
            continue;
        };
        out.push((call, body.to_owned()));
    }
    out
}

/// D-17: the order of durability calls of one install.
#[test]
fn d17_durability_order_of_one_install() {
    if wua_test_support::output_within(Command::new("strace").arg("-V"), CHILD_LIMIT).is_err() {
        panic!("strace is required (scripts/test installs it)");
    }
    let w = World::new().unwrap();
    std::fs::create_dir_all(w.root.join("etc")).unwrap();
    std::fs::write(w.root.join("etc/replaced.conf"), "old").unwrap();
    let m = files_manifest(&test_id(1), 1, "durable", "", "");
    let pkg = w
        .package(
            "d",
            &m,
            &[("etc/replaced.conf", 0o644, b"new"), ("etc/new.conf", 0o644, b"n"), ("opt/d/bin", 0o755, b"b")],
        )
        .unwrap();
    let trace_file = w.work.join("trace.txt");
    let exe = env!("CARGO_BIN_EXE_wua");
    let mut cmd = Command::new("strace");
    cmd.args(["-f", "-y", "-qq", "-e", "trace=openat,fsync,fdatasync,syncfs,rename,renameat,renameat2", "-o"])
        .arg(&trace_file)
        .arg(exe);
    let boot = w.work.join("boot_id");
    std::fs::write(&boot, "b").unwrap();
    cmd.env("WUA_STATE_DIR", &w.state)
        .env("WUA_ROOT", &w.root)
        .arg("install-package")
        .arg(&pkg)
        .env("WUA_BOOT_ID_FILE", &boot);
    let out = run(&mut cmd);
    assert!(out.status.success(), "{}", text(&out));
    let calls = parse(&std::fs::read_to_string(&trace_file).unwrap());
    let pos = |pred: &dyn Fn(&Call, &str) -> bool| calls.iter().position(|(c, b)| pred(c, b));
    let rpos = |pred: &dyn Fn(&Call, &str) -> bool| calls.iter().rposition(|(c, b)| pred(c, b));
    let is_install_rename =
        |c: &Call, b: &str| matches!(c, Call::Rename) && (b.contains("/.wua-") || b.contains("/var/lib/wua/backup/"));
    let first_rename = pos(&is_install_rename).expect("renames into place");
    let last_rename = rpos(&is_install_rename).unwrap();
    let last_create = rpos(&|c, _| matches!(c, Call::CreateStaged)).expect("staged files created");
    // 1. staged content durable: a syncfs after the last staged file was created, before any rename.
    let s1 =
        calls[last_create..first_rename].iter().position(|(c, _)| matches!(c, Call::SyncFs)).map(|i| i + last_create);
    let s1 = s1.unwrap_or_else(|| panic!("no syncfs between staging and renames: {calls:#?}"));
    // 2. the intent commit reaches disk after that syncfs and before the renames.
    assert!(
        calls[s1..first_rename].iter().any(|(c, _)| matches!(c, Call::DbSync)),
        "no datastore fsync (intent) between syncfs and renames: {calls:#?}"
    );
    // 3. a syncfs after the last rename, 4. then the completion commit.
    let s2 = calls[last_rename..].iter().position(|(c, _)| matches!(c, Call::SyncFs)).map(|i| i + last_rename);
    let s2 = s2.unwrap_or_else(|| panic!("no syncfs after the renames: {calls:#?}"));
    assert!(
        calls[s2..].iter().any(|(c, _)| matches!(c, Call::DbSync)),
        "no datastore fsync (completion) after the final syncfs: {calls:#?}"
    );
    // Three files and one replaced: three renames into place plus one move to the backup area.
    let renames = calls.iter().filter(|(c, b)| is_install_rename(c, b)).count();
    assert_eq!(renames, 4, "{calls:#?}");
}
