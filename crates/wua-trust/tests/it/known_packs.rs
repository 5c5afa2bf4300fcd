//! A refresh given the packs its caller already has (by name and SHA-256) reads only those
//! whose hash changed, and still lists every pack the verified metadata names.

use std::collections::BTreeMap;

use wua_trust::repo::InitOptions;
use wua_trust::verify::{self, RefreshOptions, Refreshed};

use crate::support::*;

fn known(r: &Refreshed) -> BTreeMap<String, String> {
    r.packs.iter().map(|p| (p.name.clone(), p.sha256.clone())).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn only_packs_whose_hash_changed_are_read() {
    let f = Fixture::new(InitOptions::default()).await;
    f.publish(1, 1, "one").await;
    let source = serve(&f.repo.join("repository")).await;
    let first = f.refresh(&source).await.unwrap();
    assert_eq!(first.packs.len(), 1);
    assert_eq!(first.catalog().documents.len(), 1);

    let options = RefreshOptions { known_packs: known(&first), ..Default::default() };
    let again = verify::refresh_with(&f.trusted_root(), &f.state, &source, &options).await.unwrap();
    assert_eq!(known(&again), known(&first));
    assert!(again.packs.iter().all(|p| p.entries.is_none()), "a known pack was read again");
    assert!(again.catalog().documents.is_empty());

    // The newest pack is appended to: same name, new hash, read again (from the source or the
    // cache); the caller replaces what it had of it.
    f.publish(2, 1, "two").await;
    let changed = verify::refresh_with(&f.trusted_root(), &f.state, &source, &options).await.unwrap();
    assert_eq!(changed.packs.len(), 1);
    assert_ne!(changed.packs[0].sha256, first.packs[0].sha256);
    let entries = changed.packs[0].entries.as_ref().expect("the changed pack is read");
    assert_eq!(entries.documents.len(), 2);
}

/// A pack seals when the next entry would take it past 4 MiB (`SEAL_BYTES`): entries of about
/// 600 KB share one pack up to six of them; the seventh starts the second.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_pack_seals_at_its_byte_bound() {
    let f = Fixture::new(InitOptions::default()).await;
    let description = "d".repeat(600_000);
    for n in 1..=7 {
        let base = f.work.join(format!("big{n}"));
        let payload = base.join("payload");
        write_payload(&payload, &[(&format!("opt/big{n}/file"), 0o644, b"x")]).unwrap();
        let manifest = base.join("manifest.toml");
        let extra = format!("description = \"{description}\"");
        std::fs::write(&manifest, files_manifest(&test_id(n), 1, "big", &extra, "")).unwrap();
        wua_trust::repo::publish(&f.repo, &manifest, &payload).await.unwrap();
    }
    let source = serve(&f.repo.join("repository")).await;
    let refreshed = f.refresh(&source).await.unwrap();
    let counts: Vec<usize> =
        refreshed.packs.iter().map(|p| p.entries.as_ref().map_or(0, |c| c.documents.len())).collect();
    assert_eq!(counts, [6, 1]);
}

/// A refresh caches metadata as `N.role.json.<sha256>` and targets under their consistent
/// name `<sha256>.<name>` (a group's approvals too, though their name ends in `.json`), so the
/// next refresh finds each by what it asks for.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_cache_names_each_file_as_it_is_asked_for() {
    let (f, source) = trusted(InitOptions::default()).await;
    let action = wua_trust::approvals::ApprovalAction::Install;
    wua_trust::repo::approve(&f.repo, &test_id(1), "web", action, None).await.unwrap();
    f.refresh(&source).await.unwrap();
    let mut names: Vec<String> = std::fs::read_dir(f.state.join("tuf-cache"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    let approvals: Vec<&String> = names.iter().filter(|n| n.contains("approvals-web")).collect();
    assert_eq!(approvals.len(), 1, "{names:?}");
    let (sha, rest) = approvals[0].split_once('.').unwrap();
    assert!(wua_types::is_sha256_hex(sha) && rest == "approvals-web.json", "{names:?}");
    let snapshot = names.iter().find_map(|n| n.split_once(".snapshot.json.")).expect("the snapshot is cached");
    assert!(snapshot.0.parse::<u64>().is_ok() && wua_types::is_sha256_hex(snapshot.1), "{names:?}");
}
