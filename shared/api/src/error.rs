//! The one JSON error shape every route answers with.

use axum::{
    Json,
    http::StatusCode,
    response::{IntoResponse, Response},
};
use serde::Serialize;
use textbridge_domain::Error;
use utoipa::openapi::{ContentBuilder, Ref, RefOr, ResponseBuilder};

use super::request_id;

/// A domain error on its way out as an HTTP response:
/// `{ "error": { "code", "message", "field" } }`.
#[derive(Debug)]
pub struct ApiError(pub Error);

impl<E: Into<Error>> From<E> for ApiError {
    fn from(e: E) -> Self {
        Self(e.into())
    }
}

/// The body of every error response.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct ErrorBody {
    /// The error.
    pub error: ErrorDetail,
}

/// What went wrong, for the caller.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct ErrorDetail {
    /// Stable machine-readable code.
    pub code: &'static str,
    /// Human-readable explanation (never internals or secrets).
    pub message: String,
    /// The field at fault, when there is one.
    pub field: Option<String>,
}

/// Every route's refusals and failures in its OpenAPI description: any 4xx or 5xx
/// answer has the [`ErrorBody`] shape.
impl utoipa::IntoResponses for ApiError {
    fn responses() -> std::collections::BTreeMap<String, RefOr<utoipa::openapi::Response>> {
        let answer = |description: &str| {
            let body = ContentBuilder::new().schema(Some(Ref::from_schema_name("ErrorBody"))).build();
            ResponseBuilder::new().description(description).content("application/json", body).build().into()
        };
        std::collections::BTreeMap::from([
            (
                "4XX".to_owned(),
                answer("The request is refused; `error.code` says why and `error.field` names the field at fault"),
            ),
            (
                "5XX".to_owned(),
                answer("A backing service is unavailable (503) or the server failed (500); retry later"),
            ),
        ])
    }
}

impl ApiError {
    /// The status and body this error maps to.
    pub fn parts(&self) -> (StatusCode, ErrorDetail) {
        let (status, message, field) = match &self.0 {
            Error::Malformed { field, reason } => (StatusCode::BAD_REQUEST, reason.clone(), field.clone()),
            Error::Invalid { field, reason } => {
                (StatusCode::UNPROCESSABLE_ENTITY, format!("{field}: {reason}"), Some(field.clone()))
            }
            Error::Unauthenticated(m) => (StatusCode::UNAUTHORIZED, m.clone(), None),
            Error::Forbidden(m) => (StatusCode::FORBIDDEN, m.clone(), None),
            Error::NotFound(m) => (StatusCode::NOT_FOUND, m.clone(), None),
            Error::Conflict { field, message } => (StatusCode::CONFLICT, message.clone(), field.clone()),
            e @ Error::TooLarge { .. } => (StatusCode::PAYLOAD_TOO_LARGE, e.to_string(), None),
            Error::UnsupportedMediaType(m) => (StatusCode::UNSUPPORTED_MEDIA_TYPE, m.clone(), None),
            Error::Unavailable(_) => (
                StatusCode::SERVICE_UNAVAILABLE,
                format!("a backing service is unavailable; retry later (request id {})", request_id::current()),
                None,
            ),
            Error::Unexpected(_) => (
                StatusCode::INTERNAL_SERVER_ERROR,
                format!("internal error (request id {})", request_id::current()),
                None,
            ),
        };
        (status, ErrorDetail { code: self.0.code(), message, field })
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let (status, detail) = self.parts();
        if status.is_server_error() {
            tracing::error!(error = %self.0, status = status.as_u16(), "request failed");
        } else {
            tracing::info!(code = detail.code, status = status.as_u16(), "request refused");
        }
        (status, Json(ErrorBody { error: detail })).into_response()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statuses() {
        let cases = [
            (Error::malformed("x"), 400),
            (Error::invalid("email", "bad"), 422),
            (Error::Unauthenticated("x".into()), 401),
            (Error::Forbidden("x".into()), 403),
            (Error::NotFound("x".into()), 404),
            (Error::conflict("x"), 409),
            (Error::TooLarge { limit: 10 }, 413),
            (Error::UnsupportedMediaType("x".into()), 415),
            (Error::Unavailable("db down".into()), 503),
            (Error::unexpected("secret detail"), 500),
        ];
        for (err, status) in cases {
            let (got, detail) = ApiError(err).parts();
            assert_eq!(got.as_u16(), status);
            assert!(!detail.message.contains("secret detail") && !detail.message.contains("db down"));
        }
    }
}
