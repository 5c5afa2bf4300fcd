//! Everything the CLI prints: tables for people, JSON with `--json` (its shapes in
//! [`crate::json`]).

use std::path::Path;

use wua_agent::wua_types::{
    DownloadResult, InstallationResult, OperationResultCode, SearchResult, Update, UpdateCollection, UpdateDocument,
    UpdateHistoryEntry, WuError,
};
use wua_agent::{UpdateService, UpdateSession};

use crate::Cli;
use crate::agent_run::AgentRunReport;
use crate::{json, json_inspect};

/// A call error: to stderr as text (the message, then the HResult's name and code once, and
/// a one-line hint), or to stdout as JSON.
pub(crate) fn print_error(cli: &Cli, e: &WuError) {
    if cli.json {
        json::print(&json::CallError::from(e));
    } else {
        eprintln!("wua: error: {}", e.message);
        eprintln!("  {} ({}): {}", e.hresult.name_or_hex(), e.hresult.hex(), crate::hints::hint(e.hresult));
    }
}

pub(crate) fn print_built(cli: &Cli, doc: &UpdateDocument, out: &Path) {
    if cli.json {
        json::print(&json::Built::new(doc, out));
    } else {
        let links = doc.content.iter().filter(|c| c.is_link()).count();
        let links = if links == 0 { String::new() } else { format!(", {}", plural(links, "link", "links")) };
        println!(
            "built {} ({} rev {}, \"{}\", {}{links}, {})",
            out.display(),
            doc.update_id,
            doc.revision_number,
            doc.title,
            plural(doc.blobs().count(), "file", "files"),
            human_size(doc.content_size())
        );
    }
}

pub(crate) fn print_imported(cli: &Cli, updates: &UpdateCollection) {
    if cli.json {
        json::print(&json::Imported { imported: updates.iter().map(json::ImportedUpdate::from).collect() });
        return;
    }
    for u in updates {
        let id = u.identity();
        println!(
            "imported {} rev {} \"{}\"{}",
            id.update_id,
            id.revision_number,
            u.title(),
            if u.is_installed() { " (installed)" } else { "" }
        );
    }
}

pub(crate) fn print_eula(cli: &Cli, update: &Update) {
    if cli.quiet {
        return;
    }
    // With --json the license goes to stderr so stdout stays one JSON document.
    eprintln!("License terms of \"{}\" ({}):\n", update.title(), update.identity().update_id);
    eprintln!("{}", update.eula_text().trim_end());
    eprintln!("\nAccepted (--accept-eula).\n");
}

pub(crate) fn print_result(cli: &Cli, operation: &str, updates: &UpdateCollection, result: &InstallationResult) {
    if cli.json {
        json::print(&json::Operation::new(operation, updates, result));
        return;
    }
    let rows: Vec<Vec<String>> = updates
        .iter()
        .zip(&result.update_results)
        .enumerate()
        .map(|(i, (u, r))| {
            vec![
                (i + 1).to_string(),
                u.title().to_owned(),
                format!("{} rev {}", short_id(&u.identity().update_id), u.identity().revision_number),
                r.result_code.to_string(),
                r.hresult.name_or_hex(),
                if r.reboot_required { "yes".into() } else { "no".into() },
            ]
        })
        .collect();
    print_table(&["#", "update", "identity", "result", "hresult", "reboot"], &rows);
    for (u, r) in updates.iter().zip(&result.update_results) {
        if !r.message.is_empty() {
            println!("  {}: {}", u.title(), r.message);
        }
        for w in &r.warnings {
            println!("  {}: warning: {w}", u.title());
        }
    }
    println!(
        "{operation}: {} ({}){}",
        result.result_code,
        result.hresult.name_or_hex(),
        if result.reboot_required { ", reboot required" } else { "" }
    );
}

pub(crate) fn print_history(cli: &Cli, total: i32, entries: &[UpdateHistoryEntry]) {
    if cli.json {
        json::print(&json::History { total, entries: entries.iter().map(json::HistoryEntry::from).collect() });
        return;
    }
    let rows: Vec<Vec<String>> = entries
        .iter()
        .map(|e| {
            vec![
                e.date.get(..19).unwrap_or(&e.date).replace('T', " "),
                e.operation.to_string(),
                e.result_code.to_string(),
                e.hresult.name_or_hex(),
                e.title.clone(),
                format!("{} rev {}", short_id(&e.update_identity.update_id), e.update_identity.revision_number),
                if e.recovered { "recovered".into() } else { e.client_application_id.clone() },
            ]
        })
        .collect();
    println!("history: {} entries in all, newest first", total);
    print_table(&["date", "operation", "result", "hresult", "title", "identity", "by"], &rows);
}

pub(crate) fn print_recovered(cli: &Cli, done: &[wua_agent::RecoveredOperation]) {
    if cli.json {
        json::print(&json::Recovered { recovered: done.iter().map(json::RecoveredEntry::from).collect() });
        return;
    }
    if done.is_empty() {
        println!("nothing to recover");
    }
    for r in done {
        let how = if r.rolled_forward { "completed" } else { "rolled back" };
        println!("{} of {}: {how}", r.operation, r.update_id);
    }
}

pub(crate) fn print_status(cli: &Cli, session: &UpdateSession) -> Result<(), WuError> {
    let updates = session.known_updates()?;
    let reboot = session.system_information().reboot_required()?;
    let blocking = session.create_update_installer().reboot_required_before_installation()?;
    let running = session.operation_in_progress()?;
    let interrupted = session.interrupted_operations()?;
    let manager = session.create_update_service_manager();
    let services = manager.services()?;
    let results = session.automatic_updates_results()?;
    let managed = match manager.managed_server()? {
        Some(m) => {
            let dead = manager.dead_letters(&m.service_id)?;
            Some((m, dead))
        }
        None => None,
    };
    if cli.json {
        json::print(&json::Status {
            state_dir: session.state_dir().to_owned(),
            root: session.root().to_owned(),
            reboot_required: reboot,
            reboot_required_before_installation: blocking,
            interrupted_operations: interrupted,
            operation_in_progress_pid: running,
            updates: updates.iter().map(json::StatusUpdate::from).collect(),
            services: services.iter().map(json::Service::from).collect(),
            last_search_success_date: results.last_search_success_date.clone(),
            last_installation_success_date: results.last_installation_success_date.clone(),
            managed_server: managed.as_ref().map(|(m, dead)| json::StatusManaged::new(m, dead)),
        });
        return Ok(());
    }
    println!("state directory: {}", session.state_dir().display());
    println!("target root:     {}", session.root().display());
    println!(
        "reboot required: {}{}",
        if reboot { "yes" } else { "no" },
        if blocking { " (installs are blocked until the machine reboots; --forced overrides)" } else { "" }
    );
    if let Some(pid) = running {
        println!("operation in progress: pid {pid} (an install, uninstall or recovery is running)");
    }
    let date =
        |d: &Option<String>| d.as_deref().map_or("never".to_owned(), |d| d.get(..19).unwrap_or(d).replace('T', " "));
    println!("last successful search:       {}", date(&results.last_search_success_date));
    println!("last successful installation: {}", date(&results.last_installation_success_date));
    if interrupted > 0 {
        println!(
            "interrupted operations: {interrupted} (the next install or uninstall, or `wua recover`, finishes them)"
        );
    }
    let rows: Vec<Vec<String>> = updates
        .iter()
        .map(|u| {
            let f = u.flags();
            let yn = |b: bool| if b { "yes".to_owned() } else { "no".to_owned() };
            vec![
                u.title().to_owned(),
                format!("{} rev {}", short_id(&u.identity().update_id), u.identity().revision_number),
                yn(f.is_installed),
                yn(f.is_downloaded),
                yn(f.is_hidden),
                yn(f.eula_accepted),
            ]
        })
        .collect();
    if rows.is_empty() {
        println!("updates: none imported or installed");
    } else {
        println!("updates: {} imported or installed", rows.len());
        print_table(&["update", "identity", "installed", "downloaded", "hidden", "eula accepted"], &rows);
    }
    if services.is_empty() {
        println!("services: none (`wua service add` adds one)");
    } else {
        println!("services: {}", plural(services.len(), "service", "services"));
        print_services(cli, &services);
    }
    if let Some((m, dead)) = &managed {
        println!(
            "managed server: {} (computer {}, group {}), {} queued",
            m.server_url,
            m.computer_id,
            m.group,
            plural(m.pending_reports as usize, "report", "reports")
        );
        if !dead.is_empty() {
            println!(
                "dead letters: {} the server refused for good, kept here:",
                plural(dead.len(), "report", "reports")
            );
            print_dead_letters(dead);
        }
    }
    Ok(())
}

/// A table of reports the managed server refused for good.
fn print_dead_letters(dead: &[wua_agent::DeadLetter]) {
    let rows: Vec<Vec<String>> = dead
        .iter()
        .map(|d| {
            vec![
                d.at.get(..19).unwrap_or(&d.at).replace('T', " "),
                report_kind(&d.event).to_owned(),
                short_id(&d.key).to_owned(),
                d.status.to_string(),
                d.hresult.name_or_hex(),
                d.message.clone(),
            ]
        })
        .collect();
    print_table(&["made", "report", "key", "status", "hresult", "the server said"], &rows);
}

fn report_kind(event: &wua_agent::wua_types::api::ReportBody) -> &'static str {
    use wua_agent::wua_types::api::ReportBody;
    match event {
        ReportBody::Scan { .. } => "scan",
        ReportBody::Outcome { .. } => "outcome",
        ReportBody::Reboot { .. } => "reboot",
    }
}

pub(crate) fn print_search(cli: &Cli, result: &SearchResult) {
    if cli.json {
        json::print(&json::Search::from(result));
        return;
    }
    let yn = |b: bool| if b { "yes".to_owned() } else { "no".to_owned() };
    let rows: Vec<Vec<String>> = result
        .updates
        .iter()
        .map(|u| {
            vec![
                u.title().to_owned(),
                u.identity().update_id,
                u.identity().revision_number.to_string(),
                yn(u.is_installed()),
                yn(u.is_downloaded()),
                yn(u.is_hidden()),
                yn(u.eula_accepted()),
            ]
        })
        .collect();
    print_table(&["update", "update id", "rev", "installed", "downloaded", "hidden", "eula accepted"], &rows);
    for w in &result.warnings {
        println!("warning: {} ({})", w.message, w.hresult);
    }
    println!("search: {}, {}", plural(result.updates.count(), "update", "updates"), result.result_code);
}

pub(crate) fn print_download(cli: &Cli, updates: &UpdateCollection, result: &DownloadResult) {
    if cli.json {
        json::print(&json::Download::new(updates, result));
        return;
    }
    let rows: Vec<Vec<String>> = updates
        .iter()
        .zip(&result.update_results)
        .map(|(u, r)| {
            vec![
                u.title().to_owned(),
                format!("{} rev {}", short_id(&u.identity().update_id), u.identity().revision_number),
                r.result_code.to_string(),
                r.hresult.name_or_hex(),
            ]
        })
        .collect();
    print_table(&["update", "identity", "result", "hresult"], &rows);
    for (u, r) in updates.iter().zip(&result.update_results) {
        if !r.message.is_empty() {
            println!("  {}: {}", u.title(), r.message);
        }
    }
    println!("download: {} ({})", result.result_code, result.hresult);
}

pub(crate) fn print_cache_cleaned(cli: &Cli, cleaned: &wua_agent::CacheCleaned) {
    if cli.json {
        json::print(&json::CacheCleaned {
            removed: cleaned.removed,
            bytes_freed: cleaned.bytes_freed,
            kept: cleaned.kept,
            partial_removed: cleaned.partial_removed,
        });
    } else {
        println!(
            "cache clean: removed {}, {}; kept {}; removed {}",
            plural(cleaned.removed, "blob", "blobs"),
            human_size(cleaned.bytes_freed),
            cleaned.kept,
            plural(cleaned.partial_removed, "partial file", "partial files")
        );
    }
}

pub(crate) fn print_nothing_to_install(cli: &Cli) {
    if cli.json {
        json::print(&json::Nothing { updates: 0 });
    } else if !cli.quiet {
        println!("no updates found");
    }
}

/// `wua install|download` with no id, filter or `--all`: nothing is selected.
pub(crate) fn print_nothing_selected(cli: &Cli, verb: &str) {
    if cli.json {
        json::print(&json::Nothing { updates: 0 });
    } else if !cli.quiet {
        println!(
            "nothing selected: name updates with --update-id ID (a unique prefix, KB1234 or a title works), \
             narrow a search with filters (--kb, --title, --category, --severity, CRITERIA), or {verb} \
             everything found with --all"
        );
    }
}

/// A numbered list of the updates an operation would act on (`--dry-run`, before a prompt,
/// the wizard's choices).
pub(crate) fn print_selected(cli: &Cli, verb: &str, updates: &UpdateCollection, to_stdout: bool) {
    if cli.json {
        json::print(&json_inspect::Selected {
            operation: verb.to_owned(),
            dry_run: true,
            updates: json_inspect::refs(updates),
        });
        return;
    }
    let rows: Vec<Vec<String>> = updates
        .iter()
        .enumerate()
        .map(|(i, u)| {
            vec![
                (i + 1).to_string(),
                u.title().to_owned(),
                format!("{} rev {}", short_id(&u.identity().update_id), u.identity().revision_number),
                human_size(u.document().content_size()),
                if u.eula_text().is_empty() {
                    "-".into()
                } else if u.eula_accepted() {
                    "accepted".into()
                } else {
                    "to accept".into()
                },
            ]
        })
        .collect();
    let n = updates.count();
    let headers = ["#", "update", "identity", "size", "license"];
    if to_stdout {
        println!("{verb}: {} (dry run: nothing done)", plural(n, "update", "updates"));
        print_table(&headers, &rows);
    } else {
        eprintln!("{verb}: {}", plural(n, "update", "updates"));
        eprint_table(&headers, &rows);
    }
}

/// `wua hide` / `wua unhide`.
pub(crate) fn print_hidden(cli: &Cli, hidden: bool, updates: &UpdateCollection) {
    if cli.json {
        json::print(&json_inspect::Hidden { is_hidden: hidden, updates: json_inspect::refs(updates) });
        return;
    }
    if cli.quiet {
        return;
    }
    for u in updates {
        println!("{} {} \"{}\"", if hidden { "hidden:" } else { "shown:" }, u.identity().update_id, u.title());
    }
}

/// `wua show ID`.
pub(crate) fn print_show(cli: &Cli, update: &Update, files: &[String]) {
    let s = json_inspect::Show::new(update, files);
    if cli.json {
        json::print(&s);
        return;
    }
    let yn = |b: bool| if b { "yes" } else { "no" };
    println!("{}", s.title);
    println!("  update id:    {} (revision {})", s.update_id, s.revision_number);
    if !s.kb_article_ids.is_empty() {
        println!(
            "  KB:           {}",
            s.kb_article_ids.iter().map(|k| format!("KB{}", k.trim_start_matches("KB"))).collect::<Vec<_>>().join(", ")
        );
    }
    println!("  severity:     {}", if s.msrc_severity.is_empty() { "Unspecified" } else { &s.msrc_severity });
    if !s.categories.is_empty() {
        println!("  categories:   {}", s.categories.iter().map(|c| c.name.as_str()).collect::<Vec<_>>().join(", "));
    }
    println!(
        "  handler:      {}, {} of content, reboot: {}",
        s.handler,
        human_size(s.max_download_size),
        s.reboot_behavior
    );
    println!(
        "  state:        installed {}, downloaded {}, hidden {}, mandatory {}",
        yn(s.is_installed),
        yn(s.is_downloaded),
        yn(s.is_hidden),
        yn(s.is_mandatory)
    );
    if let Some(deadline) = &s.deadline {
        println!("  deadline:     {deadline}");
    }
    if !s.superseded_update_ids.is_empty() {
        println!("  supersedes:   {}", s.superseded_update_ids.join(", "));
    }
    if let Some(service) = &s.service_id {
        println!("  service:      {service}");
    }
    if !s.support_url.is_empty() {
        println!("  support:      {}", s.support_url);
    }
    if !s.description.is_empty() {
        println!("\n  {}", s.description.trim_end().replace('\n', "\n  "));
    }
    if let Some(eula) = &s.eula_text {
        println!(
            "\nLicense terms ({}):\n\n{}",
            if s.eula_accepted { "accepted" } else { "not accepted; install with --accept-eula to accept them" },
            eula.trim_end()
        );
    }
    if s.is_installed {
        println!("\nFiles it owns ({}):", files.len());
        for f in files {
            println!("  /{f}");
        }
    }
}

/// `wua files ID` (as `dpkg -L`: one absolute path a line).
pub(crate) fn print_files(cli: &Cli, update: &Update, files: &[String]) {
    if cli.json {
        json::print(&json_inspect::Files {
            update_id: update.identity().update_id,
            title: update.title().to_owned(),
            is_installed: update.is_installed(),
            files: files.to_vec(),
        });
        return;
    }
    if files.is_empty() && !cli.quiet {
        eprintln!(
            "\"{}\" owns no files{}",
            update.title(),
            if update.is_installed() {
                " (a command update's program places what it places)"
            } else {
                ": it is not installed"
            }
        );
    }
    for f in files {
        println!("/{f}");
    }
}

/// `wua owner PATH` (as `dpkg -S`); no owner is a call error, as dpkg's.
pub(crate) fn print_owner(cli: &Cli, path: &str, owner: Option<&Update>) -> Result<(), WuError> {
    if cli.json {
        json::print(&json_inspect::Owner { path: path.to_owned(), owner: owner.map(json_inspect::UpdateRef::from) });
        return Ok(());
    }
    match owner {
        Some(u) => {
            println!("{} \"{}\": /{path}", u.identity().update_id, u.title());
            Ok(())
        }
        None => Err(WuError::new(
            wua_agent::wua_types::HResult::WU_E_UNKNOWN_ID,
            format!("no installed update owns /{path}"),
        )),
    }
}

/// `wua package inspect FILE`.
pub(crate) fn print_inspected(cli: &Cli, file: &Path, doc: &UpdateDocument) {
    let i = json_inspect::Inspected::new(file, doc);
    if cli.json {
        json::print(&i);
        return;
    }
    println!("{}: verified", file.display());
    println!("  {} rev {} \"{}\", {} handler", i.update_id, i.revision_number, i.title, i.handler);
    let rows: Vec<Vec<String>> = i
        .content
        .iter()
        .map(|c| match &c.link_target {
            Some(target) => vec!["link".into(), "-".into(), format!("{} -> {target}", c.path)],
            None => vec![c.mode.clone(), human_size(c.size), c.path.clone()],
        })
        .collect();
    if rows.is_empty() {
        println!("  no content");
    } else {
        print_table(&["mode", "size", "path"], &rows);
    }
}

/// `wua reboot-status`.
pub(crate) fn print_reboot_status(cli: &Cli, required: bool) {
    if cli.json {
        json::print(&json_inspect::RebootStatus { reboot_required: required });
    } else if !cli.quiet {
        println!(
            "{}",
            if required {
                "reboot required: an installed update needs a restart to finish; installs wait for it"
            } else {
                "no reboot required"
            }
        );
    }
}

/// `1 update`, `2 updates`.
pub(crate) fn plural(n: usize, one: &str, many: &str) -> String {
    format!("{n} {}", if n == 1 { one } else { many })
}

/// `12.0 KiB`.
fn human_size(n: u64) -> String {
    crate::progress::human_bytes(n)
}

pub(crate) fn print_service_added(cli: &Cli, service: &UpdateService) {
    if cli.json {
        json::print(&json::Service::from(service));
    } else {
        println!("added service {} \"{}\" ({})", service.service_id, service.name, service.service_url);
        if let (Some(computer), Some(group)) = (&service.computer_id, &service.group) {
            println!("registered as computer {computer} in group {group}");
        }
    }
}

pub(crate) fn print_services(cli: &Cli, services: &[UpdateService]) {
    if cli.json {
        json::print(&json::Services { services: services.iter().map(json::Service::from).collect() });
        return;
    }
    let rows: Vec<Vec<String>> = services
        .iter()
        .map(|s| {
            vec![
                s.service_id.clone(),
                s.name.clone(),
                json::service_kind(s).replace('_', " "),
                s.service_url.clone(),
                if s.is_default_au_service { "yes".into() } else { "no".into() },
                s.computer_id.clone().unwrap_or_else(|| "-".into()),
                s.group.clone().unwrap_or_else(|| "-".into()),
            ]
        })
        .collect();
    print_table(&["service id", "name", "kind", "source", "default", "computer id", "group"], &rows);
}

pub(crate) fn print_service_done(cli: &Cli, what: &str, id: &str) {
    if cli.json {
        json::print(&json::ServiceDone { service_id: id.to_owned(), done: what.to_owned() });
    } else {
        println!("service {id}: {what}");
    }
}

pub(crate) fn print_agent_run(cli: &Cli, r: &AgentRunReport) {
    if cli.json {
        json::print(&json::AgentRun::new(r));
        return;
    }
    use wua_agent::wua_types::AutomaticUpdatesNotificationLevel as Level;
    if r.notification_level == Level::Disabled {
        println!(
            "agent run: automatic updates are disabled (notification_level = Disabled in {}): nothing to do",
            r.config.display()
        );
        return;
    }
    let acts_as = if r.effective_level == r.notification_level {
        String::new()
    } else {
        format!(" (acts as {})", r.effective_level)
    };
    println!("agent run: {}, notification level {}{acts_as}", r.config.display(), r.notification_level);
    for s in &r.services_added {
        println!("service added: {} \"{}\" ({})", s.service_id, s.name, s.service_url);
    }
    if let Some(m) = &r.managed {
        if m.checked_in {
            println!(
                "managed server {}: checked in, group {}, check-in every {} s",
                m.server_url, m.group, m.checkin_interval_seconds
            );
        } else {
            println!(
                "managed server {}: the check-in interval ({} s) has not passed; only reports were sent",
                m.server_url, m.checkin_interval_seconds
            );
            print_managed_reports(m);
            return;
        }
        if let Some((needed, installed)) = m.scan {
            println!("scan reported: {needed} needed, {installed} installed");
        }
    }
    if r.found.is_empty() && r.uninstall.is_none() {
        println!("agent run: no updates found");
        if let Some(m) = &r.managed {
            print_managed_reports(m);
        }
        return;
    }
    let same = |a: &Update, b: &Update| a.identity() == b.identity();
    let mut notes = Vec::new();
    let rows: Vec<Vec<String>> = r
        .found
        .iter()
        .map(|u| {
            let downloaded = r.download.as_ref().and_then(|(us, d)| {
                us.iter().zip(&d.update_results).find(|(x, _)| same(x, u)).map(|(_, res)| res.clone())
            });
            let installed = r.install.as_ref().and_then(|(us, i)| {
                us.iter().zip(&i.update_results).find(|(x, _)| same(x, u)).map(|(_, res)| res.clone())
            });
            let skipped = r.skipped.iter().find(|(x, _)| same(x, u)).map(|(_, why)| why.clone());
            let note = match (&skipped, &downloaded, &installed) {
                (Some(why), _, _) => format!("skipped: {why}"),
                (None, _, Some(i)) if i.reboot_required => "reboot required".to_owned(),
                (None, None, None) => "needed (not downloaded)".to_owned(),
                (None, Some(d), None) if d.result_code == OperationResultCode::Failed => String::new(),
                (None, Some(_), None) => "downloaded, not installed".to_owned(),
                _ => String::new(),
            };
            if let Some(d) = &downloaded {
                if !d.message.is_empty() {
                    notes.push(format!("  {}: download: {}", u.title(), d.message));
                }
            }
            if let Some(i) = &installed {
                if !i.message.is_empty() {
                    notes.push(format!("  {}: install: {}", u.title(), i.message));
                }
                for w in &i.warnings {
                    notes.push(format!("  {}: warning: {w}", u.title()));
                }
            }
            let code = |c: Option<OperationResultCode>| c.map(|c| c.to_string()).unwrap_or_else(|| "-".into());
            vec![
                u.title().to_owned(),
                format!("{} rev {}", short_id(&u.identity().update_id), u.identity().revision_number),
                code(downloaded.map(|d| d.result_code)),
                code(installed.map(|i| i.result_code)),
                note,
            ]
        })
        .collect();
    print_table(&["update", "identity", "download", "install", "note"], &rows);
    for note in notes {
        println!("{note}");
    }
    if let Some((updates, result)) = &r.uninstall {
        for (u, res) in updates.iter().zip(&result.update_results) {
            println!("uninstalled (approved for uninstallation): {} {}", u.title(), res.result_code);
        }
    }
    let summary = json::AgentRun::new(r);
    // Only a managed server uninstalls: the other runs keep their summary as it was.
    let uninstalled =
        if r.managed.is_some() { format!(", {} uninstalled", summary.uninstalled.len()) } else { String::new() };
    println!(
        "agent run: {} found, {} downloaded, {} installed{uninstalled}, {} skipped{}",
        summary.found.len(),
        summary.downloaded.len(),
        summary.installed.len(),
        summary.skipped.len(),
        if summary.reboot_required { ", reboot required" } else { "" }
    );
    if let Some(m) = &r.managed {
        print_managed_reports(m);
    }
}

/// The reboot report and the send of the outbox.
fn print_managed_reports(m: &crate::agent_managed::ManagedRun) {
    if let Some(required) = m.reboot_reported {
        println!("reboot state reported: {}", if required { "reboot required" } else { "no reboot pending" });
    }
    let Some(f) = &m.flush else { return };
    match &f.error {
        None => println!(
            "reports sent: {} ({} new, {} already received), {} queued",
            f.sent, f.accepted, f.duplicates, f.remaining
        ),
        Some(e) => println!("reports sent: {}; {} stay queued for the next run: {e}", f.sent, f.remaining),
    }
    if !f.dead_lettered.is_empty() {
        println!(
            "reports refused for good by the server: {}, kept as dead letters (`wua status` lists them):",
            f.dead_lettered.len()
        );
        print_dead_letters(&f.dead_lettered);
    }
}

fn short_id(id: &str) -> &str {
    id.get(..8).unwrap_or(id)
}

/// A plain aligned table on stdout.
pub(crate) fn print_table(headers: &[&str], rows: &[Vec<String>]) {
    for line in table_lines(headers, rows) {
        println!("{line}");
    }
}

/// A plain aligned table on stderr (around a prompt, stdout stays the result).
fn eprint_table(headers: &[&str], rows: &[Vec<String>]) {
    for line in table_lines(headers, rows) {
        eprintln!("{line}");
    }
}

/// The lines of an aligned table.
fn table_lines(headers: &[&str], rows: &[Vec<String>]) -> Vec<String> {
    let mut widths: Vec<usize> = headers.iter().map(|h| h.chars().count()).collect();
    for row in rows {
        for (w, cell) in widths.iter_mut().zip(row) {
            *w = (*w).max(cell.chars().count());
        }
    }
    let line = |cells: Vec<&str>| {
        let parts: Vec<String> = cells.iter().zip(&widths).map(|(c, w)| format!("{c:<w$}")).collect();
        parts.join("  ").trim_end().to_owned()
    };
    let mut out = vec![line(headers.to_vec())];
    out.push(line(widths.iter().map(|w| "-".repeat(*w)).collect::<Vec<_>>().iter().map(String::as_str).collect()));
    for row in rows {
        out.push(line(row.iter().map(String::as_str).collect()));
    }
    out
}
