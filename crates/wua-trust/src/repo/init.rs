//! Creating a repository: keys, the first root, the online roles, an empty catalog.
//!
//! The root keys are made here, or (with [`InitOptions::root_public_keys`]) they were made on
//! other machines and only their public halves are given: the first root is then written as a
//! proposal (`root-1.proposed.json`, unsigned) that each holder signs (`root::sign`) and that
//! `root::merge` installs. Until then the repository holds no root agents could trust, and
//! every writer refuses it.

use std::collections::HashMap;
use std::num::NonZeroU64;
use std::os::unix::fs::{DirBuilderExt, PermissionsExt};
use std::path::Path;

use aws_lc_rs::rand::SystemRandom;
use tough::editor::signed::SignedRole;
use tough::key_source::KeySource;
use tough::schema::decoded::{Decoded, Hex};
use tough::schema::key::Key;
use tough::schema::{KeyHolder, RoleKeys, RoleType, Root, Signed};

use super::lock::RepoLock;
use super::sign::{Lifetimes, Versions, expires_in, resign_locked, save_versions, write_shared};
use crate::approvals::APPROVALS;
use crate::error::TrustError;
use crate::keys;
use crate::layout::Layout;
use crate::pack::SEAL_ENTRIES;

/// How a repository is created.
#[derive(Clone, Debug)]
pub struct InitOptions {
    /// How many root keys to create (ignored when `root_public_keys` are given).
    pub root_keys: usize,
    /// How many of them must sign the root (at most the number of root keys).
    pub root_threshold: usize,
    /// A pack with this many entries is sealed (kept in `catalog/versions.json`).
    pub seal_entries: usize,
    /// The public halves of root keys kept elsewhere (`keys::read_public`). When given, no root
    /// key is created here and the first root awaits their signatures (see the module).
    pub root_public_keys: Vec<Key>,
}

impl Default for InitOptions {
    fn default() -> Self {
        InitOptions { root_keys: 1, root_threshold: 1, seal_entries: SEAL_ENTRIES, root_public_keys: Vec::new() }
    }
}

/// Creates a repository in `dir` (which must be empty or missing): keys (mode 0600), a root
/// signed by `root_threshold` of `root_keys` root keys, the online roles, the `approvals`
/// delegation, and an empty catalog. With `root_public_keys`, the root is written unsigned as
/// `root-1.proposed.json` ([`Layout::root_proposal`]) and nothing is signed until it is merged.
pub async fn init(dir: &Path, options: &InitOptions) -> Result<(), TrustError> {
    let offline = !options.root_public_keys.is_empty();
    let root_keys = if offline { options.root_public_keys.len() } else { options.root_keys };
    if root_keys == 0 || options.root_threshold == 0 || options.root_threshold > root_keys {
        return Err(TrustError::invalid(dir, "the root threshold must be between 1 and the number of root keys"));
    }
    if dir.exists() && std::fs::read_dir(dir).map_err(|e| TrustError::io(dir, e))?.next().is_some() {
        return Err(TrustError::invalid(dir, "is not empty; a repository is created in a new directory"));
    }
    // The offline keys are checked before anything is created.
    let mut offline_ids = Vec::new();
    for key in &options.root_public_keys {
        let id = key.key_id().map_err(|e| TrustError::Key { path: dir.into(), detail: e.to_string() })?;
        if offline_ids.contains(&id) {
            return Err(TrustError::invalid(dir, format!("root key {} is given twice", hex::encode(&*id))));
        }
        offline_ids.push(id);
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

    let mut all_keys = HashMap::new();
    let mut roles = HashMap::new();
    let mut generate = |name: &str| -> Result<Decoded<Hex>, TrustError> {
        let path = layout.key(name);
        let key = keys::generate(&path)?;
        let id = key.key_id().map_err(|e| TrustError::Key { path: path.clone(), detail: e.to_string() })?;
        all_keys.insert(id.clone(), key);
        Ok(id)
    };
    let threshold = |n: usize| NonZeroU64::new(n as u64).ok_or_else(|| TrustError::invalid(dir, "zero threshold"));
    let mut root_key_files = Vec::new();
    let root_ids = if offline {
        offline_ids.clone()
    } else {
        let mut ids = Vec::new();
        for n in 1..=root_keys {
            let name = format!("root-{n}");
            ids.push(generate(&name)?);
            root_key_files.push(layout.key(&name));
        }
        ids
    };
    for (role, name) in
        [(RoleType::Targets, "targets"), (RoleType::Snapshot, "snapshot"), (RoleType::Timestamp, "timestamp")]
    {
        let id = generate(name)?;
        roles.insert(role, role_keys(vec![id], threshold(1)?));
    }
    roles.insert(RoleType::Root, role_keys(root_ids, threshold(options.root_threshold)?));
    for (id, key) in offline_ids.into_iter().zip(&options.root_public_keys) {
        all_keys.insert(id, key.clone());
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
    save_versions(&layout, &Versions { seal_entries: Some(options.seal_entries.max(1)), ..Versions::default() })?;
    if offline {
        let proposal = layout.root_proposal(1);
        let unsigned = Signed { signed: root, signatures: vec![] };
        let bytes = serde_json::to_vec_pretty(&unsigned).map_err(|e| TrustError::invalid(&proposal, e.to_string()))?;
        return write_shared(&proposal, &bytes);
    }
    let sources: Vec<Box<dyn KeySource>> = root_key_files.iter().map(keys::source).collect();
    let signed = SignedRole::new(root.clone(), &KeyHolder::Root(root), &sources, &SystemRandom::new())
        .await
        .map_err(|e| TrustError::write(&layout.dir, e))?;
    write_shared(&layout.metadata().join("1.root.json"), signed.buffer())?;
    write_shared(&layout.trusted_root(), signed.buffer())?;
    resign_locked(&lock, &Lifetimes::default()).await
}

fn role_keys(keyids: Vec<Decoded<Hex>>, threshold: NonZeroU64) -> RoleKeys {
    RoleKeys { keyids, threshold, _extra: HashMap::new() }
}
