//! A function's IAM grants as the template declares them, and a moto server that
//! enforces them.
//!
//! [`policy_document`] expands a function's `Policies` (SAM policy templates and
//! inline statements) into one IAM policy document with real ARNs.
//!
//! moto enforces IAM once its count of unauthenticated requests is used up (the
//! `INITIAL_NO_AUTH_ACTION_COUNT` setting, infinite by default; in server mode
//! `POST /moto-api/reset-auth` sets it). It then checks each request's SigV4
//! signature against the IAM access keys it knows, and the action against the
//! caller's policies. Two limits of moto 5.2 shape [`moto_enforceable`]:
//!
//! * **Resources are compared only for SQS** (and IAM/STS): moto names the queue's ARN
//!   as the request's resource, but for DynamoDB and Secrets Manager the resource is
//!   always `*`, which a statement scoped to an ARN never matches. For those services
//!   the statement's resources are widened to `*` (actions still enforced).
//! * **Transactions are checked as an action of their own**
//!   (`dynamodb:TransactWriteItems`), where AWS checks the item actions inside them
//!   (a transaction of puts and deletes needs `PutItem` and `DeleteItem`, nothing
//!   more). moto cannot see inside, so a grant of any item write (`PutItem`,
//!   `UpdateItem`, `DeleteItem`, `ConditionCheckItem`) also grants
//!   `TransactWriteItems` — the one widening of a write — and `GetItem` grants
//!   `TransactGetItems`.
//! * **SQS batch actions are checked by their own names** (`sqs:SendMessageBatch`),
//!   where AWS authorises them with the single action's permission; a grant of
//!   `sqs:SendMessage`, `sqs:DeleteMessage` or `sqs:ChangeMessageVisibility` also
//!   grants its batch form on the same resources.

use serde_json::{Map, Value, json};
use textbridge_aws::aws_config::SdkConfig;
use textbridge_aws::aws_sdk_dynamodb::config::Credentials;
use tokio::sync::OnceCell;

use super::function::AccessKeys;
use super::template::{Resolver, TemplateError};
use crate::moto;

/// The policy language version of every document made here.
const VERSION: &str = "2012-10-17";

/// The actions of the SAM policy templates this project uses, from SAM's
/// `policy_templates.json` (samtranslator), with their resource patterns:
/// `(name, parameter, actions, resources)`. In a resource, `{}` is the parameter's
/// value.
const SAM_TEMPLATES: &[(&str, &str, &[&str], &[&str])] = &[
    (
        "DynamoDBCrudPolicy",
        "TableName",
        &[
            "dynamodb:GetItem",
            "dynamodb:DeleteItem",
            "dynamodb:PutItem",
            "dynamodb:Scan",
            "dynamodb:Query",
            "dynamodb:UpdateItem",
            "dynamodb:BatchWriteItem",
            "dynamodb:BatchGetItem",
            "dynamodb:DescribeTable",
            "dynamodb:ConditionCheckItem",
        ],
        &[
            "arn:${AWS::Partition}:dynamodb:${AWS::Region}:${AWS::AccountId}:table/{}",
            "arn:${AWS::Partition}:dynamodb:${AWS::Region}:${AWS::AccountId}:table/{}/index/*",
        ],
    ),
    (
        "DynamoDBReadPolicy",
        "TableName",
        &["dynamodb:GetItem", "dynamodb:Scan", "dynamodb:Query", "dynamodb:BatchGetItem", "dynamodb:DescribeTable"],
        &[
            "arn:${AWS::Partition}:dynamodb:${AWS::Region}:${AWS::AccountId}:table/{}",
            "arn:${AWS::Partition}:dynamodb:${AWS::Region}:${AWS::AccountId}:table/{}/index/*",
        ],
    ),
    (
        "DynamoDBWritePolicy",
        "TableName",
        &["dynamodb:PutItem", "dynamodb:UpdateItem", "dynamodb:BatchWriteItem"],
        &[
            "arn:${AWS::Partition}:dynamodb:${AWS::Region}:${AWS::AccountId}:table/{}",
            "arn:${AWS::Partition}:dynamodb:${AWS::Region}:${AWS::AccountId}:table/{}/index/*",
        ],
    ),
    (
        "SQSSendMessagePolicy",
        "QueueName",
        &["sqs:SendMessage*"],
        &["arn:${AWS::Partition}:sqs:${AWS::Region}:${AWS::AccountId}:{}"],
    ),
    (
        "SQSPollerPolicy",
        "QueueName",
        &[
            "sqs:ChangeMessageVisibility",
            "sqs:ChangeMessageVisibilityBatch",
            "sqs:DeleteMessage",
            "sqs:DeleteMessageBatch",
            "sqs:GetQueueAttributes",
            "sqs:ReceiveMessage",
        ],
        &["arn:${AWS::Partition}:sqs:${AWS::Region}:${AWS::AccountId}:{}"],
    ),
    ("AWSSecretsManagerGetSecretValuePolicy", "SecretArn", &["secretsmanager:GetSecretValue"], &["{}"]),
];

fn as_list(value: &Value) -> Vec<Value> {
    match value {
        Value::Array(items) => items.clone(),
        Value::Null => Vec::new(),
        other => vec![other.clone()],
    }
}

/// The policy document that a function's `Policies` (`policies`, as in the template)
/// grant, with every intrinsic resolved by `resolver`. Managed policy names are not
/// expanded (an error names them).
pub fn policy_document(logical_id: &str, policies: &Value, resolver: &Resolver) -> Result<Value, TemplateError> {
    let mut statements = Vec::new();
    for (index, policy) in as_list(policies).iter().enumerate() {
        let Some(policy) = policy.as_object() else {
            return Err(TemplateError(format!(
                "{logical_id}.Policies[{index}] ({policy}) is a managed policy; only SAM policy templates and inline \
                 statements are expanded"
            )));
        };
        for (name, argument) in policy {
            if name == "Statement" {
                for statement in as_list(argument) {
                    statements.push(resolver.resolve(&statement)?);
                }
                continue;
            }
            if name == "Version" {
                continue;
            }
            let Some((_, parameter, actions, resources)) = SAM_TEMPLATES.iter().find(|(n, ..)| n == name) else {
                return Err(TemplateError(format!(
                    "{logical_id}.Policies[{index}]: the SAM policy template {name} is not known here; add its \
                     definition from SAM's policy_templates.json"
                )));
            };
            let value = resolver.resolve(&argument[*parameter])?;
            let Some(value) = value.as_str() else {
                return Err(TemplateError(format!("{logical_id}.Policies[{index}].{name}.{parameter} is missing")));
            };
            let resources: Vec<Value> = resources
                .iter()
                .map(|pattern| resolver.resolve(&json!({ "Fn::Sub": pattern.replace("{}", value) })))
                .collect::<Result<_, _>>()?;
            statements.push(json!({ "Effect": "Allow", "Action": actions, "Resource": resources }));
        }
    }
    Ok(json!({ "Version": VERSION, "Statement": statements }))
}

/// SQS actions whose batch form AWS authorises with the single action's permission
/// (`SendMessageBatch` needs `sqs:SendMessage`), while moto checks the batch
/// action's own name.
const SQS_BATCHED: &[&str] = &["sqs:SendMessage", "sqs:DeleteMessage", "sqs:ChangeMessageVisibility"];

/// Services for which moto compares a statement's resources with the request's.
const RESOURCE_AWARE: &[&str] = &["sqs", "iam", "sts"];

/// `policy` as moto can enforce it: same actions, resources widened to `*` where moto
/// does not know the request's resource, transaction actions added where the item
/// actions are granted (see the module documentation).
pub fn moto_enforceable(policy: &Value) -> Value {
    let mut statements = Vec::new();
    for statement in as_list(&policy["Statement"]) {
        let actions: Vec<String> =
            as_list(&statement["Action"]).iter().filter_map(Value::as_str).map(str::to_owned).collect();
        if actions.is_empty() || statement["Effect"] != "Allow" {
            statements.push(statement);
            continue;
        }
        let granted = |action: &str| actions.iter().any(|a| a == action);
        let mut blind: Vec<String> = Vec::new();
        let mut aware: Vec<String> = Vec::new();
        for action in &actions {
            let service = action.split(':').next().unwrap_or_default();
            if RESOURCE_AWARE.contains(&service) {
                aware.push(action.clone())
            } else {
                blind.push(action.clone())
            }
            if SQS_BATCHED.contains(&action.as_str()) {
                aware.push(format!("{action}Batch"));
            }
        }
        if ["dynamodb:PutItem", "dynamodb:UpdateItem", "dynamodb:DeleteItem", "dynamodb:ConditionCheckItem"]
            .iter()
            .any(|a| granted(a))
        {
            blind.push("dynamodb:TransactWriteItems".into());
        }
        if granted("dynamodb:GetItem") {
            blind.push("dynamodb:TransactGetItems".into());
        }
        let mut base: Map<String, Value> = statement.as_object().cloned().unwrap_or_default();
        base.remove("Sid");
        if !aware.is_empty() {
            let mut s = base.clone();
            s.insert("Action".into(), json!(aware));
            statements.push(Value::Object(s));
        }
        if !blind.is_empty() {
            let mut s = base;
            s.insert("Action".into(), json!(blind));
            s.insert("Resource".into(), json!("*"));
            statements.push(Value::Object(s));
        }
    }
    json!({ "Version": VERSION, "Statement": statements })
}

/// An SDK configuration for the moto server that signs with `keys`.
pub async fn sdk_config(keys: &AccessKeys) -> SdkConfig {
    let credentials =
        Credentials::new(keys.access_key_id.clone(), keys.secret_access_key.clone(), None, None, "textbridge-iam");
    moto::sdk_config_signed_by(credentials).await
}

/// Creates the IAM user `name` with `policy` as its only (inline) policy and returns
/// a new access key of it.
pub async fn create_user(sdk: &SdkConfig, name: &str, policy: &Value) -> Result<AccessKeys, String> {
    let iam = aws_sdk_iam::Client::new(sdk);
    iam.create_user().user_name(name).send().await.map_err(|e| format!("CreateUser {name}: {e:?}"))?;
    iam.put_user_policy()
        .user_name(name)
        .policy_name("template-grants")
        .policy_document(policy.to_string())
        .send()
        .await
        .map_err(|e| format!("PutUserPolicy {name}: {e:?}"))?;
    let key = iam
        .create_access_key()
        .user_name(name)
        .send()
        .await
        .map_err(|e| format!("CreateAccessKey {name}: {e:?}"))?
        .access_key
        .ok_or_else(|| format!("CreateAccessKey {name}: no key in the answer"))?;
    Ok(AccessKeys { access_key_id: key.access_key_id, secret_access_key: key.secret_access_key })
}

static ADMIN: OnceCell<AccessKeys> = OnceCell::const_new();

/// Turns on IAM enforcement on this test process's moto server ([`moto::endpoint`])
/// and returns the keys of an administrator (`*` on `*`) made just before, for
/// creating resources and users from then on.
///
/// Enforcement holds for the rest of the process: every later call to that server
/// must be signed by an IAM user's keys, so [`moto::backend`] and
/// [`moto::sdk_config`] (dummy keys) stop working. Use it in a test binary of its own.
///
/// # Panics
///
/// When moto refuses the set-up.
pub async fn enforce_iam() -> AccessKeys {
    ADMIN
        .get_or_init(|| async {
            let open = moto::sdk_config().await;
            let admin_policy = json!({
                "Version": VERSION,
                "Statement": [{ "Effect": "Allow", "Action": "*", "Resource": "*" }],
            });
            let keys = create_user(&open, "textbridge-test-admin", &admin_policy)
                .await
                .unwrap_or_else(|e| panic!("admin user on moto: {e}"));
            let url = format!("{}/moto-api/reset-auth", moto::endpoint());
            let answer = textbridge_http::builder()
                .build()
                .expect("client")
                .post(&url)
                .body("0")
                .send()
                .await
                .unwrap_or_else(|e| panic!("POST {url}: {e}"));
            assert!(answer.status().is_success(), "POST {url}: {}", answer.status());
            keys
        })
        .await
        .clone()
}
