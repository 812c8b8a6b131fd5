//! Any bytes as a TextUs webhook body (JSON): read as the intake reads them, and every event
//! checked (see `textbridge_fuzz::parse_and_check`).
#![no_main]

use libfuzzer_sys::fuzz_target;
use textbridge_domain::ProviderKind;

fuzz_target!(|body: &[u8]| textbridge_fuzz::parse_and_check(ProviderKind::TextUs, body));
