//! Health: checks that each port this deployment has answers (and only those: a
//! function is never asked to reach a port its IAM role does not grant).

use serde::Serialize;

use crate::{
    App,
    ports::{Key, PortError, SecretName},
};

/// The outcome of one health check.
#[derive(Debug, Clone, Serialize, PartialEq, Eq, utoipa::ToSchema)]
pub struct Health {
    /// `ok` when every check passed, else `degraded`.
    pub status: &'static str,
    /// Each port's result: `ok` or `error`.
    pub checks: Checks,
}

/// Per-port results; a port this deployment does not have is absent.
#[derive(Debug, Clone, Serialize, PartialEq, Eq, utoipa::ToSchema)]
pub struct Checks {
    /// The item store.
    pub store: &'static str,
    /// The queue.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub queue: Option<&'static str>,
    /// The secret store.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub secrets: Option<&'static str>,
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

/// Reads a reserved key, the queue depth and a reserved secret name, concurrently,
/// for the ports `app` has.
pub async fn check(app: &App) -> Health {
    let probe_key = Key::new("T#_health", "PROBE");
    let store = async { verdict("store", app.store.get(&probe_key).await.map(drop)) };
    let queue = async {
        match app.queue_port() {
            Some(queue) => Some(verdict("queue", queue.depth().await.map(drop))),
            None => None,
        }
    };
    let secrets = async {
        let secrets = app.secrets_port()?;
        let result = async {
            let name =
                SecretName::from_parts(&["_health", "probe"]).map_err(|e| PortError::Unexpected(e.to_string()))?;
            match secrets.get(&name).await {
                Ok(_) | Err(PortError::NotFound(_)) => Ok(()),
                Err(e) => Err(e),
            }
        }
        .await;
        Some(verdict("secrets", result))
    };
    let (store, queue, secrets) = tokio::join!(store, queue, secrets);
    let checks = Checks { store, queue, secrets };
    let all_ok = [Some(store), queue, secrets].into_iter().flatten().all(|c| c == "ok");
    Health { status: if all_ok { "ok" } else { "degraded" }, checks }
}
