//! The install scenario (first issue): a `files` update of many small files and one of a single
//! large file.
//!
//! - end to end: `wua install-package` (import + install) against `dpkg -i` of a `.deb` with
//!   the same files, into a sandbox root (`dpkg --root`);
//! - from the cache: `wua install` of an imported update against `cp -a` + `sync`;
//! - the import (`wua package import`) alone, so the large case shows where its time goes.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use anyhow::{Context, Result};

use crate::{median, sync, timed, wua_binary};

struct Case {
    name: String,
    payload: PathBuf,
    package: PathBuf,
    deb: PathBuf,
    update_id: String,
}

pub(crate) fn run(files: usize, big_mb: u64, runs: usize, workdir: Option<PathBuf>) -> Result<()> {
    let wua = wua_binary()?;
    let tmp;
    let work = match workdir {
        Some(w) => {
            fs_err::create_dir_all(&w)?;
            w
        }
        None => {
            tmp = tempfile::Builder::new().prefix("wua-bench-").tempdir_in("/var/tmp")?;
            tmp.path().to_path_buf()
        }
    };
    let mut cases = Vec::new();
    if files > 0 {
        cases.push(prepare(&wua, &work, &format!("{files} small files"), "small", |dir| small_files(dir, files))?);
    }
    if big_mb > 0 {
        cases.push(prepare(&wua, &work, &format!("one {big_mb} MiB file"), "big", |dir| big_file(dir, big_mb))?);
    }
    println!("wua-bench install: {runs} runs each, medians, wall time (work dir {})", work.display());
    println!();
    println!("{:<22} {:<34} {:>10} {:>10} {:>8}", "case", "measurement", "wua", "baseline", "ratio");
    for case in &cases {
        let m = measure(&wua, &work, case, runs)?;
        let row = |what: &str, ours: Duration, base: Option<Duration>| {
            let (b, r) = match base {
                Some(b) => {
                    (format!("{:.3}s", b.as_secs_f64()), format!("{:.2}x", ours.as_secs_f64() / b.as_secs_f64()))
                }
                None => ("-".into(), "-".into()),
            };
            println!("{:<22} {:<34} {:>10} {:>10} {:>8}", case.name, what, format!("{:.3}s", ours.as_secs_f64()), b, r);
        };
        row("end to end vs dpkg -i", m.end_to_end, Some(m.dpkg));
        row("install from cache vs cp -a + sync", m.from_cache, Some(m.cp_sync));
        row("import alone", m.import, None);
    }
    println!();
    println!("ratio = wua / baseline (below 1 is faster). Targets: end to end faster than dpkg -i;");
    println!("from the cache within 1.5x of cp -a + sync.");
    Ok(())
}

struct Measured {
    end_to_end: Duration,
    dpkg: Duration,
    from_cache: Duration,
    cp_sync: Duration,
    import: Duration,
}

fn measure(wua: &Path, work: &Path, case: &Case, runs: usize) -> Result<Measured> {
    let mut e2e = Vec::new();
    let mut dpkg = Vec::new();
    let mut cache = Vec::new();
    let mut cp = Vec::new();
    let mut import = Vec::new();
    for run in 0..runs {
        let base = work.join(format!("run-{run}"));
        // wua end to end: import + install into a fresh root and state directory.
        let (state, root) = fresh(&base.join("e2e"))?;
        e2e.push(timed(wua_cmd(wua, &state, &root).arg("install-package").arg(&case.package))?);
        // dpkg -i of the same files into a sandbox root.
        let droot = base.join("dpkg");
        for d in ["var/lib/dpkg/info", "var/lib/dpkg/updates"] {
            fs_err::create_dir_all(droot.join(d))?;
        }
        fs_err::write(droot.join("var/lib/dpkg/status"), "")?;
        fs_err::write(droot.join("var/lib/dpkg/available"), "")?;
        let mut d = Command::new("dpkg");
        d.arg(format!("--root={}", droot.display())).args(["--log=/dev/null", "-i"]).arg(&case.deb);
        dpkg.push(timed(&mut d)?);
        // Import alone, then install from the cache (the import's write-back is flushed first).
        let (state, root) = fresh(&base.join("cache"))?;
        import.push(timed(wua_cmd(wua, &state, &root).args(["package", "import"]).arg(&case.package))?);
        cache.push(timed(wua_cmd(wua, &state, &root).args(["install", "--update-id", &case.update_id]))?);
        // cp -a + sync of the payload.
        let croot = base.join("cp");
        fs_err::create_dir_all(&croot)?;
        let script = format!("cp -a '{}/.' '{}/' && sync", case.payload.display(), croot.display());
        cp.push(timed(Command::new("sh").arg("-c").arg(script))?);
        fs_err::remove_dir_all(&base)?;
    }
    sync()?;
    Ok(Measured {
        end_to_end: median(e2e),
        dpkg: median(dpkg),
        from_cache: median(cache),
        cp_sync: median(cp),
        import: median(import),
    })
}

fn wua_cmd(wua: &Path, state: &Path, root: &Path) -> Command {
    let mut c = Command::new(wua);
    c.arg("--state-dir").arg(state).arg("--root").arg(root);
    c
}

fn fresh(dir: &Path) -> Result<(PathBuf, PathBuf)> {
    let (state, root) = (dir.join("state"), dir.join("root"));
    fs_err::create_dir_all(&state)?;
    fs_err::create_dir_all(root.join("var/lib"))?;
    Ok((state, root))
}

/// Builds the payload, the wua package and the `.deb` of one case.
fn prepare(wua: &Path, work: &Path, name: &str, slug: &str, fill: impl Fn(&Path) -> Result<()>) -> Result<Case> {
    let dir = work.join(slug);
    let payload = dir.join("payload");
    fill(&payload)?;
    let update_id =
        if slug == "small" { "b0000000-0000-4000-8000-000000000001" } else { "b0000000-0000-4000-8000-000000000002" };
    let manifest = dir.join("manifest.toml");
    fs_err::write(
        &manifest,
        format!("[update]\nid = \"{update_id}\"\ntitle = \"bench {slug}\"\n\n[handler]\nkind = \"files\"\n"),
    )?;
    let package = dir.join(format!("{slug}.wuapkg"));
    let out = Command::new(wua)
        .args(["package", "build"])
        .arg(&manifest)
        .arg("--payload")
        .arg(&payload)
        .arg("-o")
        .arg(&package)
        .output()?;
    anyhow::ensure!(out.status.success(), "package build: {}", String::from_utf8_lossy(&out.stderr));
    // The .deb: the payload plus a control file, uncompressed like the wua package.
    let deb_tree = dir.join("deb");
    fs_err::create_dir_all(deb_tree.join("DEBIAN"))?;
    fs_err::write(
        deb_tree.join("DEBIAN/control"),
        format!(
            "Package: wua-bench-{slug}\nVersion: 1.0\nArchitecture: all\nMaintainer: wua <wua@example.invalid>\nDescription: wua benchmark payload\n"
        ),
    )?;
    let cp = Command::new("cp").arg("-a").arg(format!("{}/.", payload.display())).arg(&deb_tree).status()?;
    anyhow::ensure!(cp.success(), "copying the payload into the deb tree");
    let deb = dir.join(format!("{slug}.deb"));
    let out = Command::new("dpkg-deb")
        .args(["-Znone", "--root-owner-group", "--build"])
        .arg(&deb_tree)
        .arg(&deb)
        .output()
        .context("dpkg-deb")?;
    anyhow::ensure!(out.status.success(), "dpkg-deb: {}", String::from_utf8_lossy(&out.stderr));
    fs_err::remove_dir_all(&deb_tree)?;
    Ok(Case { name: name.into(), payload, package, deb, update_id: update_id.into() })
}

/// Deterministic bytes (xorshift), so no case compresses or deduplicates away.
fn fill_bytes(seed: u64, buf: &mut [u8]) {
    let mut x = seed | 1;
    for chunk in buf.chunks_mut(8) {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        let b = x.to_le_bytes();
        chunk.copy_from_slice(&b[..chunk.len()]);
    }
}

fn small_files(dir: &Path, n: usize) -> Result<()> {
    let mut buf = vec![0u8; 4096];
    for i in 0..n {
        let sub = dir.join(format!("usr/share/wua-bench/d{:03}", i % 100));
        if i < 100 {
            fs_err::create_dir_all(&sub)?;
        }
        let size = 512 + (i * 1237) % 3584;
        fill_bytes(i as u64 + 1, &mut buf[..size]);
        fs_err::write(sub.join(format!("f{i:05}")), &buf[..size])?;
    }
    Ok(())
}

fn big_file(dir: &Path, mb: u64) -> Result<()> {
    use std::io::Write;
    let path = dir.join("opt/wua-bench/big.bin");
    fs_err::create_dir_all(path.parent().context("parent")?)?;
    let mut f = std::io::BufWriter::with_capacity(1 << 20, fs_err::File::create(&path)?);
    let mut buf = vec![0u8; 1 << 20];
    for i in 0..mb {
        fill_bytes(i + 7, &mut buf);
        f.write_all(&buf)?;
    }
    f.flush()?;
    Ok(())
}
