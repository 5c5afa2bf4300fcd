//! What a handler reports to the job running it, and what it asks of it (D-20, D-23).

/// The job's side of one update's operation.
pub trait Monitor {
    /// The current update's progress, 0 to 100. Handlers call it whenever it moves; the job
    /// decides which moves become callbacks (D-20).
    fn progress(&mut self, percent: u32);

    /// True once an abort was requested (D-23). Handlers ask at their safe points: between
    /// staged files, before a commit, and while a program runs.
    fn abort_requested(&self) -> bool;
}

/// A monitor for callers without a job: no progress, never aborted.
#[derive(Clone, Copy, Debug, Default)]
pub struct Unmonitored;

impl Monitor for Unmonitored {
    fn progress(&mut self, _percent: u32) {}

    fn abort_requested(&self) -> bool {
        false
    }
}
