//! `Fetcher::download_to`: a partial file resumed with `Range`, every server answer D-31 names,
//! and the length and SHA-256 checked as the body streams.

use std::path::{Path, PathBuf};

use url::Url;
use wua_fetch::{Downloaded, FetchError, FetchLimits};
use wua_test_support::fault::Fault;
use wua_test_support::sha256_hex;
use wua_types::HResult;

use super::{BIG_LEN, BLOB_LEN, Served, blob, fetcher, short};

/// A served tree, and a directory for partial files beside it.
struct Download {
    s: Served,
    dir: tempfile::TempDir,
    blob: Vec<u8>,
    sha256: String,
}

impl Download {
    async fn new() -> Download {
        let blob = blob();
        let sha256 = sha256_hex(&blob);
        Download { s: Served::new().await, dir: tempfile::tempdir().unwrap(), blob, sha256 }
    }

    fn partial(&self) -> PathBuf {
        self.dir.path().join("blob.partial")
    }

    fn url(&self) -> Url {
        self.s.url("blob.bin")
    }

    /// Downloads `blob.bin` into the partial file with `limits`.
    async fn run(&self, limits: FetchLimits) -> Result<Downloaded, FetchError> {
        fetcher(limits).download_to(&self.url(), &self.partial(), BLOB_LEN as u64, &self.sha256).await
    }

    fn ranges(&self) -> Vec<Option<String>> {
        self.s.server.faults().ranges("/blob.bin")
    }

    /// The partial file holds exactly the blob.
    fn assert_complete(&self) {
        let got = std::fs::read(self.partial()).unwrap();
        assert_eq!(got.len(), self.blob.len());
        assert!(got == self.blob, "the partial file holds other bytes than the blob");
    }
}

fn range_start(range: &str) -> u64 {
    range.strip_prefix("bytes=").and_then(|r| r.strip_suffix('-')).and_then(|n| n.parse().ok()).expect(range)
}

fn assert_mismatch_removed(e: &FetchError, partial: &Path) {
    assert!(matches!(e, FetchError::ContentMismatch { .. }), "{e}");
    assert_eq!(e.hresult(), HResult::WU_E_DM_INCORRECTFILEHASH, "{e}");
    assert!(!partial.exists(), "the partial file must be removed after a mismatch");
}

#[tokio::test]
async fn a_whole_download_checks_and_writes_the_file() {
    let d = Download::new().await;
    let done = d.run(short()).await.unwrap();
    assert_eq!(done, Downloaded { reused: 0, received: BLOB_LEN as u64, retries: 0, restarts: 0 });
    assert_eq!(d.ranges(), vec![None], "a fresh download asks for the whole file");
    d.assert_complete();
}

#[tokio::test]
async fn a_body_cut_mid_way_resumes_from_what_was_written() {
    let d = Download::new().await;
    d.s.server.faults().set_times("/blob.bin", Fault::CutAfter(300_000), 1);
    let done = d.run(short()).await.unwrap();
    let ranges = d.ranges();
    assert_eq!(ranges.len(), 2, "{ranges:?}");
    assert_eq!(ranges[0], None);
    let from = range_start(ranges[1].as_deref().expect("the second request asks for a range"));
    assert!(from > 0 && from <= 300_000, "resumed from {from}");
    assert_eq!(done.retries, 1);
    assert_eq!(done.restarts, 0);
    // Nothing fetched twice: the first try's bytes plus the rest.
    assert_eq!(done.received, BLOB_LEN as u64);
    d.assert_complete();
}

#[tokio::test]
async fn a_cut_with_no_retry_left_keeps_the_partial_file_for_the_next_call() {
    let d = Download::new().await;
    d.s.server.faults().set_times("/blob.bin", Fault::CutAfter(300_000), 1);
    let e = d.run(FetchLimits { retries: 0, ..short() }).await.unwrap_err();
    assert!(matches!(e, FetchError::Connect { .. }), "{e}");
    assert_eq!(e.hresult(), HResult::WU_E_NO_CONNECTION);
    let kept = std::fs::read(d.partial()).unwrap();
    assert!(!kept.is_empty() && kept.len() <= 300_000, "kept {} bytes", kept.len());
    assert!(kept[..] == d.blob[..kept.len()], "the kept bytes are the blob's first ones");

    let done = d.run(short()).await.unwrap();
    assert_eq!(done.reused, kept.len() as u64);
    assert_eq!(done.received, (BLOB_LEN - kept.len()) as u64);
    assert_eq!(d.ranges().last().cloned().flatten(), Some(format!("bytes={}-", kept.len())));
    d.assert_complete();
}

#[tokio::test]
async fn a_partial_file_left_from_before_is_hashed_and_resumed() {
    let d = Download::new().await;
    std::fs::write(d.partial(), &d.blob[..400_000]).unwrap();
    let done = d.run(short()).await.unwrap();
    assert_eq!(d.ranges(), vec![Some("bytes=400000-".to_owned())]);
    assert_eq!(done, Downloaded { reused: 400_000, received: (BLOB_LEN - 400_000) as u64, retries: 0, restarts: 0 });
    d.assert_complete();
}

#[tokio::test]
async fn a_damaged_partial_file_fails_the_hash_and_is_removed() {
    // Bytes kept from before are trusted only through the final hash: a damaged one fails.
    let d = Download::new().await;
    let mut damaged = d.blob[..400_000].to_vec();
    damaged[1000] ^= 0xFF;
    std::fs::write(d.partial(), &damaged).unwrap();
    let e = d.run(short()).await.unwrap_err();
    assert_eq!(d.ranges(), vec![Some("bytes=400000-".to_owned())]);
    assert_mismatch_removed(&e, &d.partial());
}

#[tokio::test]
async fn a_complete_partial_file_is_not_fetched_again_unless_it_is_damaged() {
    let d = Download::new().await;
    std::fs::write(d.partial(), &d.blob).unwrap();
    let done = d.run(short()).await.unwrap();
    assert_eq!(done, Downloaded { reused: BLOB_LEN as u64, received: 0, retries: 0, restarts: 0 });
    assert_eq!(d.s.server.faults().hits("/blob.bin"), 0);

    let mut damaged = d.blob.clone();
    damaged[BLOB_LEN - 1] ^= 0xFF;
    std::fs::write(d.partial(), &damaged).unwrap();
    let done = d.run(short()).await.unwrap();
    assert_eq!(done, Downloaded { reused: 0, received: BLOB_LEN as u64, retries: 0, restarts: 1 });
    assert_eq!(d.ranges(), vec![None], "fetched again from the start");
    d.assert_complete();
}

#[tokio::test]
async fn a_server_that_ignores_range_restarts_from_zero() {
    let d = Download::new().await;
    std::fs::write(d.partial(), &d.blob[..400_000]).unwrap();
    d.s.server.faults().set("/blob.bin", Fault::IgnoreRange);
    let done = d.run(short()).await.unwrap();
    assert_eq!(d.ranges(), vec![Some("bytes=400000-".to_owned())], "one request: its 200 is the whole file");
    assert_eq!(done, Downloaded { reused: 0, received: BLOB_LEN as u64, retries: 0, restarts: 1 });
    d.assert_complete();
}

#[tokio::test]
async fn a_wrong_content_range_discards_the_partial_file_and_restarts() {
    let d = Download::new().await;
    std::fs::write(d.partial(), &d.blob[..400_000]).unwrap();
    d.s.server.faults().set_times("/blob.bin", Fault::WrongContentRange, 1);
    let done = d.run(short()).await.unwrap();
    assert_eq!(d.ranges(), vec![Some("bytes=400000-".to_owned()), None]);
    assert_eq!(done.restarts, 1);
    assert_eq!(done.reused, 0);
    d.assert_complete();
}

#[tokio::test]
async fn a_lasting_wrong_content_range_fails_after_one_restart() {
    let d = Download::new().await;
    std::fs::write(d.partial(), &d.blob[..400_000]).unwrap();
    d.s.server.faults().set("/blob.bin", Fault::WrongContentRange);
    let e = d.run(short()).await.unwrap_err();
    assert!(matches!(e, FetchError::BadRange { asked_from: 0, .. }), "{e}");
    assert_eq!(e.hresult(), HResult::WU_E_DM_BITSTRANSFERERROR);
    assert_eq!(d.ranges(), vec![Some("bytes=400000-".to_owned()), None], "one restart, then the error");
}

#[tokio::test]
async fn a_flipped_byte_fails_with_the_hash_code_and_leaves_no_partial_file() {
    let d = Download::new().await;
    d.s.server.faults().set("/blob.bin", Fault::FlipByte(123_456));
    let e = d.run(short()).await.unwrap_err();
    assert_mismatch_removed(&e, &d.partial());
    match &e {
        FetchError::ContentMismatch { mismatch, .. } => {
            assert_eq!(mismatch.got_len, BLOB_LEN as u64);
            assert_eq!(mismatch.expected_sha256, d.sha256);
            assert!(mismatch.got_sha256.as_ref().is_some_and(|h| *h != d.sha256));
        }
        _ => unreachable!(),
    }
    assert_eq!(d.s.server.faults().hits("/blob.bin"), 1, "a mismatch is not retried");
}

#[tokio::test]
async fn a_flipped_byte_in_the_resumed_part_fails_too() {
    let d = Download::new().await;
    d.s.server.faults().set_times("/blob.bin", Fault::CutAfter(300_000), 1);
    d.s.server.faults().set("/blob.bin", Fault::FlipByte(BLOB_LEN as u64 - 1));
    let e = d.run(short()).await.unwrap_err();
    assert_mismatch_removed(&e, &d.partial());
    assert_eq!(d.s.server.faults().hits("/blob.bin"), 2);
}

#[tokio::test]
async fn a_500_then_success_is_retried() {
    let d = Download::new().await;
    d.s.server.faults().set_times("/blob.bin", Fault::Status(500), 1);
    let done = d.run(short()).await.unwrap();
    assert_eq!(done.retries, 1);
    assert_eq!(d.s.server.faults().hits("/blob.bin"), 2);
    d.assert_complete();
}

#[tokio::test]
async fn a_lasting_503_fails_with_its_code_after_the_retries() {
    let d = Download::new().await;
    d.s.server.faults().set("/blob.bin", Fault::Status(503));
    let e = d.run(short()).await.unwrap_err();
    assert!(matches!(e, FetchError::Status { status: 503, .. }), "{e}");
    assert_eq!(e.hresult(), HResult::WU_E_PT_HTTP_STATUS_SERVICE_UNAVAIL);
    assert_eq!(d.s.server.faults().hits("/blob.bin"), 3, "one try and two retries");
}

#[tokio::test]
async fn a_body_longer_than_expected_is_refused_while_streaming() {
    let d = Download::new().await;
    let f = fetcher(short());
    let expected_len = 1 << 20;
    let sha = sha256_hex(&vec![7u8; expected_len]);
    // A declared length over the expected one: refused before the body.
    let e = f.download_to(&d.s.url("big.bin"), &d.partial(), expected_len as u64, &sha).await.unwrap_err();
    assert_mismatch_removed(&e, &d.partial());
    // No declared length: refused as soon as the bytes run past it, long before the end.
    d.s.server.faults().set("/big.bin", Fault::HideLength);
    let e = f.download_to(&d.s.url("big.bin"), &d.partial(), expected_len as u64, &sha).await.unwrap_err();
    assert_mismatch_removed(&e, &d.partial());
    match &e {
        FetchError::ContentMismatch { mismatch, .. } => {
            assert!(mismatch.got_len > expected_len as u64 && mismatch.got_len < BIG_LEN as u64, "{e}");
            assert_eq!(mismatch.got_sha256, None);
        }
        _ => unreachable!(),
    }
    assert_eq!(d.s.server.faults().hits("/big.bin"), 2, "never retried");
}

#[tokio::test]
async fn a_body_shorter_than_expected_fails_with_the_hash_code() {
    let d = Download::new().await;
    let e = fetcher(short()).download_to(&d.url(), &d.partial(), BLOB_LEN as u64 + 10, &d.sha256).await.unwrap_err();
    assert_mismatch_removed(&e, &d.partial());
}

#[tokio::test]
async fn a_file_url_resumes_from_the_partial_length() {
    let d = Download::new().await;
    let url = Url::from_file_path(d.s.dir.join("blob.bin")).unwrap();
    std::fs::write(d.partial(), &d.blob[..400_000]).unwrap();
    let f = fetcher(short());
    let done = f.download_to(&url, &d.partial(), BLOB_LEN as u64, &d.sha256).await.unwrap();
    assert_eq!(done, Downloaded { reused: 400_000, received: (BLOB_LEN - 400_000) as u64, retries: 0, restarts: 0 });
    d.assert_complete();
    // A flipped byte in the source fails the hash and removes the partial file.
    let mut flipped = d.blob.clone();
    flipped[500_000] ^= 0xFF;
    std::fs::write(d.s.dir.join("blob.bin"), &flipped).unwrap();
    std::fs::write(d.partial(), &d.blob[..400_000]).unwrap();
    let e = f.download_to(&url, &d.partial(), BLOB_LEN as u64, &d.sha256).await.unwrap_err();
    assert_mismatch_removed(&e, &d.partial());
}
