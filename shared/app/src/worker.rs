//! Queue consumption shared by the archiver Lambda (one SQS batch per invoke) and the
//! local worker loop (polling the embedded queue): each message is handled on its
//! own, failures are reported per message and never re-run the others.

use std::{sync::Arc, time::Duration};

use async_trait::async_trait;
use futures::future::join_all;
use textbridge_domain::Error;
use tokio::sync::watch;

use crate::ports::Queue;

/// How long a received message stays hidden while it is handled (the SAM template's
/// queue visibility timeout is longer than the archiver's timeout, as SQS requires).
pub const VISIBILITY: Duration = Duration::from_secs(60);

/// Handles one queued message body. Must be idempotent: delivery is at least once.
#[async_trait]
pub trait MessageHandler: Send + Sync {
    /// Handles the message; an error leaves it on the queue for another try.
    async fn handle(&self, body: &str) -> Result<(), Error>;
}

/// Handles a batch concurrently and returns the ids of the messages that failed.
pub async fn handle_batch<'a, I>(handler: &dyn MessageHandler, messages: I) -> Vec<String>
where
    I: IntoIterator<Item = (&'a str, &'a str)>,
{
    let results = join_all(messages.into_iter().map(|(id, body)| async move {
        match handler.handle(body).await {
            Ok(()) => None,
            Err(e) => {
                tracing::warn!(message_id = id, error = %e, "message failed; it will be retried");
                Some(id.to_owned())
            }
        }
    }))
    .await;
    results.into_iter().flatten().collect()
}

/// Polls `queue` until `shutdown` turns true: receives up to 10 messages, handles
/// them, deletes those that succeeded. Failed ones reappear after `visibility`
/// (normally [`VISIBILITY`]) and land in the dead-letter queue after the receive limit.
pub async fn run(
    queue: Arc<dyn Queue>,
    handler: Arc<dyn MessageHandler>,
    visibility: Duration,
    mut shutdown: watch::Receiver<bool>,
) {
    let idle = Duration::from_millis(200);
    while !*shutdown.borrow() {
        let batch = match queue.receive(10, visibility).await {
            Ok(batch) => batch,
            Err(e) => {
                tracing::warn!(error = %e, "queue receive failed");
                Vec::new()
            }
        };
        if batch.is_empty() {
            tokio::select! {
                _ = tokio::time::sleep(idle) => {}
                _ = shutdown.changed() => {}
            }
            continue;
        }
        let failed = handle_batch(handler.as_ref(), batch.iter().map(|m| (m.id.as_str(), m.body.as_str()))).await;
        for message in batch.iter().filter(|m| !failed.contains(&m.id)) {
            if let Err(e) = queue.delete(&message.receipt).await {
                tracing::warn!(message_id = %message.id, error = %e, "delete failed; the message will be redelivered");
            }
        }
    }
}
