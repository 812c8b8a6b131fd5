//! The AWS adapters of the ports: the item store on one DynamoDB table, the intake
//! queue on SQS (with its dead-letter queue), secrets in Secrets Manager and
//! uploaded import files on S3.
//!
//! [`schema`] holds the one definition of the table and queues; [`backend`] builds
//! all three adapters from an [`aws_config::SdkConfig`] and an [`AwsConfig`].

mod config;
mod dynamo;
mod error;
mod http;
mod s3;
pub mod schema;
mod secrets;
mod sqs;

pub use config::{AwsConfig, ConfigError, backend, sdk_config_from_env};
pub use dynamo::DynamoStore;
pub use http::sdk_http_client;
pub use s3::{S3, S3Failure, S3Uploads, SMALL_ANSWER};
pub use secrets::SecretsManagerStore;
pub use sqs::SqsQueue;

/// The AWS SDK crates the adapters are built on, for callers that build clients.
pub use {aws_config, aws_sdk_dynamodb, aws_sdk_secretsmanager, aws_sdk_sqs};
