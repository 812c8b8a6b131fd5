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
    let ttl = &props["TimeToLiveSpecification"];
    assert_eq!((text(&ttl["AttributeName"]), ttl["Enabled"].as_bool()), (schema::TTL_ATTRIBUTE, Some(true)));
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

/// Every item action but scans: what the functions that update, delete or transact
/// items are granted.
const ITEMS: &[&str] = &[
    "dynamodb:GetItem",
    "dynamodb:PutItem",
    "dynamodb:UpdateItem",
    "dynamodb:DeleteItem",
    "dynamodb:ConditionCheckItem",
    "dynamodb:Query",
];

/// Actions per resource short name.
type Grants = &'static [(&'static str, &'static [&'static str])];

/// What each function's code calls, per resource (`table`, `index`, `secrets`,
/// `intake`, `dlq`, `uploads`, `bucket`): the template grants exactly this, nothing more. Calls inside a
/// `TransactWriteItems` are authorised per item (`PutItem`, `DeleteItem`, …). One
/// grant is not a call: `s3:ListBucket` on the imports bucket, without which S3
/// answers a read of a missing object 403 instead of 404.
const NEEDS: &[(&str, &str, Grants)] = &[
    (
        "CredentialsFunction",
        "credentials",
        &[
            (
                "table",
                &[
                    "dynamodb:GetItem",
                    "dynamodb:PutItem",
                    "dynamodb:UpdateItem",
                    "dynamodb:DeleteItem",
                    "dynamodb:Query",
                ],
            ),
            (
                "secrets",
                &[
                    "secretsmanager:CreateSecret",
                    "secretsmanager:GetSecretValue",
                    "secretsmanager:PutSecretValue",
                    "secretsmanager:DescribeSecret",
                    "secretsmanager:DeleteSecret",
                ],
            ),
        ],
    ),
    (
        "IntakeFunction",
        "intake",
        &[
            ("table", &["dynamodb:GetItem"]),
            ("secrets", &["secretsmanager:GetSecretValue"]),
            ("intake", &["sqs:SendMessage", "sqs:GetQueueAttributes"]),
            ("dlq", &["sqs:GetQueueAttributes"]),
        ],
    ),
    (
        "RecordsFunction",
        "records",
        &[
            ("table", ITEMS),
            ("index", &["dynamodb:Query"]),
            ("secrets", &["secretsmanager:GetSecretValue"]),
            ("intake", &["sqs:SendMessage", "sqs:GetQueueAttributes"]),
            (
                "dlq",
                &["sqs:ReceiveMessage", "sqs:DeleteMessage", "sqs:ChangeMessageVisibility", "sqs:GetQueueAttributes"],
            ),
        ],
    ),
    (
        "UsersFunction",
        "users",
        &[
            ("table", ITEMS),
            (
                "secrets",
                &["secretsmanager:GetSecretValue", "secretsmanager:DescribeSecret", "secretsmanager:DeleteSecret"],
            ),
        ],
    ),
    (
        "ImportsFunction",
        "imports",
        &[
            ("table", &["dynamodb:GetItem", "dynamodb:PutItem", "dynamodb:Query"]),
            ("intake", &["sqs:SendMessage", "sqs:GetQueueAttributes"]),
            ("dlq", &["sqs:GetQueueAttributes"]),
            ("uploads", &["s3:PutObject", "s3:GetObject", "s3:DeleteObject"]),
            ("bucket", &["s3:ListBucket"]),
        ],
    ),
    (
        "ArchiverFunction",
        "archiver",
        &[
            ("table", ITEMS),
            ("secrets", &["secretsmanager:GetSecretValue"]),
            ("intake", &["sqs:ReceiveMessage", "sqs:DeleteMessage", "sqs:GetQueueAttributes", "sqs:SendMessage"]),
        ],
    ),
    (
        "AtsSyncFunction",
        "ats-sync",
        &[
            ("table", ITEMS),
            ("index", &["dynamodb:Query"]),
            ("secrets", &["secretsmanager:GetSecretValue"]),
            ("intake", &["sqs:SendMessage"]),
        ],
    ),
];

/// The short name of a granted resource.
fn resource_name(resource: &str) -> &'static str {
    match resource {
        "Table.Arn" => "table",
        "${Table.Arn}/index/*" => "index",
        "IntakeQueue.Arn" => "intake",
        "IntakeDlq.Arn" => "dlq",
        "${ImportsBucket.Arn}/imports/*" => "uploads",
        "ImportsBucket.Arn" => "bucket",
        r if r.contains(":secret:textbridge/${Stage}/") => "secrets",
        other => panic!("a grant on an unexpected resource: {other}"),
    }
}

/// The (resource, action) pairs a function's policies grant.
fn grants(function: &Yaml) -> std::collections::BTreeSet<(&'static str, String)> {
    let mut grants = std::collections::BTreeSet::new();
    let Some(policies) = function["Properties"]["Policies"].as_vec() else { panic!("no Policies list") };
    for policy in policies {
        let Some(statements) = policy["Statement"].as_vec() else {
            panic!("only inline statements, no SAM policy templates (they grant more than the code calls): {policy:?}")
        };
        for statement in statements {
            assert_eq!(text(&statement["Effect"]), "Allow");
            let actions: Vec<&str> = statement["Action"].as_vec().expect("Action list").iter().map(text).collect();
            let resources: Vec<&str> = match &statement["Resource"] {
                Yaml::Array(list) => list.iter().map(text).collect(),
                single => vec![text(single)],
            };
            for resource in resources {
                for action in &actions {
                    grants.insert((resource_name(resource), (*action).to_owned()));
                }
            }
        }
    }
    grants
}

#[test]
fn every_function_is_granted_exactly_what_its_code_calls() {
    let t = template();
    let functions = resources(&t, "AWS::Serverless::Function");
    let mut ids: Vec<&str> = functions.iter().map(|(id, _)| *id).collect();
    ids.sort_unstable();
    let mut expected_ids: Vec<&str> = NEEDS.iter().map(|(id, _, _)| *id).collect();
    expected_ids.sort_unstable();
    assert_eq!(ids, expected_ids, "every function of the template has a row in NEEDS, and no other");

    for (id, binary, needs) in NEEDS {
        let (_, function) = functions.iter().find(|(f, _)| f == id).expect("function");
        assert_eq!(text(&function["Metadata"]["BuildProperties"]["Binary"]), *binary, "{id}");
        let crate_dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../functions").join(binary);
        assert!(crate_dir.join("src/main.rs").exists(), "{id}: functions/{binary} builds its bootstrap");
        let expected: std::collections::BTreeSet<(&'static str, String)> = needs
            .iter()
            .flat_map(|(resource, actions)| {
                actions.iter().map(move |a| (resource_name(&resource_arn(resource)), (*a).to_owned()))
            })
            .collect();
        let granted = grants(function);
        let extra: Vec<_> = granted.difference(&expected).collect();
        let missing: Vec<_> = expected.difference(&granted).collect();
        assert!(extra.is_empty() && missing.is_empty(), "{id}: extra grants {extra:?}, missing grants {missing:?}");
    }
}

/// The template's text for a short resource name (inverse of [`resource_name`]).
fn resource_arn(name: &str) -> String {
    match name {
        "table" => "Table.Arn".into(),
        "index" => "${Table.Arn}/index/*".into(),
        "intake" => "IntakeQueue.Arn".into(),
        "dlq" => "IntakeDlq.Arn".into(),
        "uploads" => "${ImportsBucket.Arn}/imports/*".into(),
        "bucket" => "ImportsBucket.Arn".into(),
        _ => {
            "arn:${AWS::Partition}:secretsmanager:${AWS::Region}:${AWS::AccountId}:secret:textbridge/${Stage}/*".into()
        }
    }
}

#[test]
fn the_ats_write_lease_follows_the_queue_visibility_timeout() {
    let t = template();
    let (_, intake) = resources(&t, "AWS::SQS::Queue")
        .into_iter()
        .find(|(_, q)| !q["Properties"]["RedrivePolicy"].is_badvalue())
        .expect("the intake queue");
    let visibility = intake["Properties"]["VisibilityTimeout"].as_i64().expect("VisibilityTimeout");
    let configured = text(&t["Globals"]["Function"]["Environment"]["Variables"]["VISIBILITY_TIMEOUT_SECS"]);
    assert_eq!(configured.parse::<i64>().ok(), Some(visibility));
}

#[test]
fn only_routes_that_exist_are_routed() {
    let t = template();
    let mut paths = Vec::new();
    for (id, function) in resources(&t, "AWS::Serverless::Function") {
        for (_, event) in function["Properties"]["Events"].as_hash().into_iter().flatten() {
            if event["Type"].as_str() == Some("HttpApi") {
                paths.push((id, text(&event["Properties"]["Path"]).to_owned()));
            }
        }
    }
    for (id, path) in &paths {
        let root = path.trim_start_matches('/').split('/').next().unwrap_or_default();
        assert!(
            [
                "",
                "console",
                "credentials",
                "webhooks",
                "records",
                "messages",
                "admin",
                "users",
                "permission-groups",
                "teams",
                "licences",
                "outbox"
            ]
            .contains(&root),
            "{id} routes {path}, which no router serves"
        );
    }
}

/// The pipe that carries outgoing e-mail events publishes exactly the items the
/// outbox key makes: new items whose partition key ends with `#OUTBOX`.
#[test]
fn the_outbox_pipe_takes_outbox_items_only() {
    let t = template();
    let pipes = resources(&t, "AWS::Pipes::Pipe");
    let [(_, pipe)] = pipes.as_slice() else { panic!("one pipe") };
    let pattern = text(&pipe["Properties"]["SourceParameters"]["FilterCriteria"]["Filters"][0]["Pattern"]);
    let pattern: serde_json::Value = serde_json::from_str(pattern).expect("the pattern is JSON");
    assert_eq!(pattern["eventName"], serde_json::json!(["INSERT"]));
    let suffix = pattern["dynamodb"]["Keys"]["PK"]["S"][0]["suffix"].as_str().expect("a suffix");
    let tenant = textbridge_domain::TenantId::parse("acme").expect("tenant");
    let at: textbridge_domain::Timestamp = "2026-11-26T10:00:00Z".parse().expect("time");
    assert!(textbridge_app::keys::outbox_event(&tenant, &at, "e1").pk.ends_with(suffix));
    assert!(!textbridge_app::keys::audit(&tenant, &at, "e1").pk.ends_with(suffix), "audit entries stay");
    assert!(!textbridge_app::keys::user(&tenant, &"u1".parse().expect("id")).pk.ends_with(suffix));
    assert_eq!(text(&pipe["Properties"]["Target"]), "EmailEvents");
}

/// Alarms beyond the dead letters: every function's errors and throttles, the intake
/// queue falling behind, and the ATS sync failing on the metric the code counts.
#[test]
fn alarms_watch_every_function_the_queue_and_the_sync() {
    let t = template();
    let alarms = resources(&t, "AWS::CloudWatch::Alarm");
    let alarm = |id: &str| alarms.iter().find(|(a, _)| *a == id).unwrap_or_else(|| panic!("no {id}")).1;
    let mut functions: Vec<&str> = resources(&t, "AWS::Serverless::Function").into_iter().map(|(id, _)| id).collect();
    functions.sort_unstable();
    for (id, metric) in [("FunctionErrorsAlarm", "Errors"), ("FunctionThrottlesAlarm", "Throttles")] {
        let Some(metrics) = alarm(id)["Properties"]["Metrics"].as_vec() else { panic!("{id}: no Metrics") };
        let mut watched: Vec<&str> = metrics
            .iter()
            .filter(|m| m["MetricStat"]["Metric"]["MetricName"].as_str() == Some(metric))
            .filter_map(|m| m["MetricStat"]["Metric"]["Dimensions"][0]["Value"].as_str())
            .collect();
        watched.sort_unstable();
        assert_eq!(watched, functions, "{id} watches every function");
        assert!(metrics.iter().any(|m| m["Expression"].as_str() == Some("SUM(METRICS())")), "{id}");
    }
    let age = &alarm("IntakeQueueAgeAlarm")["Properties"];
    assert_eq!((text(&age["Namespace"]), text(&age["MetricName"])), ("AWS/SQS", "ApproximateAgeOfOldestMessage"));
    let sync = &alarm("AtsSyncFailuresAlarm")["Properties"];
    assert_eq!(text(&sync["Namespace"]), textbridge_telemetry::NAMESPACE);
    assert_eq!(text(&sync["MetricName"]), textbridge_app::metrics::Metric::SyncFailures.name());
    assert_eq!(text(&sync["Dimensions"][0]["Name"]), "Service");
    assert_eq!(
        textbridge_app::metrics::TARGET,
        textbridge_telemetry::METRICS_TARGET,
        "the app logs what the logs read"
    );
}
