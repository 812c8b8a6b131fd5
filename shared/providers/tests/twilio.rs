//! Twilio against a local stand-in of its API.

#![allow(clippy::unwrap_used)] // tests: a failed expectation is a panic

mod common;

use std::time::{Duration, Instant};

use common::{branch, credentials, fields, form_body, provider, provider_with_timeout, received, user};
use secrecy::ExposeSecret;
use serde_json::{Value, json};
use textbridge_app::ports::{Credentials, Provider, ProviderError};
use textbridge_domain::{CredentialLevel, Error, ProviderKind};
use wiremock::{
    Mock, MockServer, ResponseTemplate,
    matchers::{basic_auth, method, path, query_param},
};

const KIND: ProviderKind = ProviderKind::Twilio;
const SID: &str = "AC0123456789abcdef0123456789ABCDEF";
const TOKEN: &str = "f00dfeedf00dfeedf00dfeedf00dfeed";
const INTAKE: &str = "https://hooks.example.com/webhooks/twilio/tok-789";
const PN1: &str = "PN11111111111111111111111111111111";
const PN2: &str = "PN22222222222222222222222222222222";
const PN3: &str = "PN33333333333333333333333333333333";

fn account(p: &dyn Provider) -> Credentials {
    credentials(p, CredentialLevel::System, json!({"account_sid": SID, "auth_token": TOKEN}))
}

fn checker() -> std::sync::Arc<dyn Provider> {
    let endpoints = textbridge_providers::Endpoints::from_lookup(|_| None).unwrap();
    textbridge_providers::registry(&endpoints).get(KIND).unwrap().clone()
}

async fn verified(server: &MockServer) {
    Mock::given(method("GET"))
        .and(path(format!("/2010-04-01/Accounts/{SID}.json")))
        .and(basic_auth(SID, TOKEN))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({"sid": SID, "status": "active"})))
        .expect(1)
        .mount(server)
        .await;
}

fn numbers_path() -> String {
    format!("/2010-04-01/Accounts/{SID}/IncomingPhoneNumbers.json")
}

fn number_path(pn: &str) -> String {
    format!("/2010-04-01/Accounts/{SID}/IncomingPhoneNumbers/{pn}.json")
}

#[test]
fn check_reads_the_sid_and_token() {
    let p = checker();
    for level in [CredentialLevel::System, branch("north")] {
        let checked = p.check(&level, &fields(json!({"account_sid": SID, "auth_token": TOKEN}))).unwrap();
        assert_eq!(checked.username.as_str(), SID.to_lowercase());
        assert_eq!(checked.public.get("account_sid").map(String::as_str), Some(SID), "the SID keeps its case");
        assert_eq!(checked.secret.get("auth_token").unwrap().expose_secret(), TOKEN);
        assert!(!p.needs_system_first(&level));
    }
    let at_user = p.check(&user("u-1"), &fields(json!({"account_sid": SID, "auth_token": TOKEN})));
    assert!(matches!(at_user, Err(Error::Invalid { ref field, .. }) if field == "level"));
}

#[test]
fn check_names_the_field_and_rule() {
    let p = checker();
    let check = |v: Value| p.check(&CredentialLevel::System, &fields(v)).unwrap_err();
    let sid_rule = Error::invalid("account_sid", "must be AC followed by 32 hexadecimal characters");
    let token_rule = Error::invalid("auth_token", "must be 32 hexadecimal characters");
    assert_eq!(check(json!({"auth_token": TOKEN})), Error::invalid("account_sid", "is required"));
    assert_eq!(check(json!({"account_sid": SID})), Error::invalid("auth_token", "is required"));
    assert_eq!(check(json!({"account_sid": 1, "auth_token": TOKEN})), Error::invalid("account_sid", "must be text"));
    assert_eq!(check(json!({"account_sid": SID, "auth_token": {}})), Error::invalid("auth_token", "must be text"));
    assert_eq!(check(json!({"account_sid": "AC123", "auth_token": TOKEN})), sid_rule);
    assert_eq!(check(json!({"account_sid": "PN0123456789abcdef0123456789abcdef", "auth_token": TOKEN})), sid_rule);
    assert_eq!(check(json!({"account_sid": SID, "auth_token": "not-hex-not-hex-not-hex-not-hex!"})), token_rule);
    assert_eq!(
        check(json!({"account_sid": SID, "auth_token": TOKEN, "username": "x"})),
        Error::invalid("username", "is not a Twilio field")
    );
    assert_eq!(
        p.check_secret(&CredentialLevel::System, &fields(json!({"account_sid": SID, "auth_token": TOKEN})))
            .unwrap_err(),
        Error::invalid("account_sid", "cannot be changed here; only auth_token can be replaced")
    );
    assert!(p.check_secret(&CredentialLevel::System, &fields(json!({"auth_token": TOKEN}))).is_ok());
}

#[tokio::test]
async fn connect_points_every_number_at_the_intake_across_pages() {
    let server = MockServer::start().await;
    let p = provider(&server, KIND);
    verified(&server).await;
    let page2 = format!("{}?PageSize=1000&Page=1&PageToken=PT2", numbers_path());
    Mock::given(method("GET"))
        .and(path(numbers_path()))
        .and(query_param("PageToken", "PT2"))
        .and(basic_auth(SID, TOKEN))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({
            "incoming_phone_numbers": [{"sid": PN3, "phone_number": "+15550000003", "sms_url": ""}],
            "next_page_uri": null
        })))
        .with_priority(1)
        .expect(1)
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path(numbers_path()))
        .and(query_param("PageSize", "1000"))
        .and(basic_auth(SID, TOKEN))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({
            "incoming_phone_numbers": [
                {"sid": PN1, "phone_number": "+15550000001", "sms_url": "https://demo.twilio.com/welcome/sms/reply"},
                {"sid": PN2, "phone_number": "+15550000002", "sms_url": INTAKE}
            ],
            "next_page_uri": page2
        })))
        .expect(1)
        .mount(&server)
        .await;
    for (pn, times) in [(PN1, 1), (PN2, 0), (PN3, 1)] {
        Mock::given(method("POST"))
            .and(path(number_path(pn)))
            .and(basic_auth(SID, TOKEN))
            .and(form_body(&[("SmsUrl", INTAKE), ("SmsMethod", "POST")]))
            .respond_with(ResponseTemplate::new(200).set_body_json(json!({"sid": pn, "sms_url": INTAKE})))
            .expect(times)
            .mount(&server)
            .await;
    }

    let connection = p.connect(&account(p.as_ref()), None, INTAKE).await.unwrap();
    assert_eq!(connection.webhook_ids, vec![PN1.to_owned(), PN2.to_owned(), PN3.to_owned()]);
}

#[tokio::test]
async fn rejected_credentials_are_named() {
    let server = MockServer::start().await;
    let p = provider(&server, KIND);
    Mock::given(method("GET"))
        .and(path(format!("/2010-04-01/Accounts/{SID}.json")))
        .respond_with(ResponseTemplate::new(401).set_body_json(json!({"code": 20003, "message": "Authenticate"})))
        .expect(2)
        .mount(&server)
        .await;
    let expected = ProviderError::Rejected("Twilio rejected the Account SID or Auth Token".into());
    assert_eq!(p.connect(&account(p.as_ref()), None, INTAKE).await.unwrap_err(), expected);
    assert_eq!(p.test(&account(p.as_ref()), None).await.unwrap_err(), expected);
    assert_eq!(received(&server).await, 2);
}

#[tokio::test]
async fn test_verifies_the_account() {
    let server = MockServer::start().await;
    let p = provider(&server, KIND);
    verified(&server).await;
    p.test(&account(p.as_ref()), None).await.unwrap();

    let server = MockServer::start().await;
    let p = provider(&server, KIND);
    Mock::given(method("GET"))
        .and(path(format!("/2010-04-01/Accounts/{SID}.json")))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({"sid": SID, "status": "suspended"})))
        .mount(&server)
        .await;
    assert_eq!(
        p.test(&account(p.as_ref()), None).await.unwrap_err(),
        ProviderError::Rejected(format!("the Twilio account {SID} is suspended"))
    );
}

#[tokio::test]
async fn disconnect_clears_each_numbers_sms_url() {
    let server = MockServer::start().await;
    let p = provider(&server, KIND);
    for (pn, status) in [(PN1, 200), (PN2, 404)] {
        Mock::given(method("POST"))
            .and(path(number_path(pn)))
            .and(basic_auth(SID, TOKEN))
            .and(form_body(&[("SmsUrl", "")]))
            .respond_with(ResponseTemplate::new(status))
            .expect(1)
            .mount(&server)
            .await;
    }
    let mut creds = account(p.as_ref());
    creds.webhook_ids = vec![PN1.into(), PN2.into()];
    p.disconnect(&creds, None).await.unwrap();
}

#[tokio::test]
async fn throttling_is_retried_after_the_capped_retry_after() {
    let server = MockServer::start().await;
    let p = provider(&server, KIND);
    Mock::given(method("GET"))
        .and(path(format!("/2010-04-01/Accounts/{SID}.json")))
        .respond_with(ResponseTemplate::new(429).insert_header("Retry-After", "1"))
        .up_to_n_times(1)
        .mount(&server)
        .await;
    verified(&server).await;
    let started = Instant::now();
    p.test(&account(p.as_ref()), None).await.unwrap();
    assert_eq!(received(&server).await, 2);
    assert!(started.elapsed() < Duration::from_millis(900));
}

#[tokio::test]
async fn a_failing_provider_is_unavailable_after_three_attempts() {
    let server = MockServer::start().await;
    let p = provider(&server, KIND);
    Mock::given(method("GET"))
        .and(path(format!("/2010-04-01/Accounts/{SID}.json")))
        .respond_with(ResponseTemplate::new(503))
        .expect(3)
        .mount(&server)
        .await;
    let err = p.test(&account(p.as_ref()), None).await.unwrap_err();
    assert_eq!(err, ProviderError::Unavailable { status: Some(503) });
}

#[tokio::test]
async fn a_400_is_not_retried() {
    let server = MockServer::start().await;
    let p = provider(&server, KIND);
    Mock::given(method("GET")).respond_with(ResponseTemplate::new(400)).expect(1).mount(&server).await;
    let err = p.test(&account(p.as_ref()), None).await.unwrap_err();
    assert_eq!(err, ProviderError::Protocol(format!("HTTP 400 to GET /2010-04-01/Accounts/{SID}.json")));
}

#[tokio::test]
async fn an_unreachable_provider_is_unavailable() {
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let base = format!("http://{}", closed.local_addr().unwrap());
    drop(closed);
    let p = common::provider_at(&base, KIND);
    let err = p.test(&account(p.as_ref()), None).await.unwrap_err();
    assert_eq!(err, ProviderError::Unavailable { status: None });
}

#[tokio::test]
async fn a_slow_provider_times_out() {
    let server = MockServer::start().await;
    let timeout = Duration::from_millis(200);
    let p = provider_with_timeout(&server, KIND, timeout);
    Mock::given(method("GET"))
        .respond_with(ResponseTemplate::new(200).set_delay(Duration::from_secs(3)))
        .mount(&server)
        .await;
    assert_eq!(p.test(&account(p.as_ref()), None).await.unwrap_err(), ProviderError::Timeout(timeout));
}

#[tokio::test]
async fn errors_never_echo_the_auth_token() {
    let server = MockServer::start().await;
    let p = provider(&server, KIND);
    Mock::given(method("GET"))
        .respond_with(ResponseTemplate::new(400).set_body_string(format!("token {TOKEN} is malformed")))
        .up_to_n_times(1)
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .respond_with(ResponseTemplate::new(200).set_body_string(format!("{{\"status\": \"{TOKEN}")))
        .mount(&server)
        .await;
    let creds = account(p.as_ref());
    for _ in 0..2 {
        let err = p.test(&creds, None).await.unwrap_err();
        assert!(matches!(err, ProviderError::Protocol(_)), "{err:?}");
        for text in [err.to_string(), err.describe(KIND), format!("{err:?}")] {
            assert!(!text.contains(TOKEN), "{text}");
        }
    }
}
