//! The HTTP client under the connector: the workspace's one retrying client
//! (`textbridge-http`) with the token header, and answers mapped to [`AtsError`].
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
    Method, StatusCode,
    header::{ACCEPT, AUTHORIZATION, CONTENT_TYPE, HeaderValue},
};
use secrecy::{ExposeSecret, SecretString};
use textbridge_app::ports::AtsError;
use textbridge_http::{Client, Failure, MAX_BODY_BYTES, Repeat};
use url::Url;

/// The header TempWorks reads the API token from.
const TOKEN_HEADER: &str = "x-tw-token";

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

/// The client (the workspace's one retrying client). Cloning shares the pool.
#[derive(Clone)]
pub(crate) struct Http {
    client: Client,
    scheme: TokenScheme,
}

/// How the API token is sent.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum TokenScheme {
    /// TempWorks' `x-tw-token` header.
    TempWorks,
    /// `Authorization: Bearer {token}` (Textbridge's ATS directory contract).
    Bearer,
}

impl Http {
    /// Builds the client. `timeout` bounds each attempt (connecting, sending and reading
    /// the whole answer); `max_retry_wait` caps the wait between attempts.
    pub(crate) fn new(timeout: Duration, max_retry_wait: Duration) -> Self {
        Self { client: Client::new(timeout, max_retry_wait), scheme: TokenScheme::TempWorks }
    }

    /// The limit on one attempt.
    /// The same client sending the token as `Authorization: Bearer`.
    pub(crate) fn with_bearer(mut self) -> Self {
        self.scheme = TokenScheme::Bearer;
        self
    }

    pub(crate) fn timeout(&self) -> Duration {
        self.client.timeout()
    }

    /// The cap on the wait between attempts.
    pub(crate) fn max_retry_wait(&self) -> Duration {
        self.client.max_retry_wait()
    }

    /// Sends `call` and returns the body of its 2xx answer.
    ///
    /// 401, 403, 404 and the other 4xx (but 429) are [`AtsError::Rejected`]; timeouts,
    /// connection failures, 5xx and 429 once the attempts are spent are
    /// [`AtsError::Unavailable`].
    pub(crate) async fn send(&self, call: Call<'_>) -> Result<Vec<u8>, AtsError> {
        let (header, value) = match self.scheme {
            TokenScheme::TempWorks => (TOKEN_HEADER, call.token.expose_secret().trim().to_owned()),
            TokenScheme::Bearer => (AUTHORIZATION.as_str(), format!("Bearer {}", call.token.expose_secret().trim())),
        };
        let mut token = HeaderValue::from_str(&value).map_err(|_| {
            AtsError::Rejected("the saved ATS API token has characters an HTTP header cannot carry".into())
        })?;
        token.set_sensitive(true);
        let method = call.method.clone();
        let path = call.url.path().to_owned();
        let repeat = if method == Method::POST { Repeat::OnlyIfUnsent } else { Repeat::Safe };
        let maybe_written = if repeat == Repeat::Safe { "" } else { "; the message may have been written" };
        let mut request = self
            .client
            .inner()
            .request(method.clone(), call.url.clone())
            .header(ACCEPT, "application/json")
            .header(header, token);
        if let Some(body) = &call.body {
            request = request.header(CONTENT_TYPE, "application/json").body(body.clone());
        }
        let request = request
            .build()
            .map_err(|_| AtsError::Unavailable(format!("could not build a request to {method} {path}")))?;
        let unavailable = |why: String| AtsError::Unavailable(why);
        match self.client.send(request, repeat, "ats").await {
            Ok(answer) if answer.status.is_success() => Ok(answer.body),
            Ok(answer) => {
                let why = format!("the ATS answered {method} {path} with HTTP {}", answer.status.as_u16());
                tracing::warn!(%method, %path, status = answer.status.as_u16(), "the ATS did not accept the request");
                Err(refusal(answer.status, &call, &format!("{why}{maybe_written}")))
            }
            Err(Failure::Timeout) => Err(unavailable(format!(
                "the ATS did not answer {method} {path} within {:?}{maybe_written}",
                self.client.timeout()
            ))),
            Err(Failure::Unavailable { status: Some(code) }) => {
                Err(unavailable(format!("the ATS answered {method} {path} with HTTP {code}")))
            }
            Err(Failure::Unavailable { status: None }) => Err(unavailable("the ATS could not be reached".into())),
            Err(Failure::Lost) => {
                Err(unavailable(format!("the connection to the ATS broke off during {method} {path}{maybe_written}")))
            }
            Err(Failure::TooLarge { .. }) => Err(unavailable(format!(
                "the ATS answered {method} {path} with more than {} MiB",
                MAX_BODY_BYTES / (1024 * 1024)
            ))),
            Err(Failure::Unbuildable) => Err(unavailable(format!("could not build a request to {method} {path}"))),
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

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)] // tests: a failed expectation is a panic

    use super::*;

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
