//! The one outbound HTTP client every connector shares (texting providers, the ATS):
//! a time limit per attempt, at most [`ATTEMPTS`] attempts with exponential backoff
//! honouring `Retry-After`, answers read whole up to [`MAX_BODY_BYTES`], no
//! redirects. Callers map [`Answer`] and [`Failure`] to their own errors.
//!
//! Whether a request may reach the server twice is the caller's to say ([`Repeat`]):
//! a write that is not idempotent is repeated only when the server cannot have acted
//! on it.
//!
//! Log lines carry the label, method, path, status and attempt: never a header
//! value, a query string or a body.

use std::sync::{Arc, OnceLock};
use std::time::Duration;

use reqwest::{
    StatusCode,
    header::{HeaderMap, RETRY_AFTER},
};

/// How many times a request is sent at most.
pub const ATTEMPTS: u32 = 3;

/// The largest answer read.
pub const MAX_BODY_BYTES: usize = 4 * 1024 * 1024;

/// The wait before the second attempt when the server names none; doubled each time.
const FIRST_BACKOFF: Duration = Duration::from_millis(250);

/// Whether a request may be sent again after it may have reached the server.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Repeat {
    /// Safe to repeat (reads, idempotent writes): retried on 429, any 5xx and any
    /// failed or broken connection.
    Safe,
    /// Must not be acted on twice: retried only on 429, 503 or a connection that was
    /// never made. Other 5xx answers are returned as they are; a connection that
    /// broke after sending is [`Failure::Lost`].
    OnlyIfUnsent,
}

/// A final answer: anything but a retried status.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Answer {
    /// The status.
    pub status: StatusCode,
    /// The whole body.
    pub body: Vec<u8>,
}

/// Why no final answer came.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Failure {
    /// No answer within the time limit (the request may have arrived).
    Timeout,
    /// The attempts are spent on throttling, failures or unreachable servers; the
    /// last status, if there was one.
    Unavailable {
        /// The last HTTP status.
        status: Option<u16>,
    },
    /// The connection broke after the request may have arrived ([`Repeat::OnlyIfUnsent`]).
    Lost,
    /// The answer was larger than [`MAX_BODY_BYTES`].
    TooLarge,
    /// The request could not be built or repeated.
    Unbuildable,
}

/// One attempt's outcome.
enum Attempt {
    Answered { status: StatusCode, retry_after: Option<Duration>, body: Vec<u8> },
    NotSent,
    Lost,
    TooLarge,
}

/// A builder of a `reqwest` client that speaks TLS through rustls on ring, the one
/// TLS stack of every outbound call (this client's, the AWS SDK's, the tests').
pub fn builder() -> reqwest::ClientBuilder {
    static RING: std::sync::Once = std::sync::Once::new();
    RING.call_once(|| {
        // Already installed (by another caller) is as good as installed now.
        let _ = rustls::crypto::ring::default_provider().install_default();
    });
    reqwest::Client::builder()
}

/// Builds `builder`; one that cannot be built as configured (no TLS roots to read,
/// say) is logged and replaced by the defaults, whose requests then fail one by one.
pub fn build_or_default(builder: reqwest::ClientBuilder) -> reqwest::Client {
    builder.build().unwrap_or_else(|e| {
        tracing::error!(error = %e, "could not build the HTTP client as configured; using defaults");
        reqwest::Client::new()
    })
}

/// The shared client and its limits. Cloning shares the connection pool.
///
/// The underlying client is built on first use: building it reads the system's root
/// certificates (milliseconds), which a Lambda function's start-up should not wait for
/// when its requests may never go out (intake only verifies webhooks).
#[derive(Debug, Clone)]
pub struct Client {
    client: Arc<OnceLock<reqwest::Client>>,
    timeout: Duration,
    max_retry_wait: Duration,
}

impl Client {
    /// A client whose attempts each take at most `timeout` (connecting, sending and
    /// reading the whole answer), waiting at most `max_retry_wait` between attempts.
    pub fn new(timeout: Duration, max_retry_wait: Duration) -> Self {
        Self { client: Arc::new(OnceLock::new()), timeout, max_retry_wait }
    }

    /// The underlying client, to build requests with.
    pub fn inner(&self) -> &reqwest::Client {
        self.client.get_or_init(|| {
            build_or_default(
                builder()
                    .connect_timeout(self.timeout)
                    .redirect(reqwest::redirect::Policy::none())
                    .user_agent(concat!("textbridge/", env!("CARGO_PKG_VERSION"))),
            )
        })
    }

    /// The limit on one attempt.
    pub fn timeout(&self) -> Duration {
        self.timeout
    }

    /// The cap on the wait between attempts.
    pub fn max_retry_wait(&self) -> Duration {
        self.max_retry_wait
    }

    /// Sends `request` (labelled `label` in logs), retrying as `repeat` allows.
    pub async fn send(&self, request: reqwest::Request, repeat: Repeat, label: &str) -> Result<Answer, Failure> {
        let method = request.method().clone();
        let path = request.url().path().to_owned();
        let mut attempt = 1;
        loop {
            let this = request.try_clone().ok_or(Failure::Unbuildable)?;
            let (status, wait) = match tokio::time::timeout(self.timeout, self.attempt(this)).await {
                Err(_) => {
                    tracing::warn!(label, %method, %path, attempt, "no answer in time");
                    return Err(Failure::Timeout);
                }
                Ok(Attempt::TooLarge) => return Err(Failure::TooLarge),
                Ok(Attempt::NotSent) => {
                    tracing::warn!(label, %method, %path, attempt, "could not connect");
                    (None, None)
                }
                Ok(Attempt::Lost) => {
                    tracing::warn!(label, %method, %path, attempt, "the connection broke off");
                    if repeat == Repeat::OnlyIfUnsent {
                        return Err(Failure::Lost);
                    }
                    (None, None)
                }
                Ok(Attempt::Answered { status, retry_after, body }) => {
                    let code = status.as_u16();
                    tracing::debug!(label, %method, %path, status = code, attempt, "answered");
                    let retried = match repeat {
                        Repeat::Safe => status == StatusCode::TOO_MANY_REQUESTS || status.is_server_error(),
                        Repeat::OnlyIfUnsent => {
                            matches!(status, StatusCode::TOO_MANY_REQUESTS | StatusCode::SERVICE_UNAVAILABLE)
                        }
                    };
                    if !retried {
                        return Ok(Answer { status, body });
                    }
                    tracing::warn!(label, %method, %path, status = code, attempt, "throttled or failing");
                    (Some(code), retry_after)
                }
            };
            if attempt >= ATTEMPTS {
                return Err(Failure::Unavailable { status });
            }
            let backoff = FIRST_BACKOFF.saturating_mul(1 << (attempt - 1));
            tokio::time::sleep(wait.unwrap_or(backoff).min(self.max_retry_wait)).await;
            attempt += 1;
        }
    }

    async fn attempt(&self, request: reqwest::Request) -> Attempt {
        let mut response = match self.inner().execute(request).await {
            Ok(response) => response,
            Err(e) if e.is_connect() => return Attempt::NotSent,
            Err(_) => return Attempt::Lost,
        };
        let status = response.status();
        let retry_after = retry_after(response.headers());
        let mut body = Vec::new();
        loop {
            match response.chunk().await {
                Ok(Some(chunk)) if body.len() + chunk.len() > MAX_BODY_BYTES => return Attempt::TooLarge,
                Ok(Some(chunk)) => body.extend_from_slice(&chunk),
                Ok(None) => return Attempt::Answered { status, retry_after, body },
                Err(_) => return Attempt::Lost,
            }
        }
    }
}

/// `Retry-After` in seconds (the HTTP-date form is ignored: backoff applies).
pub fn retry_after(headers: &HeaderMap) -> Option<Duration> {
    let text = headers.get(RETRY_AFTER)?.to_str().ok()?;
    text.trim().parse::<u64>().ok().map(Duration::from_secs)
}

#[cfg(test)]
mod tests {
    use reqwest::header::HeaderValue;
    use wiremock::{Mock, MockServer, ResponseTemplate, matchers::method};

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

    async fn sends(repeat: Repeat, status: u16) -> (Result<Answer, Failure>, usize) {
        let server = MockServer::start().await;
        Mock::given(method("POST")).respond_with(ResponseTemplate::new(status)).mount(&server).await;
        let client = Client::new(Duration::from_secs(5), Duration::from_millis(10));
        let request = client.inner().post(server.uri()).body("x").build().unwrap();
        let result = client.send(request, repeat, "test").await;
        (result, server.received_requests().await.unwrap_or_default().len())
    }

    #[tokio::test]
    async fn repeat_policies() {
        assert_eq!(sends(Repeat::Safe, 500).await, (Err(Failure::Unavailable { status: Some(500) }), 3));
        assert_eq!(sends(Repeat::OnlyIfUnsent, 503).await, (Err(Failure::Unavailable { status: Some(503) }), 3));
        let (answer, sent) = sends(Repeat::OnlyIfUnsent, 500).await;
        assert_eq!(
            (answer.map(|a| a.status.as_u16()), sent),
            (Ok(500), 1),
            "a write that may have happened is not repeated"
        );
        let (answer, sent) = sends(Repeat::Safe, 404).await;
        assert_eq!((answer.map(|a| a.status.as_u16()), sent), (Ok(404), 1));
    }

    #[tokio::test]
    async fn slow_answers_time_out_without_retry() {
        let server = MockServer::start().await;
        Mock::given(method("GET"))
            .respond_with(ResponseTemplate::new(200).set_delay(Duration::from_millis(500)))
            .mount(&server)
            .await;
        let client = Client::new(Duration::from_millis(100), Duration::from_millis(10));
        let request = client.inner().get(server.uri()).build().unwrap();
        assert_eq!(client.send(request, Repeat::Safe, "test").await, Err(Failure::Timeout));
        assert_eq!(server.received_requests().await.unwrap_or_default().len(), 1);
    }
}
