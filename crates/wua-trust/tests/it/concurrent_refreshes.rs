//! Refreshes of one state directory run one at a time (its refresh lock): of concurrent
//! refreshes each succeeds after waiting, or is told another refresh is running
//! (`WUA_E_TRUST_BUSY`); none reports malformed metadata or damages the state.

use wua_trust::repo::InitOptions;
use wua_types::HResult;

use crate::support::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_refreshes_of_one_state() {
    let f = Fixture::new(InitOptions::default()).await;
    f.publish(1, 1, "one").await;
    let source = serve(&f.repo.join("repository")).await;
    let root = f.installed_root();
    for round in 0..4 {
        f.publish(round + 2, 1, "more").await;
        let runs = (0..3).map(|_| verify_task(root.clone(), f.state.clone(), source.clone()));
        let results = futures::future::join_all(runs).await;
        let mut succeeded = 0;
        for r in results {
            match r.unwrap() {
                Ok(r) => {
                    assert_eq!(r.catalog().documents.len(), round as usize + 2);
                    succeeded += 1;
                }
                Err(e) => assert_eq!(e.hresult(), HResult::WUA_E_TRUST_BUSY, "round {round}: {e}"),
            }
        }
        assert!(succeeded >= 1, "round {round}: one refresh succeeds");
    }
    f.refresh_installed(&source).await.unwrap();
}

fn verify_task(
    root: Vec<u8>,
    state: std::path::PathBuf,
    source: wua_trust::verify::Source,
) -> tokio::task::JoinHandle<Result<wua_trust::verify::Refreshed, wua_trust::TrustError>> {
    tokio::spawn(async move { wua_trust::verify::refresh(&root, &state, &source).await })
}
