//! The fetcher: one client, one deadline, retries, and bodies read under the minimum rate and a
//! length limit.

use std::path::PathBuf;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use bytes::Bytes;
use futures::{Stream, StreamExt, TryStreamExt};
use tokio::io::{AsyncReadExt, AsyncSeekExt};
use tokio::time::{Instant, Sleep};
use url::Url;

use crate::backoff::Backoff;
use crate::{FetchError, FetchLimits};

/// One fetching session: a client with connection reuse and a deadline that started when it
/// was made. Clones share both.
#[derive(Clone, Debug)]
pub struct Fetcher {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    client: reqwest::Client,
    limits: FetchLimits,
    deadline: Instant,
}

impl Fetcher {
    /// A fetcher with `limits` that trusts the platform's root certificates and those in the
    /// PEM files `extra_root_certs` (each may hold several). Its total deadline starts now.
    pub fn new(limits: FetchLimits, extra_root_certs: &[PathBuf]) -> Result<Fetcher, FetchError> {
        let mut certs = Vec::new();
        for path in extra_root_certs {
            let pem = std::fs::read(path)
                .map_err(|e| FetchError::Setup { path: path.clone(), detail: format!("cannot read: {e}") })?;
            let bundle = reqwest::Certificate::from_pem_bundle(&pem)
                .map_err(|e| FetchError::Setup { path: path.clone(), detail: format!("not a PEM certificate: {e}") })?;
            if bundle.is_empty() {
                return Err(FetchError::Setup { path: path.clone(), detail: "holds no certificate".into() });
            }
            certs.extend(bundle);
        }
        let client = reqwest::Client::builder()
            .connect_timeout(limits.connect_timeout)
            .tls_certs_merge(certs)
            .user_agent(concat!("wua/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| FetchError::Setup { path: PathBuf::new(), detail: format!("HTTP client: {e}") })?;
        let deadline = Instant::now() + limits.total_deadline;
        Ok(Fetcher { inner: Arc::new(Inner { client, limits, deadline }) })
    }

    /// The client, for requests of other shapes (`crate::api`).
    pub(crate) fn client(&self) -> &reqwest::Client {
        &self.inner.client
    }

    /// A fresh bound for one body fetched from `url`.
    pub(crate) fn guard(&self, url: &Url) -> Guard {
        Guard::new(url, &self.inner.limits, self.inner.deadline)
    }

    /// The limits this fetcher enforces.
    pub fn limits(&self) -> &FetchLimits {
        &self.inner.limits
    }

    /// When the total deadline passes.
    pub fn deadline(&self) -> Instant {
        self.inner.deadline
    }

    /// The whole body at `url`, at most `max_len` bytes. Transport failures (including a body
    /// that broke off or went too slow) are retried from the start, with backoff, while retries
    /// and time remain; a body longer than `max_len` is refused as soon as it is, and never
    /// retried.
    pub async fn get(&self, url: &Url, max_len: u64) -> Result<Vec<u8>, FetchError> {
        self.with_retries(|| async {
            let mut stream = self.open(url, max_len).await?;
            let mut body = Vec::with_capacity(stream.declared_len.unwrap_or(0).min(max_len).min(1 << 24) as usize);
            while let Some(chunk) = stream.next().await {
                body.extend_from_slice(&chunk?);
            }
            Ok(body)
        })
        .await
    }

    /// The body at `url` as a stream of chunks, at most `max_len` bytes in all. Opening (up to
    /// the response's headers) is retried as [`Fetcher::get`] retries; once the body streams, a
    /// failure ends the stream with that error and the caller decides.
    pub async fn stream(&self, url: &Url, max_len: u64) -> Result<FetchStream, FetchError> {
        self.with_retries(|| self.open(url, max_len)).await
    }

    /// Runs `attempt` until it succeeds, fails for good, or retries or time run out.
    async fn with_retries<T, F, Fut>(&self, mut attempt: F) -> Result<T, FetchError>
    where
        F: FnMut() -> Fut,
        Fut: Future<Output = Result<T, FetchError>>,
    {
        let mut retries = self.retries();
        loop {
            match attempt().await {
                Err(e) if e.is_transient() => retries.wait(e).await?,
                outcome => return outcome,
            }
        }
    }

    /// The retries of one operation: the limit's count, waits with jitter, the deadline.
    pub(crate) fn retries(&self) -> Retries {
        Retries {
            backoff: Backoff::seeded(self.inner.limits.first_backoff),
            left: self.inner.limits.retries,
            deadline: self.inner.deadline,
        }
    }

    /// One try: the response's headers (or the file's metadata), and a guarded body.
    async fn open(&self, url: &Url, max_len: u64) -> Result<FetchStream, FetchError> {
        Ok(self.open_at(url, max_len, None).await?.stream)
    }

    /// One try, from byte `resume.offset` on when `resume` is given (`Range: bytes=N-`, with
    /// `If-Range` when an entity tag is known; a `file://` URL seeks there). The answer says
    /// whether it is the whole resource (200) or a part (206, with its `Content-Range`).
    pub(crate) async fn open_at(
        &self,
        url: &Url,
        max_len: u64,
        resume: Option<Resume<'_>>,
    ) -> Result<Opened, FetchError> {
        let guard = Guard::new(url, &self.inner.limits, self.inner.deadline);
        match url.scheme() {
            "file" => self.open_file(url, max_len, guard, resume.map_or(0, |r| r.offset)).await,
            "http" | "https" => self.open_http(url, max_len, guard, resume).await,
            _ => Err(FetchError::Unsupported { url: url.clone() }),
        }
    }

    async fn open_http(
        &self,
        url: &Url,
        max_len: u64,
        guard: Guard,
        resume: Option<Resume<'_>>,
    ) -> Result<Opened, FetchError> {
        let mut request = self.inner.client.get(url.clone());
        if let Some(resume) = resume {
            request = request.header(reqwest::header::RANGE, format!("bytes={}-", resume.offset));
            if let Some(etag) = resume.if_range {
                request = request.header(reqwest::header::IF_RANGE, etag);
            }
        }
        let send = request.send();
        // The wait for the headers counts as the first window of the minimum rate: a server that
        // accepts and then says nothing fails as too slow.
        let wait_until = guard.window_end.min(guard.deadline);
        let response = match tokio::time::timeout_at(wait_until, send).await {
            Ok(Ok(response)) => response,
            Ok(Err(e)) if e.is_timeout() => {
                return Err(FetchError::TimedOut { url: url.clone(), what: "connecting" });
            }
            Ok(Err(e)) => return Err(FetchError::from_send(url, e)),
            Err(_) => return Err(guard.expired(Instant::now()).unwrap_or_else(|| guard.too_slow())),
        };
        let status = response.status();
        if status == reqwest::StatusCode::NOT_FOUND {
            return Err(FetchError::NotFound { url: url.clone() });
        }
        if !status.is_success() {
            return Err(FetchError::Status { url: url.clone(), status: status.as_u16() });
        }
        let header = |name| response.headers().get(name).and_then(|v| v.to_str().ok()).map(str::to_owned);
        let content_range = header(reqwest::header::CONTENT_RANGE);
        let etag = header(reqwest::header::ETAG);
        Ok(Opened {
            stream: FetchStream::of_response(response, url, guard, max_len)?,
            partial: status == reqwest::StatusCode::PARTIAL_CONTENT,
            content_range,
            etag,
        })
    }

    async fn open_file(&self, url: &Url, max_len: u64, guard: Guard, offset: u64) -> Result<Opened, FetchError> {
        let path = url.to_file_path().map_err(|()| FetchError::Unsupported { url: url.clone() })?;
        let io = |e: std::io::Error| match e.kind() {
            std::io::ErrorKind::NotFound => FetchError::NotFound { url: url.clone() },
            _ => FetchError::Io { url: url.clone(), source: Arc::new(e) },
        };
        let mut file = tokio::fs::File::open(&path).await.map_err(io)?;
        let meta = file.metadata().await.map_err(io)?;
        if meta.is_dir() {
            return Err(FetchError::NotFound { url: url.clone() });
        }
        let len = meta.len();
        if len > max_len {
            return Err(FetchError::TooLarge { url: url.clone(), max_len, read: 0 });
        }
        // A range past the end is answered with the whole file, as a server may.
        let (offset, content_range) = if offset > 0 && offset < len {
            file.seek(std::io::SeekFrom::Start(offset)).await.map_err(io)?;
            (offset, Some(format!("bytes {offset}-{}/{len}", len - 1)))
        } else {
            (0, None)
        };
        // One byte past the limit is read, so a file that grew since is still refused.
        let reader = file.take(max_len.saturating_add(1));
        let body_url = url.clone();
        let body = tokio_util::io::ReaderStream::with_capacity(reader, 256 * 1024)
            .map_err(move |e| FetchError::Io { url: body_url.clone(), source: Arc::new(e) });
        Ok(Opened {
            stream: FetchStream::new(guard, max_len, Some(len - offset), Box::pin(body)),
            partial: content_range.is_some(),
            content_range,
            etag: None,
        })
    }
}

/// Where a resumed try starts.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Resume<'a> {
    /// The first byte wanted.
    pub(crate) offset: u64,
    /// The entity tag the bytes before came with, for `If-Range`.
    pub(crate) if_range: Option<&'a str>,
}

/// An opened body and what the server said about it.
#[derive(Debug)]
pub(crate) struct Opened {
    /// The body.
    pub(crate) stream: FetchStream,
    /// A part (206) rather than the whole resource.
    pub(crate) partial: bool,
    /// The `Content-Range` header, as sent.
    pub(crate) content_range: Option<String>,
    /// The `ETag` header, as sent.
    pub(crate) etag: Option<String>,
}

/// The retries left to one operation.
#[derive(Debug)]
pub(crate) struct Retries {
    backoff: Backoff,
    left: u32,
    deadline: Instant,
}

impl Retries {
    /// Waits before the next try after the transient failure `e`; `Err(e)` when no retry is
    /// left or the wait would end past the deadline.
    pub(crate) async fn wait(&mut self, e: FetchError) -> Result<(), FetchError> {
        if self.left == 0 {
            return Err(e);
        }
        let wake = Instant::now() + self.backoff.next_wait();
        if wake >= self.deadline {
            return Err(e);
        }
        tokio::time::sleep_until(wake).await;
        self.left -= 1;
        Ok(())
    }
}

/// The deadline and the minimum rate of one body.
#[derive(Debug)]
pub(crate) struct Guard {
    url: Url,
    pub(crate) deadline: Instant,
    window: std::time::Duration,
    want: u64,
    pub(crate) window_end: Instant,
    window_bytes: u64,
}

impl Guard {
    fn new(url: &Url, limits: &FetchLimits, deadline: Instant) -> Guard {
        let window = limits.window();
        Guard {
            url: url.clone(),
            deadline,
            window,
            want: limits.min_bytes_per_window(),
            window_end: Instant::now() + window,
            window_bytes: 0,
        }
    }

    pub(crate) fn restart_window(&mut self, now: Instant) {
        self.window_end = now + self.window;
        self.window_bytes = 0;
    }

    /// The deadline's error once it has passed.
    pub(crate) fn expired(&self, now: Instant) -> Option<FetchError> {
        (now >= self.deadline).then(|| FetchError::TimedOut { url: self.url.clone(), what: "the total deadline" })
    }

    pub(crate) fn too_slow(&self) -> FetchError {
        FetchError::TooSlow { url: self.url.clone(), got: self.window_bytes, want: self.want, window: self.window }
    }

    /// At `now`: an error when the deadline passed or a finished window fell short of the
    /// rate; a new window when one finished in time.
    fn check(&mut self, now: Instant) -> Result<(), FetchError> {
        if let Some(e) = self.expired(now) {
            return Err(e);
        }
        if now >= self.window_end {
            if self.window_bytes < self.want {
                return Err(self.too_slow());
            }
            self.restart_window(now);
        }
        Ok(())
    }

    /// When the next check is due.
    fn next_check(&self) -> Instant {
        self.window_end.min(self.deadline)
    }
}

/// A body being read under the fetcher's bounds: chunks of at most `max_len` bytes in all; the
/// stream ends with an error when the body is longer, slower than the minimum rate, past the
/// deadline, or broken off. After an error it yields nothing more.
pub struct FetchStream {
    guard: Guard,
    max_len: u64,
    read: u64,
    declared_len: Option<u64>,
    body: Pin<Box<dyn Stream<Item = Result<Bytes, FetchError>> + Send + Sync>>,
    timer: Pin<Box<Sleep>>,
    done: bool,
}

impl std::fmt::Debug for FetchStream {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FetchStream")
            .field("url", &self.guard.url.as_str())
            .field("max_len", &self.max_len)
            .field("read", &self.read)
            .field("declared_len", &self.declared_len)
            .field("done", &self.done)
            .finish_non_exhaustive()
    }
}

impl FetchStream {
    /// The body of `response` (from `url`), refused at once when its declared length is over
    /// `max_len`; the minimum-rate window starts now.
    pub(crate) fn of_response(
        response: reqwest::Response,
        url: &Url,
        mut guard: Guard,
        max_len: u64,
    ) -> Result<FetchStream, FetchError> {
        let declared_len = response.content_length();
        if declared_len.is_some_and(|len| len > max_len) {
            return Err(FetchError::TooLarge { url: url.clone(), max_len, read: 0 });
        }
        guard.restart_window(Instant::now());
        let body_url = url.clone();
        let body = response
            .bytes_stream()
            .map_err(move |e| FetchError::Connect { url: body_url.clone(), source: Arc::new(e) });
        Ok(FetchStream::new(guard, max_len, declared_len, Box::pin(body)))
    }

    pub(crate) fn new(
        guard: Guard,
        max_len: u64,
        declared_len: Option<u64>,
        body: Pin<Box<dyn Stream<Item = Result<Bytes, FetchError>> + Send + Sync>>,
    ) -> FetchStream {
        let timer = Box::pin(tokio::time::sleep_until(guard.next_check()));
        FetchStream { guard, max_len, read: 0, declared_len, body, timer, done: false }
    }

    /// The length the server declared (`Content-Length`), or the file's length.
    pub fn declared_len(&self) -> Option<u64> {
        self.declared_len
    }

    /// The bytes read so far.
    pub fn bytes_read(&self) -> u64 {
        self.read
    }

    fn fail(&mut self, e: FetchError) -> Poll<Option<Result<Bytes, FetchError>>> {
        self.done = true;
        Poll::Ready(Some(Err(e)))
    }
}

impl Stream for FetchStream {
    type Item = Result<Bytes, FetchError>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let this = &mut *self;
        if this.done {
            return Poll::Ready(None);
        }
        loop {
            match this.body.as_mut().poll_next(cx) {
                Poll::Ready(Some(Ok(chunk))) => {
                    this.read = this.read.saturating_add(chunk.len() as u64);
                    if this.read > this.max_len {
                        let e = FetchError::TooLarge {
                            url: this.guard.url.clone(),
                            max_len: this.max_len,
                            read: this.read,
                        };
                        return this.fail(e);
                    }
                    this.guard.window_bytes = this.guard.window_bytes.saturating_add(chunk.len() as u64);
                    if let Err(e) = this.guard.check(Instant::now()) {
                        return this.fail(e);
                    }
                    this.timer.as_mut().reset(this.guard.next_check());
                    return Poll::Ready(Some(Ok(chunk)));
                }
                Poll::Ready(Some(Err(e))) => return this.fail(e),
                Poll::Ready(None) => {
                    this.done = true;
                    return Poll::Ready(None);
                }
                Poll::Pending => {}
            }
            match this.timer.as_mut().poll(cx) {
                Poll::Pending => return Poll::Pending,
                Poll::Ready(()) => {
                    if let Err(e) = this.guard.check(Instant::now()) {
                        return this.fail(e);
                    }
                    // A window finished in time: wait for the next check, and poll the body again
                    // so its waker stays registered.
                    this.timer.as_mut().reset(this.guard.next_check());
                }
            }
        }
    }
}
