//! Creating a repository: keys, the first root, the online roles, an empty catalog.

use std::collections::HashMap;
use std::num::NonZeroU64;
use std::os::unix::fs::{DirBuilderExt, PermissionsExt};
use std::path::{Path, PathBuf};

use aws_lc_rs::rand::SystemRandom;
use tough::editor::signed::SignedRole;
use tough::key_source::KeySource;
use tough::schema::decoded::{Decoded, Hex};
use tough::schema::{KeyHolder, RoleKeys, RoleType, Root};

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
    let signed = SignedRole::new(root.clone(), &KeyHolder::Root(root), &sources, &SystemRandom::new())
        .await
        .map_err(|e| TrustError::write(&layout.dir, e))?;
    write_shared(&layout.metadata().join("1.root.json"), signed.buffer())?;
    write_shared(&layout.trusted_root(), signed.buffer())?;
    save_versions(&layout, &Versions { seal_entries: Some(options.seal_entries.max(1)), ..Versions::default() })?;
    resign_locked(&lock, &Lifetimes::default()).await
}

fn role_keys(keyids: Vec<Decoded<Hex>>, threshold: NonZeroU64) -> RoleKeys {
    RoleKeys { keyids, threshold, _extra: HashMap::new() }
}
