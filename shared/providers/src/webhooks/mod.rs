//! Webhook calls from the providers: authenticating them and reading them into
//! provider-neutral [`WebhookEvent`](textbridge_domain::WebhookEvent)s.
//!
//! Everything here is pure (no I/O, no clock: the time the call was received is passed
//! in), so the same bytes at the same time always give the same answer. Errors never carry a signature, a secret or a value from the body: an
//! authentication failure is always the same sentence, and a malformed body names the
//! field at fault, not what it held.

pub(crate) mod textus;
pub(crate) mod twilio;
pub(crate) mod zipwhip;

use secrecy::ExposeSecret;
use textbridge_app::ports::{SecretFields, WebhookRequest};
use textbridge_domain::{E164, Error, Region, Timestamp};

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

/// Reads a time a provider sent, in any of the forms providers use; `None` when it
/// is none of them.
///
/// The forms: RFC 3339 (TextUs `timestamp`, Zipwhip `dateCreated`, with or without a
/// fraction, any offset), RFC 2822 (Twilio's `Date…` fields), and whole numbers of
/// seconds or milliseconds since 1970 (as a JSON number or text of digits). The
/// providers document text, so the numbers are a precaution, and which unit one would
/// use is unverified: below 10^11 a number is read as seconds (up to the year 5138),
/// from there as milliseconds (from 1973-03-03). This is the one place that choice lives.
pub(crate) fn provider_time(raw: &str) -> Option<Timestamp> {
    const MILLIS_FROM: u64 = 100_000_000_000;
    let raw = raw.trim();
    if let Ok(number) = raw.parse::<i64>() {
        let read = if number.unsigned_abs() < MILLIS_FROM {
            Timestamp::from_unix_seconds
        } else {
            Timestamp::from_unix_millis
        };
        return read(number).ok();
    }
    Timestamp::parse_rfc3339(raw).or_else(|_| Timestamp::parse_rfc2822(raw)).ok()
}

/// When a text happened: the first of `provider_times` that reads as a time, or else
/// `received_at`, flagged (the `bool`) as the time of receipt.
pub(crate) fn occurred<'a>(
    provider_times: impl IntoIterator<Item = &'a str>,
    received_at: Timestamp,
) -> (Timestamp, bool) {
    provider_times.into_iter().find_map(provider_time).map_or((received_at, true), |at| (at, false))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn provider_times() {
        let at = |raw: &str| provider_time(raw).map(|t| t.to_string());
        let cases = [
            ("2018-07-24T20:59:32.156Z", Some("2018-07-24T20:59:32.156000Z")),
            ("2020-11-13T17:01:17Z", Some("2020-11-13T17:01:17.000000Z")),
            ("2020-11-13T12:01:17-05:00", Some("2020-11-13T17:01:17.000000Z")),
            ("Mon, 16 Aug 2010 03:45:01 +0000", Some("2010-08-16T03:45:01.000000Z")),
            ("Fri, 13 Nov 2020 09:01:17 -0800", Some("2020-11-13T17:01:17.000000Z")),
            ("1605286877", Some("2020-11-13T17:01:17.000000Z")),
            ("1605286877000", Some("2020-11-13T17:01:17.000000Z")),
            ("1532465972156", Some("2018-07-24T20:59:32.156000Z")),
            (" 99999999999 ", Some("5138-11-16T09:46:39.000000Z")),
            ("100000000000", Some("1973-03-03T09:46:40.000000Z")),
            ("0", Some("1970-01-01T00:00:00.000000Z")),
            ("zzzz-not-a-date", None),
            ("", None),
            ("  ", None),
            ("2020-11-13", None),
            ("1605286877.5", None),
            ("9223372036854775807", None),
            ("-9223372036854775808", None),
        ];
        for (raw, want) in cases {
            assert_eq!(at(raw).as_deref(), want, "{raw:?}");
        }
    }

    #[test]
    fn occurred_takes_the_first_readable_time_or_the_receipt() {
        let received = Timestamp::parse_rfc3339("2026-11-26T10:00:00Z").unwrap_or_else(|e| panic!("{e}"));
        let (at, flagged) = occurred(["bad", "2020-11-13T17:01:17Z", "2021-01-01T00:00:00Z"], received);
        assert_eq!((at.to_string().as_str(), flagged), ("2020-11-13T17:01:17.000000Z", false));
        assert_eq!(occurred(["zzzz-not-a-date"], received), (received, true));
        assert_eq!(occurred([], received), (received, true));
    }

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
