//! The command line end to end, as an administrator drives it: the real binary against a real
//! server (`wua server run` over a signed repository), every verb's `--json` checked against
//! the schema docs/cli.md gives for it, the exit codes, and errors that name their HResult.

use std::collections::BTreeMap;
use std::process::Output;

use serde_json::Value;
use wua_agent::wua_types::api::ApprovalAction;

use crate::agent_run::{publish, repository};
use crate::server_support::ServerChild;
use crate::support::*;

/// The schemas of docs/cli.md: its ```` ```json schema=NAME ```` blocks.
fn schemas() -> BTreeMap<String, Value> {
    let doc = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../../docs/cli.md")).unwrap();
    let mut out = BTreeMap::new();
    let mut lines = doc.lines();
    while let Some(line) = lines.next() {
        let Some(name) = line.strip_prefix("```json schema=") else { continue };
        let body: Vec<&str> = lines.by_ref().take_while(|l| !l.starts_with("```")).collect();
        let schema: Value =
            serde_json::from_str(&body.join("\n")).unwrap_or_else(|e| panic!("docs/cli.md schema {name}: {e}"));
        out.insert(name.trim().to_owned(), schema);
    }
    out
}

/// The schema subset docs/cli.md uses; every mismatch, with its JSON path.
fn check(schema: &Value, defs: &Value, v: &Value, at: &str, errors: &mut Vec<String>) {
    if let Some(name) = schema.get("$ref").and_then(Value::as_str) {
        let target = defs.get(name).unwrap_or_else(|| panic!("no shared definition {name}"));
        return check(target, defs, v, at, errors);
    }
    if let Some(allowed) = schema.get("enum").and_then(Value::as_array) {
        if !allowed.contains(v) {
            errors.push(format!("{at}: {v} is not one of {allowed:?}"));
        }
    }
    if let Some(ty) = schema.get("type") {
        let types: Vec<&str> = match ty {
            Value::String(t) => vec![t.as_str()],
            Value::Array(ts) => ts.iter().filter_map(Value::as_str).collect(),
            _ => panic!("bad type in schema at {at}"),
        };
        let fits = types.iter().any(|t| match *t {
            "object" => v.is_object(),
            "array" => v.is_array(),
            "string" => v.is_string(),
            "integer" => v.is_i64() || v.is_u64(),
            "number" => v.is_number(),
            "boolean" => v.is_boolean(),
            "null" => v.is_null(),
            other => panic!("unknown type {other} in schema at {at}"),
        });
        if !fits {
            errors.push(format!("{at}: {v} is not {types:?}"));
            return;
        }
    }
    if let Value::Object(map) = v {
        for key in schema.get("required").and_then(Value::as_array).into_iter().flatten() {
            let key = key.as_str().unwrap();
            if !map.contains_key(key) {
                errors.push(format!("{at}: missing {key}"));
            }
        }
        if let Some(props) = schema.get("properties").and_then(Value::as_object) {
            for (key, sub) in props {
                if let Some(value) = map.get(key) {
                    check(sub, defs, value, &format!("{at}.{key}"), errors);
                }
            }
        }
    }
    if let (Value::Array(items), Some(item_schema)) = (v, schema.get("items")) {
        for (i, item) in items.iter().enumerate() {
            check(item_schema, defs, item, &format!("{at}[{i}]"), errors);
        }
    }
}

/// Schema checks against docs/cli.md.
struct Schemas {
    all: BTreeMap<String, Value>,
    checked: std::cell::RefCell<Vec<String>>,
}

impl Schemas {
    fn new() -> Schemas {
        Schemas { all: schemas(), checked: Default::default() }
    }

    /// `o`'s stdout is one JSON document that fits schema `name`; it is returned.
    fn fits(&self, name: &str, o: &Output) -> Value {
        let v: Value = serde_json::from_slice(&o.stdout)
            .unwrap_or_else(|e| panic!("{name}: stdout is not one JSON document ({e}): {}", text(o)));
        let schema = self.all.get(name).unwrap_or_else(|| panic!("docs/cli.md has no schema {name}"));
        let mut errors = Vec::new();
        check(schema, &self.all["$defs"], &v, "$", &mut errors);
        assert!(errors.is_empty(), "{name}: the output does not fit docs/cli.md:\n{}\n{v:#}", errors.join("\n"));
        self.checked.borrow_mut().push(name.to_owned());
        v
    }
}

fn code(o: &Output) -> Option<i32> {
    o.status.code()
}

/// A call error: exit 2, a JSON error document naming `hresult_name`.
fn call_error(s: &Schemas, o: &Output, hresult_name: &str) -> Value {
    assert_eq!(code(o), Some(2), "{}", text(o));
    let v = s.fits("error", o);
    assert_eq!(v["hresult_name"], hresult_name, "{v:#}");
    v
}

#[test]
fn every_verb_against_a_real_server_fits_the_documented_schema() {
    let s = Schemas::new();
    let w = World::new().unwrap();
    let repo = repository(&w);
    publish(&w, &repo, 1, "kb_article_ids = [\"900101\"]\nmsrc_severity = \"Important\"", "");
    publish(&w, &repo, 2, "eula = \"SAMPLE TERMS\"", "");
    // One with an id of its own, to be named by a short prefix.
    let payload = w.work.join("payload-c");
    wua_test_support::write_payload(&payload, &[("opt/coffee/file", 0o644, b"c")]).unwrap();
    let manifest = w.work.join("mc.toml");
    let coffee = "c0ffee00-1234-4abc-8def-000000000001";
    std::fs::write(&manifest, wua_test_support::files_manifest(coffee, 1, "coffee tool", "", "")).unwrap();
    ok(agent(&w).args(["repo", "publish"]).arg(&repo).arg(&manifest).arg("--payload").arg(&payload));
    let server = ServerChild::start(&w, &repo);
    // The key first: making it creates the group the approvals are for.
    let key = server.enrolment_key();
    for id in [wua_test_support::test_id(1), wua_test_support::test_id(2), coffee.to_owned()] {
        server.approve("ring-1", &id, ApprovalAction::Install, None);
    }
    let mut add = agent(&w);
    add.args(["service", "add", "--server", &server.url, "--group", "ring-1", "--trusted-root"])
        .arg(repo.join("repository/metadata/1.root.json"))
        .env("WUA_ENROLMENT_KEY", &key);
    let added = s.fits("service-add", &run(&mut add));
    assert_eq!(added["kind"], "managed_server", "{added}");

    // Search: three found; --exit-code says 100; the filters narrow.
    let found = s.fits("search", &run(agent(&w).arg("search")));
    assert_eq!(found["updates"].as_array().unwrap().len(), 3, "{found}");
    assert_eq!(code(&run(agent(&w).args(["search", "--exit-code"]))), Some(100));
    let kb = s.fits("search", &run(agent(&w).args(["search", "--offline", "--kb", "KB900101"])));
    assert_eq!(kb["updates"].as_array().unwrap().len(), 1, "{kb}");
    let sev = s.fits("search", &run(agent(&w).args(["search", "--offline", "--severity", "important"])));
    assert_eq!(sev["updates"][0]["update_id"], wua_test_support::test_id(1), "{sev}");
    let title = s.fits("search", &run(agent(&w).args(["search", "--offline", "--title", "^COFFEE"])));
    assert_eq!(title["updates"][0]["update_id"], coffee, "{title}");
    call_error(&s, &run(agent(&w).args(["search", "--offline", "--title", "("])), "E_INVALIDARG");
    call_error(&s, &run(agent(&w).args(["search", "--offline", "--severity", "urgent"])), "E_INVALIDARG");
    call_error(&s, &run(agent(&w).args(["search", "IsInstalled="])), "WU_E_INVALID_CRITERIA");

    // Download and install with nothing named act on nothing.
    let nothing = s.fits("nothing", &run(agent(&w).arg("download")));
    assert_eq!(nothing["updates"], 0);
    s.fits("nothing", &run(agent(&w).arg("install")));
    // A dry run lists, changes nothing.
    let dry = s.fits("selected", &run(agent(&w).args(["install", "--dry-run", "--all"])));
    assert_eq!(dry["updates"].as_array().unwrap().len(), 3, "{dry}");
    assert!(!w.root.join("opt/u1/file").exists());

    // Show by KB number, hide and unhide by title, download by prefix.
    let shown = s.fits("show", &run(agent(&w).args(["show", "KB900101"])));
    assert_eq!((shown["msrc_severity"].as_str(), shown["is_installed"].as_bool()), (Some("Important"), Some(false)));
    let hidden = s.fits("hide", &run(agent(&w).args(["hide", "coffee tool"])));
    assert_eq!((hidden["is_hidden"].as_bool(), hidden["updates"][0]["update_id"].as_str()), (Some(true), Some(coffee)));
    let after = s.fits("search", &run(agent(&w).args(["search", "--offline"])));
    assert_eq!(after["updates"].as_array().unwrap().len(), 2, "hidden is left out: {after}");
    let with_hidden = s.fits("search", &run(agent(&w).args(["search", "--offline", "--include-hidden"])));
    assert_eq!(with_hidden["updates"].as_array().unwrap().len(), 3, "{with_hidden}");
    s.fits("hide", &run(agent(&w).args(["unhide", "c0ffee"])));
    let downloaded = s.fits("download", &run(agent(&w).args(["download", "--update-id", "c0ffee"])));
    assert_eq!(downloaded["updates"][0]["result_code"], "Succeeded", "{downloaded}");

    // An ambiguous prefix names what it matches; an unknown name says so.
    let ambiguous = call_error(&s, &run(agent(&w).args(["install", "--update-id", "00000000"])), "E_INVALIDARG");
    let message = ambiguous["error"].as_str().unwrap();
    assert!(message.contains("matches 2 updates") && message.contains("update 1") && message.contains("update 2"));
    call_error(&s, &run(agent(&w).args(["install", "--update-id", "feedbeef"])), "WU_E_UNKNOWN_ID");

    // The license: refused without --accept-eula (the update fails, exit 1; the error names
    // the code), accepted with it.
    let t2 = wua_test_support::test_id(2);
    let declined = run(agent(&w).args(["install", "--update-id", &t2]));
    assert_eq!(code(&declined), Some(1), "{}", text(&declined));
    let v = s.fits("install", &declined);
    assert_eq!(v["updates"][0]["hresult_name"], "WU_E_EULAS_DECLINED", "{v:#}");
    let plain = run(wua(&w.state, &w.root).args(["install", "--update-id", &t2]));
    assert!(text(&plain).contains("WU_E_EULAS_DECLINED"), "{}", text(&plain));
    let installed = s.fits("install", &run(agent(&w).args(["install", "--accept-eula", "--all"])));
    assert_eq!(installed["result_code"], "Succeeded", "{installed:#}");
    assert_eq!(installed["updates"].as_array().unwrap().len(), 3);

    // What is installed: files, owner, status, history, reboot status.
    let files = s.fits("files", &run(agent(&w).args(["files", "KB900101"])));
    assert_eq!(files["files"], serde_json::json!(["opt/u1/file"]), "{files}");
    let owner = s.fits("owner", &run(agent(&w).args(["owner", "/opt/u1/file"])));
    assert_eq!(owner["owner"]["update_id"], wua_test_support::test_id(1), "{owner}");
    let nobody = s.fits("owner", &run(agent(&w).args(["owner", "/etc/passwd"])));
    assert!(nobody["owner"].is_null(), "{nobody}");
    let status = s.fits("status", &run(agent(&w).arg("status")));
    assert_eq!(status["services"][0]["group"], "ring-1", "{status:#}");
    assert!(status["last_search_success_date"].is_string() && status["last_installation_success_date"].is_string());
    let history = s.fits("history", &run(agent(&w).args(["history", "--last", "2"])));
    assert_eq!(
        (history["total"].as_i64(), history["entries"].as_array().unwrap().len()),
        (Some(5), 2),
        "two refused, three installed: {history:#}"
    );
    let reboot = run(agent(&w).arg("reboot-status"));
    assert_eq!(code(&reboot), Some(0));
    assert_eq!(s.fits("reboot-status", &reboot)["reboot_required"], false);
    s.fits("service-list", &run(agent(&w).args(["service", "list"])));
    assert_eq!(code(&run(agent(&w).args(["search", "--exit-code"]))), Some(0), "nothing left to install");

    // Uninstall by prefix with --yes; recover and cache clean.
    let removed = s.fits("install", &run(agent(&w).args(["uninstall", "--yes", "c0ffee"])));
    assert_eq!(
        (removed["operation"].as_str(), removed["result_code"].as_str()),
        (Some("uninstall"), Some("Succeeded"))
    );
    assert!(!w.root.join("opt/coffee/file").exists());
    s.fits("recover", &run(agent(&w).arg("recover")));
    s.fits("cache-clean", &run(agent(&w).args(["cache", "clean"])));

    // A command line clap refuses is a JSON error under --json too.
    let bad = run(agent(&w).args(["install", "--no-such-flag"]));
    let v = call_error(&s, &bad, "E_INVALIDARG");
    assert!(v["error"].as_str().unwrap().contains("--no-such-flag"), "{v}");
    // Options a verb does not use are not offered on it.
    call_error(&s, &run(agent(&w).args(["repo", "list", "--state-dir", "/tmp"]).arg(&repo)), "E_INVALIDARG");
    // Interactive without a terminal.
    call_error(&s, &run(agent(&w).args(["install", "--interactive"])), "WU_E_NO_INTERACTIVE_USER");
}

/// `wua install --interactive` refuses without a terminal, in text too, with exit 2 and the
/// HResult's name; `--quiet` keeps stdout empty; the package verbs fit their schemas.
#[test]
fn package_verbs_and_the_text_of_errors() {
    let s = Schemas::new();
    let w = World::new().unwrap();
    let payload = w.work.join("p");
    wua_test_support::write_payload(&payload, &[("opt/p/file", 0o644, b"p")]).unwrap();
    let manifest = w.work.join("m.toml");
    std::fs::write(&manifest, wua_test_support::files_manifest(&wua_test_support::test_id(7), 1, "p", "", "")).unwrap();
    let pkg = w.work.join("p.wuapkg");
    let built =
        run(agent(&w).args(["package", "build"]).arg(&manifest).arg("--payload").arg(&payload).arg("-o").arg(&pkg));
    s.fits("package-build", &built);
    let inspected = s.fits("package-inspect", &run(agent(&w).args(["package", "inspect"]).arg(&pkg)));
    assert_eq!(inspected["content"][0]["path"], "opt/p/file", "{inspected}");
    assert!(!w.state.join("cache").exists() || std::fs::read_dir(w.state.join("cache")).unwrap().count() == 0);
    s.fits("package-import", &run(agent(&w).args(["package", "import"]).arg(&pkg)));
    s.fits("install", &run(agent(&w).arg("install-package").arg(&pkg)));

    let o = run(wua(&w.state, &w.root).args(["install", "--interactive"]));
    assert_eq!(code(&o), Some(2));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(err.contains("WU_E_NO_INTERACTIVE_USER (0x80240020)"), "{err}");
    assert_eq!(err.matches("0x80240020").count(), 1, "the code once: {err}");
    // Nothing searched here: no search date; the install-package above is an installation.
    let status = s.fits("status", &run(agent(&w).arg("status")));
    assert!(status["last_search_success_date"].is_null(), "{status:#}");
    assert!(status["last_installation_success_date"].is_string(), "{status:#}");
    let quiet = run(wua(&w.state, &w.root).args(["--quiet", "status"]));
    assert_eq!((code(&quiet), quiet.stdout.is_empty()), (Some(0), true), "{}", text(&quiet));
}
