//! Behaviours of the AWS adapters beyond the shared contract, on a moto server.

use std::time::Duration;

use secrecy::{ExposeSecret, SecretString};
use serde_json::json;
use textbridge_app::ports::{
    Condition, Item, ItemStore, Key, PortError, Query, QueueDepth, SecretName, Secrets, Update, Write,
};
use textbridge_aws::aws_sdk_dynamodb::operation::transact_write_items::TransactWriteItemsError;
use textbridge_aws::aws_sdk_dynamodb::types::{AttributeValue, Put, TransactWriteItem};
use textbridge_aws::aws_sdk_sqs::types::{MessageSystemAttributeName, QueueAttributeName};
use textbridge_aws::{SecretsManagerStore, aws_sdk_dynamodb, aws_sdk_secretsmanager, aws_sdk_sqs, schema};
use textbridge_testkit::moto;

fn pk() -> String {
    format!("T#a{}", uuid::Uuid::new_v4().simple())
}

#[tokio::test]
async fn a_bad_cursor_is_invalid() {
    let b = moto::backend().await;
    for cursor in ["garbage!", "e30", "eyJQSyI6ImEifQ"] {
        let mut q = Query::new(pk(), "");
        q.cursor = Some(cursor.to_owned());
        assert!(matches!(b.store.query(&q).await, Err(PortError::Invalid(_))), "{cursor}");
    }
}

#[tokio::test]
async fn transactions_reject_what_dynamodb_would() {
    let b = moto::backend().await;
    let key = Key::new(pk(), "X");
    let empty = [Write::Update { key: key.clone(), update: Update::default(), condition: None }];
    assert!(matches!(b.store.transact(&empty).await, Err(PortError::Invalid(_))));
    let too_many: Vec<Write> =
        (0..101).map(|i| Write::Delete { key: Key::new(&key.pk, format!("K{i}")), condition: None }).collect();
    assert!(matches!(b.store.transact(&too_many).await, Err(PortError::Invalid(_))));
    let reserved = [Write::Put { item: Item::new(key.clone()).with("SK", "x"), condition: None }];
    assert!(matches!(b.store.transact(&reserved).await, Err(PortError::Invalid(_))));
    b.store.transact(&[]).await.expect("an empty transaction does nothing");
}

#[tokio::test]
async fn a_missing_table_is_not_found() {
    let sdk = moto::sdk_config().await;
    let store = textbridge_aws::DynamoStore::new(aws_sdk_dynamodb::Client::new(&sdk), "no-such-table");
    assert!(matches!(store.get(&Key::new("T#a", "X")).await, Err(PortError::NotFound(_))));
}

/// The table removes items by `expires_at`, as the template declares.
#[tokio::test]
async fn the_table_expires_items_by_their_expires_at() {
    let sdk = moto::sdk_config().await;
    let client = aws_sdk_dynamodb::Client::new(&sdk);
    let table = format!("ttl-{}", uuid::Uuid::new_v4().simple());
    schema::create_table(&client, &table).await.expect("table");
    let ttl = client.describe_time_to_live().table_name(&table).send().await.expect("describe");
    let ttl = ttl.time_to_live_description().expect("time to live");
    assert_eq!(ttl.attribute_name(), Some(schema::TTL_ATTRIBUTE));
    assert_eq!(ttl.time_to_live_status().map(|s| s.as_str()), Some("ENABLED"));
}

#[tokio::test]
async fn cancellation_reasons_are_typed() {
    let sdk = moto::sdk_config().await;
    let client = aws_sdk_dynamodb::Client::new(&sdk);
    let table = format!("reasons-{}", uuid::Uuid::new_v4().simple());
    schema::create_table(&client, &table).await.expect("table");
    let put = |sk: &str, condition: Option<&str>| {
        let put = Put::builder()
            .table_name(&table)
            .item(schema::PK, AttributeValue::S("T#a".into()))
            .item(schema::SK, AttributeValue::S(sk.into()))
            .set_condition_expression(condition.map(str::to_owned))
            .build()
            .expect("put");
        TransactWriteItem::builder().put(put).build()
    };
    let err = client
        .transact_write_items()
        .transact_items(put("A", None))
        .transact_items(put("B", Some("attribute_exists(PK)")))
        .send()
        .await
        .expect_err("cancelled");
    let Some(TransactWriteItemsError::TransactionCanceledException(cancel)) = err.as_service_error() else {
        panic!("expected a typed cancellation, got {err:?}")
    };
    let codes: Vec<_> = cancel.cancellation_reasons().iter().map(|r| r.code().unwrap_or_default()).collect();
    assert_eq!(codes, ["None", "ConditionalCheckFailed"]);
}

#[tokio::test]
async fn the_intake_queue_redrives_after_max_receives() {
    let sdk = moto::sdk_config().await;
    let sqs = aws_sdk_sqs::Client::new(&sdk);
    let name = format!("redrive-{}", uuid::Uuid::new_v4().simple());
    let (queue, dlq) = schema::create_queues(&sqs, &name).await.expect("queues");
    let attrs = sqs
        .get_queue_attributes()
        .queue_url(&queue)
        .attribute_names(QueueAttributeName::RedrivePolicy)
        .send()
        .await
        .expect("attributes");
    let policy = attrs.attributes().and_then(|a| a.get(&QueueAttributeName::RedrivePolicy)).expect("policy");
    let policy: serde_json::Value = serde_json::from_str(policy).expect("json");
    assert_eq!(policy["maxReceiveCount"].to_string().trim_matches('"'), schema::MAX_RECEIVES.to_string());
    assert!(policy["deadLetterTargetArn"].as_str().expect("arn").ends_with(&format!("{name}-dlq")));

    sqs.send_message().queue_url(&queue).message_body("poison").send().await.expect("send");
    let receive = |url: String| {
        let sqs = sqs.clone();
        async move {
            sqs.receive_message()
                .queue_url(url)
                .visibility_timeout(0)
                .message_system_attribute_names(MessageSystemAttributeName::ApproximateReceiveCount)
                .send()
                .await
                .expect("receive")
                .messages
                .unwrap_or_default()
        }
    };
    for count in 1..=schema::MAX_RECEIVES {
        let got = receive(queue.clone()).await;
        assert_eq!(got.len(), 1, "receive {count}");
        let seen = got[0].attributes().and_then(|a| a.get(&MessageSystemAttributeName::ApproximateReceiveCount));
        assert_eq!(seen.map(String::as_str), Some(count.to_string().as_str()));
    }
    assert!(receive(queue.clone()).await.is_empty(), "the next receive moves it instead");
    let dead = receive(dlq).await;
    assert_eq!(dead.len(), 1);
    assert_eq!(dead[0].body(), Some("poison"));
}

#[tokio::test]
async fn dead_letters_honour_max_and_depth_counts_them() {
    let b = moto::backend().await;
    let q = b.queue.as_ref();
    q.send_batch(&["a".to_owned(), "b".to_owned(), "c".to_owned()]).await.expect("send");
    for _ in 0..=schema::MAX_RECEIVES {
        // Receive all three (again) with no hold, until the next receive moves them.
        let mut got = 0;
        for _ in 0..10 {
            got += q.receive(10, Duration::ZERO).await.expect("receive").len();
            if got >= 3 {
                break;
            }
        }
    }
    let depth = q.depth().await.expect("depth");
    assert_eq!((depth.visible, depth.in_flight, depth.dead), (0, 0, 3));
    assert_eq!(q.dead_letters(2).await.expect("two").len(), 2);
    assert_eq!(q.dead_letters(10).await.expect("all").len(), 3, "listing released what it held");
    assert_eq!(q.replay(Some(&[])).await.expect("nothing chosen"), 0);
    assert_eq!(q.replay(None).await.expect("replay"), 3);
    assert_eq!(
        q.depth().await.expect("depth"),
        QueueDepth { visible: 3, in_flight: 0, dead: 0, oldest_age_secs: None }
    );
}

#[tokio::test]
async fn secrets_live_under_the_prefix() {
    let b = moto::backend().await;
    let sdk = moto::sdk_config().await;
    let other = SecretsManagerStore::new(aws_sdk_secretsmanager::Client::new(&sdk), "elsewhere");
    assert_eq!(other.prefix(), "elsewhere/");
    let name = SecretName::from_parts(&["t1", "textus", "system", "-"]).expect("name");
    b.secrets.create(&name, &SecretString::from("v1")).await.expect("create");
    assert!(matches!(other.get(&name).await, Err(PortError::NotFound(_))));
    other.create(&name, &SecretString::from("v2")).await.expect("same name, other prefix");
    assert_eq!(b.secrets.get(&name).await.expect("get").expose_secret(), "v1");
    b.secrets.delete(&name).await.expect("delete");
    assert_eq!(other.get(&name).await.expect("untouched").expose_secret(), "v2");
}

#[tokio::test]
async fn conditions_on_other_attributes_compare_json_values() {
    let b = moto::backend().await;
    let key = Key::new(pk(), "X");
    b.store.put(&Item::new(key.clone()).with("doc", json!({"a": [1, "x"]})).with("n", 5), None).await.expect("put");
    let same = Condition::Equals("doc".into(), json!({"a": [1, "x"]}));
    b.store.update(&key, &Update::default().set("ok", true), Some(&same)).await.expect("equal maps");
    let low = Condition::AtLeast("n".into(), 6);
    assert_eq!(b.store.delete(&key, Some(&low)).await.expect_err("too low"), PortError::ConditionFailed);
    b.store.delete(&key, Some(&Condition::AtLeast("n".into(), 5))).await.expect("delete");
}

/// The upload place on S3 (moto): a presigned URL takes one PUT of the file, which
/// reads back whole, bounded, and is gone once removed.
#[tokio::test]
async fn uploads_follow_the_contract_on_s3() {
    let sdk = moto::sdk_config().await;
    let bucket = format!("imports-{}", uuid::Uuid::new_v4().simple());
    let uploads = textbridge_aws::S3Uploads::new(&sdk, &bucket);
    textbridge_aws::S3::new(&sdk).create_bucket(&bucket).await.expect("bucket");
    let http = textbridge_http::builder().build().expect("client");
    textbridge_testkit::uploads::contract(&uploads, |url, headers, bytes| {
        let mut request = http.put(url).body(bytes);
        for (name, value) in headers {
            request = request.header(name, value);
        }
        async move { request.send().await.map_or(0, |r| r.status().as_u16()) }
    })
    .await;
}
