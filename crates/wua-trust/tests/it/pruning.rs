//! Old versions do not accumulate: after refreshes that verified, the trusted state keeps one
//! directory (the current one) and the cache keeps only what the last refresh used, however
//! many versions the repository went through.

use wua_trust::repo::InitOptions;

use crate::support::*;

/// Names under `dir` (not recursive), sorted.
fn names(dir: &std::path::Path) -> Vec<String> {
    let mut out: Vec<String> = match std::fs::read_dir(dir) {
        Ok(entries) => entries.map(|e| e.unwrap().file_name().to_string_lossy().into_owned()).collect(),
        Err(_) => vec![],
    };
    out.sort();
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn twenty_refreshes_leave_one_state_and_a_cache_of_the_current_versions() {
    let (f, source) = installed(InitOptions::default()).await;
    for n in 2..=21 {
        f.publish(n, 1, "x").await;
        f.refresh_installed(&source).await.unwrap();
    }
    let states: Vec<String> = names(&f.state).into_iter().filter(|n| n.starts_with("tuf-")).collect();
    // `tuf-<n>` directories other than the current one are removed after each swap; the
    // cache and the identity record are files or directories of their own.
    let dirs: Vec<&String> = states.iter().filter(|n| n[4..].chars().all(|c| c.is_ascii_digit())).collect();
    assert_eq!(dirs.len(), 1, "one trusted state directory, got {states:?}");
    let cache = names(&f.state.join("tuf-cache"));
    for role in ["snapshot", "targets"] {
        let versions = cache.iter().filter(|n| n.contains(&format!(".{role}.json"))).count();
        assert_eq!(versions, 1, "the cache keeps the current version of {role}, and only it: {cache:?}");
    }
    // Twenty publishes made twenty pack versions at most; the cache holds only the packs the
    // current targets lists (one working pack here).
    let packs = cache.iter().filter(|n| n.len() > 64 && n.as_bytes()[64] == b'.').count();
    assert!((1..=2).contains(&packs), "old pack versions are pruned: {cache:?}");
}
