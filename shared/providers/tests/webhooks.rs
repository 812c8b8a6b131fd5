//! Webhook authentication and parsing for every provider, from fixtures of the
//! payloads the providers document (see `fixtures/README.md`).

#![allow(clippy::unwrap_used)] // tests: a failed expectation is a panic

use std::sync::{Arc, LazyLock};

use base64::{Engine, engine::general_purpose::STANDARD};
use hmac::{Hmac, Mac};
use http::{HeaderMap, HeaderName, HeaderValue};
use proptest::prelude::*;
use secrecy::SecretString;
use serde_json::{Value, json};
use sha1::Sha1;
use sha2::Sha256;
use textbridge_app::ports::{Provider, Providers, SecretFields, WebhookRequest};
use textbridge_domain::{
    DeliveryStatus, Direction, E164, Error, MessageEvent, ProviderKind, Region, Timestamp, WebhookEvent,
};
use textbridge_providers::{Endpoints, registry};
use url::form_urlencoded;

// ---------------------------------------------------------------------------------
// Helpers

/// Built once: each registry builds an HTTP client, which the property tests would
/// otherwise do thousands of times.
static PROVIDERS: LazyLock<Providers> = LazyLock::new(|| registry(&Endpoints::from_lookup(|_| None).unwrap()));

fn provider(kind: ProviderKind) -> Arc<dyn Provider> {
    PROVIDERS.get(kind).unwrap().clone()
}

fn fixture(name: &str) -> Vec<u8> {
    std::fs::read(format!("{}/tests/fixtures/{name}", env!("CARGO_MANIFEST_DIR"))).unwrap()
}

fn fixture_json(name: &str) -> Value {
    serde_json::from_slice(&fixture(name)).unwrap()
}

fn e164(number: &str) -> E164 {
    number.parse().unwrap()
}

fn secrets(name: &str, value: &str) -> SecretFields {
    let mut secrets = SecretFields::new();
    secrets.insert(name, SecretString::from(value.to_owned()));
    secrets
}

/// A webhook call as the intake receives it.
#[derive(Clone)]
struct Call {
    url: String,
    headers: HeaderMap,
    body: Vec<u8>,
}

impl Call {
    fn new(url: &str, body: impl Into<Vec<u8>>) -> Self {
        Self { url: url.to_owned(), headers: HeaderMap::new(), body: body.into() }
    }

    fn header(mut self, name: &'static str, value: &str) -> Self {
        self.headers.insert(HeaderName::from_static(name), HeaderValue::from_str(value).unwrap());
        self
    }

    fn request(&self) -> WebhookRequest<'_> {
        // Arrived a minute after the fixtures' signed timestamp (1532465972).
        let received_at = Timestamp::from_unix_seconds(1_532_466_032).unwrap();
        WebhookRequest { url: &self.url, headers: &self.headers, body: &self.body, received_at }
    }
}

fn parse(kind: ProviderKind, body: impl Into<Vec<u8>>) -> Result<Vec<WebhookEvent>, Error> {
    parse_in(kind, body, Region::US)
}

fn parse_in(kind: ProviderKind, body: impl Into<Vec<u8>>, region: Region) -> Result<Vec<WebhookEvent>, Error> {
    parse_at(kind, body, region, received())
}

fn parse_at(
    kind: ProviderKind,
    body: impl Into<Vec<u8>>,
    region: Region,
    received_at: Timestamp,
) -> Result<Vec<WebhookEvent>, Error> {
    let call = Call::new("https://hooks.example.com/webhooks/x/tok", body);
    provider(kind).parse_webhook(&call.request(), region, received_at)
}

fn ts(text: &str) -> Timestamp {
    Timestamp::parse_rfc3339(text).unwrap()
}

/// When the test webhooks are received, unless a test says otherwise.
fn received() -> Timestamp {
    ts("2026-11-26T10:00:00Z")
}

fn parse_json(kind: ProviderKind, body: &Value) -> Result<Vec<WebhookEvent>, Error> {
    parse(kind, serde_json::to_vec(body).unwrap())
}

/// The one message event of a parse.
fn only_message(events: Vec<WebhookEvent>) -> MessageEvent {
    match <[WebhookEvent; 1]>::try_from(events) {
        Ok([WebhookEvent::Message(m)]) => m,
        other => panic!("expected one message, got {other:?}"),
    }
}

/// Asserts a malformed-body error naming `field`.
#[track_caller]
fn assert_malformed(result: Result<Vec<WebhookEvent>, Error>, field: Option<&str>) {
    match result {
        Err(Error::Malformed { field: got, reason }) => {
            assert_eq!(got.as_deref(), field, "reason: {reason}");
            if let Some(field) = field {
                assert!(reason.contains(field), "the reason names the field: {reason}");
            }
        }
        other => panic!("expected Malformed naming {field:?}, got {other:?}"),
    }
}

#[track_caller]
fn assert_unauthenticated(result: Result<(), Error>) {
    assert_eq!(result, Err(Error::Unauthenticated("invalid webhook signature".into())));
}

/// Sets the value at a `/`-separated pointer (`None` removes the key).
fn with(mut body: Value, pointer: &str, value: Option<Value>) -> Value {
    let (parent, key) = pointer.rsplit_once('/').unwrap();
    let object = body.pointer_mut(parent).unwrap().as_object_mut().unwrap();
    match value {
        Some(value) => object.insert(key.to_owned(), value),
        None => object.remove(key),
    };
    body
}

// ---------------------------------------------------------------------------------
// TextUs

const TEXTUS: ProviderKind = ProviderKind::TextUs;
const TEXTUS_SECRET: &str = "whsec_test_4f3a9c";
const TEXTUS_URL: &str = "https://hooks.example.com/webhooks/textus/tok-123";

/// The documented algorithm, written out here on its own: lowercase hex of
/// HMAC-SHA256 over the given bytes with the webhook secret.
fn textus_signature(secret: &str, signed: &[u8]) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes()).unwrap();
    mac.update(signed);
    mac.finalize().into_bytes().iter().map(|b| format!("{b:02x}")).collect()
}

fn textus_verify(call: &Call) -> Result<(), Error> {
    provider(TEXTUS).verify_webhook(&call.request(), &secrets("webhook_secret", TEXTUS_SECRET))
}

#[test]
fn textus_received_message() {
    let message = only_message(parse(TEXTUS, fixture("textus/message_received.json")).unwrap());
    assert_eq!(
        message,
        MessageEvent {
            provider: TEXTUS,
            provider_message_id: "/messages/QNDkpL".into(),
            direction: Direction::Inbound,
            our_number: Some(e164("+13035550100")),
            their_number: e164("+13035551234"),
            body: "Yes, I can start Monday".into(),
            occurred_at: ts("2018-07-24T20:59:32.156Z"),
            time_received: false,
            provider_username: None,
            status: DeliveryStatus::Received,
        }
    );
}

#[test]
fn textus_delivered_and_failed_texts_are_outbound_messages_with_their_status() {
    let delivered = only_message(parse(TEXTUS, fixture("textus/message_delivered.json")).unwrap());
    assert_eq!(delivered.direction, Direction::Outbound);
    assert_eq!(delivered.status, DeliveryStatus::Delivered);
    assert_eq!(delivered.provider_message_id, "/messages/Xk9pQa");
    assert_eq!(delivered.our_number, Some(e164("+13035550100")));
    assert_eq!(delivered.their_number, e164("+13035551234"));
    assert_eq!(delivered.body, "Great, see you at 8am");
    assert_eq!(
        delivered.provider_username.as_ref().map(|u| u.as_str()),
        Some("jo@acme.com"),
        "the sender, as usernames are kept"
    );

    let failed = only_message(parse(TEXTUS, fixture("textus/message_failed.json")).unwrap());
    assert_eq!((failed.direction, failed.status), (Direction::Outbound, DeliveryStatus::Failed));
    assert_eq!(failed.provider_username, None, "a /users/… path names no username");
}

#[test]
fn textus_direction_follows_the_message_when_given() {
    let body = with(fixture_json("textus/message_delivered.json"), "/message/direction", None);
    assert_eq!(only_message(parse_json(TEXTUS, &body).unwrap()).direction, Direction::Outbound);
    let body = with(body, "/message/direction", Some(json!("in")));
    assert_eq!(only_message(parse_json(TEXTUS, &body).unwrap()).direction, Direction::Inbound);
    let body = with(body, "/message/direction", Some(json!("sideways")));
    assert_malformed(parse_json(TEXTUS, &body), Some("message.direction"));
}

#[test]
fn textus_message_id_falls_back_to_the_delivery_id() {
    let body = with(fixture_json("textus/message_received.json"), "/message/id", None);
    let message = only_message(parse_json(TEXTUS, &body).unwrap());
    assert_eq!(message.provider_message_id, "/integrations/h13Jc5/deliveries/xyz");
    let body = with(body, "/id", None);
    assert_malformed(parse_json(TEXTUS, &body), Some("message.id"));
}

#[test]
fn textus_text_without_a_body_is_empty() {
    let body = with(fixture_json("textus/message_received.json"), "/message/body", Some(Value::Null));
    assert_eq!(only_message(parse_json(TEXTUS, &body).unwrap()).body, "");
}

#[test]
fn textus_times() {
    let received_fixture = fixture_json("textus/message_received.json");
    let time_of = |timestamp: Option<Value>| {
        let message =
            only_message(parse_json(TEXTUS, &with(received_fixture.clone(), "/timestamp", timestamp)).unwrap());
        (message.occurred_at.to_string(), message.time_received)
    };
    let fixture_time = ("2018-07-24T20:59:32.156000Z".to_owned(), false);
    assert_eq!(time_of(Some(json!("2018-07-24T20:59:32.156Z"))), fixture_time, "as documented");
    assert_eq!(time_of(Some(json!("2018-07-24T22:59:32.156+02:00"))), fixture_time, "another offset");
    assert_eq!(time_of(Some(json!(1_532_465_972_156_i64))), fixture_time, "epoch milliseconds");
    assert_eq!(time_of(Some(json!("1532465972156"))), fixture_time, "epoch milliseconds as text");
    assert_eq!(time_of(Some(json!(1_532_465_972))), ("2018-07-24T20:59:32.000000Z".to_owned(), false), "seconds");
    // Missing or unreadable: the time of receipt, flagged; never a rejected body.
    let receipt = (received().to_string(), true);
    for bad in
        [None, Some(Value::Null), Some(json!("zzzz-not-a-date")), Some(json!("")), Some(json!(true)), Some(json!(1.5))]
    {
        assert_eq!(time_of(bad.clone()), receipt, "{bad:?}");
    }
    let body = with(received_fixture, "/timestamp", Some(json!("zzzz-not-a-date")));
    let later = ts("2026-11-26T10:00:07.5Z");
    let message = only_message(parse_at(TEXTUS, serde_json::to_vec(&body).unwrap(), Region::US, later).unwrap());
    assert_eq!((message.occurred_at, message.time_received), (later, true));
}

#[test]
fn textus_national_numbers_are_read_in_the_region() {
    let body =
        with(fixture_json("textus/message_received.json"), "/conversation/phoneNumber", Some(json!("(303) 555-1234")));
    assert_eq!(only_message(parse_json(TEXTUS, &body).unwrap()).their_number, e164("+13035551234"));
    let gb = Region::parse("GB").unwrap();
    let body = with(body, "/conversation/phoneNumber", Some(json!("020 7946 0018")));
    let message = only_message(parse_in(TEXTUS, serde_json::to_vec(&body).unwrap(), gb).unwrap());
    assert_eq!(message.their_number, e164("+442079460018"));
}

#[test]
fn textus_opt_outs_and_opt_ins() {
    let number = e164("+13035551234");
    assert_eq!(
        parse(TEXTUS, fixture("textus/contact_opted_out.json")).unwrap(),
        vec![WebhookEvent::OptOut { provider: ProviderKind::TextUs, number: number.clone(), opted_out: true }]
    );
    assert_eq!(
        parse(TEXTUS, fixture("textus/contact_opted_in.json")).unwrap(),
        vec![WebhookEvent::OptOut { provider: ProviderKind::TextUs, number, opted_out: false }]
    );
    let body = with(fixture_json("textus/contact_opted_out.json"), "/optOut/phoneNumber", None);
    assert_malformed(parse_json(TEXTUS, &body), Some("optOut.phoneNumber"));
}

#[test]
fn textus_other_actions_are_left_out() {
    for action in ["message.unknown", "phone_call.completed", "contact.created", "something.new"] {
        let body = with(fixture_json("textus/message_received.json"), "/action", Some(json!(action)));
        assert_eq!(parse_json(TEXTUS, &body).unwrap(), vec![], "{action}");
    }
}

#[test]
fn textus_malformed_bodies_name_the_field() {
    assert_malformed(parse(TEXTUS, "not json"), None);
    assert_malformed(parse(TEXTUS, ""), None);
    assert_malformed(parse(TEXTUS, "[1,2]"), None);
    assert_malformed(parse(TEXTUS, "{}"), Some("action"));
    assert_malformed(parse(TEXTUS, r#"{"action": 7}"#), Some("action"));
    let received = fixture_json("textus/message_received.json");
    let cases = [
        ("/conversation/phoneNumber", None, "conversation.phoneNumber"),
        ("/conversation/phoneNumber", Some(json!("555-0100")), "conversation.phoneNumber"),
        ("/conversation/phoneNumber", Some(json!(13035551234_u64)), "conversation.phoneNumber"),
        ("/conversation/accountPhoneNumber", None, "conversation.accountPhoneNumber"),
        ("/conversation/accountPhoneNumber", Some(json!("+1...")), "conversation.accountPhoneNumber"),
        ("/message", None, "message"),
        ("/message", Some(json!("hello")), "message"),
        ("/message/body", Some(json!(["a"])), "message.body"),
        ("/conversation", None, "conversation.phoneNumber"),
    ];
    for (pointer, value, field) in cases {
        assert_malformed(parse_json(TEXTUS, &with(received.clone(), pointer, value)), Some(field));
    }
}

#[test]
fn textus_malformed_reasons_do_not_echo_the_body() {
    let body =
        with(fixture_json("textus/message_received.json"), "/conversation/phoneNumber", Some(json!("secret-ish 42")));
    let err = parse_json(TEXTUS, &body).unwrap_err();
    assert!(!err.to_string().contains("secret-ish"), "{err}");
}

#[test]
fn textus_signature_of_the_body() {
    let body = fixture("textus/message_received.json");
    let signature = textus_signature(TEXTUS_SECRET, &body);
    let call = Call::new(TEXTUS_URL, body.clone()).header("x-textus-signature", &signature);
    assert_eq!(textus_verify(&call), Ok(()));
    // A timestamp header does not stop the plain form from counting.
    assert_eq!(textus_verify(&call.clone().header("x-textus-timestamp", "1532465972")), Ok(()));
    // Hex case does not matter.
    let upper = Call::new(TEXTUS_URL, body).header("x-textus-signature", &signature.to_uppercase());
    assert_eq!(textus_verify(&upper), Ok(()));
}

#[test]
fn textus_signature_of_timestamp_dot_body() {
    let body = fixture("textus/message_received.json");
    let signed = [b"1532465972.".as_slice(), &body].concat();
    let signature = textus_signature(TEXTUS_SECRET, &signed);
    let call = Call::new(TEXTUS_URL, body).header("x-textus-signature", &signature);
    assert_unauthenticated(textus_verify(&call));
    assert_eq!(textus_verify(&call.clone().header("x-textus-timestamp", "1532465972")), Ok(()));
    assert_unauthenticated(textus_verify(&call.header("x-textus-timestamp", "1532465973")));
}

#[test]
fn a_delivery_signed_with_its_timestamp_is_refused_outside_the_replay_window() {
    let body = fixture("textus/message_received.json");
    let sign = |at: i64| {
        let signed = [format!("{at}.").as_bytes(), &body].concat();
        Call::new(TEXTUS_URL, body.clone())
            .header("x-textus-signature", &textus_signature(TEXTUS_SECRET, &signed))
            .header("x-textus-timestamp", &at.to_string())
    };
    let arrived = 1_532_466_032; // Call::request's received time
    assert_eq!(textus_verify(&sign(arrived - 14 * 60)), Ok(()), "within 15 minutes");
    let stale = textus_verify(&sign(arrived - 16 * 60)).unwrap_err();
    assert!(stale.to_string().contains("replays are refused"), "{stale}");
    let early = textus_verify(&sign(arrived + 16 * 60)).unwrap_err();
    assert!(early.to_string().contains("replays are refused"), "signed in the future: {early}");
}

#[test]
fn textus_signatures_computed_elsewhere() {
    // HMAC-SHA256 values computed with another implementation (Python's hmac).
    let body = br#"{"action":"contact.created"}"#;
    let plain = "93f8b7e7db0055b4bc3fef1f0985c4dd1f2ef647ca04be3deb32324862dd8987";
    let timestamped = "e5ea271db0a86c638af401eab407551e229ac921fd3346ab17bfb8c40b4fd548";
    assert_eq!(textus_signature(TEXTUS_SECRET, body), plain);
    assert_eq!(textus_verify(&Call::new(TEXTUS_URL, body.as_slice()).header("x-textus-signature", plain)), Ok(()));
    let call = Call::new(TEXTUS_URL, body.as_slice())
        .header("x-textus-signature", timestamped)
        .header("x-textus-timestamp", "1532465972");
    assert_eq!(textus_verify(&call), Ok(()));
}

#[test]
fn textus_bad_signatures_are_all_the_same_error() {
    let body = fixture("textus/message_received.json");
    let good = textus_signature(TEXTUS_SECRET, &body);
    let p = provider(TEXTUS);
    let signed = Call::new(TEXTUS_URL, body.clone()).header("x-textus-signature", &good);

    assert_unauthenticated(textus_verify(&Call::new(TEXTUS_URL, body.clone())));
    let tampered = Call { body: [body.as_slice(), b" "].concat(), ..signed.clone() };
    assert_unauthenticated(textus_verify(&tampered));
    let wrong_key = textus_signature("another-secret", &body);
    assert_unauthenticated(textus_verify(
        &Call::new(TEXTUS_URL, body.clone()).header("x-textus-signature", &wrong_key),
    ));
    for bad in ["zz", "abc", "", &good[..62], &format!("{good}00"), &format!("sha256={good}")] {
        let call = Call::new(TEXTUS_URL, body.clone()).header("x-textus-signature", bad);
        assert_unauthenticated(textus_verify(&call));
    }
    assert_unauthenticated(p.verify_webhook(&signed.request(), &SecretFields::new()));
    assert_unauthenticated(p.verify_webhook(&signed.request(), &secrets("webhook_secret", "")));
    assert_unauthenticated(p.verify_webhook(&signed.request(), &secrets("api_key", TEXTUS_SECRET)));
    let err = textus_verify(&tampered).unwrap_err().to_string();
    assert!(!err.contains(&good), "the error never echoes the signature");
}

// ---------------------------------------------------------------------------------
// Zipwhip

const ZIPWHIP: ProviderKind = ProviderKind::Zipwhip;

#[test]
fn zipwhip_inbound_message_from_the_docs() {
    let message = only_message(parse(ZIPWHIP, fixture("zipwhip/message_mo.json")).unwrap());
    assert_eq!(
        message,
        MessageEvent {
            provider: ZIPWHIP,
            provider_message_id: "1327295480212647936".into(),
            direction: Direction::Inbound,
            our_number: Some(e164("+12068163958")),
            their_number: e164("+12063996756"),
            body: "Hello World".into(),
            occurred_at: ts("2020-11-13T17:01:17Z"),
            time_received: false,
            provider_username: None,
            status: DeliveryStatus::Received,
        }
    );
}

#[test]
fn zipwhip_ids_above_2_pow_53_keep_every_digit() {
    // 2^53 + 1 is the first integer an f64 cannot hold.
    for (raw, want) in [
        ("9007199254740993", "9007199254740993"),
        ("1327295480212647937", "1327295480212647937"),
        ("18446744073709551615", "18446744073709551615"),
        ("\"1327295480212647939\"", "1327295480212647939"),
        ("\"123456789012345678901234567890\"", "123456789012345678901234567890"),
    ] {
        let text = String::from_utf8(fixture("zipwhip/message_mo.json")).unwrap();
        let body = text.replace("1327295480212647936", raw);
        assert_eq!(only_message(parse(ZIPWHIP, body).unwrap()).provider_message_id, want, "{raw}");
    }
}

#[test]
fn zipwhip_outbound_messages() {
    let message = only_message(parse(ZIPWHIP, fixture("zipwhip/message_mt.json")).unwrap());
    assert_eq!(message.direction, Direction::Outbound);
    assert_eq!(message.our_number, Some(e164("+12068163958")), "our number is the source");
    assert_eq!(message.their_number, e164("+12063996756"));
    assert_eq!(message.status, DeliveryStatus::Sent);
    assert_eq!(message.provider_message_id, "1327295480212647937");

    let zo = with(fixture_json("zipwhip/message_mt.json"), "/messageType", Some(json!("ZO")));
    assert_eq!(only_message(parse_json(ZIPWHIP, &zo).unwrap()).direction, Direction::Outbound);
    let delivered = with(zo, "/dateDelivered", Some(json!("2020-11-13T17:03:42Z")));
    assert_eq!(only_message(parse_json(ZIPWHIP, &delivered).unwrap()).status, DeliveryStatus::Delivered);
}

#[test]
fn zipwhip_address_stands_in_for_the_contact_number() {
    let mo = with(fixture_json("zipwhip/message_mo.json"), "/finalSource", None);
    assert_eq!(only_message(parse_json(ZIPWHIP, &mo).unwrap()).their_number, e164("+12063996756"));
    let mo = with(mo, "/address", None);
    assert_malformed(parse_json(ZIPWHIP, &mo), Some("finalSource"));
    let mt = with(fixture_json("zipwhip/message_mt.json"), "/finalDestination", Some(Value::Null));
    assert_eq!(only_message(parse_json(ZIPWHIP, &mt).unwrap()).their_number, e164("+12063996756"));
}

#[test]
fn zipwhip_national_numbers_and_empty_bodies() {
    let mo = with(fixture_json("zipwhip/message_mo.json"), "/finalSource", Some(json!("2063996756")));
    let mo = with(mo, "/body", Some(Value::Null));
    let message = only_message(parse_json(ZIPWHIP, &mo).unwrap());
    assert_eq!(message.their_number, e164("+12063996756"));
    assert_eq!(message.body, "");
    let spaces = with(fixture_json("zipwhip/message_mo.json"), "/body", Some(json!("  ")));
    assert_eq!(only_message(parse_json(ZIPWHIP, &spaces).unwrap()).body, "  ", "the text is kept as sent");
}

#[test]
fn zipwhip_times() {
    let mo = fixture_json("zipwhip/message_mo.json");
    let time_of = |date: Option<Value>| {
        let message = only_message(parse_json(ZIPWHIP, &with(mo.clone(), "/dateCreated", date)).unwrap());
        (message.occurred_at.to_string(), message.time_received)
    };
    let fixture_time = ("2020-11-13T17:01:17.000000Z".to_owned(), false);
    assert_eq!(time_of(Some(json!("2020-11-13T17:01:17Z"))), fixture_time, "as documented");
    assert_eq!(time_of(Some(json!("2020-11-13T12:01:17-05:00"))), fixture_time, "another offset");
    assert_eq!(time_of(Some(json!(1_605_286_877))), fixture_time, "epoch seconds");
    assert_eq!(time_of(Some(json!("1605286877"))), fixture_time, "epoch seconds as text");
    assert_eq!(time_of(Some(json!(1_605_286_877_000_i64))), fixture_time, "epoch milliseconds");
    let receipt = (received().to_string(), true);
    for bad in
        [None, Some(Value::Null), Some(json!("zzzz-not-a-date")), Some(json!(" ")), Some(json!([1])), Some(json!(1e20))]
    {
        assert_eq!(time_of(bad.clone()), receipt, "{bad:?}");
    }
}

#[test]
fn zipwhip_other_message_types_are_left_out() {
    let body = with(fixture_json("zipwhip/message_mo.json"), "/messageType", Some(json!("XX")));
    assert_eq!(parse_json(ZIPWHIP, &body).unwrap(), vec![]);
}

#[test]
fn zipwhip_malformed_bodies_name_the_field() {
    assert_malformed(parse(ZIPWHIP, "not json"), None);
    assert_malformed(parse(ZIPWHIP, "[]"), None);
    assert_malformed(parse(ZIPWHIP, "\"MO\""), None);
    let mo = fixture_json("zipwhip/message_mo.json");
    let cases = [
        ("/messageType", None, "messageType"),
        ("/messageType", Some(json!(1)), "messageType"),
        ("/id", None, "id"),
        ("/id", Some(json!(1.5)), "id"),
        ("/id", Some(json!(-3)), "id"),
        ("/id", Some(json!("12ab")), "id"),
        ("/finalDestination", None, "finalDestination"),
        ("/finalDestination", Some(json!("12")), "finalDestination"),
        ("/finalSource", Some(json!("ptn:/nope")), "finalSource"),
        ("/address", Some(json!(5)), "address"),
        ("/body", Some(json!({"text": "hi"})), "body"),
    ];
    for (pointer, value, field) in cases {
        let body = with(mo.clone(), pointer, value.clone());
        let body = if field == "address" { with(body, "/finalSource", None) } else { body };
        assert_malformed(parse_json(ZIPWHIP, &body), Some(field));
    }
}

#[test]
fn zipwhip_has_no_signature_to_check() {
    let call = Call::new("https://hooks.example.com/webhooks/zipwhip/tok", fixture("zipwhip/message_mo.json"));
    assert_eq!(provider(ZIPWHIP).verify_webhook(&call.request(), &SecretFields::new()), Ok(()));
}

// ---------------------------------------------------------------------------------
// Twilio

const TWILIO: ProviderKind = ProviderKind::Twilio;
const TWILIO_TOKEN: &str = "f00dfeedf00dfeedf00dfeedf00dfeed";
const TWILIO_URL: &str = "https://hooks.example.com/webhooks/twilio/tok-789";

/// The documented algorithm, written out here on its own: base64 of HMAC-SHA1 over
/// the URL and every parameter's name and value, sorted by name.
fn twilio_signature(token: &str, url: &str, body: &[u8]) -> String {
    let mut params: Vec<(String, String)> = form_urlencoded::parse(body).into_owned().collect();
    params.sort();
    let mut data = url.to_owned();
    for (name, value) in params {
        data.push_str(&name);
        data.push_str(&value);
    }
    let mut mac = Hmac::<Sha1>::new_from_slice(token.as_bytes()).unwrap();
    mac.update(data.as_bytes());
    STANDARD.encode(mac.finalize().into_bytes())
}

fn twilio_verify(call: &Call, token: &str) -> Result<(), Error> {
    provider(TWILIO).verify_webhook(&call.request(), &secrets("auth_token", token))
}

fn form(pairs: &[(&str, &str)]) -> Vec<u8> {
    form_urlencoded::Serializer::new(String::new()).extend_pairs(pairs).finish().into_bytes()
}

fn twilio_fixture(name: &str) -> Vec<(String, String)> {
    form_urlencoded::parse(&fixture(name)).into_owned().collect()
}

/// A fixture with `name` set to `value` (`None` removes it).
fn twilio_with(name: &str, key: &str, value: Option<&str>) -> Vec<u8> {
    let mut pairs = twilio_fixture(name);
    pairs.retain(|(k, _)| k != key);
    if let Some(value) = value {
        pairs.push((key.to_owned(), value.to_owned()));
    }
    form_urlencoded::Serializer::new(String::new()).extend_pairs(pairs).finish().into_bytes()
}

#[test]
fn twilio_inbound_message() {
    let message = only_message(parse(TWILIO, fixture("twilio/inbound.form")).unwrap());
    assert_eq!(
        message,
        MessageEvent {
            provider: TWILIO,
            provider_message_id: "SM8f7e6d5c4b3a29180f7e6d5c4b3a2918".into(),
            direction: Direction::Inbound,
            our_number: Some(e164("+13035550100")),
            their_number: e164("+13035551234"),
            body: "Yes I'm available — 8am works!".into(),
            occurred_at: received(),
            time_received: true,
            provider_username: None,
            status: DeliveryStatus::Received,
        }
    );
}

#[test]
fn twilio_times() {
    // Twilio's webhook docs list no time: the time of receipt, flagged.
    let message = only_message(parse(TWILIO, fixture("twilio/inbound.form")).unwrap());
    assert_eq!((message.occurred_at, message.time_received), (received(), true));
    // A `DateSent` / `DateCreated` in the form of Twilio's API (RFC 2822) counts.
    let dated = twilio_with("twilio/inbound.form", "DateSent", Some("Mon, 16 Aug 2010 03:45:01 +0000"));
    let message = only_message(parse(TWILIO, dated).unwrap());
    assert_eq!(
        (message.occurred_at.to_string().as_str(), message.time_received),
        ("2010-08-16T03:45:01.000000Z", false)
    );
    let created = twilio_with("twilio/inbound.form", "DateCreated", Some("Mon, 16 Aug 2010 03:45:00 -0100"));
    let message = only_message(parse(TWILIO, created).unwrap());
    assert_eq!(
        (message.occurred_at.to_string().as_str(), message.time_received),
        ("2010-08-16T04:45:00.000000Z", false)
    );
    // A bad `DateSent` falls back to a good `DateCreated`, then to the time of receipt.
    let bad = twilio_with("twilio/inbound.form", "DateSent", Some("zzzz-not-a-date"));
    assert_eq!(only_message(parse(TWILIO, bad.clone()).unwrap()).occurred_at, received());
    assert!(only_message(parse(TWILIO, bad).unwrap()).time_received);
    let mut pairs = twilio_fixture("twilio/inbound.form");
    pairs.push(("DateSent".into(), "zzzz-not-a-date".into()));
    pairs.push(("DateCreated".into(), "2010-08-16T03:45:00Z".into()));
    let body = form_urlencoded::Serializer::new(String::new()).extend_pairs(pairs).finish();
    let message = only_message(parse(TWILIO, body).unwrap());
    assert_eq!((message.occurred_at, message.time_received), (ts("2010-08-16T03:45:00Z"), false));
}

#[test]
fn twilio_inbound_without_a_status_but_with_a_body() {
    let body = twilio_with("twilio/inbound.form", "SmsStatus", None);
    assert_eq!(only_message(parse(TWILIO, body).unwrap()).direction, Direction::Inbound);
    let media_only = twilio_with("twilio/inbound.form", "Body", Some(""));
    assert_eq!(only_message(parse(TWILIO, media_only).unwrap()).body, "");
}

#[test]
fn twilio_stop_and_start_are_also_opt_events() {
    let events = parse(TWILIO, fixture("twilio/inbound_stop.form")).unwrap();
    assert_eq!(events.len(), 2, "{events:?}");
    assert!(matches!(&events[0], WebhookEvent::Message(m) if m.body == "STOP"));
    assert_eq!(
        events[1],
        WebhookEvent::OptOut { provider: ProviderKind::Twilio, number: e164("+13035551234"), opted_out: true }
    );

    let start = twilio_with("twilio/inbound_stop.form", "OptOutType", Some("START"));
    let events = parse(TWILIO, start).unwrap();
    assert_eq!(
        events[1],
        WebhookEvent::OptOut { provider: ProviderKind::Twilio, number: e164("+13035551234"), opted_out: false }
    );

    let help = twilio_with("twilio/inbound_stop.form", "OptOutType", Some("HELP"));
    assert_eq!(parse(TWILIO, help).unwrap().len(), 1);
}

#[test]
fn twilio_status_callbacks() {
    assert_eq!(
        parse(TWILIO, fixture("twilio/status_delivered.form")).unwrap(),
        vec![WebhookEvent::Status {
            provider: TWILIO,
            provider_message_id: "SMa1b2c3d4e5f60718293a4b5c6d7e8f90".into(),
            status: DeliveryStatus::Delivered,
        }]
    );
    let sid = "SMa1b2c3d4e5f60718293a4b5c6d7e8f90";
    for (status, want) in [
        ("queued", DeliveryStatus::Queued),
        ("sending", DeliveryStatus::Sent),
        ("sent", DeliveryStatus::Sent),
        ("delivered", DeliveryStatus::Delivered),
        ("undelivered", DeliveryStatus::Failed),
        ("failed", DeliveryStatus::Failed),
    ] {
        let body = form(&[("MessageSid", sid), ("MessageStatus", status), ("To", "+13035551234")]);
        let events = parse(TWILIO, body).unwrap();
        assert_eq!(
            events,
            vec![WebhookEvent::Status { provider: TWILIO, provider_message_id: sid.into(), status: want }]
        );
    }
    let unknown = form(&[("MessageSid", sid), ("MessageStatus", "partially_delivered")]);
    assert_eq!(parse(TWILIO, unknown).unwrap(), vec![]);
}

#[test]
fn twilio_malformed_bodies_name_the_field() {
    let cases = [
        (twilio_with("twilio/inbound.form", "From", Some("not a number")), "From"),
        (twilio_with("twilio/inbound.form", "From", None), "From"),
        (twilio_with("twilio/inbound.form", "To", Some("12")), "To"),
        (twilio_with("twilio/inbound.form", "To", None), "To"),
        (
            form(&[("SmsStatus", "received"), ("Body", "hi"), ("From", "+13035551234"), ("To", "+13035550100")]),
            "MessageSid",
        ),
        (form(&[("MessageStatus", "delivered")]), "MessageSid"),
        (form(&[("MessageSid", "SM1"), ("From", "+13035551234")]), "MessageStatus"),
        (b"{\"MessageSid\":\"SM1\"}".to_vec(), "MessageStatus"),
        (Vec::new(), "MessageStatus"),
    ];
    for (body, field) in cases {
        assert_malformed(parse(TWILIO, body), Some(field));
    }
}

#[test]
fn twilio_signature_example_from_twilio() {
    // The example of Twilio's own request validator tests (Auth Token "12345").
    let url = "https://mycompany.com/myapp.php?foo=1&bar=2";
    let params = [
        ("CallSid", "CA1234567890ABCDE"),
        ("Digits", "1234"),
        ("From", "+14158675309"),
        ("To", "+18005551212"),
        ("Caller", "+14158675309"),
    ];
    let call = Call::new(url, form(&params)).header("x-twilio-signature", "RSOYDt4T1cUTdK1PDd93/VVr8B8=");
    assert_eq!(twilio_verify(&call, "12345"), Ok(()));
    assert_eq!(twilio_signature("12345", url, &form(&params)), "RSOYDt4T1cUTdK1PDd93/VVr8B8=");
    assert_unauthenticated(twilio_verify(&call, "12346"));

    // Repeated parameters are sorted by value too.
    let repeated = form(&[("Sid", "CA123"), ("SidAccount", "AC123"), ("Digits", "5678"), ("Digits", "1234")]);
    let call = Call::new(url, repeated).header("x-twilio-signature", "IK+Dwps556ElfBT0I3Rgjkr1wJU=");
    assert_eq!(twilio_verify(&call, "12345"), Ok(()));

    // The port forms Twilio's validators accept.
    for (url, signature) in [
        ("https://mycompany.com:1234/myapp.php?foo=1&bar=2", "RSOYDt4T1cUTdK1PDd93/VVr8B8="),
        ("https://mycompany.com/myapp.php?foo=1&bar=2", "kvajT1Ptam85bY51eRf/AJRuM3w="),
        ("http://mycompany.com/myapp.php?foo=1&bar=2", "0ZXoZLH/DfblKGATFgpif+LLRf4="),
        ("http://mycompany.com:1234/myapp.php?foo=1&bar=2", "Zmvh+3yNM1Phv2jhDCwEM3q5ebU="),
    ] {
        let call = Call::new(url, form(&params)).header("x-twilio-signature", signature);
        assert_eq!(twilio_verify(&call, "12345"), Ok(()), "{url}");
    }
}

#[test]
fn twilio_signature_of_a_fixture() {
    let body = fixture("twilio/inbound.form");
    let signature = twilio_signature(TWILIO_TOKEN, TWILIO_URL, &body);
    let call = Call::new(TWILIO_URL, body.clone()).header("x-twilio-signature", &signature);
    assert_eq!(twilio_verify(&call, TWILIO_TOKEN), Ok(()));

    // The same parameters in another order sign the same.
    let mut pairs = twilio_fixture("twilio/inbound.form");
    pairs.reverse();
    let reordered = form_urlencoded::Serializer::new(String::new()).extend_pairs(pairs).finish();
    assert_eq!(twilio_verify(&Call { body: reordered.into_bytes(), ..call.clone() }, TWILIO_TOKEN), Ok(()));
}

#[test]
fn twilio_bad_signatures_are_all_the_same_error() {
    let body = fixture("twilio/inbound.form");
    let good = twilio_signature(TWILIO_TOKEN, TWILIO_URL, &body);
    let signed = Call::new(TWILIO_URL, body.clone()).header("x-twilio-signature", &good);

    let tampered = twilio_with("twilio/inbound.form", "Body", Some("something else"));
    assert_unauthenticated(twilio_verify(&Call { body: tampered, ..signed.clone() }, TWILIO_TOKEN));
    let other_url = Call { url: format!("{TWILIO_URL}x"), ..signed.clone() };
    assert_unauthenticated(twilio_verify(&other_url, TWILIO_TOKEN));
    assert_unauthenticated(twilio_verify(&signed, "0000feedf00dfeedf00dfeedf00dfeed"));
    assert_unauthenticated(twilio_verify(&Call::new(TWILIO_URL, body.clone()), TWILIO_TOKEN));
    for bad in ["not base64!", "", &good[..good.len() - 2], "AAAA"] {
        let call = Call::new(TWILIO_URL, body.clone()).header("x-twilio-signature", bad);
        assert_unauthenticated(twilio_verify(&call, TWILIO_TOKEN));
    }
    // Unsorted parameters are not what Twilio signs.
    let mut unsorted = TWILIO_URL.to_owned();
    for (name, value) in twilio_fixture("twilio/inbound.form") {
        unsorted.push_str(&name);
        unsorted.push_str(&value);
    }
    let mut mac = Hmac::<Sha1>::new_from_slice(TWILIO_TOKEN.as_bytes()).unwrap();
    mac.update(unsorted.as_bytes());
    let unsorted = STANDARD.encode(mac.finalize().into_bytes());
    let call = Call::new(TWILIO_URL, body).header("x-twilio-signature", &unsorted);
    assert_unauthenticated(twilio_verify(&call, TWILIO_TOKEN));

    let p = provider(TWILIO);
    assert_unauthenticated(p.verify_webhook(&signed.request(), &SecretFields::new()));
    assert_unauthenticated(p.verify_webhook(&signed.request(), &secrets("auth_token", "")));
}

// ---------------------------------------------------------------------------------
// Every provider's texts on one timeline

/// Texts from all three providers within one minute, arriving out of order, with
/// times in each provider's own form, sort by their canonical text in time order —
/// the order the conversation sort key (`keys::conversation_entry`) gives them.
#[test]
fn texts_from_every_provider_sort_by_time() {
    let textus = |id: &str, timestamp: &str| {
        let body = with(fixture_json("textus/message_received.json"), "/message/id", Some(json!(id)));
        serde_json::to_vec(&with(body, "/timestamp", Some(json!(timestamp)))).unwrap()
    };
    let zipwhip = |id: u64, date: Value| {
        let body = with(fixture_json("zipwhip/message_mo.json"), "/id", Some(json!(id)));
        serde_json::to_vec(&with(body, "/dateCreated", Some(date))).unwrap()
    };
    let twilio = |sid: &str, date_sent: Option<&str>| {
        let body = twilio_with("twilio/inbound.form", "MessageSid", Some(sid));
        let mut pairs: Vec<(String, String)> = form_urlencoded::parse(&body).into_owned().collect();
        pairs.extend(date_sent.map(|d| ("DateSent".to_owned(), d.to_owned())));
        form_urlencoded::Serializer::new(String::new()).extend_pairs(pairs).finish().into_bytes()
    };
    // (provider, body, when the webhook arrived), in order of arrival.
    let calls = [
        (TEXTUS, textus("/messages/t-59", "2026-11-26T10:00:59.900Z"), "2026-11-26T10:01:00Z"),
        (ZIPWHIP, zipwhip(5, json!("2026-11-26T10:00:05Z")), "2026-11-26T10:00:06Z"),
        (TWILIO, twilio("SM-receipt-30", None), "2026-11-26T10:00:30Z"),
        (TEXTUS, textus("/messages/t-05.123", "2026-11-26T10:00:05.123Z"), "2026-11-26T10:00:06Z"),
        (TWILIO, twilio("SM-04", Some("Thu, 26 Nov 2026 10:00:04 +0000")), "2026-11-26T10:00:06Z"),
        (ZIPWHIP, zipwhip(10, json!("2026-11-26T05:00:10-05:00")), "2026-11-26T10:00:11Z"),
        (TEXTUS, textus("/messages/t-05.02", "2026-11-26T10:00:05.02Z"), "2026-11-26T10:00:06Z"),
        (ZIPWHIP, zipwhip(20, json!("zzzz-not-a-date")), "2026-11-26T10:00:20Z"),
        (ZIPWHIP, zipwhip(1, json!(1_795_687_201_i64)), "2026-11-26T10:00:02Z"),
        (TEXTUS, textus("/messages/t-00", "2026-11-26T11:00:00+01:00"), "2026-11-26T10:00:01Z"),
    ];
    let mut messages: Vec<MessageEvent> = calls
        .into_iter()
        .map(|(kind, body, at)| only_message(parse_at(kind, body, Region::US, ts(at)).unwrap()))
        .collect();
    messages.sort_by_key(|m| m.occurred_at.to_string());
    let order: Vec<(String, String, bool)> =
        messages.iter().map(|m| (m.occurred_at.to_string(), m.provider_message_id.clone(), m.time_received)).collect();
    let want = [
        ("2026-11-26T10:00:00.000000Z", "/messages/t-00", false),
        ("2026-11-26T10:00:01.000000Z", "1", false),
        ("2026-11-26T10:00:04.000000Z", "SM-04", false),
        ("2026-11-26T10:00:05.000000Z", "5", false),
        ("2026-11-26T10:00:05.020000Z", "/messages/t-05.02", false),
        ("2026-11-26T10:00:05.123000Z", "/messages/t-05.123", false),
        ("2026-11-26T10:00:10.000000Z", "10", false),
        ("2026-11-26T10:00:20.000000Z", "20", true),
        ("2026-11-26T10:00:30.000000Z", "SM-receipt-30", true),
        ("2026-11-26T10:00:59.900000Z", "/messages/t-59", false),
    ];
    let want: Vec<(String, String, bool)> =
        want.iter().map(|(t, id, r)| ((*t).to_owned(), (*id).to_owned(), *r)).collect();
    assert_eq!(order, want);
    // The canonical text sorts exactly as the times do.
    assert!(messages.windows(2).all(|pair| pair[0].occurred_at < pair[1].occurred_at));
}

// ---------------------------------------------------------------------------------
// Every provider, whatever arrives

/// Field names the parsers look for, so generated bodies reach past the first check.
const NAMES: &[&str] = &[
    "action",
    "id",
    "timestamp",
    "message",
    "conversation",
    "optOut",
    "phoneNumber",
    "accountPhoneNumber",
    "direction",
    "body",
    "sender",
    "email",
    "messageType",
    "finalSource",
    "finalDestination",
    "address",
    "dateCreated",
    "dateDelivered",
    "MessageSid",
    "SmsSid",
    "MessageStatus",
    "SmsStatus",
    "Body",
    "From",
    "To",
    "OptOutType",
    "DateSent",
];

/// Values the parsers branch on, and some that are almost right.
const VALUES: &[&str] = &[
    "message.received",
    "message.delivered",
    "message.failed",
    "contact.opted_out",
    "contact.opted_in",
    "in",
    "out",
    "MO",
    "MT",
    "ZO",
    "received",
    "delivered",
    "queued",
    "STOP",
    "START",
    "+13035551234",
    "+12063996756",
    "2063996756",
    "ptn:/+12063996756",
    "ptn:/",
    "+1",
    "",
    " ",
    "1327295480212647936",
    "/messages/QNDkpL",
    "Jo@Acme.com",
    "/users/x",
];

fn json_value() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<u64>().prop_map(Value::from),
        any::<i64>().prop_map(Value::from),
        any::<f64>().prop_map(|f| serde_json::Number::from_f64(f).map_or(Value::Null, Value::Number)),
        prop::sample::select(VALUES).prop_map(Value::from),
        "\\PC{0,20}".prop_map(Value::String),
    ];
    leaf.prop_recursive(4, 48, 8, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
            prop::collection::vec((prop::sample::select(NAMES), inner), 0..8)
                .prop_map(|fields| Value::Object(fields.into_iter().map(|(k, v)| (k.to_owned(), v)).collect())),
        ]
    })
}

fn form_body() -> impl Strategy<Value = Vec<u8>> {
    let value = prop_oneof![prop::sample::select(VALUES).prop_map(str::to_owned), "\\PC{0,20}"];
    prop::collection::vec((prop::sample::select(NAMES), value), 0..10)
        .prop_map(|pairs| form_urlencoded::Serializer::new(String::new()).extend_pairs(pairs).finish().into_bytes())
}

/// Runs every provider's `verify_webhook` and `parse_webhook` on one call; they may
/// fail, but only with the errors they document.
fn exercise(url: &str, headers: &[(&'static str, String)], body: &[u8], secret: &str) {
    let mut call = Call::new(url, body);
    for (name, value) in headers {
        if let Ok(value) = HeaderValue::from_str(value) {
            call.headers.insert(HeaderName::from_static(name), value);
        }
    }
    let mut stored = secrets("webhook_secret", secret);
    stored.insert("auth_token", SecretString::from(secret.to_owned()));
    for kind in ProviderKind::ALL {
        let p = provider(kind);
        match p.verify_webhook(&call.request(), &stored) {
            Ok(()) | Err(Error::Unauthenticated(_)) => {}
            Err(other) => panic!("{kind}: verify_webhook answered {other:?}"),
        }
        match p.parse_webhook(&call.request(), Region::US, received()) {
            Ok(_) | Err(Error::Malformed { .. }) => {}
            Err(other) => panic!("{kind}: parse_webhook answered {other:?}"),
        }
    }
}

fn signature_headers() -> impl Strategy<Value = Vec<(&'static str, String)>> {
    let names = prop::sample::select(&["x-textus-signature", "x-textus-timestamp", "x-twilio-signature"][..]);
    prop::collection::vec((names, prop_oneof!["[0-9a-fA-F]{0,70}", "[A-Za-z0-9+/=]{0,32}", "\\PC{0,20}"]), 0..4)
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn arbitrary_bytes_never_panic(
        body in prop::collection::vec(any::<u8>(), 0..512),
        url in "\\PC{0,60}",
        headers in signature_headers(),
        secret in "\\PC{0,20}",
    ) {
        exercise(&url, &headers, &body, &secret);
    }

    #[test]
    fn json_ish_bodies_never_panic(value in json_value(), headers in signature_headers()) {
        exercise(TEXTUS_URL, &headers, &serde_json::to_vec(&value).unwrap(), TEXTUS_SECRET);
        // Also as a body that is nearly a delivery: the generated value under `message`.
        let near = json!({"action": "message.received", "timestamp": "t", "id": "d", "message": value,
            "conversation": {"phoneNumber": "+13035551234", "accountPhoneNumber": "+13035550100"}});
        exercise(TEXTUS_URL, &headers, &serde_json::to_vec(&near).unwrap(), TEXTUS_SECRET);
    }

    #[test]
    fn form_ish_bodies_never_panic(body in form_body(), headers in signature_headers(), url in "https?://[a-z.]{1,12}(:[0-9]{1,5})?/[a-z/]{0,12}") {
        exercise(&url, &headers, &body, TWILIO_TOKEN);
    }

    #[test]
    fn textus_accepts_exactly_its_own_signature(body in prop::collection::vec(any::<u8>(), 0..256), flip in any::<prop::sample::Index>()) {
        let signature = textus_signature(TEXTUS_SECRET, &body);
        let call = Call::new(TEXTUS_URL, body.clone()).header("x-textus-signature", &signature);
        prop_assert_eq!(textus_verify(&call), Ok(()));
        if !body.is_empty() {
            let mut changed = body;
            let i = flip.index(changed.len());
            changed[i] ^= 0x01;
            let changed = Call { body: changed, ..call };
            prop_assert!(textus_verify(&changed).is_err());
        }
    }

    #[test]
    fn twilio_accepts_exactly_its_own_signature(body in form_body(), url in "https://[a-z]{1,10}\\.example\\.com/[a-z]{0,10}") {
        let signature = twilio_signature(TWILIO_TOKEN, &url, &body);
        let call = Call::new(&url, body.clone()).header("x-twilio-signature", &signature);
        prop_assert_eq!(twilio_verify(&call, TWILIO_TOKEN), Ok(()));
        let extra = [body.as_slice(), b"&Extra=1"].concat();
        let extra = Call { body: extra, ..call };
        prop_assert!(twilio_verify(&extra, TWILIO_TOKEN).is_err());
    }

    #[test]
    fn a_time_never_rejects_a_text(raw in prop_oneof!["\\PC{0,40}", "[0-9T:.Z+-]{0,30}"], nanos in 0..4_102_444_800_000_000_000_i128, offset_minutes in -1439..1440_i32) {
        // Whatever the time field holds, the text is kept: with that time when it
        // reads as one, else with the time of receipt, flagged.
        let offset = time::UtcOffset::from_whole_seconds(offset_minutes * 60).unwrap();
        let exact = time::OffsetDateTime::from_unix_timestamp_nanos(nanos).unwrap().to_offset(offset);
        let rfc3339 = exact.format(&time::format_description::well_known::Rfc3339).unwrap();
        for (kind, fixture_name, pointer) in [(TEXTUS, "textus/message_received.json", "/timestamp"), (ZIPWHIP, "zipwhip/message_mo.json", "/dateCreated")] {
            let body = with(fixture_json(fixture_name), pointer, Some(json!(raw)));
            let message = only_message(parse_json(kind, &body).unwrap());
            if message.time_received {
                prop_assert_eq!(message.occurred_at, received());
            }
            if let Ok(at) = Timestamp::parse_rfc3339(&raw) {
                prop_assert_eq!((message.occurred_at, message.time_received), (at, false));
            }
            let body = with(fixture_json(fixture_name), pointer, Some(json!(rfc3339)));
            let message = only_message(parse_json(kind, &body).unwrap());
            prop_assert_eq!((message.occurred_at, message.time_received), (Timestamp::new(exact).unwrap(), false));
        }
    }

    #[test]
    fn zipwhip_ids_survive_exactly(id in any::<u64>(), as_text in any::<bool>()) {
        let raw = if as_text { format!("\"{id}\"") } else { id.to_string() };
        let text = String::from_utf8(fixture("zipwhip/message_mo.json")).unwrap();
        let message = only_message(parse(ZIPWHIP, text.replace("1327295480212647936", &raw)).unwrap());
        prop_assert_eq!(message.provider_message_id, id.to_string());
    }
}
