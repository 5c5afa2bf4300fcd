use std::os::unix::fs::PermissionsExt;

use wua_agent::wua_types::{HResult, OperationResultCode as Orc, UpdateCollection, UpdateOperation};
use wua_install::InstallLock;

use crate::support::*;

/// D-1, D-3: per-update failures are data; the overall result folds them.
#[test]
fn d1_d3_failures_are_data_and_fold() {
    let w = World::new().unwrap();
    let s = session(&w);
    let ok = simple(&w, &s, 1, &[("a/one", 0o644, b"1")]);
    let eula = import(
        &w,
        &s,
        "e",
        &files_manifest(&test_id(2), 1, "needs eula", "eula = \"terms\"", ""),
        &[("a/two", 0o644, b"2")],
    );
    let eula2 = import(
        &w,
        &s,
        "e2",
        &files_manifest(&test_id(3), 1, "needs eula too", "eula = \"terms\"", ""),
        &[("a/three", 0o644, b"3")],
    );

    let r = install(&s, &[&ok, &eula]);
    assert_eq!((r.result_code, r.hresult), (Orc::SucceededWithErrors, HResult::S_OK));
    assert_eq!(r.update_results[0].result_code, Orc::Succeeded);
    assert_eq!(
        (r.update_results[1].result_code, r.update_results[1].hresult),
        (Orc::Failed, HResult::WU_E_EULAS_DECLINED)
    );

    let r = install(&s, &[&eula]);
    assert_eq!((r.result_code, r.hresult), (Orc::Failed, HResult::WU_E_EULAS_DECLINED));
    let r = install(&s, &[&eula, &eula2]);
    assert_eq!((r.result_code, r.hresult), (Orc::Failed, HResult::WU_E_ALL_UPDATES_FAILED));
}

/// D-4: results are indexed as the collection was; out of range -> WU_E_INVALIDINDEX.
#[test]
fn d4_result_index() {
    let w = World::new().unwrap();
    let s = session(&w);
    let u = simple(&w, &s, 1, &[("x", 0o644, b"x")]);
    let r = install(&s, &[&u]);
    assert_eq!(r.get_update_result(0).unwrap().result_code, Orc::Succeeded);
    assert_eq!(r.get_update_result(1).unwrap_err().hresult, HResult::WU_E_INVALIDINDEX);
}

/// D-5: installed again -> Succeeded + WU_S_ALREADY_INSTALLED; not installed ->
/// WU_S_ALREADY_UNINSTALLED; forced reinstall really reinstalls.
#[test]
fn d5_already_installed_and_uninstalled() {
    let w = World::new().unwrap();
    let s = session(&w);
    let u = simple(&w, &s, 1, &[("etc/a.conf", 0o644, b"a")]);
    let r = uninstall(&s, &[&u]);
    assert_eq!(
        (r.update_results[0].result_code, r.update_results[0].hresult),
        (Orc::Succeeded, HResult::WU_S_ALREADY_UNINSTALLED)
    );
    assert_eq!(install(&s, &[&u]).update_results[0].hresult, HResult::S_OK);
    let r = install(&s, &[&u]);
    assert_eq!((r.result_code, r.update_results[0].hresult), (Orc::Succeeded, HResult::WU_S_ALREADY_INSTALLED));
    std::fs::write(w.root.join("etc/a.conf"), "changed").unwrap();
    let i = s.create_update_installer();
    i.set_updates(coll(&[&u]));
    i.set_is_forced(true);
    let r = i.install().unwrap();
    assert_eq!(r.update_results[0].hresult, HResult::S_OK);
    assert_eq!(read(&w.root, "etc/a.conf"), "a");
}

/// D-6: a process that cannot write the state directory or root gets E_ACCESSDENIED (tested
/// as an unprivileged uid in the CLI tests); here: a read-only root for root itself is not
/// testable, so check the order D-6 before D-7 through the CLI suite. This test covers D-7.
#[test]
fn d7_no_update() {
    let w = World::new().unwrap();
    let s = session(&w);
    let i = s.create_update_installer();
    assert_eq!(i.install().unwrap_err().hresult, HResult::WU_E_NO_UPDATE);
    i.set_updates(UpdateCollection::new());
    assert_eq!(i.install().unwrap_err().hresult, HResult::WU_E_NO_UPDATE);
    assert_eq!(i.uninstall().unwrap_err().hresult, HResult::WU_E_NO_UPDATE);
}

/// D-8: a held lock (this process, another open file description) -> WU_E_INSTALL_NOT_ALLOWED
/// naming the holder's pid; a second state directory on the same root is excluded too.
#[test]
fn d8_lock_excludes_second_operation() {
    let w = World::new().unwrap();
    let s = session(&w);
    let u = simple(&w, &s, 1, &[("f", 0o644, b"f")]);
    let held = InstallLock::acquire(s.state_dir(), s.root(), std::time::Duration::ZERO).unwrap();
    let i = s.create_update_installer();
    i.set_updates(coll(&[&u]));
    let e = i.install().unwrap_err();
    assert_eq!(e.hresult, HResult::WU_E_INSTALL_NOT_ALLOWED);
    assert!(e.message.contains(&format!("pid {}", std::process::id())), "{e}");
    // Another state directory, same root: the root lock refuses it.
    let other_state = w.work.join("other-state");
    let mut o = wua_agent::SessionOptions::new(&other_state, &w.root);
    o.boot_id = wua_agent::BootIdSource::Fixed("b".into());
    let s2 = wua_agent::UpdateSession::open(o).unwrap();
    let u2 = s2.open_package(&w.work.join("u1.wuapkg")).unwrap();
    let i2 = s2.create_update_installer();
    i2.set_updates(coll(&[&u2]));
    assert_eq!(i2.install().unwrap_err().hresult, HResult::WU_E_INSTALL_NOT_ALLOWED);
    drop(held);
    assert_eq!(i.install().unwrap().result_code, Orc::Succeeded);
}

/// D-9: an AlwaysRequiresReboot install blocks further installs until the boot id changes;
/// is_forced overrides; SystemInformation reports it.
#[test]
fn d9_pending_reboot_blocks_until_reboot() {
    let w = World::new().unwrap();
    let s = session(&w);
    let tail = "[installation_behavior]\nreboot_behavior = \"AlwaysRequiresReboot\"\n";
    let k = import(&w, &s, "k", &files_manifest(&test_id(1), 1, "kernel-ish", "", tail), &[("boot/k", 0o644, b"k")]);
    let other = simple(&w, &s, 2, &[("o", 0o644, b"o")]);
    let i = s.create_update_installer();
    assert!(!i.reboot_required_before_installation().unwrap());
    let r = install(&s, &[&k]);
    assert!(r.reboot_required && r.update_results[0].reboot_required);
    assert!(i.reboot_required_before_installation().unwrap());
    assert!(s.system_information().reboot_required().unwrap());
    i.set_updates(coll(&[&other]));
    assert_eq!(i.install().unwrap_err().hresult, HResult::WU_E_INSTALL_NOT_ALLOWED);
    assert_eq!(i.uninstall().unwrap_err().hresult, HResult::WU_E_INSTALL_NOT_ALLOWED);
    i.set_is_forced(true);
    assert_eq!(i.install().unwrap().result_code, Orc::Succeeded);
    i.set_is_forced(false);
    reboot(&w, "boot-2");
    assert!(!i.reboot_required_before_installation().unwrap());
    assert!(!s.system_information().reboot_required().unwrap());
    i.set_updates(coll(&[&k]));
    assert_eq!(i.install().unwrap().update_results[0].hresult, HResult::WU_S_ALREADY_INSTALLED);
}

/// D-10: an exclusive update with another -> WU_E_EXCLUSIVE_INSTALL_CONFLICT, nothing installed.
#[test]
fn d10_exclusive_conflict() {
    let w = World::new().unwrap();
    let s = session(&w);
    let tail = "[installation_behavior]\nimpact = \"RequiresExclusiveHandling\"\n";
    let x = import(&w, &s, "x", &files_manifest(&test_id(1), 1, "exclusive", "", tail), &[("x", 0o644, b"x")]);
    let y = simple(&w, &s, 2, &[("y", 0o644, b"y")]);
    let before = snapshot(&w.root, OWN).unwrap();
    let i = s.create_update_installer();
    i.set_updates(coll(&[&y, &x]));
    assert_eq!(i.install().unwrap_err().hresult, HResult::WU_E_EXCLUSIVE_INSTALL_CONFLICT);
    assert_eq!(snapshot(&w.root, OWN).unwrap(), before);
    assert_eq!(s.create_update_searcher().get_total_history_count().unwrap(), 0);
    assert_eq!(install(&s, &[&x]).result_code, Orc::Succeeded);
}

/// D-11: the installer works on the collection as it was when set; the caller's later edits do
/// not reach it.
#[test]
fn d11_collection_snapshot() {
    let w = World::new().unwrap();
    let s = session(&w);
    let a = simple(&w, &s, 1, &[("a", 0o644, b"a")]);
    let b = simple(&w, &s, 2, &[("b", 0o644, b"b")]);
    let mut c = coll(&[&a]);
    let i = s.create_update_installer();
    i.set_updates(c.clone());
    c.add(b.clone()).unwrap();
    let r = i.install().unwrap();
    assert_eq!(r.update_results.len(), 1);
    assert!(!w.root.join("b").exists());
}

/// D-12: content missing from the cache -> Failed, WU_E_DM_NOTDOWNLOADED.
#[test]
fn d12_not_downloaded() {
    let w = World::new().unwrap();
    let s = session(&w);
    let u = simple(&w, &s, 1, &[("a", 0o644, b"abc")]);
    let sha = &u.document().content[0].sha256;
    std::fs::remove_file(s.state_dir().join("cache/sha256").join(sha)).unwrap();
    let r = install(&s, &[&u]);
    assert_eq!((r.result_code, r.hresult), (Orc::Failed, HResult::WU_E_DM_NOTDOWNLOADED));
}

/// D-13: a cache blob with the right size but wrong bytes -> Failed,
/// WU_E_DM_INCORRECTFILEHASH, and nothing of the update is left (D-17).
#[test]
fn d13_hash_mismatch_leaves_nothing() {
    let w = World::new().unwrap();
    let s = session(&w);
    std::fs::create_dir_all(w.root.join("etc")).unwrap();
    std::fs::write(w.root.join("etc/existing"), "old").unwrap();
    let files: Vec<(String, Vec<u8>)> =
        (0..6).map(|n| (format!("etc/new/f{n}"), format!("content {n}").into_bytes())).collect();
    let mut spec: Vec<(&str, u32, &[u8])> = files.iter().map(|(p, b)| (p.as_str(), 0o644, b.as_slice())).collect();
    spec.push(("etc/existing", 0o600, b"new"));
    let u = simple(&w, &s, 1, &spec);
    let before = snapshot(&w.root, OWN).unwrap();
    // Corrupt the fifth file's blob in the cache, keeping its size.
    let bad = &u.document().content.iter().find(|c| c.path == "etc/new/f4").unwrap().sha256;
    std::fs::write(s.state_dir().join("cache/sha256").join(bad), "content X").unwrap();
    let r = install(&s, &[&u]);
    assert_eq!((r.result_code, r.hresult), (Orc::Failed, HResult::WU_E_DM_INCORRECTFILEHASH));
    assert!(r.update_results[0].message.contains("etc/new/f4"), "{}", r.update_results[0].message);
    assert_eq!(snapshot(&w.root, OWN).unwrap(), before);
    let h = s.create_update_searcher().query_history(0, 10).unwrap();
    assert_eq!(h.len(), 1);
    assert_eq!((h[0].result_code, h[0].hresult), (Orc::Failed, HResult::WU_E_DM_INCORRECTFILEHASH));
}

/// D-14: without acceptance -> WU_E_EULAS_DECLINED; acceptance persists across sessions.
#[test]
fn d14_eula_acceptance_persists() {
    let w = World::new().unwrap();
    let s = session(&w);
    let u =
        import(&w, &s, "e", &files_manifest(&test_id(1), 1, "eula", "eula = \"the terms\"", ""), &[("e", 0o644, b"e")]);
    assert!(!u.eula_accepted());
    assert_eq!(u.eula_text(), "the terms");
    assert_eq!(install(&s, &[&u]).update_results[0].hresult, HResult::WU_E_EULAS_DECLINED);
    u.accept_eula().unwrap();
    drop(s);
    let s = session(&w);
    let again = s.find_update(&test_id(1)).unwrap().unwrap();
    assert!(again.eula_accepted());
    assert_eq!(install(&s, &[&again]).update_results[0].hresult, HResult::S_OK);
}

/// D-16: uninstall of a non-uninstallable update, or force_quiet with an update that may ask
/// for input -> Failed, WU_E_UH_DOESNOTSUPPORTACTION.
#[test]
fn d16_unsupported_action() {
    let w = World::new().unwrap();
    let s = session(&w);
    let fixed = import(
        &w,
        &s,
        "p",
        &files_manifest(&test_id(1), 1, "permanent", "is_uninstallable = false", ""),
        &[("p", 0o644, b"p")],
    );
    assert_eq!(install(&s, &[&fixed]).result_code, Orc::Succeeded);
    let r = uninstall(&s, &[&fixed]);
    assert_eq!((r.result_code, r.hresult), (Orc::Failed, HResult::WU_E_UH_DOESNOTSUPPORTACTION));
    assert!(w.root.join("p").exists());
    let tail = "[installation_behavior]\ncan_request_user_input = true\n";
    let asks = import(&w, &s, "q", &files_manifest(&test_id(2), 1, "asks", "", tail), &[("q", 0o644, b"q")]);
    let i = s.create_update_installer();
    i.set_updates(coll(&[&asks]));
    i.set_force_quiet(true);
    let r = i.install().unwrap();
    assert_eq!((r.result_code, r.hresult), (Orc::Failed, HResult::WU_E_UH_DOESNOTSUPPORTACTION));
    // A refusal before the handler runs is in the history too.
    let h = s.create_update_searcher().query_history(0, 1).unwrap();
    assert_eq!((h[0].update_identity.update_id.as_str(), h[0].hresult), (test_id(2).as_str(), r.hresult));
    i.set_force_quiet(false);
    assert_eq!(i.install().unwrap().result_code, Orc::Succeeded);
    // An uninstall weighs the uninstall behaviour: this one does not ask, so force_quiet lets
    // it go; one whose uninstall may ask is refused.
    i.set_force_quiet(true);
    assert_eq!(i.uninstall().unwrap().result_code, Orc::Succeeded);
    let tail = "[uninstallation_behavior]\ncan_request_user_input = true\n";
    let asks = import(&w, &s, "r", &files_manifest(&test_id(3), 1, "asks", "", tail), &[("r", 0o644, b"r")]);
    assert_eq!(install(&s, &[&asks]).result_code, Orc::Succeeded);
    i.set_updates(coll(&[&asks]));
    let r = i.uninstall().unwrap();
    assert_eq!((r.result_code, r.hresult), (Orc::Failed, HResult::WU_E_UH_DOESNOTSUPPORTACTION));
}

/// D-33: the installer hands out its collection read-only.
#[test]
fn d33_installer_collection_is_read_only() {
    let w = World::new().unwrap();
    let s = session(&w);
    let a = simple(&w, &s, 1, &[("a", 0o644, b"a")]);
    let i = s.create_update_installer();
    i.set_updates(coll(&[&a]));
    let mut got = i.updates().unwrap();
    assert!(got.read_only());
    assert_eq!(got.clear().unwrap_err().hresult, HResult::WU_E_NOT_SUPPORTED);
    assert!(!s.known_updates().unwrap().copy().read_only());
}

/// D-34: defaults, and the client application id in every history entry.
#[test]
fn d34_defaults_and_client_id() {
    let w = World::new().unwrap();
    let s = session(&w);
    assert_eq!(s.client_application_id(), "Unknown");
    let i = s.create_update_installer();
    assert!(!i.is_forced() && !i.force_quiet() && i.allow_source_prompts() && !i.attempt_close_apps_if_necessary());
    assert_eq!(i.client_application_id(), "Unknown");
    // Each property reads back what was set, both ways.
    for value in [true, false] {
        i.set_is_forced(value);
        i.set_force_quiet(value);
        i.set_allow_source_prompts(!value);
        i.set_attempt_close_apps_if_necessary(value);
        assert_eq!(
            (i.is_forced(), i.force_quiet(), i.allow_source_prompts(), i.attempt_close_apps_if_necessary()),
            (value, value, !value, value)
        );
    }
    let a = simple(&w, &s, 1, &[("a", 0o644, b"a")]);
    i.set_client_application_id("d34-test");
    i.set_updates(coll(&[&a]));
    i.install().unwrap();
    let h = s.create_update_searcher().query_history(0, 1).unwrap();
    assert_eq!(h[0].client_application_id, "d34-test");
}

/// D-35: newest first, index rules, one entry per update per operation.
#[test]
fn d35_history_queries() {
    let w = World::new().unwrap();
    let s = session(&w);
    let a = simple(&w, &s, 1, &[("a", 0o644, b"a")]);
    let b = simple(&w, &s, 2, &[("b", 0o644, b"b")]);
    install(&s, &[&a, &b]);
    uninstall(&s, &[&a]);
    let q = s.create_update_searcher();
    assert_eq!(q.get_total_history_count().unwrap(), 3);
    let h = q.query_history(0, 10).unwrap();
    assert_eq!(h[0].operation, UpdateOperation::Uninstallation);
    assert_eq!(h[0].update_identity.update_id, test_id(1));
    assert_eq!(h[2].update_identity.update_id, test_id(1));
    assert_eq!(q.query_history(1, 1).unwrap()[0].update_identity.update_id, test_id(2));
    assert!(q.query_history(3, 5).unwrap().is_empty());
    assert_eq!(q.query_history(-1, 5).unwrap_err().hresult, HResult::WU_E_INVALIDINDEX);
    assert_eq!(q.query_history(0, 0).unwrap_err().hresult, HResult::WU_E_INVALIDINDEX);
}

/// D-36: hiding persists per machine; a mandatory update cannot be hidden.
#[test]
fn d36_hidden_flags() {
    let w = World::new().unwrap();
    let s = session(&w);
    let a = simple(&w, &s, 1, &[("a", 0o644, b"a")]);
    let m = import(
        &w,
        &s,
        "m",
        &files_manifest(&test_id(2), 1, "mandatory", "is_mandatory = true", ""),
        &[("m", 0o644, b"m")],
    );
    let d = import(
        &w,
        &s,
        "d",
        &files_manifest(&test_id(3), 1, "deadline", "deadline = \"2030-01-01T00:00:00Z\"", ""),
        &[("d", 0o644, b"d")],
    );
    a.set_is_hidden(true).unwrap();
    assert_eq!(m.set_is_hidden(true).unwrap_err().hresult, HResult::WU_E_DS_DECLINENOTALLOWED);
    assert_eq!(d.set_is_hidden(true).unwrap_err().hresult, HResult::WU_E_DS_DECLINENOTALLOWED);
    drop(s);
    let s = session(&w);
    assert!(s.find_update(&test_id(1)).unwrap().unwrap().is_hidden());
    assert!(!s.find_update(&test_id(2)).unwrap().unwrap().is_hidden());
}

/// D-37: no UI in the library; commit is accepted.
#[test]
fn d37_run_wizard_and_commit() {
    let w = World::new().unwrap();
    let s = session(&w);
    let i = s.create_update_installer();
    assert_eq!(i.run_wizard("").unwrap_err().hresult, HResult::WU_E_NO_UI_SUPPORT);
    assert!(i.commit(0).is_ok());
}

/// D-39: a file owned by another installed update -> Failed with WUA_E_FILE_CONFLICT naming
/// path and owner; a superseding update takes ownership; uninstall restores backups only when
/// the file is unchanged, else warns.
#[test]
fn d39_file_ownership() {
    let w = World::new().unwrap();
    let s = session(&w);
    std::fs::create_dir_all(w.root.join("etc")).unwrap();
    std::fs::write(w.root.join("etc/orig.conf"), "original").unwrap();
    let a = simple(&w, &s, 1, &[("etc/orig.conf", 0o644, b"from a"), ("etc/a-only", 0o644, b"a")]);
    assert_eq!(install(&s, &[&a]).result_code, Orc::Succeeded);
    let b = simple(&w, &s, 2, &[("etc/orig.conf", 0o644, b"from b")]);
    let before = snapshot(&w.root, OWN).unwrap();
    let r = install(&s, &[&b]);
    assert_eq!((r.result_code, r.hresult), (Orc::Failed, HResult::WUA_E_FILE_CONFLICT));
    let msg = &r.update_results[0].message;
    assert!(msg.contains("etc/orig.conf") && msg.contains(&test_id(1)), "{msg}");
    assert_eq!(snapshot(&w.root, OWN).unwrap(), before);

    let sup = format!("superseded_update_ids = [\"{}\"]", test_id(1));
    let c = import(
        &w,
        &s,
        "c",
        &files_manifest(&test_id(3), 1, "successor", &sup, ""),
        &[("etc/orig.conf", 0o644, b"from c")],
    );
    assert_eq!(install(&s, &[&c]).result_code, Orc::Succeeded);
    assert_eq!(read(&w.root, "etc/orig.conf"), "from c");
    // a no longer owns etc/orig.conf: uninstalling a leaves it alone.
    assert_eq!(uninstall(&s, &[&a]).result_code, Orc::Succeeded);
    assert_eq!(read(&w.root, "etc/orig.conf"), "from c");
    assert!(!w.root.join("etc/a-only").exists());
    // c carried a's backup of the original: uninstalling c restores it.
    assert_eq!(uninstall(&s, &[&c]).result_code, Orc::Succeeded);
    assert_eq!(read(&w.root, "etc/orig.conf"), "original");

    // A changed file is left in place with a warning.
    let d = simple(&w, &s, 4, &[("etc/orig.conf", 0o644, b"from d")]);
    install(&s, &[&d]);
    std::fs::write(w.root.join("etc/orig.conf"), "edited by an administrator").unwrap();
    let r = uninstall(&s, &[&d]);
    assert_eq!(r.result_code, Orc::Succeeded);
    assert_eq!(read(&w.root, "etc/orig.conf"), "edited by an administrator");
    assert_eq!(r.update_results[0].warnings.len(), 1, "{:?}", r.update_results[0]);
    let h = s.create_update_searcher().query_history(0, 1).unwrap();
    assert_eq!(h[0].warnings, r.update_results[0].warnings);
}

/// D-40: installed state per update id; a newer revision with other content is not
/// installed, replaces the old one in one operation, and drops files it no longer has.
#[test]
fn d40_revision_replaces_revision() {
    let w = World::new().unwrap();
    let s = session(&w);
    let id = test_id(1);
    let r1 = import(
        &w,
        &s,
        "r1",
        &files_manifest(&id, 1, "app", "", ""),
        &[("opt/app/bin", 0o755, b"v1"), ("opt/app/old", 0o644, b"old")],
    );
    assert_eq!(install(&s, &[&r1]).result_code, Orc::Succeeded);
    let same = import(
        &w,
        &s,
        "r2",
        &files_manifest(&id, 2, "app", "", ""),
        &[("opt/app/bin", 0o755, b"v1"), ("opt/app/old", 0o644, b"old")],
    );
    assert!(same.is_installed(), "same content: revision 2 counts as installed");
    let r3 = import(
        &w,
        &s,
        "r3",
        &files_manifest(&id, 3, "app", "", ""),
        &[("opt/app/bin", 0o755, b"v3"), ("opt/app/new", 0o644, b"new")],
    );
    assert!(!r3.is_installed());
    assert_eq!(install(&s, &[&r3]).result_code, Orc::Succeeded);
    assert_eq!(read(&w.root, "opt/app/bin"), "v3");
    assert!(!w.root.join("opt/app/old").exists());
    assert_eq!(std::fs::metadata(w.root.join("opt/app/bin")).unwrap().permissions().mode() & 0o777, 0o755);
    assert!(s.find_update(&id).unwrap().unwrap().is_installed());
    // The older revision is not offered over the newer one.
    assert_eq!(install(&s, &[&r1]).update_results[0].hresult, HResult::WU_S_ALREADY_INSTALLED);
    assert_eq!(uninstall(&s, &[&r3]).result_code, Orc::Succeeded);
    assert!(!w.root.join("opt").exists(), "directories the update created are removed");
}

/// D-42: an unknown handler parses, then fails at install with WU_E_UH_UNKNOWNHANDLER.
#[test]
fn d42_unknown_handler() {
    let w = World::new().unwrap();
    let s = session(&w);
    let m = format!(
        "[update]\nid = \"{}\"\ntitle = \"future\"\n\n[handler]\nkind = \"flatpak\"\nref = \"org.example.App\"\n",
        test_id(1)
    );
    let u = import(&w, &s, "f", &m, &[("x", 0o644, b"x")]);
    let r = install(&s, &[&u]);
    assert_eq!((r.result_code, r.hresult), (Orc::Failed, HResult::WU_E_UH_UNKNOWNHANDLER));
    assert!(!w.root.join("x").exists());
}

/// D-17 and the root's own safety: targets that escape or clash fail before anything changes.
#[test]
fn d17_unsafe_targets_change_nothing() {
    let w = World::new().unwrap();
    let s = session(&w);
    let outside = w.work.join("outside");
    std::fs::create_dir_all(&outside).unwrap();
    std::os::unix::fs::symlink(&outside, w.root.join("abs-link")).unwrap();
    std::os::unix::fs::symlink("../work/outside", w.root.join("rel-link")).unwrap();
    std::fs::create_dir_all(w.root.join("usr/lib")).unwrap();
    std::os::unix::fs::symlink("usr/lib", w.root.join("lib")).unwrap();
    std::fs::create_dir_all(w.root.join("etc/a-dir")).unwrap();
    std::fs::write(w.root.join("etc/a-file"), "f").unwrap();
    // Links of the root that lead into wua's own directory: a content path that is not under
    // it by name may still land there, on it or under it, and is refused as unsafe.
    std::fs::create_dir_all(w.root.join("var/lib/wua")).unwrap();
    std::os::unix::fs::symlink("var/lib/wua", w.root.join("state")).unwrap();
    std::os::unix::fs::symlink("/var/lib", w.root.join("vl")).unwrap();
    let cases: &[(&str, HResult)] = &[
        ("state/x", HResult::WUA_E_PACKAGE_UNSAFE_PATH),
        ("vl/wua", HResult::WUA_E_PACKAGE_UNSAFE_PATH),
        ("rel-link/x", HResult::WUA_E_PATH_ESCAPES_ROOT),
        ("etc/a-dir", HResult::WUA_E_TARGET_TYPE_CONFLICT),
        ("etc/a-file/x", HResult::WUA_E_TARGET_TYPE_CONFLICT),
    ];
    let before = snapshot(&w.root, OWN).unwrap();
    for (n, (path, code)) in cases.iter().enumerate() {
        let u = simple(&w, &s, n as u32 + 1, &[("ok/first", 0o644, b"1"), (path, 0o644, b"x")]);
        let r = install(&s, &[&u]);
        assert_eq!((r.result_code, r.hresult), (Orc::Failed, *code), "{path}: {}", r.update_results[0].message);
        assert_eq!(snapshot(&w.root, OWN).unwrap(), before, "{path}");
        assert!(std::fs::read_dir(&outside).unwrap().next().is_none());
    }
    // D-45: an absolute link's target is a path inside the root, as on the running system: the
    // file lands there, and nothing is written where the target points on this machine.
    let u = simple(&w, &s, 12, &[("abs-link/x", 0o644, b"x")]);
    assert_eq!(install(&s, &[&u]).result_code, Orc::Succeeded);
    let inside = w.root.join(outside.strip_prefix("/").unwrap()).join("x");
    assert_eq!(std::fs::read(&inside).unwrap(), b"x");
    assert!(std::fs::read_dir(&outside).unwrap().next().is_none());
    // A link that stays inside the root is followed, and ownership is by the real path.
    let u = simple(&w, &s, 10, &[("lib/libx.so", 0o644, b"x")]);
    assert_eq!(install(&s, &[&u]).result_code, Orc::Succeeded);
    assert_eq!(read(&w.root, "usr/lib/libx.so"), "x");
    let v = simple(&w, &s, 11, &[("usr/lib/libx.so", 0o644, b"y")]);
    assert_eq!(install(&s, &[&v]).update_results[0].hresult, HResult::WUA_E_FILE_CONFLICT);
}

/// D-13 with a large blob, staged by a hard link from the cache: the installed file is the
/// verified inode; an in-place edit of it is caught at the next use, which drops the damaged
/// cache entry (a fresh import then installs again).
#[test]
fn d13_large_blobs_are_linked_and_still_verified() {
    use std::os::unix::fs::MetadataExt;
    let w = World::new().unwrap();
    let s = session(&w);
    let big: Vec<u8> = (0..(2 << 20)).map(|i: u32| (i % 251) as u8).collect();
    let u = simple(&w, &s, 1, &[("opt/big.bin", 0o640, &big), ("etc/small", 0o644, b"small")]);
    assert_eq!(install(&s, &[&u]).result_code, Orc::Succeeded);
    let installed = std::fs::metadata(w.root.join("opt/big.bin")).unwrap();
    assert_eq!(installed.nlink(), 2, "staged by a link from the cache");
    assert_eq!(installed.mode() & 0o7777, 0o640);
    assert_eq!(std::fs::metadata(w.root.join("etc/small")).unwrap().nlink(), 1, "small files are copied");
    assert_eq!(std::fs::read(w.root.join("opt/big.bin")).unwrap(), big);
    let cache = s.state_dir().join("cache");
    assert_eq!(std::fs::metadata(cache.join("sha256")).unwrap().mode() & 0o777, 0o700);
    // An in-place edit of the installed file (same size) reaches the shared inode.
    use std::os::unix::fs::FileExt;
    std::fs::OpenOptions::new().write(true).open(w.root.join("opt/big.bin")).unwrap().write_all_at(b"!", 1000).unwrap();
    let i = s.create_update_installer();
    i.set_updates(coll(&[&u]));
    i.set_is_forced(true);
    let r = i.install().unwrap();
    assert_eq!((r.result_code, r.hresult), (Orc::Failed, HResult::WU_E_DM_INCORRECTFILEHASH));
    let sha = &u.document().content.iter().find(|c| c.path == "opt/big.bin").unwrap().sha256;
    assert!(!cache.join("sha256").join(sha).exists(), "the damaged cache entry is dropped");
    let again = s.open_package(&w.work.join("u1.wuapkg")).unwrap();
    i.set_updates(coll(&[&again]));
    assert_eq!(i.install().unwrap().result_code, Orc::Succeeded);
    assert_eq!(std::fs::read(w.root.join("opt/big.bin")).unwrap(), big);
}
