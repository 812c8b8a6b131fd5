//! Helpers shared by the provider tests: providers pointed at a `wiremock` server,
//! credentials built through `check`, and a form-body matcher.

#![allow(dead_code)]

use std::{sync::Arc, time::Duration};

use serde_json::Value;
use textbridge_app::ports::{Credentials, Provider, SubmittedFields};
use textbridge_domain::{BranchId, CredentialLevel, ProviderKind, UserId};
use textbridge_providers::{Endpoints, Url, registry};
use wiremock::{MockServer, Request};

/// Long enough for a loaded machine; the slow-server tests use their own.
pub const TIMEOUT: Duration = Duration::from_secs(5);

/// Caps every wait between attempts, so `Retry-After: 1` costs milliseconds.
pub const MAX_RETRY_WAIT: Duration = Duration::from_millis(20);

/// The provider of `kind` with every API at `server`.
pub fn provider(server: &MockServer, kind: ProviderKind) -> Arc<dyn Provider> {
    provider_with_timeout(server, kind, TIMEOUT)
}

/// The provider of `kind` with every API at `base`.
pub fn provider_at(base: &str, kind: ProviderKind) -> Arc<dyn Provider> {
    let base = Url::parse(base).unwrap();
    let endpoints = Endpoints { timeout: TIMEOUT, max_retry_wait: MAX_RETRY_WAIT, ..Endpoints::all_at(&base) };
    registry(&endpoints).get(kind).unwrap().clone()
}

/// The same with a given per-attempt timeout.
pub fn provider_with_timeout(server: &MockServer, kind: ProviderKind, timeout: Duration) -> Arc<dyn Provider> {
    let base = Url::parse(&server.uri()).unwrap();
    let endpoints = Endpoints { timeout, max_retry_wait: MAX_RETRY_WAIT, ..Endpoints::all_at(&base) };
    registry(&endpoints).get(kind).unwrap().clone()
}

/// A JSON object as submitted fields.
pub fn fields(value: Value) -> SubmittedFields {
    value.as_object().cloned().expect("an object")
}

/// Credentials as the use-case builds them from a successful `check`.
pub fn credentials(provider: &dyn Provider, level: CredentialLevel, submitted: Value) -> Credentials {
    let checked = provider.check(&level, &fields(submitted)).expect("valid fields");
    Credentials {
        level,
        username: checked.username,
        public: checked.public,
        secret: checked.secret,
        webhook_ids: Vec::new(),
    }
}

/// User level for `id`.
pub fn user(id: &str) -> CredentialLevel {
    CredentialLevel::User(UserId::parse(id).unwrap())
}

/// Branch level for `id`.
pub fn branch(id: &str) -> CredentialLevel {
    CredentialLevel::Branch(BranchId::parse(id).unwrap())
}

/// Matches a request whose form-encoded body is exactly `pairs` (in any order).
pub fn form_body(pairs: &[(&str, &str)]) -> impl Fn(&Request) -> bool + Send + Sync + 'static {
    let mut expected: Vec<(String, String)> = pairs.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())).collect();
    expected.sort();
    move |request: &Request| {
        let is_form = request
            .headers
            .get("content-type")
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.starts_with("application/x-www-form-urlencoded"));
        let mut got: Vec<(String, String)> =
            url::form_urlencoded::parse(&request.body).map(|(k, v)| (k.into_owned(), v.into_owned())).collect();
        got.sort();
        is_form && got == expected
    }
}

/// Matches a request without the header `name`.
pub fn no_header(name: &'static str) -> impl Fn(&Request) -> bool + Send + Sync + 'static {
    move |request: &Request| !request.headers.contains_key(name)
}

/// How many requests the server received.
pub async fn received(server: &MockServer) -> usize {
    server.received_requests().await.map_or(0, |r| r.len())
}
