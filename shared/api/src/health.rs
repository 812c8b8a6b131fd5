//! `GET …/health`: unauthenticated, 200 when every port of the deployment answers,
//! else 503 (see `textbridge_app::health`).

use std::sync::Arc;

use axum::{Json, Router, extract::State, http::StatusCode, routing::get};
use textbridge_app::{
    App,
    health::{Health, check},
};

async fn handler(State(app): State<Arc<App>>) -> (StatusCode, Json<Health>) {
    let health = check(&app).await;
    let status = if health.status == "ok" { StatusCode::OK } else { StatusCode::SERVICE_UNAVAILABLE };
    (status, Json(health))
}

/// `GET {path}`: the health check.
pub fn routes(path: &str) -> Router<Arc<App>> {
    Router::new().route(path, get(handler))
}
