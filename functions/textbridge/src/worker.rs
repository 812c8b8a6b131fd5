//! The local worker loop: polls the embedded intake queue and hands each batch to
//! the archiver (in Lambda, SQS does the polling).

use std::{sync::Arc, time::Duration};

use textbridge_app::{
    ports::Queue,
    worker::{MessageHandler, handle_batch},
};
use tokio::sync::watch;

/// Polls `queue` until `shutdown` turns true: receives up to 10 messages, handles
/// them, deletes those that succeeded. Failed ones reappear after `visibility`
/// (the configured visibility timeout) and land in the dead-letter queue after the receive limit.
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
