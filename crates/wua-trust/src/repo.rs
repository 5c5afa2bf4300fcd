//! Writing a repository: `init`, `publish` (also a new revision), `decline` and `resign`.
//!
//! Every writer takes a [`RepoLock`] (`repo.lock`, an exclusive `flock` holding the writer's
//! pid, waited for a bounded time): public entry points take it once and call the `_locked`
//! form, which cannot run without it. A publish writes in the order a reader can never see half
//! of, each file durably (`wua_fs::write_atomic`): blobs, then the new pack version (a new,
//! hash-named target), then the versioned metadata files, and `timestamp.json` last: until it
//! is replaced, readers see the previous state, complete. Every shared file is written mode
//! 0644 whatever the umask; keys stay 0600 in a 0700 directory.

use std::collections::HashMap;
use std::num::NonZeroU64;
use std::os::unix::fs::{DirBuilderExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::time::Duration;

use aws_lc_rs::rand::SystemRandom;
use serde::{Deserialize, Serialize};
use tough::editor::RepositoryEditor;
use tough::editor::signed::SignedRole;
use tough::key_source::KeySource;
use tough::schema::decoded::{Decoded, Hex};
use tough::schema::{KeyHolder, PathPattern, PathSet, RoleKeys, RoleType, Root, Signed, Target};
use wua_fs::crash::crash_point;
use wua_fs::{LockError, LockFile, SHARED_FILE_MODE};
use wua_types::UpdateDocument;

use crate::error::{TrustError, refused};
use crate::keys;
use crate::layout::Layout;
use crate::pack::{self, Catalog, PackEntry, SEAL_BYTES, SEAL_ENTRIES};
use crate::root;

/// How a repository is created.
#[derive(Clone, Debug)]
pub struct InitOptions {
    /// How many root keys to create.
    pub root_keys: usize,
    /// How many of them must sign the root (at most `root_keys`).
    pub root_threshold: usize,
    /// A pack with this many entries is sealed (kept in `catalog/versions.json`).
    pub seal_entries: usize,
}

impl Default for InitOptions {
    fn default() -> Self {
        InitOptions { root_keys: 1, root_threshold: 1, seal_entries: SEAL_ENTRIES }
    }
}

/// How long each role's metadata stays valid after it is signed.
#[derive(Clone, Copy, Debug)]
pub struct Lifetimes {
    /// `root` (signed by the offline keys).
    pub root: jiff::SignedDuration,
    /// `targets` and the `approvals` delegation.
    pub targets: jiff::SignedDuration,
    /// `snapshot`.
    pub snapshot: jiff::SignedDuration,
    /// `timestamp`: short, so a frozen repository is noticed (re-sign it with `resign`).
    pub timestamp: jiff::SignedDuration,
}

impl Default for Lifetimes {
    fn default() -> Self {
        let days = |d: i64| jiff::SignedDuration::from_hours(24 * d);
        Lifetimes { root: days(365), targets: days(90), snapshot: days(7), timestamp: days(1) }
    }
}

/// The role versions last signed (`catalog/versions.json`), so versions only go up, and the
/// repository's pack size.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
struct Versions {
    targets: u64,
    snapshot: u64,
    timestamp: u64,
    approvals: u64,
    #[serde(default)]
    seal_entries: Option<usize>,
}

/// The online roles, whose keys sign every change.
const ONLINE: [&str; 3] = ["targets", "snapshot", "timestamp"];
/// The delegated role that signs approvals (D-27), with its own online key.
pub const APPROVALS: &str = "approvals";

/// Creates a repository in `dir` (which must be empty or missing): keys (mode 0600), a root
/// signed by `root_threshold` of `root_keys` root keys, the online roles, the `approvals`
/// delegation, and an empty catalog.
pub async fn init(dir: &Path, options: &InitOptions) -> Result<(), TrustError> {
    if options.root_keys == 0 || options.root_threshold == 0 || options.root_threshold > options.root_keys {
        return Err(TrustError::invalid(dir, "the root threshold must be between 1 and the number of root keys"));
    }
    if dir.exists() && std::fs::read_dir(dir).map_err(|e| TrustError::io(dir, e))?.next().is_some() {
        return Err(TrustError::invalid(dir, "is not empty; a repository is created in a new directory"));
    }
    let layout = Layout::new(dir);
    for d in [layout.catalog(), layout.metadata(), layout.targets(), layout.blobs()] {
        fs_err::create_dir_all(&d).map_err(|e| TrustError::io(&d, e))?;
    }
    // The served tree is readable by the host serving it, whatever the umask.
    let blobs_parent = layout.blobs().parent().map(Path::to_path_buf).unwrap_or_else(|| layout.public());
    for d in [
        layout.dir.clone(),
        layout.catalog(),
        layout.public(),
        layout.metadata(),
        layout.targets(),
        blobs_parent,
        layout.blobs(),
    ] {
        fs_err::set_permissions(&d, std::fs::Permissions::from_mode(0o755)).map_err(|e| TrustError::io(&d, e))?;
    }
    std::fs::DirBuilder::new().mode(0o700).create(layout.keys()).map_err(|e| TrustError::io(layout.keys(), e))?;
    let lock = RepoLock::acquire_in(layout.clone(), RepoLock::DEFAULT_WAIT).await?;

    let mut root_keys = Vec::new();
    for n in 1..=options.root_keys {
        root_keys.push(layout.key(&format!("root-{n}")));
    }
    let mut all_keys = HashMap::new();
    let mut roles = HashMap::new();
    let mut role_ids = |paths: &[PathBuf]| -> Result<Vec<Decoded<Hex>>, TrustError> {
        let mut ids = Vec::new();
        for path in paths {
            let key = keys::generate(path)?;
            let id = key.key_id().map_err(|e| TrustError::Key { path: path.clone(), detail: e.to_string() })?;
            all_keys.insert(id.clone(), key);
            ids.push(id);
        }
        Ok(ids)
    };
    let threshold = |n: usize| NonZeroU64::new(n as u64).ok_or_else(|| TrustError::invalid(dir, "zero threshold"));
    roles.insert(RoleType::Root, role_keys(role_ids(&root_keys)?, threshold(options.root_threshold)?));
    for (role, name) in
        [(RoleType::Targets, "targets"), (RoleType::Snapshot, "snapshot"), (RoleType::Timestamp, "timestamp")]
    {
        roles.insert(role, role_keys(role_ids(&[layout.key(name)])?, threshold(1)?));
    }
    keys::generate(&layout.key(APPROVALS))?;
    let root = Root {
        spec_version: "1.0.0".into(),
        consistent_snapshot: true,
        version: NonZeroU64::MIN,
        expires: expires_in(Lifetimes::default().root),
        keys: all_keys,
        roles,
        _extra: HashMap::new(),
    };
    let sources: Vec<Box<dyn KeySource>> = root_keys.iter().map(keys::source).collect();
    let signed =
        SignedRole::new(root.clone(), &KeyHolder::Root(root), &sources, &SystemRandom::new()).await.map_err(refused)?;
    write_shared(&layout.metadata().join("1.root.json"), signed.buffer())?;
    write_shared(&layout.trusted_root(), signed.buffer())?;
    save_versions(&layout, &Versions { seal_entries: Some(options.seal_entries.max(1)), ..Versions::default() })?;
    resign_locked(&lock, &Lifetimes::default()).await
}

fn role_keys(keyids: Vec<Decoded<Hex>>, threshold: NonZeroU64) -> RoleKeys {
    RoleKeys { keyids, threshold, _extra: HashMap::new() }
}

/// Now plus `d`, in whole seconds: TUF writes expiry dates as `YYYY-MM-DDTHH:MM:SSZ`, and
/// other clients (python-tuf) refuse fractions of a second.
pub(crate) fn expires_in(d: jiff::SignedDuration) -> jiff::Timestamp {
    let t = jiff::Timestamp::now().checked_add(d).unwrap_or(jiff::Timestamp::MAX);
    jiff::Timestamp::from_second(t.as_second()).unwrap_or(t)
}

/// Publishes the update a publishing manifest and its payload describe (a new update, or a
/// higher revision of a published one): blobs, the pack entry, and signed metadata.
pub async fn publish(dir: &Path, manifest: &Path, payload: &Path) -> Result<UpdateDocument, TrustError> {
    publish_locked(&RepoLock::acquire(dir, RepoLock::DEFAULT_WAIT).await?, manifest, payload).await
}

/// Publishes a new revision of an update that is already published (its revision must be
/// higher); refused for an update id the repository does not have.
pub async fn revise(dir: &Path, manifest: &Path, payload: &Path) -> Result<UpdateDocument, TrustError> {
    revise_locked(&RepoLock::acquire(dir, RepoLock::DEFAULT_WAIT).await?, manifest, payload).await
}

/// [`publish`] under a lock the caller holds.
pub async fn publish_locked(lock: &RepoLock, manifest: &Path, payload: &Path) -> Result<UpdateDocument, TrustError> {
    publish_as(lock, manifest, payload, false).await
}

/// [`revise`] under a lock the caller holds.
pub async fn revise_locked(lock: &RepoLock, manifest: &Path, payload: &Path) -> Result<UpdateDocument, TrustError> {
    publish_as(lock, manifest, payload, true).await
}

async fn publish_as(
    lock: &RepoLock,
    manifest: &Path,
    payload: &Path,
    revision: bool,
) -> Result<UpdateDocument, TrustError> {
    let layout = lock.layout();
    let package_err = |e: wua_package::PackageError| TrustError::invalid(manifest, e.to_string());
    let parsed = wua_package::Manifest::load(manifest).map_err(package_err)?;
    let files = wua_package::scan_payload(payload).map_err(package_err)?;
    let document =
        parsed.to_document(manifest, files.iter().map(|f| f.entry.clone()).collect()).map_err(package_err)?;
    let catalog = working_catalog(layout)?;
    if revision && !catalog.documents.iter().any(|d| d.update_id == document.update_id) {
        return Err(TrustError::invalid(
            manifest,
            format!("update {} is not published; publish it first", document.update_id),
        ));
    }
    if let Some(newest) =
        catalog.documents.iter().filter(|d| d.update_id == document.update_id).map(|d| d.revision_number).max()
    {
        if document.revision_number <= newest {
            return Err(TrustError::invalid(
                manifest,
                format!(
                    "update {} is published at revision {newest}; a new revision must be higher than that (revision = {} in the manifest)",
                    document.update_id, document.revision_number
                ),
            ));
        }
    }
    let mut stored = false;
    for f in &files {
        let mut source = fs_err::File::open(&f.source).map_err(|e| TrustError::io(&f.source, e))?;
        stored |= store_blob(layout, &f.entry.sha256, &mut source, &f.source)?;
    }
    if stored {
        wua_fs::fsync_dir(&layout.blobs()).map_err(|e| TrustError::io(layout.blobs(), e))?;
    }
    append(layout, &PackEntry::Document(Box::new(document.clone())))?;
    resign_locked(lock, &Lifetimes::default()).await?;
    Ok(document)
}

/// Declines a published revision: no longer offered to new installs; an installed copy stays
/// visible and uninstallable.
pub async fn decline(dir: &Path, update_id: &str, revision_number: i32) -> Result<(), TrustError> {
    decline_locked(&RepoLock::acquire(dir, RepoLock::DEFAULT_WAIT).await?, update_id, revision_number).await
}

/// [`decline`] under a lock the caller holds.
pub async fn decline_locked(lock: &RepoLock, update_id: &str, revision_number: i32) -> Result<(), TrustError> {
    let layout = lock.layout();
    let catalog = working_catalog(layout)?;
    if catalog.document(update_id, revision_number).is_none() {
        return Err(TrustError::invalid(
            &layout.dir,
            format!("update {update_id} revision {revision_number} is not published"),
        ));
    }
    append(layout, &PackEntry::Declined { update_id: update_id.into(), revision_number })?;
    resign_locked(lock, &Lifetimes::default()).await
}

/// Re-signs the online roles with new versions and expiry dates (what a timer does for the
/// timestamp).
pub async fn resign(dir: &Path, lifetimes: &Lifetimes) -> Result<(), TrustError> {
    resign_locked(&RepoLock::acquire(dir, RepoLock::DEFAULT_WAIT).await?, lifetimes).await
}

/// [`resign`] under a lock the caller holds: what every writer does last.
pub async fn resign_locked(lock: &RepoLock, lifetimes: &Lifetimes) -> Result<(), TrustError> {
    sign_all(lock, lifetimes, &Signing::Current).await
}

/// Compacts the catalog when superseded entries make up at least half of it: the packs are
/// rewritten as new packs holding the newest revision of each update (with its decline, if it
/// was declined), and re-signed. Older revisions leave the catalog; agents keep the documents
/// of what they installed in their own datastore, so an installed copy stays visible and
/// uninstallable. Returns the number of entries dropped (0 when the rule did not call for it).
/// A refresh after a compaction fetches the new packs, as a cold sync does.
pub async fn compact(dir: &Path, force: bool) -> Result<usize, TrustError> {
    compact_locked(&RepoLock::acquire(dir, RepoLock::DEFAULT_WAIT).await?, force).await
}

/// [`compact`] under a lock the caller holds.
pub async fn compact_locked(lock: &RepoLock, force: bool) -> Result<usize, TrustError> {
    let layout = lock.layout();
    let catalog = working_catalog(layout)?;
    let total = catalog.documents.len() + catalog.declined.len();
    let mut newest: std::collections::BTreeMap<&str, &UpdateDocument> = std::collections::BTreeMap::new();
    for d in &catalog.documents {
        let slot = newest.entry(d.update_id.as_str()).or_insert(d);
        if d.revision_number > slot.revision_number {
            *slot = d;
        }
    }
    let mut entries: Vec<PackEntry> = Vec::new();
    for doc in newest.values() {
        entries.push(PackEntry::Document(Box::new((*doc).clone())));
        if catalog.declined.contains(&(doc.update_id.clone(), doc.revision_number)) {
            entries
                .push(PackEntry::Declined { update_id: doc.update_id.clone(), revision_number: doc.revision_number });
        }
    }
    let dropped = total - entries.len();
    if dropped == 0 || (!force && dropped * 2 < total) {
        return Ok(0);
    }
    // New pack numbers after the old ones, so a pack name never stands for other content.
    let old = pack_files(layout)?;
    let first = old.last().map_or(1, |(n, _)| n + 1);
    let seal = load_versions(layout)?.seal_entries.unwrap_or(SEAL_ENTRIES);
    for (n, chunk) in (first..).zip(entries.chunks(seal.max(1))) {
        let mut text = String::new();
        for e in chunk {
            text.push_str(&e.line().map_err(|e| TrustError::invalid(layout.catalog(), e.to_string()))?);
        }
        write_shared(&layout.catalog().join(pack::target_name(n)), text.as_bytes())?;
    }
    for (_, path) in old {
        fs_err::remove_file(&path).map_err(|e| TrustError::io(&path, e))?;
    }
    resign_locked(lock, &Lifetimes::default()).await?;
    Ok(dropped)
}

/// The publisher's view of the catalog (its working packs).
pub fn list(dir: &Path) -> Result<Catalog, TrustError> {
    working_catalog(&open(dir)?)
}

/// What an approval asks of a group's computers (D-27).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ApprovalAction {
    /// Install it (`IsAssigned`).
    Install,
    /// Uninstall it.
    Uninstall,
    /// Offer it as optional (`BrowseOnly`).
    Optional,
}

/// One update approved for a group.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Approval {
    /// The update.
    pub update_id: String,
    /// What to do with it.
    pub action: ApprovalAction,
    /// An RFC 3339 deadline; it overrides the document's (D-27).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub deadline: Option<String>,
}

/// The approvals of one group: the content of the `approvals-<group>.json` target, signed by
/// the `approvals` role.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct GroupApprovals {
    /// The group.
    pub group: String,
    /// Its approvals, by update id.
    pub approvals: Vec<Approval>,
}

/// The TUF target name of a group's approvals.
pub fn approvals_target(group: &str) -> String {
    format!("approvals-{group}.json")
}

fn check_group(dir: &Path, group: &str) -> Result<(), TrustError> {
    let ok = !group.is_empty()
        && group.len() <= 64
        && group.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_' || b == b'.')
        && !group.starts_with('.');
    if ok {
        Ok(())
    } else {
        Err(TrustError::invalid(dir, format!("group name {group:?}: use letters, digits, '.', '-', '_' (at most 64)")))
    }
}

/// Approves a published update for a group (replacing an earlier approval of it for that
/// group), signed by the `approvals` role.
pub async fn approve(
    dir: &Path,
    update_id: &str,
    group: &str,
    action: ApprovalAction,
    deadline: Option<&str>,
) -> Result<(), TrustError> {
    approve_locked(&RepoLock::acquire(dir, RepoLock::DEFAULT_WAIT).await?, update_id, group, action, deadline).await
}

/// [`approve`] under a lock the caller holds.
pub async fn approve_locked(
    lock: &RepoLock,
    update_id: &str,
    group: &str,
    action: ApprovalAction,
    deadline: Option<&str>,
) -> Result<(), TrustError> {
    let layout = lock.layout();
    let dir = &layout.dir;
    check_group(dir, group)?;
    if let Some(d) = deadline {
        d.parse::<jiff::Timestamp>()
            .map_err(|e| TrustError::invalid(dir, format!("deadline {d:?} is not RFC 3339: {e}")))?;
    }
    if !working_catalog(layout)?.documents.iter().any(|d| d.update_id == update_id) {
        return Err(TrustError::invalid(dir, format!("update {update_id} is not published")));
    }
    let mut approvals = read_approvals(layout, group)?;
    approvals.approvals.retain(|a| a.update_id != update_id);
    approvals.approvals.push(Approval { update_id: update_id.into(), action, deadline: deadline.map(str::to_owned) });
    approvals.approvals.sort_by(|a, b| a.update_id.cmp(&b.update_id));
    write_approvals(layout, &approvals)?;
    resign_locked(lock, &Lifetimes::default()).await
}

/// Withdraws an update's approval for a group.
pub async fn unapprove(dir: &Path, update_id: &str, group: &str) -> Result<(), TrustError> {
    unapprove_locked(&RepoLock::acquire(dir, RepoLock::DEFAULT_WAIT).await?, update_id, group).await
}

/// [`unapprove`] under a lock the caller holds.
pub async fn unapprove_locked(lock: &RepoLock, update_id: &str, group: &str) -> Result<(), TrustError> {
    let layout = lock.layout();
    check_group(&layout.dir, group)?;
    let mut approvals = read_approvals(layout, group)?;
    let before = approvals.approvals.len();
    approvals.approvals.retain(|a| a.update_id != update_id);
    if approvals.approvals.len() == before {
        return Err(TrustError::invalid(&layout.dir, format!("update {update_id} is not approved for group {group}")));
    }
    write_approvals(layout, &approvals)?;
    resign_locked(lock, &Lifetimes::default()).await
}

fn read_approvals(layout: &Layout, group: &str) -> Result<GroupApprovals, TrustError> {
    let path = layout.catalog().join(approvals_target(group));
    match std::fs::read(&path) {
        Ok(bytes) => serde_json::from_slice(&bytes).map_err(|e| TrustError::invalid(&path, e.to_string())),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            Ok(GroupApprovals { group: group.into(), approvals: vec![] })
        }
        Err(e) => Err(TrustError::io(&path, e)),
    }
}

fn write_approvals(layout: &Layout, approvals: &GroupApprovals) -> Result<(), TrustError> {
    let path = layout.catalog().join(approvals_target(&approvals.group));
    let bytes = serde_json::to_vec_pretty(approvals).map_err(|e| TrustError::invalid(&path, e.to_string()))?;
    write_shared(&path, &bytes)
}

/// The working approvals files.
fn approvals_files(layout: &Layout) -> Result<Vec<(String, PathBuf)>, TrustError> {
    let dir = layout.catalog();
    let mut files = Vec::new();
    for entry in std::fs::read_dir(&dir).map_err(|e| TrustError::io(&dir, e))? {
        let entry = entry.map_err(|e| TrustError::io(&dir, e))?;
        if let Some(name) = entry.file_name().to_str().filter(|n| n.starts_with("approvals-") && n.ends_with(".json")) {
            files.push((name.to_owned(), entry.path()));
        }
    }
    files.sort();
    Ok(files)
}

pub(crate) fn open(dir: &Path) -> Result<Layout, TrustError> {
    if !Layout::is_repository(dir) {
        return Err(TrustError::invalid(dir, "is not a wua repository (wua repo init creates one)"));
    }
    Ok(Layout::new(dir))
}

/// The working packs, in order.
fn pack_files(layout: &Layout) -> Result<Vec<(u32, PathBuf)>, TrustError> {
    let dir = layout.catalog();
    let mut packs = Vec::new();
    for entry in std::fs::read_dir(&dir).map_err(|e| TrustError::io(&dir, e))? {
        let entry = entry.map_err(|e| TrustError::io(&dir, e))?;
        if let Some(n) = entry.file_name().to_str().and_then(pack::number) {
            packs.push((n, entry.path()));
        }
    }
    packs.sort();
    Ok(packs)
}

fn working_catalog(layout: &Layout) -> Result<Catalog, TrustError> {
    let mut catalog = Catalog::default();
    for (n, path) in pack_files(layout)? {
        let text = fs_err::read_to_string(&path).map_err(|e| TrustError::io(&path, e))?;
        catalog.add_pack(&pack::target_name(n), &text);
    }
    Ok(catalog)
}

/// Appends an entry to the newest pack, or starts a new pack when that one is sealed.
fn append(layout: &Layout, entry: &PackEntry) -> Result<(), TrustError> {
    append_all(layout, std::slice::from_ref(entry))
}

/// Appends entries to the newest pack and new ones as packs seal. Each pack written is
/// rewritten once, under a temporary name and renamed, so it is whole at every instant.
fn append_all(layout: &Layout, entries: &[PackEntry]) -> Result<(), TrustError> {
    let packs = pack_files(layout)?;
    let seal = load_versions(layout)?.seal_entries.unwrap_or(SEAL_ENTRIES);
    let (mut n, mut text) = match packs.last() {
        Some((n, path)) => (*n, fs_err::read_to_string(path).map_err(|e| TrustError::io(path, e))?),
        None => (1, String::new()),
    };
    let mut lines = text.lines().count();
    let mut dirty = false;
    for entry in entries {
        let line = entry.line().map_err(|e| TrustError::invalid(layout.catalog(), e.to_string()))?;
        if lines >= seal || (lines > 0 && text.len() as u64 + line.len() as u64 > SEAL_BYTES) {
            if dirty {
                write_shared(&layout.catalog().join(pack::target_name(n)), text.as_bytes())?;
            }
            n += 1;
            text.clear();
            lines = 0;
        }
        text.push_str(&line);
        lines += 1;
        dirty = true;
    }
    if dirty {
        write_shared(&layout.catalog().join(pack::target_name(n)), text.as_bytes())?;
    }
    Ok(())
}

/// Stores a blob in the repository (content-addressed); returns its SHA-256 and size. For
/// bulk publishing with [`publish_documents`].
pub fn add_blob(dir: &Path, bytes: &[u8]) -> Result<(String, u64), TrustError> {
    add_blob_locked(&RepoLock::acquire_blocking(dir, RepoLock::DEFAULT_WAIT)?, bytes)
}

/// [`add_blob`] under a lock the caller holds.
pub fn add_blob_locked(lock: &RepoLock, bytes: &[u8]) -> Result<(String, u64), TrustError> {
    let layout = lock.layout();
    let sha = wua_fs::sha256_hex(bytes);
    if store_blob(layout, &sha, &mut &bytes[..], Path::new("<bytes>"))? {
        wua_fs::fsync_dir(&layout.blobs()).map_err(|e| TrustError::io(layout.blobs(), e))?;
    }
    Ok((sha, bytes.len() as u64))
}

/// Stores the bytes `source` yields as the blob `sha256` unless the repository has it: copied
/// to a temporary file, hashed on the way, synced and given mode 0644, then renamed into place
/// only if the bytes are the ones named (a payload changed since it was scanned is refused).
/// The caller syncs the blob directory once for all. Returns whether a blob was stored.
fn store_blob(layout: &Layout, sha256: &str, source: &mut dyn std::io::Read, from: &Path) -> Result<bool, TrustError> {
    let path = layout.blob(sha256);
    if path.exists() {
        return Ok(false);
    }
    let dir = layout.blobs();
    let mut tmp = tempfile::NamedTempFile::new_in(&dir).map_err(|e| TrustError::io(&dir, e))?;
    let (_, digest) =
        wua_fs::copy_hashing(source, &mut std::io::BufWriter::with_capacity(256 * 1024, tmp.as_file_mut()))
            .map_err(|e| TrustError::io(from, e))?;
    if hex::encode(digest) != sha256 {
        return Err(TrustError::invalid(
            from,
            format!("changed while it was published (its SHA-256 is no longer {sha256})"),
        ));
    }
    let file = tmp.as_file();
    file.set_permissions(std::fs::Permissions::from_mode(SHARED_FILE_MODE))
        .and_then(|()| file.sync_all())
        .map_err(|e| TrustError::io(tmp.path(), e))?;
    tmp.persist(&path).map_err(|e| TrustError::io(&path, e.error))?;
    Ok(true)
}

/// Publishes many documents in one signed change (a catalog import): each must be valid, name
/// only blobs the repository has, and be a new update or a higher revision.
pub async fn publish_documents(dir: &Path, documents: Vec<UpdateDocument>) -> Result<(), TrustError> {
    publish_documents_locked(&RepoLock::acquire(dir, RepoLock::DEFAULT_WAIT).await?, documents).await
}

/// [`publish_documents`] under a lock the caller holds.
pub async fn publish_documents_locked(lock: &RepoLock, documents: Vec<UpdateDocument>) -> Result<(), TrustError> {
    let layout = lock.layout();
    let dir = &layout.dir;
    let catalog = working_catalog(layout)?;
    let mut newest: HashMap<String, i32> = HashMap::new();
    for d in &catalog.documents {
        let slot = newest.entry(d.update_id.clone()).or_insert(d.revision_number);
        *slot = (*slot).max(d.revision_number);
    }
    for doc in &documents {
        doc.validate().map_err(|e| TrustError::invalid(dir, e.message))?;
        if newest.get(&doc.update_id).is_some_and(|r| doc.revision_number <= *r) {
            return Err(TrustError::invalid(
                dir,
                format!(
                    "update {} revision {} is not newer than the published one",
                    doc.update_id, doc.revision_number
                ),
            ));
        }
        newest.insert(doc.update_id.clone(), doc.revision_number);
        if let Some(missing) = doc.content.iter().find(|c| !layout.blob(&c.sha256).is_file()) {
            return Err(TrustError::invalid(
                dir,
                format!("update {}: blob {} is not in the repository", doc.update_id, missing.sha256),
            ));
        }
    }
    let entries: Vec<PackEntry> = documents.into_iter().map(|d| PackEntry::Document(Box::new(d))).collect();
    append_all(layout, &entries)?;
    resign_locked(lock, &Lifetimes::default()).await
}

/// Signs the online roles under a transition root (see [`Signing::Transition`]); for
/// `root::merge`.
pub(crate) async fn sign_transition(lock: &RepoLock, root: Root) -> Result<(), TrustError> {
    sign_all(lock, &Lifetimes::default(), &Signing::Transition(Box::new(root))).await
}

/// Which root and keys sign the online roles.
#[derive(Debug)]
pub(crate) enum Signing {
    /// The trusted root (`root.json`) and the online keys in place.
    Current,
    /// During a root change (`root::merge`): a root listing both the outgoing and the incoming
    /// keys of each online role, and both keys, so what is signed verifies under the current
    /// root and under the new one. It is never published itself.
    Transition(Box<Root>),
}

/// Signs targets (every pack), the approvals delegation, snapshot and timestamp with the next
/// versions, then publishes them in the safe order (see the module). First completes a root
/// change a crash interrupted (`root::settle`), so it signs with the keys the served root
/// names.
async fn sign_all(lock: &RepoLock, lifetimes: &Lifetimes, signing: &Signing) -> Result<(), TrustError> {
    let layout = lock.layout();
    root::settle(lock)?;
    let mut versions = load_versions(layout)?;
    versions.targets += 1;
    versions.snapshot += 1;
    versions.timestamp += 1;
    versions.approvals += 1;
    // Saved first: a version number used once is never used again, even if a crash stops
    // this signing half way.
    save_versions(layout, &versions)?;
    crash_point("sign: versions saved");
    let nz = |v: u64| NonZeroU64::new(v).unwrap_or(NonZeroU64::MIN);
    // The editor reads the root from a file: the trusted root, or the transition root written
    // beside the staging files.
    let staging = tempfile::Builder::new()
        .prefix(".staging-")
        .tempdir_in(&layout.dir)
        .map_err(|e| TrustError::io(&layout.dir, e))?;
    let (root_path, mut online) = match signing {
        Signing::Current => (layout.trusted_root(), Vec::new()),
        Signing::Transition(root) => {
            let path = staging.path().join("transition-root.json");
            let signed = Signed { signed: (**root).clone(), signatures: vec![] };
            let bytes = serde_json::to_vec(&signed).map_err(|e| TrustError::invalid(&path, e.to_string()))?;
            fs_err::write(&path, bytes).map_err(|e| TrustError::io(&path, e))?;
            let incoming = ONLINE.iter().map(|r| layout.key(&format!("{r}.next"))).filter(|p| p.exists());
            (path, incoming.map(keys::source).collect())
        }
    };
    online.extend(ONLINE.iter().map(|r| keys::source(layout.key(r))));
    let mut editor = RepositoryEditor::new(&root_path).await.map_err(refused)?;
    editor.targets_version(nz(versions.targets)).map_err(refused)?;
    editor.targets_expires(expires_in(lifetimes.targets)).map_err(refused)?;
    editor
        .snapshot_version(nz(versions.snapshot))
        .snapshot_expires(expires_in(lifetimes.snapshot))
        .timestamp_version(nz(versions.timestamp))
        .timestamp_expires(expires_in(lifetimes.timestamp));
    let packs = pack_files(layout)?;
    for (n, path) in &packs {
        let target = Target::from_path(path).await.map_err(|e| TrustError::invalid(path, e.to_string()))?;
        editor.add_target(pack::target_name(*n), target).map_err(refused)?;
    }
    let approvals_key: Vec<Box<dyn KeySource>> = vec![keys::source(layout.key(APPROVALS))];
    let approvals_paths = PathSet::Paths(vec![
        PathPattern::new("approvals-*").map_err(|e| TrustError::invalid(layout.keys(), e.to_string()))?,
    ]);
    editor
        .delegate_role(
            APPROVALS,
            &approvals_key,
            approvals_paths,
            true,
            NonZeroU64::MIN,
            expires_in(lifetimes.targets),
            nz(versions.approvals),
        )
        .await
        .map_err(refused)?;
    // The top-level targets, then the approvals role's own targets under its own key.
    editor.sign_targets_editor(&online).await.map_err(refused)?;
    editor.change_delegated_targets(APPROVALS).map_err(refused)?;
    // The editor of a delegated role starts without a version or an expiry date.
    editor.targets_version(nz(versions.approvals)).map_err(refused)?;
    editor.targets_expires(expires_in(lifetimes.targets)).map_err(refused)?;
    let approvals = approvals_files(layout)?;
    for (name, path) in &approvals {
        let target = Target::from_path(path).await.map_err(|e| TrustError::invalid(path, e.to_string()))?;
        editor.add_target(name.as_str(), target).map_err(refused)?;
    }
    editor.sign_targets_editor(&approvals_key).await.map_err(refused)?;
    let signed = editor.sign(&online).await.map_err(refused)?;

    // Hash-named target copies first: nothing refers to them until the metadata does.
    let mut copies: Vec<(String, PathBuf)> = packs.iter().map(|(n, p)| (pack::target_name(*n), p.clone())).collect();
    copies.extend(approvals);
    for (name, path) in &copies {
        let bytes = fs_err::read(path).map_err(|e| TrustError::io(path, e))?;
        let target = layout.targets().join(format!("{}.{name}", wua_fs::sha256_hex(&bytes)));
        if !target.exists() {
            write_shared(&target, &bytes)?;
        }
    }
    // Metadata: versioned names first, timestamp last. Root versions are written by
    // `root::merge` (and `init`), never here.
    let out = staging.path().join("out");
    fs_err::create_dir(&out).map_err(|e| TrustError::io(&out, e))?;
    signed.write(&out).await.map_err(refused)?;
    let mut names: Vec<String> = fs_err::read_dir(&out)
        .map_err(|e| TrustError::io(&out, e))?
        .filter_map(|e| e.ok()?.file_name().into_string().ok())
        .filter(|n| !n.ends_with(".root.json"))
        .collect();
    names.sort_by_key(|n| n == "timestamp.json");
    for name in names {
        if name == "timestamp.json" {
            crash_point("sign: versioned metadata written");
        }
        let from = out.join(&name);
        let bytes = fs_err::read(&from).map_err(|e| TrustError::io(&from, e))?;
        write_shared(&layout.metadata().join(&name), &bytes)?;
    }
    crash_point("sign: timestamp written");
    Ok(())
}

fn load_versions(layout: &Layout) -> Result<Versions, TrustError> {
    let path = layout.versions();
    let text = fs_err::read_to_string(&path).map_err(|e| TrustError::io(&path, e))?;
    serde_json::from_str(&text).map_err(|e| TrustError::invalid(&path, e.to_string()))
}

fn save_versions(layout: &Layout, v: &Versions) -> Result<(), TrustError> {
    let text = serde_json::to_vec_pretty(v).map_err(|e| TrustError::invalid(layout.versions(), e.to_string()))?;
    write_shared(&layout.versions(), &text)
}

/// Replaces a file meant to be shared (metadata, packs, targets, `root.json`) durably, mode
/// 0644 whatever the umask.
pub(crate) fn write_shared(path: &Path, bytes: &[u8]) -> Result<(), TrustError> {
    wua_fs::write_atomic(path, bytes, SHARED_FILE_MODE).map_err(|e| TrustError::io(path, e))
}

/// The writers' lock: an exclusive `flock` on `repo.lock`, with the holder's pid inside. Every
/// function that changes a repository takes one (`&RepoLock`), so none can run without it;
/// dropping it releases the lock.
#[derive(Debug)]
pub struct RepoLock {
    _file: LockFile,
    layout: Layout,
}

impl RepoLock {
    /// How long a writer waits for another to finish by default: long enough that a writer
    /// never fails because another finished a moment later.
    pub const DEFAULT_WAIT: Duration = Duration::from_secs(10);

    /// Takes the lock of the repository in `dir`, waiting at most `wait` for another writer to
    /// finish, then `WUA_E_REPO_LOCKED` naming the holder's pid. The wait happens on a blocking
    /// thread, never on the runtime's.
    pub async fn acquire(dir: &Path, wait: Duration) -> Result<RepoLock, TrustError> {
        RepoLock::acquire_in(open(dir)?, wait).await
    }

    /// [`RepoLock::acquire`] for callers outside a runtime.
    pub fn acquire_blocking(dir: &Path, wait: Duration) -> Result<RepoLock, TrustError> {
        RepoLock::take(open(dir)?, wait)
    }

    /// The lock of a repository being created (`init`), or one already opened.
    pub(crate) async fn acquire_in(layout: Layout, wait: Duration) -> Result<RepoLock, TrustError> {
        let dir = layout.dir.clone();
        tokio::task::spawn_blocking(move || RepoLock::take(layout, wait))
            .await
            .map_err(|e| TrustError::io(dir, std::io::Error::other(e.to_string())))?
    }

    fn take(layout: Layout, wait: Duration) -> Result<RepoLock, TrustError> {
        match LockFile::acquire_within(&layout.lock(), wait) {
            Ok(file) => Ok(RepoLock { _file: file, layout }),
            Err(LockError::Busy { holder, .. }) => Err(TrustError::Locked { path: layout.dir, holder }),
            Err(LockError::Io { path, source }) => Err(TrustError::io(path, source)),
        }
    }

    /// The repository this lock is for.
    pub fn layout(&self) -> &Layout {
        &self.layout
    }
}
