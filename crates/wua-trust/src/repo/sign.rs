//! Signing: the online roles re-signed with new versions and published in the order a reader
//! never sees half of; the role versions, which only go up; durable writes of shared files.

use std::num::NonZeroU64;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use tough::editor::RepositoryEditor;
use tough::key_source::KeySource;
use tough::schema::{PathPattern, PathSet, Root, Signed, Target};
use wua_fs::SHARED_FILE_MODE;
use wua_fs::crash_point;

use super::approve::approvals_files;
use super::catalog::pack_files;
use super::lock::RepoLock;
use crate::approvals::APPROVALS;
use crate::error::TrustError;
use crate::keys;
use crate::layout::Layout;
use crate::{pack, root};

/// How long each role's metadata stays valid after it is signed.
#[derive(Clone, Copy, Debug)]
pub struct Lifetimes {
    /// `root` (signed by the offline keys).
    pub root: jiff::SignedDuration,
    /// `targets` and the `approvals` delegation.
    pub targets: jiff::SignedDuration,
    /// `snapshot`.
    pub snapshot: jiff::SignedDuration,
    /// `timestamp`: short, so a frozen repository is noticed (re-sign it with `resign` or
    /// `resign_timestamp`).
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
pub(super) struct Versions {
    pub(super) targets: u64,
    pub(super) snapshot: u64,
    pub(super) timestamp: u64,
    pub(super) approvals: u64,
    #[serde(default)]
    pub(super) seal_entries: Option<usize>,
}

/// The online roles, whose keys sign every change.
const ONLINE: [&str; 3] = ["targets", "snapshot", "timestamp"];

/// Now plus `d`, in whole seconds: TUF writes expiry dates as `YYYY-MM-DDTHH:MM:SSZ`, and
/// other clients (python-tuf) refuse fractions of a second.
pub(crate) fn expires_in(d: jiff::SignedDuration) -> jiff::Timestamp {
    let t = jiff::Timestamp::now().checked_add(d).unwrap_or(jiff::Timestamp::MAX);
    jiff::Timestamp::from_second(t.as_second()).unwrap_or(t)
}

/// Re-signs every online role with new versions and expiry dates, re-hashing every pack: needs
/// every online key (the targets key too). A timer that holds only some of them re-signs with
/// `resign_timestamp`, `resign_snapshot` or `resign_approvals`.
pub async fn resign(dir: &Path, lifetimes: &Lifetimes) -> Result<(), TrustError> {
    resign_locked(&RepoLock::acquire(dir, RepoLock::DEFAULT_WAIT).await?, lifetimes).await
}

/// [`resign`] under a lock the caller holds: what every writer does last.
pub async fn resign_locked(lock: &RepoLock, lifetimes: &Lifetimes) -> Result<(), TrustError> {
    sign_all(lock, lifetimes, &Signing::Current).await
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
    let mut editor = RepositoryEditor::new(&root_path).await.map_err(|e| TrustError::write(&layout.dir, e))?;
    editor.targets_version(nz(versions.targets)).map_err(|e| TrustError::write(&layout.dir, e))?;
    editor.targets_expires(expires_in(lifetimes.targets)).map_err(|e| TrustError::write(&layout.dir, e))?;
    editor
        .snapshot_version(nz(versions.snapshot))
        .snapshot_expires(expires_in(lifetimes.snapshot))
        .timestamp_version(nz(versions.timestamp))
        .timestamp_expires(expires_in(lifetimes.timestamp));
    let packs = pack_files(layout)?;
    for (n, path) in &packs {
        let target = Target::from_path(path).await.map_err(|e| TrustError::write(path, e))?;
        editor.add_target(pack::target_name(*n), target).map_err(|e| TrustError::write(&layout.dir, e))?;
    }
    let approvals_key: Vec<Box<dyn KeySource>> = vec![keys::source(layout.key(APPROVALS))];
    let approvals_paths =
        PathSet::Paths(vec![PathPattern::new("approvals-*").map_err(|e| TrustError::write(&layout.dir, e))?]);
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
        .map_err(|e| TrustError::write(&layout.dir, e))?;
    // The top-level targets, then the approvals role's own targets under its own key.
    editor.sign_targets_editor(&online).await.map_err(|e| TrustError::write(&layout.dir, e))?;
    editor.change_delegated_targets(APPROVALS).map_err(|e| TrustError::write(&layout.dir, e))?;
    // The editor of a delegated role starts without a version or an expiry date.
    editor.targets_version(nz(versions.approvals)).map_err(|e| TrustError::write(&layout.dir, e))?;
    editor.targets_expires(expires_in(lifetimes.targets)).map_err(|e| TrustError::write(&layout.dir, e))?;
    let approvals = approvals_files(layout)?;
    for (name, path) in &approvals {
        let target = Target::from_path(path).await.map_err(|e| TrustError::write(path, e))?;
        editor.add_target(name.as_str(), target).map_err(|e| TrustError::write(&layout.dir, e))?;
    }
    editor.sign_targets_editor(&approvals_key).await.map_err(|e| TrustError::write(&layout.dir, e))?;
    let signed = editor.sign(&online).await.map_err(|e| TrustError::write(&layout.dir, e))?;

    // Hash-named target copies first: nothing refers to them until the metadata does.
    let mut copies: Vec<(String, PathBuf)> = packs.iter().map(|(n, p)| (pack::target_name(*n), p.clone())).collect();
    copies.extend(approvals);
    for (name, path) in &copies {
        let bytes = fs_err::read(path).map_err(|e| TrustError::io(path, e))?;
        publish_target(layout, name, &bytes)?;
    }
    // Metadata: versioned names first, timestamp last. Root versions are written by
    // `root::merge` (and `init`), never here.
    let out = staging.path().join("out");
    fs_err::create_dir(&out).map_err(|e| TrustError::io(&out, e))?;
    signed.write(&out).await.map_err(|e| TrustError::write(&layout.dir, e))?;
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

/// Writes the hash-named copy of a target (`<sha256>.<name>`) unless it is there: a name that
/// never stands for other bytes, so an existing copy is already right.
pub(super) fn publish_target(layout: &Layout, name: &str, bytes: &[u8]) -> Result<(), TrustError> {
    let target = layout.targets().join(format!("{}.{name}", wua_fs::sha256_hex(bytes)));
    if target.exists() { Ok(()) } else { write_shared(&target, bytes) }
}

pub(super) fn load_versions(layout: &Layout) -> Result<Versions, TrustError> {
    let path = layout.versions();
    let text = fs_err::read_to_string(&path).map_err(|e| TrustError::io(&path, e))?;
    serde_json::from_str(&text).map_err(|e| TrustError::invalid(&path, e.to_string()))
}

pub(super) fn save_versions(layout: &Layout, v: &Versions) -> Result<(), TrustError> {
    let text = serde_json::to_vec_pretty(v).map_err(|e| TrustError::invalid(layout.versions(), e.to_string()))?;
    write_shared(&layout.versions(), &text)
}

/// Replaces a file meant to be shared (metadata, packs, targets, `root.json`) durably, mode
/// 0644 whatever the umask.
pub(crate) fn write_shared(path: &Path, bytes: &[u8]) -> Result<(), TrustError> {
    wua_fs::write_atomic(path, bytes, SHARED_FILE_MODE).map_err(|e| TrustError::io(path, e))
}
