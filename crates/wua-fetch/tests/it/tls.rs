//! HTTPS with a certificate authority made at test time: refused without its PEM among the
//! extra roots, accepted with it.

use url::Url;
use wua_fetch::{FetchError, Fetcher};
use wua_test_support::fault::{Fault, FaultServer};
use wua_test_support::sha256_hex;
use wua_test_support::tls::TestCa;
use wua_types::HResult;

use super::{BLOB_LEN, SMALL, Served, blob, short};

struct Https {
    _tree: tempfile::TempDir,
    server: FaultServer,
    ca_pem: std::path::PathBuf,
}

impl Https {
    async fn new() -> Https {
        let (tree, root) = Served::tree();
        let ca = TestCa::new().unwrap();
        let ca_pem = tree.path().join("ca.pem");
        ca.write_ca_pem(&ca_pem).unwrap();
        let server = FaultServer::start_tls(wua_trust::static_repo::router(&root), &ca).await.unwrap();
        Https { _tree: tree, server, ca_pem }
    }

    fn url(&self, path: &str) -> Url {
        Url::parse(&self.server.url).unwrap().join(path).unwrap()
    }
}

#[tokio::test]
async fn https_without_the_ca_is_refused_as_a_tls_failure() {
    let h = Https::new().await;
    assert!(h.server.url.starts_with("https://127.0.0.1:"));
    let f = Fetcher::new(short(), &[]).unwrap();
    let e = f.get(&h.url("small.bin"), 1024).await.unwrap_err();
    assert!(matches!(e, FetchError::Tls { .. }), "{e}");
    let message = e.to_string();
    assert!(message.contains("TLS") && message.contains("certificate"), "{message}");
    assert_eq!(e.hresult(), HResult::WU_E_NO_CONNECTION);
    assert!(!e.is_transient(), "another try meets the same certificate");
    assert_eq!(h.server.faults().hits("/small.bin"), 0, "no request got through");
}

#[tokio::test]
async fn https_with_the_ca_pem_among_the_extra_roots_is_accepted() {
    let h = Https::new().await;
    let f = Fetcher::new(short(), std::slice::from_ref(&h.ca_pem)).unwrap();
    assert_eq!(f.get(&h.url("small.bin"), 1024).await.unwrap(), SMALL);
    // A download over HTTPS resumes after a cut, too.
    h.server.faults().set_times("/blob.bin", Fault::CutAfter(200_000), 1);
    let dir = tempfile::tempdir().unwrap();
    let partial = dir.path().join("blob.partial");
    let blob = blob();
    let done = f.download_to(&h.url("blob.bin"), &partial, BLOB_LEN as u64, &sha256_hex(&blob)).await.unwrap();
    assert_eq!(done.retries, 1);
    assert_eq!(h.server.faults().ranges("/blob.bin").len(), 2);
    assert!(std::fs::read(&partial).unwrap() == blob);
}
