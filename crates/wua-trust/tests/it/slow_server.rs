//! A slow server: a stalled or dripping repository fails the refresh with the fetch time-out
//! code under a short configured deadline and minimum rate, and changes nothing locally.
//! Asserted by the code, never by the time it took.

use std::time::Duration;

use wua_fetch::FetchLimits;
use wua_test_support::fault::{Fault, FaultServer};
use wua_trust::repo::InitOptions;
use wua_trust::verify::{self, Source};
use wua_types::HResult;

use crate::support::*;

fn short() -> FetchLimits {
    FetchLimits {
        total_deadline: Duration::from_secs(5),
        min_rate_bytes_per_sec: 1024,
        min_rate_window: Duration::from_millis(300),
        connect_timeout: Duration::from_secs(2),
        retries: 1,
        first_backoff: Duration::from_millis(10),
    }
}

async fn refused_with(fault: Fault) {
    let f = Fixture::new(InitOptions::default()).await;
    f.publish(1, 1, "one").await;
    let server = FaultServer::start(wua_trust::static_repo::router(f.repo.join("repository"))).await.unwrap();
    let source = Source::parse(&server.url).unwrap();
    verify::refresh_with(
        &f.trusted_root(),
        &f.state,
        &source,
        &verify::RefreshOptions { limits: short(), ..Default::default() },
    )
    .await
    .unwrap();
    let before = state_of(&f);
    server.faults().set("/metadata/timestamp.json", fault);
    let e = verify::refresh_with(
        &f.trusted_root(),
        &f.state,
        &source,
        &verify::RefreshOptions { limits: short(), ..Default::default() },
    )
    .await
    .unwrap_err();
    assert!(matches!(e, wua_trust::TrustError::Fetch(_)), "{e}");
    assert_eq!(e.hresult(), HResult::WININET_E_TIMEOUT, "{e}");
    assert_eq!(state_of(&f), before, "the trusted state and local files are unchanged");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stalled_timestamp_fails_with_the_timeout_code() {
    refused_with(Fault::Stall).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_byte_per_second_timestamp_fails_with_the_timeout_code() {
    refused_with(Fault::Drip { bytes_per_sec: 1 }).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unavailable_timestamp_is_named_by_its_http_code() {
    let f = Fixture::new(InitOptions::default()).await;
    let server = FaultServer::start(wua_trust::static_repo::router(f.repo.join("repository"))).await.unwrap();
    server.faults().set("/metadata/timestamp.json", Fault::Status(503));
    let source = Source::parse(&server.url).unwrap();
    let e = verify::refresh_with(
        &f.trusted_root(),
        &f.state,
        &source,
        &verify::RefreshOptions { limits: short(), ..Default::default() },
    )
    .await
    .unwrap_err();
    assert_eq!(e.hresult(), HResult::WU_E_PT_HTTP_STATUS_SERVICE_UNAVAIL, "{e}");
}
