//! Mix-and-match attack: metadata from one snapshot served under another's name is refused.
//! The agent starts from its install-time root and has followed a rotation of the targets key
//! first (so both targets versions are signed by the current key).

use wua_trust::Refusal;

use crate::support::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn targets_of_another_snapshot_are_refused() {
    let (f, source, py) = installed_then_rotated("targets").await;
    let metadata = f.repo.join("repository/metadata");
    let (n, older) = newest(&metadata, "targets");
    f.publish(2, 1, "two").await;
    let (m, newer) = newest(&metadata, "targets");
    assert_eq!(m, n + 1);
    // The newest snapshot lists targets version m; serve version n's content under that name.
    std::fs::copy(older, newer).unwrap();
    assert_refused_installed(&f, &source, Refusal::MixAndMatch).await;
    if let Some(py) = &py {
        py.refuses(&source, &[], "LengthOrHashMismatchError").await;
    }
}
