//! The archiver (SPEC S2): consumes queued webhook events and stores each text on
//! the conversation of every record its number matches — exactly once per (message,
//! record), however often it is delivered — and writes it back to the ATS.
//!
//! Exactly once with an ATS follows a per-(message, record) state item:
//! missing → `writing` (claimed with a lease) → `done` (with the ATS id). A retry that
//! finds a stale lease first asks the ATS whether the text is already there (the
//! process may have died after the ATS call and before recording it). A tenant that
//! has not connected the ATS gets `pending` instead (archived here, the write waits;
//! [`resume_ats_writes`] queues it again once connected).

use std::sync::Arc;

use async_trait::async_trait;
use serde_json::json;
use textbridge_domain::{
    DeliveryStatus, Direction, E164, Error, MessageEvent, ProviderKind, TenantId, Timestamp, UserId, WebhookEvent,
    opt_out_keyword,
};

use crate::{
    App, access,
    envelope::{Envelope, KIND_WEBHOOK_EVENT},
    items::{
        self, ArchivePhase, ArchiveState, ConversationEntry, DirectoryEntry, EarlyStatus, FailureItem, MessageItem,
        RecordRefItem, Stored, UnmatchedItem, UsernameClaim,
    },
    keys, mass, optout,
    ports::{AtsError, AtsMessage, Condition, Key, PortError, RecordRef, Update},
    worker::MessageHandler,
};

/// Archives queued messages.
pub struct Archiver {
    app: Arc<App>,
}

impl Archiver {
    /// The archiver of `app`.
    pub fn new(app: Arc<App>) -> Self {
        Self { app }
    }
}

#[async_trait]
impl MessageHandler for Archiver {
    async fn handle(&self, body: &str) -> Result<(), Error> {
        let envelope = Envelope::parse(body)?;
        tracing::Span::current().record("tenant", envelope.tenant.as_str());
        match envelope.kind.as_str() {
            KIND_WEBHOOK_EVENT => {
                let event: WebhookEvent = serde_json::from_value(envelope.payload)
                    .map_err(|e| Error::malformed(format!("queued webhook event cannot be read: {e}")))?;
                handle_event(&self.app, &envelope.tenant, event).await
            }
            mass::KIND_OUTBOUND_TEXT => {
                let text: mass::OutboundText = serde_json::from_value(envelope.payload)
                    .map_err(|e| Error::malformed(format!("queued outbound text cannot be read: {e}")))?;
                mass::handle(&self.app, &envelope.tenant, text).await
            }
            crate::import::KIND_IMPORT_RUN => {
                let run: crate::import::ImportRun = serde_json::from_value(envelope.payload)
                    .map_err(|e| Error::malformed(format!("queued import run cannot be read: {e}")))?;
                crate::import::handle(&self.app, &envelope.tenant, run).await
            }
            other => Err(Error::invalid("kind", format!("no handler for message kind {other:?} in this build"))),
        }
    }

    async fn failed(&self, id: &str, error: &Error) {
        let (code, reason) = failure_reason(error);
        let Ok(at) = now(&self.app) else { return };
        let Ok(item) = FailureItem { code: code.into(), reason, at }.to_item(keys::failure(id)) else { return };
        if let Err(e) = self.app.store.put(&item, None).await {
            tracing::warn!(error = %e, "could not keep why the message failed");
        }
    }
}

/// Handles one webhook event of `tenant`.
pub async fn handle_event(app: &Arc<App>, tenant: &TenantId, event: WebhookEvent) -> Result<(), Error> {
    let provider = match &event {
        WebhookEvent::Message(m) => Some(m.provider),
        WebhookEvent::Status { provider, .. } => Some(*provider),
        WebhookEvent::OptOut { provider, .. } => Some(*provider),
    };
    if let Some(provider) = provider {
        tracing::Span::current().record("provider", provider.as_str());
    }
    match event {
        WebhookEvent::Message(message) => archive_message(app, tenant, &message).await,
        WebhookEvent::Status { provider, provider_message_id, status } => {
            update_status(app, tenant, provider, &provider_message_id, status).await
        }
        WebhookEvent::OptOut { provider, number, opted_out } => {
            optout::record(app, tenant, &number, opted_out, now(app)?, &optout::Source::Provider(provider)).await?;
            Ok(())
        }
    }
}

/// Records a later delivery status on the message and on its archived entries; it
/// never creates a text. A status that arrives before its text waits beside it.
async fn update_status(
    app: &Arc<App>,
    tenant: &TenantId,
    provider: ProviderKind,
    provider_message_id: &str,
    status: DeliveryStatus,
) -> Result<(), Error> {
    let store = &app.store;
    let key = keys::message(tenant, provider, provider_message_id);
    let update = Update::default().set("status", json!(status));
    let message = match store.update(&key, &update, Some(&Condition::Exists)).await {
        Ok(item) => MessageItem::from_item(&item)?,
        Err(PortError::ConditionFailed) => {
            let early = EarlyStatus { status }.to_item(keys::early_status(tenant, provider, provider_message_id))?;
            store.put(&early, None).await?;
            return Ok(());
        }
        Err(e) => return Err(e.into()),
    };
    for record in &message.records {
        let entry = keys::conversation_entry(
            tenant,
            record.kind,
            &record.id,
            &message.event.occurred_at,
            provider,
            provider_message_id,
        );
        // A status never recreates an entry that no longer exists.
        match store.update(&entry, &update, Some(&Condition::Exists)).await {
            Ok(_) | Err(PortError::ConditionFailed) => {}
            Err(e) => return Err(e.into()),
        }
    }
    Ok(())
}

fn now(app: &App) -> Result<Timestamp, Error> {
    Timestamp::new(app.clock.now())
}

/// The texting user a message is attributed to: the user whose user-level
/// credentials carry the provider username (`None`: unattributed).
async fn attribute(app: &Arc<App>, tenant: &TenantId, message: &MessageEvent) -> Result<Option<UserId>, Error> {
    let Some(username) = message.provider_username.as_ref() else { return Ok(None) };
    let key = keys::username_claim(tenant, message.provider, username);
    app.caches
        .users
        .get_or_load(&key.pk, &key.sk, || async {
            let Some(claim) = items::get::<UsernameClaim>(app.store.as_ref(), &key).await? else { return Ok(None) };
            let prefix = format!("{}{}#user#", keys::CREDENTIAL_PREFIX, message.provider);
            claim.credential.strip_prefix(&prefix).map(UserId::parse).transpose()
        })
        .await
}

/// The records whose phone numbers include `number` (a strongly consistent read).
pub async fn records_for(app: &Arc<App>, tenant: &TenantId, number: &E164) -> Result<Vec<RecordRef>, Error> {
    let items = app.store.query_all(&keys::records_of(tenant, number)).await?;
    items.iter().map(|i| DirectoryEntry::from_item(i).map(|e| RecordRef { kind: e.kind, id: e.id })).collect()
}

/// The message item of a text, and whether this report is its first: the stored
/// item when the text was reported before (its first report's content and time win,
/// so every report lands on the same entries), else this report — with the records
/// it matched — written with a condition, so that of two first reports handled at
/// once exactly one wins.
async fn first_report(
    app: &Arc<App>,
    tenant: &TenantId,
    reported: &MessageEvent,
    records: &[RecordRef],
) -> Result<(MessageItem, bool), Error> {
    let store = &app.store;
    let key = keys::message(tenant, reported.provider, &reported.provider_message_id);
    let partition = keys::message_partition(tenant, reported.provider, &reported.provider_message_id);
    for _ in 0..2 {
        // One read for both: the message item (`ITEM`) and an early status (`STATUS`).
        let found = store.query(&partition).await?.items;
        if let Some(item) = found.iter().find(|i| i.key == key) {
            let stored = MessageItem::from_item(item)?;
            let status = reported.status;
            return Ok((
                MessageItem { status, event: MessageEvent { status, ..stored.event.clone() }, ..stored },
                false,
            ));
        }
        let early = found.iter().find(|i| i.key.sk == "STATUS").map(EarlyStatus::from_item).transpose()?;
        let status = early.map_or(reported.status, |e| e.status);
        let user = attribute(app, tenant, reported).await?;
        let first = MessageItem {
            event: MessageEvent { status, ..reported.clone() },
            status,
            texting_user: user,
            matched: Some(!records.is_empty()),
            records: records.iter().map(RecordRefItem::from).collect(),
        };
        let mut item = first.to_item(key.clone())?;
        // Listed among its texting user's texts (their recent conversations).
        item.index = first.texting_user.as_ref().map(|user| {
            keys::user_text_listing(
                tenant,
                user,
                &first.event.occurred_at,
                first.event.provider,
                &first.event.provider_message_id,
            )
        });
        match store.put(&item, Some(&Condition::NotExists)).await {
            Ok(()) => return Ok((first, true)),
            Err(PortError::ConditionFailed) => continue, // another first report won: read it
            Err(e) => return Err(e.into()),
        }
    }
    Err(Error::Unavailable("the message item keeps changing; retry later".into()))
}

async fn archive_message(app: &Arc<App>, tenant: &TenantId, reported: &MessageEvent) -> Result<(), Error> {
    let store = &app.store;
    let msg_key = keys::message(tenant, reported.provider, &reported.provider_message_id);
    let mut records = records_for(app, tenant, &reported.their_number).await?;
    let (first, is_first) = first_report(app, tenant, reported, &records).await?;
    let message = &first.event;
    if message.direction == Direction::Inbound
        && let Some(opted_out) = opt_out_keyword(&message.body)
    {
        let source = optout::Source::Keyword {
            provider: message.provider,
            provider_message_id: message.provider_message_id.clone(),
        };
        optout::record(app, tenant, &message.their_number, opted_out, message.occurred_at, &source).await?;
    }

    let unmatched_key = keys::unmatched(tenant, &message.their_number, message.provider, &message.provider_message_id);
    let status = Update::default().set("status", json!(first.status)).set("event", json!(message));
    if records.is_empty() {
        let received_at = now(app)?;
        let mut item = UnmatchedItem { event: message.clone(), number: message.their_number.clone(), received_at }
            .to_item(unmatched_key.clone())?;
        item.index = Some(keys::unmatched_listing(
            tenant,
            &received_at,
            &message.their_number,
            message.provider,
            &message.provider_message_id,
        ));
        // Kept once: a redelivery keeps the first listing time.
        match store.put(&item, Some(&Condition::NotExists)).await {
            Ok(()) | Err(PortError::ConditionFailed) => {}
            Err(e) => return Err(e.into()),
        }
        // An upsert that added this number to a record since the look-up above either
        // looked for waiting texts before this one was kept (then it is archived here)
        // or finds it and queues it again (archiving it twice is harmless).
        records = records_for(app, tenant, &message.their_number).await?;
        if records.is_empty() {
            if !is_first {
                store.update(&msg_key, &status.set("matched", false), None).await?;
            }
            tracing::info!(provider = %message.provider, "message matches no record; kept as unmatched");
            crate::metrics::count(crate::metrics::Metric::TextsUnmatched, 1);
            return Ok(());
        }
    }
    // Written as the texting user (the default group when unattributed).
    access::access_cached(app, tenant, first.texting_user.as_ref()).await?.require_write(access::MESSAGE)?;
    for record in &records {
        archive_to(app, tenant, record, message, first.texting_user.as_ref()).await?;
    }
    tracing::info!(records = records.len(), first_report = is_first, "text archived");
    if is_first {
        crate::metrics::count(crate::metrics::Metric::TextsArchived, 1);
    }
    if is_first && first.matched == Some(true) {
        return Ok(()); // the message item was written with its records
    }
    if first.matched != Some(true) {
        store.delete(&unmatched_key, None).await?;
    }
    let archived: Vec<RecordRefItem> = records.iter().map(RecordRefItem::from).collect();
    store.update(&msg_key, &status.set("matched", true).set("records", json!(archived)), None).await?;
    Ok(())
}

/// The most characters of a failure's reason that are kept.
const MAX_REASON_CHARS: usize = 300;

/// What is kept of why a message failed: its code and its message, bounded. An
/// unexpected error keeps only its code (its text is for the log).
fn failure_reason(error: &Error) -> (&'static str, String) {
    let text = match error {
        // A reader's error may quote what it could not read: keep none of it.
        Error::Malformed { .. } => "the queued message could not be read".to_owned(),
        Error::Invalid { .. } => error.to_string(),
        Error::Unavailable(why) | Error::NotFound(why) | Error::Forbidden(why) => why.clone(),
        Error::Conflict { message, .. } => message.clone(),
        _ => "an internal error; see the log".to_owned(),
    };
    (error.code(), text.chars().take(MAX_REASON_CHARS).collect())
}

fn lease_secs(app: &App) -> i64 {
    i64::try_from(app.config.visibility_timeout.as_secs().max(1)).unwrap_or(60)
}

/// Archives one message on one record, exactly once.
async fn archive_to(
    app: &Arc<App>,
    tenant: &TenantId,
    record: &RecordRef,
    message: &MessageEvent,
    user: Option<&UserId>,
) -> Result<(), Error> {
    let store = &app.store;
    let (provider, id) = (message.provider, message.provider_message_id.as_str());
    let entry = ConversationEntry {
        provider,
        provider_message_id: id.to_owned(),
        direction: message.direction,
        body: message.body.clone(),
        occurred_at: message.occurred_at,
        time_received: message.time_received,
        our_number: message.our_number.clone(),
        their_number: message.their_number.clone(),
        texting_user: user.cloned(),
        provider_username: message.provider_username.clone(),
        unattributed: user.is_none(),
        status: message.status,
        action_type: access::MESSAGE.to_owned(),
        event: None,
    }
    .to_item(keys::conversation_entry(tenant, record.kind, &record.id, &message.occurred_at, provider, id))?;
    let state_key = keys::archive_state(tenant, record.kind, &record.id, provider, id);
    let Some(ats) = app.ats.as_ref() else {
        // Both at once (on the embedded backend they share a commit): every delivery
        // puts the entry again whatever the state says, so a failure of either only
        // has the message retried.
        let done =
            ArchiveState { state: ArchivePhase::Done, lease_until: None, attempt: 0, ats_id: None, waiting: None };
        let done = done.to_item(state_key)?;
        futures::future::try_join(store.put(&entry, None), store.put(&done, None)).await?;
        return Ok(());
    };
    store.put(&entry, None).await?;
    let now_secs = app.clock.now().unix_timestamp();
    let lease =
        Update::default().set("state", "writing").set("lease_until", now_secs + lease_secs(app)).add("attempt", 1);
    let busy = || Error::Unavailable("another archiver is writing this message; retry later".into());
    match items::get::<ArchiveState>(store.as_ref(), &state_key).await? {
        Some(state) if state.state == ArchivePhase::Done => return Ok(()),
        Some(state) if state.state == ArchivePhase::Pending => {
            // Never written (it waited for the ATS connection): claim it afresh, which
            // also takes it off the waiting list.
            let writing = ArchiveState {
                state: ArchivePhase::Writing,
                lease_until: Some(now_secs + lease_secs(app)),
                attempt: state.attempt + 1,
                ats_id: None,
                waiting: None,
            };
            let claim = Condition::Equals("state".into(), json!("pending"));
            match store.put(&writing.to_item(state_key.clone())?, Some(&claim)).await {
                Err(PortError::ConditionFailed) => return Err(busy()),
                other => other?,
            }
        }
        Some(state) => {
            let until = state.lease_until.unwrap_or(0);
            if until > now_secs {
                return Err(busy());
            }
            match store.update(&state_key, &lease, Some(&Condition::Equals("lease_until".into(), json!(until)))).await {
                Err(PortError::ConditionFailed) => return Err(busy()),
                other => other?,
            };
            let found = ats.find_message(tenant, record, provider, id).await.map_err(ats_error)?;
            if let Some(ats_id) = found {
                tracing::info!(attempt = state.attempt, "message found in the ATS after an interrupted write");
                return mark_done(app, &state_key, &ats_id).await;
            }
        }
        None => match store.update(&state_key, &lease, Some(&Condition::NotExists)).await {
            Err(PortError::ConditionFailed) => return Err(busy()),
            other => drop(other?),
        },
    }
    let text = AtsMessage {
        provider,
        provider_message_id: id.to_owned(),
        direction: message.direction,
        body: message.body.clone(),
        occurred_at: message.occurred_at.to_string(),
        their_number: message.their_number.to_string(),
        texting_user: user
            .map(ToString::to_string)
            .or_else(|| message.provider_username.as_ref().map(ToString::to_string)),
    };
    let ats_id = match ats.write_message(tenant, record, &text).await {
        Err(AtsError::NotConnected(why)) => {
            return mark_pending(app, tenant, record, &state_key, message, &why).await;
        }
        other => other.map_err(ats_error)?,
    };
    mark_done(app, &state_key, &ats_id).await
}

/// Keeps an ATS write for later: the text is archived in Textbridge, the tenant has
/// not connected the ATS. Said once per tenant and process, never retried into the
/// dead letters.
async fn mark_pending(
    app: &Arc<App>,
    tenant: &TenantId,
    record: &RecordRef,
    state_key: &Key,
    message: &MessageEvent,
    why: &str,
) -> Result<(), Error> {
    let pending = ArchiveState {
        state: ArchivePhase::Pending,
        lease_until: None,
        attempt: 1,
        ats_id: None,
        waiting: Some((message.provider, message.provider_message_id.clone())),
    };
    let mut item = pending.to_item(state_key.clone())?;
    item.index = Some(keys::ats_pending_listing(
        tenant,
        record.kind,
        &record.id,
        message.provider,
        &message.provider_message_id,
    ));
    app.store.put(&item, None).await?;
    if app.caches.ats_missing.first_time(tenant) {
        tracing::warn!(
            reason = why,
            "the ATS is not connected for this tenant; texts are archived here and their ATS writes wait"
        );
    }
    Ok(())
}

async fn mark_done(app: &Arc<App>, state_key: &Key, ats_id: &str) -> Result<(), Error> {
    let done = Update::default().set("state", "done").set("ats_id", ats_id).remove("lease_until");
    app.store.update(state_key, &done, None).await?;
    Ok(())
}

fn ats_error(e: AtsError) -> Error {
    match e {
        AtsError::Rejected(why) | AtsError::NotConnected(why) => Error::invalid("ats", why),
        AtsError::Unavailable(why) => Error::Unavailable(why),
    }
}

/// Queues again every text of `tenant` whose ATS write waits for the ATS
/// connection (to run once the tenant has connected it); returns how many.
/// Archiving is idempotent, so a text queued twice is written once.
pub async fn resume_ats_writes(app: &Arc<App>, tenant: &TenantId) -> Result<usize, Error> {
    let waiting = app.store.query_all(&keys::ats_pending(tenant)).await?;
    let mut bodies = std::collections::BTreeSet::new();
    for item in &waiting {
        let Some((provider, id)) = ArchiveState::from_item(item)?.waiting else { continue };
        let Some(message) =
            items::get::<MessageItem>(app.store.as_ref(), &keys::message(tenant, provider, &id)).await?
        else {
            continue;
        };
        bodies.insert(Envelope::webhook_event(tenant, &WebhookEvent::Message(message.event))?.to_body());
    }
    let bodies: Vec<String> = bodies.into_iter().collect();
    if !bodies.is_empty() {
        app.queue()?.send_batch(&bodies).await?;
    }
    Ok(bodies.len())
}
