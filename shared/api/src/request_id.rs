//! A request id for every request: the host's (API Gateway's) when there is one, else a new UUID.
//! It is echoed in `x-request-id`, carried by every log line of the request (a
//! tracing span), and quoted in 5xx bodies.

use axum::{extract::Request, http::HeaderValue, middleware::Next, response::Response};
use tracing::Instrument;

tokio::task_local! {
    static REQUEST_ID: String;
}

/// The current request's id, or `-` outside a request.
pub fn current() -> String {
    REQUEST_ID.try_with(Clone::clone).unwrap_or_else(|_| "-".to_owned())
}

fn from_host(req: &Request) -> Option<String> {
    req.extensions().get::<crate::Upstream>()?.request_id.clone()
}

/// Middleware: assigns the id, opens the request span, sets the response header.
pub async fn layer(req: Request, next: Next) -> Response {
    let id = from_host(&req).unwrap_or_else(|| uuid::Uuid::new_v4().to_string());
    let span = tracing::info_span!(
        "request",
        request_id = %id,
        method = %req.method(),
        path = %req.uri().path(),
        tenant = tracing::field::Empty,
    );
    let mut response = REQUEST_ID.scope(id.clone(), async move { next.run(req).await }).instrument(span.clone()).await;
    span.in_scope(|| tracing::info!(status = response.status().as_u16(), "response"));
    if let Ok(value) = HeaderValue::from_str(&id) {
        response.headers_mut().insert("x-request-id", value);
    }
    response
}
