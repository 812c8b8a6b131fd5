//! The one HTTP client every provider shares: a timeout per request, retries with
//! exponential backoff on 429 and 5xx (honouring `Retry-After`), and failures mapped
//! to [`ProviderError`].
//!
//! Nothing here logs a body, a header value or a query string: log lines carry the
//! provider, method, path, status and attempt only.

use std::time::Duration;

use reqwest::{
    Method, RequestBuilder, StatusCode,
    header::{HeaderMap, RETRY_AFTER},
};
use serde::de::DeserializeOwned;
use textbridge_app::ports::{ProviderError, SecretFields};
use textbridge_domain::ProviderKind;

/// How many times a request is sent before giving up on 429, 5xx or a failed connection.
pub(crate) const ATTEMPTS: u32 = 3;

/// The wait before the second attempt when the provider names none; doubled each time.
const FIRST_BACKOFF: Duration = Duration::from_millis(250);

/// The largest answer read; providers answer far less.
const MAX_BODY_BYTES: usize = 4 * 1024 * 1024;

/// The shared client and its limits. Cloning shares the connection pool.
#[derive(Clone)]
pub(crate) struct Http {
    client: reqwest::Client,
    timeout: Duration,
    max_retry_wait: Duration,
}

/// An answer that is final: 2xx, 3xx or a 4xx other than 429.
pub(crate) struct Reply {
    /// The HTTP status.
    pub(crate) status: StatusCode,
    method: Method,
    path: String,
    body: Vec<u8>,
}

impl Reply {
    /// True for 2xx.
    pub(crate) fn is_success(&self) -> bool {
        self.status.is_success()
    }

    /// The status as a number.
    pub(crate) fn code(&self) -> u16 {
        self.status.as_u16()
    }

    /// Reads the body as JSON of type `T`. The error names `what` and the position,
    /// never the body's text (which may echo what was sent), and is scrubbed of
    /// `secrets` all the same.
    pub(crate) fn json<T: DeserializeOwned>(&self, what: &str, secrets: &SecretFields) -> Result<T, ProviderError> {
        serde_json::from_slice(&self.body).map_err(|e| {
            ProviderError::Protocol(secrets.scrub(&format!(
                "{what} is not the expected JSON (line {}, column {})",
                e.line(),
                e.column()
            )))
        })
    }

    /// The failure for a status the caller did not expect; names the request, never
    /// the body.
    pub(crate) fn unexpected(&self) -> ProviderError {
        ProviderError::Protocol(format!("HTTP {} to {} {}", self.status.as_u16(), self.method, self.path))
    }
}

/// One attempt's outcome.
enum Attempt {
    /// The provider answered.
    Answered { status: StatusCode, retry_after: Option<Duration>, body: Vec<u8> },
    /// No answer: connection refused or reset, TLS failure, body cut short.
    Transport,
}

impl Http {
    /// Builds the client. `timeout` bounds each attempt (connecting, sending and
    /// reading the answer); `max_retry_wait` caps the wait between attempts.
    pub(crate) fn new(timeout: Duration, max_retry_wait: Duration) -> Self {
        let built = reqwest::Client::builder()
            .connect_timeout(timeout)
            .timeout(timeout)
            .redirect(reqwest::redirect::Policy::none())
            .user_agent(concat!("textbridge/", env!("CARGO_PKG_VERSION")))
            .build();
        let client = match built {
            Ok(client) => client,
            Err(e) => {
                tracing::error!(error = %e, "could not build the provider HTTP client as configured; using defaults");
                reqwest::Client::new()
            }
        };
        Self { client, timeout, max_retry_wait }
    }

    /// The client, to start a request with.
    pub(crate) fn client(&self) -> &reqwest::Client {
        &self.client
    }

    /// Sends the request, retrying on 429, 5xx and failed connections (at most
    /// [`ATTEMPTS`] times). A 4xx other than 429 is returned, not retried.
    pub(crate) async fn send(&self, provider: ProviderKind, request: RequestBuilder) -> Result<Reply, ProviderError> {
        let request = request.build().map_err(|_| {
            ProviderError::Protocol(format!("could not build a request to {}", provider.display_name()))
        })?;
        let method = request.method().clone();
        let path = request.url().path().to_owned();
        let mut attempt = 1;
        loop {
            let this = request
                .try_clone()
                .ok_or_else(|| ProviderError::Protocol(format!("a request to {path} cannot be repeated")))?;
            let (status, wait) = match tokio::time::timeout(self.timeout, self.attempt(this)).await {
                Err(_) => {
                    tracing::warn!(provider = %provider, %method, %path, attempt, "provider did not answer in time");
                    return Err(ProviderError::Timeout(self.timeout));
                }
                Ok(Err(e)) => return Err(e),
                Ok(Ok(Attempt::Transport)) => {
                    tracing::warn!(provider = %provider, %method, %path, attempt, "provider could not be reached");
                    (None, None)
                }
                Ok(Ok(Attempt::Answered { status, retry_after, body })) => {
                    let code = status.as_u16();
                    tracing::debug!(provider = %provider, %method, %path, status = code, attempt, "provider answered");
                    if status != StatusCode::TOO_MANY_REQUESTS && !status.is_server_error() {
                        return Ok(Reply { status, method, path, body });
                    }
                    tracing::warn!(provider = %provider, %method, %path, status = code, attempt, "throttled/failing");
                    (Some(code), retry_after)
                }
            };
            if attempt >= ATTEMPTS {
                return Err(ProviderError::Unavailable { status });
            }
            let backoff = FIRST_BACKOFF.saturating_mul(1 << (attempt - 1));
            tokio::time::sleep(wait.unwrap_or(backoff).min(self.max_retry_wait)).await;
            attempt += 1;
        }
    }

    async fn attempt(&self, request: reqwest::Request) -> Result<Attempt, ProviderError> {
        let mut response = match self.client.execute(request).await {
            Ok(response) => response,
            Err(e) if e.is_timeout() => return Err(ProviderError::Timeout(self.timeout)),
            Err(_) => return Ok(Attempt::Transport),
        };
        let status = response.status();
        let retry_after = retry_after(response.headers());
        let mut body = Vec::new();
        loop {
            match response.chunk().await {
                Ok(Some(chunk)) => {
                    if body.len() + chunk.len() > MAX_BODY_BYTES {
                        return Err(ProviderError::Protocol(format!(
                            "the answer is larger than {} MiB",
                            MAX_BODY_BYTES / (1024 * 1024)
                        )));
                    }
                    body.extend_from_slice(&chunk);
                }
                Ok(None) => break,
                Err(e) if e.is_timeout() => return Err(ProviderError::Timeout(self.timeout)),
                Err(_) => return Ok(Attempt::Transport),
            }
        }
        Ok(Attempt::Answered { status, retry_after, body })
    }
}

/// `Retry-After` in seconds (the HTTP-date form is ignored: backoff applies).
fn retry_after(headers: &HeaderMap) -> Option<Duration> {
    let text = headers.get(RETRY_AFTER)?.to_str().ok()?;
    text.trim().parse::<u64>().ok().map(Duration::from_secs)
}

/// Encodes `pairs` as an `application/x-www-form-urlencoded` body.
pub(crate) fn form(pairs: &[(&str, &str)]) -> String {
    let mut serializer = url::form_urlencoded::Serializer::new(String::new());
    for (name, value) in pairs {
        serializer.append_pair(name, value);
    }
    serializer.finish()
}

/// `base` followed by `path` (which starts with `/`), without a doubled slash.
pub(crate) fn join(base: &url::Url, path: &str) -> String {
    format!("{}{path}", base.as_str().trim_end_matches('/'))
}

#[cfg(test)]
mod tests {
    use reqwest::header::HeaderValue;

    use super::*;

    #[test]
    fn retry_after_in_seconds_only() {
        let mut headers = HeaderMap::new();
        assert_eq!(retry_after(&headers), None);
        headers.insert(RETRY_AFTER, HeaderValue::from_static(" 3 "));
        assert_eq!(retry_after(&headers), Some(Duration::from_secs(3)));
        headers.insert(RETRY_AFTER, HeaderValue::from_static("Wed, 21 Oct 2015 07:28:00 GMT"));
        assert_eq!(retry_after(&headers), None);
    }

    #[test]
    fn forms_and_urls() {
        assert_eq!(form(&[("a", "x y"), ("b", "1&2=3"), ("c", "")]), "a=x+y&b=1%262%3D3&c=");
        let base = url::Url::parse("https://api.example.com").unwrap();
        assert_eq!(join(&base, "/user/login"), "https://api.example.com/user/login");
        let prefixed = url::Url::parse("http://127.0.0.1:9/stub/").unwrap();
        assert_eq!(join(&prefixed, "/me"), "http://127.0.0.1:9/stub/me");
    }
}
