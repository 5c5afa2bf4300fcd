//! wua's signed update repository: a TUF repository (specification 1.0) on the `tough` crate,
//! and the only code of wua that touches keys or signatures (docs/repository.md).
//!
//! - Writing, for publishers and servers: [`repo`] (`init`, `publish`, `revise`, `decline`,
//!   `approve`, `unapprove`, `approve_many`, `resign`, `compact`, bulk `add_blob` and
//!   `publish_documents`; for a server without the targets key `resign_timestamp`,
//!   `resign_snapshot`, `resign_approvals` and `expiries`, and `set_managed`; each writer takes
//!   the writers' lock, [`repo::RepoLock`], and has a `_locked` form for a caller that holds it),
//!   [`root`] (key rotation, offline root signing with `sign` and `merge`, a first root signed
//!   offline, crash-safe),
//!   [`export`] (one-file offline repositories), over [`pack`] (catalog packs, the TUF targets),
//!   [`keys`] and [`layout`].
//! - Reading, for agents: [`verify`] (`refresh` from a URL, a directory or an export into a copy
//!   of the trusted state swapped in only when everything verified; `check_blob`).
//! - Shared by both sides: [`approvals`] (the approvals of a group, as signed and as read).
//! - Serving: [`static_repo`], the static handler (`wua repo serve`, and mounted by the server):
//!   byte ranges, ETags, content types, no listing, no path leaving the directory.
//! - [`error`]: every refusal is a distinct [`Refusal`] with its code from wua's trust block;
//!   failures of the writing side are errors of their own (`Write`, `RootThreshold`, `Locked`).

pub mod approvals;
pub mod error;
pub mod export;
pub mod keys;
pub mod layout;
pub mod pack;
pub mod repo;
pub mod root;
pub mod static_repo;
mod trusted_state;
pub mod verify;

pub use error::{Refusal, TrustError};
pub use layout::Layout;

/// Serves `dir` on `listener` until the process ends.
pub async fn serve(listener: tokio::net::TcpListener, dir: std::path::PathBuf) -> std::io::Result<()> {
    axum::serve(listener, static_repo::router(dir)).await
}
