//! Opening a standalone package: every byte is checked before anything is kept.
//!
//! A package is a tar file (optionally zstd-compressed, recognised by its magic number) whose
//! first entry is `update.json` and whose other entries are `blobs/sha256/<hex>`. Opening
//! streams the archive once: the document is parsed and validated, each blob is hashed while it
//! is copied to a staging directory, its size is checked against the document before a byte is
//! read (so a blob cannot be longer than listed), and the archive must end with tar's
//! end-of-archive block (so a cut at an entry boundary is caught too). On any error the staged
//! files are removed: a bad package changes nothing.

use std::collections::{BTreeMap, BTreeSet};
use std::io::{self, BufReader, Read};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use wua_types::UpdateDocument;

use crate::error::PackageError;
use crate::{BLOB_PREFIX, DOCUMENT_NAME, MAX_DOCUMENT_BYTES};

/// The largest write of a staged blob.
const WRITE_CHUNK: usize = 256 * 1024;

/// Zero padding accepted after the end-of-archive blocks (tar pads to records of 10 KiB).
const MAX_TRAILER_BYTES: u64 = 64 * 1024;

/// A package whose document and blobs all verified.
#[derive(Debug)]
pub struct VerifiedPackage {
    /// The update document.
    pub document: UpdateDocument,
    /// The blobs that were written to the staging directory (not those `skip` said are known).
    pub staged: Vec<StagedBlob>,
    staging: Vec<PathBuf>,
}

impl VerifiedPackage {
    /// Keeps the staged files: the caller has moved them where they belong.
    pub fn keep(mut self) {
        self.staging.clear();
    }
}

impl Drop for VerifiedPackage {
    fn drop(&mut self) {
        for path in &self.staging {
            let _ = std::fs::remove_file(path);
        }
    }
}

/// Removes staged files unless disarmed (emptied).
struct StagingGuard(Vec<PathBuf>);

impl Drop for StagingGuard {
    fn drop(&mut self) {
        for path in &self.0 {
            let _ = std::fs::remove_file(path);
        }
    }
}

/// A verified blob in the staging directory.
#[derive(Clone, Debug)]
pub struct StagedBlob {
    /// Its SHA-256.
    pub sha256: String,
    /// Its size.
    pub size: u64,
    /// Where it was staged.
    pub path: PathBuf,
}

/// Opens `path`, verifying everything, and stages blobs into `staging_dir` (which must exist).
/// Blobs for which `skip(sha256)` is true are verified but not written (already cached).
pub fn open_package(
    path: &Path,
    staging_dir: &Path,
    skip: &dyn Fn(&str) -> bool,
) -> Result<VerifiedPackage, PackageError> {
    let mut file = BufReader::with_capacity(1 << 20, fs_err::File::open(path).map_err(|e| PackageError::io(path, e))?);
    let magic = {
        use std::io::BufRead;
        file.fill_buf().map_err(|e| PackageError::io(path, e))?.get(..4).map(<[u8]>::to_vec)
    };
    let counter = Arc::new(AtomicU64::new(0));
    if magic.as_deref() == Some(&[0x28, 0xB5, 0x2F, 0xFD]) {
        let decoder = zstd::Decoder::with_buffer(file).map_err(|e| PackageError::io(path, e))?;
        read_archive(path, Counting { inner: decoder, count: counter.clone() }, &counter, staging_dir, skip)
    } else {
        read_archive(path, Counting { inner: file, count: counter.clone() }, &counter, staging_dir, skip)
    }
}

struct Counting<R> {
    inner: R,
    count: Arc<AtomicU64>,
}

impl<R: Read> Read for Counting<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.count.fetch_add(n as u64, Ordering::Relaxed);
        Ok(n)
    }
}

fn read_archive<R: Read>(
    path: &Path,
    reader: R,
    consumed: &AtomicU64,
    staging_dir: &Path,
    skip: &dyn Fn(&str) -> bool,
) -> Result<VerifiedPackage, PackageError> {
    let malformed = |detail: String| PackageError::Malformed { path: path.into(), detail };
    let truncated = |detail: String| PackageError::Truncated { path: path.into(), detail };
    // A read error inside an entry is a truncation when it is an unexpected EOF.
    let read_err = |e: io::Error, what: &str| {
        if e.kind() == io::ErrorKind::UnexpectedEof {
            truncated(format!("inside {what}"))
        } else {
            PackageError::io(path, e)
        }
    };

    let mut archive = tar::Archive::new(reader);
    let mut entries = archive.entries().map_err(|e| PackageError::io(path, e))?;
    // Blobs staged so far; removed on any error (the guard's Drop).
    let mut guard = StagingGuard(Vec::new());
    let mut staged = Vec::new();
    let mut document: Option<UpdateDocument> = None;
    let mut expected: BTreeMap<String, u64> = BTreeMap::new();
    let mut seen: BTreeSet<String> = BTreeSet::new();
    let mut data_end = 0u64;

    for entry in entries.by_ref() {
        let mut entry = entry.map_err(|e| read_err(e, "an entry header"))?;
        let name = entry
            .path()
            .map_err(|e| malformed(format!("entry name: {e}")))?
            .to_str()
            .ok_or_else(|| malformed("entry name is not UTF-8".into()))?
            .to_owned();
        if entry.header().entry_type() != tar::EntryType::Regular {
            return Err(malformed(format!("entry {name:?} is not a regular file")));
        }
        let size = entry.size();
        data_end = entry.raw_file_position() + size.div_ceil(512) * 512;
        if document.is_none() {
            if name != DOCUMENT_NAME {
                return Err(malformed(format!("the first entry is {name:?}, not {DOCUMENT_NAME}")));
            }
            if size > MAX_DOCUMENT_BYTES {
                return Err(malformed(format!(
                    "{DOCUMENT_NAME} is {size} bytes, over the {MAX_DOCUMENT_BYTES}-byte limit"
                )));
            }
            let mut json = Vec::with_capacity(size as usize);
            entry.read_to_end(&mut json).map_err(|e| read_err(e, DOCUMENT_NAME))?;
            if (json.len() as u64) < size {
                return Err(truncated(format!("inside {DOCUMENT_NAME}")));
            }
            let parsed = UpdateDocument::from_json(&json)
                .map_err(|source| PackageError::Document { path: path.into(), source })?;
            for c in &parsed.content {
                expected.insert(c.sha256.clone(), c.size);
            }
            document = Some(parsed);
            continue;
        }
        let Some(sha256) = name.strip_prefix(BLOB_PREFIX) else {
            return Err(malformed(format!("unexpected entry {name:?}")));
        };
        let Some(&want) = expected.get(sha256) else {
            return Err(malformed(format!("blob {sha256} is not listed by the document")));
        };
        if !seen.insert(sha256.to_owned()) {
            return Err(malformed(format!("blob {sha256} appears twice")));
        }
        if size != want {
            return Err(PackageError::HashMismatch {
                path: path.into(),
                sha256: sha256.into(),
                detail: format!("the document says {want} bytes, the package holds {size}"),
            });
        }
        let what = format!("blob {sha256}");
        let actual = if skip(sha256) {
            copy_hashing(&mut entry, &mut io::sink()).map_err(|e| read_err(e, &what))?
        } else {
            let target = staging_dir.join(staging_name(sha256));
            let out = fs_err::File::create(&target).map_err(|e| PackageError::io(&target, e))?;
            guard.0.push(target.clone());
            // Written in large chunks; the buffer is not zeroed, so a small blob costs little.
            let mut out =
                io::BufWriter::with_capacity(usize::try_from(size).unwrap_or(WRITE_CHUNK).clamp(1, WRITE_CHUNK), out);
            let r = copy_hashing(&mut entry, &mut out).map_err(|e| read_err(e, &what))?;
            staged.push(StagedBlob { sha256: sha256.into(), size, path: target });
            r
        };
        if actual.1 != size {
            return Err(truncated(format!("inside blob {sha256}")));
        }
        if actual.0 != sha256 {
            return Err(PackageError::HashMismatch {
                path: path.into(),
                sha256: sha256.into(),
                detail: format!("its bytes hash to {}", actual.0),
            });
        }
    }
    let Some(document) = document else {
        return Err(truncated(format!("no {DOCUMENT_NAME} entry")));
    };
    // tar's end of archive is two zero blocks (a writer may pad further with zeros). The
    // reader stops after the first, so read the rest: a cut anywhere in it is a truncation.
    // The entry iterator borrows the archive; it is done.
    drop(entries);
    let mut rest = archive.into_inner();
    let mut tail = Vec::new();
    (&mut rest)
        .take(MAX_TRAILER_BYTES + 1)
        .read_to_end(&mut tail)
        .map_err(|e| read_err(e, "the end-of-archive marker"))?;
    let marker = consumed.load(Ordering::Relaxed).saturating_sub(data_end);
    if tail.len() as u64 > MAX_TRAILER_BYTES || tail.iter().any(|b| *b != 0) {
        return Err(malformed("data after the end-of-archive marker".into()));
    }
    if marker < 1024 {
        return Err(truncated("no complete end-of-archive marker after the last entry".into()));
    }
    for c in &document.content {
        if !seen.contains(&c.sha256) {
            return Err(PackageError::MissingBlob {
                path: path.into(),
                sha256: c.sha256.clone(),
                content_path: c.path.clone(),
            });
        }
    }
    Ok(VerifiedPackage { document, staged, staging: std::mem::take(&mut guard.0) })
}

/// Copies a blob's bytes to `to`, hashing them: its SHA-256 in hex and its length.
fn copy_hashing(from: &mut impl Read, to: &mut impl io::Write) -> io::Result<(String, u64)> {
    let (n, digest) = wua_fs::copy_hashing(from, to)?;
    Ok((hex::encode(digest), n))
}

/// The prefix of the files an import stages blobs in, beside the cache.
pub const STAGING_PREFIX: &str = ".import-";

/// A staging name no other import uses: `.import-<pid>-<n>-<sha256>`. Two imports of the same
/// package at the same instant then never write into each other's file, and whoever cleans up
/// after a killed import can tell by the pid whether its owner still runs.
fn staging_name(sha256: &str) -> String {
    static NEXT: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    let n = NEXT.fetch_add(1, Ordering::Relaxed);
    format!("{STAGING_PREFIX}{}-{n}-{sha256}", std::process::id())
}

/// The pid in a staging file's name, if `name` is one.
pub fn staging_owner(name: &str) -> Option<u32> {
    name.strip_prefix(STAGING_PREFIX)?.split('-').next()?.parse().ok()
}
