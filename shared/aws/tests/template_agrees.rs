//! The SAM template declares the table and the queues exactly as `schema` does.

use std::path::PathBuf;

use textbridge_aws::schema;
use yaml_rust2::{Yaml, YamlLoader};

fn template() -> Yaml {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../infra/template.yaml");
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("read {}: {e}", path.display()));
    // CloudFormation's short forms (`!Ref`, `!Sub`, `!GetAtt`, ...) are local tags:
    // yaml-rust2 drops them and keeps the tagged node (a scalar as a string).
    let mut docs = YamlLoader::load_from_str(&text).unwrap_or_else(|e| panic!("parse {}: {e}", path.display()));
    assert_eq!(docs.len(), 1, "one YAML document");
    docs.remove(0)
}

/// The resources of the given type, with their logical ids.
fn resources<'a>(template: &'a Yaml, kind: &str) -> Vec<(&'a str, &'a Yaml)> {
    let Some(resources) = template["Resources"].as_hash() else { panic!("the template has no Resources") };
    resources
        .iter()
        .filter(|(_, r)| r["Type"].as_str() == Some(kind))
        .map(|(id, r)| (id.as_str().unwrap_or_default(), r))
        .collect()
}

fn text(node: &Yaml) -> &str {
    node.as_str().unwrap_or_else(|| panic!("expected text, found {node:?}"))
}

/// `[{AttributeName, KeyType}]` as pairs.
fn key_schema(node: &Yaml) -> Vec<(&str, &str)> {
    let Some(elements) = node.as_vec() else { panic!("expected a key schema list, found {node:?}") };
    elements.iter().map(|e| (text(&e["AttributeName"]), text(&e["KeyType"]))).collect()
}

#[test]
fn cloudformation_tags_do_not_break_parsing() {
    let t = template();
    assert_eq!(t["Outputs"]["TableName"]["Value"].as_str(), Some("Table"), "!Ref keeps its argument");
    let (_, intake) = resources(&t, "AWS::SQS::Queue")
        .into_iter()
        .find(|(_, q)| !q["Properties"]["RedrivePolicy"].is_badvalue())
        .expect("a queue with a redrive policy");
    assert!(text(&intake["Properties"]["RedrivePolicy"]["deadLetterTargetArn"]).ends_with(".Arn"));
}

#[test]
fn table_matches_schema() {
    let t = template();
    let tables = resources(&t, "AWS::DynamoDB::Table");
    assert_eq!(tables.len(), 1, "exactly one table");
    let props = &tables[0].1["Properties"];

    assert_eq!(text(&props["BillingMode"]), schema::BILLING_MODE);
    let Some(definitions) = props["AttributeDefinitions"].as_vec() else { panic!("AttributeDefinitions") };
    let mut definitions: Vec<(&str, &str)> =
        definitions.iter().map(|d| (text(&d["AttributeName"]), text(&d["AttributeType"]))).collect();
    definitions.sort();
    let mut expected = schema::ATTRIBUTE_DEFINITIONS.to_vec();
    expected.sort();
    assert_eq!(definitions, expected);

    assert_eq!(key_schema(&props["KeySchema"]), schema::TABLE_KEY_SCHEMA);
    assert_eq!(schema::TABLE_KEY_SCHEMA, [(schema::PK, "HASH"), (schema::SK, "RANGE")]);

    let Some(indexes) = props["GlobalSecondaryIndexes"].as_vec() else { panic!("GlobalSecondaryIndexes") };
    assert_eq!(indexes.len(), 1, "exactly one secondary index");
    let gsi = &indexes[0];
    assert_eq!(text(&gsi["IndexName"]), schema::GSI1);
    assert_eq!(key_schema(&gsi["KeySchema"]), schema::GSI1_KEY_SCHEMA);
    assert_eq!(schema::GSI1_KEY_SCHEMA, [(schema::GSI1PK, "HASH"), (schema::GSI1SK, "RANGE")]);
    assert_eq!(text(&gsi["Projection"]["ProjectionType"]), schema::GSI1_PROJECTION);
}

#[test]
fn queues_match_schema() {
    let t = template();
    let queues = resources(&t, "AWS::SQS::Queue");
    assert_eq!(queues.len(), 2, "the intake queue and its dead-letter queue");
    let (with_redrive, without): (Vec<_>, Vec<_>) =
        queues.into_iter().partition(|(_, q)| !q["Properties"]["RedrivePolicy"].is_badvalue());
    let ([(_, intake)], [(dlq_id, dlq)]) = (with_redrive.as_slice(), without.as_slice()) else {
        panic!("exactly one queue with a redrive policy and one without")
    };

    let policy = &intake["Properties"]["RedrivePolicy"];
    let max_receives = match &policy["maxReceiveCount"] {
        Yaml::Integer(n) => *n,
        Yaml::String(s) => s.parse().unwrap_or_else(|_| panic!("maxReceiveCount {s:?}")),
        other => panic!("maxReceiveCount {other:?}"),
    };
    assert_eq!(max_receives, i64::from(schema::MAX_RECEIVES));
    assert_eq!(text(&policy["deadLetterTargetArn"]), format!("{dlq_id}.Arn"), "the intake queue redrives to the DLQ");

    let intake_name = text(&intake["Properties"]["QueueName"]);
    let dlq_name = text(&dlq["Properties"]["QueueName"]);
    assert_eq!(dlq_name, format!("{intake_name}{}", schema::DLQ_SUFFIX));
}
