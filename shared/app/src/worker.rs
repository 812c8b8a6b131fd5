//! Queue consumption shared by the archiver Lambda (one SQS batch per invoke) and the
//! local worker loop (polling the embedded queue): each message is handled on its
//! own, failures are reported per message and never re-run the others.

use async_trait::async_trait;
use futures::future::join_all;
use textbridge_domain::Error;
use tracing::Instrument;

/// Handles one queued message body. Must be idempotent: delivery is at least once.
#[async_trait]
pub trait MessageHandler: Send + Sync {
    /// Handles the message; an error leaves it on the queue for another try.
    async fn handle(&self, body: &str) -> Result<(), Error>;

    /// Notes why the message `id` failed (shown with it if it ends in the dead
    /// letters); by default nothing is kept.
    async fn failed(&self, _id: &str, _error: &Error) {}
}

/// Handles a batch concurrently and returns the ids of the messages that failed.
pub async fn handle_batch<'a, I>(handler: &dyn MessageHandler, messages: I) -> Vec<String>
where
    I: IntoIterator<Item = (&'a str, &'a str)>,
{
    let results = join_all(messages.into_iter().map(|(id, body)| {
        // Every line logged while handling the message carries its id; the handler
        // adds the tenant and provider once it has read them.
        let span = tracing::info_span!(
            "message",
            message_id = %id,
            tenant = tracing::field::Empty,
            provider = tracing::field::Empty
        );
        async move {
            match handler.handle(body).await {
                Ok(()) => None,
                Err(e) => {
                    tracing::warn!(error = %e, "message failed; it will be retried");
                    crate::metrics::count(crate::metrics::Metric::MessagesFailed, 1);
                    handler.failed(id, &e).await;
                    Some(id.to_owned())
                }
            }
        }
        .instrument(span)
    }))
    .await;
    results.into_iter().flatten().collect()
}
