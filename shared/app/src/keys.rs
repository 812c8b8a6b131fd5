//! Store keys, in one place. Every tenant partition is `T#{tenant}`; partitions
//! starting `T#_` are reserved for the system (no tenant id can start with `_`).

use textbridge_domain::{CredentialLevel, E164, ProviderKind, ProviderUsername, RecordKind, TenantId, Timestamp};

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

/// A provider message's own item: its content, status and where it was archived.
pub fn message(tenant: &TenantId, provider: ProviderKind, provider_message_id: &str) -> Key {
    Key::new(tenant_pk(tenant), format!("MSG#{provider}#{provider_message_id}"))
}

/// A record of the directory (candidate, employee, contact).
pub fn record(tenant: &TenantId, kind: RecordKind, id: &str) -> Key {
    Key::new(tenant_pk(tenant), format!("REC#{kind}#{id}", kind = kind.as_str()))
}

/// Prefix of the phone-number entries of the directory for one number.
pub fn phone_prefix(number: &E164) -> String {
    format!("PH#{number}#")
}

/// One phone number of one record (looked up by [`phone_prefix`]).
pub fn record_phone(tenant: &TenantId, number: &E164, kind: RecordKind, id: &str) -> Key {
    Key::new(tenant_pk(tenant), format!("{}{}#{id}", phone_prefix(number), kind.as_str()))
}

/// Prefix of the unmatched messages (of one number, when given).
pub fn unmatched_prefix(number: Option<&E164>) -> String {
    number.map_or_else(|| "UNMATCHED#".to_owned(), |n| format!("UNMATCHED#{n}#"))
}

/// A message that matched no record yet.
pub fn unmatched(tenant: &TenantId, number: &E164, provider: ProviderKind, provider_message_id: &str) -> Key {
    Key::new(tenant_pk(tenant), format!("{}{provider}#{provider_message_id}", unmatched_prefix(Some(number))))
}

/// Prefix of one record's conversation entries (sort key order = time order).
pub fn conversation_prefix(kind: RecordKind, id: &str) -> String {
    format!("CONV#{}#{id}#", kind.as_str())
}

/// One archived message on one record's conversation; `occurred_at` in its canonical
/// form, which sorts as text in time order.
pub fn conversation_entry(
    tenant: &TenantId,
    kind: RecordKind,
    id: &str,
    occurred_at: &Timestamp,
    provider: ProviderKind,
    provider_message_id: &str,
) -> Key {
    Key::new(
        tenant_pk(tenant),
        format!("{}{occurred_at}#{provider}#{provider_message_id}", conversation_prefix(kind, id)),
    )
}

/// The archive state of one message on one record (`writing` with a lease, `done`).
pub fn archive_state(tenant: &TenantId, kind: RecordKind, id: &str, provider: ProviderKind, message_id: &str) -> Key {
    Key::new(tenant_pk(tenant), format!("ARCH#{}#{id}#{provider}#{message_id}", kind.as_str()))
}

/// Whether a number has opted out of texts from this tenant.
pub fn opt_out(tenant: &TenantId, number: &E164) -> Key {
    Key::new(tenant_pk(tenant), format!("OPTOUT#{number}"))
}

/// A tenant's webhook source allow-lists.
pub fn webhook_sources(tenant: &TenantId) -> Key {
    Key::new(tenant_pk(tenant), "SETTINGS#webhook-sources")
}
