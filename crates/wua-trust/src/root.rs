//! The root of trust: rotating a role's key into a new root version, and signing a root with
//! keys kept offline.
//!
//! A new root version is a proposal (`DIR/root-<N>.proposed.json`, a signed root with the
//! signatures gathered so far) until it carries a threshold of signatures of both the current
//! root's root keys and its own (TUF 1.0, 5.3.4); `merge` then installs it (`N.root.json`, the
//! trusted `root.json`) and re-signs the online roles. With the root keys on this machine,
//! `rotate_key` signs and installs at once; with root keys elsewhere, each holder runs
//! `sign` on a copy of the proposal and the copies are merged. A repository created with its
//! root keys elsewhere (`repo::init` given their public halves) starts the same way: its first
//! root is the proposal `root-1.proposed.json`, and `merge` installs it (its own threshold; there
//! is no current root) before anything is signed.
//!
//! Both run under the writers' lock and write every file durably, in an order after which a
//! crash at any point leaves a repository agents accept: the online roles are first signed by
//! the outgoing and the incoming keys together (valid under the current root and the new one),
//! then the new root version is published, then `root.json` replaced, then the keys moved into
//! place, then everything re-signed by the new keys alone. The next writer completes a change
//! a crash interrupted (`settle`).

use std::num::NonZeroU64;
use std::path::{Path, PathBuf};

use aws_lc_rs::rand::SystemRandom;
use olpc_cjson::CanonicalFormatter;
use serde::Serialize;
use tough::schema::decoded::{Decoded, Hex};
use tough::schema::{RoleType, Root, Signature, Signed};
use tough::sign::{Sign, parse_keypair};

use wua_fs::crash_point;

use crate::approvals::APPROVALS;
use crate::error::TrustError;
use crate::keys;
use crate::layout::Layout;
use crate::repo::{self, Lifetimes, RepoLock, write_shared};

/// What `rotate_key` did.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Rotation {
    /// The new key is in use (the approvals key, or a root signed here).
    Installed,
    /// A new root version awaits signatures of root keys kept elsewhere: sign copies of this
    /// file with `sign`, then `merge` them.
    Proposed(PathBuf),
}

/// Replaces `role`'s key (`targets`, `snapshot`, `timestamp` or `approvals`) with a new one.
/// The old key is revoked: metadata it signs is refused by agents that trust the new root.
pub async fn rotate_key(dir: &Path, role: &str) -> Result<Rotation, TrustError> {
    rotate_key_locked(&RepoLock::acquire(dir, RepoLock::DEFAULT_WAIT).await?, role).await
}

/// [`rotate_key`] under a lock the caller holds.
pub async fn rotate_key_locked(lock: &RepoLock, role: &str) -> Result<Rotation, TrustError> {
    let layout = lock.layout();
    let dir = &layout.dir;
    settle(lock)?;
    let role_type = match role {
        "targets" => RoleType::Targets,
        "snapshot" => RoleType::Snapshot,
        "timestamp" => RoleType::Timestamp,
        root_key if is_root_key_name(root_key) => RoleType::Root,
        APPROVALS => {
            // The delegation lives in the targets role, re-signed with the new key at once: an
            // incoming approvals key is moved into place by `settle` whenever one is found.
            keys::generate(&layout.key(&format!("{APPROVALS}.next")))?;
            crash_point("rotate: new key generated");
            settle_keys(layout, &read_root(&layout.trusted_root())?.signed)?;
            crash_point("rotate: key in place");
            repo::resign_locked(lock, &Lifetimes::default()).await?;
            return Ok(Rotation::Installed);
        }
        other => {
            return Err(TrustError::invalid(
                dir,
                format!("cannot rotate {other:?}: targets, snapshot, timestamp, approvals or a root key (root-N)"),
            ));
        }
    };
    let current = read_root(&layout.trusted_root())?;
    let next_key_path = layout.key(&format!("{role}.next"));
    if next_key_path.exists() {
        return Err(TrustError::invalid(
            &next_key_path,
            "a rotation of this role is already proposed: merge its proposal, or remove this key file to start again",
        ));
    }
    let new_key = keys::generate(&next_key_path)?;
    crash_point("rotate: new key generated");
    let new_id =
        new_key.key_id().map_err(|e| TrustError::Key { path: next_key_path.clone(), detail: e.to_string() })?;
    let mut root = current.signed.clone();
    root.version = NonZeroU64::new(root.version.get() + 1).unwrap_or(NonZeroU64::MIN);
    root.expires = repo::expires_in(Lifetimes::default().root);
    // The key ids the new one replaces: the role's only key, or the one root key named.
    let replaced: Vec<Decoded<Hex>> = if role_type == RoleType::Root {
        let path = layout.key(role);
        let old = keys::public_key(&path)
            .and_then(|k| k.key_id().map_err(|e| TrustError::Key { path: path.clone(), detail: e.to_string() }));
        match old {
            Ok(id) => vec![id],
            Err(e) => {
                let _ = std::fs::remove_file(&next_key_path);
                return Err(e);
            }
        }
    } else {
        root.roles.get(&role_type).map(|r| r.keyids.clone()).unwrap_or_default()
    };
    for id in &replaced {
        let still_used = root.roles.iter().any(|(t, r)| *t != role_type && r.keyids.contains(id));
        if !still_used {
            root.keys.remove(id);
        }
    }
    root.keys.insert(new_id.clone(), new_key);
    if let Some(r) = root.roles.get_mut(&role_type) {
        r.keyids.retain(|id| !replaced.contains(id));
        r.keyids.push(new_id);
    }
    let mut proposal = Signed { signed: root, signatures: vec![] };
    // Sign with every root key present here: the current ones count toward the current root's
    // threshold, the new one (when a root key is rotated) toward the new root's.
    for path in local_root_keys(layout)? {
        add_signature(&mut proposal, &path).await?;
    }
    let file = layout.root_proposal(proposal.signed.version.get());
    write_root(&file, &proposal)?;
    crash_point("rotate: proposal written");
    match merge_locked(lock, std::slice::from_ref(&file)).await {
        Ok(()) => Ok(Rotation::Installed),
        // Only a proposal short of signatures waits; any other failure is the caller's to see.
        Err(TrustError::RootThreshold { .. }) => Ok(Rotation::Proposed(file)),
        Err(e) => Err(e),
    }
}

/// Adds a signature by the root key at `key` to the root proposal in `file`.
pub async fn sign(file: &Path, key: &Path) -> Result<(), TrustError> {
    let mut proposal = read_root(file)?;
    add_signature(&mut proposal, key).await?;
    write_root(file, &proposal)
}

/// Installs a new root version from copies of one proposal carrying signatures: refused unless
/// the signatures meet the threshold of the current root's root role and of its own. In a
/// repository created with its root keys elsewhere, installs the first root (the copies must
/// be of the repository's own `root-1.proposed.json` and meet its threshold) and signs the
/// online roles for the first time. The signed copies given are left as they are; the
/// repository's own proposal of the version installed (`root-N.proposed.json`) is removed.
pub async fn merge(dir: &Path, files: &[PathBuf]) -> Result<(), TrustError> {
    merge_locked(&RepoLock::acquire_any(dir, RepoLock::DEFAULT_WAIT).await?, files).await
}

/// [`merge`] under a lock the caller holds (`RepoLock::acquire_any` for a first root).
pub async fn merge_locked(lock: &RepoLock, files: &[PathBuf]) -> Result<(), TrustError> {
    let layout = lock.layout();
    let dir = &layout.dir;
    if layout.is_root_pending() {
        return merge_first(lock, files).await;
    }
    settle(lock)?;
    let current = read_root(&layout.trusted_root())?;
    let Some(first) = files.first() else { return Err(TrustError::invalid(dir, "no proposal to merge")) };
    let merged = gather(files)?;
    if merged.signed.version.get() != current.signed.version.get() + 1 {
        return Err(TrustError::invalid(
            first,
            format!(
                "proposes root version {}; the next version is {}",
                merged.signed.version,
                current.signed.version.get() + 1
            ),
        ));
    }
    // TUF 5.3.4: the new root must be signed by a threshold of the old root keys and of its own.
    let threshold = |whose: &'static str, e: tough::schema::Error| TrustError::RootThreshold {
        path: first.clone(),
        whose,
        detail: e.to_string(),
    };
    current.signed.verify_role(&merged).map_err(|e| threshold("the current root's", e))?;
    merged.signed.verify_role(&merged).map_err(|e| threshold("its own", e))?;

    let version = merged.signed.version.get();
    let bytes = serde_json::to_vec_pretty(&merged).map_err(|e| TrustError::invalid(first, e.to_string()))?;
    // The online roles, signed by the outgoing and the incoming keys: valid under both roots.
    repo::sign_transition(lock, transition_root(&current.signed, &merged.signed)).await?;
    crash_point("merge: signed for both roots");
    write_shared(&layout.metadata().join(format!("{version}.root.json")), &bytes)?;
    crash_point("merge: root version published");
    write_shared(&layout.trusted_root(), &bytes)?;
    crash_point("merge: trusted root replaced");
    settle_keys(layout, &merged.signed)?;
    crash_point("merge: keys in place");
    // The signed copies are the caller's, never removed: they may be the only record of the
    // signatures gathered, and a merge killed before this point runs again from them. The
    // proposal this repository wrote (`root-N.proposed.json`) is installed, so it goes, whether
    // or not it was one of the copies (a crash before this line: `settle` removes it).
    remove_installed_proposals(layout, version)?;
    repo::resign_locked(lock, &Lifetimes::default()).await
}

/// The first root of a repository created with its root keys elsewhere: the signed copies of
/// its proposal, installed as `1.root.json` and then `root.json` (a crash before the second
/// write leaves the repository still waiting, and the merge can run again), then the online
/// roles signed for the first time.
async fn merge_first(lock: &RepoLock, files: &[PathBuf]) -> Result<(), TrustError> {
    let layout = lock.layout();
    let own = layout.root_proposal(1);
    let Some(first) = files.first() else { return Err(TrustError::invalid(&layout.dir, "no proposal to merge")) };
    let merged = gather(files)?;
    // Only the repository's own proposal: it lists the online keys this repository holds.
    if canonical(&merged.signed, first)? != canonical(&read_root(&own)?.signed, &own)? {
        return Err(TrustError::invalid(first, format!("is not a signed copy of {}", own.display())));
    }
    merged.signed.verify_role(&merged).map_err(|e| TrustError::RootThreshold {
        path: first.clone(),
        whose: "its own",
        detail: e.to_string(),
    })?;
    let bytes = serde_json::to_vec_pretty(&merged).map_err(|e| TrustError::invalid(first, e.to_string()))?;
    write_shared(&layout.metadata().join("1.root.json"), &bytes)?;
    crash_point("merge first: root version published");
    write_shared(&layout.trusted_root(), &bytes)?;
    crash_point("merge first: trusted root installed");
    // Only the repository's own proposal, as in `merge_locked`: the copies are the caller's.
    remove_installed_proposals(layout, 1)?;
    repo::resign_locked(lock, &Lifetimes::default()).await
}

/// Removes the repository's root proposals (`root-N.proposed.json`) of versions up to
/// `installed`: each is installed or superseded, and a proposal left in the directory would
/// look as if it still awaited signatures.
fn remove_installed_proposals(layout: &Layout, installed: u64) -> Result<(), TrustError> {
    let dir = &layout.dir;
    for entry in fs_err::read_dir(dir).map_err(|e| TrustError::io(dir, e))? {
        let entry = entry.map_err(|e| TrustError::io(dir, e))?;
        let name = entry.file_name();
        let version = name
            .to_str()
            .and_then(|n| n.strip_prefix("root-"))
            .and_then(|n| n.strip_suffix(".proposed.json"))
            .and_then(|n| n.parse::<u64>().ok());
        // Only the exact name this repository writes: never a file the caller named otherwise.
        if let Some(v) = version.filter(|v| *v <= installed && layout.root_proposal(*v) == entry.path()) {
            let path = layout.root_proposal(v);
            wua_fs::remove_file_if_present(&path).map_err(|e| TrustError::io(&path, e))?;
        }
    }
    Ok(())
}

/// One proposal with the signatures of all its signed copies; refused when a copy is of
/// another proposal.
fn gather(files: &[PathBuf]) -> Result<Signed<Root>, TrustError> {
    let Some(first) = files.first() else { return Err(TrustError::invalid(PathBuf::new(), "no proposal to merge")) };
    let mut merged = read_root(first)?;
    let proposed = canonical(&merged.signed, first)?;
    for file in &files[1..] {
        let other = read_root(file)?;
        if canonical(&other.signed, file)? != proposed {
            return Err(TrustError::invalid(file, "is a signed copy of another root proposal"));
        }
        for s in other.signatures {
            if !merged.signatures.iter().any(|m| m.keyid == s.keyid) {
                merged.signatures.push(s);
            }
        }
    }
    Ok(merged)
}

/// Completes a root change a crash interrupted, so every writer signs with the keys the served
/// root names: a root version published after `root.json` (by `merge`) becomes `root.json`, and
/// the incoming keys that root lists move into place ([`settle_keys`]), and the proposals of
/// installed versions left behind are removed. Run by every writer under the lock before it
/// signs.
pub(crate) fn settle(lock: &RepoLock) -> Result<(), TrustError> {
    let layout = lock.layout();
    if layout.is_root_pending() {
        return Err(repo::root_pending(layout));
    }
    let mut trusted = read_root(&layout.trusted_root())?;
    loop {
        let next = layout.metadata().join(format!("{}.root.json", trusted.signed.version.get() + 1));
        let bytes = match fs_err::read(&next) {
            Ok(bytes) => bytes,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => break,
            Err(e) => return Err(TrustError::io(&next, e)),
        };
        let root: Signed<Root> = serde_json::from_slice(&bytes)
            .map_err(|e| TrustError::invalid(&next, format!("not a signed root: {e}")))?;
        write_shared(&layout.trusted_root(), &bytes)?;
        trusted = root;
    }
    // Proposals of installed versions, left by a merge a crash stopped after it installed the
    // root.
    remove_installed_proposals(layout, trusted.signed.version.get())?;
    settle_keys(layout, &trusted.signed)
}

/// Moves each incoming key (`keys/X.next.pk8`) that `root` lists into place, keeping the
/// outgoing one as `X.revoked-<N-1>.pk8`; an incoming approvals key always (the approvals
/// delegation is in the targets role, not in the root). The two renames are repeatable: a
/// crash between them leaves `X.next.pk8` alone, moved the next time.
fn settle_keys(layout: &Layout, root: &Root) -> Result<(), TrustError> {
    let dir = layout.keys();
    let mut incoming = Vec::new();
    for entry in fs_err::read_dir(&dir).map_err(|e| TrustError::io(&dir, e))? {
        let entry = entry.map_err(|e| TrustError::io(&dir, e))?;
        let name = entry.file_name().to_string_lossy().into_owned();
        if let Some(role) = name.strip_suffix(".next.pk8") {
            incoming.push((role.to_owned(), entry.path()));
        }
    }
    incoming.sort();
    let mut moved = false;
    for (role, next) in incoming {
        let listed = role == APPROVALS || {
            let id = keys::key_id(&keys::public_key(&next)?, &next)?;
            root.keys.keys().any(|k| hex::encode(&**k) == id)
        };
        if !listed {
            continue; // a proposal not merged yet
        }
        let current = layout.key(&role);
        if current.exists() {
            let stamp = if role == APPROVALS {
                jiff::Timestamp::now().as_second().to_string()
            } else {
                (root.version.get() - 1).to_string()
            };
            let old = layout.key(&format!("{role}.revoked-{stamp}"));
            fs_err::rename(&current, &old).map_err(|e| TrustError::io(&old, e))?;
        }
        fs_err::rename(&next, &current).map_err(|e| TrustError::io(&next, e))?;
        moved = true;
    }
    if moved {
        wua_fs::fsync_dir(&dir).map_err(|e| TrustError::io(&dir, e))?;
    }
    Ok(())
}

/// The root the online roles are signed under while a root changes: the new root, with the
/// outgoing keys of each online role listed beside the incoming ones. Never published.
fn transition_root(current: &Root, new: &Root) -> Root {
    let mut transition = new.clone();
    for (role, old) in current.roles.iter().filter(|(t, _)| **t != RoleType::Root) {
        let Some(keys) = transition.roles.get_mut(role) else { continue };
        for id in &old.keyids {
            if !keys.keyids.contains(id) {
                keys.keyids.push(id.clone());
                if let Some(key) = current.keys.get(id) {
                    transition.keys.entry(id.clone()).or_insert_with(|| key.clone());
                }
            }
        }
    }
    transition
}

/// `root-N`: a root key's name.
fn is_root_key_name(name: &str) -> bool {
    name.strip_prefix("root-").is_some_and(|n| !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()))
}

/// Root keys stored in `keys/` (`root-N.pk8`, and `root-N.next.pk8` while one is rotated; not
/// the revoked ones).
fn local_root_keys(layout: &Layout) -> Result<Vec<PathBuf>, TrustError> {
    let mut found = Vec::new();
    for e in std::fs::read_dir(layout.keys()).map_err(|e| TrustError::io(layout.keys(), e))? {
        let e = e.map_err(|e| TrustError::io(layout.keys(), e))?;
        let name = e.file_name().to_string_lossy().into_owned();
        let stem = name.strip_suffix(".pk8").map(|s| s.strip_suffix(".next").unwrap_or(s));
        if stem.is_some_and(is_root_key_name) {
            found.push(e.path());
        }
    }
    found.sort();
    Ok(found)
}

async fn add_signature(proposal: &mut Signed<Root>, key: &Path) -> Result<(), TrustError> {
    let bytes = std::fs::read(key).map_err(|e| TrustError::io(key, e))?;
    let pair = parse_keypair(&bytes).map_err(|e| TrustError::Key { path: key.into(), detail: e.to_string() })?;
    let keyid = pair.tuf_key().key_id().map_err(|e| TrustError::Key { path: key.into(), detail: e.to_string() })?;
    // A root key of the proposal, or a key it does not list at all (a current root key being
    // replaced); never a key of another role. `merge` checks both thresholds.
    let online = proposal.signed.roles.iter().any(|(t, r)| *t != RoleType::Root && r.keyids.contains(&keyid));
    let root_key = proposal.signed.roles.get(&RoleType::Root).is_some_and(|r| r.keyids.contains(&keyid));
    if online && !root_key {
        return Err(TrustError::Key { path: key.into(), detail: "is a key of an online role, not a root key".into() });
    }
    let message = canonical(&proposal.signed, key)?;
    let sig = pair
        .sign(&message, &SystemRandom::new())
        .await
        .map_err(|e| TrustError::Key { path: key.into(), detail: e.to_string() })?;
    proposal.signatures.retain(|s| s.keyid != keyid);
    proposal.signatures.push(Signature { keyid, sig: Decoded::<Hex>::from(sig) });
    Ok(())
}

fn canonical<T: Serialize>(value: &T, path: &Path) -> Result<Vec<u8>, TrustError> {
    let mut buf = Vec::new();
    let mut ser = serde_json::Serializer::with_formatter(&mut buf, CanonicalFormatter::new());
    value.serialize(&mut ser).map_err(|e| TrustError::invalid(path, e.to_string()))?;
    Ok(buf)
}

fn read_root(path: &Path) -> Result<Signed<Root>, TrustError> {
    let bytes = std::fs::read(path).map_err(|e| TrustError::io(path, e))?;
    serde_json::from_slice(&bytes).map_err(|e| TrustError::invalid(path, format!("not a signed root: {e}")))
}

fn write_root(path: &Path, root: &Signed<Root>) -> Result<(), TrustError> {
    let bytes = serde_json::to_vec_pretty(root).map_err(|e| TrustError::invalid(path, e.to_string()))?;
    write_shared(path, &bytes)
}
