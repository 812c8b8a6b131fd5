//! Message action types and security groups (SPEC S2): who may read and write which
//! archived messages.
//!
//! Every archived message has an action type: the built-in **AR**, **Message**,
//! **Sales** and **Secure**, and any a tenant adds. A security group grants read
//! and/or write per type; every user is in exactly one group (a stored membership,
//! else the default group). The default group, until an admin changes it, reads and
//! writes every type that is not secure (`Secure`, and added types marked secure).
//!
//! Types and groups are never deleted, so a reference to one stays good; creating
//! is a conditional write (a second create of the same name is a 409), and a
//! membership is written in one transaction with a check that its group exists.

use std::{collections::BTreeSet, sync::Arc};

use serde::{Deserialize, Serialize};
use textbridge_domain::{Error, Identity, TenantId, UserId};

use crate::{
    App,
    items::{self, ActionTypeItem, SecurityGroupItem, SecurityMemberItem, Stored},
    keys,
    ports::{Condition, PortError, Write},
};

/// The action type every archived and sent text is stored with.
pub const MESSAGE: &str = "Message";

/// The built-in action types and whether each is secure.
pub const BUILT_IN_TYPES: [(&str, bool); 4] = [("AR", false), (MESSAGE, false), ("Sales", false), ("Secure", true)];

/// The group of every user without a stored membership.
pub const DEFAULT_GROUP: &str = "Default";

/// Longest action type or group name.
const MAX_NAME: usize = 64;

/// A message action type as the API shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct ActionTypeView {
    /// The name.
    pub name: String,
    /// Whether the default group is kept from it.
    pub secure: bool,
    /// True for AR, Message, Sales and Secure.
    pub built_in: bool,
}

/// What an admin sends to add an action type.
#[derive(Debug, Clone, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(examples(json!({"name": "Sales", "secure": false})))]
pub struct NewActionType {
    /// The name (letters, digits, spaces, `-`, `_`; 1–64).
    pub name: String,
    /// Whether the default group is kept from it (default: no).
    #[serde(default)]
    pub secure: bool,
}

/// A security group as the API shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct SecurityGroupView {
    /// The name.
    pub name: String,
    /// Action types members read.
    pub read: Vec<String>,
    /// Action types members write.
    pub write: Vec<String>,
    /// True for the default group.
    pub default: bool,
}

/// The grants of a group, as an admin sets them.
#[derive(Debug, Clone, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(examples(json!({"read": ["Message"], "write": ["Message"]})))]
pub struct Grants {
    /// Action types members may read.
    pub read: Vec<String>,
    /// Action types members may write.
    pub write: Vec<String>,
}

/// What an admin sends to create a group.
#[derive(Debug, Clone, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(examples(json!({"name": "Recruiters", "read": ["Message"], "write": ["Message"]})))]
pub struct NewSecurityGroup {
    /// The name (letters, digits, spaces, `-`, `_`; 1–64).
    pub name: String,
    /// Action types members may read.
    pub read: Vec<String>,
    /// Action types members may write.
    pub write: Vec<String>,
}

/// A user's security group, as set or shown.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(examples(json!({"group": "Default"})))]
pub struct Membership {
    /// The group's name.
    pub group: String,
}

/// What a user may read and write: resolved once per request or text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Access {
    /// The group's name.
    pub group: String,
    read: BTreeSet<String>,
    write: BTreeSet<String>,
}

impl Access {
    /// Whether messages of `action_type` may be read.
    pub fn can_read(&self, action_type: &str) -> bool {
        self.read.contains(&action_type.to_lowercase())
    }

    /// Whether messages of `action_type` may be written.
    pub fn can_write(&self, action_type: &str) -> bool {
        self.write.contains(&action_type.to_lowercase())
    }

    /// 403 unless messages of `action_type` may be written.
    pub fn require_write(&self, action_type: &str) -> Result<(), Error> {
        if self.can_write(action_type) {
            Ok(())
        } else {
            Err(Error::Forbidden(format!(
                "the security group {:?} may not write messages of action type {action_type:?}",
                self.group
            )))
        }
    }
}

fn check_name(field: &str, name: &str) -> Result<String, Error> {
    let name = name.trim();
    let ok = (1..=MAX_NAME).contains(&name.chars().count())
        && name.chars().all(|c| c.is_alphanumeric() || c == ' ' || c == '-' || c == '_');
    if ok {
        Ok(name.to_owned())
    } else {
        Err(Error::invalid(field, format!("must be 1-{MAX_NAME} letters, digits, spaces, '-' or '_'")))
    }
}

/// Every action type of `tenant`: the built-in ones, then those it added by name.
pub async fn types_of(app: &App, tenant: &TenantId) -> Result<Vec<ActionTypeView>, Error> {
    let mut types: Vec<ActionTypeView> = BUILT_IN_TYPES
        .iter()
        .map(|(name, secure)| ActionTypeView { name: (*name).to_owned(), secure: *secure, built_in: true })
        .collect();
    for item in app.store.query_all(&keys::action_types(tenant)).await? {
        let added = ActionTypeItem::from_item(&item)?;
        types.push(ActionTypeView { name: added.name, secure: added.secure, built_in: false });
    }
    Ok(types)
}

/// The message action types of the caller's tenant (admins).
#[tracing::instrument(skip_all, fields(tenant = %caller.tenant))]
pub async fn list_types(app: &Arc<App>, caller: &Identity) -> Result<Vec<ActionTypeView>, Error> {
    caller.require_admin()?;
    types_of(app, &caller.tenant).await
}

/// Adds a message action type (admins); a name already taken (any case) is a 409.
#[tracing::instrument(skip_all, fields(tenant = %caller.tenant))]
pub async fn add_type(app: &Arc<App>, caller: &Identity, new: NewActionType) -> Result<ActionTypeView, Error> {
    caller.require_admin()?;
    let name = check_name("name", &new.name)?;
    let taken = || Error::Conflict { field: Some("name".into()), message: format!("an action type {name:?} exists") };
    if BUILT_IN_TYPES.iter().any(|(b, _)| b.eq_ignore_ascii_case(&name)) {
        return Err(taken());
    }
    let item =
        ActionTypeItem { name: name.clone(), secure: new.secure }.to_item(keys::action_type(&caller.tenant, &name))?;
    match app.store.put(&item, Some(&Condition::NotExists)).await {
        Ok(()) => Ok(ActionTypeView { name, secure: new.secure, built_in: false }),
        Err(PortError::ConditionFailed) => Err(taken()),
        Err(e) => Err(e.into()),
    }
}

/// The grants as stored: each name checked against the tenant's types and written
/// as the type's own name. A name that is no type is a 422 naming its place.
fn resolve(types: &[ActionTypeView], field: &str, names: &[String]) -> Result<Vec<String>, Error> {
    let mut out = BTreeSet::new();
    for (i, name) in names.iter().enumerate() {
        let found = types.iter().find(|t| t.name.eq_ignore_ascii_case(name.trim()));
        match found {
            Some(t) => out.insert(t.name.clone()),
            None => return Err(Error::invalid(format!("{field}[{i}]"), format!("there is no action type {name:?}"))),
        };
    }
    Ok(out.into_iter().collect())
}

fn non_secure(types: &[ActionTypeView]) -> Vec<String> {
    types.iter().filter(|t| !t.secure).map(|t| t.name.clone()).collect()
}

fn is_default(name: &str) -> bool {
    name.trim().eq_ignore_ascii_case(DEFAULT_GROUP)
}

fn view(item: SecurityGroupItem) -> SecurityGroupView {
    let default = is_default(&item.name);
    SecurityGroupView { name: item.name, read: item.read, write: item.write, default }
}

/// The default group as it stands: stored once an admin changed it, else every
/// type that is not secure.
async fn default_group(app: &App, tenant: &TenantId, types: &[ActionTypeView]) -> Result<SecurityGroupView, Error> {
    let key = keys::security_group(tenant, DEFAULT_GROUP);
    Ok(match items::get::<SecurityGroupItem>(app.store.as_ref(), &key).await? {
        Some(stored) => view(stored),
        None => {
            let all = non_secure(types);
            SecurityGroupView { name: DEFAULT_GROUP.into(), read: all.clone(), write: all, default: true }
        }
    })
}

/// Every security group of the caller's tenant, the default group first (admins).
#[tracing::instrument(skip_all, fields(tenant = %caller.tenant))]
pub async fn list_groups(app: &Arc<App>, caller: &Identity) -> Result<Vec<SecurityGroupView>, Error> {
    caller.require_admin()?;
    let types = types_of(app, &caller.tenant).await?;
    let mut groups = vec![default_group(app, &caller.tenant, &types).await?];
    for item in app.store.query_all(&keys::security_groups(&caller.tenant)).await? {
        let group = SecurityGroupItem::from_item(&item)?;
        if !is_default(&group.name) {
            groups.push(view(group));
        }
    }
    Ok(groups)
}

/// Creates a security group (admins); a name already taken is a 409, a grant of a
/// type that does not exist a 422.
#[tracing::instrument(skip_all, fields(tenant = %caller.tenant))]
pub async fn create_group(
    app: &Arc<App>,
    caller: &Identity,
    new: NewSecurityGroup,
) -> Result<SecurityGroupView, Error> {
    caller.require_admin()?;
    let name = check_name("name", &new.name)?;
    let taken = || Error::Conflict { field: Some("name".into()), message: format!("a security group {name:?} exists") };
    if is_default(&name) {
        return Err(taken());
    }
    let types = types_of(app, &caller.tenant).await?;
    let group = SecurityGroupItem {
        name: name.clone(),
        read: resolve(&types, "read", &new.read)?,
        write: resolve(&types, "write", &new.write)?,
    };
    let item = group.to_item(keys::security_group(&caller.tenant, &name))?;
    match app.store.put(&item, Some(&Condition::NotExists)).await {
        Ok(()) => Ok(view(group)),
        Err(PortError::ConditionFailed) => Err(taken()),
        Err(e) => Err(e.into()),
    }
}

/// Replaces a group's grants (admins); the default group may be changed too. An
/// unknown group is a 404, a grant of a type that does not exist a 422.
#[tracing::instrument(skip_all, fields(tenant = %caller.tenant))]
pub async fn update_group(
    app: &Arc<App>,
    caller: &Identity,
    name: &str,
    grants: Grants,
) -> Result<SecurityGroupView, Error> {
    caller.require_admin()?;
    let tenant = &caller.tenant;
    let types = types_of(app, tenant).await?;
    let read = resolve(&types, "read", &grants.read)?;
    let write = resolve(&types, "write", &grants.write)?;
    let key = keys::security_group(tenant, name.trim());
    let (stored_name, condition) = if is_default(name) {
        (DEFAULT_GROUP.to_owned(), None)
    } else {
        let existing = items::get::<SecurityGroupItem>(app.store.as_ref(), &key)
            .await?
            .ok_or_else(|| Error::NotFound(format!("no security group {:?} here", name.trim())))?;
        (existing.name, Some(Condition::Exists))
    };
    let group = SecurityGroupItem { name: stored_name, read, write };
    app.store.put(&group.to_item(key)?, condition.as_ref()).await?;
    Ok(view(group))
}

/// Puts a user in a group (admins): the membership is written only while the group
/// exists (one transaction), else 422.
#[tracing::instrument(skip_all, fields(tenant = %caller.tenant))]
pub async fn set_member(
    app: &Arc<App>,
    caller: &Identity,
    user: &str,
    membership: Membership,
) -> Result<Membership, Error> {
    caller.require_admin()?;
    let tenant = &caller.tenant;
    let user = UserId::parse(user)?;
    let missing = || Error::invalid("group", format!("there is no security group {:?}", membership.group.trim()));
    let member_key = keys::security_member(tenant, &user);
    if is_default(&membership.group) {
        // The default group always exists: no membership is the same as membership.
        app.store.delete(&member_key, None).await?;
        return Ok(Membership { group: DEFAULT_GROUP.into() });
    }
    let group_key = keys::security_group(tenant, membership.group.trim());
    let group = items::get::<SecurityGroupItem>(app.store.as_ref(), &group_key).await?.ok_or_else(missing)?;
    let item = SecurityMemberItem { group: group.name.clone() }.to_item(member_key)?;
    let writes = [Write::Check { key: group_key, condition: Condition::Exists }, Write::Put { item, condition: None }];
    match app.store.transact(&writes).await {
        Ok(()) => Ok(Membership { group: group.name }),
        Err(PortError::ConditionFailed) => Err(missing()),
        Err(e) => Err(e.into()),
    }
}

/// The group a user is in (admins).
#[tracing::instrument(skip_all, fields(tenant = %caller.tenant))]
pub async fn member(app: &Arc<App>, caller: &Identity, user: &str) -> Result<Membership, Error> {
    caller.require_admin()?;
    let user = UserId::parse(user)?;
    Ok(Membership { group: group_of(app, &caller.tenant, &user).await? })
}

async fn group_of(app: &App, tenant: &TenantId, user: &UserId) -> Result<String, Error> {
    let key = keys::security_member(tenant, user);
    Ok(items::get::<SecurityMemberItem>(app.store.as_ref(), &key).await?.map_or(DEFAULT_GROUP.into(), |m| m.group))
}

/// What `user` of `tenant` may read and write; no user (an unattributed text) is
/// the default group.
pub async fn access_of(app: &App, tenant: &TenantId, user: Option<&UserId>) -> Result<Access, Error> {
    let group = match user {
        Some(user) => group_of(app, tenant, user).await?,
        None => DEFAULT_GROUP.to_owned(),
    };
    let key = keys::security_group(tenant, &group);
    let (read, write) = match items::get::<SecurityGroupItem>(app.store.as_ref(), &key).await? {
        Some(stored) => (stored.read, stored.write),
        None if is_default(&group) => {
            let all = non_secure(&types_of(app, tenant).await?);
            (all.clone(), all)
        }
        None => (Vec::new(), Vec::new()), // never written without its group; grants nothing
    };
    let lower = |names: Vec<String>| names.into_iter().map(|n| n.to_lowercase()).collect();
    Ok(Access { group, read: lower(read), write: lower(write) })
}

/// [`access_of`], cached (the archiver's path: every text would otherwise read the
/// tenant partition again). Everything it reads — the membership, the group, the
/// action types — is in the tenant's partition, so a write there forgets it.
pub async fn access_cached(app: &App, tenant: &TenantId, user: Option<&UserId>) -> Result<Access, Error> {
    let user_key = user.map_or("", UserId::as_str);
    app.caches.access.get_or_load(&keys::tenant_pk(tenant), user_key, || access_of(app, tenant, user)).await
}

/// What the caller may read and write.
pub async fn access(app: &App, caller: &Identity) -> Result<Access, Error> {
    access_of(app, &caller.tenant, Some(&caller.user_id)).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names() {
        assert_eq!(check_name("name", " Recruiting AR ").unwrap(), "Recruiting AR");
        assert!(check_name("name", "a#b").is_err() && check_name("name", "").is_err());
        let types: Vec<ActionTypeView> = BUILT_IN_TYPES
            .iter()
            .map(|(n, s)| ActionTypeView { name: (*n).into(), secure: *s, built_in: true })
            .collect();
        assert_eq!(resolve(&types, "read", &["message".into(), "AR".into()]).unwrap(), ["AR", "Message"]);
        let err = resolve(&types, "write", &["AR".into(), "Gossip".into()]).unwrap_err();
        assert!(matches!(&err, Error::Invalid { field, .. } if field == "write[1]"), "{err:?}");
        assert_eq!(non_secure(&types), ["AR", "Message", "Sales"]);
    }
}
