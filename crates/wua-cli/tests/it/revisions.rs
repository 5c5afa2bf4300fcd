//! An (update id, revision) pair is immutable: a different document under an identity already
//! recorded is refused by name, so neither an installed revision nor an interrupted operation
//! can change under the agent.

use std::os::unix::process::ExitStatusExt;

use crate::support::*;

fn two_packages(w: &World) -> (String, String) {
    let id = test_id(7);
    let one = w.package("one", &files_manifest(&id, 1, "first title", "", ""), &[("etc/a", 0o644, b"one\n")]).unwrap();
    let two = w.package("two", &files_manifest(&id, 1, "second title", "", ""), &[("etc/a", 0o644, b"two\n")]).unwrap();
    (one.to_string_lossy().into_owned(), two.to_string_lossy().into_owned())
}

/// Importing another package under a recorded id and revision is `WUA_E_REVISION_CONFLICT`,
/// and what is recorded stays; importing the same package again is fine.
#[test]
fn a_recorded_revision_never_changes() {
    let w = World::new().unwrap();
    let (one, two) = two_packages(&w);
    let o = run(wua(&w.state, &w.root).args(["install-package", &one]));
    assert!(o.status.success(), "{}", text(&o));
    for args in [vec!["package", "import", &two], vec!["install-package", &two]] {
        let o = run(wua(&w.state, &w.root).args(&args));
        assert_eq!(o.status.code(), Some(2), "{args:?}: {}", text(&o));
        assert!(text(&o).contains("WUA_E_REVISION_CONFLICT"), "{args:?}: {}", text(&o));
        assert!(text(&o).contains(&test_id(7)), "names the identity: {}", text(&o));
    }
    let status = json(&run(wua(&w.state, &w.root).args(["--json", "status"])));
    assert_eq!(status["updates"][0]["title"], "first title", "{status}");
    assert_eq!(std::fs::read_to_string(w.root.join("etc/a")).unwrap(), "one\n");
    let o = run(wua(&w.state, &w.root).args(["package", "import", &one]));
    assert!(o.status.success(), "the same package again: {}", text(&o));
}

/// With an install of the revision interrupted after its intent, a conflicting import is
/// refused and recovery completes the install that was started.
#[test]
fn an_interrupted_revision_is_recovered_as_it_was() {
    let w = World::new().unwrap();
    let (one, two) = two_packages(&w);
    let log = w.dir.path().join("steps.log");
    let dry = tempfile::tempdir().unwrap();
    let (r, s) = (dry.path().join("root"), dry.path().join("state"));
    copy_tree(&w.root, &r).unwrap();
    copy_tree(&w.state, &s).unwrap();
    let o = run(wua(&s, &r).args(["install-package", &one]).env("WUA_CRASH_LOG", &log));
    assert!(o.status.success(), "{}", text(&o));
    let steps = std::fs::read_to_string(&log).unwrap();
    let step = steps.lines().find(|l| l.ends_with(" intent")).unwrap().split(' ').next().unwrap().to_owned();
    let o = run(wua(&w.state, &w.root).args(["install-package", &one]).env("WUA_CRASH_AT_STEP", &step));
    assert_eq!(o.status.signal(), Some(9), "{}", text(&o));

    let o = run(wua(&w.state, &w.root).args(["package", "import", &two]));
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    assert!(text(&o).contains("WUA_E_REVISION_CONFLICT"), "{}", text(&o));
    let o = run(wua(&w.state, &w.root).arg("recover"));
    assert!(o.status.success(), "{}", text(&o));
    assert_eq!(std::fs::read_to_string(w.root.join("etc/a")).unwrap(), "one\n");
    let o = run(wua(&w.state, &w.root).args(["--json", "history"]));
    assert_eq!(json(&o)["entries"][0]["title"], "first title");
}

/// An upgrade from revision 1 to 2 removes the directories only revision 1 needed (as dpkg
/// does), keeps those revision 2 still uses and a directory holding someone else's file, and
/// the uninstall of revision 2 then leaves nothing of the update behind.
#[test]
fn an_upgrade_removes_directories_only_the_old_revision_needed() {
    let w = World::new().unwrap();
    let id = test_id(8);
    let files1: &[(&str, u32, &[u8])] = &[
        ("usr/share/doc/app/README", 0o644, b"readme"),
        ("usr/lib/app/plugins/old/one.so", 0o644, b"old"),
        ("usr/lib/app/core.so", 0o644, b"core 1"),
        ("opt/app/cache/keep/data", 0o644, b"data"),
    ];
    let files2: &[(&str, u32, &[u8])] = &[("usr/lib/app/core.so", 0o644, b"core 2")];
    let one = w.package("one", &files_manifest(&id, 1, "app", "", ""), files1).unwrap();
    let two = w.package("two", &files_manifest(&id, 2, "app", "", ""), files2).unwrap();
    let o = run(wua(&w.state, &w.root).arg("install-package").arg(&one));
    assert!(o.status.success(), "{}", text(&o));
    std::fs::write(w.root.join("opt/app/cache/user-file"), "mine").unwrap();
    let o = run(wua(&w.state, &w.root).arg("install-package").arg(&two));
    assert!(o.status.success(), "{}", text(&o));
    for gone in ["usr/share/doc/app", "usr/share/doc", "usr/share", "usr/lib/app/plugins", "opt/app/cache/keep"] {
        assert!(!w.root.join(gone).exists(), "{gone} is left behind");
    }
    assert!(w.root.join("usr/lib/app/core.so").exists());
    assert!(w.root.join("opt/app/cache/user-file").exists(), "a directory with a user's file stays");
    let o = run(wua(&w.state, &w.root).args(["uninstall", "--update-id", &id]));
    assert!(o.status.success(), "{}", text(&o));
    assert!(!w.root.join("usr").exists(), "the uninstall removes what revision 2 still owned");
    assert!(w.root.join("opt/app/cache/user-file").exists());
}
