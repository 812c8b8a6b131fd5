//! Texting users (S3): add, manage, delete for good, licences, teams, inboxes and
//! ATS user ids.
//!
//! Every change of a user is one transaction: the user item is put on the condition
//! that its `version` is the one read, together with every other item the change
//! touches (username claim, licence number, seat counter, ATS id claims, outgoing
//! e-mail event). A change that loses a race re-reads and tries again, so seat
//! counts stay exact and nothing is ever half-applied.

use std::{collections::BTreeMap, sync::Arc, time::Duration};

use futures::future::BoxFuture;

use serde::{Deserialize, Serialize};
use textbridge_domain::{
    AreaCode, AtsUserId, BranchId, E164, Email, Error, Identity, PermissionGroup, PersonName, Role, TenantId,
    Timestamp, UserId, UserStatus, import::CountryCode,
};

use crate::{
    App,
    items::{
        self, AtsClaim, AtsIntegrationItem, Inbox, NameClaim, NumberItem, OutboxEvent, SeatsItem, Stored, UserItem,
    },
    keys,
    ports::{Condition, PortError, Query, Update, Write},
    teams,
};

/// How many times a change that lost a race is tried again.
const ATTEMPTS: u32 = 60;
/// The most inboxes one user sees.
const MAX_INBOXES: usize = 25;
/// The most ATS users mapped to one texting user.
const MAX_ATS_IDS: usize = 20;
/// The permission group of a user added without one.
pub const DEFAULT_GROUP: &str = "default";

/// A texting user as the API shows them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct UserView {
    /// The user's id.
    pub id: UserId,
    /// The username (e-mail).
    pub email: Email,
    /// First name.
    pub first_name: PersonName,
    /// Last name.
    pub last_name: PersonName,
    /// Role.
    pub role: Role,
    /// Active, disabled or deleted.
    pub status: UserStatus,
    /// Permission group.
    pub permission_group: PermissionGroup,
    /// Desired area code of the licence number.
    pub area_code: Option<AreaCode>,
    /// The licensed phone number.
    pub licence: Option<E164>,
    /// The team's id.
    pub team_id: Option<String>,
    /// The branch whose credentials the user sends through when they have none.
    pub branch: Option<BranchId>,
    /// Other users' inboxes this user sees.
    pub inboxes: Vec<Inbox>,
    /// ATS users mapped to this user.
    pub ats_ids: Vec<AtsUserId>,
    /// Telephone country code (from an import).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub country_code: Option<CountryCode>,
    /// Must change the password at the next sign-in.
    pub password_expired: bool,
    /// `manual`, `import` or `ats`.
    pub source: String,
    /// When the user was added.
    pub created_at: Timestamp,
    /// When the user last changed.
    pub updated_at: Timestamp,
}

impl From<UserItem> for UserView {
    fn from(u: UserItem) -> Self {
        Self {
            id: u.user_id,
            email: u.email,
            first_name: u.first_name,
            last_name: u.last_name,
            role: u.role,
            status: u.status,
            permission_group: u.permission_group,
            area_code: u.area_code,
            licence: u.licence,
            team_id: u.team_id,
            branch: u.branch,
            inboxes: u.inboxes,
            ats_ids: u.ats_ids,
            country_code: u.country_code,
            password_expired: u.password_expired,
            source: u.source,
            created_at: u.created_at,
            updated_at: u.updated_at,
        }
    }
}

/// What a manager sends to add a user.
#[derive(Debug, Clone, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(examples(json!({"first_name": "Ann", "last_name": "Lee", "email": "ann@example.com", "area_code": "206", "role": "user"})))]
pub struct NewUserInput {
    /// The user's id at the identity provider (the token's `sub`); generated when absent.
    #[serde(default)]
    pub id: Option<String>,
    /// First name.
    pub first_name: String,
    /// Last name.
    pub last_name: String,
    /// E-mail, which is also the username.
    pub email: String,
    /// Desired area code of the licence number.
    #[serde(default)]
    pub area_code: Option<String>,
    /// `user` (default) or `manager`; `customer_admin` only by staff.
    #[serde(default)]
    #[schema(value_type = Option<Role>)]
    pub role: Option<String>,
    /// Whether to send the invitation e-mail (default on).
    #[serde(default)]
    pub send_invitation: Option<bool>,
    /// Permission group (default `default`).
    #[serde(default)]
    pub permission_group: Option<String>,
}

/// A checked new user, as add, import and the ATS sync create them.
#[derive(Debug, Clone)]
pub struct NewUser {
    /// The id to give the user (generated when absent).
    pub user_id: Option<UserId>,
    /// E-mail (username).
    pub email: Email,
    /// First name.
    pub first_name: PersonName,
    /// Last name.
    pub last_name: PersonName,
    /// Role.
    pub role: Role,
    /// Desired area code.
    pub area_code: Option<AreaCode>,
    /// Permission group.
    pub permission_group: PermissionGroup,
    /// Team to put the user on.
    pub team_id: Option<String>,
    /// The ATS user to map to the new user.
    pub ats_id: Option<AtsUserId>,
    /// `manual`, `import` or `ats`.
    pub source: &'static str,
}

/// Whether a new user gets a licence.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LicencePolicy {
    /// If a seat is free (preferring the desired area code): a user added by hand.
    WhenFree,
    /// Only when a desired area code is given and a seat is free: an imported user.
    WithAreaCode,
    /// Never.
    None,
}

/// The outcome of adding a user.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct Added {
    /// The new user.
    pub user: UserView,
    /// Why the user has no licence, when they have none.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub licence_note: Option<String>,
    /// Whether an invitation e-mail was produced.
    pub invitation_sent: bool,
}

/// A filter and page of the user list.
#[derive(Debug, Clone, Default, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct UserFilter {
    /// Only this role.
    #[param(value_type = Option<Role>)]
    pub role: Option<String>,
    /// Only this status (default: active and disabled).
    #[param(value_type = Option<UserStatus>)]
    pub status: Option<String>,
    /// Only members of this team (`none` for users on no team).
    pub team: Option<String>,
    /// Only users with (`true`) or without (`false`) a licence.
    pub licensed: Option<bool>,
    /// Text to find in the name or e-mail (any case).
    pub q: Option<String>,
    /// Where the previous page ended.
    pub cursor: Option<String>,
    /// Page size, 1–100 (default 50).
    pub limit: Option<u32>,
}

/// One page of users.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct UserPage {
    /// The users, by id.
    pub users: Vec<UserView>,
    /// The cursor of the next page, if there is one.
    pub next: Option<String>,
}

/// A change of names (`email` is never editable: sending it is refused).
#[derive(Debug, Clone, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(examples(json!({"first_name": "Ann", "last_name": "Lee"})))]
pub struct NamesInput {
    /// New first name.
    #[serde(default)]
    pub first_name: Option<String>,
    /// New last name.
    #[serde(default)]
    pub last_name: Option<String>,
    /// Present only to refuse it with a clear message.
    #[serde(default)]
    pub email: Option<serde_json::Value>,
}

/// An inbox to add.
#[derive(Debug, Clone, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(examples(json!({"source_username": "ann@example.com", "name": "Ann"})))]
pub struct InboxInput {
    /// The username (e-mail) of the inbox's owner.
    pub source_username: String,
    /// The name shown in the sidebar.
    pub name: String,
}

/// The tenant's licence seats.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct SeatsView {
    /// Seats bought.
    pub total: i64,
    /// Seats free.
    pub free: i64,
    /// Every licence number and whom it is assigned to.
    pub numbers: Vec<NumberItem>,
}

// ---------------------------------------------------------------- authorization

/// Fails unless the caller may change `target` (managers and admins; a customer
/// admin only by a customer admin or staff).
fn may_manage(caller: &Identity, target: &UserItem) -> Result<(), Error> {
    caller.require_user_manager()?;
    if target.role == Role::CustomerAdmin && !caller.role.is_admin() {
        return Err(Error::Forbidden("only a customer admin or staff may change a customer admin".into()));
    }
    Ok(())
}

/// Fails unless the caller may read other users (reporters, managers, admins).
pub(crate) fn may_read_all(caller: &Identity) -> Result<(), Error> {
    if caller.role == Role::User {
        Err(Error::Forbidden("this needs a reporter, manager or customer admin".into()))
    } else {
        Ok(())
    }
}

/// Fails while the tenant's users come from the ATS sync.
pub async fn require_manual_users(app: &Arc<App>, tenant: &TenantId) -> Result<(), Error> {
    if ats_integration_enabled(app, tenant).await? {
        return Err(Error::conflict(
            "the ATS integration is enabled: users come from the ATS sync, so adding and importing users is off",
        ));
    }
    Ok(())
}

/// Whether the tenant has the ATS integration enabled.
pub async fn ats_integration_enabled(app: &Arc<App>, tenant: &TenantId) -> Result<bool, Error> {
    let item = items::get::<AtsIntegrationItem>(app.store.as_ref(), &keys::ats_integration(tenant)).await?;
    Ok(item.is_some_and(|i| i.enabled))
}

// ---------------------------------------------------------------- reading

/// The user `id` of `tenant`, deleted ones included; 404 if there is none.
pub async fn load(app: &Arc<App>, tenant: &TenantId, id: &UserId) -> Result<UserItem, Error> {
    items::get::<UserItem>(app.store.as_ref(), &keys::user(tenant, id))
        .await?
        .ok_or_else(|| Error::NotFound(format!("no texting user {id} here")))
}

/// The user `id` if they exist and are not deleted; 404 otherwise.
pub async fn existing(app: &Arc<App>, tenant: &TenantId, id: &UserId) -> Result<UserItem, Error> {
    let user = load(app, tenant, id).await?;
    if user.status == UserStatus::Deleted {
        return Err(Error::NotFound(format!("texting user {id} was deleted")));
    }
    Ok(user)
}

/// The user holding `email` (deleted ones included), if any.
pub async fn by_email(app: &Arc<App>, tenant: &TenantId, email: &Email) -> Result<Option<UserItem>, Error> {
    let Some(claim) = items::get::<NameClaim>(app.store.as_ref(), &keys::user_name(tenant, email)).await? else {
        return Ok(None);
    };
    items::get::<UserItem>(app.store.as_ref(), &keys::user(tenant, &claim.user_id)).await
}

/// One user: managers, reporters and admins read anyone, a user reads themselves.
#[tracing::instrument(skip_all, fields(tenant = %caller.tenant))]
pub async fn get(app: &Arc<App>, caller: &Identity, id: &UserId) -> Result<UserView, Error> {
    if *id != caller.user_id {
        may_read_all(caller)?;
    }
    Ok(load(app, &caller.tenant, id).await?.into())
}

/// A page of users matching `filter` (reporters, managers, admins).
#[tracing::instrument(skip_all, fields(tenant = %caller.tenant))]
pub async fn list(app: &Arc<App>, caller: &Identity, filter: UserFilter) -> Result<UserPage, Error> {
    may_read_all(caller)?;
    let role = filter.role.as_deref().map(str::parse::<Role>).transpose()?;
    let status = filter.status.as_deref().map(str::parse::<UserStatus>).transpose()?;
    let q = filter.q.as_deref().map(|q| q.trim().to_lowercase()).filter(|q| !q.is_empty());
    let limit = filter.limit.unwrap_or(50);
    if !(1..=100).contains(&limit) {
        return Err(Error::invalid("limit", "must be 1-100"));
    }
    let mut query = keys::users(&caller.tenant).limit(limit);
    query.cursor = filter.cursor;
    let page = app.store.query_listing(&query).await?;
    let mut users = Vec::new();
    for item in &page.items {
        let u = UserItem::from_item(item)?;
        let keep = match status {
            Some(s) => u.status == s,
            None => u.status != UserStatus::Deleted,
        } && role.is_none_or(|r| u.role == r)
            && filter.team.as_deref().is_none_or(|t| match t {
                "none" => u.team_id.is_none(),
                t => u.team_id.as_deref() == Some(t),
            })
            && filter.licensed.is_none_or(|l| u.licence.is_some() == l)
            && q.as_deref().is_none_or(|q| {
                u.email.as_str().contains(q)
                    || u.first_name.as_str().to_lowercase().contains(q)
                    || u.last_name.as_str().to_lowercase().contains(q)
            });
        if keep {
            users.push(u.into());
        }
    }
    Ok(UserPage { users, next: page.next })
}

/// Every user of a tenant, deleted ones included (import, report, sync).
pub async fn all(app: &Arc<App>, tenant: &TenantId) -> Result<Vec<UserItem>, Error> {
    let items = app.store.query_all(&keys::users(tenant).limit(1000)).await?;
    items.iter().map(UserItem::from_item).collect()
}

// ---------------------------------------------------------------- adding

/// Adds a user by hand (managers and admins): role User or Manager (Customer Admin
/// only by staff), a licence when a seat is free, an invitation unless turned off.
#[tracing::instrument(skip_all, fields(tenant = %caller.tenant))]
pub async fn add(app: &Arc<App>, caller: &Identity, input: NewUserInput) -> Result<Added, Error> {
    caller.require_user_manager()?;
    let role = match input.role.as_deref() {
        None => Role::User,
        Some(r) => r.parse::<Role>()?,
    };
    match role {
        Role::User | Role::Manager => {}
        Role::CustomerAdmin if caller.role == Role::Staff => {}
        Role::CustomerAdmin => {
            return Err(Error::Forbidden("a customer admin can only be added by staff".into()));
        }
        other => {
            return Err(Error::invalid("role", format!("a new user is a user or a manager, not {other}")));
        }
    }
    let permission_group = PermissionGroup::parse(input.permission_group.as_deref().unwrap_or(DEFAULT_GROUP))?;
    if permission_group.as_str() != DEFAULT_GROUP
        && app.store.get(&keys::permission_group(&caller.tenant, permission_group.as_str())).await?.is_none()
    {
        return Err(Error::invalid("permission_group", format!("there is no permission group {permission_group}")));
    }
    let user = NewUser {
        user_id: input.id.as_deref().map(UserId::parse).transpose()?,
        email: Email::parse(&input.email)?,
        first_name: PersonName::parse_field(&input.first_name, "first_name")?,
        last_name: PersonName::parse_field(&input.last_name, "last_name")?,
        role,
        area_code: input.area_code.as_deref().filter(|a| !a.trim().is_empty()).map(AreaCode::parse).transpose()?,
        permission_group,
        team_id: None,
        ats_id: None,
        source: "manual",
    };
    require_manual_users(app, &caller.tenant).await?;
    create(app, &caller.tenant, user, LicencePolicy::WhenFree, input.send_invitation.unwrap_or(true)).await
}

/// Creates a user (add, import, sync): the user, the username claim, the licence when
/// the policy allows and a seat is free, the team, the ATS id claim and the
/// invitation, all in one transaction. A taken or deleted username is a 409.
pub async fn create(
    app: &Arc<App>,
    tenant: &TenantId,
    new: NewUser,
    licence: LicencePolicy,
    invite: bool,
) -> Result<Added, Error> {
    create_with(app, tenant, new, licence, invite, |_| {}).await
}

/// [`create`], with `edit` setting fields of the new user that [`NewUser`] does not
/// carry (an import's country code) before it is written.
pub async fn create_with(
    app: &Arc<App>,
    tenant: &TenantId,
    new: NewUser,
    licence: LicencePolicy,
    invite: bool,
    edit: impl Fn(&mut UserItem) + Send + Sync,
) -> Result<Added, Error> {
    let now = Timestamp::new(app.clock.now())?;
    let user_id = match &new.user_id {
        Some(id) => id.clone(),
        None => UserId::parse(&uuid::Uuid::new_v4().to_string())?,
    };
    for attempt in 0..ATTEMPTS {
        if let Some(claim) = items::get::<NameClaim>(app.store.as_ref(), &keys::user_name(tenant, &new.email)).await? {
            return Err(taken(&new.email, &claim));
        }
        if new.user_id.is_some() && app.store.get(&keys::user(tenant, &user_id)).await?.is_some() {
            return Err(Error::Conflict {
                field: Some("id".into()),
                message: format!("a user with the id {user_id} exists"),
            });
        }
        let mut user = UserItem {
            user_id: user_id.clone(),
            email: new.email.clone(),
            first_name: new.first_name.clone(),
            last_name: new.last_name.clone(),
            role: new.role,
            status: UserStatus::Active,
            permission_group: new.permission_group.clone(),
            area_code: new.area_code.clone(),
            licence: None,
            team_id: new.team_id.clone(),
            branch: None,
            inboxes: Vec::new(),
            ats_ids: new.ats_id.iter().cloned().collect(),
            country_code: None,
            password_expired: false,
            source: new.source.to_owned(),
            created_at: now,
            updated_at: now,
            version: 1,
        };
        edit(&mut user);
        let mut writes = Vec::new();
        let mut licence_note = None;
        let wants = match licence {
            LicencePolicy::WhenFree => true,
            LicencePolicy::WithAreaCode => new.area_code.is_some(),
            LicencePolicy::None => false,
        };
        if wants {
            match free_number(app, tenant, new.area_code.as_ref()).await? {
                Some(number) => {
                    user.licence = Some(number.number.clone());
                    writes.extend(take_number(tenant, &number, &user_id)?);
                }
                None => licence_note = Some("no licence seat is free".to_owned()),
            }
        } else if licence == LicencePolicy::WithAreaCode {
            licence_note = Some("no desired area code was given".to_owned());
        }
        if let Some(team) = &new.team_id {
            writes.push(Write::Check { key: keys::team(tenant, team), condition: Condition::Exists });
        }
        if let Some(ats) = &new.ats_id {
            let claim = AtsClaim { user_id: user_id.clone() }.to_item(keys::ats_user(tenant, ats))?;
            writes.push(Write::Put { item: claim, condition: Some(Condition::NotExists) });
        }
        let claim =
            NameClaim { user_id: user_id.clone(), deleted: false }.to_item(keys::user_name(tenant, &new.email))?;
        writes.push(Write::Put { item: claim, condition: Some(Condition::NotExists) });
        writes.push(Write::Put {
            item: user.to_item(keys::user(tenant, &user_id))?,
            condition: Some(Condition::NotExists),
        });
        if invite {
            writes.push(outbox_write(tenant, &user, "invitation", now)?);
        }
        if commit(app, &writes).await? {
            tracing::info!(user = %user_id, licensed = user.licence.is_some(), "texting user added");
            return Ok(Added { user: user.into(), licence_note, invitation_sent: invite });
        }
        if let Some(team) = &new.team_id
            && items::get::<items::TeamItem>(app.store.as_ref(), &keys::team(tenant, team)).await?.is_none()
        {
            return Err(Error::invalid("team_id", format!("there is no team {team}")));
        }
        if let Some(ats) = &new.ats_id
            && items::get::<AtsClaim>(app.store.as_ref(), &keys::ats_user(tenant, ats)).await?.is_some()
        {
            return Err(ats_taken(ats));
        }
        backoff(attempt).await;
    }
    Err(busy())
}

fn taken(email: &Email, claim: &NameClaim) -> Error {
    let message = if claim.deleted {
        format!("the username {email} was deleted and can never be added again")
    } else {
        format!("a user with the username {email} already exists")
    };
    Error::Conflict { field: Some("email".into()), message }
}

fn ats_taken(ats: &AtsUserId) -> Error {
    Error::Conflict { field: Some("ats_user_id".into()), message: format!("ATS user {ats} is mapped to another user") }
}

pub(crate) fn busy() -> Error {
    Error::Unavailable("too many changes at once; try again".into())
}

/// Commits `writes` as one transaction; `false` if a condition failed or the
/// transaction collided with another (the caller re-reads and tries again).
pub(crate) async fn commit(app: &Arc<App>, writes: &[Write]) -> Result<bool, Error> {
    match app.store.transact(writes).await {
        Ok(()) => Ok(true),
        Err(PortError::ConditionFailed | PortError::Retryable(_)) => Ok(false),
        Err(e) => Err(e.into()),
    }
}

/// A short random pause that grows with the attempt, so racing changes spread out.
pub(crate) async fn backoff(attempt: u32) {
    let ceiling = 2 + u64::from(attempt.min(10)) * 3;
    tokio::time::sleep(Duration::from_millis(rand::random_range(1..=ceiling))).await;
}

fn outbox_write(tenant: &TenantId, user: &UserItem, template: &str, at: Timestamp) -> Result<Write, Error> {
    let event_id = uuid::Uuid::new_v4().to_string();
    let fields = BTreeMap::from([
        ("first_name".to_owned(), user.first_name.to_string()),
        ("last_name".to_owned(), user.last_name.to_string()),
        ("username".to_owned(), user.email.to_string()),
        ("tenant".to_owned(), tenant.to_string()),
    ]);
    let event = OutboxEvent {
        event_id: event_id.clone(),
        template: template.to_owned(),
        to: user.email.clone(),
        user_id: user.user_id.clone(),
        fields,
        at,
    };
    Ok(Write::Put { item: event.to_item(keys::outbox_event(tenant, &at, &event_id))?, condition: None })
}

// ---------------------------------------------------------------- changing

/// What a change does to a user: the new state and any other writes.
struct Change {
    user: UserItem,
    writes: Vec<Write>,
}

/// Applies `plan` to the current user `id` until it commits: the user is put on the
/// condition that its version is unchanged, with the plan's other writes. A plan
/// that changes nothing writes nothing.
async fn change<F>(app: &Arc<App>, actor: Actor<'_>, id: &UserId, mut plan: F) -> Result<UserItem, Error>
where
    F: FnMut(UserItem) -> BoxFuture<'static, Result<Change, Error>>,
{
    let tenant = actor.tenant();
    for attempt in 0..ATTEMPTS {
        let current = existing(app, tenant, id).await?;
        if let Actor::Caller(caller) = actor {
            may_manage(caller, &current)?;
        }
        let Change { mut user, mut writes } = plan(current.clone()).await?;
        if user == current && writes.is_empty() {
            return Ok(current);
        }
        user.version = current.version + 1;
        user.updated_at = Timestamp::new(app.clock.now())?;
        let condition = Condition::Equals("version".into(), current.version.into());
        writes.push(Write::Put { item: user.to_item(keys::user(tenant, id))?, condition: Some(condition) });
        if commit(app, &writes).await? {
            return Ok(user);
        }
        backoff(attempt).await;
    }
    Err(busy())
}

/// Who changes a user: a caller (whose role is checked) or the system itself (an
/// import or the ATS sync, already authorised).
#[derive(Debug, Clone, Copy)]
pub enum Actor<'a> {
    /// An API caller.
    Caller(&'a Identity),
    /// The system, for a tenant.
    System(&'a TenantId),
}

impl Actor<'_> {
    fn tenant(&self) -> &TenantId {
        match self {
            Self::Caller(c) => &c.tenant,
            Self::System(t) => t,
        }
    }
}

impl<'a> From<&'a Identity> for Actor<'a> {
    fn from(caller: &'a Identity) -> Self {
        Self::Caller(caller)
    }
}

/// Changes user `id` as the system (import, ATS sync): `edit` changes the user's
/// fields (not its id, e-mail, licence, ATS ids or status). Writes nothing when
/// nothing changed; returns the user and whether it changed.
pub async fn update<F>(app: &Arc<App>, tenant: &TenantId, id: &UserId, mut edit: F) -> Result<(UserItem, bool), Error>
where
    F: FnMut(&mut UserItem) -> Result<(), Error>,
{
    let mut changed = false;
    let user = change_now(app, Actor::System(tenant), id, |mut u| {
        let before = u.clone();
        edit(&mut u)?;
        u.user_id = before.user_id.clone();
        u.email = before.email.clone();
        u.licence = before.licence.clone();
        u.ats_ids = before.ats_ids.clone();
        u.status = before.status;
        changed = u != before;
        Ok(Change { user: u, writes: Vec::new() })
    })
    .await?;
    Ok((user, changed))
}

/// Gives user `id` a licence as the system when they hold none and a seat is free
/// (preferring `area`); the licence the user holds afterwards, if any.
pub async fn license(
    app: &Arc<App>,
    tenant: &TenantId,
    id: &UserId,
    area: Option<&AreaCode>,
) -> Result<Option<E164>, Error> {
    let area = area.cloned();
    let user = change(app, Actor::System(tenant), id, |mut u| {
        let (app, tenant, area) = (app.clone(), tenant.clone(), area.clone());
        Box::pin(async move {
            if u.licence.is_some() {
                return Ok(Change { user: u, writes: Vec::new() });
            }
            if area.is_some() {
                u.area_code = area;
            }
            let Some(number) = free_number(&app, &tenant, u.area_code.as_ref()).await? else {
                return Ok(Change { user: u, writes: Vec::new() });
            };
            u.licence = Some(number.number.clone());
            Ok(Change { writes: take_number(&tenant, &number, &u.user_id)?, user: u })
        })
    })
    .await?;
    Ok(user.licence)
}

/// [`change`] with a plan that needs no reads of its own.
async fn change_now<F>(app: &Arc<App>, actor: Actor<'_>, id: &UserId, mut plan: F) -> Result<UserItem, Error>
where
    F: FnMut(UserItem) -> Result<Change, Error>,
{
    change(app, actor, id, |u| {
        let planned = plan(u);
        Box::pin(async move { planned })
    })
    .await
}

/// Changes first and/or last name; the e-mail (username) is never editable.
#[tracing::instrument(skip_all, fields(tenant = %caller.tenant))]
pub async fn rename(app: &Arc<App>, caller: &Identity, id: &UserId, input: NamesInput) -> Result<UserView, Error> {
    if input.email.is_some() {
        return Err(Error::invalid("email", "the e-mail is the username and can never be changed"));
    }
    let first = input.first_name.as_deref().map(|n| PersonName::parse_field(n, "first_name")).transpose()?;
    let last = input.last_name.as_deref().map(|n| PersonName::parse_field(n, "last_name")).transpose()?;
    if first.is_none() && last.is_none() {
        return Err(Error::invalid("first_name", "give first_name and/or last_name"));
    }
    let user = change_now(app, caller.into(), id, |mut u| {
        if let Some(f) = &first {
            u.first_name = f.clone();
        }
        if let Some(l) = &last {
            u.last_name = l.clone();
        }
        Ok(Change { user: u, writes: Vec::new() })
    })
    .await?;
    Ok(user.into())
}

/// Converts a user's role between User, Reporter and Manager (to or from Customer
/// Admin only by staff).
#[tracing::instrument(skip_all, fields(tenant = %caller.tenant))]
pub async fn set_role(app: &Arc<App>, caller: &Identity, id: &UserId, role: &str) -> Result<UserView, Error> {
    let role: Role = role.parse()?;
    if !role.is_texting_role() {
        return Err(Error::invalid("role", "staff is not a texting role"));
    }
    let staff = caller.role == Role::Staff;
    let user = change_now(app, caller.into(), id, |mut u| {
        if !staff && (role == Role::CustomerAdmin || u.role == Role::CustomerAdmin) {
            return Err(Error::Forbidden("only staff may make or unmake a customer admin".into()));
        }
        u.role = role;
        Ok(Change { user: u, writes: Vec::new() })
    })
    .await?;
    Ok(user.into())
}

/// Puts a user in a permission group (which must exist).
#[tracing::instrument(skip_all, fields(tenant = %caller.tenant))]
pub async fn set_permission_group(
    app: &Arc<App>,
    caller: &Identity,
    id: &UserId,
    group: &str,
) -> Result<UserView, Error> {
    let group = PermissionGroup::parse(group)?;
    let key = keys::permission_group(&caller.tenant, group.as_str());
    if group.as_str() != DEFAULT_GROUP && app.store.get(&key).await?.is_none() {
        return Err(Error::invalid("permission_group", format!("there is no permission group {group}")));
    }
    let user = change_now(app, caller.into(), id, |mut u| {
        u.permission_group = group.clone();
        let writes = if group.as_str() == DEFAULT_GROUP {
            Vec::new()
        } else {
            vec![Write::Check { key: key.clone(), condition: Condition::Exists }]
        };
        Ok(Change { user: u, writes })
    })
    .await?;
    Ok(user.into())
}

/// Disables (`false`) or enables (`true`) a user.
#[tracing::instrument(skip_all, fields(tenant = %caller.tenant))]
pub async fn set_enabled(app: &Arc<App>, caller: &Identity, id: &UserId, enabled: bool) -> Result<UserView, Error> {
    if *id == caller.user_id && !enabled {
        return Err(Error::conflict("you cannot disable yourself"));
    }
    let user = change_now(app, caller.into(), id, |mut u| {
        u.status = if enabled { UserStatus::Active } else { UserStatus::Disabled };
        Ok(Change { user: u, writes: Vec::new() })
    })
    .await?;
    Ok(user.into())
}

/// Requires a password change at the user's next sign-in.
#[tracing::instrument(skip_all, fields(tenant = %caller.tenant))]
pub async fn expire_password(app: &Arc<App>, caller: &Identity, id: &UserId) -> Result<UserView, Error> {
    let user = change_now(app, caller.into(), id, |mut u| {
        u.password_expired = true;
        Ok(Change { user: u, writes: Vec::new() })
    })
    .await?;
    Ok(user.into())
}

/// Produces a forgot-password e-mail event for the user.
#[tracing::instrument(skip_all, fields(tenant = %caller.tenant))]
pub async fn forgot_password(app: &Arc<App>, caller: &Identity, id: &UserId) -> Result<UserView, Error> {
    let tenant = caller.tenant.clone();
    let at = Timestamp::new(app.clock.now())?;
    let user = change_now(app, caller.into(), id, |u| {
        // The version bump orders the event with the user's other changes.
        let writes = vec![outbox_write(&tenant, &u, "forgot_password", at)?];
        Ok(Change { user: u, writes })
    })
    .await?;
    Ok(user.into())
}

/// Adds another user's inbox to the user's sidebar.
#[tracing::instrument(skip_all, fields(tenant = %caller.tenant))]
pub async fn add_inbox(app: &Arc<App>, caller: &Identity, id: &UserId, input: InboxInput) -> Result<UserView, Error> {
    let source = Email::parse(&input.source_username).map_err(|_| {
        Error::invalid("source_username", format!("{:?} is not an e-mail address", input.source_username.trim()))
    })?;
    let name = input.name.trim().to_owned();
    if name.is_empty() || name.chars().count() > 100 || name.chars().any(char::is_control) {
        return Err(Error::invalid("name", "an inbox name must be 1-100 characters without control characters"));
    }
    let owner = by_email(app, &caller.tenant, &source).await?;
    let Some(owner) = owner.filter(|o| o.status != UserStatus::Deleted) else {
        return Err(Error::invalid("source_username", format!("there is no texting user {source}")));
    };
    if owner.user_id == *id {
        return Err(Error::invalid("source_username", "a user always sees their own inbox"));
    }
    let user = change_now(app, caller.into(), id, |mut u| {
        if u.inboxes.iter().any(|i| i.source_username == source) {
            return Err(Error::Conflict {
                field: Some("source_username".into()),
                message: format!("the user already sees {source}'s inbox"),
            });
        }
        if u.inboxes.len() >= MAX_INBOXES {
            return Err(Error::invalid("inboxes", format!("a user sees at most {MAX_INBOXES} other inboxes")));
        }
        u.inboxes.push(Inbox { source_username: source.clone(), name: name.clone() });
        Ok(Change { user: u, writes: Vec::new() })
    })
    .await?;
    Ok(user.into())
}

/// Removes an inbox from the user's sidebar.
#[tracing::instrument(skip_all, fields(tenant = %caller.tenant))]
pub async fn remove_inbox(app: &Arc<App>, caller: &Identity, id: &UserId, source: &str) -> Result<UserView, Error> {
    let source = Email::parse(source)?;
    let user = change_now(app, caller.into(), id, |mut u| {
        let before = u.inboxes.len();
        u.inboxes.retain(|i| i.source_username != source);
        if u.inboxes.len() == before {
            return Err(Error::NotFound(format!("the user has no inbox of {source}")));
        }
        Ok(Change { user: u, writes: Vec::new() })
    })
    .await?;
    Ok(user.into())
}

/// Puts the user on a team (which must exist), or off any team (`None`).
#[tracing::instrument(skip_all, fields(tenant = %caller.tenant))]
pub async fn set_team(app: &Arc<App>, caller: &Identity, id: &UserId, team: Option<&str>) -> Result<UserView, Error> {
    let tenant = caller.tenant.clone();
    let team = match team {
        Some(t) => Some(teams::require(app, &tenant, t).await?.team_id),
        None => None,
    };
    let user = change_now(app, caller.into(), id, |mut u| {
        u.team_id = team.clone();
        let writes = match &team {
            Some(t) => vec![Write::Check { key: keys::team(&tenant, t), condition: Condition::Exists }],
            None => Vec::new(),
        };
        Ok(Change { user: u, writes })
    })
    .await?;
    Ok(user.into())
}

/// Puts a user in a branch (`None`: no branch); admins only. A user without
/// credentials of their own sends through their branch's.
#[tracing::instrument(skip_all, fields(tenant = %caller.tenant))]
pub async fn set_branch(
    app: &Arc<App>,
    caller: &Identity,
    id: &UserId,
    branch: Option<&str>,
) -> Result<UserView, Error> {
    caller.require_admin()?;
    let branch = branch.map(BranchId::parse).transpose()?;
    let user = change_now(app, caller.into(), id, |mut u| {
        u.branch = branch.clone();
        Ok(Change { user: u, writes: Vec::new() })
    })
    .await?;
    Ok(user.into())
}

/// Maps an ATS user to the texting user (one ATS id maps to at most one user).
#[tracing::instrument(skip_all, fields(tenant = %caller.tenant))]
pub async fn add_ats_id(app: &Arc<App>, caller: &Identity, id: &UserId, ats: &str) -> Result<UserView, Error> {
    let ats = AtsUserId::parse(ats)?;
    Ok(map_ats(app, caller.into(), id, &ats).await?.into())
}

/// Maps an ATS user to texting user `id` as the system (the ATS sync); a no-op when
/// already mapped to them, 409 when mapped to another user.
pub async fn map_ats_id(app: &Arc<App>, tenant: &TenantId, id: &UserId, ats: &AtsUserId) -> Result<UserItem, Error> {
    map_ats(app, Actor::System(tenant), id, ats).await
}

async fn map_ats(app: &Arc<App>, actor: Actor<'_>, id: &UserId, ats: &AtsUserId) -> Result<UserItem, Error> {
    let key = keys::ats_user(actor.tenant(), ats);
    change(app, actor, id, |mut u| {
        let (app, key, ats) = (app.clone(), key.clone(), ats.clone());
        Box::pin(async move {
            if let Some(claim) = items::get::<AtsClaim>(app.store.as_ref(), &key).await? {
                return if claim.user_id == u.user_id {
                    Ok(Change { user: u, writes: Vec::new() })
                } else {
                    Err(ats_taken(&ats))
                };
            }
            if u.ats_ids.len() >= MAX_ATS_IDS {
                return Err(Error::invalid("ats_user_id", format!("a user maps at most {MAX_ATS_IDS} ATS users")));
            }
            u.ats_ids.push(ats.clone());
            let claim = AtsClaim { user_id: u.user_id.clone() }.to_item(key)?;
            Ok(Change { user: u, writes: vec![Write::Put { item: claim, condition: Some(Condition::NotExists) }] })
        })
    })
    .await
}

/// The texting user an ATS user is mapped to, if any.
pub async fn by_ats_id(app: &Arc<App>, tenant: &TenantId, ats: &AtsUserId) -> Result<Option<UserItem>, Error> {
    let Some(claim) = items::get::<AtsClaim>(app.store.as_ref(), &keys::ats_user(tenant, ats)).await? else {
        return Ok(None);
    };
    items::get::<UserItem>(app.store.as_ref(), &keys::user(tenant, &claim.user_id)).await
}

/// Removes the mapping of an ATS user to the texting user.
#[tracing::instrument(skip_all, fields(tenant = %caller.tenant))]
pub async fn remove_ats_id(app: &Arc<App>, caller: &Identity, id: &UserId, ats: &str) -> Result<UserView, Error> {
    let ats = AtsUserId::parse(ats)?;
    let key = keys::ats_user(&caller.tenant, &ats);
    let user = change_now(app, caller.into(), id, |mut u| {
        if !u.ats_ids.contains(&ats) {
            return Err(Error::NotFound(format!("ATS user {ats} is not mapped to this user")));
        }
        u.ats_ids.retain(|a| *a != ats);
        let condition = Condition::Equals("user_id".into(), u.user_id.as_str().into());
        Ok(Change { user: u, writes: vec![Write::Delete { key: key.clone(), condition: Some(condition) }] })
    })
    .await?;
    Ok(user.into())
}

// ---------------------------------------------------------------- licences

/// Assigns a licence, preferring a number with the desired area code (which is
/// also kept as the user's desired area code). 409 when no seat is free.
#[tracing::instrument(skip_all, fields(tenant = %caller.tenant))]
pub async fn assign_licence(
    app: &Arc<App>,
    caller: &Identity,
    id: &UserId,
    area_code: Option<&str>,
) -> Result<UserView, Error> {
    let area = area_code.filter(|a| !a.trim().is_empty()).map(AreaCode::parse).transpose()?;
    let tenant = caller.tenant.clone();
    let user = change(app, caller.into(), id, |mut u| {
        let (app, tenant, area) = (app.clone(), tenant.clone(), area.clone());
        Box::pin(async move {
            if let Some(number) = &u.licence {
                return Err(Error::conflict(format!("the user already holds the licence {}", masked(number))));
            }
            if area.is_some() {
                u.area_code = area;
            }
            let Some(number) = free_number(&app, &tenant, u.area_code.as_ref()).await? else {
                return Err(Error::conflict("no licence seat is free"));
            };
            u.licence = Some(number.number.clone());
            Ok(Change { writes: take_number(&tenant, &number, &u.user_id)?, user: u })
        })
    })
    .await?;
    Ok(user.into())
}

/// Removes the user's licence; its seat is free again.
#[tracing::instrument(skip_all, fields(tenant = %caller.tenant))]
pub async fn remove_licence(app: &Arc<App>, caller: &Identity, id: &UserId) -> Result<UserView, Error> {
    let tenant = caller.tenant.clone();
    let user = change_now(app, caller.into(), id, |mut u| {
        let Some(number) = u.licence.take() else {
            return Err(Error::NotFound("the user holds no licence".into()));
        };
        Ok(Change { writes: release_number(&tenant, &number, &u.user_id)?, user: u })
    })
    .await?;
    Ok(user.into())
}

/// A free licence number, with the area code when one is free, else any; picked at
/// random among the first few so that racing assigns rarely pick the same one.
async fn free_number(app: &Arc<App>, tenant: &TenantId, area: Option<&AreaCode>) -> Result<Option<NumberItem>, Error> {
    let seats = items::get::<SeatsItem>(app.store.as_ref(), &keys::seats(tenant)).await?;
    if seats.is_none_or(|s| s.free < 1) {
        return Ok(None);
    }
    let mut queries = Vec::new();
    if let Some(a) = area {
        queries.push(keys::free_numbers(tenant, Some(a.as_str())));
    }
    queries.push(keys::free_numbers(tenant, None));
    for query in queries {
        let page = app.store.query(&query.limit(25)).await?;
        if !page.items.is_empty() {
            let pick = rand::random_range(0..page.items.len());
            return Ok(Some(NumberItem::from_item(&page.items[pick])?));
        }
    }
    Ok(None)
}

fn area_of(number: &E164) -> String {
    number.area_code().map_or_else(|| "-".to_owned(), String::from)
}

/// The writes that take a free number for `user`: it leaves the free list, is
/// filed as used, and the free seat count drops (never below zero).
fn take_number(tenant: &TenantId, number: &NumberItem, user: &UserId) -> Result<Vec<Write>, Error> {
    let used = NumberItem { number: number.number.clone(), area: number.area.clone(), user_id: Some(user.clone()) };
    Ok(vec![
        Write::Delete {
            key: keys::free_number(tenant, &number.area, &number.number),
            condition: Some(Condition::Exists),
        },
        Write::Put {
            item: used.to_item(keys::used_number(tenant, &number.number))?,
            condition: Some(Condition::NotExists),
        },
        Write::Update {
            key: keys::seats(tenant),
            update: Update::default().add("free", -1),
            condition: Some(Condition::AtLeast("free".into(), 1)),
        },
    ])
}

/// The writes that give `user`'s number back: filed as free, seat count up.
fn release_number(tenant: &TenantId, number: &E164, user: &UserId) -> Result<Vec<Write>, Error> {
    let area = area_of(number);
    let free = NumberItem { number: number.clone(), area: area.clone(), user_id: None };
    Ok(vec![
        Write::Delete {
            key: keys::used_number(tenant, number),
            condition: Some(Condition::Equals("user_id".into(), user.as_str().into())),
        },
        Write::Put {
            item: free.to_item(keys::free_number(tenant, &area, number))?,
            condition: Some(Condition::NotExists),
        },
        Write::Update {
            key: keys::seats(tenant),
            update: Update::default().add("free", 1),
            condition: Some(Condition::Exists),
        },
    ])
}

/// The tenant's seats and licence numbers (reporters, managers, admins).
#[tracing::instrument(skip_all, fields(tenant = %caller.tenant))]
pub async fn seats(app: &Arc<App>, caller: &Identity) -> Result<SeatsView, Error> {
    may_read_all(caller)?;
    let seats = items::get::<SeatsItem>(app.store.as_ref(), &keys::seats(&caller.tenant))
        .await?
        .unwrap_or(SeatsItem { total: 0, free: 0 });
    let numbers = app.store.query_all(&keys::licence_numbers(&caller.tenant).limit(1000)).await?;
    let numbers = numbers
        .iter()
        .filter(|i| i.key.sk.starts_with(keys::FREE_NUMBER_PREFIX) || i.key.sk.starts_with("USED#"))
        .map(NumberItem::from_item)
        .collect::<Result<Vec<_>, _>>()?;
    Ok(SeatsView { total: seats.total, free: seats.free, numbers })
}

/// Numbers to add to the tenant's licences (staff: seats are bought).
#[derive(Debug, Clone, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(examples(json!({"numbers": ["+12065550123"]})))]
pub struct NumbersInput {
    /// Phone numbers in E.164 form, 1–50 per call.
    pub numbers: Vec<String>,
}

/// Adds licence numbers (seats) to the tenant: each one free, the counter up by
/// as many. A number the tenant holds already is a 409 and nothing is added.
#[tracing::instrument(skip_all, fields(tenant = %caller.tenant))]
pub async fn add_numbers(app: &Arc<App>, caller: &Identity, input: NumbersInput) -> Result<SeatsView, Error> {
    if caller.role != Role::Staff {
        return Err(Error::Forbidden("licence seats are added by staff".into()));
    }
    if input.numbers.is_empty() || input.numbers.len() > 50 {
        return Err(Error::invalid("numbers", "give 1-50 numbers"));
    }
    let tenant = &caller.tenant;
    let mut numbers = Vec::new();
    for (i, raw) in input.numbers.iter().enumerate() {
        let number: E164 = raw
            .parse()
            .map_err(|_| Error::invalid(format!("numbers[{i}]"), format!("{raw:?} is not an E.164 number")))?;
        if numbers.contains(&number) {
            return Err(Error::invalid(format!("numbers[{i}]"), "the number is listed twice"));
        }
        numbers.push(number);
    }
    let n = i64::try_from(numbers.len()).map_err(Error::unexpected)?;
    let mut writes = vec![Write::Update {
        key: keys::seats(tenant),
        update: Update::default().add("total", n).add("free", n),
        condition: None,
    }];
    for number in &numbers {
        let area = area_of(number);
        let item = NumberItem { number: number.clone(), area: area.clone(), user_id: None };
        writes.push(Write::Put {
            item: item.to_item(keys::free_number(tenant, &area, number))?,
            condition: Some(Condition::NotExists),
        });
        writes.push(Write::Check { key: keys::used_number(tenant, number), condition: Condition::NotExists });
    }
    if !commit(app, &writes).await? {
        return Err(Error::Conflict {
            field: Some("numbers".into()),
            message: "the tenant holds one of these numbers already".into(),
        });
    }
    seats(app, caller).await
}

// ---------------------------------------------------------------- deleting

/// The outcome of deleting a user.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct Deleted {
    /// The user, now deleted.
    pub user: UserView,
    /// What happened to the user's provider credentials, per provider.
    pub credentials: Vec<String>,
}

/// Deletes a user for good (revokes access): the licence seat is freed, ATS ids
/// unmapped, the team left, the username kept as a tombstone, and the user's provider
/// credentials removed. Deleting a deleted user again only retries the credential
/// clean-up.
#[tracing::instrument(skip_all, fields(tenant = %caller.tenant))]
pub async fn delete(app: &Arc<App>, caller: &Identity, id: &UserId) -> Result<Deleted, Error> {
    if *id == caller.user_id {
        return Err(Error::conflict("you cannot delete yourself"));
    }
    let tenant = caller.tenant.clone();
    let current = load(app, &tenant, id).await?;
    may_manage(caller, &current)?;
    let user = if current.status == UserStatus::Deleted {
        current
    } else {
        change_now(app, caller.into(), id, |mut u| {
            let mut writes = Vec::new();
            if let Some(number) = u.licence.take() {
                writes.extend(release_number(&tenant, &number, &u.user_id)?);
            }
            for ats in u.ats_ids.drain(..) {
                writes.push(Write::Delete { key: keys::ats_user(&tenant, &ats), condition: None });
            }
            let tomb =
                NameClaim { user_id: u.user_id.clone(), deleted: true }.to_item(keys::user_name(&tenant, &u.email))?;
            writes.push(Write::Put { item: tomb, condition: None });
            u.status = UserStatus::Deleted;
            u.team_id = None;
            u.inboxes.clear();
            Ok(Change { user: u, writes })
        })
        .await?
    };
    tracing::info!(user = %id, "texting user deleted");
    let credentials = crate::credentials::remove_all_of_user(app, &tenant, id).await?;
    Ok(Deleted { user: user.into(), credentials })
}

// ---------------------------------------------------------------- outbox

/// A page of the tenant's outgoing e-mail events (admins).
#[tracing::instrument(skip_all, fields(tenant = %caller.tenant))]
pub async fn outbox(app: &Arc<App>, caller: &Identity, cursor: Option<String>) -> Result<OutboxPage, Error> {
    caller.require_admin()?;
    let mut query: Query = keys::outbox(&caller.tenant).limit(100);
    query.cursor = cursor;
    let page = app.store.query_listing(&query).await?;
    let events = page.items.iter().map(OutboxEvent::from_item).collect::<Result<Vec<_>, _>>()?;
    Ok(OutboxPage { events, next: page.next })
}

/// A page of outgoing events.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct OutboxPage {
    /// The events, oldest first.
    pub events: Vec<OutboxEvent>,
    /// The cursor of the next page.
    pub next: Option<String>,
}

/// A phone number with all but its last four digits hidden (for messages and logs).
fn masked(number: &E164) -> String {
    let s = number.as_str();
    let keep = s.len().saturating_sub(4);
    format!("{}{}", "•".repeat(keep.min(8)), &s[keep..])
}
