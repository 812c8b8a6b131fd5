//! End-to-end tests of the real `textbridge` binary and of the use-cases behind the
//! routers, in one test binary.

#![allow(clippy::unwrap_used)]
#![allow(dead_code)]

mod architecture;
mod archiver;
mod archiving;
mod bad_input;
mod browser;
mod common;
mod console;
mod contract;
mod conversations;
mod crash;
mod credentials;
mod http_errors;
mod import;
mod intake;
mod logs;
mod serve;
mod soak;
mod sync;
mod users;
