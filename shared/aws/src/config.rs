//! Where the AWS resources are, read from the environment, and the backend built on them.

use std::fmt;
use std::sync::Arc;

use aws_config::{BehaviorVersion, Region, SdkConfig};
use aws_sdk_dynamodb::config::{Credentials, SharedCredentialsProvider};
use textbridge_app::Backend;

use crate::{DynamoStore, SecretsManagerStore, SqsQueue};

/// A variable's value through `lookup`, trimmed; empty counts as unset.
fn value(lookup: impl Fn(&str) -> Option<String>, variable: &str) -> Option<String> {
    lookup(variable).map(|v| v.trim().to_owned()).filter(|v| !v.is_empty())
}

/// The AWS resources of one deployment, as the SAM template passes them to every
/// function.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AwsConfig {
    /// The DynamoDB table (`TABLE_NAME`).
    pub table_name: String,
    /// The intake queue's URL (`INTAKE_QUEUE_URL`).
    pub intake_queue_url: String,
    /// The intake dead-letter queue's URL (`INTAKE_DLQ_URL`).
    pub intake_dlq_url: String,
    /// The prefix of every secret's name, e.g. `textbridge/dev/` (`SECRETS_PREFIX`).
    pub secrets_prefix: String,
}

/// A required environment variable is missing or empty.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigError {
    /// The variable's name.
    pub variable: &'static str,
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "environment variable {} is missing or empty", self.variable)
    }
}

impl std::error::Error for ConfigError {}

impl From<ConfigError> for textbridge_domain::Error {
    fn from(e: ConfigError) -> Self {
        textbridge_domain::Error::unexpected(e)
    }
}

impl AwsConfig {
    /// Reads `TABLE_NAME`, `INTAKE_QUEUE_URL`, `INTAKE_DLQ_URL` and `SECRETS_PREFIX`.
    pub fn from_env() -> Result<Self, ConfigError> {
        Self::from_lookup(|name| std::env::var(name).ok())
    }

    /// Reads the same variables through `lookup` (for tests and other sources).
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        let var = |variable: &'static str| value(&lookup, variable).ok_or(ConfigError { variable });
        Ok(Self {
            table_name: var("TABLE_NAME")?,
            intake_queue_url: var("INTAKE_QUEUE_URL")?,
            intake_dlq_url: var("INTAKE_DLQ_URL")?,
            secrets_prefix: var("SECRETS_PREFIX")?,
        })
    }
}

/// The SDK configuration of a Lambda function, built from the variables Lambda sets:
/// `AWS_REGION` (or `AWS_DEFAULT_REGION`), the execution role's `AWS_ACCESS_KEY_ID`,
/// `AWS_SECRET_ACCESS_KEY` and `AWS_SESSION_TOKEN`, and `AWS_ENDPOINT_URL` when set
/// (every service at one endpoint, e.g. a local emulator).
///
/// Nothing else is consulted: no profile files, no instance metadata, no single
/// sign-on or web-identity exchange. A function never uses them, and leaving the
/// SDK's general loader out keeps their code out of the binary and its start-up. The
/// HTTP client ([`crate::sdk_http_client`]) is built on the first request.
pub fn sdk_config_from_env(lookup: impl Fn(&str) -> Option<String>) -> Result<SdkConfig, ConfigError> {
    let var = |variable: &str| value(&lookup, variable);
    let required = |variable: &'static str| var(variable).ok_or(ConfigError { variable });
    let region =
        var("AWS_REGION").or_else(|| var("AWS_DEFAULT_REGION")).ok_or(ConfigError { variable: "AWS_REGION" })?;
    let credentials = Credentials::new(
        required("AWS_ACCESS_KEY_ID")?,
        required("AWS_SECRET_ACCESS_KEY")?,
        var("AWS_SESSION_TOKEN"),
        None,
        "environment",
    );
    let mut sdk = SdkConfig::builder()
        .behavior_version(BehaviorVersion::latest())
        .http_client(crate::sdk_http_client())
        .region(Region::new(region))
        .credentials_provider(SharedCredentialsProvider::new(credentials));
    if let Some(endpoint) = var("AWS_ENDPOINT_URL") {
        sdk = sdk.endpoint_url(endpoint);
    }
    Ok(sdk.build())
}

/// The AWS backend: one client per service, built once from `sdk` (e.g.
/// `aws_config::load_defaults(BehaviorVersion::latest())`, which honours
/// `AWS_ENDPOINT_URL` and `AWS_ENDPOINT_URL_<SERVICE>`), shared by every request.
pub async fn backend(sdk: &SdkConfig, cfg: &AwsConfig) -> Backend {
    let dynamodb = aws_sdk_dynamodb::Client::new(sdk);
    let sqs = aws_sdk_sqs::Client::new(sdk);
    let secrets = aws_sdk_secretsmanager::Client::new(sdk);
    Backend {
        store: Arc::new(DynamoStore::new(dynamodb, &cfg.table_name)),
        queue: Arc::new(SqsQueue::new(sqs, &cfg.intake_queue_url, &cfg.intake_dlq_url)),
        secrets: Arc::new(SecretsManagerStore::new(secrets, &cfg.secrets_prefix)),
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use super::*;

    fn env(pairs: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> {
        let map: HashMap<String, String> = pairs.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())).collect();
        move |name| map.get(name).cloned()
    }

    const FULL: [(&str, &str); 4] = [
        ("TABLE_NAME", "textbridge-dev"),
        ("INTAKE_QUEUE_URL", "https://sqs.us-east-1.amazonaws.com/1/textbridge-dev-intake"),
        ("INTAKE_DLQ_URL", "https://sqs.us-east-1.amazonaws.com/1/textbridge-dev-intake-dlq"),
        ("SECRETS_PREFIX", "textbridge/dev/"),
    ];

    #[test]
    fn reads_all_four_variables() {
        let cfg = AwsConfig::from_lookup(env(&FULL)).expect("config");
        assert_eq!(cfg.table_name, "textbridge-dev");
        assert_eq!(cfg.intake_queue_url, FULL[1].1);
        assert_eq!(cfg.intake_dlq_url, FULL[2].1);
        assert_eq!(cfg.secrets_prefix, "textbridge/dev/");
    }

    #[test]
    fn the_sdk_configuration_comes_from_lambdas_variables_only() {
        let lambda = [
            ("AWS_REGION", "eu-west-1"),
            ("AWS_DEFAULT_REGION", "us-east-2"),
            ("AWS_ACCESS_KEY_ID", "AKIDEXAMPLE"),
            ("AWS_SECRET_ACCESS_KEY", "wJalrXUtnFEMI"),
            ("AWS_SESSION_TOKEN", "token"),
        ];
        let sdk = sdk_config_from_env(env(&lambda)).expect("config");
        assert_eq!(sdk.region().map(|r| r.as_ref()), Some("eu-west-1"));
        assert_eq!(sdk.endpoint_url(), None);
        assert!(sdk.credentials_provider().is_some());
        assert!(sdk.behavior_version().is_some());
        assert!(sdk.http_client().is_some(), "one client for every service");

        let mut local = lambda[1..].to_vec();
        local.push(("AWS_ENDPOINT_URL", "http://127.0.0.1:5000"));
        let sdk = sdk_config_from_env(env(&local)).expect("config");
        assert_eq!(sdk.region().map(|r| r.as_ref()), Some("us-east-2"));
        assert_eq!(sdk.endpoint_url(), Some("http://127.0.0.1:5000"));

        for (i, (name, _)) in lambda.iter().enumerate().skip(2).take(2) {
            let mut missing = lambda.to_vec();
            missing.remove(i);
            assert_eq!(sdk_config_from_env(env(&missing)).expect_err("missing").variable, *name);
        }
        let err = sdk_config_from_env(env(&lambda[2..])).expect_err("no region");
        assert_eq!(err.variable, "AWS_REGION");
    }

    #[tokio::test]
    async fn the_credentials_are_the_roles() {
        let lambda = [
            ("AWS_REGION", "eu-west-1"),
            ("AWS_ACCESS_KEY_ID", "AKIDEXAMPLE"),
            ("AWS_SECRET_ACCESS_KEY", "wJalrXUtnFEMI"),
        ];
        let sdk = sdk_config_from_env(env(&lambda)).expect("config");
        let provider = sdk.credentials_provider().expect("provider");
        let credentials =
            aws_sdk_dynamodb::config::ProvideCredentials::provide_credentials(&provider).await.expect("credentials");
        assert_eq!(credentials.access_key_id(), "AKIDEXAMPLE");
        assert_eq!(credentials.session_token(), None);
    }

    #[test]
    fn missing_or_empty_variables_are_named() {
        for (i, (name, _)) in FULL.iter().enumerate() {
            let mut missing = FULL.to_vec();
            missing.remove(i);
            let err = AwsConfig::from_lookup(env(&missing)).expect_err("missing");
            assert_eq!(err.variable, *name);
            assert!(err.to_string().contains(name));

            let mut empty = FULL.to_vec();
            empty[i].1 = "  ";
            assert_eq!(AwsConfig::from_lookup(env(&empty)).expect_err("empty").variable, *name);
        }
    }
}
