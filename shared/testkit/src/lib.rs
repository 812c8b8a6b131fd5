//! Test support shared by the workspace: the port contract suite that every backend
//! must pass, a moto server harness for the AWS backend, and a local Lambda Runtime
//! API that runs the release bootstraps (`lambda_runtime`).

#![allow(clippy::unwrap_used)] // test support: a failed expectation is a panic

pub mod contract;
pub mod lambda_runtime;
pub mod moto;
pub mod seed;
