//! Freeze attack: metadata served after its expiry (here the timestamp) is refused. The agent
//! starts from its install-time root and has followed a rotation of the timestamp key first.

use wua_trust::Refusal;
use wua_trust::repo::{self, Lifetimes};

use crate::support::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn expired_timestamp_is_refused() {
    let (f, source, py) = installed_then_rotated("timestamp").await;
    let expired = Lifetimes { timestamp: jiff::SignedDuration::from_secs(-3600), ..Lifetimes::default() };
    repo::resign(&f.repo, &expired).await.unwrap();
    assert_refused_installed(&f, &source, Refusal::Expired).await;
    if let Some(py) = &py {
        py.refuses(&source, &[], "ExpiredMetadataError").await;
    }
}
