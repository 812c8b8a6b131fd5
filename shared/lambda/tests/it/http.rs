//! The users router as deployed: real API Gateway HTTP API events through
//! `lambda_http`, identity from the JWT authorizer's claims only.

use http_body_util::BodyExt;
use serde_json::Value;
use textbridge_app::{App, Config};
use tower::ServiceExt;

const FIXTURE: &str = include_str!("fixtures/apigw-v2-me.json");

async fn call(event: &str) -> (u16, Option<String>, Value) {
    let dir = tempfile::tempdir().expect("tempdir");
    let embedded = textbridge_embedded::open(dir.path()).await.expect("embedded");
    let app = App::on_store(embedded.backend().store, Config::default()).shared();
    let request = lambda_http::request::from_str(event).expect("event");
    let response =
        textbridge_lambda::as_deployed(textbridge_api::users::router(app)).oneshot(request).await.expect("response");
    let status = response.status().as_u16();
    let request_id = response.headers().get("x-request-id").and_then(|v| v.to_str().ok()).map(str::to_owned);
    let bytes = response.into_body().collect().await.expect("body").to_bytes();
    (status, request_id, serde_json::from_slice(&bytes).unwrap_or(Value::Null))
}

fn without_claim(claim: &str) -> String {
    let mut event: Value = serde_json::from_str(FIXTURE).expect("fixture");
    event["requestContext"]["authorizer"]["jwt"]["claims"].as_object_mut().expect("claims").remove(claim);
    event.to_string()
}

#[tokio::test]
async fn identity_comes_from_the_jwt_authorizer_claims() {
    let (status, request_id, body) = call(FIXTURE).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(request_id.as_deref(), Some("JKJaXmPLvHcESHA="), "API Gateway's request id is reused");
    assert_eq!(body["tenant"], "acme");
    assert_eq!(body["user_id"], "u-42");
    assert_eq!(body["role"], "customer_admin");
    assert_eq!(body["permission_group"], "Recruiters");
}

#[tokio::test]
async fn missing_or_bad_claims_are_401() {
    for claim in ["tenant", "sub", "role"] {
        let (status, _, body) = call(&without_claim(claim)).await;
        assert_eq!(status, 401, "without {claim}");
        assert_eq!(body["error"]["code"], "unauthenticated");
        assert!(body["error"]["message"].as_str().unwrap_or_default().contains(claim), "{body}");
    }
    let mut event: Value = serde_json::from_str(FIXTURE).expect("fixture");
    event["requestContext"]["authorizer"]["jwt"]["claims"]["tenant"] = "ACME#1".into();
    assert_eq!(call(&event.to_string()).await.0, 401);
    event["requestContext"]["authorizer"] = Value::Null;
    assert_eq!(call(&event.to_string()).await.0, 401, "no authorizer: the Bearer header alone is never trusted");
}

#[tokio::test]
async fn health_needs_no_identity_and_unknown_routes_are_json_404() {
    let mut event: Value = serde_json::from_str(FIXTURE).expect("fixture");
    event["requestContext"]["authorizer"] = Value::Null;
    event["rawPath"] = "/users/health".into();
    event["requestContext"]["http"]["path"] = "/users/health".into();
    let (status, _, body) = call(&event.to_string()).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["status"], "ok");

    event["rawPath"] = "/users/me/nope".into();
    event["requestContext"]["http"]["path"] = "/users/me/nope".into();
    let (status, _, body) = call(&event.to_string()).await;
    assert_eq!(status, 404);
    assert_eq!(body["error"]["code"], "not_found");
}
