//! Opening a standalone package: every byte is checked before anything is kept.
//!
//! A package is a tar file (optionally zstd-compressed, recognised by its magic number) whose
//! first entry is `update.json` and whose other entries are `blobs/sha256/<hex>`. Opening
//! streams the archive once: the document is parsed and validated, the content it declares is
//! checked against [`OpenLimits`] and the staging directory's free space before a byte is
//! written, each blob is hashed while it is copied to a staging directory, its size is checked
//! against the document before a byte is read (so a blob cannot be longer than listed), and the
//! archive must end with tar's end-of-archive block (so a cut at an entry boundary is caught
//! too). On any error the staged files are removed: a bad package changes nothing.
//!
//! Errors say what the file is: a cut anywhere (inside a header too) is "truncated"; a file that
//! does not begin with the tar header of `update.json` is "not a wua package", and such a
//! message never quotes the file's bytes (tar's own messages can, so they are not passed on).

use std::collections::{BTreeMap, BTreeSet};
use std::io::{self, BufReader, Read};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use wua_types::UpdateDocument;

use crate::error::PackageError;
use crate::{BLOB_PREFIX, DOCUMENT_NAME, MAX_DOCUMENT_BYTES};

/// The largest write of a staged blob.
const WRITE_CHUNK: usize = 256 * 1024;

/// Zero padding accepted after the end-of-archive blocks (tar pads to records of 10 KiB).
const MAX_TRAILER_BYTES: u64 = 64 * 1024;
/// zstd's magic number, the first four bytes of a compressed package.
const ZSTD_MAGIC: [u8; 4] = [0x28, 0xB5, 0x2F, 0xFD];
/// tar's block size: every header is one block.
const BLOCK: usize = 512;

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

/// Limits on what opening a package may write.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct OpenLimits {
    /// The most content a package may declare: the sum of the sizes of the distinct blobs its
    /// document lists. Default [`OpenLimits::DEFAULT_MAX_TOTAL_BYTES`] (16 GiB).
    pub max_total_bytes: u64,
}

impl OpenLimits {
    /// The default of [`OpenLimits::max_total_bytes`]: 16 GiB.
    pub const DEFAULT_MAX_TOTAL_BYTES: u64 = 16 << 30;
}

impl Default for OpenLimits {
    fn default() -> Self {
        OpenLimits { max_total_bytes: Self::DEFAULT_MAX_TOTAL_BYTES }
    }
}

/// Opens `path`, verifying everything, and stages blobs into `staging_dir` (which must exist).
/// Blobs for which `skip(sha256)` is true are verified but not written (already cached).
///
/// Before anything is written, the content the document declares must fit `limits` and the
/// blobs to stage must fit the free space of `staging_dir` (`WUA_E_PACKAGE_TOO_LARGE`).
pub fn open_package(
    path: &Path,
    staging_dir: &Path,
    skip: &dyn Fn(&str) -> bool,
    limits: &OpenLimits,
) -> Result<VerifiedPackage, PackageError> {
    open_package_observed(path, staging_dir, skip, limits, Arc::default())
}

/// [`open_package`], counting the bytes of the file read so far into `bytes_read`: another
/// thread shows progress from it while a large package is verified.
pub fn open_package_observed(
    path: &Path,
    staging_dir: &Path,
    skip: &dyn Fn(&str) -> bool,
    limits: &OpenLimits,
    bytes_read: Arc<AtomicU64>,
) -> Result<VerifiedPackage, PackageError> {
    let opened = fs_err::File::open(path).map_err(|e| PackageError::io(path, e))?;
    let mut file = BufReader::with_capacity(1 << 20, Counted { inner: opened, count: bytes_read });
    // The magic number tells zstd from tar; read all four bytes (a short read is not the end).
    let mut magic = [0u8; 4];
    let n = read_full(&mut file, &mut magic).map_err(|e| PackageError::io(path, e))?;
    let head = io::Cursor::new(magic[..n].to_vec()).chain(file);
    let progress = Arc::new(Progress::default());
    let source = |inner: Box<dyn Read>| Source { inner, progress: progress.clone() };
    if n == magic.len() && magic == ZSTD_MAGIC {
        let decoder = zstd::Decoder::with_buffer(head).map_err(|e| PackageError::io(path, e))?;
        read_archive(path, source(Box::new(decoder)), &progress, staging_dir, skip, limits)
    } else if n > 0 && n < magic.len() && magic[..n] == ZSTD_MAGIC[..n] {
        Err(PackageError::Truncated { path: path.into(), detail: "inside the zstd magic number".into() })
    } else {
        read_archive(path, source(Box::new(head)), &progress, staging_dir, skip, limits)
    }
}

/// A reader that adds what it reads to a shared count.
struct Counted<R> {
    inner: R,
    count: Arc<AtomicU64>,
}

impl<R: Read> Read for Counted<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.count.fetch_add(n as u64, Ordering::Relaxed);
        Ok(n)
    }
}

/// Reads until `buf` is full or the input ends; returns how many bytes it read.
fn read_full(r: &mut dyn Read, buf: &mut [u8]) -> io::Result<usize> {
    let mut n = 0;
    while n < buf.len() {
        match r.read(&mut buf[n..]) {
            Ok(0) => break,
            Ok(k) => n += k,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(n)
}

/// What the archive's byte source has done, so that an error tar reports can be told apart: a
/// cut (the source ended), a failing source (I/O, corrupt zstd data) or tar's own complaint.
#[derive(Debug, Default)]
struct Progress {
    /// Bytes delivered.
    consumed: AtomicU64,
    /// The source reached its end.
    ended: AtomicBool,
    /// The source returned an error.
    failed: AtomicBool,
}

/// The archive's bytes as tar reads them (plain or decompressed), recording [`Progress`].
struct Source {
    inner: Box<dyn Read>,
    progress: Arc<Progress>,
}

impl Read for Source {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        match self.inner.read(buf) {
            Ok(n) => {
                if n == 0 && !buf.is_empty() {
                    self.progress.ended.store(true, Ordering::Relaxed);
                }
                self.progress.consumed.fetch_add(n as u64, Ordering::Relaxed);
                Ok(n)
            }
            Err(e) => {
                if e.kind() != io::ErrorKind::Interrupted {
                    self.progress.failed.store(true, Ordering::Relaxed);
                }
                Err(e)
            }
        }
    }
}

/// Whether `block` (a complete first block) is a valid tar header named `update.json`.
fn is_document_header(block: &[u8; BLOCK]) -> bool {
    // tar's checksum: the header's bytes summed with the checksum field read as spaces.
    let sum: u32 =
        block.iter().enumerate().map(|(i, b)| if (148..156).contains(&i) { 32 } else { u32::from(*b) }).sum();
    let field = &block[148..156];
    let digits: Vec<u8> = field.iter().copied().filter(|b| *b != 0 && *b != b' ').collect();
    let checksum_ok = !digits.is_empty()
        && std::str::from_utf8(&digits).ok().and_then(|d| u32::from_str_radix(d, 8).ok()) == Some(sum);
    checksum_ok && is_document_name_prefix(&block[..100])
}

/// Whether `bytes` (the start of a first block) could begin the tar header of `update.json`:
/// its name field is `update.json` padded with NULs.
fn is_document_name_prefix(bytes: &[u8]) -> bool {
    let name = DOCUMENT_NAME.as_bytes();
    bytes.iter().take(100).enumerate().all(|(i, b)| *b == name.get(i).copied().unwrap_or(0))
}

fn read_archive(
    path: &Path,
    mut source: Source,
    progress: &Progress,
    staging_dir: &Path,
    skip: &dyn Fn(&str) -> bool,
    limits: &OpenLimits,
) -> Result<VerifiedPackage, PackageError> {
    let malformed = |detail: String| PackageError::Malformed { path: path.into(), detail };
    let truncated = |detail: String| PackageError::Truncated { path: path.into(), detail };
    let not_a_package = |detail: &str| PackageError::NotAPackage { path: path.into(), detail: detail.into() };
    // What an error while reading `what` means. tar's own messages are not passed on: they can
    // quote the file's bytes ("numeric field was not a number: ...").
    let read_err = |e: io::Error, what: &str| {
        if e.kind() == io::ErrorKind::UnexpectedEof {
            truncated(format!("inside {what}"))
        } else if e.raw_os_error().is_some() {
            PackageError::io(path, e)
        } else if progress.failed.load(Ordering::Relaxed) {
            // Not an OS error from the source: the zstd decoder's (its messages are fixed).
            malformed(format!("corrupt zstd data: {e}"))
        } else if progress.ended.load(Ordering::Relaxed) {
            truncated(format!("inside {what}"))
        } else {
            malformed(format!("{what} is corrupt"))
        }
    };

    // The first block must be the tar header of update.json, or a cut of one.
    let mut first = [0u8; BLOCK];
    let n = read_full(&mut source, &mut first).map_err(|e| match read_err(e, "the first entry header") {
        // Corrupt from the start (zstd data that is not): not a package at all.
        PackageError::Malformed { detail, .. } => not_a_package(&detail),
        other => other,
    })?;
    if n == 0 {
        return Err(not_a_package("the file is empty"));
    }
    if n < BLOCK && is_document_name_prefix(&first[..n]) {
        return Err(truncated("inside the first entry header".into()));
    }
    if n < BLOCK || !is_document_header(&first) {
        return Err(not_a_package("it does not begin with the tar header of update.json"));
    }

    let mut archive = tar::Archive::new(io::Cursor::new(first).chain(source));
    // Raw entries: tar's extension entries (PAX, GNU long names), which the tar library would
    // read into memory whole, come back as entries of their own type and are refused below.
    let mut entries = archive.entries().map_err(|e| PackageError::io(path, e))?.raw(true);
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
            for c in parsed.blobs() {
                expected.insert(c.sha256.clone(), c.size);
            }
            check_space(path, staging_dir, &expected, skip, limits)?;
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
    let mut rest = archive.into_inner();
    let mut tail = Vec::new();
    (&mut rest)
        .take(MAX_TRAILER_BYTES + 1)
        .read_to_end(&mut tail)
        .map_err(|e| read_err(e, "the end-of-archive marker"))?;
    let marker = progress.consumed.load(Ordering::Relaxed).saturating_sub(data_end);
    if tail.len() as u64 > MAX_TRAILER_BYTES || tail.iter().any(|b| *b != 0) {
        return Err(malformed("data after the end-of-archive marker".into()));
    }
    if marker < 1024 {
        return Err(truncated("no complete end-of-archive marker after the last entry".into()));
    }
    for c in document.blobs() {
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

/// Refuses a document whose distinct blobs (`expected`: SHA-256 to size) add up to more than
/// `limits` allow, or whose blobs to stage exceed the free space of `staging_dir`.
fn check_space(
    path: &Path,
    staging_dir: &Path,
    expected: &BTreeMap<String, u64>,
    skip: &dyn Fn(&str) -> bool,
    limits: &OpenLimits,
) -> Result<(), PackageError> {
    let too_large = |detail: String| PackageError::TooLarge { path: path.into(), detail };
    let declared = expected.values().fold(0u64, |sum, size| sum.saturating_add(*size));
    if declared > limits.max_total_bytes {
        return Err(too_large(format!(
            "its document declares {declared} bytes of content, over the limit of {} bytes",
            limits.max_total_bytes
        )));
    }
    let to_stage =
        expected.iter().filter(|(sha256, _)| !skip(sha256)).fold(0u64, |sum, (_, size)| sum.saturating_add(*size));
    if to_stage > 0 {
        let free = wua_fs::available_bytes(staging_dir).map_err(|e| PackageError::io(staging_dir, e))?;
        if to_stage > free {
            return Err(too_large(format!(
                "its document declares {to_stage} bytes of content to stage in {}, which has {free} bytes free",
                staging_dir.display()
            )));
        }
    }
    Ok(())
}

/// Copies a blob's bytes to `to`, hashing them: its SHA-256 in hex and its length.
fn copy_hashing(from: &mut impl Read, to: &mut impl io::Write) -> io::Result<(String, u64)> {
    let (n, digest) = wua_fs::copy_hashing(from, to)?;
    Ok((hex::encode(digest), n))
}

/// The prefix of the files an import stages blobs in, beside the cache.
const STAGING_PREFIX: &str = ".import-";

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
