//! The HTTP client under the connector: the token header, a time limit per attempt,
//! retries with backoff on throttling and failures, and answers mapped to
//! [`AtsError`].
//!
//! Retries never risk a second write: a `POST` is repeated only when the ATS cannot
//! have acted on it (429, 503, or no connection made). After a timeout, a broken
//! connection or another 5xx the `POST` may have been written, so the call fails as
//! [`AtsError::Unavailable`] and the caller's recovery asks `find_message` first.
//!
//! Log lines carry the method, path, status and attempt: never the token, a body or
//! an error's text (which could echo either).

use std::time::Duration;

use reqwest::{
    Method, RequestBuilder, StatusCode,
    header::{ACCEPT, CONTENT_TYPE, HeaderMap, HeaderValue, RETRY_AFTER},
};
use secrecy::{ExposeSecret, SecretString};
use textbridge_app::ports::AtsError;
use url::Url;

/// The header TempWorks reads the API token from.
const TOKEN_HEADER: &str = "x-tw-token";

/// How many times a request is sent at most.
const ATTEMPTS: u32 = 3;

/// The wait before the second attempt when the ATS names none; doubled each time.
const FIRST_BACKOFF: Duration = Duration::from_millis(250);

/// The largest answer read; the ATS answers far less.
const MAX_BODY_BYTES: usize = 4 * 1024 * 1024;

/// One request to make, with the words to explain a refusal.
pub(crate) struct Call<'a> {
    /// `GET` or `POST`.
    pub(crate) method: Method,
    /// The full URL, query included.
    pub(crate) url: Url,
    /// The tenant's API token.
    pub(crate) token: &'a SecretString,
    /// A JSON body, already serialised.
    pub(crate) body: Option<Vec<u8>>,
    /// What the call does, to complete "may not …": `write messages on employee 42`.
    pub(crate) doing: &'a str,
    /// The refusal for a 404: `no employee 42 in the ATS`.
    pub(crate) not_found: &'a str,
}

/// The client and its limits.
#[derive(Clone)]
pub(crate) struct Http {
    client: reqwest::Client,
    timeout: Duration,
    max_retry_wait: Duration,
}

/// One attempt's outcome.
enum Attempt {
    /// The ATS answered in full.
    Answered { status: StatusCode, retry_after: Option<Duration>, body: Vec<u8> },
    /// No connection was made: the ATS cannot have seen the request.
    NotSent,
    /// The connection broke after the request may have arrived.
    Lost,
    /// The answer was larger than [`MAX_BODY_BYTES`].
    TooLarge,
    /// reqwest could not build the request (an unusable URL).
    Unbuildable,
}

/// What to do after an attempt that did not end the call.
struct Retry {
    /// Why, for the error if no attempt is left.
    why: String,
    /// What the ATS asked to wait, if anything.
    wait: Option<Duration>,
}

impl Http {
    /// Builds the client. `timeout` bounds each attempt (connecting, sending and reading
    /// the whole answer); `max_retry_wait` caps the wait between attempts.
    pub(crate) fn new(timeout: Duration, max_retry_wait: Duration) -> Self {
        let built = reqwest::Client::builder()
            .connect_timeout(timeout)
            .redirect(reqwest::redirect::Policy::none())
            .user_agent(concat!("textbridge/", env!("CARGO_PKG_VERSION")))
            .build();
        let client = match built {
            Ok(client) => client,
            Err(e) => {
                tracing::error!(error = %e, "could not build the ATS HTTP client as configured; using defaults");
                reqwest::Client::new()
            }
        };
        Self { client, timeout, max_retry_wait }
    }

    /// The limit on one attempt.
    pub(crate) fn timeout(&self) -> Duration {
        self.timeout
    }

    /// The cap on the wait between attempts.
    pub(crate) fn max_retry_wait(&self) -> Duration {
        self.max_retry_wait
    }

    /// Sends `call` and returns the body of its 2xx answer.
    ///
    /// 401, 403, 404 and the other 4xx (but 429) are [`AtsError::Rejected`]; timeouts,
    /// connection failures, 5xx and 429 once the attempts are spent are
    /// [`AtsError::Unavailable`].
    pub(crate) async fn send(&self, call: Call<'_>) -> Result<Vec<u8>, AtsError> {
        let mut token = HeaderValue::from_str(call.token.expose_secret().trim()).map_err(|_| {
            AtsError::Rejected("the saved TempWorks API token has characters an HTTP header cannot carry".into())
        })?;
        token.set_sensitive(true);
        let method = call.method.clone();
        let path = call.url.path().to_owned();
        let repeatable = method != Method::POST;
        let maybe_written = if repeatable { "" } else { "; the message may have been written" };
        let mut attempt = 1;
        loop {
            let request = self.request(&call, &token);
            let retry = match tokio::time::timeout(self.timeout, self.attempt(request)).await {
                Err(_) => {
                    tracing::warn!(%method, %path, attempt, "the ATS did not answer in time");
                    return Err(AtsError::Unavailable(format!(
                        "the ATS did not answer {method} {path} within {:?}{maybe_written}",
                        self.timeout
                    )));
                }
                Ok(Attempt::Unbuildable) => {
                    return Err(AtsError::Unavailable(format!("could not build a request to {method} {path}")));
                }
                Ok(Attempt::TooLarge) => {
                    return Err(AtsError::Unavailable(format!(
                        "the ATS answered {method} {path} with more than {} MiB",
                        MAX_BODY_BYTES / (1024 * 1024)
                    )));
                }
                Ok(Attempt::NotSent) => {
                    tracing::warn!(%method, %path, attempt, "the ATS could not be reached");
                    Retry { why: "the ATS could not be reached".into(), wait: None }
                }
                Ok(Attempt::Lost) => {
                    tracing::warn!(%method, %path, attempt, "the connection to the ATS broke off");
                    let why = format!("the connection to the ATS broke off during {method} {path}{maybe_written}");
                    if !repeatable {
                        return Err(AtsError::Unavailable(why));
                    }
                    Retry { why, wait: None }
                }
                Ok(Attempt::Answered { status, retry_after, body }) => {
                    let code = status.as_u16();
                    tracing::debug!(%method, %path, status = code, attempt, "the ATS answered");
                    if status.is_success() {
                        return Ok(body);
                    }
                    let why = format!("the ATS answered {method} {path} with HTTP {code}");
                    match status {
                        StatusCode::TOO_MANY_REQUESTS | StatusCode::SERVICE_UNAVAILABLE => {
                            Retry { why, wait: retry_after }
                        }
                        _ if status.is_server_error() && repeatable => Retry { why, wait: retry_after },
                        _ => {
                            tracing::warn!(%method, %path, status = code, attempt, "the ATS did not accept the request");
                            return Err(refusal(status, &call, &format!("{why}{maybe_written}")));
                        }
                    }
                }
            };
            if attempt >= ATTEMPTS {
                tracing::warn!(%method, %path, attempt, "giving up on the ATS for now");
                return Err(AtsError::Unavailable(retry.why));
            }
            let backoff = FIRST_BACKOFF.saturating_mul(1 << (attempt - 1));
            let wait = retry.wait.unwrap_or(backoff).min(self.max_retry_wait);
            tracing::info!(%method, %path, attempt, wait_ms = wait.as_millis(), "retrying the ATS");
            tokio::time::sleep(wait).await;
            attempt += 1;
        }
    }

    /// The request of one attempt.
    fn request(&self, call: &Call<'_>, token: &HeaderValue) -> RequestBuilder {
        let request = self
            .client
            .request(call.method.clone(), call.url.clone())
            .header(ACCEPT, "application/json")
            .header(TOKEN_HEADER, token.clone());
        match &call.body {
            Some(body) => request.header(CONTENT_TYPE, "application/json").body(body.clone()),
            None => request,
        }
    }

    /// Sends one attempt and reads the whole answer.
    async fn attempt(&self, request: RequestBuilder) -> Attempt {
        let mut response = match request.send().await {
            Ok(response) => response,
            Err(e) if e.is_builder() => return Attempt::Unbuildable,
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

/// The error for an answer that ends the call without success: `why` names the request
/// and status, for the answers that are not a refusal.
fn refusal(status: StatusCode, call: &Call<'_>, why: &str) -> AtsError {
    match status {
        StatusCode::UNAUTHORIZED => AtsError::Rejected("the ATS rejected the API token".into()),
        StatusCode::FORBIDDEN => AtsError::Rejected(format!("the ATS API token may not {}", call.doing)),
        StatusCode::NOT_FOUND => AtsError::Rejected(call.not_found.to_owned()),
        _ if status.is_client_error() => {
            AtsError::Rejected(format!("the ATS refused to {} (HTTP {})", call.doing, status.as_u16()))
        }
        _ => AtsError::Unavailable(why.to_owned()),
    }
}

/// `Retry-After` in seconds (the HTTP-date form is ignored: backoff applies).
fn retry_after(headers: &HeaderMap) -> Option<Duration> {
    let text = headers.get(RETRY_AFTER)?.to_str().ok()?;
    text.trim().parse::<u64>().ok().map(Duration::from_secs)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)] // tests: a failed expectation is a panic

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
    fn refusals_in_plain_words() {
        let token = SecretString::from("t");
        let call = Call {
            method: Method::POST,
            url: Url::parse("https://api.example.com/Employees/42/messages").unwrap(),
            token: &token,
            body: None,
            doing: "write messages on employee 42",
            not_found: "no employee 42 in the ATS",
        };
        let cases = [
            (401, AtsError::Rejected("the ATS rejected the API token".into())),
            (403, AtsError::Rejected("the ATS API token may not write messages on employee 42".into())),
            (404, AtsError::Rejected("no employee 42 in the ATS".into())),
            (422, AtsError::Rejected("the ATS refused to write messages on employee 42 (HTTP 422)".into())),
            (500, AtsError::Unavailable("why".into())),
            (302, AtsError::Unavailable("why".into())),
        ];
        for (code, expected) in cases {
            assert_eq!(refusal(StatusCode::from_u16(code).unwrap(), &call, "why"), expected, "{code}");
        }
    }
}
