//! The users router: texting users, licences, teams, imports, permission groups
//! (`GET /permission-groups`, `PUT /permission-groups/{name}` with `{"can_text": true}`)
//! and the caller's own identity (`GET /users/me`).

use std::sync::Arc;

use axum::{
    Json, Router,
    extract::State,
    routing::{get, put},
};
use serde::Serialize;
use textbridge_app::{
    App,
    groups::{self, GroupSettings, GroupView},
};
use textbridge_domain::Role;

use crate::{ApiError, ApiJson, ApiPath, Caller, health};

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

async fn set_group(
    State(app): State<Arc<App>>,
    Caller(caller): Caller,
    ApiPath(name): ApiPath<String>,
    ApiJson(settings): ApiJson<GroupSettings>,
) -> Result<Json<GroupView>, ApiError> {
    Ok(Json(groups::set(&app, &caller, &name, settings).await?))
}

async fn list_groups(State(app): State<Arc<App>>, Caller(caller): Caller) -> Result<Json<Vec<GroupView>>, ApiError> {
    Ok(Json(groups::list(&app, &caller).await?))
}

/// The users function's routes (without the finishing layers; see [`crate::finish`]).
pub fn router(app: Arc<App>) -> Router {
    health::routes("/users/health")
        .route("/users/me", get(me))
        .route("/permission-groups", get(list_groups))
        .route("/permission-groups/{name}", put(set_group))
        .with_state(app)
}
