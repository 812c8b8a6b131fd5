//! The port contract suite against the AWS backend, on a moto server.

textbridge_testkit::contract_suite!(textbridge_testkit::moto::backend().await);
