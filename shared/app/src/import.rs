//! User import (S4): an uploaded file (read into a [`Table`] by `textbridge-import`)
//! becomes an import job; its preview maps columns to fields and says per row what
//! applying it would do; a remap changes the mapping; running the job applies the
//! rows chunk by chunk; the users report lists every user in the same column layout.
//!
//! The job, its rows (in chunks) and each applied chunk's outcomes are stored, so a
//! run that stops (a crash, a request's deadline) resumes at the first chunk not
//! recorded as applied. Applying a row is idempotent: it creates the user only if
//! the username is free (the create is conditional on the username claim) and
//! otherwise edits the user to what the row says, which writes nothing when nothing
//! differs. So a chunk applied twice, a file imported twice or two runs of one job
//! at once end in the same users, licences and seat counts as one run.

use std::{
    collections::{HashMap, hash_map::Entry},
    sync::Arc,
    time::{Duration, Instant},
};

use futures::{StreamExt, TryStreamExt, stream};
use serde::{Deserialize, Serialize};
use textbridge_domain::{
    Email, Error, Identity, Role, TenantId, Timestamp, UserStatus,
    import::{
        Field, ImportRow, Mapping, Row, RowError, Table, TeamChoice, auto_map, check_mapping, check_row, role_label,
    },
};

use crate::{
    App, deadline,
    items::{
        self, ImportChunkItem, ImportCounts, ImportJobItem, ImportResultItem, ImportState, RowAction, RowOutcome,
        SeatsItem, Stored, TeamItem, UserItem,
    },
    keys,
    ports::{Condition, Write},
    teams,
    users::{self, LicencePolicy, NewUser},
};

/// The most rows stored (and applied) as one chunk.
const CHUNK_ROWS: usize = 500;
/// The most cell text stored in one chunk (well below a store item's limit).
const CHUNK_BYTES: usize = 160 * 1024;
/// Rows of a chunk applied at once.
const ROWS_AT_ONCE: usize = 8;
/// How long an import (its job, rows and outcomes) is kept after its upload.
pub const RETENTION: Duration = Duration::from_secs(30 * 24 * 3600);

/// Time a run keeps back from its request's deadline to apply one more chunk.
const CHUNK_TIME: Duration = Duration::from_secs(8);

/// A column of the file and the field it fills.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct Column {
    /// Its position, from 0.
    pub index: usize,
    /// The header as in the file.
    pub header: String,
    /// The field it fills; `None` is Unmapped (left out).
    pub field: Option<Field>,
    /// The field's name as shown (`Unmapped` when none).
    pub label: &'static str,
}

/// An import as the API shows it: the columns, the counts and a page of row outcomes
/// (what would happen while uploaded; what happened once applied).
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct ImportView {
    /// The import's id.
    pub id: String,
    /// The uploaded file's name.
    pub file_name: String,
    /// Uploaded, running or done.
    pub state: ImportState,
    /// Data rows in the file.
    pub rows: u32,
    /// Rows applied so far.
    pub applied_rows: u32,
    /// Every column with its field.
    pub columns: Vec<Column>,
    /// Counts by outcome: of the preview while uploaded, of the applied rows after.
    pub summary: ImportCounts,
    /// A page of row outcomes, in file order.
    pub outcomes: Vec<RowOutcome>,
    /// The offset of the next page, if any.
    pub next_offset: Option<u32>,
    /// Why the rows cannot be previewed or applied under this mapping (a required
    /// field unmapped): remap first.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub mapping_error: Option<String>,
}

/// A page of row outcomes.
#[derive(Debug, Clone, Copy, Default, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct OutcomePage {
    /// Rows to skip (default 0).
    #[serde(default)]
    pub offset: Option<u32>,
    /// Rows to show, 1–1000 (default 100).
    #[serde(default)]
    pub limit: Option<u32>,
    /// Only rows with this outcome.
    #[serde(default)]
    pub only: Option<RowAction>,
}

/// A new mapping: one entry per column, a field or `null` (Unmapped).
#[derive(Debug, Clone, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(examples(json!({"mapping": ["first_name", "last_name", "email", null]})))]
pub struct MappingInput {
    /// The field of each column, in column order.
    #[schema(value_type = Vec<Option<Field>>)]
    pub mapping: Mapping,
}

fn may_import(caller: &Identity) -> Result<(), Error> {
    caller.require_user_manager()
}

fn columns(job: &ImportJobItem) -> Vec<Column> {
    job.headers
        .iter()
        .enumerate()
        .map(|(index, header)| {
            let field = job.mapping.get(index).copied().flatten();
            Column { index, header: header.clone(), field, label: field.map_or("Unmapped", Field::label) }
        })
        .collect()
}

/// Stores an uploaded file as a new import (managers and admins; refused while the
/// tenant's users come from the ATS) and returns its preview with the columns mapped
/// from their headers.
#[tracing::instrument(skip_all, fields(tenant = %caller.tenant))]
pub async fn upload(
    app: &Arc<App>,
    caller: &Identity,
    file_name: &str,
    table: Table,
    page: OutcomePage,
) -> Result<ImportView, Error> {
    may_import(caller)?;
    users::require_manual_users(app, &caller.tenant).await?;
    let file_name: String = file_name.chars().filter(|c| !c.is_control()).take(200).collect();
    let import_id = uuid::Uuid::new_v4().to_string();
    let tenant = &caller.tenant;
    let mut chunks: Vec<Vec<Row>> = vec![Vec::new()];
    let mut bytes = 0;
    for row in table.rows {
        let size: usize = row.cells.iter().map(|c| c.len() + 8).sum();
        let current = chunks.last_mut().ok_or_else(|| Error::unexpected("no chunk"))?;
        if !current.is_empty() && (current.len() >= CHUNK_ROWS || bytes + size > CHUNK_BYTES) {
            chunks.push(Vec::new());
            bytes = 0;
        }
        bytes += size;
        chunks.last_mut().ok_or_else(|| Error::unexpected("no chunk"))?.push(row);
    }
    let expires_at = Some(app.clock.now().unix_timestamp() + i64::try_from(RETENTION.as_secs()).unwrap_or(i64::MAX));
    let rows = u32::try_from(chunks.iter().map(Vec::len).sum::<usize>()).map_err(Error::unexpected)?;
    let count = u32::try_from(chunks.len()).map_err(Error::unexpected)?;
    // Rows first, the job last: a job exists only with all its rows.
    stream::iter(chunks.into_iter().enumerate())
        .map(|(n, rows)| {
            let import_id = &import_id;
            async move {
                let n = u32::try_from(n).map_err(Error::unexpected)?;
                let item = ImportChunkItem { rows, expires_at }.to_item(keys::import_chunk(tenant, import_id, n))?;
                app.store.put(&item, None).await.map_err(Error::from)
            }
        })
        .buffer_unordered(ROWS_AT_ONCE)
        .try_collect::<Vec<()>>()
        .await?;
    let job = ImportJobItem {
        import_id: import_id.clone(),
        expires_at,
        file_name,
        mapping: auto_map(&table.headers),
        headers: table.headers,
        rows,
        chunks: count,
        state: ImportState::Uploaded,
        next_chunk: 0,
        counts: ImportCounts::default(),
        created_by: caller.user_id.clone(),
        created_at: Timestamp::new(app.clock.now())?,
        started_at: None,
        finished_at: None,
        version: 1,
    };
    app.store.put(&job.to_item(keys::import_job(tenant, &import_id))?, Some(&Condition::NotExists)).await?;
    tracing::info!(import = %import_id, rows, "user import uploaded");
    view(app, tenant, job, page).await
}

// ---------------------------------------------------------------- large files

/// How long an upload URL accepts its file.
pub const UPLOAD_TTL: Duration = Duration::from_secs(15 * 60);

/// What a caller asks for to upload a file too large for a request body.
#[derive(Debug, Clone, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(examples(json!({"file_name": "users.xlsx", "size": 1048576})))]
pub struct SlotRequest {
    /// The file's name (`.csv`, `.xlsx` or `.xls`).
    pub file_name: String,
    /// Its size in bytes.
    pub size: u64,
}

/// Where to PUT a file, then name it in the import's upload (`upload`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct UploadSlot {
    /// The upload's id.
    pub upload: String,
    /// `PUT`.
    pub method: &'static str,
    /// Where to PUT the file (no other authorisation needed).
    pub url: String,
    /// Headers the PUT must carry.
    pub headers: std::collections::BTreeMap<String, String>,
    /// Seconds the URL accepts the file.
    pub expires_in: u64,
    /// The largest file an import reads.
    pub max_bytes: u64,
}

fn upload_key(tenant: &TenantId, upload: &str) -> Result<String, Error> {
    let id = uuid::Uuid::parse_str(upload).map_err(|_| Error::NotFound(format!("no upload {upload:?} here")))?;
    Ok(format!("imports/{tenant}/{}", id.hyphenated()))
}

/// A URL to upload one import file of `size` bytes (at most `max_bytes`, else 413)
/// to (managers and admins; refused while the tenant's users come from the ATS). The
/// file's name is checked by the caller, which knows the file formats.
#[tracing::instrument(skip_all, fields(tenant = %caller.tenant))]
pub async fn upload_slot(
    app: &Arc<App>,
    caller: &Identity,
    request: &SlotRequest,
    max_bytes: u64,
) -> Result<UploadSlot, Error> {
    may_import(caller)?;
    users::require_manual_users(app, &caller.tenant).await?;
    if request.size == 0 {
        return Err(Error::invalid("size", "the file is empty"));
    }
    if request.size > max_bytes {
        return Err(Error::TooLarge { limit: usize::try_from(max_bytes).unwrap_or(usize::MAX) });
    }
    let upload = uuid::Uuid::new_v4().hyphenated().to_string();
    let put = app.uploads()?.put_url(&upload_key(&caller.tenant, &upload)?, UPLOAD_TTL).await?;
    Ok(UploadSlot {
        upload,
        method: "PUT",
        url: put.url,
        headers: put.headers.into_iter().collect(),
        expires_in: UPLOAD_TTL.as_secs(),
        max_bytes,
    })
}

/// The file uploaded as `upload` by the caller's tenant (managers and admins): 404
/// when nothing was uploaded there, 413 when it is larger than `max_bytes`.
pub async fn uploaded(app: &Arc<App>, caller: &Identity, upload: &str, max_bytes: u64) -> Result<Vec<u8>, Error> {
    may_import(caller)?;
    let key = upload_key(&caller.tenant, upload)?;
    match app.uploads()?.read(&key, max_bytes).await? {
        crate::ports::Upload::File(bytes) => Ok(bytes),
        crate::ports::Upload::Missing => {
            Err(Error::NotFound(format!("no upload {upload:?} here: PUT the file to its URL first")))
        }
        crate::ports::Upload::TooLarge(_) => {
            Err(Error::TooLarge { limit: usize::try_from(max_bytes).unwrap_or(usize::MAX) })
        }
    }
}

/// Removes an uploaded file once its import holds the rows (a file left behind is
/// removed by the upload place's own expiry).
pub async fn discard_upload(app: &Arc<App>, tenant: &TenantId, upload: &str) {
    let (Ok(key), Ok(uploads)) = (upload_key(tenant, upload), app.uploads()) else { return };
    if let Err(e) = uploads.delete(&key).await {
        tracing::warn!(error = %e, "an uploaded import file could not be removed; it expires on its own");
    }
}

async fn load(app: &Arc<App>, tenant: &TenantId, id: &str) -> Result<ImportJobItem, Error> {
    let missing = || Error::NotFound(format!("no user import {id} here"));
    if id.is_empty() || id.len() > 64 || id.contains('#') {
        return Err(missing());
    }
    items::get::<ImportJobItem>(app.store.as_ref(), &keys::import_job(tenant, id)).await?.ok_or_else(missing)
}

/// An import: its preview while uploaded, its outcomes once applying started
/// (managers and admins).
#[tracing::instrument(skip_all, fields(tenant = %caller.tenant))]
pub async fn get(app: &Arc<App>, caller: &Identity, id: &str, page: OutcomePage) -> Result<ImportView, Error> {
    may_import(caller)?;
    let job = load(app, &caller.tenant, id).await?;
    view(app, &caller.tenant, job, page).await
}

/// Changes an uploaded import's mapping and returns the preview under it; a mapping
/// that leaves a required field unmapped (or maps one field twice) is a 422 naming
/// it; once applying started the mapping is fixed (409).
#[tracing::instrument(skip_all, fields(tenant = %caller.tenant))]
pub async fn remap(
    app: &Arc<App>,
    caller: &Identity,
    id: &str,
    input: MappingInput,
    page: OutcomePage,
) -> Result<ImportView, Error> {
    may_import(caller)?;
    let tenant = &caller.tenant;
    let mut job = load(app, tenant, id).await?;
    check_mapping(&input.mapping, job.headers.len())?;
    if job.state != ImportState::Uploaded {
        return Err(Error::conflict("the import has started: its mapping can no longer change"));
    }
    let condition = Condition::Equals("version".into(), job.version.into());
    job.mapping = input.mapping;
    job.version += 1;
    match app.store.put(&job.to_item(keys::import_job(tenant, id))?, Some(&condition)).await {
        Ok(()) => view(app, tenant, job, page).await,
        Err(crate::ports::PortError::ConditionFailed) => {
            Err(Error::conflict("the import changed meanwhile (remapped or started); look at it again"))
        }
        Err(e) => Err(e.into()),
    }
}

async fn all_rows(app: &Arc<App>, tenant: &TenantId, id: &str) -> Result<Vec<Row>, Error> {
    let chunks = app.store.query_all(&keys::import_chunks(tenant, id).limit(50)).await?;
    let mut rows = Vec::new();
    for chunk in &chunks {
        rows.extend(ImportChunkItem::from_item(chunk)?.rows);
    }
    Ok(rows)
}

async fn view(app: &Arc<App>, tenant: &TenantId, job: ImportJobItem, page: OutcomePage) -> Result<ImportView, Error> {
    let offset = page.offset.unwrap_or(0) as usize;
    let limit = page.limit.unwrap_or(100);
    if !(1..=1000).contains(&limit) {
        return Err(Error::invalid("limit", "must be 1-1000"));
    }
    let mapping_error = check_mapping(&job.mapping, job.headers.len()).err().map(|e| e.to_string());
    let (summary, outcomes) = if mapping_error.is_some() {
        (ImportCounts::default(), Vec::new())
    } else if job.state == ImportState::Uploaded {
        let outcomes = preview_rows(app, tenant, &job).await?;
        (count(&outcomes), outcomes)
    } else {
        let items = app.store.query_all(&keys::import_results(tenant, &job.import_id).limit(50)).await?;
        let mut outcomes = Vec::new();
        for item in &items {
            outcomes.extend(ImportResultItem::from_item(item)?.outcomes);
        }
        (job.counts, outcomes)
    };
    let selected: Vec<RowOutcome> = outcomes.into_iter().filter(|o| page.only.is_none_or(|a| o.action == a)).collect();
    let end = offset.saturating_add(limit as usize).min(selected.len());
    let next_offset = (end < selected.len()).then(|| u32::try_from(end).unwrap_or(u32::MAX));
    let page = selected.get(offset..end).map(<[RowOutcome]>::to_vec).unwrap_or_default();
    Ok(ImportView {
        id: job.import_id.clone(),
        file_name: job.file_name.clone(),
        state: job.state,
        rows: job.rows,
        applied_rows: applied_rows(&job),
        columns: columns(&job),
        summary,
        outcomes: page,
        next_offset,
        mapping_error,
    })
}

fn applied_rows(job: &ImportJobItem) -> u32 {
    let c = job.counts;
    c.create + c.update + c.unchanged + c.error
}

fn count(outcomes: &[RowOutcome]) -> ImportCounts {
    let mut counts = ImportCounts::default();
    for o in outcomes {
        match o.action {
            RowAction::Create => counts.create += 1,
            RowAction::Update => counts.update += 1,
            RowAction::Unchanged => counts.unchanged += 1,
            RowAction::Error => counts.error += 1,
        }
    }
    counts
}

// ---------------------------------------------------------------- rules

/// The tenant's teams by id and by folded name.
struct Teams {
    by_id: HashMap<String, TeamItem>,
    by_name: HashMap<String, String>,
}

impl Teams {
    async fn load(app: &Arc<App>, tenant: &TenantId) -> Result<Self, Error> {
        let all = teams::all(app, tenant).await?;
        let by_name = all.iter().map(|t| (t.name.folded(), t.team_id.clone())).collect();
        Ok(Self { by_id: all.into_iter().map(|t| (t.team_id.clone(), t)).collect(), by_name })
    }

    /// The team rules: blank keeps (`None`), `remove` takes off (`Some(None)`), an id
    /// wins over a name, a team that does not exist is never created and keeps the
    /// user where they were (`None`, with a note).
    fn target(&self, choice: &TeamChoice, notes: &mut Vec<String>) -> Option<Option<String>> {
        match choice {
            TeamChoice::Keep => None,
            TeamChoice::Remove => Some(None),
            TeamChoice::Id(id) if self.by_id.contains_key(id) => Some(Some(id.clone())),
            TeamChoice::Id(id) => {
                notes.push(format!("there is no team with the id {id:?}: the user's team is unchanged"));
                None
            }
            TeamChoice::Name(name) => match self.by_name.get(&name.folded()) {
                Some(id) => Some(Some(id.clone())),
                None => {
                    notes.push(format!("there is no team named {:?}: the user's team is unchanged", name.as_str()));
                    None
                }
            },
        }
    }

    fn name(&self, id: &str) -> Option<&str> {
        self.by_id.get(id).map(|t| t.name.as_str())
    }
}

fn row_error(row: &ImportRow, column: Option<Field>, headers: &[String], mapping: &Mapping, e: &Error) -> RowOutcome {
    let column = column.and_then(|f| mapping.iter().position(|m| *m == Some(f))).and_then(|c| headers.get(c));
    let reason = match e {
        Error::Invalid { reason, .. } => reason.clone(),
        Error::Conflict { message, .. } => message.clone(),
        other => other.to_string(),
    };
    let error = RowError { line: row.line, column: column.cloned(), reason };
    RowOutcome {
        line: row.line,
        email: Some(row.email.clone()),
        action: RowAction::Error,
        changes: Vec::new(),
        notes: Vec::new(),
        reason: Some(error.to_string()),
    }
}

fn rejected(error: &RowError) -> RowOutcome {
    RowOutcome {
        line: error.line,
        email: None,
        action: RowAction::Error,
        changes: Vec::new(),
        notes: Vec::new(),
        reason: Some(error.to_string()),
    }
}

/// A new user as the row wants them, with notes on what it does not get.
fn new_user(row: &ImportRow, teams: &Teams, notes: &mut Vec<String>) -> Result<NewUser, (Field, Error)> {
    let role = row.role.unwrap_or(Role::User);
    if !matches!(role, Role::User | Role::Reporter | Role::Manager) {
        return Err((Field::Role, Error::invalid("role", "an import adds users, reporters and managers")));
    }
    Ok(NewUser {
        user_id: None,
        email: row.email.clone(),
        first_name: row.first_name.clone(),
        last_name: row.last_name.clone(),
        role,
        area_code: row.area_code.clone(),
        permission_group: textbridge_domain::PermissionGroup::parse(users::DEFAULT_GROUP)
            .map_err(|e| (Field::Email, e))?,
        team_id: teams.target(&row.team, notes).flatten(),
        ats_id: None,
        source: "import",
    })
}

/// Edits `user` to what the row says; the names of the fields that changed.
fn edit(row: &ImportRow, user: &mut UserItem, teams: &Teams, notes: &mut Vec<String>) -> Result<(), (Field, Error)> {
    if let Some(role) = row.role
        && role != user.role
    {
        if role == Role::CustomerAdmin || user.role == Role::CustomerAdmin {
            return Err((Field::Role, Error::invalid("role", "only staff make or unmake a customer admin")));
        }
        if role == Role::Staff {
            return Err((Field::Role, Error::invalid("role", "staff is not a texting role")));
        }
        user.role = role;
    }
    user.first_name = row.first_name.clone();
    user.last_name = row.last_name.clone();
    if row.area_code.is_some() {
        user.area_code = row.area_code.clone();
    }
    if row.country_code.is_some() {
        user.country_code = row.country_code.clone();
    }
    if let Some(team) = teams.target(&row.team, notes) {
        user.team_id = team;
    }
    Ok(())
}

fn changes(before: &UserItem, after: &UserItem) -> Vec<String> {
    let mut changed = Vec::new();
    let mut note = |differs: bool, field: Field| {
        if differs {
            changed.push(field.as_str().to_owned());
        }
    };
    note(before.first_name != after.first_name, Field::FirstName);
    note(before.last_name != after.last_name, Field::LastName);
    note(before.area_code != after.area_code, Field::AreaCode);
    note(before.role != after.role, Field::Role);
    note(before.country_code != after.country_code, Field::CountryCode);
    note(before.team_id != after.team_id, Field::TeamId);
    changed
}

fn deleted(email: &Email) -> Error {
    Error::Conflict {
        field: Some("email".into()),
        message: format!("the username {email} was deleted and can never be added again"),
    }
}

const NO_SEAT: &str = "no licence seat is free: the user has no licence";
const NO_AREA: &str = "no desired area code: the user gets no licence";

/// Every row checked: a valid row, or its outcome when it is rejected (including a
/// later row with an e-mail an earlier row has: the first one counts).
fn checked(job: &ImportJobItem, rows: &[Row]) -> Vec<Result<ImportRow, RowOutcome>> {
    let mut first: HashMap<Email, u32> = HashMap::new();
    rows.iter()
        .map(|r| {
            let row = check_row(r, &job.headers, &job.mapping).map_err(|e| rejected(&e))?;
            match first.entry(row.email.clone()) {
                Entry::Vacant(v) => {
                    v.insert(row.line);
                    Ok(row)
                }
                Entry::Occupied(o) => Err(row_error(
                    &row,
                    Some(Field::Email),
                    &job.headers,
                    &job.mapping,
                    &Error::invalid(
                        "email",
                        format!("the same e-mail is on row {}; only that row is imported", o.get()),
                    ),
                )),
            }
        })
        .collect()
}

/// Files of at most this many rows have their users read one by one (two reads
/// each); a larger file has the tenant's users read once, whatever their number.
const LOOKUP_ROWS: usize = 500;

/// The tenant's users with the given e-mail addresses, by address: each read on its
/// own for a small file, so that a preview's memory and reads follow the file
/// rather than the tenant.
async fn existing_users<'a>(
    app: &Arc<App>,
    tenant: &TenantId,
    emails: impl Iterator<Item = &'a Email>,
) -> Result<HashMap<Email, UserItem>, Error> {
    let emails: Vec<Email> = emails.cloned().collect();
    if emails.len() > LOOKUP_ROWS {
        return Ok(users::all(app, tenant).await?.into_iter().map(|u| (u.email.clone(), u)).collect());
    }
    let found: Vec<Option<UserItem>> = stream::iter(emails)
        .map(|email| {
            let (app, tenant) = (Arc::clone(app), tenant.clone());
            async move { users::by_email(&app, &tenant, &email).await }
        })
        .buffered(16)
        .try_collect()
        .await?;
    Ok(found.into_iter().flatten().map(|u| (u.email.clone(), u)).collect())
}

/// What applying each row would do now; changes nothing.
async fn preview_rows(app: &Arc<App>, tenant: &TenantId, job: &ImportJobItem) -> Result<Vec<RowOutcome>, Error> {
    let rows = all_rows(app, tenant, &job.import_id).await?;
    let teams = Teams::load(app, tenant).await?;
    let checked = checked(job, &rows);
    let existing =
        existing_users(app, tenant, checked.iter().filter_map(|r| r.as_ref().ok()).map(|r| &r.email)).await?;
    let mut free = items::get::<SeatsItem>(app.store.as_ref(), &keys::seats(tenant)).await?.map_or(0, |s| s.free);
    let outcomes = checked
        .into_iter()
        .map(|row| {
            let row = match row {
                Ok(row) => row,
                Err(outcome) => return outcome,
            };
            let mut notes = Vec::new();
            let mut licence = |notes: &mut Vec<String>, wants: bool| {
                if !wants {
                    return false;
                }
                if free > 0 {
                    free -= 1;
                    true
                } else {
                    notes.push(NO_SEAT.to_owned());
                    false
                }
            };
            let (action, mut changes) = match existing.get(&row.email) {
                Some(u) if u.status == UserStatus::Deleted => {
                    return row_error(&row, Some(Field::Email), &job.headers, &job.mapping, &deleted(&row.email));
                }
                Some(current) => {
                    let mut after = current.clone();
                    if let Err((field, e)) = edit(&row, &mut after, &teams, &mut notes) {
                        return row_error(&row, Some(field), &job.headers, &job.mapping, &e);
                    }
                    let mut changes = changes(current, &after);
                    if licence(&mut notes, row.area_code.is_some() && current.licence.is_none()) {
                        changes.push("licence".into());
                    }
                    (if changes.is_empty() { RowAction::Unchanged } else { RowAction::Update }, changes)
                }
                None => {
                    if let Err((field, e)) = new_user(&row, &teams, &mut notes) {
                        return row_error(&row, Some(field), &job.headers, &job.mapping, &e);
                    }
                    let mut changes = Vec::new();
                    if row.area_code.is_none() {
                        notes.push(NO_AREA.to_owned());
                    } else if licence(&mut notes, true) {
                        changes.push("licence".into());
                    }
                    (RowAction::Create, changes)
                }
            };
            if action == RowAction::Create {
                changes.clear();
            }
            RowOutcome { line: row.line, email: Some(row.email), action, changes, notes, reason: None }
        })
        .collect();
    Ok(outcomes)
}

/// Applies one row now (idempotent, see the module docs). Bad input becomes the
/// row's error outcome; a failure of the store is returned (the run stops and
/// resumes later).
async fn apply(
    app: &Arc<App>,
    tenant: &TenantId,
    job: &ImportJobItem,
    row: &ImportRow,
    teams: &Teams,
) -> Result<RowOutcome, Error> {
    let fail = |field: Field, e: &Error| Ok(row_error(row, Some(field), &job.headers, &job.mapping, e));
    for _ in 0..3 {
        let mut notes = Vec::new();
        let Some(current) = users::by_email(app, tenant, &row.email).await? else {
            let new = match new_user(row, teams, &mut notes) {
                Ok(new) => new,
                Err((field, e)) => return fail(field, &e),
            };
            let country = row.country_code.clone();
            match users::create_with(app, tenant, new, LicencePolicy::WithAreaCode, true, |u| {
                u.country_code.clone_from(&country);
            })
            .await
            {
                Ok(added) => {
                    notes.extend(added.licence_note.map(|n| {
                        if row.area_code.is_some() { format!("{n}: the user has no licence") } else { NO_AREA.into() }
                    }));
                    return Ok(outcome(row, RowAction::Create, Vec::new(), notes));
                }
                // Added meanwhile (another run of the same rows): edit it instead.
                Err(Error::Conflict { field: Some(f), .. }) if f == "email" => continue,
                Err(e @ Error::Invalid { .. }) if matches!(&e, Error::Invalid { field, .. } if field == "team_id") => {
                    return fail(Field::TeamId, &e);
                }
                Err(e) if e.is_bad_input() => return fail(Field::Email, &e),
                Err(e) => return Err(e),
            }
        };
        if current.status == UserStatus::Deleted {
            return fail(Field::Email, &deleted(&row.email));
        }
        let mut refused = None;
        let result = users::update(app, tenant, &current.user_id, |u| {
            notes.clear();
            if let Err((field, e)) = edit(row, u, teams, &mut notes) {
                refused = Some(field);
                return Err(e);
            }
            Ok(())
        })
        .await;
        let (after, _) = match result {
            Ok(done) => done,
            Err(e) if e.is_bad_input() => return fail(refused.unwrap_or(Field::Email), &e),
            Err(e) => return Err(e),
        };
        let mut changes = changes(&current, &after);
        if row.area_code.is_some() && after.licence.is_none() {
            match users::license(app, tenant, &after.user_id, row.area_code.as_ref()).await? {
                Some(_) => changes.push("licence".into()),
                None => notes.push(NO_SEAT.to_owned()),
            }
        }
        // A user this job created, met again after a run stopped mid-chunk.
        let created_here = after.source == "import" && job.started_at.is_some_and(|s| after.created_at >= s);
        let action = if created_here {
            RowAction::Create
        } else if changes.is_empty() {
            RowAction::Unchanged
        } else {
            RowAction::Update
        };
        return Ok(outcome(row, action, if created_here { Vec::new() } else { changes }, notes));
    }
    Err(Error::Unavailable("the user changed too often meanwhile; run the import again".into()))
}

fn outcome(row: &ImportRow, action: RowAction, changes: Vec<String>, notes: Vec<String>) -> RowOutcome {
    RowOutcome { line: row.line, email: Some(row.email.clone()), action, changes, notes, reason: None }
}

// ---------------------------------------------------------------- running

/// Progress of a run, for a progress bar.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Progress {
    /// Rows applied.
    pub applied: u32,
    /// Rows in the file.
    pub rows: u32,
}

/// The kind of the queue message that applies an import in the background.
pub const KIND_IMPORT_RUN: &str = "import_run";

/// The queue message that applies an import.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ImportRun {
    /// The import's id.
    pub import: String,
}

/// How long one queue message applies chunks before it hands the rest to a fresh
/// message (well inside the archiver's timeout).
const SLICE: Duration = Duration::from_secs(20);

/// Starts applying an import (managers and admins; refused while the ATS integration
/// is enabled) as a job: the job turns `running` and a queue message applies it in
/// the background, chunk by chunk ([`handle`]); its progress shows in [`get`]. Run
/// again while it runs, it queues another message (harmless: a chunk is recorded
/// once), which revives a job whose message was dead-lettered.
#[tracing::instrument(skip_all, fields(tenant = %caller.tenant))]
pub async fn run(app: &Arc<App>, caller: &Identity, id: &str) -> Result<ImportView, Error> {
    let job = start(app, caller, id).await?;
    if job.state != ImportState::Done {
        queue_slice(app, &caller.tenant, id).await?;
    }
    view(app, &caller.tenant, job, OutcomePage::default()).await
}

/// Applies an import in this process until every row is applied (the command
/// line), `progress` hearing after every chunk.
#[tracing::instrument(skip_all, fields(tenant = %caller.tenant))]
pub async fn run_here(
    app: &Arc<App>,
    caller: &Identity,
    id: &str,
    progress: impl FnMut(Progress) + Send,
) -> Result<ImportView, Error> {
    let job = start(app, caller, id).await?;
    let job = apply_chunks(app, &caller.tenant, job, None, progress).await?;
    view(app, &caller.tenant, job, OutcomePage::default()).await
}

/// Applies an import for one queue message: chunks for at most [`SLICE`], then a
/// fresh message for the rest. A job that is done, or gone, ends here.
pub async fn handle(app: &Arc<App>, tenant: &TenantId, message: ImportRun) -> Result<(), Error> {
    let job = match load(app, tenant, &message.import).await {
        Ok(job) => job,
        Err(Error::NotFound(_)) => return Ok(()),
        Err(e) => return Err(e),
    };
    if job.state != ImportState::Running {
        return Ok(());
    }
    let job = apply_chunks(app, tenant, job, Some(Instant::now() + SLICE), |_| {}).await?;
    if job.state != ImportState::Done {
        queue_slice(app, tenant, &message.import).await?;
    }
    Ok(())
}

async fn queue_slice(app: &App, tenant: &TenantId, id: &str) -> Result<(), Error> {
    let payload = serde_json::to_value(ImportRun { import: id.to_owned() }).map_err(Error::unexpected)?;
    let body = crate::envelope::Envelope { tenant: tenant.clone(), kind: KIND_IMPORT_RUN.into(), payload }.to_body();
    app.queue()?.send(&body).await?;
    Ok(())
}

/// Checks the caller and the job and marks it running (once, conditionally).
async fn start(app: &Arc<App>, caller: &Identity, id: &str) -> Result<ImportJobItem, Error> {
    may_import(caller)?;
    let tenant = &caller.tenant;
    let job = load(app, tenant, id).await?;
    if job.state != ImportState::Done {
        users::require_manual_users(app, tenant).await?;
    }
    check_mapping(&job.mapping, job.headers.len())?;
    if job.state != ImportState::Uploaded {
        return Ok(job);
    }
    let mut started = job.clone();
    started.state = ImportState::Running;
    started.started_at = Some(Timestamp::new(app.clock.now())?);
    started.version += 1;
    let condition = Condition::Equals("version".into(), job.version.into());
    match app.store.put(&started.to_item(keys::import_job(tenant, id))?, Some(&condition)).await {
        Ok(()) => {
            tracing::info!(import = %id, rows = started.rows, "user import started");
            Ok(started)
        }
        Err(crate::ports::PortError::ConditionFailed) => load(app, tenant, id).await,
        Err(e) => Err(e.into()),
    }
}

/// Applies chunks from the first one not applied, each chunk's outcomes recorded
/// with the job's progress in one transaction, until every row is applied or
/// `until` (or the request's deadline) is near.
async fn apply_chunks(
    app: &Arc<App>,
    tenant: &TenantId,
    mut job: ImportJobItem,
    until: Option<Instant>,
    mut progress: impl FnMut(Progress) + Send,
) -> Result<ImportJobItem, Error> {
    let id = job.import_id.clone();
    let id = id.as_str();
    let rows = all_rows(app, tenant, id).await?;
    let checked = checked(&job, &rows);
    let mut starts = Vec::with_capacity(job.chunks as usize);
    let chunks = app.store.query_all(&keys::import_chunks(tenant, id).limit(50)).await?;
    let mut at = 0usize;
    for chunk in &chunks {
        let len = ImportChunkItem::from_item(chunk)?.rows.len();
        starts.push((at, at + len));
        at += len;
    }
    drop(rows);
    let mut first = true;
    while job.state != ImportState::Done {
        let near = |end: Instant| end.saturating_duration_since(Instant::now()) < CHUNK_TIME;
        if deadline::current().is_some_and(near) || (!first && until.is_some_and(|u| Instant::now() >= u)) {
            break;
        }
        first = false;
        let n = job.next_chunk;
        let &(from, to) =
            starts.get(n as usize).ok_or_else(|| Error::unexpected(format!("import {id} lacks chunk {n}")))?;
        let teams = Teams::load(app, tenant).await?;
        let (teams, current) = (&teams, &job);
        let outcomes: Vec<RowOutcome> = stream::iter(checked[from..to].iter().cloned())
            .map(|row| async move {
                match row {
                    Ok(row) => apply(app, tenant, current, &row, teams).await,
                    Err(outcome) => Ok(outcome),
                }
            })
            .buffered(ROWS_AT_ONCE)
            .try_collect()
            .await?;
        crate::metrics::count(crate::metrics::Metric::ImportRows, outcomes.len() as u64);
        let mut next = job.clone();
        let c = count(&outcomes);
        next.counts.create += c.create;
        next.counts.update += c.update;
        next.counts.unchanged += c.unchanged;
        next.counts.error += c.error;
        next.next_chunk = n + 1;
        next.version += 1;
        if next.next_chunk >= next.chunks {
            next.state = ImportState::Done;
            next.finished_at = Some(Timestamp::new(app.clock.now())?);
        }
        let writes = [
            Write::Put {
                item: ImportResultItem { outcomes, expires_at: job.expires_at }
                    .to_item(keys::import_result(tenant, id, n))?,
                condition: None,
            },
            Write::Put {
                item: next.to_item(keys::import_job(tenant, id))?,
                condition: Some(Condition::Equals("version".into(), job.version.into())),
            },
        ];
        job = if users::commit(app, &writes).await? {
            next
        } else {
            // Another run recorded this chunk first: go on from where it is.
            load(app, tenant, id).await?
        };
        progress(Progress { applied: applied_rows(&job), rows: job.rows });
    }
    if job.state == ImportState::Done {
        tracing::info!(import = %id, created = job.counts.create, updated = job.counts.update,
            errors = job.counts.error, "user import done");
    }
    Ok(job)
}

// ---------------------------------------------------------------- the report

/// The users report (reporters, managers, admins): a header of the import's column
/// labels and one row per user who is not deleted, in the layout an import reads
/// back without change.
#[tracing::instrument(skip_all, fields(tenant = %caller.tenant))]
pub async fn report(app: &Arc<App>, caller: &Identity) -> Result<Vec<Vec<String>>, Error> {
    if caller.role == Role::User {
        return Err(Error::Forbidden("this needs a reporter, manager or customer admin".into()));
    }
    let tenant = &caller.tenant;
    let teams = Teams::load(app, tenant).await?;
    let mut all = users::all(app, tenant).await?;
    all.retain(|u| u.status != UserStatus::Deleted);
    all.sort_by(|a, b| a.email.cmp(&b.email));
    let mut rows = vec![Field::ALL.iter().map(|f| f.label().to_owned()).collect::<Vec<_>>()];
    for u in all {
        let team = u.team_id.as_deref();
        rows.push(
            Field::ALL
                .iter()
                .map(|f| match f {
                    Field::FirstName => u.first_name.to_string(),
                    Field::LastName => u.last_name.to_string(),
                    Field::Email => u.email.to_string(),
                    Field::AreaCode => u.area_code.as_ref().map(ToString::to_string).unwrap_or_default(),
                    Field::Role => role_label(u.role).to_owned(),
                    Field::CountryCode => u.country_code.as_ref().map(ToString::to_string).unwrap_or_default(),
                    Field::TeamName => team.and_then(|t| teams.name(t)).unwrap_or_default().to_owned(),
                    Field::TeamId => team.unwrap_or_default().to_owned(),
                })
                .collect(),
        );
    }
    Ok(rows)
}
