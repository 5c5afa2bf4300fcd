//! The wua update server: what WSUS does, on Linux, small and secure by construction.
//!
//! - [`app::router`]: the versioned JSON API (`/api/v1/...`, `docs/api.md`), the signed
//!   repository's public tree under `/repo/`, `/healthz` and `/metrics`.
//! - [`store`]: everything the server keeps, behind the [`store::Storage`] trait; SQLite in
//!   the data directory by default ([`store::SqliteStorage`]), status stored sparsely with
//!   aggregates kept as reports arrive.
//! - [`token`]: administrator tokens, computer tokens and enrolment keys: 256-bit secrets
//!   stored as SHA-256 digests, compared in constant time.
//! - [`approvals`], [`repository`]: approvals signed by the `approvals` role; the server never
//!   holds the targets key (publishing stays with the publisher) or the root keys.
//! - [`resign`]: the timer that re-signs the timestamp (and the snapshot and approvals only
//!   when their own expiry nears), so a repository nobody changes stays fresh.
//! - [`rules`]: automatic approval rules, applied to revisions published after them.
//! - [`config`]: `server.toml` and its environment overrides; [`tls`]: rustls.
//! - [`serve`]: runs it all until a shutdown signal, finishing the requests in flight.
//!
//! The server logs through `tracing` and never logs a token.

pub mod app;
pub mod approvals;
pub mod config;
pub mod error;
pub mod extract;
pub mod metrics;
pub mod repository;
pub mod resign;
pub mod routes;
pub mod rules;
pub mod store;
pub mod tls;
pub mod token;

use std::future::Future;
use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;

pub use config::ServerConfig;
pub use error::{ApiFailure, ServerError};
use store::{SqliteStorage, Storage};

use crate::app::App;
use crate::repository::Repository;

/// The repository keys the server signs with; it never needs the targets or root keys.
pub const SERVER_KEYS: [&str; 3] = ["timestamp", "snapshot", "approvals"];

/// Creates a data directory for `repository` (the configuration file and the database) and
/// marks the repository as managed, so approvals change only through the API.
pub async fn init(data_dir: &Path, repository: &Path) -> Result<ServerConfig, ServerError> {
    let repository = std::path::absolute(repository).map_err(|e| ServerError::io(repository, e))?;
    Repository::open(&repository)?;
    let layout = wua_trust::Layout::new(&repository);
    for key in SERVER_KEYS {
        let path = layout.key(key);
        if !path.is_file() {
            return Err(ServerError::Config(format!(
                "{}: the server signs with the {key} key, which is missing",
                path.display()
            )));
        }
    }
    let config_path = data_dir.join(config::CONFIG_FILE);
    if config_path.exists() {
        return Err(ServerError::Config(format!("{} exists; this data directory is in use", config_path.display())));
    }
    fs_err::create_dir_all(data_dir).map_err(|e| ServerError::io(data_dir, e))?;
    let config = ServerConfig::new(repository.clone());
    let text = toml::to_string(&config).map_err(|e| ServerError::Config(e.to_string()))?;
    wua_fs::write_atomic(&config_path, text.as_bytes(), 0o600).map_err(|e| ServerError::io(&config_path, e))?;
    SqliteStorage::open(data_dir)?;
    let marker = wua_trust::repo::Managed::new(wua_types::api::API_PREFIX);
    wua_trust::repo::set_managed(&repository, &marker).await?;
    Ok(config)
}

/// A server bound to its address, ready to [`Server::run`].
#[derive(Debug)]
pub struct Server {
    app: Arc<App<SqliteStorage>>,
    listener: tokio::net::TcpListener,
    tls: Option<Arc<rustls::ServerConfig>>,
}

impl Server {
    /// Opens the data directory's database and the repository, reads the TLS files, and binds
    /// the listen address.
    pub async fn bind(data_dir: &Path, config: ServerConfig) -> Result<Server, ServerError> {
        config.check()?;
        let tls = match &config.tls {
            Some(t) => Some(tls::server_config(t)?),
            None => None,
        };
        let storage = SqliteStorage::open(data_dir)?;
        let repository = Repository::open(&config.repository)?;
        let listener = tokio::net::TcpListener::bind(config.listen)
            .await
            .map_err(|e| ServerError::Config(format!("cannot listen on {}: {e}", config.listen)))?;
        let app = Arc::new(App { storage, config, repository, metrics: Default::default() });
        Ok(Server { app, listener, tls })
    }

    /// The address it listens on.
    pub fn local_addr(&self) -> Result<SocketAddr, ServerError> {
        self.listener.local_addr().map_err(|e| ServerError::Config(e.to_string()))
    }

    /// Serves until `shutdown` completes, then finishes the requests in flight: a report is
    /// either stored and acknowledged or answered with an error the agent retries.
    pub async fn run(self, shutdown: impl Future<Output = ()> + Send + 'static) -> Result<(), ServerError> {
        let app = self.app;
        let router = app::router(app.clone());
        let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
        let timers = tokio::spawn(housekeeping(app.clone(), stop_rx));
        let served = match self.tls {
            Some(config) => {
                let listener =
                    tls::TlsListener::new(self.listener, config).map_err(|e| ServerError::Config(e.to_string()))?;
                axum::serve(listener, router).with_graceful_shutdown(shutdown).await
            }
            None => axum::serve(self.listener, router).with_graceful_shutdown(shutdown).await,
        };
        let _ = stop_tx.send(true);
        let _ = timers.await;
        served.map_err(|e| ServerError::Config(format!("serving: {e}")))
    }
}

/// The timers: the repository's online roles re-signed before they expire, report events
/// past the retention period pruned.
async fn housekeeping<S: Storage>(app: Arc<App<S>>, mut stop: tokio::sync::watch::Receiver<bool>) {
    let every = std::time::Duration::from_secs(app.config.signing.check_interval_seconds);
    loop {
        if let Err(e) = resign::tick(&app.repository, &app.config.signing).await {
            tracing::error!(error = %e, "re-signing the repository failed; /healthz reports it as the timestamp nears expiry");
        }
        match rules::apply_new(&app).await {
            Ok(0) => {}
            Ok(n) => tracing::info!(approvals = n, "approval rules approved new revisions"),
            Err(e) => tracing::error!(error = %e, "applying approval rules failed; the next tick retries"),
        }
        let cutoff = store::now_s() - (app.config.retention_days as i64) * 86_400;
        match app.storage.prune_events(cutoff).await {
            Ok(0) => {}
            Ok(n) => tracing::info!(events = n, "pruned report events past the retention period"),
            Err(e) => tracing::warn!(error = %e, "pruning report events failed"),
        }
        tokio::select! {
            _ = tokio::time::sleep(every) => {}
            _ = stop.wait_for(|s| *s) => return,
        }
    }
}
