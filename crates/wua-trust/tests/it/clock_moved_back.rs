//! A clock corrected backwards after a refresh is refused by name (`WUA_E_TRUST_CLOCK`), never
//! as malformed metadata, and the trusted state is left as it was.

use wua_trust::repo::InitOptions;
use wua_types::HResult;

use crate::support::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_clock_moved_back_is_named() {
    let (f, source) = trusted(InitOptions::default()).await;
    // The last refresh happened "later" than now: the clock has since been moved back.
    std::fs::write(f.state.join("tuf/latest_known_time.json"), "\"2099-01-01T00:00:00Z\"").unwrap();
    let before = state_of(&f);
    let e = f.refresh_installed(&source).await.unwrap_err();
    assert_eq!(e.hresult(), HResult::WUA_E_TRUST_CLOCK, "{e}");
    assert_eq!(state_of(&f), before);
}
