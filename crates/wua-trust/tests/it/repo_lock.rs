//! The writers' lock waits a bounded time: a writer that arrives while another works waits for
//! it instead of failing, and one that waits too long is refused with `WUA_E_REPO_LOCKED`,
//! naming the holder's pid.

use std::time::{Duration, Instant};

use wua_trust::TrustError;
use wua_trust::repo::{InitOptions, RepoLock};
use wua_types::HResult;

use crate::support::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_writer_waits_for_the_lock_then_is_refused() {
    let f = Fixture::new(InitOptions::default()).await;
    let held = RepoLock::acquire(&f.repo, Duration::ZERO).await.unwrap();
    let start = Instant::now();
    let e = RepoLock::acquire(&f.repo, Duration::from_millis(200)).await.unwrap_err();
    assert!(start.elapsed() >= Duration::from_millis(200), "it waited");
    assert_eq!(e.hresult(), HResult::WUA_E_REPO_LOCKED);
    assert!(matches!(e, TrustError::Locked { holder: Some(pid), .. } if pid == std::process::id()), "{e:?}");
    assert!(e.to_string().contains(&format!("pid {}", std::process::id())), "{e}");

    // A publish that starts while the lock is held finishes once it is released.
    let release = tokio::spawn(async move {
        tokio::task::spawn_blocking(|| std::thread::sleep(Duration::from_millis(300))).await.unwrap();
        drop(held);
    });
    f.publish(1, 1, "one").await;
    release.await.unwrap();
    let source = wua_trust::verify::Source::parse(f.repo.to_str().unwrap()).unwrap();
    assert_eq!(f.refresh(&source).await.unwrap().catalog().documents.len(), 1);
}
