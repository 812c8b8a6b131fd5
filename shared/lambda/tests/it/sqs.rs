//! Batch handling as deployed: an SQS event through the Lambda entry reports only
//! the messages that failed (`ReportBatchItemFailures`).

use async_trait::async_trait;
use aws_lambda_events::event::sqs::SqsEvent;
use serde_json::json;
use textbridge_app::{App, Config, archive::Archiver, worker::MessageHandler};
use textbridge_domain::Error;

/// Fails every body that contains "bad".
struct FailsOnBad;

#[async_trait]
impl MessageHandler for FailsOnBad {
    async fn handle(&self, body: &str) -> Result<(), Error> {
        if body.contains("bad") { Err(Error::malformed("bad body")) } else { Ok(()) }
    }
}

fn sqs_event(records: &[(&str, &str)]) -> SqsEvent {
    let records: Vec<_> = records
        .iter()
        .map(|(id, body)| {
            json!({
                "messageId": id, "receiptHandle": format!("rh-{id}"), "body": body,
                "attributes": {"ApproximateReceiveCount": "1", "SentTimestamp": "1795456800000",
                               "SenderId": "AIDAEXAMPLE", "ApproximateFirstReceiveTimestamp": "1795456800001"},
                "messageAttributes": {}, "md5OfBody": "x", "eventSource": "aws:sqs",
                "eventSourceARN": "arn:aws:sqs:us-east-1:123456789012:textbridge-dev-intake", "awsRegion": "us-east-1"
            })
        })
        .collect();
    serde_json::from_value(json!({ "Records": records })).expect("sqs event")
}

#[tokio::test]
async fn only_failed_messages_are_reported() {
    let event = sqs_event(&[("m1", "good"), ("m2", "bad"), ("m3", "good too"), ("m4", "also bad")]);
    let response = textbridge_lambda::sqs_batch(&FailsOnBad, &event).await;
    let mut failed: Vec<_> = response.batch_item_failures.iter().map(|f| f.item_identifier.clone()).collect();
    failed.sort();
    assert_eq!(failed, ["m2", "m4"]);
    let wire = serde_json::to_value(&response).expect("json");
    assert_eq!(wire["batchItemFailures"][0]["itemIdentifier"], "m2");
}

#[tokio::test]
async fn the_archiver_fails_what_it_cannot_read_instead_of_dropping_it() {
    let dir = tempfile::tempdir().expect("tempdir");
    let embedded = textbridge_embedded::open(dir.path()).await.expect("embedded");
    let handler = Archiver::new(App::on_store(embedded.backend().store, Config::default()).shared());
    let unknown = json!({"tenant": "acme", "kind": "from-the-future", "payload": {}}).to_string();
    let event =
        sqs_event(&[("m1", "not json"), ("m2", &unknown), ("m3", r#"{"tenant":"T#x","kind":"m","payload":1}"#)]);
    let response = textbridge_lambda::sqs_batch(&handler, &event).await;
    assert_eq!(response.batch_item_failures.len(), 3);
}
