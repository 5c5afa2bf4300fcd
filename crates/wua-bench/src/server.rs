//! The server scenario: `wua server run` as a child process on loopback, driven over HTTP by
//! this process, in two parts.
//!
//! - **Load**: `--agents` computers register through `POST /api/v1/agent/register` (one
//!   enrolment key made through the API with an administrator token), then for `--seconds`
//!   every one of `--connections` tasks (one HTTP/1.1 keep-alive connection each) sends report
//!   batches for its share of the computers, one after the other, as fast as the answers come.
//!   One *report* is one `POST /api/v1/agent/reports` batch from one computer: an install
//!   outcome, preceded in a quarter of the batches by a scan of 10 update ids and followed in a
//!   tenth of them by a reboot event (1.35 events on average); every event has a fresh
//!   idempotency key and an `at` one second after that computer's previous event. Only 200
//!   answers whose acknowledgement counts every event as accepted are counted. The same-run
//!   baseline is `GET /healthz` (one database read and the HTTP stack) over the same
//!   connections for `--baseline-seconds`.
//! - **Status**: `--computers` computers are registered and report (a scan, and for some an
//!   install outcome) in this process through the server's own storage
//!   ([`wua_server::store::SqliteStorage`]: `register` and `ingest`, concurrently so group
//!   commit applies), so the aggregates are kept exactly as the server keeps them; then the
//!   server runs over that database, one update is approved for half the groups through the
//!   API, and `GET /api/v1/updates/{id}/status`, `GET /api/v1/groups/{name}`,
//!   `GET /api/v1/computers/{id}` and `GET /metrics` are timed, one request at a time over one
//!   connection. The status answer is checked against the counts the seeding implies.
//!
//! The load runs `--runs` times (default 3) on the same server and agents, each run after its
//! own baseline, and the median is reported. The server's peak RSS is its `VmHWM`
//! (`/proc/<pid>/status`) just before it is stopped. CPU shares come from every thread's
//! `/proc/<pid>/task/*/schedstat`: the time it ran and the time it was runnable but waited for
//! a CPU, over the run's wall time (2.0 would be both cores of this machine), for the server
//! (its database writer thread apart) and for this process. The waits show how much the
//! machine's other work held the server back. Everything is bounded: agents, connections,
//! seconds, runs, computers and queries have upper limits, every request a time-out, and the
//! address must be a loopback one.

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader};
use std::net::{IpAddr, SocketAddr};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, anyhow, bail, ensure};
use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::client::conn::http1::SendRequest;
use hyper::header::{AUTHORIZATION, CONTENT_TYPE, HOST, HeaderValue};
use hyper::{Method, Request};
use hyper_util::rt::TokioIo;
use tokio::task::JoinSet;
use wua_server::store::{Registration, SqliteStorage, Storage};
use wua_server::token::{self, TokenKind};
use wua_trust::repo::{self, InitOptions};
use wua_types::api::{
    Approval, ApprovalAction, ApprovalChanges, CreateEnrolmentKey, EnrolmentKey, RegisterRequest, RegisterResponse,
    ReportAck, ReportBatch, ReportBody, ReportEvent, UpdateStatus,
};
use wua_types::{HResult, OperationResultCode, UpdateOperation};

use crate::synthetic;

/// Upper bounds on the knobs: the generator stops by itself and stays small.
const MAX_AGENTS: usize = 100_000;
const MAX_CONNECTIONS: usize = 1_000;
const MAX_SECONDS: u64 = 600;
const MAX_RUNS: usize = 10;
const MAX_COMPUTERS: usize = 1_000_000;
const MAX_QUERIES: usize = 10_000;

/// Every request is abandoned after this long (the server's own time-out is 30 s).
const CALL_TIMEOUT: Duration = Duration::from_secs(60);

/// Groups of the status part; the queried update is approved for the first half.
const GROUPS: usize = 10;

/// Concurrent seeding tasks (the writer commits up to 256 jobs at once).
const SEED_TASKS: usize = 512;

/// Target of the load part, reports (batches) per second.
const TARGET_REPORTS: f64 = 2_000.0;

/// Target of the status query.
const TARGET_STATUS: Duration = Duration::from_millis(100);

/// The scenario's knobs.
pub(crate) struct Options {
    pub(crate) agents: usize,
    pub(crate) connections: usize,
    pub(crate) seconds: u64,
    pub(crate) runs: usize,
    pub(crate) baseline_seconds: u64,
    pub(crate) computers: usize,
    pub(crate) queries: usize,
    pub(crate) updates: usize,
    pub(crate) address: IpAddr,
    pub(crate) load: bool,
    pub(crate) status: bool,
    pub(crate) workdir: Option<PathBuf>,
}

impl Options {
    fn check(&self) -> Result<()> {
        ensure!(
            self.address.is_loopback(),
            "{} is not a loopback address: this benchmark runs on loopback only",
            self.address
        );
        ensure!((1..=MAX_AGENTS).contains(&self.agents), "--agents must be 1 to {MAX_AGENTS}");
        ensure!(
            (1..=MAX_CONNECTIONS.min(self.agents)).contains(&self.connections),
            "--connections must be 1 to {} (and at most --agents)",
            MAX_CONNECTIONS
        );
        ensure!((1..=MAX_SECONDS).contains(&self.seconds), "--seconds must be 1 to {MAX_SECONDS}");
        ensure!((1..=MAX_RUNS).contains(&self.runs), "--runs must be 1 to {MAX_RUNS}");
        ensure!(self.baseline_seconds <= MAX_SECONDS, "--baseline-seconds must be at most {MAX_SECONDS}");
        ensure!((1..=MAX_COMPUTERS).contains(&self.computers), "--computers must be 1 to {MAX_COMPUTERS}");
        ensure!((1..=MAX_QUERIES).contains(&self.queries), "--queries must be 1 to {MAX_QUERIES}");
        ensure!((20..=10_000).contains(&self.updates), "--updates must be 20 to 10000");
        ensure!(self.load || self.status, "both parts skipped: nothing to measure");
        Ok(())
    }
}

pub(crate) fn run(o: Options) -> Result<()> {
    o.check()?;
    let (work, _tmp) = synthetic::work_dir(o.workdir.clone(), "wua-bench-server-")?;
    let rt = tokio::runtime::Builder::new_multi_thread().enable_all().build()?;
    println!(
        "wua-bench server: `wua server run` as a child process on {}, SQLite (WAL, synchronous = FULL, group commit),",
        o.address
    );
    println!("driven over HTTP/1.1 keep-alive connections from this process (work dir {})", work.display());
    if o.load {
        load(&rt, &o, &work)?;
    }
    if o.status {
        status(&rt, &o, &work)?;
    }
    Ok(())
}

// ---- the load part ----

/// One registered computer as the generator drives it.
struct Agent {
    auth: HeaderValue,
    /// Its clock, Unix seconds: every event is one second after the one before.
    clock: i64,
}

/// A connection and the agents it reports for.
type Share = (Conn, Vec<Agent>);

/// What one run of the load measured.
struct Run {
    baseline: Option<(Tally, Duration)>,
    reports: Tally,
    window: Duration,
    /// Scheduling over the window: the generator's threads, the server's (its writer named).
    generator: Sched,
    server: Sched,
    load_average: String,
}

impl Run {
    fn rate(&self) -> f64 {
        self.reports.ok as f64 / self.window.as_secs_f64()
    }

    fn baseline_rate(&self) -> Option<f64> {
        self.baseline.as_ref().map(|(b, t)| b.ok as f64 / t.as_secs_f64())
    }
}

fn load(rt: &tokio::runtime::Runtime, o: &Options, work: &Path) -> Result<()> {
    let (data, admin, ids) = rt.block_on(prepare(work, "load", o.updates, |_| async { Ok(()) }))?;
    let server = ServerProcess::start(&data, o.address, &work.join("load-server.log"))?;
    let (addr, pid) = (server.addr, server.pid());
    let ids = Arc::new(ids);
    let (registered, register_time, runs) = rt.block_on(async {
        let mut control = Conn::open(addr).await?;
        let request = CreateEnrolmentKey {
            description: "wua-bench".into(),
            group: None,
            allow_client_targeting: false,
            expires_at: None,
        };
        let key: EnrolmentKey = control.admin(Method::POST, "/api/v1/enrolment-keys", &admin, Some(&request)).await?;
        let key = Arc::new(key.key.context("the enrolment key's answer has no key")?);

        // Registration: each connection registers its share of the agents.
        let start = Instant::now();
        let mut set = JoinSet::new();
        for c in 0..o.connections {
            let (key, agents, connections) = (key.clone(), o.agents, o.connections);
            set.spawn(async move {
                let mut conn = Conn::open(addr).await?;
                let mut tally = Tally::default();
                let mut mine = Vec::new();
                for a in (c..agents).step_by(connections) {
                    let body = RegisterRequest {
                        enrolment_key: (*key).clone(),
                        machine_id: format!("wua-bench-{a:08}"),
                        hostname: format!("bench-{a}"),
                        requested_group: None,
                        agent_version: "wua-bench".into(),
                    };
                    let sent = Instant::now();
                    let (status, answer) = conn
                        .call(Method::POST, "/api/v1/agent/register", None, Some(serde_json::to_vec(&body)?))
                        .await?;
                    tally.record(status, sent.elapsed());
                    ensure!(status == 200, "registering agent {a}: {status} {}", String::from_utf8_lossy(&answer));
                    let r: RegisterResponse = serde_json::from_slice(&answer)?;
                    mine.push(Agent {
                        auth: HeaderValue::from_str(&format!("Bearer {}", r.token))?,
                        clock: jiff::Timestamp::now().as_second(),
                    });
                }
                anyhow::Ok(((conn, mine), tally))
            });
        }
        let mut shares: Vec<Share> = Vec::new();
        let mut registered = Tally::default();
        while let Some(joined) = set.join_next().await {
            let (share, tally) = joined??;
            registered.merge(tally);
            shares.push(share);
        }
        let register_time = start.elapsed();

        // Each run: the baseline (GET /healthz) over the same connections, then the reports.
        let mut runs = Vec::new();
        for run in 0..o.runs {
            let mut baseline = None;
            if o.baseline_seconds > 0 {
                let (back, tally, window) =
                    drive(shares, o.baseline_seconds, |share, deadline, _| healthz_loop(share, deadline)).await?;
                shares = back;
                baseline = Some((tally, window));
            }
            let (gen0, server0) = (sched("self", "")?, sched(&pid.to_string(), WRITER_THREAD)?);
            let ids = ids.clone();
            let (back, reports, window) = drive(shares, o.seconds, move |share, deadline, n| {
                report_loop(share, deadline, (run * o.connections + n) as u64 + 1, ids.clone())
            })
            .await?;
            shares = back;
            let (generator, server) =
                (sched("self", "")?.since(gen0), sched(&pid.to_string(), WRITER_THREAD)?.since(server0));
            runs.push(Run { baseline, reports, window, generator, server, load_average: load_average() });
        }
        anyhow::Ok((registered, register_time, runs))
    })?;
    let peak = server.peak_rss()?;
    server.stop()?;

    let register_rate = registered.ok as f64 / register_time.as_secs_f64();
    println!();
    println!(
        "load: {} agents, {} connections, {} runs of {} s (each after {} s of the baseline); one report = one",
        o.agents, o.connections, o.runs, o.seconds, o.baseline_seconds
    );
    println!("POST /api/v1/agent/reports batch from one computer: an install outcome, plus a scan of 10 update ids");
    println!(
        "in 1/4 of the batches and a reboot event in 1/10 ({} updates published); counted: 200 answers whose",
        o.updates
    );
    println!(
        "acknowledgement accepts every event. Baseline: GET /healthz (one database read) over the same connections."
    );
    println!();
    println!(
        "register {} agents: {:.2} s, {:.0} /s, latency p50 / p99 {}, errors {}",
        o.agents,
        register_time.as_secs_f64(),
        register_rate,
        registered.latency_summary(),
        registered.errors_text()
    );
    println!();
    println!(
        "{:<4} {:>10} {:>10} {:>9} {:>7} {:>24} {:>7} {:>14} {:>14} {:>10} {:>5}",
        "run",
        "healthz/s",
        "reports/s",
        "events/s",
        "ratio",
        "p50 / p99 / max",
        "errors",
        "server CPU",
        "server wait",
        "generator",
        "load"
    );
    for (i, r) in runs.iter().enumerate() {
        let secs = r.window.as_secs_f64();
        let healthz = r.baseline_rate();
        let (g, v) = (&r.generator, &r.server);
        println!(
            "{:<4} {:>10} {:>10.0} {:>9.0} {:>7} {:>24} {:>7} {:>14} {:>14} {:>10} {:>5}",
            i + 1,
            healthz.map(|h| format!("{h:.0}")).unwrap_or_default(),
            r.rate(),
            r.reports.events as f64 / secs,
            healthz.map(|h| format!("{:.2}x", r.rate() / h)).unwrap_or_default(),
            r.reports.latency_summary_max(),
            if r.reports.errors.is_empty() {
                "none".to_owned()
            } else {
                r.reports.errors.values().sum::<u64>().to_string()
            },
            format!("{:.2} ({:.2})", v.run / secs, v.named_run / secs),
            format!("{:.2} ({:.2})", v.wait / secs, v.named_wait / secs),
            format!("{:.2}/{:.2}", g.run / secs, g.wait / secs),
            r.load_average,
        );
    }
    let mut rates: Vec<f64> = runs.iter().map(Run::rate).collect();
    rates.sort_by(f64::total_cmp);
    let median = rates[(rates.len() - 1) / 2];
    let mut ratios: Vec<f64> = runs.iter().filter_map(|r| r.baseline_rate().map(|h| r.rate() / h)).collect();
    ratios.sort_by(f64::total_cmp);
    println!();
    println!("(latency in ms, 200 answers. Server CPU: its threads' run time over the run's wall time, in cores, its");
    println!(
        " database writer thread in brackets; server wait: the time its threads were runnable but waiting for a CPU,"
    );
    println!(
        " the same way; generator: this process's run / wait. From /proc/<pid>/task/*/schedstat. Load: the machine's"
    );
    println!(" one-minute load average after the run, every builder on it included)");
    for (i, r) in runs.iter().enumerate() {
        if !r.reports.errors.is_empty() {
            println!("run {} errors: {}", i + 1, r.reports.errors_text());
        }
    }
    println!();
    println!("{:<58} {:>10.0} /s", "reports (batches) per second, median of the runs", median);
    if let Some(ratio) = ratios.get(ratios.len().saturating_sub(1) / 2) {
        println!("{:<58} {:>12.2}x", "reports per second / healthz per second, median", ratio);
    }
    println!("{:<58} {:>11.1} MB", "server peak RSS (VmHWM), after every run", peak as f64 / 1e6);
    println!(
        "{:<58} {:>14}",
        format!("at least {TARGET_REPORTS:.0} reports per second (median)"),
        if median >= TARGET_REPORTS { "yes" } else { "NO" }
    );
    Ok(())
}

/// Runs `each` on every share at once for `seconds`; gives the shares back with the merged
/// tally and the wall time until the last one finished.
async fn drive<F, Fut>(shares: Vec<Share>, seconds: u64, each: F) -> Result<(Vec<Share>, Tally, Duration)>
where
    F: Fn(Share, Instant, usize) -> Fut,
    Fut: std::future::Future<Output = Result<(Share, Tally)>> + Send + 'static,
{
    let start = Instant::now();
    let deadline = start + Duration::from_secs(seconds);
    let mut set = JoinSet::new();
    for (n, share) in shares.into_iter().enumerate() {
        set.spawn(each(share, deadline, n));
    }
    let mut back = Vec::new();
    let mut tally = Tally::default();
    while let Some(joined) = set.join_next().await {
        let (share, t) = joined??;
        tally.merge(t);
        back.push(share);
    }
    Ok((back, tally, start.elapsed()))
}

/// `GET /healthz` one after the other until `deadline`.
async fn healthz_loop((mut conn, agents): Share, deadline: Instant) -> Result<(Share, Tally)> {
    let mut tally = Tally::default();
    while Instant::now() < deadline {
        let sent = Instant::now();
        match conn.call(Method::GET, "/healthz", None, None).await {
            Ok((status, _)) => tally.record(status, sent.elapsed()),
            Err(_) => {
                tally.failed("connection");
                conn = Conn::open(conn.addr).await?;
            }
        }
    }
    Ok(((conn, agents), tally))
}

/// Sends the share's agents' reports one after the other until `deadline`; `seed` picks the
/// mix.
async fn report_loop(
    (mut conn, mut agents): Share,
    deadline: Instant,
    seed: u64,
    ids: Arc<Vec<String>>,
) -> Result<(Share, Tally)> {
    let mut rng = Rng::new(seed);
    let mut tally = Tally::default();
    let (mut next, count) = (0, agents.len());
    while Instant::now() < deadline {
        let agent = &mut agents[next % count];
        next += 1;
        let (body, events) = report_batch(agent, &mut rng, &ids)?;
        let sent = Instant::now();
        match conn.call_as(Method::POST, "/api/v1/agent/reports", Some(&agent.auth), Some(body)).await {
            Ok((200, answer)) => {
                let elapsed = sent.elapsed();
                match serde_json::from_slice::<ReportAck>(&answer) {
                    Ok(ack) if ack.accepted == events && ack.duplicates == 0 => {
                        tally.record(200, elapsed);
                        tally.events += u64::from(ack.accepted);
                    }
                    _ => tally.failed("200 with a wrong acknowledgement"),
                }
            }
            Ok((status, _)) => tally.record(status, sent.elapsed()),
            Err(_) => {
                tally.failed("connection");
                conn = Conn::open(conn.addr).await?;
            }
        }
    }
    Ok(((conn, agents), tally))
}

/// One computer's batch: the JSON body and how many events it holds.
fn report_batch(agent: &mut Agent, rng: &mut Rng, ids: &[String]) -> Result<(Vec<u8>, u32)> {
    let mut events = Vec::with_capacity(3);
    let mut event = |event: ReportBody| {
        agent.clock += 1;
        ReportEvent { key: uuid::Uuid::new_v4().to_string(), at: timestamp(agent.clock), event }
    };
    if rng.below(4) == 0 {
        let first = rng.below(ids.len());
        let scanned: Vec<String> = (0..10).map(|k| ids[(first + k) % ids.len()].clone()).collect();
        let (needed, installed) = scanned.split_at(3);
        events.push(event(ReportBody::Scan { needed: needed.to_vec(), installed: installed.to_vec() }));
    }
    let failed = rng.below(10) == 0;
    let reboot = !failed && rng.below(7) == 0;
    events.push(event(outcome(&ids[rng.below(ids.len())], failed, reboot)));
    if rng.below(10) == 0 {
        events.push(event(ReportBody::Reboot { required: false }));
    }
    let n = events.len() as u32;
    Ok((serde_json::to_vec(&ReportBatch { events })?, n))
}

/// An install outcome.
fn outcome(update_id: &str, failed: bool, reboot_required: bool) -> ReportBody {
    ReportBody::Outcome {
        update_id: update_id.to_owned(),
        revision_number: 1,
        operation: UpdateOperation::Installation,
        result_code: if failed { OperationResultCode::Failed } else { OperationResultCode::Succeeded },
        hresult: if failed { HResult::WU_E_ALL_UPDATES_FAILED } else { HResult::S_OK },
        reboot_required,
    }
}

fn timestamp(s: i64) -> String {
    jiff::Timestamp::from_second(s).map(|t| t.to_string()).unwrap_or_default()
}

// ---- the status part ----

/// The name of status group `g`.
fn group(g: usize) -> String {
    format!("bench-{g}")
}

/// What seeded computer `i` reports about the queried update (`ids[0]`) and what it ends in:
/// by `i % 20`, 8 installed, 4 needed, 2 failed (needed, then a failed install), 2 pending a
/// reboot (needed, then an install that wants one), 3 scanned without it, 1 never reported.
/// Its group is `(i / 20) % GROUPS`. Every scan lists 9 other updates as well.
fn seed_events(i: usize, ids: &[String], t0: i64) -> Vec<ReportEvent> {
    let r = i % 20;
    if r == 19 {
        return vec![];
    }
    let others = &ids[1..];
    let first = (i * 7) % others.len();
    let mut listed: Vec<String> = (0..9).map(|k| others[(first + k) % others.len()].clone()).collect();
    let mut installed = listed.split_off(2);
    let mut needed = listed;
    match r {
        0..8 => installed.push(ids[0].clone()),
        8..16 => needed.push(ids[0].clone()),
        _ => {}
    }
    let at = t0 + (i % 3_600) as i64;
    let key = |k: &str| format!("seed-{i}-{k}");
    let mut events =
        vec![ReportEvent { key: key("scan"), at: timestamp(at), event: ReportBody::Scan { needed, installed } }];
    if (12..16).contains(&r) {
        events.push(ReportEvent {
            key: key("install"),
            at: timestamp(at + 60),
            event: outcome(&ids[0], r < 14, r >= 14),
        });
    }
    events
}

/// The status the seeding implies for the queried update over `computers`.
fn expected_status(computers: usize, update_id: &str) -> UpdateStatus {
    let mut s = UpdateStatus { update_id: update_id.to_owned(), ..UpdateStatus::default() };
    for i in 0..computers {
        let approved = (i / 20) % GROUPS < GROUPS / 2;
        match i % 20 {
            0..8 => s.installed += 1,
            8..12 => s.needed += 1,
            12..14 => s.failed += 1,
            14..16 => s.pending_reboot += 1,
            16..19 if approved => s.not_applicable += 1,
            _ => s.no_status += 1,
        }
    }
    s
}

fn status(rt: &tokio::runtime::Runtime, o: &Options, work: &Path) -> Result<()> {
    let computers = o.computers;
    let mut seeded = Vec::new();
    let mut seed_time = Duration::ZERO;
    let (data, admin, ids) = rt.block_on(prepare(work, "status", o.updates, |storage| {
        let (seeded, seed_time) = (&mut seeded, &mut seed_time);
        async move {
            for g in 0..GROUPS {
                storage.create_group(&group(g), "wua-bench").await?;
            }
            let ids: Arc<Vec<String>> = Arc::new((0..o.updates).map(synthetic::update_id).collect());
            let t0 = jiff::Timestamp::now().as_second() - 86_400;
            let start = Instant::now();
            let mut set = JoinSet::new();
            for w in 0..SEED_TASKS.min(computers) {
                let (storage, ids) = (storage.clone(), ids.clone());
                set.spawn(async move {
                    let mut kept = Vec::new();
                    for i in (w..computers).step_by(SEED_TASKS) {
                        let (_, secret) =
                            token::generate(TokenKind::Computer).map_err(|_| anyhow!("no random bytes"))?;
                        let (id, _) = storage
                            .register(Registration {
                                machine_id: format!("wua-bench-{i:08}"),
                                hostname: format!("bench-{i}"),
                                group: group((i / 20) % GROUPS),
                                token_id: secret.id.clone(),
                                token_digest: secret.digest().to_vec(),
                            })
                            .await?;
                        let events = seed_events(i, &ids, t0);
                        let n = events.len() as u32;
                        if n > 0 {
                            let ack = storage.ingest(&id, events).await?.context("a seeded computer vanished")?;
                            ensure!(ack.accepted == n, "computer {i}: {} of {n} events accepted", ack.accepted);
                        }
                        if kept.len() < 20 {
                            kept.push(id);
                        }
                    }
                    anyhow::Ok(kept)
                });
            }
            while let Some(joined) = set.join_next().await {
                seeded.extend(joined??);
            }
            *seed_time = start.elapsed();
            Ok(())
        }
    }))?;
    let db = synthetic::disk_size(&data.join(wua_server::store::DB_FILE));
    let wal = synthetic::disk_size(&data.join(format!("{}-wal", wua_server::store::DB_FILE)));
    let server = ServerProcess::start(&data, o.address, &work.join("status-server.log"))?;
    let addr = server.addr;
    let update = ids[0].clone();
    let expected = expected_status(computers, &update);
    let measured = rt.block_on(async {
        let mut conn = Conn::open(addr).await?;
        for g in 0..GROUPS / 2 {
            let changes = ApprovalChanges {
                approve: vec![Approval { update_id: update.clone(), action: ApprovalAction::Install, deadline: None }],
                unapprove: vec![],
            };
            let _: serde_json::Value = conn
                .admin(Method::POST, &format!("/api/v1/groups/{}/approvals", group(g)), &admin, Some(&changes))
                .await?;
        }
        let status_path = format!("/api/v1/updates/{update}/status");
        let sent = Instant::now();
        let first: UpdateStatus = conn.admin(Method::GET, &status_path, &admin, None::<&()>).await?;
        let first_time = sent.elapsed();
        ensure!(first == expected, "the status does not add up:\n got      {first:?}\n expected {expected:?}");
        let mut rows = Vec::new();
        let queries = 0..o.queries;
        let kinds = [
            ("GET /api/v1/updates/{id}/status", queries.clone().map(|_| status_path.clone()).collect::<Vec<_>>(), true),
            (
                "GET /api/v1/groups/{name}",
                queries.clone().map(|q| format!("/api/v1/groups/{}", group(q % GROUPS))).collect(),
                true,
            ),
            (
                "GET /api/v1/computers/{id}",
                queries.clone().map(|q| format!("/api/v1/computers/{}", seeded[q % seeded.len()])).collect(),
                true,
            ),
            (
                "GET /metrics (counts over every computer)",
                queries.clone().map(|_| "/metrics".to_owned()).collect(),
                false,
            ),
            ("baseline: GET /healthz", queries.map(|_| "/healthz".to_owned()).collect(), false),
        ];
        for (what, paths, authed) in kinds {
            let mut times = Vec::with_capacity(paths.len());
            for path in &paths {
                let sent = Instant::now();
                let (status, body) = conn.call(Method::GET, path, authed.then_some(admin.as_str()), None).await?;
                times.push(sent.elapsed());
                ensure!(status == 200, "{what}: {status} {}", String::from_utf8_lossy(&body));
            }
            times.sort();
            rows.push((what, times));
        }
        anyhow::Ok((first_time, rows))
    })?;
    let peak = server.peak_rss()?;
    server.stop()?;

    let (first, rows) = measured;
    let ms = |d: Duration| d.as_secs_f64() * 1e3;
    println!();
    println!(
        "status: {} computers in {GROUPS} groups, about 10 reported updates each ({} updates published); the queried update",
        computers, o.updates
    );
    println!(
        "approved for {} groups; {} queries of each kind, one at a time over one connection",
        GROUPS / 2,
        o.queries
    );
    println!();
    println!(
        "{:<58} {:>12.2} s  ({:.0} computers/s: register + one batch each, in process)",
        "seed through SqliteStorage::register + ingest",
        seed_time.as_secs_f64(),
        computers as f64 / seed_time.as_secs_f64()
    );
    println!("{:<58} {:>11.1} MB  (+ {:.1} MB WAL)", "database after seeding", db as f64 / 1e6, wal as f64 / 1e6);
    println!(
        "{:<58} {:>9.2} ms  (checked: {} installed, {} needed, {} failed, {} pending reboot, {} not applicable, {} no status)",
        "first status query after the server started",
        ms(first),
        expected.installed,
        expected.needed,
        expected.failed,
        expected.pending_reboot,
        expected.not_applicable,
        expected.no_status
    );
    println!();
    println!("{:<44} {:>10} {:>10} {:>10}", "query", "median", "p99", "max");
    let mut status_median = Duration::ZERO;
    for (what, times) in &rows {
        let p = |q: f64| times[((times.len() as f64 * q) as usize).min(times.len() - 1)];
        println!("{:<44} {:>7.2} ms {:>7.2} ms {:>7.2} ms", what, ms(p(0.5)), ms(p(0.99)), ms(times[times.len() - 1]));
        if what.contains("status") {
            status_median = p(0.5);
        }
    }
    println!();
    println!("{:<58} {:>11.1} MB", "server peak RSS (VmHWM)", peak as f64 / 1e6);
    println!(
        "{:<58} {:>14}",
        format!("status query median under {} ms", TARGET_STATUS.as_millis()),
        if status_median < TARGET_STATUS { "yes" } else { "NO" }
    );
    Ok(())
}

// ---- shared ----

/// A repository with `updates` published updates (`synthetic::update_id(0..updates)`) and a
/// server data directory over it, named `name`, with an administrator token; `seed` runs on
/// the server's storage (opened in this process) before it is closed. Returns the data
/// directory, the token and the update ids.
async fn prepare<F, Fut>(work: &Path, name: &str, updates: usize, seed: F) -> Result<(PathBuf, String, Vec<String>)>
where
    F: FnOnce(SqliteStorage) -> Fut,
    Fut: std::future::Future<Output = Result<()>>,
{
    let dir = work.join(format!("{name}-repo"));
    repo::init(&dir, &InitOptions::default()).await?;
    let blob = repo::add_blob(&dir, b"wua-bench server content\n")?;
    repo::publish_documents(&dir, (0..updates).map(|i| synthetic::plain_document(i, 1, &blob)).collect()).await?;
    let data = work.join(format!("{name}-data"));
    wua_server::init(&data, &dir).await?;
    let storage = SqliteStorage::open(&data)?;
    let (admin, secret) = token::generate(TokenKind::Admin).map_err(|_| anyhow!("no random bytes"))?;
    storage.create_admin_token(&secret.id, "wua-bench", &secret.digest()).await?;
    seed(storage).await?;
    Ok((data, admin, (0..updates).map(synthetic::update_id).collect()))
}

/// `wua server run` in a child process.
struct ServerProcess {
    child: Child,
    addr: SocketAddr,
}

impl ServerProcess {
    /// Starts the release `wua` beside this binary on `ip`, port chosen by the system, its
    /// log in `log`; waits until it listens.
    fn start(data_dir: &Path, ip: IpAddr, log: &Path) -> Result<ServerProcess> {
        let mut child = Command::new(crate::wua_binary()?)
            .args(["server", "run", "--data-dir"])
            .arg(data_dir)
            .arg("--listen")
            .arg(SocketAddr::new(ip, 0).to_string())
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(fs_err::File::create(log)?.into_parts().0)
            .spawn()
            .context("starting `wua server run`")?;
        let mut out = BufReader::new(child.stdout.take().context("no stdout")?);
        let mut line = String::new();
        out.read_line(&mut line)?;
        std::thread::spawn(move || std::io::copy(&mut out, &mut std::io::sink()));
        let addr = line.trim().strip_prefix("listening on http://").and_then(|a| a.strip_suffix('/'));
        match addr.and_then(|a| a.parse::<SocketAddr>().ok()) {
            Some(addr) if addr.ip().is_loopback() => Ok(ServerProcess { child, addr }),
            _ => {
                drop(ServerProcess { child, addr: SocketAddr::new(ip, 0) });
                bail!("the server did not start ({:?}); its log: {}", line.trim(), fs_err::read_to_string(log)?)
            }
        }
    }

    fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Its peak resident set, bytes (`VmHWM`).
    fn peak_rss(&self) -> Result<u64> {
        let status = fs_err::read_to_string(format!("/proc/{}/status", self.pid()))?;
        let kb = status
            .lines()
            .find_map(|l| l.strip_prefix("VmHWM:"))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
            .context("no VmHWM")?;
        Ok(kb * 1024)
    }

    /// SIGTERM (the server finishes the requests in flight), then waits for it to exit.
    fn stop(mut self) -> Result<()> {
        let pid = libc::pid_t::try_from(self.pid())?;
        // SAFETY: `pid` is this process's own child, not waited for yet, so the id is still
        // its; kill has no memory effects.
        if unsafe { libc::kill(pid, libc::SIGTERM) } != 0 {
            bail!("signalling the server: {}", std::io::Error::last_os_error());
        }
        let deadline = Instant::now() + Duration::from_secs(30);
        while Instant::now() < deadline {
            if let Some(status) = self.child.try_wait()? {
                ensure!(status.success(), "the server exited with {status}");
                return Ok(());
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        bail!("the server did not stop within 30 s of SIGTERM")
    }
}

impl Drop for ServerProcess {
    fn drop(&mut self) {
        if matches!(self.child.try_wait(), Ok(None)) {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// The server's database writer thread's name.
const WRITER_THREAD: &str = "wua-server-db";

/// Time a process's threads ran and waited runnable for a CPU, seconds, all of them and
/// those named `name` (`/proc/<who>/task/*/schedstat` and `comm`; threads that ended are
/// not counted).
#[derive(Clone, Copy, Debug, Default)]
struct Sched {
    run: f64,
    wait: f64,
    named_run: f64,
    named_wait: f64,
}

impl Sched {
    fn since(self, before: Sched) -> Sched {
        Sched {
            run: self.run - before.run,
            wait: self.wait - before.wait,
            named_run: self.named_run - before.named_run,
            named_wait: self.named_wait - before.named_wait,
        }
    }
}

fn sched(who: &str, name: &str) -> Result<Sched> {
    let mut out = Sched::default();
    for task in fs_err::read_dir(format!("/proc/{who}/task"))? {
        let dir = task?.path();
        // A thread may end between the listing and the reads.
        let (Ok(stat), Ok(comm)) =
            (std::fs::read_to_string(dir.join("schedstat")), std::fs::read_to_string(dir.join("comm")))
        else {
            continue;
        };
        let mut fields = stat.split_whitespace().map(|f| f.parse::<u64>().unwrap_or(0) as f64 / 1e9);
        let (run, wait) = (fields.next().unwrap_or(0.0), fields.next().unwrap_or(0.0));
        out.run += run;
        out.wait += wait;
        if !name.is_empty() && comm.trim() == name {
            out.named_run += run;
            out.named_wait += wait;
        }
    }
    Ok(out)
}

/// The one-minute load average, from `/proc/loadavg`.
fn load_average() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .ok()
        .and_then(|l| l.split_whitespace().next().map(str::to_owned))
        .unwrap_or_default()
}

/// One HTTP/1.1 keep-alive connection.
struct Conn {
    addr: SocketAddr,
    sender: SendRequest<Full<Bytes>>,
}

impl Conn {
    async fn open(addr: SocketAddr) -> Result<Conn> {
        let stream = tokio::net::TcpStream::connect(addr).await.with_context(|| format!("connecting to {addr}"))?;
        stream.set_nodelay(true)?;
        let (sender, connection) = hyper::client::conn::http1::handshake(TokioIo::new(stream)).await?;
        tokio::spawn(connection);
        Ok(Conn { addr, sender })
    }

    /// A request with an optional bearer token and JSON body: the status and the body.
    async fn call(
        &mut self,
        method: Method,
        path: &str,
        token: Option<&str>,
        body: Option<Vec<u8>>,
    ) -> Result<(u16, Bytes)> {
        let auth = token.map(|t| HeaderValue::from_str(&format!("Bearer {t}"))).transpose()?;
        self.call_as(method, path, auth.as_ref(), body).await
    }

    /// [`Conn::call`] with the `Authorization` value made already.
    async fn call_as(
        &mut self,
        method: Method,
        path: &str,
        auth: Option<&HeaderValue>,
        body: Option<Vec<u8>>,
    ) -> Result<(u16, Bytes)> {
        let mut request = Request::builder().method(method).uri(path).header(HOST, self.addr.to_string());
        if let Some(a) = auth {
            request = request.header(AUTHORIZATION, a);
        }
        if body.is_some() {
            request = request.header(CONTENT_TYPE, "application/json");
        }
        let request = request.body(Full::new(Bytes::from(body.unwrap_or_default())))?;
        let exchange = async {
            self.sender.ready().await?;
            let response = self.sender.send_request(request).await?;
            let status = response.status().as_u16();
            let body = response.into_body().collect().await?.to_bytes();
            anyhow::Ok((status, body))
        };
        tokio::time::timeout(CALL_TIMEOUT, exchange).await.map_err(|_| anyhow!("no answer in {CALL_TIMEOUT:?}"))?
    }

    /// An administrator's call that must succeed, its answer parsed.
    async fn admin<T: serde::de::DeserializeOwned>(
        &mut self,
        method: Method,
        path: &str,
        token: &str,
        body: Option<&impl serde::Serialize>,
    ) -> Result<T> {
        let body = body.map(serde_json::to_vec).transpose()?;
        let (status, answer) = self.call(method.clone(), path, Some(token), body).await?;
        ensure!((200..300).contains(&status), "{method} {path}: {status} {}", String::from_utf8_lossy(&answer));
        Ok(serde_json::from_slice(&answer)?)
    }
}

/// Answers counted: successes with their latency, and failures by status.
#[derive(Default)]
struct Tally {
    ok: u64,
    events: u64,
    latencies: Vec<Duration>,
    errors: BTreeMap<String, u64>,
}

impl Tally {
    fn record(&mut self, status: u16, latency: Duration) {
        if status == 200 {
            self.ok += 1;
            self.latencies.push(latency);
        } else {
            self.failed(&status.to_string());
        }
    }

    fn failed(&mut self, what: &str) {
        *self.errors.entry(what.to_owned()).or_default() += 1;
    }

    fn merge(&mut self, other: Tally) {
        self.ok += other.ok;
        self.events += other.events;
        self.latencies.extend(other.latencies);
        for (k, n) in other.errors {
            *self.errors.entry(k).or_default() += n;
        }
    }

    fn percentile(&mut self, q: f64) -> Duration {
        if self.latencies.is_empty() {
            return Duration::ZERO;
        }
        self.latencies.sort_unstable();
        self.latencies[((self.latencies.len() as f64 * q) as usize).min(self.latencies.len() - 1)]
    }

    fn latency_summary(&self) -> String {
        let mut t = Tally { latencies: self.latencies.clone(), ..Tally::default() };
        format!("{:.1} / {:.1} ms", t.percentile(0.5).as_secs_f64() * 1e3, t.percentile(0.99).as_secs_f64() * 1e3)
    }

    fn latency_summary_max(&self) -> String {
        let mut t = Tally { latencies: self.latencies.clone(), ..Tally::default() };
        format!(
            "{:.1} / {:.1} / {:.1} ms",
            t.percentile(0.5).as_secs_f64() * 1e3,
            t.percentile(0.99).as_secs_f64() * 1e3,
            t.percentile(1.0).as_secs_f64() * 1e3
        )
    }

    fn errors_text(&self) -> String {
        if self.errors.is_empty() {
            return "none".into();
        }
        self.errors.iter().map(|(k, n)| format!("{k}: {n}")).collect::<Vec<_>>().join(", ")
    }
}

/// xorshift64*: the batch mix, reproducible per connection.
struct Rng(u64);

impl Rng {
    fn new(seed: u64) -> Rng {
        Rng(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1)
    }

    fn below(&mut self, n: usize) -> usize {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        (self.0.wrapping_mul(0x2545_F491_4F6C_DD1D) >> 33) as usize % n
    }
}
