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

use crate::{ApiError, ApiJson, ApiPath, ApiQuery, Caller};

/// The query of an upload: the file's name (its extension must agree with its
/// content) and the preview's page.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct UploadQuery {
    file_name: String,
    /// The id of a file uploaded to an upload URL (instead of the body).
    #[serde(default)]
    upload: Option<String>,
    #[serde(default)]
    offset: Option<u32>,
    #[serde(default)]
    limit: Option<u32>,
    #[serde(default)]
    only: Option<RowAction>,
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

async fn get_import(
    State(app): State<Arc<App>>,
    Caller(caller): Caller,
    ApiPath(id): ApiPath<String>,
    ApiQuery(page): ApiQuery<OutcomePage>,
) -> Result<Json<ImportView>, ApiError> {
    Ok(Json(import::get(&app, &caller, &id, page).await?))
}

async fn remap(
    State(app): State<Arc<App>>,
    Caller(caller): Caller,
    ApiPath(id): ApiPath<String>,
    ApiQuery(page): ApiQuery<OutcomePage>,
    ApiJson(input): ApiJson<MappingInput>,
) -> Result<Json<ImportView>, ApiError> {
    Ok(Json(import::remap(&app, &caller, &id, input, page).await?))
}

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
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ReportQuery {
    #[serde(default)]
    format: Option<String>,
}

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

/// The import and report routes (merged into [`crate::users::router`]).
pub fn routes(app: Arc<App>) -> Router {
    Router::new()
        .route("/users/imports", post(upload).layer(DefaultBodyLimit::max(MAX_FILE_BYTES)))
        .route("/users/imports/uploads", post(upload_slot))
        .route("/users/imports/{id}", get(get_import))
        .route("/users/imports/{id}/mapping", put(remap))
        .route("/users/imports/{id}/run", post(run))
        .route("/users/report", get(report))
        .with_state(app)
}
