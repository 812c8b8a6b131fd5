//! What every queued message looks like: the tenant it belongs to, its kind and the
//! kind's payload. Intake, record upserts and dead-letter replays put envelopes on
//! the intake queue; the archiver reads them.

use serde::{Deserialize, Serialize};
use serde_json::Value;
use textbridge_domain::{Error, TenantId, WebhookEvent};

/// Kind of the envelope carrying a [`WebhookEvent`].
pub const KIND_WEBHOOK_EVENT: &str = "webhook_event";

/// What every queued message looks like: the tenant it belongs to, its kind and the
/// kind's payload. A message whose kind this build does not know fails (and so ends
/// in the dead-letter queue, from which it can be replayed after an upgrade) rather
/// than being dropped.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Envelope {
    /// Owning tenant.
    pub tenant: TenantId,
    /// Kind of message (e.g. `webhook_event`).
    pub kind: String,
    /// The kind's payload.
    pub payload: Value,
}

impl Envelope {
    /// The envelope of a webhook event of `tenant`.
    pub fn webhook_event(tenant: &TenantId, event: &WebhookEvent) -> Result<Self, Error> {
        let payload = serde_json::to_value(event).map_err(Error::unexpected)?;
        Ok(Self { tenant: tenant.clone(), kind: KIND_WEBHOOK_EVENT.into(), payload })
    }

    /// The queue message body.
    pub fn to_body(&self) -> String {
        serde_json::to_string(self).unwrap_or_default()
    }

    /// Reads a queue message body.
    pub fn parse(body: &str) -> Result<Self, Error> {
        serde_json::from_str(body).map_err(|e| Error::malformed(format!("queued message is not an envelope: {e}")))
    }
}
