//! `GET …/health`: unauthenticated, 200 when every port of the deployment answers,
//! else 503 (see `textbridge_app::health`). Each function serves it under its own
//! prefix, so that each can be checked on its own.

use std::sync::Arc;

use axum::{Json, Router, extract::State, http::StatusCode, routing::get};
use textbridge_app::{
    App,
    health::{Health, check},
};

use crate::ApiError;

async fn handler(State(app): State<Arc<App>>) -> (StatusCode, Json<Health>) {
    let health = check(&app).await;
    let status = if health.status == "ok" { StatusCode::OK } else { StatusCode::SERVICE_UNAVAILABLE };
    (status, Json(health))
}

/// Declares the health check at one path: its handler and its OpenAPI description.
macro_rules! health_at {
    ($(#[$doc:meta])* $name:ident, $path:literal) => {
        $(#[$doc])*
        #[utoipa::path(get, path = $path, tag = "health", security(()),
            responses(
                (status = 200, description = "Every port of the deployment answers", body = Health),
                (status = 503, description = "A port does not answer (`checks` says which)", body = Health),
                ApiError,
            ))]
        pub async fn $name(state: State<Arc<App>>) -> (StatusCode, Json<Health>) {
            handler(state).await
        }
    };
}

health_at!(
    /// The local server's health check.
    server,
    "/health"
);
health_at!(
    /// The credentials function's health check.
    credentials,
    "/credentials/health"
);
health_at!(
    /// The intake function's health check.
    intake,
    "/webhooks/health"
);
health_at!(
    /// The records function's health check.
    records,
    "/records/health"
);
health_at!(
    /// The users function's health check.
    users,
    "/users/health"
);
health_at!(
    /// The imports function's health check.
    imports,
    "/users/imports/health"
);

/// `GET /health`: the local server's health check.
pub fn routes() -> Router<Arc<App>> {
    Router::new().route("/health", get(server))
}
