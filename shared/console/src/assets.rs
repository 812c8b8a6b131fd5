//! The console's files, embedded at build time.

use axum::{
    http::{HeaderValue, header},
    response::{IntoResponse, Response},
};
use textbridge_api::ApiPath;

/// The page every console address serves; the modules route within it.
const INDEX: &str = include_str!("../assets/index.html");

/// The assets under `/console/assets/`: name, content type, content.
const ASSETS: &[(&str, &str, &str)] = &[
    ("console.css", "text/css; charset=utf-8", include_str!("../assets/console.css")),
    ("app.js", "text/javascript; charset=utf-8", include_str!("../assets/app.js")),
    ("api.js", "text/javascript; charset=utf-8", include_str!("../assets/api.js")),
    ("dom.js", "text/javascript; charset=utf-8", include_str!("../assets/dom.js")),
    ("auth.js", "text/javascript; charset=utf-8", include_str!("../assets/auth.js")),
    ("integrations.js", "text/javascript; charset=utf-8", include_str!("../assets/integrations.js")),
    ("users.js", "text/javascript; charset=utf-8", include_str!("../assets/users.js")),
    ("import.js", "text/javascript; charset=utf-8", include_str!("../assets/import.js")),
    ("messages.js", "text/javascript; charset=utf-8", include_str!("../assets/messages.js")),
    ("operations.js", "text/javascript; charset=utf-8", include_str!("../assets/operations.js")),
];

/// The console page.
pub(crate) async fn page() -> Response {
    let mut response = ([(header::CONTENT_TYPE, "text/html; charset=utf-8")], INDEX).into_response();
    response.headers_mut().insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    response
}

/// One asset by name.
pub(crate) async fn asset(ApiPath(file): ApiPath<String>) -> Response {
    match ASSETS.iter().find(|(name, _, _)| *name == file) {
        Some((_, kind, body)) => {
            let mut response = ([(header::CONTENT_TYPE, *kind)], *body).into_response();
            response.headers_mut().insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
            response
        }
        None => crate::not_found(),
    }
}
