//! The credentials router: provider credentials per tenant (save, test, replace,
//! remove; secrets write-only). Routes:
//!
//! | route | what |
//! |---|---|
//! | `GET /credentials` | metadata of the credentials the caller may see |
//! | `POST /credentials/{provider}/system` | save system credentials (201) |
//! | `POST /credentials/{provider}/{branch\|user}/{id}` | save branch or user credentials (201) |
//! | `GET …` / `DELETE …` | read metadata / remove (unregisters webhooks, deletes the secret) |
//! | `PUT …/secret` | replace the secret part and reconnect |
//! | `POST …/test` | re-check with the provider |
//! | `GET·PUT·DELETE /credentials/ats`, `POST /credentials/ats/test` | the ATS directory connection (admins; token write-only) |

use std::{collections::BTreeMap, sync::Arc};

use axum::{
    Json, Router,
    extract::{FromRequestParts, State},
    http::{StatusCode, request::Parts},
    routing::{get, post, put},
};
use textbridge_app::{
    App,
    ats_connection::{self, ConnectionInput, ConnectionView},
    credentials::{self, CredentialView, Removal, Target},
    ports::SubmittedFields,
};
use textbridge_domain::{CredentialLevel, ProviderKind};

use crate::{ApiError, ApiJson, ApiPath, Caller, health};

/// The provider and level named by the path (`system` when the path has no level).
struct TargetPath(Target);

impl<S: Send + Sync> FromRequestParts<S> for TargetPath {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        let ApiPath(params) = ApiPath::<BTreeMap<String, String>>::from_request_parts(parts, state).await?;
        let param = |name: &str| params.get(name).map(String::as_str);
        let provider = param("provider").unwrap_or_default().parse()?;
        let level = CredentialLevel::parse(param("level").unwrap_or("system"), param("scope"))?;
        Ok(Self(Target { provider, level }))
    }
}

type Reply<T> = Result<Json<T>, ApiError>;

/// A provider's credentials at a branch or of one texting user, named by the path.
#[derive(utoipa::IntoParams)]
#[into_params(parameter_in = Path)]
#[allow(dead_code)] // read by `TargetPath`; declared for the routes' description
struct ScopedPath {
    /// The provider.
    provider: ProviderKind,
    /// `branch` or `user`.
    #[param(pattern = "^(branch|user)$")]
    level: String,
    /// The branch id or texting user id.
    scope: String,
}

/// A provider's system credentials (the tenant's), named by the path.
#[derive(utoipa::IntoParams)]
#[into_params(parameter_in = Path)]
#[allow(dead_code)] // read by `TargetPath`; declared for the routes' description
struct SystemPath {
    /// The provider.
    provider: ProviderKind,
}

/// Metadata of the credentials the caller may see (secrets are never answered).
#[utoipa::path(get, path = "/credentials", tag = "credentials",
    responses((status = 200, description = "The credentials", body = Vec<CredentialView>), ApiError))]
async fn list(State(app): State<Arc<App>>, Caller(caller): Caller) -> Reply<Vec<CredentialView>> {
    Ok(Json(credentials::list(&app, &caller).await?))
}

/// Saves branch or user credentials, connects them and registers webhooks.
#[utoipa::path(post, path = "/credentials/{provider}/{level}/{scope}", tag = "credentials", params(ScopedPath),
    request_body(description = "The provider's fields (see README); secret ones are write-only", content = Object),
    responses((status = 201, description = "The credentials as saved", body = CredentialView), ApiError))]
async fn save(
    State(app): State<Arc<App>>,
    Caller(caller): Caller,
    TargetPath(target): TargetPath,
    ApiJson(fields): ApiJson<SubmittedFields>,
) -> Result<(StatusCode, Json<CredentialView>), ApiError> {
    Ok((StatusCode::CREATED, Json(credentials::save(&app, &caller, &target, &fields).await?)))
}

/// Saves system credentials, connects them and registers webhooks.
#[utoipa::path(post, path = "/credentials/{provider}/system", tag = "credentials", params(SystemPath),
    request_body(description = "The provider's fields (see README); secret ones are write-only", content = Object),
    responses((status = 201, description = "The credentials as saved", body = CredentialView), ApiError))]
async fn save_system(
    app: State<Arc<App>>,
    caller: Caller,
    target: TargetPath,
    fields: ApiJson<SubmittedFields>,
) -> Result<(StatusCode, Json<CredentialView>), ApiError> {
    save(app, caller, target, fields).await
}

/// Metadata of branch or user credentials.
#[utoipa::path(get, path = "/credentials/{provider}/{level}/{scope}", tag = "credentials", params(ScopedPath),
    responses((status = 200, description = "The credentials", body = CredentialView), ApiError))]
async fn read(
    State(app): State<Arc<App>>,
    Caller(caller): Caller,
    TargetPath(target): TargetPath,
) -> Reply<CredentialView> {
    Ok(Json(credentials::get(&app, &caller, &target).await?))
}

/// Metadata of system credentials.
#[utoipa::path(get, path = "/credentials/{provider}/system", tag = "credentials", params(SystemPath),
    responses((status = 200, description = "The credentials", body = CredentialView), ApiError))]
async fn read_system(app: State<Arc<App>>, caller: Caller, target: TargetPath) -> Reply<CredentialView> {
    read(app, caller, target).await
}

/// Removes branch or user credentials: unregisters webhooks, deletes the secret.
#[utoipa::path(delete, path = "/credentials/{provider}/{level}/{scope}", tag = "credentials", params(ScopedPath),
    responses((status = 200, description = "What was removed", body = Removal), ApiError))]
async fn remove(State(app): State<Arc<App>>, Caller(caller): Caller, TargetPath(target): TargetPath) -> Reply<Removal> {
    Ok(Json(credentials::remove(&app, &caller, &target).await?))
}

/// Removes system credentials: unregisters webhooks, deletes the secret.
#[utoipa::path(delete, path = "/credentials/{provider}/system", tag = "credentials", params(SystemPath),
    responses((status = 200, description = "What was removed", body = Removal), ApiError))]
async fn remove_system(app: State<Arc<App>>, caller: Caller, target: TargetPath) -> Reply<Removal> {
    remove(app, caller, target).await
}

/// Replaces the secret part of branch or user credentials and reconnects.
#[utoipa::path(put, path = "/credentials/{provider}/{level}/{scope}/secret", tag = "credentials", params(ScopedPath),
    request_body(description = "The provider's secret fields", content = Object),
    responses((status = 200, description = "The credentials", body = CredentialView), ApiError))]
async fn replace_secret(
    State(app): State<Arc<App>>,
    Caller(caller): Caller,
    TargetPath(target): TargetPath,
    ApiJson(fields): ApiJson<SubmittedFields>,
) -> Reply<CredentialView> {
    Ok(Json(credentials::replace_secret(&app, &caller, &target, &fields).await?))
}

/// Replaces the secret part of system credentials and reconnects.
#[utoipa::path(put, path = "/credentials/{provider}/system/secret", tag = "credentials", params(SystemPath),
    request_body(description = "The provider's secret fields", content = Object),
    responses((status = 200, description = "The credentials", body = CredentialView), ApiError))]
async fn replace_system_secret(
    app: State<Arc<App>>,
    caller: Caller,
    target: TargetPath,
    fields: ApiJson<SubmittedFields>,
) -> Reply<CredentialView> {
    replace_secret(app, caller, target, fields).await
}

/// Checks branch or user credentials with the provider again.
#[utoipa::path(post, path = "/credentials/{provider}/{level}/{scope}/test", tag = "credentials", params(ScopedPath),
    responses((status = 200, description = "The credentials with the test's outcome", body = CredentialView), ApiError))]
async fn test(
    State(app): State<Arc<App>>,
    Caller(caller): Caller,
    TargetPath(target): TargetPath,
) -> Reply<CredentialView> {
    Ok(Json(credentials::test(&app, &caller, &target).await?))
}

/// Checks system credentials with the provider again.
#[utoipa::path(post, path = "/credentials/{provider}/system/test", tag = "credentials", params(SystemPath),
    responses((status = 200, description = "The credentials with the test's outcome", body = CredentialView), ApiError))]
async fn test_system(app: State<Arc<App>>, caller: Caller, target: TargetPath) -> Reply<CredentialView> {
    test(app, caller, target).await
}

/// The ATS directory connection (admins; the token is never answered).
#[utoipa::path(get, path = "/credentials/ats", tag = "credentials",
    responses((status = 200, description = "The connection", body = ConnectionView), ApiError))]
async fn ats_read(State(app): State<Arc<App>>, Caller(caller): Caller) -> Reply<ConnectionView> {
    Ok(Json(ats_connection::get(&app, &caller).await?))
}

/// Connects the ATS directory (admins): checked before it is saved.
#[utoipa::path(put, path = "/credentials/ats", tag = "credentials", request_body = ConnectionInput,
    responses((status = 200, description = "The connection", body = ConnectionView), ApiError))]
async fn ats_save(
    State(app): State<Arc<App>>,
    Caller(caller): Caller,
    ApiJson(input): ApiJson<ConnectionInput>,
) -> Reply<ConnectionView> {
    Ok(Json(ats_connection::save(&app, &caller, input).await?))
}

/// Checks the ATS directory connection again (admins).
#[utoipa::path(post, path = "/credentials/ats/test", tag = "credentials",
    responses((status = 200, description = "The connection with the test's outcome", body = ConnectionView), ApiError))]
async fn ats_test(State(app): State<Arc<App>>, Caller(caller): Caller) -> Reply<ConnectionView> {
    Ok(Json(ats_connection::test(&app, &caller).await?))
}

/// Removes the ATS directory connection (admins).
#[utoipa::path(delete, path = "/credentials/ats", tag = "credentials",
    responses((status = 200, description = "The connection as it was", body = ConnectionView), ApiError))]
async fn ats_remove(State(app): State<Arc<App>>, Caller(caller): Caller) -> Reply<ConnectionView> {
    Ok(Json(ats_connection::remove(&app, &caller).await?))
}

/// The credentials function's routes (without the finishing layers; see [`crate::finish`]).
pub fn router(app: Arc<App>) -> Router {
    const SYSTEM: &str = "/credentials/{provider}/system";
    const SCOPED: &str = "/credentials/{provider}/{level}/{scope}";
    Router::new()
        .route("/credentials/health", get(health::credentials))
        .route("/credentials", get(list))
        .route("/credentials/ats", get(ats_read).put(ats_save).delete(ats_remove))
        .route("/credentials/ats/test", post(ats_test))
        .route(SYSTEM, get(read_system).post(save_system).delete(remove_system))
        .route(&format!("{SYSTEM}/secret"), put(replace_system_secret))
        .route(&format!("{SYSTEM}/test"), post(test_system))
        .route(SCOPED, get(read).post(save).delete(remove))
        .route(&format!("{SCOPED}/secret"), put(replace_secret))
        .route(&format!("{SCOPED}/test"), post(test))
        .with_state(app)
}
