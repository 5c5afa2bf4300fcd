//! Endless-data attack: a pack longer than its signed length is refused (the verifier stops
//! reading at the listed length).

use wua_trust::Refusal;
use wua_trust::repo::InitOptions;

use crate::attack_arbitrary_content::served_pack;
use crate::support::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pack_longer_than_listed_is_refused() {
    let (f, source) = trusted(InitOptions::default()).await;
    f.publish(2, 1, "two").await;
    let pack = served_pack(&f);
    let mut bytes = std::fs::read(&pack).unwrap();
    bytes.extend(std::iter::repeat_n(b'x', 4 << 20));
    std::fs::write(&pack, bytes).unwrap();
    assert_refused(&f, &source, Refusal::TooLarge).await;
}
