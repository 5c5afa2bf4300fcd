//! Applicability rules: a small JSON expression tree evaluated on the machine, rooted at any
//! directory (the target root). No rule runs a command.
//!
//! A rule is an object with exactly one key, its kind:
//!
//! | rule | true when |
//! |---|---|
//! | `{"all": [r, ...]}` | every rule is true (an empty list is true) |
//! | `{"any": [r, ...]}` | at least one rule is true |
//! | `{"not": r}` | `r` is false |
//! | `{"os": {"id": "debian", "op": ">=", "version": "12"}}` | `<root>/etc/os-release` (or `usr/lib/os-release`) has that `ID` (or lists it in `ID_LIKE`) and its `VERSION_ID` compares so; `id` and the comparison are each optional |
//! | `{"arch": "x86_64"}` or `{"arch": ["amd64", "arm64"]}` | the machine's architecture is one of them (kernel or Debian names) |
//! | `{"kernel": {"op": ">=", "version": "6.1"}}` | the running kernel's release compares so |
//! | `{"file_exists": "etc/foo.conf"}` | the path exists under the root |
//! | `{"file_sha256": {"path": "...", "sha256": "<hex>"}}` | the file's SHA-256 is that |
//! | `{"file_version": {"path": "...", "key": "VERSION", "op": ">=", "version": "1.2"}}` | the version read from the file (its first line, or the value of `key=` in it) compares so |
//! | `{"dpkg_package": {"name": "openssl", "op": ">=", "version": "3.0.11-1"}}` | the package is installed in `<root>/var/lib/dpkg/status` (and its version compares so, when `op` is given) |
//! | `{"update_installed": "<update id>"}` | the agent records that update as installed |
//!
//! Comparisons (`op`): `=`, `!=`, `<`, `<=`, `>`, `>=` (and dpkg's `<<`, `>>`), in Debian
//! version ordering (`dpkg --compare-versions`). Paths are relative to the root and resolved as if
//! the root were `/`: an absolute symbolic link is taken relative to the root, and `..` never
//! leaves it.
//!
//! An unknown rule kind is [`RuleError::UnknownKind`]: the update is not applicable (D-42), so
//! a rule kind added later never makes an older agent install something it cannot judge. That
//! leniency is for catalogs from newer publishers; a publisher's own manifest is checked with
//! [`check_kinds`], which refuses a kind not in [`RULE_KINDS`] (a typo, not a newer kind).

use std::cmp::Ordering;
use std::collections::BTreeSet;
use std::io::Read;
use std::path::{Component, Path, PathBuf};

use serde_json::Value;
use wua_types::Applicability;

use crate::debversion;

/// Why a rule could not be evaluated.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum RuleError {
    /// A rule kind this agent does not know (D-42).
    #[error("unknown rule kind {kind:?} (from a newer publisher: the update is not applicable here)")]
    UnknownKind {
        /// The kind.
        kind: String,
    },
    /// A rule of a known kind with bad arguments.
    #[error("malformed {kind} rule: {detail}")]
    Malformed {
        /// The kind.
        kind: String,
        /// What is wrong.
        detail: String,
    },
}

/// Every rule kind [`evaluate_rule`] knows, in the order of the table above.
pub const RULE_KINDS: &[&str] = &[
    "all",
    "any",
    "not",
    "os",
    "arch",
    "kernel",
    "file_exists",
    "file_sha256",
    "file_version",
    "dpkg_package",
    "update_installed",
];

/// Where in a rule tree [`check_kinds`] found a fault, and the fault.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RuleFault {
    /// The path from the tree's root, e.g. `all[1].not`; empty for the root itself.
    pub at: String,
    /// The fault: an unknown kind, or a shape the tree cannot be walked through.
    pub error: RuleError,
}

impl std::fmt::Display for RuleFault {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.at.is_empty() { write!(f, "{}", self.error) } else { write!(f, "at {}: {}", self.at, self.error) }
    }
}

impl std::error::Error for RuleFault {}

/// Checks that every rule of the tree is an object with one key whose kind is in
/// [`RULE_KINDS`], walking `all`, `any` and `not`, without evaluating anything: for the
/// publisher's side, where an unknown kind is a mistake rather than a newer agent's rule
/// (D-42). The arguments of the leaf kinds are checked when a rule is evaluated.
pub fn check_kinds(rule: &Value) -> Result<(), RuleFault> {
    check_at(rule, String::new())
}

fn check_at(rule: &Value, at: String) -> Result<(), RuleFault> {
    let fault = |at: &str, error: RuleError| RuleFault { at: at.to_owned(), error };
    let (kind, arg) = match rule.as_object().filter(|m| m.len() == 1).and_then(|m| m.iter().next()) {
        Some((k, v)) => (k.as_str(), v),
        None => return Err(fault(&at, malformed("rule", "a rule is an object with exactly one key, its kind"))),
    };
    let child = |suffix: String| if at.is_empty() { suffix } else { format!("{at}.{suffix}") };
    match kind {
        "all" | "any" => {
            for (i, r) in list(kind, arg).map_err(|e| fault(&at, e))?.iter().enumerate() {
                check_at(r, child(format!("{kind}[{i}]")))?;
            }
            Ok(())
        }
        "not" => check_at(arg, child("not".into())),
        known if RULE_KINDS.contains(&known) => Ok(()),
        other => Err(fault(&at, RuleError::UnknownKind { kind: other.to_owned() })),
    }
}

/// What rules see of the machine. One view serves a whole search: each file a rule reads
/// (os-release, a version file, the dpkg status database) is read once and each file hash
/// computed once, however many updates' rules ask.
#[derive(Clone, Debug)]
pub struct Machine {
    /// The target root.
    pub root: PathBuf,
    /// The architecture, as the kernel names it (`x86_64`, `aarch64`, ...).
    pub arch: String,
    /// The running kernel's release (`uname -r`).
    pub kernel: String,
    /// Update ids the agent records as installed.
    pub installed_updates: BTreeSet<String>,
    reads: std::sync::Arc<Reads>,
}

/// What a view has read of the root, by path under it.
#[derive(Debug, Default)]
struct Reads {
    texts: std::sync::Mutex<std::collections::HashMap<String, Option<std::sync::Arc<str>>>>,
    hashes: std::sync::Mutex<std::collections::HashMap<String, Option<String>>>,
    dpkg: std::sync::OnceLock<std::collections::HashMap<String, String>>,
}

impl Machine {
    /// A view of the machine with target `root`, on `arch` with `kernel`.
    pub fn new(root: &Path, arch: &str, kernel: &str, installed_updates: BTreeSet<String>) -> Self {
        Machine {
            root: root.to_path_buf(),
            arch: arch.to_owned(),
            kernel: kernel.to_owned(),
            installed_updates,
            reads: Default::default(),
        }
    }

    /// The machine this process runs on, with `root` as the target root.
    pub fn this_machine(root: &Path, installed_updates: BTreeSet<String>) -> Self {
        let kernel = std::fs::read_to_string("/proc/sys/kernel/osrelease").map(|s| s.trim().to_owned());
        Machine::new(root, std::env::consts::ARCH, &kernel.unwrap_or_default(), installed_updates)
    }

    /// The text of the small file at `rel` under the root (read once per view).
    fn text(&self, rel: &str) -> Option<std::sync::Arc<str>> {
        let mut texts = wua_types::lock_unpoisoned(&self.reads.texts);
        texts
            .entry(rel.to_owned())
            .or_insert_with(|| resolve(&self.root, rel).and_then(|p| read_small(&p)).map(std::sync::Arc::from))
            .clone()
    }

    /// The SHA-256 of the regular file at `rel` under the root (hashed once per view).
    fn sha256(&self, rel: &str) -> Option<String> {
        let mut hashes = wua_types::lock_unpoisoned(&self.reads.hashes);
        hashes.entry(rel.to_owned()).or_insert_with(|| resolve(&self.root, rel).and_then(|p| sha256_of(&p))).clone()
    }

    /// The installed packages of the dpkg status database, with their versions (parsed once
    /// per view).
    fn dpkg(&self) -> &std::collections::HashMap<String, String> {
        self.reads.dpkg.get_or_init(|| {
            let status = resolve(&self.root, "var/lib/dpkg/status").and_then(|p| std::fs::read_to_string(p).ok());
            status.map(|s| installed_packages(&s)).unwrap_or_default()
        })
    }
}

/// The outcome of an update's applicability rules.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Applicable {
    /// Installable, and its prerequisites are installed.
    Yes,
    /// Not applicable, with the reason.
    No(String),
}

/// Whether an update can be installed here: its `is_installable` rule (true when absent) and
/// its prerequisites. A rule that cannot be evaluated makes it not applicable (D-42).
pub fn applicability(rules: &Applicability, machine: &Machine) -> Applicable {
    if let Some(rule) = &rules.is_installable {
        match evaluate_rule(rule, machine) {
            Ok(true) => {}
            Ok(false) => return Applicable::No("its is_installable rule is false".into()),
            Err(e) => return Applicable::No(e.to_string()),
        }
    }
    match rules.prerequisites.iter().find(|p| !machine.installed_updates.contains(*p)) {
        Some(missing) => Applicable::No(format!("prerequisite update {missing} is not installed")),
        None => Applicable::Yes,
    }
}

/// Evaluates one rule.
pub fn evaluate_rule(rule: &Value, machine: &Machine) -> Result<bool, RuleError> {
    let (kind, arg) = match rule.as_object() {
        Some(map) if map.len() == 1 => match map.iter().next() {
            Some((k, v)) => (k.as_str(), v),
            None => return Err(malformed("rule", "an empty object")),
        },
        _ => return Err(malformed("rule", "a rule is an object with exactly one key, its kind")),
    };
    match kind {
        "all" => {
            for r in list(kind, arg)? {
                if !evaluate_rule(r, machine)? {
                    return Ok(false);
                }
            }
            Ok(true)
        }
        "any" => {
            // Every child is evaluated, so an unknown kind anywhere is found (D-42).
            let mut any = false;
            for r in list(kind, arg)? {
                any |= evaluate_rule(r, machine)?;
            }
            Ok(any)
        }
        "not" => Ok(!evaluate_rule(arg, machine)?),
        "os" => os(arg, machine),
        "arch" => arch(arg, machine),
        "kernel" => {
            let (op, version) = comparison(kind, arg)?.ok_or_else(|| malformed(kind, "needs op and version"))?;
            compare(kind, &machine.kernel, op, version)
        }
        "file_exists" => {
            let path = string(kind, arg)?;
            Ok(resolve(&machine.root, path).is_some_and(|p| p.exists()))
        }
        "file_sha256" => {
            let path = field(kind, arg, "path")?;
            let want = field(kind, arg, "sha256")?.to_ascii_lowercase();
            Ok(machine.sha256(path).is_some_and(|got| got == want))
        }
        "file_version" => file_version(arg, machine),
        "dpkg_package" => dpkg_package(arg, machine),
        "update_installed" => Ok(machine.installed_updates.contains(string(kind, arg)?)),
        other => Err(RuleError::UnknownKind { kind: other.to_owned() }),
    }
}

fn malformed(kind: &str, detail: impl Into<String>) -> RuleError {
    RuleError::Malformed { kind: kind.to_owned(), detail: detail.into() }
}

fn list<'v>(kind: &str, arg: &'v Value) -> Result<&'v Vec<Value>, RuleError> {
    arg.as_array().ok_or_else(|| malformed(kind, "needs a list of rules"))
}

fn string<'v>(kind: &str, arg: &'v Value) -> Result<&'v str, RuleError> {
    arg.as_str().ok_or_else(|| malformed(kind, "needs a string"))
}

fn field<'v>(kind: &str, arg: &'v Value, name: &str) -> Result<&'v str, RuleError> {
    arg.get(name).and_then(Value::as_str).ok_or_else(|| malformed(kind, format!("needs a string {name:?}")))
}

/// `op` and `version`, both or neither.
fn comparison<'v>(kind: &str, arg: &'v Value) -> Result<Option<(&'v str, &'v str)>, RuleError> {
    match (arg.get("op"), arg.get("version")) {
        (None, None) => Ok(None),
        (Some(op), Some(v)) => match (op.as_str(), v.as_str()) {
            (Some(op), Some(v)) => Ok(Some((op, v))),
            _ => Err(malformed(kind, "op and version are strings")),
        },
        _ => Err(malformed(kind, "op and version go together")),
    }
}

/// `have op want` in Debian ordering; a version on the machine that does not parse compares
/// false (the rule cannot be true of it), a bad version in the rule is malformed.
fn compare(kind: &str, have: &str, op: &str, want: &str) -> Result<bool, RuleError> {
    let want = debversion::Version::parse(want).map_err(|e| malformed(kind, e.to_string()))?;
    let ok: fn(Ordering) -> bool = match op {
        "=" | "==" => Ordering::is_eq,
        "!=" => Ordering::is_ne,
        "<" | "<<" => Ordering::is_lt,
        "<=" => Ordering::is_le,
        ">" | ">>" => Ordering::is_gt,
        ">=" => Ordering::is_ge,
        other => return Err(malformed(kind, format!("unknown comparison {other:?}"))),
    };
    Ok(debversion::Version::parse(have).is_ok_and(|have| ok(have.cmp(&want))))
}

fn os(arg: &Value, machine: &Machine) -> Result<bool, RuleError> {
    let id = match arg.get("id") {
        None => None,
        Some(v) => Some(v.as_str().ok_or_else(|| malformed("os", "id is a string"))?),
    };
    let cmp = comparison("os", arg)?;
    let text = ["etc/os-release", "usr/lib/os-release"].iter().find_map(|p| machine.text(p));
    let Some(text) = text else { return Ok(false) };
    let value = |key: &str| key_value(&text, key);
    if let Some(id) = id {
        let like = value("ID_LIKE").unwrap_or_default();
        let matches = value("ID").is_some_and(|v| v.eq_ignore_ascii_case(id))
            || like.split_whitespace().any(|l| l.eq_ignore_ascii_case(id));
        if !matches {
            return Ok(false);
        }
    }
    match cmp {
        None => Ok(true),
        Some((op, version)) => match value("VERSION_ID") {
            Some(have) => compare("os", &have, op, version),
            None => Ok(false),
        },
    }
}

/// The kernel's and Debian's names for the same architectures.
const ARCH_ALIASES: &[(&str, &str)] =
    &[("x86_64", "amd64"), ("aarch64", "arm64"), ("x86", "i386"), ("i686", "i386"), ("arm", "armhf")];

fn arch(arg: &Value, machine: &Machine) -> Result<bool, RuleError> {
    let wanted: Vec<&str> = match arg {
        Value::String(s) => vec![s.as_str()],
        Value::Array(items) => items
            .iter()
            .map(|v| v.as_str().ok_or_else(|| malformed("arch", "names are strings")))
            .collect::<Result<_, _>>()?,
        _ => return Err(malformed("arch", "needs a name or a list of names")),
    };
    let have = debian_arch(&machine.arch);
    Ok(wanted.iter().any(|w| debian_arch(w) == have))
}

/// Debian's name of an architecture named either way (`x86_64` and `amd64` are `amd64`); a
/// name without an alias is itself.
fn debian_arch(name: &str) -> &str {
    ARCH_ALIASES.iter().find(|(kernel, _)| *kernel == name).map_or(name, |(_, debian)| debian)
}

fn file_version(arg: &Value, machine: &Machine) -> Result<bool, RuleError> {
    let path = field("file_version", arg, "path")?;
    let (op, version) =
        comparison("file_version", arg)?.ok_or_else(|| malformed("file_version", "needs op and version"))?;
    let Some(text) = machine.text(path) else { return Ok(false) };
    let have = match arg.get("key") {
        Some(k) => key_value(&text, k.as_str().ok_or_else(|| malformed("file_version", "key is a string"))?),
        None => text.lines().next().map(|l| l.trim().to_owned()),
    };
    match have {
        Some(have) => compare("file_version", &have, op, version),
        None => Ok(false),
    }
}

fn dpkg_package(arg: &Value, machine: &Machine) -> Result<bool, RuleError> {
    let name = field("dpkg_package", arg, "name")?;
    let cmp = comparison("dpkg_package", arg)?;
    let Some(version) = machine.dpkg().get(name) else { return Ok(false) };
    match cmp {
        None => Ok(true),
        Some((op, want)) => compare("dpkg_package", version, op, want),
    }
}

/// The installed packages of a dpkg status database with their versions; a package of another
/// architecture is also listed as `name:arch`.
fn installed_packages(status: &str) -> std::collections::HashMap<String, String> {
    let mut out = std::collections::HashMap::new();
    for stanza in status.split("\n\n") {
        let mut name = None;
        let mut arch = None;
        let mut state = None;
        let mut version = None;
        for line in stanza.lines() {
            if let Some((k, v)) = line.split_once(':') {
                let v = v.trim();
                match k {
                    "Package" => name = Some(v),
                    "Architecture" => arch = Some(v),
                    "Status" => state = Some(v),
                    "Version" => version = Some(v),
                    _ => {}
                }
            }
        }
        if let (Some(name), Some(version)) = (name, version) {
            if state.is_some_and(|s| s.ends_with(" installed")) {
                if let Some(arch) = arch {
                    out.entry(format!("{name}:{arch}")).or_insert_with(|| version.to_owned());
                }
                out.entry(name.to_owned()).or_insert_with(|| version.to_owned());
            }
        }
    }
    out
}

/// `KEY=value` from an os-release-like text (quotes removed).
fn key_value(text: &str, key: &str) -> Option<String> {
    text.lines().find_map(|line| {
        let (k, v) = line.split_once('=')?;
        (k.trim() == key).then(|| v.trim().trim_matches(|c| c == '"' || c == '\'').to_owned())
    })
}

/// Files rules read are small; a larger one is not read (the rule is false).
const MAX_READ: u64 = 1 << 20;

fn read_small(path: &Path) -> Option<String> {
    let file = std::fs::File::open(path).ok()?;
    let mut text = String::new();
    file.take(MAX_READ).read_to_string(&mut text).ok()?;
    Some(text)
}

/// The SHA-256 of a regular file; `None` for anything else or an unreadable file.
fn sha256_of(path: &Path) -> Option<String> {
    if !std::fs::metadata(path).ok()?.is_file() {
        return None;
    }
    wua_fs::sha256_file(path).ok().flatten()
}

/// Resolves `rel` under `root` as if `root` were `/`: symbolic links are followed with absolute
/// targets taken relative to the root, and `..` stops at the root. `None` for an absolute or
/// empty path, or too many links.
fn resolve(root: &Path, rel: &str) -> Option<PathBuf> {
    if rel.is_empty() || rel.starts_with('/') || rel.contains('\0') {
        return None;
    }
    let mut parts: Vec<String> = Vec::new();
    let mut pending: Vec<String> = rel.split('/').rev().map(str::to_owned).collect();
    let mut links = 0;
    while let Some(comp) = pending.pop() {
        match comp.as_str() {
            "" | "." => continue,
            ".." => {
                parts.pop();
                continue;
            }
            _ => {}
        }
        let candidate = parts.iter().fold(root.to_path_buf(), |p, c| p.join(c)).join(&comp);
        match std::fs::symlink_metadata(&candidate) {
            Ok(m) if m.file_type().is_symlink() => {
                links += 1;
                if links > 40 {
                    return None;
                }
                let target = std::fs::read_link(&candidate).ok()?;
                if target.is_absolute() {
                    parts.clear();
                }
                let mut next: Vec<String> = Vec::new();
                for c in target.components() {
                    match c {
                        Component::Normal(s) => next.push(s.to_string_lossy().into_owned()),
                        Component::ParentDir => next.push("..".into()),
                        _ => {}
                    }
                }
                pending.extend(next.into_iter().rev());
            }
            _ => parts.push(comp),
        }
    }
    Some(parts.iter().fold(root.to_path_buf(), |p, c| p.join(c)))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The dpkg status database the integration tests use too.
    const DPKG_STATUS: &str = include_str!("../tests/data/dpkg-status");

    /// The rules' own path resolution: `.` and empty parts are skipped, `..` stops at the root,
    /// an absolute link target continues from the root, a chain of 40 links is followed and
    /// the 41st (or a loop) ends in `None`; an absolute or empty path is `None`.
    #[test]
    fn resolve_parts_links_and_the_link_limit() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        std::fs::create_dir_all(root.join("etc/app")).unwrap();
        assert_eq!(resolve(root, "./etc//./app"), Some(root.join("etc/app")));
        assert_eq!(resolve(root, "../../etc/app"), Some(root.join("etc/app")), "`..` stops at the root");
        assert_eq!(resolve(root, "etc/../etc/app/."), Some(root.join("etc/app")));
        // `.` and empty parts are not kept: a `..` after them leaves the part before them
        // (paths compare by components, which hide a kept `.` but not a wrong parent).
        assert_eq!(resolve(root, "etc/./.."), Some(root.to_path_buf()));
        assert_eq!(resolve(root, "etc//.."), Some(root.to_path_buf()));
        std::os::unix::fs::symlink("/etc/app", root.join("abs")).unwrap();
        assert_eq!(resolve(root, "abs/x"), Some(root.join("etc/app/x")), "absolute targets are the root's");
        for i in 0..40 {
            std::os::unix::fs::symlink(format!("l{}", i + 1), root.join(format!("l{i}"))).unwrap();
        }
        std::os::unix::fs::symlink("etc", root.join("l40")).unwrap();
        assert_eq!(resolve(root, "l1/app"), Some(root.join("etc/app")), "40 links are followed");
        assert_eq!(resolve(root, "l0/app"), None, "the 41st is too many");
        std::os::unix::fs::symlink("loop", root.join("loop")).unwrap();
        assert_eq!(resolve(root, "loop/x"), None);
        for bad in ["", "/etc/app", "etc/\0"] {
            assert_eq!(resolve(root, bad), None, "{bad:?}");
        }
    }

    /// `arch` takes the kernel's and Debian's name of the machine's architecture, whichever
    /// the machine reports, and no other architecture's names.
    #[test]
    fn arch_names_and_their_aliases() {
        for &(kernel_name, debian_name) in ARCH_ALIASES {
            for have in [kernel_name, debian_name] {
                let machine = Machine::new(Path::new("/nonexistent"), have, "6.1.0", BTreeSet::new());
                for wanted in [kernel_name, debian_name] {
                    assert_eq!(arch(&Value::from(wanted), &machine), Ok(true), "{wanted} on {have}");
                }
                // x86 and i686 are both i386: other architectures are those of another Debian name
                for &(k, d) in ARCH_ALIASES.iter().filter(|(_, d)| *d != debian_name) {
                    assert_eq!(arch(&Value::from(k), &machine), Ok(false), "{k} on {have}");
                    assert_eq!(arch(&Value::from(d), &machine), Ok(false), "{d} on {have}");
                }
            }
        }
        let machine = Machine::new(Path::new("/nonexistent"), "riscv64", "6.1.0", BTreeSet::new());
        assert_eq!(arch(&Value::from("riscv64"), &machine), Ok(true), "a name without aliases");
        assert_eq!(arch(&Value::from("amd64"), &machine), Ok(false));
    }

    /// A fault in a rule tree says where it is, then what it is.
    #[test]
    fn rule_faults_name_their_place() {
        let fault =
            check_kinds(&serde_json::json!({"all": [{"arch": "amd64"}, {"not": {"frobnicate": 1}}]})).unwrap_err();
        assert_eq!(fault.at, "all[1].not");
        assert_eq!(fault.to_string(), format!("at all[1].not: {}", fault.error));
        let fault = check_kinds(&serde_json::json!({"frobnicate": 1})).unwrap_err();
        assert_eq!(fault.to_string(), fault.error.to_string());
        assert!(fault.to_string().contains("frobnicate"), "{fault}");
    }

    /// `RULE_KINDS` is what `evaluate_rule` knows: none of them is an unknown kind there, and
    /// `check_kinds` takes each and refuses any other, wherever it sits in the tree (D-42's
    /// leniency is the evaluator's, for catalogs; a manifest is checked).
    #[test]
    fn d42_rule_kinds_are_the_evaluators_and_checked_in_trees() {
        let machine = Machine::new(Path::new("/nonexistent-root"), "x86_64", "6.1.0", BTreeSet::new());
        for kind in RULE_KINDS {
            let rule = serde_json::json!({ *kind: null });
            assert!(
                !matches!(evaluate_rule(&rule, &machine), Err(RuleError::UnknownKind { .. })),
                "{kind} is listed but the evaluator does not know it"
            );
            let ok = match *kind {
                "all" | "any" => serde_json::json!({ *kind: [] }),
                "not" => serde_json::json!({ "not": { "arch": "amd64" } }),
                _ => rule,
            };
            assert_eq!(check_kinds(&ok), Ok(()), "{kind}");
        }
        assert!(matches!(
            evaluate_rule(&serde_json::json!({ "fiel_exists": "x" }), &machine),
            Err(RuleError::UnknownKind { .. })
        ));
        let tree = serde_json::json!({ "all": [{ "arch": "amd64" }, { "not": { "any": [{ "fiel_exists": "x" }] } }] });
        let fault = check_kinds(&tree).unwrap_err();
        assert_eq!(fault.at, "all[1].not.any[0]");
        assert_eq!(fault.error, RuleError::UnknownKind { kind: "fiel_exists".into() });
        let fault = check_kinds(&serde_json::json!({ "any": { "arch": "amd64" } })).unwrap_err();
        assert!(matches!(fault.error, RuleError::Malformed { .. }), "{fault}");
        let fault = check_kinds(&serde_json::json!({ "arch": "amd64", "os": {} })).unwrap_err();
        assert!(matches!(fault.error, RuleError::Malformed { .. }), "{fault}");
    }

    #[test]
    fn dpkg_status_parsing_and_root_confinement() {
        let installed = installed_packages(DPKG_STATUS);
        assert_eq!(installed.get("openssl").map(String::as_str), Some("3.0.11-1~deb12u2"));
        assert_eq!(installed.get("removed-tool"), None);
        let dir = tempfile::tempdir().unwrap();
        let r = dir.path();
        std::fs::create_dir_all(r.join("opt/app")).unwrap();
        std::fs::write(r.join("opt/app/VERSION"), "2.4.1\n").unwrap();
        std::fs::create_dir_all(r.join("etc")).unwrap();
        // An absolute link is taken relative to the root, as the root were `/`.
        std::os::unix::fs::symlink("/opt/app/VERSION", r.join("etc/app-version")).unwrap();
        assert_eq!(resolve(r, "etc/app-version"), Some(r.join("opt/app/VERSION")));
        assert_eq!(resolve(r, "../../etc/passwd"), Some(r.join("etc/passwd")), "'..' stops at the root");
        assert_eq!(resolve(r, "/etc/passwd"), None);
        assert_eq!(resolve(r, ""), None);
    }
}
