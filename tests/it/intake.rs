//! Intake answers 2xx only once the events are durably queued: with the queue down
//! it answers 503 so the provider retries, and nothing is half-accepted.

use std::{sync::Arc, time::Duration};

use async_trait::async_trait;
use axum::{body::Body, http::Request};
use http_body_util::BodyExt;
use serde_json::Value;
use textbridge_app::{
    App, Backend, Config,
    ports::{DeadLetter, PortError, PortResult, Queue, QueueDepth, Received},
};
use textbridge_domain::TenantId;
use textbridge_testkit::seed;
use tower::ServiceExt;

/// A queue whose backend is unreachable.
struct DownQueue;

#[async_trait]
impl Queue for DownQueue {
    async fn send(&self, _: &str) -> PortResult<String> {
        Err(PortError::Retryable("connection refused".into()))
    }
    async fn send_batch(&self, _: &[String]) -> PortResult<Vec<String>> {
        Err(PortError::Retryable("connection refused".into()))
    }
    async fn receive(&self, _: u32, _: Duration) -> PortResult<Vec<Received>> {
        Err(PortError::Retryable("connection refused".into()))
    }
    async fn delete(&self, _: &str) -> PortResult<()> {
        Err(PortError::Retryable("connection refused".into()))
    }
    async fn hide(&self, _: &str, _: Duration) -> PortResult<()> {
        Err(PortError::Retryable("connection refused".into()))
    }
    async fn dead_letters(&self, _: u32) -> PortResult<Vec<DeadLetter>> {
        Err(PortError::Retryable("connection refused".into()))
    }
    async fn replay(&self, _: Option<&[String]>) -> PortResult<u32> {
        Err(PortError::Retryable("connection refused".into()))
    }
    async fn depth(&self) -> PortResult<QueueDepth> {
        Err(PortError::Retryable("connection refused".into()))
    }
}

#[tokio::test]
async fn a_down_queue_is_a_503_the_provider_retries() {
    let embedded = textbridge_embedded::Embedded::open_temporary().expect("embedded");
    let local = embedded.backend();
    let backend = Backend { store: local.store, queue: Arc::new(DownQueue), secrets: local.secrets };
    let tenant = TenantId::parse("acme").expect("tenant");
    let token = "d".repeat(48);
    seed::textus_registration(&backend, &tenant, &token, "whsec-1").await;
    let providers = textbridge_providers::registry(&textbridge_providers::Endpoints::from_env().expect("endpoints"));
    let app = App::on(backend, Config::default()).with_providers(providers).shared();
    let clock = Arc::new(textbridge_app::ports::SystemClock);
    let uploads =
        Arc::new(textbridge_embedded::LocalUploads::open(&embedded, "http://127.0.0.1", clock).await.expect("uploads"));
    let router = || textbridge::router(&app, Arc::new(textbridge::DevKey::from_bytes(&[1; 32])), uploads.clone());

    let body = seed::textus_received("m1", "+12065550100", "+12065550199", "hi");
    let request = Request::post(format!("/webhooks/textus/{token}"))
        .header("content-type", "application/json")
        .header("x-textus-signature", seed::textus_signature("whsec-1", &body))
        .body(Body::from(body))
        .expect("request");
    let response = router().oneshot(request).await.expect("response");
    assert_eq!(response.status().as_u16(), 503);
    let bytes = response.into_body().collect().await.expect("body").to_bytes();
    let json: Value = serde_json::from_slice(&bytes).expect("json");
    assert_eq!(json["error"]["code"], "unavailable");

    let health = Request::get("/health").body(Body::empty()).expect("request");
    let response = router().oneshot(health).await.expect("response");
    assert_eq!(response.status().as_u16(), 503, "health reports the queue");
}
