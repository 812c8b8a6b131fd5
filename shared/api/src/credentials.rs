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
use textbridge_domain::CredentialLevel;

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

async fn list(State(app): State<Arc<App>>, Caller(caller): Caller) -> Reply<Vec<CredentialView>> {
    Ok(Json(credentials::list(&app, &caller).await?))
}

async fn save(
    State(app): State<Arc<App>>,
    Caller(caller): Caller,
    TargetPath(target): TargetPath,
    ApiJson(fields): ApiJson<SubmittedFields>,
) -> Result<(StatusCode, Json<CredentialView>), ApiError> {
    Ok((StatusCode::CREATED, Json(credentials::save(&app, &caller, &target, &fields).await?)))
}

async fn read(
    State(app): State<Arc<App>>,
    Caller(caller): Caller,
    TargetPath(target): TargetPath,
) -> Reply<CredentialView> {
    Ok(Json(credentials::get(&app, &caller, &target).await?))
}

async fn remove(State(app): State<Arc<App>>, Caller(caller): Caller, TargetPath(target): TargetPath) -> Reply<Removal> {
    Ok(Json(credentials::remove(&app, &caller, &target).await?))
}

async fn replace_secret(
    State(app): State<Arc<App>>,
    Caller(caller): Caller,
    TargetPath(target): TargetPath,
    ApiJson(fields): ApiJson<SubmittedFields>,
) -> Reply<CredentialView> {
    Ok(Json(credentials::replace_secret(&app, &caller, &target, &fields).await?))
}

async fn test(
    State(app): State<Arc<App>>,
    Caller(caller): Caller,
    TargetPath(target): TargetPath,
) -> Reply<CredentialView> {
    Ok(Json(credentials::test(&app, &caller, &target).await?))
}

async fn ats_read(State(app): State<Arc<App>>, Caller(caller): Caller) -> Reply<ConnectionView> {
    Ok(Json(ats_connection::get(&app, &caller).await?))
}

async fn ats_save(
    State(app): State<Arc<App>>,
    Caller(caller): Caller,
    ApiJson(input): ApiJson<ConnectionInput>,
) -> Reply<ConnectionView> {
    Ok(Json(ats_connection::save(&app, &caller, input).await?))
}

async fn ats_test(State(app): State<Arc<App>>, Caller(caller): Caller) -> Reply<ConnectionView> {
    Ok(Json(ats_connection::test(&app, &caller).await?))
}

async fn ats_remove(State(app): State<Arc<App>>, Caller(caller): Caller) -> Reply<ConnectionView> {
    Ok(Json(ats_connection::remove(&app, &caller).await?))
}

/// The credentials function's routes (without the finishing layers; see [`crate::finish`]).
pub fn router(app: Arc<App>) -> Router {
    let mut router = health::routes("/credentials/health")
        .route("/credentials", get(list))
        .route("/credentials/ats", get(ats_read).put(ats_save).delete(ats_remove))
        .route("/credentials/ats/test", post(ats_test));
    for base in ["/credentials/{provider}/system", "/credentials/{provider}/{level}/{scope}"] {
        router = router
            .route(base, get(read).post(save).delete(remove))
            .route(&format!("{base}/secret"), put(replace_secret))
            .route(&format!("{base}/test"), post(test));
    }
    router.with_state(app)
}
