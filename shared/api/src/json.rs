//! A JSON body extractor whose rejections use the common error shape.

use axum::{
    extract::{FromRequest, Request, rejection::JsonRejection},
    http::StatusCode,
};
use serde::de::DeserializeOwned;
use textbridge_domain::Error;

use super::{ApiError, MAX_BODY_BYTES};

/// Like `axum::Json`, but a bad body is a 400 (unreadable), 413 (too large) or 415
/// mapped to a clear message in the common error shape.
#[derive(Debug, Clone, Copy, Default)]
pub struct ApiJson<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned> FromRequest<S> for ApiJson<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, ApiError> {
        match axum::Json::<T>::from_request(req, state).await {
            Ok(axum::Json(v)) => Ok(Self(v)),
            Err(rejection) => Err(ApiError(rejection_to_error(&rejection))),
        }
    }
}

fn rejection_to_error(rejection: &JsonRejection) -> Error {
    match rejection {
        r if r.status() == StatusCode::PAYLOAD_TOO_LARGE => Error::TooLarge { limit: MAX_BODY_BYTES },
        JsonRejection::MissingJsonContentType(_) => {
            Error::malformed("expected a body with Content-Type: application/json")
        }
        JsonRejection::JsonDataError(e) => Error::Malformed { field: None, reason: e.body_text() },
        JsonRejection::JsonSyntaxError(e) => Error::Malformed { field: None, reason: e.body_text() },
        JsonRejection::BytesRejection(_) => Error::malformed("the request body could not be read to its end"),
        other => Error::malformed(other.body_text()),
    }
}
