//! Process groups of `command` programs, read from `/proc` (D-38).
//!
//! A program runs as the leader of a process group of its own. Its pid and start time (clock
//! ticks since boot, field 22 of `/proc/<pid>/stat`) identify the group across a crash of the
//! agent: after a reboot or pid reuse, a process with the same id but a later start is someone
//! else's, so only processes of the group that started at or after the leader are killed.

use std::time::{Duration, Instant};

/// How often `kill` and `wait_gone` look at the group again.
const POLL: Duration = Duration::from_millis(20);

/// A process group the agent started: the leader's pid (= the group id) and start time.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct ProcessGroup {
    /// The leader's pid, which is the group id.
    pub pgid: i32,
    /// The leader's start time in clock ticks since boot.
    pub start_ticks: u64,
}

/// The fields of `/proc/<pid>/stat` wua reads.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Stat {
    state: char,
    pgrp: i32,
    start_ticks: u64,
}

fn stat(pid: i32) -> Option<Stat> {
    let text = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The command name (field 2) may hold spaces and parentheses: split after the last ')'.
    let rest = &text[text.rfind(')')? + 1..];
    let fields: Vec<&str> = rest.split_whitespace().collect();
    // `fields[0]` is field 3 (state); field n is `fields[n - 3]`.
    Some(Stat {
        state: fields.first()?.chars().next()?,
        pgrp: fields.get(2)?.parse().ok()?,
        start_ticks: fields.get(19)?.parse().ok()?,
    })
}

/// The start time of a process, if it exists.
pub(crate) fn start_ticks(pid: i32) -> Option<u64> {
    stat(pid).map(|s| s.start_ticks)
}

/// True while `pid` runs (a zombie, dead but not yet reaped, counts as gone).
pub(crate) fn is_running(pid: i32) -> bool {
    stat(pid).is_some_and(|s| s.state != 'Z' && s.state != 'X')
}

/// The groups of the live processes whose environment holds `name=value` (each as the group
/// of that process, from its start on).
pub(crate) fn groups_with_env(name: &str, value: &str) -> Vec<ProcessGroup> {
    let needle = format!("{name}={value}");
    let Ok(dir) = std::fs::read_dir("/proc") else { return vec![] };
    let mut groups = Vec::new();
    for pid in dir.filter_map(|e| e.ok()?.file_name().to_str()?.parse::<i32>().ok()) {
        let Ok(env) = std::fs::read(format!("/proc/{pid}/environ")) else { continue };
        if !env.split(|b| *b == 0).any(|kv| kv == needle.as_bytes()) {
            continue;
        }
        // Only a live process gets here: a zombie's environment cannot be read (ESRCH).
        if let Some(s) = stat(pid) {
            let group = ProcessGroup { pgid: s.pgrp, start_ticks: s.start_ticks };
            if !groups.contains(&group) {
                groups.push(group);
            }
        }
    }
    groups
}

impl ProcessGroup {
    /// The live members of this group (the same group: started at or after the leader).
    pub fn members(&self) -> Vec<i32> {
        let Ok(dir) = std::fs::read_dir("/proc") else { return vec![] };
        dir.filter_map(|e| e.ok()?.file_name().to_str()?.parse::<i32>().ok())
            .filter(|pid| {
                stat(*pid).is_some_and(|s| {
                    s.pgrp == self.pgid && s.start_ticks >= self.start_ticks && s.state != 'Z' && s.state != 'X'
                })
            })
            .collect()
    }

    /// Sends `signal` to every live member; returns the pids signalled.
    pub fn signal(&self, signal: i32) -> Vec<i32> {
        let members = self.members();
        for pid in &members {
            // SAFETY: kill(2) has no memory-safety preconditions.
            unsafe {
                libc::kill(*pid, signal);
            }
        }
        members
    }

    /// Terminates the group: SIGTERM, up to `grace` for it to leave, then [`kill`](Self::kill)
    /// for what is left, up to `kill_wait`. Returns the pids that were running when it began.
    pub fn terminate(&self, grace: Duration, kill_wait: Duration) -> Vec<i32> {
        let first = self.signal(libc::SIGTERM);
        if !self.wait_gone(grace) {
            self.kill(kill_wait);
        }
        first
    }

    /// SIGKILLs every live member until none is left, up to `timeout`; returns the pids
    /// signalled. Rounds, because the members are a snapshot of `/proc`: a process forked
    /// after it is signalled by the next round (SIGKILL is final once sent, so a killed member
    /// soon leaves the list).
    pub fn kill(&self, timeout: Duration) -> Vec<i32> {
        let deadline = Instant::now().checked_add(timeout);
        let mut killed: Vec<i32> = Vec::new();
        loop {
            let round = self.signal(libc::SIGKILL);
            if round.is_empty() {
                return killed;
            }
            for pid in round {
                if !killed.contains(&pid) {
                    killed.push(pid);
                }
            }
            if deadline.is_some_and(|d| Instant::now() >= d) {
                return killed;
            }
            std::thread::sleep(POLL);
        }
    }

    /// Waits up to `timeout` for the group to have no live member, returning as soon as it has
    /// none; true when it has none. A timeout too long for the clock to represent waits until
    /// the group is gone.
    pub fn wait_gone(&self, timeout: Duration) -> bool {
        let deadline = Instant::now().checked_add(timeout);
        loop {
            if self.members().is_empty() {
                return true;
            }
            if deadline.is_some_and(|d| Instant::now() >= d) {
                return false;
            }
            std::thread::sleep(POLL);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_its_own_stat() {
        let me = std::process::id() as i32;
        assert!(is_running(me));
        assert!(start_ticks(me).is_some());
        assert!(!is_running(i32::MAX));
    }

    /// Starts `script` as the leader of a process group of its own.
    fn group_running(script: &str) -> (std::process::Child, ProcessGroup) {
        use std::os::unix::process::CommandExt;
        let child = std::process::Command::new("sh").args(["-c", script]).process_group(0).spawn().unwrap();
        let pgid = child.id() as i32;
        let group = ProcessGroup { pgid, start_ticks: start_ticks(pgid).unwrap() };
        (child, group)
    }

    /// `wait_gone` returns once the group has left, not at its time-out, and says false for a
    /// group still there at the time-out.
    #[test]
    fn d38_waits_for_a_group_to_leave() {
        let (mut child, group) = group_running("sleep 1");
        assert!(group.wait_gone(Duration::from_secs(60)), "the group left after a second");
        child.wait().unwrap();
        // Gone already: no wait, even with a time-out the clock cannot represent (a wait of
        // its own bound here, so that a wrong one fails with this message).
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || tx.send(group.wait_gone(Duration::MAX)));
        assert_eq!(rx.recv_timeout(Duration::from_secs(20)), Ok(true), "a group that left is gone at once");

        let (mut child, group) = group_running("sleep 30");
        assert!(!group.wait_gone(Duration::from_millis(100)), "the group is still running");
        group.terminate(Duration::from_millis(500), Duration::from_secs(10));
        child.wait().unwrap();
    }

    /// D-38: recovery finds a program by its environment: exactly the groups of processes that
    /// hold the variable with that value, never this process's own group.
    #[test]
    fn d38_finds_groups_by_their_environment() {
        use std::os::unix::process::CommandExt;
        let value = format!("op-{}-{:?}", std::process::id(), std::time::SystemTime::now());
        let mut child = std::process::Command::new("sh")
            .args(["-c", "sleep 30"])
            .env("WUA_TEST_GROUP", &value)
            .process_group(0)
            .spawn()
            .unwrap();
        let pgid = child.id() as i32;
        let expected = ProcessGroup { pgid, start_ticks: start_ticks(pgid).unwrap() };
        // Right after exec the kernel may not show the new environment yet: poll, bounded.
        let deadline = Instant::now() + Duration::from_secs(10);
        let mut found = groups_with_env("WUA_TEST_GROUP", &value);
        while found.is_empty() && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(10));
            found = groups_with_env("WUA_TEST_GROUP", &value);
        }
        assert!(found.contains(&expected), "{found:?}");
        // sh and the sleep it may start (which inherits the variable) share the group.
        assert!(found.iter().all(|g| g.pgid == pgid), "{found:?} are not only {pgid}");
        assert!(groups_with_env("WUA_TEST_GROUP", "another value").is_empty());
        expected.terminate(Duration::from_millis(500), Duration::from_secs(10));
        child.wait().unwrap();
        assert!(groups_with_env("WUA_TEST_GROUP", &value).is_empty(), "a group that left is not found");
    }

    /// D-38: a group that ignores SIGTERM and forks all the time is gone when `terminate`
    /// returns: a process forked while a round of SIGKILLs went out is killed by the next.
    #[test]
    fn d38_terminate_leaves_nothing_of_a_forking_group() {
        // Bounded, and killed whatever the test's outcome, so a failure leaves no fork loop.
        let (mut child, group) =
            group_running("trap '' TERM; i=0; while [ $i -lt 3000 ]; do sleep 30 & i=$((i+1)); done; wait");
        struct KillGroupOnDrop(i32);
        impl Drop for KillGroupOnDrop {
            fn drop(&mut self) {
                // SAFETY: killpg(2) has no memory-safety preconditions.
                unsafe { libc::killpg(self.0, libc::SIGKILL) };
            }
        }
        let _guard = KillGroupOnDrop(group.pgid);
        let deadline = Instant::now() + Duration::from_secs(10);
        while group.members().len() < 10 && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(10));
        }
        let signalled = group.terminate(Duration::from_millis(100), Duration::from_secs(30));
        let left = group.members();
        assert!(left.is_empty(), "{} of the group survived its termination: {left:?}", left.len());
        assert!(signalled.contains(&group.pgid), "{signalled:?}");
        child.wait().unwrap();
    }

    /// D-38: a group's members are found and killed; a later start is not the same group.
    #[test]
    fn d38_terminates_a_group() {
        use std::os::unix::process::CommandExt;
        let mut child =
            std::process::Command::new("sh").args(["-c", "sleep 30 & sleep 30"]).process_group(0).spawn().unwrap();
        let pgid = child.id() as i32;
        let start = start_ticks(pgid).unwrap();
        let later = ProcessGroup { pgid, start_ticks: start + 1_000_000_000 };
        assert!(later.members().is_empty(), "a group started later is someone else's");
        // The leader's own start: one tick later and it is not a member (so `start` is its
        // start, not any earlier time).
        let a_tick_later = ProcessGroup { pgid, start_ticks: start + 1 };
        assert!(!a_tick_later.members().contains(&pgid), "the leader started at {start}");
        assert!(ProcessGroup { pgid, start_ticks: start }.members().contains(&pgid));
        let group = ProcessGroup { pgid, start_ticks: start };
        let deadline = Instant::now() + Duration::from_secs(10);
        while group.members().len() < 3 && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(10));
        }
        let pids = group.members();
        assert!(pids.len() >= 2, "{pids:?}");
        let signalled = group.terminate(Duration::from_millis(500), Duration::from_secs(10));
        assert!(pids.iter().all(|p| signalled.contains(p)), "{signalled:?} are not all of {pids:?}");
        assert!(group.wait_gone(Duration::from_secs(10)), "{:?} survived", group.members());
        child.wait().unwrap();
        for pid in pids {
            assert!(!is_running(pid), "{pid} survived");
        }
    }
}
