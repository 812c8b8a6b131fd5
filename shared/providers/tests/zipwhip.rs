//! Zipwhip against a local stand-in of its API.

#![allow(clippy::unwrap_used)] // tests: a failed expectation is a panic

mod common;

use std::time::{Duration, Instant};

use common::{branch, credentials, fields, form_body, provider, provider_with_timeout, received, user};
use secrecy::{ExposeSecret, SecretString};
use serde_json::{Value, json};
use textbridge_app::ports::{Credentials, Provider, ProviderError};
use textbridge_domain::{CredentialLevel, Error, ProviderKind};
use wiremock::{
    Mock, MockServer, ResponseTemplate,
    matchers::{method, path},
};

const KIND: ProviderKind = ProviderKind::Zipwhip;
const PASSWORD: &str = "s3cret pass&word=1";
const SESSION: &str = "d3c0ffee-1234-5678-9abc-def012345678:377265507";
const INTAKE: &str = "https://hooks.example.com/webhooks/zipwhip/tok-456";
const RULE: &str =
    "the phone number part must be digits only, with no parentheses, dashes or spaces (e.g. alex@6512345678)";

fn line(p: &dyn Provider) -> Credentials {
    credentials(p, user("alexander.swanson"), json!({"username": "alex@6512345678", "password": PASSWORD}))
}

fn connected(p: &dyn Provider, ids: &[&str]) -> Credentials {
    let mut creds = line(p);
    creds.secret.insert("session_key", SecretString::from(SESSION.to_owned()));
    creds.webhook_ids = ids.iter().map(|s| (*s).to_owned()).collect();
    creds
}

fn ok(response: Value) -> ResponseTemplate {
    ResponseTemplate::new(200).set_body_json(json!({"success": true, "response": response}))
}

async fn login_ok(server: &MockServer) {
    Mock::given(method("POST"))
        .and(path("/user/login"))
        .and(form_body(&[("username", "alex@6512345678"), ("password", PASSWORD)]))
        .respond_with(ok(json!(SESSION)))
        .expect(1)
        .mount(server)
        .await;
}

async fn list(server: &MockServer, hooks: Value) {
    Mock::given(method("POST"))
        .and(path("/webhook/list"))
        .and(form_body(&[("session", SESSION)]))
        .respond_with(ok(hooks))
        .expect(1)
        .mount(server)
        .await;
}

fn checker() -> std::sync::Arc<dyn Provider> {
    let endpoints = textbridge_providers::Endpoints::from_lookup(|_| None).unwrap();
    textbridge_providers::registry(&endpoints).get(KIND).unwrap().clone()
}

#[test]
fn usernames_follow_the_digits_only_rule() {
    let p = checker();
    for level in [CredentialLevel::System, branch("north"), user("u-1")] {
        for good in ["alex@6512345678", "6512345678", "16512345678"] {
            let checked = p.check(&level, &fields(json!({"username": good, "password": "pw"}))).unwrap();
            assert_eq!(checked.username.as_str(), good);
            assert_eq!(checked.public.get("username").map(String::as_str), Some(good));
            assert_eq!(checked.secret.get("password").unwrap().expose_secret(), "pw");
        }
        for bad in ["(555) 123-4567", "555-123-4567", "alex@651-234-5678", "alex@(651) 234-5678", "alex"] {
            let err = p.check(&level, &fields(json!({"username": bad, "password": "pw"}))).unwrap_err();
            assert_eq!(err, Error::invalid("username", RULE), "{bad}");
        }
        assert!(!p.needs_system_first(&level));
    }
}

#[test]
fn check_names_the_field_and_rule() {
    let p = checker();
    let level = branch("north");
    let check = |v: Value| p.check(&level, &fields(v)).unwrap_err();
    assert_eq!(check(json!({"password": "pw"})), Error::invalid("username", "is required"));
    assert_eq!(check(json!({"username": "6512345678"})), Error::invalid("password", "is required"));
    assert_eq!(check(json!({"username": 6512345678u64, "password": "pw"})), Error::invalid("username", "must be text"));
    assert_eq!(check(json!({"username": "6512345678", "password": 1})), Error::invalid("password", "must be text"));
    assert_eq!(
        check(json!({"username": "6512345678", "password": "pw", "api_key": "k"})),
        Error::invalid("api_key", "is not a Zipwhip field")
    );
    let secret = p.check_secret(&level, &fields(json!({"password": " keeps spaces "}))).unwrap();
    assert_eq!(secret.get("password").unwrap().expose_secret(), " keeps spaces ");
    assert_eq!(
        p.check_secret(&level, &fields(json!({"username": "6512345678", "password": "x"}))).unwrap_err(),
        Error::invalid("username", "cannot be changed here; only password can be replaced")
    );
}

#[tokio::test]
async fn connect_logs_in_and_registers_both_message_webhooks_with_exact_ids() {
    let server = MockServer::start().await;
    let p = provider(&server, KIND);
    login_ok(&server).await;
    list(&server, json!([{"webhookId": 5, "type": "message", "event": "receive", "url": "https://old.example.com"}]))
        .await;
    for (event, id) in [("receive", 1_327_295_480_212_647_936u64), ("send", 1_327_295_480_212_647_937u64)] {
        Mock::given(method("POST"))
            .and(path("/webhook/add"))
            .and(form_body(&[
                ("session", SESSION),
                ("type", "message"),
                ("event", event),
                ("url", INTAKE),
                ("method", "POST"),
            ]))
            .respond_with(ResponseTemplate::new(200).set_body_string(
                format!(r#"{{"success":true,"response":[{{"webhookId":{id},"type":"message","event":"{event}","#)
                    + &format!(r#""url":"{INTAKE}","method":"POST"}}]}}"#),
            ))
            .expect(1)
            .mount(&server)
            .await;
    }

    let connection = p.connect(&line(p.as_ref()), None, INTAKE).await.unwrap();
    assert_eq!(connection.webhook_ids, vec!["1327295480212647936".to_owned(), "1327295480212647937".to_owned()]);
    assert_eq!(connection.secret.get("session_key").unwrap().expose_secret(), SESSION);
}

#[tokio::test]
async fn connecting_again_reuses_registered_webhooks() {
    let server = MockServer::start().await;
    let p = provider(&server, KIND);
    login_ok(&server).await;
    list(
        &server,
        json!([
            {"webhookId": 1_327_295_480_212_647_936u64, "type": "message", "event": "receive", "url": INTAKE},
            {"webhookId": "687557714", "type": "message", "event": "send", "url": INTAKE, "method": "POST"}
        ]),
    )
    .await;
    Mock::given(method("POST")).and(path("/webhook/add")).respond_with(ok(json!([]))).expect(0).mount(&server).await;

    let connection = p.connect(&line(p.as_ref()), None, INTAKE).await.unwrap();
    assert_eq!(connection.webhook_ids, vec!["1327295480212647936".to_owned(), "687557714".to_owned()]);
}

#[tokio::test]
async fn a_refused_login_is_rejected() {
    for refusal in [
        ResponseTemplate::new(200).set_body_json(json!({"success": false, "response": null})),
        ResponseTemplate::new(401),
    ] {
        let server = MockServer::start().await;
        let p = provider(&server, KIND);
        Mock::given(method("POST")).and(path("/user/login")).respond_with(refusal).expect(1).mount(&server).await;
        let err = p.connect(&line(p.as_ref()), None, INTAKE).await.unwrap_err();
        assert_eq!(
            err,
            ProviderError::Rejected(
                "Zipwhip rejected the username or password; if the password is right, try the line's phone number \
                 alone as the username (digits only, e.g. 6512345678)"
                    .into()
            )
        );
        assert_eq!(received(&server).await, 1);
    }
}

#[tokio::test]
async fn test_uses_the_saved_session() {
    let server = MockServer::start().await;
    let p = provider(&server, KIND);
    list(&server, json!([])).await;
    p.test(&connected(p.as_ref(), &[]), None).await.unwrap();

    let server = MockServer::start().await;
    let p = provider(&server, KIND);
    Mock::given(method("POST"))
        .and(path("/webhook/list"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({"success": false})))
        .mount(&server)
        .await;
    let expected = ProviderError::Rejected("Zipwhip no longer accepts the saved session; replace the password".into());
    assert_eq!(p.test(&connected(p.as_ref(), &[]), None).await.unwrap_err(), expected);
    assert_eq!(p.test(&line(p.as_ref()), None).await.unwrap_err(), expected, "no session saved");
}

#[tokio::test]
async fn disconnect_deletes_each_webhook_then_logs_out() {
    let server = MockServer::start().await;
    let p = provider(&server, KIND);
    for id in ["1327295480212647936", "687557714"] {
        Mock::given(method("POST"))
            .and(path("/webhook/delete"))
            .and(form_body(&[("session", SESSION), ("webhookId", id)]))
            .respond_with(ok(Value::Null))
            .expect(1)
            .mount(&server)
            .await;
    }
    Mock::given(method("POST"))
        .and(path("/user/logout"))
        .and(form_body(&[("session", SESSION)]))
        .respond_with(ok(Value::Null))
        .expect(1)
        .mount(&server)
        .await;
    p.disconnect(&connected(p.as_ref(), &["1327295480212647936", "687557714"]), None).await.unwrap();
    let order: Vec<String> =
        server.received_requests().await.unwrap().iter().map(|r| r.url.path().to_owned()).collect();
    assert_eq!(order, ["/webhook/delete", "/webhook/delete", "/user/logout"]);
}

#[tokio::test]
async fn disconnect_reports_a_failure_but_tries_everything() {
    let server = MockServer::start().await;
    let p = provider(&server, KIND);
    Mock::given(method("POST"))
        .and(path("/webhook/delete"))
        .respond_with(ResponseTemplate::new(400))
        .expect(1)
        .mount(&server)
        .await;
    Mock::given(method("POST")).and(path("/user/logout")).respond_with(ok(Value::Null)).expect(1).mount(&server).await;
    let err = p.disconnect(&connected(p.as_ref(), &["42"]), None).await.unwrap_err();
    assert_eq!(err, ProviderError::Protocol("HTTP 400 to POST /webhook/delete".into()));
}

#[tokio::test]
async fn throttling_is_retried_after_the_capped_retry_after() {
    let server = MockServer::start().await;
    let p = provider(&server, KIND);
    Mock::given(method("POST"))
        .and(path("/webhook/list"))
        .respond_with(ResponseTemplate::new(429).insert_header("Retry-After", "1"))
        .up_to_n_times(1)
        .mount(&server)
        .await;
    Mock::given(method("POST")).and(path("/webhook/list")).respond_with(ok(json!([]))).mount(&server).await;
    let started = Instant::now();
    p.test(&connected(p.as_ref(), &[]), None).await.unwrap();
    assert_eq!(received(&server).await, 2);
    assert!(started.elapsed() < Duration::from_millis(900));
}

#[tokio::test]
async fn a_failing_provider_is_unavailable_after_three_attempts() {
    let server = MockServer::start().await;
    let p = provider(&server, KIND);
    Mock::given(method("POST"))
        .and(path("/user/login"))
        .respond_with(ResponseTemplate::new(503))
        .expect(3)
        .mount(&server)
        .await;
    let err = p.connect(&line(p.as_ref()), None, INTAKE).await.unwrap_err();
    assert_eq!(err, ProviderError::Unavailable { status: Some(503) });
}

#[tokio::test]
async fn a_slow_provider_times_out() {
    let server = MockServer::start().await;
    let timeout = Duration::from_millis(200);
    let p = provider_with_timeout(&server, KIND, timeout);
    Mock::given(method("POST"))
        .and(path("/user/login"))
        .respond_with(ok(json!(SESSION)).set_delay(Duration::from_secs(3)))
        .mount(&server)
        .await;
    let err = p.connect(&line(p.as_ref()), None, INTAKE).await.unwrap_err();
    assert_eq!(err, ProviderError::Timeout(timeout));
}

#[tokio::test]
async fn errors_never_echo_the_password() {
    let server = MockServer::start().await;
    let p = provider(&server, KIND);
    Mock::given(method("POST"))
        .and(path("/user/login"))
        .respond_with(ResponseTemplate::new(400).set_body_string(format!("bad password {PASSWORD}")))
        .up_to_n_times(1)
        .mount(&server)
        .await;
    Mock::given(method("POST"))
        .and(path("/user/login"))
        .respond_with(ResponseTemplate::new(200).set_body_string(format!(r#"{{"success":"{PASSWORD}","response":"#)))
        .up_to_n_times(1)
        .mount(&server)
        .await;
    Mock::given(method("POST"))
        .and(path("/user/login"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({"success": PASSWORD})))
        .mount(&server)
        .await;
    let creds = line(p.as_ref());
    for _ in 0..3 {
        let err = p.connect(&creds, None, INTAKE).await.unwrap_err();
        assert!(matches!(err, ProviderError::Protocol(_)), "{err:?}");
        for text in [err.to_string(), err.describe(KIND), format!("{err:?}")] {
            assert!(!text.contains(PASSWORD) && !text.contains("s3cret"), "{text}");
        }
    }
}
