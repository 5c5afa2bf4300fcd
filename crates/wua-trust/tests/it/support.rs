//! Repositories for the trust tests: created at test time with test keys, so nothing expires.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use tough::{DefaultTransport, IntoVec, Transport};
use wua_trust::repo::{self, InitOptions};
use wua_trust::verify::{self, Refreshed, Source};

pub use wua_test_support::{files_manifest, test_id, write_payload};

/// A repository directory and a state directory for an agent.
pub struct Fixture {
    pub _dir: tempfile::TempDir,
    pub repo: PathBuf,
    pub state: PathBuf,
    pub work: PathBuf,
}

impl Fixture {
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

    pub fn trusted_root(&self) -> Vec<u8> {
        std::fs::read(self.repo.join("root.json")).unwrap()
    }

    pub async fn refresh(&self, source: &Source) -> Result<Refreshed, wua_trust::TrustError> {
        verify::refresh(&self.trusted_root(), &self.state, source).await
    }
}

/// Serves `dir` on 127.0.0.1 from the current runtime; returns the base URL.
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

/// Every file under `dir` with its bytes, for "byte-for-byte unchanged" checks.
pub fn tree(dir: &Path) -> std::collections::BTreeMap<PathBuf, Vec<u8>> {
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
