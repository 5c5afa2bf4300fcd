//! The static repository handler: serves a repository directory over HTTP as any static host
//! would, so agents can fetch metadata, catalog packs and blobs from `wua repo serve` or from
//! the server, which mounts the same router.
//!
//! - `GET` and `HEAD` only (others: 405).
//! - Only regular files under the directory: a path with an empty, `.` or `..` segment, a
//!   backslash or a NUL, or one that leads outside the directory through a symbolic link, is
//!   refused (404, as is a directory: there is no listing).
//! - A strong `ETag` from the file's identity (device, inode, size, modification time);
//!   `If-None-Match` answers 304.
//! - One byte range (`Range: bytes=a-b`, `a-`, `-n`) answers 206 with `Content-Range`; an
//!   unsatisfiable one 416; several ranges, or an `If-Range` that does not match, get the whole
//!   file (200), which RFC 9110 allows.
//! - `Content-Type` by extension: `.json` as `application/json`, everything else (packs, blobs,
//!   exports) as `application/octet-stream`.

use std::io::SeekFrom;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use axum::Router;
use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use axum::response::{IntoResponse, Response};
use tokio::io::{AsyncReadExt, AsyncSeekExt};

/// A router that serves the files under `dir` at its root path (mount it with
/// `Router::nest_service` to serve them under a prefix).
pub fn router(dir: impl Into<PathBuf>) -> Router {
    Router::new().fallback(serve).with_state(Arc::new(dir.into()))
}

async fn serve(State(dir): State<Arc<PathBuf>>, request: Request) -> Response {
    let head = match *request.method() {
        Method::GET => false,
        Method::HEAD => true,
        _ => {
            let mut r = StatusCode::METHOD_NOT_ALLOWED.into_response();
            r.headers_mut().insert(header::ALLOW, HeaderValue::from_static("GET, HEAD"));
            return r;
        }
    };
    let Some(path) = resolve(&dir, request.uri().path()).await else {
        return StatusCode::NOT_FOUND.into_response();
    };
    let mut file = match tokio::fs::File::open(&path).await {
        Ok(f) => f,
        Err(_) => return StatusCode::NOT_FOUND.into_response(),
    };
    let meta = match file.metadata().await {
        Ok(m) if m.is_file() => m,
        _ => return StatusCode::NOT_FOUND.into_response(),
    };
    let len = meta.len();
    let etag =
        format!("\"{:x}-{:x}-{:x}-{:x}\"", meta.dev(), meta.ino(), len, meta.mtime_nsec() ^ (meta.mtime() << 30));
    let headers = request.headers();
    let mut response_headers = HeaderMap::new();
    if let Ok(v) = HeaderValue::from_str(&etag) {
        response_headers.insert(header::ETAG, v);
    }
    response_headers.insert(header::ACCEPT_RANGES, HeaderValue::from_static("bytes"));
    response_headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type(&path)));
    if if_none_match(headers, &etag) {
        return (StatusCode::NOT_MODIFIED, response_headers).into_response();
    }
    let wanted = match headers.get(header::RANGE).and_then(|v| v.to_str().ok()) {
        Some(spec) if if_range_holds(headers, &etag) => parse_range(spec, len),
        _ => RangeRequest::Whole,
    };
    let (status, start, count) = match wanted {
        RangeRequest::Whole => (StatusCode::OK, 0, len),
        RangeRequest::Part { start, end } => {
            let value = format!("bytes {start}-{end}/{len}");
            if let Ok(v) = HeaderValue::from_str(&value) {
                response_headers.insert(header::CONTENT_RANGE, v);
            }
            (StatusCode::PARTIAL_CONTENT, start, end - start + 1)
        }
        RangeRequest::Unsatisfiable => {
            if let Ok(v) = HeaderValue::from_str(&format!("bytes */{len}")) {
                response_headers.insert(header::CONTENT_RANGE, v);
            }
            return (StatusCode::RANGE_NOT_SATISFIABLE, response_headers).into_response();
        }
    };
    response_headers.insert(header::CONTENT_LENGTH, HeaderValue::from(count));
    if head {
        return (status, response_headers).into_response();
    }
    if start > 0 && file.seek(SeekFrom::Start(start)).await.is_err() {
        return StatusCode::INTERNAL_SERVER_ERROR.into_response();
    }
    let body = Body::from_stream(tokio_util::io::ReaderStream::with_capacity(file.take(count), 256 * 1024));
    (status, response_headers, body).into_response()
}

/// The file a request path names under `dir`, or `None` when it is not a safe path to a place
/// under `dir`.
async fn resolve(dir: &Path, request_path: &str) -> Option<PathBuf> {
    let rel = request_path.strip_prefix('/')?;
    let decoded = percent_decode(rel)?;
    if decoded.is_empty() || decoded.contains('\0') || decoded.contains('\\') {
        return None;
    }
    if decoded.split('/').any(|seg| seg.is_empty() || seg == "." || seg == "..") {
        return None;
    }
    let base = tokio::fs::canonicalize(dir).await.ok()?;
    let real = tokio::fs::canonicalize(base.join(&decoded)).await.ok()?;
    real.starts_with(&base).then_some(real)
}

/// Percent-decodes a path; `None` for a bad escape or bytes that are not UTF-8.
fn percent_decode(text: &str) -> Option<String> {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes.get(i) {
            Some(b'%') => {
                let hex = text.get(i + 1..i + 3)?;
                out.push(u8::from_str_radix(hex, 16).ok()?);
                i += 3;
            }
            Some(b) => {
                out.push(*b);
                i += 1;
            }
            None => break,
        }
    }
    String::from_utf8(out).ok()
}

fn content_type(path: &Path) -> &'static str {
    match path.extension().and_then(|e| e.to_str()) {
        Some("json") => "application/json",
        _ => "application/octet-stream",
    }
}

fn if_none_match(headers: &HeaderMap, etag: &str) -> bool {
    headers.get_all(header::IF_NONE_MATCH).iter().filter_map(|v| v.to_str().ok()).any(|v| {
        v.split(',').map(str::trim).any(|tag| tag == "*" || tag == etag || tag.strip_prefix("W/") == Some(etag))
    })
}

/// `If-Range` with an ETag: the range applies only while the file is the same.
fn if_range_holds(headers: &HeaderMap, etag: &str) -> bool {
    match headers.get(header::IF_RANGE).and_then(|v| v.to_str().ok()) {
        None => true,
        Some(v) => v.trim() == etag,
    }
}

/// A parsed `Range` header.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RangeRequest {
    /// Serve the whole file (no range, several ranges, or a header not understood).
    Whole,
    /// Bytes `start..=end`.
    Part {
        /// First byte.
        start: u64,
        /// Last byte (inclusive).
        end: u64,
    },
    /// No byte of the range exists (416).
    Unsatisfiable,
}

/// Parses `bytes=a-b`, `bytes=a-` and `bytes=-n` against a file of `len` bytes.
pub fn parse_range(spec: &str, len: u64) -> RangeRequest {
    let Some(set) = spec.trim().strip_prefix("bytes=") else { return RangeRequest::Whole };
    if set.contains(',') {
        return RangeRequest::Whole;
    }
    let Some((a, b)) = set.trim().split_once('-') else { return RangeRequest::Whole };
    let (a, b) = (a.trim(), b.trim());
    let number = |s: &str| if s.bytes().all(|c| c.is_ascii_digit()) { s.parse::<u64>().ok() } else { None };
    match (a.is_empty(), b.is_empty()) {
        (true, true) => RangeRequest::Whole,
        (true, false) => match number(b) {
            Some(0) => RangeRequest::Unsatisfiable,
            Some(_) if len == 0 => RangeRequest::Unsatisfiable,
            Some(n) => RangeRequest::Part { start: len.saturating_sub(n), end: len - 1 },
            None => RangeRequest::Whole,
        },
        (false, _) => {
            let Some(start) = number(a) else { return RangeRequest::Whole };
            let end = if b.is_empty() { Some(u64::MAX) } else { number(b) };
            match end {
                None => RangeRequest::Whole,
                Some(end) if end < start => RangeRequest::Whole,
                Some(_) if start >= len => RangeRequest::Unsatisfiable,
                Some(end) => RangeRequest::Part { start, end: end.min(len - 1) },
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranges() {
        use RangeRequest::*;
        for (spec, want) in [
            ("bytes=0-9", Part { start: 0, end: 9 }),
            ("bytes=10-", Part { start: 10, end: 99 }),
            ("bytes=-10", Part { start: 90, end: 99 }),
            ("bytes=-1000", Part { start: 0, end: 99 }),
            ("bytes=90-200", Part { start: 90, end: 99 }),
            ("bytes=100-", Unsatisfiable),
            ("bytes=-0", Unsatisfiable),
            ("bytes=5-1", Whole),
            ("bytes=0-1,5-6", Whole),
            ("items=0-1", Whole),
            ("bytes=x-1", Whole),
            ("bytes=-", Whole),
        ] {
            assert_eq!(parse_range(spec, 100), want, "{spec}");
        }
        assert_eq!(parse_range("bytes=0-", 0), RangeRequest::Unsatisfiable);
    }

    #[test]
    fn percent_decoding() {
        assert_eq!(percent_decode("a%2Fb").as_deref(), Some("a/b"));
        assert_eq!(percent_decode("%2e%2e").as_deref(), Some(".."));
        assert_eq!(percent_decode("%zz"), None);
        assert_eq!(percent_decode("%4"), None);
    }
}
