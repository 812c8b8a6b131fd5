//! The all-in-one local server's parts: development tokens, the worker loop that
//! drives the archiver on the embedded queue, the `import` command, the upload route
//! for large import files, and every router (and the admin console) merged into one.
//! `main.rs` is the command line around them; links no AWS crate.

pub mod dev_token;
pub mod import;
pub mod uploads;
pub mod worker;

use std::sync::Arc;

use axum::{Json, Router, routing::get};
use textbridge_api::{Authenticator, credentials, finish, health, imports, intake, openapi::ApiDoc, records, users};
use textbridge_app::App;
use textbridge_embedded::LocalUploads;
use utoipa::OpenApi;

pub use dev_token::DevKey;

/// Every router of the product, merged, with the finishing layers and `auth`; large
/// import files are PUT to `uploads`.
pub fn router(app: &Arc<App>, auth: Arc<dyn Authenticator>, uploads: Arc<LocalUploads>) -> Router {
    with_console(app, auth, uploads, None)
}

/// Every router of the product and, when given, the admin console with its sign-in.
pub fn with_console(
    app: &Arc<App>,
    auth: Arc<dyn Authenticator>,
    uploads: Arc<LocalUploads>,
    console: Option<textbridge_console::SignIn>,
) -> Router {
    let console = console.map(textbridge_console::router).unwrap_or_default();
    finish(
        Router::new()
            .merge(console)
            .merge(uploads::routes(uploads))
            .merge(credentials::router(app.clone()))
            .merge(intake::router(app.clone()))
            .merge(records::router(app.clone()))
            .merge(users::router(app.clone()))
            .merge(imports::router(app.clone()))
            .merge(health::routes().with_state(app.clone()))
            .route("/openapi.json", get(document)),
        auth,
    )
}

/// The routes only the local server has: the upload place of large import files and
/// this document itself.
#[derive(OpenApi)]
#[openapi(paths(uploads::accept, document))]
struct LocalDoc;

/// The OpenAPI 3.1 document of every route [`router`] serves but the admin console's
/// pages and sign-in (HTML and a cookie session, not the JSON API): every function's
/// routes and the local server's own.
pub fn openapi() -> utoipa::openapi::OpenApi {
    let mut doc = ApiDoc::openapi();
    doc.merge(LocalDoc::openapi());
    doc
}

/// The OpenAPI document of this API (public: it holds no data).
#[utoipa::path(get, path = "/openapi.json", tag = "health", security(()),
    responses((status = 200, description = "The OpenAPI 3.1 document", body = Object)))]
async fn document() -> Json<utoipa::openapi::OpenApi> {
    Json(openapi())
}
