//! The HTTP side of Textbridge, shared by the Lambda functions and the local server:
//! each function's router, the extractors, the one JSON error shape, request ids and
//! the finishing layers. Identity is the host's: it passes an [`Authenticator`].

pub mod credentials;
mod error;
pub mod health;
pub mod identity;
pub mod imports;
pub mod intake;
mod json;
pub mod openapi;
mod params;
pub mod records;
pub mod request_id;
pub mod server;
pub mod users;

use std::{net::IpAddr, sync::Arc};

use axum::{Extension, Json, Router, extract::DefaultBodyLimit, http::StatusCode, middleware};
use textbridge_domain::Error;
use tower_http::catch_panic::CatchPanicLayer;

pub use error::{ApiError, ErrorBody, ErrorDetail};
pub use identity::{Authenticator, Caller, Claims};
pub use json::ApiJson;
pub use params::{ApiPath, ApiQuery};

/// The largest request body any route accepts (routes may set less).
pub const MAX_BODY_BYTES: usize = 256 * 1024;

/// What the host knew of a request before it reached the router (in Lambda: API
/// Gateway's request id and `sourceIp`), as a request extension.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Upstream {
    /// The request id the host assigned.
    pub request_id: Option<String>,
    /// The address the request came from.
    pub source_ip: Option<IpAddr>,
}

/// The address a request came from: the host's [`Upstream`] in Lambda, the TCP peer
/// locally (`axum::extract::ConnectInfo`). Forwarding headers are not trusted.
pub fn source_ip(parts: &axum::http::request::Parts) -> Option<IpAddr> {
    if let Some(ip) = parts.extensions.get::<Upstream>().and_then(|u| u.source_ip) {
        return Some(ip);
    }
    parts.extensions.get::<axum::extract::ConnectInfo<std::net::SocketAddr>>().map(|info| info.0.ip())
}

/// Adds what every deployment of a router needs: the host's authenticator, a JSON
/// 404 for unknown routes, the body limit, the JSON 500 for a handler that panics and
/// the request id / log span. Apply once, to the outermost router.
pub fn finish(router: Router, auth: Arc<dyn Authenticator>) -> Router {
    router
        .fallback(|| async { ApiError(Error::NotFound("no such route".into())) })
        .method_not_allowed_fallback(|| async {
            let detail = ErrorDetail {
                code: "method_not_allowed",
                message: "method not allowed on this route".into(),
                field: None,
            };
            (StatusCode::METHOD_NOT_ALLOWED, Json(ErrorBody { error: detail }))
        })
        .layer(DefaultBodyLimit::max(MAX_BODY_BYTES))
        .layer(Extension(identity::HostAuthenticator(auth)))
        .layer(CatchPanicLayer::custom(panicked))
        .layer(middleware::from_fn(request_id::layer))
}

/// The answer to a request whose handler panicked: the JSON 500 of any unexpected
/// error, with the request id. What the panic carried is not logged or answered (it
/// may hold anything the handler had); the panic hook logs where it happened.
fn panicked(_payload: Box<dyn std::any::Any + Send + 'static>) -> axum::response::Response {
    axum::response::IntoResponse::into_response(ApiError(Error::unexpected("a request handler panicked")))
}

#[cfg(test)]
mod tests {
    use axum::{
        body::Body,
        http::{Request, StatusCode},
        routing::{get, post},
    };
    use http_body_util::BodyExt;
    use serde::Deserialize;
    use serde_json::{Value, json};
    use tower::ServiceExt;

    use super::*;

    #[derive(Deserialize)]
    struct Input {
        #[allow(dead_code)]
        name: String,
    }

    struct Nobody;

    impl Authenticator for Nobody {
        fn identify(&self, _: &axum::http::request::Parts) -> Result<textbridge_domain::Identity, Error> {
            Err(Error::Unauthenticated("nobody".into()))
        }
    }

    fn app() -> Router {
        finish(
            Router::new()
                .route("/echo", post(|ApiJson(_): ApiJson<Input>| async { "ok" }))
                .route("/boom", get(|| async { ApiError(Error::unexpected("db password=hunter2 leaked")) }))
                .route("/panic", get(|| async { panic_with_secret() }))
                .route("/email", get(|| async { ApiError(textbridge_domain::Email::parse("nope").unwrap_err()) })),
            Arc::new(Nobody),
        )
    }

    async fn call(req: Request<Body>) -> (StatusCode, Option<String>, Value) {
        call_on(app(), req).await
    }

    /// Sends `req` to `router`: the status, the request id and the JSON body.
    async fn call_on(router: Router, req: Request<Body>) -> (StatusCode, Option<String>, Value) {
        let resp = router.oneshot(req).await.expect("response");
        let status = resp.status();
        let id = resp.headers().get("x-request-id").and_then(|v| v.to_str().ok()).map(str::to_owned);
        let bytes = resp.into_body().collect().await.expect("body").to_bytes();
        (status, id, serde_json::from_slice(&bytes).unwrap_or(Value::Null))
    }

    fn post_json(body: impl Into<Body>) -> Request<Body> {
        Request::post("/echo").header("content-type", "application/json").body(body.into()).expect("request")
    }

    #[tokio::test]
    async fn bodies_are_checked_with_clear_errors() {
        assert_eq!(call(post_json(r#"{"name":"x"}"#)).await.0, StatusCode::OK);

        let (status, _, body) = call(post_json("{not json")).await;
        assert_eq!(status, StatusCode::BAD_REQUEST);
        assert_eq!(body["error"]["code"], "malformed");

        let (status, _, body) = call(post_json(r#"{"name": 5}"#)).await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
        assert_eq!(body["error"]["field"], "name", "{body}");
        assert_eq!(body["error"]["message"], "name: must be a string", "{body}");

        let req = Request::post("/echo").body(Body::from(r#"{"name":"x"}"#)).expect("request");
        let (status, _, body) = call(req).await;
        assert_eq!(
            (status, &body["error"]["code"]),
            (StatusCode::UNSUPPORTED_MEDIA_TYPE, &json!("unsupported_media_type")),
            "no content type"
        );

        let huge = format!(r#"{{"name":"{}"}}"#, "x".repeat(MAX_BODY_BYTES + 1));
        let (status, _, body) = call(post_json(huge)).await;
        assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE);
        assert_eq!(body["error"]["code"], "too_large");
    }

    #[tokio::test]
    async fn invalid_fields_are_422_naming_the_field() {
        let (status, _, body) = call(Request::get("/email").body(Body::empty()).expect("request")).await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
        assert_eq!(body["error"]["field"], "email");
        assert_eq!(body["error"]["message"], "email: \"nope\" is not an e-mail address");
    }

    #[tokio::test]
    async fn internal_errors_carry_the_request_id_and_no_detail() {
        let (status, id, body) = call(Request::get("/boom").body(Body::empty()).expect("request")).await;
        assert_eq!(status, StatusCode::INTERNAL_SERVER_ERROR);
        let id = id.expect("x-request-id");
        let message = body["error"]["message"].as_str().unwrap_or_default();
        assert_eq!(message, format!("internal error (request id {id})"));
        assert!(!body.to_string().contains("hunter2"));
    }

    /// A handler that panics with something private in its message.
    fn panic_with_secret() -> &'static str {
        std::panic::panic_any("db password=hunter2 leaked".to_owned())
    }

    #[tokio::test]
    async fn a_handler_that_panics_gets_the_json_500_and_the_router_goes_on() {
        let router = app();
        let (status, id, body) =
            call_on(router.clone(), Request::get("/panic").body(Body::empty()).expect("request")).await;
        assert_eq!(status, StatusCode::INTERNAL_SERVER_ERROR);
        assert_eq!(body["error"]["code"], "internal", "{body}");
        assert_eq!(body["error"]["message"], format!("internal error (request id {})", id.expect("x-request-id")));
        assert!(!body.to_string().contains("hunter2"));
        let (status, _, _) = call_on(router, post_json(r#"{"name":"x"}"#)).await;
        assert_eq!(status, StatusCode::OK, "the same router serves the next request");
    }

    #[tokio::test]
    async fn unknown_routes_and_methods() {
        let (status, _, body) = call(Request::get("/nowhere").body(Body::empty()).expect("request")).await;
        assert_eq!(status, StatusCode::NOT_FOUND);
        assert_eq!(body["error"]["code"], "not_found");
        let (status, _, _) = call(Request::delete("/echo").body(Body::empty()).expect("request")).await;
        assert_eq!(status, StatusCode::METHOD_NOT_ALLOWED);
    }
}
