//! A managed server's base URL, and the rule that keeps the agent's secrets off the wire: an
//! enrolment key or a token travels over `https://`, or over plain `http://` only to a
//! loopback host (127.0.0.0/8, `::1`, `localhost`), where nothing between the two ends can read
//! it. The rule is checked when the URL is parsed, so a refused URL never opens a connection.

use url::{Host, Url};

use crate::server_error::ServerError;

/// A managed server's base URL: `http(s)://host[:port][/prefix]`, kept without a trailing slash.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct ServerUrl {
    base: String,
}

impl ServerUrl {
    /// Parses `text` as a server's base URL that `secret` (what would travel: "an enrolment
    /// key", "a token") may be sent to. A plain `http://` URL to a host that is not loopback
    /// is [`ServerError::InsecureUrl`].
    pub(crate) fn parse(text: &str, secret: &'static str) -> Result<ServerUrl, ServerError> {
        let invalid = |detail: &str| ServerError::InvalidUrl { url: text.to_owned(), detail: detail.to_owned() };
        let url = Url::parse(text.trim()).map_err(|e| invalid(&e.to_string()))?;
        match url.scheme() {
            "https" => {}
            "http" => {
                if !url.host().is_some_and(is_loopback) {
                    return Err(ServerError::InsecureUrl { url: redacted(&url), secret });
                }
            }
            other => return Err(invalid(&format!("the scheme is {other:?}; a server is reached over https"))),
        }
        if url.host().is_none() {
            return Err(invalid("it names no host"));
        }
        if !url.username().is_empty() || url.password().is_some() {
            return Err(invalid("credentials do not belong in the URL"));
        }
        if url.query().is_some() || url.fragment().is_some() {
            return Err(invalid("a server's base URL has no query or fragment"));
        }
        let base = url.as_str().trim_end_matches('/').to_owned();
        Ok(ServerUrl { base })
    }

    /// The URL of an API route (`path` starts with `/`, e.g. `/api/v1/agent/config`).
    pub(crate) fn route(&self, path: &str) -> Result<Url, ServerError> {
        let text = format!("{}{path}", self.base);
        Url::parse(&text).map_err(|e| ServerError::InvalidUrl { url: text, detail: e.to_string() })
    }

    /// Where the server serves its signed repository: `{server}/repo`.
    pub(crate) fn repository(&self) -> String {
        format!("{}/repo", self.base)
    }

    /// The base URL as text, without a trailing slash.
    pub(crate) fn as_str(&self) -> &str {
        &self.base
    }
}

/// Whether `host` is this machine's loopback.
fn is_loopback(host: Host<&str>) -> bool {
    match host {
        Host::Domain(name) => name.trim_end_matches('.').eq_ignore_ascii_case("localhost"),
        Host::Ipv4(ip) => ip.is_loopback(),
        Host::Ipv6(ip) => ip.is_loopback() || ip.to_ipv4_mapped().is_some_and(|v4| v4.is_loopback()),
    }
}

/// The URL with any user information taken out, for messages.
fn redacted(url: &Url) -> String {
    let mut shown = url.clone();
    let _ = shown.set_username("");
    let _ = shown.set_password(None);
    shown.to_string()
}

#[cfg(test)]
mod tests {
    use super::*;
    use wua_types::HResult;

    #[test]
    fn plain_http_only_to_loopback() {
        for ok in [
            "http://127.0.0.1:8530",
            "http://127.10.0.1/",
            "http://[::1]:8530",
            "http://localhost:8530",
            "http://LOCALHOST./",
            "https://updates.example.com:8531",
            "https://192.0.2.1/wua/",
        ] {
            ServerUrl::parse(ok, "a token").unwrap_or_else(|e| panic!("{ok}: {e}"));
        }
        for insecure in
            ["http://192.0.2.1:8530", "http://updates.example.com", "http://localhost.example.com/", "http://[::2]/"]
        {
            let e = ServerUrl::parse(insecure, "a token").unwrap_err();
            assert_eq!(e.hresult(), HResult::WUA_E_SERVER_INSECURE_URL, "{insecure}: {e}");
        }
        for bad in ["ftp://127.0.0.1/", "not a url", "https://u:p@example.com/", "https://example.com/?x=1"] {
            assert_eq!(ServerUrl::parse(bad, "a token").unwrap_err().hresult(), HResult::E_INVALIDARG, "{bad}");
        }
    }

    #[test]
    fn routes_and_repository_keep_a_prefix() {
        let u = ServerUrl::parse("https://h.example/wua/", "a token").unwrap();
        assert_eq!(u.as_str(), "https://h.example/wua");
        assert_eq!(u.repository(), "https://h.example/wua/repo");
        assert_eq!(u.route("/api/v1/agent/config").unwrap().as_str(), "https://h.example/wua/api/v1/agent/config");
        let u = ServerUrl::parse("http://127.0.0.1:8530", "a token").unwrap();
        assert_eq!(u.repository(), "http://127.0.0.1:8530/repo");
    }
}
