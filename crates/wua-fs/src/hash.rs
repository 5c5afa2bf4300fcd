//! SHA-256 while copying, of a file, of bytes: lower-case hex is how wua writes a digest.

use std::io::{self, BufReader, Read, Write};
use std::path::Path;

use sha2::{Digest, Sha256};

use crate::with_path;

/// Read size of [`sha256_file`].
const FILE_CHUNK: usize = 256 * 1024;

/// Copies `reader` to `writer` (flushed at the end) and hashes what was written: the byte
/// count and the SHA-256. It reads in `io::copy`'s chunks; give it a `BufReader` or a
/// `BufWriter` with a larger buffer where system calls per chunk matter, or use
/// [`copy_hashing_with`] and a buffer kept across many copies.
pub fn copy_hashing(
    reader: &mut (impl Read + ?Sized),
    writer: &mut (impl Write + ?Sized),
) -> io::Result<(u64, [u8; 32])> {
    let mut tee = HashingWriter { inner: writer, hasher: Sha256::new() };
    let n = io::copy(reader, &mut tee)?;
    tee.inner.flush()?;
    Ok((n, tee.hasher.finalize().into()))
}

/// [`copy_hashing`] through the caller's buffer: one read per `buf.len()` bytes and no
/// allocation, for a caller that copies thousands of files (an install stages 10,000 small
/// files through one buffer, where a buffer per file would cost an `mmap` each).
pub fn copy_hashing_with(
    reader: &mut (impl Read + ?Sized),
    writer: &mut (impl Write + ?Sized),
    buf: &mut [u8],
) -> io::Result<(u64, [u8; 32])> {
    let mut tee = HashingWriter { inner: writer, hasher: Sha256::new() };
    let mut total = 0u64;
    loop {
        let n = match reader.read(buf) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        };
        tee.write_all(&buf[..n])?;
        total += n as u64;
    }
    tee.inner.flush()?;
    Ok((total, tee.hasher.finalize().into()))
}

/// The SHA-256 of the file at `path` in lower-case hex; `None` when it does not exist.
pub fn sha256_file(path: &Path) -> io::Result<Option<String>> {
    let file = match std::fs::File::open(path) {
        Ok(f) => f,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(with_path(e, "open", path)),
    };
    let mut reader = BufReader::with_capacity(FILE_CHUNK, file);
    let (_, digest) = copy_hashing(&mut reader, &mut io::sink()).map_err(|e| with_path(e, "read", path))?;
    Ok(Some(hex::encode(digest)))
}

/// The SHA-256 of `bytes` in lower-case hex.
pub fn sha256_hex(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

/// A writer that hashes every byte its inner writer accepted.
struct HashingWriter<'a, W: Write + ?Sized> {
    inner: &'a mut W,
    hasher: Sha256,
}

impl<W: Write + ?Sized> Write for HashingWriter<'_, W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let n = self.inner.write(buf)?;
        self.hasher.update(&buf[..n]);
        Ok(n)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const ABC: &str = "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad";

    #[test]
    fn hashes_what_it_copies() {
        let data: Vec<u8> = (0..300_000u32).map(|i| (i % 251) as u8).collect();
        let mut out = Vec::new();
        let (n, digest) = copy_hashing(&mut &data[..], &mut out).unwrap();
        assert_eq!(n, data.len() as u64);
        assert_eq!(out, data);
        assert_eq!(hex::encode(digest), sha256_hex(&data));
        assert_eq!(sha256_hex(b"abc"), ABC);
    }

    /// A writer that takes at most 7 bytes a call: only what it accepted is hashed.
    #[test]
    fn short_writes_hash_only_what_was_written() {
        struct Short(Vec<u8>);
        impl Write for Short {
            fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
                let n = buf.len().min(7);
                self.0.extend_from_slice(&buf[..n]);
                Ok(n)
            }
            fn flush(&mut self) -> io::Result<()> {
                Ok(())
            }
        }
        let mut out = Short(Vec::new());
        let (n, digest) = copy_hashing(&mut &b"abc"[..], &mut out).unwrap();
        assert_eq!((n, hex::encode(digest)), (3, ABC.to_owned()));
    }

    #[test]
    fn file_digest_or_none() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("f");
        assert_eq!(sha256_file(&path).unwrap(), None);
        std::fs::write(&path, b"abc").unwrap();
        assert_eq!(sha256_file(&path).unwrap().as_deref(), Some(ABC));
        let e = sha256_file(dir.path()).unwrap_err();
        assert!(e.to_string().contains(&*dir.path().to_string_lossy()), "{e}");
    }
}
