//! The token a managed server issued to this computer: `<state>/services/<id>/token`, mode
//! 0600 whatever the umask, replaced atomically (a crash leaves the old token or the new one).
//! It is never written to the datastore (created with the umask, and copied into backups) and
//! never logged.

use std::path::{Path, PathBuf};

use wua_types::HResult;

use crate::server_error::ServerError;

/// The token file's name in the service's directory.
pub(crate) const TOKEN_FILE: &str = "token";

fn path(service_dir: &Path) -> PathBuf {
    service_dir.join(TOKEN_FILE)
}

/// Writes `token` for the service whose directory is `service_dir`.
pub(crate) fn write(service_dir: &Path, token: &str) -> Result<(), ServerError> {
    let file = path(service_dir);
    let fail = |e: std::io::Error| ServerError::Token {
        path: file.clone(),
        detail: format!("cannot be written: {e}"),
        code: HResult::WUA_E_STATE_DIR,
    };
    std::fs::create_dir_all(service_dir).map_err(fail)?;
    wua_fs::write_atomic(&file, token.as_bytes(), 0o600).map_err(fail)
}

/// The service's token.
pub(crate) fn read(service_dir: &Path) -> Result<String, ServerError> {
    let file = path(service_dir);
    match std::fs::read_to_string(&file) {
        Ok(text) if !text.trim().is_empty() => Ok(text.trim().to_owned()),
        Ok(_) => Err(ServerError::Token {
            path: file,
            detail: "is empty: register with the server again (`wua service add --server`)".into(),
            code: HResult::WUA_E_SERVER_UNAUTHORIZED,
        }),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Err(ServerError::Token {
            path: file,
            detail: "is missing: register with the server again (`wua service add --server`)".into(),
            code: HResult::WUA_E_SERVER_UNAUTHORIZED,
        }),
        Err(e) => {
            let code = match e.kind() {
                std::io::ErrorKind::PermissionDenied => HResult::E_ACCESSDENIED,
                _ => HResult::WUA_E_STATE_DIR,
            };
            Err(ServerError::Token { path: file, detail: format!("cannot be read: {e}"), code })
        }
    }
}
