//! The archiver (SPEC S2): consumes queued webhook events and stores each text on
//! the conversation of every record its number matches — exactly once per (message,
//! record), however often it is delivered — and writes it back to the ATS.
//!
//! Exactly once with an ATS follows a per-(message, record) state item:
//! missing → `writing` (claimed with a lease) → `done` (with the ATS id). A retry that
//! finds a stale lease first asks the ATS whether the text is already there (the
//! process may have died after the ATS call and before recording it).

use std::sync::Arc;

use async_trait::async_trait;
use serde_json::{Value, json};
use textbridge_domain::{
    DeliveryStatus, Direction, E164, Error, MessageEvent, RecordKind, TenantId, WebhookEvent, opt_out_keyword,
};
use time::format_description::well_known::Rfc3339;

use crate::{
    App,
    envelope::{Envelope, KIND_WEBHOOK_EVENT},
    keys,
    ports::{AtsError, AtsMessage, Condition, Item, PortError, Query, RecordRef, Update},
    worker::MessageHandler,
};

/// The action type every archived text is stored with.
pub const MESSAGE_ACTION_TYPE: &str = "Message";

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
        match envelope.kind.as_str() {
            KIND_WEBHOOK_EVENT => {
                let event: WebhookEvent = serde_json::from_value(envelope.payload)
                    .map_err(|e| Error::malformed(format!("queued webhook event cannot be read: {e}")))?;
                handle_event(&self.app, &envelope.tenant, event).await
            }
            other => Err(Error::invalid("kind", format!("no handler for message kind {other:?} in this build"))),
        }
    }
}

/// Handles one webhook event of `tenant`.
pub async fn handle_event(app: &Arc<App>, tenant: &TenantId, event: WebhookEvent) -> Result<(), Error> {
    match event {
        WebhookEvent::Message(message) => archive_message(app, tenant, &message).await,
        WebhookEvent::Status { provider, provider_message_id, status } => {
            update_status(app, tenant, provider, &provider_message_id, status).await
        }
        WebhookEvent::OptOut { number, opted_out } => record_opt_out(app, tenant, &number, opted_out).await,
    }
}

/// Records a later delivery status on the message and on its archived entries; it
/// never creates a message.
async fn update_status(
    app: &Arc<App>,
    tenant: &TenantId,
    provider: textbridge_domain::ProviderKind,
    provider_message_id: &str,
    status: DeliveryStatus,
) -> Result<(), Error> {
    let store = &app.store;
    let key = keys::message(tenant, provider, provider_message_id);
    let item =
        store.update(&key, &Update::default().set("status", json!(status)).set("status_at", now(app)), None).await?;
    let Some(first) = item.attrs.get("event").and_then(|e| serde_json::from_value::<MessageEvent>(e.clone()).ok())
    else {
        return Ok(()); // the text itself has not arrived yet; its status waits on the message item
    };
    for record in item.attrs.get("records").and_then(Value::as_array).into_iter().flatten().filter_map(Value::as_str) {
        let Some((kind, id)) = record.split_once('#') else { continue };
        let kind: RecordKind = kind.parse()?;
        let entry = keys::conversation_entry(tenant, kind, id, &first.occurred_at, provider, provider_message_id);
        // A status never recreates an entry that no longer exists.
        match store.update(&entry, &Update::default().set("status", json!(status)), Some(&Condition::Exists)).await {
            Ok(_) | Err(PortError::ConditionFailed) => {}
            Err(e) => return Err(e.into()),
        }
    }
    Ok(())
}

fn now(app: &App) -> String {
    app.clock.now().format(&Rfc3339).unwrap_or_default()
}

async fn record_opt_out(app: &Arc<App>, tenant: &TenantId, number: &E164, opted_out: bool) -> Result<(), Error> {
    let item = Item::new(keys::opt_out(tenant, number))
        .with("number", number.as_str())
        .with("opted_out", opted_out)
        .with("at", now(app));
    app.store.put(&item, None).await?;
    Ok(())
}

/// The texting user a message is attributed to: the user whose user-level
/// credentials carry the provider username (`None`: unattributed).
async fn attribute(app: &Arc<App>, tenant: &TenantId, message: &MessageEvent) -> Result<Option<String>, Error> {
    let Some(name) = message.provider_username.as_deref() else { return Ok(None) };
    let Ok(username) = textbridge_domain::ProviderUsername::parse(name) else { return Ok(None) };
    let claim = app.store.get(&keys::username_claim(tenant, message.provider, &username)).await?;
    let credential = claim.as_ref().and_then(|c| c.str("credential")).unwrap_or_default();
    let prefix = format!("{}{}#user#", keys::CREDENTIAL_PREFIX, message.provider);
    Ok(credential.strip_prefix(&prefix).map(str::to_owned))
}

/// The records whose phone numbers include `number`.
pub async fn records_for(app: &Arc<App>, tenant: &TenantId, number: &E164) -> Result<Vec<RecordRef>, Error> {
    let query = Query::new(keys::tenant_pk(tenant), keys::phone_prefix(number));
    let items = app.store.query_all(&query).await?;
    items
        .iter()
        .map(|i| {
            let kind: RecordKind = i.str("kind").unwrap_or_default().parse()?;
            Ok(RecordRef { kind, id: i.str("id").unwrap_or_default().to_owned() })
        })
        .collect()
}

async fn archive_message(app: &Arc<App>, tenant: &TenantId, reported: &MessageEvent) -> Result<(), Error> {
    let store = &app.store;
    let msg_key = keys::message(tenant, reported.provider, &reported.provider_message_id);
    // A later report of a text already seen (e.g. "delivered") keeps the first
    // report's content and time, so it lands on the same entries; only the status moves.
    let first: Option<MessageEvent> = store
        .get(&msg_key)
        .await?
        .and_then(|item| item.attrs.get("event").and_then(|e| serde_json::from_value(e.clone()).ok()));
    let message = &match first {
        Some(first) => MessageEvent { status: reported.status, ..first },
        None => reported.clone(),
    };
    let event = serde_json::to_value(message).map_err(Error::unexpected)?;
    let user = attribute(app, tenant, message).await?;
    let record = Update::default()
        .set("event", event.clone())
        .set("status", json!(message.status))
        .set("texting_user", json!(user))
        .set("attributed", user.is_some());
    store.update(&msg_key, &record, None).await?;
    if message.direction == Direction::Inbound
        && let Some(opted_out) = opt_out_keyword(&message.body)
    {
        record_opt_out(app, tenant, &message.their_number, opted_out).await?;
    }

    let records = records_for(app, tenant, &message.their_number).await?;
    let unmatched_key = keys::unmatched(tenant, &message.their_number, message.provider, &message.provider_message_id);
    if records.is_empty() {
        let item = Item::new(unmatched_key)
            .with("event", event)
            .with("number", message.their_number.as_str())
            .with("received_at", now(app));
        store.put(&item, None).await?;
        store.update(&msg_key, &Update::default().set("matched", false), None).await?;
        tracing::info!(provider = %message.provider, "message matches no record; kept as unmatched");
        return Ok(());
    }
    for record in &records {
        archive_to(app, tenant, record, message, user.as_deref()).await?;
    }
    store.delete(&unmatched_key, None).await?;
    let archived: Vec<String> = records.iter().map(|r| format!("{}#{}", r.kind.as_str(), r.id)).collect();
    store.update(&msg_key, &Update::default().set("matched", true).set("records", json!(archived)), None).await?;
    Ok(())
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
    user: Option<&str>,
) -> Result<(), Error> {
    let store = &app.store;
    let (provider, id) = (message.provider, message.provider_message_id.as_str());
    let entry =
        Item::new(keys::conversation_entry(tenant, record.kind, &record.id, &message.occurred_at, provider, id))
            .with("provider", provider.as_str())
            .with("provider_message_id", id)
            .with("direction", json!(message.direction))
            .with("body", message.body.as_str())
            .with("occurred_at", message.occurred_at.to_string())
            .with("time_received", message.time_received)
            .with("our_number", message.our_number.as_str())
            .with("their_number", message.their_number.as_str())
            .with("texting_user", json!(user))
            .with("provider_username", json!(message.provider_username))
            .with("unattributed", user.is_none())
            .with("status", json!(message.status))
            .with("action_type", MESSAGE_ACTION_TYPE);
    store.put(&entry, None).await?;

    let state_key = keys::archive_state(tenant, record.kind, &record.id, provider, id);
    let Some(ats) = app.ats.as_ref() else {
        store.put(&Item::new(state_key).with("state", "done"), None).await?;
        return Ok(());
    };
    let now_secs = app.clock.now().unix_timestamp();
    let lease =
        Update::default().set("state", "writing").set("lease_until", now_secs + lease_secs(app)).add("attempt", 1);
    let busy = || Error::Unavailable("another archiver is writing this message; retry later".into());
    match store.get(&state_key).await? {
        Some(state) if state.str("state") == Some("done") => return Ok(()),
        Some(state) => {
            let until = state.int("lease_until").unwrap_or(0);
            if until > now_secs {
                return Err(busy());
            }
            match store.update(&state_key, &lease, Some(&Condition::Equals("lease_until".into(), json!(until)))).await {
                Err(PortError::ConditionFailed) => return Err(busy()),
                other => other?,
            };
            let found = ats.find_message(tenant, record, provider, id).await.map_err(ats_error)?;
            if let Some(ats_id) = found {
                tracing::info!(attempt = state.int("attempt"), "message found in the ATS after an interrupted write");
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
        texting_user: user.map(str::to_owned).or_else(|| message.provider_username.clone()),
    };
    let ats_id = ats.write_message(tenant, record, &text).await.map_err(ats_error)?;
    mark_done(app, &state_key, &ats_id).await
}

async fn mark_done(app: &Arc<App>, state_key: &crate::ports::Key, ats_id: &str) -> Result<(), Error> {
    let done = Update::default().set("state", "done").set("ats_id", ats_id).remove("lease_until");
    app.store.update(state_key, &done, None).await?;
    Ok(())
}

fn ats_error(e: AtsError) -> Error {
    match e {
        AtsError::Rejected(why) => Error::invalid("ats", why),
        AtsError::Unavailable(why) => Error::Unavailable(why),
    }
}
