//! The HTTP client every provider shares: the workspace's one retrying client
//! (`textbridge-http`), with answers and failures mapped to [`ProviderError`].
//! Provider calls are safe to repeat (reads, and registrations that look up what
//! exists first), so 429, 5xx and failed connections are retried.
//!
//! Nothing here logs a body, a header value or a query string.

use std::time::Duration;

use reqwest::{Method, RequestBuilder, StatusCode};
use serde::de::DeserializeOwned;
use textbridge_app::ports::{ProviderError, SecretFields};
use textbridge_domain::ProviderKind;
use textbridge_http::{Client, Failure, MAX_BODY_BYTES, Repeat};

/// The shared client. Cloning shares the connection pool.
#[derive(Clone)]
pub(crate) struct Http {
    client: Client,
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

impl Http {
    /// Builds the client. `timeout` bounds each attempt; `max_retry_wait` caps the
    /// wait between attempts.
    pub(crate) fn new(timeout: Duration, max_retry_wait: Duration) -> Self {
        Self { client: Client::new(timeout, max_retry_wait) }
    }

    /// The client, to start a request with.
    pub(crate) fn client(&self) -> &reqwest::Client {
        self.client.inner()
    }

    /// Sends the request, retrying on 429, 5xx and failed connections. A 4xx other
    /// than 429 is returned, not retried.
    pub(crate) async fn send(&self, provider: ProviderKind, request: RequestBuilder) -> Result<Reply, ProviderError> {
        self.send_as(provider, request, Repeat::Safe).await
    }

    /// Sends a request that must not be acted on twice (a text): repeated only on
    /// 429, 503 or a connection that was never made.
    pub(crate) async fn send_once(
        &self,
        provider: ProviderKind,
        request: RequestBuilder,
    ) -> Result<Reply, ProviderError> {
        self.send_as(provider, request, Repeat::OnlyIfUnsent).await
    }

    async fn send_as(
        &self,
        provider: ProviderKind,
        request: RequestBuilder,
        repeat: Repeat,
    ) -> Result<Reply, ProviderError> {
        let request = request.build().map_err(|_| {
            ProviderError::Protocol(format!("could not build a request to {}", provider.display_name()))
        })?;
        let method = request.method().clone();
        let path = request.url().path().to_owned();
        match self.client.send(request, repeat, provider.display_name()).await {
            Ok(answer) => Ok(Reply { status: answer.status, method, path, body: answer.body }),
            Err(Failure::Timeout) => Err(ProviderError::Timeout(self.client.timeout())),
            Err(Failure::Unavailable { status }) => Err(ProviderError::Unavailable { status }),
            Err(Failure::Lost) if repeat == Repeat::OnlyIfUnsent => Err(ProviderError::Protocol(
                "the connection broke off after the request was sent; it may have been acted on".into(),
            )),
            Err(Failure::Lost) => Err(ProviderError::Unavailable { status: None }),
            Err(Failure::TooLarge { .. }) => Err(ProviderError::Protocol(format!(
                "the answer is larger than {} MiB",
                MAX_BODY_BYTES / (1024 * 1024)
            ))),
            Err(Failure::Unbuildable) => {
                Err(ProviderError::Protocol(format!("a request to {path} cannot be repeated")))
            }
        }
    }
}

/// The reason a provider gave for refusing a request (`message`, `error` or
/// `errors[0].message` of a JSON answer), bounded and scrubbed of `secrets`.
pub(crate) fn refusal(provider: ProviderKind, reply: &Reply, secrets: &SecretFields) -> ProviderError {
    let body: serde_json::Value = serde_json::from_slice(&reply.body).unwrap_or_default();
    let reason = ["/message", "/error", "/errors/0/message", "/errorDesc"]
        .iter()
        .find_map(|p| body.pointer(p).and_then(serde_json::Value::as_str))
        .map(|r| secrets.scrub(&r.chars().take(200).collect::<String>()));
    ProviderError::Refused(match reason {
        Some(reason) => format!("{} refused the text (HTTP {}): {reason}", provider.display_name(), reply.code()),
        None => format!("{} refused the text (HTTP {})", provider.display_name(), reply.code()),
    })
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
    use super::*;

    #[test]
    fn forms_and_urls() {
        assert_eq!(form(&[("a", "x y"), ("b", "1&2=3"), ("c", "")]), "a=x+y&b=1%262%3D3&c=");
        let base = url::Url::parse("https://api.example.com").unwrap();
        assert_eq!(join(&base, "/user/login"), "https://api.example.com/user/login");
        let prefixed = url::Url::parse("http://127.0.0.1:9/stub/").unwrap();
        assert_eq!(join(&prefixed, "/me"), "http://127.0.0.1:9/stub/me");
    }
}
