//! Verification for agents: from a trusted root and a source (an `http(s)://` URL or a
//! repository directory), refresh the TUF metadata and the catalog packs and yield the verified
//! catalog; check blobs against the verified documents.
//!
//! A refresh works on a copy of the trusted state and swaps it in, durably and atomically, only
//! when everything verified (`trusted_state`), because the TUF library persists roles one by one
//! as they verify: a refused refresh leaves the trusted state byte for byte as it was. It starts
//! from the newest root the state verified, so rollback protection survives key rotations. Metadata and packs whose
//! names carry a version or a hash never change, so they are cached (`<state>/tuf-cache/`) and
//! fetched once; `timestamp.json` is fetched every time. Only files of a refresh that verified
//! are written to the cache, and whatever it returns is verified again like a download.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use futures::StreamExt;
use tough::{IntoVec, RepositoryLoader, Transport, TransportError, TransportStream};
use url::Url;
use wua_fetch::{FetchLimits, FetchTransport, Fetcher};
use wua_fs::crash_point;
use wua_types::{ContentEntry, lock_unpoisoned};

use crate::approvals::{APPROVALS, Approval, GroupApprovals, approvals_target};
use crate::error::{Refusal, TrustError, refused};
use crate::layout::Layout;
use crate::pack::Catalog;
use crate::trusted_state::TrustedState;

/// Where a repository is read from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Source {
    /// The base URL of the served tree (`.../` holding `metadata/`, `targets/`, `blobs/`).
    pub base: Url,
}

impl Source {
    /// A source from an `http(s)://` URL of the served tree, or a path: a repository directory
    /// (its `repository/`), or a served tree itself.
    pub fn parse(text: &str) -> Result<Self, TrustError> {
        if text.starts_with("http://") || text.starts_with("https://") {
            let with_slash = if text.ends_with('/') { text.to_owned() } else { format!("{text}/") };
            let base = Url::parse(&with_slash).map_err(|e| TrustError::invalid(text, e.to_string()))?;
            return Ok(Source { base });
        }
        let path = Path::new(text);
        let tree = if Layout::is_repository(path) { Layout::new(path).public() } else { path.to_path_buf() };
        let tree = std::fs::canonicalize(&tree).map_err(|e| TrustError::io(&tree, e))?;
        let base = Url::from_directory_path(&tree).map_err(|()| TrustError::invalid(&tree, "not an absolute path"))?;
        Ok(Source { base })
    }

    fn join(&self, rel: &str) -> Result<Url, TrustError> {
        self.base.join(rel).map_err(|e| TrustError::invalid(self.base.as_str(), e.to_string()))
    }

    /// Where a blob is fetched from: derived from its hash only (D-31).
    pub fn blob_url(&self, sha256: &str) -> Result<Url, TrustError> {
        if !wua_types::is_sha256_hex(sha256) {
            return Err(TrustError::invalid(sha256, "not a SHA-256"));
        }
        self.join(&format!("blobs/sha256/{sha256}"))
    }
}

/// What a refresh yields.
#[derive(Clone, Debug)]
pub struct Refreshed {
    /// Approvals by group, as the approvals role signed them (D-27).
    pub approvals: BTreeMap<String, Vec<Approval>>,
    /// The version of the snapshot it came from.
    pub snapshot_version: u64,
    /// Bytes fetched from the source in this refresh (the cache served the rest).
    pub bytes_fetched: u64,
    /// Every catalog pack the verified metadata lists, in name order, with the entries of
    /// those read in this refresh (all but the ones [`RefreshOptions::known_packs`] had).
    pub packs: Vec<VerifiedPack>,
}

impl Refreshed {
    /// The entries of every pack read in this refresh, in pack order (the whole verified
    /// catalog when no pack was known before).
    pub fn catalog(&self) -> Catalog {
        let mut all = Catalog::default();
        for entries in self.packs.iter().filter_map(|p| p.entries.as_ref()) {
            all.documents.extend(entries.documents.iter().cloned());
            all.declined.extend(entries.declined.iter().cloned());
            all.warnings.extend(entries.warnings.iter().cloned());
        }
        all
    }
}

/// A catalog pack the verified targets metadata lists.
#[derive(Clone, Debug, PartialEq)]
pub struct VerifiedPack {
    /// Its target name (`pack-NNNNNN.jsonl`).
    pub name: String,
    /// The SHA-256 the targets metadata lists for it.
    pub sha256: String,
    /// Its entries, when it was read in this refresh; `None` when the caller already knew this
    /// name with this hash.
    pub entries: Option<Catalog>,
}

/// How a refresh runs.
#[derive(Clone, Debug, Default)]
pub struct RefreshOptions {
    /// The bounds of its fetches.
    pub limits: FetchLimits,
    /// PEM files of root certificates to trust besides the platform's (a service's CA bundle).
    pub ca_bundles: Vec<PathBuf>,
    /// Packs the caller already has, by name with their SHA-256: a pack listed under the same
    /// name with the same hash is not read (a caller with an index of the catalog).
    pub known_packs: BTreeMap<String, String>,
}

/// How long a refresh waits for another refresh of the same state directory before it gives up
/// with [`TrustError::Busy`].
pub const REFRESH_LOCK_WAIT: std::time::Duration = std::time::Duration::from_secs(5);

/// Refreshes from `source`, trusting `trusted_root` (the root the agent was installed with: the
/// anchor of first use) and the state in `state_dir`; swaps the new trusted state in only when
/// everything verified (`trusted_state`), under the state directory's refresh lock.
///
/// The refresh starts from the newest root the state verified when it is not older than
/// `trusted_root`, so a rotation of the timestamp or snapshot key is seen once, when it is
/// verified, and never again: the trusted timestamp and snapshot keep their versions across it,
/// and keys a newer root revoked stay revoked whatever the server or the cache hold. A
/// `trusted_root` newer than the state's that the state never saw is taken only when the chain
/// verified from the state's root reaches it ([`TrustError::RepositoryChanged`] otherwise).
pub async fn refresh(trusted_root: &[u8], state_dir: &Path, source: &Source) -> Result<Refreshed, TrustError> {
    refresh_with(trusted_root, state_dir, source, &RefreshOptions::default()).await
}

/// [`refresh`] as `options` say: the bounds of its fetches, extra root certificates, the packs
/// the caller already has.
pub async fn refresh_with(
    trusted_root: &[u8],
    state_dir: &Path,
    source: &Source,
    options: &RefreshOptions,
) -> Result<Refreshed, TrustError> {
    fs_err::create_dir_all(state_dir).map_err(|e| TrustError::io(state_dir, e))?;
    let lock = lock_state(state_dir).await?;
    remove_export_leftovers(state_dir)?;
    refresh_locked(trusted_root, state_dir, source, options, lock, &|_| Ok(())).await
}

/// [`refresh_with`] under the refresh lock `_lock`; `before_targets` is called with the
/// file names of the targets the verified metadata lists, before any target is read.
async fn refresh_locked(
    trusted_root: &[u8],
    state_dir: &Path,
    source: &Source,
    options: &RefreshOptions,
    _lock: wua_fs::LockFile,
    before_targets: &(dyn Fn(&[String]) -> Result<(), TrustError> + Sync),
) -> Result<Refreshed, TrustError> {
    let cache = state_dir.join("tuf-cache");
    fs_err::create_dir_all(&cache).map_err(|e| TrustError::io(&cache, e))?;
    let state = TrustedState::open(state_dir)?;
    let start = start_root(trusted_root, state_dir, &state.current_dir())?;
    bind_cache(state_dir, &cache)?;
    let fresh = state.begin()?;
    let transport = CachingTransport::new(cache.clone(), options)?;
    let mut loaded = load(start.bytes(trusted_root), &fresh, source, transport.clone(), options, before_targets).await;
    if let Start::ChainTo(_) = start {
        // A newer root the caller gave must be one the chain verified from the state's reached.
        let reached = |l| match root_identity(trusted_root) {
            Some(id) if transport.verified_roots(&fresh).contains(&id) => Ok(l),
            _ => Err(TrustError::RepositoryChanged { state: state_dir.to_path_buf() }),
        };
        loaded = match loaded {
            Ok(l) => reached(l),
            Err(TrustError::Refused { refusal: Refusal::Signature, .. }) => {
                Err(TrustError::RepositoryChanged { state: state_dir.to_path_buf() })
            }
            Err(e) => Err(e),
        };
    }
    match loaded {
        Ok(Loaded { approvals, snapshot_version, packs }) => {
            state.commit(&fresh)?;
            transport.persist();
            record_identity(trusted_root, state_dir, &cache)?;
            name_cache_repository(trusted_root, &cache)?;
            Ok(Refreshed {
                approvals,
                snapshot_version,
                bytes_fetched: transport.fetched.load(Ordering::SeqCst),
                packs,
            })
        }
        Err(e) => {
            transport.drop_refused(&e);
            state.abandon(&fresh)?;
            Err(e)
        }
    }
}

/// Takes the refresh lock of `state_dir` (`tuf.lock`), waiting at most [`REFRESH_LOCK_WAIT`].
async fn lock_state(state_dir: &Path) -> Result<wua_fs::LockFile, TrustError> {
    let path = state_dir.join("tuf.lock");
    let taken = tokio::task::spawn_blocking(move || wua_fs::LockFile::acquire_within(&path, REFRESH_LOCK_WAIT))
        .await
        .map_err(|e| TrustError::io(state_dir, std::io::Error::other(e)))?;
    taken.map_err(|e| match e {
        wua_fs::LockError::Busy { holder, .. } => TrustError::Busy { path: state_dir.to_path_buf(), holder },
        wua_fs::LockError::Io { path, source } => TrustError::io(path, source),
    })
}

/// Where a refresh starts from.
enum Start {
    /// The caller's root: a first use, or a root of this repository newer than the state's.
    Caller,
    /// The state's root, not older than the caller's (a root of this repository).
    State(Vec<u8>),
    /// The state's root, older than a root the caller gave that the state has never seen: the
    /// chain verified from the state's root must reach the caller's (else the repository
    /// changed identity).
    ChainTo(Vec<u8>),
}

impl Start {
    fn bytes<'a>(&'a self, trusted_root: &'a [u8]) -> &'a [u8] {
        match self {
            Start::Caller => trusted_root,
            Start::State(b) | Start::ChainTo(b) => b,
        }
    }
}

/// The root a refresh starts from: the state's `root.json` when it is not older than the
/// caller's, after checking the caller's is of the repository the state comes from
/// ([`IDENTITY`]: one it knows, or one newer whose chain the refresh then verifies). A
/// repository re-created under the same address with another root is refused by name.
fn start_root(trusted_root: &[u8], state_dir: &Path, state: &Path) -> Result<Start, TrustError> {
    let caller = root_version(trusted_root).ok_or_else(|| TrustError::Refused {
        refusal: Refusal::Malformed,
        detail: "the trusted root is not a TUF root".into(),
    })?;
    let path = state.join("root.json");
    let bytes = match std::fs::read(&path) {
        Ok(b) => b,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Start::Caller),
        Err(e) => return Err(TrustError::io(&path, e)),
    };
    let trusted =
        root_version(&bytes).ok_or_else(|| TrustError::StateCorrupt { path, detail: "is not a TUF root".into() })?;
    let identities = state_dir.join(IDENTITY);
    let known = match std::fs::read_to_string(&identities) {
        Ok(text) => root_identity(trusted_root).is_some_and(|id| text.lines().any(|l| l == id)),
        // A state of an older wua, before identities were kept: the caller's root is the anchor.
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => true,
        Err(e) => return Err(TrustError::io(&identities, e)),
    };
    match (known, caller > trusted) {
        (true, true) => Ok(Start::Caller),
        (true, false) => Ok(Start::State(bytes)),
        (false, true) => Ok(Start::ChainTo(bytes)),
        (false, false) => Err(TrustError::RepositoryChanged { state: state_dir.to_path_buf() }),
    }
}

/// Where the roots of the repository the trusted state comes from are listed: the SHA-256 of
/// the signed part of each (the anchor of first use, every root given since, every root a
/// refresh verified), one a line.
const IDENTITY: &str = "tuf-identity";

/// After a refresh that verified: adds the caller's root, the state's root and every root of
/// the chain in the cache to the roots of this repository ([`IDENTITY`]).
fn record_identity(trusted_root: &[u8], state_dir: &Path, cache: &Path) -> Result<(), TrustError> {
    let path = state_dir.join(IDENTITY);
    let mut known: std::collections::BTreeSet<String> = match std::fs::read_to_string(&path) {
        Ok(text) => text.lines().map(str::to_owned).collect(),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Default::default(),
        Err(e) => return Err(TrustError::io(&path, e)),
    };
    let before = known.len();
    let current = std::fs::read(state_dir.join("tuf/root.json")).map_err(|e| TrustError::io(state_dir, e))?;
    let newest = root_version(&current).unwrap_or(0);
    let chain = cached_roots(cache).into_iter().filter(|(v, _)| *v <= newest).map(|(_, b)| b);
    for bytes in [trusted_root.to_vec(), current].into_iter().chain(chain) {
        known.extend(root_identity(&bytes));
    }
    if known.len() == before {
        return Ok(());
    }
    let text: String = known.into_iter().map(|l| l + "\n").collect();
    wua_fs::write_atomic(&path, text.as_bytes(), wua_fs::SHARED_FILE_MODE).map_err(|e| TrustError::io(&path, e))
}

/// The SHA-256 of a root's signed part in canonical JSON, as the TUF library reads it (so the
/// root given and the one the state holds, written again by the library, compare equal).
fn root_identity(bytes: &[u8]) -> Option<String> {
    use serde::Serialize;
    let root: tough::schema::Signed<tough::schema::Root> = serde_json::from_slice(bytes).ok()?;
    // Canonical JSON: the library's maps have no order of their own.
    let mut canonical = Vec::new();
    let mut ser = serde_json::Serializer::with_formatter(&mut canonical, olpc_cjson::CanonicalFormatter::new());
    root.signed.serialize(&mut ser).ok()?;
    Some(wua_fs::sha256_hex(&canonical))
}

/// The version of a root document.
fn root_version(bytes: &[u8]) -> Option<u64> {
    let doc: serde_json::Value = serde_json::from_slice(bytes).ok()?;
    (doc["signed"]["_type"] == "root").then(|| doc["signed"]["version"].as_u64()).flatten()
}

async fn load(
    trusted_root: &[u8],
    datastore: &Path,
    source: &Source,
    transport: CachingTransport,
    options: &RefreshOptions,
    before_targets: &(dyn Fn(&[String]) -> Result<(), TrustError> + Sync),
) -> Result<Loaded, TrustError> {
    let targets_transport = transport.clone();
    let repo = RepositoryLoader::new(&trusted_root, source.join("metadata/")?, source.join("targets/")?)
        .transport(transport)
        .datastore(datastore)
        .load()
        .await
        .map_err(refused)?;
    before_targets(&listed_targets(&repo))?;
    // Packs come from the top-level targets only, approvals from the approvals role only.
    let mut listed: Vec<(tough::TargetName, String)> = repo
        .targets()
        .signed
        .targets
        .iter()
        .filter(|(n, _)| crate::pack::number(n.raw()).is_some())
        .map(|(n, t)| (n.clone(), hex::encode(&*t.hashes.sha256)))
        .collect();
    listed.sort_by(|a, b| a.0.raw().cmp(b.0.raw()));
    let mut packs = Vec::with_capacity(listed.len());
    for (name, sha256) in listed {
        let entries = if options.known_packs.get(name.raw()) == Some(&sha256) {
            None
        } else {
            let text = String::from_utf8(read(&repo, &name).await?).map_err(|_| TrustError::Refused {
                refusal: Refusal::Malformed,
                detail: format!("pack {} is not UTF-8", name.raw()),
            })?;
            let mut entries = Catalog::default();
            entries.add_pack(name.raw(), &text);
            Some(entries)
        };
        packs.push(VerifiedPack { name: name.raw().to_owned(), sha256, entries });
    }
    // The approvals role's own entries, read by their own lengths and hashes: a top-level target
    // of the same name (`read_target` would find it first) is never used.
    let mut approvals = BTreeMap::new();
    let delegated = repo.delegated_role(APPROVALS).and_then(|r| r.targets.as_ref());
    let mut entries: Vec<(tough::TargetName, tough::schema::Target)> =
        delegated.map(|t| t.signed.targets.iter().map(|(n, t)| (n.clone(), t.clone())).collect()).unwrap_or_default();
    entries.sort_by(|a, b| a.0.raw().cmp(b.0.raw()));
    let consistent = repo.root().signed.consistent_snapshot;
    for (name, target) in entries {
        let bytes = read_delegated(&targets_transport, source, consistent, &name, &target).await?;
        let group: GroupApprovals = serde_json::from_slice(&bytes)
            .map_err(|e| TrustError::Refused { refusal: Refusal::Malformed, detail: format!("{}: {e}", name.raw()) })?;
        if approvals_target(&group.group) != name.raw() {
            return Err(TrustError::Refused {
                refusal: Refusal::Malformed,
                detail: format!("{} holds the approvals of group {:?}", name.raw(), group.group),
            });
        }
        approvals.insert(group.group.clone(), group.approvals);
    }
    Ok(Loaded { approvals, snapshot_version: repo.snapshot().signed.version.get(), packs })
}

/// The file names of the targets the verified metadata lists (the top-level targets and the
/// approvals role's), as they are fetched.
fn listed_targets(repo: &tough::Repository) -> Vec<String> {
    let consistent = repo.root().signed.consistent_snapshot;
    let top = repo.targets().signed.targets.iter();
    let delegated = repo.delegated_role(APPROVALS).and_then(|r| r.targets.as_ref());
    let approvals = delegated.into_iter().flat_map(|t| t.signed.targets.iter());
    top.chain(approvals)
        .map(|(name, target)| match consistent {
            true => format!("{}.{}", hex::encode(&*target.hashes.sha256), name.resolved()),
            false => name.resolved().to_owned(),
        })
        .collect()
}

/// A verified target's bytes.
async fn read(repo: &tough::Repository, name: &tough::TargetName) -> Result<Vec<u8>, TrustError> {
    match repo.read_target(name).await.map_err(refused)? {
        Some(stream) => stream.into_vec().await.map_err(refused),
        None => Err(TrustError::Refused {
            refusal: Refusal::MixAndMatch,
            detail: format!("target {} is listed but not served", name.raw()),
        }),
    }
}

/// A delegated target's bytes, checked against the delegated role's own entry (its length
/// first, then its SHA-256), fetched by the name consistent snapshots give it.
async fn read_delegated(
    transport: &CachingTransport,
    source: &Source,
    consistent: bool,
    name: &tough::TargetName,
    target: &tough::schema::Target,
) -> Result<Vec<u8>, TrustError> {
    let sha256 = hex::encode(&*target.hashes.sha256);
    let file = if consistent { format!("{sha256}.{}", name.resolved()) } else { name.resolved().to_owned() };
    let url = source.join(&format!("targets/{file}"))?;
    let unreachable = |e: TransportError| TrustError::Refused { refusal: Refusal::Unreachable, detail: e.to_string() };
    let mut stream = transport.fetch(url).await.map_err(unreachable)?;
    let mut bytes = Vec::new();
    while let Some(chunk) = stream.next().await {
        bytes.extend_from_slice(&chunk.map_err(unreachable)?);
        if bytes.len() as u64 > target.length {
            return Err(TrustError::Refused {
                refusal: Refusal::TooLarge,
                detail: format!("target {} is longer than the {} bytes listed", name.raw(), target.length),
            });
        }
    }
    if bytes.len() as u64 != target.length || wua_fs::sha256_hex(&bytes) != sha256 {
        return Err(TrustError::Refused {
            refusal: Refusal::HashMismatch,
            detail: format!("target {} does not match the approvals role's entry", name.raw()),
        });
    }
    Ok(bytes)
}

struct Loaded {
    approvals: BTreeMap<String, Vec<Approval>>,
    snapshot_version: u64,
    packs: Vec<VerifiedPack>,
}

/// Refreshes from an export file (`wua repo export`), with no network. The export is checked
/// before anything of it is written (`export::check`: whole metadata, targets that match their
/// hash-names); then, under the refresh lock, its metadata alone is unpacked into a temporary
/// directory under `state_dir` (`.export-*`, removed after; one a crash left is removed by the
/// next refresh) and verified like any source, and only the targets that verified metadata
/// lists are unpacked, when it has verified.
pub async fn refresh_offline(trusted_root: &[u8], state_dir: &Path, export: &Path) -> Result<Refreshed, TrustError> {
    refresh_offline_with(trusted_root, state_dir, export, &RefreshOptions::default()).await
}

/// [`refresh_offline`] as `options` say (of which only the known packs matter: nothing is
/// fetched).
pub async fn refresh_offline_with(
    trusted_root: &[u8],
    state_dir: &Path,
    export: &Path,
    options: &RefreshOptions,
) -> Result<Refreshed, TrustError> {
    crate::export::check(export)?;
    fs_err::create_dir_all(state_dir).map_err(|e| TrustError::io(state_dir, e))?;
    let lock = lock_state(state_dir).await?;
    remove_export_leftovers(state_dir)?;
    let tree = tempfile::Builder::new()
        .prefix(EXPORT_PREFIX)
        .tempdir_in(state_dir)
        .map_err(|e| TrustError::io(state_dir, e))?;
    crate::export::unpack_metadata(export, tree.path())?;
    crash_point("export: metadata unpacked");
    let source = Source::parse(&tree.path().to_string_lossy())?;
    let unpack_listed = |listed: &[String]| {
        crash_point("export: metadata verified");
        crate::export::unpack_targets(export, tree.path(), listed)?;
        crash_point("export: targets unpacked");
        Ok(())
    };
    refresh_locked(trusted_root, state_dir, &source, options, lock, &unpack_listed).await
}

/// How the temporary directory of an export being refreshed from is named.
const EXPORT_PREFIX: &str = ".export-";

/// Removes the temporary directories of exports a crash left; the caller holds the refresh lock.
fn remove_export_leftovers(state_dir: &Path) -> Result<(), TrustError> {
    for entry in std::fs::read_dir(state_dir).map_err(|e| TrustError::io(state_dir, e))? {
        let entry = entry.map_err(|e| TrustError::io(state_dir, e))?;
        if entry.file_name().to_string_lossy().starts_with(EXPORT_PREFIX) {
            crate::trusted_state::remove_dir_if_present(&entry.path())?;
        }
    }
    Ok(())
}

/// Checks a blob's bytes against the verified content entry that names it (D-31): the length
/// first, then the SHA-256.
pub fn check_blob(bytes: &[u8], entry: &ContentEntry) -> Result<(), TrustError> {
    if bytes.len() as u64 != entry.size {
        let refusal = if bytes.len() as u64 > entry.size { Refusal::TooLarge } else { Refusal::HashMismatch };
        return Err(TrustError::Refused {
            refusal,
            detail: format!("blob {} has {} bytes, {} listed", entry.sha256, bytes.len(), entry.size),
        });
    }
    let got = wua_fs::sha256_hex(bytes);
    if got != entry.sha256 {
        return Err(TrustError::Refused {
            refusal: Refusal::HashMismatch,
            detail: format!("blob {} has SHA-256 {got}", entry.sha256),
        });
    }
    Ok(())
}

/// A transport that serves immutable files (versioned metadata, hash-named targets) from a
/// local cache and counts the bytes it fetched.
///
/// A cache entry's name carries what makes it immutable, and is checked on every read (a torn
/// or altered entry is a miss): `N.role.json.<sha256>` for metadata (the SHA-256 of its bytes),
/// `<sha256>.name` for targets. A versioned role other than root is served from the cache only
/// under the hash its parent (the timestamp, the snapshot) read in this refresh lists for that
/// version, so versions someone else signed under the same name (an attacker ahead of the
/// publisher with a compromised online key) are never served in place of the publisher's.
/// Roots are signed by the root keys; the cache is bound to one repository ([`bind_cache`]).
///
/// What it fetches is kept in memory and written to the cache only after the whole refresh
/// verified ([`CachingTransport::persist`]), which then drops every entry the refresh did not
/// use (the previous versions) except roots; an entry a refusal names, or a cached root that
/// failed to verify, is dropped ([`CachingTransport::drop_refused`]), so it cannot wedge the
/// agent's later refreshes.
#[derive(Clone, Debug)]
struct CachingTransport {
    inner: FetchTransport,
    cache: PathBuf,
    fetched: Arc<AtomicU64>,
    pending: Arc<Mutex<Vec<(String, Download)>>>,
    /// Metadata read in this refresh (timestamp, snapshot): where the expected hashes come from.
    seen: Arc<Mutex<Vec<Download>>>,
    /// Cache entries served in this refresh.
    served: Arc<Mutex<Vec<PathBuf>>>,
}

impl CachingTransport {
    /// Over a fresh fetcher (`wua-fetch`): its deadline bounds this refresh.
    fn new(cache: PathBuf, options: &RefreshOptions) -> Result<Self, TrustError> {
        let fetcher = Fetcher::new(options.limits, &options.ca_bundles)?;
        Ok(CachingTransport {
            inner: FetchTransport::new(fetcher),
            cache,
            fetched: Arc::new(AtomicU64::new(0)),
            pending: Arc::new(Mutex::new(Vec::new())),
            seen: Arc::new(Mutex::new(Vec::new())),
            served: Arc::new(Mutex::new(Vec::new())),
        })
    }

    /// Writes the files fetched in this refresh into the cache, each synced and renamed into
    /// place, then removes every entry this refresh did not use, except roots (best effort: a
    /// cache that cannot be written only costs a later download).
    fn persist(&self) {
        let mut keep: std::collections::BTreeSet<PathBuf> = lock_unpoisoned(&self.served).iter().cloned().collect();
        let pending = std::mem::take(&mut *lock_unpoisoned(&self.pending));
        for (name, bytes) in pending {
            let Some(bytes) = lock_unpoisoned(&bytes).take().filter(|b| !b.is_empty()) else { continue };
            let Some(path) = self.entry_for(&name, &bytes) else { continue };
            if path.exists() || wua_fs::write_atomic(&path, &bytes, wua_fs::SHARED_FILE_MODE).is_ok() {
                keep.insert(path);
            }
        }
        let Ok(entries) = std::fs::read_dir(&self.cache) else { return };
        for entry in entries.flatten() {
            let path = entry.path();
            let name = entry.file_name().to_string_lossy().into_owned();
            if name == CACHE_REPOSITORY || keep.contains(&path) || cached_root_version(&name).is_some() {
                continue;
            }
            let _ = std::fs::remove_file(&path);
        }
    }

    /// The identities of the roots this refresh verified: those it fetched or the cache
    /// served (the TUF library verifies each against the one before), and the one it trusts
    /// now (`fresh`'s).
    fn verified_roots(&self, fresh: &Path) -> std::collections::BTreeSet<String> {
        let mut roots: Vec<Vec<u8>> = std::fs::read(fresh.join("root.json")).into_iter().collect();
        for (name, bytes) in lock_unpoisoned(&self.pending).iter() {
            if versioned(name).is_some_and(|(_, role)| role == "root") {
                roots.extend(lock_unpoisoned(bytes).clone());
            }
        }
        for path in lock_unpoisoned(&self.served).iter() {
            let file = path.file_name().map(|f| f.to_string_lossy().into_owned()).unwrap_or_default();
            if cached_root_version(&file).is_some() {
                roots.extend(std::fs::read(path));
            }
        }
        roots.iter().filter_map(|b| root_identity(b)).collect()
    }

    /// Drops the entries served in this refresh that `refusal` names: a file the verifier
    /// refused is not served again. (Every entry served was checked against the hash its
    /// verified parent lists, or its own name, so a refusal that names none of them is not the
    /// cache's: the others are kept, and the state directory is left as it was.)
    fn drop_refused(&self, refusal: &TrustError) {
        let text = refusal.to_string();
        let served = lock_unpoisoned(&self.served);
        // A root that fails to verify is not named: the library reads roots in version order
        // and stops at the first that fails, so when roots came from the cache, the newest of
        // them is the one (or it verified, and dropping it costs one fetch).
        if text.contains("root metadata") {
            let roots =
                served.iter().filter_map(|p| Some((cached_root_version(&p.file_name()?.to_string_lossy())?, p)));
            if let Some((_, newest)) = roots.max() {
                let _ = std::fs::remove_file(newest);
            }
        }
        // Targets are cached under the name they are fetched by (`<sha256>.name`). Metadata
        // is not looked for: a refusal of metadata names its role, not its file, and a cached
        // entry of a role other than root is served only with the bytes its parent lists,
        // which the repository would serve again.
        for path in served.iter() {
            let Some(file) = path.file_name() else { continue };
            if text.contains(&format!("/{}", file.to_string_lossy())) {
                let _ = std::fs::remove_file(path);
            }
        }
    }

    /// Where `bytes`, fetched as `name`, are cached: `None` when they are not what the name says.
    fn entry_for(&self, name: &str, bytes: &[u8]) -> Option<PathBuf> {
        let sha = wua_fs::sha256_hex(bytes);
        if name.ends_with(".json") && versioned(name).is_some() {
            return Some(self.cache.join(format!("{name}.{sha}")));
        }
        let (first, _) = name.split_once('.')?;
        (wua_types::is_sha256_hex(first) && first == sha).then(|| self.cache.join(name))
    }

    /// The hash the metadata read in this refresh lists for `N.role.json`.
    fn expected(&self, role: &str, version: u64) -> Option<String> {
        let key = format!("{role}.json");
        lock_unpoisoned(&self.seen).iter().rev().find_map(|doc| {
            let doc = lock_unpoisoned(doc);
            let value: serde_json::Value = serde_json::from_slice(doc.as_deref()?).ok()?;
            let meta = &value["signed"]["meta"][&key];
            (meta["version"].as_u64() == Some(version)).then(|| meta["hashes"]["sha256"].as_str().map(str::to_owned))?
        })
    }

    /// A cached entry for `name` that checks against what its name says.
    fn read_cached(&self, name: &str) -> Option<(PathBuf, Vec<u8>)> {
        let check = |path: PathBuf, sha: &str| {
            let bytes = std::fs::read(&path).ok()?;
            if wua_fs::sha256_hex(&bytes) == sha {
                Some((path, bytes))
            } else {
                // Torn or altered: a miss, and gone.
                let _ = std::fs::remove_file(&path);
                None
            }
        };
        match versioned(name) {
            Some((_, "root")) => {
                // Roots: the one entry of that version (the cache holds one repository's).
                let prefix = format!("{name}.");
                let mut found = std::fs::read_dir(&self.cache).ok()?.flatten().filter_map(|e| {
                    let file = e.file_name().to_string_lossy().into_owned();
                    let sha = file.strip_prefix(&prefix)?.to_owned();
                    Some((e.path(), sha))
                });
                let (path, sha) = found.next()?;
                if found.next().is_some() {
                    return None;
                }
                check(path, &sha)
            }
            Some((version, role)) => {
                let sha = self.expected(role, version)?;
                check(self.cache.join(format!("{name}.{sha}")), &sha)
            }
            None => {
                let (first, _) = name.split_once('.')?;
                wua_types::is_sha256_hex(first).then(|| check(self.cache.join(name), first))?
            }
        }
    }
}

/// What a download left for the cache: `None` when its stream failed.
type Download = Arc<Mutex<Option<Vec<u8>>>>;

/// The file in the cache naming the repository it holds files of ([`bind_cache`]).
const CACHE_REPOSITORY: &str = "repository";

/// The version and role of `N.role.json`.
fn versioned(name: &str) -> Option<(u64, &str)> {
    let (first, rest) = name.split_once('.')?;
    let role = rest.strip_suffix(".json")?;
    // Digits only (`parse` takes a `+`); an empty version fails to parse.
    if !first.bytes().all(|b| b.is_ascii_digit()) || role.is_empty() || role.contains('.') {
        return None;
    }
    Some((first.parse().ok()?, role))
}

/// The version of a cached root entry (`N.root.json.<sha256>`).
fn cached_root_version(file: &str) -> Option<u64> {
    let (name, sha) = file.rsplit_once('.')?;
    if !wua_types::is_sha256_hex(sha) {
        return None;
    }
    versioned(name).filter(|(_, role)| *role == "root").map(|(v, _)| v)
}

/// The roots in the cache (each checked against its name), by version.
fn cached_roots(cache: &Path) -> Vec<(u64, Vec<u8>)> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(cache).into_iter().flatten().flatten() {
        let file = entry.file_name().to_string_lossy().into_owned();
        let Some(v) = cached_root_version(&file) else { continue };
        let Ok(bytes) = std::fs::read(entry.path()) else { continue };
        if file.ends_with(&wua_fs::sha256_hex(&bytes)) {
            out.push((v, bytes));
        }
    }
    out.sort();
    out
}

/// Binds the cache to the repository the trusted state comes from: a cache that names none of
/// its roots ([`IDENTITY`]; after a reset, of another repository, or of an older wua) is
/// emptied; after a refresh that verified, it names the root the caller gave
/// ([`name_cache_repository`]).
fn bind_cache(state_dir: &Path, cache: &Path) -> Result<(), TrustError> {
    let known = std::fs::read_to_string(state_dir.join(IDENTITY)).unwrap_or_default();
    let bound = std::fs::read_to_string(cache.join(CACHE_REPOSITORY)).unwrap_or_default();
    let bound = bound.trim();
    if !bound.is_empty() && known.lines().any(|l| l == bound) {
        return Ok(());
    }
    let empty = std::fs::read_dir(cache).map(|mut d| d.next().is_none()).unwrap_or(true);
    if !empty {
        crate::trusted_state::remove_dir_if_present(cache)?;
    }
    fs_err::create_dir_all(cache).map_err(|e| TrustError::io(cache, e))
}

/// Names the repository the cache holds files of, when it names none yet.
fn name_cache_repository(trusted_root: &[u8], cache: &Path) -> Result<(), TrustError> {
    let path = cache.join(CACHE_REPOSITORY);
    if path.exists() {
        return Ok(());
    }
    let id = root_identity(trusted_root).unwrap_or_default();
    wua_fs::write_atomic(&path, format!("{id}\n").as_bytes(), wua_fs::SHARED_FILE_MODE)
        .map_err(|e| TrustError::io(&path, e))
}

#[tough::async_trait]
impl Transport for CachingTransport {
    async fn fetch(&self, url: Url) -> Result<TransportStream, TransportError> {
        let name = url.path_segments().and_then(|mut s| s.next_back()).unwrap_or("").to_owned();
        let parent = name.ends_with(".json") && versioned(&name).is_none_or(|(_, role)| role != "root");
        if let Some((path, bytes)) = self.read_cached(&name) {
            if parent {
                lock_unpoisoned(&self.seen).push(Arc::new(Mutex::new(Some(bytes.clone()))));
            }
            lock_unpoisoned(&self.served).push(path);
            return Ok(stream_of(bytes));
        }
        let stream = self.inner.fetch(url).await?;
        // The verifier reads the stream and stops at the listed size (endless data); a copy of
        // what it read is kept for the cache, and of metadata for the hashes it lists.
        // A stream that fails (a missing `N+1.root.json` is how TUF learns there is no newer
        // root) leaves no copy: `None` marks it.
        let copy = Arc::new(Mutex::new(Some(Vec::new())));
        let keep = immutable(&name);
        if keep {
            lock_unpoisoned(&self.pending).push((name.clone(), copy.clone()));
        }
        if parent {
            lock_unpoisoned(&self.seen).push(copy.clone());
        }
        let copying = keep || parent;
        let counter = self.fetched.clone();
        Ok(Box::pin(stream.inspect(move |chunk| match chunk {
            Ok(c) => {
                counter.fetch_add(c.len() as u64, Ordering::SeqCst);
                if copying {
                    if let Some(buf) = lock_unpoisoned(&copy).as_mut() {
                        buf.extend_from_slice(c);
                    }
                }
            }
            Err(_) => *lock_unpoisoned(&copy) = None,
        })))
    }
}

/// An immutable name: `N.role.json` or `<64 hex>.name`.
fn immutable(name: &str) -> bool {
    versioned(name).is_some()
        || name.split_once('.').is_some_and(|(first, rest)| !rest.is_empty() && wua_types::is_sha256_hex(first))
}

fn stream_of(bytes: Vec<u8>) -> TransportStream {
    Box::pin(futures::stream::iter([Ok(tough::Bytes::from(bytes))]))
}

#[cfg(test)]
mod tests {
    use super::*;

    const HEX: &str = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";

    /// The names the cache keys on: `N.role.json` (versioned metadata), `<sha256>.name`
    /// (targets), and `N.root.json.<sha256>` (a cached root); anything else is none of them,
    /// so it is never cached or served from the cache.
    #[test]
    fn cache_names() {
        assert_eq!(versioned("3.snapshot.json"), Some((3, "snapshot")));
        assert_eq!(versioned("12.root.json"), Some((12, "root")));
        for name in [
            ".root.json",
            "x.root.json",
            "+3.root.json",
            "3x.root.json",
            "3..json",
            "3.a.b.json",
            "3.root.jsonl",
            "timestamp.json",
        ] {
            assert_eq!(versioned(name), None, "{name}");
        }
        assert_eq!(cached_root_version(&format!("2.root.json.{HEX}")), Some(2));
        for file in [format!("2.root.json.{}", &HEX[1..]), format!("2.snapshot.json.{HEX}"), "2.root.json".into()] {
            assert_eq!(cached_root_version(&file), None, "{file}");
        }
        assert!(immutable("3.targets.json") && immutable(&format!("{HEX}.pack-000001.jsonl")));
        for name in ["timestamp.json", &format!("{HEX}."), "pack-000001.jsonl", &format!("{}.pack", &HEX[1..])] {
            assert!(!immutable(name), "{name}");
        }
    }
}
