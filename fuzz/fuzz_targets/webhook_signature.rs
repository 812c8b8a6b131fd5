//! The webhook signature checks of TextUs (HMAC-SHA256 of the body, or of
//! `"{timestamp}.{body}"` with `X-TextUs-Timestamp`) and Twilio (HMAC-SHA1 of the URL
//! and the sorted POST parameters, base64), signed here as the providers document it:
//!
//! - a call signed with the stored secret is accepted (a timestamped one only within
//!   the replay window);
//! - the same call with one bit of the signature changed, or checked against another
//!   secret, or with no secret stored, is refused;
//! - any header value at all as the signature never panics.
#![no_main]

use arbitrary::Arbitrary;
use base64::{Engine, engine::general_purpose::STANDARD};
use hmac::{Hmac, Mac};
use http::{HeaderMap, HeaderValue};
use libfuzzer_sys::fuzz_target;
use secrecy::SecretString;
use sha1::Sha1;
use sha2::Sha256;
use textbridge_app::ports::{SecretFields, WebhookRequest};
use textbridge_domain::{Error, ProviderKind};
use textbridge_fuzz::{provider, received_at};
use url::form_urlencoded;

/// TextUs' replay window (`REPLAY_WINDOW_SECS` of the providers crate), in seconds.
const REPLAY_WINDOW_SECS: i64 = 15 * 60;

#[derive(Debug, Arbitrary)]
struct Input {
    twilio: bool,
    secret: String,
    body: Vec<u8>,
    /// Twilio: the URL that was called.
    url: String,
    /// TextUs: sign `"{timestamp}.{body}"` with a timestamp this many seconds from the
    /// arrival (reduced to within a day), instead of the body alone.
    timestamp_offset: Option<i32>,
    /// Which bit of the signature to flip.
    flip: u16,
    /// A signature header as anyone may send it.
    forged: Vec<u8>,
}

fn secrets(field: &str, value: &str) -> SecretFields {
    let mut secrets = SecretFields::new();
    secrets.insert(field, SecretString::from(value.to_owned()));
    secrets
}

fn check(kind: ProviderKind, url: &str, headers: &HeaderMap, body: &[u8], secrets: &SecretFields) -> Result<(), Error> {
    let request = WebhookRequest { url, headers, body, received_at: received_at() };
    provider(kind).verify_webhook(&request, secrets)
}

fn flip(signature: &[u8], bit: u16) -> Vec<u8> {
    let mut flipped = signature.to_vec();
    let bit = usize::from(bit) % (signature.len() * 8);
    flipped[bit / 8] ^= 1 << (bit % 8);
    flipped
}

fuzz_target!(|input: Input| {
    let (kind, field, header) = if input.twilio {
        (ProviderKind::Twilio, "auth_token", "x-twilio-signature")
    } else {
        (ProviderKind::TextUs, "webhook_secret", "x-textus-signature")
    };
    let url = input.url.as_str();
    let body = input.body.as_slice();

    // Any header value as the signature: refused or accepted, never a panic.
    if let Ok(forged) = HeaderValue::from_bytes(&input.forged) {
        let mut headers = HeaderMap::new();
        headers.insert(header, forged.clone());
        headers.insert("x-textus-timestamp", forged);
        let _ = check(kind, url, &headers, body, &secrets(field, &input.secret));
    }

    let key = input.secret.as_bytes();
    let mut headers = HeaderMap::new();
    let mut timestamp_outside_window = false;
    let (signature, encode): (Vec<u8>, fn(&[u8]) -> String) = if input.twilio {
        let mut params: Vec<(String, String)> = form_urlencoded::parse(body).into_owned().collect();
        params.sort();
        let mut mac = Hmac::<Sha1>::new_from_slice(key).expect("HMAC takes any key");
        mac.update(url.as_bytes());
        for (name, value) in &params {
            mac.update(name.as_bytes());
            mac.update(value.as_bytes());
        }
        (mac.finalize().into_bytes().to_vec(), |s| STANDARD.encode(s))
    } else {
        let mut mac = Hmac::<Sha256>::new_from_slice(key).expect("HMAC takes any key");
        if let Some(offset) = input.timestamp_offset {
            let offset = i64::from(offset) % 86_400;
            let signed_at = received_at().to_offset_date_time().unix_timestamp() + offset;
            timestamp_outside_window = offset.abs() > REPLAY_WINDOW_SECS;
            let signed_at = signed_at.to_string();
            headers.insert("x-textus-timestamp", HeaderValue::from_str(&signed_at).expect("digits"));
            mac.update(signed_at.as_bytes());
            mac.update(b".");
        }
        mac.update(body);
        (mac.finalize().into_bytes().to_vec(), |s| hex::encode(s))
    };
    let with_signature = |signature: &[u8]| {
        let mut headers = headers.clone();
        headers.insert(header, HeaderValue::from_str(&encode(signature)).expect("hex and base64 are header values"));
        headers
    };
    let signed = with_signature(&signature);
    let stored = secrets(field, &input.secret);

    let verdict = check(kind, url, &signed, body, &stored);
    if input.secret.is_empty() {
        assert!(verdict.is_err(), "an empty secret signs nothing");
    } else if timestamp_outside_window {
        assert!(verdict.is_err(), "a timestamp outside the replay window is refused");
    } else {
        assert_eq!(verdict, Ok(()), "a call signed with the stored secret is accepted");
    }
    assert!(
        check(kind, url, &with_signature(&flip(&signature, input.flip)), body, &stored).is_err(),
        "a changed signature is refused"
    );
    let other = format!("{}x", input.secret);
    assert!(check(kind, url, &signed, body, &secrets(field, &other)).is_err(), "another secret is refused");
    let unstored = check(kind, url, &signed, body, &SecretFields::new());
    assert!(matches!(unstored, Err(Error::Unauthenticated(_))), "no stored secret, no entry: {unstored:?}");
});
