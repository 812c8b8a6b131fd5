//! The ATS sync's cases on the embedded backend, against the stand-in ATS through
//! the real directory connector (the same cases run on moto in `textbridge-lambda`).

use std::{sync::Arc, time::Duration};

use textbridge_app::ports::AtsDirectory;
use textbridge_testkit::sync_cases;

fn directory() -> Arc<dyn AtsDirectory> {
    Arc::new(textbridge_ats::Directory::new(Duration::from_secs(5), Duration::from_secs(2)))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_sync_follows_every_rule_on_the_embedded_backend() {
    let embedded = textbridge_embedded::Embedded::open_temporary().expect("embedded");
    sync_cases::the_sync_follows_every_rule(embedded.backend(), directory(), "sync-rules").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failed_page_resumes_on_the_embedded_backend() {
    let embedded = textbridge_embedded::Embedded::open_temporary().expect("embedded");
    sync_cases::a_failed_page_resumes_where_it_stopped(embedded.backend(), directory(), "sync-resume").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tenants_sync_independently_on_the_embedded_backend() {
    let embedded = textbridge_embedded::Embedded::open_temporary().expect("embedded");
    sync_cases::tenants_sync_independently(embedded.backend(), directory()).await;
}
