use std::time::Duration;

use async_trait::async_trait;

use super::PortResult;

/// Receives after which a message moves to the dead-letter queue (SQS
/// `maxReceiveCount`, the same in the SAM template). Five, as AWS recommends for a
/// queue that Lambda polls: a receive is spent by every try, including one that
/// only finds another archiver's ATS lease still running, and by every message
/// in flight when its process dies.
pub const MAX_RECEIVES: u32 = 5;

/// A message taken from the queue, invisible to others until its visibility timeout
/// ends or it is deleted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Received {
    /// The message id.
    pub id: String,
    /// The handle that deletes this receipt of the message.
    pub receipt: String,
    /// The body.
    pub body: String,
    /// How many times the message has been received, this time included.
    pub receive_count: u32,
}

/// A message in the dead-letter queue.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeadLetter {
    /// The message id.
    pub id: String,
    /// The body.
    pub body: String,
}

/// Approximate queue depth, for operators.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize, utoipa::ToSchema)]
pub struct QueueDepth {
    /// Messages waiting.
    pub visible: u64,
    /// Messages received and not yet deleted.
    pub in_flight: u64,
    /// Messages in the dead-letter queue.
    pub dead: u64,
    /// Seconds since the oldest message still in the queue (waiting or in flight)
    /// was sent; null when the queue is empty or cannot tell (SQS keeps it as the
    /// CloudWatch metric `ApproximateAgeOfOldestMessage`, which the template's
    /// queue-age alarm watches).
    pub oldest_age_secs: Option<u64>,
}

/// The intake queue with its dead-letter queue (SQS; locally, SQLite).
///
/// Delivery is at least once: a received message that is not deleted before its
/// visibility timeout is delivered again, and after [`MAX_RECEIVES`] receives it moves
/// to the dead-letter queue.
#[async_trait]
pub trait Queue: Send + Sync {
    /// Sends one message durably; returns its id.
    async fn send(&self, body: &str) -> PortResult<String>;
    /// Sends several messages durably; returns their ids in order.
    async fn send_batch(&self, bodies: &[String]) -> PortResult<Vec<String>>;
    /// Receives up to `max` (1..=10) messages, hiding them for `visibility`.
    async fn receive(&self, max: u32, visibility: Duration) -> PortResult<Vec<Received>>;
    /// Deletes a received message (by its receipt).
    async fn delete(&self, receipt: &str) -> PortResult<()>;
    /// Hides a received message (by its receipt) for `visibility` from now, as SQS's
    /// `ChangeMessageVisibility`: a handler that takes long keeps its message from
    /// being received again meanwhile.
    async fn hide(&self, receipt: &str, visibility: Duration) -> PortResult<()>;
    /// Lists up to `max` dead letters without removing them.
    async fn dead_letters(&self, max: u32) -> PortResult<Vec<DeadLetter>>;
    /// Moves dead letters back to the queue: those with the given ids, or all when
    /// `ids` is `None`. Returns how many moved.
    async fn replay(&self, ids: Option<&[String]>) -> PortResult<u32>;
    /// Approximate depth of the queue and its dead-letter queue.
    async fn depth(&self) -> PortResult<QueueDepth>;
}
