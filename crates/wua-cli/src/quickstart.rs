//! `wua quickstart [DIR]`: WUA's whole flow on the embedded samples, with the update server.
//! It publishes them to a signed repository in `DIR/repo`, runs `wua server` over it on
//! 127.0.0.1 (data in `DIR/server`), registers the agent with it (state in `DIR/state`,
//! target root `DIR/root`) into the group `quickstart`, approves each round's samples for that
//! group through the server's API, then searches, downloads and installs what the search
//! offers, in two rounds. The end state, one row per sample:
//!
//! - `hello`: revision 1 installed in the first round, revision 2 published and installed over
//!   it in the second (D-40);
//! - `licensed`: installed after its license terms were shown and accepted (D-14);
//! - `old-tool`: approved but never offered, because `new-tool` supersedes it (D-28);
//! - `new-tool`: installed;
//! - `kernel-tuning`: a `command` update installed last, whose script exits 3010: "reboot
//!   required (simulated)", nothing reboots, the agent records the pending reboot (D-9).
//!
//! The agent then reports its scan, results and reboot state, and the quickstart shows the
//! server's status report for this computer. The exit code is 0 when every row is what it
//! should be. A second run reuses the repository, the server's data and the agent's service,
//! publishes only what is missing, registers again with the same machine id and finds every
//! sample installed or superseded.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use wua_agent::wua_types::api::{ComputerDetail, ReportBody, UpdateState};
use wua_agent::wua_types::{
    HResult, OperationResultCode, ServerSelection, Update, UpdateCollection, UpdateHistoryEntry,
    UpdateInstallationResult, UpdateOperation, WuError,
};
use wua_agent::{ManagedServer, ManagedServerRegistration, OutboxFlush, UpdateSession};

use crate::json::{self, QuickstartOutcome as Outcome};
use crate::output::{print_history, print_table};
use crate::quickstart_server::QuickServer;
use crate::session::open_session;
use crate::{Cli, CliResult, EXIT_FAILED, EXIT_OK, jobrun};

/// A sample update: a manifest and its payload files (path, mode, content).
struct Sample {
    /// The sample's name, shared by its revisions (a row of the result).
    name: &'static str,
    /// Its directory under `DIR/samples` (one per revision).
    dir: &'static str,
    manifest: &'static str,
    payload: &'static [(&'static str, u32, &'static str)],
}

/// The samples, in the order of the result's rows and of each install job: `kernel-tuning`
/// asks for a reboot, after which installs wait for one (D-9), so it comes last.
const SAMPLES: &[Sample] = &[
    Sample {
        name: "hello",
        dir: "hello-rev1",
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
        name: "hello",
        dir: "hello-rev2",
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
        name: "licensed",
        dir: "licensed",
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
        name: "old-tool",
        dir: "old-tool",
        manifest: r#"
[update]
id = "5a8d2f14-6b3e-4c9a-8e1f-7c2b4d6e8a04"
title = "wua sample: old-tool"
description = "A small files update that new-tool supersedes: approved, never offered."

[handler]
kind = "files"
"#,
        payload: &[("usr/local/bin/wua-old-tool", 0o755, "#!/bin/sh\necho \"old-tool from wua\"\n")],
    },
    Sample {
        name: "new-tool",
        dir: "new-tool",
        manifest: r#"
[update]
id = "9e4c7a21-2d5f-4b8e-a3c6-1f9d8b7e5c05"
title = "wua sample: new-tool"
description = "A files update that supersedes old-tool: a search offers it instead."
superseded_update_ids = ["5a8d2f14-6b3e-4c9a-8e1f-7c2b4d6e8a04"]

[handler]
kind = "files"
"#,
        payload: &[
            ("usr/local/bin/wua-new-tool", 0o755, "#!/bin/sh\necho \"new-tool from wua\"\n"),
            ("etc/wua-sample/new-tool.conf", 0o644, "replaces = old-tool\n"),
        ],
    },
    Sample {
        name: "kernel-tuning",
        dir: "kernel-tuning",
        manifest: r#"
[update]
id = "3c9e5b71-8a4d-4f2e-b6c0-5d7e9f1a2b03"
title = "wua sample: kernel-tuning"
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
                 printf 'vm.swappiness = 10\\n' > \"$conf\"\nsleep 1\necho \"wrote $conf; a reboot applies it\"\nexit 3010\n",
            ),
            ("uninstall.sh", 0o755, "#!/bin/sh\nrm -f \"$WUA_TARGET_ROOT/etc/sysctl.d/90-wua-sample.conf\"\n"),
        ],
    },
];

/// The samples (by directory) published and approved in each round. The first round's are
/// installed before the second is published, so revision 2 of `hello` arrives as an update
/// of an installed revision (D-40); `old-tool` is published with `new-tool`, which supersedes
/// it, so that no search ever offers it (D-28).
const ROUNDS: &[&[&str]] = &[&["hello-rev1", "licensed"], &["hello-rev2", "old-tool", "new-tool", "kernel-tuning"]];

/// The name of the service quickstart adds.
const SERVICE_NAME: &str = "wua quickstart";

/// A sample written under `DIR/samples`, with what its manifest says.
struct Prepared {
    sample: &'static Sample,
    manifest: PathBuf,
    payload: PathBuf,
    id: String,
    revision: i32,
    title: String,
    supersedes: Vec<String>,
}

/// What a sample must end as.
#[derive(Debug, PartialEq, Eq)]
enum Expected {
    /// Installed at this revision (its newest).
    Installed(i32),
    /// Never offered, because this sample supersedes it.
    Superseded(&'static str),
}

/// Everything a run did, for the output.
struct Done {
    published: Vec<String>,
    service: json::QuickstartService,
    rows: Vec<json::QuickstartSample>,
    reached: bool,
    installs: Vec<json::Operation>,
    flush: OutboxFlush,
    computer: ComputerDetail,
}

fn io_error(what: &str, e: std::io::Error) -> WuError {
    WuError::new(HResult::WU_E_INVALID_FILE, format!("{what}: {e}"))
}

fn trust_error(e: wua_trust::TrustError) -> WuError {
    WuError::from(e)
}

pub(crate) fn run(cli: &Cli, dir: &Path) -> CliResult<u8> {
    // Absolute, so that the commands printed at the end work from any directory.
    let dir = std::path::absolute(dir).map_err(|e| io_error(&dir.display().to_string(), e))?;
    let root = dir.join("root");
    let state = dir.join("state");
    let repo = dir.join("repo");
    fs_err::create_dir_all(&root).map_err(|e| io_error("creating the root", e))?;
    let runtime = tokio::runtime::Runtime::new().map_err(|e| io_error("starting the runtime", e))?;
    if !repo.join("repository").exists() {
        runtime
            .block_on(wua_trust::repo::init(&repo, &wua_trust::repo::InitOptions::default()))
            .map_err(trust_error)?;
    }
    let prepared = SAMPLES.iter().map(|sample| prepare(&dir, sample)).collect::<CliResult<Vec<_>>>()?;
    let session = open_session(&state, &root)?;
    let earlier = session.create_update_service_manager().managed_server()?;
    // The earlier run's port when it is free: the agent's service then stays as it is.
    let port = earlier.as_ref().and_then(|m| url::Url::parse(&m.server_url).ok()).and_then(|u| u.port());
    let server = QuickServer::start(&runtime, &dir, &repo, port)?;
    let done = work(cli, &runtime, &session, &server, &repo, &prepared, earlier);
    // Stopped whatever happened: the run's administrator token must not outlive it.
    let server_url = server.url.clone();
    let stopped = server.stop(&runtime);
    let done = done?;
    stopped?;

    let searcher = session.create_update_searcher();
    let total = searcher.get_total_history_count()?;
    let history = searcher.query_history(0, 50)?;
    let reboot_required = session.system_information().reboot_required()?;
    let code = if done.reached { EXIT_OK } else { EXIT_FAILED };
    if cli.json {
        json::print(&json::Quickstart {
            root,
            state_dir: state,
            repository: repo,
            published: done.published,
            samples: done.rows,
            end_state_reached: done.reached,
            installs: done.installs,
            history: json::History { total, entries: history.iter().map(json::HistoryEntry::from).collect() },
            reboot_required,
            server: server_url,
            service: done.service,
            reports: json::QuickstartReports {
                sent: done.flush.sent,
                accepted: done.flush.accepted,
                remaining: done.flush.remaining,
            },
            computer: done.computer,
        });
        return Ok(code);
    }
    print_text(cli, &dir, &server_url, &done, total, &history, reboot_required);
    Ok(code)
}

/// Registers the agent, publishes and approves each round's samples, installs what the search
/// offers, then reports to the server and reads its status report for this computer.
fn work(
    cli: &Cli,
    runtime: &tokio::runtime::Runtime,
    session: &UpdateSession,
    server: &QuickServer,
    repo: &Path,
    prepared: &[Prepared],
    earlier: Option<ManagedServer>,
) -> CliResult<Done> {
    let service = register(runtime, session, repo, server, earlier)?;
    let mut published = Vec::new();
    // The ids a search of this run offered, and each install's results (`hello` twice).
    let mut offered = BTreeSet::new();
    let mut installed: BTreeMap<String, Vec<(i32, UpdateInstallationResult)>> = BTreeMap::new();
    let mut eulas_shown: BTreeMap<String, String> = BTreeMap::new();
    let mut installs = Vec::new();
    // Offered, but left for after a reboot (D-9).
    let mut blocked = BTreeSet::new();
    for round in ROUNDS {
        let catalog = wua_trust::repo::list(repo).map_err(trust_error)?;
        let mut approve: Vec<String> = Vec::new();
        for dir in *round {
            let p = prepared.iter().find(|p| p.sample.dir == *dir).expect("ROUNDS names directories of SAMPLES");
            // What a run before published stays published (a rerun, or one that was
            // interrupted); the repository refuses a revision at or below the newest.
            let newest = catalog.documents.iter().filter(|d| d.update_id == p.id).map(|d| d.revision_number).max();
            if newest.is_none_or(|n| n < p.revision) {
                runtime.block_on(wua_trust::repo::publish(repo, &p.manifest, &p.payload)).map_err(trust_error)?;
                published.push(format!("{} rev {}", p.sample.name, p.revision));
            }
            if !approve.contains(&p.id) {
                approve.push(p.id.clone());
            }
        }
        // The administrator approves the round's samples for the quickstart's group.
        server.approve(runtime, &approve)?;
        let searcher = session.create_update_searcher();
        searcher.set_server_selection(ServerSelection::ManagedServer);
        let found = searcher.search("IsInstalled=0 and IsHidden=0")?.updates;
        // Only samples: what else an administrator approved on this server is not the
        // quickstart's to install. In the samples' order, which puts the reboot last.
        let mut wanted: Vec<(usize, Update)> =
            found.iter().filter_map(|u| order(prepared, &u.identity().update_id).map(|i| (i, u.clone()))).collect();
        wanted.sort_by_key(|(i, _)| *i);
        let updates: UpdateCollection = wanted.into_iter().map(|(_, u)| u).collect();
        if updates.is_empty() {
            continue;
        }
        offered.extend(updates.iter().map(|u| u.identity().update_id));
        let installer = session.create_update_installer();
        if installer.reboot_required_before_installation()? {
            // D-9 would refuse the install (a directory whose earlier run asked for a reboot
            // that has not happened): the rows say so, and the output how to simulate it.
            blocked.extend(updates.iter().map(|u| u.identity().update_id));
            continue;
        }
        // With progress, as `wua download` shows it. A failed download shows as the install's
        // WU_E_DM_NOTDOWNLOADED (D-12) in its row.
        crate::transfer::download(cli, session, &updates, false)?;
        for update in &updates {
            if !update.eula_text().is_empty() && !update.eula_accepted() {
                if !cli.json {
                    println!("License terms of \"{}\":\n\n{}\n", update.title(), update.eula_text().trim_end());
                    println!("quickstart accepts them for you.\n");
                }
                update.accept_eula()?;
                eulas_shown.insert(update.identity().update_id, update.eula_text().to_owned());
            }
        }
        installer.set_updates(updates.clone());
        let result = jobrun::run(cli, &installer, &updates, UpdateOperation::Installation)?;
        for (update, r) in updates.iter().zip(&result.update_results) {
            let identity = update.identity();
            installed.entry(identity.update_id).or_default().push((identity.revision_number, r.clone()));
        }
        installs.push(json::Operation::new("install", &updates, &result));
    }

    // Every sample as the agent now sees it, superseded ones included, to tell why one is not
    // offered.
    let searcher = session.create_update_searcher();
    searcher.set_server_selection(ServerSelection::ManagedServer);
    searcher.set_online(false);
    searcher.set_include_potentially_superseded_updates(true);
    let all = searcher.search("DeploymentAction=*")?.updates;
    let mut rows = Vec::new();
    let mut reached = true;
    for name in names() {
        let mut row = row(name, prepared, &all, &offered, &installed, &eulas_shown);
        if row.outcome == Outcome::NotOffered && blocked.contains(&row.update_id) {
            row.outcome = Outcome::NotInstalledRebootPending;
            row.hresult = HResult::WU_E_INSTALL_NOT_ALLOWED.into();
        }
        reached &= is_reached(&row, &expected(name, prepared));
        rows.push(row);
    }

    let flush = report(session, &service.service_id)?;
    let computer = server.computer(runtime, &service.computer_id)?;
    Ok(Done { published, service, rows, reached, installs, flush, computer })
}

/// Registers the agent with the quickstart's server as its managed server, into the group
/// `quickstart`, with the same machine id each run (the server keeps the computer). The agent
/// keeps one managed server and refuses another URL until that service is removed: when the
/// earlier run's port was taken, its service is replaced by one at the new port.
fn register(
    runtime: &tokio::runtime::Runtime,
    session: &UpdateSession,
    repo: &Path,
    server: &QuickServer,
    earlier: Option<ManagedServer>,
) -> CliResult<json::QuickstartService> {
    let manager = session.create_update_service_manager();
    let same_url = |a: &str, b: &str| url::Url::parse(a).ok().is_some_and(|a| url::Url::parse(b).ok() == Some(a));
    let mut replaced_url = None;
    let mut kept_id = None;
    if let Some(m) = earlier {
        if same_url(&m.server_url, &server.url) {
            kept_id = Some(m.service_id);
        } else {
            manager.remove_service(&m.service_id)?;
            replaced_url = Some(m.server_url);
        }
    }
    let root_path = repo.join("repository/metadata/1.root.json");
    let trusted_root = fs_err::read(&root_path).map_err(|e| io_error(&root_path.display().to_string(), e))?;
    let (key, key_id) = server.enrolment_key(runtime)?;
    let added = manager.add_managed_server(&ManagedServerRegistration {
        name: Some(SERVICE_NAME.into()),
        server_url: server.url.clone(),
        trusted_root,
        enrolment_key: key,
        ca_bundle: None,
        requested_group: None,
    });
    // The agent registered, or could not: either way the key has done its job.
    server.revoke_key(runtime, &key_id)?;
    let service = added?;
    // As a scheduled run does first: the group and check-in interval are recorded.
    manager.check_in(&service.service_id)?;
    let computer_id = manager
        .managed_server()?
        .map(|m| m.computer_id)
        .ok_or_else(|| WuError::new(HResult::WUA_E_SERVER_PROTOCOL, "registered, but no managed server recorded"))?;
    Ok(json::QuickstartService {
        kept: kept_id.as_deref() == Some(service.service_id.as_str()),
        service_id: service.service_id,
        computer_id,
        replaced_url,
    })
}

/// Queues the agent's full scan (needed and installed) and its reboot state, as a scheduled
/// run does, and sends every queued report (the install outcomes were queued with the history).
fn report(session: &UpdateSession, service: &str) -> CliResult<OutboxFlush> {
    let searcher = session.create_update_searcher();
    searcher.set_server_selection(ServerSelection::ManagedServer);
    searcher.set_online(false);
    let scan = searcher.search("DeploymentAction=*")?.updates;
    let (installed, needed): (Vec<&Update>, Vec<&Update>) = scan.iter().partition(|u| u.is_installed());
    let ids = |us: &[&Update]| us.iter().map(|u| u.identity().update_id).collect::<Vec<_>>();
    let manager = session.create_update_service_manager();
    manager.enqueue_report(service, &ReportBody::Scan { needed: ids(&needed), installed: ids(&installed) })?;
    manager.report_reboot_state(service, session.system_information().reboot_required()?)?;
    manager.flush_outbox(service)
}

/// The samples' names, once each, in their order.
fn names() -> Vec<&'static str> {
    let mut names: Vec<&'static str> = Vec::new();
    for sample in SAMPLES {
        if !names.contains(&sample.name) {
            names.push(sample.name);
        }
    }
    names
}

/// The position of the sample with update id `id` in [`SAMPLES`] (`prepared` is in that
/// order); `None` for other updates.
fn order(prepared: &[Prepared], id: &str) -> Option<usize> {
    prepared.iter().position(|p| p.id == id)
}

/// The newest revision of sample `name`.
fn newest<'a>(name: &str, prepared: &'a [Prepared]) -> Option<&'a Prepared> {
    prepared.iter().filter(|p| p.sample.name == name).max_by_key(|p| p.revision)
}

/// What sample `name` must end as: superseded when another sample supersedes it, otherwise
/// installed at its newest revision.
fn expected(name: &str, prepared: &[Prepared]) -> Expected {
    let newest = newest(name, prepared);
    let id = newest.map(|p| p.id.as_str()).unwrap_or_default();
    match prepared.iter().find(|p| p.sample.name != name && p.supersedes.iter().any(|s| s == id)) {
        Some(by) => Expected::Superseded(by.sample.name),
        None => Expected::Installed(newest.map_or(0, |p| p.revision)),
    }
}

fn is_reached(row: &json::QuickstartSample, expected: &Expected) -> bool {
    match expected {
        Expected::Installed(revision) => {
            matches!(row.outcome, Outcome::Installed | Outcome::InstalledRebootRequired | Outcome::AlreadyInstalled)
                && row.revision == *revision
        }
        Expected::Superseded(by) => {
            row.outcome == Outcome::NotOfferedSuperseded && row.superseded_by.as_deref() == Some(*by)
        }
    }
}

/// Sample `name`'s row: what this run's installs did with it, else whether it is installed,
/// else what supersedes it.
fn row(
    name: &str,
    prepared: &[Prepared],
    all: &UpdateCollection,
    offered: &BTreeSet<String>,
    installed: &BTreeMap<String, Vec<(i32, UpdateInstallationResult)>>,
    eulas_shown: &BTreeMap<String, String>,
) -> json::QuickstartSample {
    let newest = newest(name, prepared);
    let id = newest.map(|p| p.id.clone()).unwrap_or_default();
    let view = all.iter().find(|u| u.identity().update_id == id);
    let mut row = json::QuickstartSample {
        name: name.to_owned(),
        update_id: id.clone(),
        revision: view.map_or_else(|| newest.map_or(0, |p| p.revision), |u| u.identity().revision_number),
        title: view.map_or_else(|| newest.map(|p| p.title.clone()).unwrap_or_default(), |u| u.title().to_owned()),
        outcome: Outcome::NotOffered,
        hresult: HResult::S_OK.into(),
        reboot_required: view.is_some_and(Update::reboot_required),
        eula_accepted: view.is_none_or(Update::eula_accepted),
        eula_shown: eulas_shown.get(&id).cloned(),
        superseded_by: None,
        replaced_revision: None,
        message: String::new(),
    };
    if let Some((revision, last)) = installed.get(&id).and_then(|r| r.last()) {
        row.revision = *revision;
        row.outcome = match last.result_code {
            OperationResultCode::Succeeded if last.reboot_required => Outcome::InstalledRebootRequired,
            OperationResultCode::Succeeded => Outcome::Installed,
            _ => Outcome::Failed,
        };
        row.hresult = last.hresult.into();
        row.reboot_required |= last.reboot_required;
        row.message = last.message.clone();
        row.replaced_revision = installed.get(&id).and_then(|results| {
            results
                .iter()
                .filter(|(r, res)| *r < *revision && res.result_code == OperationResultCode::Succeeded)
                .map(|(r, _)| *r)
                .next_back()
        });
    } else if view.is_some_and(Update::is_installed) {
        row.outcome = Outcome::AlreadyInstalled;
        row.hresult = HResult::WU_S_ALREADY_INSTALLED.into();
    } else if let Some(by) = all.iter().find(|u| {
        u.document().superseded_update_ids.contains(&id)
            && (u.is_installed() || offered.contains(&u.identity().update_id))
    }) {
        row.outcome = Outcome::NotOfferedSuperseded;
        let by_id = by.identity().update_id;
        let by_name = prepared.iter().find(|p| p.id == by_id).map(|p| p.sample.name.to_owned());
        row.superseded_by = Some(by_name.unwrap_or_else(|| by.title().to_owned()));
    }
    row
}

/// The outcome column of a row.
fn outcome_text(row: &json::QuickstartSample) -> String {
    let reboot = if row.reboot_required { ", reboot required (simulated)" } else { "" };
    match row.outcome {
        Outcome::Installed | Outcome::InstalledRebootRequired => {
            let mut text = String::from("installed");
            if let Some(r) = row.replaced_revision {
                text.push_str(&format!(" over rev {r}"));
            }
            if row.eula_shown.is_some() {
                text.push_str(" after its license terms were shown and accepted");
            }
            text + reboot
        }
        Outcome::AlreadyInstalled => format!("already installed{reboot}"),
        Outcome::NotOfferedSuperseded => {
            format!("not offered: superseded by {}", row.superseded_by.as_deref().unwrap_or("another update"))
        }
        Outcome::NotInstalledRebootPending => "not installed: a reboot is pending".into(),
        Outcome::NotOffered => "not offered".into(),
        Outcome::Failed if row.message.is_empty() => "failed".into(),
        Outcome::Failed => format!("failed: {}", row.message),
    }
}

fn print_text(
    cli: &Cli,
    dir: &Path,
    server_url: &str,
    done: &Done,
    total: i32,
    history: &[UpdateHistoryEntry],
    reboot_required: bool,
) {
    let (root, state, repo) = (dir.join("root"), dir.join("state"), dir.join("repo"));
    println!("wua quickstart in {}", dir.display());
    println!(
        "  repository  {}: {}",
        repo.display(),
        if done.published.is_empty() {
            "nothing missing, nothing published".to_owned()
        } else {
            format!("published {}", done.published.join(", "))
        }
    );
    println!(
        "  server      wua server at {server_url} (data in {}), the samples approved for group {}",
        dir.join("server").display(),
        crate::quickstart_server::GROUP
    );
    let service = &done.service;
    let registration = match (&service.replaced_url, service.kept) {
        (Some(old), _) => format!("service {} at the new port (the one for {old} removed)", service.service_id),
        (None, true) => format!("service {} kept", service.service_id),
        (None, false) => format!("service {}", service.service_id),
    };
    println!(
        "  agent       state in {}, root {}; registered as computer {}, {registration}",
        state.display(),
        root.display(),
        service.computer_id
    );
    println!();
    let rows: Vec<Vec<String>> = done
        .rows
        .iter()
        .map(|r| {
            let hresult = match r.outcome {
                Outcome::NotOffered | Outcome::NotOfferedSuperseded => "-".to_owned(),
                _ => r.hresult.hresult_name.clone(),
            };
            vec![r.name.clone(), format!("{} rev {}", short(&r.update_id), r.revision), outcome_text(r), hresult]
        })
        .collect();
    print_table(&["sample", "update", "outcome", "hresult"], &rows);
    if !done.reached {
        println!("\nquickstart: the end state was not reached (see the rows above)");
    }
    println!();
    print_history(cli, total, history);

    let detail = &done.computer;
    let c = &detail.computer;
    println!(
        "\nthe server's status report for this computer ({} sent, {} new, {} left queued):",
        crate::output::plural(done.flush.sent as usize, "report", "reports"),
        done.flush.accepted,
        done.flush.remaining
    );
    println!(
        "computer {} (machine id {}, host {}, group {}), last report {}, reboot required: {}",
        c.id,
        c.machine_id,
        c.hostname,
        c.group,
        c.last_report.as_deref().map_or("none".to_owned(), date),
        if c.reboot_required { "yes" } else { "no" }
    );
    // In the samples' order (the server lists them by id); anything else after them.
    let position = |id: &str| done.rows.iter().position(|r| r.update_id == id).unwrap_or(usize::MAX);
    let mut updates: Vec<_> = detail.updates.iter().collect();
    updates.sort_by_key(|u| position(&u.update_id));
    let server_rows: Vec<Vec<String>> = updates
        .iter()
        .map(|u| {
            let name = done.rows.get(position(&u.update_id)).map_or("", |r| r.name.as_str());
            vec![
                name.to_owned(),
                short(&u.update_id).to_owned(),
                state_text(u.state).to_owned(),
                u.hresult.map(|h| h.name_or_hex()).unwrap_or_default(),
                date(&u.at),
            ]
        })
        .collect();
    print_table(&["sample", "update", "state", "hresult", "reported"], &server_rows);

    let exe = wua_command();
    let args = format!("--state-dir {} --root {}", quote(&state), quote(&root));
    if reboot_required {
        let asked: Vec<&str> = done.rows.iter().filter(|r| r.reboot_required).map(|r| r.name.as_str()).collect();
        let boot_id = dir.join("boot-id");
        println!(
            "\nreboot required (simulated): {} asked for a reboot (`exit 3010`, status 194 on Linux); nothing reboots \
             this machine.",
            if asked.is_empty() { "a sample".to_owned() } else { asked.join(", ") },
        );
        println!(
            "The agent records that {} waits for one and refuses installs into it until the boot id changes. \
             To simulate the reboot, give wua another boot id (and keep WUA_BOOT_ID_FILE for what follows):\n  \
             echo simulated-reboot > {} && WUA_BOOT_ID_FILE={} {exe} status {args}",
            root.display(),
            quote(&boot_id),
            quote(&boot_id),
        );
    }
    println!("\nTry:");
    println!("  ls -R {}", quote(&root));
    println!("  {exe} search {args} --offline \"IsInstalled=1\"");
    println!("  {exe} history {args}");
}

/// The server's state of an update, for people.
fn state_text(state: UpdateState) -> &'static str {
    match state {
        UpdateState::Installed => "installed",
        UpdateState::Needed => "needed",
        UpdateState::Failed => "failed",
        UpdateState::PendingReboot => "pending reboot",
        UpdateState::NotApplicable => "not applicable",
        UpdateState::NoStatus => "no status",
    }
}

/// An RFC 3339 time to the second, for people.
fn date(at: &str) -> String {
    at.get(..19).unwrap_or(at).replace('T', " ")
}

fn short(id: &str) -> &str {
    id.get(..8).unwrap_or(id)
}

/// How to run this `wua` again: `wua` when PATH finds this very executable, otherwise its
/// absolute path (`cargo run` and a build tree's binary are not on PATH).
fn wua_command() -> String {
    let Ok(exe) = std::env::current_exe() else { return "wua".into() };
    let me = std::fs::canonicalize(&exe).ok();
    let first_on_path = std::env::var_os("PATH")
        .and_then(|path| std::env::split_paths(&path).map(|d| d.join("wua")).find(|c| c.is_file()));
    if me.is_some() && first_on_path.and_then(|c| std::fs::canonicalize(c).ok()) == me {
        return "wua".into();
    }
    quote(&exe)
}

/// `path` as one shell word.
fn quote(path: &Path) -> String {
    let text = path.to_string_lossy();
    let plain = |c: char| c.is_ascii_alphanumeric() || "/._-+:,@%=".contains(c);
    if !text.is_empty() && text.chars().all(plain) {
        text.into_owned()
    } else {
        format!("'{}'", text.replace('\'', r"'\''"))
    }
}

/// Writes a sample's manifest and payload under `dir/samples/DIR` and reads its manifest back.
fn prepare(dir: &Path, sample: &'static Sample) -> CliResult<Prepared> {
    use std::os::unix::fs::PermissionsExt;
    let io = |e: std::io::Error| io_error(&format!("writing sample {}", sample.dir), e);
    let base = dir.join("samples").join(sample.dir);
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
    let update = wua_package::Manifest::load(&manifest)?.update;
    Ok(Prepared {
        sample,
        manifest,
        payload,
        id: update.id,
        revision: update.revision,
        title: update.title,
        supersedes: update.superseded_update_ids,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The rounds name samples that exist, the rows come in the samples' order, the reboot
    /// last; `new-tool` supersedes `old-tool`.
    #[test]
    fn samples_and_rounds_agree() {
        let dir = tempfile::tempdir().unwrap();
        let prepared: Vec<Prepared> = SAMPLES.iter().map(|s| prepare(dir.path(), s).unwrap()).collect();
        assert_eq!(expected("old-tool", &prepared), Expected::Superseded("new-tool"));
        assert_eq!(expected("hello", &prepared), Expected::Installed(2));
        assert_eq!(expected("kernel-tuning", &prepared), Expected::Installed(1));
        for round in ROUNDS {
            assert!(round.iter().all(|dir| SAMPLES.iter().any(|s| s.dir == *dir)), "{round:?}");
        }
        assert_eq!(names(), ["hello", "licensed", "old-tool", "new-tool", "kernel-tuning"]);
        assert_eq!(SAMPLES.last().map(|s| s.name), Some("kernel-tuning"), "the reboot comes last (D-9)");
    }

    #[test]
    fn paths_are_quoted_for_the_shell() {
        assert_eq!(quote(Path::new("/tmp/wua-quickstart/root")), "/tmp/wua-quickstart/root");
        assert_eq!(quote(Path::new("/tmp/a b/it's")), r"'/tmp/a b/it'\''s'");
    }
}
