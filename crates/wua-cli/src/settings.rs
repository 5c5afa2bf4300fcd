//! What an agent's verb runs with, from its flags, the `WUA_*` variables, the configuration file
//! and the defaults, in that order of precedence (docs/cli.md, "Configuration").

use std::path::{Path, PathBuf};

use crate::agent_config::{AgentConfig, DEFAULT_AGENT_CONFIG};
use crate::{AgentOpts, CliResult};

/// The resolved options of an agent's verb.
#[derive(Debug, Clone)]
pub(crate) struct Agent {
    /// The agent's state directory.
    pub state_dir: PathBuf,
    /// The target root.
    pub root: PathBuf,
    /// The configuration file as read (empty when the default file is missing).
    pub config: AgentConfig,
    /// A `command` program's time between SIGTERM and SIGKILL, when set.
    pub terminate_grace_secs: Option<u64>,
}

impl Agent {
    /// Resolves `opts` (clap has already put the flag or else the variable in each): the named
    /// configuration file must exist; the default one may be missing.
    pub(crate) fn resolve(opts: &AgentOpts) -> CliResult<Agent> {
        let config = match &opts.config {
            Some(path) => AgentConfig::load(path)?,
            None => {
                let path = Path::new(DEFAULT_AGENT_CONFIG);
                if path.exists() { AgentConfig::load(path)? } else { AgentConfig::empty(path) }
            }
        };
        let state_dir = opts
            .state_dir
            .clone()
            .or_else(|| config.state_dir.clone())
            .unwrap_or_else(|| PathBuf::from(wua_agent::DEFAULT_STATE_DIR));
        let root = opts.root.clone().or_else(|| config.root.clone()).unwrap_or_else(|| PathBuf::from("/"));
        let terminate_grace_secs = config.terminate_grace_secs;
        Ok(Agent { state_dir, root, config, terminate_grace_secs })
    }

    /// With `run`'s flag (or its variable) over the file's value.
    pub(crate) fn with(mut self, run: &crate::RunOpts) -> Agent {
        self.terminate_grace_secs = run.terminate_grace_secs.or(self.terminate_grace_secs);
        self
    }
}
