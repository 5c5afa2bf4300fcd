//! The `wua` command line: the agent's verbs for an administrator.
//!
//! Exit codes (docs/cli.md): 0 every update succeeded, 1 an update failed or was aborted,
//! 2 the call itself failed (bad arguments, bad input, busy, access), 102 every update
//! succeeded but a reboot is required.

#![allow(clippy::print_stdout, clippy::print_stderr)]

mod agent_config;
mod agent_managed;
mod agent_run;
mod commands;
mod jobrun;
mod json;
mod output;
mod quickstart;
mod quickstart_server;
mod repo;
mod server;
mod services;
mod session;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{ArgAction, Parser, Subcommand};
use wua_agent::wua_types::WuError;

/// wua: the Windows Update Agent for Linux.
#[derive(Debug, Parser)]
#[command(name = "wua", version, about)]
pub struct Cli {
    /// The agent's state directory.
    #[arg(long, global = true, env = "WUA_STATE_DIR", default_value = wua_agent::DEFAULT_STATE_DIR)]
    pub state_dir: PathBuf,
    /// The target root updates install into.
    #[arg(long, global = true, env = "WUA_ROOT", default_value = "/")]
    pub root: PathBuf,
    /// Print machine-readable JSON instead of tables.
    #[arg(long, global = true)]
    pub json: bool,
    #[command(subcommand)]
    pub(crate) command: Command,
}

/// The verbs.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Build and inspect standalone package files.
    #[command(subcommand)]
    Package(PackageCommand),
    /// Import standalone packages and install their updates.
    InstallPackage {
        /// Package files.
        #[arg(required = true)]
        files: Vec<PathBuf>,
        /// Accept the license terms of these updates (they are printed first).
        #[arg(long)]
        accept_eula: bool,
        /// Reinstall what is installed, and install although a reboot is pending.
        #[arg(long)]
        forced: bool,
    },
    /// Install updates: by id (imported, or found in the service's synced catalog, downloaded
    /// first), or with `--all` everything a search of the service finds (not installed, not
    /// hidden), downloaded first.
    Install {
        /// Update ids to install (the newest known revision of each), repeated or several after
        /// one flag; an id given twice is installed once.
        #[arg(long = "update-id", num_args = 1.., action = ArgAction::Append, required_unless_present = "all")]
        update_ids: Vec<String>,
        /// Install everything an online search of the service finds.
        #[arg(long, conflicts_with = "update_ids")]
        all: bool,
        /// The service (default: the default service, or the only one).
        #[arg(long)]
        service: Option<String>,
        /// Accept the license terms of these updates (they are printed first).
        #[arg(long)]
        accept_eula: bool,
        /// Reinstall what is installed, and install although a reboot is pending.
        #[arg(long)]
        forced: bool,
    },
    /// Uninstall installed updates.
    Uninstall {
        /// Update ids to remove, repeated or several after one flag; an id given twice is
        /// removed once.
        #[arg(long = "update-id", required = true, num_args = 1.., action = ArgAction::Append)]
        update_ids: Vec<String>,
        /// Uninstall although the update is not recorded as installed or a reboot is pending.
        #[arg(long)]
        forced: bool,
    },
    /// Show the update history, newest first.
    History {
        /// The first entry to show (0 is the newest).
        #[arg(long, default_value_t = 0)]
        start: i32,
        /// How many entries to show.
        #[arg(long, default_value_t = 50)]
        count: i32,
    },
    /// Search a service for updates (WUA's criteria language; the empty criteria mean
    /// `IsInstalled=0 and IsHidden=0`).
    Search {
        /// What to search.
        #[command(flatten)]
        search: SearchArgs,
    },
    /// Download the content of what a search of a service finds.
    Download {
        /// What to search for the updates to download.
        #[command(flatten)]
        search: SearchArgs,
        /// Fetch again what the cache already holds.
        #[arg(long)]
        forced: bool,
    },
    /// Work with the update services this agent searches.
    #[command(subcommand)]
    Service(ServiceCommand),
    /// Work with the content cache.
    #[command(subcommand)]
    Cache(CacheCommand),
    /// Show the known updates, their state and whether a reboot is pending.
    Status,
    /// Finish or undo operations a crash or power loss interrupted (installs and uninstalls
    /// do this first anyway).
    Recover,
    /// Work with an update repository.
    #[command(subcommand)]
    Repo(RepoCommand),
    /// The update server: registration, groups, approvals, reports (docs/server.md).
    #[command(subcommand)]
    Server(ServerCommand),
    /// The scheduled agent: search, then download and install as the policy says.
    #[command(subcommand)]
    Agent(AgentCommand),
    /// Build sample packages and install them into DIR/root (state in DIR/state).
    Quickstart {
        /// Where to work (created if missing).
        #[arg(default_value = "wua-quickstart")]
        dir: PathBuf,
    },
}

/// `wua package ...`.
#[derive(Debug, Subcommand)]
pub enum PackageCommand {
    /// Build a package file from a manifest and a payload directory.
    Build {
        /// The TOML publishing manifest.
        manifest: PathBuf,
        /// The payload directory.
        #[arg(long)]
        payload: PathBuf,
        /// The package file to write.
        #[arg(short = 'o', long = "output")]
        output: PathBuf,
        /// Compress the package with zstd.
        #[arg(long)]
        zstd: bool,
    },
    /// Verify packages and bring their updates into the agent (content cached, metadata
    /// recorded) without installing them.
    Import {
        /// Package files.
        #[arg(required = true)]
        files: Vec<PathBuf>,
    },
}

/// The server's default data directory.
pub const DEFAULT_SERVER_DATA_DIR: &str = "/var/lib/wua-server";

/// `wua server ...`.
#[derive(Debug, Subcommand)]
pub enum ServerCommand {
    /// Create a data directory (configuration and database) for a repository, which the
    /// server then manages.
    Init {
        /// The data directory.
        #[arg(long, default_value = DEFAULT_SERVER_DATA_DIR)]
        data_dir: PathBuf,
        /// The repository (`wua repo init`).
        #[arg(long)]
        repository: PathBuf,
    },
    /// Run the server until SIGTERM or SIGINT.
    Run {
        /// The data directory.
        #[arg(long, default_value = DEFAULT_SERVER_DATA_DIR)]
        data_dir: PathBuf,
        /// The address to listen on (default: the configuration's, 127.0.0.1:8530).
        #[arg(long)]
        listen: Option<std::net::SocketAddr>,
    },
    /// Administrator tokens.
    #[command(subcommand)]
    Token(TokenCommand),
    /// Back up the database (online, consistent) and the repository into a new directory.
    Backup {
        /// The data directory.
        #[arg(long, default_value = DEFAULT_SERVER_DATA_DIR)]
        data_dir: PathBuf,
        /// The backup directory to create.
        output: PathBuf,
    },
    /// Restore a backup into a new data directory.
    Restore {
        /// The backup directory.
        backup: PathBuf,
        /// The data directory to create.
        #[arg(long, default_value = DEFAULT_SERVER_DATA_DIR)]
        data_dir: PathBuf,
    },
}

/// `wua server token ...`.
#[derive(Debug, Subcommand)]
pub enum TokenCommand {
    /// Make an administrator token; prints it once.
    Create {
        /// The data directory.
        #[arg(long, default_value = DEFAULT_SERVER_DATA_DIR)]
        data_dir: PathBuf,
        /// What the token is for (shown in the audit log).
        #[arg(long)]
        name: String,
    },
    /// List administrator tokens (never the tokens themselves).
    List {
        /// The data directory.
        #[arg(long, default_value = DEFAULT_SERVER_DATA_DIR)]
        data_dir: PathBuf,
    },
    /// Revoke an administrator token; it stops working at once.
    Revoke {
        /// The data directory.
        #[arg(long, default_value = DEFAULT_SERVER_DATA_DIR)]
        data_dir: PathBuf,
        /// The token's id.
        id: String,
    },
}

/// `wua agent ...`.
#[derive(Debug, Subcommand)]
pub enum AgentCommand {
    /// Register the services the configuration declares, search the default service online,
    /// then act by the configured notification level (WUA's AutomaticUpdatesNotificationLevel):
    /// NotifyBeforeDownload lists what is needed, NotifyBeforeInstallation also downloads it,
    /// ScheduledInstallation also installs it; Disabled does nothing. Run from wua-agent.timer.
    Run {
        /// Run once and leave (the schedule is the systemd timer's).
        #[arg(long)]
        once: bool,
        /// The configuration file.
        #[arg(long, default_value = agent_config::DEFAULT_AGENT_CONFIG)]
        config: PathBuf,
    },
}

/// `wua repo ...`: the signed update repository (docs/repository.md).
#[derive(Debug, Subcommand)]
pub enum RepoCommand {
    /// Create a repository: keys (mode 0600), a root signed by a threshold of root keys (or,
    /// with --root-public-key, a root proposal for root keys kept elsewhere to sign), the online
    /// roles and the approvals delegation.
    Init {
        /// The new repository's directory (empty or missing).
        dir: PathBuf,
        /// How many root keys to create.
        #[arg(long, default_value_t = 1)]
        root_keys: usize,
        /// How many root keys must sign a root.
        #[arg(long, default_value_t = 1)]
        root_threshold: usize,
        /// The public key file of a root key kept elsewhere (`wua repo key generate --public`),
        /// repeated for each: no root key is created here, and the first root is written as
        /// DIR/root-1.proposed.json to be signed with `wua repo root sign` and installed with
        /// `wua repo root merge`.
        #[arg(long = "root-public-key", value_name = "FILE", conflicts_with = "root_keys")]
        root_public_keys: Vec<PathBuf>,
    },
    /// Publish an update from a publishing manifest and its payload.
    Publish {
        /// The repository.
        dir: PathBuf,
        /// The TOML publishing manifest.
        manifest: PathBuf,
        /// The payload directory.
        #[arg(long)]
        payload: PathBuf,
    },
    /// Publish a new revision of a published update (its revision must be higher).
    Revise {
        /// The repository.
        dir: PathBuf,
        /// The TOML publishing manifest.
        manifest: PathBuf,
        /// The payload directory.
        #[arg(long)]
        payload: PathBuf,
    },
    /// Stop offering a revision to new installs (installed copies stay visible).
    // The usage by hand: clap would print the id group (repo::UpdateIdArg) before DIR.
    #[command(override_usage = "wua repo decline DIR (--update-id ID | UPDATE_ID) --revision N")]
    Decline {
        /// The repository.
        dir: PathBuf,
        /// The update: `--update-id ID` or positional, a unique prefix of a published id.
        #[command(flatten)]
        update: repo::UpdateIdArg,
        /// The revision.
        #[arg(long)]
        revision: i32,
    },
    /// Re-sign the online roles with fresh expiry dates (run it from a timer).
    // Named `resign`: "refresh" elsewhere is an agent's sync. `refresh`, its old name, stays
    // accepted as a hidden alias (clap's `alias`, unlike `visible_alias`, shows nowhere).
    #[command(alias = "refresh")]
    Resign {
        /// The repository.
        dir: PathBuf,
        /// Re-sign only this role and those above it, with only their keys: `timestamp`,
        /// `snapshot` (and the timestamp) or `approvals` (and the snapshot and timestamp); never
        /// the targets, so the targets key need not be here.
        #[arg(long, value_enum)]
        only: Option<OnlineRole>,
    },
    /// Rewrite the packs without superseded revisions, when they are half the catalog (or
    /// with --force).
    Compact {
        /// The repository.
        dir: PathBuf,
        /// Compact although fewer than half the entries are superseded.
        #[arg(long)]
        force: bool,
    },
    /// Replace a role's key (targets, snapshot, timestamp, approvals, or a root key root-N);
    /// the old key is revoked.
    RotateKey {
        /// The repository.
        dir: PathBuf,
        /// The role.
        role: String,
    },
    /// List the published updates and each group's approvals.
    List {
        /// The repository.
        dir: PathBuf,
    },
    /// Approve a published update for a group of computers.
    // The usage by hand: clap would print the id group (repo::UpdateIdArg) before DIR.
    #[command(
        override_usage = "wua repo approve DIR (--update-id ID | UPDATE_ID) --group GROUP --action ACTION [--deadline RFC3339]"
    )]
    Approve {
        /// The repository.
        dir: PathBuf,
        /// The update: `--update-id ID` or positional, a unique prefix of a published id.
        #[command(flatten)]
        update: repo::UpdateIdArg,
        /// The group.
        #[arg(long)]
        group: String,
        /// What the group's computers do with it.
        #[arg(long, value_enum)]
        action: ApproveAction,
        /// An RFC 3339 deadline.
        #[arg(long)]
        deadline: Option<String>,
    },
    /// Withdraw an approval.
    // The usage by hand: clap would print the id group (repo::UpdateIdArg) before DIR.
    #[command(override_usage = "wua repo unapprove DIR (--update-id ID | UPDATE_ID) --group GROUP")]
    Unapprove {
        /// The repository.
        dir: PathBuf,
        /// The update: `--update-id ID` or positional, a unique prefix of a published id.
        #[command(flatten)]
        update: repo::UpdateIdArg,
        /// The group.
        #[arg(long)]
        group: String,
    },
    /// Write one file holding a consistent signed state: the offline scan package, or with
    /// --with-content a complete offline repository.
    Export {
        /// The repository.
        dir: PathBuf,
        /// The file to write.
        #[arg(short = 'o', long = "output")]
        output: PathBuf,
        /// Include every blob.
        #[arg(long)]
        with_content: bool,
    },
    /// Offline root signing.
    #[command(subcommand)]
    Root(RootCommand),
    /// Signing keys.
    #[command(subcommand)]
    Key(KeyCommand),
    /// Serve a repository (its `repository/` tree) or any directory over HTTP as a static host
    /// would (ranges, ETags, no listing), until interrupted.
    Serve {
        /// The repository or directory.
        dir: PathBuf,
        /// The address to listen on.
        #[arg(long, default_value = "127.0.0.1:8080")]
        listen: std::net::SocketAddr,
    },
    /// Refresh an agent's trusted state from a source, as an agent does (for tests and
    /// diagnosis): verifies everything and prints the snapshot version and the documents.
    #[command(hide = true)]
    Verify {
        /// The source: an `http(s)://` URL, a repository, a served tree or an export file.
        source: String,
        /// The agent's state directory.
        #[arg(long)]
        state: PathBuf,
        /// The root the agent was installed with.
        #[arg(long)]
        root: PathBuf,
    },
}

/// `wua repo root ...`.
#[derive(Debug, Subcommand)]
pub enum RootCommand {
    /// Add a root key's signature to a root proposal (`root-N.proposed.json`).
    Sign {
        /// The proposal (a copy of it, on the machine holding the key).
        file: PathBuf,
        /// The root key.
        #[arg(long)]
        key: PathBuf,
    },
    /// Install a root proposal from signed copies; refused below either threshold.
    Merge {
        /// The repository.
        dir: PathBuf,
        /// Signed copies of the proposal.
        #[arg(required = true)]
        files: Vec<PathBuf>,
    },
}

/// `wua repo key ...`.
#[derive(Debug, Subcommand)]
pub enum KeyCommand {
    /// Create an ed25519 key (mode 0600) and write its public half to a file of its own: what
    /// the holder of a root key kept offline hands over (`wua repo init --root-public-key`).
    Generate {
        /// The private key file to create (never replaced).
        key: PathBuf,
        /// The public key file to write.
        #[arg(long)]
        public: PathBuf,
    },
}

/// The roles `wua repo resign --only` re-signs on their own.
#[derive(Clone, Copy, Debug, clap::ValueEnum)]
pub enum OnlineRole {
    /// The timestamp alone.
    Timestamp,
    /// The snapshot and the timestamp.
    Snapshot,
    /// The approvals, the snapshot and the timestamp.
    Approvals,
}

/// What `wua search` and `wua download` search.
#[derive(Debug, clap::Args)]
pub struct SearchArgs {
    /// The criteria, e.g. "IsInstalled=0 and Type='Software'".
    #[arg(default_value = "")]
    pub criteria: String,
    /// Search the catalog already synced, with no network (a download still fetches content).
    #[arg(long)]
    pub offline: bool,
    /// The service (default: the default service, or the only one).
    #[arg(long)]
    pub service: Option<String>,
}

/// `wua cache ...`.
#[derive(Debug, Subcommand)]
pub enum CacheCommand {
    /// Remove the content no install or uninstall needs: keeps the blobs of installed `command`
    /// updates (their uninstall runs from them) and, unless `--all`, of updates downloaded and
    /// not yet installed.
    Clean {
        /// Also remove what is downloaded and not yet installed.
        #[arg(long)]
        all: bool,
    },
}

/// `wua service ...`.
#[derive(Debug, Subcommand)]
pub enum ServiceCommand {
    /// Add a signed repository (an `http(s)://` URL or a directory) or an offline export file
    /// as a service, or register with a managed server (`--server URL --enrolment-key KEY`);
    /// prints its id.
    Add {
        /// A name for people (with --server: --name).
        #[arg(required_unless_present = "server", conflicts_with = "server")]
        name: Option<String>,
        /// The repository's URL or directory, or an export file (`wua repo export`).
        #[arg(required_unless_present = "server", conflicts_with = "server")]
        source: Option<String>,
        /// The `root.json` the repository is trusted by (the one this agent was installed with).
        #[arg(long)]
        trusted_root: PathBuf,
        /// A PEM file of root certificates for the repository's or server's HTTPS.
        #[arg(long)]
        ca_bundle: Option<PathBuf>,
        /// Make it the default service.
        #[arg(long)]
        default: bool,
        /// Register with the managed server at this URL (`https://host:port`; plain http only
        /// to loopback); its repository is `URL/repo`.
        #[arg(long)]
        server: Option<String>,
        /// The enrolment key an administrator made for this computer (with --server). Read
        /// from WUA_ENROLMENT_KEY when the flag is absent, so it stays out of process listings.
        #[arg(long, env = "WUA_ENROLMENT_KEY", hide_env_values = true)]
        enrolment_key: Option<String>,
        /// With --server: a name for people (default: "managed server HOST").
        #[arg(long = "name", id = "server_name", requires = "server")]
        server_name: Option<String>,
        /// With --server: the group to ask for (client-side targeting; honoured when the
        /// enrolment key allows it).
        #[arg(long, requires = "server")]
        group: Option<String>,
    },
    /// List the services.
    List,
    /// Remove a service, its index, its trusted state and its cache.
    Remove {
        /// The service id.
        id: String,
    },
    /// Clear a service's trusted state, cache and index (after its repository was re-created:
    /// `WUA_E_TRUST_IDENTITY`); the next search trusts the root it was added with again.
    Reset {
        /// The service id.
        id: String,
    },
    /// Make a service the default.
    Default {
        /// The service id.
        id: String,
    },
}

/// What an approval asks (D-27).
#[derive(Clone, Copy, Debug, clap::ValueEnum)]
pub enum ApproveAction {
    /// Install it.
    Install,
    /// Uninstall it.
    Uninstall,
    /// Offer it as optional.
    Optional,
}

/// Exit code: every update succeeded.
pub const EXIT_OK: u8 = 0;
/// Exit code: an update failed or was aborted.
pub const EXIT_FAILED: u8 = 1;
/// Exit code: the call failed.
pub const EXIT_CALL_ERROR: u8 = 2;
/// Exit code: every update succeeded and a reboot is required.
pub const EXIT_REBOOT_REQUIRED: u8 = 102;

/// 0, 1 or 102 from a result.
pub fn exit_code(result: &wua_agent::wua_types::InstallationResult) -> u8 {
    match result.result_code {
        wua_agent::wua_types::OperationResultCode::Succeeded if result.reboot_required => EXIT_REBOOT_REQUIRED,
        wua_agent::wua_types::OperationResultCode::Succeeded => EXIT_OK,
        wua_agent::wua_types::OperationResultCode::NotStarted
        | wua_agent::wua_types::OperationResultCode::InProgress => EXIT_CALL_ERROR,
        _ => EXIT_FAILED,
    }
}

fn main() -> ExitCode {
    // Like other Unix tools, end quietly when the reader of our output goes away (`| head`).
    // SAFETY: restoring the default disposition of SIGPIPE before any thread starts.
    unsafe {
        libc::signal(libc::SIGPIPE, libc::SIG_DFL);
    }
    tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::from_env("WUA_LOG"))
        .with_writer(std::io::stderr)
        .init();
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => {
            let _ = e.print();
            return ExitCode::from(if e.use_stderr() { EXIT_CALL_ERROR } else { EXIT_OK });
        }
    };
    jobrun::handle_interrupts();
    match commands::run(&cli) {
        Ok(code) => ExitCode::from(code),
        Err(e) => {
            output::print_error(&cli, &e);
            ExitCode::from(EXIT_CALL_ERROR)
        }
    }
}

/// A call-level failure for the CLI: an agent error, or the CLI's own.
pub type CliResult<T> = Result<T, WuError>;
