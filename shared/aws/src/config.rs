//! Where the AWS resources are, read from the environment, and the backend built on them.

use std::fmt;
use std::sync::Arc;

use aws_config::SdkConfig;
use textbridge_app::Backend;

use crate::{DynamoStore, SecretsManagerStore, SqsQueue};

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
        let var = |variable: &'static str| {
            lookup(variable).map(|v| v.trim().to_owned()).filter(|v| !v.is_empty()).ok_or(ConfigError { variable })
        };
        Ok(Self {
            table_name: var("TABLE_NAME")?,
            intake_queue_url: var("INTAKE_QUEUE_URL")?,
            intake_dlq_url: var("INTAKE_DLQ_URL")?,
            secrets_prefix: var("SECRETS_PREFIX")?,
        })
    }
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
