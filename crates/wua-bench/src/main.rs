//! wua-bench: the benchmark runner. Release builds only; every figure is a median of several
//! runs and is printed beside a baseline measured in the same run, as a ratio. Never part of
//! the tests (the machine is shared and noisy).
//!
//! Build and run:
//!
//! ```text
//! cargo build --release -p wua-cli -p wua-bench
//! target/release/wua-bench install                 # 10,000 small files
//! target/release/wua-bench install --big-mb 1024   # plus one 1 GB file (by hand, not CI)
//! target/release/wua-bench jobs                    # a job's own overhead, callback latency
//! target/release/wua-bench repo --updates 100000   # publish, verify, refresh after 1% changed (by hand)
//! target/release/wua-bench sync --updates 100000   # cold sync through the agent, refresh after 1% changed
//! target/release/wua-bench search --updates 100000 # offline search, one process per search, peak RSS
//! target/release/wua-bench download                # 1 GiB and 1,000 x 64 KiB against curl
//! target/release/wua-bench server                  # `wua server`: 2,000 agents reporting, status over 100,000
//! ```

#![allow(clippy::print_stdout, clippy::print_stderr)]

mod download;
mod install;
mod jobs;
mod repo;
mod search;
mod server;
mod sync;
mod synthetic;

use std::net::IpAddr;
use std::path::PathBuf;
use std::process::Command;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use clap::{Parser, Subcommand};

#[derive(Debug, Parser)]
#[command(name = "wua-bench", about = "wua benchmarks (release builds, ratios against same-run baselines)")]
struct Args {
    #[command(subcommand)]
    scenario: Scenario,
}

#[derive(Debug, Subcommand)]
enum Scenario {
    /// Install a `files` update: end to end against `dpkg -i`, from the cache against
    /// `cp -a` + `sync`.
    Install {
        /// Small files in the first case (0 skips it).
        #[arg(long, default_value_t = 10_000)]
        files: usize,
        /// Size of the single large file of the second case, in MiB (0 skips it).
        #[arg(long, default_value_t = 0)]
        big_mb: u64,
        /// Runs per measurement (the median is reported).
        #[arg(long, default_value_t = 5)]
        runs: usize,
        /// Where to work (a disk-backed directory; default: a temporary one in /var/tmp).
        #[arg(long)]
        workdir: Option<PathBuf>,
    },
    /// A job's own overhead (begin + callbacks + end of an already-installed update) against
    /// the same work without a job, and callback latency.
    Jobs {
        /// Iterations (the median is reported).
        #[arg(long, default_value_t = 300)]
        iterations: usize,
    },
    /// A synthetic repository: publish and verify, then the refresh cost after a share of the
    /// updates changed, against a cold sync.
    Repo {
        /// How many updates.
        #[arg(long, default_value_t = 10_000)]
        updates: usize,
        /// The share that gets a new revision, in percent.
        #[arg(long, default_value_t = 1.0)]
        change_percent: f64,
        /// Where to work (default: a temporary directory in /var/tmp).
        #[arg(long)]
        workdir: Option<PathBuf>,
    },
    /// Through the agent: a cold sync (online search from a fresh state directory, index
    /// included), the refresh after a share of the updates changed, and an online search with
    /// nothing changed (it must read no pack); times and bytes fetched.
    Sync {
        /// How many updates.
        #[arg(long, default_value_t = 100_000)]
        updates: usize,
        /// The share that gets a new revision, in percent.
        #[arg(long, default_value_t = 1.0)]
        change_percent: f64,
        /// The share of updates whose applicability rules are true here, in percent.
        #[arg(long, default_value_t = 1)]
        applicable_percent: u32,
        /// Packages in the synthetic root's dpkg status database.
        #[arg(long, default_value_t = 700)]
        dpkg_packages: usize,
        /// Where to work (default: a temporary directory in /var/tmp).
        #[arg(long)]
        workdir: Option<PathBuf>,
    },
    /// Offline searches over a synced index (rules of every kind), each in its own process:
    /// medians and peak RSS, for the applicable share asked for and for all applicable.
    Search {
        /// How many updates.
        #[arg(long, default_value_t = 100_000)]
        updates: usize,
        /// The share of updates whose applicability rules are true here, in percent.
        #[arg(long, default_value_t = 1)]
        applicable_percent: u32,
        /// Also measure the worst case, every update applicable.
        #[arg(long, default_value_t = true, action = clap::ArgAction::Set)]
        worst_case: bool,
        /// Searches per case (the median is reported).
        #[arg(long, default_value_t = 5)]
        runs: usize,
        /// Packages in the synthetic root's dpkg status database.
        #[arg(long, default_value_t = 700)]
        dpkg_packages: usize,
        /// Where to work (default: a temporary directory in /var/tmp).
        #[arg(long)]
        workdir: Option<PathBuf>,
    },
    /// One offline search with the default criteria (the child process of `search`).
    #[command(hide = true)]
    SearchOnce {
        /// The synced state directory.
        #[arg(long)]
        state_dir: PathBuf,
        /// The target root.
        #[arg(long)]
        root: PathBuf,
        /// Search online (a sync first).
        #[arg(long)]
        online: bool,
        /// First add this repository URL as the service (for profiling a cold sync with the
        /// repository served by another process); needs `--trusted-root`.
        #[arg(long, requires = "trusted_root")]
        add_service: Option<String>,
        /// The repository's `root.json`, for `--add-service`.
        #[arg(long)]
        trusted_root: Option<PathBuf>,
    },
    /// The downloader against curl from the same loopback server: one large blob against
    /// `curl -o`, many small ones against `curl --parallel`.
    Download {
        /// Size of the large blob in MiB (0 skips it).
        #[arg(long, default_value_t = 1024)]
        size: u64,
        /// How many small blobs (0 skips them).
        #[arg(long, default_value_t = 1_000)]
        count: usize,
        /// Size of each small blob in KiB.
        #[arg(long, default_value_t = 64)]
        blob_kib: u64,
        /// Small blobs per update.
        #[arg(long, default_value_t = 1)]
        per_update: usize,
        /// Runs per measurement (the median is reported).
        #[arg(long, default_value_t = 3)]
        runs: usize,
        /// Where to work (default: a temporary directory in /var/tmp).
        #[arg(long)]
        workdir: Option<PathBuf>,
    },
    /// `wua server run` in a child process on loopback: agents register and send report
    /// batches over many connections for a while (reports per second, latency, peak RSS),
    /// then a status query for one update over many computers with reports.
    Server {
        /// Agents registered through the API for the load.
        #[arg(long, default_value_t = 2_000)]
        agents: usize,
        /// Concurrent connections (one task each, cycling over its share of the agents).
        #[arg(long, default_value_t = 200)]
        connections: usize,
        /// How long the load runs, in seconds.
        #[arg(long, default_value_t = 20)]
        seconds: u64,
        /// Runs of the load, each after its baseline, on the same server and agents (the
        /// median is reported).
        #[arg(long, default_value_t = 3)]
        runs: usize,
        /// How long the same-run baseline (`GET /healthz`) runs before each run, in seconds
        /// (0 skips it).
        #[arg(long, default_value_t = 5)]
        baseline_seconds: u64,
        /// Computers with reports under the status query.
        #[arg(long, default_value_t = 100_000)]
        computers: usize,
        /// Queries of each kind timed in the status part.
        #[arg(long, default_value_t = 50)]
        queries: usize,
        /// Updates published (the reports name them).
        #[arg(long, default_value_t = 100)]
        updates: usize,
        /// The loopback address the server listens on (anything else is refused).
        #[arg(long, default_value = "127.0.0.1")]
        address: IpAddr,
        /// Skip the load part.
        #[arg(long)]
        skip_load: bool,
        /// Skip the status part.
        #[arg(long)]
        skip_status: bool,
        /// Where to work (default: a temporary directory in /var/tmp).
        #[arg(long)]
        workdir: Option<PathBuf>,
    },
}

fn main() -> Result<()> {
    match Args::parse().scenario {
        Scenario::Install { files, big_mb, runs, workdir } => install::run(files, big_mb, runs, workdir),
        Scenario::Jobs { iterations } => jobs::run(iterations),
        Scenario::Repo { updates, change_percent, workdir } => repo::run(updates, change_percent, workdir),
        Scenario::Sync { updates, change_percent, applicable_percent, dpkg_packages, workdir } => {
            sync::run(sync::Options { updates, change_percent, applicable_percent, dpkg_packages, workdir })
        }
        Scenario::Search { updates, applicable_percent, worst_case, runs, dpkg_packages, workdir } => {
            search::run(search::Options { updates, applicable_percent, worst_case, runs, dpkg_packages, workdir })
        }
        Scenario::SearchOnce { state_dir, root, online, add_service, trusted_root } => {
            let service = add_service.zip(trusted_root);
            search::once(&state_dir, &root, online, service.as_ref().map(|(url, root)| (url.as_str(), root.as_path())))
        }
        Scenario::Download { size, count, blob_kib, per_update, runs, workdir } => {
            download::run(download::Options { size_mib: size, count, blob_kib, per_update, runs, workdir })
        }
        Scenario::Server {
            agents,
            connections,
            seconds,
            runs,
            baseline_seconds,
            computers,
            queries,
            updates,
            address,
            skip_load,
            skip_status,
            workdir,
        } => server::run(server::Options {
            agents,
            connections,
            seconds,
            runs,
            baseline_seconds,
            computers,
            queries,
            updates,
            address,
            load: !skip_load,
            status: !skip_status,
            workdir,
        }),
    }
}

/// The release `wua` binary beside this one.
pub fn wua_binary() -> Result<PathBuf> {
    let exe = std::env::current_exe()?;
    let wua = exe.with_file_name("wua");
    if !wua.exists() {
        bail!("{} not found: build it with `cargo build --release -p wua-cli -p wua-bench`", wua.display());
    }
    Ok(wua)
}

/// Flushes everything so one measurement does not pay for the previous one's write-back.
pub fn sync() -> Result<()> {
    let s = Command::new("sync").status()?;
    if !s.success() {
        bail!("sync failed");
    }
    Ok(())
}

/// Times a command that must succeed (after a `sync`).
pub fn timed(cmd: &mut Command) -> Result<Duration> {
    sync()?;
    let start = Instant::now();
    let out = cmd.output().with_context(|| format!("running {cmd:?}"))?;
    let elapsed = start.elapsed();
    if !out.status.success() {
        bail!("{cmd:?} failed: {}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    }
    Ok(elapsed)
}

/// The median of some durations.
pub fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[v.len() / 2]
}
