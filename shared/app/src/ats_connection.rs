//! A tenant's connection to its ATS directory (S5): save, test, read, remove. Like
//! provider credentials, the API token is write-only (it lives in the secret store
//! only) and the outcome of connecting is kept in plain words. A connection that
//! answers enables the ATS integration: the sync runs and, for a directory that lists
//! users, users then come from it, with manual add and import off until the
//! connection is removed.

use std::sync::Arc;

use secrecy::{ExposeSecret, SecretString};
use serde::{Deserialize, Serialize};
use textbridge_domain::{Error, Identity, RecordKind, Role, TenantId, Timestamp};

use crate::{
    App,
    items::{self, AtsConnectionItem, AtsIntegrationItem, Stored},
    keys,
    ports::{AtsConnector, AtsEndpoint, AtsError, Condition, Item, PortError, SecretName, Write},
};

/// What an admin sends to connect the ATS.
#[derive(Debug, Clone, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ConnectionInput {
    /// `rest` (Textbridge's directory contract, the default) or `tempworks`.
    #[serde(default)]
    pub connector: Option<AtsConnector>,
    /// The base URL of the ATS's directory (https).
    pub base_url: String,
    /// The API token (write-only).
    pub token: String,
    /// Which record kinds to sync (default: all three).
    #[serde(default)]
    pub record_kinds: Option<Vec<RecordKind>>,
    /// The role of texting users created for full-access ATS users (default `user`).
    #[serde(default)]
    #[schema(value_type = Option<Role>)]
    pub full_access_role: Option<String>,
}

/// The connection as the API shows it (never the token).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct ConnectionView {
    /// Which kind of directory it is.
    pub connector: AtsConnector,
    /// The ATS's base URL.
    pub base_url: String,
    /// The record kinds synced.
    pub record_kinds: Vec<RecordKind>,
    /// The role given to full-access ATS users.
    pub full_access_role: Role,
    /// `connected` or `failed`.
    pub status: String,
    /// The outcome in plain words.
    pub status_message: String,
    /// When it was checked.
    pub status_at: Timestamp,
    /// Whether the integration is on (the sync runs).
    pub enabled: bool,
    /// Whether texting users come from the sync (manual add and import are then
    /// off); never for a directory that lists no users.
    pub users_from_ats: bool,
}

/// The name of the secret holding a tenant's ATS directory token.
pub fn token_name(tenant: &TenantId) -> Result<SecretName, Error> {
    SecretName::from_parts(&[tenant.as_str(), "ats", "directory"])
}

/// The key listing a tenant whose ATS integration is on (read by the scheduled run).
pub fn listing(tenant: &TenantId) -> crate::ports::Key {
    crate::ports::Key::new(crate::sync::INTEGRATIONS_PK, format!("ATS#{tenant}"))
}

fn parse_base_url(raw: &str) -> Result<url::Url, Error> {
    let bad = |why: &str| Error::invalid("base_url", why);
    let url = url::Url::parse(raw.trim()).map_err(|_| bad("is not a URL"))?;
    let loopback = matches!(url.host_str(), Some("127.0.0.1" | "localhost" | "[::1]"));
    match url.scheme() {
        "https" => {}
        "http" if loopback => {}
        _ => return Err(bad("must be an https URL")),
    }
    if !url.username().is_empty() || url.password().is_some() {
        return Err(bad("must not carry a user name or password; send the token in `token`"));
    }
    Ok(url)
}

fn view(item: &AtsConnectionItem, enabled: bool) -> ConnectionView {
    ConnectionView {
        connector: item.connector,
        base_url: item.base_url.clone(),
        record_kinds: item.record_kinds.clone(),
        full_access_role: item.full_access_role,
        status: item.status.clone(),
        status_message: item.status_message.clone(),
        status_at: item.status_at,
        enabled,
        users_from_ats: enabled && item.connector.lists_users(),
    }
}

/// The tenant's connection, with its token, if one is saved.
pub async fn load(app: &Arc<App>, tenant: &TenantId) -> Result<Option<(AtsConnectionItem, AtsEndpoint)>, Error> {
    let Some(item) = items::get::<AtsConnectionItem>(app.store.as_ref(), &keys::ats_connection(tenant)).await? else {
        return Ok(None);
    };
    let token = match app.secrets()?.get(&token_name(tenant)?).await {
        Ok(t) => t,
        Err(PortError::NotFound(_)) => return Ok(None),
        Err(e) => return Err(e.into()),
    };
    let endpoint = AtsEndpoint { connector: item.connector, base_url: parse_base_url(&item.base_url)?, token };
    Ok(Some((item, endpoint)))
}

/// Checks the endpoint; the outcome in plain words.
async fn check(app: &Arc<App>, endpoint: &AtsEndpoint) -> Result<(bool, String), Error> {
    let directory = app.directory()?.clone();
    let answer = crate::deadline::within_budget_or(directory.check(endpoint), "ATS", |_| {
        AtsError::Unavailable("the ATS did not answer in time".into())
    })
    .await;
    Ok(match answer {
        Ok(()) => (true, "connected".to_owned()),
        Err(e) => (false, e.to_string()),
    })
}

/// Saves (or replaces) the connection: checks the fields, stores the token, checks
/// the ATS answers, and enables the integration when it does.
#[tracing::instrument(skip_all, fields(tenant = %caller.tenant))]
pub async fn save(app: &Arc<App>, caller: &Identity, input: ConnectionInput) -> Result<ConnectionView, Error> {
    caller.require_admin()?;
    let base_url = parse_base_url(&input.base_url)?;
    let token = input.token.trim().to_owned();
    if token.is_empty() || token.len() > 4096 || token.chars().any(char::is_control) {
        return Err(Error::invalid("token", "must be 1-4096 characters without control characters"));
    }
    let connector = input.connector.unwrap_or_default();
    let listed = connector.record_kinds();
    let record_kinds = input.record_kinds.unwrap_or_else(|| listed.to_vec());
    if record_kinds.is_empty() {
        return Err(Error::invalid("record_kinds", "name at least one of candidate, employee, contact"));
    }
    if let Some(kind) = record_kinds.iter().find(|k| !listed.contains(k)) {
        return Err(Error::invalid(
            "record_kinds",
            format!("this directory lists no {} records (TempWorks keeps candidates as employees)", kind.as_str()),
        ));
    }
    let role = match input.full_access_role.as_deref() {
        None => Role::User,
        Some(r) => r.parse::<Role>()?,
    };
    if !role.is_convertible() {
        return Err(Error::invalid("full_access_role", "must be user, reporter or manager"));
    }
    let tenant = &caller.tenant;
    let name = token_name(tenant)?;
    let secret = SecretString::from(token);
    match app.secrets()?.replace(&name, &secret).await {
        Err(PortError::NotFound(_)) => app.secrets()?.create(&name, &secret).await?,
        other => other?,
    }
    let endpoint = AtsEndpoint { connector, base_url: base_url.clone(), token: secret };
    let (ok, message) = check(app, &endpoint).await?;
    let item = AtsConnectionItem {
        connector,
        base_url: base_url.to_string(),
        record_kinds,
        full_access_role: role,
        status: if ok { "connected" } else { "failed" }.to_owned(),
        status_message: scrub(&message, endpoint.token.expose_secret()),
        status_at: Timestamp::new(app.clock.now())?,
    };
    store(app, tenant, &item, ok).await?;
    tracing::info!(connected = ok, "ATS connection saved");
    Ok(view(&item, ok))
}

/// Writes the connection, the switch that takes users from the sync (for a
/// directory that lists users) and the scheduled run's listing.
async fn store(app: &Arc<App>, tenant: &TenantId, item: &AtsConnectionItem, enabled: bool) -> Result<(), Error> {
    let users_from_ats = enabled && item.connector.lists_users();
    let switch = AtsIntegrationItem { enabled: users_from_ats }.to_item(keys::ats_integration(tenant))?;
    let mut writes = vec![
        Write::Put { item: item.to_item(keys::ats_connection(tenant))?, condition: None },
        Write::Put { item: switch, condition: None },
    ];
    if enabled {
        let listed = Item::new(listing(tenant)).with("tenant", tenant.as_str());
        writes.push(Write::Put { item: listed, condition: None });
    } else {
        writes.push(Write::Delete { key: listing(tenant), condition: None });
    }
    app.store.transact(&writes).await?;
    Ok(())
}

fn scrub(message: &str, token: &str) -> String {
    if token.is_empty() { message.to_owned() } else { message.replace(token, "[token]") }
}

/// The saved connection (admins); 404 if none.
pub async fn get(app: &Arc<App>, caller: &Identity) -> Result<ConnectionView, Error> {
    caller.require_admin()?;
    let tenant = &caller.tenant;
    let item = items::get::<AtsConnectionItem>(app.store.as_ref(), &keys::ats_connection(tenant))
        .await?
        .ok_or_else(|| Error::NotFound("no ATS connection is saved".into()))?;
    let enabled = app.store.get(&listing(tenant)).await?.is_some();
    Ok(view(&item, enabled))
}

/// Checks the saved connection again and records the outcome (enabling the
/// integration when it answers).
#[tracing::instrument(skip_all, fields(tenant = %caller.tenant))]
pub async fn test(app: &Arc<App>, caller: &Identity) -> Result<ConnectionView, Error> {
    caller.require_admin()?;
    let tenant = &caller.tenant;
    let (mut item, endpoint) =
        load(app, tenant).await?.ok_or_else(|| Error::NotFound("no ATS connection is saved".into()))?;
    let (ok, message) = check(app, &endpoint).await?;
    item.status = if ok { "connected" } else { "failed" }.to_owned();
    item.status_message = scrub(&message, endpoint.token.expose_secret());
    item.status_at = Timestamp::new(app.clock.now())?;
    let enabled = ok || app.store.get(&listing(tenant)).await?.is_some();
    store(app, tenant, &item, enabled).await?;
    Ok(view(&item, enabled))
}

/// Removes the connection: the token, the settings and the switch (manual add and
/// import are on again). The sync's cursors are kept, so reconnecting continues.
#[tracing::instrument(skip_all, fields(tenant = %caller.tenant))]
pub async fn remove(app: &Arc<App>, caller: &Identity) -> Result<ConnectionView, Error> {
    caller.require_admin()?;
    let tenant = &caller.tenant;
    let existing = get(app, caller).await?;
    match app.secrets()?.delete(&token_name(tenant)?).await {
        Ok(()) | Err(PortError::NotFound(_)) => {}
        Err(e) => return Err(e.into()),
    }
    let writes = [
        Write::Delete { key: keys::ats_connection(tenant), condition: Some(Condition::Exists) },
        Write::Delete { key: keys::ats_integration(tenant), condition: None },
        Write::Delete { key: listing(tenant), condition: None },
    ];
    app.store.transact(&writes).await?;
    Ok(ConnectionView { enabled: false, users_from_ats: false, ..existing })
}
