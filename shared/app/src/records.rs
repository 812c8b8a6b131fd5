//! The record directory archiving matches against (candidates, employees, client
//! contacts and their phone numbers), the conversations archived on records, and
//! unmatched messages. The ATS sync fills the directory; until then, and for
//! corrections, records are upserted through the API.

use std::{collections::BTreeSet, sync::Arc};

use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use textbridge_domain::{E164, Error, Identity, MessageEvent, RecordKind, WebhookEvent};

use crate::{
    App,
    archive::MESSAGE_ACTION_TYPE,
    envelope::Envelope,
    keys,
    ports::{Item, Query, Write},
};

/// Most phone numbers one record may carry.
pub const MAX_PHONES: usize = 20;

/// A record as sent to the API.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RecordInput {
    /// Display name.
    #[serde(default)]
    pub name: Option<String>,
    /// Phone numbers, international or national (read in the default region).
    pub phones: Vec<String>,
}

/// A record as the API shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RecordView {
    /// Candidate, employee or contact.
    pub kind: RecordKind,
    /// The ATS's id.
    pub id: String,
    /// Display name.
    pub name: Option<String>,
    /// Phone numbers in E.164.
    pub phones: Vec<String>,
    /// Unmatched messages of these numbers queued again to be attached.
    pub rematched: usize,
}

/// Checks a record id: 1–64 letters, digits, `-`, `_` or `.`.
pub fn record_id(id: &str) -> Result<String, Error> {
    let ok = (1..=64).contains(&id.len()) && id.bytes().all(|b| b.is_ascii_alphanumeric() || b"-_.".contains(&b));
    if ok { Ok(id.to_owned()) } else { Err(Error::invalid("id", "must be 1-64 letters, digits, '-', '_' or '.'")) }
}

fn phones_of(item: &Item) -> BTreeSet<String> {
    item.attrs
        .get("phones")
        .and_then(Value::as_array)
        .map(|a| a.iter().filter_map(|v| v.as_str().map(str::to_owned)).collect())
        .unwrap_or_default()
}

/// Creates or replaces a record and its numbers, then queues again every unmatched
/// message of its numbers so the archiver attaches them.
pub async fn upsert(
    app: &Arc<App>,
    caller: &Identity,
    kind: RecordKind,
    id: &str,
    input: RecordInput,
) -> Result<RecordView, Error> {
    caller.require_user_manager()?;
    let id = record_id(id)?;
    if input.phones.len() > MAX_PHONES {
        return Err(Error::invalid("phones", format!("at most {MAX_PHONES} numbers")));
    }
    let mut phones = BTreeSet::new();
    for (i, raw) in input.phones.iter().enumerate() {
        let number = E164::parse(raw, app.config.default_region)
            .map_err(|_| Error::invalid(format!("phones[{i}]"), format!("{raw:?} is not a valid phone number")))?;
        phones.insert(number);
    }
    let tenant = &caller.tenant;
    let key = keys::record(tenant, kind, &id);
    let old = app.store.get(&key).await?.map(|i| phones_of(&i)).unwrap_or_default();

    let mut writes = vec![Write::Put {
        item: Item::new(key)
            .with("kind", kind.as_str())
            .with("id", id.as_str())
            .with("name", json!(input.name))
            .with("phones", json!(phones.iter().map(E164::as_str).collect::<Vec<_>>())),
        condition: None,
    }];
    for gone in old.iter().filter(|p| !phones.iter().any(|n| n.as_str() == p.as_str())) {
        let number: E164 = gone.parse()?;
        writes.push(Write::Delete { key: keys::record_phone(tenant, &number, kind, &id), condition: None });
    }
    for number in &phones {
        let item = Item::new(keys::record_phone(tenant, number, kind, &id))
            .with("kind", kind.as_str())
            .with("id", id.as_str());
        writes.push(Write::Put { item, condition: None });
    }
    app.store.transact(&writes).await?;

    let mut rematched = 0;
    for number in &phones {
        let query = Query::new(keys::tenant_pk(tenant), keys::unmatched_prefix(Some(number)));
        let waiting = app.store.query_all(&query).await?;
        let bodies = waiting
            .iter()
            .filter_map(|item| item.attrs.get("event"))
            .map(|event| {
                let message: MessageEvent = serde_json::from_value(event.clone()).map_err(Error::unexpected)?;
                Envelope::webhook_event(tenant, &WebhookEvent::Message(message)).map(|e| e.to_body())
            })
            .collect::<Result<Vec<_>, Error>>()?;
        if !bodies.is_empty() {
            app.queue()?.send_batch(&bodies).await?;
            rematched += bodies.len();
        }
    }
    Ok(RecordView { kind, id, name: input.name, phones: phones.iter().map(|p| p.to_string()).collect(), rematched })
}

/// A message waiting for a record.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct UnmatchedView {
    /// The number that matched nothing.
    pub number: String,
    /// The message as received.
    pub message: Value,
    /// When it was kept (RFC 3339).
    pub received_at: String,
}

/// Unmatched messages of the caller's tenant (admins), oldest number first.
pub async fn unmatched(app: &Arc<App>, caller: &Identity) -> Result<Vec<UnmatchedView>, Error> {
    caller.require_admin()?;
    let query = Query::new(keys::tenant_pk(&caller.tenant), keys::unmatched_prefix(None));
    let items = app.store.query_all(&query).await?;
    Ok(items
        .iter()
        .map(|i| UnmatchedView {
            number: i.str("number").unwrap_or_default().to_owned(),
            message: i.attrs.get("event").cloned().unwrap_or(Value::Null),
            received_at: i.str("received_at").unwrap_or_default().to_owned(),
        })
        .collect())
}

/// One page of a record's conversation.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ConversationPage {
    /// Messages, newest first.
    pub messages: Vec<Value>,
    /// Cursor of the next (older) page.
    pub next: Option<String>,
}

/// A record's archived texts, newest first, `limit` (1–100) at a time.
pub async fn conversation(
    app: &Arc<App>,
    caller: &Identity,
    kind: RecordKind,
    id: &str,
    cursor: Option<String>,
    limit: u32,
) -> Result<ConversationPage, Error> {
    let id = record_id(id)?;
    let tenant = &caller.tenant;
    if app.store.get(&keys::record(tenant, kind, &id)).await?.is_none() {
        return Err(Error::NotFound(format!("no {} {id:?} here", kind.as_str())));
    }
    let mut query = Query::new(keys::tenant_pk(tenant), keys::conversation_prefix(kind, &id))
        .descending()
        .limit(limit.clamp(1, 100));
    query.cursor = cursor;
    let page = app.store.query(&query).await.map_err(|e| match e {
        crate::ports::PortError::Invalid(_) => Error::invalid("cursor", "is not a cursor of this conversation"),
        other => other.into(),
    })?;
    let messages = page
        .items
        .into_iter()
        .filter(|i| i.str("action_type") == Some(MESSAGE_ACTION_TYPE))
        .map(|i| Value::Object(i.attrs))
        .collect();
    Ok(ConversationPage { messages, next: page.next })
}
