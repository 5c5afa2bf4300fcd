//! The wua agent: the Windows Update Agent object model over a state directory and a target
//! root.
//!
//! - [`UpdateSession`] (`IUpdateSession`) opens the state directory and hands out the
//!   installer, the searcher and [`SystemInformation`]; [`UpdateSession::open_package`] brings
//!   in a standalone package (verified, cached, recorded: it counts as downloaded).
//! - [`UpdateInstaller`] (`IUpdateInstaller`): `install` / `uninstall` with WUA's validation
//!   order and per-update outcomes (decisions D-1..D-17), EULAs, forced mode, reboots.
//! - [`UpdateSearcher`] (`IUpdateSearcher`): history (`query_history`,
//!   `get_total_history_count`, D-35).
//!
//! Updates, collections, results and codes are `wua-types`' ([`wua_types`] is re-exported).
//! The library never prints; it logs through `tracing` only.

mod access;
mod installer;
mod searcher;
mod session;
mod system;

pub use installer::UpdateInstaller;
pub use searcher::UpdateSearcher;
pub use session::{DEFAULT_STATE_DIR, SessionOptions, UpdateSession};
pub use system::SystemInformation;
pub use wua_install::{BootIdSource, RecoveredOperation};
pub use wua_types;
