//! The `files` handler driven directly, with a monitor that records what the handler reports:
//! what the job model's tests (wua-agent) and the crash tests (wua-cli) see only through a job.

use std::path::PathBuf;
use std::time::Duration;

use wua_store::Store;
use wua_types::{ContentEntry, HResult, Handler, OperationResultCode, Origin, ServerSelection, UpdateDocument};

use super::*;
use crate::{bind_root, cache::ContentCache};

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
        let target = Target {
            root: &self.root,
            root_id: &self.root_id,
            state_dir: &self.state,
            boot_id: "boot",
            origin: Origin {
                client_application_id: "files-tests",
                server_selection: ServerSelection::Others,
                service_id: "",
            },
        };
        install(&target, &mut self.store, &self.lock, doc, monitor)
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
