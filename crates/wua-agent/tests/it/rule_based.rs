//! The rule-based branches of the installer's rules: D-40 (a revision offered by its
//! `is_installed` rule) and D-42 (a rule this agent cannot evaluate leaves the records to
//! decide).

use wua_agent::wua_types::{HResult, OperationResultCode as Orc};

use crate::support::*;

fn with_rule(rule: &str) -> String {
    format!("[applicability]\nis_installed = {rule}\n")
}

/// D-40: a newer revision with the same content is offered as not installed when its rule
/// says so; one with other content is not offered when its rule says it is installed.
#[test]
fn d40_revisions_offered_by_rule() {
    let w = World::new().unwrap();
    let s = session(&w);
    let files: &[(&str, u32, &[u8])] = &[("etc/app.conf", 0o644, b"v1")];
    let rev1 = import(&w, &s, "r1", &files_manifest(&test_id(1), 1, "app", "", ""), files);
    assert_eq!(install(&s, &[&rev1]).result_code, Orc::Succeeded);

    // Same content, but the rule looks for something rev 1 did not do.
    let tail = with_rule("{ file_exists = \"etc/app.d/new-layout\" }");
    let rev2 = import(&w, &s, "r2", &files_manifest(&test_id(1), 2, "app", "", &tail), files);
    assert!(!rev2.is_installed(), "offered by its rule although the content is the same");
    let r = install(&s, &[&rev2]);
    assert_eq!((r.result_code, r.update_results[0].hresult), (Orc::Succeeded, HResult::S_OK));

    // Other content, but the rule finds the machine already fine.
    let tail = with_rule(
        "{ all = [{ file_exists = \"etc/app.conf\" }, { update_installed = \"00000000-0000-4000-8000-000000000001\" }] }",
    );
    let rev3 =
        import(&w, &s, "r3", &files_manifest(&test_id(1), 3, "app", "", &tail), &[("etc/app.conf", 0o644, b"v3")]);
    assert!(rev3.is_installed(), "not offered: its rule says installed");
    let r = install(&s, &[&rev3]);
    assert_eq!(r.update_results[0].hresult, HResult::WU_S_ALREADY_INSTALLED);
    assert_eq!(read(&w.root, "etc/app.conf"), "v1");
}

/// D-42: an `is_installed` rule of a kind this agent does not know cannot judge the update:
/// the agent's records decide, and the update installs and uninstalls as without a rule. The
/// package is written by hand, as a newer publisher's would be: a manifest refuses the kind.
#[test]
fn d42_unknown_rule_kind_leaves_the_records_to_decide() {
    let w = World::new().unwrap();
    let s = session(&w);
    let sha = wua_test_support::sha256_hex(b"x");
    let document = serde_json::json!({
        "schema_version": 1, "update_id": test_id(1), "revision_number": 1, "title": "app",
        "handler": { "kind": "files" },
        "content": [{ "sha256": sha, "size": 1, "path": "opt/x", "mode": "0644" }],
        "applicability": { "is_installed": { "flatpak_installed": "org.example.App" } },
    });
    let pkg = w.work.join("newer-publisher.wuapkg");
    wua_test_support::raw_package(&pkg, &document, &[(&sha, b"x")]).unwrap();
    let u = s.open_package(&pkg).unwrap();
    assert!(!u.is_installed());
    assert_eq!(install(&s, &[&u]).update_results[0].hresult, HResult::S_OK);
    assert_eq!(install(&s, &[&u]).update_results[0].hresult, HResult::WU_S_ALREADY_INSTALLED);
    assert_eq!(uninstall(&s, &[&u]).update_results[0].hresult, HResult::S_OK);
    assert!(!w.root.join("opt/x").exists());
}
