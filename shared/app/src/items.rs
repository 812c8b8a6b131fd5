//! Typed stored items: one serde struct per item kind, read and written only
//! through [`Stored`]. Reading an item with a missing or wrong attribute is an error
//! that names the item's key, its kind and the attribute — never a default.

use serde::{Deserialize, Serialize, de::DeserializeOwned};
use serde_json::{Map, Value};
use textbridge_domain::{
    AreaCode, AtsUserId, BranchId, CredentialLevel, DeliveryStatus, E164, Email, Error, MessageEvent, PermissionGroup,
    PersonName, ProviderKind, ProviderUsername, RecordKind, Role, TeamName, TenantId, Timestamp, UserId, UserStatus,
    import::{CountryCode, Mapping, Row},
};

use crate::ports::{Item, ItemStore, Key, RecordRef};

/// A kind of stored item.
pub trait Stored: Serialize + DeserializeOwned {
    /// The kind's name, for errors and logs.
    const KIND: &'static str;

    /// The item with this value's attributes under `key`.
    fn to_item(&self, key: Key) -> Result<Item, Error> {
        match serde_json::to_value(self).map_err(Error::unexpected)? {
            Value::Object(attrs) => Ok(Item { key, index: None, attrs }),
            _ => Err(Error::unexpected(format!("{} does not serialise to attributes", Self::KIND))),
        }
    }

    /// Reads an item of this kind; a missing or wrong attribute is an error naming
    /// the key and the attribute.
    fn from_item(item: &Item) -> Result<Self, Error> {
        from_attrs(&item.attrs).map_err(|e| {
            Error::unexpected(format!("stored {} {}/{} cannot be read: {e}", Self::KIND, item.key.pk, item.key.sk))
        })
    }
}

fn from_attrs<T: DeserializeOwned>(attrs: &Map<String, Value>) -> Result<T, serde_json::Error> {
    T::deserialize(Value::Object(attrs.clone()))
}

/// Reads the item at `key` as a `T` (strongly consistent), if there is one.
pub async fn get<T: Stored>(store: &dyn ItemStore, key: &Key) -> Result<Option<T>, Error> {
    store.get(key).await?.map(|item| T::from_item(&item)).transpose()
}

/// Why a queue message last failed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct FailureItem {
    /// The error's code (`invalid`, `unavailable`, …).
    pub code: String,
    /// The reason in plain words, bounded.
    pub reason: String,
    /// When it failed.
    pub at: Timestamp,
}

impl Stored for FailureItem {
    const KIND: &'static str = "failure";
}

/// A webhook registration: whose URL token it is. Written with the credentials,
/// read by intake on every call.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Registration {
    /// The owning tenant.
    pub tenant: TenantId,
    /// The provider whose webhooks arrive here.
    pub provider: ProviderKind,
    /// `system`, `branch` or `user`.
    pub level: String,
    /// Branch or user id; `-` at system level.
    pub scope: String,
    /// The credentials' provider username (attributes texts that carry none).
    #[serde(default)]
    pub username: Option<ProviderUsername>,
}

impl Stored for Registration {
    const KIND: &'static str = "webhook registration";
}

impl Registration {
    /// The credential level of the registration.
    pub fn level(&self) -> Result<CredentialLevel, Error> {
        CredentialLevel::parse(&self.level, Some(self.scope.as_str()).filter(|s| *s != "-"))
    }
}

/// Provider credentials' metadata (the secret fields live in the secret store).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CredentialItem {
    /// The provider.
    pub provider: ProviderKind,
    /// `system`, `branch` or `user`.
    pub level: String,
    /// Branch or user id; `-` at system level.
    pub scope: String,
    /// The username at the provider.
    pub username: ProviderUsername,
    /// The fields that may be shown (account slug, account SID, …).
    #[serde(default)]
    pub fields: std::collections::BTreeMap<String, String>,
    /// `connecting`, `connected` or `failed`.
    pub status: String,
    /// The outcome in plain words.
    pub status_message: String,
    /// When the status was set (RFC 3339).
    pub status_at: String,
    /// Ids of the webhooks registered at the provider.
    #[serde(default)]
    pub webhook_ids: Vec<String>,
    /// The token of the webhook registration (its URL).
    pub hook_token: String,
    /// The save that holds the `connecting` claim.
    #[serde(default)]
    pub attempt: Option<String>,
    /// When (Unix ms) that claim ends.
    #[serde(default)]
    pub connecting_until: Option<i64>,
    /// Who saved them.
    #[serde(default)]
    pub created_by: Option<String>,
    /// When the last test ran (RFC 3339).
    #[serde(default)]
    pub last_test_at: Option<String>,
    /// Whether the provider accepted the last test.
    #[serde(default)]
    pub last_test_ok: Option<bool>,
    /// The last test's outcome in plain words.
    #[serde(default)]
    pub last_test_message: Option<String>,
}

impl Stored for CredentialItem {
    const KIND: &'static str = "credentials";
}

/// The claim that a provider username is one user's (or the system's) credentials.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct UsernameClaim {
    /// The sort key of the credentials holding the username.
    pub credential: String,
}

impl Stored for UsernameClaim {
    const KIND: &'static str = "username claim";
}

/// A provider message: its first report (content and time), latest status, and
/// where it was archived.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MessageItem {
    /// The first report of the text; later reports keep its content and time.
    pub event: MessageEvent,
    /// The latest delivery status.
    pub status: DeliveryStatus,
    /// The texting user it is attributed to, if any.
    #[serde(default)]
    pub texting_user: Option<UserId>,
    /// Whether it matched a record; absent until archived.
    #[serde(default)]
    pub matched: Option<bool>,
    /// The records it was archived on.
    #[serde(default)]
    pub records: Vec<RecordRefItem>,
}

impl Stored for MessageItem {
    const KIND: &'static str = "message";
}

/// A record reference as stored.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RecordRefItem {
    /// Candidate, employee or contact.
    pub kind: RecordKind,
    /// The ATS's id.
    pub id: String,
}

impl From<&RecordRef> for RecordRefItem {
    fn from(r: &RecordRef) -> Self {
        Self { kind: r.kind, id: r.id.clone() }
    }
}

impl From<RecordRefItem> for RecordRef {
    fn from(r: RecordRefItem) -> Self {
        Self { kind: r.kind, id: r.id }
    }
}

/// A status that arrived before its text: kept until the text does.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EarlyStatus {
    /// The status.
    pub status: DeliveryStatus,
}

impl Stored for EarlyStatus {
    const KIND: &'static str = "early status";
}

/// One archived text on one record's conversation.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct ConversationEntry {
    /// The provider.
    pub provider: ProviderKind,
    /// The provider's id of the text.
    pub provider_message_id: String,
    /// Inbound or outbound.
    pub direction: textbridge_domain::Direction,
    /// The text.
    pub body: String,
    /// When it was sent or received.
    pub occurred_at: Timestamp,
    /// True when the provider gave no readable time and this is when it was received.
    #[serde(default)]
    pub time_received: bool,
    /// The tenant's number, when known.
    #[serde(default)]
    pub our_number: Option<E164>,
    /// The other side's number.
    pub their_number: E164,
    /// The texting user, if attributed.
    pub texting_user: Option<UserId>,
    /// The provider username the text carried.
    pub provider_username: Option<ProviderUsername>,
    /// True when no texting user could be found.
    pub unattributed: bool,
    /// Delivery status.
    pub status: DeliveryStatus,
    /// The message action type (`Message` for archived texts).
    pub action_type: String,
    /// Set on an event that is not a text: `opted_out` or `opted_in`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub event: Option<String>,
}

impl Stored for ConversationEntry {
    const KIND: &'static str = "conversation entry";
}

/// A note a texting user wrote on a record's conversation, with its action type.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct NoteEntry {
    /// The note's id.
    pub note: String,
    /// Who wrote it.
    pub author: UserId,
    /// The note.
    pub body: String,
    /// Its message action type.
    pub action_type: String,
    /// When it was written.
    pub written_at: Timestamp,
}

impl Stored for NoteEntry {
    const KIND: &'static str = "note";
}

/// One entry of a record's conversation: an archived text (or opt-out event), or a
/// note. Shown with `"kind": "text"` or `"kind": "note"`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
#[serde(tag = "kind", rename_all = "lowercase")]
pub enum ConversationItem {
    /// An archived text, or an opt-out event.
    Text(ConversationEntry),
    /// A note.
    Note(NoteEntry),
}

impl ConversationItem {
    /// Reads a stored conversation item of either kind.
    pub fn from_item(item: &Item) -> Result<Self, Error> {
        if item.attrs.contains_key("note") {
            NoteEntry::from_item(item).map(Self::Note)
        } else {
            ConversationEntry::from_item(item).map(Self::Text)
        }
    }

    /// Its text (empty for an opt-out event).
    pub fn body(&self) -> &str {
        match self {
            Self::Text(t) => &t.body,
            Self::Note(n) => &n.body,
        }
    }

    /// Its message action type.
    pub fn action_type(&self) -> &str {
        match self {
            Self::Text(t) => &t.action_type,
            Self::Note(n) => &n.action_type,
        }
    }
}

/// Where a text's ATS write is: claimed with a lease, or done.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ArchivePhase {
    /// An archiver holds the lease and is writing to the ATS.
    Writing,
    /// Written (or archived locally when there is no ATS).
    Done,
    /// Archived in Textbridge; the ATS write waits until the tenant connects the ATS
    /// (listed on the secondary index under `T#{tenant}#ATS_PENDING`).
    Pending,
}

/// The archive state of one text on one record.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ArchiveState {
    /// The phase.
    pub state: ArchivePhase,
    /// Unix seconds until which the current claim holds (while writing).
    #[serde(default)]
    pub lease_until: Option<i64>,
    /// How many archivers have claimed it.
    #[serde(default)]
    pub attempt: i64,
    /// The ATS's id of the written text.
    #[serde(default)]
    pub ats_id: Option<String>,
    /// The text waiting (while pending): its provider and provider message id.
    #[serde(default)]
    pub waiting: Option<(ProviderKind, String)>,
}

impl Stored for ArchiveState {
    const KIND: &'static str = "archive state";
}

/// A record of the directory.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RecordItem {
    /// Candidate, employee or contact.
    pub kind: RecordKind,
    /// The ATS's id.
    pub id: String,
    /// Display name.
    pub name: Option<String>,
    /// Phone numbers.
    pub phones: Vec<E164>,
    /// Bumped on every change; writes are conditional on it.
    pub version: i64,
    /// Numbers whose unmatched texts still have to be queued again (set in the same
    /// write that added them, cleared once queued, so a crash in between loses none).
    #[serde(default)]
    pub rematch: Vec<E164>,
    /// When (Unix seconds) `rematch` was set: a list older than the queue's
    /// visibility timeout was left by an upsert that died, and the next one takes it over.
    #[serde(default)]
    pub rematch_at: Option<i64>,
}

impl Stored for RecordItem {
    const KIND: &'static str = "record";
}

/// One number of one record, in the number's partition.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DirectoryEntry {
    /// Candidate, employee or contact.
    pub kind: RecordKind,
    /// The ATS's id.
    pub id: String,
}

impl Stored for DirectoryEntry {
    const KIND: &'static str = "directory entry";
}

/// A text whose number matched no record yet.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct UnmatchedItem {
    /// The text as first reported.
    pub event: MessageEvent,
    /// Its number.
    pub number: E164,
    /// When it was kept.
    pub received_at: Timestamp,
}

impl Stored for UnmatchedItem {
    const KIND: &'static str = "unmatched text";
}

/// A number's opt-out state for a tenant (every provider).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OptOutItem {
    /// The number.
    pub number: E164,
    /// True: opted out; false: opted back in.
    pub opted_out: bool,
    /// When the change happened (the keyword text's time, or when the provider's
    /// report arrived).
    pub at: Timestamp,
    /// What changed it, in plain words.
    #[serde(default)]
    pub source: String,
}

/// One change of a number's opt-out, kept as its history.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct OptOutChange {
    /// True: opted out; false: opted back in.
    pub opted_out: bool,
    /// When.
    pub at: Timestamp,
    /// What changed it, in plain words.
    pub source: String,
}

impl Stored for OptOutChange {
    const KIND: &'static str = "opt-out change";
}

impl Stored for OptOutItem {
    const KIND: &'static str = "opt-out";
}

/// A permission group.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct GroupItem {
    /// The group's name as set.
    pub name: String,
    /// Whether members may text.
    pub can_text: bool,
}

impl Stored for GroupItem {
    const KIND: &'static str = "permission group";
}

/// A single send claimed under an `Idempotency-Key`: `sending` until the provider
/// answered, then `sent` (with the answer given) or `failed` (with the reason).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SendClaim {
    /// `sending`, `sent` or `failed`.
    pub state: String,
    /// The provider asked to send.
    pub provider: ProviderKind,
    /// The recipient.
    pub to: E164,
    /// The text (the key may only be used again for the same text).
    pub body: String,
    /// The answer given when sent.
    #[serde(default)]
    pub result: Option<serde_json::Value>,
    /// Why it failed.
    #[serde(default)]
    pub reason: Option<String>,
    /// When (Unix seconds) it was claimed.
    #[serde(default)]
    pub claimed_at: i64,
}

impl Stored for SendClaim {
    const KIND: &'static str = "send claim";
}

/// A mass text.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct JobItem {
    /// Who sends it (whose credentials).
    pub user: UserId,
    /// The sender's permission group when the job was accepted; checked again
    /// before each recipient.
    pub permission_group: PermissionGroup,
    /// Through which provider.
    pub provider: ProviderKind,
    /// The text.
    pub body: String,
    /// How many recipients.
    pub total: usize,
    /// When it was accepted.
    pub created_at: Timestamp,
}

impl Stored for JobItem {
    const KIND: &'static str = "mass text";
}

/// One recipient of a mass text and where its send is.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct JobRecipient {
    /// The number.
    pub to: E164,
    /// `queued`, `sending` (claimed, with a lease), `sent`, `skipped` or `failed`.
    pub state: String,
    /// How many times it was claimed (every change is conditional on it).
    pub attempt: i64,
    /// Unix seconds until which the current claim holds.
    #[serde(default)]
    pub lease_until: Option<i64>,
    /// The provider's id of the sent text.
    #[serde(default)]
    pub provider_message_id: Option<String>,
    /// Why it was skipped or failed.
    #[serde(default)]
    pub reason: Option<String>,
}

impl Stored for JobRecipient {
    const KIND: &'static str = "mass text recipient";
}

/// A message action type a tenant added.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ActionTypeItem {
    /// The name as set.
    pub name: String,
    /// Whether the default group is kept from it (like `Secure`).
    pub secure: bool,
}

impl Stored for ActionTypeItem {
    const KIND: &'static str = "message action type";
}

/// A security group: the action types its members may read and write.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SecurityGroupItem {
    /// The name as set.
    pub name: String,
    /// Action types members may read (names as set).
    pub read: Vec<String>,
    /// Action types members may write (names as set).
    pub write: Vec<String>,
}

impl Stored for SecurityGroupItem {
    const KIND: &'static str = "security group";
}

/// Which security group a user is in.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SecurityMemberItem {
    /// The group's name as set.
    pub group: String,
}

impl Stored for SecurityMemberItem {
    const KIND: &'static str = "security group membership";
}

/// A tenant's webhook source allow-lists.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct SourcesItem {
    /// Allow-lists by provider name.
    pub lists: std::collections::BTreeMap<String, Vec<String>>,
}

impl Stored for SourcesItem {
    const KIND: &'static str = "webhook source allow-lists";
}

/// A texting user (S3). Every change is a put conditional on `version`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct UserItem {
    /// The user's id (the identity's `sub`).
    pub user_id: UserId,
    /// The username: the e-mail address, never changed.
    pub email: Email,
    /// First name.
    pub first_name: PersonName,
    /// Last name.
    pub last_name: PersonName,
    /// Role.
    pub role: Role,
    /// Active, disabled or deleted.
    pub status: UserStatus,
    /// The permission group (decides Can Text).
    pub permission_group: PermissionGroup,
    /// The area code the user's licence number should have.
    #[serde(default)]
    pub area_code: Option<AreaCode>,
    /// The licensed phone number, if the user holds a licence.
    #[serde(default)]
    pub licence: Option<E164>,
    /// The team the user is on.
    #[serde(default)]
    pub team_id: Option<String>,
    /// The branch whose credentials the user sends through when they have none of
    /// their own.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub branch: Option<BranchId>,
    /// Other users' inboxes this user sees.
    #[serde(default)]
    pub inboxes: Vec<Inbox>,
    /// The ATS users mapped to this user.
    #[serde(default)]
    pub ats_ids: Vec<AtsUserId>,
    /// The telephone country code given by an import.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub country_code: Option<CountryCode>,
    /// Whether the user must change their password at the next sign-in.
    pub password_expired: bool,
    /// How the user was added: `manual`, `import` or `ats`.
    pub source: String,
    /// When the user was added.
    pub created_at: Timestamp,
    /// When the user last changed.
    pub updated_at: Timestamp,
    /// Incremented by every change.
    pub version: i64,
}

impl Stored for UserItem {
    const KIND: &'static str = "texting user";
}

/// Another user's inbox that a user sees in their sidebar.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Inbox {
    /// The username (e-mail) of the inbox's owner.
    pub source_username: Email,
    /// The name shown in the sidebar.
    pub name: String,
}

/// The claim of a username; `deleted` once the user is deleted (a tombstone).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NameClaim {
    /// The user holding the name.
    pub user_id: UserId,
    /// Whether the user was deleted (the name can never be added again).
    pub deleted: bool,
}

impl Stored for NameClaim {
    const KIND: &'static str = "username claim";
}

/// The claim that maps an ATS user id to one texting user.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AtsClaim {
    /// The texting user.
    pub user_id: UserId,
}

impl Stored for AtsClaim {
    const KIND: &'static str = "ATS user id claim";
}

/// A team.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TeamItem {
    /// The team's id (a number, as text).
    pub team_id: String,
    /// The team's name.
    pub name: TeamName,
}

impl Stored for TeamItem {
    const KIND: &'static str = "team";
}

/// The claim of a team name.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TeamNameClaim {
    /// The team holding the name.
    pub team_id: String,
}

impl Stored for TeamNameClaim {
    const KIND: &'static str = "team name claim";
}

/// The seat counter of a tenant's licences.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct SeatsItem {
    /// Seats bought (licence numbers held).
    pub total: i64,
    /// Seats not assigned.
    pub free: i64,
}

impl Stored for SeatsItem {
    const KIND: &'static str = "licence seats";
}

/// A licence number, free or assigned.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct NumberItem {
    /// The phone number.
    pub number: E164,
    /// Its area code (`-` outside North America).
    pub area: String,
    /// The user it is assigned to.
    #[serde(default)]
    pub user_id: Option<UserId>,
}

impl Stored for NumberItem {
    const KIND: &'static str = "licence number";
}

/// An outgoing e-mail event (invitation, forgot password): a template and its fields.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct OutboxEvent {
    /// The event's id.
    pub event_id: String,
    /// The e-mail template (`invitation`, `forgot_password`).
    pub template: String,
    /// The recipient.
    pub to: Email,
    /// The user the e-mail is about.
    pub user_id: UserId,
    /// The template's fields.
    pub fields: std::collections::BTreeMap<String, String>,
    /// When it was produced.
    pub at: Timestamp,
}

impl Stored for OutboxEvent {
    const KIND: &'static str = "outgoing event";
}

/// A tenant's ATS directory connection (the token lives in the secret store).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AtsConnectionItem {
    /// Which kind of directory it is.
    #[serde(default)]
    pub connector: crate::ports::AtsConnector,
    /// The base URL of the ATS's directory.
    pub base_url: String,
    /// The record kinds synced.
    pub record_kinds: Vec<RecordKind>,
    /// The role given to texting users created for full-access ATS users.
    pub full_access_role: Role,
    /// `connected` or `failed`.
    pub status: String,
    /// The outcome in plain words.
    pub status_message: String,
    /// When it was checked.
    pub status_at: Timestamp,
}

impl Stored for AtsConnectionItem {
    const KIND: &'static str = "ATS connection";
}

/// Where the sync of one stream (users, a record kind) stands.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct SyncCursorItem {
    /// The updated-at watermark the listing starts from.
    #[serde(default)]
    pub since: Option<String>,
    /// The page to continue from (a run stopped between pages).
    #[serde(default)]
    pub page: Option<String>,
    /// The latest updated-at seen in this pass.
    #[serde(default)]
    pub high: Option<String>,
    /// Incremented by every save.
    pub version: i64,
}

impl Stored for SyncCursorItem {
    const KIND: &'static str = "sync cursor";
}

/// Something the sync would not do without an admin: both sides of it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct SyncConflictItem {
    /// The ATS user.
    pub ats_user_id: String,
    /// `conflict` or `removed_in_ats`.
    pub kind: String,
    /// What is wrong, in plain words.
    pub reason: String,
    /// The ATS side: e-mail.
    #[serde(default)]
    pub ats_email: Option<String>,
    /// The ATS side: name.
    pub ats_name: String,
    /// The texting side: user id.
    #[serde(default)]
    pub texting_user_id: Option<String>,
    /// The texting side: username.
    #[serde(default)]
    pub texting_email: Option<String>,
    /// The texting side: status.
    #[serde(default)]
    pub texting_status: Option<String>,
}

impl Stored for SyncConflictItem {
    const KIND: &'static str = "sync conflict";
}

/// A tenant's ATS integration switch: while enabled, users come from the sync.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AtsIntegrationItem {
    /// Whether the integration is enabled.
    pub enabled: bool,
}

impl Stored for AtsIntegrationItem {
    const KIND: &'static str = "ATS integration settings";
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_missing_or_wrong_attribute_names_the_key_and_the_attribute() {
        let key = Key::new("HOOK#abc", "ITEM");
        let item = Item::new(key.clone()).with("tenant", "acme").with("provider", "textus").with("level", "system");
        let err = Registration::from_item(&item).unwrap_err().to_string();
        assert!(err.contains("HOOK#abc/ITEM") && err.contains("scope"), "{err}");

        let item =
            Item::new(key).with("tenant", "T#x").with("provider", "textus").with("level", "system").with("scope", "-");
        let err = Registration::from_item(&item).unwrap_err().to_string();
        assert!(err.contains("webhook registration") && err.contains("tenant"), "{err}");
    }

    #[test]
    fn round_trip() {
        let reg = Registration {
            tenant: TenantId::parse("acme").expect("tenant"),
            provider: ProviderKind::Zipwhip,
            level: "user".into(),
            scope: "u-1".into(),
            username: Some(ProviderUsername::parse("alex@6512345678").expect("username")),
        };
        let item = reg.to_item(Key::new("HOOK#t", "ITEM")).expect("item");
        assert_eq!(Registration::from_item(&item).expect("read"), reg);
        assert!(matches!(reg.level().expect("level"), CredentialLevel::User(_)));
    }
}

/// The state of a user import.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ImportState {
    /// Uploaded: previewed and remapped, nothing applied.
    Uploaded,
    /// Being applied, chunk by chunk (a run that stopped resumes where it was).
    Running,
    /// Every row applied.
    Done,
}

/// How many rows an import created, updated, left unchanged or rejected.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct ImportCounts {
    /// Users created.
    pub create: u32,
    /// Users updated.
    pub update: u32,
    /// Rows that changed nothing.
    pub unchanged: u32,
    /// Rows rejected.
    pub error: u32,
}

/// A user import job.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ImportJobItem {
    /// The import's id.
    pub import_id: String,
    /// When the store removes the import (unix seconds; see
    /// [`crate::ports::EXPIRES_AT`]): [`crate::import::RETENTION`] after its upload.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expires_at: Option<i64>,
    /// The uploaded file's name.
    pub file_name: String,
    /// The file's header cells.
    pub headers: Vec<String>,
    /// The field each column fills.
    pub mapping: Mapping,
    /// Data rows in the file.
    pub rows: u32,
    /// Chunks the rows are stored in.
    pub chunks: u32,
    /// Uploaded, running or done.
    pub state: ImportState,
    /// The first chunk not applied yet.
    pub next_chunk: u32,
    /// Outcomes of the applied chunks.
    pub counts: ImportCounts,
    /// Who uploaded the file.
    pub created_by: UserId,
    /// When the file was uploaded.
    pub created_at: Timestamp,
    /// When applying started.
    #[serde(default)]
    pub started_at: Option<Timestamp>,
    /// When the last row was applied.
    #[serde(default)]
    pub finished_at: Option<Timestamp>,
    /// Incremented by every change.
    pub version: i64,
}

impl Stored for ImportJobItem {
    const KIND: &'static str = "user import";
}

/// A chunk of an import's rows, as read from the file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ImportChunkItem {
    /// The rows.
    pub rows: Vec<Row>,
    /// When the store removes it (unix seconds; see [`crate::ports::EXPIRES_AT`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expires_at: Option<i64>,
}

impl Stored for ImportChunkItem {
    const KIND: &'static str = "user import rows";
}

/// What applying (or previewing) one row does.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum RowAction {
    /// A new user.
    Create,
    /// An existing user changes.
    Update,
    /// Nothing changes.
    Unchanged,
    /// The row is rejected.
    Error,
}

/// The outcome of one row.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct RowOutcome {
    /// The row number in the file.
    pub line: u32,
    /// The row's e-mail, when it has a valid one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub email: Option<Email>,
    /// Create, update, unchanged or error.
    pub action: RowAction,
    /// The fields that change (updates).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub changes: Vec<String>,
    /// What else the row did not get, and why (no licence, unknown team).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub notes: Vec<String>,
    /// Why the row was rejected (`row 17, column "Email": not an e-mail address`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}

/// The outcomes of one applied chunk.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ImportResultItem {
    /// One per row of the chunk, in file order.
    pub outcomes: Vec<RowOutcome>,
    /// When the store removes it (unix seconds; see [`crate::ports::EXPIRES_AT`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expires_at: Option<i64>,
}

impl Stored for ImportResultItem {
    const KIND: &'static str = "user import outcomes";
}
