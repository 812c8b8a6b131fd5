//! Test support shared by the workspace: the port contract suite that every backend
//! must pass, seeding through the ports, local stand-ins for the TempWorks, Zipwhip
//! and Twilio APIs (`tempworks`, `zipwhip`, `twilio`) and an ATS directory
//! (`ats_directory`), the racing calls (`races`), the ATS sync's cases
//! (`sync_cases`), the benchmarks' common summary (`bench`), and (feature `aws`) a moto server harness
//! for the AWS backend and a local Lambda Runtime API that runs the release
//! bootstraps against it (`lambda_runtime`).

#![allow(clippy::unwrap_used)] // test support: a failed expectation is a panic

pub mod access;
pub mod ats_directory;
pub mod bench;
pub mod contract;
pub mod counting;
pub mod imports;
#[cfg(feature = "aws")]
pub mod lambda_runtime;
#[cfg(feature = "aws")]
pub mod moto;
pub mod races;
pub mod seed;
pub mod sending;
pub mod sync_cases;
pub mod tempworks;
pub mod twilio;
pub mod uploads;
pub mod zipwhip;
