//! The bounds of one fetching session.

use std::time::Duration;

/// The bounds of one fetching session (one [`crate::Fetcher`]).
///
/// How the defaults were chosen, from `wua-bench repo --updates 100000` (release build,
/// loopback): a cold sync of the 100,000-update catalog fetches 98 MB (101 packs of up to
/// 4 MiB) in 5.0 s, a refresh after 1% changed fetches 1.0 MB. A healthy server is far inside
/// every bound; the bounds turn a stalled or dripping server into a named failure in seconds
/// to minutes instead of never. The total deadline (1,800 s) lets that cold sync finish over a
/// link of 55 KB/s (under 0.5 Mbit/s); a slower link needs a longer one. The minimum rate (4 KiB/s
/// averaged over 10 s) is far below any working link, yet a server sending a byte a second
/// fails at the first window. A connect time-out of 10 s is what browsers and curl users meet
/// on an unreachable host; three retries with backoff from 200 ms (waits of 100-200, 200-400 and
/// 400-800 ms: each drawn from the upper half of the doubling base, so agents that failed
/// together do not come back in step) ride out a restarting server or a load balancer's brief
/// 503 without hiding a dead one.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FetchLimits {
    /// Everything fetched through one fetcher, retries included, ends by then (default 1,800 s).
    pub total_deadline: Duration,
    /// A body (or the wait for a response) slower than this, averaged over `min_rate_window`,
    /// fails (default 4 KiB/s).
    pub min_rate_bytes_per_sec: u64,
    /// The window the minimum rate is averaged over (default 10 s).
    pub min_rate_window: Duration,
    /// The longest wait for a TCP and TLS connection (default 10 s).
    pub connect_timeout: Duration,
    /// How many times a transport failure is retried (default 3).
    pub retries: u32,
    /// The base of the wait before the first retry, doubled before each next one (capped at
    /// 60 s); each wait is drawn at random from the upper half of its base (default 200 ms).
    pub first_backoff: Duration,
}

impl Default for FetchLimits {
    fn default() -> Self {
        FetchLimits {
            total_deadline: Duration::from_secs(1800),
            min_rate_bytes_per_sec: 4 * 1024,
            min_rate_window: Duration::from_secs(10),
            connect_timeout: Duration::from_secs(10),
            retries: 3,
            first_backoff: Duration::from_millis(200),
        }
    }
}

impl FetchLimits {
    /// The bytes that must arrive in one window.
    pub(crate) fn min_bytes_per_window(&self) -> u64 {
        let bytes = self.min_rate_bytes_per_sec as f64 * self.min_rate_window.as_secs_f64();
        bytes.ceil() as u64
    }

    /// The window, never zero (a zero window would fail every transfer at once).
    pub(crate) fn window(&self) -> Duration {
        self.min_rate_window.max(Duration::from_millis(1))
    }
}
