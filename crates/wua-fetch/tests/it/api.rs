//! `Fetcher::send`: API requests answered with their status and body; "later" statuses retried,
//! the last such answer returned for the caller to read; other statuses returned at once.

use wua_fetch::{ApiMethod, ApiRequest, FetchLimits};
use wua_test_support::fault::Fault;

use crate::{SMALL, Served, fetcher, short};

fn get(url: &url::Url) -> ApiRequest<'_> {
    ApiRequest { method: ApiMethod::Get, url, bearer: Some("wua_c_secret"), json: None }
}

#[tokio::test]
async fn a_later_status_is_retried_then_the_answer_comes() {
    let s = Served::new().await;
    s.server.faults().set_times("/small.bin", Fault::Status(500), 2);
    let url = s.url("small.bin");
    let answer = fetcher(short()).send(&get(&url), 1024).await.unwrap();
    assert_eq!((answer.status, answer.body.as_slice()), (200, SMALL));
    assert!(answer.is_success());
    assert_eq!(s.server.faults().hits("/small.bin"), 3);
}

#[tokio::test]
async fn retries_run_out_on_the_last_answer() {
    let s = Served::new().await;
    s.server.faults().set("/small.bin", Fault::Status(503));
    let url = s.url("small.bin");
    let answer = fetcher(short()).send(&get(&url), 1024).await.unwrap();
    assert_eq!(answer.status, 503);
    assert!(!answer.is_success());
    assert_eq!(s.server.faults().hits("/small.bin"), 3, "two retries, then the answer");
}

#[tokio::test]
async fn a_client_error_is_answered_at_once() {
    let s = Served::new().await;
    let url = s.url("missing.bin");
    let answer = fetcher(short()).send(&get(&url), 1024).await.unwrap();
    assert_eq!(answer.status, 404);
    assert_eq!(s.server.faults().hits("/missing.bin"), 1, "a 404 is not retried");
    s.server.faults().set("/small.bin", Fault::Status(401));
    let url = s.url("small.bin");
    let answer = fetcher(short()).send(&get(&url), 1024).await.unwrap();
    assert_eq!(answer.status, 401);
    assert_eq!(s.server.faults().hits("/small.bin"), 1);
}

#[tokio::test]
async fn no_server_is_a_connection_error_after_the_retries() {
    // A port nothing listens on: bind one, note it, close it.
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let url = url::Url::parse(&format!("http://127.0.0.1:{port}/api")).unwrap();
    let request = ApiRequest { method: ApiMethod::Post, url: &url, bearer: None, json: Some(b"{}") };
    let e = fetcher(short()).send(&request, 1024).await.unwrap_err();
    assert_eq!(e.hresult(), wua_types::HResult::WU_E_NO_CONNECTION, "{e}");
    let debug = format!("{:?}", get(&url));
    assert!(!debug.contains("secret") && debug.contains("redacted"), "{debug}");
}

#[tokio::test]
async fn a_body_over_the_limit_is_refused() {
    let s = Served::new().await;
    let url = s.url("big.bin");
    let e = fetcher(FetchLimits::default()).send(&get(&url), 1024).await.unwrap_err();
    assert_eq!(e.hresult(), wua_types::HResult::WUA_E_TRUST_TOO_LARGE, "{e}");
}
