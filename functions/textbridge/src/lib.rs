//! The all-in-one local server's parts: development tokens, the worker loop that
//! drives the archiver on the embedded queue, the `import` command, and every router
//! (and the admin console) merged into one.
//! `main.rs` is the command line around them; links no AWS crate.

pub mod dev_token;
pub mod import;
pub mod worker;

use std::sync::Arc;

use axum::Router;
use textbridge_api::{Authenticator, credentials, finish, health, intake, records, users};
use textbridge_app::App;

pub use dev_token::DevKey;

/// Every router of the product, merged, with the finishing layers and `auth`.
pub fn router(app: &Arc<App>, auth: Arc<dyn Authenticator>) -> Router {
    with_console(app, auth, None)
}

/// Every router of the product and, when given, the admin console with its sign-in.
pub fn with_console(
    app: &Arc<App>,
    auth: Arc<dyn Authenticator>,
    console: Option<textbridge_console::SignIn>,
) -> Router {
    let console = console.map(textbridge_console::router).unwrap_or_default();
    finish(
        Router::new()
            .merge(console)
            .merge(credentials::router(app.clone()))
            .merge(intake::router(app.clone()))
            .merge(records::router(app.clone()))
            .merge(users::router(app.clone()))
            .merge(health::routes("/health").with_state(app.clone())),
        auth,
    )
}
