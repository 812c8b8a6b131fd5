//! The intake router: `POST /webhooks/{provider}/{token}` — the provider's call
//! (registration token in the URL, then its signature) onto the intake queue (202).
//! Nothing else is served here: intake is public, so its function has the least
//! privilege (read the table and the tenant's provider secrets, send to the queue).

use std::sync::Arc;

use axum::{
    Json, Router,
    body::to_bytes,
    extract::{Request, State},
    http::StatusCode,
    routing::{get, post},
};
use textbridge_app::{
    App,
    intake::{self, Accepted, Call},
};
use textbridge_domain::{Error, ProviderKind};

use crate::{ApiError, ApiPath, ErrorBody, MAX_BODY_BYTES, health};

/// The path of the webhook route, as it is logged (the token is a credential).
pub const ROUTE: &str = "/webhooks/{provider}/{token}";

/// A provider's webhook call: checked (registration token, then the provider's
/// signature and the source address), then queued for the archiver.
#[utoipa::path(post, path = "/webhooks/{provider}/{token}", tag = "intake", security(()),
    params(
        ("provider" = ProviderKind, Path, description = "The provider calling"),
        ("token" = String, Path, description = "The registration token Textbridge gave the provider"),
    ),
    request_body(description = "The provider's event, in the provider's own format (JSON or form)",
        content((Object = "application/json"), (Object = "application/x-www-form-urlencoded"))),
    responses(
        (status = 202, description = "Accepted: the events are queued", body = Accepted),
        (status = 401, description = "A missing or bad signature", body = ErrorBody),
        (status = 404, description = "No registration has this token", body = ErrorBody),
        ApiError,
    ))]
async fn receive(
    State(app): State<Arc<App>>,
    ApiPath((provider, token)): ApiPath<(String, String)>,
    request: Request,
) -> Result<(StatusCode, Json<Accepted>), ApiError> {
    let (parts, body) = request.into_parts();
    let body = to_bytes(body, MAX_BODY_BYTES).await.map_err(|e| {
        let too_large = e.into_inner().downcast_ref::<http_body_util::LengthLimitError>().is_some();
        if too_large {
            ApiError(Error::TooLarge { limit: MAX_BODY_BYTES })
        } else {
            ApiError(Error::malformed("the request body could not be read to its end"))
        }
    })?;
    let path_and_query = parts.uri.path_and_query().map_or_else(|| parts.uri.path(), |pq| pq.as_str());
    let source = crate::source_ip(&parts);
    let call =
        Call { provider: &provider, token: &token, path_and_query, headers: &parts.headers, body: &body, source };
    Ok((StatusCode::ACCEPTED, Json(intake::receive(&app, call).await?)))
}

/// The intake function's routes (without the finishing layers; see [`crate::finish`]).
pub fn router(app: Arc<App>) -> Router {
    Router::new().route("/webhooks/health", get(health::intake)).route(ROUTE, post(receive)).with_state(app)
}
