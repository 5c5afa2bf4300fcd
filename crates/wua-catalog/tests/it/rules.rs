//! Table tests for every applicability rule kind against a temporary root, and D-42.

use std::collections::BTreeSet;
use std::path::Path;

use serde_json::{Value, json};
use wua_catalog::{Applicable, Machine, RuleError, applicability, evaluate_rule};
use wua_types::Applicability;

/// A dpkg status database: installed, removed, multi-arch and epoch packages.
const DPKG_STATUS: &str = include_str!("../data/dpkg-status");

fn root() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    let r = dir.path();
    let write = |p: &str, text: &str| {
        let f = r.join(p);
        std::fs::create_dir_all(f.parent().unwrap()).unwrap();
        std::fs::write(f, text).unwrap();
    };
    write(
        "usr/lib/os-release",
        "PRETTY_NAME=\"Debian GNU/Linux 12 (bookworm)\"\nNAME=\"Debian GNU/Linux\"\nVERSION_ID=\"12\"\nID=debian\n",
    );
    // As on Debian: /etc/os-release is a relative link into /usr/lib.
    std::fs::create_dir_all(r.join("etc")).unwrap();
    std::os::unix::fs::symlink("../usr/lib/os-release", r.join("etc/os-release")).unwrap();
    write("var/lib/dpkg/status", DPKG_STATUS);
    write("opt/app/VERSION", "2.4.1\nbuilt somewhere\n");
    write("opt/app/release.env", "NAME=app\nAPP_VERSION=\"1.10.0\"\n");
    write("etc/app.conf", "hello\n");
    // An absolute link is taken relative to the root, as the root were `/`.
    std::os::unix::fs::symlink("/opt/app/VERSION", r.join("etc/app-version")).unwrap();
    std::os::unix::fs::symlink("/../../../../etc/passwd", r.join("etc/escape")).unwrap();
    dir
}

fn machine(root: &Path) -> Machine {
    Machine::new(root, "x86_64", "6.1.0-18-amd64", BTreeSet::from(["00000000-0000-4000-8000-000000000001".to_owned()]))
}

/// Every rule kind, true and false cases.
#[test]
fn every_rule_kind() {
    let dir = root();
    let m = machine(dir.path());
    let hello_sha = "5891b5b522d5df086d0ff0b110fbd9d21bb4fc7163af34d08286a2e846f6be03";
    let cases: Vec<(Value, bool)> = vec![
        // os
        (json!({"os": {"id": "debian"}}), true),
        (json!({"os": {"id": "DEBIAN"}}), true),
        (json!({"os": {"id": "ubuntu"}}), false),
        (json!({"os": {"id": "debian", "op": ">=", "version": "12"}}), true),
        (json!({"os": {"id": "debian", "op": ">=", "version": "13"}}), false),
        (json!({"os": {"op": "<<", "version": "12.1"}}), true),
        (json!({"os": {"op": "=", "version": "12"}}), true),
        // arch (kernel and Debian names)
        (json!({"arch": "x86_64"}), true),
        (json!({"arch": "amd64"}), true),
        (json!({"arch": ["arm64", "amd64"]}), true),
        (json!({"arch": ["aarch64", "arm64"]}), false),
        // kernel
        (json!({"kernel": {"op": ">=", "version": "6.1"}}), true),
        (json!({"kernel": {"op": "<", "version": "6.2"}}), true),
        (json!({"kernel": {"op": ">", "version": "6.2"}}), false),
        // files
        (json!({"file_exists": "etc/app.conf"}), true),
        (json!({"file_exists": "etc/os-release"}), true),
        (json!({"file_exists": "etc/nothing"}), false),
        (json!({"file_exists": "etc/escape"}), false),
        (json!({"file_sha256": {"path": "etc/app.conf", "sha256": hello_sha}}), true),
        (json!({"file_sha256": {"path": "etc/app.conf", "sha256": hello_sha.to_uppercase()}}), true),
        (json!({"file_sha256": {"path": "etc/app.conf", "sha256": "00"}}), false),
        (json!({"file_sha256": {"path": "etc/missing", "sha256": hello_sha}}), false),
        (json!({"file_version": {"path": "opt/app/VERSION", "op": ">=", "version": "2.4"}}), true),
        (json!({"file_version": {"path": "opt/app/VERSION", "op": "<", "version": "2.4.1~rc1"}}), false),
        (json!({"file_version": {"path": "etc/app-version", "op": "=", "version": "2.4.1"}}), true),
        (
            json!({"file_version": {"path": "opt/app/release.env", "key": "APP_VERSION", "op": ">", "version": "1.9"}}),
            true,
        ),
        (json!({"file_version": {"path": "opt/app/missing", "op": ">", "version": "1"}}), false),
        // dpkg, with Debian version ordering
        (json!({"dpkg_package": {"name": "openssl"}}), true),
        (json!({"dpkg_package": {"name": "openssl", "op": ">=", "version": "3.0.11-1~deb12u2"}}), true),
        (json!({"dpkg_package": {"name": "openssl", "op": "<<", "version": "3.0.11-1"}}), true),
        (json!({"dpkg_package": {"name": "openssl", "op": ">=", "version": "3.0.11-1"}}), false),
        (json!({"dpkg_package": {"name": "openssl", "op": ">", "version": "3.0.9-1"}}), true),
        (json!({"dpkg_package": {"name": "libc6", "op": ">=", "version": "2.36-9+deb12u3"}}), true),
        (json!({"dpkg_package": {"name": "libc6:amd64"}}), true),
        (json!({"dpkg_package": {"name": "libc6:arm64"}}), false),
        (json!({"dpkg_package": {"name": "epoch-pkg", "op": ">", "version": "5.0"}}), true),
        (json!({"dpkg_package": {"name": "removed-tool"}}), false),
        (json!({"dpkg_package": {"name": "absent"}}), false),
        // updates
        (json!({"update_installed": "00000000-0000-4000-8000-000000000001"}), true),
        (json!({"update_installed": "00000000-0000-4000-8000-000000000002"}), false),
        // combinators
        (json!({"all": []}), true),
        (json!({"any": []}), false),
        (json!({"all": [{"arch": "amd64"}, {"os": {"id": "debian"}}]}), true),
        (json!({"all": [{"arch": "amd64"}, {"os": {"id": "fedora"}}]}), false),
        (json!({"any": [{"os": {"id": "fedora"}}, {"file_exists": "etc/app.conf"}]}), true),
        (json!({"not": {"dpkg_package": {"name": "absent"}}}), true),
    ];
    for (rule, want) in cases {
        assert_eq!(evaluate_rule(&rule, &m), Ok(want), "{rule}");
    }
}

/// Rules that are not well formed are errors, not verdicts.
#[test]
fn malformed_rules() {
    let dir = root();
    let m = machine(dir.path());
    for rule in [
        json!("os"),
        json!({}),
        json!({"os": {"id": "debian"}, "arch": "amd64"}),
        json!({"all": {"arch": "amd64"}}),
        json!({"kernel": {"op": ">="}}),
        json!({"kernel": {"op": "~", "version": "1"}}),
        json!({"kernel": {"op": ">", "version": "not a version"}}),
        json!({"file_exists": 7}),
        json!({"dpkg_package": {"version": "1"}}),
        json!({"arch": [1]}),
    ] {
        assert!(matches!(evaluate_rule(&rule, &m), Err(RuleError::Malformed { .. })), "{rule}");
    }
}

/// D-42: an unknown rule kind, anywhere in the tree, makes the update not applicable.
#[test]
fn d42_unknown_rule_kind_is_not_applicable() {
    let dir = root();
    let m = machine(dir.path());
    let unknown = json!({"flatpak_installed": "org.example.App"});
    assert_eq!(evaluate_rule(&unknown, &m), Err(RuleError::UnknownKind { kind: "flatpak_installed".into() }));
    let nested = json!({"any": [{"arch": "amd64"}, {"not": unknown}]});
    assert!(matches!(evaluate_rule(&nested, &m), Err(RuleError::UnknownKind { .. })), "any evaluates every child");
    let rules = Applicability { is_installable: Some(nested), ..Default::default() };
    match applicability(&rules, &m) {
        Applicable::No(why) => {
            assert!(why.contains("flatpak_installed") && why.contains("from a newer publisher"), "{why}")
        }
        Applicable::Yes => panic!("an unknown rule kind must not be applicable"),
    }
    let ok = Applicability { is_installable: Some(json!({"arch": "amd64"})), ..Default::default() };
    assert_eq!(applicability(&ok, &m), Applicable::Yes);
    let prereq =
        Applicability { prerequisites: vec!["00000000-0000-4000-8000-000000000009".into()], ..Default::default() };
    assert!(matches!(applicability(&prereq, &m), Applicable::No(_)));
}
