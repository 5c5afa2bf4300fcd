//! The Debian package (scripts/build-deb, docs/packaging.md) built from this test's wua binary,
//! installed into and removed from a throwaway dpkg root, never the system's; and the shell
//! integration verbs the package's completions and man pages come from.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use super::support::{CHILD_LIMIT, text};

const WUA: &str = env!("CARGO_BIN_EXE_wua");

fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// Whether `tool` can be run at all.
fn have(tool: &str) -> bool {
    wua_test_support::output_within(Command::new(tool).arg("--version"), CHILD_LIMIT).is_ok()
}

/// Runs `cmd` to its end (as `output()`, within [`CHILD_LIMIT`]).
fn run(cmd: &mut Command) -> Output {
    wua_test_support::output_within(cmd, CHILD_LIMIT).unwrap_or_else(|e| panic!("running {cmd:?}: {e}"))
}

fn ok(cmd: &mut Command) -> Output {
    let o = run(cmd);
    assert!(o.status.success(), "{cmd:?} failed: {}", text(&o));
    o
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

/// `dpkg` acting on the dpkg root `root` alone: its own admin directory, no log in /var/log,
/// maintainer scripts (the package has none) never run in the system, and no dependency checks
/// (the empty root has no libc6 installed).
fn dpkg(root: &Path) -> Command {
    let mut c = Command::new("dpkg");
    c.arg(format!("--root={}", root.display()))
        .arg(format!("--admindir={}", root.join("var/lib/dpkg").display()))
        .args(["--force-depends", "--force-script-chrootless", "--force-not-root", "--log=/dev/null"])
        .env_remove("DPKG_ROOT")
        .env_remove("DPKG_ADMINDIR");
    c
}

/// The title line of a man page: the first after the roff crate's preamble, which defines the
/// apostrophe string with `.ie`/`.el`.
fn title_line(page: &str) -> &str {
    page.lines().find(|l| !l.starts_with(".ie ") && !l.starts_with(".el ")).unwrap_or("")
}

/// What the system's dpkg database holds that the test must leave alone.
fn system_dpkg_state() -> (Option<Vec<u8>>, bool) {
    (std::fs::read("/var/lib/dpkg/status").ok(), Path::new("/var/lib/dpkg/info/wua.list").exists())
}

#[test]
fn the_deb_installs_into_a_throwaway_root_and_removes_cleanly() {
    if !have("dpkg-deb") || !have("dpkg") {
        eprintln!("skipped: dpkg-deb is not installed");
        return;
    }
    let system_before = system_dpkg_state();
    let dir = tempfile::tempdir().unwrap();
    let deb = dir.path().join("out/wua.deb");

    // Build the package from the binary under test.
    let o = ok(Command::new(repo_root().join("scripts/build-deb"))
        .arg("--binary")
        .arg(WUA)
        .arg("--output")
        .arg(&deb)
        .env_remove("CARGO_TARGET_DIR"));
    assert_eq!(stdout(&o).trim(), deb.to_str().unwrap(), "it prints the package's path: {}", text(&o));
    assert!(deb.is_file());

    let field = |name: &str| stdout(&ok(Command::new("dpkg-deb").arg("-f").arg(&deb).arg(name))).trim().to_owned();
    assert_eq!(field("Package"), "wua");
    assert_eq!(field("Version"), env!("CARGO_PKG_VERSION").replace('-', "~"));
    let arch = stdout(&ok(Command::new("dpkg").arg("--print-architecture"))).trim().to_owned();
    assert_eq!(field("Architecture"), arch);
    assert!(field("Depends").starts_with("libc6"), "{}", field("Depends"));
    assert_eq!(field("Maintainer"), "wua developers");
    assert!(!field("Description").is_empty());
    // Nothing under /etc, so no conffiles: the configuration is the administrator's.
    assert!(!run(Command::new("dpkg-deb").arg("--info").arg(&deb).arg("conffiles")).status.success());

    // Install it into an empty dpkg root.
    let root = dir.path().join("root");
    let admin = root.join("var/lib/dpkg");
    for sub in ["updates", "info"] {
        std::fs::create_dir_all(admin.join(sub)).unwrap();
    }
    std::fs::write(admin.join("status"), "").unwrap();
    ok(dpkg(&root).arg("-i").arg(&deb));
    assert!(stdout(&ok(dpkg(&root).args(["-s", "wua"]))).contains("Status: install ok installed"));
    // Every file matches the package's md5sums.
    let verify = ok(dpkg(&root).args(["--verify", "wua"]));
    assert!(verify.stdout.is_empty(), "{}", text(&verify));

    // The installed binary runs.
    let wua = root.join("usr/bin/wua");
    let version = ok(Command::new(&wua).arg("--version"));
    assert_eq!(stdout(&version).trim(), format!("wua {}", env!("CARGO_PKG_VERSION")));
    let help = stdout(&ok(Command::new(&wua).arg("--help")));
    for verb in ["install", "search", "agent", "completions", "man"] {
        assert!(help.lines().any(|l| l.trim_start().starts_with(verb)), "{verb} missing from --help: {help}");
    }

    // Completions, man pages, units, the example configuration and the copyright.
    for path in [
        "usr/share/bash-completion/completions/wua",
        "usr/share/zsh/vendor-completions/_wua",
        "usr/share/fish/vendor_completions.d/wua.fish",
    ] {
        let script = std::fs::read_to_string(root.join(path)).unwrap_or_else(|e| panic!("{path}: {e}"));
        assert!(script.contains("install-package"), "{path}");
    }
    ok(Command::new("bash").arg("-n").arg(root.join("usr/share/bash-completion/completions/wua")));
    let man1 = root.join("usr/share/man/man1");
    for page in ["wua.1.gz", "wua-install.1.gz", "wua-repo-init.1.gz", "wua-completions.1.gz"] {
        let roff = stdout(&ok(Command::new("gzip").arg("-dc").arg(man1.join(page))));
        let name = page.trim_end_matches(".1.gz");
        assert!(title_line(&roff).starts_with(&format!(".TH {name} 1 ")), "{page}: {roff}");
    }
    let pages = std::fs::read_dir(&man1).unwrap().count();
    assert!(pages > 40, "one page per subcommand, {pages} found");
    for unit in ["wua-agent.service", "wua-agent.timer", "wua-server.service"] {
        assert_eq!(
            std::fs::read(root.join("lib/systemd/system").join(unit)).unwrap(),
            std::fs::read(repo_root().join("dist").join(unit)).unwrap(),
            "{unit}"
        );
    }
    assert_eq!(
        std::fs::read(root.join("usr/share/doc/wua/examples/agent.toml")).unwrap(),
        std::fs::read(repo_root().join("dist/agent.toml.example")).unwrap()
    );
    assert!(std::fs::read_to_string(root.join("usr/share/doc/wua/copyright")).unwrap().contains("License: MIT"));
    assert!(!root.join("etc").exists(), "the package installs nothing under /etc");

    // Remove it: its files go, and dpkg no longer knows it.
    ok(dpkg(&root).args(["-r", "wua"]));
    for path in [
        "usr/bin/wua",
        "usr/share/bash-completion/completions/wua",
        "usr/share/man/man1/wua.1.gz",
        "lib/systemd/system/wua-agent.timer",
        "usr/share/doc/wua/examples/agent.toml",
    ] {
        assert!(!root.join(path).exists(), "{path} left after removal");
    }
    let status = run(Command::new("dpkg-query").arg(format!("--admindir={}", admin.display())).args([
        "-W",
        "-f=${db:Status-Status}",
        "wua",
    ]));
    // Purged from the database (no conffiles keep it), or listed as not installed.
    assert!(!status.status.success() || stdout(&status) == "not-installed", "dpkg still knows wua: {}", text(&status));
    let status_file = std::fs::read_to_string(admin.join("status")).unwrap();
    assert!(
        !status_file.contains("Package: wua") || status_file.contains("not-installed"),
        "status after removal: {status_file}"
    );

    assert!(system_before == system_dpkg_state(), "the system's dpkg database changed");
}

#[test]
fn build_deb_refuses_a_missing_or_stale_binary() {
    let dir = tempfile::tempdir().unwrap();
    let script = repo_root().join("scripts/build-deb");
    let o = run(Command::new(&script)
        .arg("--binary")
        .arg(dir.path().join("nothing"))
        .arg("--output")
        .arg(dir.path().join("x.deb")));
    assert!(!o.status.success());
    assert!(text(&o).contains("no wua binary at"), "{}", text(&o));

    // A binary of another version would ship under this version's name.
    let stale = dir.path().join("wua");
    std::fs::write(&stale, "#!/bin/sh\necho 'wua 0.0.0-old'\n").unwrap();
    let mut perms = std::fs::metadata(&stale).unwrap().permissions();
    std::os::unix::fs::PermissionsExt::set_mode(&mut perms, 0o755);
    std::fs::set_permissions(&stale, perms).unwrap();
    let o = run(Command::new(&script).arg("--binary").arg(&stale).arg("--output").arg(dir.path().join("x.deb")));
    assert!(!o.status.success());
    assert!(text(&o).contains("rebuild it"), "{}", text(&o));
    assert!(!dir.path().join("x.deb").exists());

    let o = run(Command::new(&script).arg("--frobnicate"));
    assert!(!o.status.success());
    assert!(text(&o).contains("usage: scripts/build-deb"), "{}", text(&o));
}

#[test]
fn completions_and_man_pages_come_from_the_command_line() {
    let bash = ok(Command::new(WUA).args(["completions", "bash"]));
    let script = stdout(&bash);
    assert!(!script.is_empty());
    assert!(script.contains("install"), "{script}");
    assert!(script.contains("complete -F _wua"), "{script}");
    assert!(stdout(&ok(Command::new(WUA).args(["completions", "zsh"]))).starts_with("#compdef wua"));
    assert!(stdout(&ok(Command::new(WUA).args(["completions", "fish"]))).contains("complete -c wua"));
    let o = run(Command::new(WUA).args(["completions", "tcsh"]));
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));

    let man = stdout(&ok(Command::new(WUA).arg("man")));
    assert!(man.starts_with('.'), "roff: {man}");
    assert!(title_line(&man).starts_with(".TH wua 1 "), "{man}");
    assert!(man.contains(".SH SUBCOMMANDS") || man.contains(".SH COMMANDS"), "{man}");
    assert!(man.contains("wua\\-install(1)"), "the subcommands' pages are named: {man}");

    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("man/man1");
    let o = ok(Command::new(WUA).arg("man").arg("--output").arg(&out));
    let listed: Vec<PathBuf> = stdout(&o).lines().map(PathBuf::from).collect();
    assert!(listed.contains(&out.join("wua.1")) && listed.contains(&out.join("wua-install.1")), "{listed:?}");
    assert!(listed.iter().all(|p| p.is_file()));
    assert_eq!(std::fs::read_to_string(out.join("wua.1")).unwrap(), man, "the printed page is the written one");

    // An output that cannot be a directory is a call error with a message, not a panic.
    let file = dir.path().join("file");
    std::fs::write(&file, "").unwrap();
    let o = run(Command::new(WUA).arg("man").arg("--output").arg(file.join("sub")));
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    assert!(!text(&o).contains("panicked"), "{}", text(&o));
}
