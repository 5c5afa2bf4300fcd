//! Where a repository keeps its files.
//!
//! ```text
//! DIR/
//!   root.json                 the trusted root agents start from (copy it to them)
//!   keys/                     private keys, mode 0700 (root keys may be moved offline)
//!     root-1.pk8 ...          root keys
//!     targets.pk8 snapshot.pk8 timestamp.pk8 approvals.pk8
//!   catalog/pack-NNNNNN.jsonl the publisher's working copy of the catalog packs, versions.json
//!   repository/               what a static host serves (`wua repo serve DIR`)
//!     metadata/               TUF metadata, consistent snapshots (N.root.json, N.targets.json,
//!                             N.snapshot.json, N.approvals.json, timestamp.json)
//!     targets/                catalog packs as TUF targets (`<sha256>.pack-NNNNNN.jsonl`)
//!     blobs/sha256/<hex>      content, trusted through the signed documents
//!   repo.lock                 the writers' lock
//!   managed.json              present when a wua server manages the repository's approvals
//!   root-N.proposed.json      a root version awaiting signatures of root keys kept elsewhere
//! ```

use std::path::{Path, PathBuf};

/// The paths of one repository.
#[derive(Clone, Debug)]
pub struct Layout {
    /// The repository directory.
    pub dir: PathBuf,
}

impl Layout {
    /// The layout under `dir`.
    pub fn new(dir: impl Into<PathBuf>) -> Self {
        Layout { dir: dir.into() }
    }

    /// The trusted root agents start from.
    pub fn trusted_root(&self) -> PathBuf {
        self.dir.join("root.json")
    }

    /// The private key directory.
    pub fn keys(&self) -> PathBuf {
        self.dir.join("keys")
    }

    /// One key file.
    pub fn key(&self, name: &str) -> PathBuf {
        self.keys().join(format!("{name}.pk8"))
    }

    /// The publisher's working copy of the packs and the role versions.
    pub fn catalog(&self) -> PathBuf {
        self.dir.join("catalog")
    }

    /// The role versions last signed.
    pub fn versions(&self) -> PathBuf {
        self.catalog().join("versions.json")
    }

    /// What a static host serves.
    pub fn public(&self) -> PathBuf {
        self.dir.join("repository")
    }

    /// TUF metadata.
    pub fn metadata(&self) -> PathBuf {
        self.public().join("metadata")
    }

    /// TUF targets (the packs).
    pub fn targets(&self) -> PathBuf {
        self.public().join("targets")
    }

    /// Content blobs.
    pub fn blobs(&self) -> PathBuf {
        self.public().join("blobs").join("sha256")
    }

    /// Where one blob lives.
    pub fn blob(&self, sha256: &str) -> PathBuf {
        self.blobs().join(sha256)
    }

    /// The writers' lock.
    pub fn lock(&self) -> PathBuf {
        self.dir.join("repo.lock")
    }

    /// The marker of a repository a wua server manages (`repo::set_managed`).
    pub fn managed(&self) -> PathBuf {
        self.dir.join("managed.json")
    }

    /// A proposed root version awaiting signatures (`root::sign`, `root::merge`).
    pub fn root_proposal(&self, version: u64) -> PathBuf {
        self.dir.join(format!("root-{version}.proposed.json"))
    }

    /// Whether the repository was created with its root keys elsewhere and its first root has
    /// not been signed and merged yet: nothing is published until it is.
    pub fn is_root_pending(&self) -> bool {
        !self.trusted_root().exists() && self.root_proposal(1).is_file()
    }

    /// Whether `dir` looks like a wua repository (one whose first root awaits its signatures
    /// too).
    pub fn is_repository(dir: &Path) -> bool {
        let l = Layout::new(dir);
        (l.trusted_root().is_file() || l.is_root_pending()) && l.metadata().is_dir()
    }
}
