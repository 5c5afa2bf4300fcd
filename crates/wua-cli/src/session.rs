//! The agent's session as the command line opens it.

use std::path::Path;

use wua_agent::wua_types::HResult;
use wua_agent::{BootIdSource, SessionOptions, UpdateSession};

use crate::CliResult;

/// The client application id the CLI records in history.
pub(crate) const CLIENT_ID: &str = "wua-cli";

/// Opens the session of an agent's verb.
pub(crate) fn open(agent: &crate::settings::Agent) -> CliResult<UpdateSession> {
    open_with(&agent.state_dir, &agent.root, agent.terminate_grace_secs)
}

/// Opens a session; `WUA_BOOT_ID_FILE` replaces the system's boot id (tests simulate a reboot
/// with it).
pub(crate) fn open_session(state_dir: &Path, root: &Path) -> CliResult<UpdateSession> {
    open_with(state_dir, root, None)
}

/// [`open_session`] with a grace for `command` programs other than the library's default.
fn open_with(state_dir: &Path, root: &Path, terminate_grace_secs: Option<u64>) -> CliResult<UpdateSession> {
    let mut options = SessionOptions::new(state_dir, root);
    if let Some(secs) = terminate_grace_secs {
        options.terminate_grace = std::time::Duration::from_secs(secs);
    }
    if let Some(file) = std::env::var_os("WUA_BOOT_ID_FILE") {
        options.boot_id = BootIdSource::File(file.into());
    }
    let session = UpdateSession::open(options).map_err(|mut e| {
        // This user cannot create the state directory, or cannot open its datastore: say what
        // to do.
        let denied = e.hresult == HResult::E_ACCESSDENIED;
        if denied || (e.hresult == HResult::WUA_E_STATE_DIR && !state_dir.exists()) {
            e.message.push_str(if state_dir == Path::new(wua_agent::DEFAULT_STATE_DIR) {
                "; run as root or pass --state-dir with a directory you can write"
            } else {
                "; run as root or pass a --state-dir you can write"
            });
        }
        e
    })?;
    session.set_client_application_id(CLIENT_ID);
    tracing::debug!(state_dir = %state_dir.display(), root = %root.display(), "session: opened");
    Ok(session)
}
