//! The record directory archiving matches against (candidates, employees, client
//! contacts and their phone numbers), the conversations archived on records, and
//! unmatched messages. The ATS sync fills the directory; until then, and for
//! corrections, records are upserted through the API.

use std::{collections::BTreeSet, sync::Arc};

use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use textbridge_domain::{E164, Error, Identity, RecordKind, TenantId, Timestamp, WebhookEvent};

use crate::{
    App, access,
    envelope::Envelope,
    items::{self, ConversationItem, DirectoryEntry, NoteEntry, RecordItem, Stored, UnmatchedItem},
    keys,
    ports::{Condition, PortError, Update, Write},
};

/// Most phone numbers one record may carry.
pub const MAX_PHONES: usize = 20;

/// A record as sent to the API.
#[derive(Debug, Clone, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(examples(json!({"name": "Bo Lee", "phones": ["+12065550100"]})))]
pub struct RecordInput {
    /// Display name.
    #[serde(default)]
    pub name: Option<String>,
    /// Phone numbers, international or national (read in the default region).
    pub phones: Vec<String>,
}

/// A record as the API shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
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
    /// Whether this upsert wrote anything.
    #[serde(skip)]
    pub changed: bool,
}

/// Checks a record id: 1–64 letters, digits, `-`, `_` or `.`, and not `.` or `..`.
pub fn record_id(id: &str) -> Result<String, Error> {
    let ok = (1..=64).contains(&id.len())
        && id.bytes().all(|b| b.is_ascii_alphanumeric() || b"-_.".contains(&b))
        && id != "."
        && id != "..";
    if ok {
        Ok(id.to_owned())
    } else {
        Err(Error::invalid("id", "must be 1-64 letters, digits, '-', '_' or '.', and not '.' or '..'"))
    }
}

/// How many times an upsert re-reads a record that changed under it.
const UPSERT_TRIES: usize = 5;

/// Creates or replaces a record and its numbers. Unmatched texts are queued again
/// only for numbers the record did not carry before, once per change: the write is
/// conditional on the record's version (of concurrent identical upserts one adds
/// the numbers, the others find nothing new), and the numbers to re-match are kept
/// on the record until queued, so a crash between the two loses none.
#[tracing::instrument(skip_all, fields(tenant = %caller.tenant))]
pub async fn upsert(
    app: &Arc<App>,
    caller: &Identity,
    kind: RecordKind,
    id: &str,
    input: RecordInput,
) -> Result<RecordView, Error> {
    caller.require_user_manager()?;
    upsert_for(app, &caller.tenant, kind, id, input).await
}

/// [`upsert`] as the system (the ATS sync), for `tenant`.
pub async fn upsert_for(
    app: &Arc<App>,
    tenant: &TenantId,
    kind: RecordKind,
    id: &str,
    input: RecordInput,
) -> Result<RecordView, Error> {
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
    let key = keys::record(tenant, kind, &id);
    let now = app.clock.now().unix_timestamp();
    let lease = i64::try_from(app.config.visibility_timeout.as_secs()).unwrap_or(i64::MAX);
    let mut written = None;
    let mut changed = false;
    for _ in 0..UPSERT_TRIES {
        let old = items::get::<RecordItem>(app.store.as_ref(), &key).await?;
        let (old_phones, version, pending) = match &old {
            // Numbers another upsert is still queuing are its to queue, unless it died.
            Some(r) if r.rematch_at.is_some_and(|at| now - at >= lease) => {
                (r.phones.iter().cloned().collect::<BTreeSet<_>>(), r.version, r.rematch.clone())
            }
            Some(r) => (r.phones.iter().cloned().collect::<BTreeSet<_>>(), r.version, Vec::new()),
            None => (BTreeSet::new(), 0, Vec::new()),
        };
        let mut rematch: BTreeSet<E164> = pending.into_iter().filter(|n| phones.contains(n)).collect();
        rematch.extend(phones.difference(&old_phones).cloned());
        let record = RecordItem {
            kind,
            id: id.clone(),
            name: input.name.clone(),
            phones: phones.iter().cloned().collect(),
            version: version + 1,
            rematch: rematch.iter().cloned().collect(),
            rematch_at: (!rematch.is_empty()).then_some(now),
        };
        let unchanged = old.as_ref().is_some_and(|o| o.name == record.name && o.phones == record.phones);
        if unchanged && rematch.is_empty() {
            written = old.map(|o| RecordItem { rematch: Vec::new(), ..o });
            break;
        }
        let condition =
            if old.is_some() { Condition::Equals("version".into(), json!(version)) } else { Condition::NotExists };
        let mut writes = vec![Write::Put { item: record.to_item(key.clone())?, condition: Some(condition) }];
        for gone in old_phones.difference(&phones) {
            writes.push(Write::Delete { key: keys::record_phone(tenant, gone, kind, &id), condition: None });
        }
        for number in phones.difference(&old_phones) {
            let entry =
                DirectoryEntry { kind, id: id.clone() }.to_item(keys::record_phone(tenant, number, kind, &id))?;
            writes.push(Write::Put { item: entry, condition: None });
        }
        match app.store.transact(&writes).await {
            Ok(()) => {
                written = Some(record);
                changed = true;
                break;
            }
            Err(PortError::ConditionFailed) => continue, // changed under us: read it again
            Err(e) => return Err(e.into()),
        }
    }
    let record = written.ok_or_else(|| Error::Unavailable("the record keeps changing; retry later".into()))?;

    let mut rematched = 0;
    if !record.rematch.is_empty() {
        for number in &record.rematch {
            let waiting = app.store.query_all(&keys::unmatched_of(tenant, number)).await?;
            let bodies = waiting
                .iter()
                .map(|item| {
                    let text = UnmatchedItem::from_item(item)?;
                    Envelope::webhook_event(tenant, &WebhookEvent::Message(text.event)).map(|e| e.to_body())
                })
                .collect::<Result<Vec<_>, Error>>()?;
            if !bodies.is_empty() {
                app.queue()?.send_batch(&bodies).await?;
                rematched += bodies.len();
            }
        }
        // Queued: clear the list, unless the record changed again meanwhile (then the
        // next upsert re-sends, and archiving is idempotent).
        let cleared = Update::default().set("rematch", json!([])).remove("rematch_at");
        match app.store.update(&key, &cleared, Some(&Condition::Equals("version".into(), json!(record.version)))).await
        {
            Ok(_) | Err(PortError::ConditionFailed) => {}
            Err(e) => return Err(e.into()),
        }
    }
    Ok(RecordView {
        kind,
        id,
        name: record.name,
        phones: record.phones.iter().map(ToString::to_string).collect(),
        rematched,
        changed,
    })
}

/// A message waiting for a record.
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct UnmatchedView {
    /// The number that matched nothing.
    pub number: String,
    /// The message as received.
    pub message: Value,
    /// When it was kept (RFC 3339).
    pub received_at: Timestamp,
}

/// One page of unmatched messages.
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct UnmatchedPage {
    /// Messages, oldest first.
    pub messages: Vec<UnmatchedView>,
    /// Cursor of the next page.
    pub next: Option<String>,
}

/// Unmatched messages of the caller's tenant (admins), oldest first, `limit`
/// (1–100) at a time.
#[tracing::instrument(skip_all, fields(tenant = %caller.tenant))]
pub async fn unmatched(
    app: &Arc<App>,
    caller: &Identity,
    cursor: Option<String>,
    limit: u32,
) -> Result<UnmatchedPage, Error> {
    caller.require_admin()?;
    let mut query = keys::unmatched_all(&caller.tenant).limit(limit.clamp(1, 100));
    query.cursor = cursor;
    let page = app.store.query_listing(&query).await?;
    let messages = page
        .items
        .iter()
        .map(|i| {
            let text = UnmatchedItem::from_item(i)?;
            let message = serde_json::to_value(&text.event).map_err(Error::unexpected)?;
            Ok(UnmatchedView { number: text.number.to_string(), message, received_at: text.received_at })
        })
        .collect::<Result<Vec<_>, Error>>()?;
    Ok(UnmatchedPage { messages, next: page.next })
}

/// One page of a record's conversation.
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct ConversationPage {
    /// Texts, opt-out events and notes, newest first.
    pub messages: Vec<ConversationItem>,
    /// Cursor of the next (older) page.
    pub next: Option<String>,
}

/// A record's archived texts, newest first, `limit` (1–100) at a time.
#[tracing::instrument(skip_all, fields(tenant = %caller.tenant))]
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
    let mut query = keys::conversation(tenant, kind, &id).descending().limit(limit.clamp(1, 100));
    query.cursor = cursor;
    let access = access::access(app, caller).await?;
    let page = app.store.query_listing(&query).await?;
    // A message the caller's group may not read is neither shown nor counted.
    let messages = page
        .items
        .iter()
        .map(ConversationItem::from_item)
        .filter(|e| e.as_ref().map_or(true, |e| access.can_read(e.action_type())))
        .collect::<Result<Vec<_>, Error>>()?;
    Ok(ConversationPage { messages, next: page.next })
}

/// Longest note, in characters.
pub const MAX_NOTE_CHARS: usize = 4000;

/// A note to write on a record's conversation.
#[derive(Debug, Clone, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(examples(json!({"action_type": "Message", "body": "Called back; starts Monday."})))]
pub struct NewNote {
    /// The message action type (`Message`, `Sales`, …); the caller's security group
    /// must write it.
    pub action_type: String,
    /// The note: 1 to 4,000 characters.
    pub body: String,
}

/// Writes a note on a record's conversation (SPEC S2): 404 without the record, 422
/// for an unknown action type or a blank or long body, 403 unless the caller's
/// security group writes the type. The note is put together with a check that the
/// record still exists, so a purge racing it never leaves a note behind.
#[tracing::instrument(skip_all, fields(tenant = %caller.tenant))]
pub async fn write_note(
    app: &Arc<App>,
    caller: &Identity,
    kind: RecordKind,
    id: &str,
    note: NewNote,
) -> Result<NoteEntry, Error> {
    let id = record_id(id)?;
    let tenant = &caller.tenant;
    let chars = note.body.chars().count();
    if note.body.trim().is_empty() {
        return Err(Error::invalid("body", "must not be empty"));
    }
    if chars > MAX_NOTE_CHARS {
        return Err(Error::invalid("body", format!("must be at most {MAX_NOTE_CHARS} characters (it has {chars})")));
    }
    let action_type = access::types_of(app, tenant)
        .await?
        .into_iter()
        .find(|t| t.name.eq_ignore_ascii_case(note.action_type.trim()))
        .ok_or_else(|| Error::invalid("action_type", format!("there is no action type {:?}", note.action_type)))?
        .name;
    access::access(app, caller).await?.require_write(&action_type)?;
    let record_key = keys::record(tenant, kind, &id);
    if app.store.get(&record_key).await?.is_none() {
        return Err(Error::NotFound(format!("no {} {id:?} here", kind.as_str())));
    }
    let entry = NoteEntry {
        note: uuid::Uuid::new_v4().simple().to_string(),
        author: caller.user_id.clone(),
        body: note.body,
        action_type,
        written_at: Timestamp::new(app.clock.now())?,
    };
    let key = keys::conversation_note(tenant, kind, &id, &entry.written_at, &entry.note);
    let writes = [
        Write::Check { key: record_key, condition: Condition::Exists },
        Write::Put { item: entry.to_item(key)?, condition: Some(Condition::NotExists) },
    ];
    match app.store.transact(&writes).await {
        Ok(()) => {}
        Err(PortError::ConditionFailed) => {
            return Err(Error::NotFound(format!("no {} {id:?} here", kind.as_str())));
        }
        Err(e) => return Err(e.into()),
    }
    tracing::info!(action_type = %entry.action_type, "note written");
    Ok(entry)
}

/// How often a purge deletes what was written on the record while it ran.
const PURGE_PASSES: usize = 5;

/// What a purge removed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Purged {
    /// Candidate, employee or contact.
    pub kind: RecordKind,
    /// The record's id.
    pub id: String,
    /// Items removed: the record, its numbers, its archived texts and their states.
    pub removed_items: usize,
    /// Who purged it.
    pub by: String,
    /// When.
    pub at: Timestamp,
}

impl Stored for Purged {
    const KIND: &'static str = "purge audit entry";
}

/// Purges a record and its whole archive (customer admins only): its numbers leave
/// the directory first (so no new text is archived on it), then the record and its
/// conversation go, in transactions of at most 100 deletes. The purge is written to
/// the tenant's audit trail before anything is removed; a purge that stopped half-way
/// is finished by purging again. 404 when there is nothing left to purge.
#[tracing::instrument(skip_all, fields(tenant = %caller.tenant))]
pub async fn purge(app: &Arc<App>, caller: &Identity, kind: RecordKind, id: &str) -> Result<Purged, Error> {
    if caller.role != textbridge_domain::Role::CustomerAdmin {
        return Err(Error::Forbidden("only a customer admin may purge a record".into()));
    }
    let id = record_id(id)?;
    let tenant = &caller.tenant;
    let partition = app.store.query_all(&keys::record_partition(tenant, kind, &id)).await?;
    if partition.is_empty() {
        return Err(Error::NotFound(format!("no {} {id} to purge", kind.as_str())));
    }
    let at = Timestamp::new(app.clock.now())?;
    let mut purged =
        Purged { kind, id: id.clone(), removed_items: partition.len(), by: caller.user_id.to_string(), at };
    let record = items::get::<RecordItem>(app.store.as_ref(), &keys::record(tenant, kind, &id)).await?;
    let phones = record.as_ref().map(|r| r.phones.clone()).unwrap_or_default();
    purged.removed_items += phones.len();
    let audit_id = format!("purge-{}-{id}", kind.as_str());
    app.store.put(&purged.to_item(keys::audit(tenant, &at, &audit_id))?, None).await?;
    let mut deletes: Vec<Write> = phones
        .iter()
        .map(|n| Write::Delete { key: keys::record_phone(tenant, n, kind, &id), condition: None })
        .collect();
    deletes.extend(partition.into_iter().map(|item| Write::Delete { key: item.key, condition: None }));
    for pass in 0.. {
        for chunk in deletes.chunks(crate::ports::MAX_TRANSACTION_WRITES) {
            app.store.transact(chunk).await?;
        }
        // A note or text written while the purge ran goes too. With the record and
        // its numbers gone nothing new arrives (a note is written on the condition
        // that its record exists), so this ends at once; purging again finishes a
        // purge that gave up.
        let rest = app.store.query_all(&keys::record_partition(tenant, kind, &id)).await?;
        if rest.is_empty() {
            break;
        }
        if pass >= PURGE_PASSES {
            return Err(Error::Unavailable("the record's archive kept changing during the purge; purge again".into()));
        }
        purged.removed_items += rest.len();
        deletes = rest.into_iter().map(|item| Write::Delete { key: item.key, condition: None }).collect();
    }
    tracing::info!(kind = kind.as_str(), removed = purged.removed_items, "record purged");
    Ok(purged)
}

/// The tenant's audit trail of purges, oldest first (admins).
pub async fn audit_trail(app: &Arc<App>, caller: &Identity) -> Result<Vec<Purged>, Error> {
    caller.require_admin()?;
    let items = app.store.query_all(&keys::audit_trail(&caller.tenant)).await?;
    items.iter().map(Purged::from_item).collect()
}
