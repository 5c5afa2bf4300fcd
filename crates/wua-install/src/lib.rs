//! wua's install machinery: the only crate that changes the target root.
//!
//! - [`InstallLock`]: the two D-8 lock files; every install, uninstall and recovery holds it.
//! - [`files`]: the `files` handler and its journal protocol (plan, stage, intent, rename,
//!   commit, cleanup; see the module's overview), all-or-nothing per update (D-17).
//! - [`command`]: the `command` handler: a program from the content, in a process group of
//!   its own, journaled before it runs, with its exit-code table and time limit (D-15, D-38,
//!   D-41).
//! - [`Monitor`]: how a handler reports progress to its job and learns of an abort (D-20,
//!   D-23).
//! - [`recover`]: finishes or undoes operations a crash interrupted, under the lock.
//! - [`bind_root`]: a state directory belongs to one target root (checked before recovery).
//! - [`installed_equivalent`], [`installed_by_rule`]: whether an update is installed, by its
//!   `is_installed` rule or the agent's records (D-38, D-40).
//! - [`ContentCache`]: blobs by SHA-256 in the state directory.
//! - [`BootIdSource`]: the boot id that pending reboots are tied to (D-9).
//! - [`crash_point`]: `wua_fs`'s step counter, which the crash-safety tests use (feature
//!   `crash-points`).
//!
//! The journal lives in the agent's datastore (`wua-store`), so the intent, installed state,
//! file ownership and history of an operation change in one durable transaction.

mod cache;
pub mod command;
mod detect;
mod error;
pub mod files;
mod fsops;
mod history;
mod lock;
mod monitor;
mod plan;
mod process;
mod reboot;
mod recovery;
mod root_identity;

use std::path::{Path, PathBuf};

use wua_types::Origin;

pub use cache::{CacheHold, ContentCache};
pub use detect::{installed_by_rule, installed_equivalent, installed_equivalent_on};
pub use error::InstallError;
pub use history::history_entry;
pub use lock::{DEFAULT_LOCK_WAIT, InstallLock, holder as lock_holder, state_holder};
pub use monitor::{Monitor, Unmonitored};
pub use reboot::BootIdSource;
pub use recovery::{RecoveredOperation, recover};
pub use root_identity::{ROOT_ID_FILE, bind_root};
pub use wua_fs::crash_point;

/// wua's own directory under a target root (D-8): lock, backups. Never part of an update.
pub const ADMIN_DIR: &str = wua_types::RESERVED_ROOT_DIR;

/// `<root>/var/lib/wua`.
pub fn root_admin_dir(root: &Path) -> PathBuf {
    root.join(ADMIN_DIR)
}

/// Where an operation works and who asked for it.
#[derive(Clone, Copy, Debug)]
pub struct Target<'a> {
    /// The target root: canonical and absolute.
    pub root: &'a Path,
    /// The root's identity (see [`bind_root`]): what journal records name.
    pub root_id: &'a str,
    /// The agent's state directory.
    pub state_dir: &'a Path,
    /// The current boot id (D-9).
    pub boot_id: &'a str,
    /// Who asked and where the update came from, recorded in history (D-34, D-35).
    pub origin: Origin<'a>,
}
