//! Mass texts (SPEC S2): one text to up to [`MAX_RECIPIENTS`] recipients. The
//! request is checked and answered at once with a job id; each recipient goes
//! through the intake queue as its own message (kind [`KIND_OUTBOUND_TEXT`]), which
//! the queue's consumer sends.
//!
//! **Never twice.** A job's recipients are items in the job's partition, each in a
//! state: `queued` → `sending` (claimed with a conditional write and a lease before
//! the provider is called) → `sent` / `skipped` (opted out when its turn came) /
//! `failed` (with the provider's reason). A redelivered message finds its recipient
//! done; one that finds a claim whose lease ended (the worker died during the
//! provider call) reports the outcome as unknown instead of sending again.
//!
//! **Never dropped.** A provider that throttles (429) or cannot be reached gets the
//! recipient back: its claim is released and a fresh queue message takes its place,
//! behind the others, however often that happens.

use std::{collections::BTreeSet, sync::Arc};

use serde::{Deserialize, Serialize};
use serde_json::json;
use textbridge_domain::{E164, Encoding, Error, Identity, ProviderKind, TenantId, Timestamp};

use crate::{
    App, credentials,
    envelope::Envelope,
    items::{self, JobItem, JobRecipient, RecordItem, Stored},
    keys,
    ports::{Condition, MAX_TRANSACTION_WRITES, PortError, ProviderError, Update, Write},
    records::record_id,
    send::{self, RecordTarget},
};

/// Kind of the envelope carrying one recipient of a mass text.
pub const KIND_OUTBOUND_TEXT: &str = "outbound_text";

/// Most recipients of one mass text.
pub const MAX_RECIPIENTS: usize = 1000;

/// What a caller sends to text many recipients.
#[derive(Debug, Clone, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(examples(json!({"provider": "textus", "to": ["+12065550100", "+12065550101"], "body": "Shifts are open for Friday."})))]
pub struct MassRequest {
    /// The provider to send through.
    pub provider: ProviderKind,
    /// Phone numbers…
    #[serde(default)]
    pub to: Vec<String>,
    /// …and records of the caller's tenant (each texted at its first number).
    #[serde(default)]
    pub records: Vec<RecordTarget>,
    /// The text: 1 to 1,600 characters.
    pub body: String,
}

/// A job as answered when it is accepted.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
#[schema(as = MassAccepted)]
pub struct Accepted {
    /// The job's id (for the progress route).
    pub job: String,
    /// Distinct recipients queued.
    pub recipients: usize,
    /// GSM-7 or UCS-2.
    pub encoding: Encoding,
    /// Segments per text.
    pub segments: u32,
}

/// One recipient's outcome.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct RecipientView {
    /// The number.
    pub to: String,
    /// `queued`, `sending`, `sent`, `skipped` or `failed`.
    pub state: String,
    /// The provider's id of the sent text.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub provider_message_id: Option<String>,
    /// Why it was skipped or failed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}

/// A job's progress and per-recipient report.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
#[schema(as = MassProgress)]
pub struct Progress {
    /// The job's id.
    pub job: String,
    /// The provider.
    pub provider: ProviderKind,
    /// Recipients in all.
    pub total: usize,
    /// Waiting (or being retried after throttling).
    pub queued: usize,
    /// Being sent now.
    pub sending: usize,
    /// Sent.
    pub sent: usize,
    /// Skipped: opted out.
    pub skipped: usize,
    /// Failed, with the provider's reason.
    pub failed: usize,
    /// True once every recipient is sent, skipped or failed.
    pub done: bool,
    /// Every recipient, in the order given.
    pub recipients: Vec<RecipientView>,
}

/// The queue message of one recipient.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OutboundText {
    /// The job.
    pub job: String,
    /// The recipient's position in the job.
    pub index: usize,
}

fn job_id() -> String {
    use rand::Rng;
    let bytes: [u8; 12] = rand::rng().random();
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn check_job_id(job: &str) -> Result<(), Error> {
    if job.len() == 24 && job.bytes().all(|b| b.is_ascii_hexdigit()) {
        Ok(())
    } else {
        Err(Error::NotFound(format!("no mass text {job:?} here")))
    }
}

/// Accepts a mass text: checks everything a send needs, keeps the job and its
/// recipients, queues one message per recipient and answers with the job id.
#[tracing::instrument(skip_all, fields(tenant = %caller.tenant))]
pub async fn start(app: &Arc<App>, caller: &Identity, request: MassRequest) -> Result<Accepted, Error> {
    let (encoding, segments) = send::check_body(&request.body)?;
    let given = request.to.len() + request.records.len();
    if given == 0 {
        return Err(Error::invalid("to", "name at least one recipient (to or records)"));
    }
    if given > MAX_RECIPIENTS {
        return Err(Error::invalid("to", format!("at most {MAX_RECIPIENTS} recipients (to and records together)")));
    }
    let tenant = &caller.tenant;
    let branch = send::check_sender(app, tenant, &caller.user_id, &caller.permission_group).await?;
    app.providers.get(request.provider)?;
    credentials::for_sending(app, tenant, request.provider, &caller.user_id, branch.as_ref()).await?;

    let mut seen = BTreeSet::new();
    let mut recipients: Vec<E164> = Vec::with_capacity(given);
    for (i, raw) in request.to.iter().enumerate() {
        let number = send::number(app, &format!("to[{i}]"), raw)?;
        if seen.insert(number.clone()) {
            recipients.push(number);
        }
    }
    for (i, target) in request.records.iter().enumerate() {
        let field = format!("records[{i}]");
        let id = record_id(&target.id).map_err(|_| Error::invalid(&field, "is not a record id"))?;
        let record = items::get::<RecordItem>(app.store.as_ref(), &keys::record(tenant, target.kind, &id))
            .await?
            .ok_or_else(|| Error::invalid(&field, format!("there is no {} {id:?}", target.kind.as_str())))?;
        let number = record.phones.first().cloned().ok_or_else(|| {
            Error::invalid(&field, format!("the {} {id:?} has no phone number", target.kind.as_str()))
        })?;
        if seen.insert(number.clone()) {
            recipients.push(number);
        }
    }

    let job = job_id();
    // The recipients first, the job last: a job is visible only once whole. A
    // request that dies before queuing leaves a job nobody was told of, never sent.
    let items: Vec<_> = recipients
        .iter()
        .enumerate()
        .map(|(i, to)| {
            let r = JobRecipient {
                to: to.clone(),
                state: "queued".into(),
                attempt: 0,
                lease_until: None,
                provider_message_id: None,
                reason: None,
            };
            r.to_item(keys::job_recipient(tenant, &job, i)).map(|item| Write::Put { item, condition: None })
        })
        .collect::<Result<_, _>>()?;
    for chunk in items.chunks(MAX_TRANSACTION_WRITES) {
        app.store.transact(chunk).await?;
    }
    let created_at = Timestamp::new(app.clock.now())?;
    let item = JobItem {
        user: caller.user_id.clone(),
        permission_group: caller.permission_group.clone(),
        provider: request.provider,
        body: request.body.clone(),
        total: recipients.len(),
        created_at,
    };
    app.store.put(&item.to_item(keys::job(tenant, &job))?, Some(&Condition::NotExists)).await?;
    let bodies = (0..recipients.len()).map(|index| envelope(tenant, &job, index)).collect::<Result<Vec<_>, _>>()?;
    app.queue()?.send_batch(&bodies).await?;
    tracing::info!(recipients = recipients.len(), "mass text accepted");
    Ok(Accepted { job, recipients: recipients.len(), encoding, segments })
}

fn envelope(tenant: &TenantId, job: &str, index: usize) -> Result<String, Error> {
    let payload = serde_json::to_value(OutboundText { job: job.to_owned(), index }).map_err(Error::unexpected)?;
    Ok(Envelope { tenant: tenant.clone(), kind: KIND_OUTBOUND_TEXT.into(), payload }.to_body())
}

/// The progress and per-recipient report of a job (its sender, or an admin).
#[tracing::instrument(skip_all, fields(tenant = %caller.tenant))]
pub async fn progress(app: &Arc<App>, caller: &Identity, job: &str) -> Result<Progress, Error> {
    check_job_id(job)?;
    let tenant = &caller.tenant;
    let missing = || Error::NotFound(format!("no mass text {job:?} here"));
    let found = items::get::<JobItem>(app.store.as_ref(), &keys::job(tenant, job)).await?.ok_or_else(missing)?;
    if found.user != caller.user_id && caller.require_admin().is_err() {
        return Err(missing());
    }
    let mut recipients = Vec::with_capacity(found.total);
    let mut report = Progress {
        job: job.to_owned(),
        provider: found.provider,
        total: found.total,
        queued: 0,
        sending: 0,
        sent: 0,
        skipped: 0,
        failed: 0,
        done: false,
        recipients: Vec::new(),
    };
    for item in app.store.query_all(&keys::job_recipients(tenant, job)).await? {
        let r = JobRecipient::from_item(&item)?;
        match r.state.as_str() {
            "sending" => report.sending += 1,
            "sent" => report.sent += 1,
            "skipped" => report.skipped += 1,
            "failed" => report.failed += 1,
            _ => report.queued += 1,
        }
        recipients.push(RecipientView {
            to: r.to.to_string(),
            state: r.state,
            provider_message_id: r.provider_message_id,
            reason: r.reason,
        });
    }
    report.done = report.queued + report.sending == 0;
    report.recipients = recipients;
    Ok(report)
}

/// Attempts after which a provider that cannot be reached (other than by
/// throttling) fails the recipient.
const MAX_UNREACHABLE_ATTEMPTS: i64 = 20;

/// Sends to one recipient of a job (the queue consumer's half).
pub async fn handle(app: &Arc<App>, tenant: &TenantId, message: OutboundText) -> Result<(), Error> {
    let OutboundText { job, index } = message;
    let key = keys::job_recipient(tenant, &job, index);
    let Some(recipient) = items::get::<JobRecipient>(app.store.as_ref(), &key).await? else {
        return Err(Error::invalid("job", format!("mass text {job} has no recipient {index}")));
    };
    let now = app.clock.now().unix_timestamp();
    let lease = i64::try_from(app.config.visibility_timeout.as_secs().max(1)).unwrap_or(60);
    let claim = match recipient.state.as_str() {
        "sent" | "skipped" | "failed" => return Ok(()), // done before: a redelivery
        "sending" if recipient.lease_until.unwrap_or(0) > now => {
            return Err(Error::Unavailable("another worker is sending to this recipient".into()));
        }
        "sending" => {
            // The worker that claimed it stopped during the provider call: the text
            // may have gone out, so it is never sent again.
            let unknown = Update::default().set("state", "failed").set(
                "reason",
                "the outcome is unknown: sending stopped during the provider call; not sent again to avoid a duplicate",
            );
            let held = Condition::Equals("attempt".into(), json!(recipient.attempt));
            return finish(app, &key, &unknown, &held).await;
        }
        _ => Condition::Equals("attempt".into(), json!(recipient.attempt)),
    };
    let job_item = items::get::<JobItem>(app.store.as_ref(), &keys::job(tenant, &job))
        .await?
        .ok_or_else(|| Error::invalid("job", format!("no mass text {job}")))?;
    let attempt = recipient.attempt + 1;
    let held = Condition::Equals("attempt".into(), json!(attempt));
    // The sender is checked for every recipient: one disabled, deleted or stripped
    // of Can Text while the job runs sends nothing more.
    let branch = match send::check_sender(app, tenant, &job_item.user, &job_item.permission_group).await {
        Ok(branch) => branch,
        Err(Error::Forbidden(why)) => {
            let refused = Update::default().set("state", "failed").set("reason", why).set("attempt", attempt);
            return finish(app, &key, &refused, &claim).await;
        }
        Err(e) => return Err(e),
    };
    if send::refuse_opted_out(app, tenant, &recipient.to).await.is_err() {
        let skipped = Update::default().set("state", "skipped").set("reason", "opted out").set("attempt", attempt);
        return finish(app, &key, &skipped, &claim).await;
    }
    let sending = Update::default().set("state", "sending").set("lease_until", now + lease).set("attempt", attempt);
    match app.store.update(&key, &sending, Some(&claim)).await {
        Ok(_) => {}
        Err(PortError::ConditionFailed) => return Ok(()), // another delivery claimed it
        Err(e) => return Err(e.into()),
    }
    let outcome =
        send::deliver(app, tenant, &job_item.user, branch.as_ref(), job_item.provider, &recipient.to, &job_item.body)
            .await;
    let done = match outcome {
        Ok(Ok(event)) => Update::default()
            .set("state", "sent")
            .set("provider_message_id", event.provider_message_id)
            .remove("lease_until"),
        Ok(Err(ProviderError::Unavailable { status })) => {
            let throttled = status == Some(429);
            if throttled || attempt < MAX_UNREACHABLE_ATTEMPTS {
                return requeue(app, tenant, &job, index, &key, &held, throttled).await;
            }
            let why = ProviderError::Unavailable { status }.describe(job_item.provider);
            Update::default().set("state", "failed").set("reason", why).remove("lease_until")
        }
        Ok(Err(e)) => {
            Update::default().set("state", "failed").set("reason", e.describe(job_item.provider)).remove("lease_until")
        }
        // Not sent (no credentials any more, the store failed before the call): back
        // in line, to be retried.
        Err(e) => {
            release(app, &key, &held).await?;
            return Err(e);
        }
    };
    finish(app, &key, &done, &held).await
}

async fn finish(app: &App, key: &crate::ports::Key, update: &Update, held: &Condition) -> Result<(), Error> {
    match app.store.update(key, update, Some(held)).await {
        Ok(_) | Err(PortError::ConditionFailed) => Ok(()), // someone else finished it
        Err(e) => Err(e.into()),
    }
}

async fn release(app: &App, key: &crate::ports::Key, held: &Condition) -> Result<(), Error> {
    finish(app, key, &Update::default().set("state", "queued").remove("lease_until"), held).await
}

/// Gives the recipient back (released claim, fresh queue message behind the
/// others): throttling never drops a recipient.
async fn requeue(
    app: &App,
    tenant: &TenantId,
    job: &str,
    index: usize,
    key: &crate::ports::Key,
    held: &Condition,
    throttled: bool,
) -> Result<(), Error> {
    release(app, key, held).await?;
    app.queue()?.send(&envelope(tenant, job, index)?).await?;
    tracing::info!(throttled, "provider busy; recipient queued again");
    Ok(())
}
