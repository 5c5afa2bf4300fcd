//! Symbolic links in `files` updates, through the real binary: placed, replaced, backed up and
//! removed under the journal with the ownership rules of files (D-39), compared byte for byte
//! (a link by its target) before and after, uninstall included; a link's target is data,
//! never followed; a document of a newer schema is refused.

use std::collections::BTreeMap;
use std::os::unix::fs::symlink;

use wua_test_support::Node;

use crate::support::*;

/// A `files` package of update `test_id(id)` revision `rev` with `files` and `links`.
fn pkg(w: &World, name: &str, id: u32, rev: i32, files: &[(&str, u32, &[u8])], links: &[(&str, &str)]) -> String {
    let m = files_manifest(&test_id(id), rev, &format!("links {name}"), "", "");
    w.package_with_links(name, &m, files, links).unwrap().to_string_lossy().into_owned()
}

fn tree(w: &World) -> BTreeMap<String, Node> {
    snapshot(&w.root, OWN).unwrap()
}

fn install(w: &World, package: &str) -> serde_json::Value {
    ok(agent(w).args(["install-package", package]))
}

fn uninstall(w: &World, id: u32) -> serde_json::Value {
    ok(agent(w).args(["uninstall", "--yes", &test_id(id)]))
}

fn link(t: &BTreeMap<String, Node>, path: &str) -> Option<String> {
    match t.get(path) {
        Some(Node::Link(target)) => Some(target.clone()),
        _ => None,
    }
}

/// A link replacing a file, a file replacing a link, a link replacing a link: each placed, the
/// replaced thing kept, and put back byte for byte by the uninstall.
#[test]
fn links_replace_files_and_links_and_uninstall_puts_them_back() {
    let w = World::new().unwrap();
    std::fs::create_dir_all(w.root.join("usr/lib")).unwrap();
    std::fs::create_dir_all(w.root.join("etc/alternatives")).unwrap();
    std::fs::create_dir_all(w.root.join("usr/bin")).unwrap();
    std::fs::write(w.root.join("usr/lib/libfoo.so"), "a regular file\n").unwrap();
    symlink("/usr/bin/vi", w.root.join("etc/alternatives/editor")).unwrap();
    symlink("old-tool", w.root.join("usr/bin/tool")).unwrap();
    let before = tree(&w);
    let p = pkg(
        &w,
        "p",
        1,
        1,
        &[("usr/lib/libfoo.so.1", 0o644, b"library"), ("usr/bin/tool", 0o755, b"#!/bin/sh\necho new\n")],
        &[("usr/lib/libfoo.so", "libfoo.so.1"), ("etc/alternatives/editor", "/usr/bin/wua-editor")],
    );
    let r = install(&w, &p);
    assert_eq!(r["result_code"], "Succeeded", "{r}");
    let after = tree(&w);
    assert_eq!(link(&after, "usr/lib/libfoo.so").as_deref(), Some("libfoo.so.1"), "a link over a file");
    assert_eq!(link(&after, "etc/alternatives/editor").as_deref(), Some("/usr/bin/wua-editor"), "a link over a link");
    assert!(matches!(after.get("usr/bin/tool"), Some(Node::File(0o755, _))), "a file over a link: {after:#?}");
    // Nothing else changed.
    let mut others = after.clone();
    for p in ["usr/lib/libfoo.so", "usr/lib/libfoo.so.1", "etc/alternatives/editor", "usr/bin/tool"] {
        others.remove(p);
    }
    let mut was = before.clone();
    for p in ["usr/lib/libfoo.so", "etc/alternatives/editor", "usr/bin/tool"] {
        was.remove(p);
    }
    assert_eq!(others, was);
    // `wua files` and `wua owner` know the links.
    let files = ok(agent(&w).args(["files", &test_id(1)]));
    assert!(files["files"].as_array().unwrap().iter().any(|f| f == "usr/lib/libfoo.so"), "{files}");
    let owner = ok(agent(&w).args(["owner", "/etc/alternatives/editor"]));
    assert_eq!(owner["owner"]["update_id"], test_id(1));

    let r = uninstall(&w, 1);
    assert_eq!(r["result_code"], "Succeeded", "{r}");
    assert_eq!(tree(&w), before, "the uninstall puts back the file and the links byte for byte");
}

/// A directory of the root reached through a link (relative and absolute): the files land
/// under the link's target inside the root, the link stays, and the uninstall removes only
/// what the update placed.
#[test]
fn a_directory_reached_through_a_link_of_the_root() {
    let w = World::new().unwrap();
    std::fs::create_dir_all(w.root.join("srv/opt")).unwrap();
    std::fs::create_dir_all(w.root.join("data/real")).unwrap();
    symlink("srv/opt", w.root.join("opt")).unwrap();
    // Absolute: followed while it names a place under the root; never out of it.
    symlink(w.root.join("data/real"), w.root.join("var/lib/appdata")).unwrap();
    let before = tree(&w);
    let p = pkg(
        &w,
        "p",
        2,
        1,
        &[("opt/app/bin", 0o755, b"binary"), ("var/lib/appdata/state", 0o644, b"state")],
        &[("opt/app/current", "bin")],
    );
    install(&w, &p);
    let after = tree(&w);
    assert!(matches!(after.get("srv/opt/app/bin"), Some(Node::File(..))), "{after:#?}");
    assert_eq!(link(&after, "srv/opt/app/current").as_deref(), Some("bin"));
    assert!(matches!(after.get("data/real/state"), Some(Node::File(..))), "{after:#?}");
    assert_eq!(link(&after, "opt").as_deref(), Some("srv/opt"), "the root's link stays");
    assert_eq!(link(&after, "var/lib/appdata"), Some(w.root.join("data/real").display().to_string()));
    uninstall(&w, 2);
    assert_eq!(tree(&w), before);
}

/// Revisions add, retarget and drop links; what a dropped link had replaced comes back.
#[test]
fn revisions_add_change_and_drop_links() {
    let w = World::new().unwrap();
    std::fs::create_dir_all(w.root.join("usr/lib")).unwrap();
    std::fs::write(w.root.join("usr/lib/libbar.so"), "the system's own\n").unwrap();
    let before = tree(&w);
    let f = [("usr/lib/libbar.so.1", 0o644, &b"one"[..]), ("usr/lib/libbar.so.2", 0o644, &b"two"[..])];
    let r1 = pkg(&w, "r1", 3, 1, &f, &[("usr/lib/libbar.so", "libbar.so.1")]);
    let r2 =
        pkg(&w, "r2", 3, 2, &f, &[("usr/lib/libbar.so", "libbar.so.2"), ("usr/lib/libbar.so.compat", "libbar.so.1")]);
    let r3 = pkg(&w, "r3", 3, 3, &f, &[("usr/lib/libbar.so.compat", "libbar.so.2")]);
    install(&w, &r1);
    assert_eq!(link(&tree(&w), "usr/lib/libbar.so").as_deref(), Some("libbar.so.1"));
    install(&w, &r2);
    let t = tree(&w);
    assert_eq!(link(&t, "usr/lib/libbar.so").as_deref(), Some("libbar.so.2"), "retargeted");
    assert_eq!(link(&t, "usr/lib/libbar.so.compat").as_deref(), Some("libbar.so.1"), "added");
    install(&w, &r3);
    let t = tree(&w);
    assert_eq!(
        t.get("usr/lib/libbar.so"),
        before.get("usr/lib/libbar.so"),
        "dropped: the file it had replaced is back"
    );
    assert_eq!(link(&t, "usr/lib/libbar.so.compat").as_deref(), Some("libbar.so.2"));
    uninstall(&w, 3);
    assert_eq!(tree(&w), before);
}

/// D-39 for links: a link another update owns is a conflict (nothing changes); a link
/// retargeted since it was installed is left in place by the uninstall, with a warning; a
/// link's target is never followed (one pointing out of the root is data, a dangling one too).
#[test]
fn ownership_of_links_and_targets_are_data() {
    let w = World::new().unwrap();
    let a = pkg(&w, "a", 4, 1, &[], &[("etc/app/passwd-link", "/etc/passwd"), ("etc/app/dangling", "nowhere/at/all")]);
    install(&w, &a);
    let t = tree(&w);
    assert_eq!(link(&t, "etc/app/passwd-link").as_deref(), Some("/etc/passwd"));
    assert_eq!(link(&t, "etc/app/dangling").as_deref(), Some("nowhere/at/all"));
    // Another update's link at the same path: refused, nothing changes.
    let b = pkg(&w, "b", 5, 1, &[], &[("etc/app/dangling", "elsewhere")]);
    let o = run(agent(&w).args(["install-package", &b]));
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    assert_eq!(json(&o)["updates"][0]["hresult_name"], "WUA_E_FILE_CONFLICT", "{}", text(&o));
    assert_eq!(tree(&w), t, "a refused install changes nothing");
    // Retargeted by hand: the uninstall leaves it, says so, and removes the rest.
    std::fs::remove_file(w.root.join("etc/app/passwd-link")).unwrap();
    symlink("/etc/shadow", w.root.join("etc/app/passwd-link")).unwrap();
    let r = uninstall(&w, 4);
    let warnings = r["updates"][0]["warnings"].to_string();
    assert!(warnings.contains("passwd-link") && warnings.contains("changed"), "{r}");
    let t = tree(&w);
    assert_eq!(link(&t, "etc/app/passwd-link").as_deref(), Some("/etc/shadow"), "left in place");
    assert!(!t.contains_key("etc/app/dangling"));
}

/// `wua package build` takes links from the payload and marks the document schema version 2;
/// a link in a `command` update is refused; a package whose document needs a schema newer than
/// this agent reads is refused by `install-package` with `WUA_E_DOCUMENT_TOO_NEW`, changing
/// nothing.
#[test]
fn link_documents_are_schema_2_and_newer_schemas_are_refused() {
    let w = World::new().unwrap();
    let p = pkg(&w, "p", 6, 1, &[("opt/x", 0o644, b"x")], &[("opt/y", "x")]);
    let inspected = ok(agent(&w).args(["package", "inspect", &p]));
    assert_eq!(inspected["schema_version"], 2, "{inspected}");
    let y = inspected["content"].as_array().unwrap().iter().find(|c| c["path"] == "opt/y").cloned().unwrap();
    assert_eq!(y["link_target"], "x", "{inspected}");
    let plain = pkg(&w, "plain", 7, 1, &[("opt/z", 0o644, b"z")], &[]);
    assert_eq!(ok(agent(&w).args(["package", "inspect", &plain]))["schema_version"], 1);

    // A command update with a link in its payload.
    let m = wua_test_support::command_manifest(
        &test_id(8),
        "cmd",
        "",
        "program = \"run.sh\"\nreturn_codes = [{ code = 0, result = \"Succeeded\" }]\n",
    );
    let e = w.package_with_links("cmd", &m, &[("run.sh", 0o755, b"#!/bin/sh\n")], &[("lnk", "run.sh")]).unwrap_err();
    assert!(format!("{e:#}").contains("files handler only"), "{e:#}");

    // Schema past this agent's: refused before anything is cached or placed.
    let before = tree(&w);
    let document = serde_json::json!({
        "schema_version": wua_agent::wua_types::MAX_SCHEMA_VERSION + 1,
        "update_id": test_id(9), "revision_number": 1, "title": "from the future",
        "handler": { "kind": "files" },
        "content": [{ "sha256": wua_test_support::sha256_hex(b"f"), "size": 1, "path": "opt/f", "mode": "0644" }],
    });
    let future = w.work.join("future.wuapkg");
    let blob = wua_test_support::sha256_hex(b"f");
    wua_test_support::raw_package(&future, &document, &[(blob.as_str(), b"f")]).unwrap();
    let o = run(agent(&w).arg("install-package").arg(&future));
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    let v = json(&o);
    assert_eq!(v["hresult_name"], "WUA_E_DOCUMENT_TOO_NEW", "{v}");
    assert!(v["error"].as_str().unwrap().contains("update wua"), "{v}");
    assert_eq!(tree(&w), before);
}

/// Links through a signed repository: `wua repo publish` stores no blob for them, a search
/// finds the update downloaded once its files are, and the install places the links.
#[test]
fn links_published_searched_downloaded_and_installed() {
    let w = World::new().unwrap();
    let repo = crate::agent_run::repository(&w);
    let payload = w.work.join("payload-l");
    wua_test_support::write_payload(&payload, &[("usr/lib/libq.so.1", 0o644, b"q one")]).unwrap();
    symlink("libq.so.1", payload.join("usr/lib/libq.so")).unwrap();
    symlink("/nonexistent/target", payload.join("usr/lib/dangling")).unwrap();
    let manifest = w.work.join("ml.toml");
    std::fs::write(&manifest, files_manifest(&test_id(11), 1, "linked library", "", "")).unwrap();
    ok(agent(&w).args(["repo", "publish"]).arg(&repo).arg(&manifest).arg("--payload").arg(&payload));
    let blobs = std::fs::read_dir(repo.join("repository/targets/blobs/sha256"))
        .or_else(|_| std::fs::read_dir(repo.join("repository/blobs/sha256")))
        .map(|d| d.count())
        .unwrap_or(0);
    assert_eq!(blobs, 1, "one blob: the links have none");
    let mut add = agent(&w);
    add.args(["service", "add", "main"])
        .arg(&repo)
        .arg("--trusted-root")
        .arg(repo.join("repository/metadata/1.root.json"));
    ok(&mut add);
    let found = ok(agent(&w).arg("search"));
    assert_eq!(found["updates"][0]["update_id"], test_id(11), "{found}");
    let downloaded = ok(agent(&w).args(["download", "--all"]));
    assert_eq!(downloaded["result_code"], "Succeeded", "{downloaded}");
    let after = ok(agent(&w).args(["search", "--offline", "IsInstalled=0"]));
    assert_eq!(after["updates"][0]["is_downloaded"], true, "links need no download: {after}");
    let r = ok(agent(&w).args(["install", "--all"]));
    assert_eq!(r["result_code"], "Succeeded", "{r}");
    let t = tree(&w);
    assert_eq!(link(&t, "usr/lib/libq.so").as_deref(), Some("libq.so.1"));
    assert_eq!(link(&t, "usr/lib/dangling").as_deref(), Some("/nonexistent/target"));
}
