//! Queue consumption shared by the archiver Lambda (one SQS batch per invoke) and the
//! local worker loop (polling the embedded queue): each message is handled on its
//! own, failures are reported per message and never re-run the others.

use async_trait::async_trait;
use futures::future::join_all;
use textbridge_domain::Error;

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
