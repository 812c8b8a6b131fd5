//! The users function: texting users, licences, teams, imports and the caller's own
//! identity.

use std::sync::Arc;

use axum::{Json, Router, routing::get};
use serde::Serialize;
use textbridge_app::{App, auth::Caller, health};
use textbridge_domain::Role;

/// The caller as Textbridge sees them.
#[derive(Debug, Serialize)]
pub struct Me {
    /// Tenant id.
    pub tenant: String,
    /// User id.
    pub user_id: String,
    /// Username.
    pub username: String,
    /// Role.
    pub role: Role,
    /// Permission group.
    pub permission_group: String,
}

async fn me(Caller(id): Caller) -> Json<Me> {
    Json(Me {
        tenant: id.tenant.to_string(),
        user_id: id.user_id.to_string(),
        username: id.username.to_string(),
        role: id.role,
        permission_group: id.permission_group.to_string(),
    })
}

/// The function's routes (without the finishing layers; see `textbridge_app::http::finish`).
pub fn router(app: Arc<App>) -> Router {
    health::routes("/users/health").route("/users/me", get(me)).with_state(app)
}
