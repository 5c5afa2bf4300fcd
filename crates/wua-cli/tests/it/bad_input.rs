//! Bad input: each case gets a clear error naming the problem, exit code 2, and changes
//! nothing on disk (root, cache, recorded updates).

use std::path::Path;

use serde_json::json;

use crate::support::*;

/// Everything an import could change: the root, the cache and the recorded documents.
fn fingerprint(w: &World) -> (String, usize, usize) {
    let root = format!("{:?}", snapshot(&w.root, &[]).unwrap());
    let cache = w.state.join("cache/sha256");
    let blobs = std::fs::read_dir(&cache).map(|d| d.count()).unwrap_or(0);
    let docs = {
        let o = run(wua(&w.state, &w.root).args(["--json", "status"]));
        json(&o)["updates"].as_array().map(|a| a.len()).unwrap_or(0)
    };
    (root, blobs, docs)
}

fn refused(w: &World, pkg: &Path, code: &str, needle: &str) {
    let before = fingerprint(w);
    let o = run(wua(&w.state, &w.root).arg("install-package").arg(pkg));
    let t = text(&o);
    assert_eq!(o.status.code(), Some(2), "{t}");
    assert!(t.contains(code), "expected {code}: {t}");
    assert!(t.contains(needle), "expected the message to name {needle:?}: {t}");
    assert_eq!(fingerprint(w), before, "{code}: something changed on disk");
}

fn doc(paths: &[(&str, &[u8])]) -> (serde_json::Value, Vec<(String, Vec<u8>)>) {
    let content: Vec<_> = paths
        .iter()
        .map(|(p, b)| json!({ "sha256": sha256_hex(b), "size": b.len(), "path": p, "mode": "0644" }))
        .collect();
    let d = json!({
        "schema_version": 1, "update_id": test_id(7), "revision_number": 1, "title": "hostile",
        "handler": { "kind": "files" }, "content": content,
    });
    let mut blobs: Vec<(String, Vec<u8>)> = paths.iter().map(|(_, b)| (sha256_hex(b), b.to_vec())).collect();
    blobs.sort();
    blobs.dedup();
    (d, blobs)
}

fn write_raw(w: &World, name: &str, d: &serde_json::Value, blobs: &[(String, Vec<u8>)]) -> std::path::PathBuf {
    let p = w.work.join(name);
    let b: Vec<(&str, &[u8])> = blobs.iter().map(|(n, b)| (n.as_str(), b.as_slice())).collect();
    raw_package(&p, d, &b).unwrap();
    p
}

fn good_package(w: &World, zstd: bool) -> std::path::PathBuf {
    let payload = w.work.join("payload");
    wua_test_support::write_payload(&payload, &[("etc/a", 0o644, &[7u8; 5000]), ("etc/b", 0o644, &[9u8; 3000])])
        .unwrap();
    let manifest = w.work.join("m.toml");
    std::fs::write(&manifest, files_manifest(&test_id(1), 1, "good", "", "")).unwrap();
    let out = w.work.join(if zstd { "good.zst.wuapkg" } else { "good.wuapkg" });
    let mut cmd = wua(&w.state, &w.root);
    cmd.args(["package", "build"]).arg(&manifest).arg("--payload").arg(&payload).arg("-o").arg(&out);
    if zstd {
        cmd.arg("--zstd");
    }
    let o = run(&mut cmd);
    assert!(o.status.success(), "{}", text(&o));
    out
}

#[test]
fn truncated_packages() {
    let w = World::new().unwrap();
    for zstd in [false, true] {
        let good = good_package(&w, zstd);
        let bytes = std::fs::read(&good).unwrap();
        for cut in [bytes.len() / 4, bytes.len() / 2, bytes.len() - 1] {
            let p = w.work.join("cut.wuapkg");
            std::fs::write(&p, &bytes[..cut]).unwrap();
            let o = run(wua(&w.state, &w.root).arg("install-package").arg(&p));
            let t = text(&o);
            assert_eq!(o.status.code(), Some(2), "cut at {cut} (zstd {zstd}): {t}");
            assert!(
                t.contains("WUA_E_PACKAGE_TRUNCATED") || t.contains("WUA_E_PACKAGE_MALFORMED"),
                "cut at {cut}: {t}"
            );
        }
    }
    // Cut exactly at an entry boundary: only the end-of-archive blocks are missing.
    let good = good_package(&w, false);
    let bytes = std::fs::read(&good).unwrap();
    let end = bytes.len() - bytes.iter().rev().take_while(|b| **b == 0).count();
    let boundary = end.div_ceil(512) * 512;
    let p = w.work.join("boundary.wuapkg");
    std::fs::write(&p, &bytes[..boundary]).unwrap();
    refused(&w, &p, "WUA_E_PACKAGE_TRUNCATED", "end-of-archive");
    // An empty file is no package at all (item 13: "truncated" or "not a wua package").
    std::fs::write(&p, b"").unwrap();
    refused(&w, &p, "WUA_E_PACKAGE_MALFORMED", "empty");
}

/// Item 13: a 64 KiB zstd package made the agent write about 2 GiB into the state directory
/// before refusing it. Declared sizes are checked against the cap and the free space first.
#[test]
fn oversized_package_is_refused_before_writing() {
    let w = World::new().unwrap();
    let p = w.work.join("huge.wuapkg");
    let declared = 1u64 << 50;
    oversized_zstd_package(&p, declared, 8 << 20).unwrap();
    refused(&w, &p, "WUA_E_PACKAGE_TOO_LARGE", &declared.to_string());
    assert!(tree_bytes(&w.state.join("cache")) < 1 << 20);
}

/// Item 13: a file that is not a package says so, and never quotes its bytes.
#[test]
fn not_a_package_is_named_as_such_without_its_bytes() {
    let w = World::new().unwrap();
    let passwd = w.work.join("passwd");
    std::fs::write(&passwd, "root:x:0:0:root:/root:/bin/bash\n".repeat(30)).unwrap();
    let mut files = vec![passwd];
    if Path::new("/etc/passwd").exists() {
        files.push("/etc/passwd".into());
    }
    for f in &files {
        refused(&w, f, "WUA_E_PACKAGE_MALFORMED", "not a wua package");
        let t = text(&run(wua(&w.state, &w.root).arg("install-package").arg(f)));
        assert!(!t.contains("root:"), "quotes the file: {t}");
    }
}

#[test]
fn path_traversal_and_conflicts() {
    let w = World::new().unwrap();
    type Case<'a> = (&'a [(&'a str, &'a [u8])], &'a str, &'a str);
    let cases: &[Case<'_>] = &[
        (&[("../escape", b"x")], "WUA_E_PACKAGE_UNSAFE_PATH", "'..'"),
        (&[("etc/../../escape", b"x")], "WUA_E_PACKAGE_UNSAFE_PATH", "'..'"),
        (&[("/etc/passwd", b"x")], "WUA_E_PACKAGE_UNSAFE_PATH", "absolute"),
        (&[("var/lib/wua/wua.db", b"x")], "WUA_E_PACKAGE_UNSAFE_PATH", "reserved"),
        (&[("etc/a", b"x"), ("etc/a", b"y")], "WUA_E_PACKAGE_DUPLICATE_PATH", "etc/a"),
        (&[("etc/a", b"x"), ("etc/a/b", b"y")], "WUA_E_PACKAGE_PATH_CONFLICT", "etc/a/b"),
    ];
    for (n, (paths, code, needle)) in cases.iter().enumerate() {
        let (d, blobs) = doc(paths);
        let p = write_raw(&w, &format!("t{n}.wuapkg"), &d, &blobs);
        refused(&w, &p, code, needle);
    }
}

#[test]
fn hash_size_and_blob_mismatches() {
    let w = World::new().unwrap();
    let (d, blobs) = doc(&[("etc/a", b"real bytes")]);
    let sha = blobs[0].0.clone();
    let p = write_raw(&w, "swapped.wuapkg", &d, &[(sha.clone(), b"fake bytes".to_vec())]);
    refused(&w, &p, "WUA_E_PACKAGE_HASH_MISMATCH", &sha);
    let p = write_raw(&w, "longer.wuapkg", &d, &[(sha.clone(), b"real bytes and more".to_vec())]);
    refused(&w, &p, "WUA_E_PACKAGE_HASH_MISMATCH", "bytes");
    let p = write_raw(&w, "missing.wuapkg", &d, &[]);
    refused(&w, &p, "WUA_E_PACKAGE_MISSING_BLOB", &sha);
    let extra = (sha256_hex(b"other"), b"other".to_vec());
    let p = write_raw(&w, "extra.wuapkg", &d, &[blobs[0].clone(), extra]);
    refused(&w, &p, "WUA_E_PACKAGE_MALFORMED", "not listed");
    let mut bad = d.clone();
    bad["update_id"] = json!("not-a-uuid");
    let p = write_raw(&w, "id.wuapkg", &bad, &blobs);
    refused(&w, &p, "WUA_E_DOCUMENT_INVALID", "not-a-uuid");
    let p = w.work.join("garbage.wuapkg");
    std::fs::write(&p, vec![b'x'; 4096]).unwrap();
    let o = run(wua(&w.state, &w.root).arg("install-package").arg(&p));
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
}

#[test]
fn manifest_missing_fields() {
    let w = World::new().unwrap();
    let payload = w.work.join("p");
    wua_test_support::write_payload(&payload, &[("a", 0o644, b"a")]).unwrap();
    for (name, text_) in [
        ("no-title", format!("[update]\nid = \"{}\"\n\n[handler]\nkind = \"files\"\n", test_id(1))),
        ("no-handler", format!("[update]\nid = \"{}\"\ntitle = \"t\"\n", test_id(1))),
        ("bad-id", "[update]\nid = \"1234\"\ntitle = \"t\"\n\n[handler]\nkind = \"files\"\n".to_owned()),
    ] {
        let m = w.work.join(format!("{name}.toml"));
        std::fs::write(&m, text_).unwrap();
        let out = w.work.join(format!("{name}.wuapkg"));
        let o = run(wua(&w.state, &w.root)
            .args(["package", "build"])
            .arg(&m)
            .arg("--payload")
            .arg(&payload)
            .arg("-o")
            .arg(&out));
        let t = text(&o);
        assert_eq!(o.status.code(), Some(2), "{name}: {t}");
        assert!(t.contains("WUA_E_MANIFEST_INVALID") || t.contains("WUA_E_DOCUMENT_INVALID"), "{name}: {t}");
        assert!(t.contains(&m.display().to_string()), "{name}: the error names the manifest: {t}");
        assert!(!out.exists(), "{name}: no package written");
    }
    // A FIFO in the payload is refused too (files and symbolic links are content; D-45).
    let fifo = run(std::process::Command::new("mkfifo").arg(payload.join("fifo")));
    assert!(fifo.status.success(), "{}", text(&fifo));
    let m = w.work.join("ok.toml");
    std::fs::write(&m, files_manifest(&test_id(1), 1, "t", "", "")).unwrap();
    let o = run(wua(&w.state, &w.root)
        .args(["package", "build"])
        .arg(&m)
        .arg("--payload")
        .arg(&payload)
        .arg("-o")
        .arg(w.work.join("x.wuapkg")));
    assert_eq!(o.status.code(), Some(2));
    assert!(text(&o).contains("WUA_E_PAYLOAD_INVALID") && text(&o).contains("not a regular file"), "{}", text(&o));
}

#[test]
fn unusable_state_directory() {
    let w = World::new().unwrap();
    let file = w.work.join("not-a-dir");
    std::fs::write(&file, "x").unwrap();
    let o = run(wua(&file, &w.root).arg("status"));
    assert_eq!(o.status.code(), Some(2));
    assert!(text(&o).contains("WUA_E_STATE_DIR") && text(&o).contains("not a directory"), "{}", text(&o));
    let garbage = w.work.join("garbage-state");
    std::fs::create_dir_all(&garbage).unwrap();
    std::fs::write(garbage.join("wua.db"), vec![b'z'; 8192]).unwrap();
    let o = run(wua(&garbage, &w.root).arg("status"));
    assert_eq!(o.status.code(), Some(2));
    assert!(text(&o).contains("WUA_E_STORE") && text(&o).contains("wua.db"), "{}", text(&o));
    assert_eq!(std::fs::read(garbage.join("wua.db")).unwrap(), vec![b'z'; 8192], "the datastore is not touched");
    let o = run(wua(&w.state, &w.work.join("no-such-root")).arg("status"));
    assert_eq!(o.status.code(), Some(2));
    assert!(text(&o).contains("COR_E_DIRECTORYNOTFOUND"), "{}", text(&o));
}
