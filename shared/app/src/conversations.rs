//! Conversation views (SPEC S2) beside a record's conversation
//! ([`crate::records::conversation`]): a texting user's own recent conversations,
//! and everything of one phone number. Both show only what the caller's security
//! group reads.

use std::{
    collections::{BTreeMap, BTreeSet},
    sync::Arc,
};

use serde::Serialize;
use textbridge_domain::{Direction, Error, Identity, ProviderKind, Timestamp};

use crate::{
    App,
    access::{self, MESSAGE},
    archive::records_for,
    items::{ConversationEntry, MessageItem, Stored, UnmatchedItem},
    keys, optout,
    ports::RecordRef,
    send,
};

/// Most texts a "recent conversations" view reads.
const RECENT_TEXTS: u32 = 500;

/// One of a user's conversations: the other number and its latest text.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct ConversationSummary {
    /// The other side's number.
    pub number: String,
    /// When its latest text was sent or received.
    pub last_at: Timestamp,
    /// Which way the latest text went.
    pub last_direction: Direction,
    /// The latest text.
    pub last_body: String,
    /// The provider of the latest text.
    pub provider: ProviderKind,
    /// Texts with this number among the user's recent ones.
    pub texts: usize,
}

/// One page of a user's recent conversations.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct MinePage {
    /// Conversations, the most recent first.
    pub conversations: Vec<ConversationSummary>,
    /// Cursor of the next (older) page.
    pub next: Option<String>,
}

/// The caller's own recent conversations, newest first, `limit` (1–100) at a time
/// from `cursor` (the previous page's `next`): their latest texts (up to 500),
/// grouped by the other number.
#[tracing::instrument(skip_all, fields(tenant = %caller.tenant))]
pub async fn mine(app: &Arc<App>, caller: &Identity, cursor: Option<&str>, limit: u32) -> Result<MinePage, Error> {
    let skip = match cursor {
        None => 0,
        Some(c) => c
            .parse::<usize>()
            .ok()
            .filter(|n| *n > 0 && *n <= RECENT_TEXTS as usize)
            .ok_or_else(|| Error::invalid("cursor", "is not a cursor this listing gave"))?,
    };
    if !access::access(app, caller).await?.can_read(MESSAGE) {
        return Ok(MinePage { conversations: Vec::new(), next: None });
    }
    let query = keys::user_texts(&caller.tenant, &caller.user_id).descending().limit(RECENT_TEXTS);
    let page = app.store.query(&query).await?;
    let mut order = Vec::new();
    let mut by_number: BTreeMap<String, ConversationSummary> = BTreeMap::new();
    for item in &page.items {
        let text = MessageItem::from_item(item)?.event;
        let number = text.their_number.to_string();
        match by_number.get_mut(&number) {
            Some(summary) => summary.texts += 1,
            None => {
                order.push(number.clone());
                by_number.insert(
                    number.clone(),
                    ConversationSummary {
                        number,
                        last_at: text.occurred_at,
                        last_direction: text.direction,
                        last_body: text.body,
                        provider: text.provider,
                        texts: 1,
                    },
                );
            }
        }
    }
    let limit = usize::try_from(limit.clamp(1, 100)).unwrap_or(100);
    let next = (order.len() > skip + limit).then(|| (skip + limit).to_string());
    let conversations = order.into_iter().skip(skip).take(limit).filter_map(|n| by_number.remove(&n)).collect();
    Ok(MinePage { conversations, next })
}

/// A record a number belongs to.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct RecordLink {
    /// Candidate, employee or contact.
    pub kind: String,
    /// The ATS's id.
    pub id: String,
}

/// Everything of one number the caller may read.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct NumberView {
    /// The number in E.164.
    pub number: String,
    /// Whether it opted out of the tenant's texts.
    pub opted_out: bool,
    /// The records carrying it.
    pub records: Vec<RecordLink>,
    /// Its texts (archived on its records, or waiting unmatched), newest first, at
    /// most `limit`.
    pub messages: Vec<ConversationEntry>,
}

/// Search by number: the records carrying it, its opt-out, and its latest texts
/// (at most `limit`, 1–100) of the types the caller reads.
#[tracing::instrument(skip_all, fields(tenant = %caller.tenant))]
pub async fn by_number(app: &Arc<App>, caller: &Identity, number: &str, limit: u32) -> Result<NumberView, Error> {
    let number = send::number(app, "number", number)?;
    let tenant = &caller.tenant;
    let access = access::access(app, caller).await?;
    let limit = limit.clamp(1, 100);
    let records: Vec<RecordRef> = records_for(app, tenant, &number).await?;
    let mut seen = BTreeSet::new();
    let mut messages = Vec::new();
    for record in &records {
        let query = keys::conversation(tenant, record.kind, &record.id).descending().limit(limit);
        for item in app.store.query(&query).await?.items {
            let entry = ConversationEntry::from_item(&item)?;
            let key = (entry.provider, entry.provider_message_id.clone(), entry.event.clone());
            if entry.their_number == number && access.can_read(&entry.action_type) && seen.insert(key) {
                messages.push(entry);
            }
        }
    }
    if access.can_read(MESSAGE) {
        for item in app.store.query_all(&keys::unmatched_of(tenant, &number)).await? {
            let text = UnmatchedItem::from_item(&item)?.event;
            if seen.insert((text.provider, text.provider_message_id.clone(), None)) {
                messages.push(ConversationEntry {
                    provider: text.provider,
                    provider_message_id: text.provider_message_id,
                    direction: text.direction,
                    body: text.body,
                    occurred_at: text.occurred_at,
                    time_received: text.time_received,
                    our_number: text.our_number,
                    their_number: text.their_number,
                    texting_user: None,
                    unattributed: true,
                    provider_username: text.provider_username,
                    status: text.status,
                    action_type: MESSAGE.to_owned(),
                    event: None,
                });
            }
        }
    }
    messages.sort_by_key(|m| std::cmp::Reverse(m.occurred_at));
    messages.truncate(usize::try_from(limit).unwrap_or(100));
    Ok(NumberView {
        number: number.to_string(),
        opted_out: optout::is_opted_out(app, tenant, &number).await?,
        records: records.iter().map(|r| RecordLink { kind: r.kind.as_str().into(), id: r.id.clone() }).collect(),
        messages,
    })
}
