//! Repositories for the trust tests: created at test time with test keys, so nothing expires.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use tough::{DefaultTransport, IntoVec, Transport};
use wua_trust::repo::{self, InitOptions};
use wua_trust::verify::{self, Refreshed, Source};

pub(crate) use wua_test_support::{files_manifest, test_id, write_payload};

/// A repository directory and a state directory for an agent.
pub(crate) struct Fixture {
    pub _dir: tempfile::TempDir,
    pub repo: PathBuf,
    pub state: PathBuf,
    pub work: PathBuf,
}

impl Fixture {
    pub(crate) async fn new(options: InitOptions) -> Fixture {
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
    pub(crate) async fn publish(&self, n: u32, revision: i32, text: &str) -> wua_types::UpdateDocument {
        let base = self.work.join(format!("u{n}-r{revision}"));
        let payload = base.join("payload");
        write_payload(&payload, &[(&format!("opt/u{n}/file"), 0o644, text.as_bytes())]).unwrap();
        let manifest = base.join("manifest.toml");
        std::fs::write(&manifest, files_manifest(&test_id(n), revision, &format!("update {n}"), "", "")).unwrap();
        repo::publish(&self.repo, &manifest, &payload).await.unwrap()
    }

    pub(crate) fn trusted_root(&self) -> Vec<u8> {
        std::fs::read(self.repo.join("root.json")).unwrap()
    }

    /// The root an agent is installed with: the repository's first (`1.root.json`), never
    /// replaced by a newer one afterwards.
    pub(crate) fn installed_root(&self) -> Vec<u8> {
        std::fs::read(self.repo.join("repository/metadata/1.root.json")).unwrap()
    }

    pub(crate) async fn refresh(&self, source: &Source) -> Result<Refreshed, wua_trust::TrustError> {
        verify::refresh(&self.trusted_root(), &self.state, source).await
    }

    /// A refresh of an agent given only its install-time root ([`Fixture::installed_root`]).
    pub(crate) async fn refresh_installed(&self, source: &Source) -> Result<Refreshed, wua_trust::TrustError> {
        verify::refresh(&self.installed_root(), &self.state, source).await
    }
}

/// Serves `dir` on 127.0.0.1 from the current runtime; returns the base URL.
pub(crate) async fn serve(dir: &Path) -> Source {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr: SocketAddr = listener.local_addr().unwrap();
    tokio::spawn(wua_trust::serve(listener, dir.to_path_buf()));
    Source::parse(&format!("http://{addr}/")).unwrap()
}

/// GETs a URL with the same HTTP client the verifier uses.
pub(crate) async fn get(url: url::Url) -> Vec<u8> {
    DefaultTransport::default().fetch(url).await.unwrap().into_vec().await.unwrap()
}

/// Every file under `dir` with its bytes, for "byte-for-byte unchanged" checks.
pub(crate) fn tree(dir: &Path) -> std::collections::BTreeMap<PathBuf, Vec<u8>> {
    let mut out = std::collections::BTreeMap::new();
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
pub(crate) async fn resign_file(path: &Path, key: &Path, edit: impl FnOnce(&mut serde_json::Value)) {
    use tough::sign::{Sign, parse_keypair};
    let mut doc: serde_json::Value = serde_json::from_slice(&std::fs::read(path).unwrap()).unwrap();
    edit(&mut doc["signed"]);
    let mut message = Vec::new();
    let mut ser = serde_json::Serializer::with_formatter(&mut message, olpc_cjson::CanonicalFormatter::new());
    serde::Serialize::serialize(&doc["signed"], &mut ser).unwrap();
    let pair = parse_keypair(&std::fs::read(key).unwrap()).unwrap();
    let keyid = hex::encode(&*pair.tuf_key().key_id().unwrap());
    let sig = pair.sign(&message, &aws_lc_rs::rand::SystemRandom::new()).await.unwrap();
    doc["signatures"] = serde_json::json!([{ "keyid": keyid, "sig": hex::encode(sig) }]);
    std::fs::write(path, serde_json::to_vec(&doc).unwrap()).unwrap();
}

/// Bumps the `version` of a signed part.
pub(crate) fn bump_version(signed: &mut serde_json::Value) {
    let v = signed["version"].as_u64().unwrap();
    signed["version"] = serde_json::json!(v + 1);
}

/// A fresh ed25519 key no role lists.
pub(crate) fn stranger_key(dir: &Path) -> PathBuf {
    let path = dir.join(format!("stranger-{}.pk8", std::process::id()));
    let _ = std::fs::remove_file(&path);
    wua_trust::keys::generate(&path).unwrap();
    path
}

/// The newest `N.<role>.json` in a metadata directory.
pub(crate) fn newest(metadata: &Path, role: &str) -> (u64, PathBuf) {
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

/// The trusted state and local files of an agent, byte for byte.
pub(crate) fn state_of(f: &Fixture) -> std::collections::BTreeMap<PathBuf, Vec<u8>> {
    tree(&f.state)
}

/// Asserts a refresh is refused with `refusal` (and its code) and changes nothing locally.
pub(crate) async fn assert_refused(f: &Fixture, source: &Source, refusal: wua_trust::Refusal) {
    assert_refused_from(f, &f.trusted_root(), source, refusal).await;
}

/// [`assert_refused`] for an agent that trusts `root` (its install-time root, say).
pub(crate) async fn assert_refused_from(f: &Fixture, root: &[u8], source: &Source, refusal: wua_trust::Refusal) {
    let before = state_of(f);
    let e = verify::refresh(root, &f.state, source).await.expect_err("the refresh must be refused");
    match &e {
        wua_trust::TrustError::Refused { refusal: got, .. } => assert_eq!(*got, refusal, "{e}"),
        other => panic!("expected a refusal ({refusal:?}), got {other}"),
    }
    assert_eq!(e.hresult(), wua_trust::TrustError::Refused { refusal, detail: String::new() }.hresult());
    assert_eq!(state_of(f), before, "the trusted state and local files are unchanged");
}

/// A repository with one published update, served over HTTP, and an agent that refreshed from
/// it once (so it trusts a state an attack then tries to move it from).
pub(crate) async fn trusted(options: wua_trust::repo::InitOptions) -> (Fixture, Source) {
    let f = Fixture::new(options).await;
    f.publish(1, 1, "one").await;
    let source = serve(&f.repo.join("repository")).await;
    f.refresh(&source).await.unwrap();
    (f, source)
}

/// The reference client (python-tuf, from the venv `scripts/test` provides as `WUA_TUF_PYTHON`),
/// or `None` outside CI when it is not set up (the test is then skipped, and says so).
#[allow(clippy::print_stderr)]
pub(crate) fn tuf_python() -> Option<std::ffi::OsString> {
    let python = std::env::var_os("WUA_TUF_PYTHON");
    if python.is_none() {
        assert!(std::env::var_os("CI").is_none(), "CI must provide WUA_TUF_PYTHON (scripts/test does)");
        eprintln!("skipped: WUA_TUF_PYTHON is not set (bash scripts/test sets it)");
    }
    python
}

/// Runs python-tuf's client (`tests/interop/tuf_client.py`) against the served tree at `source`,
/// starting from `trusted_root`, downloading `targets` into `work/py-targets`; asserts it
/// succeeded and downloaded each target. Returns where the targets are.
pub(crate) async fn python_tuf_accepts(
    python: &std::ffi::OsStr,
    work: &Path,
    source: &Source,
    trusted_root: &Path,
    targets: &[&str],
) -> PathBuf {
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/interop/tuf_client.py");
    let (md, td) = (work.join("py-metadata"), work.join("py-targets"));
    let mut command = std::process::Command::new(python);
    command.arg(script).arg(&md).arg(source.base.as_str()).arg(trusted_root).arg(&td).args(targets);
    // The server runs on this runtime: wait for the client on a blocking thread.
    let out = tokio::task::spawn_blocking(move || command.output()).await.unwrap().unwrap();
    let text = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    assert!(out.status.success(), "python-tuf failed:\n{text}");
    assert_eq!(text.lines().filter(|l| l.starts_with("OK ")).count(), targets.len(), "{text}");
    td
}
