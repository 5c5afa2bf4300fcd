//! The package crate's errors, each mapped to an `HResult` (D-2).

use std::path::PathBuf;

use wua_types::{HResult, WuError};

/// What went wrong reading a manifest, a payload or a package file.
#[derive(Debug, thiserror::Error)]
pub enum PackageError {
    /// An I/O error on a named file.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The cause.
        source: std::io::Error,
    },
    /// The package ends before its end-of-archive marker or inside an entry.
    #[error("{path}: the package file is truncated ({detail})")]
    Truncated {
        /// The package.
        path: PathBuf,
        /// Where it ended.
        detail: String,
    },
    /// The file is not a wua package at all (it does not begin like one; empty). The detail
    /// never quotes the file's bytes.
    #[error("{path}: not a wua package ({detail})")]
    NotAPackage {
        /// The file.
        path: PathBuf,
        /// Why not.
        detail: String,
    },
    /// The file is not a valid wua package: it has entries a package never has.
    #[error("{path}: not a valid wua package: {detail}")]
    Malformed {
        /// The package.
        path: PathBuf,
        /// What is wrong.
        detail: String,
    },
    /// The document declares more content than the limit or the free space allows.
    #[error("{path}: the package is too large to open: {detail}")]
    TooLarge {
        /// The package.
        path: PathBuf,
        /// Declared against allowed.
        detail: String,
    },
    /// A blob's bytes do not match the document.
    #[error("{path}: blob {sha256} does not match its document: {detail}")]
    HashMismatch {
        /// The package.
        path: PathBuf,
        /// The blob's declared SHA-256.
        sha256: String,
        /// Expected against actual.
        detail: String,
    },
    /// A blob the document lists is missing.
    #[error("{path}: blob {sha256} (for {content_path:?}) is not in the package")]
    MissingBlob {
        /// The package.
        path: PathBuf,
        /// The missing blob.
        sha256: String,
        /// A content path that uses it.
        content_path: String,
    },
    /// The metadata document is invalid (bad JSON, bad identity, unsafe or duplicate paths).
    #[error("{path}: {source}")]
    Document {
        /// The package or manifest.
        path: PathBuf,
        /// The document error, with its own code.
        source: WuError,
    },
    /// The publishing manifest is invalid.
    #[error("{path}: invalid manifest: {detail}")]
    Manifest {
        /// The manifest.
        path: PathBuf,
        /// What is wrong.
        detail: String,
    },
    /// The payload directory has something that cannot be packaged.
    #[error("{path}: cannot package this payload entry: {detail}")]
    Payload {
        /// The payload entry.
        path: PathBuf,
        /// What is wrong.
        detail: String,
    },
}

impl PackageError {
    /// The code for this error.
    pub fn hresult(&self) -> HResult {
        match self {
            PackageError::Io { .. } => HResult::WU_E_INVALID_FILE,
            PackageError::Truncated { .. } => HResult::WUA_E_PACKAGE_TRUNCATED,
            PackageError::NotAPackage { .. } | PackageError::Malformed { .. } => HResult::WUA_E_PACKAGE_MALFORMED,
            PackageError::TooLarge { .. } => HResult::WUA_E_PACKAGE_TOO_LARGE,
            PackageError::HashMismatch { .. } => HResult::WUA_E_PACKAGE_HASH_MISMATCH,
            PackageError::MissingBlob { .. } => HResult::WUA_E_PACKAGE_MISSING_BLOB,
            PackageError::Document { source, .. } => source.hresult,
            PackageError::Manifest { .. } => HResult::WUA_E_MANIFEST_INVALID,
            PackageError::Payload { .. } => HResult::WUA_E_PAYLOAD_INVALID,
        }
    }

    pub(crate) fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        PackageError::Io { path: path.into(), source }
    }
}

impl From<PackageError> for WuError {
    fn from(e: PackageError) -> Self {
        WuError::new(e.hresult(), e.to_string())
    }
}
