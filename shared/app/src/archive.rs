//! The archiver's message handler: reads the queue envelope every producer writes.

use std::sync::Arc;

use async_trait::async_trait;
use serde::{Deserialize, Serialize};
use textbridge_domain::{Error, TenantId};

use crate::{App, worker::MessageHandler};

/// What every queued message looks like: the tenant it belongs to, its kind and the
/// kind's payload. A message whose kind this build does not know fails (and so ends
/// in the dead-letter queue, from which it can be replayed after an upgrade) rather
/// than being dropped.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Envelope {
    /// Owning tenant.
    pub tenant: TenantId,
    /// Kind of message (e.g. `message`).
    pub kind: String,
    /// The kind's payload.
    pub payload: serde_json::Value,
}

/// Archives queued messages.
pub struct Archiver {
    #[allow(dead_code)]
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
        let envelope: Envelope = serde_json::from_str(body)
            .map_err(|e| Error::malformed(format!("queued message is not an envelope: {e}")))?;
        Err(Error::invalid("kind", format!("no handler for message kind {:?} in this build", envelope.kind)))
    }
}
