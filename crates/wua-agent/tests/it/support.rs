use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use wua_agent::wua_types::{InstallationResult, Update, UpdateCollection};
use wua_agent::{BootIdSource, SessionOptions, UpdateSession};
pub(crate) use wua_test_support::{Watchdog, World, files_manifest, snapshot, test_id};

/// The bound on a test that waits in a way that has no bounded form: a plain `end_*` (the API
/// the tests must keep calling) or a call that must return at once and would hang only on a
/// bug. Its [`watchdog`] aborts the test's process past it, before nextest's own bound (three
/// minutes, `.config/nextest.toml`); the tests take seconds.
pub(crate) const TEST_LIMIT: Duration = Duration::from_secs(150);

/// A [`Watchdog`] over the test `name` for [`TEST_LIMIT`]; keep it in a named variable
/// (`let _watchdog = ...`) to the end of the test.
pub(crate) fn watchdog(name: &str) -> Watchdog {
    Watchdog::arm(name, TEST_LIMIT)
}

/// Paths wua keeps for itself under a root; left out of tree comparisons.
pub(crate) const OWN: &[&str] = &["var/lib/wua"];

pub(crate) fn boot_file(w: &World) -> PathBuf {
    let p = w.work.join("boot_id");
    if !p.exists() {
        std::fs::write(&p, "boot-1").unwrap();
    }
    p
}

pub(crate) fn reboot(w: &World, id: &str) {
    std::fs::write(boot_file(w), id).unwrap();
}

pub(crate) fn session(w: &World) -> UpdateSession {
    session_with(w, |_| {})
}

/// A session as [`session`] opens it, with `edit` applied to its options.
pub(crate) fn session_with(w: &World, edit: impl FnOnce(&mut SessionOptions)) -> UpdateSession {
    let mut o = SessionOptions::new(&w.state, &w.root);
    o.boot_id = BootIdSource::File(boot_file(w));
    edit(&mut o);
    UpdateSession::open(o).unwrap()
}

/// Builds and imports a files update with `files`.
pub(crate) fn import(w: &World, s: &UpdateSession, name: &str, manifest: &str, files: &[(&str, u32, &[u8])]) -> Update {
    let pkg = w.package(name, manifest, files).unwrap();
    s.open_package(&pkg).unwrap()
}

pub(crate) fn simple(w: &World, s: &UpdateSession, n: u32, files: &[(&str, u32, &[u8])]) -> Update {
    let m = files_manifest(&test_id(n), 1, &format!("update {n}"), "", "");
    import(w, s, &format!("u{n}"), &m, files)
}

pub(crate) fn coll(updates: &[&Update]) -> UpdateCollection {
    updates.iter().map(|u| (*u).clone()).collect()
}

pub(crate) fn install(s: &UpdateSession, updates: &[&Update]) -> InstallationResult {
    let i = s.create_update_installer();
    i.set_updates(coll(updates));
    i.install().unwrap()
}

pub(crate) fn uninstall(s: &UpdateSession, updates: &[&Update]) -> InstallationResult {
    let i = s.create_update_installer();
    i.set_updates(coll(updates));
    i.uninstall().unwrap()
}

pub(crate) fn read(root: &Path, rel: &str) -> String {
    std::fs::read_to_string(root.join(rel)).unwrap()
}

pub(crate) use wua_test_support::{HOLDING, RETURN_CODES, command_manifest, pid_alive, read_pid, wait_for};

/// Builds and imports a `command` update; `handler` continues its `[handler]` table.
pub(crate) fn command_update(
    w: &World,
    s: &UpdateSession,
    n: u32,
    handler: &str,
    files: &[(&str, u32, &[u8])],
) -> Update {
    let m = command_manifest(&test_id(n), &format!("command {n}"), "", handler);
    import(w, s, &format!("c{n}"), &m, files)
}

/// A command update that holds until `dir/hold` is removed (which this creates).
pub(crate) fn holding_update(w: &World, s: &UpdateSession, n: u32, dir: &Path) -> Update {
    let pkg = wua_test_support::holding_package(w, n, dir, "", "").unwrap();
    s.open_package(&pkg).unwrap()
}

/// Runs a future to completion on this thread (no runtime: D-43's async `end_*` needs none);
/// panics if it has not completed within [`TEST_LIMIT`] (a job that never ends).
pub(crate) fn block_on<F: std::future::Future>(fut: F) -> F::Output {
    use std::sync::Arc;
    use std::task::{Context, Poll, Wake};
    struct Unpark(std::thread::Thread);
    impl Wake for Unpark {
        fn wake(self: Arc<Self>) {
            self.0.unpark();
        }
    }
    let waker = Arc::new(Unpark(std::thread::current())).into();
    let mut cx = Context::from_waker(&waker);
    let mut fut = std::pin::pin!(fut);
    let deadline = Instant::now() + TEST_LIMIT;
    loop {
        if let Poll::Ready(v) = fut.as_mut().poll(&mut cx) {
            return v;
        }
        assert!(Instant::now() < deadline, "a future did not complete within {TEST_LIMIT:?}");
        std::thread::park_timeout(Duration::from_millis(100));
    }
}
