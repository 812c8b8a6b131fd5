//! Teams (S3): create, rename, list. Team ids are small numbers drawn from a
//! per-tenant counter; names are unique per tenant without regard to case. A user
//! is on at most one team (the user item's `team_id`; see [`crate::users::set_team`]).

use std::sync::Arc;

use serde::{Deserialize, Serialize};
use textbridge_domain::{Error, Identity, TeamName, TenantId};

use crate::{
    App,
    items::{self, Stored, TeamItem, TeamNameClaim},
    keys,
    ports::{Condition, Update, Write},
    users::{backoff, busy, commit, may_read_all},
};

/// A team as the API shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct TeamView {
    /// The team's id.
    pub id: String,
    /// The team's name.
    pub name: TeamName,
}

impl From<TeamItem> for TeamView {
    fn from(t: TeamItem) -> Self {
        Self { id: t.team_id, name: t.name }
    }
}

/// A team's name, to create or rename it.
#[derive(Debug, Clone, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(examples(json!({"name": "North"})))]
pub struct TeamInput {
    /// The name.
    pub name: String,
}

fn name_taken(name: &TeamName) -> Error {
    Error::Conflict { field: Some("name".into()), message: format!("a team named {:?} exists already", name.as_str()) }
}

/// Creates a team (managers and admins); 409 if the name is taken.
#[tracing::instrument(skip_all, fields(tenant = %caller.tenant))]
pub async fn create(app: &Arc<App>, caller: &Identity, input: TeamInput) -> Result<TeamView, Error> {
    caller.require_user_manager()?;
    let name = TeamName::parse(&input.name)?;
    let tenant = &caller.tenant;
    let claim_key = keys::team_name(tenant, &name.folded());
    if app.store.get(&claim_key).await?.is_some() {
        return Err(name_taken(&name));
    }
    let seq = app.store.update(&keys::team_sequence(tenant), &Update::default().add("next", 1), None).await?;
    let id = seq.int("next").ok_or_else(|| Error::unexpected("the team counter has no number"))?.to_string();
    let team = TeamItem { team_id: id.clone(), name: name.clone() };
    let writes = [
        Write::Put { item: team.to_item(keys::team(tenant, &id))?, condition: Some(Condition::NotExists) },
        Write::Put { item: TeamNameClaim { team_id: id }.to_item(claim_key)?, condition: Some(Condition::NotExists) },
    ];
    if commit(app, &writes).await? { Ok(team.into()) } else { Err(name_taken(&name)) }
}

/// Renames a team (managers and admins); 409 if another team has the name.
#[tracing::instrument(skip_all, fields(tenant = %caller.tenant))]
pub async fn rename(app: &Arc<App>, caller: &Identity, id: &str, input: TeamInput) -> Result<TeamView, Error> {
    caller.require_user_manager()?;
    let name = TeamName::parse(&input.name)?;
    let tenant = &caller.tenant;
    for attempt in 0..20 {
        let current =
            require(app, tenant, id).await.map_err(|_| Error::NotFound(format!("there is no team {id:?}")))?;
        if current.name == name {
            return Ok(current.into());
        }
        let new_claim = keys::team_name(tenant, &name.folded());
        if let Some(claim) = items::get::<TeamNameClaim>(app.store.as_ref(), &new_claim).await?
            && claim.team_id != id
        {
            return Err(name_taken(&name));
        }
        let renamed = TeamItem { team_id: current.team_id.clone(), name: name.clone() };
        let mut writes = vec![Write::Put {
            item: renamed.to_item(keys::team(tenant, id))?,
            condition: Some(Condition::Equals("name".into(), current.name.as_str().into())),
        }];
        if current.name.folded() != name.folded() {
            writes.push(Write::Delete { key: keys::team_name(tenant, &current.name.folded()), condition: None });
            let claim = TeamNameClaim { team_id: id.to_owned() }.to_item(new_claim)?;
            writes.push(Write::Put { item: claim, condition: Some(Condition::NotExists) });
        }
        if commit(app, &writes).await? {
            return Ok(renamed.into());
        }
        backoff(attempt).await;
    }
    Err(busy())
}

/// Every team of the caller's tenant (anyone but plain users), by id.
#[tracing::instrument(skip_all, fields(tenant = %caller.tenant))]
pub async fn list(app: &Arc<App>, caller: &Identity) -> Result<Vec<TeamView>, Error> {
    may_read_all(caller)?;
    all(app, &caller.tenant).await.map(|teams| teams.into_iter().map(TeamView::from).collect())
}

/// Every team of a tenant.
pub async fn all(app: &Arc<App>, tenant: &TenantId) -> Result<Vec<TeamItem>, Error> {
    let items = app.store.query_all(&keys::teams(tenant).limit(1000)).await?;
    let mut teams = items.iter().map(TeamItem::from_item).collect::<Result<Vec<_>, _>>()?;
    teams.sort_by_key(|t| t.team_id.parse::<u64>().unwrap_or(u64::MAX));
    Ok(teams)
}

/// The team `id`; 422 naming it if there is none.
pub async fn require(app: &Arc<App>, tenant: &TenantId, id: &str) -> Result<TeamItem, Error> {
    let bad = || Error::invalid("team_id", format!("there is no team {id:?}"));
    if id.is_empty() || id.contains('#') || id.len() > 20 {
        return Err(bad());
    }
    items::get::<TeamItem>(app.store.as_ref(), &keys::team(tenant, id)).await?.ok_or_else(bad)
}
