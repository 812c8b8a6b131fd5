//! Twilio messaging webhooks: form-encoded (`application/x-www-form-urlencoded`)
//! inbound messages and status callbacks, signed with the account's Auth Token.

use std::borrow::Cow;

use base64::{Engine, engine::general_purpose::STANDARD};
use hmac::{Hmac, Mac};
use sha1::Sha1;
use textbridge_app::ports::{SecretFields, WebhookRequest};
use textbridge_domain::{
    DeliveryStatus, Direction, Error, MessageEvent, ProviderKind, Region, Timestamp, WebhookEvent,
};
use url::form_urlencoded;

use super::{header, malformed, occurred, phone, secret, unauthenticated};

const KIND: ProviderKind = ProviderKind::Twilio;

/// The signature: base64 HMAC-SHA1 with the Auth Token.
pub(crate) const SIGNATURE_HEADER: &str = "x-twilio-signature";

/// The stored secret field the Auth Token is kept in.
pub(crate) const SECRET_FIELD: &str = "auth_token";

/// Checks `X-Twilio-Signature`: base64 of the HMAC-SHA1, keyed with the Auth Token, of
/// the URL Twilio called followed by every POST parameter's name and value, sorted by
/// name (then value). Compared in constant time.
pub(crate) fn verify(request: &WebhookRequest<'_>, secrets: &SecretFields) -> Result<(), Error> {
    let key = secret(secrets, SECRET_FIELD).ok_or_else(unauthenticated)?;
    let signature =
        header(request, SIGNATURE_HEADER).and_then(|s| STANDARD.decode(s.trim()).ok()).ok_or_else(unauthenticated)?;
    let mut params: Vec<(Cow<'_, str>, Cow<'_, str>)> = form_urlencoded::parse(request.body).collect();
    params.sort();
    let matches = signed_urls(request.url).iter().any(|url| {
        let Ok(mut mac) = Hmac::<Sha1>::new_from_slice(key) else { return false };
        mac.update(url.as_bytes());
        for (name, value) in &params {
            mac.update(name.as_bytes());
            mac.update(value.as_bytes());
        }
        mac.verify_slice(&signature).is_ok()
    });
    if matches { Ok(()) } else { Err(unauthenticated()) }
}

/// The forms of the called URL Twilio may have signed: as given, and — as Twilio's
/// own request validators do, since which one Twilio signs is not consistent — the
/// same URL without its port, or with the scheme's default port when it has none.
fn signed_urls(url: &str) -> Vec<String> {
    let mut urls = vec![url.to_owned()];
    let Some((scheme, rest)) = url.split_once("://") else { return urls };
    let end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    let (authority, tail) = rest.split_at(end);
    let (userinfo, host_port) = authority.split_at(authority.rfind('@').map_or(0, |at| at + 1));
    // A port follows the last ':' outside an IPv6 literal's brackets.
    match host_port.rfind(':').filter(|&colon| !host_port[colon..].contains(']')) {
        Some(colon) => urls.push(format!("{scheme}://{userinfo}{}{tail}", &host_port[..colon])),
        None => {
            let port = match scheme.to_ascii_lowercase().as_str() {
                "https" => 443,
                "http" => 80,
                _ => return urls,
            };
            urls.push(format!("{scheme}://{userinfo}{host_port}:{port}{tail}"));
        }
    }
    urls
}

/// A status as Twilio names it; `None` for one the product has no use for.
fn delivery_status(status: &str) -> Option<DeliveryStatus> {
    Some(match status.to_ascii_lowercase().as_str() {
        "accepted" | "scheduled" | "queued" => DeliveryStatus::Queued,
        "sending" | "sent" => DeliveryStatus::Sent,
        "delivered" | "read" => DeliveryStatus::Delivered,
        "undelivered" | "failed" | "canceled" => DeliveryStatus::Failed,
        "receiving" | "received" => DeliveryStatus::Received,
        _ => return None,
    })
}

/// The POST parameters of one call.
struct Params(Vec<(String, String)>);

impl Params {
    /// The first value of `name`, as sent (possibly empty).
    fn raw(&self, name: &str) -> Option<&str> {
        self.0.iter().find(|(key, _)| key == name).map(|(_, value)| value.as_str())
    }

    /// The first of `names` with a value that is not blank.
    fn first(&self, names: &[&str]) -> Option<&str> {
        names.iter().find_map(|name| self.raw(name).filter(|v| !v.trim().is_empty()))
    }

    /// A value that must be there.
    fn required(&self, name: &str) -> Result<&str, Error> {
        self.first(&[name]).ok_or_else(|| malformed(name, "is missing"))
    }
}

/// Reads one call.
///
/// - An inbound message (`SmsStatus`/`MessageStatus` `received`, or no status and a
///   `Body`) is a received [`WebhookEvent::Message`]; with Advanced Opt-Out's
///   `OptOutType` `STOP` or `START` it is followed by a [`WebhookEvent::OptOut`] of
///   the sender. Twilio's webhook docs list no time: `occurred_at` is `DateSent` or
///   `DateCreated` (RFC 2822 in Twilio's API) when one is there and reads as a time,
///   and otherwise `received_at`, flagged as the time of receipt.
/// - A status callback (any other known `MessageStatus`) is a
///   [`WebhookEvent::Status`]; Twilio sends no text with it.
/// - An unknown status is left out.
pub(crate) fn parse(body: &[u8], region: Region, received_at: Timestamp) -> Result<Vec<WebhookEvent>, Error> {
    let params = Params(form_urlencoded::parse(body).into_owned().collect());
    let status = params.first(&["MessageStatus", "SmsStatus"]);
    // `None` for an inbound message, else the status the callback reports.
    let callback_status = match status.map(delivery_status) {
        None if params.raw("Body").is_some() => None,
        None => return Err(malformed("MessageStatus", "is missing, and there is no Body")),
        Some(Some(DeliveryStatus::Received)) => None,
        Some(Some(status)) => Some(status),
        Some(None) => return Ok(Vec::new()),
    };
    let provider_message_id = params
        .first(&["MessageSid", "SmsMessageSid", "SmsSid"])
        .ok_or_else(|| malformed("MessageSid", "is missing"))?
        .to_owned();
    if let Some(status) = callback_status {
        return Ok(vec![WebhookEvent::Status { provider: KIND, provider_message_id, status }]);
    }
    let their_number = phone("From", params.required("From")?, region)?;
    let our_number = phone("To", params.required("To")?, region)?;
    let opt_out = match params.first(&["OptOutType"]).map(str::to_ascii_uppercase).as_deref() {
        Some("STOP") => Some(true),
        Some("START") => Some(false),
        _ => None,
    };
    let (occurred_at, time_received) =
        occurred(["DateSent", "DateCreated"].map(|name| params.raw(name)).into_iter().flatten(), received_at);
    let mut events = vec![WebhookEvent::Message(MessageEvent {
        provider: KIND,
        provider_message_id,
        direction: Direction::Inbound,
        our_number: Some(our_number),
        their_number: their_number.clone(),
        body: params.raw("Body").unwrap_or_default().to_owned(),
        occurred_at,
        time_received,
        provider_username: None,
        status: DeliveryStatus::Received,
    })];
    if let Some(opted_out) = opt_out {
        events.push(WebhookEvent::OptOut { provider: KIND, number: their_number, opted_out });
    }
    Ok(events)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn url_forms() {
        let cases = [
            ("https://a.com/p?x=1", vec!["https://a.com/p?x=1", "https://a.com:443/p?x=1"]),
            ("http://a.com", vec!["http://a.com", "http://a.com:80"]),
            ("https://a.com:8443/p", vec!["https://a.com:8443/p", "https://a.com/p"]),
            ("https://u:p@a.com/p", vec!["https://u:p@a.com/p", "https://u:p@a.com:443/p"]),
            ("https://[::1]/p", vec!["https://[::1]/p", "https://[::1]:443/p"]),
            ("https://[::1]:9/p", vec!["https://[::1]:9/p", "https://[::1]/p"]),
            ("ftp://a.com/p", vec!["ftp://a.com/p"]),
            ("no scheme", vec!["no scheme"]),
            ("", vec![""]),
        ];
        for (url, want) in cases {
            assert_eq!(signed_urls(url), want, "{url}");
        }
    }

    #[test]
    fn statuses() {
        assert_eq!(delivery_status("Delivered"), Some(DeliveryStatus::Delivered));
        assert_eq!(delivery_status("undelivered"), Some(DeliveryStatus::Failed));
        assert_eq!(delivery_status("partially_delivered"), None);
    }
}
