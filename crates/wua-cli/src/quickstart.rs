//! `wua quickstart [DIR]`: builds the sample packages and installs them into `DIR/root` with
//! state in `DIR/state` through the job API, skipping what is already installed, then prints
//! the results and the history. The last sample is a `command` update that asks for a reboot:
//! quickstart says "reboot required (simulated)" and still exits 0. Run twice, the second run
//! reports the samples already installed.

use std::path::Path;

use wua_agent::wua_types::{HResult, OperationResultCode, UpdateCollection, UpdateOperation, WuError};
use wua_package::Compression;

use crate::output::{print_history, print_table};
use crate::session::open_session;
use crate::{Cli, CliResult, EXIT_FAILED, EXIT_OK, exit_code};
use crate::{jobrun, json};

/// A sample update: a manifest and its payload files (path, mode, content).
struct Sample {
    name: &'static str,
    manifest: &'static str,
    payload: &'static [(&'static str, u32, &'static str)],
}

const SAMPLES: &[Sample] = &[
    Sample {
        name: "hello-rev1",
        manifest: r#"
[update]
id = "0b6f3c2e-5f1a-4c7e-9d3b-2a1e8f4c6d01"
revision = 1
title = "wua sample: hello"
description = "A plain files update: a configuration file, a program and its documentation."
kb_article_ids = ["900001"]
msrc_severity = "Low"

[handler]
kind = "files"
"#,
        payload: &[
            ("etc/wua-sample/hello.conf", 0o644, "greeting = hello\n"),
            (
                "usr/local/bin/wua-hello",
                0o755,
                "#!/bin/sh\necho \"$(sed -n 's/^greeting = //p' /etc/wua-sample/hello.conf) from wua\"\n",
            ),
            ("usr/share/doc/wua-sample/README", 0o644, "Installed by wua quickstart (revision 1).\n"),
        ],
    },
    Sample {
        name: "licensed",
        manifest: r#"
[update]
id = "7d41a9e0-3c2b-4e5f-8a6d-1f0e9c8b7a02"
title = "wua sample: licensed tool"
description = "A files update with license terms that must be accepted before it installs."
eula = """
WUA SAMPLE LICENSE
This sample is provided for trying wua. You may install, use and remove it freely.
"""

[handler]
kind = "files"
"#,
        payload: &[("opt/wua-licensed/tool.txt", 0o644, "a licensed tool\n")],
    },
    Sample {
        name: "hello-rev2",
        manifest: r#"
[update]
id = "0b6f3c2e-5f1a-4c7e-9d3b-2a1e8f4c6d01"
revision = 2
title = "wua sample: hello"
description = "Revision 2: a new greeting, a changelog instead of the README."
kb_article_ids = ["900001"]
msrc_severity = "Low"

[handler]
kind = "files"
"#,
        payload: &[
            ("etc/wua-sample/hello.conf", 0o644, "greeting = hello again\n"),
            (
                "usr/local/bin/wua-hello",
                0o755,
                "#!/bin/sh\necho \"$(sed -n 's/^greeting = //p' /etc/wua-sample/hello.conf) from wua\"\n",
            ),
            ("usr/share/doc/wua-sample/CHANGES", 0o644, "Revision 2: new greeting; README replaced by this file.\n"),
        ],
    },
    Sample {
        name: "reboot-needed",
        manifest: r#"
[update]
id = "3c9e5b71-8a4d-4f2e-b6c0-5d7e9f1a2b03"
title = "wua sample: kernel tuning"
description = "A command update: its script writes a sysctl setting into the root and asks for a reboot (exit code 3010)."

[installation_behavior]
reboot_behavior = "CanRequestReboot"

[handler]
kind = "command"
program = "install.sh"
time_limit_secs = 60
return_codes = [
  { code = 0, result = "Succeeded" },
  { code = 3010, result = "Succeeded", reboot = true, description = "installed; a reboot applies it" },
]

[handler.uninstall]
program = "uninstall.sh"
return_codes = [{ code = 0, result = "Succeeded" }]
"#,
        payload: &[
            (
                "install.sh",
                0o755,
                "#!/bin/sh\nset -e\nconf=\"$WUA_TARGET_ROOT/etc/sysctl.d/90-wua-sample.conf\"\nmkdir -p \"$(dirname \"$conf\")\"\n\
                 printf 'vm.swappiness = 10\\n' > \"$conf\"\necho \"wrote $conf; a reboot applies it\"\nexit 3010\n",
            ),
            ("uninstall.sh", 0o755, "#!/bin/sh\nrm -f \"$WUA_TARGET_ROOT/etc/sysctl.d/90-wua-sample.conf\"\n"),
        ],
    },
];

pub(crate) fn run(cli: &Cli, dir: &Path) -> CliResult<u8> {
    let io = |what: &str, e: std::io::Error| WuError::new(HResult::WU_E_INVALID_FILE, format!("{what}: {e}"));
    let root = dir.join("root");
    let state = dir.join("state");
    fs_err::create_dir_all(&root).map_err(|e| io("creating the root", e))?;
    let session = open_session(cli, &state, &root)?;
    let mut rows = Vec::new();
    let mut json_rows = Vec::new();
    let mut code = EXIT_OK;
    for sample in SAMPLES {
        let package = build_sample(dir, sample)?;
        let update = session.open_package(&package)?;
        let id = update.identity();
        let identity = format!("{} rev {}", &id.update_id[..8], id.revision_number);
        if update.is_installed() {
            rows.push(vec![
                sample.name.into(),
                update.title().into(),
                identity,
                "already installed, skipped".into(),
                String::new(),
            ]);
            json_rows.push(json::QuickstartSample {
                sample: sample.name.into(),
                skipped: Some("already installed".into()),
                result: None,
            });
            continue;
        }
        if !update.eula_text().is_empty() && !update.eula_accepted() {
            if !cli.json {
                println!("License terms of \"{}\":\n\n{}\n", update.title(), update.eula_text().trim_end());
                println!("quickstart accepts them for you.\n");
            }
            update.accept_eula()?;
        }
        let installer = session.create_update_installer();
        let mut one = UpdateCollection::new();
        one.add(update.clone())?;
        installer.set_updates(one.clone());
        let result = jobrun::run(cli, &installer, &one, UpdateOperation::Installation)?;
        let r = &result.update_results[0];
        if exit_code(&result) == EXIT_FAILED {
            code = EXIT_FAILED;
        }
        let outcome = match r.result_code {
            OperationResultCode::Succeeded if r.reboot_required => "installed, reboot required".to_owned(),
            OperationResultCode::Succeeded => "installed".to_owned(),
            other => other.to_string(),
        };
        rows.push(vec![sample.name.into(), update.title().into(), identity, outcome, r.hresult.name_or_hex()]);
        json_rows.push(json::QuickstartSample {
            sample: sample.name.into(),
            skipped: None,
            result: Some(json::Operation::new("install", &one, &result)),
        });
    }
    let searcher = session.create_update_searcher();
    let total = searcher.get_total_history_count()?;
    let history = searcher.query_history(0, 20)?;
    // A sample asks for a reboot; quickstart only says so (the machine is not rebooted), and a
    // rerun skips what is installed instead of running into the pending reboot (D-9).
    let reboot_required = session.system_information().reboot_required()?;
    if cli.json {
        json::print(&json::Quickstart { root, state_dir: state, samples: json_rows, reboot_required });
        return Ok(code);
    }
    println!("quickstart: samples into {} (state in {})\n", root.display(), state.display());
    print_table(&["sample", "title", "identity", "outcome", "hresult"], &rows);
    println!();
    print_history(cli, total, &history);
    if reboot_required {
        println!("\nreboot required (simulated): a sample asked for a reboot; installs wait for one (D-9)");
    }
    println!(
        "\nTry: ls -R {}   or   wua --state-dir {} --root {} status",
        root.display(),
        state.display(),
        root.display()
    );
    Ok(code)
}

/// Writes a sample's manifest and payload under `dir/samples/NAME` and builds its package.
fn build_sample(dir: &Path, sample: &Sample) -> CliResult<std::path::PathBuf> {
    use std::os::unix::fs::PermissionsExt;
    let io =
        |e: std::io::Error| WuError::new(HResult::WU_E_INVALID_FILE, format!("writing sample {}: {e}", sample.name));
    let base = dir.join("samples").join(sample.name);
    let payload = base.join("payload");
    if payload.exists() {
        fs_err::remove_dir_all(&payload).map_err(io)?;
    }
    for (path, mode, text) in sample.payload {
        let file = payload.join(path);
        if let Some(parent) = file.parent() {
            fs_err::create_dir_all(parent).map_err(io)?;
        }
        fs_err::write(&file, text).map_err(io)?;
        fs_err::set_permissions(&file, std::fs::Permissions::from_mode(*mode)).map_err(io)?;
    }
    let manifest = base.join("manifest.toml");
    fs_err::write(&manifest, sample.manifest.trim_start()).map_err(io)?;
    let packages = dir.join("packages");
    fs_err::create_dir_all(&packages).map_err(io)?;
    let out = packages.join(format!("{}.wuapkg", sample.name));
    wua_package::build_package(&manifest, &payload, &out, Compression::Zstd)?;
    Ok(out)
}
