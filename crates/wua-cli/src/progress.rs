//! How the CLI shows a job's progress on stderr: bars on a terminal (kept on screen when done),
//! one plain line per update started and finished without one (a pipe, the systemd journal;
//! byte counts at most every 10 seconds, no control characters), nothing under `--json` or
//! `--quiet`.

use std::io::{IsTerminal, Write};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle};
use wua_agent::wua_types::{HResult, OperationResultCode, lock_unpoisoned};

use crate::Cli;

/// How often a plain-line display may report bytes.
pub(crate) const LINE_INTERVAL: Duration = Duration::from_secs(10);

/// The bars on screen now, so a message (Ctrl-C's acknowledgement) prints above them instead
/// of through them.
static ACTIVE: Mutex<Option<MultiProgress>> = Mutex::new(None);

/// Prints `message` on stderr, above the bars when some are on screen.
pub(crate) fn announce(message: &str) {
    match lock_unpoisoned(&ACTIVE).as_ref() {
        Some(multi) => {
            let _ = multi.println(message);
        }
        None => eprintln!("{message}"),
    }
}

/// A moment, from the clock a display runs on (tests inject their own).
pub(crate) trait Clock: Send {
    /// Now.
    fn now(&self) -> Instant;
}

/// The system's monotonic clock.
pub(crate) struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> Instant {
        Instant::now()
    }
}

/// What a job reports, whatever its kind.
#[derive(Clone, Debug, Default)]
pub(crate) struct Snapshot {
    /// The update being worked on.
    pub index: usize,
    /// The whole job, 0..=100.
    pub percent: i32,
    /// The current update, 0..=100.
    pub current_percent: i32,
    /// Bytes done and to do in all (downloads, imports).
    pub bytes: Option<(u64, u64)>,
    /// Each update's outcome once it has one.
    pub finished: Vec<Option<Outcome>>,
}

/// An update's outcome as the display shows it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Outcome {
    pub result: OperationResultCode,
    pub hresult: HResult,
    pub reboot_required: bool,
}

impl Outcome {
    /// The outcome of a result code, unless the update is not done yet.
    pub(crate) fn of(result: OperationResultCode, hresult: HResult, reboot_required: bool) -> Option<Outcome> {
        match result {
            OperationResultCode::NotStarted | OperationResultCode::InProgress => None,
            _ => Some(Outcome { result, hresult, reboot_required }),
        }
    }
}

/// A job's display.
pub(crate) struct Display {
    kind: Kind,
}

/// Plain lines to stderr on the system clock.
type StderrLines = Mutex<Lines<Box<dyn Write + Send>, Box<dyn Clock>>>;

enum Kind {
    Silent,
    Bars(Bars),
    Lines(StderrLines),
}

impl Display {
    /// The display `cli` and stderr call for; `verb` is what the job does ("install",
    /// "download", "import"), `titles` its updates in order.
    pub(crate) fn new(cli: &Cli, verb: &'static str, titles: Vec<String>, with_bytes: bool) -> Display {
        let kind = if cli.json || cli.quiet {
            Kind::Silent
        } else if std::io::stderr().is_terminal() {
            Kind::Bars(Bars::new(verb, &titles, with_bytes))
        } else {
            let out: Box<dyn Write + Send> = Box::new(std::io::stderr());
            Kind::Lines(Mutex::new(Lines::new(out, Box::new(SystemClock), verb, titles)))
        };
        Display { kind }
    }

    /// Shows `snapshot`.
    pub(crate) fn show(&self, snapshot: &Snapshot) {
        match &self.kind {
            Kind::Silent => {}
            Kind::Bars(bars) => bars.show(snapshot),
            Kind::Lines(lines) => lines_show(lines, snapshot),
        }
    }

    /// The job ended: bars stay on screen with their last frame, unless it was `aborted`
    /// (then they go, so no stale bar stays under the abort's messages).
    pub(crate) fn finish(&self, last: &Snapshot, aborted: bool) {
        match &self.kind {
            Kind::Silent => {}
            Kind::Bars(bars) => bars.finish(last, aborted),
            Kind::Lines(lines) => lines_show(lines, last),
        }
    }
}

fn lines_show(lines: &StderrLines, snapshot: &Snapshot) {
    lock_unpoisoned(lines).show(snapshot);
}

impl Clock for Box<dyn Clock> {
    fn now(&self) -> Instant {
        (**self).now()
    }
}

/// Plain lines: each update's start and end once, bytes at most every [`LINE_INTERVAL`].
pub(crate) struct Lines<W: Write, C: Clock> {
    out: W,
    clock: C,
    verb: &'static str,
    titles: Vec<String>,
    started: Vec<bool>,
    ended: Vec<bool>,
    last_bytes: Option<Instant>,
    first: Option<Instant>,
}

impl<W: Write, C: Clock> Lines<W, C> {
    pub(crate) fn new(out: W, clock: C, verb: &'static str, titles: Vec<String>) -> Self {
        let n = titles.len();
        Lines {
            out,
            clock,
            verb,
            titles,
            started: vec![false; n],
            ended: vec![false; n],
            last_bytes: None,
            first: None,
        }
    }

    pub(crate) fn show(&mut self, s: &Snapshot) {
        let now = self.clock.now();
        let first = *self.first.get_or_insert(now);
        let n = self.titles.len();
        // Ends first: an update that finished before the next one started reads in order.
        for (i, outcome) in s.finished.iter().enumerate().take(n) {
            if let Some(o) = outcome {
                if !self.started[i] {
                    self.start(i);
                }
                if !self.ended[i] {
                    self.ended[i] = true;
                    let reboot = if o.reboot_required { ", reboot required" } else { "" };
                    let _ = writeln!(
                        self.out,
                        "wua: {} {}/{n} finished: {}: {} ({}){reboot}",
                        self.verb,
                        i + 1,
                        self.titles[i],
                        o.result,
                        o.hresult.name_or_hex()
                    );
                }
            }
        }
        if s.index < n && !self.started[s.index] && !self.ended[s.index] {
            self.start(s.index);
        }
        if let Some((done, total)) = s.bytes {
            let due = self.last_bytes.is_none_or(|last| now.duration_since(last) >= LINE_INTERVAL);
            // The first report waits an interval too: a small download needs no byte line.
            let waited = now.duration_since(first) >= LINE_INTERVAL;
            if due && waited && done < total {
                self.last_bytes = Some(now);
                let secs = now.duration_since(first).as_secs_f64().max(0.001);
                let _ = writeln!(
                    self.out,
                    "wua: {}: {} of {} ({}%), {}/s",
                    self.verb,
                    human_bytes(done),
                    human_bytes(total),
                    (done.saturating_mul(100)).checked_div(total).unwrap_or(0),
                    human_bytes((done as f64 / secs) as u64)
                );
            }
        }
        let _ = self.out.flush();
    }

    fn start(&mut self, i: usize) {
        self.started[i] = true;
        let n = self.titles.len();
        let _ = writeln!(self.out, "wua: {} {}/{n} started: {}", self.verb, i + 1, self.titles[i]);
    }
}

/// `1.5 MiB`.
pub(crate) fn human_bytes(n: u64) -> String {
    const UNITS: &[&str] = &["B", "KiB", "MiB", "GiB", "TiB"];
    let mut value = n as f64;
    let mut unit = 0;
    while value >= 1024.0 && unit + 1 < UNITS.len() {
        value /= 1024.0;
        unit += 1;
    }
    if unit == 0 { format!("{n} B") } else { format!("{value:.1} {}", UNITS[unit]) }
}

/// Bars on a terminal: the whole job and, with more than one update, the current one.
struct Bars {
    multi: MultiProgress,
    overall: ProgressBar,
    current: Option<ProgressBar>,
    titles: Vec<String>,
    with_bytes: bool,
}

impl Bars {
    fn new(verb: &'static str, titles: &[String], with_bytes: bool) -> Bars {
        let multi = MultiProgress::with_draw_target(ProgressDrawTarget::stderr());
        let template = if with_bytes {
            "{prefix:>10} [{bar:30}] {bytes}/{total_bytes} {binary_bytes_per_sec} eta {eta} {msg}"
        } else {
            "{prefix:>10} [{bar:30}] {percent:>3}% {elapsed} eta {eta} {msg}"
        };
        let style = |t: &str| {
            ProgressStyle::with_template(t).unwrap_or_else(|_| ProgressStyle::default_bar()).progress_chars("=> ")
        };
        let length = if with_bytes { 0 } else { 100 };
        let overall = multi.add(ProgressBar::new(length).with_style(style(template)));
        overall.set_prefix(verb);
        let current = (titles.len() > 1).then(|| {
            let bar = multi
                .add(ProgressBar::new(100).with_style(style("{spinner} {prefix:>8} [{bar:30}] {percent:>3}% {msg}")));
            bar.set_prefix("update");
            // A program reports no percentage: the tick shows the job is alive meanwhile.
            bar.enable_steady_tick(Duration::from_millis(200));
            bar
        });
        if current.is_none() {
            overall.set_message(titles.first().cloned().unwrap_or_default());
            overall.enable_steady_tick(Duration::from_millis(200));
        }
        *lock_unpoisoned(&ACTIVE) = Some(multi.clone());
        Bars { multi, overall, current, titles: titles.to_vec(), with_bytes }
    }

    fn show(&self, s: &Snapshot) {
        match (self.with_bytes, s.bytes) {
            (true, Some((done, total))) => {
                self.overall.set_length(total);
                self.overall.set_position(done.min(total));
            }
            _ => self.overall.set_position(s.percent.clamp(0, 100) as u64),
        }
        let n = self.titles.len();
        let done = s.finished.iter().filter(|o| o.is_some()).count();
        let title = self.titles.get(s.index).map(String::as_str).unwrap_or("");
        match &self.current {
            Some(current) => {
                self.overall.set_message(format!("{done}/{n} updates done"));
                current.set_position(s.current_percent.clamp(0, 100) as u64);
                current.set_message(format!("{}/{n} {title}", (s.index + 1).min(n)));
            }
            None => self.overall.set_message(title.to_owned()),
        }
    }

    fn finish(&self, last: &Snapshot, aborted: bool) {
        *lock_unpoisoned(&ACTIVE) = None;
        if aborted {
            if let Some(current) = &self.current {
                current.finish_and_clear();
            }
            self.overall.finish_and_clear();
            let _ = self.multi.clear();
            return;
        }
        self.show(last);
        let n = self.titles.len();
        let failed = last
            .finished
            .iter()
            .flatten()
            .filter(|o| !matches!(o.result, OperationResultCode::Succeeded | OperationResultCode::SucceededWithErrors))
            .count();
        let summary = match failed {
            0 => format!("{n} of {n} done"),
            f => format!("{} of {n} done, {f} failed", n - f),
        };
        if let Some(current) = &self.current {
            current.set_position(100);
            current.finish();
        }
        if !self.with_bytes {
            self.overall.set_position(100);
        }
        self.overall.finish_with_message(if self.current.is_some() {
            summary
        } else {
            format!("{} ({summary})", self.titles.first().cloned().unwrap_or_default())
        });
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicU64, Ordering};

    use super::*;

    /// A clock the test moves.
    #[derive(Clone)]
    struct FakeClock {
        start: Instant,
        offset_ms: Arc<AtomicU64>,
    }

    impl FakeClock {
        fn advance(&self, d: Duration) {
            self.offset_ms.fetch_add(d.as_millis() as u64, Ordering::SeqCst);
        }
    }

    impl Clock for FakeClock {
        fn now(&self) -> Instant {
            self.start + Duration::from_millis(self.offset_ms.load(Ordering::SeqCst))
        }
    }

    fn done() -> Option<Outcome> {
        Outcome::of(OperationResultCode::Succeeded, HResult::S_OK, false)
    }

    #[test]
    fn one_line_per_update_started_and_finished_and_bytes_at_most_every_ten_seconds() {
        let clock = FakeClock { start: Instant::now(), offset_ms: Arc::default() };
        let mut out = Vec::new();
        {
            let mut lines = Lines::new(&mut out, clock.clone(), "download", vec!["a".into(), "b".into()]);
            let mut s = Snapshot { bytes: Some((0, 1000)), finished: vec![None, None], ..Snapshot::default() };
            // Many callbacks within one interval: one start line, no byte line yet.
            for done in (0..500).step_by(10) {
                s.bytes = Some((done, 1000));
                lines.show(&s);
                clock.advance(Duration::from_millis(150));
            }
            clock.advance(Duration::from_secs(3));
            lines.show(&s);
            // 10.5 s in: the first byte line; 9 s later none; 10 s later the second.
            clock.advance(Duration::from_secs(9));
            lines.show(&s);
            clock.advance(Duration::from_secs(1));
            lines.show(&s);
            s.finished[0] = done();
            s.index = 1;
            s.bytes = Some((600, 1000));
            lines.show(&s);
            lines.show(&s);
            s.finished[1] = done();
            s.bytes = Some((1000, 1000));
            lines.show(&s);
        }
        let text = String::from_utf8(out).unwrap();
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(
            lines,
            [
                "wua: download 1/2 started: a",
                "wua: download: 490 B of 1000 B (49%), 46 B/s",
                "wua: download: 490 B of 1000 B (49%), 23 B/s",
                "wua: download 1/2 finished: a: Succeeded (S_OK)",
                "wua: download 2/2 started: b",
                "wua: download 2/2 finished: b: Succeeded (S_OK)",
            ],
            "{text}"
        );
        assert!(!text.chars().any(|c| c.is_control() && c != '\n'), "no control characters: {text:?}");
    }

    #[test]
    fn bytes_every_ten_seconds_of_the_injected_clock() {
        let clock = FakeClock { start: Instant::now(), offset_ms: Arc::default() };
        let mut out = Vec::new();
        {
            let mut lines = Lines::new(&mut out, clock.clone(), "download", vec!["big".into()]);
            let mut s = Snapshot { bytes: Some((0, 1 << 30)), finished: vec![None], ..Snapshot::default() };
            // One callback a second for 60 s: a byte line at 10, 20, ... 60 s.
            for second in 0..=60u64 {
                s.bytes = Some((second << 20, 1 << 30));
                lines.show(&s);
                clock.advance(Duration::from_secs(1));
            }
        }
        let text = String::from_utf8(out).unwrap();
        assert_eq!(text.lines().filter(|l| l.contains(" of ")).count(), 6, "{text}");
    }

    #[test]
    fn a_failure_and_a_reboot_read_in_the_line() {
        let clock = FakeClock { start: Instant::now(), offset_ms: Arc::default() };
        let mut out = Vec::new();
        {
            let mut lines = Lines::new(&mut out, clock, "install", vec!["x".into(), "y".into()]);
            lines.show(&Snapshot {
                index: 1,
                finished: vec![
                    Outcome::of(OperationResultCode::Failed, HResult::WU_E_INSTALL_NOT_ALLOWED, false),
                    Outcome::of(OperationResultCode::Succeeded, HResult::S_OK, true),
                ],
                ..Snapshot::default()
            });
        }
        let text = String::from_utf8(out).unwrap();
        assert!(text.contains("install 1/2 finished: x: Failed (WU_E_INSTALL_NOT_ALLOWED)"), "{text}");
        assert!(text.contains("install 2/2 finished: y: Succeeded (S_OK), reboot required"), "{text}");
        assert_eq!(text.lines().filter(|l| l.contains("started")).count(), 2, "{text}");
    }

    #[test]
    fn human_bytes_reads_right() {
        assert_eq!(human_bytes(0), "0 B");
        assert_eq!(human_bytes(1536), "1.5 KiB");
        assert_eq!(human_bytes(5 << 30), "5.0 GiB");
    }
}
