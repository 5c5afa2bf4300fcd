//! What the agent-level scenarios (`sync`, `search`, `download`) share: a synthetic catalog
//! whose documents carry applicability rules of every kind, a target root those rules are
//! judged against, a signed repository published with the repository API, and a loopback
//! server that records what it was asked for.
//!
//! The catalog: update `i` has `is_installed: {"file_exists": "opt/synthetic/<i>/file"}`
//! (false: nothing is installed) and `is_installable: {"all": [{"arch": [..]}, R]}`, where the
//! kind of `R` rotates over the rule kinds with `i % 9` (`os`, `arch`, `kernel`,
//! `file_exists`, `file_sha256`, `file_version`, `dpkg_package`, `update_installed` under
//! `not`, and `any` of a `file_exists` and a `not`), and `R` is true for the updates with
//! `i % 100 < applicable_percent`, false for the others. So every kind is evaluated about
//! `N / 9` times, and a search with the default criteria returns exactly the applicable ones.
//!
//! The root: `etc/os-release` (Debian 12), `etc/synthetic/{present,marker,app.conf}` and a
//! dpkg status database of `dpkg_packages` packages with stanzas of a real one's size (about
//! 900 bytes each; this machine's has 707 packages in 628 kB).

use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use serde_json::{Value, json};
use wua_test_support::fault::FaultServer;
use wua_trust::repo::{self, InitOptions};
use wua_types::{
    Applicability, ContentEntry, Handler, InstallationBehavior, SCHEMA_VERSION, UpdateDocument, UpdateType,
};

/// The bytes of `etc/synthetic/marker` in the root (`file_sha256` rules name their hash).
const MARKER: &[u8] = b"wua-bench synthetic marker\n";

/// The id of synthetic update `i`.
pub(crate) fn update_id(i: usize) -> String {
    format!("b1000000-0000-4000-8000-{i:012x}")
}

/// Whether update `i` is applicable when `applicable_percent` percent of them are.
pub(crate) fn is_applicable(i: usize, applicable_percent: u32) -> bool {
    (i % 100) < applicable_percent as usize
}

/// How many of `updates` are applicable.
pub(crate) fn applicable_count(updates: usize, applicable_percent: u32) -> usize {
    (0..updates).filter(|i| is_applicable(*i, applicable_percent)).count()
}

/// Synthetic update `i` at `revision`, its content the shared blob `blob` (SHA-256, size), with
/// no applicability rules (what the `repo` scenario publishes).
pub(crate) fn plain_document(i: usize, revision: i32, blob: &(String, u64)) -> UpdateDocument {
    UpdateDocument {
        schema_version: SCHEMA_VERSION,
        update_id: update_id(i),
        revision_number: revision,
        title: format!("Synthetic update {i} (revision {revision})"),
        description: format!(
            "A synthetic update for the repository benchmark, number {i}, with a description of typical length."
        ),
        kb_article_ids: vec![format!("{}", 5_000_000 + i)],
        msrc_severity: "Important".into(),
        categories: vec![],
        update_type: UpdateType::Software,
        installation_behavior: InstallationBehavior::default(),
        uninstallation_behavior: InstallationBehavior::default(),
        is_mandatory: false,
        is_uninstallable: true,
        eula: None,
        superseded_update_ids: vec![],
        deadline: None,
        support_url: String::new(),
        release_notes: String::new(),
        uninstallation_notes: String::new(),
        handler: Handler::Files,
        content: vec![ContentEntry {
            sha256: blob.0.clone(),
            size: blob.1,
            path: format!("opt/synthetic/{i}/file"),
            mode: 0o644,
            uid: None,
            gid: None,
            link_target: None,
        }],
        applicability: Applicability::default(),
    }
}

/// [`plain_document`] with rules of every kind: an `is_installed` rule, and an `is_installable`
/// rule that holds for `applicable_percent` of the updates.
pub(crate) fn document(i: usize, revision: i32, blob: &(String, u64), applicable_percent: u32) -> UpdateDocument {
    UpdateDocument {
        applicability: Applicability {
            is_installed: Some(json!({ "file_exists": format!("opt/synthetic/{i}/file") })),
            is_installable: Some(json!({
                "all": [{ "arch": [std::env::consts::ARCH, "s390x"] }, decisive(i, is_applicable(i, applicable_percent))]
            })),
            prerequisites: vec![],
        },
        ..plain_document(i, revision, blob)
    }
}

/// The rule that decides whether update `i` applies: its kind rotates with `i % 9`, and it is
/// true exactly when `applicable`.
fn decisive(i: usize, applicable: bool) -> Value {
    let arch = std::env::consts::ARCH;
    let other_hash = wua_test_support::sha256_hex(b"not the marker");
    match (i % 9, applicable) {
        (0, true) => json!({ "os": { "id": "debian", "op": ">=", "version": "12" } }),
        (0, false) => json!({ "os": { "id": "debian", "op": ">=", "version": "99" } }),
        (1, true) => json!({ "arch": arch }),
        (1, false) => json!({ "arch": ["s390x", "riscv64"] }),
        (2, true) => json!({ "kernel": { "op": ">=", "version": "2.6" } }),
        (2, false) => json!({ "kernel": { "op": ">=", "version": "999" } }),
        (3, true) => json!({ "file_exists": "etc/synthetic/present" }),
        (3, false) => json!({ "file_exists": format!("etc/synthetic/absent-{i}") }),
        (4, true) => {
            json!({ "file_sha256": { "path": "etc/synthetic/marker", "sha256": wua_test_support::sha256_hex(MARKER) } })
        }
        (4, false) => json!({ "file_sha256": { "path": "etc/synthetic/marker", "sha256": other_hash } }),
        (5, true) => {
            json!({ "file_version": { "path": "etc/synthetic/app.conf", "key": "VERSION", "op": ">=", "version": "2.0" } })
        }
        (5, false) => {
            json!({ "file_version": { "path": "etc/synthetic/app.conf", "key": "VERSION", "op": ">=", "version": "9.0" } })
        }
        (6, true) => json!({ "dpkg_package": { "name": "synthetic-pkg-7", "op": ">=", "version": "1.0-1" } }),
        (6, false) => json!({ "dpkg_package": { "name": format!("synthetic-absent-{i}") } }),
        (7, true) => json!({ "not": { "update_installed": update_id(i + 1) } }),
        (7, false) => json!({ "update_installed": update_id(i + 1) }),
        (_, true) => {
            json!({ "any": [{ "file_exists": format!("etc/synthetic/absent-{i}") }, { "not": { "arch": "s390x" } }] })
        }
        (_, false) => {
            json!({ "any": [{ "file_exists": format!("etc/synthetic/absent-{i}") }, { "not": { "arch": arch } }] })
        }
    }
}

/// Writes the target root the rules are judged against into `root`.
pub(crate) fn make_root(root: &Path, dpkg_packages: usize) -> Result<()> {
    for d in ["etc/synthetic", "var/lib/dpkg"] {
        fs_err::create_dir_all(root.join(d))?;
    }
    fs_err::write(
        root.join("etc/os-release"),
        "PRETTY_NAME=\"Debian GNU/Linux 12 (bookworm)\"\nNAME=\"Debian GNU/Linux\"\nVERSION_ID=\"12\"\n\
         VERSION=\"12 (bookworm)\"\nVERSION_CODENAME=bookworm\nID=debian\n",
    )?;
    fs_err::write(root.join("etc/synthetic/present"), "")?;
    fs_err::write(root.join("etc/synthetic/marker"), MARKER)?;
    fs_err::write(root.join("etc/synthetic/app.conf"), "NAME=synthetic\nVERSION=2.3\n")?;
    let mut status = String::new();
    for n in 0..dpkg_packages {
        status.push_str(&format!(
            "Package: synthetic-pkg-{n}\nStatus: install ok installed\nPriority: optional\nSection: misc\n\
             Installed-Size: {size}\nMaintainer: Synthetic Maintainers <synthetic@example.org>\n\
             Architecture: amd64\nMulti-Arch: same\nSource: synthetic-src-{src}\nVersion: 1.{n}-1\n\
             Depends: libc6 (>= 2.36), libssl3 (>= 3.0.0), zlib1g (>= 1:1.2.0), synthetic-pkg-{prev} (= 1.{prev}-1)\n\
             Conffiles:\n /etc/synthetic/pkg-{n}.conf 0123456789abcdef0123456789abcdef\n\
             Description: synthetic package {n} for the search benchmark\n \
             A synthetic package whose stanza has the size of a real one, so that the status\n \
             database a dpkg_package rule reads is as large as a real machine's. It depends on\n \
             a few libraries and on the package before it, and it ships one configuration file.\n \
             .\n This paragraph stands for the longer part of a real package's description.\n\
             Homepage: https://example.org/synthetic/{n}\n\n",
            size = 100 + n * 7 % 9000,
            src = n / 3,
            prev = n.saturating_sub(1),
        ));
    }
    fs_err::write(root.join("var/lib/dpkg/status"), status)?;
    Ok(())
}

/// A signed repository in `dir` with one small shared blob (returned) and the synthetic
/// catalog of `updates` updates published in one signed change.
pub(crate) async fn make_repository(dir: &Path, updates: usize, applicable_percent: u32) -> Result<(String, u64)> {
    repo::init(dir, &InitOptions::default()).await?;
    let blob = repo::add_blob(dir, b"synthetic content\n")?;
    repo::publish_documents(dir, (0..updates).map(|i| document(i, 1, &blob, applicable_percent)).collect()).await?;
    Ok(blob)
}

/// The work directory of a scenario: the one given, or a temporary one in /var/tmp.
pub(crate) fn work_dir(given: Option<PathBuf>, prefix: &str) -> Result<(PathBuf, Option<tempfile::TempDir>)> {
    match given {
        Some(w) => {
            fs_err::create_dir_all(&w)?;
            Ok((w, None))
        }
        None => {
            let tmp = tempfile::Builder::new().prefix(prefix).tempdir_in("/var/tmp")?;
            Ok((tmp.path().to_path_buf(), Some(tmp)))
        }
    }
}

/// A repository's served tree on 127.0.0.1, from a runtime of its own (the agent's calls are
/// synchronous and run their own), with the log of the requests it answered.
pub(crate) struct Server {
    served: PathBuf,
    server: Option<FaultServer>,
    runtime: Option<tokio::runtime::Runtime>,
}

/// What the server was asked for between two points.
#[derive(Clone, Debug, Default)]
pub(crate) struct Fetched {
    /// Requests.
    pub(crate) requests: usize,
    /// Requests for catalog packs (`/targets/...`).
    pub(crate) packs: usize,
    /// Requests that named a range.
    pub(crate) ranged: usize,
    /// The sizes of the files requested (for whole-file requests, the body bytes sent; a
    /// request for a missing file counts 0).
    pub(crate) bytes: u64,
}

impl Server {
    /// Serves `served` (a repository's `repository/` directory).
    pub(crate) fn start(served: &Path) -> Result<Server> {
        let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build()?;
        let router = wua_trust::static_repo::router(served);
        let server = runtime.block_on(FaultServer::start(router)).context("starting the loopback server")?;
        Ok(Server { served: served.to_path_buf(), server: Some(server), runtime: Some(runtime) })
    }

    fn server(&self) -> &FaultServer {
        self.server.as_ref().expect("the server runs until dropped")
    }

    /// Its base URL.
    pub(crate) fn url(&self) -> &str {
        &self.server().url
    }

    /// A point in the request log.
    pub(crate) fn mark(&self) -> usize {
        self.server().faults().seen().len()
    }

    /// What was asked for since `mark`.
    pub(crate) fn since(&self, mark: usize) -> Fetched {
        let seen = self.server().faults().seen();
        let mut out = Fetched::default();
        for r in seen.iter().skip(mark) {
            out.requests += 1;
            out.packs += usize::from(r.path.starts_with("/targets/"));
            out.ranged += usize::from(r.range.is_some());
            let file = self.served.join(r.path.trim_start_matches('/'));
            out.bytes += std::fs::metadata(&file).map(|m| m.len()).unwrap_or(0);
        }
        out
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        // Stop the server from inside its runtime, then the runtime.
        if let (Some(server), Some(runtime)) = (self.server.take(), self.runtime.as_ref()) {
            let _guard = runtime.enter();
            drop(server);
        }
        if let Some(runtime) = self.runtime.take() {
            runtime.shutdown_timeout(std::time::Duration::from_secs(5));
        }
    }
}

/// The size of a file, or of every file under a directory.
pub(crate) fn disk_size(path: &Path) -> u64 {
    let Ok(meta) = std::fs::symlink_metadata(path) else { return 0 };
    if !meta.is_dir() {
        return meta.len();
    }
    std::fs::read_dir(path).map(|d| d.filter_map(|e| e.ok()).map(|e| disk_size(&e.path())).sum()).unwrap_or(0)
}

/// Megabytes (10^6 bytes), for tables.
pub(crate) fn mb(bytes: u64) -> f64 {
    bytes as f64 / 1e6
}

/// Adds the repository served at `url`, trusted by the root at `trusted_root`, as the
/// session's service `bench`.
pub(crate) fn add_service(
    session: &wua_agent::UpdateSession,
    url: &str,
    trusted_root: &std::path::Path,
) -> anyhow::Result<()> {
    let trusted = fs_err::read(trusted_root)?;
    session.create_update_service_manager().add_repository_service(
        "bench",
        url,
        &trusted,
        None,
        wua_agent::NON_VOLATILE_SERVICE,
    )?;
    Ok(())
}
