//! Health: checks that the store, the queue and the secret store answer.

use std::sync::Arc;

use axum::{Json, Router, extract::State, http::StatusCode, routing::get};
use serde::Serialize;

use crate::{
    App, Backend,
    ports::{Key, PortError, SecretName},
};

/// The outcome of one health check.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct Health {
    /// `ok` when every check passed, else `degraded`.
    pub status: &'static str,
    /// Each port's result: `ok` or `error`.
    pub checks: Checks,
}

/// Per-port results.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct Checks {
    /// The item store.
    pub store: &'static str,
    /// The queue.
    pub queue: &'static str,
    /// The secret store.
    pub secrets: &'static str,
}

fn verdict(port: &str, result: Result<(), PortError>) -> &'static str {
    match result {
        Ok(()) => "ok",
        Err(e) => {
            tracing::warn!(port, error = %e, "health check failed");
            "error"
        }
    }
}

/// Reads a reserved key, the queue depth and a reserved secret name, concurrently.
pub async fn check(backend: &Backend) -> Health {
    let probe_key = Key::new("T#_health", "PROBE");
    let store = async { backend.store.get(&probe_key).await.map(drop) };
    let queue = async { backend.queue.depth().await.map(drop) };
    let secrets = async {
        let name = SecretName::from_parts(&["_health", "probe"]).map_err(|e| PortError::Unexpected(e.to_string()))?;
        match backend.secrets.get(&name).await {
            Ok(_) | Err(PortError::NotFound(_)) => Ok(()),
            Err(e) => Err(e),
        }
    };
    let (store, queue, secrets) = tokio::join!(store, queue, secrets);
    let checks =
        Checks { store: verdict("store", store), queue: verdict("queue", queue), secrets: verdict("secrets", secrets) };
    let all_ok = [checks.store, checks.queue, checks.secrets].iter().all(|c| *c == "ok");
    Health { status: if all_ok { "ok" } else { "degraded" }, checks }
}

async fn handler(State(app): State<Arc<App>>) -> (StatusCode, Json<Health>) {
    let health = check(&app.backend).await;
    let status = if health.status == "ok" { StatusCode::OK } else { StatusCode::SERVICE_UNAVAILABLE };
    (status, Json(health))
}

/// `GET {path}`: the health check, unauthenticated, 200 or 503.
pub fn routes(path: &str) -> Router<Arc<App>> {
    Router::new().route(path, get(handler))
}
