//! Provider credentials (SPEC S1): save, list, test, replace the secret, remove — at
//! system, branch and user level. Secrets live only in the secret store; the item
//! store keeps metadata. No response, log line or error carries a secret.
//!
//! **Deadlines.** Provider calls run within the request's budget
//! ([`crate::deadline`]): a provider that does not answer in time becomes the outcome
//! "… did not answer within N s" instead of the function being killed mid-save.
//!
//! **Interrupted saves.** A save first claims the credentials in state `connecting`
//! until its deadline (or [`SAVE_LEASE`] without one). If it never finishes (the
//! process was killed), a later save of the same credentials takes them over once
//! that claim has ended, with a conditional write, keeping the webhook token so a
//! registration already made at the provider is found again.

use std::{
    collections::BTreeMap,
    sync::Arc,
    time::{Duration, Instant},
};

use serde::Serialize;
use serde_json::json;
use textbridge_domain::{
    BranchId, CredentialLevel, Error, Identity, ProviderKind, ProviderUsername, TenantId, UserId, UserStatus,
};
use time::{OffsetDateTime, format_description::well_known::Rfc3339};

use crate::{
    App,
    deadline::{self, within_budget},
    groups,
    items::{self, CredentialItem, Registration, Stored, UsernameClaim},
    keys,
    ports::{
        Condition, Credentials, Item, PortError, Provider, SecretFields, SecretName, SubmittedFields, Update, Write,
    },
    users,
};

/// How long a save without a deadline (the local server) holds its `connecting`
/// claim before another save may take the credentials over.
pub const SAVE_LEASE: Duration = Duration::from_secs(300);

/// Milliseconds since the Unix epoch of `at`.
fn unix_ms(at: OffsetDateTime) -> i64 {
    i64::try_from(at.unix_timestamp_nanos() / 1_000_000).unwrap_or(i64::MAX)
}

/// When a save starting now gives up its `connecting` claim (Unix ms).
fn claim_until(app: &App) -> i64 {
    let left = deadline::current().map_or(SAVE_LEASE, |d| d.saturating_duration_since(Instant::now()));
    unix_ms(app.clock.now() + left)
}

/// Whether `item` is a save that was interrupted: still `connecting` after its
/// claim ended.
fn interrupted(app: &App, item: &CredentialItem) -> bool {
    if item.status != "connecting" {
        return false;
    }
    match item.connecting_until {
        Some(until) => until < unix_ms(app.clock.now()),
        None => OffsetDateTime::parse(&item.status_at, &Rfc3339).is_ok_and(|at| at + SAVE_LEASE < app.clock.now()),
    }
}

/// Which credentials: a provider at a level.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target {
    /// The provider.
    pub provider: ProviderKind,
    /// The level (and its branch or user id).
    pub level: CredentialLevel,
}

/// Credentials as the API shows them: metadata only, never a secret.
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct CredentialView {
    /// `textus`, `zipwhip`, `twilio`.
    pub provider: String,
    /// `system`, `branch`, `user`.
    pub level: String,
    /// Branch or user id; `null` at system level.
    pub scope: Option<String>,
    /// The username at the provider.
    pub username: String,
    /// The fields that may be shown (account slug, account SID, …).
    pub fields: BTreeMap<String, String>,
    /// `connected`, `failed`, or `connecting` while a save is under way.
    pub status: String,
    /// The outcome in plain words ("connected", "TextUs rejected the username or API key").
    pub status_message: String,
    /// When the status was set (RFC 3339).
    pub status_at: String,
    /// The last test, if any.
    pub last_test: Option<TestView>,
    /// Webhook registration at the provider.
    pub webhooks: WebhookView,
}

/// The outcome of the last test.
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct TestView {
    /// When (RFC 3339).
    pub at: String,
    /// Whether the provider accepted the credentials.
    pub ok: bool,
    /// The outcome in plain words.
    pub message: String,
}

/// Webhook registration state.
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct WebhookView {
    /// `registered`, `none` (nothing to register at this level) or `pending`.
    pub state: String,
    /// How many webhooks are registered at the provider.
    pub count: usize,
}

/// What removing did.
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct Removal {
    /// Always true: the credentials, their secret and their username claim are gone.
    pub removed: bool,
    /// What happened at the provider, in plain words (a failure there does not
    /// block removal).
    pub provider_cleanup: String,
}

fn now(app: &App) -> String {
    app.clock.now().format(&Rfc3339).unwrap_or_default()
}

fn secret_name(tenant: &TenantId, target: &Target) -> Result<SecretName, Error> {
    SecretName::credential(tenant, target.provider, target.level.kind(), target.level.scope())
}

/// Who may touch which credentials: system and branch — admins; user — a texting
/// user that exists, managed by themselves (with Can Text) or an admin. An admin
/// saving or replacing them needs **that user's** permission group to grant Can Text.
async fn authorize(app: &Arc<App>, caller: &Identity, level: &CredentialLevel, saving: bool) -> Result<(), Error> {
    let CredentialLevel::User(user) = level else { return caller.require_admin() };
    // One rule for user level: admins manage every user's credentials, their own
    // included; anyone else only their own, and only with Can Text.
    let admin = caller.require_admin().is_ok();
    if !admin && *user != caller.user_id {
        return Err(Error::Forbidden("only the user themselves or an admin may manage these credentials".into()));
    }
    let owner = users::existing(app, &caller.tenant, user).await?;
    if admin && !saving {
        return Ok(());
    }
    if saving && owner.status != UserStatus::Active {
        return Err(Error::conflict(format!("texting user {user} is {}", owner.status)));
    }
    if groups::can_text(app, &caller.tenant, &owner.permission_group).await? {
        Ok(())
    } else {
        Err(Error::Forbidden(format!(
            "the permission group {:?} of user {user} does not grant Can Text",
            owner.permission_group.as_str()
        )))
    }
}

/// The target's provider, once the caller is allowed to manage its credentials.
async fn authorized_provider(
    app: &Arc<App>,
    caller: &Identity,
    target: &Target,
    saving: bool,
) -> Result<Arc<dyn Provider>, Error> {
    let provider = app.providers.get(target.provider)?.clone();
    authorize(app, caller, &target.level, saving).await?;
    Ok(provider)
}

/// Saved credentials with their secret, or 404.
async fn existing(app: &Arc<App>, tenant: &TenantId, target: &Target) -> Result<(CredentialItem, Credentials), Error> {
    load(app, tenant, target).await?.ok_or_else(|| missing(target))
}

/// The 404 of a target without credentials.
fn missing(target: &Target) -> Error {
    Error::NotFound(format!("no {} {} credentials here", target.provider.display_name(), target.level.kind()))
}

/// The stored metadata item, or 404.
async fn metadata(app: &Arc<App>, tenant: &TenantId, target: &Target) -> Result<Item, Error> {
    let key = keys::credential(tenant, target.provider, &target.level);
    app.store.get(&key).await?.ok_or_else(|| missing(target))
}

/// Saved credentials with their secret, ready for a provider call.
async fn load(
    app: &Arc<App>,
    tenant: &TenantId,
    target: &Target,
) -> Result<Option<(CredentialItem, Credentials)>, Error> {
    let key = keys::credential(tenant, target.provider, &target.level);
    let Some(item) = items::get::<CredentialItem>(app.store.as_ref(), &key).await? else { return Ok(None) };
    let secret = match app.secrets()?.get(&secret_name(tenant, target)?).await {
        Ok(stored) => SecretFields::from_secret_string(&stored)?,
        Err(PortError::NotFound(_)) => SecretFields::new(),
        Err(e) => return Err(e.into()),
    };
    let credentials = Credentials {
        level: target.level.clone(),
        username: item.username.clone(),
        public: item.fields.clone(),
        secret,
        webhook_ids: item.webhook_ids.clone(),
    };
    Ok(Some((item, credentials)))
}

async fn system_credentials(app: &Arc<App>, tenant: &TenantId, target: &Target) -> Result<Option<Credentials>, Error> {
    if target.level == CredentialLevel::System {
        return Ok(None);
    }
    let system = Target { provider: target.provider, level: CredentialLevel::System };
    Ok(load(app, tenant, &system).await?.map(|(_, c)| c))
}

/// What a send goes out with.
#[derive(Debug, Clone)]
pub struct SendingCredentials {
    /// The credentials the text is sent with.
    pub credentials: Credentials,
    /// The tenant's system-level credentials, when `credentials` are a user's or a branch's.
    pub system: Option<Credentials>,
    /// The intake URL of `credentials` (where delivery statuses are reported).
    pub intake_url: String,
}

/// The credentials `user` sends with through `provider`: their own user-level
/// credentials, else those of their `branch`, else the tenant's system-level ones (the provider's rules decide
/// which levels exist: Twilio has no user level), with the system-level ones a
/// user level relies on (the TextUs account slug). 422 when there are none.
pub async fn for_sending(
    app: &Arc<App>,
    tenant: &TenantId,
    provider: ProviderKind,
    user: &textbridge_domain::UserId,
    branch: Option<&BranchId>,
) -> Result<SendingCredentials, Error> {
    let own = Target { provider, level: CredentialLevel::User(user.clone()) };
    let system_target = Target { provider, level: CredentialLevel::System };
    let system = load(app, tenant, &system_target).await?;
    let mut chosen = load(app, tenant, &own).await?;
    if chosen.is_none()
        && let Some(branch) = branch
    {
        chosen = load(app, tenant, &Target { provider, level: CredentialLevel::Branch(branch.clone()) }).await?;
    }
    let (item, credentials, system) = match (chosen, system) {
        (Some((item, chosen)), system) => (item, chosen, system.map(|(_, c)| c)),
        (None, Some((item, system))) => (item, system, None),
        (None, None) => {
            let whose = if branch.is_some() { "you, your branch nor" } else { "you nor" };
            return Err(Error::invalid(
                "provider",
                format!("neither {whose} the tenant has saved {} credentials", provider.display_name()),
            ));
        }
    };
    let intake_url = intake_url(app, provider, &item.hook_token);
    Ok(SendingCredentials { credentials, system, intake_url })
}

fn view(item: &Item) -> Result<CredentialView, Error> {
    let item = CredentialItem::from_item(item)?;
    let last_test = item.last_test_at.map(|at| TestView {
        at,
        ok: item.last_test_ok.unwrap_or(false),
        message: item.last_test_message.unwrap_or_default(),
    });
    let state = match (item.webhook_ids.is_empty(), item.status.as_str()) {
        (false, _) => "registered",
        (true, "connecting") => "pending",
        (true, _) => "none",
    };
    Ok(CredentialView {
        provider: item.provider.to_string(),
        level: item.level,
        scope: Some(item.scope).filter(|s| s != "-"),
        username: item.username.to_string(),
        fields: item.fields,
        status: item.status,
        status_message: item.status_message,
        status_at: item.status_at,
        last_test,
        webhooks: WebhookView { state: state.into(), count: item.webhook_ids.len() },
    })
}

/// The URL a provider posts this registration's webhooks to.
fn intake_url(app: &App, provider: ProviderKind, token: &str) -> String {
    format!("{}/webhooks/{provider}/{token}", app.config.public_base_url.trim_end_matches('/'))
}

/// Connects with the provider and records the outcome (and any secrets the
/// provider handed back) on the credentials.
async fn connect_and_record(
    app: &Arc<App>,
    tenant: &TenantId,
    target: &Target,
    provider: &dyn Provider,
    mut credentials: Credentials,
    token: &str,
) -> Result<CredentialView, Error> {
    let system = system_credentials(app, tenant, target).await?;
    let intake_url = intake_url(app, target.provider, token);
    let outcome = within_budget(provider.connect(&credentials, system.as_ref(), &intake_url)).await;
    let mut update = Update::default().set("status_at", now(app));
    match outcome {
        Ok(connection) => {
            if connection.secret.iter().next().is_some() {
                credentials.secret.extend(connection.secret);
                app.secrets()?.replace(&secret_name(tenant, target)?, &credentials.secret.to_secret_string()).await?;
            }
            update = update
                .set("status", "connected")
                .set("status_message", "connected")
                .set("webhook_ids", json!(connection.webhook_ids));
        }
        Err(e) => {
            // One scrubbed text for the log and the stored status alike.
            let outcome = credentials.secret.scrub(&e.describe(target.provider));
            tracing::info!(provider = %target.provider, %outcome, "provider refused or failed to connect");
            update = update.set("status", "failed").set("status_message", outcome);
        }
    }
    let key = keys::credential(tenant, target.provider, &target.level);
    let item = app.store.update(&key, &update, Some(&Condition::Exists)).await?;
    view(&item)
}

/// Saves new credentials: checks the fields, claims the provider username, stores
/// the secret, connects, and returns the outcome. Every rule is checked before
/// anything is written.
#[tracing::instrument(skip_all, fields(tenant = %caller.tenant))]
pub async fn save(
    app: &Arc<App>,
    caller: &Identity,
    target: &Target,
    fields: &SubmittedFields,
) -> Result<CredentialView, Error> {
    let provider = authorized_provider(app, caller, target, true).await?;
    let checked = provider.check(&target.level, fields)?;
    let tenant = &caller.tenant;
    let name = secret_name(tenant, target)?;
    if provider.needs_system_first(&target.level) && system_credentials(app, tenant, target).await?.is_none() {
        let p = target.provider.display_name();
        return Err(Error::Conflict {
            field: Some("level".into()),
            message: format!(
                "{p} {} credentials need the tenant's system-level {p} credentials first",
                target.level.kind()
            ),
        });
    }

    let cred_key = keys::credential(tenant, target.provider, &target.level);
    let claim_key = keys::username_claim(tenant, target.provider, &checked.username);
    let attempt = webhook_token();
    let until = claim_until(app);
    let credential_item = |token: &str| {
        CredentialItem {
            provider: target.provider,
            level: target.level.kind().to_owned(),
            scope: target.level.scope().to_owned(),
            username: checked.username.clone(),
            fields: checked.public.clone(),
            status: "connecting".into(),
            status_message: "connecting".into(),
            status_at: now(app),
            webhook_ids: Vec::new(),
            hook_token: token.to_owned(),
            attempt: Some(attempt.clone()),
            connecting_until: Some(until),
            created_by: Some(caller.user_id.to_string()),
            last_test_at: None,
            last_test_ok: None,
            last_test_message: None,
        }
        .to_item(cred_key.clone())
    };
    let claim = UsernameClaim { credential: cred_key.sk.clone() }.to_item(claim_key.clone())?;
    let hook = |token: &str| {
        Registration {
            tenant: tenant.clone(),
            provider: target.provider,
            level: target.level.kind().to_owned(),
            scope: target.level.scope().to_owned(),
            username: Some(checked.username.clone()),
        }
        .to_item(keys::webhook_registration(token))
    };
    let fresh = webhook_token();
    let writes = [
        Write::Put { item: credential_item(&fresh)?, condition: Some(Condition::NotExists) },
        Write::Put { item: claim.clone(), condition: Some(Condition::NotExists) },
        Write::Put { item: hook(&fresh)?, condition: Some(Condition::NotExists) },
    ];
    let token = match app.store.transact(&writes).await {
        Ok(()) => fresh,
        Err(PortError::ConditionFailed) => match items::get::<CredentialItem>(app.store.as_ref(), &cred_key).await? {
            Some(stuck) if interrupted(app, &stuck) => {
                // The same token: a webhook the interrupted save registered is reused.
                let token = stuck.hook_token.clone();
                let lock = match &stuck.attempt {
                    Some(attempt) => Condition::Equals("attempt".into(), json!(attempt)),
                    None => Condition::Equals("status_at".into(), json!(stuck.status_at)),
                };
                let mut writes = vec![
                    Write::Put { item: credential_item(&token)?, condition: Some(lock) },
                    Write::Put { item: hook(&token)?, condition: None },
                ];
                if stuck.username != checked.username {
                    let key = keys::username_claim(tenant, target.provider, &stuck.username);
                    writes.push(Write::Delete { key, condition: None });
                    writes.push(Write::Put { item: claim, condition: Some(Condition::NotExists) });
                }
                match app.store.transact(&writes).await {
                    Ok(()) => {
                        tracing::info!(provider = %target.provider, level = target.level.kind(), "took over credentials whose save was interrupted");
                        token
                    }
                    Err(PortError::ConditionFailed) => {
                        return Err(clash(app, &cred_key, &claim_key, target, &checked.username).await);
                    }
                    Err(e) => return Err(e.into()),
                }
            }
            _ => return Err(clash(app, &cred_key, &claim_key, target, &checked.username).await),
        },
        Err(e) => return Err(e.into()),
    };

    let stored = match app.secrets()?.create(&name, &checked.secret.to_secret_string()).await {
        Err(PortError::ConditionFailed) => app.secrets()?.replace(&name, &checked.secret.to_secret_string()).await,
        other => other,
    };
    if let Err(e) = stored {
        forget(app, &cred_key, &claim_key, &token).await;
        return Err(e.into());
    }

    let credentials = Credentials {
        level: target.level.clone(),
        username: checked.username,
        public: checked.public,
        secret: checked.secret,
        webhook_ids: Vec::new(),
    };
    connect_and_record(app, tenant, target, provider.as_ref(), credentials, &token).await
}

/// Why a save's claim failed: the level is taken, or the username is.
async fn clash(
    app: &Arc<App>,
    cred_key: &crate::ports::Key,
    claim_key: &crate::ports::Key,
    target: &Target,
    username: &ProviderUsername,
) -> Error {
    let p = target.provider.display_name();
    match items::get::<CredentialItem>(app.store.as_ref(), cred_key).await {
        Ok(Some(item)) if item.status == "connecting" => Error::Conflict {
            field: Some("level".into()),
            message: format!(
                "a save of these {p} {} credentials is under way; try again when it has finished",
                target.level.kind()
            ),
        },
        Ok(Some(_)) => Error::Conflict {
            field: Some("level".into()),
            message: format!("{p} {} credentials already exist here; replace or remove them", target.level.kind()),
        },
        _ => match app.store.get(claim_key).await {
            Ok(Some(_)) => Error::Conflict {
                field: Some("username".into()),
                message: format!(
                    "the {p} username {:?} is already used by other credentials of this tenant",
                    username.as_str()
                ),
            },
            _ => Error::conflict("these credentials changed at the same time; try again"),
        },
    }
}

/// Best-effort removal of a save's items when it cannot complete.
async fn forget(app: &Arc<App>, cred_key: &crate::ports::Key, claim_key: &crate::ports::Key, token: &str) {
    let writes = [
        Write::Delete { key: cred_key.clone(), condition: None },
        Write::Delete { key: claim_key.clone(), condition: None },
        Write::Delete { key: keys::webhook_registration(token), condition: None },
    ];
    if let Err(e) = app.store.transact(&writes).await {
        tracing::error!(error = %e, "could not undo an interrupted credential save");
    }
}

fn webhook_token() -> String {
    let mut bytes = [0u8; 24];
    rand::fill(&mut bytes);
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// One tenant's credentials at a target (metadata only).
#[tracing::instrument(skip_all, fields(tenant = %caller.tenant))]
pub async fn get(app: &Arc<App>, caller: &Identity, target: &Target) -> Result<CredentialView, Error> {
    authorize(app, caller, &target.level, false).await?;
    view(&metadata(app, &caller.tenant, target).await?)
}

/// Every credential the caller may see: all for admins, else their own.
#[tracing::instrument(skip_all, fields(tenant = %caller.tenant))]
pub async fn list(app: &Arc<App>, caller: &Identity) -> Result<Vec<CredentialView>, Error> {
    let items = app.store.query_all(&keys::credentials(&caller.tenant)).await?;
    let mut views = Vec::new();
    for item in &items {
        let view = view(item)?;
        let mine = view.level == "user" && view.scope.as_deref() == Some(caller.user_id.as_str());
        if caller.role.is_admin() || mine {
            views.push(view);
        }
    }
    Ok(views)
}

/// Replaces the secret part (API key, password, auth token) and reconnects.
#[tracing::instrument(skip_all, fields(tenant = %caller.tenant))]
pub async fn replace_secret(
    app: &Arc<App>,
    caller: &Identity,
    target: &Target,
    fields: &SubmittedFields,
) -> Result<CredentialView, Error> {
    let provider = authorized_provider(app, caller, target, true).await?;
    let replacement = provider.check_secret(&target.level, fields)?;
    let tenant = &caller.tenant;
    let (item, mut credentials) = existing(app, tenant, target).await?;
    credentials.secret.extend(replacement);
    let name = secret_name(tenant, target)?;
    match app.secrets()?.replace(&name, &credentials.secret.to_secret_string()).await {
        Err(PortError::NotFound(_)) => app.secrets()?.create(&name, &credentials.secret.to_secret_string()).await?,
        other => other?,
    }
    let token = item.hook_token.clone();
    connect_and_record(app, tenant, target, provider.as_ref(), credentials, &token).await
}

/// Re-checks saved credentials with the provider and records when and with what result.
#[tracing::instrument(skip_all, fields(tenant = %caller.tenant))]
pub async fn test(app: &Arc<App>, caller: &Identity, target: &Target) -> Result<CredentialView, Error> {
    let provider = authorized_provider(app, caller, target, false).await?;
    let tenant = &caller.tenant;
    let (_, credentials) = existing(app, tenant, target).await?;
    let system = system_credentials(app, tenant, target).await?;
    let (ok, message) = match within_budget(provider.test(&credentials, system.as_ref())).await {
        Ok(()) => (true, "connected".to_owned()),
        Err(e) => (false, credentials.secret.scrub(&e.describe(target.provider))),
    };
    let update =
        Update::default().set("last_test_at", now(app)).set("last_test_ok", ok).set("last_test_message", message);
    let key = keys::credential(tenant, target.provider, &target.level);
    view(&app.store.update(&key, &update, Some(&Condition::Exists)).await?)
}

/// Removes credentials: unregisters at the provider where it can (a failure there is
/// reported, not blocking), deletes the secret, releases the username.
#[tracing::instrument(skip_all, fields(tenant = %caller.tenant))]
pub async fn remove(app: &Arc<App>, caller: &Identity, target: &Target) -> Result<Removal, Error> {
    let provider = authorized_provider(app, caller, target, false).await?;
    remove_target(app, &caller.tenant, target, provider).await
}

async fn remove_target(
    app: &Arc<App>,
    tenant: &TenantId,
    target: &Target,
    provider: Arc<dyn Provider>,
) -> Result<Removal, Error> {
    let (item, credentials) = existing(app, tenant, target).await?;
    let system = system_credentials(app, tenant, target).await?;
    let provider_cleanup = match within_budget(provider.disconnect(&credentials, system.as_ref())).await {
        Ok(()) if credentials.webhook_ids.is_empty() => "nothing to unregister".to_owned(),
        Ok(()) => "webhooks unregistered".to_owned(),
        Err(e) => {
            format!("could not clean up at the provider: {}", credentials.secret.scrub(&e.describe(target.provider)))
        }
    };
    match app.secrets()?.delete(&secret_name(tenant, target)?).await {
        Ok(()) | Err(PortError::NotFound(_)) => {}
        Err(e) => return Err(e.into()),
    }
    let mut writes = vec![
        Write::Delete { key: keys::credential(tenant, target.provider, &target.level), condition: None },
        Write::Delete { key: keys::username_claim(tenant, target.provider, &credentials.username), condition: None },
    ];
    writes.push(Write::Delete { key: keys::webhook_registration(&item.hook_token), condition: None });
    app.store.transact(&writes).await?;
    Ok(Removal { removed: true, provider_cleanup })
}

/// Removes every provider credential of a texting user (when the user is deleted);
/// one line per provider saying what happened.
pub async fn remove_all_of_user(app: &Arc<App>, tenant: &TenantId, user: &UserId) -> Result<Vec<String>, Error> {
    let mut outcomes = Vec::new();
    for item in app.store.query_all(&keys::credentials(tenant)).await? {
        let cred = CredentialItem::from_item(&item)?;
        if cred.level != "user" || cred.scope != user.as_str() {
            continue;
        }
        let target = Target { provider: cred.provider, level: CredentialLevel::User(user.clone()) };
        let name = cred.provider.display_name();
        let provider = app.providers.get(cred.provider)?.clone();
        match remove_target(app, tenant, &target, provider).await {
            Ok(r) => outcomes.push(format!("{name}: removed ({})", r.provider_cleanup)),
            Err(Error::NotFound(_)) => outcomes.push(format!("{name}: already removed")),
            Err(e) => return Err(e),
        }
    }
    Ok(outcomes)
}
