//! JSON requests to an HTTP API (a managed server's `/api/v1/...`): a method, an optional
//! bearer token and an optional JSON body; the answer is its status and its body, read under
//! the fetcher's bounds (deadline, minimum rate, `max_len`).
//!
//! Retried as [`Fetcher::get`] is: transport failures (connection, time-out, too slow) and the
//! statuses that say "later" (408, 429, 5xx) are tried again with the fetcher's jittered
//! backoff while retries and time remain. When they run out on a status, that last answer is
//! returned, so the caller can read the error the server put in its body. Every other status
//! is returned at once: whether it is an error is the caller's decision. Sending a request
//! again must therefore be safe for the caller (the API's reports carry idempotency keys).
//!
//! The token is sent as `Authorization: Bearer`, marked sensitive for the client, and never
//! appears in this module's `Debug` output or errors.

use futures::StreamExt;
use tokio::time::Instant;
use url::Url;

use crate::{FetchError, FetchStream, Fetcher};

/// The methods the API uses.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ApiMethod {
    /// `GET`.
    Get,
    /// `POST`.
    Post,
    /// `PUT`.
    Put,
    /// `DELETE`.
    Delete,
}

/// One API request.
#[derive(Clone, Copy)]
pub struct ApiRequest<'a> {
    /// The method.
    pub method: ApiMethod,
    /// The URL (`http` or `https`).
    pub url: &'a Url,
    /// A bearer token, sent as `Authorization: Bearer <token>`.
    pub bearer: Option<&'a str>,
    /// A JSON body (sent as `application/json`).
    pub json: Option<&'a [u8]>,
}

impl std::fmt::Debug for ApiRequest<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // The token and the body (which may hold an enrolment key) stay out of logs.
        f.debug_struct("ApiRequest")
            .field("method", &self.method)
            .field("url", &self.url.as_str())
            .field("bearer", &self.bearer.map(|_| "<redacted>"))
            .field("json_len", &self.json.map(<[u8]>::len))
            .finish()
    }
}

/// An API's answer.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ApiAnswer {
    /// The HTTP status.
    pub status: u16,
    /// The body, at most the caller's `max_len` bytes.
    pub body: Vec<u8>,
}

impl ApiAnswer {
    /// A 2xx status.
    pub fn is_success(&self) -> bool {
        (200..300).contains(&self.status)
    }
}

impl Fetcher {
    /// Sends `request` and reads the answer's body (at most `max_len` bytes), retrying as the
    /// module says. `Err` only when no answer came (or its body could not be read whole);
    /// every status is an `Ok` answer.
    pub async fn send(&self, request: &ApiRequest<'_>, max_len: u64) -> Result<ApiAnswer, FetchError> {
        let mut retries = self.retries();
        loop {
            match self.send_once(request, max_len).await {
                Ok(answer) => {
                    let later = FetchError::Status { url: request.url.clone(), status: answer.status };
                    if !later.is_transient() {
                        return Ok(answer);
                    }
                    tracing::debug!(url = %request.url, status = answer.status, "the server said later; retrying");
                    if retries.wait(later).await.is_err() {
                        return Ok(answer);
                    }
                }
                Err(e) if e.is_transient() => {
                    tracing::debug!(url = %request.url, error = %e, "request failed; retrying");
                    retries.wait(e).await?;
                }
                Err(e) => return Err(e),
            }
        }
    }

    /// One try.
    async fn send_once(&self, request: &ApiRequest<'_>, max_len: u64) -> Result<ApiAnswer, FetchError> {
        let url = request.url;
        if !matches!(url.scheme(), "http" | "https") {
            return Err(FetchError::Unsupported { url: url.clone() });
        }
        let guard = self.guard(url);
        let mut builder = match request.method {
            ApiMethod::Get => self.client().get(url.clone()),
            ApiMethod::Post => self.client().post(url.clone()),
            ApiMethod::Put => self.client().put(url.clone()),
            ApiMethod::Delete => self.client().delete(url.clone()),
        };
        builder = builder.header(reqwest::header::ACCEPT, "application/json");
        if let Some(token) = request.bearer {
            builder = builder.bearer_auth(token);
        }
        if let Some(json) = request.json {
            builder = builder.header(reqwest::header::CONTENT_TYPE, "application/json").body(json.to_vec());
        }
        // As for a download, the wait for the headers counts as the first window of the
        // minimum rate.
        let wait_until = guard.window_end.min(guard.deadline);
        let response = match tokio::time::timeout_at(wait_until, builder.send()).await {
            Ok(Ok(response)) => response,
            Ok(Err(e)) if e.is_timeout() => return Err(FetchError::TimedOut { url: url.clone(), what: "connecting" }),
            Ok(Err(e)) => return Err(FetchError::from_send(url, e)),
            Err(_) => return Err(guard.expired(Instant::now()).unwrap_or_else(|| guard.too_slow())),
        };
        let status = response.status().as_u16();
        let mut stream = FetchStream::of_response(response, url, guard, max_len)?;
        let declared_len = stream.declared_len();
        let mut body = Vec::with_capacity(declared_len.unwrap_or(0).min(max_len).min(1 << 20) as usize);
        while let Some(chunk) = stream.next().await {
            body.extend_from_slice(&chunk?);
        }
        Ok(ApiAnswer { status, body })
    }
}
