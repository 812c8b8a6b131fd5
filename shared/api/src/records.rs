//! The records router: the record directory, archived conversations, unmatched
//! messages, and the operator routes for dead letters and webhook sources.
//!
//! | route | who | what |
//! |---|---|---|
//! | `PUT /records/{kind}/{id}` | managers, admins | upsert a record and its numbers |
//! | `DELETE /records/{kind}/{id}`, `GET /admin/audit` | customer admins; admins | purge a record and its archive; the audit trail |
//! | `GET /records/{kind}/{id}/messages` | tenant users | the record's texts and notes, newest first |
//! | `POST /records/{kind}/{id}/notes` | users whose security group writes the note's action type | write a note |
//! | `GET /messages/unmatched` | admins | texts whose number matches no record |
//! | `GET /admin/dead-letters`, `POST /admin/dead-letters/replay` | admins (own tenant), staff | dead letters |
//! | `GET /admin/queues` | staff | the intake queue's depth and its dead letters, per tenant (every tenant's) |
//! | `GET·PUT /admin/webhook-sources` | admins | per-provider source-address allow-lists |
//! | `GET /admin/ats-sync/report`, `GET /admin/ats-sync/conflicts`, `POST …/conflicts/{ats_user}/resolve` | admins | the ATS sync's last report and its conflicts |
//! | `GET·POST /admin/action-types` | admins | message action types (built-in and added) |
//! | `GET·POST /admin/security-groups`, `PUT /admin/security-groups/{name}` | admins | security groups and their grants |
//! | `GET·PUT /admin/security-members/{user_id}` | admins | the security group a user is in |
//! | `GET /admin/opt-outs/{number}` | admins | a number's opt-out status and history |
//! | `POST /messages/send` (`Idempotency-Key` header) | users with Can Text | send one text |
//! | `GET /messages/mine?limit&cursor` | tenant users | the caller's own recent conversations |
//! | `GET /messages/search?number=` | tenant users | a number's records, opt-out and texts |
//! | `POST /messages/mass`, `GET /messages/mass/{job}` | users with Can Text (their jobs), admins | mass texts and their progress |

use std::sync::Arc;

use axum::{
    Json, Router,
    extract::State,
    http::{HeaderMap, StatusCode},
    routing::{get, post, put},
};
use serde::Deserialize;
use textbridge_app::{
    App,
    access::{self, ActionTypeView, Grants, Membership, NewActionType, NewSecurityGroup, SecurityGroupView},
    conversations::{self, MinePage, NumberView},
    dead_letters::{self, DeadLetterView, QueueStatus, ReplayRequest, Replayed},
    items::{NoteEntry, SyncConflictItem},
    mass::{self, Accepted, MassRequest, Progress},
    optout::{self, OptOutStatus},
    records::{self, ConversationPage, NewNote, RecordInput, RecordView, UnmatchedPage},
    send::{self, SendRequest, Sent},
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

async fn queue_depth(State(app): State<Arc<App>>, Caller(caller): Caller) -> Result<Json<QueueStatus>, ApiError> {
    Ok(Json(dead_letters::depth(&app, &caller).await?))
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

async fn list_types(
    State(app): State<Arc<App>>,
    Caller(caller): Caller,
) -> Result<Json<Vec<ActionTypeView>>, ApiError> {
    Ok(Json(access::list_types(&app, &caller).await?))
}

async fn add_type(
    State(app): State<Arc<App>>,
    Caller(caller): Caller,
    ApiJson(new): ApiJson<NewActionType>,
) -> Result<(StatusCode, Json<ActionTypeView>), ApiError> {
    Ok((StatusCode::CREATED, Json(access::add_type(&app, &caller, new).await?)))
}

async fn list_security_groups(
    State(app): State<Arc<App>>,
    Caller(caller): Caller,
) -> Result<Json<Vec<SecurityGroupView>>, ApiError> {
    Ok(Json(access::list_groups(&app, &caller).await?))
}

async fn create_security_group(
    State(app): State<Arc<App>>,
    Caller(caller): Caller,
    ApiJson(new): ApiJson<NewSecurityGroup>,
) -> Result<(StatusCode, Json<SecurityGroupView>), ApiError> {
    Ok((StatusCode::CREATED, Json(access::create_group(&app, &caller, new).await?)))
}

async fn update_security_group(
    State(app): State<Arc<App>>,
    Caller(caller): Caller,
    ApiPath(name): ApiPath<String>,
    ApiJson(grants): ApiJson<Grants>,
) -> Result<Json<SecurityGroupView>, ApiError> {
    Ok(Json(access::update_group(&app, &caller, &name, grants).await?))
}

async fn get_member(
    State(app): State<Arc<App>>,
    Caller(caller): Caller,
    ApiPath(user): ApiPath<String>,
) -> Result<Json<Membership>, ApiError> {
    Ok(Json(access::member(&app, &caller, &user).await?))
}

async fn set_member(
    State(app): State<Arc<App>>,
    Caller(caller): Caller,
    ApiPath(user): ApiPath<String>,
    ApiJson(membership): ApiJson<Membership>,
) -> Result<Json<Membership>, ApiError> {
    Ok(Json(access::set_member(&app, &caller, &user, membership).await?))
}

async fn opt_out_status(
    State(app): State<Arc<App>>,
    Caller(caller): Caller,
    ApiPath(number): ApiPath<String>,
) -> Result<Json<OptOutStatus>, ApiError> {
    Ok(Json(optout::status(&app, &caller, &number).await?))
}

/// The `Idempotency-Key` header, if sent; one that is not text is a 422.
fn idempotency_key(headers: &HeaderMap) -> Result<Option<&str>, ApiError> {
    headers
        .get("idempotency-key")
        .map(|v| {
            v.to_str().map_err(|_| {
                ApiError(textbridge_domain::Error::invalid("Idempotency-Key", "must be visible ASCII characters"))
            })
        })
        .transpose()
}

async fn send_text(
    State(app): State<Arc<App>>,
    Caller(caller): Caller,
    headers: HeaderMap,
    ApiJson(request): ApiJson<SendRequest>,
) -> Result<(StatusCode, Json<Sent>), ApiError> {
    let sent = send::send(&app, &caller, request, idempotency_key(&headers)?).await?;
    Ok((StatusCode::CREATED, Json(sent)))
}

async fn write_note(
    State(app): State<Arc<App>>,
    Caller(caller): Caller,
    ApiPath((record_kind, id)): ApiPath<(String, String)>,
    ApiJson(note): ApiJson<NewNote>,
) -> Result<(StatusCode, Json<NoteEntry>), ApiError> {
    Ok((StatusCode::CREATED, Json(records::write_note(&app, &caller, kind(&record_kind)?, &id, note).await?)))
}

async fn my_conversations(
    State(app): State<Arc<App>>,
    Caller(caller): Caller,
    ApiQuery(paging): ApiQuery<Paging>,
) -> Result<Json<MinePage>, ApiError> {
    Ok(Json(conversations::mine(&app, &caller, paging.cursor.as_deref(), paging.limit.unwrap_or(50)).await?))
}

/// A search by number.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct NumberSearch {
    number: String,
    limit: Option<u32>,
}

async fn search_number(
    State(app): State<Arc<App>>,
    Caller(caller): Caller,
    ApiQuery(search): ApiQuery<NumberSearch>,
) -> Result<Json<NumberView>, ApiError> {
    Ok(Json(conversations::by_number(&app, &caller, &search.number, search.limit.unwrap_or(50)).await?))
}

async fn start_mass(
    State(app): State<Arc<App>>,
    Caller(caller): Caller,
    ApiJson(request): ApiJson<MassRequest>,
) -> Result<(StatusCode, Json<Accepted>), ApiError> {
    Ok((StatusCode::ACCEPTED, Json(mass::start(&app, &caller, request).await?)))
}

async fn mass_progress(
    State(app): State<Arc<App>>,
    Caller(caller): Caller,
    ApiPath(job): ApiPath<String>,
) -> Result<Json<Progress>, ApiError> {
    Ok(Json(mass::progress(&app, &caller, &job).await?))
}

/// The records function's routes (without the finishing layers; see [`crate::finish`]).
pub fn router(app: Arc<App>) -> Router {
    health::routes("/records/health")
        .route("/records/{kind}/{id}", put(upsert_record).delete(purge_record))
        .route("/records/{kind}/{id}/messages", get(conversation))
        .route("/records/{kind}/{id}/notes", post(write_note))
        .route("/messages/unmatched", get(unmatched))
        .route("/admin/dead-letters", get(list_dead_letters))
        .route("/admin/dead-letters/replay", post(replay))
        .route("/admin/queues", get(queue_depth))
        .route("/admin/webhook-sources", get(get_sources).put(set_sources))
        .route("/admin/audit", get(audit_trail))
        .route("/admin/ats-sync/report", get(sync_report))
        .route("/admin/ats-sync/conflicts", get(sync_conflicts))
        .route("/admin/ats-sync/conflicts/{ats_user}/resolve", post(resolve_conflict))
        .route("/admin/action-types", get(list_types).post(add_type))
        .route("/admin/security-groups", get(list_security_groups).post(create_security_group))
        .route("/admin/security-groups/{name}", put(update_security_group))
        .route("/admin/security-members/{user_id}", get(get_member).put(set_member))
        .route("/admin/opt-outs/{number}", get(opt_out_status))
        .route("/messages/send", post(send_text))
        .route("/messages/mine", get(my_conversations))
        .route("/messages/search", get(search_number))
        .route("/messages/mass", post(start_mass))
        .route("/messages/mass/{job}", get(mass_progress))
        .with_state(app)
}
