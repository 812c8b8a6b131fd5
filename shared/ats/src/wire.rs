//! What is sent to and read from TempWorks: the written text and its marker, the
//! message body, and the answers' shapes.
//!
//! The shapes of the write's answer, the message list and the action list are not
//! documented; each is read in exactly one function here, leniently, so a different
//! shape means changing one place.

use serde_json::{Value, json};
use textbridge_app::ports::AtsMessage;
use textbridge_domain::{Direction, ProviderKind};

/// The message action type every archived text is written with.
pub(crate) const MESSAGE_ACTION: &str = "Message";

/// The line that ends every written text and identifies the provider message, such as
/// `[textbridge zipwhip:1327295480212647936]`. Searched for by
/// [`crate::TempWorks`]'s `find_message`; the closing bracket keeps id `12` from
/// matching the marker of id `123`.
pub(crate) fn marker(provider: ProviderKind, provider_message_id: &str) -> String {
    format!("[textbridge {}:{}]", provider.as_str(), provider_message_id)
}

/// The text written into the ATS: who texted whom, the body, then the [`marker`] line.
///
/// `Text from +12065550100: …` (inbound), `Text to +12065550100 by jane@acme.com: …`
/// (outbound by a known user).
pub(crate) fn message_text(message: &AtsMessage) -> String {
    let number = message.their_number.as_str();
    let user = message.texting_user.as_deref().map(str::trim).filter(|u| !u.is_empty());
    let head = match (message.direction, user) {
        (Direction::Inbound, None) => format!("Text from {number}"),
        (Direction::Inbound, Some(user)) => format!("Text from {number} to {user}"),
        (Direction::Outbound, None) => format!("Text to {number}"),
        (Direction::Outbound, Some(user)) => format!("Text to {number} by {user}"),
    };
    format!("{head}: {}\n{}", message.body, marker(message.provider, &message.provider_message_id))
}

/// The body of `POST /Employees/{id}/messages` and `POST /Contacts/{id}/messages`.
pub(crate) fn message_body(text: &str, action_id: i64) -> Value {
    json!({
        "message": text,
        "actionId": action_id,
        "linkedEntities": [],
        "linkedDocumentIds": [],
        "shouldLinkRelatedEntities": false,
        "shouldLinkOriginsOneByOne": false,
    })
}

/// The new message's id from the write's answer: `{"messageId": …}`, `{"id": …}` (a
/// number or text), or a bare number or text. `None` if there is none.
pub(crate) fn written_id(body: &[u8]) -> Option<String> {
    let value: Value = serde_json::from_slice(body).ok()?;
    match &value {
        Value::Object(fields) => ["messageId", "id"].iter().find_map(|name| fields.get(*name).and_then(id_text)),
        other => id_text(other),
    }
}

/// A number or a non-empty string as id text.
fn id_text(value: &Value) -> Option<String> {
    match value {
        Value::Number(n) => Some(n.to_string()),
        Value::String(s) if !s.trim().is_empty() => Some(s.trim().to_owned()),
        _ => None,
    }
}

/// The items of a list answer: a bare array or `{"data": [...]}`. `None` for any
/// other shape.
fn items(value: Value) -> Option<Vec<Value>> {
    match value {
        Value::Array(items) => Some(items),
        Value::Object(mut fields) => match fields.remove("data") {
            Some(Value::Array(items)) => Some(items),
            _ => None,
        },
        _ => None,
    }
}

/// What the action list says about the action named [`MESSAGE_ACTION`].
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum ActionLookup {
    /// Its id.
    Found(i64),
    /// It exists but is marked `canWrite: false`.
    NotWritable,
    /// No active action has that name.
    Absent,
}

/// Finds [`MESSAGE_ACTION`] (case-insensitively) in the answer of
/// `GET /DataLists/messageActions?active=true`: items with `actionId` (a number or
/// numeric text) and `action`. An item with `canWrite: false` is used only if no
/// other matches. `None` if the answer is not a list.
pub(crate) fn message_action(body: &[u8]) -> Option<ActionLookup> {
    let list = items(serde_json::from_slice(body).ok()?)?;
    let mut lookup = ActionLookup::Absent;
    for item in &list {
        let named =
            item.get("action").and_then(Value::as_str).is_some_and(|a| a.trim().eq_ignore_ascii_case(MESSAGE_ACTION));
        let Some(id) = item.get("actionId").and_then(action_id) else { continue };
        if !named {
            continue;
        }
        if item.get("canWrite").and_then(Value::as_bool) == Some(false) {
            lookup = ActionLookup::NotWritable;
        } else {
            return Some(ActionLookup::Found(id));
        }
    }
    Some(lookup)
}

/// An action id: a whole number or text holding one.
fn action_id(value: &Value) -> Option<i64> {
    match value {
        Value::Number(n) => n.as_i64(),
        Value::String(s) => s.trim().parse().ok(),
        _ => None,
    }
}

/// One page of a record's messages.
#[derive(Debug, Default, PartialEq, Eq)]
pub(crate) struct MessagePage {
    /// `(messageId, message text)` of each entry that has both.
    pub(crate) entries: Vec<(String, String)>,
    /// How many items the page held, readable or not (to tell the last page).
    pub(crate) len: usize,
    /// `totalCount`, when the answer gives it.
    pub(crate) total: Option<u64>,
}

/// Reads `GET /{Employees|Contacts}/{id}/messages`: `{"totalCount", "data": [...]}` or
/// a bare array of items with `messageId` (or `id`) and `message`; `{"totalCount": 0}`
/// without `data` is an empty page. `None` if the answer is none of these.
pub(crate) fn message_page(body: &[u8]) -> Option<MessagePage> {
    let value: Value = serde_json::from_slice(body).ok()?;
    let total = value.get("totalCount").and_then(Value::as_u64);
    let list = match items(value) {
        Some(list) => list,
        None if total == Some(0) => Vec::new(),
        None => return None,
    };
    let entries = list
        .iter()
        .filter_map(|item| {
            let id = ["messageId", "id"].iter().find_map(|name| item.get(*name).and_then(id_text))?;
            let text = item.get("message").and_then(Value::as_str)?;
            Some((id, text.to_owned()))
        })
        .collect();
    Some(MessagePage { entries, len: list.len(), total })
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)] // tests: a failed expectation is a panic

    use super::*;

    fn message(direction: Direction, user: Option<&str>) -> AtsMessage {
        AtsMessage {
            provider: ProviderKind::Zipwhip,
            provider_message_id: "1327295480212647936".into(),
            direction,
            body: "See you at 9".into(),
            occurred_at: "2025-03-01T09:00:00Z".into(),
            their_number: "+12065550100".into(),
            texting_user: user.map(str::to_owned),
        }
    }

    #[test]
    fn texts_name_direction_user_and_marker() {
        let marker = "\n[textbridge zipwhip:1327295480212647936]";
        let cases = [
            (Direction::Inbound, None, "Text from +12065550100: See you at 9"),
            (Direction::Inbound, Some("jane@acme.com"), "Text from +12065550100 to jane@acme.com: See you at 9"),
            (Direction::Outbound, None, "Text to +12065550100: See you at 9"),
            (Direction::Outbound, Some(" "), "Text to +12065550100: See you at 9"),
            (Direction::Outbound, Some("jane@acme.com"), "Text to +12065550100 by jane@acme.com: See you at 9"),
        ];
        for (direction, user, head) in cases {
            assert_eq!(message_text(&message(direction, user)), format!("{head}{marker}"));
        }
    }

    #[test]
    fn marker_of_one_id_is_not_inside_another() {
        let long = marker(ProviderKind::Twilio, "SM123");
        assert_eq!(long, "[textbridge twilio:SM123]");
        assert!(!long.contains(&marker(ProviderKind::Twilio, "SM12")));
        assert!(!long.contains(&marker(ProviderKind::TextUs, "SM123")));
    }

    #[test]
    fn written_ids_in_every_accepted_shape() {
        for (body, id) in [
            (r#"{"messageId": 981}"#, Some("981")),
            (r#"{"messageId": "m-981"}"#, Some("m-981")),
            (r#"{"id": 981, "other": 1}"#, Some("981")),
            (r#"{"messageId": null, "id": 7}"#, Some("7")),
            ("981", Some("981")),
            (r#""981""#, Some("981")),
            (r#"{"messageId": ""}"#, None),
            (r#"{"ok": true}"#, None),
            ("", None),
            ("not json", None),
            ("[1]", None),
        ] {
            assert_eq!(written_id(body.as_bytes()).as_deref(), id, "{body}");
        }
    }

    #[test]
    fn message_action_is_found_by_name() {
        let list =
            r#"[{"actionId": 3, "action": "Call"}, {"actionId": "12", "action": " message ", "canWrite": true}]"#;
        assert_eq!(message_action(list.as_bytes()), Some(ActionLookup::Found(12)));
        let wrapped = r#"{"data": [{"actionId": 5, "action": "MESSAGE", "messageActionType": "Message"}]}"#;
        assert_eq!(message_action(wrapped.as_bytes()), Some(ActionLookup::Found(5)));
        let later_writable =
            r#"[{"actionId": 1, "action": "Message", "canWrite": false}, {"actionId": 2, "action": "Message"}]"#;
        assert_eq!(message_action(later_writable.as_bytes()), Some(ActionLookup::Found(2)));
        let locked = r#"[{"actionId": 1, "action": "Message", "canWrite": false}]"#;
        assert_eq!(message_action(locked.as_bytes()), Some(ActionLookup::NotWritable));
        let absent = r#"[{"actionId": 1, "action": "Messages"}, {"action": "Message"}]"#;
        assert_eq!(message_action(absent.as_bytes()), Some(ActionLookup::Absent));
        assert_eq!(message_action(b"{}"), None);
        assert_eq!(message_action(b"[] x"), None);
    }

    #[test]
    fn message_pages_in_both_shapes() {
        let wrapped = r#"{"totalCount": 3, "data": [
            {"messageId": 1, "message": "a"}, {"messageId": "2", "message": null}, {"id": 3, "message": "c"}]}"#;
        let page = message_page(wrapped.as_bytes()).unwrap();
        assert_eq!(page.entries, [("1".to_owned(), "a".to_owned()), ("3".to_owned(), "c".to_owned())]);
        assert_eq!((page.len, page.total), (3, Some(3)));
        let bare = message_page(br#"[{"messageId": 9, "message": "x"}]"#).unwrap();
        assert_eq!((bare.entries.len(), bare.len, bare.total), (1, 1, None));
        assert_eq!(
            message_page(br#"{"totalCount": 0}"#),
            Some(MessagePage { total: Some(0), ..MessagePage::default() })
        );
        assert_eq!(message_page(br#"{"totalCount": 2}"#), None);
        assert_eq!(message_page(b"null"), None);
    }

    #[test]
    fn body_has_every_field() {
        assert_eq!(
            message_body("hi", 4),
            json!({"message": "hi", "actionId": 4, "linkedEntities": [], "linkedDocumentIds": [],
                "shouldLinkRelatedEntities": false, "shouldLinkOriginsOneByOne": false})
        );
    }
}
