//! The records router: the record directory, archived conversations, unmatched
//! messages, and the operator routes for dead letters and webhook sources.
//!
//! | route | who | what |
//! |---|---|---|
//! | `PUT /records/{kind}/{id}` | managers, admins | upsert a record and its numbers |
//! | `DELETE /records/{kind}/{id}`, `GET /admin/audit` | customer admins; admins | purge a record and its archive; the audit trail |
//! | `GET /records/{kind}/{id}/messages` | tenant users | the record's texts, newest first |
//! | `GET /messages/unmatched` | admins | texts whose number matches no record |
//! | `GET /admin/dead-letters`, `POST /admin/dead-letters/replay` | admins (own tenant), staff | dead letters |
//! | `GET·PUT /admin/webhook-sources` | admins | per-provider source-address allow-lists |
//! | `GET /admin/ats-sync/report`, `GET /admin/ats-sync/conflicts`, `POST …/conflicts/{ats_user}/resolve` | admins | the ATS sync's last report and its conflicts |

use std::sync::Arc;

use axum::{
    Json, Router,
    extract::State,
    routing::{get, post, put},
};
use serde::Deserialize;
use textbridge_app::{
    App,
    dead_letters::{self, DeadLetterView, ReplayRequest, Replayed},
    items::SyncConflictItem,
    records::{self, ConversationPage, RecordInput, RecordView, UnmatchedPage},
    sync::{self, Resolution, TenantReport},
    webhook_sources::{self, SourceLists},
};
use textbridge_domain::RecordKind;

use crate::{ApiError, ApiJson, ApiPath, ApiQuery, Caller, health};

fn kind(raw: &str) -> Result<RecordKind, ApiError> {
    Ok(raw.parse()?)
}

async fn upsert_record(
    State(app): State<Arc<App>>,
    Caller(caller): Caller,
    ApiPath((record_kind, id)): ApiPath<(String, String)>,
    ApiJson(input): ApiJson<RecordInput>,
) -> Result<Json<RecordView>, ApiError> {
    Ok(Json(records::upsert(&app, &caller, kind(&record_kind)?, &id, input).await?))
}

/// Paging of a listing (`cursor` from the previous page's `next`, `limit` 1–100).
#[derive(Debug, Deserialize)]
struct Paging {
    cursor: Option<String>,
    limit: Option<u32>,
}

async fn conversation(
    State(app): State<Arc<App>>,
    Caller(caller): Caller,
    ApiPath((record_kind, id)): ApiPath<(String, String)>,
    ApiQuery(paging): ApiQuery<Paging>,
) -> Result<Json<ConversationPage>, ApiError> {
    let page =
        records::conversation(&app, &caller, kind(&record_kind)?, &id, paging.cursor, paging.limit.unwrap_or(50))
            .await?;
    Ok(Json(page))
}

async fn unmatched(
    State(app): State<Arc<App>>,
    Caller(caller): Caller,
    ApiQuery(paging): ApiQuery<Paging>,
) -> Result<Json<UnmatchedPage>, ApiError> {
    Ok(Json(records::unmatched(&app, &caller, paging.cursor, paging.limit.unwrap_or(50)).await?))
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

async fn purge_record(
    State(app): State<Arc<App>>,
    Caller(caller): Caller,
    ApiPath((record_kind, id)): ApiPath<(String, String)>,
) -> Result<Json<records::Purged>, ApiError> {
    Ok(Json(records::purge(&app, &caller, kind(&record_kind)?, &id).await?))
}

async fn audit_trail(
    State(app): State<Arc<App>>,
    Caller(caller): Caller,
) -> Result<Json<Vec<records::Purged>>, ApiError> {
    Ok(Json(records::audit_trail(&app, &caller).await?))
}

async fn sync_report(State(app): State<Arc<App>>, Caller(caller): Caller) -> Result<Json<TenantReport>, ApiError> {
    Ok(Json(sync::last_report(&app, &caller).await?))
}

async fn sync_conflicts(
    State(app): State<Arc<App>>,
    Caller(caller): Caller,
) -> Result<Json<Vec<SyncConflictItem>>, ApiError> {
    Ok(Json(sync::conflicts(&app, &caller).await?))
}

async fn resolve_conflict(
    State(app): State<Arc<App>>,
    Caller(caller): Caller,
    ApiPath(ats_user): ApiPath<String>,
    ApiJson(resolution): ApiJson<Resolution>,
) -> Result<Json<SyncConflictItem>, ApiError> {
    Ok(Json(sync::resolve(&app, &caller, &ats_user, resolution).await?))
}

/// The records function's routes (without the finishing layers; see [`crate::finish`]).
pub fn router(app: Arc<App>) -> Router {
    health::routes("/records/health")
        .route("/records/{kind}/{id}", put(upsert_record).delete(purge_record))
        .route("/records/{kind}/{id}/messages", get(conversation))
        .route("/messages/unmatched", get(unmatched))
        .route("/admin/dead-letters", get(list_dead_letters))
        .route("/admin/dead-letters/replay", post(replay))
        .route("/admin/webhook-sources", get(get_sources).put(set_sources))
        .route("/admin/audit", get(audit_trail))
        .route("/admin/ats-sync/report", get(sync_report))
        .route("/admin/ats-sync/conflicts", get(sync_conflicts))
        .route("/admin/ats-sync/conflicts/{ats_user}/resolve", post(resolve_conflict))
        .with_state(app)
}
