//! The webhooks function: provider webhook intake onto the queue, the archived
//! conversations and record directory, and the operator routes for dead letters.
//!
//! | route | who | what |
//! |---|---|---|
//! | `POST /webhooks/{provider}/{token}` | the provider (URL token + signature) | intake → queue (202) |
//! | `PUT /records/{kind}/{id}` | managers, admins | upsert a record and its numbers |
//! | `GET /records/{kind}/{id}/messages` | tenant users | the record's texts, newest first |
//! | `GET /messages/unmatched` | admins | texts whose number matches no record |
//! | `GET /admin/dead-letters`, `POST /admin/dead-letters/replay` | admins (own tenant), staff | dead letters |
//! | `GET·PUT /admin/webhook-sources` | admins | per-provider source-address allow-lists |

use std::sync::Arc;

use axum::{
    Json, Router,
    body::to_bytes,
    extract::{Path, Query, Request, State},
    http::StatusCode,
    routing::{get, post, put},
};
use serde::Deserialize;
use textbridge_app::{
    App,
    auth::Caller,
    dead_letters::{self, DeadLetterView, ReplayRequest, Replayed},
    health,
    http::{ApiError, ApiJson, MAX_BODY_BYTES},
    intake::{self, Accepted, Call},
    records::{self, ConversationPage, RecordInput, RecordView, UnmatchedView},
    webhook_sources::{self, SourceLists},
};
use textbridge_domain::{Error, RecordKind};

async fn receive(
    State(app): State<Arc<App>>,
    Path((provider, token)): Path<(String, String)>,
    request: Request,
) -> Result<(StatusCode, Json<Accepted>), ApiError> {
    let (parts, body) = request.into_parts();
    let body = to_bytes(body, MAX_BODY_BYTES).await.map_err(|_| ApiError(Error::TooLarge { limit: MAX_BODY_BYTES }))?;
    let path_and_query = parts.uri.path_and_query().map_or_else(|| parts.uri.path(), |pq| pq.as_str());
    let source = textbridge_app::http::source_ip(&parts);
    let call =
        Call { provider: &provider, token: &token, path_and_query, headers: &parts.headers, body: &body, source };
    Ok((StatusCode::ACCEPTED, Json(intake::receive(&app, call).await?)))
}

fn kind(raw: &str) -> Result<RecordKind, ApiError> {
    Ok(raw.parse()?)
}

async fn upsert_record(
    State(app): State<Arc<App>>,
    Caller(caller): Caller,
    Path((record_kind, id)): Path<(String, String)>,
    ApiJson(input): ApiJson<RecordInput>,
) -> Result<Json<RecordView>, ApiError> {
    Ok(Json(records::upsert(&app, &caller, kind(&record_kind)?, &id, input).await?))
}

/// Paging of a conversation.
#[derive(Debug, Deserialize)]
struct Paging {
    cursor: Option<String>,
    limit: Option<u32>,
}

async fn conversation(
    State(app): State<Arc<App>>,
    Caller(caller): Caller,
    Path((record_kind, id)): Path<(String, String)>,
    Query(paging): Query<Paging>,
) -> Result<Json<ConversationPage>, ApiError> {
    let page =
        records::conversation(&app, &caller, kind(&record_kind)?, &id, paging.cursor, paging.limit.unwrap_or(50))
            .await?;
    Ok(Json(page))
}

async fn unmatched(State(app): State<Arc<App>>, Caller(caller): Caller) -> Result<Json<Vec<UnmatchedView>>, ApiError> {
    Ok(Json(records::unmatched(&app, &caller).await?))
}

async fn list_dead_letters(
    State(app): State<Arc<App>>,
    Caller(caller): Caller,
) -> Result<Json<Vec<DeadLetterView>>, ApiError> {
    Ok(Json(dead_letters::list(&app, &caller).await?))
}

async fn get_sources(State(app): State<Arc<App>>, Caller(caller): Caller) -> Result<Json<SourceLists>, ApiError> {
    Ok(Json(webhook_sources::get(&app, &caller).await?))
}

async fn set_sources(
    State(app): State<Arc<App>>,
    Caller(caller): Caller,
    ApiJson(lists): ApiJson<SourceLists>,
) -> Result<Json<SourceLists>, ApiError> {
    Ok(Json(webhook_sources::set(&app, &caller, lists).await?))
}

async fn replay(
    State(app): State<Arc<App>>,
    Caller(caller): Caller,
    ApiJson(request): ApiJson<ReplayRequest>,
) -> Result<Json<Replayed>, ApiError> {
    Ok(Json(dead_letters::replay(&app, &caller, request).await?))
}

/// The function's routes (without the finishing layers; see `textbridge_app::http::finish`).
pub fn router(app: Arc<App>) -> Router {
    health::routes("/webhooks/health")
        .route("/webhooks/{provider}/{token}", post(receive))
        .route("/records/{kind}/{id}", put(upsert_record))
        .route("/records/{kind}/{id}/messages", get(conversation))
        .route("/messages/unmatched", get(unmatched))
        .route("/admin/dead-letters", get(list_dead_letters))
        .route("/admin/dead-letters/replay", post(replay))
        .route("/admin/webhook-sources", get(get_sources).put(set_sources))
        .with_state(app)
}
