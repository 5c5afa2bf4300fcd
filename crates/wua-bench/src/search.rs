//! The search scenario (fourth issue): offline searches (`online = false`) over a synced index
//! of the synthetic catalog ([`crate::synthetic`]: applicability rules of every kind), with the
//! default criteria (`""`: `IsInstalled=0 and IsHidden=0`).
//!
//! Each search runs in a process of its own (`wua-bench search-once`, a child of this one), so
//! its peak RSS is its own: the child reports its `VmHWM` (`/proc/self/status`) at the end.
//! `wait4`'s `ru_maxrss` is printed beside it as a check only: Linux carries the spawning
//! process's high-water mark across `exec` into it, so it is never below this process's own
//! peak. The sync before the searches (an online search) runs in a child as well. The child
//! reports the time of the `search` call itself; the time of the whole process (start, open
//! the session, search, exit) is measured here. The repository's server is stopped before the
//! searches, so an offline search that touched the network would fail.
//!
//! Two cases by default: the share of applicable updates asked for (1%), and the worst case,
//! every update applicable (so the search builds an `Update` for each).

use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail, ensure};
use wua_agent::{SessionOptions, UpdateSession};

use crate::median;
use crate::synthetic::{self, Server};

/// The scenario's knobs.
pub(crate) struct Options {
    pub(crate) updates: usize,
    pub(crate) applicable_percent: u32,
    pub(crate) worst_case: bool,
    pub(crate) runs: usize,
    pub(crate) dpkg_packages: usize,
    pub(crate) workdir: Option<PathBuf>,
}

/// What one case measured.
struct Case {
    applicable_percent: u32,
    found: usize,
    sync: Child,
    index_bytes: u64,
    search: Vec<Duration>,
    process: Vec<Duration>,
    peak_rss_kib: Vec<u64>,
    maxrss_kib: Vec<u64>,
}

pub(crate) fn run(o: Options) -> Result<()> {
    let (work, _tmp) = synthetic::work_dir(o.workdir.clone(), "wua-bench-search-")?;
    let root = work.join("root");
    synthetic::make_root(&root, o.dpkg_packages)?;
    let mut percents = vec![o.applicable_percent];
    if o.worst_case && o.applicable_percent != 100 {
        percents.push(100);
    }
    let mut cases = Vec::new();
    for pct in percents {
        cases.push(measure(&o, &work, &root, pct)?);
    }

    println!(
        "wua-bench search: {} updates, offline, default criteria, {} runs each, one process per search",
        o.updates, o.runs
    );
    println!(
        "(root: rules of every kind, dpkg status of {} packages, {:.0} kB; work dir {})",
        o.dpkg_packages,
        synthetic::disk_size(&root.join("var/lib/dpkg/status")) as f64 / 1e3,
        work.display()
    );
    println!();
    println!(
        "{:<11} {:>7} {:>10} {:>12} {:>10} {:>14} {:>15} {:>13}",
        "applicable", "found", "sync", "sync RSS", "index", "search median", "process median", "peak RSS max"
    );
    let mbytes = |kib: u64| kib as f64 * 1024.0 / 1e6;
    for c in &cases {
        println!(
            "{:<11} {:>7} {:>9.2}s {:>9.1} MB {:>7.1} MB {:>13.3}s {:>14.3}s {:>10.1} MB",
            format!("{}%", c.applicable_percent),
            c.found,
            c.sync.search.as_secs_f64(),
            mbytes(c.sync.peak_rss_kib),
            synthetic::mb(c.index_bytes),
            median(c.search.clone()).as_secs_f64(),
            median(c.process.clone()).as_secs_f64(),
            mbytes(c.peak_rss_kib.iter().max().copied().unwrap_or(0)),
        );
    }
    println!();
    let list = |v: Vec<String>| v.join(" ");
    for c in &cases {
        let secs = |v: &[Duration]| list(v.iter().map(|d| format!("{:.3}", d.as_secs_f64())).collect());
        let rss = |v: &[u64]| list(v.iter().map(|k| format!("{:.1}", mbytes(*k))).collect());
        println!(
            "{}%: search s [{}], process s [{}], peak RSS (VmHWM) MB [{}], wait4 ru_maxrss MB [{}]",
            c.applicable_percent,
            secs(&c.search),
            secs(&c.process),
            rss(&c.peak_rss_kib),
            rss(&c.maxrss_kib)
        );
    }
    println!("targets: search median under 0.5 s, peak RSS under 200 MB (at 100,000 updates)");
    Ok(())
}

/// Publishes and syncs the catalog with `pct` percent applicable, then runs the searches.
fn measure(o: &Options, work: &Path, root: &Path, pct: u32) -> Result<Case> {
    let dir = work.join(format!("repo-{pct}"));
    let state = work.join(format!("state-{pct}"));
    let rt = tokio::runtime::Runtime::new()?;
    rt.block_on(synthetic::make_repository(&dir, o.updates, pct))?;
    let expected = synthetic::applicable_count(o.updates, pct);
    let sync = {
        let server = Server::start(&dir.join("repository"))?;
        let session = UpdateSession::open(SessionOptions::new(&state, root))?;
        synthetic::add_service(&session, server.url(), &dir.join("root.json"))?;
        drop(session);
        // The sync in a process of its own too, so its peak RSS is its own.
        crate::sync()?;
        let child = search_once(&state, root, true)?;
        ensure!(child.found == expected, "the sync's search found {}", child.found);
        child
    };
    let index_bytes = synthetic::disk_size(&state.join("wua.db")) + synthetic::disk_size(&state.join("wua.db-wal"));
    let mut case = Case {
        applicable_percent: pct,
        found: 0,
        sync,
        index_bytes,
        search: Vec::new(),
        process: Vec::new(),
        peak_rss_kib: Vec::new(),
        maxrss_kib: Vec::new(),
    };
    for _ in 0..o.runs {
        crate::sync()?;
        let child = search_once(&state, root, false)?;
        ensure!(child.found == expected, "the offline search found {}, not {expected}", child.found);
        case.found = child.found;
        case.search.push(child.search);
        case.process.push(child.process);
        case.peak_rss_kib.push(child.peak_rss_kib);
        case.maxrss_kib.push(child.maxrss_kib);
    }
    Ok(case)
}

/// What one child reported, and its wall time.
struct Child {
    search: Duration,
    process: Duration,
    found: usize,
    peak_rss_kib: u64,
    /// `ru_maxrss` from `wait4`: not less than the spawning process's own peak (the kernel
    /// carries the old address space's high-water mark across `exec`), so only a check.
    maxrss_kib: u64,
}

/// Runs `wua-bench search-once` on `state` and `root` (`online`: a sync first).
fn search_once(state: &Path, root: &Path, online: bool) -> Result<Child> {
    let mut cmd = Command::new(std::env::current_exe()?);
    cmd.arg("search-once").arg("--state-dir").arg(state).arg("--root").arg(root);
    if online {
        cmd.arg("--online");
    }
    let (process, out, maxrss_kib) = run_child(&mut cmd)?;
    let mut fields = out.split_whitespace();
    let (Some("SEARCH"), Some(secs), Some(found), Some(hwm)) =
        (fields.next(), fields.next(), fields.next(), fields.next())
    else {
        bail!("search-once said {out:?}");
    };
    Ok(Child {
        search: Duration::from_secs_f64(secs.parse()?),
        process,
        found: found.parse()?,
        peak_rss_kib: hwm.parse()?,
        maxrss_kib,
    })
}

/// The child: one search with the default criteria (offline unless `online`); prints
/// `SEARCH <seconds> <found> <peak RSS KiB>`, the peak being `VmHWM` of `/proc/self/status`
/// (this process's own address space, from its `exec` on). `service` (a URL and a trusted
/// root file) is added first when given.
pub(crate) fn once(state_dir: &Path, root: &Path, online: bool, service: Option<(&str, &Path)>) -> Result<()> {
    let session = UpdateSession::open(SessionOptions::new(state_dir, root))?;
    if let Some((url, trusted_root)) = service {
        synthetic::add_service(&session, url, trusted_root)?;
    }
    let searcher = session.create_update_searcher();
    searcher.set_online(online);
    let start = Instant::now();
    let found = searcher.search("")?;
    let elapsed = start.elapsed();
    let status = fs_err::read_to_string("/proc/self/status")?;
    let hwm = status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
        .context("VmHWM in /proc/self/status")?;
    println!("SEARCH {:.6} {} {hwm}", elapsed.as_secs_f64(), found.updates.count());
    Ok(())
}

/// Runs `cmd` to its end with stdout captured; returns its wall time, its stdout and its peak
/// RSS in KiB (`ru_maxrss` from `wait4`).
fn run_child(cmd: &mut Command) -> Result<(Duration, String, u64)> {
    let start = Instant::now();
    let mut child = cmd.stdout(Stdio::piped()).spawn().with_context(|| format!("starting {cmd:?}"))?;
    let mut out = String::new();
    child.stdout.take().context("the child's stdout")?.read_to_string(&mut out)?;
    let pid = libc::pid_t::try_from(child.id())?;
    let mut status: libc::c_int = 0;
    let mut usage = std::mem::MaybeUninit::<libc::rusage>::zeroed();
    let reaped = loop {
        // SAFETY: `pid` is this process's child, not waited for yet (its `Child` handle is
        // never waited on); `status` and `usage` are valid for writes during the call.
        let r = unsafe { libc::wait4(pid, &mut status, 0, usage.as_mut_ptr()) };
        if r == -1 && std::io::Error::last_os_error().kind() == std::io::ErrorKind::Interrupted {
            continue;
        }
        break r;
    };
    let elapsed = start.elapsed();
    if reaped != pid {
        bail!("wait4 for {cmd:?}: {}", std::io::Error::last_os_error());
    }
    // SAFETY: `rusage` is plain integers, so the zeroed value is valid; wait4 filled it.
    let usage = unsafe { usage.assume_init() };
    ensure!(libc::WIFEXITED(status) && libc::WEXITSTATUS(status) == 0, "{cmd:?} failed (wait status {status:#x})");
    Ok((elapsed, out, u64::try_from(usage.ru_maxrss).unwrap_or(0)))
}
