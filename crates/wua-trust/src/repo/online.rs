//! Signing without the targets key: the roles a server holds the keys of, re-signed on their
//! own on top of what is served.
//!
//! `sign_all` (module `sign`) re-signs every role and re-hashes every pack, so it needs every
//! online key. A wua server holds only the approvals, snapshot and timestamp keys (the targets
//! key stays with the publisher, the root keys offline), so it signs from the served metadata
//! down, leaving what it cannot sign as it is:
//!
//! - approvals: a new `approvals` version from the working approvals files (verifying against
//!   the delegation the served `targets` metadata holds), then a new snapshot and timestamp;
//! - snapshot: a new snapshot listing the same targets and approvals, then a new timestamp;
//! - timestamp: a new timestamp naming the same snapshot.
//!
//! None of them reads a pack. Each keeps the rules of every writer: the root change a crash
//! interrupted is completed first (`root::settle`), versions are saved (and only go up) before
//! they are signed, and files are published in the order a reader never sees half of (hash-named
//! targets, versioned metadata, `timestamp.json` last). [`expiries`] tells a timer which of them
//! is due.

use std::collections::HashMap;
use std::num::NonZeroU64;
use std::path::{Path, PathBuf};

use aws_lc_rs::rand::SystemRandom;
use serde::de::DeserializeOwned;
use tough::TargetName;
use tough::editor::signed::SignedRole;
use tough::schema::{
    DelegatedTargets, Hashes, KeyHolder, Metafile, Role, Root, Signed, Snapshot, Target, Targets, Timestamp,
};
use wua_fs::crash_point;

use super::approve::approvals_files;
use super::lock::{RepoLock, open};
use super::sign::{Lifetimes, expires_in, load_versions, publish_target, save_versions, write_shared};
use crate::approvals::APPROVALS;
use crate::error::TrustError;
use crate::keys;
use crate::layout::Layout;
use crate::root;

const SPEC_VERSION: &str = "1.0.0";

/// When the served metadata of each role expires: a timer re-signs the timestamp on every tick
/// ([`resign_timestamp`]), the snapshot when its own expiry is near ([`resign_snapshot`]), the
/// approvals likewise ([`resign_approvals`]); the targets only the publisher can re-sign.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Expiries {
    /// `timestamp.json`.
    pub timestamp: jiff::Timestamp,
    /// The snapshot the timestamp names.
    pub snapshot: jiff::Timestamp,
    /// The targets the snapshot names.
    pub targets: jiff::Timestamp,
    /// The approvals the snapshot names.
    pub approvals: jiff::Timestamp,
}

/// The expiry dates of what the repository in `dir` serves now, read from `timestamp.json`
/// down (no lock: served files are replaced whole, and versioned ones never change).
pub fn expiries(dir: &Path) -> Result<Expiries, TrustError> {
    let served = Served::read(&open(dir)?)?;
    Ok(Expiries {
        timestamp: served.timestamp.signed.expires,
        snapshot: served.snapshot.signed.expires,
        targets: served.targets.signed.expires,
        approvals: served.approvals.signed.expires,
    })
}

/// Re-signs the timestamp alone (next version, new expiry date, the same snapshot): needs only
/// `keys/timestamp.pk8`. What a timer runs on every tick.
pub async fn resign_timestamp(dir: &Path, lifetimes: &Lifetimes) -> Result<(), TrustError> {
    resign_timestamp_locked(&RepoLock::acquire(dir, RepoLock::DEFAULT_WAIT).await?, lifetimes).await
}

/// [`resign_timestamp`] under a lock the caller holds.
pub async fn resign_timestamp_locked(lock: &RepoLock, lifetimes: &Lifetimes) -> Result<(), TrustError> {
    sign_online(lock, lifetimes, Scope::Timestamp).await
}

/// Re-signs the snapshot (the same targets and approvals) and the timestamp: needs only the
/// snapshot and timestamp keys.
pub async fn resign_snapshot(dir: &Path, lifetimes: &Lifetimes) -> Result<(), TrustError> {
    resign_snapshot_locked(&RepoLock::acquire(dir, RepoLock::DEFAULT_WAIT).await?, lifetimes).await
}

/// [`resign_snapshot`] under a lock the caller holds.
pub async fn resign_snapshot_locked(lock: &RepoLock, lifetimes: &Lifetimes) -> Result<(), TrustError> {
    sign_online(lock, lifetimes, Scope::Snapshot).await
}

/// Re-signs the approvals role from the working approvals files, then the snapshot and the
/// timestamp: needs the approvals, snapshot and timestamp keys, never the targets key. What
/// every change of approvals does last; a timer runs it when the approvals' expiry is near.
pub async fn resign_approvals(dir: &Path, lifetimes: &Lifetimes) -> Result<(), TrustError> {
    resign_approvals_locked(&RepoLock::acquire(dir, RepoLock::DEFAULT_WAIT).await?, lifetimes).await
}

/// [`resign_approvals`] under a lock the caller holds.
pub async fn resign_approvals_locked(lock: &RepoLock, lifetimes: &Lifetimes) -> Result<(), TrustError> {
    sign_online(lock, lifetimes, Scope::Approvals).await
}

/// [`resign_approvals_locked`], for the approval writers.
pub(super) async fn sign_approvals(lock: &RepoLock, lifetimes: &Lifetimes) -> Result<(), TrustError> {
    sign_online(lock, lifetimes, Scope::Approvals).await
}

/// Checks that approvals can be signed alone (the served metadata reads, the approvals,
/// snapshot and timestamp keys are here and the approvals key is the delegated one), so a
/// writer refuses before it changes the working approvals.
pub(super) fn check_approvals_signing(layout: &Layout) -> Result<(), TrustError> {
    let served = Served::read(layout)?;
    key(layout, "timestamp")?;
    key(layout, "snapshot")?;
    approvals_key(layout, &served).map(|_| ())
}

/// How far down from the timestamp a signing goes; each scope includes the ones before it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
enum Scope {
    Timestamp,
    Snapshot,
    Approvals,
}

impl Scope {
    fn label(self) -> &'static str {
        match self {
            Scope::Timestamp => "timestamp",
            Scope::Snapshot => "snapshot",
            Scope::Approvals => "approvals",
        }
    }
}

/// The metadata served now, from `timestamp.json` down.
struct Served {
    timestamp: Signed<Timestamp>,
    snapshot: Signed<Snapshot>,
    targets: Signed<Targets>,
    targets_path: PathBuf,
    approvals: Signed<Targets>,
}

impl Served {
    fn read(layout: &Layout) -> Result<Served, TrustError> {
        let md = layout.metadata();
        let timestamp_path = md.join("timestamp.json");
        let timestamp: Signed<Timestamp> = read_json(&timestamp_path)?;
        let v = listed(&timestamp.signed.meta, "snapshot.json", &timestamp_path)?.version;
        let snapshot_path = md.join(format!("{v}.snapshot.json"));
        let snapshot: Signed<Snapshot> = read_json(&snapshot_path)?;
        let v = listed(&snapshot.signed.meta, "targets.json", &snapshot_path)?.version;
        let targets_path = md.join(format!("{v}.targets.json"));
        let targets = read_json(&targets_path)?;
        let v = listed(&snapshot.signed.meta, &format!("{APPROVALS}.json"), &snapshot_path)?.version;
        let approvals = read_json(&md.join(format!("{v}.{APPROVALS}.json")))?;
        Ok(Served { timestamp, snapshot, targets, targets_path, approvals })
    }
}

fn listed<'a>(meta: &'a HashMap<String, Metafile>, name: &str, path: &Path) -> Result<&'a Metafile, TrustError> {
    meta.get(name).ok_or_else(|| TrustError::invalid(path, format!("does not list {name}")))
}

fn read_json<T: DeserializeOwned>(path: &Path) -> Result<T, TrustError> {
    let bytes = fs_err::read(path).map_err(|e| TrustError::io(path, e))?;
    serde_json::from_slice(&bytes).map_err(|e| TrustError::invalid(path, format!("is not valid metadata: {e}")))
}

/// A signing key that must be here, checked before anything is saved so a missing key fails
/// with its file named and nothing changed.
fn key(layout: &Layout, name: &str) -> Result<PathBuf, TrustError> {
    let path = layout.key(name);
    keys::public_key(&path)?;
    Ok(path)
}

/// Signs `scope` and the roles above it on top of the served metadata (see the module).
async fn sign_online(lock: &RepoLock, lifetimes: &Lifetimes, scope: Scope) -> Result<(), TrustError> {
    let layout = lock.layout();
    let label = scope.label();
    root::settle(lock)?;
    let root: Signed<Root> = read_json(&layout.trusted_root())?;
    let served = Served::read(layout)?;
    let timestamp_key = key(layout, "timestamp")?;
    let snapshot_key = if scope >= Scope::Snapshot { Some(key(layout, "snapshot")?) } else { None };
    let approvals_key = if scope >= Scope::Approvals { Some(approvals_key(layout, &served)?) } else { None };

    // Above both what was saved and what is served: versions only go up, even after a copy of
    // the repository was restored beside its versions file.
    let mut versions = load_versions(layout)?;
    versions.timestamp = versions.timestamp.max(served.timestamp.signed.version.get()) + 1;
    if scope >= Scope::Snapshot {
        versions.snapshot = versions.snapshot.max(served.snapshot.signed.version.get()) + 1;
    }
    if scope >= Scope::Approvals {
        versions.approvals = versions.approvals.max(served.approvals.signed.version.get()) + 1;
    }
    save_versions(layout, &versions)?;
    crash_point(&format!("sign {label}: versions saved"));
    let nz = |v: u64| NonZeroU64::new(v).unwrap_or(NonZeroU64::MIN);
    let write = |e: tough::error::Error| TrustError::write(&layout.dir, e);
    let rng = SystemRandom::new();
    let holder = KeyHolder::Root(root.signed);

    let mut copies: Vec<(String, Vec<u8>)> = Vec::new();
    let approvals = match approvals_key {
        Some(key) => {
            let Some(delegations) = served.targets.signed.delegations.clone() else {
                return Err(TrustError::invalid(&served.targets_path, "delegates no approvals role"));
            };
            let mut role = served.approvals.signed.clone();
            role.version = nz(versions.approvals);
            role.expires = expires_in(lifetimes.targets);
            role.targets.clear();
            for (name, path) in approvals_files(layout)? {
                let bytes = fs_err::read(&path).map_err(|e| TrustError::io(&path, e))?;
                let target_name = TargetName::new(name.as_str()).map_err(write)?;
                if !delegations.target_is_delegated(&target_name) {
                    return Err(TrustError::invalid(
                        &served.targets_path,
                        format!("does not delegate {name} to the approvals role"),
                    ));
                }
                role.targets.insert(target_name, target_of(&bytes));
                copies.push((name, bytes));
            }
            let role = DelegatedTargets { name: APPROVALS.into(), targets: role };
            let signed = SignedRole::new(role, &KeyHolder::Delegations(delegations), &[keys::source(key)], &rng)
                .await
                .map_err(write)?;
            Some(signed)
        }
        None => None,
    };
    let snapshot = match snapshot_key {
        Some(key) => {
            let mut snapshot =
                Snapshot::new(SPEC_VERSION.into(), nz(versions.snapshot), expires_in(lifetimes.snapshot));
            snapshot.meta = served.snapshot.signed.meta.clone();
            if let Some(approvals) = &approvals {
                snapshot.meta.insert(format!("{APPROVALS}.json"), metafile(approvals));
            }
            Some(SignedRole::new(snapshot, &holder, &[keys::source(key)], &rng).await.map_err(write)?)
        }
        None => None,
    };
    let snapshot_meta = match &snapshot {
        Some(signed) => metafile(signed),
        None => {
            listed(&served.timestamp.signed.meta, "snapshot.json", &layout.metadata().join("timestamp.json"))?.clone()
        }
    };
    let mut timestamp = Timestamp::new(SPEC_VERSION.into(), nz(versions.timestamp), expires_in(lifetimes.timestamp));
    timestamp.meta.insert("snapshot.json".into(), snapshot_meta);
    let timestamp = SignedRole::new(timestamp, &holder, &[keys::source(timestamp_key)], &rng).await.map_err(write)?;

    // Hash-named targets first: nothing refers to them until the metadata does.
    for (name, bytes) in &copies {
        publish_target(layout, name, bytes)?;
    }
    let md = layout.metadata();
    if let Some(approvals) = &approvals {
        write_shared(&md.join(approvals.signed().signed.filename(true)), approvals.buffer())?;
    }
    if let Some(snapshot) = &snapshot {
        write_shared(&md.join(snapshot.signed().signed.filename(true)), snapshot.buffer())?;
        crash_point(&format!("sign {label}: versioned metadata written"));
    }
    write_shared(&md.join("timestamp.json"), timestamp.buffer())?;
    crash_point(&format!("sign {label}: timestamp written"));
    Ok(())
}

/// The approvals key, refused unless it is the one the served targets metadata delegates the
/// approvals role to (after a rotation of the approvals key, the targets role must be re-signed
/// by its holder before approvals can be signed alone).
fn approvals_key(layout: &Layout, served: &Served) -> Result<PathBuf, TrustError> {
    let path = layout.key(APPROVALS);
    let id =
        keys::public_key(&path)?.key_id().map_err(|e| TrustError::Key { path: path.clone(), detail: e.to_string() })?;
    let delegated = served
        .targets
        .signed
        .delegations
        .as_ref()
        .and_then(|d| d.roles.iter().find(|r| r.name == APPROVALS))
        .is_some_and(|r| r.keyids.contains(&id));
    if delegated {
        Ok(path)
    } else {
        Err(TrustError::Key {
            path,
            detail: format!(
                "is not the key {} delegates the approvals role to (rotated since the targets were signed?): re-sign the targets role first (`wua repo resign`, with the targets key)",
                served.targets_path.display()
            ),
        })
    }
}

/// A target entry for `bytes`, as `Target::from_path` makes it.
fn target_of(bytes: &[u8]) -> Target {
    Target {
        length: bytes.len() as u64,
        hashes: Hashes { sha256: sha256(bytes).into(), _extra: HashMap::new() },
        custom: HashMap::new(),
        _extra: HashMap::new(),
    }
}

/// The entry a snapshot or timestamp lists for a signed role: version, length and hash, as
/// `RepositoryEditor` writes them.
fn metafile<R: Role>(role: &SignedRole<R>) -> Metafile {
    Metafile {
        length: Some(*role.length()),
        hashes: Some(Hashes { sha256: role.sha256().to_vec().into(), _extra: HashMap::new() }),
        version: role.signed().signed.version(),
        _extra: HashMap::new(),
    }
}

fn sha256(bytes: &[u8]) -> Vec<u8> {
    aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, bytes).as_ref().to_vec()
}
