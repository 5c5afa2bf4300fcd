//! Endless-data attack: a pack longer than its signed length is refused (the verifier stops
//! reading at the listed length). The agent starts from its install-time root and has followed
//! a rotation of the snapshot key first.

use wua_trust::Refusal;
use wua_trust::repo::InitOptions;

use crate::support::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pack_longer_than_listed_is_refused() {
    let (f, source) = installed(InitOptions::default()).await;
    let py = PyTuf::installed(&f);
    if let Some(py) = &py {
        py.accepts(&source, &["pack-000001.jsonl"]).await;
    }
    rotate_online(&f, &source, "snapshot").await;
    if let Some(py) = &py {
        py.accepts(&source, &["pack-000001.jsonl"]).await;
    }
    f.publish(2, 1, "two").await;
    let (pack, name) = (served_pack(&f), pack_target(&f));
    let mut bytes = std::fs::read(&pack).unwrap();
    bytes.extend(std::iter::repeat_n(b'x', 4 << 20));
    std::fs::write(&pack, bytes).unwrap();
    assert_refused_installed(&f, &source, Refusal::TooLarge).await;
    if let Some(py) = &py {
        py.refuses(&source, &[&name], "DownloadLengthMismatchError").await;
    }
}
