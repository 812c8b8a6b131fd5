//! The credentials function: provider credentials per tenant (save, test, replace,
//! remove; secrets write-only).

use std::sync::Arc;

use axum::Router;
use textbridge_app::{App, health};

/// The function's routes (without the finishing layers; see `textbridge_app::http::finish`).
pub fn router(app: Arc<App>) -> Router {
    health::routes("/credentials/health").with_state(app)
}
