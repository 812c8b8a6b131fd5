//! The users router: texting users, licences, teams, permission groups, the outbox of
//! outgoing e-mail events, and the caller's own identity.
//!
//! | route | who | what |
//! |---|---|---|
//! | `GET /users/me` | anyone | the caller's identity |
//! | `GET·POST /users` | reporters+ read, managers+ add | list (filters, paging) / add |
//! | `GET·PATCH·DELETE /users/{id}` | self or reporters+ read; managers+ | read / edit names / revoke for good |
//! | `PUT /users/{id}/role`, `/permission-group`, `/team` | managers+ | convert role, set group, move team |
//! | `PUT /users/{id}/branch` | admins | the branch whose credentials the user falls back to |
//! | `POST /users/{id}/disable`, `/enable`, `/expire-password`, `/forgot-password` | managers+ | account actions |
//! | `POST /users/{id}/inboxes`, `DELETE /users/{id}/inboxes/{source}` | managers+ | other users' inboxes |
//! | `POST·DELETE /users/{id}/licence` | managers+ | assign (desired area code) / remove |
//! | `PUT·DELETE /users/{id}/ats-ids/{ats_id}` | managers+ | ATS user id mapping |
//! | `GET·POST /teams`, `PATCH /teams/{id}` | reporters+ read, managers+ | teams |
//! | `GET /licences`, `POST /licences/numbers` | reporters+ read, staff add | seats and numbers |
//! | `GET /permission-groups`, `PUT /permission-groups/{name}` | managers+, admins | permission groups |
//! | `GET /outbox` | admins | outgoing e-mail events |
//! | `/users/imports…`, `GET /users/report` | see [`crate::imports`] | user import and the users report |

use std::sync::Arc;

use axum::{
    Json, Router,
    extract::State,
    http::StatusCode,
    routing::{delete, get, post, put},
};
use serde::{Deserialize, Serialize};
use textbridge_app::{
    App,
    groups::{self, GroupSettings, GroupView},
    teams::{self, TeamInput, TeamView},
    users::{
        self, Added, Deleted, InboxInput, NamesInput, NewUserInput, NumbersInput, OutboxPage, SeatsView, UserFilter,
        UserPage, UserView,
    },
};
use textbridge_domain::{Role, UserId};
use utoipa::{IntoParams, ToSchema};

use crate::{ApiError, ApiJson, ApiPath, ApiQuery, Caller, health};

type Reply<T> = Result<Json<T>, ApiError>;

/// The caller as Textbridge sees them.
#[derive(Debug, Serialize, ToSchema)]
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

/// The caller as Textbridge sees them.
#[utoipa::path(get, path = "/users/me", tag = "users",
    responses((status = 200, description = "The caller's identity", body = Me), ApiError))]
async fn me(Caller(id): Caller) -> Json<Me> {
    Json(Me {
        tenant: id.tenant.to_string(),
        user_id: id.user_id.to_string(),
        username: id.username.to_string(),
        role: id.role,
        permission_group: id.permission_group.to_string(),
    })
}

/// A texting user named by the path (declared for the routes' description).
#[derive(IntoParams)]
#[into_params(parameter_in = Path)]
#[allow(dead_code)]
struct UserPath {
    /// Texting user id.
    id: String,
}

fn user_id(raw: &str) -> Result<UserId, ApiError> {
    Ok(UserId::parse(raw)?)
}

/// Sets a permission group's settings, creating it if new (admins).
#[utoipa::path(put, path = "/permission-groups/{name}", tag = "users",
    params(("name" = String, Path, description = "Permission group name")), request_body = GroupSettings,
    responses((status = 200, description = "The permission group", body = GroupView), ApiError))]
async fn set_group(
    State(app): State<Arc<App>>,
    Caller(caller): Caller,
    ApiPath(name): ApiPath<String>,
    ApiJson(settings): ApiJson<GroupSettings>,
) -> Reply<GroupView> {
    Ok(Json(groups::set(&app, &caller, &name, settings).await?))
}

/// Permission groups (managers and above).
#[utoipa::path(get, path = "/permission-groups", tag = "users",
    responses((status = 200, description = "The permission groups", body = Vec<GroupView>), ApiError))]
async fn list_groups(State(app): State<Arc<App>>, Caller(caller): Caller) -> Reply<Vec<GroupView>> {
    Ok(Json(groups::list(&app, &caller).await?))
}

/// Texting users, filtered and paged (reporters and above).
#[utoipa::path(get, path = "/users", tag = "users", params(UserFilter),
    responses((status = 200, description = "One page of users", body = UserPage), ApiError))]
async fn list_users(
    State(app): State<Arc<App>>,
    Caller(caller): Caller,
    ApiQuery(filter): ApiQuery<UserFilter>,
) -> Reply<UserPage> {
    Ok(Json(users::list(&app, &caller, filter).await?))
}

/// Adds a texting user (managers and above).
#[utoipa::path(post, path = "/users", tag = "users", request_body = NewUserInput,
    responses((status = 201, description = "The new user", body = Added), ApiError))]
async fn add_user(
    State(app): State<Arc<App>>,
    Caller(caller): Caller,
    ApiJson(input): ApiJson<NewUserInput>,
) -> Result<(StatusCode, Json<Added>), ApiError> {
    Ok((StatusCode::CREATED, Json(users::add(&app, &caller, input).await?)))
}

/// One texting user (themself, or reporters and above).
#[utoipa::path(get, path = "/users/{id}", tag = "users", params(UserPath),
    responses((status = 200, description = "The user", body = UserView), ApiError))]
async fn get_user(
    State(app): State<Arc<App>>,
    Caller(caller): Caller,
    ApiPath(id): ApiPath<String>,
) -> Reply<UserView> {
    Ok(Json(users::get(&app, &caller, &user_id(&id)?).await?))
}

/// Edits a user's names (managers and above).
#[utoipa::path(patch, path = "/users/{id}", tag = "users", params(UserPath), request_body = NamesInput,
    responses((status = 200, description = "The user", body = UserView), ApiError))]
async fn edit_user(
    State(app): State<Arc<App>>,
    Caller(caller): Caller,
    ApiPath(id): ApiPath<String>,
    ApiJson(input): ApiJson<NamesInput>,
) -> Reply<UserView> {
    Ok(Json(users::rename(&app, &caller, &user_id(&id)?, input).await?))
}

/// Revokes a user for good: licence freed, credentials removed (managers and above).
#[utoipa::path(delete, path = "/users/{id}", tag = "users", params(UserPath),
    responses((status = 200, description = "The user as revoked and the credentials removed", body = Deleted), ApiError))]
async fn delete_user(
    State(app): State<Arc<App>>,
    Caller(caller): Caller,
    ApiPath(id): ApiPath<String>,
) -> Reply<Deleted> {
    Ok(Json(users::delete(&app, &caller, &user_id(&id)?).await?))
}

/// A role to convert to.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(examples(json!({"role": "manager"})))]
struct RoleInput {
    #[schema(value_type = Role)]
    role: String,
}

/// Converts a user to another role (managers and above).
#[utoipa::path(put, path = "/users/{id}/role", tag = "users", params(UserPath), request_body = RoleInput,
    responses((status = 200, description = "The user", body = UserView), ApiError))]
async fn set_role(
    State(app): State<Arc<App>>,
    Caller(caller): Caller,
    ApiPath(id): ApiPath<String>,
    ApiJson(input): ApiJson<RoleInput>,
) -> Reply<UserView> {
    Ok(Json(users::set_role(&app, &caller, &user_id(&id)?, &input.role).await?))
}

/// A permission group to put a user in.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(examples(json!({"permission_group": "Default"})))]
struct GroupInput {
    permission_group: String,
}

/// Puts a user in a permission group (managers and above).
#[utoipa::path(put, path = "/users/{id}/permission-group", tag = "users", params(UserPath), request_body = GroupInput,
    responses((status = 200, description = "The user", body = UserView), ApiError))]
async fn set_user_group(
    State(app): State<Arc<App>>,
    Caller(caller): Caller,
    ApiPath(id): ApiPath<String>,
    ApiJson(input): ApiJson<GroupInput>,
) -> Reply<UserView> {
    Ok(Json(users::set_permission_group(&app, &caller, &user_id(&id)?, &input.permission_group).await?))
}

/// A team to move a user to (`null` for none).
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(examples(json!({"team_id": null})))]
struct TeamMove {
    team_id: Option<String>,
}

/// Moves a user to a team, or off every team (managers and above).
#[utoipa::path(put, path = "/users/{id}/team", tag = "users", params(UserPath), request_body = TeamMove,
    responses((status = 200, description = "The user", body = UserView), ApiError))]
async fn set_team(
    State(app): State<Arc<App>>,
    Caller(caller): Caller,
    ApiPath(id): ApiPath<String>,
    ApiJson(input): ApiJson<TeamMove>,
) -> Reply<UserView> {
    Ok(Json(users::set_team(&app, &caller, &user_id(&id)?, input.team_id.as_deref()).await?))
}

/// A branch to put a user in (`null` for none).
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(examples(json!({"branch": "north"})))]
struct BranchMove {
    branch: Option<String>,
}

/// Sets the branch whose credentials a user falls back to (admins).
#[utoipa::path(put, path = "/users/{id}/branch", tag = "users", params(UserPath), request_body = BranchMove,
    responses((status = 200, description = "The user", body = UserView), ApiError))]
async fn set_branch(
    State(app): State<Arc<App>>,
    Caller(caller): Caller,
    ApiPath(id): ApiPath<String>,
    ApiJson(input): ApiJson<BranchMove>,
) -> Reply<UserView> {
    Ok(Json(users::set_branch(&app, &caller, &user_id(&id)?, input.branch.as_deref()).await?))
}

/// Disables a user (managers and above).
#[utoipa::path(post, path = "/users/{id}/disable", tag = "users", params(UserPath),
    responses((status = 200, description = "The user", body = UserView), ApiError))]
async fn disable(State(app): State<Arc<App>>, Caller(caller): Caller, ApiPath(id): ApiPath<String>) -> Reply<UserView> {
    Ok(Json(users::set_enabled(&app, &caller, &user_id(&id)?, false).await?))
}

/// Enables a user again (managers and above).
#[utoipa::path(post, path = "/users/{id}/enable", tag = "users", params(UserPath),
    responses((status = 200, description = "The user", body = UserView), ApiError))]
async fn enable(State(app): State<Arc<App>>, Caller(caller): Caller, ApiPath(id): ApiPath<String>) -> Reply<UserView> {
    Ok(Json(users::set_enabled(&app, &caller, &user_id(&id)?, true).await?))
}

/// Makes a user choose a new password at the next sign-in (managers and above).
#[utoipa::path(post, path = "/users/{id}/expire-password", tag = "users", params(UserPath),
    responses((status = 200, description = "The user", body = UserView), ApiError))]
async fn expire_password(
    State(app): State<Arc<App>>,
    Caller(caller): Caller,
    ApiPath(id): ApiPath<String>,
) -> Reply<UserView> {
    Ok(Json(users::expire_password(&app, &caller, &user_id(&id)?).await?))
}

/// Sends a user a password reset e-mail (managers and above).
#[utoipa::path(post, path = "/users/{id}/forgot-password", tag = "users", params(UserPath),
    responses((status = 202, description = "The e-mail is queued", body = UserView), ApiError))]
async fn forgot_password(
    State(app): State<Arc<App>>,
    Caller(caller): Caller,
    ApiPath(id): ApiPath<String>,
) -> Result<(StatusCode, Json<UserView>), ApiError> {
    Ok((StatusCode::ACCEPTED, Json(users::forgot_password(&app, &caller, &user_id(&id)?).await?)))
}

/// Gives a user another user's inbox (managers and above).
#[utoipa::path(post, path = "/users/{id}/inboxes", tag = "users", params(UserPath), request_body = InboxInput,
    responses((status = 200, description = "The user", body = UserView), ApiError))]
async fn add_inbox(
    State(app): State<Arc<App>>,
    Caller(caller): Caller,
    ApiPath(id): ApiPath<String>,
    ApiJson(input): ApiJson<InboxInput>,
) -> Reply<UserView> {
    Ok(Json(users::add_inbox(&app, &caller, &user_id(&id)?, input).await?))
}

/// Takes an inbox away from a user (managers and above).
#[utoipa::path(delete, path = "/users/{id}/inboxes/{source}", tag = "users",
    params(UserPath, ("source" = String, Path, description = "The inbox's source username")),
    responses((status = 200, description = "The user", body = UserView), ApiError))]
async fn remove_inbox(
    State(app): State<Arc<App>>,
    Caller(caller): Caller,
    ApiPath((id, source)): ApiPath<(String, String)>,
) -> Reply<UserView> {
    Ok(Json(users::remove_inbox(&app, &caller, &user_id(&id)?, &source).await?))
}

/// The desired area code of a licence to assign.
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(examples(json!({"area_code": "206"})))]
struct LicenceInput {
    #[serde(default)]
    area_code: Option<String>,
}

/// Assigns a licence (a texting number), near a desired area code if given (managers and above).
#[utoipa::path(post, path = "/users/{id}/licence", tag = "users", params(UserPath), request_body = LicenceInput,
    responses((status = 200, description = "The user", body = UserView), ApiError))]
async fn assign_licence(
    State(app): State<Arc<App>>,
    Caller(caller): Caller,
    ApiPath(id): ApiPath<String>,
    ApiJson(input): ApiJson<LicenceInput>,
) -> Reply<UserView> {
    Ok(Json(users::assign_licence(&app, &caller, &user_id(&id)?, input.area_code.as_deref()).await?))
}

/// Removes a user's licence (managers and above).
#[utoipa::path(delete, path = "/users/{id}/licence", tag = "users", params(UserPath),
    responses((status = 200, description = "The user", body = UserView), ApiError))]
async fn remove_licence(
    State(app): State<Arc<App>>,
    Caller(caller): Caller,
    ApiPath(id): ApiPath<String>,
) -> Reply<UserView> {
    Ok(Json(users::remove_licence(&app, &caller, &user_id(&id)?).await?))
}

/// Maps an ATS user id to a user (managers and above).
#[utoipa::path(put, path = "/users/{id}/ats-ids/{ats_id}", tag = "users",
    params(UserPath, ("ats_id" = String, Path, description = "The ATS user id")),
    responses((status = 200, description = "The user", body = UserView), ApiError))]
async fn add_ats_id(
    State(app): State<Arc<App>>,
    Caller(caller): Caller,
    ApiPath((id, ats)): ApiPath<(String, String)>,
) -> Reply<UserView> {
    Ok(Json(users::add_ats_id(&app, &caller, &user_id(&id)?, &ats).await?))
}

/// Removes an ATS user id from a user (managers and above).
#[utoipa::path(delete, path = "/users/{id}/ats-ids/{ats_id}", tag = "users",
    params(UserPath, ("ats_id" = String, Path, description = "The ATS user id")),
    responses((status = 200, description = "The user", body = UserView), ApiError))]
async fn remove_ats_id(
    State(app): State<Arc<App>>,
    Caller(caller): Caller,
    ApiPath((id, ats)): ApiPath<(String, String)>,
) -> Reply<UserView> {
    Ok(Json(users::remove_ats_id(&app, &caller, &user_id(&id)?, &ats).await?))
}

/// Teams (reporters and above).
#[utoipa::path(get, path = "/teams", tag = "users",
    responses((status = 200, description = "The teams", body = Vec<TeamView>), ApiError))]
async fn list_teams(State(app): State<Arc<App>>, Caller(caller): Caller) -> Reply<Vec<TeamView>> {
    Ok(Json(teams::list(&app, &caller).await?))
}

/// Creates a team (managers and above).
#[utoipa::path(post, path = "/teams", tag = "users", request_body = TeamInput,
    responses((status = 201, description = "The new team", body = TeamView), ApiError))]
async fn create_team(
    State(app): State<Arc<App>>,
    Caller(caller): Caller,
    ApiJson(input): ApiJson<TeamInput>,
) -> Result<(StatusCode, Json<TeamView>), ApiError> {
    Ok((StatusCode::CREATED, Json(teams::create(&app, &caller, input).await?)))
}

/// Renames a team (managers and above).
#[utoipa::path(patch, path = "/teams/{id}", tag = "users",
    params(("id" = String, Path, description = "Team id")), request_body = TeamInput,
    responses((status = 200, description = "The team", body = TeamView), ApiError))]
async fn rename_team(
    State(app): State<Arc<App>>,
    Caller(caller): Caller,
    ApiPath(id): ApiPath<String>,
    ApiJson(input): ApiJson<TeamInput>,
) -> Reply<TeamView> {
    Ok(Json(teams::rename(&app, &caller, &id, input).await?))
}

/// Licence seats and texting numbers (reporters and above).
#[utoipa::path(get, path = "/licences", tag = "users",
    responses((status = 200, description = "Seats and numbers", body = SeatsView), ApiError))]
async fn seats(State(app): State<Arc<App>>, Caller(caller): Caller) -> Reply<SeatsView> {
    Ok(Json(users::seats(&app, &caller).await?))
}

/// Adds texting numbers to the tenant's pool (staff).
#[utoipa::path(post, path = "/licences/numbers", tag = "users", request_body = NumbersInput,
    responses((status = 201, description = "Seats and numbers", body = SeatsView), ApiError))]
async fn add_numbers(
    State(app): State<Arc<App>>,
    Caller(caller): Caller,
    ApiJson(input): ApiJson<NumbersInput>,
) -> Result<(StatusCode, Json<SeatsView>), ApiError> {
    Ok((StatusCode::CREATED, Json(users::add_numbers(&app, &caller, input).await?)))
}

/// Paging of the outbox.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
struct Cursor {
    /// The previous page's `next`.
    cursor: Option<String>,
}

/// Outgoing e-mail events (invitations, password resets), oldest first (admins).
#[utoipa::path(get, path = "/outbox", tag = "users", params(Cursor),
    responses((status = 200, description = "One page of events", body = OutboxPage), ApiError))]
async fn outbox(
    State(app): State<Arc<App>>,
    Caller(caller): Caller,
    ApiQuery(page): ApiQuery<Cursor>,
) -> Reply<OutboxPage> {
    Ok(Json(users::outbox(&app, &caller, page.cursor).await?))
}

/// The users function's routes (without the finishing layers; see [`crate::finish`]);
/// imports and the report are [`crate::imports::router`]'s.
pub fn router(app: Arc<App>) -> Router {
    Router::new()
        .route("/users/health", get(health::users))
        .route("/users/me", get(me))
        .route("/users", get(list_users).post(add_user))
        .route("/users/{id}", get(get_user).patch(edit_user).delete(delete_user))
        .route("/users/{id}/role", put(set_role))
        .route("/users/{id}/permission-group", put(set_user_group))
        .route("/users/{id}/team", put(set_team))
        .route("/users/{id}/branch", put(set_branch))
        .route("/users/{id}/disable", post(disable))
        .route("/users/{id}/enable", post(enable))
        .route("/users/{id}/expire-password", post(expire_password))
        .route("/users/{id}/forgot-password", post(forgot_password))
        .route("/users/{id}/inboxes", post(add_inbox))
        .route("/users/{id}/inboxes/{source}", delete(remove_inbox))
        .route("/users/{id}/licence", post(assign_licence).delete(remove_licence))
        .route("/users/{id}/ats-ids/{ats_id}", put(add_ats_id).delete(remove_ats_id))
        .route("/teams", get(list_teams).post(create_team))
        .route("/teams/{id}", axum::routing::patch(rename_team))
        .route("/licences", get(seats))
        .route("/licences/numbers", post(add_numbers))
        .route("/permission-groups", get(list_groups))
        .route("/permission-groups/{name}", put(set_group))
        .route("/outbox", get(outbox))
        .with_state(app)
}
