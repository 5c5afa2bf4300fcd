//! The machinery of wua-trust's attack tests: a signed repository created at test time with
//! test keys (so nothing expires), served over HTTP by the real static handler, and an agent
//! that starts from the root it was installed with (the repository's `1.root.json`) and
//! refreshes the way a deployed agent does.
//!
//! - [`Fixture`]: a repository, an agent's state directory and scratch space; [`installed`]
//!   publishes one update, serves the repository ([`serve`]) and has the agent refresh once
//!   from its install-time root; [`rotate_online`] rotates an online role's key and has the
//!   agent follow.
//! - Hostile repositories: [`resign_file`] and [`resign_file_with`] re-sign a metadata file
//!   with the keys an attacker holds after editing it; [`bump_version`]; [`stranger_key`];
//!   [`newest`] finds the file to replay; [`served_versions`] reads what is served; [`served_pack`] and [`pack_target`] name the pack a
//!   swap or an endless-data attack rewrites.
//! - Refusals: [`assert_refused_installed`] (and [`assert_refused_from`], [`assert_refused`])
//!   assert the exact refusal, its HResult, and that the agent's state directory is byte for
//!   byte unchanged ([`tree`]).
//! - The reference client: [`PyTuf`] drives python-tuf's `ngclient.Updater`
//!   (`interop/tuf_client.py`, from the venv named by `WUA_TUF_PYTHON`) with a metadata
//!   directory that persists between refreshes, so it holds the same state as wua's agent;
//!   [`python_tuf_accepts`] is the one-shot form.

use std::collections::BTreeMap;
use std::ffi::{OsStr, OsString};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use tough::{DefaultTransport, IntoVec, Transport};
use wua_trust::repo::{self, InitOptions};
use wua_trust::root::{self, Rotation};
use wua_trust::verify::{self, Refreshed, Source};
use wua_trust::{Refusal, TrustError};

use crate::{files_manifest, test_id, write_payload};

/// A repository directory and a state directory for an agent.
#[derive(Debug)]
pub struct Fixture {
    /// Keeps the directory alive.
    pub _dir: tempfile::TempDir,
    /// The repository (`wua repo init`'s directory; `repository/` inside is what is served).
    pub repo: PathBuf,
    /// The agent's state directory.
    pub state: PathBuf,
    /// Scratch space: payloads, manifests, offline keys, python-tuf's directories.
    pub work: PathBuf,
}

impl Fixture {
    /// A new repository initialised with `options`, and empty state and work directories.
    pub async fn new(options: InitOptions) -> Fixture {
        let dir = tempfile::tempdir().unwrap();
        let repo = dir.path().join("repo");
        let state = dir.path().join("state");
        let work = dir.path().join("work");
        std::fs::create_dir_all(&state).unwrap();
        std::fs::create_dir_all(&work).unwrap();
        repo::init(&repo, &options).await.unwrap();
        Fixture { _dir: dir, repo, state, work }
    }

    /// Publishes update `test_id(n)` at `revision` with one file whose content is `text`.
    pub async fn publish(&self, n: u32, revision: i32, text: &str) -> wua_types::UpdateDocument {
        let base = self.work.join(format!("u{n}-r{revision}"));
        let payload = base.join("payload");
        write_payload(&payload, &[(&format!("opt/u{n}/file"), 0o644, text.as_bytes())]).unwrap();
        let manifest = base.join("manifest.toml");
        std::fs::write(&manifest, files_manifest(&test_id(n), revision, &format!("update {n}"), "", "")).unwrap();
        repo::publish(&self.repo, &manifest, &payload).await.unwrap()
    }

    /// The repository's current root (`root.json`): what a fresh agent installed today gets.
    pub fn trusted_root(&self) -> Vec<u8> {
        std::fs::read(self.repo.join("root.json")).unwrap()
    }

    /// Where the root an agent is installed with lies: the repository's first root.
    pub fn installed_root_path(&self) -> PathBuf {
        self.repo.join("repository/metadata/1.root.json")
    }

    /// The root an agent is installed with: the repository's first (`1.root.json`), never
    /// replaced by a newer one afterwards.
    pub fn installed_root(&self) -> Vec<u8> {
        std::fs::read(self.installed_root_path()).unwrap()
    }

    /// A refresh of an agent given the repository's current root.
    pub async fn refresh(&self, source: &Source) -> Result<Refreshed, TrustError> {
        verify::refresh(&self.trusted_root(), &self.state, source).await
    }

    /// A refresh of an agent given only its install-time root ([`Fixture::installed_root`]).
    pub async fn refresh_installed(&self, source: &Source) -> Result<Refreshed, TrustError> {
        verify::refresh(&self.installed_root(), &self.state, source).await
    }
}

/// Serves `dir` on 127.0.0.1 from the current runtime with the static handler; returns the
/// base URL.
pub async fn serve(dir: &Path) -> Source {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr: SocketAddr = listener.local_addr().unwrap();
    tokio::spawn(wua_trust::serve(listener, dir.to_path_buf()));
    Source::parse(&format!("http://{addr}/")).unwrap()
}

/// GETs a URL with the same HTTP client the verifier uses.
pub async fn get(url: url::Url) -> Vec<u8> {
    DefaultTransport::default().fetch(url).await.unwrap().into_vec().await.unwrap()
}

/// Every file under `dir` with its bytes, for "byte-for-byte unchanged" checks (symbolic links
/// are followed).
pub fn tree(dir: &Path) -> BTreeMap<PathBuf, Vec<u8>> {
    let mut out = BTreeMap::new();
    if !dir.exists() {
        return out;
    }
    for entry in walk(dir) {
        out.insert(entry.strip_prefix(dir).unwrap().to_path_buf(), std::fs::read(&entry).unwrap());
    }
    out
}

fn walk(dir: &Path) -> Vec<PathBuf> {
    let mut files = Vec::new();
    for e in std::fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        if p.is_dir() {
            files.extend(walk(&p));
        } else {
            files.push(p);
        }
    }
    files
}

/// Re-signs the metadata file `path` (a TUF `{"signed", "signatures"}` document) with the key
/// at `key` alone, after `edit` changed its signed part: what an attacker holding that key
/// could serve.
pub async fn resign_file(path: &Path, key: &Path, edit: impl FnOnce(&mut serde_json::Value)) {
    resign_file_with(path, &[key], edit).await;
}

/// [`resign_file`] with each of `keys` (an attacker holding several, or a revoked one among
/// them).
pub async fn resign_file_with(path: &Path, keys: &[&Path], edit: impl FnOnce(&mut serde_json::Value)) {
    use tough::sign::{Sign, parse_keypair};
    let mut doc: serde_json::Value = serde_json::from_slice(&std::fs::read(path).unwrap()).unwrap();
    edit(&mut doc["signed"]);
    let mut message = Vec::new();
    let mut ser = serde_json::Serializer::with_formatter(&mut message, olpc_cjson::CanonicalFormatter::new());
    serde::Serialize::serialize(&doc["signed"], &mut ser).unwrap();
    let mut signatures = Vec::new();
    for key in keys {
        let pair = parse_keypair(&std::fs::read(key).unwrap()).unwrap();
        let keyid = hex::encode(&*pair.tuf_key().key_id().unwrap());
        let sig = pair.sign(&message, &aws_lc_rs::rand::SystemRandom::new()).await.unwrap();
        signatures.push(serde_json::json!({ "keyid": keyid, "sig": hex::encode(sig) }));
    }
    doc["signatures"] = serde_json::Value::Array(signatures);
    std::fs::write(path, serde_json::to_vec(&doc).unwrap()).unwrap();
}

/// Bumps the `version` of a signed part.
pub fn bump_version(signed: &mut serde_json::Value) {
    let v = signed["version"].as_u64().unwrap();
    signed["version"] = serde_json::json!(v + 1);
}

/// A fresh ed25519 key no role lists.
pub fn stranger_key(dir: &Path) -> PathBuf {
    let path = dir.join(format!("stranger-{}.pk8", std::process::id()));
    let _ = std::fs::remove_file(&path);
    wua_trust::keys::generate(&path).unwrap();
    path
}

/// The newest `N.<role>.json` in a metadata directory.
pub fn newest(metadata: &Path, role: &str) -> (u64, PathBuf) {
    std::fs::read_dir(metadata)
        .unwrap()
        .filter_map(|e| {
            let name = e.ok()?.file_name().into_string().ok()?;
            let (n, rest) = name.split_once('.')?;
            (rest == format!("{role}.json")).then(|| (n.parse::<u64>().ok(), metadata.join(&name)))
        })
        .filter_map(|(n, p)| Some((n?, p)))
        .max()
        .unwrap()
}

/// The versions a repository serves now, read from `timestamp.json` down.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ServedVersions {
    /// `timestamp.json`.
    pub timestamp: u64,
    /// The snapshot the timestamp names.
    pub snapshot: u64,
    /// The targets the snapshot names.
    pub targets: u64,
    /// The approvals the snapshot names.
    pub approvals: u64,
}

/// [`ServedVersions`] of the repository in `repo`, checking that each versioned file named is
/// there.
pub fn served_versions(repo: &Path) -> ServedVersions {
    let md = repo.join("repository/metadata");
    let read = |name: &str| -> serde_json::Value {
        serde_json::from_slice(&std::fs::read(md.join(name)).unwrap_or_else(|e| panic!("{name}: {e}"))).unwrap()
    };
    let timestamp = read("timestamp.json");
    let snapshot_v = timestamp["signed"]["meta"]["snapshot.json"]["version"].as_u64().unwrap();
    let snapshot = read(&format!("{snapshot_v}.snapshot.json"));
    let meta = &snapshot["signed"]["meta"];
    let (targets, approvals) =
        (meta["targets.json"]["version"].as_u64().unwrap(), meta["approvals.json"]["version"].as_u64().unwrap());
    assert_eq!(read(&format!("{targets}.targets.json"))["signed"]["version"], targets);
    assert_eq!(read(&format!("{approvals}.approvals.json"))["signed"]["version"], approvals);
    ServedVersions {
        timestamp: timestamp["signed"]["version"].as_u64().unwrap(),
        snapshot: snapshot_v,
        targets,
        approvals,
    }
}

/// The target name of the newest pack (`pack-NNNNNN.jsonl`).
pub fn pack_target(f: &Fixture) -> String {
    std::fs::read_dir(f.repo.join("catalog"))
        .unwrap()
        .filter_map(|e| e.ok()?.file_name().into_string().ok())
        .filter(|n| n.starts_with("pack-"))
        .max()
        .unwrap()
}

/// The hash-named copy of the newest pack that is served.
pub fn served_pack(f: &Fixture) -> PathBuf {
    let newest = pack_target(f);
    let working = std::fs::read(f.repo.join("catalog").join(&newest)).unwrap();
    let sha = wua_fs::sha256_hex(&working);
    f.repo.join("repository/targets").join(format!("{sha}.{newest}"))
}

/// The trusted state and local files of an agent, byte for byte.
pub fn state_of(f: &Fixture) -> BTreeMap<PathBuf, Vec<u8>> {
    tree(&f.state)
}

/// Asserts a refresh from the repository's current root is refused with `refusal` (and its
/// code) and changes nothing locally.
pub async fn assert_refused(f: &Fixture, source: &Source, refusal: Refusal) {
    assert_refused_from(f, &f.trusted_root(), source, refusal).await;
}

/// [`assert_refused`] for an agent given only its install-time root: the deployed agent.
pub async fn assert_refused_installed(f: &Fixture, source: &Source, refusal: Refusal) {
    assert_refused_from(f, &f.installed_root(), source, refusal).await;
}

/// [`assert_refused`] for an agent that trusts `root` (its install-time root, say).
pub async fn assert_refused_from(f: &Fixture, root: &[u8], source: &Source, refusal: Refusal) {
    let before = state_of(f);
    let e = verify::refresh(root, &f.state, source).await.expect_err("the refresh must be refused");
    match &e {
        TrustError::Refused { refusal: got, .. } => assert_eq!(*got, refusal, "{e}"),
        other => panic!("expected a refusal ({refusal:?}), got {other}"),
    }
    assert_eq!(e.hresult(), TrustError::Refused { refusal, detail: String::new() }.hresult());
    assert_eq!(state_of(f), before, "the trusted state and local files are unchanged");
}

/// A repository with one published update, served over HTTP, and an agent that refreshed from
/// it once from the repository's current root.
pub async fn trusted(options: InitOptions) -> (Fixture, Source) {
    let f = Fixture::new(options).await;
    f.publish(1, 1, "one").await;
    let source = serve(&f.repo.join("repository")).await;
    f.refresh(&source).await.unwrap();
    (f, source)
}

/// A repository with one published update, served over HTTP, and an agent given only its
/// install-time root that refreshed from it once: the state a deployed agent has.
pub async fn installed(options: InitOptions) -> (Fixture, Source) {
    let f = Fixture::new(options).await;
    f.publish(1, 1, "one").await;
    let source = serve(&f.repo.join("repository")).await;
    f.refresh_installed(&source).await.unwrap();
    (f, source)
}

/// Rotates the key of the online `role` (`timestamp`, `snapshot`, `targets` or `approvals`;
/// the root keys are all here, so the new root is installed at once), and has the agent on
/// its install-time root follow the rotation. Returns what that refresh saw.
pub async fn rotate_online(f: &Fixture, source: &Source, role: &str) -> Refreshed {
    assert_eq!(root::rotate_key(&f.repo, role).await.unwrap(), Rotation::Installed, "{role}");
    f.refresh_installed(source).await.unwrap_or_else(|e| panic!("the agent follows the rotation of {role}: {e}"))
}

/// [`installed`], then the rotation of the online `role`'s key followed by the agent, with
/// python-tuf (when present) accepting the repository before and after the rotation: the
/// state a deployed agent has when an attack begins. Returns the python-tuf client for the
/// attack's own check.
pub async fn installed_then_rotated(role: &str) -> (Fixture, Source, Option<PyTuf>) {
    let (f, source) = installed(InitOptions::default()).await;
    let py = PyTuf::installed(&f);
    if let Some(py) = &py {
        py.accepts(&source, &[]).await;
    }
    rotate_online(&f, &source, role).await;
    if let Some(py) = &py {
        py.accepts(&source, &["pack-000001.jsonl"]).await;
    }
    (f, source, py)
}

/// The reference client (python-tuf, from the venv `scripts/test` provides as `WUA_TUF_PYTHON`),
/// or `None` outside CI when it is not set up (the test is then skipped, and says so).
#[allow(clippy::print_stderr)]
pub fn tuf_python() -> Option<OsString> {
    let python = std::env::var_os("WUA_TUF_PYTHON");
    if python.is_none() {
        assert!(std::env::var_os("CI").is_none(), "CI must provide WUA_TUF_PYTHON (scripts/test does)");
        eprintln!("skipped: WUA_TUF_PYTHON is not set (bash scripts/test sets it)");
    }
    python
}

/// python-tuf's client script: refreshes, then downloads the targets it is given.
const TUF_CLIENT: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/interop/tuf_client.py");

/// How long one run of python-tuf's client may take: a few seconds on a loaded machine, so a
/// generous bound catches only a hang.
const PY_TUF_LIMIT: std::time::Duration = std::time::Duration::from_secs(120);

/// Runs python-tuf's client once with its metadata in `metadata` and its targets in `targets`;
/// returns whether it succeeded, the number of targets it downloaded, and its output.
async fn run_python_tuf(
    python: &OsStr,
    metadata: &Path,
    target_dir: &Path,
    source: &Source,
    root: &Path,
    targets: &[&str],
) -> (bool, usize, String) {
    let mut command = std::process::Command::new(python);
    command.arg(TUF_CLIENT).arg(metadata).arg(source.base.as_str()).arg(root).arg(target_dir).args(targets);
    // The server runs on this runtime: wait for the client on a blocking thread, for a bounded
    // time (a client that hangs on a server that never answers is killed and named).
    let out = tokio::task::spawn_blocking(move || crate::bounded::output_within(&mut command, PY_TUF_LIMIT))
        .await
        .unwrap()
        .unwrap();
    let text = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    let ok = text.lines().filter(|l| l.starts_with("OK ")).count();
    (out.status.success(), ok, text)
}

/// Runs python-tuf's client (`interop/tuf_client.py`) against the served tree at `source`,
/// starting from `trusted_root`, downloading `targets` into `work/py-targets`; asserts it
/// succeeded and downloaded each target. Returns where the targets are.
pub async fn python_tuf_accepts(
    python: &OsStr,
    work: &Path,
    source: &Source,
    trusted_root: &Path,
    targets: &[&str],
) -> PathBuf {
    let (md, td) = (work.join("py-metadata"), work.join("py-targets"));
    let (success, ok, text) = run_python_tuf(python, &md, &td, source, trusted_root, targets).await;
    assert!(success, "python-tuf failed:\n{text}");
    assert_eq!(ok, targets.len(), "{text}");
    td
}

/// python-tuf's `ngclient.Updater` as a second agent beside wua's: bootstrapped from the same
/// install-time root on every refresh, with a metadata directory that persists between
/// refreshes (as a deployed python-tuf client keeps it).
#[derive(Debug)]
pub struct PyTuf {
    python: OsString,
    root: PathBuf,
    metadata: PathBuf,
    targets: PathBuf,
}

impl PyTuf {
    /// The reference client for `f`'s agent, or `None` when `WUA_TUF_PYTHON` is not set up
    /// outside CI ([`tuf_python`]).
    pub fn installed(f: &Fixture) -> Option<PyTuf> {
        Some(PyTuf {
            python: tuf_python()?,
            root: f.installed_root_path(),
            metadata: f.work.join("py-agent-metadata"),
            targets: f.work.join("py-agent-targets"),
        })
    }

    /// Asserts python-tuf refreshes from `source` and downloads each of `targets`.
    pub async fn accepts(&self, source: &Source, targets: &[&str]) {
        let (success, ok, text) =
            run_python_tuf(&self.python, &self.metadata, &self.targets, source, &self.root, targets).await;
        assert!(success && ok == targets.len(), "python-tuf refused what wua accepts:\n{text}");
    }

    /// Asserts python-tuf refuses to refresh from `source` or to download one of `targets`,
    /// with an error whose output names `error` (a python-tuf exception class, say
    /// `BadVersionNumberError`). Returns its output.
    pub async fn refuses(&self, source: &Source, targets: &[&str], error: &str) -> String {
        let (success, _, text) =
            run_python_tuf(&self.python, &self.metadata, &self.targets, source, &self.root, targets).await;
        assert!(!success, "python-tuf accepted what wua refuses:\n{text}");
        assert!(text.contains(error), "python-tuf refused, but not with {error}:\n{text}");
        text
    }
}
