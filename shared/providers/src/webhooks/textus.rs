//! TextUs webhook deliveries: JSON (`WebhookDelivery`, `OptOutWebhookDelivery`)
//! signed with the integration's webhook secret.

use hmac::{Hmac, Mac};
use serde_json::Value;
use sha2::Sha256;
use textbridge_app::ports::{SecretFields, WebhookRequest};
use textbridge_domain::{
    DeliveryStatus, Direction, Error, MessageEvent, ProviderKind, Region, Timestamp, WebhookEvent,
};

use super::{header, malformed, occurred, phone, secret, unauthenticated};

const KIND: ProviderKind = ProviderKind::TextUs;

/// The signature: lowercase hex HMAC-SHA256 with the webhook secret.
pub(crate) const SIGNATURE_HEADER: &str = "x-textus-signature";

/// The time of the delivery, part of what the older signing form covers.
pub(crate) const TIMESTAMP_HEADER: &str = "x-textus-timestamp";

/// How far a signed timestamp may be from the time the delivery arrived: a delivery
/// signed with its timestamp is refused outside this window, so it cannot be replayed
/// later (one signed over the body alone is absorbed by idempotency instead).
pub const REPLAY_WINDOW_SECS: i64 = 15 * 60;

/// The stored secret field the integration's webhook secret is kept in.
pub(crate) const SECRET_FIELD: &str = "webhook_secret";

/// Checks `X-TextUs-Signature` against the stored webhook secret, in constant time.
pub(crate) fn verify(request: &WebhookRequest<'_>, secrets: &SecretFields) -> Result<(), Error> {
    let key = secret(secrets, SECRET_FIELD).ok_or_else(unauthenticated)?;
    let signature =
        header(request, SIGNATURE_HEADER).and_then(|s| hex::decode(s.trim()).ok()).ok_or_else(unauthenticated)?;
    let timestamp = header(request, TIMESTAMP_HEADER);
    let signs = |parts: &[&[u8]; 3]| {
        let Ok(mut mac) = Hmac::<Sha256>::new_from_slice(key) else { return false };
        parts.iter().for_each(|part| mac.update(part));
        mac.verify_slice(&signature).is_ok()
    };
    let forms = signed_forms(request.body, timestamp);
    if signs(&forms[0]) {
        return Ok(());
    }
    if forms.get(1).is_some_and(signs) {
        let signed_at = timestamp.and_then(|t| t.trim().parse::<i64>().ok()).ok_or_else(unauthenticated)?;
        let arrived = request.received_at.to_offset_date_time().unix_timestamp();
        if (arrived - signed_at).abs() > REPLAY_WINDOW_SECS {
            return Err(Error::Unauthenticated(format!(
                "the delivery was signed more than {} minutes before it arrived; replays are refused",
                REPLAY_WINDOW_SECS / 60
            )));
        }
        return Ok(());
    }
    Err(unauthenticated())
}

/// What TextUs may have signed, each as the parts that are concatenated.
///
/// The Next API documents the raw body alone; the older v2 help page documents
/// `"{timestamp}.{body}"` with the timestamp header. Which one production uses is
/// unverified, so both are accepted (the second only when the timestamp header is
/// there). This is the one place that choice lives.
fn signed_forms<'a>(body: &'a [u8], timestamp: Option<&'a str>) -> Vec<[&'a [u8]; 3]> {
    let mut forms = vec![[body, b"", b""]];
    if let Some(timestamp) = timestamp {
        forms.push([timestamp.as_bytes(), b".", body]);
    }
    forms
}

/// Reads a delivery: received, delivered and failed texts; opt-outs and opt-ins.
/// Every other action is left out. A text's time is the delivery's `timestamp`;
/// without one that reads as a time it is `received_at`, flagged.
pub(crate) fn parse(body: &[u8], region: Region, received_at: Timestamp) -> Result<Vec<WebhookEvent>, Error> {
    let root: Value =
        serde_json::from_slice(body).map_err(|_| Error::malformed("the TextUs webhook body is not JSON"))?;
    if !root.is_object() {
        return Err(Error::malformed("the TextUs webhook body is not a JSON object"));
    }
    let event = match text(&root, "action")? {
        "message.received" => message(&root, region, received_at, Direction::Inbound, DeliveryStatus::Received)?,
        "message.delivered" => message(&root, region, received_at, Direction::Outbound, DeliveryStatus::Delivered)?,
        "message.failed" => message(&root, region, received_at, Direction::Outbound, DeliveryStatus::Failed)?,
        "contact.opted_out" => opt_out(&root, region, true)?,
        "contact.opted_in" => opt_out(&root, region, false)?,
        _ => return Ok(Vec::new()),
    };
    Ok(vec![event])
}

/// A text. `direction` applies unless `message.direction` says otherwise; the
/// conversation's `phoneNumber` is always the contact's and `accountPhoneNumber`
/// the account's, whichever way the text went.
fn message(
    root: &Value,
    region: Region,
    received_at: Timestamp,
    direction: Direction,
    status: DeliveryStatus,
) -> Result<WebhookEvent, Error> {
    match at(root, "message") {
        Some(Value::Object(_)) => {}
        None | Some(Value::Null) => return Err(malformed("message", "is missing")),
        Some(_) => return Err(malformed("message", "must be an object")),
    }
    let direction = match optional_text(root, "message.direction")? {
        None => direction,
        Some("in") => Direction::Inbound,
        Some("out") => Direction::Outbound,
        Some(_) => return Err(malformed("message.direction", "must be \"in\" or \"out\"")),
    };
    let provider_message_id = match optional_text(root, "message.id")?.filter(|id| !id.trim().is_empty()) {
        Some(id) => id,
        None => optional_text(root, "id")?
            .filter(|id| !id.trim().is_empty())
            .ok_or_else(|| malformed("message.id", "is missing"))?,
    };
    let their_number = phone("conversation.phoneNumber", text(root, "conversation.phoneNumber")?, region)?;
    let our_number = phone("conversation.accountPhoneNumber", text(root, "conversation.accountPhoneNumber")?, region)?;
    let (occurred_at, time_received) = occurred(time_text(root, "timestamp").as_deref(), received_at);
    Ok(WebhookEvent::Message(MessageEvent {
        provider: KIND,
        provider_message_id: provider_message_id.to_owned(),
        direction,
        our_number: Some(our_number),
        their_number,
        body: optional_text(root, "message.body")?.unwrap_or_default().to_owned(),
        occurred_at,
        time_received,
        provider_username: sender(root),
        status,
    }))
}

/// An opt-out (`opted_out`) or opt-in of `optOut.phoneNumber`.
fn opt_out(root: &Value, region: Region, opted_out: bool) -> Result<WebhookEvent, Error> {
    let number = phone("optOut.phoneNumber", text(root, "optOut.phoneNumber")?, region)?;
    Ok(WebhookEvent::OptOut { provider: KIND, number, opted_out })
}

/// The texting user, when `message.sender` names one: a username or e-mail as text,
/// or an object with an `email` or `username`. A resource path (`/users/…`) names
/// no one the product knows, so it is left out.
fn sender(root: &Value) -> Option<textbridge_domain::ProviderUsername> {
    let candidate = match at(root, "message.sender")? {
        Value::String(s) => s.as_str(),
        Value::Object(user) => ["email", "username"].iter().find_map(|k| user.get(*k).and_then(Value::as_str))?,
        _ => return None,
    };
    let candidate = candidate.trim();
    let username_like = !candidate.starts_with('/') && !candidate.contains(char::is_whitespace);
    username_like.then(|| textbridge_domain::ProviderUsername::parse(candidate).ok()).flatten()
}

/// A time at `path` as text: a string, or a whole number's digits; `None` for
/// anything else (read as no time, not as a malformed body).
fn time_text(root: &Value, path: &str) -> Option<String> {
    match at(root, path)? {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => n.as_i64().map(|n| n.to_string()),
        _ => None,
    }
}

/// The value at a dot-separated path of object keys.
fn at<'a>(root: &'a Value, path: &str) -> Option<&'a Value> {
    path.split('.').try_fold(root, |value, key| value.get(key))
}

/// Text at `path` that may be absent or `null`.
fn optional_text<'a>(root: &'a Value, path: &str) -> Result<Option<&'a str>, Error> {
    match at(root, path) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(s)),
        Some(_) => Err(malformed(path, "must be text")),
    }
}

/// Text at `path` that must be there and not blank.
fn text<'a>(root: &'a Value, path: &str) -> Result<&'a str, Error> {
    optional_text(root, path)?.filter(|s| !s.trim().is_empty()).ok_or_else(|| malformed(path, "is missing"))
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn paths() {
        let v = json!({"a": {"b": "x", "n": null, "k": 3}});
        assert_eq!(text(&v, "a.b").unwrap(), "x");
        assert_eq!(optional_text(&v, "a.n").unwrap(), None);
        assert_eq!(text(&v, "a.n").unwrap_err(), malformed("a.n", "is missing"));
        assert_eq!(text(&v, "a.k").unwrap_err(), malformed("a.k", "must be text"));
        assert_eq!(text(&v, "a.b.c").unwrap_err(), malformed("a.b.c", "is missing"));
    }

    #[test]
    fn senders() {
        let of = |sender: Value| sender_of(json!({"message": {"sender": sender}}));
        assert_eq!(of(json!("Jo@Acme.com")).as_deref(), Some("jo@acme.com"));
        assert_eq!(of(json!("jsmith")).as_deref(), Some("jsmith"));
        assert_eq!(of(json!({"@type": "User", "email": "jo@acme.com"})).as_deref(), Some("jo@acme.com"));
        assert_eq!(of(json!("/users/abc")), None);
        assert_eq!(of(json!("Jo Smith")), None);
        assert_eq!(of(json!(7)), None);
        assert_eq!(of(json!("")), None);
    }

    fn sender_of(v: Value) -> Option<String> {
        sender(&v).map(String::from)
    }

    #[test]
    fn signed_forms_are_the_body_and_with_a_timestamp_also_the_older_form() {
        assert_eq!(signed_forms(b"{}", None), vec![[&b"{}"[..], b"", b""]]);
        assert_eq!(signed_forms(b"{}", Some("1700000000")).len(), 2);
    }
}
