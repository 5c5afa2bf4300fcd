//! Hostile and damaged package files: declared sizes are checked before a byte is written,
//! every cut is a truncation, and a file that is not a package says so without quoting it.

use std::path::{Path, PathBuf};

use wua_package::{Compression, OpenLimits, PackageError, build_package, open_package};
use wua_test_support::{oversized_zstd_package, tree_bytes};
use wua_types::HResult;

fn staging_in(dir: &Path) -> PathBuf {
    let s = dir.join("staging");
    std::fs::create_dir_all(&s).unwrap();
    s
}

fn open(pkg: &Path, staging: &Path, limits: &OpenLimits) -> Result<(), PackageError> {
    open_package(pkg, staging, &|_| false, limits).map(drop)
}

/// Bytes this thread has written with write(2) and friends so far (the kernel's per-thread
/// I/O accounting; `open_package` runs on the calling thread).
fn written_by_this_thread() -> u64 {
    let io = std::fs::read_to_string("/proc/thread-self/io").unwrap();
    io.lines().find_map(|l| l.strip_prefix("wchar: ")).unwrap().trim().parse().unwrap()
}

/// Opens `pkg`, returning its error and how many bytes the attempt wrote.
fn refused(pkg: &Path, staging: &Path, limits: &OpenLimits) -> (PackageError, u64) {
    let before = written_by_this_thread();
    let e = open(pkg, staging, limits).expect_err("the package opened");
    (e, written_by_this_thread() - before)
}

/// Item 13: a 64 KiB zstd package made the agent write about 2 GiB before refusing it. The
/// declared sizes are now checked against the cap and the free space first.
#[test]
fn declared_sizes_are_checked_before_anything_is_written() {
    let dir = tempfile::tempdir().unwrap();
    let staging = staging_in(dir.path());
    let pkg = dir.path().join("huge.wuapkg");
    // 1 PiB declared; the blob's header is followed by 8 MiB of zeros (a few hundred bytes
    // compressed), so an unchecked reader writes 8 MiB before it notices anything.
    let declared = 1u64 << 50;
    oversized_zstd_package(&pkg, declared, 8 << 20).unwrap();
    assert!(std::fs::metadata(&pkg).unwrap().len() < 64 * 1024);

    // Over the default cap.
    let (e, wrote) = refused(&pkg, &staging, &OpenLimits::default());
    let t = e.to_string();
    assert_eq!(e.hresult(), HResult::WUA_E_PACKAGE_TOO_LARGE, "{t}");
    assert!(t.contains(&declared.to_string()), "names the declared size: {t}");
    assert!(t.contains(&OpenLimits::DEFAULT_MAX_TOTAL_BYTES.to_string()), "names the cap: {t}");
    assert!(wrote < 1 << 20, "wrote {wrote} bytes before refusing: {t}");
    assert!(tree_bytes(&staging) < 1 << 20);

    // Without a cap, the free space refuses it.
    let (e, wrote) = refused(&pkg, &staging, &OpenLimits { max_total_bytes: u64::MAX });
    let t = e.to_string();
    assert_eq!(e.hresult(), HResult::WUA_E_PACKAGE_TOO_LARGE, "{t}");
    assert!(t.contains(&declared.to_string()) && t.contains("free"), "names declared and free: {t}");
    assert!(wrote < 1 << 20, "wrote {wrote} bytes before refusing: {t}");

    // A configured cap: 4 MiB declared (and present) against 1 MiB allowed.
    let pkg = dir.path().join("four.wuapkg");
    oversized_zstd_package(&pkg, 4 << 20, 4 << 20).unwrap();
    let (e, wrote) = refused(&pkg, &staging, &OpenLimits { max_total_bytes: 1 << 20 });
    let t = e.to_string();
    assert_eq!(e.hresult(), HResult::WUA_E_PACKAGE_TOO_LARGE, "{t}");
    assert!(t.contains(&(4u64 << 20).to_string()) && t.contains(&(1u64 << 20).to_string()), "{t}");
    assert!(wrote < 1 << 20, "wrote {wrote} bytes before refusing: {t}");
    assert_eq!(tree_bytes(&staging), 0);
}

fn small_package(dir: &Path, compression: Compression) -> PathBuf {
    let payload = dir.join("payload");
    wua_test_support::write_payload(
        &payload,
        &[("etc/a.conf", 0o644, &[b'a'; 700]), ("usr/bin/b", 0o755, &[b'b'; 1300]), ("etc/empty", 0o644, b"")],
    )
    .unwrap();
    let manifest = dir.join("m.toml");
    std::fs::write(&manifest, wua_test_support::files_manifest(&wua_test_support::test_id(3), 1, "cut", "", ""))
        .unwrap();
    let out = dir.join(format!("{compression:?}.wuapkg"));
    build_package(&manifest, &payload, &out, compression).unwrap();
    out
}

/// Item 13: a package cut inside a tar header was `WU_E_INVALID_FILE` ("failed to read entire
/// block"). Every cut is now a truncation; the empty file is not a package at all.
#[test]
fn every_cut_is_a_truncation() {
    for compression in [Compression::None, Compression::Zstd] {
        let dir = tempfile::tempdir().unwrap();
        let staging = staging_in(dir.path());
        let pkg = small_package(dir.path(), compression);
        let bytes = std::fs::read(&pkg).unwrap();
        open(&pkg, &staging, &OpenLimits::default()).unwrap();
        let cut_path = dir.path().join("cut.wuapkg");
        let mut wrong = Vec::new();
        for cut in 0..bytes.len() {
            std::fs::write(&cut_path, &bytes[..cut]).unwrap();
            let want = if cut == 0 { HResult::WUA_E_PACKAGE_MALFORMED } else { HResult::WUA_E_PACKAGE_TRUNCATED };
            match open(&cut_path, &staging, &OpenLimits::default()) {
                Ok(()) => wrong.push(format!("cut at {cut}: opened")),
                Err(e) if e.hresult() != want => wrong.push(format!("cut at {cut}: {} {e}", e.hresult().name_or_hex())),
                Err(_) => {}
            }
        }
        assert!(
            wrong.is_empty(),
            "{compression:?}, {} bytes: {} of the cuts are wrong, among them:\n{}",
            bytes.len(),
            wrong.len(),
            wrong.iter().step_by(wrong.len().div_ceil(8).max(1)).cloned().collect::<Vec<_>>().join("\n")
        );
        assert_eq!(std::fs::read_dir(&staging).unwrap().count(), 0, "nothing stays staged");
    }
}

/// Deterministic pseudo-random bytes (xorshift64*).
fn noise(len: usize, seed: u64, alphabet: Option<&[u8]>) -> Vec<u8> {
    let mut x = seed;
    (0..len)
        .map(|_| {
            x ^= x >> 12;
            x ^= x << 25;
            x ^= x >> 27;
            let r = x.wrapping_mul(0x2545_F491_4F6C_DD1D) >> 56;
            match alphabet {
                Some(a) => a[r as usize % a.len()],
                None => r as u8,
            }
        })
        .collect()
}

const PASSWD: &str = "root:x:0:0:root:/root:/bin/bash\ndaemon:x:1:1:daemon:/usr/sbin:/usr/sbin/nologin\n";

/// Item 13: a file that is not a wua package says "not a wua package" (not a tar error, and
/// never the file's own bytes).
#[test]
fn a_file_that_is_not_a_package_says_so_without_quoting_it() {
    let dir = tempfile::tempdir().unwrap();
    let staging = staging_in(dir.path());
    let alnum = b"abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789";
    let long_passwd = PASSWD.repeat(20);
    let mut cases: Vec<(PathBuf, Vec<u8>)> = Vec::new();
    for (name, bytes) in [
        ("random", noise(4096, 7, None)),
        ("random-short", noise(100, 11, None)),
        ("random-text", noise(4096, 13, Some(alnum))),
        ("passwd-short", PASSWD.as_bytes().to_vec()),
        ("passwd-long", long_passwd.as_bytes().to_vec()),
        ("zeros", vec![0u8; 10240]),
        ("passwd.zst", zstd::encode_all(long_passwd.as_bytes(), 3).unwrap()),
        ("text.zst", zstd::encode_all(&noise(300, 17, Some(alnum))[..], 3).unwrap()),
        ("zstd-garbage", [&[0x28, 0xB5, 0x2F, 0xFD][..], &noise(600, 19, None)].concat()),
    ] {
        let p = dir.path().join(name);
        std::fs::write(&p, &bytes).unwrap();
        cases.push((p, bytes));
    }
    if let Ok(bytes) = std::fs::read("/etc/passwd") {
        cases.push(("/etc/passwd".into(), bytes));
    }
    for (path, bytes) in &cases {
        let e = open(path, &staging, &OpenLimits::default()).expect_err("not a package");
        let t = e.to_string();
        assert_eq!(e.hresult(), HResult::WUA_E_PACKAGE_MALFORMED, "{t}");
        assert!(t.contains("not a wua package"), "{t}");
        assert!(!t.contains("root:"), "quotes the file: {t}");
        // None of the first 16 bytes (or, for zstd, of the text inside) appear as text.
        let head = if path.extension().is_some_and(|x| x == "zst") {
            zstd::decode_all(&bytes[..]).unwrap()
        } else {
            bytes.clone()
        };
        for w in head[..16.min(head.len())].windows(4) {
            if let Ok(s) = std::str::from_utf8(w) {
                assert!(!t.contains(s), "{}: quotes the file's bytes {s:?}: {t}", path.display());
            }
        }
    }
    let empty = dir.path().join("empty");
    std::fs::write(&empty, b"").unwrap();
    let e = open(&empty, &staging, &OpenLimits::default()).unwrap_err();
    assert_eq!(e.hresult(), HResult::WUA_E_PACKAGE_MALFORMED, "{e}");
    assert!(e.to_string().contains("not a wua package") && e.to_string().contains("empty"), "{e}");
    assert_eq!(std::fs::read_dir(&staging).unwrap().count(), 0);
}

/// tar's extension entries (PAX, GNU long names) are read into memory whole by the tar
/// library; a package never has them, so one is refused by its header, before its data is read.
#[test]
fn extension_entries_are_refused_before_their_data_is_read() {
    use std::io::Write;
    let dir = tempfile::tempdir().unwrap();
    let staging = staging_in(dir.path());
    let document = serde_json::json!({
        "schema_version": 1, "update_id": wua_test_support::test_id(5), "revision_number": 1, "title": "pax",
        "handler": { "kind": "files" }, "content": [],
    });
    let json = serde_json::to_vec(&document).unwrap();
    let header = |name: &str, size: u64, kind: tar::EntryType| {
        let mut h = tar::Header::new_ustar();
        h.set_path(name).unwrap();
        h.set_size(size);
        h.set_mode(0o644);
        h.set_entry_type(kind);
        h.set_cksum();
        h
    };
    let pkg = dir.path().join("pax.wuapkg");
    let mut z = zstd::Encoder::new(std::fs::File::create(&pkg).unwrap(), 3).unwrap();
    z.write_all(header("update.json", json.len() as u64, tar::EntryType::Regular).as_bytes()).unwrap();
    z.write_all(&json).unwrap();
    z.write_all(&vec![0u8; json.len().next_multiple_of(512) - json.len()]).unwrap();
    // A PAX header declaring 1 PiB, followed by 8 MiB of its "data".
    z.write_all(header("pax", 1 << 50, tar::EntryType::XHeader).as_bytes()).unwrap();
    for _ in 0..8 {
        z.write_all(&vec![b'x'; 1 << 20]).unwrap();
    }
    z.finish().unwrap();
    let e = open(&pkg, &staging, &OpenLimits::default()).unwrap_err();
    assert_eq!(e.hresult(), HResult::WUA_E_PACKAGE_MALFORMED, "{e}");
    assert!(e.to_string().contains("not a regular file"), "{e}");
}
