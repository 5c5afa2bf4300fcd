//! Signing keys: ed25519, stored as PKCS#8 files readable by their owner only (mode 0600),
//! created with `O_EXCL` so an existing key is never overwritten. This module and its callers
//! in this crate are the only code of wua that touches keys or signatures.
//!
//! A public key travels as a file of its own (TUF's JSON form of the key, mode 0644): what a
//! root key's holder hands over so a repository can be created without the private half
//! ([`generate_pair`], [`read_public`]).

use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::signature::Ed25519KeyPair;
use tough::key_source::{KeySource, LocalKeySource};
use tough::schema::key::Key;
use tough::sign::{Sign, parse_keypair};

use crate::error::TrustError;

/// Creates a new ed25519 key at `path` (mode 0600; refuses to replace a file) and returns its
/// public half.
pub fn generate(path: &Path) -> Result<Key, TrustError> {
    let rng = SystemRandom::new();
    let pkcs8 = Ed25519KeyPair::generate_pkcs8(&rng)
        .map_err(|e| TrustError::Key { path: path.into(), detail: format!("generating: {e}") })?;
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
        .map_err(|e| TrustError::io(path, e))?;
    file.write_all(pkcs8.as_ref()).and_then(|()| file.sync_all()).map_err(|e| TrustError::io(path, e))?;
    public_key(path)
}

/// The public half of the key at `path`.
pub fn public_key(path: &Path) -> Result<Key, TrustError> {
    let bytes = std::fs::read(path).map_err(|e| TrustError::io(path, e))?;
    let pair = parse_keypair(&bytes).map_err(|e| TrustError::Key { path: path.into(), detail: e.to_string() })?;
    Ok(pair.tuf_key())
}

/// Creates a new ed25519 key at `private` (mode 0600) and writes its public half to `public`
/// ([`write_public`]); refuses to replace either file. Returns the public half.
pub fn generate_pair(private: &Path, public: &Path) -> Result<Key, TrustError> {
    if public.exists() {
        return Err(TrustError::invalid(public, "already exists; a key file is never replaced"));
    }
    let key = generate(private)?;
    write_public(public, &key)?;
    Ok(key)
}

/// Writes a public key as TUF's JSON form of it (mode 0644, whatever the umask).
pub fn write_public(path: &Path, key: &Key) -> Result<(), TrustError> {
    let bytes = serde_json::to_vec_pretty(key).map_err(|e| TrustError::invalid(path, e.to_string()))?;
    crate::repo::write_shared(path, &bytes)
}

/// Reads a public key file ([`write_public`]). A private key file is refused: it is never
/// what a repository is given.
pub fn read_public(path: &Path) -> Result<Key, TrustError> {
    let bytes = std::fs::read(path).map_err(|e| TrustError::io(path, e))?;
    serde_json::from_slice(&bytes).map_err(|e| TrustError::Key {
        path: path.into(),
        detail: format!("is not a public key file (`wua repo key generate KEY --public FILE` writes one): {e}"),
    })
}

/// The key id (TUF: the SHA-256 of the canonical public key) as hex.
pub fn key_id(key: &Key, path: &Path) -> Result<String, TrustError> {
    key.key_id().map(|id| hex::encode(&*id)).map_err(|e| TrustError::Key { path: path.into(), detail: e.to_string() })
}

/// A signing source for the key at `path`.
pub fn source(path: impl Into<PathBuf>) -> Box<dyn KeySource> {
    Box::new(LocalKeySource { path: path.into() })
}
