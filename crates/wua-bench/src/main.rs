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
//! ```

#![allow(clippy::print_stdout, clippy::print_stderr)]

mod install;
mod jobs;
mod repo;

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
}

fn main() -> Result<()> {
    match Args::parse().scenario {
        Scenario::Install { files, big_mb, runs, workdir } => install::run(files, big_mb, runs, workdir),
        Scenario::Jobs { iterations } => jobs::run(iterations),
        Scenario::Repo { updates, change_percent, workdir } => repo::run(updates, change_percent, workdir),
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
