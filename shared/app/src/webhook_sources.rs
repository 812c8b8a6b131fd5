//! Optional per-tenant allow-lists of the addresses a provider's webhooks may come
//! from (Zipwhip signs nothing; its documented control is a source-IP allow-list).
//! An empty or absent list allows every address.

use std::{collections::BTreeMap, net::IpAddr, sync::Arc};

use ipnet::IpNet;
use textbridge_domain::{Error, Identity, ProviderKind, TenantId};

use crate::{
    App,
    items::{self, SourcesItem, Stored},
    keys,
};

/// Allow-lists by provider name (`{"zipwhip": ["69.46.44.0/24", "208.69.95.64/26"]}`).
pub type SourceLists = BTreeMap<String, Vec<String>>;

/// Sets the caller's tenant's allow-lists (admins); every entry must be an address
/// or a network in CIDR form.
#[tracing::instrument(skip_all, fields(tenant = %caller.tenant))]
pub async fn set(app: &Arc<App>, caller: &Identity, lists: SourceLists) -> Result<SourceLists, Error> {
    caller.require_admin()?;
    for (provider, entries) in &lists {
        provider.parse::<ProviderKind>()?;
        for (i, entry) in entries.iter().enumerate() {
            parse(entry).ok_or_else(|| {
                Error::invalid(format!("{provider}[{i}]"), format!("{entry:?} is not an IP address or CIDR network"))
            })?;
        }
    }
    let item = SourcesItem { lists: lists.clone() }.to_item(keys::webhook_sources(&caller.tenant))?;
    app.store.put(&item, None).await?;
    Ok(lists)
}

/// The caller's tenant's allow-lists (admins).
#[tracing::instrument(skip_all, fields(tenant = %caller.tenant))]
pub async fn get(app: &Arc<App>, caller: &Identity) -> Result<SourceLists, Error> {
    caller.require_admin()?;
    load(app, &caller.tenant).await
}

/// The tenant's lists; an item that cannot be read is an error, never "no list".
async fn load(app: &Arc<App>, tenant: &TenantId) -> Result<SourceLists, Error> {
    let stored = items::get::<SourcesItem>(app.store.as_ref(), &keys::webhook_sources(tenant)).await?;
    Ok(stored.unwrap_or_default().lists)
}

fn parse(entry: &str) -> Option<IpNet> {
    entry.parse::<IpNet>().ok().or_else(|| entry.parse::<IpAddr>().ok().map(IpNet::from))
}

/// Whether a webhook of `provider` for `tenant` may come from `source` (unknown
/// source: allowed only when there is no list). Fails closed: lists that cannot be
/// read refuse every address, and say so in the log.
pub async fn allows(
    app: &Arc<App>,
    tenant: &TenantId,
    provider: ProviderKind,
    source: Option<IpAddr>,
) -> Result<bool, Error> {
    let lists = match app.caches.sources.get_or_load(&keys::webhook_sources(tenant).pk, "", || load(app, tenant)).await
    {
        Ok(lists) => lists,
        Err(e @ Error::Unexpected(_)) => {
            tracing::error!(tenant = %tenant, error = %e, "webhook source allow-lists unreadable; refusing the webhook");
            return Ok(false);
        }
        Err(e) => return Err(e),
    };
    let Some(entries) = lists.get(provider.as_str()).filter(|l| !l.is_empty()) else { return Ok(true) };
    let Some(source) = source else { return Ok(false) };
    let source = match source {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(source, IpAddr::V4),
        v4 => v4,
    };
    Ok(entries.iter().filter_map(|e| parse(e)).any(|net| net.contains(&source)))
}
