//! A resumable download into a partial file, its length and SHA-256 checked as it streams
//! (decision D-31).
//!
//! The partial file is the state: whatever it holds when a download starts is hashed again
//! and asked for no more (`Range: bytes=K-`), and whatever a broken try wrote stays for the
//! next one. What the server answers decides what happens to it:
//!
//! | answer | then |
//! |---|---|
//! | `206`, `Content-Range: bytes K-(LEN-1)/LEN` | appended |
//! | `200` (the server ignored `Range`, or `If-Range` did not match) | written from byte 0 |
//! | `206` with another, a missing or an unreadable `Content-Range` | the partial file is discarded and the download starts over, once; then [`FetchError::BadRange`] |
//! | `416` to a `Range` (the file is shorter than the partial one) | as the line above |
//! | a body cut off, too slow, a 5xx | retried with backoff from what was written |
//!
//! The body may never run past the expected length (refused as it streams); at the end the
//! length and SHA-256 must match. A mismatch removes the partial file
//! ([`FetchError::ContentMismatch`]); any other failure keeps it for a later resume. The file
//! is neither synced nor renamed: the caller checks nothing more and moves it into place.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use futures::StreamExt;
use sha2::{Digest, Sha256};
use tokio::io::{AsyncReadExt, AsyncSeekExt, AsyncWriteExt};
use url::Url;

use crate::fetcher::Resume;
use crate::{FetchError, Fetcher, Mismatch};

/// What a finished download took.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Downloaded {
    /// The bytes of the partial file kept from before the call (0 when there was none or it
    /// was discarded).
    pub reused: u64,
    /// The body bytes received over every try, those later discarded included.
    pub received: u64,
    /// How many tries had to be made again (a cut body, a 5xx, a slow server).
    pub retries: u32,
    /// How many times the partial file was emptied and the download started over (a `200` to a
    /// `Range` request, a wrong `Content-Range`).
    pub restarts: u32,
}

impl Fetcher {
    /// Downloads `url` into the file `partial`, which must end up holding exactly
    /// `expected_len` bytes whose SHA-256 is `expected_sha256` (hex; either case).
    ///
    /// Bytes already in `partial` are hashed again and kept: only the rest is asked for
    /// (`Range: bytes=K-`; a `file://` URL is read from byte K). A body that breaks off, goes
    /// too slow or meets a transient status is retried with backoff from what was written,
    /// within the fetcher's retries and deadline. See the module notes for every answer a
    /// server may give. The parent directory must exist; the file is written but not synced
    /// and not renamed.
    ///
    /// Errors: [`FetchError::ContentMismatch`] (`WU_E_DM_INCORRECTFILEHASH`) when the content
    /// is longer than `expected_len` (refused as it streams), shorter, or hashes otherwise; the
    /// partial file is then removed. Any other error keeps the partial file for a later call.
    pub async fn download_to(
        &self,
        url: &Url,
        partial: &Path,
        expected_len: u64,
        expected_sha256: &str,
    ) -> Result<Downloaded, FetchError> {
        self.download_to_with(url, partial, expected_len, expected_sha256, &mut |_| true).await
    }

    /// [`Fetcher::download_to`], calling `on_chunk` with the length of each chunk written; when
    /// it returns false the download stops there with [`FetchError::Stopped`] (the partial file
    /// stays for a later call).
    pub async fn download_to_with(
        &self,
        url: &Url,
        partial: &Path,
        expected_len: u64,
        expected_sha256: &str,
        on_chunk: &mut (dyn FnMut(u64) -> bool + Send),
    ) -> Result<Downloaded, FetchError> {
        let expected = Expected { len: expected_len, sha256: expected_sha256.to_ascii_lowercase() };
        let mut file = PartialFile::open(url, partial, expected.len).await?;
        let result = self.fill(url, &mut file, &expected, on_chunk).await;
        let result = match result {
            Ok(mut done) => match file.finish().await {
                Ok((len, sha256)) if len == expected.len && sha256 == expected.sha256 => {
                    done.reused = file.reused;
                    Ok(done)
                }
                Ok((len, sha256)) => Err(expected.mismatch(url, partial, len, Some(sha256))),
                Err(e) => Err(e),
            },
            Err(e) => {
                // Whatever was written stays (unless it is about to be removed): let the last
                // write land.
                let _ = file.file.flush().await;
                Err(e)
            }
        };
        if matches!(result, Err(FetchError::ContentMismatch { .. })) {
            drop(file);
            let _ = tokio::fs::remove_file(partial).await;
        }
        result
    }

    /// Tries until the partial file holds the body (or the body ended), a failure is final, or
    /// retries, restarts or time run out.
    async fn fill(
        &self,
        url: &Url,
        file: &mut PartialFile,
        expected: &Expected,
        on_chunk: &mut (dyn FnMut(u64) -> bool + Send),
    ) -> Result<Downloaded, FetchError> {
        let mut retries = self.retries();
        let mut done = Downloaded::default();
        // The entity tag the bytes written in this call came with, for `If-Range`.
        let mut etag: Option<String> = None;
        let mut restarted_for_range = false;
        if file.written == expected.len {
            // Complete already (or damaged): no request unless the hash says so.
            if hex::encode(file.hasher.clone().finalize()) == expected.sha256 {
                return Ok(done);
            }
            file.restart().await?;
            done.restarts += 1;
        }
        loop {
            match self.one_try(url, file, expected, &mut etag, &mut done, on_chunk).await {
                Ok(()) => return Ok(done),
                Err(Failure::Restart(e)) => {
                    if restarted_for_range {
                        return Err(e);
                    }
                    restarted_for_range = true;
                    file.restart().await?;
                    etag = None;
                    done.restarts += 1;
                }
                Err(Failure::Final(e)) if e.is_transient() => {
                    retries.wait(e).await?;
                    done.retries += 1;
                }
                Err(Failure::Final(e)) => return Err(e),
            }
        }
    }

    /// One request, its body appended to the partial file.
    async fn one_try(
        &self,
        url: &Url,
        file: &mut PartialFile,
        expected: &Expected,
        etag: &mut Option<String>,
        done: &mut Downloaded,
        on_chunk: &mut (dyn FnMut(u64) -> bool + Send),
    ) -> Result<(), Failure> {
        let from = file.written;
        let resume = (from > 0).then_some(Resume { offset: from, if_range: etag.as_deref() });
        let opened = match self.open_at(url, expected.len, resume).await {
            Ok(opened) => opened,
            Err(FetchError::Status { status: 416, .. }) if from > 0 => {
                let e = FetchError::BadRange { url: url.clone(), asked_from: from, content_range: "".into() };
                return Err(Failure::Restart(e));
            }
            Err(FetchError::TooLarge { .. }) => {
                // The declared length is over the expected one: nothing was read.
                return Err(Failure::Final(expected.mismatch(url, &file.path, expected.len + 1, None)));
            }
            Err(e) => return Err(Failure::Final(e)),
        };
        if opened.partial {
            let header = opened.content_range.as_deref().unwrap_or("");
            if parse_content_range(header) != Some((from, expected.len.wrapping_sub(1), expected.len)) {
                let e = FetchError::BadRange { url: url.clone(), asked_from: from, content_range: header.into() };
                return Err(Failure::Restart(e));
            }
        } else if from > 0 {
            // The whole file came back: the server ignored the range or the file changed.
            file.restart().await.map_err(Failure::Final)?;
            done.restarts += 1;
        }
        if let Some(tag) = opened.etag.filter(|t| !t.starts_with("W/")) {
            *etag = Some(tag);
        }
        let mut stream = opened.stream;
        while let Some(chunk) = stream.next().await {
            let chunk = match chunk {
                Ok(chunk) => chunk,
                Err(FetchError::TooLarge { read, .. }) => {
                    let got = if opened.partial { from + read } else { read };
                    return Err(Failure::Final(expected.mismatch(url, &file.path, got, None)));
                }
                Err(e) => return Err(Failure::Final(e)),
            };
            done.received += chunk.len() as u64;
            if file.written + chunk.len() as u64 > expected.len {
                let got = file.written + chunk.len() as u64;
                return Err(Failure::Final(expected.mismatch(url, &file.path, got, None)));
            }
            file.append(&chunk).await.map_err(Failure::Final)?;
            if !on_chunk(chunk.len() as u64) {
                return Err(Failure::Final(FetchError::Stopped { url: url.clone() }));
            }
        }
        Ok(())
    }
}

/// Why a try ended.
#[derive(Debug)]
enum Failure {
    /// Discard the partial file and start over (once), or fail with this.
    Restart(FetchError),
    /// Retry it if it is transient, else fail with it.
    Final(FetchError),
}

/// What the content must be.
#[derive(Debug)]
struct Expected {
    len: u64,
    sha256: String,
}

impl Expected {
    /// The error for `got_len` bytes (and their hash, when all came) written to `path`.
    fn mismatch(&self, url: &Url, path: &Path, got_len: u64, got_sha256: Option<String>) -> FetchError {
        let mismatch = Mismatch {
            path: path.to_path_buf(),
            expected_len: self.len,
            expected_sha256: self.sha256.clone(),
            got_len,
            got_sha256,
        };
        FetchError::ContentMismatch { url: url.clone(), mismatch: Box::new(mismatch) }
    }
}

/// The partial file, its length and the hash of what it holds.
#[derive(Debug)]
struct PartialFile {
    url: Url,
    path: PathBuf,
    file: tokio::fs::File,
    hasher: Sha256,
    written: u64,
    reused: u64,
}

impl PartialFile {
    /// Opens (or creates) `path` and hashes what it holds; a file longer than `max_len` is
    /// emptied.
    async fn open(url: &Url, path: &Path, max_len: u64) -> Result<PartialFile, FetchError> {
        let io = |e| FetchError::PartialFile { url: url.clone(), path: path.into(), source: Arc::new(e) };
        let mut file = tokio::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(path)
            .await
            .map_err(io)?;
        let mut hasher = Sha256::new();
        let mut written = 0u64;
        let len = file.metadata().await.map_err(io)?.len();
        if len > max_len {
            file.set_len(0).await.map_err(io)?;
        } else {
            let mut buf = vec![0u8; 256 * 1024];
            loop {
                let n = file.read(&mut buf).await.map_err(io)?;
                if n == 0 {
                    break;
                }
                hasher.update(&buf[..n]);
                written += n as u64;
            }
        }
        file.seek(std::io::SeekFrom::Start(written)).await.map_err(io)?;
        Ok(PartialFile { url: url.clone(), path: path.to_path_buf(), file, hasher, written, reused: written })
    }

    fn io(&self, e: std::io::Error) -> FetchError {
        FetchError::PartialFile { url: self.url.clone(), path: self.path.as_path().into(), source: Arc::new(e) }
    }

    /// Empties the file: the download starts over.
    async fn restart(&mut self) -> Result<(), FetchError> {
        self.file.set_len(0).await.map_err(|e| self.io(e))?;
        self.file.seek(std::io::SeekFrom::Start(0)).await.map_err(|e| self.io(e))?;
        self.hasher = Sha256::new();
        self.written = 0;
        self.reused = 0;
        Ok(())
    }

    async fn append(&mut self, bytes: &[u8]) -> Result<(), FetchError> {
        self.file.write_all(bytes).await.map_err(|e| self.io(e))?;
        self.hasher.update(bytes);
        self.written += bytes.len() as u64;
        Ok(())
    }

    /// Lets the last write land; the length and the SHA-256 (lowercase hex).
    async fn finish(&mut self) -> Result<(u64, String), FetchError> {
        self.file.flush().await.map_err(|e| self.io(e))?;
        Ok((self.written, hex::encode(self.hasher.clone().finalize())))
    }
}

/// `bytes FIRST-LAST/LEN` as numbers; `None` for anything else (`*` lengths included).
pub(crate) fn parse_content_range(header: &str) -> Option<(u64, u64, u64)> {
    let rest = header.trim().strip_prefix("bytes ")?;
    let (range, len) = rest.split_once('/')?;
    let (first, last) = range.split_once('-')?;
    let number = |s: &str| {
        let s = s.trim();
        (!s.is_empty() && s.bytes().all(|c| c.is_ascii_digit())).then(|| s.parse::<u64>().ok()).flatten()
    };
    Some((number(first)?, number(last)?, number(len)?))
}

#[cfg(test)]
mod tests {
    use super::parse_content_range;

    #[test]
    fn content_ranges() {
        assert_eq!(parse_content_range("bytes 0-9/10"), Some((0, 9, 10)));
        assert_eq!(parse_content_range(" bytes 5-9/10 "), Some((5, 9, 10)));
        for bad in [
            "",
            "bytes 0-9/*",
            "bytes */10",
            "items 0-9/10",
            "bytes 0-9",
            "bytes -9/10",
            "bytes 0-x/10",
            "bytes 0-+9/10",
        ] {
            assert_eq!(parse_content_range(bad), None, "{bad:?}");
        }
    }
}
