//! A power loss that empties the agent's trusted files (a file system that lost what was not
//! synced) is an error that names the file, never "no previous version": a replayed older
//! timestamp is still refused, and so is the genuine one until the state is reset.

use wua_trust::repo::InitOptions;
use wua_trust::{TrustError, verify};
use wua_types::HResult;

use crate::support::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn emptied_trusted_files_are_named_and_nothing_is_accepted() {
    let f = Fixture::new(InitOptions::default()).await;
    f.publish(1, 1, "one").await;
    let ts = f.repo.join("repository/metadata/timestamp.json");
    let old = std::fs::read(&ts).unwrap();
    f.publish(2, 1, "two").await;
    let source = serve(&f.repo.join("repository")).await;
    f.refresh_installed(&source).await.unwrap();
    let genuine = std::fs::read(&ts).unwrap();

    for name in ["timestamp.json", "snapshot.json"] {
        std::fs::File::create(f.state.join("tuf").join(name)).unwrap();
    }
    for (served, what) in [(&old, "a replayed older timestamp"), (&genuine, "the genuine timestamp")] {
        std::fs::write(&ts, served).unwrap();
        let before = state_of(&f);
        let e = verify::refresh(&f.installed_root(), &f.state, &source).await.expect_err(what);
        assert!(matches!(e, TrustError::StateCorrupt { .. }), "{what}: {e}");
        assert_eq!(e.hresult(), HResult::WUA_E_TRUST_STATE_CORRUPT, "{what}: {e}");
        assert!(e.to_string().contains("snapshot.json") || e.to_string().contains("timestamp.json"), "{e}");
        assert_eq!(state_of(&f), before, "{what}: the state is left as it was");
    }
}

/// A torn file (a prefix of the JSON) is named as well.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_torn_trusted_file_is_named() {
    let (f, source) = trusted(InitOptions::default()).await;
    let file = f.state.join("tuf/timestamp.json");
    let bytes = std::fs::read(&file).unwrap();
    std::fs::write(&file, &bytes[..bytes.len() / 2]).unwrap();
    let e = f.refresh_installed(&source).await.unwrap_err();
    assert_eq!(e.hresult(), HResult::WUA_E_TRUST_STATE_CORRUPT, "{e}");
    assert!(e.to_string().contains("timestamp.json"), "{e}");
}
