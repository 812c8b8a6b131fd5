//! HTTP plumbing shared by every function: error shape, request ids, body limits,
//! the JSON extractor and the finishing layers.

mod error;
mod json;
pub mod request_id;

use axum::{Router, extract::DefaultBodyLimit, middleware};
use textbridge_domain::Error;

pub use error::{ApiError, ErrorBody, ErrorDetail};
pub use json::ApiJson;

/// The largest request body any route accepts (routes may set less).
pub const MAX_BODY_BYTES: usize = 256 * 1024;

/// Adds what every deployment of a router needs: a JSON 404 for unknown routes,
/// the body limit and the request id / log span. Apply once, to the outermost router.
pub fn finish(router: Router) -> Router {
    router
        .fallback(|| async { ApiError(Error::NotFound("no such route".into())) })
        .method_not_allowed_fallback(|| async {
            ApiError(Error::Malformed { field: None, reason: "method not allowed on this route".into() })
        })
        .layer(DefaultBodyLimit::max(MAX_BODY_BYTES))
        .layer(middleware::from_fn(request_id::layer))
}
