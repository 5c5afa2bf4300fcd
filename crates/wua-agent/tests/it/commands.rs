//! The `command` handler: exit-code table (D-15), environment, working directory and log
//! (D-41), time limit, handler-reported reboots (D-9), uninstall commands (D-16, D-38).

use std::time::Duration;

use wua_agent::wua_types::{HResult, OperationResultCode as Orc, UpdateHistoryEntry};

use crate::support::*;

const LONG: Duration = Duration::from_secs(60);

/// A program that exits with the code given as its argument.
const EXIT_WITH: &[u8] = b"#!/bin/sh\necho \"exiting with $1\"\nexit \"$1\"\n";

fn exiting(w: &World, s: &wua_agent::UpdateSession, n: u32, code: i32) -> wua_agent::wua_types::Update {
    let handler = format!("program = \"exit.sh\"\narguments = [\"{code}\"]\n{RETURN_CODES}\n");
    command_update(w, s, n, &handler, &[("exit.sh", 0o755, EXIT_WITH)])
}

fn newest_history(s: &wua_agent::UpdateSession) -> UpdateHistoryEntry {
    s.create_update_searcher().query_history(0, 1).unwrap().remove(0)
}

/// D-15: 0, 3010, 1641, an unlisted code and a `Cancelled` code map as the table says, and
/// the raw exit status is the history entry's `unmapped_result_code` (a Linux status has 8
/// bits: exit(3010) is seen as 194, exit(1641) as 105, and the table's 3010 and 1641 match
/// them).
#[test]
fn d15_exit_code_table() {
    let cases = [
        (0, Orc::Succeeded, HResult::S_OK, false, ""),
        (3010, Orc::Succeeded, HResult::S_OK, true, ""),
        (1641, Orc::Succeeded, HResult::S_OK, true, ""),
        (7, Orc::Failed, HResult::WU_E_UH_INSTALLERFAILURE, false, "failure"),
        (1602, Orc::Aborted, HResult::WU_E_UH_OPERATIONCANCELLED, false, "cancelled"),
    ];
    for (n, (code, result, hresult, reboot, meaning)) in cases.into_iter().enumerate() {
        let w = World::new().unwrap();
        let s = session(&w);
        let u = exiting(&w, &s, n as u32 + 1, code);
        let r = install(&s, &[&u]);
        let one = &r.update_results[0];
        assert_eq!((one.result_code, one.hresult, one.reboot_required), (result, hresult, reboot), "exit {code}");
        let message = if meaning.is_empty() {
            String::new()
        } else {
            format!("exit.sh exited with code {}, which means {meaning}", code & 0xFF)
        };
        assert_eq!(one.message, message, "exit {code}");
        let h = newest_history(&s);
        assert_eq!((h.result_code, h.hresult, h.unmapped_result_code), (result, hresult, code & 0xFF), "exit {code}");
        let log = h.log_path.expect("the history entry references the log");
        assert!(std::path::Path::new(&log).starts_with(s.state_dir().join("logs")), "D-41: {log} is the state's");
        assert!(std::fs::read_to_string(&log).unwrap().contains(&format!("exiting with {code}")));
        assert_eq!(s.find_update(&test_id(n as u32 + 1)).unwrap().unwrap().is_installed(), result == Orc::Succeeded);
        if code == 1602 {
            // D-3: an Aborted that no abort request caused counts as a failure.
            assert_eq!((r.result_code, r.hresult), (Orc::Failed, HResult::WU_E_UH_OPERATIONCANCELLED));
        }
    }
}

/// D-15: killed by a signal from outside the agent -> Failed, WU_E_UH_INSTALLERFAILURE.
#[test]
fn d15_killed_from_outside() {
    let w = World::new().unwrap();
    let s = session(&w);
    let dir = w.work.join("hold");
    let u = holding_update(&w, &s, 1, &dir);
    let i = s.create_update_installer();
    i.set_updates(coll(&[&u]));
    let job = i.begin_install(None, None, None).unwrap();
    wait_for("the program to start", LONG, || dir.join("pid").exists());
    let pid = read_pid(&dir.join("pid"));
    // SAFETY: kill(2) of the test's own program.
    unsafe { libc::kill(pid, libc::SIGKILL) };
    let r = i.end_install_timeout(&job, LONG).unwrap();
    let one = &r.update_results[0];
    assert_eq!((one.result_code, one.hresult), (Orc::Failed, HResult::WU_E_UH_INSTALLERFAILURE));
    assert!(one.message.contains("signal 9"), "{}", one.message);
    assert_eq!(newest_history(&s).unmapped_result_code, 128 + 9);
}

/// D-15, D-41: over its time limit the process group is killed -> Failed,
/// WU_E_UH_INSTALLERHUNG.
#[test]
fn d15_time_limit() {
    let w = World::new().unwrap();
    let s = session(&w);
    let dir = w.work.join("hold");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("hold"), "").unwrap();
    let handler = format!("program = \"hold.sh\"\narguments = [\"{}\"]\ntime_limit_secs = 1\n", dir.display());
    let u = command_update(&w, &s, 1, &handler, &[("hold.sh", 0o755, HOLDING)]);
    let r = install(&s, &[&u]);
    let one = &r.update_results[0];
    assert_eq!((one.result_code, one.hresult), (Orc::Failed, HResult::WU_E_UH_INSTALLERHUNG));
    let (pid, child) = (read_pid(&dir.join("pid")), read_pid(&dir.join("child.pid")));
    assert!(!pid_alive(pid) && !pid_alive(child), "the process group was killed");
    // The program the agent killed: 128 + the signal that ended it (SIGTERM here: the holding
    // script does not ignore it), as docs/formats.md says, never 0.
    assert_eq!(newest_history(&s).unmapped_result_code, 128 + libc::SIGTERM);
}

/// D-41: the environment, the working directory with a verified copy of the content, stdin
/// from /dev/null, output captured to the log the history entry references.
#[test]
fn d41_environment_and_working_directory() {
    let w = World::new().unwrap();
    let s = session(&w);
    let script = b"#!/bin/sh
echo \"root=$WUA_TARGET_ROOT id=$WUA_UPDATE_ID rev=$WUA_REVISION op=$WUA_OPERATION\"
echo \"cwd=$(pwd)\"
cat data/payload.txt
test -x tools/helper || exit 9
read line && exit 8
echo to-stderr >&2
mkdir -p \"$WUA_TARGET_ROOT/opt/cmd\" && echo ran > \"$WUA_TARGET_ROOT/opt/cmd/marker\"
";
    let handler = format!("program = \"run.sh\"\n{RETURN_CODES}\n");
    let files: &[(&str, u32, &[u8])] =
        &[("run.sh", 0o755, script), ("data/payload.txt", 0o644, b"payload bytes\n"), ("tools/helper", 0o700, b"x")];
    let u = command_update(&w, &s, 1, &handler, files);
    let r = install(&s, &[&u]);
    assert_eq!(r.update_results[0].hresult, HResult::S_OK, "{}", r.update_results[0].message);
    let h = newest_history(&s);
    let log = std::fs::read_to_string(h.log_path.unwrap()).unwrap();
    let root = w.root.canonicalize().unwrap();
    assert!(log.contains(&format!("root={} id={} rev=1 op=install", root.display(), test_id(1))), "{log}");
    let cwd = log.lines().find_map(|l| l.strip_prefix("cwd=")).unwrap().to_owned();
    assert!(cwd.starts_with(w.state.canonicalize().unwrap().to_str().unwrap()), "{cwd}");
    assert!(!std::path::Path::new(&cwd).exists(), "the working directory is removed afterwards");
    assert!(log.contains("payload bytes") && log.contains("to-stderr"), "{log}");
    assert_eq!(read(&w.root, "opt/cmd/marker"), "ran\n");
}

/// D-13 for commands: a cache entry that does not match its hash fails before anything runs.
#[test]
fn d13_command_content_is_verified() {
    let w = World::new().unwrap();
    let s = session(&w);
    let marker = w.work.join("ran");
    let script = format!("#!/bin/sh\ntouch {}\n", marker.display());
    let handler = format!("program = \"run.sh\"\n{RETURN_CODES}\n");
    let u = command_update(&w, &s, 1, &handler, &[("run.sh", 0o755, script.as_bytes())]);
    let sha = &u.document().content[0].sha256;
    let cached = w.state.join("cache/sha256").join(sha);
    let mut bytes = std::fs::read(&cached).unwrap();
    bytes[0] ^= 1;
    std::fs::write(&cached, bytes).unwrap();
    let r = install(&s, &[&u]);
    assert_eq!((r.update_results[0].result_code, r.hresult), (Orc::Failed, HResult::WU_E_DM_INCORRECTFILEHASH));
    assert!(!marker.exists());
}

/// D-9: a reboot the handler reported (3010) blocks further installs until the machine
/// reboots; `is_forced` overrides it.
#[test]
fn d9_handler_reported_reboot_blocks() {
    let w = World::new().unwrap();
    let s = session(&w);
    let u = exiting(&w, &s, 1, 3010);
    let next = simple(&w, &s, 2, &[("n", 0o644, b"n")]);
    let r = install(&s, &[&u]);
    assert!(r.reboot_required);
    let i = s.create_update_installer();
    assert!(i.reboot_required_before_installation().unwrap());
    assert!(s.system_information().reboot_required().unwrap());
    i.set_updates(coll(&[&next]));
    assert_eq!(i.install().unwrap_err().hresult, HResult::WU_E_INSTALL_NOT_ALLOWED);
    reboot(&w, "boot-2");
    assert!(!i.reboot_required_before_installation().unwrap());
    assert_eq!(i.install().unwrap().result_code, Orc::Succeeded);
}

/// D-16, D-38: uninstall runs the uninstall command (WUA_OPERATION=uninstall); an update
/// without one cannot be uninstalled.
#[test]
fn d16_d38_uninstall_commands() {
    let w = World::new().unwrap();
    let s = session(&w);
    let dir = w.work.join("u");
    let u = holding_update(&w, &s, 1, &dir);
    std::fs::remove_file(dir.join("hold")).unwrap();
    assert_eq!(install(&s, &[&u]).result_code, Orc::Succeeded);
    assert!(!dir.join("undone").exists(), "D-38: the uninstall command runs after an aborted install only");
    let r = uninstall(&s, &[&u]);
    assert_eq!((r.result_code, r.hresult), (Orc::Succeeded, HResult::S_OK));
    assert_eq!(std::fs::read_to_string(dir.join("undone")).unwrap().trim(), "uninstall");
    assert!(!s.find_update(&test_id(1)).unwrap().unwrap().is_installed());

    let plain = exiting(&w, &s, 2, 0);
    assert_eq!(install(&s, &[&plain]).result_code, Orc::Succeeded);
    let r = uninstall(&s, &[&plain]);
    assert_eq!((r.result_code, r.hresult), (Orc::Failed, HResult::WU_E_UH_DOESNOTSUPPORTACTION));
    assert!(s.find_update(&test_id(2)).unwrap().unwrap().is_installed());
}

/// A program that, on SIGTERM, records `term` in `<dir>/signals`, carries on for `$2` seconds,
/// records `done` and exits 42. It writes its pid into `<dir>/pid` once its trap is set.
const TRAPPING: &[u8] = b"#!/bin/sh
d=\"$1\"
trap 'echo term >> \"$d/signals\"; sleep \"$2\"; echo done >> \"$d/signals\"; exit 42' TERM
echo $$ > \"$d/pid.tmp\" && mv \"$d/pid.tmp\" \"$d/pid\"
while :; do sleep 0.05; done
";

/// How the agent comes to end the program.
#[derive(Clone, Copy, Debug)]
enum Ending {
    /// `request_abort` once the program's trap is set.
    Abort,
    /// Its time limit, 2 s.
    TimeLimit,
}

/// What happened to a [`TRAPPING`] program the agent ended.
#[derive(Debug)]
struct Ended {
    result: (Orc, HResult),
    /// The history's raw status: 42 when it left on its own, 128 + 9 when SIGKILL ended it.
    unmapped: i32,
    /// What the program recorded.
    signals: String,
}

/// Installs a [`TRAPPING`] command update whose `[handler]` also holds `handler`, in a session
/// whose `terminate_grace` is `grace`, and ends it as `ending` says; the program carries on
/// for `carry_on` seconds after SIGTERM.
fn end_trapping(grace: Duration, handler: &str, carry_on: u32, ending: Ending) -> Ended {
    let w = World::new().unwrap();
    let s = session_with(&w, |o| o.terminate_grace = grace);
    let dir = w.work.join("trap");
    std::fs::create_dir_all(&dir).unwrap();
    let limit = match ending {
        Ending::Abort => "",
        Ending::TimeLimit => "time_limit_secs = 2\n",
    };
    let table = format!(
        "program = \"trap.sh\"\narguments = [\"{}\", \"{carry_on}\"]\n{limit}{handler}\n{RETURN_CODES}\n",
        dir.display()
    );
    let u = command_update(&w, &s, 1, &table, &[("trap.sh", 0o755, TRAPPING)]);
    let i = s.create_update_installer();
    i.set_updates(coll(&[&u]));
    let job = i.begin_install(None, None, None).unwrap();
    wait_for("the program to set its trap", LONG, || dir.join("pid").exists());
    let pid = read_pid(&dir.join("pid"));
    if let Ending::Abort = ending {
        job.request_abort().unwrap();
    }
    let r = i.end_install_timeout(&job, Duration::from_secs(120)).unwrap();
    assert!(!pid_alive(pid), "the program is gone");
    let one = &r.update_results[0];
    Ended {
        result: (one.result_code, one.hresult),
        unmapped: newest_history(&s).unmapped_result_code,
        signals: std::fs::read_to_string(dir.join("signals")).unwrap_or_default(),
    }
}

const SIGKILLED: i32 = 128 + libc::SIGKILL;
const HUNG: (Orc, HResult) = (Orc::Failed, HResult::WU_E_UH_INSTALLERHUNG);
const ABORTED: (Orc, HResult) = (Orc::Aborted, HResult::WU_E_CALL_CANCELLED);

/// D-23: the session's `terminate_grace` is the time between SIGTERM and SIGKILL for an
/// update whose metadata names none, after an abort and after a time limit: a short grace
/// kills a program that ignores SIGTERM for 60 s; a long one lets a program that needs 2 s
/// after SIGTERM leave on its own.
#[test]
fn d23_terminate_grace_from_the_session() {
    let secs = Duration::from_secs;
    for ending in [Ending::Abort, Ending::TimeLimit] {
        let expected = match ending {
            Ending::Abort => ABORTED,
            Ending::TimeLimit => HUNG,
        };
        let killed = end_trapping(secs(1), "", 60, ending);
        assert_eq!((killed.result, killed.unmapped, killed.signals.as_str()), (expected, SIGKILLED, "term\n"));
        let left = end_trapping(secs(60), "", 2, ending);
        assert_eq!((left.result, left.unmapped, left.signals.as_str()), (expected, 42, "term\ndone\n"));
    }
}

/// D-23: an update's `terminate_grace_secs` wins over the session's, both ways.
#[test]
fn d23_the_updates_terminate_grace_wins() {
    let secs = Duration::from_secs;
    let killed = end_trapping(secs(60), "terminate_grace_secs = 1", 60, Ending::Abort);
    assert_eq!((killed.result, killed.unmapped, killed.signals.as_str()), (ABORTED, SIGKILLED, "term\n"));
    let left = end_trapping(secs(1), "terminate_grace_secs = 60", 2, Ending::TimeLimit);
    assert_eq!((left.result, left.unmapped, left.signals.as_str()), (HUNG, 42, "term\ndone\n"));
    // A grace of 0: SIGKILL right after SIGTERM, whatever the session says.
    let at_once = end_trapping(secs(60), "terminate_grace_secs = 0", 60, Ending::Abort);
    assert_eq!((at_once.result, at_once.unmapped), (ABORTED, SIGKILLED));
}

/// D-23: a session grace over one hour is refused when the session opens.
#[test]
fn d23_a_session_grace_over_an_hour_is_refused() {
    let w = World::new().unwrap();
    let mut o = wua_agent::SessionOptions::new(&w.state, &w.root);
    assert_eq!(o.terminate_grace, Duration::from_secs(2), "the default");
    o.terminate_grace = Duration::from_secs(3601);
    let e = wua_agent::UpdateSession::open(o.clone()).unwrap_err();
    assert_eq!(e.hresult, HResult::E_INVALIDARG, "{e}");
    assert!(e.message.contains("3601"), "{e}");
    o.terminate_grace = Duration::MAX;
    assert_eq!(wua_agent::UpdateSession::open(o.clone()).unwrap_err().hresult, HResult::E_INVALIDARG);
    o.terminate_grace = Duration::from_secs(3600);
    wua_agent::UpdateSession::open(o).unwrap();
}

/// An uninstall acts on the installed revision: given a newer revision's update, it runs the
/// uninstall program of the revision installed.
#[test]
fn an_uninstall_runs_the_installed_revision_s_program() {
    let w = World::new().unwrap();
    let s = session(&w);
    let marker = w.work.join("uninstalled-by");
    let revision = |n: i32| {
        let handler = format!(
            "program = \"exit.sh\"\narguments = [\"0\"]\n{RETURN_CODES}\n\n[handler.uninstall]\nprogram = \"un.sh\"\n\
             arguments = [\"{}\", \"r{n}\"]\nreturn_codes = [{{ code = 0, result = \"Succeeded\" }}]\n",
            marker.display()
        );
        let manifest = command_manifest(&test_id(1), "command 1", &format!("revision = {n}"), &handler);
        let files: &[(&str, u32, &[u8])] =
            &[("exit.sh", 0o755, EXIT_WITH), ("un.sh", 0o755, b"#!/bin/sh\necho \"$2\" > \"$1\"\n")];
        import(&w, &s, &format!("r{n}"), &manifest, files)
    };
    let first = revision(1);
    assert_eq!(install(&s, &[&first]).result_code, Orc::Succeeded);
    let second = revision(2);
    let r = uninstall(&s, &[&second]);
    assert_eq!(r.result_code, Orc::Succeeded, "{r:?}");
    assert_eq!(std::fs::read_to_string(&marker).unwrap(), "r1\n");
}
