//! The scheduled agent's configuration file, `/etc/wua/agent.toml` (docs/cli.md, "wua agent
//! run"):
//!
//! ```toml
//! [policy]
//! notification_level = "ScheduledInstallation"   # WUA's AutomaticUpdatesNotificationLevel
//!
//! [services.main]                                # one table per service; the key is its name
//! source = "https://updates.example.com/repo"     # a URL, a repository directory or an export file
//! trusted_root = "main-root.json"                 # relative paths: to this file's directory
//! ca_bundle = "/etc/ssl/private-ca.pem"           # optional
//! default = true                                  # optional: make it the default service
//!
//! [server]                                        # a managed server (`wua server`)
//! url = "https://wua.example.com:8531"            # plain http only to loopback
//! trusted_root = "server-root.json"               # the root its repository ({url}/repo) is trusted by
//! enrolment_key = "wua_e_..."                     # used once, to register
//! group = "ring-1"                                # optional: the group to ask for (client-side targeting)
//! ca_bundle = "/etc/ssl/private-ca.pem"           # optional
//! name = "updates"                                # optional
//! ```
//!
//! Every table and key is optional; an empty file means `NotConfigured` and no declared
//! services. The run registers with the declared server when the agent is registered with no
//! managed server at that URL; once registered, the managed server is the default service
//! (as WUA's under a WSUS policy). The file is read as a tree and checked key by key, so an unknown key or a bad value
//! is an `E_INVALIDARG` naming its dotted key (`policy.notification_level`,
//! `services.main.trusted_root`), never a panic.

use std::path::{Path, PathBuf};

use wua_agent::wua_types::{AutomaticUpdatesNotificationLevel, HResult, WuError};

use crate::CliResult;

/// The configuration file `wua agent run` reads unless `--config` names another.
pub(crate) const DEFAULT_AGENT_CONFIG: &str = "/etc/wua/agent.toml";

/// A parsed `agent.toml`.
#[derive(Debug, Clone)]
pub(crate) struct AgentConfig {
    /// The file it was read from.
    pub path: PathBuf,
    /// `[policy] notification_level`; `NotConfigured` when absent.
    pub notification_level: AutomaticUpdatesNotificationLevel,
    /// `[services.NAME]`, by name.
    pub services: Vec<ServiceDeclaration>,
    /// `[server]`.
    pub server: Option<ServerDeclaration>,
    /// `[agent] state_dir`.
    pub state_dir: Option<PathBuf>,
    /// `[agent] root`.
    pub root: Option<PathBuf>,
    /// `[agent] reboot`: what an unattended install does when a reboot is required.
    pub reboot: Option<crate::RebootPolicyArg>,
    /// `[agent] reboot_at`: the time of day for `reboot = "at-time"`.
    pub reboot_at: Option<String>,
    /// `[agent] reboot_command`: the restart command (`{when}` becomes `now` or `HH:MM`).
    pub reboot_command: Option<Vec<String>>,
    /// `[agent] terminate_grace_secs`: a `command` program's time between SIGTERM and SIGKILL.
    pub terminate_grace_secs: Option<u64>,
    /// Whether the notification level was set on the command line or by `WUA_NOTIFICATION_LEVEL`
    /// (an explicit policy without the file).
    pub level_given: bool,
    /// Whether the file exists (a missing default file means defaults throughout).
    pub found: bool,
}

/// The `[server]` table: a managed server to register with.
#[derive(Clone, PartialEq, Eq)]
pub(crate) struct ServerDeclaration {
    /// The server's URL as written.
    pub url: String,
    /// The root its repository is trusted by.
    pub trusted_root: PathBuf,
    /// The enrolment key.
    pub enrolment_key: String,
    /// The group to ask for (sent as `requested_group`).
    pub group: Option<String>,
    /// A PEM file of root certificates for its HTTPS.
    pub ca_bundle: Option<PathBuf>,
    /// A name for people.
    pub name: Option<String>,
}

impl std::fmt::Debug for ServerDeclaration {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ServerDeclaration")
            .field("url", &self.url)
            .field("trusted_root", &self.trusted_root)
            .field("enrolment_key", &"<redacted>")
            .field("group", &self.group)
            .field("ca_bundle", &self.ca_bundle)
            .field("name", &self.name)
            .finish()
    }
}

/// One `[services.NAME]` table.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ServiceDeclaration {
    /// The table's key: the service's name.
    pub name: String,
    /// An `http(s)://` URL as written, or an absolute path (a repository directory or an export
    /// file), resolved against the file's directory.
    pub source: String,
    /// The `root.json` the service is trusted by.
    pub trusted_root: PathBuf,
    /// A PEM file of root certificates for the repository's HTTPS server.
    pub ca_bundle: Option<PathBuf>,
    /// Make it the default service when it is registered.
    pub default: bool,
}

impl AgentConfig {
    /// Reads `path`. A missing file is an error that says how to create one: the agent acts
    /// on machines only by an administrator's explicit policy.
    pub(crate) fn load(path: &Path) -> CliResult<Self> {
        let text = match fs_err::read_to_string(path) {
            Ok(text) => text,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                return Err(invalid(format!(
                    "no agent configuration at {}: create it (an empty file means notification_level \
                     NotConfigured and no declared services; see docs/cli.md, \"wua agent run\"){}",
                    path.display(),
                    if path == Path::new(DEFAULT_AGENT_CONFIG) { "" } else { ", or pass another --config" }
                )));
            }
            Err(e) => return Err(invalid(format!("reading the agent configuration: {e}"))),
        };
        Self::parse(&text, path)
    }

    /// The configuration of a missing file: every option at its default.
    pub(crate) fn empty(path: &Path) -> Self {
        AgentConfig {
            path: path.to_owned(),
            notification_level: AutomaticUpdatesNotificationLevel::NotConfigured,
            services: Vec::new(),
            server: None,
            state_dir: None,
            root: None,
            reboot: None,
            reboot_at: None,
            reboot_command: None,
            terminate_grace_secs: None,
            level_given: false,
            found: false,
        }
    }

    /// Parses the text of `path` (which names it in errors and anchors relative paths).
    pub(crate) fn parse(text: &str, path: &Path) -> CliResult<Self> {
        let at = |key: &str, what: String| invalid(format!("{}: {key}: {what}", path.display()));
        let table: toml::Table = text.parse().map_err(|e: toml::de::Error| {
            let line = e.span().map(|s| text[..s.start.min(text.len())].lines().count().max(1));
            let message = e.message().trim_end().to_owned();
            invalid(match line {
                Some(line) => format!("{}, line {line}: {message}", path.display()),
                None => format!("{}: {message}", path.display()),
            })
        })?;
        // Relative paths in the file are relative to its directory, made absolute now: the
        // services registered keep them.
        let absolute = std::path::absolute(path).unwrap_or_else(|_| path.to_owned());
        let base = absolute.parent().unwrap_or(Path::new("/"));
        let mut config = AgentConfig::empty(path);
        config.found = true;
        for (key, value) in &table {
            match key.as_str() {
                "policy" => {
                    for (k, v) in as_table(value, "policy").map_err(|w| at("policy", w))? {
                        let key = format!("policy.{k}");
                        match k.as_str() {
                            "notification_level" => {
                                config.notification_level = notification_level(v).map_err(|w| at(&key, w))?;
                            }
                            _ => return Err(at(&key, "unknown key (known: notification_level)".into())),
                        }
                    }
                }
                "services" => {
                    for (name, v) in as_table(value, "services").map_err(|w| at("services", w))? {
                        let key = format!("services.{name}");
                        let service = service(name, v, base, &key).map_err(|(k, w)| at(&k, w))?;
                        config.services.push(service);
                    }
                }
                "server" => config.server = Some(server(value, base).map_err(|(k, w)| at(&k, w))?),
                "agent" => {
                    for (k, v) in as_table(value, "agent").map_err(|w| at("agent", w))? {
                        let key = format!("agent.{k}");
                        match k.as_str() {
                            "state_dir" => config.state_dir = Some(resolve(base, as_path(v).map_err(|w| at(&key, w))?)),
                            "root" => config.root = Some(resolve(base, as_path(v).map_err(|w| at(&key, w))?)),
                            "reboot" => {
                                use clap::ValueEnum;
                                let text = as_str(v).map_err(|w| at(&key, w))?;
                                let policy = crate::RebootPolicyArg::from_str(text, true).map_err(|_| {
                                    at(&key, format!("\"{text}\" is not a reboot policy (never, if-required, at-time)"))
                                })?;
                                config.reboot = Some(policy);
                            }
                            "reboot_at" => {
                                let text = as_str(v).map_err(|w| at(&key, w))?;
                                crate::reboot::parse_time(text).map_err(|e| at(&key, e.message))?;
                                config.reboot_at = Some(text.to_owned());
                            }
                            "reboot_command" => {
                                let argv = v
                                    .as_array()
                                    .and_then(|a| {
                                        a.iter().map(|x| x.as_str().map(str::to_owned)).collect::<Option<Vec<_>>>()
                                    })
                                    .filter(|a| !a.is_empty())
                                    .ok_or_else(|| at(&key, "expected a non-empty array of strings".into()))?;
                                config.reboot_command = Some(argv);
                            }
                            "terminate_grace_secs" => {
                                let secs = v
                                    .as_integer()
                                    .and_then(|n| u64::try_from(n).ok())
                                    .filter(|n| *n <= crate::MAX_TERMINATE_GRACE_SECS)
                                    .ok_or_else(|| {
                                        at(&key, format!("expected whole seconds from 0 to 3600, found {v}"))
                                    })?;
                                config.terminate_grace_secs = Some(secs);
                            }
                            _ => {
                                return Err(at(
                                    &key,
                                    "unknown key (known: state_dir, root, reboot, reboot_at, reboot_command, \
                                     terminate_grace_secs)"
                                        .into(),
                                ));
                            }
                        }
                    }
                }
                _ => return Err(at(key, "unknown table (known: agent, policy, services, server)".into())),
            }
        }
        let defaults: Vec<&str> = config.services.iter().filter(|s| s.default).map(|s| s.name.as_str()).collect();
        if defaults.len() > 1 {
            let keys: Vec<String> = defaults.iter().map(|n| format!("services.{n}.default")).collect();
            return Err(at(&keys.join(", "), "only one service can be the default".into()));
        }
        Ok(config)
    }
}

/// The `AutomaticUpdatesNotificationLevel` a string names (WUA's name, any case).
fn notification_level(value: &toml::Value) -> Result<AutomaticUpdatesNotificationLevel, String> {
    parse_notification_level(as_str(value)?)
}

/// The `AutomaticUpdatesNotificationLevel` `text` names (WUA's name, any case).
pub(crate) fn parse_notification_level(text: &str) -> Result<AutomaticUpdatesNotificationLevel, String> {
    AutomaticUpdatesNotificationLevel::ALL.iter().copied().find(|l| l.name().eq_ignore_ascii_case(text)).ok_or_else(
        || {
            let names: Vec<&str> = AutomaticUpdatesNotificationLevel::ALL.iter().map(|l| l.name()).collect();
            format!("\"{text}\" is not a notification level (one of {})", names.join(", "))
        },
    )
}

/// A `[services.NAME]` table; an error names the dotted key at fault.
fn service(name: &str, value: &toml::Value, base: &Path, key: &str) -> Result<ServiceDeclaration, (String, String)> {
    let table = as_table(value, key).map_err(|w| (key.to_owned(), w))?;
    if name.trim().is_empty() {
        return Err((key.to_owned(), "a service needs a name (the table's key)".into()));
    }
    let (mut source, mut trusted_root, mut ca_bundle, mut default) = (None, None, None, false);
    for (k, v) in table {
        let field = format!("{key}.{k}");
        let fail = |w: String| (field.clone(), w);
        match k.as_str() {
            "source" => {
                let text = as_str(v).map_err(fail)?;
                if text.is_empty() {
                    return Err(fail("must not be empty".into()));
                }
                source =
                    Some(if is_url(text) { text.to_owned() } else { resolve(base, text).to_string_lossy().into() });
            }
            "trusted_root" => trusted_root = Some(resolve(base, as_path(v).map_err(fail)?)),
            "ca_bundle" => ca_bundle = Some(resolve(base, as_path(v).map_err(fail)?)),
            "default" => default = v.as_bool().ok_or_else(|| fail(format!("expected true or false, found {v}")))?,
            _ => return Err(fail("unknown key (known: source, trusted_root, ca_bundle, default)".into())),
        }
    }
    let missing = |k: &str| (format!("{key}.{k}"), "missing (every service needs source and trusted_root)".to_owned());
    Ok(ServiceDeclaration {
        name: name.to_owned(),
        source: source.ok_or_else(|| missing("source"))?,
        trusted_root: trusted_root.ok_or_else(|| missing("trusted_root"))?,
        ca_bundle,
        default,
    })
}

/// The `[server]` table; an error names the dotted key at fault.
fn server(value: &toml::Value, base: &Path) -> Result<ServerDeclaration, (String, String)> {
    let table = as_table(value, "server").map_err(|w| ("server".to_owned(), w))?;
    let (mut url, mut trusted_root, mut enrolment_key, mut group, mut ca_bundle, mut name) =
        (None, None, None, None, None, None);
    for (k, v) in table {
        let field = format!("server.{k}");
        let fail = |w: String| (field.clone(), w);
        match k.as_str() {
            "url" => {
                let text = as_path(v).map_err(fail)?;
                if !is_url(text) {
                    return Err(fail(format!("\"{text}\" is not an http(s) URL")));
                }
                url = Some(text.to_owned());
            }
            "trusted_root" => trusted_root = Some(resolve(base, as_path(v).map_err(fail)?)),
            "enrolment_key" => enrolment_key = Some(as_path(v).map_err(fail)?.to_owned()),
            "group" => {
                let text = as_path(v).map_err(fail)?;
                if !wua_agent::wua_types::api::is_group_name(text) {
                    return Err(fail(format!(
                        "\"{text}\" is not a group name (letters, digits, '.', '-', '_'; at most 64)"
                    )));
                }
                group = Some(text.to_owned());
            }
            "ca_bundle" => ca_bundle = Some(resolve(base, as_path(v).map_err(fail)?)),
            "name" => name = Some(as_path(v).map_err(fail)?.to_owned()),
            _ => {
                return Err(fail(
                    "unknown key (known: url, trusted_root, enrolment_key, group, ca_bundle, name)".into(),
                ));
            }
        }
    }
    let missing =
        |k: &str| (format!("server.{k}"), "missing (a server needs url, trusted_root and enrolment_key)".to_owned());
    Ok(ServerDeclaration {
        url: url.ok_or_else(|| missing("url"))?,
        trusted_root: trusted_root.ok_or_else(|| missing("trusted_root"))?,
        enrolment_key: enrolment_key.ok_or_else(|| missing("enrolment_key"))?,
        group,
        ca_bundle,
        name,
    })
}

/// Whether a source is a URL rather than a path.
pub(crate) fn is_url(source: &str) -> bool {
    let lower = source.to_ascii_lowercase();
    lower.starts_with("http://") || lower.starts_with("https://")
}

fn resolve(base: &Path, path: &str) -> PathBuf {
    base.join(path)
}

fn as_table<'a>(value: &'a toml::Value, key: &str) -> Result<&'a toml::Table, String> {
    value.as_table().ok_or_else(|| format!("expected a table ([{key}]), found {}", value.type_str()))
}

fn as_str(value: &toml::Value) -> Result<&str, String> {
    value.as_str().ok_or_else(|| format!("expected a string, found {}", value.type_str()))
}

fn as_path(value: &toml::Value) -> Result<&str, String> {
    let text = as_str(value)?;
    if text.is_empty() {
        return Err("must not be empty".into());
    }
    Ok(text)
}

fn invalid(message: String) -> WuError {
    WuError::new(HResult::E_INVALIDARG, message)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> CliResult<AgentConfig> {
        AgentConfig::parse(text, Path::new("/etc/wua/agent.toml"))
    }

    fn message(text: &str) -> String {
        let e = parse(text).unwrap_err();
        assert_eq!(e.hresult, HResult::E_INVALIDARG);
        e.message
    }

    #[test]
    fn an_empty_file_is_not_configured_with_no_services() {
        let c = parse("").unwrap();
        assert_eq!(c.notification_level, AutomaticUpdatesNotificationLevel::NotConfigured);
        assert!(c.services.is_empty());
    }

    #[test]
    fn a_full_file() {
        let c = parse(
            "[policy]\nnotification_level = \"scheduledinstallation\"\n\n\
             [services.main]\nsource = \"https://u.example/repo\"\ntrusted_root = \"root.json\"\n\
             ca_bundle = \"/etc/ca.pem\"\ndefault = true\n\n\
             [services.local]\nsource = \"../srv/repo\"\ntrusted_root = \"/r.json\"\n",
        )
        .unwrap();
        assert_eq!(c.notification_level, AutomaticUpdatesNotificationLevel::ScheduledInstallation);
        // By name: `local` before `main`.
        assert_eq!(
            c.services[1],
            ServiceDeclaration {
                name: "main".into(),
                source: "https://u.example/repo".into(),
                trusted_root: "/etc/wua/root.json".into(),
                ca_bundle: Some("/etc/ca.pem".into()),
                default: true,
            }
        );
        assert_eq!(c.services[0].source, "/etc/wua/../srv/repo");
        assert!(!c.services[0].default);
    }

    #[test]
    fn errors_name_the_key() {
        assert!(message("[policy]\nlevel = 1\n").contains("policy.level: unknown key"));
        let m = message("[policy]\nnotification_level = \"Sometimes\"\n");
        assert!(m.contains("policy.notification_level: \"Sometimes\" is not a notification level"), "{m}");
        assert!(m.contains("ScheduledInstallation"), "{m}");
        assert!(message("[policy]\nnotification_level = 4\n").contains("policy.notification_level: expected a string"));
        assert!(message("[schedule]\n").contains("schedule: unknown table"));
        assert!(message("policy = 3\n").contains("policy: expected a table"));
        assert!(message("[services.a]\nsource = \"/x\"\n").contains("services.a.trusted_root: missing"));
        assert!(
            message("[services.a]\nsource = \"/x\"\ntrusted_root = \"r\"\nurl = \"y\"\n").contains("services.a.url")
        );
        assert!(
            message("[services.a]\nsource = \"/x\"\ntrusted_root = \"r\"\ndefault = \"yes\"\n")
                .contains("services.a.default")
        );
        assert!(
            message("[services.a]\nsource = \"\"\ntrusted_root = \"r\"\n")
                .contains("services.a.source: must not be empty")
        );
        let two = "[services.a]\nsource = \"/a\"\ntrusted_root = \"r\"\ndefault = true\n\
                   [services.b]\nsource = \"/b\"\ntrusted_root = \"r\"\ndefault = true\n";
        assert!(message(two).contains("services.a.default, services.b.default: only one"));
        let m = message("[policy]\nnotification_level = \n");
        assert!(m.starts_with("/etc/wua/agent.toml, line 2: "), "{m}");
    }

    #[test]
    fn a_server_table() {
        let c = parse(
            "[server]\nurl = \"https://wua.example:8531\"\ntrusted_root = \"r.json\"\n\
             enrolment_key = \"wua_e_k\"\ngroup = \"ring-1\"\n",
        )
        .unwrap();
        let s = c.server.unwrap();
        assert_eq!(s.url, "https://wua.example:8531");
        assert_eq!(s.trusted_root, Path::new("/etc/wua/r.json"));
        assert_eq!((s.enrolment_key.as_str(), s.group.as_deref()), ("wua_e_k", Some("ring-1")));
        assert!(!format!("{s:?}").contains("wua_e_k"), "the key stays out of debug output");
        assert!(
            message("[server]\nurl = \"https://h\"\ntrusted_root = \"r\"\n").contains("server.enrolment_key: missing")
        );
        let m = message("[server]\nurl = \"h\"\ntrusted_root = \"r\"\nenrolment_key = \"k\"\n");
        assert!(m.contains("server.url: \"h\" is not an http(s) URL"), "{m}");
        let m =
            message("[server]\nurl = \"https://h\"\ntrusted_root = \"r\"\nenrolment_key = \"k\"\ngroup = \"a b\"\n");
        assert!(m.contains("server.group"), "{m}");
        assert!(message("[server]\nport = 1\n").contains("server.port: unknown key"));
    }

    /// The example the Debian package ships (dist/agent.toml.example) must parse as shipped and
    /// with every setting uncommented, so that it never teaches a key the agent refuses.
    #[test]
    fn the_shipped_example_parses_as_is_and_uncommented() {
        let example = include_str!("../../../dist/agent.toml.example");
        let c = parse(example).unwrap();
        assert_eq!(c.notification_level, AutomaticUpdatesNotificationLevel::NotConfigured);
        assert!(c.services.is_empty() && c.server.is_none(), "as shipped it declares nothing");

        // Settings are commented as "#key" or "#[table]"; prose as "# text".
        let uncommented: String = example
            .lines()
            .map(|line| match line.strip_prefix('#') {
                Some(rest) if !rest.is_empty() && !rest.starts_with(' ') => rest,
                _ => line,
            })
            .flat_map(|line| [line, "\n"])
            .collect();
        let c = parse(&uncommented).unwrap();
        assert_eq!(c.notification_level, AutomaticUpdatesNotificationLevel::NotifyBeforeDownload);
        assert_eq!(c.services.len(), 1);
        assert_eq!(c.services[0].trusted_root, Path::new("/etc/wua/main-root.json"));
        let server = c.server.unwrap();
        assert_eq!((server.url.as_str(), server.group.as_deref()), ("https://wua.example.com:8531", Some("ring-1")));
    }

    #[test]
    fn the_agent_table() {
        let c = parse(
            "[agent]\nstate_dir = \"s\"\nroot = \"/r\"\nreboot = \"If-Required\"\nreboot_at = \"03:30\"\n\
             reboot_command = [\"echo\", \"{when}\"]\nterminate_grace_secs = 30\n",
        )
        .unwrap();
        assert_eq!(c.state_dir.as_deref(), Some(Path::new("/etc/wua/s")));
        assert_eq!(c.root.as_deref(), Some(Path::new("/r")));
        assert_eq!(c.reboot, Some(crate::RebootPolicyArg::IfRequired));
        assert_eq!((c.reboot_at.as_deref(), c.terminate_grace_secs), (Some("03:30"), Some(30)));
        assert_eq!(c.reboot_command, Some(vec!["echo".to_owned(), "{when}".to_owned()]));
        assert!(message("[agent]\nterminate_grace_secs = 3601\n").contains("agent.terminate_grace_secs"));
        assert!(message("[agent]\nterminate_grace_secs = -1\n").contains("from 0 to 3600"));
        assert!(message("[agent]\nreboot_at = \"25:00\"\n").contains("agent.reboot_at"));
        assert!(message("[agent]\nreboot_command = []\n").contains("agent.reboot_command"));
        assert!(message("[agent]\nstate = 1\n").contains("agent.state: unknown key"));
    }

    #[test]
    fn a_missing_file_says_to_create_it() {
        let e = AgentConfig::load(Path::new("/nonexistent/agent.toml")).unwrap_err();
        assert_eq!(e.hresult, HResult::E_INVALIDARG);
        assert!(e.message.contains("no agent configuration at /nonexistent/agent.toml: create it"), "{}", e.message);
    }
}
