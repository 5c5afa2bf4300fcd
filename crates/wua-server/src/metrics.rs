//! `/metrics` in the Prometheus text format: requests and latency by route and status, reports
//! ingested, computers by last-report age and by state, seconds until the timestamp expires.
//! Counters live in memory (they restart at zero with the process, as Prometheus expects).

use std::collections::BTreeMap;
use std::fmt::Write;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use wua_types::lock_unpoisoned;

use crate::store::FleetCounts;

/// Latency bucket bounds, in seconds.
const BUCKETS: [f64; 10] = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1.0, 5.0];

#[derive(Debug, Default)]
struct Histogram {
    counts: [u64; BUCKETS.len()],
    count: u64,
    sum: f64,
}

/// The server's counters.
#[derive(Debug, Default)]
pub struct Metrics {
    requests: Mutex<BTreeMap<(String, String, u16), u64>>,
    latency: Mutex<BTreeMap<String, Histogram>>,
    /// Report events stored (not counting duplicates).
    pub events_accepted: AtomicU64,
    /// Report events recognised as already stored.
    pub events_duplicate: AtomicU64,
}

impl Metrics {
    /// Records one request.
    pub fn record(&self, method: &str, route: &str, status: u16, elapsed: Duration) {
        *lock_unpoisoned(&self.requests).entry((method.to_owned(), route.to_owned(), status)).or_default() += 1;
        let mut latency = lock_unpoisoned(&self.latency);
        let h = latency.entry(route.to_owned()).or_default();
        let s = elapsed.as_secs_f64();
        for (i, b) in BUCKETS.iter().enumerate() {
            if s <= *b {
                h.counts[i] += 1;
            }
        }
        h.count += 1;
        h.sum += s;
    }

    /// The text exposition.
    pub fn render(&self, fleet: &FleetCounts, timestamp_expires_in: Option<i64>) -> String {
        let mut out = String::new();
        let _ = writeln!(out, "# HELP wua_http_requests_total Requests answered, by method, route and status.");
        let _ = writeln!(out, "# TYPE wua_http_requests_total counter");
        for ((method, route, status), n) in lock_unpoisoned(&self.requests).iter() {
            let _ = writeln!(
                out,
                "wua_http_requests_total{{method=\"{method}\",route=\"{route}\",status=\"{status}\"}} {n}"
            );
        }
        let _ = writeln!(out, "# HELP wua_http_request_duration_seconds Request latency by route.");
        let _ = writeln!(out, "# TYPE wua_http_request_duration_seconds histogram");
        for (route, h) in lock_unpoisoned(&self.latency).iter() {
            for (i, b) in BUCKETS.iter().enumerate() {
                let _ = writeln!(
                    out,
                    "wua_http_request_duration_seconds_bucket{{route=\"{route}\",le=\"{b}\"}} {}",
                    h.counts[i]
                );
            }
            let _ =
                writeln!(out, "wua_http_request_duration_seconds_bucket{{route=\"{route}\",le=\"+Inf\"}} {}", h.count);
            let _ = writeln!(out, "wua_http_request_duration_seconds_sum{{route=\"{route}\"}} {}", h.sum);
            let _ = writeln!(out, "wua_http_request_duration_seconds_count{{route=\"{route}\"}} {}", h.count);
        }
        let _ = writeln!(out, "# HELP wua_report_events_total Report events received, stored or duplicate.");
        let _ = writeln!(out, "# TYPE wua_report_events_total counter");
        let _ = writeln!(
            out,
            "wua_report_events_total{{result=\"accepted\"}} {}",
            self.events_accepted.load(Ordering::Relaxed)
        );
        let _ = writeln!(
            out,
            "wua_report_events_total{{result=\"duplicate\"}} {}",
            self.events_duplicate.load(Ordering::Relaxed)
        );
        let _ = writeln!(out, "# HELP wua_computers Registered computers, by state.");
        let _ = writeln!(out, "# TYPE wua_computers gauge");
        let _ = writeln!(out, "wua_computers{{state=\"all\"}} {}", fleet.computers);
        let _ = writeln!(out, "wua_computers{{state=\"needing_updates\"}} {}", fleet.needing);
        let _ = writeln!(out, "wua_computers{{state=\"failed_updates\"}} {}", fleet.failing);
        let _ = writeln!(out, "wua_computers{{state=\"pending_reboot\"}} {}", fleet.pending_reboot);
        let _ = writeln!(
            out,
            "# HELP wua_computers_by_report_age Computers whose last report is at most `le` seconds old (cumulative); le=\"never\" have not reported."
        );
        let _ = writeln!(out, "# TYPE wua_computers_by_report_age gauge");
        for (bound, n) in &fleet.by_report_age {
            let le = match bound {
                None => "never".to_owned(),
                Some(u64::MAX) => "+Inf".to_owned(),
                Some(b) => b.to_string(),
            };
            let _ = writeln!(out, "wua_computers_by_report_age{{le=\"{le}\"}} {n}");
        }
        if let Some(s) = timestamp_expires_in {
            let _ = writeln!(
                out,
                "# HELP wua_timestamp_expires_in_seconds Seconds until the repository's timestamp expires."
            );
            let _ = writeln!(out, "# TYPE wua_timestamp_expires_in_seconds gauge");
            let _ = writeln!(out, "wua_timestamp_expires_in_seconds {s}");
        }
        out
    }
}
