//! `wua quickstart DIR`, the real binary in a fresh directory: its end state, one row per
//! sample, from the JSON and from the files in `DIR/root` (hello at revision 2 over revision 1,
//! D-40; licensed after its license terms, D-14; old-tool never offered because new-tool
//! supersedes it, D-28; kernel-tuning last, asking for a reboot that is only recorded, D-9),
//! then a second run that changes nothing; and the plain-text output, whose closing commands
//! must work without `wua` on PATH.

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

use serde_json::Value;

use crate::support::*;

const HELLO: &str = "0b6f3c2e-5f1a-4c7e-9d3b-2a1e8f4c6d01";
const LICENSED: &str = "7d41a9e0-3c2b-4e5f-8a6d-1f0e9c8b7a02";
const OLD_TOOL: &str = "5a8d2f14-6b3e-4c9a-8e1f-7c2b4d6e8a04";
const NEW_TOOL: &str = "9e4c7a21-2d5f-4b8e-a3c6-1f9d8b7e5c05";
const KERNEL_TUNING: &str = "3c9e5b71-8a4d-4f2e-b6c0-5d7e9f1a2b03";

/// A fresh temporary directory holding the quick start's `qs`, and an empty home and temporary
/// directory for the runs: nothing may land outside `qs`.
struct Place {
    tmp: tempfile::TempDir,
}

impl Place {
    fn new() -> Place {
        let tmp = tempfile::tempdir().unwrap();
        for d in ["home", "tmp"] {
            std::fs::create_dir(tmp.path().join(d)).unwrap();
        }
        // The runs' boot id: no reboot between them, whatever the machine does.
        std::fs::write(tmp.path().join("boot_id"), "boot-1").unwrap();
        Place { tmp }
    }

    fn qs(&self) -> PathBuf {
        self.tmp.path().join("qs")
    }

    /// `wua quickstart qs` with pipes for stdin, stdout and stderr and nothing of the caller's
    /// wua settings.
    fn quickstart(&self, json: bool) -> Output {
        let mut c = Command::new(env!("CARGO_BIN_EXE_wua"));
        c.arg("quickstart").arg(self.qs());
        if json {
            c.arg("--json");
        }
        for var in ["WUA_LOG", "WUA_STATE_DIR", "WUA_ROOT", "WUA_CRASH_AT_STEP", "WUA_PAUSE_AT_STEP", "NO_COLOR"] {
            c.env_remove(var);
        }
        c.env("HOME", self.tmp.path().join("home")).env("TMPDIR", self.tmp.path().join("tmp"));
        c.env("WUA_BOOT_ID_FILE", self.tmp.path().join("boot_id"));
        c.stdin(Stdio::null());
        run(&mut c)
    }

    /// Nothing outside `qs` changed: the home and temporary directories are empty and `qs` is
    /// the only new entry.
    fn check_nothing_outside(&self) {
        for d in ["home", "tmp"] {
            let left: Vec<_> = std::fs::read_dir(self.tmp.path().join(d)).unwrap().collect();
            assert!(left.is_empty(), "{d}: {left:?}");
        }
        let mut entries: Vec<String> = std::fs::read_dir(self.tmp.path())
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        entries.sort();
        assert_eq!(entries, ["boot_id", "home", "qs", "tmp"]);
    }
}

/// The sample rows of a quickstart document, by name.
fn rows(doc: &Value) -> std::collections::BTreeMap<String, Value> {
    let samples = doc["samples"].as_array().unwrap_or_else(|| panic!("{doc:#}"));
    samples.iter().map(|r| (r["name"].as_str().unwrap().to_owned(), r.clone())).collect()
}

fn history_ids(doc: &Value) -> Vec<(String, i64)> {
    doc["history"]["entries"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| {
            let id = &e["update_identity"];
            (id["update_id"].as_str().unwrap().to_owned(), id["revision_number"].as_i64().unwrap())
        })
        .collect()
}

/// The files the end state leaves in the root.
fn check_root(root: &Path) {
    let read = |p: &str| std::fs::read_to_string(root.join(p)).unwrap_or_else(|e| panic!("{p}: {e}"));
    assert_eq!(read("etc/wua-sample/hello.conf"), "greeting = hello again\n", "hello at revision 2");
    assert!(root.join("usr/share/doc/wua-sample/CHANGES").is_file());
    assert!(!root.join("usr/share/doc/wua-sample/README").exists(), "revision 2 dropped revision 1's README");
    assert_eq!(read("opt/wua-licensed/tool.txt"), "a licensed tool\n");
    assert!(root.join("usr/local/bin/wua-new-tool").is_file());
    assert_eq!(read("etc/wua-sample/new-tool.conf"), "replaces = old-tool\n");
    assert!(!root.join("usr/local/bin/wua-old-tool").exists(), "old-tool is never installed");
    assert_eq!(read("etc/sysctl.d/90-wua-sample.conf"), "vm.swappiness = 10\n", "kernel-tuning's script ran");
}

fn check_hresult(row: &Value, name: &str, value: i64, hex: &str) {
    assert_eq!(row["hresult_name"], name, "{row}");
    assert_eq!(row["hresult"], value, "{row}");
    assert_eq!(row["hresult_hex"], hex, "{row}");
}

/// The end state from the JSON and the root, then a second run with the earlier port taken:
/// the service moves to the new port, the computer stays, nothing is published or installed.
#[test]
fn quickstart_end_state_and_second_run() {
    let place = Place::new();
    let qs = place.qs();
    let first = place.quickstart(true);
    assert_eq!(first.status.code(), Some(0), "{}", text(&first));
    let doc = json(&first);
    assert_eq!(doc["end_state_reached"], true, "{doc:#}");
    assert_eq!(doc["reboot_required"], true);
    let published: Vec<&str> = doc["published"].as_array().unwrap().iter().map(|p| p.as_str().unwrap()).collect();
    assert_eq!(
        published,
        ["hello rev 1", "licensed rev 1", "hello rev 2", "old-tool rev 1", "new-tool rev 1", "kernel-tuning rev 1"]
    );
    let r = rows(&doc);
    assert_eq!(r.keys().collect::<Vec<_>>(), ["hello", "kernel-tuning", "licensed", "new-tool", "old-tool"]);
    let names: Vec<&str> = doc["samples"].as_array().unwrap().iter().map(|r| r["name"].as_str().unwrap()).collect();
    assert_eq!(names, ["hello", "licensed", "old-tool", "new-tool", "kernel-tuning"], "the samples' order");

    assert_eq!((&r["hello"]["outcome"], &r["hello"]["revision"]), (&"installed".into(), &2.into()));
    assert_eq!(r["hello"]["update_id"], HELLO);
    assert_eq!(r["hello"]["replaced_revision"], 1, "revision 1 installed first, then replaced (D-40)");
    check_hresult(&r["hello"], "S_OK", 0, "0x00000000");

    assert_eq!(r["licensed"]["outcome"], "installed");
    assert_eq!(r["licensed"]["update_id"], LICENSED);
    assert_eq!(r["licensed"]["eula_accepted"], true);
    assert!(r["licensed"]["eula_shown"].as_str().is_some_and(|t| t.contains("WUA SAMPLE LICENSE")), "{doc:#}");

    assert_eq!(r["old-tool"]["outcome"], "not_offered_superseded");
    assert_eq!(r["old-tool"]["update_id"], OLD_TOOL);
    assert_eq!(r["old-tool"]["superseded_by"], "new-tool");
    check_hresult(&r["old-tool"], "S_OK", 0, "0x00000000");

    assert_eq!(r["new-tool"]["outcome"], "installed");
    assert_eq!(r["new-tool"]["update_id"], NEW_TOOL);

    assert_eq!(r["kernel-tuning"]["outcome"], "installed_reboot_required");
    assert_eq!(r["kernel-tuning"]["update_id"], KERNEL_TUNING);
    assert_eq!(r["kernel-tuning"]["reboot_required"], true);
    check_hresult(&r["kernel-tuning"], "S_OK", 0, "0x00000000");

    // History, newest first: kernel-tuning last of all, old-tool never.
    let history = history_ids(&doc);
    assert_eq!(
        history,
        [
            (KERNEL_TUNING.to_owned(), 1),
            (NEW_TOOL.to_owned(), 1),
            (HELLO.to_owned(), 2),
            (LICENSED.to_owned(), 1),
            (HELLO.to_owned(), 1)
        ],
        "{doc:#}"
    );
    let kernel = &doc["history"]["entries"][0];
    // `exit 3010`: Linux keeps 8 bits (194), which the 3010 row of its table matches.
    assert_eq!(kernel["unmapped_result_code"], 3010 & 0xFF, "{kernel}");
    assert_eq!(kernel["reboot_required"], true);
    // The install job of the second round: kernel-tuning is its last update.
    let last_job = doc["installs"].as_array().unwrap().last().unwrap()["updates"].as_array().unwrap().clone();
    assert_eq!(last_job.last().unwrap()["update_id"], KERNEL_TUNING);

    // The server's status report for this computer, after the agent's reports.
    let computer = &doc["computer"];
    assert_eq!(computer["computer"]["group"], "quickstart");
    assert_eq!(computer["computer"]["reboot_required"], true);
    assert_eq!(computer["computer"]["id"], doc["service"]["computer_id"]);
    let state = |id: &str| {
        computer["updates"].as_array().unwrap().iter().find(|u| u["update_id"] == id).map(|u| u["state"].clone())
    };
    assert_eq!(state(HELLO), Some("installed".into()), "{computer:#}");
    assert_eq!(state(KERNEL_TUNING), Some("pending_reboot".into()), "{computer:#}");
    assert_eq!(doc["reports"]["remaining"], 0);
    assert_eq!(doc["service"]["kept"], false, "a fresh directory has no service yet");
    check_root(&qs.join("root"));
    let root_before = snapshot(&qs.join("root"), OWN).unwrap();

    // The second run, with the first run's port taken: the server listens elsewhere.
    let first_url = doc["server"].as_str().unwrap().to_owned();
    let port: u16 = first_url.rsplit(':').next().unwrap().trim_end_matches('/').parse().unwrap();
    let _taken = std::net::TcpListener::bind(("127.0.0.1", port)).ok();
    let second = place.quickstart(true);
    assert_eq!(second.status.code(), Some(0), "{}", text(&second));
    let again = json(&second);
    assert_eq!(again["end_state_reached"], true, "{again:#}");
    assert_ne!(again["server"], first_url);
    assert_eq!(again["service"]["replaced_url"], first_url, "{again:#}");
    assert_eq!(again["service"]["computer_id"], doc["service"]["computer_id"], "the same machine id registered");
    assert_eq!(again["published"].as_array().unwrap().len(), 0, "nothing missing");
    assert_eq!(again["installs"].as_array().unwrap().len(), 0, "nothing installed again");
    assert_eq!(again["history"]["total"], 5);
    assert_eq!(history_ids(&again), history);
    let r = rows(&again);
    for name in ["hello", "licensed", "new-tool", "kernel-tuning"] {
        assert_eq!(r[name]["outcome"], "already_installed", "{name}: {again:#}");
        check_hresult(&r[name], "WU_S_ALREADY_INSTALLED", 0x0024_0006, "0x00240006");
    }
    assert_eq!(r["hello"]["revision"], 2);
    assert_eq!(r["kernel-tuning"]["reboot_required"], true, "the reboot is still pending");
    assert_eq!(r["old-tool"]["outcome"], "not_offered_superseded");
    assert_eq!(r["old-tool"]["superseded_by"], "new-tool");
    assert_eq!(snapshot(&qs.join("root"), OWN).unwrap(), root_before, "the root is unchanged");

    // With new-tool removed (forced past the pending reboot), a run finds it offered but leaves
    // it for after the reboot (D-9) and exits 1; after a simulated reboot it installs it.
    let mut uninstall = Command::new(env!("CARGO_BIN_EXE_wua"));
    uninstall.args(["uninstall", "--forced", "--update-id", NEW_TOOL, "--state-dir"]).arg(qs.join("state"));
    uninstall.arg("--root").arg(qs.join("root")).env("WUA_BOOT_ID_FILE", place.tmp.path().join("boot_id"));
    let o = run(&mut uninstall);
    assert!(o.status.success(), "{}", text(&o));
    let waiting = place.quickstart(true);
    assert_eq!(waiting.status.code(), Some(1), "{}", text(&waiting));
    let waiting = json(&waiting);
    assert_eq!(waiting["end_state_reached"], false);
    let row = &rows(&waiting)["new-tool"];
    assert_eq!(row["outcome"], "not_installed_reboot_pending", "{waiting:#}");
    check_hresult(row, "WU_E_INSTALL_NOT_ALLOWED", 0x8024_0016_u32 as i32 as i64, "0x80240016");
    assert_eq!(rows(&waiting)["old-tool"]["outcome"], "not_offered_superseded", "new-tool is offered: {waiting:#}");
    std::fs::write(place.tmp.path().join("boot_id"), "boot-2").unwrap();
    let rebooted = place.quickstart(true);
    assert_eq!(rebooted.status.code(), Some(0), "{}", text(&rebooted));
    let rebooted = json(&rebooted);
    assert_eq!(rows(&rebooted)["new-tool"]["outcome"], "installed", "{rebooted:#}");
    assert_eq!(rows(&rebooted)["kernel-tuning"]["reboot_required"], false, "the reboot happened");
    assert_eq!(rebooted["reboot_required"], false);
    assert_eq!(snapshot(&qs.join("root"), OWN).unwrap(), root_before);
    place.check_nothing_outside();
}

/// The plain-text output on pipes: the license terms, one row per sample, the history, the
/// server's report and the explanation of the simulated reboot, without ANSI escapes; the
/// commands it prints work without `wua` on PATH; a second run keeps the computer.
#[test]
fn quickstart_plain_text() {
    let place = Place::new();
    let first = place.quickstart(false);
    let out = text(&first);
    assert_eq!(first.status.code(), Some(0), "{out}");
    assert!(!out.contains('\u{1b}'), "no ANSI escapes on pipes: {out:?}");
    let terms = out.find("WUA SAMPLE LICENSE").unwrap_or_else(|| panic!("{out}"));
    let row = |out: &str, name: &str| -> String {
        out.lines().find(|l| l.starts_with(&format!("{name} "))).unwrap_or_else(|| panic!("{name}: {out}")).to_owned()
    };
    assert!(terms < out.find(&row(&out, "licensed")).unwrap(), "the terms are shown before the results");
    let hello = row(&out, "hello");
    assert!(hello.contains("rev 2") && hello.contains("installed over rev 1") && hello.ends_with("S_OK"), "{hello}");
    assert!(row(&out, "licensed").contains("installed after its license terms were shown and accepted"), "{out}");
    assert!(row(&out, "old-tool").contains("not offered: superseded by new-tool"), "{out}");
    assert!(row(&out, "new-tool").contains("  installed  "), "{out}");
    assert!(row(&out, "kernel-tuning").contains("installed, reboot required (simulated)"), "{out}");
    assert!(out.contains("history: 5 entries in all"), "{out}");
    assert!(out.contains("the server's status report for this computer"), "{out}");
    assert!(out.contains("reboot required (simulated): kernel-tuning asked for a reboot"), "{out}");
    let computer = |out: &str| -> String {
        let at = out.find("registered as computer ").unwrap_or_else(|| panic!("{out}"));
        out[at..].split_whitespace().nth(3).unwrap().trim_end_matches(',').to_owned()
    };

    // The commands it prints, run by a shell that finds no `wua` on PATH.
    let commands: Vec<&str> =
        out.lines().filter_map(|l| l.strip_prefix("  ")).filter(|l| !l.starts_with(' ')).collect();
    let shell = |command: &str| {
        let o =
            run(Command::new("sh").arg("-c").arg(command).env("PATH", "/usr/bin:/bin").env_remove("WUA_BOOT_ID_FILE"));
        assert!(o.status.success(), "{command}: {}", text(&o));
        text(&o)
    };
    let search = commands.iter().find(|c| c.contains(" search --state-dir ")).unwrap_or_else(|| panic!("{out}"));
    assert!(shell(search).contains("search: 4 updates"), "{search}");
    let history = commands.iter().find(|c| c.contains(" history --state-dir ")).unwrap_or_else(|| panic!("{out}"));
    assert!(shell(history).contains("history: 5 entries in all"), "{history}");
    let ls = commands.iter().find(|c| c.starts_with("ls -R ")).unwrap_or_else(|| panic!("{out}"));
    assert!(shell(ls).contains("hello.conf"));
    let reboot = commands.iter().find(|c| c.contains("WUA_BOOT_ID_FILE=")).unwrap_or_else(|| panic!("{out}"));
    assert!(shell(reboot).contains("reboot required: no"), "the simulated reboot: {reboot}");

    let second = place.quickstart(false);
    let again = text(&second);
    assert_eq!(second.status.code(), Some(0), "{again}");
    assert!(!again.contains('\u{1b}'), "{again:?}");
    assert!(!again.contains("WUA SAMPLE LICENSE"), "accepted once: {again}");
    for name in ["hello", "licensed", "new-tool"] {
        assert!(row(&again, name).contains("already installed  "), "{name}: {again}");
    }
    assert!(row(&again, "hello").contains("rev 2"), "{again}");
    assert!(row(&again, "kernel-tuning").contains("already installed, reboot required (simulated)"), "{again}");
    assert!(row(&again, "old-tool").contains("not offered: superseded by new-tool"), "{again}");
    assert!(again.contains("nothing missing, nothing published"), "{again}");
    assert!(again.contains("history: 5 entries in all"), "{again}");
    assert_eq!(computer(&again), computer(&out), "the same computer on the server");
    place.check_nothing_outside();
}
