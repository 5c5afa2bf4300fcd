//! `wua quickstart [DIR]`: WUA's whole flow on the embedded samples, with the update server.
//! It publishes them to a signed repository in `DIR/repo`, runs `wua server` over it on
//! 127.0.0.1 (data in `DIR/server`), registers the agent with it (state in `DIR/state`,
//! target root `DIR/root`) into the group `quickstart`, approves each round's samples for that
//! group through the server's API, then searches, downloads and installs what the search
//! finds, in two rounds: the second publishes revision 2 of a sample the first installed, and
//! a `command` update that asks for a reboot (quickstart says "reboot required (simulated)" and
//! still exits 0). The agent then reports its scan and results and the quickstart shows the
//! server's status for each sample. Run twice, the second run finds everything installed.

use std::path::Path;

use wua_agent::ManagedServerRegistration;
use wua_agent::wua_types::api::ReportBody;
use wua_agent::wua_types::{HResult, OperationResultCode, ServerSelection, Update, UpdateOperation, WuError};

use crate::output::{print_history, print_table};
use crate::quickstart_server::QuickServer;
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

/// The samples published in each round: the first round's are installed before the second is
/// published, so revision 2 of "hello" arrives as an update of an installed revision, and the
/// reboot sample comes last (after it, installs wait for a reboot, D-9).
const ROUNDS: &[&[&str]] = &[&["hello-rev1", "licensed"], &["hello-rev2", "reboot-needed"]];

/// The name of the service quickstart adds.
const SERVICE_NAME: &str = "wua quickstart";

pub(crate) fn run(cli: &Cli, dir: &Path) -> CliResult<u8> {
    let io = |what: &str, e: std::io::Error| WuError::new(HResult::WU_E_INVALID_FILE, format!("{what}: {e}"));
    let root = dir.join("root");
    let state = dir.join("state");
    let repo = dir.join("repo");
    fs_err::create_dir_all(&root).map_err(|e| io("creating the root", e))?;
    let runtime = tokio::runtime::Runtime::new().map_err(|e| io("starting the runtime", e))?;
    let trust = |e: wua_trust::TrustError| WuError::from(e);
    if !repo.join("repository").exists() {
        runtime.block_on(wua_trust::repo::init(&repo, &wua_trust::repo::InitOptions::default())).map_err(trust)?;
    }
    // The update server over the repository, on loopback; the agent registers with it.
    let server = QuickServer::start(&runtime, dir, &repo)?;
    let session = open_session(&state, &root)?;
    let service = add_service(&runtime, &session, &repo, &server)?;
    let mut rows = Vec::new();
    let mut json_rows = Vec::new();
    let mut code = EXIT_OK;
    for round in ROUNDS {
        // What a run before published stays published (a rerun, or one that was interrupted).
        let published = wua_trust::repo::list(&repo).map_err(trust)?;
        let mut approved = Vec::new();
        for name in *round {
            let sample = SAMPLES.iter().find(|s| s.name == *name).expect("a sample of the rounds");
            let (manifest, payload) = write_sample(dir, sample)?;
            let update = wua_package::Manifest::load(&manifest)?.update;
            if published.document(&update.id, update.revision).is_none() {
                runtime.block_on(wua_trust::repo::publish(&repo, &manifest, &payload)).map_err(trust)?;
            }
            approved.push(update.id);
        }
        // The administrator approves the round's samples for the quickstart's group.
        server.approve(&runtime, &approved)?;
        let searcher = session.create_update_searcher();
        searcher.set_server_selection(ServerSelection::ManagedServer);
        let found = searcher.search("IsInstalled=0 and IsHidden=0")?.updates;
        if found.is_empty() {
            continue;
        }
        let downloader = session.create_update_downloader();
        downloader.set_updates(found.copy());
        let downloaded = downloader.download()?;
        if downloaded.result_code != OperationResultCode::Succeeded {
            code = EXIT_FAILED;
        }
        for update in &found {
            if !update.eula_text().is_empty() && !update.eula_accepted() {
                if !cli.json {
                    println!("License terms of \"{}\":\n\n{}\n", update.title(), update.eula_text().trim_end());
                    println!("quickstart accepts them for you.\n");
                }
                update.accept_eula()?;
            }
        }
        let installer = session.create_update_installer();
        let updates = found.copy();
        installer.set_updates(updates.clone());
        let result = jobrun::run(cli, &installer, &updates, UpdateOperation::Installation)?;
        if exit_code(&result) == EXIT_FAILED {
            code = EXIT_FAILED;
        }
        for (update, r) in updates.iter().zip(&result.update_results) {
            let outcome = match r.result_code {
                OperationResultCode::Succeeded if r.reboot_required => "installed, reboot required".to_owned(),
                OperationResultCode::Succeeded => "installed".to_owned(),
                other => other.to_string(),
            };
            rows.push(vec![update.title().into(), identity(update), outcome, r.hresult.name_or_hex()]);
        }
        json_rows.push(json::QuickstartSample {
            sample: round.join(", "),
            skipped: None,
            result: Some(json::Operation::new("install", &updates, &result)),
        });
    }
    if rows.is_empty() {
        // A second run: everything the repository offers is installed.
        let searcher = session.create_update_searcher();
        searcher.set_server_selection(ServerSelection::ManagedServer);
        searcher.set_online(false);
        for update in &searcher.search("IsInstalled=1")?.updates {
            rows.push(vec![
                update.title().into(),
                identity(update),
                "already installed, skipped".into(),
                String::new(),
            ]);
            json_rows.push(json::QuickstartSample {
                sample: update.title().into(),
                skipped: Some("already installed".into()),
                result: None,
            });
        }
    }
    // The agent reports its scan (outcomes are queued with the history), then the server's view.
    let flush = report(&session, &service)?;
    let mut ids: Vec<String> = Vec::new();
    for sample in SAMPLES {
        let (manifest, _) = write_sample(dir, sample)?;
        let id = wua_package::Manifest::load(&manifest)?.update.id;
        if !ids.contains(&id) {
            ids.push(id);
        }
    }
    let mut status = Vec::new();
    for id in &ids {
        status.push(server.status(&runtime, id)?);
    }
    let server_url = server.url.clone();
    server.stop(&runtime)?;
    let searcher = session.create_update_searcher();
    let total = searcher.get_total_history_count()?;
    let history = searcher.query_history(0, 20)?;
    // A sample asks for a reboot; quickstart only says so (the machine is not rebooted), and a
    // rerun finds nothing left to install instead of running into the pending reboot (D-9).
    let reboot_required = session.system_information().reboot_required()?;
    if cli.json {
        let reports =
            json::QuickstartReports { sent: flush.sent, accepted: flush.accepted, remaining: flush.remaining };
        json::print(&json::Quickstart {
            root,
            state_dir: state,
            samples: json_rows,
            reboot_required,
            server: server_url,
            reports,
            status,
        });
        return Ok(code);
    }
    println!(
        "quickstart: the samples published to {}, approved through wua server at {} for group {}, searched, \
         downloaded and installed into {} (state in {})\n",
        repo.display(),
        server_url,
        crate::quickstart_server::GROUP,
        root.display(),
        state.display()
    );
    print_table(&["update", "identity", "outcome", "hresult"], &rows);
    println!();
    print_history(cli, total, &history);
    println!(
        "\nreports: {} sent to the server ({} new, {} left queued); the server's status of each sample:\n",
        flush.sent, flush.accepted, flush.remaining
    );
    let status_rows: Vec<Vec<String>> = status
        .iter()
        .map(|s| {
            let title = SAMPLES
                .iter()
                .find(|sample| sample.manifest.contains(&s.update_id))
                .and_then(|sample| sample.name.split("-rev").next())
                .unwrap_or_default();
            vec![
                format!("{} {title}", &s.update_id[..8]),
                s.installed.to_string(),
                s.needed.to_string(),
                s.failed.to_string(),
                s.pending_reboot.to_string(),
                s.not_applicable.to_string(),
                s.no_status.to_string(),
            ]
        })
        .collect();
    print_table(
        &["update", "installed", "needed", "failed", "pending reboot", "not applicable", "no status"],
        &status_rows,
    );
    if reboot_required {
        println!("\nreboot required (simulated): a sample asked for a reboot; installs wait for one (D-9)");
    }
    println!(
        "\nTry: ls -R {}   or   wua --state-dir {} --root {} search --offline \"IsInstalled=1\"",
        root.display(),
        state.display(),
        root.display()
    );
    Ok(code)
}

/// Registers the agent with the quickstart's server as its managed server (the port changes
/// from run to run: the service of an earlier run is removed first, with its trusted state;
/// registering again with the same machine id keeps the computer). Returns the service's id.
fn add_service(
    runtime: &tokio::runtime::Runtime,
    session: &wua_agent::UpdateSession,
    repo: &Path,
    server: &QuickServer,
) -> CliResult<String> {
    let manager = session.create_update_service_manager();
    for old in manager.services()?.into_iter().filter(|s| s.name == SERVICE_NAME) {
        manager.remove_service(&old.service_id)?;
    }
    let root_path = repo.join("repository/metadata/1.root.json");
    let trusted_root = fs_err::read(&root_path)
        .map_err(|e| WuError::new(HResult::WU_E_INVALID_FILE, format!("{}: {e}", root_path.display())))?;
    let (key, key_id) = server.enrolment_key(runtime)?;
    let service = manager.add_managed_server(&ManagedServerRegistration {
        name: Some(SERVICE_NAME.into()),
        server_url: server.url.clone(),
        trusted_root,
        enrolment_key: key,
        ca_bundle: None,
        requested_group: None,
    })?;
    server.revoke_key(runtime, &key_id)?;
    Ok(service.service_id)
}

/// Queues the agent's full scan (needed and installed) and sends every queued report.
fn report(session: &wua_agent::UpdateSession, service: &str) -> CliResult<wua_agent::OutboxFlush> {
    let searcher = session.create_update_searcher();
    searcher.set_server_selection(ServerSelection::ManagedServer);
    searcher.set_online(false);
    let scan = searcher.search("DeploymentAction=*")?.updates;
    let (installed, needed): (Vec<&Update>, Vec<&Update>) = scan.iter().partition(|u| u.is_installed());
    let ids = |us: &[&Update]| us.iter().map(|u| u.identity().update_id).collect::<Vec<_>>();
    let manager = session.create_update_service_manager();
    manager.enqueue_report(service, &ReportBody::Scan { needed: ids(&needed), installed: ids(&installed) })?;
    manager.flush_outbox(service)
}

fn identity(update: &wua_agent::wua_types::Update) -> String {
    let id = update.identity();
    format!("{} rev {}", &id.update_id[..8], id.revision_number)
}

/// Writes a sample's manifest and payload under `dir/samples/NAME`; returns their paths.
fn write_sample(dir: &Path, sample: &Sample) -> CliResult<(std::path::PathBuf, std::path::PathBuf)> {
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
    Ok((manifest, payload))
}
