//! Crash points: a step counter compiled in only with the `crash-points` feature, for
//! crash-safety tests. Each call counts one step; when the count reaches `WUA_CRASH_AT_STEP`,
//! the process kills itself with SIGKILL (no destructors, no flushing: as close to a power cut
//! as a process can get without losing the page cache). `WUA_CRASH_LOG=FILE` appends
//! `step label` lines so a harness can enumerate the steps. `WUA_PAUSE_AT_STEP=N` with
//! `WUA_PAUSE_FILE=F` instead holds the process at step N: it creates F and waits until F is
//! removed (a test can then look at a live operation). `WUA_PANIC_AT_STEP=N` panics at step N
//! instead: a bug's panic in a job's worker, which must still end the job.

/// Counts a step named `label` and dies here if told to.
#[cfg(feature = "crash-points")]
pub fn crash_point(label: &str) {
    use std::io::Write;
    use std::sync::OnceLock;
    use std::sync::atomic::{AtomicU64, Ordering};

    static STEP: AtomicU64 = AtomicU64::new(0);
    static AT: OnceLock<Option<u64>> = OnceLock::new();
    static PAUSE: OnceLock<Option<u64>> = OnceLock::new();
    static PANIC: OnceLock<Option<u64>> = OnceLock::new();
    let step = STEP.fetch_add(1, Ordering::SeqCst) + 1;
    if let Some(log) = std::env::var_os("WUA_CRASH_LOG") {
        if let Ok(mut f) = std::fs::OpenOptions::new().create(true).append(true).open(log) {
            let _ = writeln!(f, "{step} {label}");
        }
    }
    let at = AT.get_or_init(|| std::env::var("WUA_CRASH_AT_STEP").ok().and_then(|v| v.parse().ok()));
    let pause = PAUSE.get_or_init(|| std::env::var("WUA_PAUSE_AT_STEP").ok().and_then(|v| v.parse().ok()));
    let panic_at = PANIC.get_or_init(|| std::env::var("WUA_PANIC_AT_STEP").ok().and_then(|v| v.parse().ok()));
    if *panic_at == Some(step) {
        panic!("a panic injected at step {step} ({label}) by WUA_PANIC_AT_STEP");
    }
    if *pause == Some(step) {
        if let Some(file) = std::env::var_os("WUA_PAUSE_FILE") {
            let _ = std::fs::write(&file, format!("{step} {label}\n"));
            while std::path::Path::new(&file).exists() {
                std::thread::sleep(std::time::Duration::from_millis(10));
            }
        }
    }
    if *at == Some(step) {
        // SAFETY: kill(2) with our own pid has no memory-safety preconditions.
        unsafe {
            libc::kill(libc::getpid(), libc::SIGKILL);
        }
    }
}

/// Without the `crash-points` feature a crash point is nothing.
#[cfg(not(feature = "crash-points"))]
#[inline(always)]
pub fn crash_point(_label: &str) {}
