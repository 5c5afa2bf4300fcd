//! The `classic_flow` example runs as the README says: built by cargo (a nested `cargo build`
//! of the example, which is a no-op when the test build already made it), then run as a child
//! process on a state directory and a root, twice.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use wua_test_support::output_within;

/// The bound on the nested `cargo build` (a no-op after the test build, but it may wait for
/// cargo's lock on the target directory): within nextest's bound on the test (180 s).
const BUILD_LIMIT: Duration = Duration::from_secs(150);

/// The bound on one run of the example: it takes a second.
const RUN_LIMIT: Duration = Duration::from_secs(60);

/// Builds the example with the test binary's profile and returns the executable's path.
fn example_binary(name: &str) -> PathBuf {
    // The test binary is `<target>/<profile dir>/deps/it-<hash>`; `debug` is the `dev` profile.
    let exe = std::env::current_exe().unwrap();
    let profile_dir = exe.parent().and_then(Path::parent).and_then(Path::file_name).unwrap().to_str().unwrap();
    let profile = if profile_dir == "debug" { "dev" } else { profile_dir };
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| env!("CARGO").into());
    let mut build = Command::new(cargo);
    build
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        // `--workspace`, as the test run builds: features resolve as they did for the tests, so
        // nothing is rebuilt with another feature set (with `-p wua-agent` the crates below it
        // would be built again without the features other members' tests turn on).
        .args(["build", "-q", "--workspace", "--example", name, "--profile", profile])
        .arg("--message-format=json-render-diagnostics");
    let out = output_within(&mut build, BUILD_LIMIT).unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "cargo build --example {name} failed:\n{}", String::from_utf8_lossy(&out.stderr));
    stdout
        .lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .filter(|m| m["reason"] == "compiler-artifact" && m["target"]["name"] == name)
        .find_map(|m| m["executable"].as_str().map(PathBuf::from))
        .unwrap_or_else(|| panic!("cargo named no executable for example {name}:\n{stdout}"))
}

fn run(exe: &Path, state: &Path, root: &Path) -> String {
    let out = output_within(Command::new(exe).arg(state).arg(root), RUN_LIMIT).unwrap();
    let stdout = String::from_utf8(out.stdout).unwrap();
    assert!(
        out.status.success(),
        "classic_flow failed ({}):\n{stdout}\n{}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    stdout
}

#[test]
fn classic_flow_example_installs_and_reports() {
    let exe = example_binary("classic_flow");
    let dir = tempfile::tempdir().unwrap();
    let (state, root) = (dir.path().join("state"), dir.path().join("root"));

    let first = run(&exe, &state, &root);
    let expect = [
        "accepting the license terms of wua example: licensed tool",
        "progress: ",
        "completed: the job of classic_flow finished (2 updates)",
        "result: Succeeded S_OK (0x00000000) reboot required false",
        "update: wua example: hello -> Succeeded S_OK (0x00000000) reboot required false",
        "update: wua example: licensed tool -> Succeeded S_OK (0x00000000) reboot required false",
        "  installed now: true",
        "history: 2 entries",
        "Installation wua example: hello Succeeded S_OK (0x00000000) by wua classic_flow example",
        "Installation wua example: licensed tool Succeeded S_OK (0x00000000) by wua classic_flow example",
        "root: opt/wua-example/tool.txt present",
    ];
    for line in expect {
        assert!(first.contains(line), "missing {line:?} in:\n{first}");
    }
    assert!(!first.contains("missing") && !first.contains("installed now: false"), "{first}");
    // The completion callback runs before end_install returns.
    assert!(first.find("completed: ").unwrap() < first.find("result: ").unwrap(), "{first}");
    assert_eq!(std::fs::read_to_string(root.join("etc/wua-example/hello.conf")).unwrap(), "greeting = hello\n");
    assert_eq!(std::fs::read_to_string(root.join("opt/wua-example/tool.txt")).unwrap(), "a licensed tool\n");
    let mode = std::os::unix::fs::PermissionsExt::mode(
        &std::fs::metadata(root.join("usr/local/bin/wua-example")).unwrap().permissions(),
    );
    assert_eq!(mode & 0o777, 0o755);

    // Again on the same state: both are installed already, the EULA stays accepted.
    let second = run(&exe, &state, &root);
    for line in [
        "update: wua example: hello -> Succeeded WU_S_ALREADY_INSTALLED",
        "update: wua example: licensed tool -> Succeeded WU_S_ALREADY_INSTALLED",
    ] {
        assert!(second.contains(line), "missing {line:?} in:\n{second}");
    }
    assert!(!second.contains("accepting the license terms"), "{second}");
}
