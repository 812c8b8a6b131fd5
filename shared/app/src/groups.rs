//! Permission groups: every user belongs to exactly one; a group grants (or not)
//! **Can Text**, which user-level provider credentials need.

use std::sync::Arc;

use serde::{Deserialize, Serialize};
use textbridge_domain::{Error, Identity, PermissionGroup, TenantId};

use crate::{
    App,
    items::{self, GroupItem, Stored},
    keys,
};

/// A permission group's settings.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct GroupView {
    /// The group's name.
    pub name: String,
    /// Whether members may text (and save their own provider credentials).
    pub can_text: bool,
}

/// What an admin sends to set a group.
#[derive(Debug, Clone, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(examples(json!({"can_text": true})))]
pub struct GroupSettings {
    /// Whether members may text.
    pub can_text: bool,
}

/// Creates or changes a group (admins only).
#[tracing::instrument(skip_all, fields(tenant = %caller.tenant))]
pub async fn set(app: &Arc<App>, caller: &Identity, name: &str, settings: GroupSettings) -> Result<GroupView, Error> {
    caller.require_admin()?;
    let name = PermissionGroup::parse(name)?;
    let item = GroupItem { name: name.to_string(), can_text: settings.can_text }
        .to_item(keys::permission_group(&caller.tenant, name.as_str()))?;
    app.store.put(&item, None).await?;
    Ok(GroupView { name: name.to_string(), can_text: settings.can_text })
}

/// Every group of the caller's tenant (managers and admins).
#[tracing::instrument(skip_all, fields(tenant = %caller.tenant))]
pub async fn list(app: &Arc<App>, caller: &Identity) -> Result<Vec<GroupView>, Error> {
    caller.require_user_manager()?;
    let items = app.store.query_all(&keys::permission_groups(&caller.tenant)).await?;
    items.iter().map(|i| GroupItem::from_item(i).map(|g| GroupView { name: g.name, can_text: g.can_text })).collect()
}

/// Whether `group` of `tenant` grants Can Text (an unknown group grants nothing).
pub async fn can_text(app: &Arc<App>, tenant: &TenantId, group: &PermissionGroup) -> Result<bool, Error> {
    let key = keys::permission_group(tenant, group.as_str());
    Ok(items::get::<GroupItem>(app.store.as_ref(), &key).await?.is_some_and(|g| g.can_text))
}
