//! Store keys, in one place. Every tenant partition is `T#{tenant}`; partitions
//! starting `T#_` are reserved for the system (no tenant id can start with `_`).

use textbridge_domain::{CredentialLevel, ProviderKind, ProviderUsername, TenantId};

use crate::ports::Key;

/// The partition of a tenant.
pub fn tenant_pk(tenant: &TenantId) -> String {
    format!("T#{tenant}")
}

/// Prefix of every credential item in a tenant partition.
pub const CREDENTIAL_PREFIX: &str = "CRED#";

/// A tenant's credentials of one provider at one level.
pub fn credential(tenant: &TenantId, provider: ProviderKind, level: &CredentialLevel) -> Key {
    Key::new(tenant_pk(tenant), format!("{CREDENTIAL_PREFIX}{provider}#{}#{}", level.kind(), level.scope()))
}

/// The claim that makes a provider username unique within a tenant.
pub fn username_claim(tenant: &TenantId, provider: ProviderKind, username: &ProviderUsername) -> Key {
    Key::new(tenant_pk(tenant), format!("PUNAME#{provider}#{username}"))
}

/// Prefix of every permission group item in a tenant partition.
pub const GROUP_PREFIX: &str = "GROUP#";

/// A permission group's settings (names compare without case).
pub fn permission_group(tenant: &TenantId, name: &str) -> Key {
    Key::new(tenant_pk(tenant), format!("{GROUP_PREFIX}{}", name.to_lowercase()))
}

/// A webhook registration, found by the unguessable token in its URL (the caller
/// of a webhook is a provider, not a tenant user, so this is a system partition).
pub fn webhook_registration(token: &str) -> Key {
    Key::new("T#_hooks", format!("HOOK#{token}"))
}
