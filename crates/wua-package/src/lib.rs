//! wua's package formats: the TOML publishing manifest and standalone package files.
//!
//! - [`Manifest`]: what a publisher writes (identity, descriptive fields, behaviours, handler,
//!   applicability); [`scan_payload`] turns a payload directory into content entries.
//! - [`build_package`]: manifest + payload -> one package file (`update.json` and its blobs in
//!   a tar, zstd optional).
//! - [`open_package`]: reads a package, verifying the document, every path, size and SHA-256,
//!   and stages the blobs; nothing is kept unless everything verified.
//!
//! A standalone package is not signed: trust in it rests with the administrator who runs it
//! (`docs/formats.md`). Signed distribution is the repository's job.

mod build;
mod error;
mod manifest;
mod payload;
mod read;

pub use build::{Compression, build_package};
pub use error::PackageError;
pub use manifest::{ContentOverride, Manifest, ManifestUpdate};
pub use payload::{PayloadFile, scan_payload};
pub use read::{OpenLimits, StagedBlob, VerifiedPackage, open_package, open_package_observed, staging_owner};

/// The name of the document entry, first in every package.
const DOCUMENT_NAME: &str = "update.json";
/// The name prefix of blob entries; the rest is the blob's SHA-256.
const BLOB_PREFIX: &str = "blobs/sha256/";
/// The largest `update.json` a reader accepts.
const MAX_DOCUMENT_BYTES: u64 = 16 * 1024 * 1024;
