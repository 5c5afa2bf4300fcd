//! The sync scenario (fourth issue): a cold sync through the agent, index included, then the
//! refresh after a share of the updates got a new revision, then an online search with nothing
//! changed.
//!
//! The synthetic catalog ([`crate::synthetic`]) is published in one signed change and served on
//! loopback. A fresh state directory gets the repository as its service; one online `search`
//! with the default criteria is timed (refresh: verify the metadata, fetch and verify every
//! pack, write the index in one transaction; then the search over it). Then `change_percent`
//! of the updates get revision 2 and an online search is timed again; then one more with
//! nothing changed (its timestamp is the same: it must read no pack). An offline search right
//! after each online one shows how much of it is the search itself (the agent does not time
//! its refresh apart, so the refresh's share is the difference).
//!
//! Bytes fetched are counted on the server side (the agent does not report them): the sizes of
//! the files the server was asked for, which for whole-file requests are the body bytes sent.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use anyhow::{Result, ensure};
use wua_agent::{SessionOptions, UpdateSearcher, UpdateSession};

use crate::synthetic::{self, Fetched, Server, mb};

/// The scenario's knobs.
pub(crate) struct Options {
    pub(crate) updates: usize,
    pub(crate) change_percent: f64,
    pub(crate) applicable_percent: u32,
    pub(crate) dpkg_packages: usize,
    pub(crate) workdir: Option<PathBuf>,
}

pub(crate) fn run(o: Options) -> Result<()> {
    let (work, _tmp) = synthetic::work_dir(o.workdir, "wua-bench-sync-")?;
    let rt = tokio::runtime::Runtime::new()?;
    let dir = work.join("repo");
    let start = Instant::now();
    let blob = rt.block_on(synthetic::make_repository(&dir, o.updates, o.applicable_percent))?;
    let publish = start.elapsed();
    let root = work.join("root");
    synthetic::make_root(&root, o.dpkg_packages)?;
    let server = Server::start(&dir.join("repository"))?;
    let state = work.join("state");

    let session = UpdateSession::open(SessionOptions::new(&state, &root))?;
    synthetic::add_service(&session, server.url(), &dir.join("root.json"))?;
    let searcher = session.create_update_searcher();
    let expected = synthetic::applicable_count(o.updates, o.applicable_percent);

    let offline = session.create_update_searcher();
    offline.set_online(false);

    let (cold_time, cold) = timed_search(&server, &searcher, expected)?;
    let (db, wal) = (synthetic::disk_size(&state.join("wua.db")), synthetic::disk_size(&state.join("wua.db-wal")));
    let cold_search = offline_search(&server, &offline, expected)?;

    let changed = ((o.updates as f64) * o.change_percent / 100.0).round() as usize;
    let revised: Vec<_> = (0..changed).map(|i| synthetic::document(i, 2, &blob, o.applicable_percent)).collect();
    rt.block_on(wua_trust::repo::publish_documents(&dir, revised))?;
    let (warm_time, warm) = timed_search(&server, &searcher, expected)?;
    let warm_search = offline_search(&server, &offline, expected)?;

    let (same_time, same) = timed_search(&server, &searcher, expected)?;
    let same_search = offline_search(&server, &offline, expected)?;
    drop(server);

    println!(
        "wua-bench sync: {} updates ({}% applicable), {}% revised ({changed}), loopback HTTP, through the agent",
        o.updates, o.applicable_percent, o.change_percent
    );
    println!("(bytes: sizes of the files the server was asked for; work dir {})", work.display());
    println!();
    println!("{:<56} {:>10} {:>11} {:>9} {:>6}", "measurement", "time", "fetched", "requests", "packs");
    let row = |what: &str, t: Duration, f: &Fetched, search: Duration| {
        println!("{:<56} {:>9.3}s {:>8.3} MB {:>9} {:>6}", what, t.as_secs_f64(), mb(f.bytes), f.requests, f.packs);
        println!("{:<56} {:>9.3}s", "  the same search offline, right after", search.as_secs_f64());
        println!("{:<56} {:>9.3}s", "  difference: the refresh's share", t.as_secs_f64() - search.as_secs_f64());
    };
    println!("{:<56} {:>9.3}s", "publish (one signed change, not part of the sync)", publish.as_secs_f64());
    row("cold sync + search (online, fresh state dir)", cold_time, &cold, cold_search);
    row("refresh after the change + search (online)", warm_time, &warm, warm_search);
    row("nothing changed + search (online)", same_time, &same, same_search);
    println!();
    println!("{:<56} {:>8.3} MB", "datastore after the cold sync: wua.db", mb(db));
    println!("{:<56} {:>8.3} MB", "datastore after the cold sync: wua.db-wal", mb(wal));
    println!(
        "{:<56} {:>9.2}%",
        "change refresh bytes / cold sync bytes (target <= 2%)",
        100.0 * warm.bytes as f64 / cold.bytes.max(1) as f64
    );
    let verdict = |ok: bool| if ok { "yes" } else { "NO" };
    println!("{:<56} {:>10}", "cold sync + search under 5 s", verdict(cold_time < Duration::from_secs(5)));
    println!(
        "{:<56} {:>10}",
        "  its refresh's share under 5 s",
        verdict(cold_time < cold_search + Duration::from_secs(5))
    );
    println!(
        "{:<56} {:>10}",
        "refresh after the change + search under 1 s",
        verdict(warm_time < Duration::from_secs(1))
    );
    println!(
        "{:<56} {:>10}",
        "  its refresh's share under 1 s",
        verdict(warm_time < warm_search + Duration::from_secs(1))
    );
    println!("{:<56} {:>10}", "unchanged online search read no pack", if same.packs == 0 { "yes" } else { "NO" });
    Ok(())
}

/// One online search with the default criteria, timed, with what the server was asked for.
fn timed_search(server: &Server, searcher: &UpdateSearcher, expected: usize) -> Result<(Duration, Fetched)> {
    crate::sync()?;
    let mark = server.mark();
    let start = Instant::now();
    let found = searcher.search("")?;
    let elapsed = start.elapsed();
    ensure!(found.updates.count() == expected, "the search found {} updates, not {expected}", found.updates.count());
    Ok((elapsed, server.since(mark)))
}

/// The same search offline, timed; the server must not be asked for anything.
fn offline_search(server: &Server, searcher: &UpdateSearcher, expected: usize) -> Result<Duration> {
    let (elapsed, fetched) = timed_search(server, searcher, expected)?;
    ensure!(fetched.requests == 0, "the offline search made {} requests", fetched.requests);
    Ok(elapsed)
}
