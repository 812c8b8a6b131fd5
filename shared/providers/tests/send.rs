//! Sending one text through each provider, against local stand-ins speaking the
//! documented send APIs: the exact request, the id handed back, throttling bursts,
//! slow answers and failures that must never send a text twice.

#![allow(clippy::unwrap_used)] // tests: a failed expectation is a panic

mod common;

use std::time::Duration;

use common::{credentials, form_body, provider, provider_with_timeout, received, user};
use secrecy::SecretString;
use serde_json::json;
use textbridge_app::ports::{Credentials, Outbound, Provider, ProviderError, SendReceipt};
use textbridge_domain::{CredentialLevel, DeliveryStatus, E164, ProviderKind, Region};
use wiremock::{
    Mock, MockServer, ResponseTemplate,
    matchers::{basic_auth, body_json, header, method, path, query_param},
};

const TEXTUS_KEY: &str = "tu_live_user_0011223344";
const SID: &str = "AC0123456789abcdef0123456789ABCDEF";
const TOKEN: &str = "f00dfeedf00dfeedf00dfeedf00dfeed";
const SENT_SID: &str = "SM0123456789abcdef0123456789abcdef";

fn to() -> E164 {
    "+13035551234".parse().unwrap()
}

fn text(to: &E164) -> Outbound<'_> {
    Outbound { to, body: "Shift at 9, see you there", region: Region::US, status_url: None }
}

fn textus(p: &dyn Provider) -> (Credentials, Credentials) {
    let system = credentials(
        p,
        CredentialLevel::System,
        json!({"account_slug": "acme-staffing", "username": "ops@acme.com", "api_key": "tu_live_system_99"}),
    );
    let mine = credentials(p, user("u-17"), json!({"username": "jo@acme.com", "api_key": TEXTUS_KEY}));
    (mine, system)
}

async fn textus_sends(server: &MockServer, response: ResponseTemplate, times: u64) {
    Mock::given(method("POST"))
        .and(path("/acme-staffing/messages"))
        .and(header("authorization", format!("Bearer {TEXTUS_KEY}").as_str()))
        .and(header("content-type", "application/vnd.textus+jsonld"))
        .and(header("accept", "application/vnd.textus+jsonld"))
        .and(body_json(json!({"to": "+13035551234", "body": "Shift at 9, see you there"})))
        .respond_with(response)
        .up_to_n_times(times)
        .mount(server)
        .await;
}

fn textus_created() -> ResponseTemplate {
    ResponseTemplate::new(201).set_body_json(json!({
        "@type": "Message", "id": "/messages/QNDkpL", "direction": "out", "body": "Shift at 9, see you there",
        "deliveryState": "queued", "conversation": "/conversations/kY1QwY", "sender": "/users/jo", "source": "api"
    }))
}

#[tokio::test]
async fn textus_sends_with_the_users_key_in_the_system_account() {
    let server = MockServer::start().await;
    let p = provider(&server, ProviderKind::TextUs);
    let (mine, system) = textus(p.as_ref());
    textus_sends(&server, textus_created(), 1).await;
    let to = to();
    let receipt = p.send(&mine, Some(&system), &text(&to)).await.unwrap();
    assert_eq!(
        receipt,
        SendReceipt {
            provider_message_id: "/messages/QNDkpL".into(),
            our_number: None,
            status: DeliveryStatus::Queued
        }
    );
    assert_eq!(received(&server).await, 1);
    // Without the system credentials there is no account to send in.
    let err = p.send(&mine, None, &text(&to)).await.unwrap_err();
    assert!(matches!(err, ProviderError::Rejected(ref why) if why.contains("system-level")), "{err:?}");
}

#[tokio::test]
async fn a_textus_burst_of_429_is_waited_out_and_sends_once() {
    let server = MockServer::start().await;
    let p = provider(&server, ProviderKind::TextUs);
    let (mine, system) = textus(p.as_ref());
    let throttled =
        ResponseTemplate::new(429).insert_header("Retry-After", "1").insert_header("X-RateLimit-Remaining", "0");
    textus_sends(&server, throttled, 2).await;
    textus_sends(&server, textus_created(), 1).await;
    let to = to();
    let receipt = p.send(&mine, Some(&system), &text(&to)).await.unwrap();
    assert_eq!(receipt.provider_message_id, "/messages/QNDkpL");
    assert_eq!(received(&server).await, 3, "two throttled attempts, one send");
}

#[tokio::test]
async fn a_longer_429_burst_is_reported_as_throttling_without_a_send() {
    let server = MockServer::start().await;
    let p = provider(&server, ProviderKind::TextUs);
    let (mine, system) = textus(p.as_ref());
    textus_sends(&server, ResponseTemplate::new(429).insert_header("Retry-After", "1"), 100).await;
    let to = to();
    let err = p.send(&mine, Some(&system), &text(&to)).await.unwrap_err();
    assert_eq!(err, ProviderError::Unavailable { status: Some(429) });
    assert_eq!(received(&server).await, 3);
}

#[tokio::test]
async fn a_send_that_may_have_arrived_is_never_repeated() {
    // A slow answer: the text may be on its way, so it is not sent again.
    let server = MockServer::start().await;
    let p = provider_with_timeout(&server, ProviderKind::TextUs, Duration::from_millis(200));
    let (mine, system) = textus(p.as_ref());
    textus_sends(&server, textus_created().set_delay(Duration::from_millis(800)), 10).await;
    let to = to();
    let err = p.send(&mine, Some(&system), &text(&to)).await.unwrap_err();
    assert!(matches!(err, ProviderError::Timeout(_)), "{err:?}");
    assert_eq!(received(&server).await, 1);

    // A 500: the provider may have acted on it.
    let server = MockServer::start().await;
    let p = provider(&server, ProviderKind::TextUs);
    textus_sends(&server, ResponseTemplate::new(500), 10).await;
    let err = p.send(&mine, Some(&system), &text(&to)).await.unwrap_err();
    assert_eq!(err, ProviderError::Protocol("HTTP 500 to POST /acme-staffing/messages".into()));
    assert_eq!(received(&server).await, 1);
}

fn zipwhip(p: &dyn Provider) -> Credentials {
    let mut creds = credentials(p, user("u-7"), json!({"username": "alex@2065550199", "password": "zw-pass-1"}));
    creds.secret.insert("session_key", SecretString::from("zw-session-1".to_owned()));
    creds
}

#[tokio::test]
async fn zipwhip_sends_with_the_session_and_keeps_the_large_id_exact() {
    let server = MockServer::start().await;
    let p = provider(&server, ProviderKind::Zipwhip);
    Mock::given(method("POST"))
        .and(path("/message/send"))
        .and(form_body(&[("session", "zw-session-1"), ("contacts", "+13035551234"), ("body", "Shift at 9, see you there")]))
        .respond_with(ResponseTemplate::new(200).set_body_raw(
            r#"{"success":true,"response":{"fingerprint":"1514465037","root":"1327295480212647936","tokens":[{"message":1327295480212647936,"device":377265507,"contact":14543967707}]}}"#,
            "application/json",
        ))
        .expect(1)
        .mount(&server)
        .await;
    let to = to();
    let receipt = p.send(&zipwhip(p.as_ref()), None, &text(&to)).await.unwrap();
    assert_eq!(receipt.provider_message_id, "1327295480212647936");
    assert_eq!(receipt.our_number, Some("+12065550199".parse().unwrap()), "the line the username names");

    // A session Zipwhip no longer accepts.
    let server = MockServer::start().await;
    let p = provider(&server, ProviderKind::Zipwhip);
    Mock::given(method("POST"))
        .and(path("/message/send"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({"success": false, "response": null})))
        .mount(&server)
        .await;
    let err = p.send(&zipwhip(p.as_ref()), None, &text(&to)).await.unwrap_err();
    assert!(matches!(err, ProviderError::Rejected(ref why) if why.contains("session")), "{err:?}");
}

async fn twilio_numbers(server: &MockServer) {
    Mock::given(method("GET"))
        .and(path(format!("/2010-04-01/Accounts/{SID}/IncomingPhoneNumbers.json")))
        .and(query_param("PageSize", "1"))
        .and(basic_auth(SID, TOKEN))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({
            "incoming_phone_numbers": [{"sid": "PN11111111111111111111111111111111", "phone_number": "+12065550199"}],
            "next_page_uri": null
        })))
        .mount(server)
        .await;
}

#[tokio::test]
async fn twilio_sends_from_the_accounts_number() {
    let server = MockServer::start().await;
    let p = provider(&server, ProviderKind::Twilio);
    twilio_numbers(&server).await;
    Mock::given(method("POST"))
        .and(path(format!("/2010-04-01/Accounts/{SID}/Messages.json")))
        .and(basic_auth(SID, TOKEN))
        .and(form_body(&[
            ("To", "+13035551234"),
            ("From", "+12065550199"),
            ("Body", "Shift at 9, see you there"),
            ("StatusCallback", "https://hooks.example.com/webhooks/twilio/tok-789"),
        ]))
        .respond_with(ResponseTemplate::new(201).set_body_json(json!({
            "sid": SENT_SID, "status": "queued", "from": "+12065550199", "to": "+13035551234", "num_segments": "1"
        })))
        .expect(1)
        .mount(&server)
        .await;
    let account = credentials(p.as_ref(), CredentialLevel::System, json!({"account_sid": SID, "auth_token": TOKEN}));
    let to = to();
    // Its delivery statuses come back to the credentials' intake URL.
    let status_url = Some("https://hooks.example.com/webhooks/twilio/tok-789");
    let receipt = p.send(&account, None, &Outbound { status_url, ..text(&to) }).await.unwrap();
    assert_eq!(
        receipt,
        SendReceipt {
            provider_message_id: SENT_SID.into(),
            our_number: Some("+12065550199".parse().unwrap()),
            status: DeliveryStatus::Queued
        }
    );
}

#[tokio::test]
async fn twilio_refusals_carry_its_reason() {
    let server = MockServer::start().await;
    let p = provider(&server, ProviderKind::Twilio);
    twilio_numbers(&server).await;
    Mock::given(method("POST"))
        .and(path(format!("/2010-04-01/Accounts/{SID}/Messages.json")))
        .respond_with(ResponseTemplate::new(400).set_body_json(json!({
            "code": 21610, "message": "Attempt to send to unsubscribed recipient", "status": 400
        })))
        .expect(1)
        .mount(&server)
        .await;
    let account = credentials(p.as_ref(), CredentialLevel::System, json!({"account_sid": SID, "auth_token": TOKEN}));
    let to = to();
    let err = p.send(&account, None, &text(&to)).await.unwrap_err();
    assert_eq!(
        err,
        ProviderError::Refused("Twilio refused the text (HTTP 400): Attempt to send to unsubscribed recipient".into())
    );
    assert!(!format!("{err:?}").contains(TOKEN));
}
