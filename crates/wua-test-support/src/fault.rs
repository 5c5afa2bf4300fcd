//! A fault-injection layer for HTTP tests, and a real server on `127.0.0.1:0` that wears it.
//!
//! [`with_faults`] wraps any router (normally `wua_trust::static_repo::router`, which answers
//! `Range` with 206, `If-Range` and `ETag`s) in a middleware that looks up each request's path
//! in a [`Faults`] table. A matching rule:
//!
//! - [`Fault::Stall`]s (accepts, then sends nothing) or [`Fault::Drip`]s the real body a byte
//!   at a time;
//! - answers a [`Fault::Status`] with an empty body;
//! - [`Fault::HideLength`]s (the real body, chunked, without `Content-Length`);
//! - [`Fault::CutAfter`] `n` bytes: the real body's first `n` bytes, then the connection breaks;
//! - [`Fault::IgnoreRange`]: the whole file (200) though a range was asked for;
//! - [`Fault::WrongContentRange`]: 206 with a `Content-Range` one byte off the body sent;
//! - [`Fault::FlipByte`]: the real body with one byte of the file inverted;
//! - [`Fault::StatusAfterHandling`]: the handler does its work, then the answer is a status
//!   with an empty body (a server that stored a report and failed to say so).
//!
//! A request no rule matches passes through. A rule can apply to its next `n` requests only
//! (a 500 then the file: [`Faults::set_times`]). Every request is recorded with its `Range`
//! header ([`Faults::seen`], [`Faults::ranges`]). [`FaultServer::start`] serves such a router on
//! a real socket and hands back its URL and the table, which can be changed while it runs;
//! [`FaultServer::start_tls`] serves it over HTTPS with a [`crate::tls::TestCa`]'s certificate.
//! A server run by other means wears the layer through [`with_faults`] and a table made with
//! [`Faults::new`] (the real update server does: [`crate::server`]).
//!
//! Bounded: dropping the [`FaultServer`] ends stalls and drips at once and shuts the server
//! down; nothing waits longer than the test that started it.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use axum::Router;
use axum::body::Body;
use axum::body::Bytes;
use axum::extract::{Request, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use futures::StreamExt;
use tokio::sync::watch;

use crate::tls::TestCa;

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
    /// Send the first `n` bytes of the real body, then (after 50 ms, so the server flushes them)
    /// break the connection: the body fails, the client sees a body cut short of its
    /// `Content-Length`. A body of `n` bytes or fewer passes whole.
    CutAfter(u64),
    /// Serve the whole file (200) even when the request asks for a range: the `Range` and
    /// `If-Range` headers are taken off before the handler sees the request.
    IgnoreRange,
    /// Answer 206 with the real body (of the range asked for, or of the whole file) and a
    /// `Content-Range` that claims it starts one byte later than it does.
    WrongContentRange,
    /// Invert (xor 0xFF) the byte at this offset of the file: counted from the file's start, so
    /// a 206 whose range does not hold it passes unchanged.
    FlipByte(u64),
    /// Let the handler do its work (store what it was sent), then answer with this status and
    /// an empty body instead of the handler's answer.
    StatusAfterHandling(u16),
}

/// A request the server saw.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SeenRequest {
    /// Its path.
    pub path: String,
    /// Its `Range` header, if it had one.
    pub range: Option<String>,
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
    requests: Vec<SeenRequest>,
}

impl Faults {
    /// An empty table for a server that is not a [`FaultServer`]; stalls and drips end when
    /// `stop` turns true (send it before or while the server shuts down).
    pub fn new(stop: watch::Receiver<bool>) -> Faults {
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
        self.table().requests.iter().map(|r| r.path.clone()).collect()
    }

    /// The requests so far, in order, with their `Range` headers.
    pub fn seen(&self) -> Vec<SeenRequest> {
        self.table().requests.clone()
    }

    /// The `Range` headers of the requests so far whose path matches `pattern`, in order
    /// (`None` for a request without one).
    pub fn ranges(&self, pattern: &str) -> Vec<Option<String>> {
        self.table().requests.iter().filter(|r| matches(pattern, &r.path)).map(|r| r.range.clone()).collect()
    }

    /// How many requests so far had a path matching `pattern`.
    pub fn hits(&self, pattern: &str) -> usize {
        self.table().requests.iter().filter(|r| matches(pattern, &r.path)).count()
    }

    /// Records the request and takes the fault for its path, if a rule matches.
    fn take(&self, path: &str, range: Option<String>) -> Option<Fault> {
        let mut table = self.table();
        table.requests.push(SeenRequest { path: path.to_owned(), range });
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

async fn inject(State(faults): State<Faults>, mut request: Request, next: Next) -> Response {
    let range = request.headers().get(header::RANGE).and_then(|v| v.to_str().ok()).map(str::to_owned);
    let Some(fault) = faults.take(request.uri().path(), range) else { return next.run(request).await };
    let mut stop = faults.stop.clone();
    match fault {
        Fault::Stall => {
            // Until the server is dropped; then the connection closes with nothing sent.
            let _ = stop.wait_for(|stopped| *stopped).await;
            StatusCode::SERVICE_UNAVAILABLE.into_response()
        }
        Fault::Status(code) => StatusCode::from_u16(code).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR).into_response(),
        Fault::StatusAfterHandling(code) => {
            // The handler's answer is complete before it is dropped: its work is done.
            let _ = next.run(request).await;
            StatusCode::from_u16(code).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR).into_response()
        }
        Fault::HideLength => {
            let (mut parts, body) = next.run(request).await.into_parts();
            parts.headers.remove(header::CONTENT_LENGTH);
            Response::from_parts(parts, Body::from_stream(body.into_data_stream()))
        }
        Fault::Drip { bytes_per_sec } => {
            let (parts, body) = next.run(request).await.into_parts();
            let pause = Duration::from_secs_f64(1.0 / bytes_per_sec.max(1) as f64);
            let bytes = body.into_data_stream().flat_map(|chunk| {
                let bytes: Vec<Result<Bytes, axum::Error>> = match chunk {
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
        Fault::CutAfter(n) => {
            let (parts, body) = next.run(request).await.into_parts();
            Response::from_parts(parts, cut_after(body, n))
        }
        Fault::IgnoreRange => {
            request.headers_mut().remove(header::RANGE);
            request.headers_mut().remove(header::IF_RANGE);
            next.run(request).await
        }
        Fault::WrongContentRange => {
            let (mut parts, body) = next.run(request).await.into_parts();
            let (first, last, len) = served_range(&parts);
            let claimed = format!("bytes {}-{}/{len}", first + 1, last + 1);
            if let Ok(v) = HeaderValue::from_str(&claimed) {
                parts.headers.insert(header::CONTENT_RANGE, v);
            }
            parts.status = StatusCode::PARTIAL_CONTENT;
            Response::from_parts(parts, body)
        }
        Fault::FlipByte(offset) => {
            let (parts, body) = next.run(request).await.into_parts();
            let (first, _, _) = served_range(&parts);
            let mut pos = first;
            let flipped = body.into_data_stream().map(move |chunk| {
                chunk.map(|c| {
                    let start = pos;
                    pos += c.len() as u64;
                    if (start..pos).contains(&offset) {
                        let mut bytes = c.to_vec();
                        bytes[(offset - start) as usize] ^= 0xFF;
                        Bytes::from(bytes)
                    } else {
                        c
                    }
                })
            });
            Response::from_parts(parts, Body::from_stream(flipped))
        }
    }
}

/// How long [`Fault::CutAfter`] waits between the last byte it passes and the cut.
const CUT_FLUSH_PAUSE: Duration = Duration::from_millis(50);

/// `body`'s first `n` bytes, then an error (which breaks the connection).
fn cut_after(body: Body, n: u64) -> Body {
    let state = (body.into_data_stream(), 0u64, false);
    let cut = futures::stream::unfold(state, move |(mut body, sent, done)| async move {
        if done {
            return None;
        }
        if sent >= n {
            // The server drops what it has not written yet when a body fails: a pause (the body
            // pending) lets it flush the bytes sent, so the client receives them before the cut.
            tokio::time::sleep(CUT_FLUSH_PAUSE).await;
            let e = std::io::Error::new(std::io::ErrorKind::ConnectionAborted, "cut by the fault layer");
            return Some((Err(e), (body, sent, true)));
        }
        match body.next().await {
            None => None,
            Some(Err(e)) => Some((Err(std::io::Error::other(e)), (body, sent, true))),
            Some(Ok(chunk)) => {
                let keep = (n - sent).min(chunk.len() as u64);
                Some((Ok(chunk.slice(..keep as usize)), (body, sent + keep, false)))
            }
        }
    });
    Body::from_stream(cut)
}

/// The bytes of the file a response carries: first, last (inclusive) and the file's length,
/// from its `Content-Range` (a 206) or its `Content-Length` (the whole file).
fn served_range(parts: &axum::http::response::Parts) -> (u64, u64, u64) {
    let header = |name| parts.headers.get(name).and_then(|v| v.to_str().ok());
    let ranged = header(header::CONTENT_RANGE).and_then(|v| {
        let (range, len) = v.strip_prefix("bytes ")?.split_once('/')?;
        let (first, last) = range.split_once('-')?;
        Some((first.parse().ok()?, last.parse().ok()?, len.parse().ok()?))
    });
    ranged.unwrap_or_else(|| {
        let len = header(header::CONTENT_LENGTH).and_then(|v| v.parse::<u64>().ok()).unwrap_or(0);
        (0, len.saturating_sub(1), len)
    })
}

/// A real HTTP (or HTTPS) server on `127.0.0.1:0` serving a router through the fault layer.
/// Dropping it ends stalls and drips and shuts the server down.
#[derive(Debug)]
pub struct FaultServer {
    /// The server's base URL, `http://127.0.0.1:PORT/` (`https://` from
    /// [`FaultServer::start_tls`]).
    pub url: String,
    /// The address it listens on.
    pub addr: SocketAddr,
    faults: Faults,
    stop: watch::Sender<bool>,
}

impl FaultServer {
    /// Starts serving `router` over HTTP from the current tokio runtime.
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

    /// Starts serving `router` over HTTPS (`https://127.0.0.1:PORT/`) with `ca`'s server
    /// certificate, from the current tokio runtime. A client trusts it only with `ca`'s PEM
    /// among its roots.
    pub async fn start_tls(router: Router, ca: &TestCa) -> std::io::Result<FaultServer> {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        let addr = listener.local_addr()?;
        let (stop, stopped) = watch::channel(false);
        let faults = Faults::new(stopped.clone());
        let app = with_faults(router, faults.clone());
        let tls = wua_server::tls::TlsListener::new(listener, ca.server_config()?)?;
        let mut shutdown = stopped;
        tokio::spawn(async move {
            let _ = axum::serve(tls, app)
                .with_graceful_shutdown(async move {
                    let _ = shutdown.wait_for(|stopped| *stopped).await;
                })
                .await;
        });
        Ok(FaultServer { url: format!("https://{addr}/"), addr, faults, stop })
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
