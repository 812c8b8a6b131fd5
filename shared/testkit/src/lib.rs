//! Test support shared by the workspace: the port contract suite that every backend
//! must pass, and a moto server harness for the AWS backend.

#![allow(clippy::unwrap_used)] // test support: a failed expectation is a panic

pub mod contract;
pub mod moto;
pub mod seed;
