//! The Lambda entry points as deployed: API Gateway events through `lambda_http`,
//! SQS batches through the archiver's entry, on the embedded backend and on moto.

#![allow(clippy::unwrap_used)]

mod aws;
mod http;
mod sqs;
