//! Exports (both kinds), verified with no network; packs sealed at the configured size.

use wua_trust::export::{self, ExportKind};
use wua_trust::repo::InitOptions;
use wua_trust::verify;

use crate::support::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn exports_verify_offline() {
    let f = Fixture::new(InitOptions { seal_entries: 2, ..InitOptions::default() }).await;
    for n in 1..=5 {
        f.publish(n, 1, &format!("update {n}")).await;
    }
    let packs = std::fs::read_dir(f.repo.join("catalog"))
        .unwrap()
        .filter_map(|e| e.ok())
        .filter(|e| e.file_name().to_string_lossy().starts_with("pack-"))
        .count();
    assert_eq!(packs, 3, "five entries in packs of two");

    let scan = f.work.join("scan.tar");
    let with = f.work.join("full.tar");
    export::export(&f.repo, &scan, ExportKind::ScanPackage).unwrap();
    export::export(&f.repo, &with, ExportKind::WithContent).unwrap();

    // The offline scan package: metadata and packs, no blobs.
    let r = verify::refresh_offline(&f.trusted_root(), &f.state, &scan).await.unwrap();
    assert_eq!(r.catalog().documents.len(), 5);
    // The complete one: every blob is there and checks against its document.
    let other_state = f.work.join("state2");
    let tree = f.work.join("tree");
    export::unpack(&with, &tree).unwrap();
    let r = verify::refresh(&f.trusted_root(), &other_state, &verify::Source::parse(tree.to_str().unwrap()).unwrap())
        .await
        .unwrap();
    for doc in &r.catalog().documents {
        for e in &doc.content {
            verify::check_blob(&std::fs::read(tree.join("blobs/sha256").join(&e.sha256)).unwrap(), e).unwrap();
        }
    }
    assert!(std::fs::read_dir(f.work.join("tree/blobs/sha256")).unwrap().next().is_some());
    // A hostile archive (an entry outside the tree) is refused.
    let hostile = f.work.join("hostile.tar");
    {
        let mut b = tar::Builder::new(std::fs::File::create(&hostile).unwrap());
        let mut h = tar::Header::new_old();
        let name = b"metadata/../../escape";
        h.as_old_mut().name[..name.len()].copy_from_slice(name);
        h.set_size(1);
        h.set_mode(0o644);
        h.set_entry_type(tar::EntryType::Regular);
        h.set_cksum();
        b.append(&h, &b"x"[..]).unwrap();
        b.finish().unwrap();
    }
    let e = verify::refresh_offline(&f.trusted_root(), &f.work.join("state3"), &hostile).await.unwrap_err();
    assert_eq!(e.hresult(), wua_types::HResult::WUA_E_TRUST_METADATA, "{e}");
    assert!(!f.work.join("escape").exists());
}
