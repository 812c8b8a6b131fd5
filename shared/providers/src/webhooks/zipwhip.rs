//! Zipwhip message webhooks: one JSON message per call, unsigned.
//!
//! Zipwhip documents no signature scheme. Each registration's intake URL carries an
//! unguessable token that is checked before the provider is asked, so there is
//! nothing left to verify here.

use serde::{Deserialize, Deserializer};
use serde_json::Value;
use textbridge_app::ports::{SecretFields, WebhookRequest};
use textbridge_domain::{
    DeliveryStatus, Direction, Error, MessageEvent, ProviderKind, Region, Timestamp, WebhookEvent,
};

use super::{malformed, occurred, phone};

const KIND: ProviderKind = ProviderKind::Zipwhip;

/// The prefix of the contact's number in `address` (`ptn:/+12063996756`).
const ADDRESS_PREFIX: &str = "ptn:/";

/// Always passes: the URL token authenticated the call already.
pub(crate) fn verify(_request: &WebhookRequest<'_>, _secrets: &SecretFields) -> Result<(), Error> {
    Ok(())
}

/// A JSON field read leniently, so a wrong type is named afterwards instead of failing
/// the whole body with a message that may quote it.
#[derive(Debug, Default, PartialEq, Eq)]
enum Field {
    /// Absent or `null`.
    #[default]
    Missing,
    /// The value as text.
    Text(String),
    /// Present but of a type that is not accepted.
    Invalid,
}

/// The fields of a message webhook that are read; the rest are ignored.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Message {
    /// The message id: a whole number above 2^53, so never read through a float.
    #[serde(default, deserialize_with = "whole_number")]
    id: Field,
    /// `MO` (inbound), `MT` or `ZO` (outbound).
    #[serde(default, deserialize_with = "text")]
    message_type: Field,
    #[serde(default, deserialize_with = "text")]
    body: Field,
    /// The sender's number.
    #[serde(default, deserialize_with = "text")]
    final_source: Field,
    /// The recipient's number.
    #[serde(default, deserialize_with = "text")]
    final_destination: Field,
    /// The contact's number as `ptn:/+1…`.
    #[serde(default, deserialize_with = "text")]
    address: Field,
    /// When the message was created: RFC 3339 as documented (a number is kept as its
    /// digits; anything else is no time).
    #[serde(default, deserialize_with = "time")]
    date_created: Field,
    #[serde(default, deserialize_with = "text")]
    date_delivered: Field,
}

/// A string, or `Invalid` for any other type.
fn text<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Field, D::Error> {
    Ok(match Option::<Value>::deserialize(deserializer)? {
        None | Some(Value::Null) => Field::Missing,
        Some(Value::String(s)) => Field::Text(s),
        Some(_) => Field::Invalid,
    })
}

/// A time: a string, or a whole number's digits; `Missing` for anything else (a time
/// that cannot be read is no time, not a malformed body).
fn time<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Field, D::Error> {
    Ok(match Option::<Value>::deserialize(deserializer)? {
        Some(Value::String(s)) => Field::Text(s),
        Some(Value::Number(n)) => n.as_i64().map_or(Field::Missing, |n| Field::Text(n.to_string())),
        _ => Field::Missing,
    })
}

/// A non-negative whole number, given as a JSON number or as a string of digits,
/// kept as its exact decimal digits. A JSON number is taken only when it is an
/// integer that fits 64 bits (`serde_json` keeps those exact), never through `f64`.
fn whole_number<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Field, D::Error> {
    Ok(match Option::<Value>::deserialize(deserializer)? {
        None | Some(Value::Null) => Field::Missing,
        Some(Value::Number(n)) => n.as_u64().map_or(Field::Invalid, |n| Field::Text(n.to_string())),
        Some(Value::String(s)) => {
            let s = s.trim();
            if !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit()) {
                Field::Text(s.to_owned())
            } else {
                Field::Invalid
            }
        }
        Some(_) => Field::Invalid,
    })
}

impl Field {
    /// The text when there is some that is not blank.
    fn optional(&self, name: &str, rule: &str) -> Result<Option<&str>, Error> {
        match self {
            Self::Missing => Ok(None),
            Self::Text(s) if s.trim().is_empty() => Ok(None),
            Self::Text(s) => Ok(Some(s)),
            Self::Invalid => Err(malformed(name, rule)),
        }
    }

    /// The text, which must be there.
    fn required(&self, name: &str, rule: &str) -> Result<&str, Error> {
        self.optional(name, rule)?.ok_or_else(|| malformed(name, "is missing"))
    }
}

/// Reads one message. `MO` is inbound (received); `MT` and `ZO` are outbound, sent
/// unless `dateDelivered` is set. Zipwhip's numeric `statusCode` and `messageStatus`
/// are not documented, so they are not read. Other message types are left out. The
/// time is `dateCreated`; without one that reads as a time it is `received_at`, flagged.
pub(crate) fn parse(body: &[u8], region: Region, received_at: Timestamp) -> Result<Vec<WebhookEvent>, Error> {
    let not_an_object = || Error::malformed("the Zipwhip webhook body is not a JSON object");
    // Checked as an object first: a struct would also be read from a JSON array.
    let value: Value = serde_json::from_slice(body).map_err(|_| not_an_object())?;
    if !value.is_object() {
        return Err(not_an_object());
    }
    let message = Message::deserialize(value).map_err(|_| not_an_object())?;
    let (direction, ours, theirs) = match message.message_type.required("messageType", "must be text")? {
        "MO" => (
            Direction::Inbound,
            ("finalDestination", &message.final_destination),
            ("finalSource", &message.final_source),
        ),
        "MT" | "ZO" => (
            Direction::Outbound,
            ("finalSource", &message.final_source),
            ("finalDestination", &message.final_destination),
        ),
        _ => return Ok(Vec::new()),
    };
    let provider_message_id = message.id.required("id", "must be a whole number")?.to_owned();
    let their_number = match theirs.1.optional(theirs.0, "must be text")? {
        Some(raw) => phone(theirs.0, raw, region)?,
        None => {
            let address = message
                .address
                .optional("address", "must be text")?
                .ok_or_else(|| malformed(theirs.0, "is missing"))?;
            phone("address", address.strip_prefix(ADDRESS_PREFIX).unwrap_or(address), region)?
        }
    };
    let our_number = phone(ours.0, ours.1.required(ours.0, "must be text")?, region)?;
    let status = match direction {
        Direction::Inbound => DeliveryStatus::Received,
        Direction::Outbound if message.date_delivered.optional("dateDelivered", "must be text")?.is_some() => {
            DeliveryStatus::Delivered
        }
        Direction::Outbound => DeliveryStatus::Sent,
    };
    let date_created = match &message.date_created {
        Field::Text(raw) => Some(raw.as_str()),
        Field::Missing | Field::Invalid => None,
    };
    let (occurred_at, time_received) = occurred(date_created, received_at);
    Ok(vec![WebhookEvent::Message(MessageEvent {
        provider: KIND,
        provider_message_id,
        direction,
        our_number: Some(our_number),
        their_number,
        body: match message.body {
            Field::Text(body) => body,
            Field::Missing => String::new(),
            Field::Invalid => return Err(malformed("body", "must be text")),
        },
        occurred_at,
        time_received,
        provider_username: None,
        status,
    })])
}

#[cfg(test)]
mod tests {
    use super::*;

    fn id_of(json: &str) -> Field {
        serde_json::from_str::<Message>(json).unwrap().id
    }

    #[test]
    fn ids_keep_every_digit() {
        assert_eq!(id_of(r#"{"id":1327295480212647936}"#), Field::Text("1327295480212647936".into()));
        assert_eq!(id_of(r#"{"id":9007199254740993}"#), Field::Text("9007199254740993".into()));
        assert_eq!(id_of(r#"{"id":18446744073709551615}"#), Field::Text(u64::MAX.to_string()));
        assert_eq!(
            id_of(r#"{"id":"123456789012345678901234567890"}"#),
            Field::Text("123456789012345678901234567890".into())
        );
        assert_eq!(id_of(r#"{"id":null}"#), Field::Missing);
        assert_eq!(id_of(r#"{}"#), Field::Missing);
        for invalid in ["-1", "1.5", "1e3", "18446744073709551616", "\"12a\"", "\"\"", "true", "[1]"] {
            assert_eq!(id_of(&format!(r#"{{"id":{invalid}}}"#)), Field::Invalid, "{invalid}");
        }
    }
}
