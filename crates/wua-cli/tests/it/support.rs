use std::path::Path;
use std::process::{Child, Command, ExitStatus, Output};
use std::time::Duration;

pub(crate) use wua_test_support::{
    World, copy_tree, files_manifest, holding_package, oversized_zstd_package, pid_alive, raw_package, read_pid,
    sha256_hex, snapshot, test_id, tree_bytes, wait_for,
};

/// The bound on one child process of a test (a `wua` command, a tool): they take seconds, so
/// a child still running after this hangs; it is killed and named, before nextest's own bound
/// on the test (three minutes, `.config/nextest.toml`).
pub(crate) const CHILD_LIMIT: Duration = Duration::from_secs(120);

/// wua's own files under a root, left out of comparisons.
pub(crate) const OWN: &[&str] = &["var/lib/wua"];

/// A `wua` command on a state directory and root, with a fixed boot id file.
pub(crate) fn wua(state: &Path, root: &Path) -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_wua"));
    // The agent options through their variables: they work wherever the verb sits.
    c.env("WUA_STATE_DIR", state).env("WUA_ROOT", root);
    c.env_remove("WUA_CRASH_AT_STEP").env_remove("WUA_PAUSE_AT_STEP").env_remove("WUA_LOG");
    let boot = state.parent().unwrap_or(state).join("boot_id");
    if !boot.exists() {
        let _ = std::fs::write(&boot, "boot-1");
    }
    c.env("WUA_BOOT_ID_FILE", boot);
    c
}

/// Runs `cmd` to its end (as `output()`, within [`CHILD_LIMIT`]).
pub(crate) fn run(cmd: &mut Command) -> Output {
    wua_test_support::output_within(cmd, CHILD_LIMIT).unwrap_or_else(|e| panic!("running {cmd:?}: {e}"))
}

/// The output of a spawned child, once it ended (as `wait_with_output()`, within
/// [`CHILD_LIMIT`]); `what` names it if it does not end.
pub(crate) fn finish(child: Child, what: &str) -> Output {
    wua_test_support::wait_with_output_within(child, CHILD_LIMIT, what).unwrap_or_else(|e| panic!("{what}: {e}"))
}

/// Waits for a spawned child's exit (as `wait()`, within [`CHILD_LIMIT`]); `what` names it if
/// it does not exit.
pub(crate) fn wait(child: &mut Child, what: &str) -> ExitStatus {
    wua_test_support::wait_within(child, CHILD_LIMIT, what)
}

pub(crate) fn text(o: &Output) -> String {
    format!("{}{}", String::from_utf8_lossy(&o.stdout), String::from_utf8_lossy(&o.stderr))
}

pub(crate) fn json(o: &Output) -> serde_json::Value {
    serde_json::from_slice(&o.stdout).unwrap_or_else(|e| panic!("not JSON ({e}): {}", text(o)))
}

/// Runs `cmd`, which must succeed, and parses its JSON output.
pub(crate) fn ok(cmd: &mut Command) -> serde_json::Value {
    let o = run(cmd);
    assert!(o.status.success(), "{}", text(&o));
    json(&o)
}

/// `wua --json ...` on the world's agent.
pub(crate) fn agent(w: &World) -> Command {
    let mut c = wua(&w.state, &w.root);
    c.arg("--json");
    c
}

/// A `wua --json repo ...` command, with no crash or pause point set.
pub(crate) fn repo_cmd() -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_wua"));
    c.env_remove("WUA_CRASH_AT_STEP").env_remove("WUA_PAUSE_AT_STEP").env_remove("WUA_CRASH_LOG");
    c.arg("--json").arg("repo");
    c
}

/// A refresh by wua's verifier, as an agent with its state in `state` trusting `trusted_root`
/// does, from the repository directory `repo`.
pub(crate) fn refresh_from(
    trusted_root: &Path,
    state: &Path,
    repo: &Path,
) -> Result<wua_trust::verify::Refreshed, wua_trust::TrustError> {
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    let source = wua_trust::verify::Source::parse(repo.to_str().unwrap()).unwrap();
    rt.block_on(wua_trust::verify::refresh(&std::fs::read(trusted_root).unwrap(), state, &source))
}
