//! The repository scenario (third issue): a synthetic repository of many updates is published
//! and verified; then a share of the updates gets a new revision and the refresh cost is
//! compared with a cold sync (target: at most 2% of the bytes).

use std::path::Path;
use std::time::Instant;

use anyhow::Result;
use wua_trust::repo::{self, InitOptions};
use wua_trust::verify::{self, Source};

pub(crate) fn run(updates: usize, change_percent: f64, workdir: Option<std::path::PathBuf>) -> Result<()> {
    let rt = tokio::runtime::Runtime::new()?;
    rt.block_on(run_async(updates, change_percent, workdir))
}

fn dir_size(dir: &Path) -> u64 {
    std::fs::read_dir(dir)
        .map(|d| d.filter_map(|e| e.ok()?.metadata().ok()).filter(|m| m.is_file()).map(|m| m.len()).sum())
        .unwrap_or(0)
}

async fn run_async(updates: usize, change_percent: f64, workdir: Option<std::path::PathBuf>) -> Result<()> {
    let tmp;
    let work = match workdir {
        Some(w) => w,
        None => {
            tmp = tempfile::Builder::new().prefix("wua-bench-repo-").tempdir_in("/var/tmp")?;
            tmp.path().to_path_buf()
        }
    };
    let dir = work.join("repo");
    repo::init(&dir, &InitOptions::default()).await?;
    let blob = repo::add_blob(&dir, b"synthetic content\n")?;

    let start = Instant::now();
    repo::publish_documents(&dir, (0..updates).map(|i| crate::synthetic::plain_document(i, 1, &blob)).collect())
        .await?;
    let publish = start.elapsed();

    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
    tokio::spawn(wua_trust::serve(listener, dir.join("repository")));
    let source = Source::parse(&format!("http://{addr}/"))?;
    let root = std::fs::read(dir.join("root.json"))?;
    let state = work.join("state");

    let start = Instant::now();
    let cold = verify::refresh(&root, &state, &source).await?;
    let cold_time = start.elapsed();
    anyhow::ensure!(
        cold.catalog().documents.len() == updates,
        "the cold refresh saw {}",
        cold.catalog().documents.len()
    );

    let changed = ((updates as f64) * change_percent / 100.0).round() as usize;
    repo::publish_documents(&dir, (0..changed).map(|i| crate::synthetic::plain_document(i, 2, &blob)).collect())
        .await?;
    let start = Instant::now();
    let warm = verify::refresh(&root, &state, &source).await?;
    let warm_time = start.elapsed();
    anyhow::ensure!(warm.catalog().documents.len() == updates + changed, "the warm refresh saw the change");

    let metadata = dir.join("repository/metadata");
    let newest = |role: &str| {
        std::fs::read_dir(&metadata)
            .ok()
            .into_iter()
            .flatten()
            .filter_map(|e| e.ok())
            .filter(|e| e.file_name().to_string_lossy().ends_with(&format!(".{role}.json")))
            .filter_map(|e| e.metadata().ok().map(|m| (e.file_name(), m.len())))
            .max()
            .map(|(_, len)| len)
            .unwrap_or(0)
    };
    let packs = std::fs::read_dir(dir.join("catalog"))?
        .filter_map(|e| e.ok())
        .filter(|e| e.file_name().to_string_lossy().starts_with("pack-"))
        .count();
    println!("wua-bench repo: {updates} updates, {change_percent}% revised ({changed}), loopback HTTP");
    println!();
    println!("{:<52} {:>14}", "measurement", "value");
    println!("{:<52} {:>12.2} s", "publish (one signed change)", publish.as_secs_f64());
    println!("{:<52} {:>14}", "catalog packs", packs);
    println!("{:<52} {:>12} B", "pack bytes (working copies)", dir_size(&dir.join("catalog")));
    println!("{:<52} {:>12} B", "targets metadata (newest)", newest("targets"));
    println!("{:<52} {:>12} B", "snapshot metadata (newest)", newest("snapshot"));
    println!("{:<52} {:>12.2} s", "cold refresh (verify everything)", cold_time.as_secs_f64());
    println!("{:<52} {:>12} B", "cold refresh: bytes fetched", cold.bytes_fetched);
    println!("{:<52} {:>12.2} s", "refresh after the change", warm_time.as_secs_f64());
    println!("{:<52} {:>12} B", "refresh after the change: bytes fetched", warm.bytes_fetched);
    println!(
        "{:<52} {:>13.2}%",
        "change refresh / cold sync (target at most 2%)",
        100.0 * warm.bytes_fetched as f64 / cold.bytes_fetched.max(1) as f64
    );
    Ok(())
}
