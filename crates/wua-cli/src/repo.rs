//! `wua repo ...`: the signed repository's verbs (wua-trust), each in a runtime of its own.

use std::collections::BTreeMap;
use std::path::Path;
use std::time::Duration;

use wua_agent::wua_types::{HResult, UpdateDocument, WuError};
use wua_trust::approvals::ApprovalAction;
use wua_trust::export::ExportKind;
use wua_trust::pack::Catalog;
use wua_trust::repo::{self, InitOptions, Lifetimes, RepoLock};
use wua_trust::root::{self, Rotation};
use wua_trust::{Layout, TrustError};

use crate::json;
use crate::output::print_table;
use crate::{ApproveAction, Cli, CliResult, EXIT_OK, KeyCommand, OnlineRole, RepoCommand, RootCommand};

pub(crate) fn run(cli: &Cli, command: &RepoCommand) -> CliResult<u8> {
    let rt = tokio::runtime::Runtime::new()
        .map_err(|e| WuError::new(HResult::WUA_E_TRUST_IO, format!("starting the runtime: {e}")))?;
    rt.block_on(run_async(cli, command))
}

async fn run_async(cli: &Cli, command: &RepoCommand) -> CliResult<u8> {
    let t = |e: TrustError| WuError::from(e);
    let wait = lock_wait()?;
    match command {
        RepoCommand::Init { dir, root_keys, root_threshold, root_public_keys } => {
            let mut public = Vec::new();
            for file in root_public_keys {
                public.push(wua_trust::keys::read_public(file).map_err(t)?);
            }
            let options = InitOptions {
                root_keys: *root_keys,
                root_threshold: *root_threshold,
                root_public_keys: public,
                ..InitOptions::default()
            };
            repo::init(dir, &options).await.map_err(t)?;
            let layout = Layout::new(dir);
            let proposal = (!root_public_keys.is_empty()).then(|| layout.root_proposal(1));
            let doc = json::RepoInitialized {
                initialized: dir.clone(),
                trusted_root: layout.trusted_root(),
                root_proposal: proposal.clone(),
            };
            say(cli, &doc, || match &proposal {
                Some(p) => format!(
                    "created repository {} ({root_threshold} of {} root keys kept elsewhere); nothing can be published until its root is signed: sign copies of {} with `wua repo root sign FILE --key KEY` on the keys' machines, then `wua repo root merge {} FILE...`",
                    dir.display(),
                    root_public_keys.len(),
                    p.display(),
                    dir.display()
                ),
                None => format!(
                    "created repository {} ({root_threshold} of {root_keys} root keys); give agents {} as their trusted root, and keep keys/ private",
                    dir.display(),
                    layout.trusted_root().display()
                ),
            });
        }
        RepoCommand::Publish { dir, manifest, payload } | RepoCommand::Revise { dir, manifest, payload } => {
            let lock = lock(dir, wait).await?;
            let doc = if matches!(command, RepoCommand::Revise { .. }) {
                repo::revise_locked(&lock, manifest, payload).await
            } else {
                repo::publish_locked(&lock, manifest, payload).await
            }
            .map_err(t)?;
            say(
                cli,
                &json::RepoPublished {
                    update_id: doc.update_id.clone(),
                    revision_number: doc.revision_number,
                    title: doc.title.clone(),
                },
                || format!("published {} rev {} \"{}\"", doc.update_id, doc.revision_number, doc.title),
            );
        }
        RepoCommand::Decline { dir, update, revision } => {
            let lock = lock(dir, wait).await?;
            // Resolved under the lock, so the id stays published until the decline is signed.
            let update_id = published_id(dir, update)?;
            repo::decline_locked(&lock, &update_id, *revision).await.map_err(t)?;
            say(cli, &json::RepoDeclined { declined: update_id.clone(), revision_number: *revision }, || {
                format!("declined {update_id} rev {revision}")
            });
        }
        RepoCommand::Resign { dir, only } => {
            let lock = lock(dir, wait).await?;
            let lifetimes = Lifetimes::default();
            let roles: Vec<&'static str> = match only {
                None => {
                    repo::resign_locked(&lock, &lifetimes).await.map_err(t)?;
                    vec!["targets", "approvals", "snapshot", "timestamp"]
                }
                Some(OnlineRole::Approvals) => {
                    repo::resign_approvals_locked(&lock, &lifetimes).await.map_err(t)?;
                    vec!["approvals", "snapshot", "timestamp"]
                }
                Some(OnlineRole::Snapshot) => {
                    repo::resign_snapshot_locked(&lock, &lifetimes).await.map_err(t)?;
                    vec!["snapshot", "timestamp"]
                }
                Some(OnlineRole::Timestamp) => {
                    repo::resign_timestamp_locked(&lock, &lifetimes).await.map_err(t)?;
                    vec!["timestamp"]
                }
            };
            let text = format!("re-signed {}", roles.join(", "));
            say(cli, &json::RepoResigned { resigned: dir.clone(), roles }, || text);
        }
        RepoCommand::Compact { dir, force } => {
            let dropped = repo::compact_locked(&lock(dir, wait).await?, *force).await.map_err(t)?;
            say(cli, &json::RepoCompacted { dropped }, || match dropped {
                0 => "nothing to compact (fewer than half the entries are superseded; --force compacts anyway)".into(),
                n => format!("compacted: {n} superseded entries left the catalog"),
            });
        }
        RepoCommand::RotateKey { dir, role } => {
            match root::rotate_key_locked(&lock(dir, wait).await?, role).await.map_err(t)? {
                Rotation::Installed => say(cli, &json::RepoRotated { rotated: role.clone() }, || {
                    format!("the {role} key is replaced; the old one is revoked")
                }),
                Rotation::Proposed(file) => say(cli, &json::RepoProposed { proposed: file.clone() }, || {
                    format!(
                        "the root keys are not here: sign copies of {} with `wua repo root sign`, then `wua repo root merge`",
                        file.display()
                    )
                }),
            }
        }
        RepoCommand::List { dir } => list(cli, dir)?,
        RepoCommand::Approve { dir, update, group, action, deadline } => {
            let action = match action {
                ApproveAction::Install => ApprovalAction::Install,
                ApproveAction::Uninstall => ApprovalAction::Uninstall,
                ApproveAction::Optional => ApprovalAction::Optional,
            };
            let lock = lock(dir, wait).await?;
            // A server managing the repository signs its approvals; the command line does not.
            repo::ensure_unmanaged(&lock, group).map_err(t)?;
            let update_id = published_id(dir, update)?;
            repo::approve_locked(&lock, &update_id, group, action, deadline.as_deref()).await.map_err(t)?;
            say(cli, &json::RepoApproved { approved: update_id.clone(), group: group.clone() }, || {
                format!("approved {update_id} for {group}")
            });
        }
        RepoCommand::Unapprove { dir, update, group } => {
            let lock = lock(dir, wait).await?;
            repo::ensure_unmanaged(&lock, group).map_err(t)?;
            let update_id = published_id(dir, update)?;
            repo::unapprove_locked(&lock, &update_id, group).await.map_err(t)?;
            say(cli, &json::RepoUnapproved { unapproved: update_id.clone(), group: group.clone() }, || {
                format!("withdrew {update_id} from {group}")
            });
        }
        RepoCommand::Export { dir, output, with_content } => {
            let kind = if *with_content { ExportKind::WithContent } else { ExportKind::ScanPackage };
            let files = wua_trust::export::export_locked(&lock(dir, wait).await?, output, kind).map_err(t)?;
            say(cli, &json::RepoExported { export: output.clone(), files }, || {
                format!("wrote {} ({files} files)", output.display())
            });
        }
        RepoCommand::Root(RootCommand::Sign { file, key }) => {
            root::sign(file, key).await.map_err(t)?;
            say(cli, &json::RootSigned { signed: file.clone() }, || format!("signed {}", file.display()));
        }
        RepoCommand::Root(RootCommand::Merge { dir, files }) => {
            // Also a repository whose first root awaits its signatures (created with
            // `--root-public-key`): the merge installs it.
            let lock = RepoLock::acquire_any(dir, wait).await.map_err(t)?;
            root::merge_locked(&lock, files).await.map_err(t)?;
            say(cli, &json::RootMerged { merged: files.len() }, || "installed the new root and re-signed".into());
        }
        RepoCommand::Key(KeyCommand::Generate { key, public }) => {
            let k = wua_trust::keys::generate_pair(key, public).map_err(t)?;
            let key_id = wua_trust::keys::key_id(&k, key).map_err(t)?;
            say(cli, &json::KeyGenerated { key: key.clone(), public: public.clone(), key_id: key_id.clone() }, || {
                format!(
                    "created key {} (id {key_id}); its public half is {}: hand that file over, keep the key",
                    key.display(),
                    public.display()
                )
            });
        }
        RepoCommand::Serve { dir, listen } => serve(dir, *listen).await?,
        RepoCommand::Verify { source, state, root } => {
            let trusted =
                fs_err::read(root).map_err(|e| WuError::from(TrustError::Io { path: root.clone(), source: e }))?;
            let r = if Path::new(source).is_file() {
                wua_trust::verify::refresh_offline(&trusted, state, Path::new(source)).await.map_err(t)?
            } else {
                let source = wua_trust::verify::Source::parse(source).map_err(t)?;
                wua_trust::verify::refresh(&trusted, state, &source).await.map_err(t)?
            };
            let documents = r.catalog().documents.len();
            say(cli, &json::RepoVerified { snapshot_version: r.snapshot_version, documents }, || {
                format!("verified snapshot {} ({documents} documents)", r.snapshot_version)
            });
        }
    }
    Ok(EXIT_OK)
}

/// The writers' lock of the repository in `dir`, waited for at most `wait`.
async fn lock(dir: &Path, wait: Duration) -> CliResult<RepoLock> {
    RepoLock::acquire(dir, wait).await.map_err(WuError::from)
}

/// How long a writer waits for the repository lock: `WUA_REPO_LOCK_WAIT_MS`, or the library's
/// default.
fn lock_wait() -> CliResult<Duration> {
    match std::env::var("WUA_REPO_LOCK_WAIT_MS") {
        Err(std::env::VarError::NotPresent) => Ok(RepoLock::DEFAULT_WAIT),
        Ok(ms) => ms.trim().parse().map(Duration::from_millis).map_err(|_| {
            WuError::new(HResult::E_INVALIDARG, format!("WUA_REPO_LOCK_WAIT_MS={ms:?} is not a number of milliseconds"))
        }),
        Err(e) => Err(WuError::new(HResult::E_INVALIDARG, format!("WUA_REPO_LOCK_WAIT_MS: {e}"))),
    }
}

/// The verb's JSON document with `--json`, else `text`.
fn say(cli: &Cli, doc: &impl serde::Serialize, text: impl FnOnce() -> String) {
    if cli.json {
        json::print(doc);
    } else {
        println!("{}", text());
    }
}

fn list(cli: &Cli, dir: &Path) -> CliResult<()> {
    let catalog = repo::list(dir).map_err(WuError::from)?;
    let groups = repo::groups(dir).map_err(WuError::from)?;
    let titles = newest_titles(&catalog);
    let is_declined = |d: &UpdateDocument| catalog.declined.contains(&(d.update_id.clone(), d.revision_number));
    // Every group's approvals, flat: what an administrator scans and what `jq` filters.
    let approvals: Vec<json::RepoListApproval> = groups
        .iter()
        .flat_map(|g| {
            g.approvals.iter().map(|a| json::RepoListApproval {
                group: g.group.clone(),
                update_id: a.update_id.clone(),
                title: titles.get(a.update_id.as_str()).map(|(_, t)| (*t).to_owned()).unwrap_or_default(),
                action: a.action,
                deadline: a.deadline.clone(),
            })
        })
        .collect();
    if cli.json {
        let updates = catalog
            .documents
            .iter()
            .map(|d| json::RepoListEntry {
                update_id: d.update_id.clone(),
                revision_number: d.revision_number,
                title: d.title.clone(),
                declined: is_declined(d),
            })
            .collect();
        json::print(&json::RepoList { updates, approvals });
        return Ok(());
    }
    if catalog.documents.is_empty() {
        println!("no updates published");
    } else {
        let rows: Vec<Vec<String>> = catalog
            .documents
            .iter()
            .map(|d| {
                vec![
                    d.update_id.clone(),
                    d.revision_number.to_string(),
                    d.title.clone(),
                    if is_declined(d) { "declined" } else { "" }.into(),
                ]
            })
            .collect();
        print_table(&["update id", "rev", "title", "state"], &rows);
        let revisions = catalog.documents.len();
        let declined = catalog.documents.iter().filter(|d| is_declined(d)).count();
        // Revisions are counted only when some update has several.
        let mut details = Vec::new();
        if revisions != titles.len() {
            details.push(plural(revisions, "revision", "revisions"));
        }
        if declined > 0 {
            details.push(format!("{declined} declined"));
        }
        let details = if details.is_empty() { String::new() } else { format!(" ({})", details.join(", ")) };
        println!("{} published{details}", plural(titles.len(), "update", "updates"));
    }
    // Approvals need published updates: an empty repository says so once.
    if catalog.documents.is_empty() && approvals.is_empty() {
        return Ok(());
    }
    println!();
    if approvals.is_empty() {
        println!("no approvals");
        return Ok(());
    }
    let rows: Vec<Vec<String>> = approvals
        .iter()
        .map(|a| {
            vec![
                a.group.clone(),
                a.update_id.clone(),
                a.title.clone(),
                action_name(a.action).into(),
                a.deadline.clone().unwrap_or_default(),
            ]
        })
        .collect();
    print_table(&["group", "update id", "title", "action", "deadline"], &rows);
    let with_approvals = groups.iter().filter(|g| !g.approvals.is_empty()).count();
    println!("{} for {}", plural(approvals.len(), "approval", "approvals"), plural(with_approvals, "group", "groups"));
    Ok(())
}

/// `1 update`, `2 updates`, `0 updates`.
fn plural(n: usize, one: &str, many: &str) -> String {
    format!("{n} {}", if n == 1 { one } else { many })
}

/// An approval's action as `wua repo approve --action` spells it.
fn action_name(action: ApprovalAction) -> &'static str {
    match action {
        ApprovalAction::Install => "install",
        ApprovalAction::Uninstall => "uninstall",
        ApprovalAction::Optional => "optional",
    }
}

/// Each published update id with its newest revision and that revision's title.
fn newest_titles(catalog: &Catalog) -> BTreeMap<&str, (i32, &str)> {
    let mut titles: BTreeMap<&str, (i32, &str)> = BTreeMap::new();
    for d in &catalog.documents {
        let slot = titles.entry(d.update_id.as_str()).or_insert((d.revision_number, d.title.as_str()));
        if d.revision_number >= slot.0 {
            *slot = (d.revision_number, d.title.as_str());
        }
    }
    titles
}

/// An update named on the command line of `wua repo decline`, `approve` and `unapprove`: by
/// `--update-id ID`, as the agent's verbs name updates, or by a positional argument, as these
/// verbs did first (scripts keep working). Exactly one of the two; clap refuses neither or both.
///
/// A required group of the two, so that clap's error for neither names both; clap would place
/// the group before `DIR` in the usage line, hence each verb's `override_usage`.
#[derive(Debug, clap::Args)]
#[group(required = true, multiple = false)]
pub struct UpdateIdArg {
    /// The update id, or a unique prefix of one (the same as --update-id).
    #[arg(value_name = "UPDATE_ID")]
    positional: Option<String>,
    /// The update id, or a unique prefix of one (`wua repo list` shows the ids).
    #[arg(long = "update-id", value_name = "ID")]
    flag: Option<String>,
}

impl UpdateIdArg {
    /// What was given, by either form.
    fn given(&self) -> &str {
        self.flag.as_deref().or(self.positional.as_deref()).unwrap_or_default()
    }
}

/// The published update `update` names, from the working catalog of the repository in `dir`.
fn published_id(dir: &Path, update: &UpdateIdArg) -> CliResult<String> {
    resolve_update_id(&repo::list(dir).map_err(WuError::from)?, update.given())
}

/// How many candidates an ambiguous prefix's error lists.
const AMBIGUOUS_SHOWN: usize = 10;

/// The published update id `given` names: the id itself, or a prefix of exactly one published
/// id (tables show ids shortened), in any case, as GUIDs are. An empty id or a prefix of several
/// ids is `E_INVALIDARG`, the error listing the candidates with their titles; a prefix of none
/// is `WU_E_UNKNOWN_ID`.
fn resolve_update_id(catalog: &Catalog, given: &str) -> CliResult<String> {
    let wanted = given.trim().to_ascii_lowercase();
    if wanted.is_empty() {
        return Err(WuError::new(HResult::E_INVALIDARG, "the update id is empty"));
    }
    let titles = newest_titles(catalog);
    let matches: Vec<(&str, &str)> = titles
        .iter()
        .filter(|(id, _)| id.to_ascii_lowercase().starts_with(&wanted))
        .map(|(id, (_, title))| (*id, *title))
        .collect();
    // A whole id is never ambiguous, even if it began another (longer) one.
    if let Some((id, _)) = matches.iter().find(|(id, _)| id.eq_ignore_ascii_case(&wanted)) {
        return Ok((*id).to_owned());
    }
    match matches.as_slice() {
        [] => Err(WuError::new(
            HResult::WU_E_UNKNOWN_ID,
            format!("no published update has an id starting with {given:?} (`wua repo list` shows the ids)"),
        )),
        [(id, _)] => Ok((*id).to_owned()),
        several => {
            let mut shown: Vec<String> =
                several.iter().take(AMBIGUOUS_SHOWN).map(|(id, title)| format!("{id} {title:?}")).collect();
            if several.len() > AMBIGUOUS_SHOWN {
                shown.push(format!("and {} more", several.len() - AMBIGUOUS_SHOWN));
            }
            Err(WuError::new(
                HResult::E_INVALIDARG,
                format!(
                    "update id {given:?} is ambiguous: {} published updates have ids starting with it: {}; give more of the id",
                    several.len(),
                    shown.join(", ")
                ),
            ))
        }
    }
}

/// The static repository handler on `listen`: a repository's `repository/` tree, or `dir`.
async fn serve(dir: &Path, listen: std::net::SocketAddr) -> CliResult<()> {
    let io = |what: String, e: std::io::Error| WuError::new(HResult::WUA_E_TRUST_IO, format!("{what}: {e}"));
    let tree = if Layout::is_repository(dir) { Layout::new(dir).public() } else { dir.to_path_buf() };
    if !tree.is_dir() {
        return Err(WuError::new(HResult::COR_E_DIRECTORYNOTFOUND, format!("{} is not a directory", tree.display())));
    }
    let listener = tokio::net::TcpListener::bind(listen).await.map_err(|e| io(format!("listening on {listen}"), e))?;
    let bound = listener.local_addr().map_err(|e| io("the bound address".into(), e))?;
    println!("serving {} on http://{bound}/", tree.display());
    wua_trust::serve(listener, tree.clone()).await.map_err(|e| io(format!("serving on {bound}"), e))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A catalog of `(id, revision, title)` documents, as packs hold them.
    fn catalog(docs: &[(&str, i32, &str)]) -> Catalog {
        let mut text = String::new();
        for (id, revision, title) in docs {
            let doc = serde_json::json!({ "document": {
                "schema_version": 1, "update_id": id, "revision_number": revision, "title": title,
                "handler": { "kind": "files" }, "content": [],
            }});
            text.push_str(&format!("{doc}\n"));
        }
        let mut c = Catalog::default();
        c.add_pack("pack-000001.jsonl", &text);
        assert_eq!(c.documents.len(), docs.len(), "{:?}", c.warnings);
        c
    }

    fn id(n: u32) -> String {
        format!("00000000-0000-4000-8000-{n:012x}")
    }

    /// A whole id, a unique prefix in any case, an ambiguous one (the newest title of each
    /// candidate, at most ten listed), an unknown one and an empty one.
    #[test]
    fn update_ids_resolve_from_unique_prefixes() {
        let mut docs: Vec<(String, i32, String)> = (1..=12).map(|n| (id(n), 1, format!("update {n}"))).collect();
        docs.push((id(1), 2, "update 1, second revision".into()));
        docs.push(("3f2b7c1e-8a4d-4e6f-9b0c-5d1a2e3f4a5b".into(), 1, "other".into()));
        // Alike the others but for its last two digits.
        docs.push((id(0x30), 1, "update 48".into()));
        let refs: Vec<(&str, i32, &str)> = docs.iter().map(|(i, r, t)| (i.as_str(), *r, t.as_str())).collect();
        let c = catalog(&refs);

        assert_eq!(resolve_update_id(&c, &id(3)).unwrap(), id(3));
        assert_eq!(resolve_update_id(&c, " 3F2B ").unwrap(), "3f2b7c1e-8a4d-4e6f-9b0c-5d1a2e3f4a5b");
        assert_eq!(resolve_update_id(&c, &id(0x30)[..35]).unwrap(), id(0x30));

        let e = resolve_update_id(&c, "0000").unwrap_err();
        assert_eq!(e.hresult, HResult::E_INVALIDARG);
        assert!(e.message.contains("13 published updates") && e.message.contains("and 3 more"), "{e}");
        assert!(e.message.contains(&format!("{} \"update 1, second revision\"", id(1))), "{e}");
        assert!(!e.message.contains("3f2b"), "{e}");

        let e = resolve_update_id(&c, "3f2c").unwrap_err();
        assert_eq!(e.hresult, HResult::WU_E_UNKNOWN_ID);
        assert_eq!(resolve_update_id(&c, "  ").unwrap_err().hresult, HResult::E_INVALIDARG);
        assert_eq!(resolve_update_id(&Catalog::default(), "3f").unwrap_err().hresult, HResult::WU_E_UNKNOWN_ID);
    }

    #[test]
    fn plurals() {
        assert_eq!(plural(0, "update", "updates"), "0 updates");
        assert_eq!(plural(1, "update", "updates"), "1 update");
        assert_eq!(plural(2, "update", "updates"), "2 updates");
    }
}
