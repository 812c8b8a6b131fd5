//! Operator tooling for the dead-letter queue: list and replay. Tenant admins see
//! and replay only their own tenant's dead letters; staff see all.

use std::sync::Arc;

use serde::{Deserialize, Serialize};
use textbridge_domain::{Error, Identity, Role};

use crate::{
    App,
    envelope::Envelope,
    items::{self, FailureItem},
    keys,
    ports::{DeadLetter, QueueDepth},
};

/// Most dead letters one listing reads.
pub const MAX_LISTED: u32 = 100;

/// A dead letter as operators see it (the kind, not the message content).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct DeadLetterView {
    /// The dead letter's id (for replay).
    pub id: String,
    /// Its tenant, when it could be read.
    pub tenant: Option<String>,
    /// Its kind, when it could be read.
    pub kind: Option<String>,
    /// Why it failed the last time, when that was kept (`code`, `reason`, `at`).
    pub failure: Option<FailureItem>,
}

/// What to replay.
#[derive(Debug, Clone, Default, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ReplayRequest {
    /// Ids to replay; all visible to the caller when absent.
    #[serde(default)]
    pub ids: Option<Vec<String>>,
}

/// What a replay did.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct Replayed {
    /// How many dead letters went back to the intake queue.
    pub replayed: u32,
}

/// Dead letters the caller may see (admins: their tenant's; staff: all).
#[tracing::instrument(skip_all, fields(tenant = %caller.tenant))]
pub async fn list(app: &Arc<App>, caller: &Identity) -> Result<Vec<DeadLetterView>, Error> {
    caller.require_admin()?;
    let letters = app.queue()?.dead_letters(MAX_LISTED).await?;
    let mut views = Vec::new();
    for letter in &letters {
        let tenant = view(letter).tenant;
        if caller.role == Role::Staff || tenant.as_deref() == Some(caller.tenant.as_str()) {
            views.push(describe(app, letter).await?);
        }
    }
    Ok(views)
}

/// A dead letter as operators see it, with why it failed the last time.
pub async fn describe(app: &App, letter: &DeadLetter) -> Result<DeadLetterView, Error> {
    let failure = items::get::<FailureItem>(app.store.as_ref(), &keys::failure(&letter.id)).await?;
    Ok(DeadLetterView { failure, ..view(letter) })
}

/// What an operator may see of a dead letter: its id, tenant and kind, never the
/// message (text and phone numbers).
fn view(letter: &DeadLetter) -> DeadLetterView {
    let envelope = Envelope::parse(&letter.body).ok();
    DeadLetterView {
        id: letter.id.clone(),
        tenant: envelope.as_ref().map(|e| e.tenant.to_string()),
        kind: envelope.map(|e| e.kind),
        failure: None,
    }
}

/// The operator's view of the intake queue: its depth, and its dead letters per
/// tenant (of the first 100 dead letters; `-` for one whose tenant cannot be read).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct QueueStatus {
    /// Waiting, in flight and dead messages of every tenant.
    #[serde(flatten)]
    pub depth: QueueDepth,
    /// Dead letters by tenant.
    pub dead_by_tenant: std::collections::BTreeMap<String, u64>,
}

/// The intake queue's [`QueueStatus`] (the local `textbridge status`).
pub async fn status(app: &App) -> Result<QueueStatus, Error> {
    let queue = app.queue()?;
    let depth = queue.depth().await?;
    let mut dead_by_tenant = std::collections::BTreeMap::new();
    for letter in queue.dead_letters(MAX_LISTED).await? {
        let tenant = view(&letter).tenant.unwrap_or_else(|| "-".to_owned());
        *dead_by_tenant.entry(tenant).or_default() += 1;
    }
    Ok(QueueStatus { depth, dead_by_tenant })
}

/// The intake queue's [`QueueStatus`]. It counts every tenant's messages, so only
/// staff see it.
#[tracing::instrument(skip_all, fields(tenant = %caller.tenant))]
pub async fn depth(app: &App, caller: &Identity) -> Result<QueueStatus, Error> {
    if caller.role != Role::Staff {
        return Err(Error::Forbidden("queue depths count every tenant's messages: staff only".into()));
    }
    status(app).await
}

/// Moves dead letters back to the intake queue: those named, or all of the caller's.
/// A named id that is not one of the caller's dead letters (any more) is refused
/// with 404 and nothing is replayed. Archiving is idempotent, so a replayed message
/// that was archived after all changes nothing.
#[tracing::instrument(skip_all, fields(tenant = %caller.tenant))]
pub async fn replay(app: &Arc<App>, caller: &Identity, request: ReplayRequest) -> Result<Replayed, Error> {
    let visible: Vec<String> = list(app, caller).await?.into_iter().map(|v| v.id).collect();
    let ids: Vec<String> = match request.ids {
        Some(ids) => {
            if let Some(unknown) = ids.iter().find(|id| !visible.contains(id)) {
                let shown: String = unknown.chars().take(64).collect();
                return Err(Error::NotFound(format!(
                    "there is no dead letter {shown:?}: it was replayed already, or never was one of this tenant's"
                )));
            }
            ids
        }
        None => visible,
    };
    if ids.is_empty() {
        return Ok(Replayed { replayed: 0 });
    }
    Ok(Replayed { replayed: app.queue()?.replay(Some(&ids)).await? })
}
