//! The wua agent: the Windows Update Agent object model over a state directory and a target
//! root.
//!
//! - [`UpdateSession`] (`IUpdateSession`) opens the state directory and hands out the
//!   installer, the searcher and [`SystemInformation`]; [`UpdateSession::open_package`] brings
//!   in a standalone package (verified, cached, recorded: it counts as downloaded);
//!   [`UpdateSession::automatic_updates_results`] (`IAutomaticUpdatesResults`) gives the dates
//!   of the last successful search and installation (D-44).
//! - [`UpdateInstaller`] (`IUpdateInstaller`): `begin_install` / `end_install`,
//!   `begin_uninstall` / `end_uninstall` (with time-outs and async counterparts) and the
//!   synchronous `install` / `uninstall` on the same engine, with WUA's validation order and
//!   per-update outcomes (decisions D-1..D-25), EULAs, forced mode, reboots, `is_busy`.
//! - [`InstallationJob`] (`IInstallationJob`): a cloneable handle to a running job: progress
//!   snapshots, `request_abort`, `clean_up`; its callbacks run on the job's own thread.
//! - [`UpdateServiceManager`] (`IUpdateServiceManager`): the services searched: signed
//!   repositories (a URL or a directory, with their trusted root), offline exports and a
//!   managed server (`wua server`: registration, check-in, the signed approvals of the
//!   computer's group, the report outbox and its flush), each with its own trusted state under
//!   `<state>/services/<id>/` and its own index of the catalog.
//! - [`UpdateSearcher`] (`IUpdateSearcher`): `search` (online refreshes the service's index
//!   first, D-29; offline searches it with no network), and history (`query_history`,
//!   `get_total_history_count`, D-35).
//! - [`UpdateDownloader`] (`IUpdateDownloader`): `download` fetches what a search found from its
//!   service into the content cache, verified as it streams (D-5, D-31).
//!
//! Updates, collections, results and codes are `wua-types`' ([`wua_types`] is re-exported).
//! The library never prints; it logs through `tracing` only.
//!
//! WUA's classic flow on a standalone package, into a target root of its own:
//!
//! ```
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! use wua_agent::wua_types::{OperationResultCode, UpdateCollection};
//! use wua_agent::{SessionOptions, UpdateSession};
//!
//! let dir = tempfile::tempdir()?;
//! // A package with one file, as `wua package build` makes it from a manifest and a payload.
//! std::fs::create_dir_all(dir.path().join("payload/etc"))?;
//! std::fs::write(dir.path().join("payload/etc/motd"), "hello\n")?;
//! let manifest = dir.path().join("manifest.toml");
//! std::fs::write(
//!     &manifest,
//!     "[update]\nid = \"0b6f3c2e-5f1a-4c7e-9d3b-2a1e8f4c6d01\"\ntitle = \"motd\"\n\n[handler]\nkind = \"files\"\n",
//! )?;
//! let package = dir.path().join("motd.wuapkg");
//! let payload = dir.path().join("payload");
//! wua_package::build_package(&manifest, &payload, &package, wua_package::Compression::None)?;
//!
//! // The session over a state directory and a root; the package's update, installed.
//! let root = dir.path().join("root");
//! std::fs::create_dir_all(root.join("var/lib"))?;
//! let session = UpdateSession::open(SessionOptions::new(dir.path().join("state"), &root))?;
//! let mut updates = UpdateCollection::new();
//! updates.add(session.open_package(&package)?)?;
//! let installer = session.create_update_installer();
//! installer.set_updates(updates);
//! let result = installer.install()?;
//! assert_eq!(result.result_code, OperationResultCode::Succeeded);
//! assert_eq!(std::fs::read_to_string(root.join("etc/motd"))?, "hello\n");
//! // History records it, newest first.
//! let history = session.create_update_searcher().query_history(0, 10)?;
//! assert_eq!(history[0].title, "motd");
//! # Ok(())
//! # }
//! ```

mod access;
mod cache_clean;
mod downloader;
mod installer;
mod job;
mod machine_id;
mod managed;
mod outbox;
mod runtime;
mod search;
mod searcher;
mod server_client;
mod server_error;
mod server_url;
mod services;
mod session;
mod system;
mod token;
mod worker;

pub use cache_clean::CacheCleaned;
pub use downloader::{DEFAULT_PARALLEL_TRANSFERS, UpdateDownloader};
pub use installer::UpdateInstaller;
pub use job::{
    AsyncState, CompletedCallback, Download, DownloadCompletedCallback, DownloadCompletedCallbackArgs, DownloadJob,
    DownloadProgress, DownloadProgressCallback, DownloadProgressChangedCallbackArgs, EndFuture, Installation,
    InstallationCompletedCallbackArgs, InstallationJob, InstallationProgressChangedCallbackArgs, Job,
    JobCompletedCallback, JobKind, JobProgressCallback, ProgressCallback, Search, SearchCompletedCallback,
    SearchCompletedCallbackArgs, SearchJob,
};
pub use managed::{ManagedServer, ManagedServerRegistration};
pub use outbox::{DeadLetter, OutboxFlush, REPORT_BATCH_MAX};
pub use searcher::UpdateSearcher;
pub use services::{NON_VOLATILE_SERVICE, UpdateService, UpdateServiceManager};
pub use session::{DEFAULT_STATE_DIR, SessionOptions, UpdateSession};
pub use system::SystemInformation;
pub use wua_install::{BootIdSource, RecoveredOperation};
pub use wua_package::OpenLimits;
pub use wua_types;
