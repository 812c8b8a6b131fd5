//! The local worker loop: polls the embedded intake queue and hands each batch to
//! the archiver (in Lambda, SQS does the polling).

use std::{sync::Arc, time::Duration};

use textbridge_app::{
    ports::{Queue, Received},
    worker::{MessageHandler, handle_batch},
};
use tokio::sync::watch;

/// Batches handled at once (as several SQS pollers would): their writes share the
/// embedded backend's commits, whose flush to disk is most of a write's time, so the
/// more in hand the fewer flushes per message. A message in hand is kept hidden while
/// it is handled (see [`hidden_while`]); a crash interrupts every message in hand, each
/// of which waits out its visibility timeout and spends one of its receives.
const POLLERS: usize = 8;

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
        let handling = handle_batch(handler.as_ref(), batch.iter().map(|m| (m.id.as_str(), m.body.as_str())));
        let failed = hidden_while(queue.as_ref(), &batch, visibility, handling).await;
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

/// Runs `work`, hiding `batch` again for `visibility` each time half of it has passed,
/// so that no message of the batch is received again while it is being handled (a
/// handler slower than the visibility timeout would otherwise spend the message's
/// receives, and send it to the dead letters, while it makes progress).
async fn hidden_while<T>(
    queue: &dyn Queue,
    batch: &[Received],
    visibility: Duration,
    work: impl std::future::Future<Output = T>,
) -> T {
    let every = (visibility / 2).max(Duration::from_millis(1));
    let mut tick = tokio::time::interval_at(tokio::time::Instant::now() + every, every);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    tokio::pin!(work);
    loop {
        tokio::select! {
            out = &mut work => return out,
            _ = tick.tick() => {
                let hides = batch.iter().map(|m| async move {
                    if let Err(e) = queue.hide(&m.receipt, visibility).await {
                        tracing::warn!(message_id = %m.id, error = %e, "could not hide the message for longer");
                    }
                });
                futures::future::join_all(hides).await;
            }
        }
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
