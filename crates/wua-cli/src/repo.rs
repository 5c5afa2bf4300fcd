//! `wua repo ...`: the signed repository's verbs (wua-trust), each in a runtime of its own.

use std::path::Path;
use std::time::Duration;

use wua_agent::wua_types::{HResult, WuError};
use wua_trust::approvals::ApprovalAction;
use wua_trust::export::ExportKind;
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
        RepoCommand::Decline { dir, update_id, revision } => {
            repo::decline_locked(&lock(dir, wait).await?, update_id, *revision).await.map_err(t)?;
            say(cli, &json::RepoDeclined { declined: update_id.clone(), revision_number: *revision }, || {
                format!("declined {update_id} rev {revision}")
            });
        }
        RepoCommand::Refresh { dir, only } => {
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
        RepoCommand::Approve { dir, update_id, group, action, deadline } => {
            let action = match action {
                ApproveAction::Install => ApprovalAction::Install,
                ApproveAction::Uninstall => ApprovalAction::Uninstall,
                ApproveAction::Optional => ApprovalAction::Optional,
            };
            let lock = lock(dir, wait).await?;
            // A server managing the repository signs its approvals; the command line does not.
            repo::ensure_unmanaged(&lock, group).map_err(t)?;
            repo::approve_locked(&lock, update_id, group, action, deadline.as_deref()).await.map_err(t)?;
            say(cli, &json::RepoApproved { approved: update_id.clone(), group: group.clone() }, || {
                format!("approved {update_id} for {group}")
            });
        }
        RepoCommand::Unapprove { dir, update_id, group } => {
            let lock = lock(dir, wait).await?;
            repo::ensure_unmanaged(&lock, group).map_err(t)?;
            repo::unapprove_locked(&lock, update_id, group).await.map_err(t)?;
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
    if cli.json {
        let updates = catalog
            .documents
            .iter()
            .map(|d| json::RepoListEntry {
                update_id: d.update_id.clone(),
                revision_number: d.revision_number,
                title: d.title.clone(),
                declined: catalog.declined.contains(&(d.update_id.clone(), d.revision_number)),
            })
            .collect();
        json::print(&json::RepoList { updates });
        return Ok(());
    }
    let rows: Vec<Vec<String>> = catalog
        .documents
        .iter()
        .map(|d| {
            let declined = catalog.declined.contains(&(d.update_id.clone(), d.revision_number));
            vec![
                d.update_id.clone(),
                d.revision_number.to_string(),
                d.title.clone(),
                if declined { "declined" } else { "" }.into(),
            ]
        })
        .collect();
    print_table(&["update id", "rev", "title", "state"], &rows);
    Ok(())
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
