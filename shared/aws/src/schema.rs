//! The one definition of the DynamoDB table and the SQS queue pair.
//!
//! The SAM template (`infra/template.yaml`) declares the same resources for
//! deployments; a test (`tests/template_agrees.rs`) reads the template and checks it
//! against the constants here, so the two cannot drift apart. [`create_table`] and
//! [`create_queues`] build the resources from these constants for tests and local
//! runs against an emulator.

use std::time::Duration;

use aws_sdk_dynamodb::client::Waiters as _;
use aws_sdk_dynamodb::types::{
    AttributeDefinition, BillingMode, GlobalSecondaryIndex, KeySchemaElement, KeyType, Projection, ProjectionType,
    ScalarAttributeType, TimeToLiveSpecification,
};
use aws_sdk_sqs::types::QueueAttributeName;
use textbridge_app::ports::PortError;

use crate::error::{Detail, map_sdk_error};

pub use textbridge_app::ports::MAX_RECEIVES;

/// Partition key attribute of the table.
pub const PK: &str = "PK";
/// Sort key attribute of the table.
pub const SK: &str = "SK";
/// Partition key attribute of the secondary index [`GSI1`].
pub const GSI1PK: &str = "GSI1PK";
/// Sort key attribute of the secondary index [`GSI1`].
pub const GSI1SK: &str = "GSI1SK";
/// Name of the secondary index.
pub const GSI1: &str = "GSI1";

/// The table's billing mode (CloudFormation `BillingMode`).
pub const BILLING_MODE: &str = "PAY_PER_REQUEST";
/// The table's attribute definitions: name and type (all strings).
pub const ATTRIBUTE_DEFINITIONS: [(&str, &str); 4] = [(PK, "S"), (SK, "S"), (GSI1PK, "S"), (GSI1SK, "S")];
/// The table's key schema: attribute and key type.
pub const TABLE_KEY_SCHEMA: [(&str, &str); 2] = [(PK, "HASH"), (SK, "RANGE")];
/// The key schema of [`GSI1`]: attribute and key type.
pub const GSI1_KEY_SCHEMA: [(&str, &str); 2] = [(GSI1PK, "HASH"), (GSI1SK, "RANGE")];
/// The projection of [`GSI1`] (whole items).
pub const GSI1_PROJECTION: &str = "ALL";

/// The table's time-to-live attribute (CloudFormation `TimeToLiveSpecification`).
pub const TTL_ATTRIBUTE: &str = textbridge_app::ports::EXPIRES_AT;

/// Suffix of the dead-letter queue's name after the intake queue's name.
pub const DLQ_SUFFIX: &str = "-dlq";

/// How long [`create_table`] waits for a new table to become active.
const TABLE_ACTIVE_WAIT: Duration = Duration::from_secs(300);

fn key_type(kind: &str) -> KeyType {
    KeyType::from(kind)
}

fn key_schema(schema: &[(&str, &str)]) -> Result<Vec<KeySchemaElement>, PortError> {
    schema
        .iter()
        .map(|(name, kind)| {
            KeySchemaElement::builder()
                .attribute_name(*name)
                .key_type(key_type(kind))
                .build()
                .map_err(|e| PortError::Invalid(format!("key schema: {e}")))
        })
        .collect()
}

/// Creates the table `name` as declared above and waits until it is active.
pub async fn create_table(client: &aws_sdk_dynamodb::Client, name: &str) -> Result<(), PortError> {
    let definitions = ATTRIBUTE_DEFINITIONS
        .iter()
        .map(|(attr, kind)| {
            AttributeDefinition::builder()
                .attribute_name(*attr)
                .attribute_type(ScalarAttributeType::from(*kind))
                .build()
                .map_err(|e| PortError::Invalid(format!("attribute definition: {e}")))
        })
        .collect::<Result<Vec<_>, _>>()?;
    let gsi = GlobalSecondaryIndex::builder()
        .index_name(GSI1)
        .set_key_schema(Some(key_schema(&GSI1_KEY_SCHEMA)?))
        .projection(Projection::builder().projection_type(ProjectionType::from(GSI1_PROJECTION)).build())
        .build()
        .map_err(|e| PortError::Invalid(format!("index definition: {e}")))?;
    client
        .create_table()
        .table_name(name)
        .billing_mode(BillingMode::from(BILLING_MODE))
        .set_attribute_definitions(Some(definitions))
        .set_key_schema(Some(key_schema(&TABLE_KEY_SCHEMA)?))
        .global_secondary_indexes(gsi)
        .send()
        .await
        .map_err(|e| map_sdk_error("CreateTable", &e, Detail::Full))?;
    client
        .wait_until_table_exists()
        .table_name(name)
        .wait(TABLE_ACTIVE_WAIT)
        .await
        .map_err(|e| PortError::Retryable(format!("table {name} did not become active: {e}")))?;
    let ttl = TimeToLiveSpecification::builder()
        .attribute_name(TTL_ATTRIBUTE)
        .enabled(true)
        .build()
        .map_err(|e| PortError::Invalid(format!("time to live: {e}")))?;
    client
        .update_time_to_live()
        .table_name(name)
        .time_to_live_specification(ttl)
        .send()
        .await
        .map_err(|e| map_sdk_error("UpdateTimeToLive", &e, Detail::Full))?;
    Ok(())
}

/// The redrive policy of the intake queue: after [`MAX_RECEIVES`] receives a message
/// moves to the queue with ARN `dlq_arn`.
pub fn redrive_policy(dlq_arn: &str) -> String {
    serde_json::json!({ "deadLetterTargetArn": dlq_arn, "maxReceiveCount": MAX_RECEIVES }).to_string()
}

/// Creates the intake queue `name` and its dead-letter queue `{name}-dlq`; returns
/// their URLs (intake, dead-letter).
pub async fn create_queues(client: &aws_sdk_sqs::Client, name: &str) -> Result<(String, String), PortError> {
    let dlq_name = format!("{name}{DLQ_SUFFIX}");
    let dlq_url = client
        .create_queue()
        .queue_name(&dlq_name)
        .send()
        .await
        .map_err(|e| map_sdk_error("CreateQueue", &e, Detail::Full))?
        .queue_url
        .ok_or_else(|| PortError::Unexpected(format!("CreateQueue: no URL for {dlq_name}")))?;
    let dlq_arn = client
        .get_queue_attributes()
        .queue_url(&dlq_url)
        .attribute_names(QueueAttributeName::QueueArn)
        .send()
        .await
        .map_err(|e| map_sdk_error("GetQueueAttributes", &e, Detail::Full))?
        .attributes
        .and_then(|mut a| a.remove(&QueueAttributeName::QueueArn))
        .ok_or_else(|| PortError::Unexpected(format!("GetQueueAttributes: no ARN for {dlq_name}")))?;
    let queue_url = client
        .create_queue()
        .queue_name(name)
        .attributes(QueueAttributeName::RedrivePolicy, redrive_policy(&dlq_arn))
        .send()
        .await
        .map_err(|e| map_sdk_error("CreateQueue", &e, Detail::Full))?
        .queue_url
        .ok_or_else(|| PortError::Unexpected(format!("CreateQueue: no URL for {name}")))?;
    Ok((queue_url, dlq_url))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn constants_are_valid_sdk_values() {
        assert_eq!(BillingMode::from(BILLING_MODE), BillingMode::PayPerRequest);
        assert_eq!(ProjectionType::from(GSI1_PROJECTION), ProjectionType::All);
        assert_eq!(key_type(TABLE_KEY_SCHEMA[0].1), KeyType::Hash);
        assert_eq!(key_type(TABLE_KEY_SCHEMA[1].1), KeyType::Range);
        assert!(ATTRIBUTE_DEFINITIONS.iter().all(|(_, t)| ScalarAttributeType::from(*t) == ScalarAttributeType::S));
    }

    #[test]
    fn redrive_policy_names_the_dlq_and_limit() {
        let policy: serde_json::Value =
            serde_json::from_str(&redrive_policy("arn:aws:sqs:us-east-1:1:q-dlq")).expect("json");
        assert_eq!(policy["deadLetterTargetArn"], "arn:aws:sqs:us-east-1:1:q-dlq");
        assert_eq!(policy["maxReceiveCount"], MAX_RECEIVES);
    }
}
