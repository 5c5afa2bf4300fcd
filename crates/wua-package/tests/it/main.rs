//! wua-package: building and opening packages, and the manifest of docs/formats.md.

mod hostile;

use std::path::Path;

use wua_package::{Compression, Manifest, OpenLimits, build_package, open_package};
use wua_types::Handler;

fn payload(dir: &Path) {
    std::fs::create_dir_all(dir.join("etc/hello")).unwrap();
    std::fs::create_dir_all(dir.join("usr/local/bin")).unwrap();
    std::fs::write(dir.join("etc/hello/hello.conf"), "greeting = hello\n").unwrap();
    std::fs::write(dir.join("usr/local/bin/hello"), "#!/bin/sh\necho hello\n").unwrap();
    std::fs::write(dir.join("usr/local/bin/same"), "#!/bin/sh\necho hello\n").unwrap();
}

/// The complete example manifest in docs/formats.md builds, with its overrides applied.
#[test]
fn docs_example_manifest_builds() {
    let doc = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../../docs/formats.md")).unwrap();
    let start = doc.find("```toml\n").unwrap() + 8;
    let toml = &doc[start..start + doc[start..].find("```").unwrap()];
    let dir = tempfile::tempdir().unwrap();
    let manifest = dir.path().join("manifest.toml");
    std::fs::write(&manifest, toml).unwrap();
    payload(&dir.path().join("payload"));
    std::fs::remove_file(dir.path().join("payload/usr/local/bin/same")).unwrap();
    let out = dir.path().join("hello.wuapkg");
    let d = build_package(&manifest, &dir.path().join("payload"), &out, Compression::None).unwrap();
    assert_eq!(d.title, "Hello tool 1.0");
    assert_eq!(d.eula.as_deref(), Some("You may use this tool freely."));
    let conf = d.content.iter().find(|c| c.path == "etc/hello/hello.conf").unwrap();
    assert_eq!((conf.mode, conf.uid, conf.gid), (0o640, Some(0), Some(0)));
    assert_eq!(d.handler, Handler::Files);
    assert_eq!(d.categories[0].category_type, "UpdateClassification");
}

#[test]
fn build_then_open_round_trips_both_compressions() {
    for compression in [Compression::None, Compression::Zstd] {
        let dir = tempfile::tempdir().unwrap();
        payload(&dir.path().join("p"));
        let manifest = dir.path().join("m.toml");
        std::fs::write(
            &manifest,
            "[update]\nid = \"3f2b7c1e-8a4d-4e6f-9b0c-5d1a2e3f4a5b\"\ntitle = \"t\"\n\n[handler]\nkind = \"files\"\n",
        )
        .unwrap();
        let out = dir.path().join("x.wuapkg");
        let built = build_package(&manifest, &dir.path().join("p"), &out, compression).unwrap();
        assert_eq!(built.content.len(), 3);
        let staging = dir.path().join("staging");
        std::fs::create_dir_all(&staging).unwrap();
        let opened = open_package(&out, &staging, &|_| false, &OpenLimits::default()).unwrap();
        assert_eq!(opened.document, built);
        // Two paths with the same bytes share one blob.
        assert_eq!(opened.staged.len(), 2);
        for blob in &opened.staged {
            let bytes = std::fs::read(&blob.path).unwrap();
            let (sha, size) = (wua_fs::sha256_hex(&bytes), bytes.len() as u64);
            assert_eq!((sha.as_str(), size), (blob.sha256.as_str(), blob.size));
        }
        // Dropping without keep() removes the staged files.
        drop(opened);
        assert_eq!(std::fs::read_dir(&staging).unwrap().count(), 0);
    }
}

#[test]
fn manifests_refuse_unknown_keys_and_bad_overrides() {
    let p = Path::new("m.toml");
    let e = Manifest::parse("[update]\nid = \"x\"\ntitle = \"t\"\ntitel = \"typo\"\n[handler]\nkind = \"files\"\n", p)
        .unwrap_err();
    assert!(e.to_string().contains("titel"), "{e}");
    let m = Manifest::parse(
        "[update]\nid = \"3f2b7c1e-8a4d-4e6f-9b0c-5d1a2e3f4a5b\"\ntitle = \"t\"\n[handler]\nkind = \"files\"\n[content.\"nope\"]\nmode = \"0644\"\n",
        p,
    )
    .unwrap();
    let e = m.to_document(p, vec![]).unwrap_err();
    assert!(e.to_string().contains("nope"), "{e}");
}

/// D-42's leniency (an unknown rule kind makes an update not applicable) is for catalogs from
/// newer publishers: a manifest with a kind the agent does not know, anywhere in its
/// `is_installed` or `is_installable` tree, is refused with `WUA_E_MANIFEST_INVALID`, naming the
/// kind, where it is, the manifest and the known kinds; `wua package build` builds nothing.
#[test]
fn d42_a_manifest_refuses_an_unknown_rule_kind() {
    let dir = tempfile::tempdir().unwrap();
    let payload = dir.path().join("payload");
    wua_test_support::write_payload(&payload, &[("etc/app.conf", 0o644, b"v1")]).unwrap();
    let head = "[update]\nid = \"3f2b7c1e-8a4d-4e6f-9b0c-5d1a2e3f4a5b\"\ntitle = \"t\"\n[handler]\nkind = \"files\"\n";
    let cases = [
        ("is_installed = { fiel_exists = \"etc/app.conf\" }", "is_installed", "\"fiel_exists\"", ""),
        (
            "is_installable = { all = [{ arch = \"amd64\" }, { not = { flatpak_installed = \"org.example.App\" } }] }",
            "is_installable",
            "\"flatpak_installed\"",
            "(at all[1].not)",
        ),
    ];
    for (rule, name, kind, at) in cases {
        let manifest = dir.path().join("m.toml");
        std::fs::write(&manifest, format!("{head}[applicability]\n{rule}\n")).unwrap();
        let out = dir.path().join("out.wuapkg");
        let e = build_package(&manifest, &payload, &out, Compression::None).unwrap_err();
        assert_eq!(e.hresult(), wua_types::HResult::WUA_E_MANIFEST_INVALID, "{e}");
        let text = e.to_string();
        for says in [&*manifest.to_string_lossy(), name, kind, at, "file_exists, file_sha256", "update_installed"] {
            assert!(text.contains(says), "{says:?} missing: {text}");
        }
        assert!(!out.exists(), "nothing is built");
    }
    // The known kinds build, and a tree that cannot be walked is refused too.
    let manifest = dir.path().join("ok.toml");
    std::fs::write(
        &manifest,
        format!("{head}[applicability]\nis_installed = {{ any = [{{ file_exists = \"etc/x\" }}, {{ not = {{ arch = \"amd64\" }} }}] }}\n"),
    )
    .unwrap();
    build_package(&manifest, &payload, &dir.path().join("ok.wuapkg"), Compression::None).unwrap();
    std::fs::write(&manifest, format!("{head}[applicability]\nis_installed = {{ all = {{ arch = \"amd64\" }} }}\n"))
        .unwrap();
    let e = build_package(&manifest, &payload, &dir.path().join("no.wuapkg"), Compression::None).unwrap_err();
    assert_eq!(e.hresult(), wua_types::HResult::WUA_E_MANIFEST_INVALID, "{e}");
    assert!(e.to_string().contains("is_installed") && e.to_string().contains("list of rules"), "{e}");
}

/// D-23: a command's `terminate_grace_secs` (and its uninstall command's) reaches the document;
/// a value outside 0..=3600 whole seconds is refused at build time, naming the key and the
/// range; without one the document carries none (the agent's setting applies).
#[test]
fn d23_terminate_grace_in_manifests() {
    use wua_types::{HResult, Handler};
    let p = Path::new("m.toml");
    let manifest = |handler: &str| {
        format!(
            "[update]\nid = \"3f2b7c1e-8a4d-4e6f-9b0c-5d1a2e3f4a5b\"\ntitle = \"t\"\n[handler]\nkind = \"command\"\nprogram = \"run.sh\"\n{handler}\n"
        )
    };
    let build = |handler: &str| Manifest::parse(&manifest(handler), p).and_then(|m| m.to_document(p, vec![]));
    let grace = |doc: &wua_types::UpdateDocument| match &doc.handler {
        Handler::Command(c) => (c.terminate_grace_secs, c.uninstall.as_ref().and_then(|u| u.terminate_grace_secs)),
        other => panic!("{other:?}"),
    };
    assert_eq!(grace(&build("").unwrap()), (None, None));
    let doc =
        build("terminate_grace_secs = 30\n[handler.uninstall]\nprogram = \"undo.sh\"\nterminate_grace_secs = 0\n")
            .unwrap();
    assert_eq!(grace(&doc), (Some(30), Some(0)));
    assert_eq!(grace(&build("terminate_grace_secs = 3600").unwrap()), (Some(3600), None));
    // The command handler example of docs/formats.md.
    let formats = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../../docs/formats.md")).unwrap();
    let example = formats.split("```toml\n").find(|b| b.starts_with("[handler]\nkind = \"command\"")).unwrap();
    let example = &example[..example.find("```").unwrap()];
    let text = format!("[update]\nid = \"3f2b7c1e-8a4d-4e6f-9b0c-5d1a2e3f4a5b\"\ntitle = \"t\"\n{example}");
    let doc = Manifest::parse(&text, p).and_then(|m| m.to_document(p, vec![])).unwrap();
    assert_eq!(grace(&doc), (Some(30), None));
    for (bad, shown) in [
        ("terminate_grace_secs = 3601", "terminate_grace_secs = 3601"),
        ("terminate_grace_secs = -1", "terminate_grace_secs = -1"),
        ("terminate_grace_secs = 1.5", "terminate_grace_secs = 1.5"),
        ("terminate_grace_secs = \"10\"", "terminate_grace_secs = \"10\""),
        (
            "[handler.uninstall]\nprogram = \"undo.sh\"\nterminate_grace_secs = 99999",
            "uninstall.terminate_grace_secs = 99999",
        ),
    ] {
        let e = build(bad).unwrap_err();
        assert_eq!(e.hresult(), HResult::WUA_E_MANIFEST_INVALID, "{bad}");
        let msg = e.to_string();
        assert!(msg.contains(shown) && msg.contains("from 0 to 3600"), "{bad}: {msg}");
    }
}

/// D-45: links in the payload become link entries carrying their target as written, never
/// followed (a link to a directory is not descended, a dangling one is fine); the document is
/// schema version 2 and its package holds blobs for the files only; it opens again whole.
#[test]
fn d45_links_in_the_payload() {
    let dir = tempfile::tempdir().unwrap();
    let payload = dir.path().join("payload");
    wua_test_support::write_payload(&payload, &[("usr/lib/libfoo.so.1", 0o644, b"lib"), ("srv/d/inner", 0o644, b"i")])
        .unwrap();
    std::os::unix::fs::symlink("libfoo.so.1", payload.join("usr/lib/libfoo.so")).unwrap();
    std::os::unix::fs::symlink("../srv/d", payload.join("usr/d-link")).unwrap();
    std::os::unix::fs::symlink("/does/not/exist", payload.join("usr/dangling")).unwrap();
    let files = wua_package::scan_payload(&payload).unwrap();
    let links: Vec<(String, Option<String>)> = files
        .iter()
        .filter(|f| f.entry.is_link())
        .map(|f| (f.entry.path.clone(), f.entry.link_target.clone()))
        .collect();
    assert_eq!(
        links,
        [
            ("usr/d-link".to_owned(), Some("../srv/d".to_owned())),
            ("usr/dangling".to_owned(), Some("/does/not/exist".to_owned())),
            ("usr/lib/libfoo.so".to_owned(), Some("libfoo.so.1".to_owned())),
        ]
    );
    assert!(!files.iter().any(|f| f.entry.path.starts_with("usr/d-link/")), "a link to a directory is not descended");
    let link = files.iter().find(|f| f.entry.path == "usr/lib/libfoo.so").unwrap();
    assert_eq!((link.entry.sha256.clone(), link.entry.size), (wua_fs::sha256_hex(b"libfoo.so.1"), 11));

    let manifest = dir.path().join("m.toml");
    std::fs::write(
        &manifest,
        "[update]\nid = \"3f2b7c1e-8a4d-4e6f-9b0c-5d1a2e3f4a5b\"\ntitle = \"t\"\n[handler]\nkind = \"files\"\n",
    )
    .unwrap();
    let out = dir.path().join("l.wuapkg");
    let doc = build_package(&manifest, &payload, &out, Compression::Zstd).unwrap();
    assert_eq!(doc.schema_version, wua_types::SCHEMA_VERSION_LINKS);
    let staging = dir.path().join("staging");
    std::fs::create_dir(&staging).unwrap();
    let opened = open_package(&out, &staging, &|_| false, &OpenLimits::default()).unwrap();
    assert_eq!(opened.document, doc);
    assert_eq!(opened.staged.len(), 2, "blobs for the two files only");
}
