//! Arbitrary-content attacks: a pack or a blob whose bytes are not the signed ones is refused.

use wua_trust::Refusal;
use wua_trust::repo::InitOptions;
use wua_trust::verify;

use crate::support::*;

/// The hash-named copy of the newest pack that is served.
pub(crate) fn served_pack(f: &Fixture) -> std::path::PathBuf {
    let dir = f.repo.join("repository/targets");
    let newest = std::fs::read_dir(f.repo.join("catalog"))
        .unwrap()
        .filter_map(|e| e.ok()?.file_name().into_string().ok())
        .filter(|n| n.starts_with("pack-"))
        .max()
        .unwrap();
    let working = std::fs::read(f.repo.join("catalog").join(&newest)).unwrap();
    let sha = wua_fs::sha256_hex(&working);
    dir.join(format!("{sha}.{newest}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn swapped_pack_is_refused() {
    let (f, source) = trusted(InitOptions::default()).await;
    f.publish(2, 1, "two").await;
    let pack = served_pack(&f);
    let mut bytes = std::fs::read(&pack).unwrap();
    let at = bytes.len() / 2;
    bytes[at] ^= 0x20; // same length, other content
    std::fs::write(&pack, bytes).unwrap();
    assert_refused(&f, &source, Refusal::HashMismatch).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn swapped_blob_is_refused() {
    let f = Fixture::new(InitOptions::default()).await;
    let doc = f.publish(1, 1, "the real content").await;
    let source = serve(&f.repo.join("repository")).await;
    f.refresh(&source).await.unwrap();
    let entry = &doc.content[0];
    std::fs::write(f.repo.join("repository/blobs/sha256").join(&entry.sha256), "the fake content").unwrap();
    let bytes = get(source.blob_url(&entry.sha256).unwrap()).await;
    let e = verify::check_blob(&bytes, entry).unwrap_err();
    assert_eq!(e.hresult(), wua_types::HResult::WUA_E_TRUST_HASH_MISMATCH, "{e}");
    let longer = [bytes.as_slice(), b"and more"].concat();
    let e = verify::check_blob(&longer, entry).unwrap_err();
    assert_eq!(e.hresult(), wua_types::HResult::WUA_E_TRUST_TOO_LARGE, "{e}");
    assert!(matches!(e, wua_trust::TrustError::Refused { refusal: Refusal::TooLarge, .. }));
}
