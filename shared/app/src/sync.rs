//! The scheduled ATS sync (S5): every 20 minutes, for every tenant whose ATS
//! integration is on, read the ATS's users and records and bring the texting users
//! and the record directory up to date.
//!
//! * **Users**: full-access ATS users become texting users (username = e-mail, the
//!   connection's full-access role); partial-access users only when their
//!   Synchronize setting is Always; Never creates nothing. A user removed in the ATS
//!   stays a texting user and is reported for an admin to revoke. Anything that
//!   would touch another user's data (a taken or deleted username, two ATS users with
//!   one e-mail, …) is kept as a conflict with both sides, never overwritten.
//! * **Records**: candidates, employees and contacts with their numbers are upserted
//!   (removed numbers leave the directory); a new number re-matches the tenant's
//!   unmatched texts.
//! * **Incremental and idempotent**: per stream (users and each record kind) a
//!   cursor — updated-at watermark and page token — is saved after each page is
//!   applied, conditionally on the cursor read, so a run that dies resumes from its
//!   last applied page and two runs never move a cursor back. Every write compares
//!   first: a run over an unchanged ATS writes nothing at all.
//! * Tenants are independent: one tenant's failing ATS is that tenant's report.

use std::{sync::Arc, time::Instant};

use futures::{StreamExt, stream};
use serde::{Deserialize, Serialize};
use textbridge_domain::{AtsUserId, E164, Email, Error, Identity, PersonName, RecordKind, Role, TenantId, Timestamp};

use crate::{
    App, archive, ats_connection,
    items::{self, AtsConnectionItem, RecordItem, Stored, SyncConflictItem, SyncCursorItem},
    keys,
    ports::{AtsAccess, AtsCursor, AtsEndpoint, AtsError, AtsRecord, AtsUser, Condition, Query, SyncSetting, Write},
    records::{self, RecordInput},
    users::{self, LicencePolicy, NewUser},
};

/// Partition listing the tenants that have the ATS integration enabled.
pub const INTEGRATIONS_PK: &str = "T#_system";

/// How many tenants sync at once.
const TENANTS_AT_ONCE: usize = 4;

/// How many row notes (malformed rows, conflicts) a report keeps.
const MAX_NOTES: usize = 50;

/// What one scheduled run did.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct SyncReport {
    /// Tenants with the integration enabled.
    pub tenants: usize,
    /// Tenants whose run failed (see their reports).
    pub failed: usize,
    /// One report per tenant.
    pub reports: Vec<TenantReport>,
}

/// What one tenant's run did.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct TenantReport {
    /// The tenant.
    pub tenant: String,
    /// When the run started.
    pub started_at: Option<Timestamp>,
    /// How long it took.
    pub duration_ms: u64,
    /// Texting users created.
    pub created: usize,
    /// Texting users updated.
    pub updated: usize,
    /// ATS users whose texting user was already up to date.
    pub unchanged: usize,
    /// ATS users skipped (Synchronize Never, or partial access without Always).
    pub skipped: usize,
    /// Conflicts recorded for an admin.
    pub conflicts: usize,
    /// Users removed in the ATS who are still texting users.
    pub removed_in_ats: usize,
    /// Records created or changed.
    pub records_upserted: usize,
    /// Records already up to date.
    pub records_unchanged: usize,
    /// Unmatched texts queued again to attach to a new number.
    pub unmatched_reattached: usize,
    /// ATS write-backs that waited for the connection and were queued again.
    pub ats_writes_resumed: usize,
    /// Rows the ATS sent that could not be read.
    pub malformed: usize,
    /// What was wrong with malformed rows and which conflicts arose (first 50).
    pub notes: Vec<String>,
    /// Why the run stopped early, if it did (the next run resumes).
    pub error: Option<String>,
    /// Whether the run wrote anything (only then is the report kept).
    #[serde(skip)]
    pub wrote: bool,
}

impl TenantReport {
    fn note(&mut self, note: String) {
        if self.notes.len() < MAX_NOTES {
            self.notes.push(note);
        }
    }
}

/// Runs the sync for every tenant with the ATS integration enabled, a few tenants
/// at a time; each tenant's failure stays in its own report.
pub async fn run_all(app: Arc<App>) -> Result<SyncReport, Error> {
    let listed = app.store.query_all(&Query::new(INTEGRATIONS_PK, "ATS#")).await?;
    let tenants: Vec<TenantId> = listed
        .iter()
        .filter_map(|item| item.key.sk.strip_prefix("ATS#").and_then(|t| TenantId::parse(t).ok()))
        .collect();
    let reports: Vec<TenantReport> = stream::iter(tenants)
        .map(|tenant| {
            let app = app.clone();
            async move { run_tenant(&app, &tenant).await }
        })
        .buffer_unordered(TENANTS_AT_ONCE)
        .collect()
        .await;
    let failed = reports.iter().filter(|r| r.error.is_some()).count();
    tracing::info!(tenants = reports.len(), failed, "ats sync run");
    Ok(SyncReport { tenants: reports.len(), failed, reports })
}

/// Runs one tenant's sync; never fails (a failure is the report's `error`, and the
/// next run resumes from the last page applied).
#[tracing::instrument(skip_all, fields(tenant = %tenant))]
pub async fn run_tenant(app: &Arc<App>, tenant: &TenantId) -> TenantReport {
    let started = Instant::now();
    let mut report = TenantReport {
        tenant: tenant.to_string(),
        started_at: Timestamp::new(app.clock.now()).ok(),
        ..TenantReport::default()
    };
    if let Err(e) = sync_tenant(app, tenant, &mut report).await {
        tracing::warn!(code = e.code(), "ats sync stopped early; the next run resumes");
        report.error = Some(if e.is_bad_input() || matches!(e, Error::Unavailable(_)) {
            e.to_string()
        } else {
            "an internal error stopped the sync".to_owned()
        });
    }
    report.duration_ms = u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX);
    tracing::info!(
        created = report.created,
        updated = report.updated,
        unchanged = report.unchanged,
        skipped = report.skipped,
        conflicts = report.conflicts,
        removed_in_ats = report.removed_in_ats,
        records_upserted = report.records_upserted,
        records_unchanged = report.records_unchanged,
        unmatched_reattached = report.unmatched_reattached,
        malformed = report.malformed,
        duration_ms = report.duration_ms,
        "ats sync of tenant"
    );
    let writes = report.created + report.updated + report.records_upserted;
    crate::metrics::count(crate::metrics::Metric::SyncWrites, u64::try_from(writes).unwrap_or(u64::MAX));
    crate::metrics::count(crate::metrics::Metric::SyncConflicts, u64::try_from(report.conflicts).unwrap_or(u64::MAX));
    crate::metrics::count(crate::metrics::Metric::SyncFailures, u64::from(report.error.is_some()));
    if report.wrote {
        match report.to_item(keys::sync_report(tenant)) {
            Ok(item) => {
                if let Err(e) = app.store.put(&item, None).await {
                    tracing::warn!(error = %e, "could not keep the sync report");
                }
            }
            Err(e) => tracing::warn!(error = %e, "could not keep the sync report"),
        }
    }
    report
}

impl Stored for TenantReport {
    const KIND: &'static str = "sync report";
}

fn ats_failure(e: AtsError) -> Error {
    match e {
        AtsError::Rejected(why) | AtsError::NotConnected(why) => Error::Unavailable(format!("the ATS refused: {why}")),
        AtsError::Unavailable(why) => Error::Unavailable(why),
    }
}

async fn sync_tenant(app: &Arc<App>, tenant: &TenantId, report: &mut TenantReport) -> Result<(), Error> {
    let Some((connection, endpoint)) = ats_connection::load(app, tenant).await? else {
        return Err(Error::NotFound("no ATS connection is saved".into()));
    };
    if app.queue_port().is_some() {
        report.ats_writes_resumed = archive::resume_ats_writes(app, tenant).await?;
    }
    if endpoint.connector.lists_users() {
        sync_users(app, tenant, &connection, &endpoint, report).await?;
    }
    for kind in &connection.record_kinds {
        sync_records(app, tenant, *kind, &endpoint, report).await?;
    }
    Ok(())
}

/// A stream's saved position.
struct Position {
    /// Whether a cursor was saved.
    wrote: bool,
    key: crate::ports::Key,
    stored: Option<SyncCursorItem>,
    state: SyncCursorItem,
}

impl Position {
    async fn load(app: &Arc<App>, tenant: &TenantId, stream: &str) -> Result<Self, Error> {
        let key = keys::sync_cursor(tenant, stream);
        let stored = items::get::<SyncCursorItem>(app.store.as_ref(), &key).await?;
        let state = stored.clone().unwrap_or_default();
        Ok(Self { wrote: false, key, stored, state })
    }

    fn cursor(&self) -> AtsCursor {
        AtsCursor { since: self.state.since.clone(), page: self.state.page.clone() }
    }

    /// Moves past a page: to its next page, or (at the end) to a new watermark.
    /// Saved only when it moved — after a page that wrote something (a page that
    /// changed nothing is simply read again if the run stops), or at the end — on the
    /// condition that no other run moved it.
    async fn advance(
        &mut self,
        app: &Arc<App>,
        next: Option<String>,
        high: Option<String>,
        page_wrote: bool,
    ) -> Result<(), Error> {
        let mut state = SyncCursorItem { since: self.state.since.clone(), page: next.clone(), high, version: 0 };
        if next.is_none() {
            state.since = state.high.clone().or_else(|| state.since.clone());
        }
        let unchanged = self.stored.as_ref().is_some_and(|s| s.since == state.since && s.page == state.page)
            || (self.stored.is_none() && state.since.is_none() && state.page.is_none());
        if unchanged || (next.is_some() && !page_wrote) {
            self.state = state;
            return Ok(());
        }
        let (condition, version) = match &self.stored {
            Some(s) => (Condition::Equals("version".into(), s.version.into()), s.version + 1),
            None => (Condition::NotExists, 1),
        };
        state.version = version;
        self.wrote = true;
        match app.store.put(&state.to_item(self.key.clone())?, Some(&condition)).await {
            Ok(()) => {}
            Err(crate::ports::PortError::ConditionFailed) => {
                return Err(Error::conflict("another sync of this tenant moved on; this run stops"));
            }
            Err(e) => return Err(e.into()),
        }
        self.stored = Some(state.clone());
        self.state = state;
        Ok(())
    }
}

/// The later of two watermarks (canonical UTC text sorts as time).
fn later(high: Option<String>, at: Option<&str>) -> Option<String> {
    let at = at.and_then(|a| Timestamp::parse_rfc3339(a).ok()).map(|t| t.to_string());
    match (high, at) {
        (Some(h), Some(a)) => Some(if a > h { a } else { h }),
        (h, a) => h.or(a),
    }
}

async fn sync_users(
    app: &Arc<App>,
    tenant: &TenantId,
    connection: &AtsConnectionItem,
    endpoint: &AtsEndpoint,
    report: &mut TenantReport,
) -> Result<(), Error> {
    let directory = app.directory()?.clone();
    let mut position = Position::load(app, tenant, "users").await?;
    let mut seen_emails = std::collections::HashMap::new();
    loop {
        let page = directory.users(endpoint, &position.cursor()).await.map_err(ats_failure)?;
        let mut high = position.state.high.clone();
        let wrote_before = std::mem::replace(&mut report.wrote, false);
        for row in page.rows {
            match row {
                Ok(user) => {
                    high = later(high, user.updated_at.as_deref());
                    apply_user(app, tenant, connection, &user, &mut seen_emails, report).await?;
                }
                Err(why) => {
                    report.malformed += 1;
                    report.note(format!("user row: {why}"));
                }
            }
        }
        let last = page.next.is_none();
        position.advance(app, page.next, high, report.wrote).await?;
        report.wrote |= wrote_before || position.wrote;
        if last {
            return Ok(());
        }
    }
}

/// Whether an ATS user should be a texting user (SPEC S5).
fn wanted(user: &AtsUser) -> bool {
    match (user.access, user.synchronize) {
        (_, Some(SyncSetting::Never)) => false,
        (AtsAccess::Full, _) => true,
        (AtsAccess::Partial, Some(SyncSetting::Always)) => true,
        (AtsAccess::Partial, None) => false,
    }
}

/// The checked fields of an ATS user, or why a field cannot be used.
fn checked(user: &AtsUser) -> Result<(AtsUserId, Email, PersonName, PersonName), String> {
    let id = AtsUserId::parse(&user.id).map_err(|e| format!("user {:?}: {e}", user.id))?;
    let email = Email::parse(user.email.as_deref().unwrap_or_default()).map_err(|e| format!("user {id}: {e}"))?;
    let first = PersonName::parse_field(user.first_name.as_deref().unwrap_or_default(), "first_name")
        .map_err(|e| format!("user {id}: {e}"))?;
    let last = PersonName::parse_field(user.last_name.as_deref().unwrap_or_default(), "last_name")
        .map_err(|e| format!("user {id}: {e}"))?;
    Ok((id, email, first, last))
}

async fn apply_user(
    app: &Arc<App>,
    tenant: &TenantId,
    connection: &AtsConnectionItem,
    user: &AtsUser,
    seen_emails: &mut std::collections::HashMap<Email, AtsUserId>,
    report: &mut TenantReport,
) -> Result<(), Error> {
    if user.removed {
        if let Ok(id) = AtsUserId::parse(&user.id)
            && let Some(texting) = users::by_ats_id(app, tenant, &id).await?
            && texting.status != textbridge_domain::UserStatus::Deleted
        {
            report.removed_in_ats += 1;
            let conflict = Conflict::new(
                &id,
                user,
                "removed_in_ats",
                "removed in the ATS; revoke the texting user to remove them",
            )
            .with_texting(&texting);
            record_conflict(app, tenant, conflict, report).await?;
        }
        return Ok(());
    }
    if !wanted(user) {
        report.skipped += 1;
        return Ok(());
    }
    let (id, email, first, last) = match checked(user) {
        Ok(fields) => fields,
        Err(why) => {
            report.malformed += 1;
            report.note(why);
            return Ok(());
        }
    };
    if let Some(other) = seen_emails.get(&email).filter(|o| **o != id) {
        let why = format!("ATS users {other} and {id} have the same e-mail {email}");
        return record_conflict(app, tenant, Conflict::new(&id, user, "conflict", &why), report).await;
    }
    seen_emails.insert(email.clone(), id.clone());
    let rename = |u: &mut crate::items::UserItem| {
        u.first_name = first.clone();
        u.last_name = last.clone();
        Ok(())
    };
    let texting = match users::by_ats_id(app, tenant, &id).await? {
        Some(mapped) => mapped,
        None => match users::by_email(app, tenant, &email).await? {
            None => {
                let role = if user.access == AtsAccess::Full { connection.full_access_role } else { Role::User };
                let new = NewUser {
                    user_id: None,
                    email: email.clone(),
                    first_name: first.clone(),
                    last_name: last.clone(),
                    role,
                    area_code: None,
                    permission_group: users::DEFAULT_GROUP.parse()?,
                    team_id: None,
                    ats_id: Some(id.clone()),
                    source: "ats",
                };
                return match users::create(app, tenant, new, LicencePolicy::None, true).await {
                    Ok(_) => {
                        report.created += 1;
                        report.wrote = true;
                        clear_conflict(app, tenant, &id, report).await
                    }
                    Err(Error::Conflict { message, .. }) => {
                        record_conflict(app, tenant, Conflict::new(&id, user, "conflict", &message), report).await
                    }
                    Err(e) => Err(e),
                };
            }
            Some(existing) if existing.status == textbridge_domain::UserStatus::Deleted => {
                let why = format!("the username {email} was deleted and can never be added again");
                let conflict = Conflict::new(&id, user, "conflict", &why).with_texting(&existing);
                return record_conflict(app, tenant, conflict, report).await;
            }
            Some(existing) if !existing.ats_ids.is_empty() => {
                let others: Vec<&str> = existing.ats_ids.iter().map(AtsUserId::as_str).collect();
                let why = format!("the texting user {email} is mapped to another ATS user ({})", others.join(", "));
                let conflict = Conflict::new(&id, user, "conflict", &why).with_texting(&existing);
                return record_conflict(app, tenant, conflict, report).await;
            }
            Some(existing) => {
                // A texting user added by hand with this e-mail: the ATS user is them.
                users::map_ats_id(app, tenant, &existing.user_id, &id).await?;
                users::update(app, tenant, &existing.user_id, rename).await?;
                report.updated += 1;
                report.wrote = true;
                report.wrote = true;
                return clear_conflict(app, tenant, &id, report).await;
            }
        },
    };
    if texting.status == textbridge_domain::UserStatus::Deleted {
        let why = "the texting user of this ATS user was deleted; it is never added again";
        let conflict = Conflict::new(&id, user, "conflict", why).with_texting(&texting);
        return record_conflict(app, tenant, conflict, report).await;
    }
    if texting.email != email {
        let why =
            format!("the ATS e-mail {email} differs from the texting username {}, which never changes", texting.email);
        let conflict = Conflict::new(&id, user, "conflict", &why).with_texting(&texting);
        return record_conflict(app, tenant, conflict, report).await;
    }
    let (_, changed) = users::update(app, tenant, &texting.user_id, rename).await?;
    if changed {
        report.updated += 1;
        report.wrote = true;
    } else {
        report.unchanged += 1;
    }
    clear_conflict(app, tenant, &id, report).await
}

/// A conflict about to be recorded.
struct Conflict(SyncConflictItem);

impl Conflict {
    fn new(id: &AtsUserId, user: &AtsUser, kind: &str, reason: &str) -> Self {
        Self(SyncConflictItem {
            ats_user_id: id.to_string(),
            kind: kind.to_owned(),
            reason: reason.to_owned(),
            ats_email: user.email.clone(),
            ats_name: format!(
                "{} {}",
                user.first_name.as_deref().unwrap_or_default(),
                user.last_name.as_deref().unwrap_or_default()
            )
            .trim()
            .to_owned(),
            texting_user_id: None,
            texting_email: None,
            texting_status: None,
        })
    }

    fn with_texting(mut self, texting: &crate::items::UserItem) -> Self {
        self.0.texting_user_id = Some(texting.user_id.to_string());
        self.0.texting_email = Some(texting.email.to_string());
        self.0.texting_status = Some(texting.status.to_string());
        self
    }
}

/// Keeps a conflict (written only when it is new or different).
async fn record_conflict(
    app: &Arc<App>,
    tenant: &TenantId,
    conflict: Conflict,
    report: &mut TenantReport,
) -> Result<(), Error> {
    let conflict = conflict.0;
    if conflict.kind == "conflict" {
        report.conflicts += 1;
        report.note(format!("ATS user {}: {}", conflict.ats_user_id, conflict.reason));
    }
    let key = keys::sync_conflict(tenant, &conflict.ats_user_id);
    if items::get::<SyncConflictItem>(app.store.as_ref(), &key).await?.as_ref() != Some(&conflict) {
        app.store.put(&conflict.to_item(key)?, None).await?;
        report.wrote = true;
    }
    Ok(())
}

/// Drops an ATS user's conflict once the user syncs cleanly.
async fn clear_conflict(
    app: &Arc<App>,
    tenant: &TenantId,
    id: &AtsUserId,
    report: &mut TenantReport,
) -> Result<(), Error> {
    let key = keys::sync_conflict(tenant, id.as_str());
    if app.store.get(&key).await?.is_some() {
        app.store.delete(&key, None).await?;
        report.wrote = true;
    }
    Ok(())
}

async fn sync_records(
    app: &Arc<App>,
    tenant: &TenantId,
    kind: RecordKind,
    endpoint: &AtsEndpoint,
    report: &mut TenantReport,
) -> Result<(), Error> {
    let directory = app.directory()?.clone();
    let mut position = Position::load(app, tenant, kind.as_str()).await?;
    loop {
        let page = directory.records(endpoint, kind, &position.cursor()).await.map_err(ats_failure)?;
        let mut high = position.state.high.clone();
        let wrote_before = std::mem::replace(&mut report.wrote, false);
        for row in page.rows {
            match row {
                Ok(record) => {
                    high = later(high, record.updated_at.as_deref());
                    apply_record(app, tenant, kind, &record, report).await?;
                }
                Err(why) => {
                    report.malformed += 1;
                    report.note(format!("{} row: {why}", kind.as_str()));
                }
            }
        }
        let last = page.next.is_none();
        position.advance(app, page.next, high, report.wrote).await?;
        report.wrote |= wrote_before || position.wrote;
        if last {
            return Ok(());
        }
    }
}

async fn apply_record(
    app: &Arc<App>,
    tenant: &TenantId,
    kind: RecordKind,
    record: &AtsRecord,
    report: &mut TenantReport,
) -> Result<(), Error> {
    let id = match records::record_id(&record.id) {
        Ok(id) => id,
        Err(e) => {
            report.malformed += 1;
            report.note(format!("{} {:?}: {e}", kind.as_str(), record.id));
            return Ok(());
        }
    };
    if record.removed && items::get::<RecordItem>(app.store.as_ref(), &keys::record(tenant, kind, &id)).await?.is_none()
    {
        return Ok(());
    }
    let mut phones = Vec::new();
    if !record.removed {
        for raw in record.phones.iter().take(records::MAX_PHONES) {
            match E164::parse(raw, app.config.default_region) {
                Ok(n) => phones.push(n.to_string()),
                Err(_) => {
                    report.malformed += 1;
                    report.note(format!("{} {id}: a phone number is not valid and was left out", kind.as_str()));
                }
            }
        }
    }
    let input = RecordInput { name: record.name.clone(), phones };
    match records::upsert_for(app, tenant, kind, &id, input).await {
        Ok(view) => {
            if view.changed {
                report.records_upserted += 1;
                report.wrote = true;
            } else {
                report.records_unchanged += 1;
            }
            report.unmatched_reattached += view.rematched;
            Ok(())
        }
        Err(e) if e.is_bad_input() => {
            report.malformed += 1;
            report.note(format!("{} {id}: {e}", kind.as_str()));
            Ok(())
        }
        Err(e) => Err(e),
    }
}

// ---------------------------------------------------------------- admin routes

/// The tenant's open sync conflicts (admins).
pub async fn conflicts(app: &Arc<App>, caller: &Identity) -> Result<Vec<SyncConflictItem>, Error> {
    caller.require_admin()?;
    let items = app.store.query_all(&keys::sync_conflicts(&caller.tenant)).await?;
    items.iter().map(SyncConflictItem::from_item).collect()
}

/// How an admin resolves a conflict.
#[derive(Debug, Clone, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields, tag = "action", rename_all = "snake_case")]
pub enum Resolution {
    /// Forget it (the next change of the ATS user is checked again).
    Dismiss,
    /// Map the ATS user to this texting user (who must have no other ATS user).
    Map {
        /// The texting user.
        user_id: String,
    },
}

/// Resolves a conflict (admins); 404 if there is none for that ATS user.
pub async fn resolve(
    app: &Arc<App>,
    caller: &Identity,
    ats_user: &str,
    resolution: Resolution,
) -> Result<SyncConflictItem, Error> {
    caller.require_admin()?;
    let ats = AtsUserId::parse(ats_user)?;
    let key = keys::sync_conflict(&caller.tenant, ats.as_str());
    let conflict = items::get::<SyncConflictItem>(app.store.as_ref(), &key)
        .await?
        .ok_or_else(|| Error::NotFound(format!("no sync conflict for ATS user {ats}")))?;
    if let Resolution::Map { user_id } = resolution {
        let id = textbridge_domain::UserId::parse(&user_id)?;
        users::add_ats_id(app, caller, &id, ats.as_str()).await?;
    }
    let condition = Condition::Exists;
    app.store.transact(&[Write::Delete { key, condition: Some(condition) }]).await?;
    Ok(conflict)
}

/// The report of the tenant's last run that changed something (admins).
pub async fn last_report(app: &Arc<App>, caller: &Identity) -> Result<TenantReport, Error> {
    caller.require_admin()?;
    items::get::<TenantReport>(app.store.as_ref(), &keys::sync_report(&caller.tenant))
        .await?
        .ok_or_else(|| Error::NotFound("no sync has changed anything yet".into()))
}
