//! wua-fetch against a real server on 127.0.0.1: the static repository handler behind the
//! fault layer of `wua-test-support`. Time-outs are asserted by their code, never by the time
//! they took. `download`: resumable, verified downloads (D-31); `tls`: HTTPS with a CA made at
//! test time.

mod api;
mod download;
mod tls;

use std::path::PathBuf;
use std::time::Duration;

use tough::{IntoVec, Transport, TransportErrorKind};
use url::Url;
use wua_fetch::{FetchError, FetchLimits, FetchTransport, Fetcher};
use wua_test_support::fault::{Fault, FaultServer};
use wua_types::HResult;

const SMALL: &[u8] = b"a small file the server holds\n";
const BIG_LEN: usize = 8 << 20;
/// The length of `blob.bin`, bytes no two of which repeat in a pattern.
const BLOB_LEN: usize = 1 << 20;

struct Served {
    _dir: tempfile::TempDir,
    dir: PathBuf,
    server: FaultServer,
}

impl Served {
    async fn new() -> Served {
        let (dir, root) = Served::tree();
        let server = FaultServer::start(wua_trust::static_repo::router(&root)).await.unwrap();
        Served { _dir: dir, dir: root, server }
    }

    /// A temporary tree with `small.bin`, `big.bin` and `blob.bin`.
    fn tree() -> (tempfile::TempDir, PathBuf) {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().join("tree");
        std::fs::create_dir_all(&root).unwrap();
        std::fs::write(root.join("small.bin"), SMALL).unwrap();
        std::fs::write(root.join("big.bin"), vec![7u8; BIG_LEN]).unwrap();
        std::fs::write(root.join("blob.bin"), blob()).unwrap();
        (dir, root)
    }

    fn url(&self, path: &str) -> Url {
        Url::parse(&self.server.url).unwrap().join(path).unwrap()
    }
}

/// Short bounds, so a stalled or dripping server fails within a second or two.
fn short() -> FetchLimits {
    FetchLimits {
        total_deadline: Duration::from_secs(5),
        min_rate_bytes_per_sec: 1024,
        min_rate_window: Duration::from_millis(300),
        connect_timeout: Duration::from_secs(2),
        retries: 2,
        first_backoff: Duration::from_millis(10),
    }
}

/// `blob.bin`'s bytes: pseudo-random (xorshift64), the same on every call.
fn blob() -> Vec<u8> {
    let mut x = 0x9E37_79B9_7F4A_7C15u64;
    (0..BLOB_LEN)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            (x >> 24) as u8
        })
        .collect()
}

fn fetcher(limits: FetchLimits) -> Fetcher {
    Fetcher::new(limits, &[]).unwrap()
}

#[tokio::test]
async fn a_file_passes_through() {
    let s = Served::new().await;
    let f = fetcher(FetchLimits::default());
    assert_eq!(f.get(&s.url("small.bin"), 1024).await.unwrap(), SMALL);
    assert_eq!(f.get(&s.url("big.bin"), BIG_LEN as u64).await.unwrap().len(), BIG_LEN);
}

#[tokio::test]
async fn a_stall_fails_with_the_timeout_code() {
    let s = Served::new().await;
    s.server.faults().set("/small.bin", Fault::Stall);
    let e = fetcher(short()).get(&s.url("small.bin"), 1024).await.unwrap_err();
    assert!(matches!(e, FetchError::TooSlow { .. } | FetchError::TimedOut { .. }), "{e}");
    assert_eq!(e.hresult(), HResult::WININET_E_TIMEOUT, "{e}");
    // A time-out is a transport failure: retried.
    assert_eq!(s.server.faults().hits("/small.bin"), 3);
}

#[tokio::test]
async fn a_byte_per_second_drip_fails_with_the_timeout_code() {
    let s = Served::new().await;
    s.server.faults().set("/small.bin", Fault::Drip { bytes_per_sec: 1 });
    let f = fetcher(short());
    let e = f.get(&s.url("small.bin"), 1024).await.unwrap_err();
    assert_eq!(e.hresult(), HResult::WININET_E_TIMEOUT, "{e}");
    // The streaming form too: the headers came, the body drips.
    let mut stream = f.stream(&s.url("small.bin"), 1024).await.unwrap();
    let e = loop {
        match futures::StreamExt::next(&mut stream).await {
            Some(Ok(_)) => continue,
            Some(Err(e)) => break e,
            None => panic!("a dripping body must not complete"),
        }
    };
    assert!(matches!(e, FetchError::TooSlow { .. }), "{e}");
    assert_eq!(e.hresult(), HResult::WININET_E_TIMEOUT);
}

#[tokio::test]
async fn the_total_deadline_bounds_the_fetcher() {
    let s = Served::new().await;
    let f = fetcher(FetchLimits { total_deadline: Duration::ZERO, ..FetchLimits::default() });
    let e = f.get(&s.url("small.bin"), 1024).await.unwrap_err();
    assert!(matches!(e, FetchError::TimedOut { .. }), "{e}");
    assert_eq!(e.hresult(), HResult::WININET_E_TIMEOUT);
}

#[tokio::test]
async fn a_body_over_the_limit_is_refused_while_streaming() {
    let s = Served::new().await;
    let max_len = 64 * 1024;
    let f = fetcher(FetchLimits::default());
    // A declared length over the limit: refused before the body.
    match f.get(&s.url("big.bin"), max_len).await.unwrap_err() {
        FetchError::TooLarge { read, .. } => assert_eq!(read, 0),
        e => panic!("expected TooLarge, got {e}"),
    }
    // No declared length: refused by counting, one chunk past the limit at most.
    s.server.faults().set("/big.bin", Fault::HideLength);
    let e = f.get(&s.url("big.bin"), max_len).await.unwrap_err();
    match &e {
        FetchError::TooLarge { read, max_len: m, .. } => {
            assert_eq!(*m, max_len);
            assert!(*read > max_len && *read <= max_len + 512 * 1024, "read {read} bytes of {BIG_LEN}");
        }
        e => panic!("expected TooLarge, got {e}"),
    }
    assert_eq!(e.hresult(), HResult::WUA_E_TRUST_TOO_LARGE);
    // Never retried.
    assert_eq!(s.server.faults().hits("/big.bin"), 2);
}

#[tokio::test]
async fn a_500_then_200_is_retried() {
    let s = Served::new().await;
    s.server.faults().set_times("/small.bin", Fault::Status(500), 1);
    assert_eq!(fetcher(short()).get(&s.url("small.bin"), 1024).await.unwrap(), SMALL);
    assert_eq!(s.server.faults().hits("/small.bin"), 2);
}

#[tokio::test]
async fn a_lasting_503_fails_with_its_code_after_the_retries() {
    let s = Served::new().await;
    s.server.faults().set("/small.bin", Fault::Status(503));
    let e = fetcher(short()).get(&s.url("small.bin"), 1024).await.unwrap_err();
    assert!(matches!(e, FetchError::Status { status: 503, .. }), "{e}");
    assert_eq!(e.hresult(), HResult::WU_E_PT_HTTP_STATUS_SERVICE_UNAVAIL);
    assert_eq!(s.server.faults().hits("/small.bin"), 3, "one try and two retries");
}

#[tokio::test]
async fn a_403_is_not_retried() {
    let s = Served::new().await;
    s.server.faults().set("/small.bin", Fault::Status(403));
    let e = fetcher(short()).get(&s.url("small.bin"), 1024).await.unwrap_err();
    assert_eq!(e.hresult(), HResult::WU_E_PT_HTTP_STATUS_FORBIDDEN);
    assert_eq!(s.server.faults().hits("/small.bin"), 1);
}

#[tokio::test]
async fn a_404_is_not_retried_and_is_file_not_found_through_the_transport() {
    let s = Served::new().await;
    let f = fetcher(short());
    let e = f.get(&s.url("missing.json"), 1024).await.unwrap_err();
    assert!(matches!(e, FetchError::NotFound { .. }), "{e}");
    assert_eq!(e.hresult(), HResult::WU_E_PT_HTTP_STATUS_NOT_FOUND);
    assert_eq!(s.server.faults().hits("/missing.json"), 1);

    let transport = FetchTransport::new(f);
    let e = transport.fetch(s.url("2.root.json")).await.err().expect("a 404");
    assert_eq!(e.kind(), TransportErrorKind::FileNotFound);
    let source = std::error::Error::source(&e).and_then(|c| c.downcast_ref::<FetchError>());
    assert!(matches!(source, Some(FetchError::NotFound { .. })), "the FetchError is the cause");
    assert!(matches!(transport.last_error(), Some(FetchError::NotFound { .. })));
    assert_eq!(s.server.faults().hits("/2.root.json"), 1);
}

#[tokio::test]
async fn the_transport_streams_and_keeps_the_last_error() {
    let s = Served::new().await;
    let transport = FetchTransport::new(fetcher(short()));
    let bytes = transport.fetch(s.url("small.bin")).await.unwrap().into_vec().await.unwrap();
    assert_eq!(bytes, SMALL);
    assert!(transport.last_error().is_none());

    s.server.faults().set("/small.bin", Fault::Drip { bytes_per_sec: 1 });
    let e = transport.fetch(s.url("small.bin")).await.unwrap().into_vec().await.unwrap_err();
    assert_eq!(e.kind(), TransportErrorKind::Other);
    let last = transport.last_error().expect("kept");
    assert_eq!(last.hresult(), HResult::WININET_E_TIMEOUT, "{last}");
}

#[tokio::test]
async fn a_refused_connection_is_no_connection() {
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let url = Url::parse(&format!("http://127.0.0.1:{port}/x")).unwrap();
    let e = fetcher(short()).get(&url, 1024).await.unwrap_err();
    assert!(matches!(e, FetchError::Connect { .. }), "{e}");
    assert_eq!(e.hresult(), HResult::WU_E_NO_CONNECTION);
}

#[tokio::test]
async fn file_urls_are_read_from_disk() {
    let s = Served::new().await;
    let f = fetcher(FetchLimits::default());
    let small = Url::from_file_path(s.dir.join("small.bin")).unwrap();
    assert_eq!(f.get(&small, 1024).await.unwrap(), SMALL);
    let missing = Url::from_file_path(s.dir.join("missing.json")).unwrap();
    assert!(matches!(f.get(&missing, 1024).await.unwrap_err(), FetchError::NotFound { .. }));
    let big = Url::from_file_path(s.dir.join("big.bin")).unwrap();
    assert!(matches!(f.get(&big, 1024).await.unwrap_err(), FetchError::TooLarge { read: 0, .. }));
    let transport = FetchTransport::new(f);
    let e = transport.fetch(missing).await.err().expect("missing");
    assert_eq!(e.kind(), TransportErrorKind::FileNotFound);
    let bytes = transport.fetch(small).await.unwrap().into_vec().await.unwrap();
    assert_eq!(bytes, SMALL);
}

#[tokio::test]
async fn an_unreadable_root_certificate_is_named() {
    let dir = tempfile::tempdir().unwrap();
    let bad = dir.path().join("ca.pem");
    std::fs::write(&bad, b"not a certificate").unwrap();
    for path in [bad.clone(), dir.path().join("missing.pem")] {
        match Fetcher::new(FetchLimits::default(), std::slice::from_ref(&path)) {
            Err(FetchError::Setup { path: named, .. }) => assert_eq!(named, path),
            other => panic!("expected a setup error, got {other:?}"),
        }
    }
}
