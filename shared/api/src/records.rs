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
use utoipa::IntoParams;

use crate::{ApiError, ApiJson, ApiPath, ApiQuery, Caller, health};

fn kind(raw: &str) -> Result<RecordKind, ApiError> {
    Ok(raw.parse()?)
}

/// A record named by the path.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Path)]
struct RecordPath {
    /// The record's kind.
    #[param(value_type = RecordKind)]
    kind: String,
    /// The record's id in the ATS.
    id: String,
}

/// Creates or replaces a record and its phone numbers (managers, admins).
#[utoipa::path(put, path = "/records/{kind}/{id}", tag = "records", params(RecordPath), request_body = RecordInput,
    responses((status = 200, description = "The record as stored", body = RecordView), ApiError))]
async fn upsert_record(
    State(app): State<Arc<App>>,
    Caller(caller): Caller,
    ApiPath(RecordPath { kind: record_kind, id }): ApiPath<RecordPath>,
    ApiJson(input): ApiJson<RecordInput>,
) -> Result<Json<RecordView>, ApiError> {
    Ok(Json(records::upsert(&app, &caller, kind(&record_kind)?, &id, input).await?))
}

/// Paging of a listing.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
struct Paging {
    /// The previous page's `next`.
    cursor: Option<String>,
    /// Page size, 1–100 (default 50; other values are brought into range).
    limit: Option<u32>,
}

/// A record's archived texts and notes, newest first.
#[utoipa::path(get, path = "/records/{kind}/{id}/messages", tag = "records", params(RecordPath, Paging),
    responses((status = 200, description = "One page of the conversation", body = ConversationPage), ApiError))]
async fn conversation(
    State(app): State<Arc<App>>,
    Caller(caller): Caller,
    ApiPath(RecordPath { kind: record_kind, id }): ApiPath<RecordPath>,
    ApiQuery(paging): ApiQuery<Paging>,
) -> Result<Json<ConversationPage>, ApiError> {
    let page =
        records::conversation(&app, &caller, kind(&record_kind)?, &id, paging.cursor, paging.limit.unwrap_or(50))
            .await?;
    Ok(Json(page))
}

/// Texts whose number matches no record (admins), oldest first.
#[utoipa::path(get, path = "/messages/unmatched", tag = "records", params(Paging),
    responses((status = 200, description = "One page of unmatched texts", body = UnmatchedPage), ApiError))]
async fn unmatched(
    State(app): State<Arc<App>>,
    Caller(caller): Caller,
    ApiQuery(paging): ApiQuery<Paging>,
) -> Result<Json<UnmatchedPage>, ApiError> {
    Ok(Json(records::unmatched(&app, &caller, paging.cursor, paging.limit.unwrap_or(50)).await?))
}

/// Messages the archiver gave up on (admins: their tenant's; staff: every tenant's).
#[utoipa::path(get, path = "/admin/dead-letters", tag = "operations",
    responses((status = 200, description = "The dead letters", body = Vec<DeadLetterView>), ApiError))]
async fn list_dead_letters(
    State(app): State<Arc<App>>,
    Caller(caller): Caller,
) -> Result<Json<Vec<DeadLetterView>>, ApiError> {
    Ok(Json(dead_letters::list(&app, &caller).await?))
}

/// The intake queue's depth and its dead letters per tenant (staff).
#[utoipa::path(get, path = "/admin/queues", tag = "operations",
    responses((status = 200, description = "Queue depth", body = QueueStatus), ApiError))]
async fn queue_depth(State(app): State<Arc<App>>, Caller(caller): Caller) -> Result<Json<QueueStatus>, ApiError> {
    Ok(Json(dead_letters::depth(&app, &caller).await?))
}

/// The per-provider allow-lists of webhook source addresses (admins).
#[utoipa::path(get, path = "/admin/webhook-sources", tag = "operations",
    responses((status = 200, description = "Provider name to CIDR ranges", body = BTreeMap<String, Vec<String>>), ApiError))]
async fn get_sources(State(app): State<Arc<App>>, Caller(caller): Caller) -> Result<Json<SourceLists>, ApiError> {
    Ok(Json(webhook_sources::get(&app, &caller).await?))
}

/// Replaces the per-provider allow-lists of webhook source addresses (admins).
#[utoipa::path(put, path = "/admin/webhook-sources", tag = "operations",
    request_body(description = "Provider name to CIDR ranges", content = BTreeMap<String, Vec<String>>),
    responses((status = 200, description = "The lists as stored", body = BTreeMap<String, Vec<String>>), ApiError))]
async fn set_sources(
    State(app): State<Arc<App>>,
    Caller(caller): Caller,
    ApiJson(lists): ApiJson<SourceLists>,
) -> Result<Json<SourceLists>, ApiError> {
    Ok(Json(webhook_sources::set(&app, &caller, lists).await?))
}

/// Moves dead letters back to the intake queue (all, or those named).
#[utoipa::path(post, path = "/admin/dead-letters/replay", tag = "operations", request_body = ReplayRequest,
    responses((status = 200, description = "How many were moved", body = Replayed), ApiError))]
async fn replay(
    State(app): State<Arc<App>>,
    Caller(caller): Caller,
    ApiJson(request): ApiJson<ReplayRequest>,
) -> Result<Json<Replayed>, ApiError> {
    Ok(Json(dead_letters::replay(&app, &caller, request).await?))
}

/// Removes a record and its archive for good (customer admins).
#[utoipa::path(delete, path = "/records/{kind}/{id}", tag = "records", params(RecordPath),
    responses((status = 200, description = "The audit entry of the purge", body = records::Purged), ApiError))]
async fn purge_record(
    State(app): State<Arc<App>>,
    Caller(caller): Caller,
    ApiPath(RecordPath { kind: record_kind, id }): ApiPath<RecordPath>,
) -> Result<Json<records::Purged>, ApiError> {
    Ok(Json(records::purge(&app, &caller, kind(&record_kind)?, &id).await?))
}

/// The purges of the caller's tenant (admins).
#[utoipa::path(get, path = "/admin/audit", tag = "records",
    responses((status = 200, description = "The audit trail", body = Vec<records::Purged>), ApiError))]
async fn audit_trail(
    State(app): State<Arc<App>>,
    Caller(caller): Caller,
) -> Result<Json<Vec<records::Purged>>, ApiError> {
    Ok(Json(records::audit_trail(&app, &caller).await?))
}

/// The ATS sync's last report (admins).
#[utoipa::path(get, path = "/admin/ats-sync/report", tag = "ats sync",
    responses((status = 200, description = "The last run's report", body = TenantReport), ApiError))]
async fn sync_report(State(app): State<Arc<App>>, Caller(caller): Caller) -> Result<Json<TenantReport>, ApiError> {
    Ok(Json(sync::last_report(&app, &caller).await?))
}

/// The ATS sync's open conflicts (admins).
#[utoipa::path(get, path = "/admin/ats-sync/conflicts", tag = "ats sync",
    responses((status = 200, description = "The conflicts", body = Vec<SyncConflictItem>), ApiError))]
async fn sync_conflicts(
    State(app): State<Arc<App>>,
    Caller(caller): Caller,
) -> Result<Json<Vec<SyncConflictItem>>, ApiError> {
    Ok(Json(sync::conflicts(&app, &caller).await?))
}

/// Resolves an ATS sync conflict: dismiss it, or map the ATS user to a texting user (admins).
#[utoipa::path(post, path = "/admin/ats-sync/conflicts/{ats_user}/resolve", tag = "ats sync",
    params(("ats_user" = String, Path, description = "The ATS user id of the conflict")), request_body = Resolution,
    responses((status = 200, description = "The conflict as resolved", body = SyncConflictItem), ApiError))]
async fn resolve_conflict(
    State(app): State<Arc<App>>,
    Caller(caller): Caller,
    ApiPath(ats_user): ApiPath<String>,
    ApiJson(resolution): ApiJson<Resolution>,
) -> Result<Json<SyncConflictItem>, ApiError> {
    Ok(Json(sync::resolve(&app, &caller, &ats_user, resolution).await?))
}

/// Message action types, built-in and added (admins).
#[utoipa::path(get, path = "/admin/action-types", tag = "access",
    responses((status = 200, description = "The action types", body = Vec<ActionTypeView>), ApiError))]
async fn list_types(
    State(app): State<Arc<App>>,
    Caller(caller): Caller,
) -> Result<Json<Vec<ActionTypeView>>, ApiError> {
    Ok(Json(access::list_types(&app, &caller).await?))
}

/// Adds a message action type (admins).
#[utoipa::path(post, path = "/admin/action-types", tag = "access", request_body = NewActionType,
    responses((status = 201, description = "The new action type", body = ActionTypeView), ApiError))]
async fn add_type(
    State(app): State<Arc<App>>,
    Caller(caller): Caller,
    ApiJson(new): ApiJson<NewActionType>,
) -> Result<(StatusCode, Json<ActionTypeView>), ApiError> {
    Ok((StatusCode::CREATED, Json(access::add_type(&app, &caller, new).await?)))
}

/// Security groups and their grants (admins).
#[utoipa::path(get, path = "/admin/security-groups", tag = "access",
    responses((status = 200, description = "The security groups", body = Vec<SecurityGroupView>), ApiError))]
async fn list_security_groups(
    State(app): State<Arc<App>>,
    Caller(caller): Caller,
) -> Result<Json<Vec<SecurityGroupView>>, ApiError> {
    Ok(Json(access::list_groups(&app, &caller).await?))
}

/// Creates a security group (admins).
#[utoipa::path(post, path = "/admin/security-groups", tag = "access", request_body = NewSecurityGroup,
    responses((status = 201, description = "The new security group", body = SecurityGroupView), ApiError))]
async fn create_security_group(
    State(app): State<Arc<App>>,
    Caller(caller): Caller,
    ApiJson(new): ApiJson<NewSecurityGroup>,
) -> Result<(StatusCode, Json<SecurityGroupView>), ApiError> {
    Ok((StatusCode::CREATED, Json(access::create_group(&app, &caller, new).await?)))
}

/// Replaces a security group's grants (admins).
#[utoipa::path(put, path = "/admin/security-groups/{name}", tag = "access",
    params(("name" = String, Path, description = "Security group name")), request_body = Grants,
    responses((status = 200, description = "The security group as stored", body = SecurityGroupView), ApiError))]
async fn update_security_group(
    State(app): State<Arc<App>>,
    Caller(caller): Caller,
    ApiPath(name): ApiPath<String>,
    ApiJson(grants): ApiJson<Grants>,
) -> Result<Json<SecurityGroupView>, ApiError> {
    Ok(Json(access::update_group(&app, &caller, &name, grants).await?))
}

/// The security group a user is in (admins).
#[utoipa::path(get, path = "/admin/security-members/{user_id}", tag = "access",
    params(("user_id" = String, Path, description = "Texting user id")),
    responses((status = 200, description = "The user's security group", body = Membership), ApiError))]
async fn get_member(
    State(app): State<Arc<App>>,
    Caller(caller): Caller,
    ApiPath(user): ApiPath<String>,
) -> Result<Json<Membership>, ApiError> {
    Ok(Json(access::member(&app, &caller, &user).await?))
}

/// Puts a user in a security group (admins).
#[utoipa::path(put, path = "/admin/security-members/{user_id}", tag = "access",
    params(("user_id" = String, Path, description = "Texting user id")), request_body = Membership,
    responses((status = 200, description = "The user's security group", body = Membership), ApiError))]
async fn set_member(
    State(app): State<Arc<App>>,
    Caller(caller): Caller,
    ApiPath(user): ApiPath<String>,
    ApiJson(membership): ApiJson<Membership>,
) -> Result<Json<Membership>, ApiError> {
    Ok(Json(access::set_member(&app, &caller, &user, membership).await?))
}

/// A number's opt-out status and history (admins).
#[utoipa::path(get, path = "/admin/opt-outs/{number}", tag = "messages",
    params(("number" = String, Path, description = "Phone number (E.164, or national in the default region)")),
    responses((status = 200, description = "Opt-out status and history", body = OptOutStatus), ApiError))]
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

/// Sends one text (users with Can Text); a repeated `Idempotency-Key` answers the first send again.
#[utoipa::path(post, path = "/messages/send", tag = "messages",
    params(("Idempotency-Key" = Option<String>, Header, description = "Makes a retried send answer the first one")),
    request_body = SendRequest,
    responses((status = 201, description = "The text as handed to the provider", body = Sent), ApiError))]
async fn send_text(
    State(app): State<Arc<App>>,
    Caller(caller): Caller,
    headers: HeaderMap,
    ApiJson(request): ApiJson<SendRequest>,
) -> Result<(StatusCode, Json<Sent>), ApiError> {
    let sent = send::send(&app, &caller, request, idempotency_key(&headers)?).await?;
    Ok((StatusCode::CREATED, Json(sent)))
}

/// Writes a note on a record (users whose security group writes the note's action type).
#[utoipa::path(post, path = "/records/{kind}/{id}/notes", tag = "records", params(RecordPath), request_body = NewNote,
    responses((status = 201, description = "The note", body = NoteEntry), ApiError))]
async fn write_note(
    State(app): State<Arc<App>>,
    Caller(caller): Caller,
    ApiPath(RecordPath { kind: record_kind, id }): ApiPath<RecordPath>,
    ApiJson(note): ApiJson<NewNote>,
) -> Result<(StatusCode, Json<NoteEntry>), ApiError> {
    Ok((StatusCode::CREATED, Json(records::write_note(&app, &caller, kind(&record_kind)?, &id, note).await?)))
}

/// The caller's own recent conversations.
#[utoipa::path(get, path = "/messages/mine", tag = "messages", params(Paging),
    responses((status = 200, description = "One page of conversations", body = MinePage), ApiError))]
async fn my_conversations(
    State(app): State<Arc<App>>,
    Caller(caller): Caller,
    ApiQuery(paging): ApiQuery<Paging>,
) -> Result<Json<MinePage>, ApiError> {
    Ok(Json(conversations::mine(&app, &caller, paging.cursor.as_deref(), paging.limit.unwrap_or(50)).await?))
}

/// A search by number.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
struct NumberSearch {
    /// Phone number (E.164, or national in the default region).
    number: String,
    /// At most this many texts, 1–100 (default 50; other values are brought into range).
    limit: Option<u32>,
}

/// A number's records, opt-out status and texts.
#[utoipa::path(get, path = "/messages/search", tag = "messages", params(NumberSearch),
    responses((status = 200, description = "What is known of the number", body = NumberView), ApiError))]
async fn search_number(
    State(app): State<Arc<App>>,
    Caller(caller): Caller,
    ApiQuery(search): ApiQuery<NumberSearch>,
) -> Result<Json<NumberView>, ApiError> {
    Ok(Json(conversations::by_number(&app, &caller, &search.number, search.limit.unwrap_or(50)).await?))
}

/// Starts a mass text (users with Can Text): one queued message per recipient.
#[utoipa::path(post, path = "/messages/mass", tag = "messages", request_body = MassRequest,
    responses((status = 202, description = "The job, accepted", body = Accepted), ApiError))]
async fn start_mass(
    State(app): State<Arc<App>>,
    Caller(caller): Caller,
    ApiJson(request): ApiJson<MassRequest>,
) -> Result<(StatusCode, Json<Accepted>), ApiError> {
    Ok((StatusCode::ACCEPTED, Json(mass::start(&app, &caller, request).await?)))
}

/// A mass text's progress (its sender, admins).
#[utoipa::path(get, path = "/messages/mass/{job}", tag = "messages",
    params(("job" = String, Path, description = "Mass text job id")),
    responses((status = 200, description = "The job's progress", body = Progress), ApiError))]
async fn mass_progress(
    State(app): State<Arc<App>>,
    Caller(caller): Caller,
    ApiPath(job): ApiPath<String>,
) -> Result<Json<Progress>, ApiError> {
    Ok(Json(mass::progress(&app, &caller, &job).await?))
}

/// The records function's routes (without the finishing layers; see [`crate::finish`]).
pub fn router(app: Arc<App>) -> Router {
    Router::new()
        .route("/records/health", get(health::records))
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
