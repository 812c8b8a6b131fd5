//! Test support shared by the workspace: the port contract suite that every backend
//! must pass, and a moto server harness for the AWS backend.

pub mod contract;
pub mod moto;
