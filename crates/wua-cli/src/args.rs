//! The command line's grammar (clap): verbs, their flags, and which flags are whose.

use std::path::PathBuf;

use clap::{ArgAction, Parser, Subcommand};

/// wua: the Windows Update Agent for Linux.
#[derive(Debug, Parser)]
#[command(name = "wua", version, about)]
pub struct Cli {
    /// Print machine-readable JSON on stdout instead of tables (docs/cli.md gives each verb's
    /// schema).
    #[arg(long, global = true)]
    pub json: bool,
    /// Print nothing but errors.
    #[arg(long, short = 'q', global = true)]
    pub quiet: bool,
    #[command(subcommand)]
    pub(crate) command: Command,
}

/// Where the agent keeps its state, where it installs, and the configuration file: the options
/// of the agent's verbs only (flags, then `WUA_*` variables, then the file, then defaults).
#[derive(Debug, Clone, Default, clap::Args)]
pub struct AgentOpts {
    /// The agent's state directory [default: /var/lib/wua].
    #[arg(long, global = true, env = "WUA_STATE_DIR", value_name = "DIR")]
    pub state_dir: Option<PathBuf>,
    /// The target root updates install into [default: /].
    #[arg(long, global = true, env = "WUA_ROOT", value_name = "DIR")]
    pub root: Option<PathBuf>,
    /// The agent's configuration file [default: /etc/wua/agent.toml; optional unless named].
    #[arg(long, global = true, env = "WUA_CONFIG", value_name = "FILE")]
    pub config: Option<PathBuf>,
}

/// The most a `command` program may be given between SIGTERM and SIGKILL.
pub const MAX_TERMINATE_GRACE_SECS: u64 = 3600;

/// How the agent runs the programs of `command` updates: on the verbs that install or remove.
#[derive(Debug, Clone, Default, clap::Args)]
pub struct RunOpts {
    /// Seconds a `command` program has between SIGTERM and SIGKILL when it is stopped (an abort,
    /// its time limit), unless the update gives its own [default: agent.toml's, else 2].
    #[arg(long, env = "WUA_TERMINATE_GRACE_SECS", value_name = "SECS",
          value_parser = clap::value_parser!(u64).range(0..=MAX_TERMINATE_GRACE_SECS))]
    pub terminate_grace_secs: Option<u64>,
}

/// The verbs.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Build and inspect standalone package files.
    Package {
        /// The verb.
        #[command(subcommand)]
        command: PackageCommand,
    },
    /// Import standalone packages and install their updates.
    InstallPackage {
        /// Where the agent works.
        #[command(flatten)]
        agent: AgentOpts,
        /// How programs are stopped.
        #[command(flatten)]
        run: RunOpts,
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
    /// Install updates: those named by id, or those a search finds and the filters keep (or
    /// with `--all` everything it finds), downloaded first.
    Install {
        /// Where the agent works.
        #[command(flatten)]
        agent: AgentOpts,
        /// How programs are stopped.
        #[command(flatten)]
        run: RunOpts,
        /// Which updates.
        #[command(flatten)]
        select: SelectArgs,
        /// Accept the license terms of these updates (they are printed first).
        #[arg(long)]
        accept_eula: bool,
        /// Reinstall what is installed, and install although a reboot is pending.
        #[arg(long)]
        forced: bool,
        /// Choose the updates, read their licenses and accept them at the terminal.
        #[arg(long, short = 'i', conflicts_with_all = ["all", "update_ids", "yes"])]
        interactive: bool,
        /// What to do when an update asks for a reboot [default: the configuration's, or never].
        #[arg(long, value_enum, env = "WUA_REBOOT")]
        reboot: Option<RebootPolicyArg>,
        /// With `--reboot at-time`: the local time of day, HH:MM.
        #[arg(long, value_name = "HH:MM", env = "WUA_REBOOT_AT")]
        reboot_at: Option<String>,
    },
    /// Uninstall installed updates.
    Uninstall {
        /// Where the agent works.
        #[command(flatten)]
        agent: AgentOpts,
        /// How programs are stopped.
        #[command(flatten)]
        run: RunOpts,
        /// Updates to remove (an id, a unique prefix of one, KB1234 or a title), repeated or
        /// several after one flag; an update named twice is removed once.
        #[arg(long = "update-id", value_name = "ID", num_args = 1.., action = ArgAction::Append)]
        update_ids: Vec<String>,
        /// The same as --update-id.
        #[arg(value_name = "ID", conflicts_with = "update_ids")]
        ids: Vec<String>,
        /// Uninstall although the update is not recorded as installed or a reboot is pending.
        #[arg(long)]
        forced: bool,
        /// Do it without asking (a terminal asks first).
        #[arg(long, short = 'y')]
        yes: bool,
        /// Show what would be removed and stop.
        #[arg(long)]
        dry_run: bool,
    },
    /// Hide updates: searches leave them out unless asked (`--include-hidden`); a mandatory
    /// update or one with a deadline cannot be hidden.
    Hide(NamedUpdates),
    /// Show hidden updates again.
    Unhide(NamedUpdates),
    /// Show one update: description, KB, severity, categories, license, files, supersedence.
    Show {
        /// Where the agent works.
        #[command(flatten)]
        agent: AgentOpts,
        /// The update (an id, a unique prefix of one, KB1234 or a title).
        id: String,
        /// The service (default: the default service, or the only one).
        #[arg(long)]
        service: Option<String>,
    },
    /// List the files an installed update owns (as `dpkg -L`).
    Files {
        /// Where the agent works.
        #[command(flatten)]
        agent: AgentOpts,
        /// The update (an id, a unique prefix of one, KB1234 or a title).
        id: String,
    },
    /// Name the installed update that owns a file (as `dpkg -S`).
    Owner {
        /// Where the agent works.
        #[command(flatten)]
        agent: AgentOpts,
        /// The path, as installed under the root (`/etc/x.conf`).
        path: PathBuf,
    },
    /// Show the update history, newest first.
    History {
        /// Where the agent works.
        #[command(flatten)]
        agent: AgentOpts,
        /// The first entry to show (0 is the newest).
        #[arg(long, default_value_t = 0)]
        start: i32,
        /// How many entries to show.
        #[arg(long, default_value_t = 50)]
        count: i32,
        /// The newest N entries (`--start 0 --count N`).
        #[arg(long, value_name = "N", conflicts_with_all = ["start", "count"])]
        last: Option<i32>,
    },
    /// Search a service for updates (WUA's criteria language; the empty criteria mean
    /// `IsInstalled=0 and IsHidden=0`); the filters narrow what the criteria find.
    Search {
        /// Where the agent works.
        #[command(flatten)]
        agent: AgentOpts,
        /// What to search.
        #[command(flatten)]
        filters: FilterArgs,
        /// Exit 100 when updates are found, 0 when none (as `dnf check-update`).
        #[arg(long)]
        exit_code: bool,
    },
    /// Download the content of updates: those named by id, or those a search finds and the
    /// filters keep (or with `--all` everything it finds).
    Download {
        /// Where the agent works.
        #[command(flatten)]
        agent: AgentOpts,
        /// Which updates.
        #[command(flatten)]
        select: SelectArgs,
        /// Fetch again what the cache already holds.
        #[arg(long)]
        forced: bool,
    },
    /// Work with the update services this agent searches.
    Service {
        /// Where the agent works.
        #[command(flatten)]
        agent: AgentOpts,
        /// The verb.
        #[command(subcommand)]
        command: ServiceCommand,
    },
    /// Work with the content cache.
    Cache {
        /// Where the agent works.
        #[command(flatten)]
        agent: AgentOpts,
        /// The verb.
        #[command(subcommand)]
        command: CacheCommand,
    },
    /// Show the agent's state: pending reboot, operations running or interrupted, imported and
    /// installed updates, services, the last successful search and install.
    Status {
        /// Where the agent works.
        #[command(flatten)]
        agent: AgentOpts,
    },
    /// Whether the machine must reboot to finish installing (as `Get-WURebootStatus`); exit
    /// 102 when it must.
    RebootStatus {
        /// Where the agent works.
        #[command(flatten)]
        agent: AgentOpts,
    },
    /// Finish or undo operations a crash or power loss interrupted (installs and uninstalls
    /// do this first anyway).
    Recover {
        /// Where the agent works.
        #[command(flatten)]
        agent: AgentOpts,
        /// How programs are stopped.
        #[command(flatten)]
        run: RunOpts,
    },
    /// Work with an update repository.
    #[command(subcommand)]
    Repo(RepoCommand),
    /// The update server: registration, groups, approvals, reports (docs/server.md).
    #[command(subcommand)]
    Server(ServerCommand),
    /// The scheduled agent: search, then download and install as the policy says.
    Agent {
        /// Where the agent works.
        #[command(flatten)]
        agent: AgentOpts,
        /// The verb.
        #[command(subcommand)]
        command: AgentCommand,
    },
    /// Print a shell completion script, generated from these definitions, to stdout.
    Completions {
        /// The shell.
        #[arg(value_enum)]
        shell: crate::shell::CompletionShell,
    },
    /// Write the man pages (wua.1 and one per subcommand, e.g. wua-install.1) into a directory,
    /// or print wua.1 to stdout.
    Man {
        /// The directory to write the pages into (created if missing); their paths are printed.
        #[arg(short = 'o', long = "output", value_name = "DIR")]
        output: Option<PathBuf>,
    },
    /// The whole system on embedded samples: a signed repository, the server, this agent
    /// registered with it, installing into DIR/root (state in DIR/state).
    Quickstart {
        /// Where to work (created if missing).
        #[arg(default_value = "wua-quickstart")]
        dir: PathBuf,
    },
}

/// Updates named on the command line, for `wua hide` and `wua unhide`.
#[derive(Debug, Clone, clap::Args)]
pub struct NamedUpdates {
    /// Where the agent works.
    #[command(flatten)]
    pub agent: AgentOpts,
    /// Updates (an id, a unique prefix of one, KB1234 or a title).
    #[arg(required = true, value_name = "ID")]
    pub ids: Vec<String>,
    /// The service (default: the default service, or the only one).
    #[arg(long)]
    pub service: Option<String>,
}

/// The search filters of `wua search`, `wua download` and `wua install`.
#[derive(Debug, Clone, Default, clap::Args)]
pub struct FilterArgs {
    /// The criteria, e.g. "IsInstalled=0 and Type='Software'" [default: IsInstalled=0 and
    /// IsHidden=0].
    #[arg(default_value = "", hide_default_value = true)]
    pub criteria: String,
    /// Keep updates with this KB article number (`1234` or `KB1234`), repeated for several.
    #[arg(long = "kb", value_name = "N")]
    pub kb: Vec<String>,
    /// Keep updates whose title matches this regular expression (case-insensitive).
    #[arg(long, value_name = "REGEX")]
    pub title: Option<String>,
    /// Keep updates in this category (its name or id), repeated for several.
    #[arg(long = "category", value_name = "NAME")]
    pub category: Vec<String>,
    /// Keep updates of this MSRC severity (Critical, Important, Moderate, Low, Unspecified).
    #[arg(long, value_name = "S")]
    pub severity: Vec<String>,
    /// Keep hidden updates too (the default criteria leave them out).
    #[arg(long)]
    pub include_hidden: bool,
    /// Keep updates a newer update supersedes (searches leave them out).
    #[arg(long)]
    pub include_superseded: bool,
    /// Search the catalog already synced, with no network (a download still fetches content).
    #[arg(long)]
    pub offline: bool,
    /// The service (default: the default service, or the only one).
    #[arg(long)]
    pub service: Option<String>,
}

impl FilterArgs {
    /// Whether a filter beyond the criteria narrows the search.
    pub fn narrows(&self) -> bool {
        !self.kb.is_empty() || self.title.is_some() || !self.category.is_empty() || !self.severity.is_empty()
    }
}

/// Which updates `wua download` and `wua install` act on: ids, filters, or `--all`; with none of
/// them, nothing.
#[derive(Debug, Clone, Default, clap::Args)]
pub struct SelectArgs {
    /// The search and its filters.
    #[command(flatten)]
    pub filters: FilterArgs,
    /// Updates (an id, a unique prefix of one, KB1234 or a title), repeated or several after
    /// one flag; an update named twice counts once.
    #[arg(long = "update-id", value_name = "ID", num_args = 1.., action = ArgAction::Append)]
    pub update_ids: Vec<String>,
    /// Everything the search finds.
    #[arg(long, conflicts_with = "update_ids")]
    pub all: bool,
    /// Do it without asking (a terminal asks first).
    #[arg(long, short = 'y')]
    pub yes: bool,
    /// Show what would be done and stop.
    #[arg(long)]
    pub dry_run: bool,
}

/// When an unattended install restarts the machine (PSWindowsUpdate's `-AutoReboot` /
/// `-IgnoreReboot`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum RebootPolicyArg {
    /// Never restart; report that a reboot is required.
    Never,
    /// Restart as soon as an install asks for it.
    IfRequired,
    /// Restart at the time `--reboot-at` gives, when an install asked for it.
    AtTime,
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
        /// Where the agent works.
        #[command(flatten)]
        agent: AgentOpts,
        /// Package files.
        #[arg(required = true)]
        files: Vec<PathBuf>,
    },
    /// Show what a package file holds (its update, files and signature) without importing it.
    Inspect {
        /// The package file.
        file: PathBuf,
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
        /// How programs are stopped.
        #[command(flatten)]
        run: RunOpts,
        /// The notification level, instead of `[policy] notification_level`: NotConfigured,
        /// Disabled, NotifyBeforeDownload, NotifyBeforeInstallation or ScheduledInstallation.
        #[arg(long, env = "WUA_NOTIFICATION_LEVEL", value_name = "LEVEL")]
        notification_level: Option<String>,
        /// What to do when an install asks for a reboot [default: the configuration's, or never].
        #[arg(long, value_enum, env = "WUA_REBOOT")]
        reboot: Option<RebootPolicyArg>,
        /// With `--reboot at-time`: the local time of day, HH:MM.
        #[arg(long, value_name = "HH:MM", env = "WUA_REBOOT_AT")]
        reboot_at: Option<String>,
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
        update: crate::repo::UpdateIdArg,
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
        update: crate::repo::UpdateIdArg,
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
        update: crate::repo::UpdateIdArg,
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
