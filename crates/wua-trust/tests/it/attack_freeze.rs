//! Freeze attack: metadata served after its expiry (here the timestamp) is refused.

use wua_trust::Refusal;
use wua_trust::repo::{self, InitOptions, Lifetimes};

use crate::support::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn expired_timestamp_is_refused() {
    let (f, source) = trusted(InitOptions::default()).await;
    let expired = Lifetimes { timestamp: jiff::SignedDuration::from_secs(-3600), ..Lifetimes::default() };
    repo::resign(&f.repo, &expired).await.unwrap();
    assert_refused(&f, &source, Refusal::Expired).await;
}
