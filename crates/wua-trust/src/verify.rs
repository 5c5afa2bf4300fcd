//! Verification for agents: from a trusted root and a source (an `http(s)://` URL or a
//! repository directory), refresh the TUF metadata and the catalog packs and yield the verified
//! catalog; check blobs against the verified documents.
//!
//! A refresh works on a copy of the trusted state (`<state>/tuf.new`) and swaps it in only when
//! everything verified, because the TUF library persists roles one by one as they verify: a
//! refused refresh leaves the trusted state byte for byte as it was. Metadata and packs whose
//! names carry a version or a hash never change, so they are cached (`<state>/tuf-cache/`) and
//! fetched once; `timestamp.json` is fetched every time. The cache is not trusted: whatever it
//! returns is verified like a download, and a refused refresh empties it.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use futures::StreamExt;
use sha2::{Digest, Sha256};
use tough::{
    DefaultTransport, IntoVec, RepositoryLoader, Transport, TransportError, TransportErrorKind, TransportStream,
};
use url::Url;
use wua_types::ContentEntry;

use crate::error::{Refusal, TrustError, refused};
use crate::layout::Layout;
use crate::pack::Catalog;

/// The largest file the cache collects in memory before it verifies (packs are sealed far
/// below this); a longer download is refused as endless data.
const MAX_CACHED_FILE: u64 = 64 * 1024 * 1024;

/// Where a repository is read from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Source {
    /// The base URL of the served tree (`.../` holding `metadata/`, `targets/`, `blobs/`).
    pub base: Url,
}

impl Source {
    /// A source from an `http(s)://` URL of the served tree, or a path: a repository directory
    /// (its `repository/`), or a served tree itself.
    pub fn parse(text: &str) -> Result<Self, TrustError> {
        if text.starts_with("http://") || text.starts_with("https://") {
            let with_slash = if text.ends_with('/') { text.to_owned() } else { format!("{text}/") };
            let base = Url::parse(&with_slash).map_err(|e| TrustError::invalid(text, e.to_string()))?;
            return Ok(Source { base });
        }
        let path = Path::new(text);
        let tree = if Layout::is_repository(path) { Layout::new(path).public() } else { path.to_path_buf() };
        let tree = std::fs::canonicalize(&tree).map_err(|e| TrustError::io(&tree, e))?;
        let base = Url::from_directory_path(&tree).map_err(|()| TrustError::invalid(&tree, "not an absolute path"))?;
        Ok(Source { base })
    }

    fn join(&self, rel: &str) -> Result<Url, TrustError> {
        self.base.join(rel).map_err(|e| TrustError::invalid(self.base.as_str(), e.to_string()))
    }

    /// Where a blob is fetched from: derived from its hash only (D-31).
    pub fn blob_url(&self, sha256: &str) -> Result<Url, TrustError> {
        if !wua_types::document::is_sha256_hex(sha256) {
            return Err(TrustError::invalid(sha256, "not a SHA-256"));
        }
        self.join(&format!("blobs/sha256/{sha256}"))
    }
}

/// What a refresh yields.
#[derive(Clone, Debug)]
pub struct Refreshed {
    /// The verified catalog.
    pub catalog: Catalog,
    /// The version of the snapshot it came from.
    pub snapshot_version: u64,
    /// Bytes fetched from the source in this refresh (the cache served the rest).
    pub bytes_fetched: u64,
}

/// Refreshes from `source`, trusting `trusted_root` (the repository's `root.json`) and the state
/// in `state_dir`; swaps the new trusted state in only when everything verified.
pub async fn refresh(trusted_root: &[u8], state_dir: &Path, source: &Source) -> Result<Refreshed, TrustError> {
    let trusted = state_dir.join("tuf");
    let fresh = state_dir.join("tuf.new");
    let cache = state_dir.join("tuf-cache");
    for d in [&trusted, &cache] {
        fs_err::create_dir_all(d).map_err(|e| TrustError::io(d, e))?;
    }
    remove_dir_if_present(&fresh)?;
    copy_dir(&trusted, &fresh)?;
    let fetched = Arc::new(AtomicU64::new(0));
    let transport =
        CachingTransport { inner: DefaultTransport::default(), cache: cache.clone(), fetched: fetched.clone() };
    let outcome = load(trusted_root, &fresh, source, transport).await;
    match outcome {
        Ok((catalog, snapshot_version)) => {
            let old = state_dir.join("tuf.old");
            remove_dir_if_present(&old)?;
            fs_err::rename(&trusted, &old).map_err(|e| TrustError::io(&trusted, e))?;
            fs_err::rename(&fresh, &trusted).map_err(|e| TrustError::io(&fresh, e))?;
            remove_dir_if_present(&old)?;
            Ok(Refreshed { catalog, snapshot_version, bytes_fetched: fetched.load(Ordering::SeqCst) })
        }
        Err(e) => {
            remove_dir_if_present(&fresh)?;
            if !matches!(e, TrustError::Refused { refusal: Refusal::Unreachable, .. }) {
                // Whatever was cached in this refresh may be what was refused.
                remove_dir_if_present(&cache)?;
            }
            Err(e)
        }
    }
}

async fn load(
    trusted_root: &[u8],
    datastore: &Path,
    source: &Source,
    transport: CachingTransport,
) -> Result<(Catalog, u64), TrustError> {
    let repo = RepositoryLoader::new(&trusted_root, source.join("metadata/")?, source.join("targets/")?)
        .transport(transport)
        .datastore(datastore)
        .load()
        .await
        .map_err(refused)?;
    let mut names: Vec<_> = repo.targets().signed.targets.keys().cloned().collect();
    names.sort_by(|a, b| a.raw().cmp(b.raw()));
    let mut catalog = Catalog::default();
    for name in names {
        let Some(stream) = repo.read_target(&name).await.map_err(refused)? else { continue };
        let bytes = stream.into_vec().await.map_err(refused)?;
        let text = String::from_utf8(bytes).map_err(|_| TrustError::Refused {
            refusal: Refusal::Malformed,
            detail: format!("pack {} is not UTF-8", name.raw()),
        })?;
        catalog.add_pack(name.raw(), &text);
    }
    Ok((catalog, repo.snapshot().signed.version.get()))
}

/// Checks a blob's bytes against the verified content entry that names it (D-31): the length
/// first, then the SHA-256.
pub fn check_blob(bytes: &[u8], entry: &ContentEntry) -> Result<(), TrustError> {
    if bytes.len() as u64 != entry.size {
        let refusal = if bytes.len() as u64 > entry.size { Refusal::TooLarge } else { Refusal::HashMismatch };
        return Err(TrustError::Refused {
            refusal,
            detail: format!("blob {} has {} bytes, {} listed", entry.sha256, bytes.len(), entry.size),
        });
    }
    let got = hex::encode(Sha256::digest(bytes));
    if got != entry.sha256 {
        return Err(TrustError::Refused {
            refusal: Refusal::HashMismatch,
            detail: format!("blob {} has SHA-256 {got}", entry.sha256),
        });
    }
    Ok(())
}

/// A transport that serves immutable files (versioned metadata, hash-named packs) from a local
/// cache and counts the bytes it fetched.
#[derive(Clone, Debug)]
struct CachingTransport {
    inner: DefaultTransport,
    cache: PathBuf,
    fetched: Arc<AtomicU64>,
}

/// An immutable name: `N.role.json` or `<64 hex>.name`.
fn immutable(name: &str) -> bool {
    let Some((first, rest)) = name.split_once('.') else { return false };
    !rest.is_empty()
        && ((first.bytes().all(|b| b.is_ascii_digit()) && !first.is_empty() && name.ends_with(".json"))
            || wua_types::document::is_sha256_hex(first))
}

#[tough::async_trait]
impl Transport for CachingTransport {
    async fn fetch(&self, url: Url) -> Result<TransportStream, TransportError> {
        let name = url.path_segments().and_then(|mut s| s.next_back()).unwrap_or("").to_owned();
        let cached = immutable(&name).then(|| self.cache.join(&name));
        if let Some(path) = &cached {
            if let Ok(bytes) = tokio::fs::read(path).await {
                return Ok(stream_of(bytes));
            }
        }
        let mut stream = self.inner.fetch(url.clone()).await?;
        let Some(path) = cached else {
            let counter = self.fetched.clone();
            return Ok(Box::pin(stream.inspect(move |chunk| {
                if let Ok(c) = chunk {
                    counter.fetch_add(c.len() as u64, Ordering::SeqCst);
                }
            })));
        };
        let mut bytes = Vec::new();
        while let Some(chunk) = stream.next().await {
            let chunk = chunk?;
            self.fetched.fetch_add(chunk.len() as u64, Ordering::SeqCst);
            bytes.extend_from_slice(&chunk);
            if bytes.len() as u64 > MAX_CACHED_FILE {
                return Err(TransportError::new_with_cause(
                    TransportErrorKind::Other,
                    url,
                    format!("longer than {MAX_CACHED_FILE} bytes"),
                ));
            }
        }
        let tmp = path.with_extension("partial");
        if tokio::fs::write(&tmp, &bytes).await.is_ok() {
            let _ = tokio::fs::rename(&tmp, &path).await;
        }
        Ok(stream_of(bytes))
    }
}

fn stream_of(bytes: Vec<u8>) -> TransportStream {
    Box::pin(futures::stream::iter([Ok(tough::Bytes::from(bytes))]))
}

fn copy_dir(from: &Path, to: &Path) -> Result<(), TrustError> {
    fs_err::create_dir_all(to).map_err(|e| TrustError::io(to, e))?;
    for entry in std::fs::read_dir(from).map_err(|e| TrustError::io(from, e))? {
        let entry = entry.map_err(|e| TrustError::io(from, e))?;
        let (src, dst) = (entry.path(), to.join(entry.file_name()));
        if entry.file_type().map_err(|e| TrustError::io(&src, e))?.is_dir() {
            copy_dir(&src, &dst)?;
        } else {
            fs_err::copy(&src, &dst).map_err(|e| TrustError::io(&src, e))?;
        }
    }
    Ok(())
}

fn remove_dir_if_present(dir: &Path) -> Result<(), TrustError> {
    match std::fs::remove_dir_all(dir) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(TrustError::io(dir, e)),
    }
}
