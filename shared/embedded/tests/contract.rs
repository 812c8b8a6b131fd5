//! The port contract suite on the embedded backend: every check on a fresh backend in
//! its own temporary directory (removed when the test's backend is dropped).

textbridge_testkit::contract_suite!(
    textbridge_embedded::Embedded::open_temporary().expect("a temporary embedded backend").backend()
);
