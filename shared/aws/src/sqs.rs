//! [`Queue`] on an SQS queue with its dead-letter queue.

use std::collections::HashSet;
use std::time::Duration;

use async_trait::async_trait;
use aws_sdk_sqs::Client;
use aws_sdk_sqs::types::{
    ChangeMessageVisibilityBatchRequestEntry, DeleteMessageBatchRequestEntry, Message, MessageSystemAttributeName,
    QueueAttributeName, SendMessageBatchRequestEntry,
};
use textbridge_app::ports::{DeadLetter, PortError, PortResult, Queue, QueueDepth, Received};

use crate::error::{Detail, map_sdk_error};

/// The most entries one SQS batch call takes.
const BATCH: usize = 10;
/// How long dead letters stay hidden while they are listed or replayed; they are made
/// visible again at the end, or after this if the listing is interrupted.
const DLQ_HOLD_SECONDS: i32 = 30;
/// Long-poll wait of every receive.
const WAIT_SECONDS: i32 = 1;
/// The longest visibility timeout SQS accepts (12 hours).
const MAX_VISIBILITY_SECONDS: u64 = 43_200;

/// The intake queue (SQS) with its dead-letter queue.
#[derive(Debug, Clone)]
pub struct SqsQueue {
    client: Client,
    queue_url: String,
    dlq_url: String,
}

impl SqsQueue {
    /// The queue at `queue_url` whose redrive policy moves messages to `dlq_url`.
    pub fn new(client: Client, queue_url: impl Into<String>, dlq_url: impl Into<String>) -> Self {
        Self { client, queue_url: queue_url.into(), dlq_url: dlq_url.into() }
    }

    /// The intake queue's URL.
    pub fn queue_url(&self) -> &str {
        &self.queue_url
    }

    /// The dead-letter queue's URL.
    pub fn dlq_url(&self) -> &str {
        &self.dlq_url
    }
}

fn map_err<E>(op: &'static str) -> impl FnOnce(aws_sdk_sqs::error::SdkError<E>) -> PortError
where
    E: aws_sdk_sqs::error::ProvideErrorMetadata + std::error::Error + 'static,
{
    move |e| map_sdk_error(op, &e, Detail::Full)
}

fn build_err(e: aws_sdk_sqs::error::BuildError) -> PortError {
    PortError::Invalid(format!("batch entry: {e}"))
}

/// A visibility timeout in whole seconds, rounded up, within what SQS accepts.
pub(crate) fn visibility_seconds(visibility: Duration) -> i32 {
    let secs = visibility.as_secs() + u64::from(visibility.subsec_nanos() > 0);
    i32::try_from(secs.min(MAX_VISIBILITY_SECONDS)).unwrap_or(i32::MAX)
}

/// One received message with the parts the port needs.
struct Taken {
    id: String,
    receipt: String,
    body: String,
    receive_count: u32,
}

fn taken(message: Message) -> PortResult<Taken> {
    let receive_count = message
        .attributes
        .as_ref()
        .and_then(|a| a.get(&MessageSystemAttributeName::ApproximateReceiveCount))
        .and_then(|c| c.parse().ok())
        .unwrap_or(1);
    match (message.message_id, message.receipt_handle) {
        (Some(id), Some(receipt)) => Ok(Taken { id, receipt, body: message.body.unwrap_or_default(), receive_count }),
        _ => Err(PortError::Unexpected("ReceiveMessage: a message without id or receipt".into())),
    }
}

/// What one `SendMessageBatch` call did.
struct Sent {
    /// Index of each sent body in the chunk, with its message id, in index order.
    ids: Vec<(usize, String)>,
    /// How many bodies were not sent.
    failed: usize,
    /// Whether any failure was the sender's fault (the message itself is rejected).
    sender_fault: bool,
}

/// The error for `failed` of `total` messages not sent.
fn not_sent(op: &str, failed: usize, total: usize, sender_fault: bool) -> PortError {
    if sender_fault {
        PortError::Invalid(format!("{op}: {failed} of {total} messages were rejected"))
    } else {
        PortError::Retryable(format!("{op}: {failed} of {total} messages were not sent"))
    }
}

impl SqsQueue {
    async fn receive_from(&self, url: &str, max: i32, visibility: i32) -> PortResult<Vec<Taken>> {
        let out = self
            .client
            .receive_message()
            .queue_url(url)
            .max_number_of_messages(max.clamp(1, 10))
            .visibility_timeout(visibility)
            .wait_time_seconds(WAIT_SECONDS)
            .message_system_attribute_names(MessageSystemAttributeName::ApproximateReceiveCount)
            .send()
            .await
            .map_err(map_err("ReceiveMessage"))?;
        out.messages.unwrap_or_default().into_iter().map(taken).collect()
    }

    /// Makes the messages with these receipts of the dead-letter queue visible at once.
    async fn release(&self, receipts: &[String]) -> PortResult<()> {
        for chunk in receipts.chunks(BATCH) {
            let entries = chunk
                .iter()
                .enumerate()
                .map(|(i, receipt)| {
                    ChangeMessageVisibilityBatchRequestEntry::builder()
                        .id(i.to_string())
                        .receipt_handle(receipt)
                        .visibility_timeout(0)
                        .build()
                        .map_err(build_err)
                })
                .collect::<PortResult<Vec<_>>>()?;
            let out = self
                .client
                .change_message_visibility_batch()
                .queue_url(&self.dlq_url)
                .set_entries(Some(entries))
                .send()
                .await
                .map_err(map_err("ChangeMessageVisibilityBatch"))?;
            // A failed entry only stays hidden until its hold ends; nothing is lost.
            if !out.failed.is_empty() {
                tracing::warn!(failed = out.failed.len(), "dead letters stay hidden until their hold ends");
            }
        }
        Ok(())
    }

    /// Sends the bodies (at most [`BATCH`]) to the intake queue in one call.
    async fn send_chunk(&self, bodies: &[&str]) -> PortResult<Sent> {
        let entries = bodies
            .iter()
            .enumerate()
            .map(|(i, body)| SendMessageBatchRequestEntry::builder().id(i.to_string()).message_body(*body).build())
            .collect::<Result<Vec<_>, _>>()
            .map_err(build_err)?;
        let out = self
            .client
            .send_message_batch()
            .queue_url(&self.queue_url)
            .set_entries(Some(entries))
            .send()
            .await
            .map_err(map_err("SendMessageBatch"))?;
        let mut ids = Vec::with_capacity(out.successful.len());
        for entry in &out.successful {
            let index =
                entry.id.parse::<usize>().ok().filter(|i| *i < bodies.len()).ok_or_else(|| {
                    PortError::Unexpected(format!("SendMessageBatch: unknown entry id {:?}", entry.id))
                })?;
            ids.push((index, entry.message_id.clone()));
        }
        ids.sort_by_key(|(i, _)| *i);
        let failed = bodies.len().saturating_sub(ids.len());
        Ok(Sent { ids, failed, sender_fault: out.failed.iter().any(|f| f.sender_fault) })
    }
}

#[async_trait]
impl Queue for SqsQueue {
    async fn send(&self, body: &str) -> PortResult<String> {
        let out = self
            .client
            .send_message()
            .queue_url(&self.queue_url)
            .message_body(body)
            .send()
            .await
            .map_err(map_err("SendMessage"))?;
        out.message_id.ok_or_else(|| PortError::Unexpected("SendMessage: no message id".into()))
    }

    async fn send_batch(&self, bodies: &[String]) -> PortResult<Vec<String>> {
        let mut ids = Vec::with_capacity(bodies.len());
        let (mut failed, mut sender_fault) = (0, false);
        for chunk in bodies.chunks(BATCH) {
            let chunk: Vec<&str> = chunk.iter().map(String::as_str).collect();
            let sent = self.send_chunk(&chunk).await?;
            failed += sent.failed;
            sender_fault |= sent.sender_fault;
            ids.extend(sent.ids.into_iter().map(|(_, id)| id));
        }
        if failed > 0 {
            return Err(not_sent("SendMessageBatch", failed, bodies.len(), sender_fault));
        }
        Ok(ids)
    }

    async fn receive(&self, max: u32, visibility: Duration) -> PortResult<Vec<Received>> {
        let max = i32::try_from(max.clamp(1, 10)).unwrap_or(10);
        let taken = self.receive_from(&self.queue_url, max, visibility_seconds(visibility)).await?;
        Ok(taken
            .into_iter()
            .map(|t| Received { id: t.id, receipt: t.receipt, body: t.body, receive_count: t.receive_count })
            .collect())
    }

    async fn delete(&self, receipt: &str) -> PortResult<()> {
        self.client
            .delete_message()
            .queue_url(&self.queue_url)
            .receipt_handle(receipt)
            .send()
            .await
            .map_err(map_err("DeleteMessage"))?;
        Ok(())
    }

    async fn hide(&self, receipt: &str, visibility: Duration) -> PortResult<()> {
        self.client
            .change_message_visibility()
            .queue_url(&self.queue_url)
            .receipt_handle(receipt)
            .visibility_timeout(visibility_seconds(visibility))
            .send()
            .await
            .map_err(map_err("ChangeMessageVisibility"))?;
        Ok(())
    }

    async fn dead_letters(&self, max: u32) -> PortResult<Vec<DeadLetter>> {
        let max = usize::try_from(max).unwrap_or(usize::MAX);
        let mut seen = HashSet::new();
        let mut letters = Vec::new();
        let mut receipts = Vec::new();
        let mut result = Ok(());
        while letters.len() < max {
            let want = i32::try_from((max - letters.len()).min(BATCH)).unwrap_or(10);
            let round = match self.receive_from(&self.dlq_url, want, DLQ_HOLD_SECONDS).await {
                Ok(round) => round,
                Err(e) => {
                    result = Err(e);
                    break;
                }
            };
            let mut new = 0;
            for t in round {
                receipts.push(t.receipt);
                if seen.insert(t.id.clone()) && letters.len() < max {
                    new += 1;
                    letters.push(DeadLetter { id: t.id, body: t.body });
                }
            }
            if new == 0 {
                break;
            }
        }
        // Whatever happened, hand the messages back so they can be listed and replayed at once.
        let released = self.release(&receipts).await;
        result?;
        released?;
        Ok(letters)
    }

    async fn replay(&self, ids: Option<&[String]>) -> PortResult<u32> {
        let wanted: Option<HashSet<&str>> = ids.map(|ids| ids.iter().map(String::as_str).collect());
        if wanted.as_ref().is_some_and(HashSet::is_empty) {
            return Ok(0);
        }
        let mut seen = HashSet::new();
        let mut held = Vec::new();
        let mut moved: u32 = 0;
        let mut result = Ok(());
        loop {
            let round = match self.receive_from(&self.dlq_url, 10, DLQ_HOLD_SECONDS).await {
                Ok(round) => round,
                Err(e) => {
                    result = Err(e);
                    break;
                }
            };
            let mut new = 0;
            let mut chosen = Vec::new();
            for t in round {
                if !seen.insert(t.id.clone()) {
                    held.push(t.receipt);
                } else if wanted.as_ref().is_none_or(|w| w.contains(t.id.as_str())) {
                    new += 1;
                    chosen.push(t);
                } else {
                    new += 1;
                    held.push(t.receipt);
                }
            }
            if !chosen.is_empty() {
                match self.move_to_intake(chosen, &mut held).await {
                    Ok(n) => moved += n,
                    Err((n, e)) => {
                        moved += n;
                        result = Err(e);
                        break;
                    }
                }
            }
            let all_found = wanted.as_ref().is_some_and(|w| w.iter().all(|id| seen.contains(*id)));
            if new == 0 || all_found {
                break;
            }
        }
        let released = self.release(&held).await;
        match result {
            Ok(()) => released.map(|()| moved),
            Err(e) if moved > 0 => Err(with_context(e, &format!("{moved} dead letters were replayed before"))),
            Err(e) => Err(e),
        }
    }

    async fn depth(&self) -> PortResult<QueueDepth> {
        let (visible, in_flight) = self.counts(&self.queue_url).await?;
        let (dead_visible, dead_hidden) = self.counts(&self.dlq_url).await?;
        Ok(QueueDepth { visible, in_flight, dead: dead_visible + dead_hidden, oldest_age_secs: None })
    }
}

impl SqsQueue {
    /// Sends the bodies of dead letters (at most [`BATCH`]) to the intake queue and
    /// deletes those sent from the dead-letter queue; the receipts of those not sent go
    /// to `held`. Returns how many moved, or how many moved and why the rest did not.
    async fn move_to_intake(&self, chosen: Vec<Taken>, held: &mut Vec<String>) -> Result<u32, (u32, PortError)> {
        let total = chosen.len();
        let bodies: Vec<&str> = chosen.iter().map(|t| t.body.as_str()).collect();
        let sent = match self.send_chunk(&bodies).await {
            Ok(sent) => sent,
            Err(e) => {
                held.extend(chosen.into_iter().map(|t| t.receipt));
                return Err((0, e));
            }
        };
        let sent_indexes: HashSet<usize> = sent.ids.iter().map(|(i, _)| *i).collect();
        let mut entries = Vec::new();
        for (i, t) in chosen.into_iter().enumerate() {
            if sent_indexes.contains(&i) {
                let entry =
                    DeleteMessageBatchRequestEntry::builder().id(i.to_string()).receipt_handle(&t.receipt).build();
                match entry {
                    Ok(entry) => entries.push(entry),
                    Err(e) => tracing::warn!(error = %e, "a replayed dead letter is not deleted"),
                }
            } else {
                held.push(t.receipt);
            }
        }
        // A message sent but not deleted from the dead-letter queue is delivered twice,
        // which the at-least-once promise allows: it counts as moved.
        let moved = u32::try_from(sent_indexes.len()).unwrap_or(u32::MAX);
        if !entries.is_empty() {
            let out =
                self.client.delete_message_batch().queue_url(&self.dlq_url).set_entries(Some(entries)).send().await;
            match out {
                Ok(out) if !out.failed.is_empty() => {
                    tracing::warn!(failed = out.failed.len(), "replayed dead letters not deleted");
                }
                Ok(_) => {}
                Err(e) => {
                    let error = map_sdk_error("DeleteMessageBatch", &e, Detail::Full);
                    tracing::warn!(%error, "replayed dead letters not deleted");
                }
            }
        }
        if sent.failed > 0 {
            return Err((moved, not_sent("SendMessageBatch", sent.failed, total, sent.sender_fault)));
        }
        Ok(moved)
    }

    /// Approximate (visible, not visible) message counts of one queue.
    async fn counts(&self, url: &str) -> PortResult<(u64, u64)> {
        let out = self
            .client
            .get_queue_attributes()
            .queue_url(url)
            .attribute_names(QueueAttributeName::ApproximateNumberOfMessages)
            .attribute_names(QueueAttributeName::ApproximateNumberOfMessagesNotVisible)
            .send()
            .await
            .map_err(map_err("GetQueueAttributes"))?;
        let attrs = out.attributes.unwrap_or_default();
        let count = |name: &QueueAttributeName| attrs.get(name).and_then(|v| v.parse::<u64>().ok()).unwrap_or(0);
        Ok((
            count(&QueueAttributeName::ApproximateNumberOfMessages),
            count(&QueueAttributeName::ApproximateNumberOfMessagesNotVisible),
        ))
    }
}

/// The same error with more context in its text.
fn with_context(e: PortError, context: &str) -> PortError {
    match e {
        PortError::Retryable(t) => PortError::Retryable(format!("{t} ({context})")),
        PortError::Invalid(t) => PortError::Invalid(format!("{t} ({context})")),
        PortError::Unexpected(t) => PortError::Unexpected(format!("{t} ({context})")),
        PortError::NotFound(t) => PortError::NotFound(format!("{t} ({context})")),
        PortError::ConditionFailed => PortError::ConditionFailed,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn visibility_rounds_up_to_whole_seconds() {
        assert_eq!(visibility_seconds(Duration::ZERO), 0);
        assert_eq!(visibility_seconds(Duration::from_millis(1)), 1);
        assert_eq!(visibility_seconds(Duration::from_secs(1)), 1);
        assert_eq!(visibility_seconds(Duration::from_millis(1500)), 2);
        assert_eq!(visibility_seconds(Duration::from_secs(360)), 360);
        assert_eq!(visibility_seconds(Duration::from_secs(1_000_000)), 43_200);
    }

    #[test]
    fn receive_count_defaults_to_one() {
        let message = Message::builder().message_id("m").receipt_handle("r").body("b").build();
        let t = taken(message).expect("taken");
        assert_eq!((t.id.as_str(), t.receipt.as_str(), t.body.as_str(), t.receive_count), ("m", "r", "b", 1));
        let message = Message::builder()
            .message_id("m")
            .receipt_handle("r")
            .attributes(MessageSystemAttributeName::ApproximateReceiveCount, "3")
            .build();
        assert_eq!(taken(message).expect("taken").receive_count, 3);
        assert!(taken(Message::builder().body("b").build()).is_err());
    }

    #[test]
    fn batch_failures_name_the_count() {
        let e = not_sent("SendMessageBatch", 2, 10, false);
        assert_eq!(e, PortError::Retryable("SendMessageBatch: 2 of 10 messages were not sent".into()));
        let e = not_sent("SendMessageBatch", 1, 1, true);
        assert_eq!(e, PortError::Invalid("SendMessageBatch: 1 of 1 messages were rejected".into()));
    }
}
