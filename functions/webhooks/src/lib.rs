//! The webhooks function: provider webhook intake onto the queue, and the operator
//! routes for the dead-letter queue.

use std::sync::Arc;

use axum::Router;
use textbridge_app::{App, health};

/// The function's routes (without the finishing layers; see `textbridge_app::http::finish`).
pub fn router(app: Arc<App>) -> Router {
    health::routes("/webhooks/health").with_state(app)
}
