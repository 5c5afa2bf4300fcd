//! The `files` handler driven directly, with a monitor that records what the handler reports:
//! what the job model's tests (wua-agent) and the crash tests (wua-cli) see only through a job.

use std::path::PathBuf;
use std::time::Duration;

use wua_store::Store;
use wua_types::{ContentEntry, HResult, Handler, OperationResultCode, Origin, ServerSelection, UpdateDocument};

use super::*;
use crate::{Unmonitored, bind_root, cache::ContentCache};

/// A state directory and a root, bound, with the install lock held.
struct Bench {
    _dir: tempfile::TempDir,
    root: PathBuf,
    state: PathBuf,
    store: Store,
    lock: InstallLock,
    root_id: String,
}

impl Bench {
    fn new() -> Self {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().join("root");
        let state = dir.path().join("state");
        std::fs::create_dir_all(&root).unwrap();
        std::fs::create_dir_all(&state).unwrap();
        let root = root.canonicalize().unwrap();
        let mut store = Store::open(&state).unwrap();
        let lock = InstallLock::acquire(&state, &root, Duration::from_secs(5)).unwrap();
        let root_id = bind_root(&mut store, &state, &root, &lock).unwrap();
        Bench { _dir: dir, root, state, store, lock, root_id }
    }

    /// A `files` update of revision 1 with `files` (path, bytes), its content in the cache.
    fn update(&self, n: u32, files: &[(&str, &[u8])]) -> UpdateDocument {
        let cache = ContentCache::new(&self.state);
        cache.ensure().unwrap();
        let content = files
            .iter()
            .map(|(path, bytes)| {
                let sha256 = wua_fs::sha256_hex(bytes);
                std::fs::write(cache.path(&sha256), bytes).unwrap();
                ContentEntry {
                    sha256,
                    size: bytes.len() as u64,
                    path: (*path).into(),
                    mode: 0o644,
                    uid: None,
                    gid: None,
                    link_target: None,
                }
            })
            .collect::<Vec<_>>();
        let json = serde_json::json!({
            "schema_version": 1,
            "update_id": format!("00000000-0000-4000-8000-{n:012x}"),
            "revision_number": 1,
            "title": format!("u{n}"),
            "handler": {"kind": "files"},
        });
        let mut doc = UpdateDocument::from_json(json.to_string().as_bytes()).unwrap();
        doc.content = content;
        assert!(matches!(doc.handler, Handler::Files));
        doc
    }

    fn install(&mut self, doc: &UpdateDocument, monitor: &mut dyn Monitor) -> UpdateInstallationResult {
        let target = target(&self.root, &self.root_id, &self.state);
        install(&target, &mut self.store, &self.lock, doc, monitor)
    }

    fn uninstall(&mut self, doc: &UpdateDocument) -> UpdateInstallationResult {
        let target = target(&self.root, &self.root_id, &self.state);
        uninstall(&target, &mut self.store, &self.lock, doc, &mut Unmonitored)
    }
}

/// The target the bench's root and state directory make, asked for by the tests.
fn target<'a>(root: &'a std::path::Path, root_id: &'a str, state_dir: &'a std::path::Path) -> Target<'a> {
    Target {
        root,
        root_id,
        state_dir,
        boot_id: "boot",
        origin: Origin {
            client_application_id: "files-tests",
            server_selection: ServerSelection::Others,
            service_id: "",
        },
    }
}

/// Records every progress report.
#[derive(Default)]
struct Recorder(Vec<u32>);

impl Monitor for Recorder {
    fn progress(&mut self, percent: u32) {
        self.0.push(percent);
    }

    fn abort_requested(&self) -> bool {
        false
    }
}

/// D-20: staging reports the share of files staged, up to 95 %, once per change; the rest is
/// the commit's. Every report is within 0..=100 and never goes down.
#[test]
fn d20_staging_reports_progress_by_files() {
    let mut bench = Bench::new();
    let doc = bench.update(1, &[("a", b"1"), ("b", b"2"), ("c", b"3"), ("d", b"4")]);
    let mut seen = Recorder::default();
    let r = bench.install(&doc, &mut seen);
    assert_eq!((r.result_code, r.hresult), (OperationResultCode::Succeeded, HResult::S_OK), "{}", r.message);
    assert_eq!(seen.0[..4], [23, 47, 71, 95], "{:?}", seen.0);
    assert!(seen.0.windows(2).all(|w| w[0] < w[1]) && seen.0.iter().all(|p| *p <= 100), "{:?}", seen.0);
    assert_eq!(std::fs::read(bench.root.join("d")).unwrap(), b"4");
}

/// The directories whose filesystems are synced before the intent and after the renames: the
/// backup area's, and that of each target's directory (D-17: durable before the commit).
#[test]
fn d17_sync_covers_the_backup_area_and_the_targets_filesystems() {
    use std::os::unix::fs::MetadataExt;
    let mut bench = Bench::new();
    let doc = bench.update(1, &[("etc/a", b"1")]);
    std::fs::create_dir_all(bench.root.join("etc")).unwrap();
    let target = target(&bench.root, &bench.root_id, &bench.state);
    let root = bench.root.clone();
    let op = Operation::new(&target, &mut bench.store, &doc, "0b6f3c2e-5f1a-4c7e-9d3b-2a1e8f4c6d01".into());
    let set = op.sync_for(&["etc/a", "missing/b"]).unwrap();
    let dev = std::fs::metadata(root.join("etc")).unwrap().dev();
    assert_eq!(set.devices(), [dev], "{set:?}");
}

/// D-17: rolling forward after a crash between moving a file aside and renaming the staged one
/// into place never moves a file that appeared at the path since over the moved original: the
/// original stays the backup, and an uninstall gives it back.
#[test]
fn d17_roll_forward_keeps_the_moved_original() {
    let mut bench = Bench::new();
    std::fs::create_dir_all(bench.root.join("etc")).unwrap();
    std::fs::write(bench.root.join("etc/a"), "original").unwrap();
    let doc = bench.update(1, &[("etc/a", b"new")]);
    let target = target(&bench.root, &bench.root_id, &bench.state);
    let root = bench.root.clone();
    let mut op = Operation::new(&target, &mut bench.store, &doc, "0b6f3c2e-5f1a-4c7e-9d3b-2a1e8f4c6d01".into());
    let plan = op.plan_install().unwrap();
    op.begin(UpdateOperation::Installation, JournalPhase::Staging, &plan).unwrap();
    assert!(matches!(op.stage(&plan, &mut Unmonitored).unwrap(), Staged::Done));
    op.set_phase(JournalPhase::Intent).unwrap();
    // The crash: the original was moved aside; then something wrote the path again.
    let moved = plan.entries[0].moved.clone().expect("an existing file is moved aside");
    std::fs::rename(root.join("etc/a"), under(&root, &moved)).unwrap();
    std::fs::write(root.join("etc/a"), "written since").unwrap();
    let r = op.roll_forward_install(&plan, true).unwrap();
    assert_eq!(r.result_code, OperationResultCode::Succeeded, "{}", r.message);
    assert_eq!(std::fs::read_to_string(root.join("etc/a")).unwrap(), "new");
    let r = bench.uninstall(&doc);
    assert_eq!(r.result_code, OperationResultCode::Succeeded, "{}", r.message);
    assert_eq!(std::fs::read_to_string(root.join("etc/a")).unwrap(), "original");
}

/// Every file of the root but wua's own directory, with its content.
fn snapshot(root: &std::path::Path) -> std::collections::BTreeMap<String, Vec<u8>> {
    fn walk(root: &std::path::Path, dir: &std::path::Path, out: &mut std::collections::BTreeMap<String, Vec<u8>>) {
        for entry in std::fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            let rel = path.strip_prefix(root).unwrap().to_str().unwrap().to_owned();
            if rel == ADMIN_DIR {
                continue;
            }
            if path.is_dir() {
                walk(root, &path, out);
            } else {
                out.insert(rel, std::fs::read(&path).unwrap());
            }
        }
    }
    let mut out = std::collections::BTreeMap::new();
    walk(root, root, &mut out);
    out
}

/// When the renames after the intent fail, they are undone before the rollback: every file
/// placed goes back to its staged name, every file moved aside or removed comes back, and the
/// rollback leaves the root as it was (a revision that replaces, adds and drops files, over a
/// file that was there before the first revision).
#[test]
fn d17_renames_undone_after_the_intent_leave_the_root_as_it_was() {
    let mut bench = Bench::new();
    std::fs::create_dir_all(bench.root.join("etc")).unwrap();
    std::fs::write(bench.root.join("etc/gone"), "before wua").unwrap();
    std::fs::write(bench.root.join("etc/b"), "b0").unwrap();
    let rev1 = bench.update(1, &[("etc/a", b"a1"), ("etc/gone", b"g1")]);
    let r = bench.install(&rev1, &mut Unmonitored);
    assert_eq!(r.result_code, OperationResultCode::Succeeded, "{}", r.message);
    let mut rev2 = bench.update(1, &[("etc/a", b"a2"), ("etc/b", b"b2"), ("etc/new", b"n2")]);
    rev2.revision_number = 2;
    let before = snapshot(&bench.root);

    let target = target(&bench.root, &bench.root_id, &bench.state);
    let root = bench.root.clone();
    let mut op = Operation::new(&target, &mut bench.store, &rev2, "0b6f3c2e-5f1a-4c7e-9d3b-2a1e8f4c6d02".into());
    let plan = op.plan_install().unwrap();
    assert_eq!(plan.removals.len(), 1, "etc/gone is dropped: {plan:?}");
    assert!(plan.removals[0].restore.is_some(), "and what was there before comes back");
    op.begin(UpdateOperation::Installation, JournalPhase::Staging, &plan).unwrap();
    assert!(matches!(op.stage(&plan, &mut Unmonitored).unwrap(), Staged::Done));
    op.set_phase(JournalPhase::Intent).unwrap();
    // The renames of a roll-forward, but one that failed at etc/b; then the undo.
    for e in plan.entries.iter().filter(|e| e.path != "etc/b") {
        if let Some(moved) = &e.moved {
            fsops::rename_if_present(&under(&root, &e.path), &under(&root, moved)).unwrap();
        }
        fsops::rename_if_present(&under(&root, &e.staged), &under(&root, &e.path)).unwrap();
    }
    apply_removals(&root, &plan.removals, &mut Vec::new()).unwrap();
    assert_eq!(std::fs::read(root.join("etc/gone")).unwrap(), b"before wua");
    assert_eq!(std::fs::read(root.join("etc/new")).unwrap(), b"n2");
    op.undo_renames(&plan).unwrap();
    for e in &plan.entries {
        assert!(under(&root, &e.staged).exists(), "{} is staged again", e.path);
    }
    let r = op.roll_back(&plan, UpdateInstallationResult::failed(HResult::WU_E_INSTALL_NOT_ALLOWED, "test"));
    assert_eq!(r.result_code, OperationResultCode::Failed);
    assert_eq!(snapshot(&root), before);
    // The backups are where they were: uninstalling the first revision gives back what was
    // there before it.
    let r = bench.uninstall(&rev1);
    assert_eq!(r.result_code, OperationResultCode::Succeeded, "{}", r.message);
    assert_eq!(std::fs::read(bench.root.join("etc/gone")).unwrap(), b"before wua");
    assert_eq!(std::fs::read(bench.root.join("etc/b")).unwrap(), b"b0");
    assert!(!bench.root.join("etc/a").exists());
}

/// A rollback that cannot remove what it staged says so in the update's result, and keeps
/// the journal record so the next operation's recovery retries it.
#[test]
fn d17_an_incomplete_rollback_is_reported_and_stays_journaled() {
    let mut bench = Bench::new();
    let doc = bench.update(1, &[("etc/a", b"a")]);
    let target = target(&bench.root, &bench.root_id, &bench.state);
    let root = bench.root.clone();
    let mut op = Operation::new(&target, &mut bench.store, &doc, "0b6f3c2e-5f1a-4c7e-9d3b-2a1e8f4c6d03".into());
    let plan = op.plan_install().unwrap();
    op.begin(UpdateOperation::Installation, JournalPhase::Staging, &plan).unwrap();
    assert!(matches!(op.stage(&plan, &mut Unmonitored).unwrap(), Staged::Done));
    // Something took the staged name: a directory that is not empty cannot be removed as a file.
    let staged = under(&root, &plan.entries[0].staged);
    std::fs::remove_file(&staged).unwrap();
    std::fs::create_dir_all(staged.join("inside")).unwrap();
    let r = op.roll_back(&plan, UpdateInstallationResult::failed(HResult::WU_E_DM_INCORRECTFILEHASH, "bad content"));
    assert_eq!((r.result_code, r.hresult), (OperationResultCode::Failed, HResult::WU_E_DM_INCORRECTFILEHASH));
    assert!(r.message.starts_with("bad content (rollback incomplete: "), "{}", r.message);
    assert_eq!(bench.store.read().unwrap().journal().unwrap().len(), 1, "recovery retries it");
}

/// A revision that drops a file whose directory an administrator already removed: nothing is
/// left to move, and the install succeeds.
#[test]
fn a_dropped_file_whose_directory_is_gone() {
    let mut bench = Bench::new();
    let rev1 = bench.update(1, &[("opt/tool/x", b"x"), ("etc/keep", b"k")]);
    assert_eq!(bench.install(&rev1, &mut Unmonitored).result_code, OperationResultCode::Succeeded);
    std::fs::remove_dir_all(bench.root.join("opt")).unwrap();
    let mut rev2 = bench.update(1, &[("etc/keep", b"k2")]);
    rev2.revision_number = 2;
    let r = bench.install(&rev2, &mut Unmonitored);
    assert_eq!(r.result_code, OperationResultCode::Succeeded, "{}", r.message);
    assert_eq!(std::fs::read(bench.root.join("etc/keep")).unwrap(), b"k2");
    assert!(!bench.root.join("opt").exists());
}

/// An uninstall that gives back a file the install had replaced leaves no operation area
/// behind: the backup area is empty again.
#[test]
fn an_uninstall_removes_the_emptied_backup_areas() {
    let mut bench = Bench::new();
    std::fs::create_dir_all(bench.root.join("etc")).unwrap();
    std::fs::write(bench.root.join("etc/a"), "before").unwrap();
    let doc = bench.update(1, &[("etc/a", b"new")]);
    assert_eq!(bench.install(&doc, &mut Unmonitored).result_code, OperationResultCode::Succeeded);
    let backups = bench.root.join(ADMIN_DIR).join("backup");
    assert_eq!(std::fs::read_dir(&backups).unwrap().count(), 1, "the replaced file is kept");
    let r = bench.uninstall(&doc);
    assert_eq!(r.result_code, OperationResultCode::Succeeded, "{}", r.message);
    assert_eq!(std::fs::read(bench.root.join("etc/a")).unwrap(), b"before");
    let left: Vec<_> = std::fs::read_dir(&backups).map(|d| d.map(|e| e.unwrap().path()).collect()).unwrap_or_default();
    assert!(left.is_empty(), "{left:?}");
}

/// D-13: a blob of 1 MiB (`LINK_MIN_SIZE`) or more is staged by a hard link from the cache, a
/// smaller one is copied; a cache entry that is not a regular file (here a link to a file
/// with the right bytes) is refused, and the root does not change.
#[test]
fn d13_how_blobs_are_staged_from_the_cache() {
    use std::os::unix::fs::MetadataExt;
    let mut bench = Bench::new();
    let size = 1 << 20; // 1 MiB, LINK_MIN_SIZE: linking pays off from there (copies stay cheap below)
    let big: Vec<u8> = (0..size).map(|i| (i % 251) as u8).collect();
    let smaller = &big[..size - 1];
    let doc = bench.update(1, &[("big", &big), ("smaller", smaller)]);
    assert_eq!(bench.install(&doc, &mut Unmonitored).result_code, OperationResultCode::Succeeded);
    assert_eq!(std::fs::metadata(bench.root.join("big")).unwrap().nlink(), 2, "linked");
    assert_eq!(std::fs::metadata(bench.root.join("smaller")).unwrap().nlink(), 1, "copied");
    // A linked blob is verified too: one whose bytes changed in the cache (same size) is
    // refused and dropped from the cache.
    let other_big: Vec<u8> = big.iter().map(|b| b.wrapping_add(1)).collect();
    let damaged = bench.update(3, &[("other-big", &other_big)]);
    let cached_big = ContentCache::new(&bench.state).path(&damaged.content[0].sha256);
    std::os::unix::fs::FileExt::write_all_at(
        &std::fs::OpenOptions::new().write(true).open(&cached_big).unwrap(),
        b"!",
        1000,
    )
    .unwrap();
    refused_content(&mut bench, &damaged, "");
    assert!(!cached_big.exists());

    let doc = bench.update(2, &[("other", b"other bytes")]);
    let cached = ContentCache::new(&bench.state).path(&doc.content[0].sha256);
    let elsewhere = bench.state.join("elsewhere");
    std::fs::rename(&cached, &elsewhere).unwrap();
    std::os::unix::fs::symlink(&elsewhere, &cached).unwrap();
    refused_content(&mut bench, &doc, "is not a regular file");

    // A cached blob longer or shorter than listed is refused, saying which.
    for (bytes, says) in
        [(&b"other bytes!"[..], "is longer than the 11 bytes listed"), (b"other", "has 5 bytes, 11 listed")]
    {
        // (A refused entry is dropped from the cache.)
        wua_fs::remove_file_if_present(&cached).unwrap();
        std::fs::write(&cached, bytes).unwrap();
        refused_content(&mut bench, &doc, says);
    }
    std::fs::write(&cached, b"x").unwrap();
    // A blob gone from the cache is a content failure; a cache that cannot be read is an I/O
    // failure. Neither changes the root.
    std::fs::remove_file(&cached).unwrap();
    refused_content(&mut bench, &doc, "is missing from the cache");
    let blobs = cached.parent().unwrap();
    std::fs::remove_dir_all(blobs).unwrap();
    std::fs::write(blobs, "not a directory").unwrap();
    let r = bench.install(&doc, &mut Unmonitored);
    assert_eq!((r.result_code, r.hresult), (OperationResultCode::Failed, HResult::WUA_E_INSTALL_IO), "{}", r.message);
    assert!(!bench.root.join("other").exists());
}

/// Installs `doc`, which fails as content that does not match (`says` in the message); the
/// root gets none of it.
fn refused_content(bench: &mut Bench, doc: &UpdateDocument, says: &str) {
    let r = bench.install(doc, &mut Unmonitored);
    let outcome = (r.result_code, r.hresult);
    assert_eq!(outcome, (OperationResultCode::Failed, HResult::WU_E_DM_INCORRECTFILEHASH), "{}", r.message);
    assert!(r.message.contains(says), "{}", r.message);
    for c in &doc.content {
        assert!(!bench.root.join(&c.path).exists(), "{}", c.path);
    }
}

/// A file's owner as the document gives it: a uid alone changes the owner and keeps the group.
#[test]
fn an_owner_given_by_uid_alone() {
    use std::os::unix::fs::MetadataExt;
    let mut bench = Bench::new();
    let mut doc = bench.update(1, &[("owned", b"x")]);
    doc.content[0].uid = Some(4242);
    let r = bench.install(&doc, &mut Unmonitored);
    assert_eq!(r.result_code, OperationResultCode::Succeeded, "{}", r.message);
    let m = std::fs::metadata(bench.root.join("owned")).unwrap();
    assert_eq!((m.uid(), m.gid()), (4242, own_gid()));

    // A symbolic link too: the link itself changes owner, its group stays.
    let mut doc = bench.update(2, &[("link", b"owned")]);
    doc.schema_version = wua_types::SCHEMA_VERSION_LINKS;
    doc.content[0].link_target = Some("owned".into());
    doc.content[0].uid = Some(4343);
    let r = bench.install(&doc, &mut Unmonitored);
    assert_eq!(r.result_code, OperationResultCode::Succeeded, "{}", r.message);
    let m = std::fs::symlink_metadata(bench.root.join("link")).unwrap();
    assert!(m.file_type().is_symlink());
    assert_eq!((m.uid(), m.gid()), (4343, own_gid()));
}

/// The group new files get here (the tests' own).
fn own_gid() -> u32 {
    use std::os::unix::fs::MetadataExt;
    tempfile::tempfile().unwrap().metadata().unwrap().gid()
}

/// D-39 at uninstall: a file an administrator deleted, replaced by a directory or edited is
/// not the update's any more; the uninstall succeeds and leaves each as it is.
#[test]
fn d39_an_uninstall_after_the_files_changed() {
    let mut bench = Bench::new();
    let doc = bench.update(1, &[("deleted", b"1"), ("now-a-dir", b"2"), ("edited", b"3"), ("kept", b"4")]);
    assert_eq!(bench.install(&doc, &mut Unmonitored).result_code, OperationResultCode::Succeeded);
    std::fs::remove_file(bench.root.join("deleted")).unwrap();
    std::fs::remove_file(bench.root.join("now-a-dir")).unwrap();
    std::fs::create_dir(bench.root.join("now-a-dir")).unwrap();
    std::fs::write(bench.root.join("edited"), "edited").unwrap();
    let r = bench.uninstall(&doc);
    assert_eq!(r.result_code, OperationResultCode::Succeeded, "{}", r.message);
    assert!(!bench.root.join("deleted").exists() && !bench.root.join("kept").exists());
    assert!(bench.root.join("now-a-dir").is_dir());
    assert_eq!(std::fs::read(bench.root.join("edited")).unwrap(), b"edited");
}

/// Recovery's history entry names who asked for the interrupted operation and where its
/// update came from, not the process that recovers it.
#[test]
fn d17_recovery_records_the_interrupted_operation_s_origin() {
    let mut bench = Bench::new();
    let doc = bench.update(1, &[("etc/a", b"a")]);
    let asked = Target {
        origin: Origin {
            client_application_id: "the-interrupted-caller",
            server_selection: ServerSelection::Others,
            service_id: "the-update-s-service",
        },
        ..target(&bench.root, &bench.root_id, &bench.state)
    };
    let mut op = Operation::new(&asked, &mut bench.store, &doc, "0b6f3c2e-5f1a-4c7e-9d3b-2a1e8f4c6d04".into());
    let plan = op.plan_install().unwrap();
    op.begin(UpdateOperation::Installation, JournalPhase::Staging, &plan).unwrap();
    drop(op); // the process dies here
    let recovering = target(&bench.root, &bench.root_id, &bench.state);
    let recovered = crate::recover(&recovering, &mut bench.store, &bench.lock).unwrap();
    assert_eq!(recovered.len(), 1);
    let entry = bench.store.read().unwrap().history(0, 1).unwrap().remove(0);
    assert!(entry.recovered);
    assert_eq!(
        (entry.client_application_id.as_str(), entry.service_id.as_str()),
        ("the-interrupted-caller", "the-update-s-service")
    );
}
