//! The local worker loop: polls the embedded intake queue and hands each batch to
//! the archiver (in Lambda, SQS does the polling).

use std::{sync::Arc, time::Duration};

use textbridge_app::{
    ports::{Queue, Received},
    worker::{MessageHandler, handle_batch},
};
use tokio::sync::watch;

/// Batches handled at once (as several SQS pollers would): their writes share the
/// embedded backend's commits. Not more: a crash interrupts every message in flight,
/// each of which waits out its visibility timeout and its ATS lease again, and spends
/// one of its receives.
const POLLERS: usize = 2;

/// Polls `queue` until `shutdown` turns true, [`POLLERS`] batches at a time: each
/// poller receives up to 10 messages, handles them, deletes those that succeeded.
/// Failed ones reappear after `visibility` (the configured visibility timeout) and
/// land in the dead-letter queue after the receive limit.
pub async fn run(
    queue: Arc<dyn Queue>,
    handler: Arc<dyn MessageHandler>,
    visibility: Duration,
    shutdown: watch::Receiver<bool>,
) {
    let pollers: Vec<_> = (0..POLLERS)
        .map(|_| tokio::spawn(poll(Arc::clone(&queue), Arc::clone(&handler), visibility, shutdown.clone())))
        .collect();
    for poller in pollers {
        if let Err(e) = poller.await {
            tracing::error!(error = %e, "a queue poller stopped");
        }
    }
}

/// One poller of [`run`]. A batch's deletes are not waited for before the next
/// receive, so that the two share a commit: a handled message kept past a crash is
/// only handled again (handling is idempotent), never lost. They are waited for
/// before the next batch's deletes and before the poller returns, so a poller has at
/// most one batch deleting.
async fn poll(
    queue: Arc<dyn Queue>,
    handler: Arc<dyn MessageHandler>,
    visibility: Duration,
    mut shutdown: watch::Receiver<bool>,
) {
    let idle = Duration::from_millis(200);
    let mut deleting: Option<tokio::task::JoinHandle<()>> = None;
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
        let handled: Vec<_> = batch.into_iter().filter(|m| !failed.contains(&m.id)).collect();
        if let Some(previous) = deleting.take() {
            let _ = previous.await;
        }
        deleting = Some(tokio::spawn(delete(Arc::clone(&queue), handled)));
    }
    if let Some(previous) = deleting {
        let _ = previous.await;
    }
}

/// Deletes the handled `messages`, all at once so that the deletes share a commit.
async fn delete(queue: Arc<dyn Queue>, messages: Vec<Received>) {
    let deletes = messages.into_iter().map(|message| {
        let queue = Arc::clone(&queue);
        async move {
            if let Err(e) = queue.delete(&message.receipt).await {
                tracing::warn!(message_id = %message.id, error = %e, "delete failed; the message will be redelivered");
            }
        }
    });
    futures::future::join_all(deletes).await;
}
