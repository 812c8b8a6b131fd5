//! `PUT /uploads/{key}?expires&signature`: the local server's stand-in for a
//! presigned S3 upload, taking a large import file to its upload place
//! ([`LocalUploads`]). The signature is the authorisation; no bearer token.

use std::sync::Arc;

use axum::{
    Json, Router,
    body::Bytes,
    extract::{DefaultBodyLimit, State, rejection::BytesRejection},
    http::StatusCode,
    routing::put,
};
use serde::Deserialize;
use serde_json::{Value, json};
use textbridge_api::{ApiError, ApiPath, ApiQuery, ErrorBody, imports::file_body, openapi::FileBytes};
use textbridge_domain::Error;
use textbridge_embedded::{AcceptError, LocalUploads, Refusal};
use textbridge_import::MAX_FILE_BYTES;

/// The signed part of an upload URL.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
struct Signed {
    /// When the URL stops working (Unix seconds).
    expires: i64,
    /// The server's signature of the key and `expires`.
    signature: String,
}

/// Takes a large import file to the upload place an upload URL names (the URL from
/// `POST /users/imports/uploads`; its signature is the authorisation).
#[utoipa::path(put, path = "/uploads/{key}", tag = "imports", security(()),
    params(("key" = String, Path, description = "The upload's key, as in the upload URL"), Signed),
    request_body(description = "The file", content((FileBytes = "application/octet-stream"))),
    responses(
        (status = 200, description = "The file is stored; name it as `upload` in `POST /users/imports`", body = Object),
        (status = 403, description = "The signature does not match or the URL has expired", body = ErrorBody),
        ApiError,
    ))]
async fn accept(
    State(uploads): State<Arc<LocalUploads>>,
    ApiPath(key): ApiPath<String>,
    ApiQuery(signed): ApiQuery<Signed>,
    bytes: Result<Bytes, BytesRejection>,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    let bytes = file_body(bytes)?;
    match uploads.accept(&key, signed.expires, &signed.signature, bytes.to_vec()).await {
        Ok(()) => Ok((StatusCode::OK, Json(json!({})))),
        Err(AcceptError::Refused(Refusal::UnknownKey)) => Err(ApiError(Error::NotFound("no such upload".into()))),
        Err(AcceptError::Refused(Refusal::BadSignature)) => {
            Err(ApiError(Error::Forbidden("the upload URL's signature does not match; ask for a new URL".into())))
        }
        Err(AcceptError::Refused(Refusal::Expired)) => {
            Err(ApiError(Error::Forbidden("the upload URL has expired; ask for a new URL".into())))
        }
        Err(AcceptError::Port(e)) => Err(ApiError(e.into())),
    }
}

/// The upload route, taking files up to the import's limit.
pub fn routes(uploads: Arc<LocalUploads>) -> Router {
    Router::new().route("/uploads/{*key}", put(accept).layer(DefaultBodyLimit::max(MAX_FILE_BYTES))).with_state(uploads)
}
