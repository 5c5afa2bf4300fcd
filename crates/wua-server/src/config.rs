//! The server's configuration: `server.toml` in the data directory (written by `wua server
//! init`), then environment overrides (`WUA_SERVER_LISTEN`, `WUA_SERVER_REPOSITORY`,
//! `WUA_SERVER_TLS_CERT`, `WUA_SERVER_TLS_KEY`, `WUA_SERVER_CHECKIN_INTERVAL`,
//! `WUA_SERVER_RETENTION_DAYS`), then the command line.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::ServerError;

/// The configuration file in the data directory.
pub const CONFIG_FILE: &str = "server.toml";

/// The default listen address (WSUS's port).
pub const DEFAULT_LISTEN: &str = "127.0.0.1:8530";

/// The server's configuration.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ServerConfig {
    /// Where to listen.
    #[serde(default = "default_listen")]
    pub listen: SocketAddr,
    /// The repository directory the server serves and approves in.
    pub repository: PathBuf,
    /// TLS: a PEM certificate chain and its PEM private key. Plain HTTP without them.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tls: Option<TlsConfig>,
    /// How often agents check in, in seconds.
    #[serde(default = "default_checkin")]
    pub checkin_interval_seconds: u64,
    /// How long report events are kept, in days.
    #[serde(default = "default_retention")]
    pub retention_days: u64,
    /// Signing lifetimes and the re-signing timer.
    #[serde(default)]
    pub signing: SigningConfig,
    /// Request bounds.
    #[serde(default)]
    pub limits: Limits,
}

/// TLS files.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TlsConfig {
    /// The certificate chain (PEM).
    pub certificate: PathBuf,
    /// The private key (PEM, PKCS#8 or PKCS#1 or SEC1).
    pub key: PathBuf,
}

/// How long the roles the server signs stay valid, and how often it checks them.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SigningConfig {
    /// The timestamp's lifetime, in seconds.
    #[serde(default = "default_timestamp_lifetime")]
    pub timestamp_lifetime_seconds: u64,
    /// The snapshot's lifetime, in seconds.
    #[serde(default = "default_snapshot_lifetime")]
    pub snapshot_lifetime_seconds: u64,
    /// How often the timer runs, in seconds.
    #[serde(default = "default_resign_interval")]
    pub check_interval_seconds: u64,
}

impl Default for SigningConfig {
    fn default() -> Self {
        SigningConfig {
            timestamp_lifetime_seconds: default_timestamp_lifetime(),
            snapshot_lifetime_seconds: default_snapshot_lifetime(),
            check_interval_seconds: default_resign_interval(),
        }
    }
}

/// Bounds on requests.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Limits {
    /// The largest report batch body, in bytes.
    #[serde(default = "default_report_body")]
    pub report_body_bytes: usize,
    /// The largest body of any other request, in bytes.
    #[serde(default = "default_body")]
    pub body_bytes: usize,
    /// The longest a request may take, in seconds.
    #[serde(default = "default_timeout")]
    pub request_timeout_seconds: u64,
    /// The most events in one report batch.
    #[serde(default = "default_batch_events")]
    pub batch_events: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            report_body_bytes: default_report_body(),
            body_bytes: default_body(),
            request_timeout_seconds: default_timeout(),
            batch_events: default_batch_events(),
        }
    }
}

fn default_listen() -> SocketAddr {
    DEFAULT_LISTEN.parse().unwrap_or(SocketAddr::from(([127, 0, 0, 1], 8530)))
}
fn default_checkin() -> u64 {
    3_600
}
fn default_retention() -> u64 {
    90
}
fn default_timestamp_lifetime() -> u64 {
    86_400
}
fn default_snapshot_lifetime() -> u64 {
    7 * 86_400
}
fn default_resign_interval() -> u64 {
    600
}
fn default_report_body() -> usize {
    4 << 20
}
fn default_body() -> usize {
    256 << 10
}
fn default_timeout() -> u64 {
    30
}
fn default_batch_events() -> usize {
    1_000
}

impl ServerConfig {
    /// A configuration for `repository` with every default.
    pub fn new(repository: PathBuf) -> Self {
        ServerConfig {
            listen: default_listen(),
            repository,
            tls: None,
            checkin_interval_seconds: default_checkin(),
            retention_days: default_retention(),
            signing: SigningConfig::default(),
            limits: Limits::default(),
        }
    }

    /// Reads `server.toml` from `data_dir`, then applies the environment's overrides.
    pub fn load(data_dir: &Path) -> Result<ServerConfig, ServerError> {
        let path = data_dir.join(CONFIG_FILE);
        let text = fs_err::read_to_string(&path).map_err(|e| {
            ServerError::Config(format!(
                "{e}; `wua server init --data-dir {} --repository REPO` writes it",
                data_dir.display()
            ))
        })?;
        let mut config: ServerConfig =
            toml::from_str(&text).map_err(|e| ServerError::Config(format!("{}: {e}", path.display())))?;
        config.apply_env(|k| std::env::var(k).ok())?;
        config.check()?;
        Ok(config)
    }

    /// Applies environment overrides read through `var`.
    pub fn apply_env(&mut self, var: impl Fn(&str) -> Option<String>) -> Result<(), ServerError> {
        let bad = |k: &str, v: &str, e: &dyn std::fmt::Display| ServerError::Config(format!("{k}={v:?}: {e}"));
        if let Some(v) = var("WUA_SERVER_LISTEN") {
            self.listen = v.parse().map_err(|e| bad("WUA_SERVER_LISTEN", &v, &e))?;
        }
        if let Some(v) = var("WUA_SERVER_REPOSITORY") {
            self.repository = v.into();
        }
        match (var("WUA_SERVER_TLS_CERT"), var("WUA_SERVER_TLS_KEY")) {
            (Some(certificate), Some(key)) => {
                self.tls = Some(TlsConfig { certificate: certificate.into(), key: key.into() })
            }
            (None, None) => {}
            _ => {
                return Err(ServerError::Config(
                    "set both WUA_SERVER_TLS_CERT and WUA_SERVER_TLS_KEY, or neither".into(),
                ));
            }
        }
        if let Some(v) = var("WUA_SERVER_CHECKIN_INTERVAL") {
            self.checkin_interval_seconds = v.parse().map_err(|e| bad("WUA_SERVER_CHECKIN_INTERVAL", &v, &e))?;
        }
        if let Some(v) = var("WUA_SERVER_RETENTION_DAYS") {
            self.retention_days = v.parse().map_err(|e| bad("WUA_SERVER_RETENTION_DAYS", &v, &e))?;
        }
        Ok(())
    }

    /// Refuses values no server can run with.
    pub fn check(&self) -> Result<(), ServerError> {
        let s = &self.signing;
        if self.checkin_interval_seconds == 0 || self.retention_days == 0 {
            return Err(ServerError::Config("checkin_interval_seconds and retention_days must be at least 1".into()));
        }
        if s.timestamp_lifetime_seconds < 60 || s.snapshot_lifetime_seconds < s.timestamp_lifetime_seconds {
            return Err(ServerError::Config(
                "signing: the timestamp lives at least 60 s and the snapshot at least as long as the timestamp".into(),
            ));
        }
        // The timer must run several times within a quarter of the timestamp's life, or
        // `/healthz` would report an expiry the timer was about to prevent.
        if s.check_interval_seconds == 0 || s.check_interval_seconds * 8 > s.timestamp_lifetime_seconds {
            return Err(ServerError::Config(
                "signing.check_interval_seconds must be between 1 and an eighth of the timestamp's lifetime".into(),
            ));
        }
        let l = &self.limits;
        if l.body_bytes == 0 || l.report_body_bytes == 0 || l.request_timeout_seconds == 0 || l.batch_events == 0 {
            return Err(ServerError::Config("limits must be at least 1".into()));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_round_trip_and_the_environment_overrides() {
        let config = ServerConfig::new("/srv/repo".into());
        let text = toml::to_string(&config).unwrap();
        let mut back: ServerConfig = toml::from_str(&text).unwrap();
        assert_eq!(back, config);
        back.apply_env(|k| (k == "WUA_SERVER_LISTEN").then(|| "0.0.0.0:9000".to_owned())).unwrap();
        assert_eq!(back.listen.port(), 9000);
        let e = back.apply_env(|k| (k == "WUA_SERVER_TLS_CERT").then(|| "c.pem".to_owned())).unwrap_err();
        assert!(e.to_string().contains("WUA_SERVER_TLS_KEY"), "{e}");
        assert!(toml::from_str::<ServerConfig>("repository = \"/r\"\nlisten_addr = \"x\"").is_err());
    }
}
