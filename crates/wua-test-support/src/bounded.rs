//! Bounded waits for tests: a child process run or waited for with a limit
//! ([`output_within`], [`wait_with_output_within`], [`wait_within`], [`read_line_within`]), a
//! pipe read on a thread of its own so that looking at it never blocks ([`Drain`]), a thread
//! joined with a limit ([`join_within`]), and a [`Watchdog`] over a whole test.
//!
//! Why: a test that waits without a bound hangs when the code under test deadlocks or a child
//! never exits. nextest's slow-timeout (`.config/nextest.toml`) still ends such a test after
//! three minutes, but names only the test; these fail sooner and say what was awaited, and they
//! kill the child they gave up on, so nothing outlives the test. The limits are generous: they
//! catch a hang, never a slow machine.

use std::io::{self, Read, Write};
use std::process::{Child, Command, ExitStatus, Output, Stdio};
use std::sync::{Arc, Mutex, mpsc};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use wua_types::lock_unpoisoned;

/// How often the waits here look again.
const POLL: Duration = Duration::from_millis(10);

/// Runs `cmd` as [`Command::output`] does (stdin from `/dev/null`, stdout and stderr captured,
/// each unless the caller set it; the pipes read on threads of their own so a full one never
/// blocks the child), but for at most `limit`: a child still running then (or whose output is
/// still held open, by a process it left behind) is SIGKILLed and reaped, and this panics
/// naming the command, the limit and the output read so far. An error is one from starting
/// the command or reading its output.
pub fn output_within(cmd: &mut Command, limit: Duration) -> io::Result<Output> {
    if !stdio_is_set(cmd, "stdin") {
        cmd.stdin(Stdio::null());
    }
    if !stdio_is_set(cmd, "stdout") {
        cmd.stdout(Stdio::piped());
    }
    if !stdio_is_set(cmd, "stderr") {
        cmd.stderr(Stdio::piped());
    }
    let child = cmd.spawn()?;
    wait_with_output_within(child, limit, &format!("{cmd:?}"))
}

/// Whether the caller chose `cmd`'s `stream` (`stdin`, `stdout` or `stderr`). `Command` has no
/// getter for them (a spawned child inherits the test's by default, where `output()` gives it
/// `/dev/null` and pipes); its alternate `Debug` form lists each as a field, at the top level,
/// only when it was set. The unit tests below pin both cases, so a change of that form fails
/// there rather than here.
fn stdio_is_set(cmd: &Command, stream: &str) -> bool {
    let field = format!("    {stream}: ");
    format!("{cmd:#?}").lines().any(|line| line.starts_with(&field))
}

/// [`Child::wait_with_output`] for at most `limit`: closes the child's stdin, reads its piped
/// stdout and stderr on threads (empty when they were not piped) and waits for it to exit and
/// its output to end. Past `limit` the child is SIGKILLed and reaped and this panics naming
/// `what`, the limit and the output read so far.
pub fn wait_with_output_within(mut child: Child, limit: Duration, what: &str) -> io::Result<Output> {
    let deadline = Instant::now() + limit;
    drop(child.stdin.take());
    let stdout = child.stdout.take().map(Drain::start);
    let stderr = child.stderr.take().map(Drain::start);
    let closed = |drain: &Option<Drain>| drain.as_ref().is_none_or(Drain::is_closed);
    loop {
        if let Some(status) = child.try_wait()? {
            if closed(&stdout) && closed(&stderr) {
                return Ok(Output { status, stdout: Drain::finish(stdout)?, stderr: Drain::finish(stderr)? });
            }
        }
        if Instant::now() >= deadline {
            kill_and_reap(&mut child);
            panic!(
                "{what} did not finish (exit and close its output) within {limit:?}: killed it\n\
                 stdout so far: {}\nstderr so far: {}",
                Drain::text_of(&stdout),
                Drain::text_of(&stderr),
            );
        }
        std::thread::sleep(POLL);
    }
}

/// Waits for `child` to exit, for at most `limit`, looking every 10 ms; past it the child is
/// SIGKILLed and reaped and this panics naming `what` and the limit.
pub fn wait_within(child: &mut Child, limit: Duration, what: &str) -> ExitStatus {
    let deadline = Instant::now() + limit;
    loop {
        match child.try_wait() {
            Ok(Some(status)) => return status,
            Ok(None) if Instant::now() < deadline => std::thread::sleep(POLL),
            Ok(None) => {
                kill_and_reap(child);
                panic!("{what}: still running after {limit:?}: killed it");
            }
            Err(e) => panic!("{what}: waiting for it: {e}"),
        }
    }
}

/// The first line `child` writes on its piped stdout (without its end of line; what there is
/// when stdout ends first), waiting at most `limit`; past it the child is SIGKILLed and reaped
/// and this panics naming `what`. The rest of its stdout is read and dropped, so the child
/// never blocks on a full pipe.
pub fn read_line_within(child: &mut Child, limit: Duration, what: &str) -> String {
    let stdout = Drain::start(child.stdout.take().expect("the child's stdout is piped"));
    let deadline = Instant::now() + limit;
    while !stdout.text().contains('\n') && !stdout.is_closed() {
        if Instant::now() >= deadline {
            kill_and_reap(child);
            panic!("{what}: no line within {limit:?}: killed it; stdout so far: {:?}", stdout.text());
        }
        std::thread::sleep(POLL);
    }
    stdout.text().lines().next().unwrap_or_default().to_owned()
}

/// SIGKILLs `child` and reaps it. The wait is bounded: SIGKILL cannot be caught or ignored.
fn kill_and_reap(child: &mut Child) {
    let _ = child.kill();
    let _ = child.wait();
}

/// Joins `thread` if it ends within `limit` (looking every 10 ms), with what
/// [`JoinHandle::join`] returns. Past the limit this panics naming `what`, unless this thread
/// is already panicking (a join from a `Drop` while a failed test unwinds, where a second
/// panic would abort the process): then it says so on stderr and returns an `Err`, leaving the
/// thread to end with the process.
pub fn join_within<T>(thread: JoinHandle<T>, limit: Duration, what: &str) -> std::thread::Result<T> {
    let deadline = Instant::now() + limit;
    while !thread.is_finished() {
        if Instant::now() >= deadline {
            let message = format!("{what}: the thread did not end within {limit:?}");
            if std::thread::panicking() {
                let _ = writeln!(io::stderr(), "{message}; left running");
                return Err(Box::new(message));
            }
            panic!("{message}");
        }
        std::thread::sleep(POLL);
    }
    thread.join()
}

/// A pipe read to its end on a thread of its own into a buffer: a test can look at what came
/// so far at any time without blocking (a plain `read` of a child's pipe waits for as long as
/// the child writes nothing), and the child never blocks on a full pipe.
#[derive(Debug)]
pub struct Drain {
    bytes: Arc<Mutex<Vec<u8>>>,
    thread: JoinHandle<io::Result<()>>,
}

impl Drain {
    /// Starts reading `pipe` (a child's stdout or stderr) to its end.
    pub fn start(mut pipe: impl Read + Send + 'static) -> Drain {
        let bytes = Arc::new(Mutex::new(Vec::new()));
        let sink = bytes.clone();
        let thread = std::thread::spawn(move || {
            let mut buf = [0u8; 8192];
            loop {
                match pipe.read(&mut buf) {
                    Ok(0) => return Ok(()),
                    Ok(n) => lock_unpoisoned(&sink).extend_from_slice(&buf[..n]),
                    Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                    Err(e) => return Err(e),
                }
            }
        });
        Drain { bytes, thread }
    }

    /// What was read so far, as text (invalid UTF-8 replaced).
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&lock_unpoisoned(&self.bytes)).into_owned()
    }

    /// Whether the pipe ended (or failed): nothing more will come.
    pub fn is_closed(&self) -> bool {
        self.thread.is_finished()
    }

    /// Everything read from a closed pipe (none: empty); the read's error if it failed.
    fn finish(drain: Option<Drain>) -> io::Result<Vec<u8>> {
        let Some(drain) = drain else { return Ok(Vec::new()) };
        // Bounded: called only once the reading thread has ended.
        match drain.thread.join() {
            Ok(read) => read.map(|()| std::mem::take(&mut *lock_unpoisoned(&drain.bytes))),
            Err(panic) => std::panic::resume_unwind(panic),
        }
    }

    /// [`Drain::text`], quoted, of a pipe that may not have been piped.
    fn text_of(drain: &Option<Drain>) -> String {
        drain.as_ref().map_or_else(|| "(not piped)".to_owned(), |d| format!("{:?}", d.text()))
    }
}

/// A bound over a whole test: unless the guard is dropped within `limit`, a thread of its own
/// prints what did not finish and the limit to stderr and aborts the process. For waits that
/// have no bounded form (a plain `end_install`, which the job API must keep and the tests must
/// call) or that must return at once and would hang only on a bug.
///
/// Aborting is the only way to stop a thread stuck in such a wait, and it fails just that test:
/// nextest runs every test in a process of its own and reports an aborted one as failed with
/// its stderr. Under `cargo test` an abort would end every test of the binary, so the limits
/// are generous: a watchdog fires on a hang, never on a slow machine. The message is written
/// to the process's stderr directly, bypassing libtest's output capture (which an abort would
/// lose). Dropping the guard, at the end of the test or while it unwinds from a failure,
/// disarms it.
#[derive(Debug)]
#[must_use = "the watchdog is disarmed when the guard is dropped: bind it to a named variable (`_guard`), not `_`"]
pub struct Watchdog {
    disarm: Option<mpsc::Sender<()>>,
    thread: Option<JoinHandle<()>>,
}

impl Watchdog {
    /// Arms a watchdog over `what` (a test's name, or what it waits for) for `limit`.
    pub fn arm(what: &str, limit: Duration) -> Watchdog {
        let (disarm, armed) = mpsc::channel::<()>();
        let what = what.to_owned();
        let thread = std::thread::Builder::new()
            .name("watchdog".into())
            .spawn(move || {
                // Disconnected (the guard dropped) disarms; only a time-out fires.
                if let Err(mpsc::RecvTimeoutError::Timeout) = armed.recv_timeout(limit) {
                    fire(&what, limit);
                }
            })
            .expect("start the watchdog's thread");
        Watchdog { disarm: Some(disarm), thread: Some(thread) }
    }
}

impl Drop for Watchdog {
    fn drop(&mut self) {
        drop(self.disarm.take());
        if let Some(thread) = self.thread.take() {
            // Bounded: the channel is disconnected, so the thread's wait ends at once.
            let _ = thread.join();
        }
    }
}

/// Reports the watchdog's time-out and aborts the process.
fn fire(what: &str, limit: Duration) -> ! {
    let _ = writeln!(io::stderr(), "watchdog: {what} did not finish within {limit:?}: aborting the test process");
    std::process::abort()
}

#[cfg(test)]
mod tests {
    use std::os::unix::process::ExitStatusExt;
    use std::panic::{AssertUnwindSafe, catch_unwind};

    use super::*;

    const SHORT: Duration = Duration::from_millis(200);
    const LONG: Duration = Duration::from_secs(60);

    /// The message of a panic caught from `f`.
    fn panic_message(f: impl FnOnce()) -> String {
        let panic = catch_unwind(AssertUnwindSafe(f)).expect_err("it panics");
        match panic.downcast::<String>() {
            Ok(message) => *message,
            Err(panic) => panic.downcast_ref::<&str>().map(|s| s.to_string()).unwrap_or_default(),
        }
    }

    #[test]
    fn output_within_returns_what_a_quick_command_wrote() {
        let o = output_within(Command::new("sh").args(["-c", "echo out; echo err >&2; exit 3"]), LONG).unwrap();
        assert_eq!((o.status.code(), &o.stdout[..], &o.stderr[..]), (Some(3), &b"out\n"[..], &b"err\n"[..]));
    }

    #[test]
    fn output_within_starts_a_missing_program_as_an_error() {
        assert!(output_within(&mut Command::new("/nonexistent/wua-test-program"), LONG).is_err());
    }

    /// More output than a pipe holds (64 KiB) on both pipes: read as it comes, nothing blocks.
    #[test]
    fn output_within_reads_both_pipes_as_they_fill() {
        let script = "head -c 1000000 /dev/zero; head -c 1000000 /dev/zero >&2";
        let o = output_within(Command::new("sh").args(["-c", script]), LONG).unwrap();
        assert_eq!((o.stdout.len(), o.stderr.len()), (1_000_000, 1_000_000));
    }

    /// Like `output()`: stdin is `/dev/null` unless the caller set one, which is kept.
    #[test]
    fn output_within_gives_stdin_null_unless_set() {
        let o = output_within(&mut Command::new("cat"), LONG).unwrap();
        assert!(o.status.success() && o.stdout.is_empty(), "{o:?}");
        let dir = tempfile::tempdir().unwrap();
        let input = dir.path().join("input");
        std::fs::write(&input, "from the caller").unwrap();
        let file = std::fs::File::open(&input).unwrap();
        let o = output_within(Command::new("cat").stdin(file), LONG).unwrap();
        assert_eq!(o.stdout, b"from the caller");
    }

    /// Like `output()`: stdout and stderr are captured unless the caller set them.
    #[test]
    fn output_within_keeps_a_stream_the_caller_set() {
        let o = output_within(Command::new("sh").args(["-c", "echo out; echo err >&2"]).stderr(Stdio::null()), LONG)
            .unwrap();
        assert_eq!((&o.stdout[..], &o.stderr[..]), (&b"out\n"[..], &b""[..]));
        let o = output_within(Command::new("sh").args(["-c", "echo out; echo err >&2"]).stdout(Stdio::null()), LONG)
            .unwrap();
        assert_eq!((&o.stdout[..], &o.stderr[..]), (&b""[..], &b"err\n"[..]));
    }

    /// A child still running at the limit is killed and reaped; the panic names the command,
    /// the limit and what it wrote.
    #[test]
    fn output_within_kills_a_child_past_its_limit() {
        let dir = tempfile::tempdir().unwrap();
        let pid_file = dir.path().join("pid");
        let script = format!("echo $$ > '{}'; echo started; exec sleep 30", pid_file.display());
        let started = Instant::now();
        let message = panic_message(|| {
            let _ = output_within(Command::new("sh").args(["-c", &script]), Duration::from_secs(2));
        });
        assert!(started.elapsed() < Duration::from_secs(20), "it did not wait for the sleep");
        assert!(message.contains("\"sh\" \"-c\"") && message.contains("exec sleep 30"), "{message}");
        assert!(message.contains("within 2s") && message.contains("started"), "{message}");
        assert!(!crate::pid_alive(crate::read_pid(&pid_file)), "the child is gone");
    }

    #[test]
    fn output_within_panics_past_a_short_limit() {
        let message = panic_message(|| {
            let _ = output_within(Command::new("sleep").arg("30"), SHORT);
        });
        assert!(message.contains("\"sleep\" \"30\"") && message.contains("200ms"), "{message}");
    }

    #[test]
    fn wait_within_returns_the_status_of_a_quick_child() {
        let mut child = Command::new("true").spawn().unwrap();
        assert!(wait_within(&mut child, LONG, "true").success());
    }

    #[test]
    fn wait_within_kills_a_child_past_its_limit() {
        let mut child = Command::new("sleep").arg("30").spawn().unwrap();
        let message = panic_message(|| {
            wait_within(&mut child, SHORT, "a sleeping child");
        });
        assert_eq!(message, "a sleeping child: still running after 200ms: killed it");
        let status = child.try_wait().unwrap().expect("reaped");
        assert_eq!(status.signal(), Some(9), "SIGKILLed");
    }

    #[test]
    fn read_line_within_returns_the_first_line() {
        let mut child =
            Command::new("sh").args(["-c", "echo first; echo second"]).stdout(Stdio::piped()).spawn().unwrap();
        assert_eq!(read_line_within(&mut child, LONG, "the first line"), "first");
        assert!(wait_within(&mut child, LONG, "sh").success());
    }

    #[test]
    fn read_line_within_kills_a_silent_child() {
        let mut child = Command::new("sleep").arg("30").stdout(Stdio::piped()).spawn().unwrap();
        let message = panic_message(|| {
            read_line_within(&mut child, SHORT, "the address");
        });
        assert!(message.starts_with("the address: no line within 200ms"), "{message}");
        assert_eq!(child.try_wait().unwrap().and_then(|s| s.signal()), Some(9));
    }

    #[test]
    fn join_within_joins_or_names_what_it_waited_for() {
        assert_eq!(join_within(std::thread::spawn(|| 7), LONG, "a quick thread").unwrap(), 7);
        let (_keep, stuck) = mpsc::channel::<()>();
        let thread = std::thread::spawn(move || {
            let _ = stuck.recv_timeout(Duration::from_secs(30));
        });
        let message = panic_message(|| {
            let _ = join_within(thread, SHORT, "a stuck thread");
        });
        assert_eq!(message, "a stuck thread: the thread did not end within 200ms");
    }

    #[test]
    fn a_drain_shows_what_came_so_far_without_blocking() {
        let mut child = Command::new("sh")
            .args(["-c", "echo ready; exec sleep 30"])
            .stdout(Stdio::piped())
            .stdin(Stdio::null())
            .spawn()
            .unwrap();
        let drain = Drain::start(child.stdout.take().unwrap());
        crate::wait_for("the first line", LONG, || drain.text() == "ready\n");
        assert!(!drain.is_closed(), "the child still runs");
        kill_and_reap(&mut child);
        crate::wait_for("the pipe's end", LONG, || drain.is_closed());
    }

    /// A watchdog dropped in time never fires (this process would abort).
    #[test]
    fn a_watchdog_dropped_in_time_does_not_fire() {
        let limit = Duration::from_millis(500);
        let guard = Watchdog::arm("a quick test", limit);
        drop(guard);
        std::thread::sleep(limit * 2);
        let _guard = Watchdog::arm("a test that ends", LONG);
    }

    /// Set for the child run by [`a_watchdog_not_dropped_in_time_aborts_its_process`].
    const FIRE_ENV: &str = "WUA_TEST_SUPPORT_FIRE_WATCHDOG";

    /// The abort, seen from outside: this test binary runs [`watchdog_child`], whose watchdog
    /// fires; the child dies of SIGABRT having said what did not finish.
    #[test]
    fn a_watchdog_not_dropped_in_time_aborts_its_process() {
        let exe = std::env::current_exe().unwrap();
        let mut cmd = Command::new(exe);
        cmd.args(["--exact", "bounded::tests::watchdog_child", "--nocapture", "--test-threads=1"]).env(FIRE_ENV, "1");
        let o = output_within(&mut cmd, LONG).unwrap();
        let stderr = String::from_utf8_lossy(&o.stderr);
        // SIGABRT is 6 on Linux.
        assert_eq!(o.status.signal(), Some(6), "{stderr}");
        assert!(stderr.contains("watchdog: a test that hangs did not finish within 100ms"), "{stderr}");
    }

    /// The child of [`a_watchdog_not_dropped_in_time_aborts_its_process`]; does nothing on its
    /// own.
    #[test]
    fn watchdog_child() {
        if std::env::var_os(FIRE_ENV).is_none() {
            return;
        }
        let _guard = Watchdog::arm("a test that hangs", Duration::from_millis(100));
        std::thread::sleep(Duration::from_secs(30));
    }
}
