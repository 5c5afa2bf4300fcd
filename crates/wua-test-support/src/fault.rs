//! A fault-injection layer for HTTP tests, and a real server on `127.0.0.1:0` that wears it.
//!
//! [`with_faults`] wraps any router (normally `wua_trust::static_repo::router`) in a middleware
//! that looks up each request's path in a [`Faults`] table: a matching rule [`Fault::Stall`]s
//! (accepts, then sends nothing), [`Fault::Drip`]s the real body a byte at a time, answers a
//! [`Fault::Status`], or [`Fault::HideLength`]s (the real body, chunked, without
//! `Content-Length`); a request no rule matches passes through. A rule can apply to its next
//! `n` requests only (a 500 then the file). [`FaultServer::start`] serves such a router on a
//! real socket and hands back its URL and the table, which can be changed while it runs.
//!
//! Bounded: dropping the [`FaultServer`] ends stalls and drips at once and shuts the server
//! down; nothing waits longer than the test that started it.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use axum::Router;
use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use futures::StreamExt;
use tokio::sync::watch;

/// What a rule does to a matching request.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Fault {
    /// Accept the request, then send nothing (until the server is dropped).
    Stall,
    /// Send the real response's body one byte at a time, `bytes_per_sec` bytes a second.
    Drip {
        /// The rate.
        bytes_per_sec: u64,
    },
    /// Answer with this status and an empty body.
    Status(u16),
    /// Send the real body without `Content-Length` (chunked), so only its bytes tell its length.
    HideLength,
}

/// One rule: requests whose path matches `pattern` get `fault`, `times` times (or always).
#[derive(Clone, Debug)]
struct Rule {
    pattern: String,
    fault: Fault,
    times: Option<u32>,
}

/// The fault table of a server, shared with its middleware; clones share it.
#[derive(Clone, Debug)]
pub struct Faults {
    inner: Arc<Mutex<Table>>,
    stop: watch::Receiver<bool>,
}

#[derive(Debug, Default)]
struct Table {
    rules: Vec<Rule>,
    requests: Vec<String>,
}

impl Faults {
    fn new(stop: watch::Receiver<bool>) -> Faults {
        Faults { inner: Arc::new(Mutex::new(Table::default())), stop }
    }

    fn table(&self) -> std::sync::MutexGuard<'_, Table> {
        self.inner.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Every request whose path matches `pattern` gets `fault` from now on. A pattern is a path
    /// (`/metadata/timestamp.json`) in which `*` stands for any run of characters
    /// (`/targets/*`, `*.json`). The first matching rule wins.
    pub fn set(&self, pattern: &str, fault: Fault) {
        self.table().rules.push(Rule { pattern: pattern.into(), fault, times: None });
    }

    /// The next `times` requests whose path matches `pattern` get `fault`; later ones pass.
    pub fn set_times(&self, pattern: &str, fault: Fault, times: u32) {
        self.table().rules.push(Rule { pattern: pattern.into(), fault, times: Some(times) });
    }

    /// Removes every rule: everything passes through.
    pub fn clear(&self) {
        self.table().rules.clear();
    }

    /// The paths requested so far, in order.
    pub fn requests(&self) -> Vec<String> {
        self.table().requests.clone()
    }

    /// How many requests so far had a path matching `pattern`.
    pub fn hits(&self, pattern: &str) -> usize {
        self.table().requests.iter().filter(|p| matches(pattern, p)).count()
    }

    /// Records `path` and takes the fault for it, if a rule matches.
    fn take(&self, path: &str) -> Option<Fault> {
        let mut table = self.table();
        table.requests.push(path.to_owned());
        let rule = table.rules.iter_mut().find(|r| r.times != Some(0) && matches(&r.pattern, path))?;
        if let Some(n) = rule.times.as_mut() {
            *n -= 1;
        }
        Some(rule.fault)
    }
}

/// Whether `path` matches `pattern`, where `*` stands for any run of characters.
fn matches(pattern: &str, path: &str) -> bool {
    let mut parts = pattern.split('*');
    let first = parts.next().unwrap_or("");
    let Some(mut rest) = path.strip_prefix(first) else { return false };
    let parts: Vec<&str> = parts.collect();
    let Some((last, middle)) = parts.split_last() else { return rest.is_empty() };
    for part in middle {
        match rest.find(part) {
            Some(i) => rest = &rest[i + part.len()..],
            None => return false,
        }
    }
    rest.len() >= last.len() && rest.ends_with(last)
}

/// `router` with the fault layer of `faults` around it.
pub fn with_faults(router: Router, faults: Faults) -> Router {
    router.layer(axum::middleware::from_fn_with_state(faults, inject))
}

async fn inject(State(faults): State<Faults>, request: Request, next: Next) -> Response {
    let Some(fault) = faults.take(request.uri().path()) else { return next.run(request).await };
    let mut stop = faults.stop.clone();
    match fault {
        Fault::Stall => {
            // Until the server is dropped; then the connection closes with nothing sent.
            let _ = stop.wait_for(|stopped| *stopped).await;
            StatusCode::SERVICE_UNAVAILABLE.into_response()
        }
        Fault::Status(code) => StatusCode::from_u16(code).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR).into_response(),
        Fault::HideLength => {
            let (mut parts, body) = next.run(request).await.into_parts();
            parts.headers.remove(header::CONTENT_LENGTH);
            Response::from_parts(parts, Body::from_stream(body.into_data_stream()))
        }
        Fault::Drip { bytes_per_sec } => {
            let (parts, body) = next.run(request).await.into_parts();
            let pause = Duration::from_secs_f64(1.0 / bytes_per_sec.max(1) as f64);
            let bytes = body.into_data_stream().flat_map(|chunk| {
                let bytes: Vec<Result<axum::body::Bytes, axum::Error>> = match chunk {
                    Ok(c) => (0..c.len()).map(|i| Ok(c.slice(i..i + 1))).collect(),
                    Err(e) => vec![Err(e)],
                };
                futures::stream::iter(bytes)
            });
            let dripped = bytes
                .then(move |b| async move {
                    tokio::time::sleep(pause).await;
                    b
                })
                .take_until(async move {
                    let _ = stop.wait_for(|stopped| *stopped).await;
                });
            Response::from_parts(parts, Body::from_stream(dripped))
        }
    }
}

/// A real HTTP server on `127.0.0.1:0` serving a router through the fault layer. Dropping it
/// ends stalls and drips and shuts the server down.
#[derive(Debug)]
pub struct FaultServer {
    /// The server's base URL, `http://127.0.0.1:PORT/`.
    pub url: String,
    /// The address it listens on.
    pub addr: SocketAddr,
    faults: Faults,
    stop: watch::Sender<bool>,
}

impl FaultServer {
    /// Starts serving `router` from the current tokio runtime.
    pub async fn start(router: Router) -> std::io::Result<FaultServer> {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        let addr = listener.local_addr()?;
        let (stop, stopped) = watch::channel(false);
        let faults = Faults::new(stopped.clone());
        let app = with_faults(router, faults.clone());
        let mut shutdown = stopped;
        tokio::spawn(async move {
            let _ = axum::serve(listener, app)
                .with_graceful_shutdown(async move {
                    let _ = shutdown.wait_for(|stopped| *stopped).await;
                })
                .await;
        });
        Ok(FaultServer { url: format!("http://{addr}/"), addr, faults, stop })
    }

    /// The fault table, to change while the server runs.
    pub fn faults(&self) -> &Faults {
        &self.faults
    }
}

impl Drop for FaultServer {
    fn drop(&mut self) {
        let _ = self.stop.send(true);
    }
}

#[cfg(test)]
mod tests {
    use super::matches;

    #[test]
    fn patterns() {
        assert!(matches("/a/b.json", "/a/b.json"));
        assert!(!matches("/a/b.json", "/a/b.jsonx"));
        assert!(matches("/targets/*", "/targets/x"));
        assert!(matches("*.json", "/metadata/1.root.json"));
        assert!(matches("/m*/*.root.json", "/metadata/2.root.json"));
        assert!(!matches("*.json", "/blob"));
        assert!(matches("*", "/anything"));
        assert!(!matches("/a*a", "/a"));
    }
}
