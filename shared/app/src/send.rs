//! Sending one text (SPEC S2): through the caller's own provider credentials
//! (falling back to the tenant's system-level ones), to a record of the caller's
//! tenant or a phone number, never to a number that opted out.
//!
//! **Never twice.** With an `Idempotency-Key`, the send is claimed first (a
//! conditional write of its own item) and the provider called only by the claim's
//! winner; the answer — or why it failed — is kept on the claim, and the same key
//! gets it again without a second call. The provider client repeats a send only
//! when the provider cannot have acted on it.
//!
//! **Archived once.** A sent text is queued as an outbound message event, keyed like
//! every other by its provider message id: the archiver writes it once, whether the
//! provider's own webhook for it comes before, after or never.

use std::sync::Arc;

use serde::{Deserialize, Serialize};
use serde_json::json;
use textbridge_domain::{
    BranchId, DeliveryStatus, Direction, E164, Encoding, Error, Identity, MAX_TEXT_CHARS, MessageEvent,
    PermissionGroup, ProviderKind, RecordKind, TenantId, Timestamp, UserId, UserStatus, WebhookEvent, segments,
};

use crate::{
    App, access, credentials,
    deadline::within_budget,
    envelope::Envelope,
    groups,
    items::{self, RecordItem, SendClaim, Stored, UserItem},
    keys, optout,
    ports::{Condition, Outbound, PortError, ProviderError, Update},
    records::record_id,
};

/// A record to text (its first phone number).
#[derive(Debug, Clone, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RecordTarget {
    /// Candidate, employee or contact.
    pub kind: RecordKind,
    /// The ATS's id.
    pub id: String,
}

/// What a caller sends to text one recipient.
#[derive(Debug, Clone, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(examples(json!({"provider": "textus", "to": "+12065550100", "body": "Your shift starts at 9."})))]
pub struct SendRequest {
    /// The provider to send through.
    pub provider: ProviderKind,
    /// A phone number (international, or national in the default region)…
    #[serde(default)]
    pub to: Option<String>,
    /// …or a record of the caller's tenant.
    #[serde(default)]
    pub record: Option<RecordTarget>,
    /// The text: 1 to 1,600 characters.
    pub body: String,
}

/// A sent text, as answered.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Sent {
    /// The provider.
    pub provider: ProviderKind,
    /// The provider's id of the text.
    pub provider_message_id: String,
    /// The recipient in E.164.
    pub to: String,
    /// GSM-7 or UCS-2.
    pub encoding: Encoding,
    /// How many segments it is sent in.
    pub segments: u32,
    /// The status the provider gave.
    pub status: DeliveryStatus,
    /// True when this is the answer of an earlier send with the same `Idempotency-Key`.
    #[serde(default)]
    pub replayed: bool,
}

/// Checks the text: not blank, at most [`MAX_TEXT_CHARS`] characters.
pub fn check_body(body: &str) -> Result<(Encoding, u32), Error> {
    let chars = body.chars().count();
    if body.trim().is_empty() {
        return Err(Error::invalid("body", "must not be empty"));
    }
    if chars > MAX_TEXT_CHARS {
        return Err(Error::invalid("body", format!("must be at most {MAX_TEXT_CHARS} characters (it has {chars})")));
    }
    Ok(segments(body))
}

/// 403 unless texting user `user` of `tenant`, in permission group `group`, may
/// send now: the group grants Can Text, their security group may write Message, and
/// a texting user who is disabled or deleted never sends. Returns the user's branch
/// (whose credentials they fall back to).
pub async fn check_sender(
    app: &Arc<App>,
    tenant: &TenantId,
    user: &UserId,
    group: &PermissionGroup,
) -> Result<Option<BranchId>, Error> {
    let stored = items::get::<UserItem>(app.store.as_ref(), &keys::user(tenant, user)).await?;
    if let Some(stored) = &stored
        && stored.status != UserStatus::Active
    {
        return Err(Error::Forbidden(format!("the texting user is {}; it may not send", stored.status)));
    }
    if !groups::can_text(app, tenant, group).await? {
        return Err(Error::Forbidden(format!("the permission group {:?} does not grant Can Text", group.as_str())));
    }
    access::access_of(app, tenant, Some(user)).await?.require_write(access::MESSAGE)?;
    Ok(stored.and_then(|u| u.branch))
}

/// A phone number as given, read in the default region; `field` names it in errors.
pub fn number(app: &App, field: &str, raw: &str) -> Result<E164, Error> {
    E164::parse(raw, app.config.default_region)
        .map_err(|_| Error::invalid(field, format!("{raw:?} is not a valid phone number")))
}

/// The recipient's number: `to`, or the first number of `record` in `tenant` (404
/// when the tenant has no such record).
async fn recipient(app: &Arc<App>, tenant: &TenantId, request: &SendRequest) -> Result<E164, Error> {
    match (&request.to, &request.record) {
        (Some(to), None) => number(app, "to", to),
        (None, Some(target)) => {
            let id = record_id(&target.id)?;
            let key = keys::record(tenant, target.kind, &id);
            let record = items::get::<RecordItem>(app.store.as_ref(), &key)
                .await?
                .ok_or_else(|| Error::NotFound(format!("no {} {id:?} here", target.kind.as_str())))?;
            record.phones.first().cloned().ok_or_else(|| {
                Error::invalid("record", format!("the {} {id:?} has no phone number", target.kind.as_str()))
            })
        }
        _ => Err(Error::invalid("to", "give either a phone number (to) or a record, not both")),
    }
}

/// 409 naming the number when it opted out of the tenant's texts.
pub async fn refuse_opted_out(app: &App, tenant: &TenantId, to: &E164) -> Result<(), Error> {
    if optout::is_opted_out(app, tenant, to).await? {
        return Err(Error::Conflict {
            field: Some("to".into()),
            message: format!("{to} has opted out of texts from this tenant"),
        });
    }
    Ok(())
}

/// How a provider failure reads to the caller.
pub fn provider_failure(provider: ProviderKind, e: &ProviderError) -> Error {
    match e {
        ProviderError::Rejected(_) => Error::invalid("provider", e.describe(provider)),
        ProviderError::Refused(_) => Error::invalid("to", e.describe(provider)),
        _ => Error::Unavailable(e.describe(provider)),
    }
}

/// Sends `body` to `to` as `user` through `provider` and queues the sent text to be
/// archived. A provider failure is returned as the provider's, to be kept; an
/// error (the outer one) means the provider was not called.
pub async fn deliver(
    app: &Arc<App>,
    tenant: &TenantId,
    user: &UserId,
    branch: Option<&BranchId>,
    provider: ProviderKind,
    to: &E164,
    body: &str,
) -> Result<Result<MessageEvent, ProviderError>, Error> {
    let port = app.providers.get(provider)?.clone();
    let credentials::SendingCredentials { credentials, system, intake_url } =
        credentials::for_sending(app, tenant, provider, user, branch).await?;
    let text = Outbound { to, body, region: app.config.default_region, status_url: Some(&intake_url) };
    let receipt = match within_budget(port.send(&credentials, system.as_ref(), &text)).await {
        Ok(receipt) => receipt,
        Err(e) => {
            tracing::warn!(provider = %provider, outcome = %credentials.secret.scrub(&e.describe(provider)), "send failed");
            return Ok(Err(e));
        }
    };
    let event = MessageEvent {
        provider,
        provider_message_id: receipt.provider_message_id,
        direction: Direction::Outbound,
        our_number: receipt.our_number,
        their_number: to.clone(),
        body: body.to_owned(),
        occurred_at: Timestamp::new(app.clock.now())?,
        time_received: false,
        provider_username: Some(credentials.username.clone()),
        status: receipt.status,
    };
    // Sent: from here on nothing may fail the send (a retry would send it again). A
    // text that cannot be queued is still archived from the provider's own webhook.
    if let Err(e) = archive_later(app, tenant, &event).await {
        tracing::error!(error = %e, provider = %provider, "a sent text could not be queued to be archived");
    }
    tracing::info!(provider = %provider, "text sent");
    Ok(Ok(event))
}

/// Queues a sent text to be archived (idempotent: archiving is keyed by its id).
async fn archive_later(app: &App, tenant: &TenantId, event: &MessageEvent) -> Result<(), Error> {
    let body = Envelope::webhook_event(tenant, &WebhookEvent::Message(event.clone()))?.to_body();
    app.queue()?.send(&body).await?;
    Ok(())
}

/// After how long a claim still `sending` belongs to a send that stopped (longer
/// than any request may run).
const STALE_CLAIM_SECS: i64 = 300;

/// Longest `Idempotency-Key`.
const MAX_KEY: usize = 128;

fn check_key(key: &str) -> Result<&str, Error> {
    let ok = (1..=MAX_KEY).contains(&key.len()) && key.bytes().all(|b| b.is_ascii_graphic() && b != b'#');
    if ok {
        Ok(key)
    } else {
        Err(Error::invalid("Idempotency-Key", format!("must be 1-{MAX_KEY} visible ASCII characters without '#'")))
    }
}

/// Sends one text for the caller (SPEC S2); with `idempotency_key`, at most once
/// per key.
#[tracing::instrument(skip_all, fields(tenant = %caller.tenant))]
pub async fn send(
    app: &Arc<App>,
    caller: &Identity,
    request: SendRequest,
    idempotency_key: Option<&str>,
) -> Result<Sent, Error> {
    let (encoding, count) = check_body(&request.body)?;
    let idempotency_key = idempotency_key.map(check_key).transpose()?;
    let tenant = &caller.tenant;
    let branch = check_sender(app, tenant, &caller.user_id, &caller.permission_group).await?;
    app.providers.get(request.provider)?;
    let to = recipient(app, tenant, &request).await?;
    refuse_opted_out(app, tenant, &to).await?;
    let answer = |id: String, status| Sent {
        provider: request.provider,
        provider_message_id: id,
        to: to.to_string(),
        encoding,
        segments: count,
        status,
        replayed: false,
    };

    let Some(key) = idempotency_key else {
        return match deliver(app, tenant, &caller.user_id, branch.as_ref(), request.provider, &to, &request.body)
            .await?
        {
            Ok(event) => Ok(answer(event.provider_message_id, event.status)),
            Err(e) => Err(provider_failure(request.provider, &e)),
        };
    };
    let claim_key = keys::send_claim(tenant, &caller.user_id, key);
    let claim = SendClaim {
        state: "sending".into(),
        provider: request.provider,
        to: to.clone(),
        body: request.body.clone(),
        result: None,
        reason: None,
        claimed_at: app.clock.now().unix_timestamp(),
    };
    match app.store.put(&claim.to_item(claim_key.clone())?, Some(&Condition::NotExists)).await {
        Ok(()) => {}
        Err(PortError::ConditionFailed) => return earlier(app, &claim_key, &claim).await,
        Err(e) => return Err(e.into()),
    }
    // Only the claim's winner reaches the provider; whatever happens is kept on it.
    match deliver(app, tenant, &caller.user_id, branch.as_ref(), request.provider, &to, &request.body).await {
        Ok(Ok(event)) => {
            let sent = answer(event.provider_message_id, event.status);
            let done = Update::default().set("state", "sent").set("result", json!(sent));
            app.store.update(&claim_key, &done, None).await?;
            Ok(sent)
        }
        Ok(Err(e)) => {
            let error = provider_failure(request.provider, &e);
            let failed = Update::default().set("state", "failed").set("reason", error.to_string());
            app.store.update(&claim_key, &failed, None).await?;
            Err(error)
        }
        Err(e) => {
            // Nothing reached the provider (no credentials, no provider): free the key.
            app.store.delete(&claim_key, None).await?;
            Err(e)
        }
    }
}

/// The answer of an earlier send under the same key.
async fn earlier(app: &Arc<App>, key: &crate::ports::Key, asked: &SendClaim) -> Result<Sent, Error> {
    let Some(earlier) = items::get::<SendClaim>(app.store.as_ref(), key).await? else {
        return Err(Error::conflict("a send with this Idempotency-Key was just given up; send again"));
    };
    let clash = |message: String| Error::Conflict { field: Some("Idempotency-Key".into()), message };
    if earlier.provider != asked.provider || earlier.to != asked.to || earlier.body != asked.body {
        return Err(clash("this Idempotency-Key was used for another text".into()));
    }
    match (earlier.state.as_str(), earlier.result) {
        ("sent", Some(result)) => {
            let sent: Sent = serde_json::from_value(result).map_err(Error::unexpected)?;
            Ok(Sent { replayed: true, ..sent })
        }
        ("failed", _) => Err(clash(format!(
            "the send with this Idempotency-Key failed ({}); use a new key to try again",
            earlier.reason.unwrap_or_default()
        ))),
        _ if app.clock.now().unix_timestamp() - earlier.claimed_at > STALE_CLAIM_SECS => Err(clash(
            "the send with this Idempotency-Key stopped before its outcome was known; it is not repeated \
             (use a new key if the text did not arrive)"
                .into(),
        )),
        _ => Err(clash("a send with this Idempotency-Key is under way".into())),
    }
}
