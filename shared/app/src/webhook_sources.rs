//! Optional per-tenant allow-lists of the addresses a provider's webhooks may come
//! from (Zipwhip signs nothing; its documented control is a source-IP allow-list).
//! An empty or absent list allows every address.

use std::{collections::BTreeMap, net::IpAddr, sync::Arc};

use ipnet::IpNet;
use serde_json::{Value, json};
use textbridge_domain::{Error, Identity, ProviderKind, TenantId};

use crate::{App, keys, ports::Item};

/// Allow-lists by provider name (`{"zipwhip": ["69.46.44.0/24", "208.69.95.64/26"]}`).
pub type SourceLists = BTreeMap<String, Vec<String>>;

/// Sets the caller's tenant's allow-lists (admins); every entry must be an address
/// or a network in CIDR form.
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
    let item = Item::new(keys::webhook_sources(&caller.tenant)).with("lists", json!(lists));
    app.store.put(&item, None).await?;
    Ok(lists)
}

/// The caller's tenant's allow-lists (admins).
pub async fn get(app: &Arc<App>, caller: &Identity) -> Result<SourceLists, Error> {
    caller.require_admin()?;
    load(app, &caller.tenant).await
}

async fn load(app: &Arc<App>, tenant: &TenantId) -> Result<SourceLists, Error> {
    let item = app.store.get(&keys::webhook_sources(tenant)).await?;
    Ok(item
        .and_then(|i| i.attrs.get("lists").cloned())
        .and_then(|v: Value| serde_json::from_value(v).ok())
        .unwrap_or_default())
}

fn parse(entry: &str) -> Option<IpNet> {
    entry.parse::<IpNet>().ok().or_else(|| entry.parse::<IpAddr>().ok().map(IpNet::from))
}

/// Whether a webhook of `provider` for `tenant` may come from `source` (unknown
/// source: allowed only when there is no list).
pub async fn allows(
    app: &Arc<App>,
    tenant: &TenantId,
    provider: ProviderKind,
    source: Option<IpAddr>,
) -> Result<bool, Error> {
    let lists = load(app, tenant).await?;
    let Some(entries) = lists.get(provider.as_str()).filter(|l| !l.is_empty()) else { return Ok(true) };
    let Some(source) = source else { return Ok(false) };
    let source = match source {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(source, IpAddr::V4),
        v4 => v4,
    };
    Ok(entries.iter().filter_map(|e| parse(e)).any(|net| net.contains(&source)))
}
