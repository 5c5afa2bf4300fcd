//! wua's signed update repository.
//!
//! - [`static_repo`]: the static repository handler (`wua repo serve`, and mounted by the
//!   server): byte ranges, ETags, content types, no listing, no path leaving the directory.
//!
//! The TUF side (keys, signing, publishing, verification, export, on the `tough` crate) is the
//! next part of this crate; until it lands, `wua repo serve` serves any directory as a static
//! host would.

pub mod error;
pub mod export;
pub mod keys;
pub mod layout;
pub mod pack;
pub mod repo;
pub mod root;
pub mod static_repo;
pub mod verify;

pub use error::{Refusal, TrustError};
pub use layout::Layout;

/// Serves `dir` on `listener` until the process ends.
pub async fn serve(listener: tokio::net::TcpListener, dir: std::path::PathBuf) -> std::io::Result<()> {
    axum::serve(listener, static_repo::router(dir)).await
}
