//! The download scenario (fourth issue): the agent's downloader against `curl` for the same
//! URLs from the same loopback server, in the same run, into the same filesystem, neither side
//! syncing what it wrote (the downloader verifies length and SHA-256 as it streams; `curl`
//! checks nothing).
//!
//! - one large blob (`--size` MiB, default 1 GiB): `download()` of its update against
//!   `curl -o FILE URL`;
//! - many small blobs (`--count` of `--blob-kib` KiB, default 1,000 of 64 KiB, `--per-update`
//!   blobs per update): `download()` of their updates against `curl --parallel
//!   --parallel-max K`. The downloader fetches one blob at a time (K = 1), so the baseline with
//!   the same K is `--parallel-max 1`; curl's default parallelism (up to 50) is shown beside
//!   it.
//!
//! The repository is made with the repository API (`add_blob`, `publish_documents`), so the
//! blobs are served from `blobs/sha256/<hex>`. Each run of the downloader starts from a fresh
//! state directory (its sync is not timed); `sync` runs before every timed command.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use anyhow::{Result, ensure};
use wua_agent::wua_types::{Applicability, ContentEntry, OperationResultCode, UpdateCollection};
use wua_agent::{SessionOptions, UpdateSession};
use wua_trust::repo::{self, InitOptions};

use crate::synthetic::{self, Server};
use crate::{median, timed};

/// The scenario's knobs.
pub(crate) struct Options {
    pub(crate) size_mib: u64,
    pub(crate) count: usize,
    pub(crate) blob_kib: u64,
    pub(crate) per_update: usize,
    pub(crate) runs: usize,
    pub(crate) workdir: Option<PathBuf>,
}

/// The update id of the large blob's update; the small ones follow it.
const BIG: usize = 0;

pub(crate) fn run(o: Options) -> Result<()> {
    ensure!(o.per_update > 0, "--per-update must be at least 1");
    let (work, _tmp) = synthetic::work_dir(o.workdir.clone(), "wua-bench-download-")?;
    let dir = work.join("repo");
    let start = Instant::now();
    let (big, small) = make_repository(&dir, &o)?;
    let prepare = start.elapsed();
    let root = work.join("root");
    fs_err::create_dir_all(root.join("var/lib"))?;
    let server = Server::start(&dir.join("repository"))?;
    let blob_url = |sha: &str| format!("{}blobs/sha256/{sha}", server.url());
    let out = work.join("curl");
    fs_err::create_dir_all(&out)?;

    let mut m = Measured::default();
    for run in 0..o.runs {
        let state = work.join(format!("state-{run}"));
        let session = UpdateSession::open(SessionOptions::new(&state, &root))?;
        synthetic::add_service(&session, server.url(), &dir.join("root.json"))?;
        let found = session.create_update_searcher().search("")?.updates;
        let big_id = synthetic::update_id(BIG);
        let pick = |want_big: bool| -> UpdateCollection {
            found.iter().filter(|u| (u.identity().update_id == big_id) == want_big).cloned().collect()
        };
        let downloader = session.create_update_downloader();

        if let Some(sha) = &big {
            downloader.set_updates(pick(true));
            m.big_ours.push(timed_download(&server, &downloader, 1)?);
            let file = out.join("big");
            m.big_curl.push(timed(Command::new("curl").args(["-sS", "--fail", "-o"]).arg(&file).arg(blob_url(sha)))?);
            ensure!(synthetic::disk_size(&file) == o.size_mib << 20, "curl fetched a short file");
            fs_err::remove_file(&file)?;
        }
        if !small.is_empty() {
            downloader.set_updates(pick(false));
            m.small_ours.push(timed_download(&server, &downloader, small.len())?);
            let config = out.join("small.curl");
            let lines: String = small
                .iter()
                .map(|sha| format!("url = \"{}\"\noutput = \"{}\"\n", blob_url(sha), out.join(sha).display()))
                .collect();
            fs_err::write(&config, lines)?;
            for (k, into) in [(Some(1), &mut m.small_curl_k1), (None, &mut m.small_curl_default)] {
                let mut cmd = Command::new("curl");
                cmd.args(["-sS", "--fail", "--parallel"]);
                if let Some(k) = k {
                    cmd.args(["--parallel-max", &k.to_string()]);
                }
                into.push(timed(cmd.arg("--config").arg(&config))?);
                for sha in &small {
                    fs_err::remove_file(out.join(sha))?;
                }
            }
        }
        drop(downloader);
        drop(session);
        fs_err::remove_dir_all(&state)?;
    }
    drop(server);

    println!(
        "wua-bench download: loopback HTTP, {} runs, medians; verification on (ours), no fsync either side",
        o.runs
    );
    println!("(repository made in {:.1} s; work dir {})", prepare.as_secs_f64(), work.display());
    println!();
    println!("{:<52} {:>10} {:>10} {:>8} {:>12}", "case", "wua", "curl", "ratio", "wua rate");
    let row = |case: &str, ours: &[Duration], base: &[Duration], bytes: u64| {
        let (o, b) = (median(ours.to_vec()).as_secs_f64(), median(base.to_vec()).as_secs_f64());
        println!("{:<52} {:>9.3}s {:>9.3}s {:>7.2}x {:>7.0} MB/s", case, o, b, o / b, bytes as f64 / 1e6 / o);
    };
    if big.is_some() {
        row(&format!("one {} MiB blob vs curl -o", o.size_mib), &m.big_ours, &m.big_curl, o.size_mib << 20);
    }
    if !small.is_empty() {
        let bytes = small.len() as u64 * o.blob_kib * 1024;
        let what = format!("{} x {} KiB ({} per update)", small.len(), o.blob_kib, o.per_update);
        row(&format!("{what} vs curl K=1"), &m.small_ours, &m.small_curl_k1, bytes);
        row(&format!("{what} vs curl K=50 (default)"), &m.small_ours, &m.small_curl_default, bytes);
    }
    let all = |v: &[Duration]| v.iter().map(|d| format!("{:.3}", d.as_secs_f64())).collect::<Vec<_>>().join(" ");
    println!();
    println!("runs (s): big wua [{}] curl [{}]", all(&m.big_ours), all(&m.big_curl));
    println!(
        "runs (s): small wua [{}] curl K=1 [{}] curl default [{}]",
        all(&m.small_ours),
        all(&m.small_curl_k1),
        all(&m.small_curl_default)
    );
    println!("target: at most 1.11x curl for the same bytes (our transfers run one at a time: K = 1)");
    Ok(())
}

#[derive(Default)]
struct Measured {
    big_ours: Vec<Duration>,
    big_curl: Vec<Duration>,
    small_ours: Vec<Duration>,
    small_curl_k1: Vec<Duration>,
    small_curl_default: Vec<Duration>,
}

/// `download()` of the downloader's updates, timed after a `sync`; every update must succeed
/// and the server must have been asked for `blobs` blobs.
fn timed_download(server: &Server, downloader: &wua_agent::UpdateDownloader, blobs: usize) -> Result<Duration> {
    crate::sync()?;
    let mark = server.mark();
    let start = Instant::now();
    let result = downloader.download()?;
    let elapsed = start.elapsed();
    ensure!(result.result_code == OperationResultCode::Succeeded, "the download failed: {result:?}");
    let asked = server.since(mark);
    ensure!(asked.requests == blobs, "the downloader made {} requests for {blobs} blobs", asked.requests);
    Ok(elapsed)
}

/// The repository: the large blob's update (if any) and the small blobs' updates, published in
/// one signed change. Returns the large blob's SHA-256 and the small blobs'.
fn make_repository(dir: &Path, o: &Options) -> Result<(Option<String>, Vec<String>)> {
    let rt = tokio::runtime::Runtime::new()?;
    rt.block_on(repo::init(dir, &InitOptions::default()))?;
    let mut documents = Vec::new();
    let entry = |blob: &(String, u64), path: String| ContentEntry {
        sha256: blob.0.clone(),
        size: blob.1,
        path,
        mode: 0o644,
        uid: None,
        gid: None,
        link_target: None,
    };
    let plain = |i: usize, content: Vec<ContentEntry>| {
        let mut d = synthetic::document(i, 1, &(String::new(), 0), 100);
        d.applicability = Applicability::default();
        d.content = content;
        d
    };
    let big = if o.size_mib > 0 {
        let blob = repo::add_blob(dir, &pseudo_random(o.size_mib << 20, 1))?;
        documents.push(plain(BIG, vec![entry(&blob, "opt/big/file".into())]));
        Some(blob.0)
    } else {
        None
    };
    let mut small = Vec::with_capacity(o.count);
    for b in 0..o.count {
        small.push(repo::add_blob(dir, &pseudo_random(o.blob_kib * 1024, 2 + b as u64))?);
    }
    for (k, chunk) in small.chunks(o.per_update).enumerate() {
        let content = chunk.iter().enumerate().map(|(j, blob)| entry(blob, format!("opt/small/{k}/{j}"))).collect();
        documents.push(plain(BIG + 1 + k, content));
    }
    rt.block_on(repo::publish_documents(dir, documents))?;
    Ok((big, small.into_iter().map(|(sha, _)| sha).collect()))
}

/// `len` bytes that do not compress, from `seed` (xorshift64*).
fn pseudo_random(len: u64, seed: u64) -> Vec<u8> {
    let mut state = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    let mut out = Vec::with_capacity(len as usize + 8);
    while (out.len() as u64) < len {
        state ^= state >> 12;
        state ^= state << 25;
        state ^= state >> 27;
        out.extend_from_slice(&state.wrapping_mul(0x2545_F491_4F6C_DD1D).to_le_bytes());
    }
    out.truncate(len as usize);
    out
}
