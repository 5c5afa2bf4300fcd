//! Exports are checked before anything is unpacked into the state directory, and what a crash
//! mid-unpack left there is removed by a later refresh.

use wua_trust::export::{self, ExportKind};
use wua_trust::repo::InitOptions;
use wua_trust::verify;

use crate::support::*;

/// `export` with the bytes of its first target replaced.
fn swap_a_target(export: &std::path::Path, out: &std::path::Path) {
    let mut archive = tar::Archive::new(std::fs::File::open(export).unwrap());
    let mut b = tar::Builder::new(std::fs::File::create(out).unwrap());
    let mut swapped = false;
    for entry in archive.entries().unwrap() {
        let mut entry = entry.unwrap();
        let path = entry.path().unwrap().to_string_lossy().into_owned();
        let mut bytes = Vec::new();
        std::io::Read::read_to_end(&mut entry, &mut bytes).unwrap();
        if path.starts_with("targets/") && !swapped {
            bytes = b"{\"swapped\":true}\n".to_vec();
            swapped = true;
        }
        let mut h = entry.header().clone();
        h.set_size(bytes.len() as u64);
        h.set_cksum();
        b.append(&h, &bytes[..]).unwrap();
    }
    b.finish().unwrap();
    assert!(swapped);
}

fn leftovers(state: &std::path::Path) -> Vec<String> {
    std::fs::read_dir(state)
        .unwrap()
        .filter_map(|e| e.ok()?.file_name().into_string().ok())
        .filter(|n| n.starts_with(".export"))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_export_with_swapped_targets_is_refused_with_nothing_unpacked() {
    let f = Fixture::new(InitOptions::default()).await;
    f.publish(1, 1, "one").await;
    let scan = f.work.join("scan.tar");
    export::export(&f.repo, &scan, ExportKind::WithContent).unwrap();
    let swapped = f.work.join("swapped.tar");
    swap_a_target(&scan, &swapped);
    verify::refresh_offline(&f.trusted_root(), &f.state, &scan).await.unwrap();
    let before = state_of(&f);
    let e = verify::refresh_offline(&f.trusted_root(), &f.state, &swapped).await.unwrap_err();
    assert_eq!(e.hresult(), wua_types::HResult::WUA_E_TRUST_HASH_MISMATCH, "{e}");
    assert_eq!(state_of(&f), before);
    assert!(leftovers(&f.state).is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn what_a_crash_mid_unpack_left_is_removed_by_a_later_refresh() {
    let f = Fixture::new(InitOptions::default()).await;
    f.publish(1, 1, "one").await;
    let scan = f.work.join("scan.tar");
    export::export(&f.repo, &scan, ExportKind::ScanPackage).unwrap();
    // A refresh killed mid-unpack: its temporary directory, half written.
    let left = f.state.join(".export-crashed");
    std::fs::create_dir_all(left.join("metadata")).unwrap();
    std::fs::write(left.join("metadata/1.root.json"), b"{\"sig").unwrap();
    verify::refresh_offline(&f.trusted_root(), &f.state, &scan).await.unwrap();
    assert!(leftovers(&f.state).is_empty(), "{:?}", leftovers(&f.state));
    // An online refresh removes one too.
    std::fs::create_dir_all(left.join("targets")).unwrap();
    let source = serve(&f.repo.join("repository")).await;
    f.refresh(&source).await.unwrap();
    assert!(leftovers(&f.state).is_empty(), "{:?}", leftovers(&f.state));
}
