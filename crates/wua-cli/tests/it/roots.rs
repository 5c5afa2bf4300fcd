//! A state directory belongs to one target root, and a root may span filesystems.
//!
//! - An interrupted operation is never applied to another tree: the state directory records
//!   its root's identity at first use (an id kept in `<root>/var/lib/wua/root-id`) and refuses
//!   any other root, naming both; every journal record names its root.
//! - Backups and trash stay on the filesystem of the file they hold, so a root with another
//!   filesystem mounted inside it (a tmpfs, in a private mount namespace) installs and
//!   uninstalls, and recovery after a crash there completes.

use std::os::unix::process::ExitStatusExt;
use std::path::Path;

use crate::support::*;

/// The step number at which a run of `args` reaches `label` for the first time (a dry run in
/// a copy of the world, logging its steps).
fn step_of(state: &Path, root: &Path, args: &[&str], label: &str) -> String {
    let dir = tempfile::tempdir().unwrap();
    let (r, s) = (dir.path().join("root"), dir.path().join("state"));
    copy_tree(root, &r).unwrap();
    copy_tree(state, &s).unwrap();
    let log = dir.path().join("steps.log");
    let o = run(wua(&s, &r).args(args).env("WUA_CRASH_LOG", &log));
    assert!(o.status.success(), "{}", text(&o));
    let steps = std::fs::read_to_string(&log).unwrap();
    let line = steps.lines().find(|l| l.ends_with(&format!(" {label}"))).unwrap_or_else(|| panic!("{steps}"));
    line.split(' ').next().unwrap().to_owned()
}

/// Runs `args` and SIGKILLs it at its first `label` step.
fn crash_at(state: &Path, root: &Path, args: &[&str], label: &str) {
    let step = step_of(state, root, args, label);
    let o = run(wua(state, root).args(args).env("WUA_CRASH_AT_STEP", &step));
    assert_eq!(o.status.signal(), Some(9), "the run was to be killed at {label}: {}", text(&o));
}

/// A second root for the same state directory, with a file the update would replace.
fn second_root(w: &World) -> std::path::PathBuf {
    let r2 = w.dir.path().join("root2");
    std::fs::create_dir_all(r2.join("var/lib")).unwrap();
    std::fs::create_dir_all(r2.join("etc")).unwrap();
    std::fs::write(r2.join("etc/app.conf"), "root 2's own file\n").unwrap();
    r2
}

fn app_package(w: &World) -> String {
    let files: &[(&str, u32, &[u8])] =
        &[("etc/app.conf", 0o644, b"from the update\n"), ("usr/lib/app/one", 0o644, b"1")];
    let m = files_manifest(&test_id(1), 1, "app", "", "");
    w.package("app", &m, files).unwrap().to_string_lossy().into_owned()
}

/// An install interrupted after its intent on root 1; recovery (or any operation) with the same
/// state directory and root 2 is refused naming both roots, and root 2 stays untouched; root 1's
/// own recovery then completes the install.
#[test]
fn interrupted_install_never_rolls_forward_on_another_root() {
    let w = World::new().unwrap();
    let pkg = app_package(&w);
    let r2 = second_root(&w);
    let before2 = snapshot(&r2, OWN).unwrap();
    crash_at(&w.state, &w.root, &["install-package", &pkg], "intent");

    for args in [vec!["recover"], vec!["install-package", &pkg], vec!["uninstall", "--update-id", &test_id(1)]] {
        let o = run(wua(&w.state, &r2).args(&args));
        assert_eq!(o.status.code(), Some(2), "{args:?}: {}", text(&o));
        let out = text(&o);
        assert!(out.contains("WUA_E_ROOT_MISMATCH"), "{args:?}: {out}");
        assert!(out.contains(&*w.root.canonicalize().unwrap().to_string_lossy()), "names the state's root: {out}");
        assert!(out.contains(&*r2.canonicalize().unwrap().to_string_lossy()), "names the other root: {out}");
        assert_eq!(snapshot(&r2, OWN).unwrap(), before2, "{args:?} changed the other root");
    }

    let o = run(wua(&w.state, &w.root).arg("recover"));
    assert!(o.status.success(), "{}", text(&o));
    assert_eq!(std::fs::read_to_string(w.root.join("etc/app.conf")).unwrap(), "from the update\n");
    let leftovers: Vec<_> = walkdir::WalkDir::new(&w.root)
        .into_iter()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with(".wua-"))
        .collect();
    assert!(leftovers.is_empty(), "staged files left behind: {leftovers:?}");
}

/// An uninstall interrupted on root 1, then an operation with root 2: nothing of root 2 is
/// deleted (it holds files at the update's paths, among them one the update had replaced on
/// root 1).
#[test]
fn interrupted_uninstall_never_deletes_from_another_root() {
    let w = World::new().unwrap();
    let pkg = app_package(&w);
    let o = run(wua(&w.state, &w.root).args(["install-package", &pkg]));
    assert!(o.status.success(), "{}", text(&o));
    let r2 = second_root(&w);
    std::fs::create_dir_all(r2.join("usr/lib/app")).unwrap();
    std::fs::write(r2.join("usr/lib/app/one"), "1").unwrap();
    let before2 = snapshot(&r2, OWN).unwrap();
    let id = test_id(1);
    crash_at(&w.state, &w.root, &["uninstall", "--update-id", &id], "intent");

    let other =
        w.package("other", &files_manifest(&test_id(2), 1, "other", "", ""), &[("etc/o", 0o644, b"o")]).unwrap();
    let o = run(wua(&w.state, &r2).arg("install-package").arg(&other));
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    assert!(text(&o).contains("WUA_E_ROOT_MISMATCH"), "{}", text(&o));
    assert_eq!(snapshot(&r2, OWN).unwrap(), before2, "the other root lost files");

    let o = run(wua(&w.state, &w.root).arg("recover"));
    assert!(o.status.success(), "{}", text(&o));
    assert!(!w.root.join("etc/app.conf").exists());
}

/// A fresh state directory adopts the root it is first used with; a root that was never used
/// gets an id; a second state directory may share a root (D-8 keeps them apart).
#[test]
fn root_identity_is_recorded_at_first_use() {
    let w = World::new().unwrap();
    let pkg = app_package(&w);
    let o = run(wua(&w.state, &w.root).args(["install-package", &pkg]));
    assert!(o.status.success(), "{}", text(&o));
    let id = std::fs::read_to_string(w.root.join("var/lib/wua/root-id")).unwrap();
    assert!(wua_agent::wua_types::is_uuid(id.trim()), "{id:?}");
    // Another state directory on the same root is allowed.
    let s2 = w.dir.path().join("state2");
    let o = run(wua(&s2, &w.root).arg("recover"));
    assert!(o.status.success(), "{}", text(&o));
    assert_eq!(std::fs::read_to_string(w.root.join("var/lib/wua/root-id")).unwrap(), id, "the root keeps its id");
    // The same root under another path (a symbolic link) is the same root.
    let link = w.dir.path().join("root-link");
    std::os::unix::fs::symlink(&w.root, &link).unwrap();
    let o = run(wua(&w.state, &link).args(["uninstall", "--update-id", &test_id(1)]));
    assert!(o.status.success(), "{}", text(&o));
}

fn in_namespace(script: &str, envs: &[(&str, &Path)]) -> std::process::Output {
    let mut c = std::process::Command::new("unshare");
    c.args(["--mount", "--propagation", "private", "bash", "-euxc", script]);
    c.env("WUA", env!("CARGO_BIN_EXE_wua")).env_remove("WUA_CRASH_AT_STEP").env_remove("WUA_LOG");
    for (k, v) in envs {
        c.env(k, v);
    }
    run(&mut c)
}

/// A root with another filesystem (a tmpfs) mounted at `opt`: an install that replaces a file
/// there and an uninstall that restores it both work, leave no hidden file in the user's
/// directory, and a crash at every rename there recovers. Runs in a private mount namespace so
/// a failed test leaves no mount behind.
#[test]
fn root_spanning_filesystems_installs_uninstalls_and_recovers() {
    let w = World::new().unwrap();
    let files: &[(&str, u32, &[u8])] = &[
        ("opt/app/app.conf", 0o644, b"from the update\n"),
        ("opt/app/new", 0o644, b"new"),
        ("etc/app.conf", 0o644, b"etc from the update\n"),
    ];
    let pkg = w.package("app", &files_manifest(&test_id(1), 1, "app", "", ""), files).unwrap();
    let script = r#"
        # No hidden file of wua in these directories (`! cmd` would not stop a `set -e` script).
        no_wua_files() { if ls -A "$@" | grep '^\.wua'; then echo "wua's files left in $*" >&2; exit 1; fi; }
        mkdir -p "$ROOT/opt"
        mount -t tmpfs tmpfs "$ROOT/opt"
        mkdir -p "$ROOT/opt/app"
        echo original > "$ROOT/opt/app/app.conf"
        w() { WUA_STATE_DIR="$STATE" WUA_ROOT="$ROOT" "$WUA" "$@"; }
        export WUA_BOOT_ID_FILE="$BOOT"
        w install-package "$PKG"
        test "$(cat "$ROOT/opt/app/app.conf")" = "from the update"
        no_wua_files "$ROOT/opt/app"
        installed() { w --json status | grep -q '"is_installed": *true'; }
        # An uninstall killed at every step, then recovered: each time the update is either
        # wholly installed or wholly removed, and the next operation works.
        kills=0
        for step in $(seq 1 60); do
            installed || w install-package "$PKG"
            set +e
            WUA_CRASH_AT_STEP=$step w uninstall --update-id "$ID"
            rc=$?
            set -e
            [ $rc -eq 137 ] || break
            kills=$((kills + 1))
            w recover
            if installed; then
                test "$(cat "$ROOT/opt/app/app.conf")" = "from the update"
            else
                test "$(cat "$ROOT/opt/app/app.conf")" = original
                test ! -e "$ROOT/opt/app/new"
            fi
            no_wua_files "$ROOT/opt/app"
        done
        [ $rc -eq 0 ] && [ $kills -ge 3 ]
        test "$(cat "$ROOT/opt/app/app.conf")" = original
        test ! -e "$ROOT/opt/app/new"
        no_wua_files "$ROOT/opt/app"
        # Everything later still works on this state directory.
        w install-package "$PKG"
        w uninstall --update-id "$ID"
        test "$(cat "$ROOT/opt/app/app.conf")" = original
        no_wua_files "$ROOT/opt" "$ROOT/opt/app"
        w status
        echo ALL-GOOD
    "#;
    script_passes(&w, script, &pkg);
}

/// The admin directory on a filesystem of its own (a tmpfs at `var/lib/wua`): a replaced file
/// of the root's own filesystem is kept at the root's top, in `.wua-backup/<operation>`, and the
/// uninstall that restores it removes that area and the emptied `.wua-backup`.
#[test]
fn backups_of_the_roots_own_filesystem_leave_nothing_at_its_top() {
    let w = World::new().unwrap();
    let files: &[(&str, u32, &[u8])] = &[("etc/app.conf", 0o644, b"from the update\n")];
    let pkg = w.package("app", &files_manifest(&test_id(1), 1, "app", "", ""), files).unwrap();
    let script = r#"
        mkdir -p "$ROOT/var/lib/wua" "$ROOT/etc"
        mount -t tmpfs tmpfs "$ROOT/var/lib/wua"
        echo original > "$ROOT/etc/app.conf"
        w() { WUA_STATE_DIR="$STATE" WUA_ROOT="$ROOT" "$WUA" "$@"; }
        export WUA_BOOT_ID_FILE="$BOOT"
        w install-package "$PKG"
        test "$(cat "$ROOT/etc/app.conf")" = "from the update"
        test "$(ls "$ROOT/.wua-backup" | wc -l)" = 1
        w uninstall --update-id "$ID"
        test "$(cat "$ROOT/etc/app.conf")" = original
        if [ -e "$ROOT/.wua-backup" ]; then ls -laR "$ROOT/.wua-backup" >&2; exit 1; fi
        echo ALL-GOOD
    "#;
    script_passes(&w, script, &pkg);
}

/// Runs `script` in a private mount namespace with `ROOT`, `STATE`, `PKG`, `BOOT` (a boot id
/// file) and `ID` (update 1) set, and checks that it ended with ALL-GOOD.
fn script_passes(w: &World, script: &str, pkg: &Path) {
    let boot = w.dir.path().join("boot_id");
    std::fs::write(&boot, "boot-1").unwrap();
    let id = test_id(1);
    let vars = [("ROOT", &*w.root), ("STATE", &*w.state), ("PKG", pkg), ("BOOT", &*boot), ("ID", Path::new(&id))];
    let o = in_namespace(script, &vars);
    let out = text(&o);
    assert!(o.status.success() && out.contains("ALL-GOOD"), "{out}");
}
