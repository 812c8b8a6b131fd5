//! TextUs against a local stand-in of its API.

#![allow(clippy::unwrap_used)] // tests: a failed expectation is a panic

mod common;

use std::time::{Duration, Instant};

use common::{credentials, fields, no_header, provider, provider_with_timeout, received, user};
use secrecy::ExposeSecret;
use serde_json::{Value, json};
use textbridge_app::ports::{Credentials, Provider, ProviderError};
use textbridge_domain::{CredentialLevel, Error, ProviderKind};
use wiremock::{
    Mock, MockServer, ResponseTemplate,
    matchers::{body_json, header, method, path},
};

const KIND: ProviderKind = ProviderKind::TextUs;
const KEY: &str = "tu_live_9f8e7d6c5b4a3210";
const USER_KEY: &str = "tu_live_user_0011223344";
const MEDIA: &str = "application/vnd.textus+jsonld";
const INTAKE: &str = "https://hooks.example.com/webhooks/textus/tok-123";

fn system(p: &dyn Provider) -> Credentials {
    credentials(
        p,
        CredentialLevel::System,
        json!({"account_slug": "acme-staffing", "username": "Ops@Acme.com", "api_key": KEY}),
    )
}

fn texting_user(p: &dyn Provider) -> Credentials {
    credentials(p, user("u-17"), json!({"username": "jo@acme.com", "api_key": USER_KEY}))
}

/// `GET /me` with the exact headers, answering `body`.
async fn me(server: &MockServer, key: &str, body: Value) {
    Mock::given(method("GET"))
        .and(path("/me"))
        .and(header("authorization", format!("Bearer {key}").as_str()))
        .and(header("accept", MEDIA))
        .and(no_header("content-type"))
        .respond_with(ResponseTemplate::new(200).set_body_json(body))
        .expect(1)
        .mount(server)
        .await;
}

fn collection(members: Value) -> Value {
    json!({"@type": "hydra:Collection", "totalItems": members.as_array().map_or(0, Vec::len), "members": members})
}

#[test]
fn check_reads_each_level() {
    let server_less = provider_for_checks();
    let p = server_less.as_ref();
    let checked = p
        .check(
            &CredentialLevel::System,
            &fields(json!({"account_slug": " acme_1 ", "username": "Ops@Acme.com", "api_key": " k-1 "})),
        )
        .unwrap();
    assert_eq!(checked.username.as_str(), "ops@acme.com");
    assert_eq!(checked.public.get("account_slug").map(String::as_str), Some("acme_1"));
    assert_eq!(checked.secret.get("api_key").unwrap().expose_secret(), "k-1");
    assert!(format!("{checked:?}").contains("api_key") && !format!("{checked:?}").contains("k-1"));

    let user_level = p.check(&user("u-1"), &fields(json!({"username": "jo@acme.com", "api_key": "k"}))).unwrap();
    assert!(user_level.public.is_empty());
    assert!(p.needs_system_first(&user("u-1")));
    assert!(!p.needs_system_first(&CredentialLevel::System));
}

#[test]
fn check_names_the_field_and_rule() {
    let p = provider_for_checks();
    let system = |v: Value| p.check(&CredentialLevel::System, &fields(v)).unwrap_err();
    let cases = [
        (json!({"username": "a@b.c", "api_key": "k"}), Error::invalid("account_slug", "is required")),
        (json!({"account_slug": "acme", "api_key": "k"}), Error::invalid("username", "is required")),
        (json!({"account_slug": "acme", "username": "a@b.c"}), Error::invalid("api_key", "is required")),
        (
            json!({"account_slug": "acme", "username": "a@b.c", "api_key": "  "}),
            Error::invalid("api_key", "is required"),
        ),
        (
            json!({"account_slug": 7, "username": "a@b.c", "api_key": "k"}),
            Error::invalid("account_slug", "must be text"),
        ),
        (
            json!({"account_slug": "acme", "username": ["a"], "api_key": "k"}),
            Error::invalid("username", "must be text"),
        ),
        (
            json!({"account_slug": "acme", "username": "a@b.c", "api_key": true}),
            Error::invalid("api_key", "must be text"),
        ),
        (
            json!({"account_slug": "acme", "username": "a@b.c", "api_key": "k", "password": "x"}),
            Error::invalid("password", "is not a TextUs field"),
        ),
    ];
    for (submitted, expected) in cases {
        assert_eq!(system(submitted.clone()), expected, "{submitted}");
    }
    let bad_slug = system(json!({"account_slug": "acme/other", "username": "a@b.c", "api_key": "k"}));
    assert!(matches!(bad_slug, Error::Invalid { ref field, .. } if field == "account_slug"), "{bad_slug:?}");

    let at_user = p.check(&user("u-1"), &fields(json!({"account_slug": "acme", "username": "a", "api_key": "k"})));
    assert!(matches!(at_user, Err(Error::Invalid { ref field, .. }) if field == "account_slug"));
    let branch = p.check(&common::branch("north"), &fields(json!({"username": "a", "api_key": "k"})));
    assert!(matches!(branch, Err(Error::Invalid { ref field, .. }) if field == "level"));

    let secret = p.check_secret(&CredentialLevel::System, &fields(json!({"api_key": "new-key"}))).unwrap();
    assert_eq!(secret.get("api_key").unwrap().expose_secret(), "new-key");
    assert_eq!(
        p.check_secret(&CredentialLevel::System, &fields(json!({"api_key": "k", "username": "x"}))).unwrap_err(),
        Error::invalid("username", "cannot be changed here; only api_key can be replaced")
    );
    assert_eq!(
        p.check_secret(&CredentialLevel::System, &fields(json!({}))).unwrap_err(),
        Error::invalid("api_key", "is required")
    );
}

fn provider_for_checks() -> std::sync::Arc<dyn Provider> {
    let endpoints = textbridge_providers::Endpoints::from_lookup(|_| None).unwrap();
    textbridge_providers::registry(&endpoints).get(KIND).unwrap().clone()
}

#[tokio::test]
async fn system_connect_verifies_and_registers_the_webhook_integration() {
    let server = MockServer::start().await;
    let p = provider(&server, KIND);
    me(&server, KEY, json!({"@type": "User", "id": "/users/7", "email": "ops@acme.com"})).await;
    Mock::given(method("GET"))
        .and(path("/acme-staffing/integrations"))
        .and(header("authorization", format!("Bearer {KEY}").as_str()))
        .and(header("accept", MEDIA))
        .respond_with(ResponseTemplate::new(200).set_body_json(collection(json!([
            {"id": "/integrations/old1", "active": true, "provider": "webhook",
             "config": {"baseUrl": "https://elsewhere.example.com/hook"}},
            {"id": "/integrations/old2", "active": false, "provider": "webhook", "config": {"baseUrl": INTAKE}}
        ]))))
        .expect(1)
        .mount(&server)
        .await;
    let expected_body = json!({
        "@type": "Integration",
        "@context": "/contexts/Integration.jsonld",
        "active": true,
        "provider": "webhook",
        "config": {"baseUrl": INTAKE},
        "settings": {"actions": {
            "message.received": true,
            "message.delivered": true,
            "message.failed": true,
            "contact.opted_out": true,
            "contact.opted_in": true
        }}
    });
    Mock::given(method("POST"))
        .and(path("/acme-staffing/integrations"))
        .and(header("authorization", format!("Bearer {KEY}").as_str()))
        .and(header("accept", MEDIA))
        .and(header("content-type", MEDIA))
        .and(body_json(expected_body))
        .respond_with(ResponseTemplate::new(201).set_body_json(json!({
            "@type": "Integration", "id": "/integrations/0yX2VrJ", "active": true, "provider": "webhook",
            "config": {"baseUrl": INTAKE, "webhookSecret": "whsec_abcdef123456"}
        })))
        .expect(1)
        .mount(&server)
        .await;

    let connection = p.connect(&system(p.as_ref()), None, INTAKE).await.unwrap();
    assert_eq!(connection.webhook_ids, vec!["/integrations/0yX2VrJ".to_owned()]);
    assert_eq!(connection.secret.get("webhook_secret").unwrap().expose_secret(), "whsec_abcdef123456");
}

#[tokio::test]
async fn connecting_again_reuses_the_registered_integration() {
    let server = MockServer::start().await;
    let p = provider(&server, KIND);
    me(&server, KEY, json!({"username": "OPS@acme.com"})).await;
    Mock::given(method("GET"))
        .and(path("/acme-staffing/integrations"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({
            "@type": "hydra:Collection", "totalItems": 2,
            "members": [{"id": "/integrations/other", "active": true, "config": {"baseUrl": "https://x.example.com"}}],
            "view": {"next": "/acme-staffing/integrations?page=2"}
        })))
        .expect(1)
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path("/acme-staffing/integrations"))
        .and(wiremock::matchers::query_param("page", "2"))
        .respond_with(ResponseTemplate::new(200).set_body_json(collection(json!([
            {"id": "/integrations/0yX2VrJ", "active": true, "provider": "webhook",
             "config": {"baseUrl": INTAKE, "webhookSecret": "whsec_listed_7788"}}
        ]))))
        .with_priority(1)
        .expect(1)
        .mount(&server)
        .await;
    Mock::given(method("POST")).respond_with(ResponseTemplate::new(201)).expect(0).mount(&server).await;

    let connection = p.connect(&system(p.as_ref()), None, INTAKE).await.unwrap();
    assert_eq!(connection.webhook_ids, vec!["/integrations/0yX2VrJ".to_owned()]);
    assert_eq!(connection.secret.get("webhook_secret").unwrap().expose_secret(), "whsec_listed_7788");
}

#[tokio::test]
async fn rejected_keys_and_other_users_keys_are_named() {
    let server = MockServer::start().await;
    let p = provider(&server, KIND);
    Mock::given(method("GET"))
        .and(path("/me"))
        .respond_with(ResponseTemplate::new(401).set_body_json(json!({"error": "invalid token"})))
        .up_to_n_times(1)
        .mount(&server)
        .await;
    let err = p.connect(&system(p.as_ref()), None, INTAKE).await.unwrap_err();
    assert_eq!(err, ProviderError::Rejected("TextUs rejected the username or API key".into()));
    assert_eq!(err.describe(KIND), "TextUs rejected the username or API key");

    Mock::given(method("GET"))
        .and(path("/me"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({"email": "someone.else@acme.com"})))
        .mount(&server)
        .await;
    let err = p.test(&system(p.as_ref()), None).await.unwrap_err();
    assert_eq!(err, ProviderError::Rejected("the TextUs API key belongs to another user than ops@acme.com".into()));
    assert_eq!(received(&server).await, 2, "nothing after a failed verification");
}

#[tokio::test]
async fn user_level_verifies_only_and_needs_the_system_credentials() {
    let server = MockServer::start().await;
    let p = provider(&server, KIND);
    let creds = texting_user(p.as_ref());

    let missing = p.connect(&creds, None, INTAKE).await.unwrap_err();
    assert!(matches!(&missing, ProviderError::Rejected(text) if text.contains("system-level")), "{missing:?}");
    assert!(matches!(p.test(&creds, None).await, Err(ProviderError::Rejected(_))));
    assert_eq!(received(&server).await, 0);

    me(&server, USER_KEY, json!({"email": "Jo@Acme.com"})).await;
    let system = system(p.as_ref());
    let connection = p.connect(&creds, Some(&system), INTAKE).await.unwrap();
    assert!(connection.webhook_ids.is_empty() && connection.secret.iter().next().is_none());
    p.disconnect(&creds, Some(&system)).await.unwrap();
    assert_eq!(received(&server).await, 1, "only the verification");
}

#[tokio::test]
async fn disconnect_deletes_each_integration_and_treats_404_as_done() {
    let server = MockServer::start().await;
    let p = provider(&server, KIND);
    for (id, status) in [("0yX2VrJ", 204), ("gone1", 404)] {
        Mock::given(method("DELETE"))
            .and(path(format!("/acme-staffing/integrations/{id}")))
            .and(header("authorization", format!("Bearer {KEY}").as_str()))
            .and(header("accept", MEDIA))
            .respond_with(ResponseTemplate::new(status))
            .expect(1)
            .mount(&server)
            .await;
    }
    let mut creds = system(p.as_ref());
    creds.webhook_ids = vec!["/integrations/0yX2VrJ".into(), "/integrations/gone1".into()];
    p.disconnect(&creds, None).await.unwrap();
}

#[tokio::test]
async fn throttling_is_retried_after_the_capped_retry_after() {
    let server = MockServer::start().await;
    let p = provider(&server, KIND);
    Mock::given(method("GET"))
        .and(path("/me"))
        .respond_with(ResponseTemplate::new(429).insert_header("Retry-After", "1"))
        .up_to_n_times(1)
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path("/me"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({"email": "ops@acme.com"})))
        .mount(&server)
        .await;
    let started = Instant::now();
    p.test(&system(p.as_ref()), None).await.unwrap();
    assert_eq!(received(&server).await, 2);
    assert!(started.elapsed() < Duration::from_millis(900), "the wait is capped by max_retry_wait");
}

#[tokio::test]
async fn a_failing_provider_is_unavailable_after_three_attempts() {
    let server = MockServer::start().await;
    let p = provider(&server, KIND);
    Mock::given(method("GET")).and(path("/me")).respond_with(ResponseTemplate::new(503)).expect(3).mount(&server).await;
    let err = p.test(&system(p.as_ref()), None).await.unwrap_err();
    assert_eq!(err, ProviderError::Unavailable { status: Some(503) });
    assert_eq!(err.describe(KIND), "TextUs is unavailable right now (HTTP 503)");
}

#[tokio::test]
async fn a_slow_provider_times_out() {
    let server = MockServer::start().await;
    let timeout = Duration::from_millis(200);
    let p = provider_with_timeout(&server, KIND, timeout);
    Mock::given(method("GET"))
        .and(path("/me"))
        .respond_with(ResponseTemplate::new(200).set_delay(Duration::from_secs(3)))
        .mount(&server)
        .await;
    let started = Instant::now();
    assert_eq!(p.test(&system(p.as_ref()), None).await.unwrap_err(), ProviderError::Timeout(timeout));
    assert!(started.elapsed() < Duration::from_secs(2), "no retries after a timeout");
    assert_eq!(received(&server).await, 1);
}

#[tokio::test]
async fn errors_never_echo_the_api_key() {
    let server = MockServer::start().await;
    let p = provider(&server, KIND);
    Mock::given(method("GET"))
        .and(path("/me"))
        .respond_with(ResponseTemplate::new(400).set_body_string(format!("bad request: Bearer {KEY}")))
        .up_to_n_times(1)
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path("/me"))
        .respond_with(ResponseTemplate::new(200).set_body_string(format!("{{\"email\": [\"{KEY}\"")))
        .mount(&server)
        .await;
    let creds = system(p.as_ref());
    for _ in 0..2 {
        let err = p.test(&creds, None).await.unwrap_err();
        assert!(matches!(err, ProviderError::Protocol(_)), "{err:?}");
        for text in [err.to_string(), err.describe(KIND), format!("{err:?}")] {
            assert!(!text.contains(KEY), "{text}");
        }
    }
}
