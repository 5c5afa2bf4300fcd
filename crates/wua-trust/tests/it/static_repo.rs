//! The static repository handler over a real socket on 127.0.0.1: `Range` (206, 416),
//! `ETag` / `If-None-Match` (304), content types, no listing, refused path escapes.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::Path;

struct Reply {
    status: u16,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
}

impl Reply {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers.iter().find(|(k, _)| k.eq_ignore_ascii_case(name)).map(|(_, v)| v.as_str())
    }
}

/// One HTTP/1.1 request with `Connection: close`; the raw path is sent as given.
fn request(addr: SocketAddr, method: &str, path: &str, headers: &[(&str, &str)]) -> Reply {
    let mut s = TcpStream::connect(addr).unwrap();
    // Bounded: a server that never answers fails the read instead of holding the test.
    s.set_read_timeout(Some(std::time::Duration::from_secs(60))).unwrap();
    let mut text = format!("{method} {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n");
    for (k, v) in headers {
        text.push_str(&format!("{k}: {v}\r\n"));
    }
    text.push_str("\r\n");
    s.write_all(text.as_bytes()).unwrap();
    let mut raw = Vec::new();
    s.read_to_end(&mut raw).unwrap();
    let split = raw.windows(4).position(|w| w == b"\r\n\r\n").expect("a complete head");
    let head = String::from_utf8_lossy(&raw[..split]).to_string();
    let mut lines = head.lines();
    let status = lines.next().unwrap().split_whitespace().nth(1).unwrap().parse().unwrap();
    let headers =
        lines.filter_map(|l| l.split_once(':')).map(|(k, v)| (k.trim().to_owned(), v.trim().to_owned())).collect();
    Reply { status, headers, body: raw[split + 4..].to_vec() }
}

fn start(dir: &Path) -> SocketAddr {
    let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(1).enable_all().build().unwrap();
    let listener = rt.block_on(tokio::net::TcpListener::bind("127.0.0.1:0")).unwrap();
    let addr = listener.local_addr().unwrap();
    let dir = dir.to_path_buf();
    std::thread::spawn(move || rt.block_on(wua_trust::serve(listener, dir)));
    addr
}

fn repo() -> (tempfile::TempDir, tempfile::TempDir) {
    let outside = tempfile::tempdir().unwrap();
    std::fs::write(outside.path().join("secret"), "outside the repository").unwrap();
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    std::fs::create_dir_all(d.join("metadata")).unwrap();
    std::fs::create_dir_all(d.join("blobs/sha256")).unwrap();
    std::fs::write(d.join("metadata/timestamp.json"), "{\"signed\":{}}").unwrap();
    let blob: Vec<u8> = (0..1000u32).map(|i| (i % 251) as u8).collect();
    std::fs::write(d.join("blobs/sha256/abc"), &blob).unwrap();
    std::os::unix::fs::symlink(outside.path().join("secret"), d.join("escape")).unwrap();
    std::os::unix::fs::symlink("blobs/sha256/abc", d.join("inside-link")).unwrap();
    (dir, outside)
}

#[test]
fn whole_files_content_types_and_head() {
    let (dir, _outside) = repo();
    let addr = start(dir.path());
    let r = request(addr, "GET", "/metadata/timestamp.json", &[]);
    assert_eq!(r.status, 200);
    assert_eq!(r.header("content-type"), Some("application/json"));
    assert_eq!(r.body, b"{\"signed\":{}}");
    let r = request(addr, "GET", "/blobs/sha256/abc", &[]);
    assert_eq!((r.status, r.body.len()), (200, 1000));
    assert_eq!(r.header("content-type"), Some("application/octet-stream"));
    assert_eq!(r.header("accept-ranges"), Some("bytes"));
    let r = request(addr, "HEAD", "/blobs/sha256/abc", &[]);
    assert_eq!((r.status, r.header("content-length"), r.body.len()), (200, Some("1000"), 0));
    assert_eq!(request(addr, "POST", "/blobs/sha256/abc", &[("Content-Length", "0")]).status, 405);
    assert_eq!(request(addr, "GET", "/inside-link", &[]).status, 200, "a link inside the directory is followed");
}

#[test]
fn ranges_answer_206_and_416() {
    let (dir, _outside) = repo();
    let addr = start(dir.path());
    let blob = std::fs::read(dir.path().join("blobs/sha256/abc")).unwrap();
    let r = request(addr, "GET", "/blobs/sha256/abc", &[("Range", "bytes=100-199")]);
    assert_eq!(r.status, 206);
    assert_eq!(r.header("content-range"), Some("bytes 100-199/1000"));
    assert_eq!(r.body, &blob[100..200]);
    let r = request(addr, "GET", "/blobs/sha256/abc", &[("Range", "bytes=900-")]);
    assert_eq!((r.status, r.body.as_slice()), (206, &blob[900..]));
    let r = request(addr, "GET", "/blobs/sha256/abc", &[("Range", "bytes=-10")]);
    assert_eq!((r.status, r.body.as_slice()), (206, &blob[990..]));
    let r = request(addr, "GET", "/blobs/sha256/abc", &[("Range", "bytes=1000-")]);
    assert_eq!((r.status, r.header("content-range")), (416, Some("bytes */1000")));
    let r = request(addr, "GET", "/blobs/sha256/abc", &[("Range", "bytes=0-1,5-6")]);
    assert_eq!((r.status, r.body.len()), (200, 1000), "several ranges: the whole file");
    // If-Range: the range only while the file is the one the client has.
    let etag = request(addr, "HEAD", "/blobs/sha256/abc", &[]).header("etag").unwrap().to_owned();
    let r = request(addr, "GET", "/blobs/sha256/abc", &[("Range", "bytes=0-9"), ("If-Range", &etag)]);
    assert_eq!(r.status, 206);
    let r = request(addr, "GET", "/blobs/sha256/abc", &[("Range", "bytes=0-9"), ("If-Range", "\"other\"")]);
    assert_eq!(r.status, 200);
}

#[test]
fn etag_and_if_none_match() {
    let (dir, _outside) = repo();
    let addr = start(dir.path());
    let r = request(addr, "GET", "/metadata/timestamp.json", &[]);
    let etag = r.header("etag").expect("an ETag").to_owned();
    assert!(etag.starts_with('"') && etag.ends_with('"'), "{etag}");
    let r = request(addr, "GET", "/metadata/timestamp.json", &[("If-None-Match", &etag)]);
    assert_eq!((r.status, r.body.len()), (304, 0));
    assert_eq!(r.header("etag"), Some(etag.as_str()));
    let r = request(addr, "GET", "/metadata/timestamp.json", &[("If-None-Match", "\"x\", *")]);
    assert_eq!(r.status, 304);
    // A new version of the file is a new ETag.
    std::thread::sleep(std::time::Duration::from_millis(20));
    std::fs::write(dir.path().join("metadata/timestamp.json.new"), "{\"signed\":{\"version\":2}}").unwrap();
    std::fs::rename(dir.path().join("metadata/timestamp.json.new"), dir.path().join("metadata/timestamp.json"))
        .unwrap();
    let r = request(addr, "GET", "/metadata/timestamp.json", &[("If-None-Match", &etag)]);
    assert_eq!(r.status, 200);
    assert_ne!(r.header("etag"), Some(etag.as_str()));
}

#[test]
fn no_listing_and_no_escapes() {
    let (dir, _outside) = repo();
    let addr = start(dir.path());
    for path in [
        "/",
        "/metadata",
        "/metadata/",
        "/../secret",
        "/metadata/../../secret",
        "/%2e%2e/secret",
        "/metadata/%2E%2E/%2E%2E/secret",
        "/escape",
        "/blobs//sha256/abc",
        "/./blobs/sha256/abc",
        "/blobs%5csha256%5cabc",
        "/nothing-here",
        "/%zz",
    ] {
        let r = request(addr, "GET", path, &[]);
        assert_eq!(r.status, 404, "{path}");
        assert!(!String::from_utf8_lossy(&r.body).contains("outside"), "{path}");
    }
}
