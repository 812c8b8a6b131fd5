//! Webhook calls from the providers: authenticating them and reading them into
//! provider-neutral [`WebhookEvent`](textbridge_domain::WebhookEvent)s.
//!
//! Everything here is pure (no I/O, no clock), so the same bytes always give the same
//! answer. Errors never carry a signature, a secret or a value from the body: an
//! authentication failure is always the same sentence, and a malformed body names the
//! field at fault, not what it held.

pub(crate) mod textus;
pub(crate) mod twilio;
pub(crate) mod zipwhip;

use secrecy::ExposeSecret;
use textbridge_app::ports::{SecretFields, WebhookRequest};
use textbridge_domain::{E164, Error, Region};

/// The one answer to any failed authentication, whatever was wrong.
pub(crate) const INVALID_SIGNATURE: &str = "invalid webhook signature";

/// The failed-authentication error.
pub(crate) fn unauthenticated() -> Error {
    Error::Unauthenticated(INVALID_SIGNATURE.to_owned())
}

/// A header's value as text; `None` when absent or not visible ASCII.
pub(crate) fn header<'a>(request: &WebhookRequest<'a>, name: &str) -> Option<&'a str> {
    request.headers.get(name).and_then(|value| value.to_str().ok())
}

/// A stored secret's bytes; `None` when absent or empty (an empty key would let
/// anyone sign).
pub(crate) fn secret<'s>(secrets: &'s SecretFields, name: &str) -> Option<&'s [u8]> {
    secrets.get(name).map(|value| value.expose_secret().as_bytes()).filter(|bytes| !bytes.is_empty())
}

/// A body that cannot be used because of `field`; `what` completes the sentence
/// ("is missing", "must be text").
pub(crate) fn malformed(field: &str, what: &str) -> Error {
    Error::Malformed { field: Some(field.to_owned()), reason: format!("{field} {what}") }
}

/// `raw` from `field` as E.164, national numbers read in `region`.
pub(crate) fn phone(field: &str, raw: &str, region: Region) -> Result<E164, Error> {
    E164::parse(raw, region).map_err(|_| malformed(field, "is not a valid phone number"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn malformed_names_the_field_not_the_value() {
        let err = phone("From", "not a number", Region::US).unwrap_err();
        assert_eq!(
            err,
            Error::Malformed { field: Some("From".into()), reason: "From is not a valid phone number".into() }
        );
        assert_eq!(phone("To", "(206) 555-0100", Region::US).unwrap().as_str(), "+12065550100");
    }

    #[test]
    fn empty_secrets_do_not_count() {
        let mut secrets = SecretFields::new();
        secrets.insert("a", String::new().into());
        secrets.insert("b", "k".to_owned().into());
        assert_eq!(secret(&secrets, "a"), None);
        assert_eq!(secret(&secrets, "b"), Some(&b"k"[..]));
        assert_eq!(secret(&secrets, "c"), None);
    }
}
