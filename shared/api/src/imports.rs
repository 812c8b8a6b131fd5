//! User import and the users report (S4), merged into the users router.
//!
//! | route | who | what |
//! |---|---|---|
//! | `POST /users/imports/uploads` `{"file_name", "size"}` | managers+ | a URL to PUT a file too large for a request body to |
//! | `POST /users/imports?file_name=…[&upload=ID]` | managers+ | the file as the body, or the uploaded file `ID` (CSV, XLSX, XLS; at most 16 MiB): a new import and its preview |
//! | `GET /users/imports/{id}` | managers+ | preview (uploaded) or outcomes (running, done); `offset`, `limit`, `only` page the rows |
//! | `PUT /users/imports/{id}/mapping` | managers+ | remap (`{"mapping": [field or null, …]}`) and preview again |
//! | `POST /users/imports/{id}/run` | managers+ | apply as a background job: 202 while it runs (follow it with `GET`), 200 once done |
//! | `GET /users/report?format=csv\|xlsx` | reporters+ | every user in the import's column layout |

use std::sync::Arc;

use axum::{
    Json, Router,
    body::Bytes,
    extract::{DefaultBodyLimit, State, rejection::BytesRejection},
    http::{StatusCode, header},
    response::{IntoResponse, Response},
    routing::{get, post, put},
};
use serde::Deserialize;
use textbridge_app::{
    App,
    import::{self, ImportView, MappingInput, OutcomePage, SlotRequest, UploadSlot},
    items::{ImportState, RowAction},
};
use textbridge_domain::Error;
use textbridge_import::MAX_FILE_BYTES;
use utoipa::IntoParams;

use crate::{ApiError, ApiJson, ApiPath, ApiQuery, Caller, openapi::FileBytes};

/// The query of an upload: the file's name (its extension must agree with its
/// content) and the preview's page.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
struct UploadQuery {
    /// The file's name; its extension (`.csv`, `.txt`, `.tsv`, `.xlsx`, `.xlsm`, `.xls`) must agree with its content.
    file_name: String,
    /// The id of a file uploaded to an upload URL (instead of the body).
    #[serde(default)]
    upload: Option<String>,
    /// Preview rows to skip (default 0).
    #[serde(default)]
    offset: Option<u32>,
    /// Preview rows to show, 1–1000 (default 100).
    #[serde(default)]
    limit: Option<u32>,
    /// Only preview rows with this outcome.
    #[serde(default)]
    only: Option<RowAction>,
}

/// An import named by the path (declared for the routes' description).
#[derive(IntoParams)]
#[into_params(parameter_in = Path)]
#[allow(dead_code)]
struct ImportPath {
    /// Import id.
    id: String,
}

/// A file sent as the body, as bytes; one larger than an import reads is the common
/// 413 (also the local upload route's).
pub fn file_body(bytes: Result<Bytes, BytesRejection>) -> Result<Bytes, ApiError> {
    bytes.map_err(|rejection| {
        if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE {
            ApiError(Error::TooLarge { limit: MAX_FILE_BYTES })
        } else {
            ApiError(Error::malformed("the file could not be read from the request"))
        }
    })
}

/// Starts a user import from a file (CSV, XLSX or XLS; at most 16 MiB) sent as the body,
/// or from a file uploaded to an upload URL (managers and above), and previews it.
#[utoipa::path(post, path = "/users/imports", tag = "imports", params(UploadQuery),
    request_body(description = "The file (empty when `upload` names an uploaded one)",
        content((FileBytes = "application/octet-stream"))),
    responses((status = 201, description = "The new import and its preview", body = ImportView), ApiError))]
async fn upload(
    State(app): State<Arc<App>>,
    Caller(caller): Caller,
    ApiQuery(query): ApiQuery<UploadQuery>,
    bytes: Result<Bytes, BytesRejection>,
) -> Result<(StatusCode, Json<ImportView>), ApiError> {
    let bytes = file_body(bytes)?;
    caller.require_user_manager()?;
    let bytes = match &query.upload {
        None => bytes.to_vec(),
        Some(_) if !bytes.is_empty() => {
            return Err(ApiError(Error::invalid("upload", "send the file in the body or as an upload, not both")));
        }
        Some(upload) => import::uploaded(&app, &caller, upload, MAX_FILE_BYTES as u64).await?,
    };
    let name = query.file_name.clone();
    let table = tokio::task::spawn_blocking(move || textbridge_import::read(&bytes, &name))
        .await
        .map_err(Error::unexpected)??;
    let page = OutcomePage { offset: query.offset, limit: query.limit, only: query.only };
    let view = import::upload(&app, &caller, &query.file_name, table, page).await?;
    if let Some(upload) = &query.upload {
        import::discard_upload(&app, &caller.tenant, upload).await;
    }
    Ok((StatusCode::CREATED, Json(view)))
}

/// A URL to PUT a file too large for a request body to (managers and above).
#[utoipa::path(post, path = "/users/imports/uploads", tag = "imports", request_body = SlotRequest,
    responses((status = 201, description = "Where and how to upload the file", body = UploadSlot), ApiError))]
async fn upload_slot(
    State(app): State<Arc<App>>,
    Caller(caller): Caller,
    ApiJson(request): ApiJson<SlotRequest>,
) -> Result<(StatusCode, Json<UploadSlot>), ApiError> {
    if textbridge_import::Format::from_name(&request.file_name).is_none() {
        let why = "must end in .csv, .txt, .tsv, .xlsx, .xlsm or .xls";
        return Err(ApiError(Error::invalid("file_name", why)));
    }
    Ok((StatusCode::CREATED, Json(import::upload_slot(&app, &caller, &request, MAX_FILE_BYTES as u64).await?)))
}

/// An import: its preview (uploaded) or its rows' outcomes (running, done) (managers and above).
#[utoipa::path(get, path = "/users/imports/{id}", tag = "imports", params(ImportPath, OutcomePage),
    responses((status = 200, description = "The import", body = ImportView), ApiError))]
async fn get_import(
    State(app): State<Arc<App>>,
    Caller(caller): Caller,
    ApiPath(id): ApiPath<String>,
    ApiQuery(page): ApiQuery<OutcomePage>,
) -> Result<Json<ImportView>, ApiError> {
    Ok(Json(import::get(&app, &caller, &id, page).await?))
}

/// Maps the import's columns to fields again and previews it (managers and above).
#[utoipa::path(put, path = "/users/imports/{id}/mapping", tag = "imports", params(ImportPath, OutcomePage),
    request_body = MappingInput,
    responses((status = 200, description = "The import", body = ImportView), ApiError))]
async fn remap(
    State(app): State<Arc<App>>,
    Caller(caller): Caller,
    ApiPath(id): ApiPath<String>,
    ApiQuery(page): ApiQuery<OutcomePage>,
    ApiJson(input): ApiJson<MappingInput>,
) -> Result<Json<ImportView>, ApiError> {
    Ok(Json(import::remap(&app, &caller, &id, input, page).await?))
}

/// Applies the import as a background job (managers and above).
#[utoipa::path(post, path = "/users/imports/{id}/run", tag = "imports", params(ImportPath),
    responses(
        (status = 200, description = "The import is done", body = ImportView),
        (status = 202, description = "The import runs; follow it with `GET`", body = ImportView),
        ApiError,
    ))]
async fn run(
    State(app): State<Arc<App>>,
    Caller(caller): Caller,
    ApiPath(id): ApiPath<String>,
) -> Result<(StatusCode, Json<ImportView>), ApiError> {
    let view = import::run(&app, &caller, &id).await?;
    let status = if view.state == ImportState::Done { StatusCode::OK } else { StatusCode::ACCEPTED };
    Ok((status, Json(view)))
}

/// The report's format.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
struct ReportQuery {
    /// `csv` (default) or `xlsx`.
    #[serde(default)]
    #[param(pattern = "^(csv|xlsx)$")]
    format: Option<String>,
}

/// Every user, in the import's column layout (reporters and above).
#[utoipa::path(get, path = "/users/report", tag = "imports", params(ReportQuery),
    responses(
        (status = 200, description = "The report as a file",
            content((String = "text/csv"), (FileBytes = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"))),
        ApiError,
    ))]
async fn report(
    State(app): State<Arc<App>>,
    Caller(caller): Caller,
    ApiQuery(query): ApiQuery<ReportQuery>,
) -> Result<Response, ApiError> {
    let rows = import::report(&app, &caller).await?;
    let (bytes, kind, ext) = match query.format.as_deref().unwrap_or("csv") {
        "csv" => (textbridge_import::write_csv(&rows)?, "text/csv; charset=utf-8", "csv"),
        "xlsx" => (
            textbridge_import::write_xlsx(&rows)?,
            "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
            "xlsx",
        ),
        other => {
            return Err(ApiError(Error::invalid("format", format!("{other:?} is not csv or xlsx"))));
        }
    };
    let disposition = format!("attachment; filename=\"users.{ext}\"");
    Ok(([(header::CONTENT_TYPE, kind.to_owned()), (header::CONTENT_DISPOSITION, disposition)], bytes).into_response())
}

/// The imports function's routes (without the finishing layers; see [`crate::finish`]):
/// user imports and the users report, the file readers and writer kept out of the
/// users function.
pub fn router(app: Arc<App>) -> Router {
    Router::new()
        .route("/users/imports/health", get(crate::health::imports))
        .route("/users/imports", post(upload).layer(DefaultBodyLimit::max(MAX_FILE_BYTES)))
        .route("/users/imports/uploads", post(upload_slot))
        .route("/users/imports/{id}", get(get_import))
        .route("/users/imports/{id}/mapping", put(remap))
        .route("/users/imports/{id}/run", post(run))
        .route("/users/report", get(report))
        .with_state(app)
}
