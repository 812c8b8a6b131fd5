//! A request id for every request: the host's (API Gateway's) when there is one, else a new UUID.
//! It is echoed in `x-request-id`, carried by every log line of the request (a
//! tracing span), and quoted in 5xx bodies.
//!
//! The span names the request's route *template* (`/webhooks/{provider}/{token}`),
//! never the path it was called with: a path may carry a credential (a webhook
//! token) or anything a caller chose to put there. A request that matched no route
//! is logged with the fixed marker [`UNMATCHED`]. Whatever else is taken from a
//! request into a log line is bounded ([`bounded`]).

use axum::{
    extract::{MatchedPath, Request},
    http::HeaderValue,
    middleware::Next,
    response::Response,
};
use tracing::Instrument;

tokio::task_local! {
    static REQUEST_ID: String;
}

/// The response header that carries the request id.
pub const HEADER: &str = "x-request-id";

/// What the log says instead of the route of a request that matched none.
pub const UNMATCHED: &str = "(no route)";

/// The longest text taken from a request into a log line (or a header), in characters.
pub const MAX_LOGGED_CHARS: usize = 64;

/// The current request's id, or `-` outside a request.
pub fn current() -> String {
    REQUEST_ID.try_with(Clone::clone).unwrap_or_else(|_| "-".to_owned())
}

/// `text` cut to [`MAX_LOGGED_CHARS`] characters (marked with `…` when cut), with
/// control characters replaced, so that it is safe to put into a log line.
pub fn bounded(text: &str) -> String {
    let mut out: String = text.chars().take(MAX_LOGGED_CHARS).map(|c| if c.is_control() { '?' } else { c }).collect();
    if text.chars().nth(MAX_LOGGED_CHARS).is_some() {
        out.push('…');
    }
    out
}

/// The host's request id, when it is one we can echo in a header as it is.
fn from_host(req: &Request) -> Option<String> {
    let id = req.extensions().get::<crate::Upstream>()?.request_id.as_deref()?;
    let usable = !id.is_empty()
        && id.len() <= MAX_LOGGED_CHARS
        && id.bytes().all(|b| b.is_ascii_alphanumeric() || b"-_.=+/".contains(&b));
    usable.then(|| id.to_owned())
}

/// A new request id.
pub fn new_id() -> String {
    uuid::Uuid::new_v4().to_string()
}

/// Middleware: assigns the id, opens the request span, sets the response header.
pub async fn layer(req: Request, next: Next) -> Response {
    let id = from_host(&req).unwrap_or_else(new_id);
    let route = req.extensions().get::<MatchedPath>().map_or(UNMATCHED, MatchedPath::as_str);
    let span = tracing::info_span!(
        "request",
        request_id = %id,
        method = %bounded(req.method().as_str()),
        route = %bounded(route),
        tenant = tracing::field::Empty,
    );
    let mut response = REQUEST_ID.scope(id.clone(), async move { next.run(req).await }).instrument(span.clone()).await;
    span.in_scope(|| tracing::info!(status = response.status().as_u16(), "response"));
    if let Ok(value) = HeaderValue::from_str(&id) {
        response.headers_mut().insert(HEADER, value);
    }
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bounded_cuts_and_cleans() {
        assert_eq!(bounded("GET"), "GET");
        let long = "x".repeat(10_000);
        assert_eq!(bounded(&long).chars().count(), MAX_LOGGED_CHARS + 1);
        assert_eq!(bounded("a\nb\u{7}"), "a?b?");
    }
}
