//! The ATS port: where archived texts are written back (TempWorks-style REST API).
//! Optional: without one, the archive lives in Textbridge's own store only.

use async_trait::async_trait;
use textbridge_domain::{Direction, ProviderKind, RecordKind, TenantId};

/// A record in the ATS.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct RecordRef {
    /// Candidate, employee or contact.
    pub kind: RecordKind,
    /// The ATS's id of the record.
    pub id: String,
}

/// A text to write onto a record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AtsMessage {
    /// The provider that carried it.
    pub provider: ProviderKind,
    /// The provider's message id (written with the message so it can be found again).
    pub provider_message_id: String,
    /// Inbound or outbound.
    pub direction: Direction,
    /// The text.
    pub body: String,
    /// When (RFC 3339).
    pub occurred_at: String,
    /// The other side's number (E.164).
    pub their_number: String,
    /// The texting user it is attributed to, when known.
    pub texting_user: Option<String>,
}

/// Why an ATS call failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AtsError {
    /// The ATS refused for good (no such record, no permission); retrying will not help.
    #[error("the ATS refused: {0}")]
    Rejected(String),
    /// Down, throttling or timing out; retry later.
    #[error("the ATS is unavailable: {0}")]
    Unavailable(String),
    /// The tenant has not connected the ATS (no credentials saved): the text stays
    /// archived in Textbridge and its ATS write waits for the connection.
    #[error("the ATS is not connected for this tenant: {0}")]
    NotConnected(String),
}

/// An ATS that archived texts are written to.
#[async_trait]
pub trait Ats: Send + Sync {
    /// Writes `message` onto `record` with the message action type **Message**;
    /// returns the ATS's id of the new entry.
    async fn write_message(
        &self,
        tenant: &TenantId,
        record: &RecordRef,
        message: &AtsMessage,
    ) -> Result<String, AtsError>;

    /// The ATS's id of an entry written earlier for this provider message, if any:
    /// asked before writing again after a crash, so a text is never written twice.
    async fn find_message(
        &self,
        tenant: &TenantId,
        record: &RecordRef,
        provider: ProviderKind,
        provider_message_id: &str,
    ) -> Result<Option<String>, AtsError>;
}

/// How much of the ATS a user may use (decides whether the sync creates them).
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AtsAccess {
    /// Full access: always a texting user.
    Full,
    /// Partial access: a texting user only when Synchronize is Always.
    Partial,
}

/// The user's "Synchronize to Text Engagement" setting in the ATS.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SyncSetting {
    /// Always create the texting user.
    Always,
    /// Never create one.
    Never,
}

/// A user as the ATS lists them.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct AtsUser {
    /// The ATS's system id of the user.
    pub id: String,
    /// E-mail (the texting username).
    #[serde(default)]
    pub email: Option<String>,
    /// First name.
    #[serde(default)]
    pub first_name: Option<String>,
    /// Last name.
    #[serde(default)]
    pub last_name: Option<String>,
    /// Full or partial access.
    pub access: AtsAccess,
    /// Synchronize to Text Engagement (unset when absent).
    #[serde(default)]
    pub synchronize: Option<SyncSetting>,
    /// Removed from the ATS.
    #[serde(default)]
    pub removed: bool,
    /// When the user last changed in the ATS (RFC 3339).
    #[serde(default)]
    pub updated_at: Option<String>,
}

/// A record (candidate, employee, contact) as the ATS lists it.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct AtsRecord {
    /// The ATS's id of the record.
    pub id: String,
    /// Display name.
    #[serde(default)]
    pub name: Option<String>,
    /// Phone numbers, in any common form.
    #[serde(default)]
    pub phones: Vec<String>,
    /// Removed from the ATS (its numbers leave the directory).
    #[serde(default)]
    pub removed: bool,
    /// When the record last changed in the ATS (RFC 3339).
    #[serde(default)]
    pub updated_at: Option<String>,
}

/// One page of a listing: the rows (a row the connector could not read is an
/// `Err` with the reason, so one bad row never stops the page) and the next page.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AtsPage<T> {
    /// The rows, in the ATS's order.
    pub rows: Vec<Result<T, String>>,
    /// The token of the next page, if there is one.
    pub next: Option<String>,
}

/// Where a listing starts: rows changed at or after `since`, from page `page`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AtsCursor {
    /// The updated-at watermark (RFC 3339), if any.
    pub since: Option<String>,
    /// The page token to continue from, if any.
    pub page: Option<String>,
}

/// Which kind of ATS directory a tenant connects.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize, utoipa::ToSchema)]
pub enum AtsConnector {
    /// Textbridge's own REST directory contract: users and records (`rest`).
    #[default]
    #[serde(rename = "rest")]
    Rest,
    /// TempWorks' platform API: employees and contacts with their numbers, no list
    /// of ATS users (`tempworks`).
    #[serde(rename = "tempworks")]
    TempWorks,
}

impl AtsConnector {
    /// Whether the directory lists ATS users (so texting users come from the sync).
    pub fn lists_users(self) -> bool {
        matches!(self, Self::Rest)
    }

    /// The record kinds the directory lists.
    pub fn record_kinds(self) -> &'static [RecordKind] {
        match self {
            Self::Rest => &RecordKind::ALL,
            // TempWorks keeps applicants (candidates) as employees.
            Self::TempWorks => &[RecordKind::Employee, RecordKind::Contact],
        }
    }
}

/// A tenant's connection to its ATS directory.
#[derive(Clone)]
pub struct AtsEndpoint {
    /// Which kind of directory it is.
    pub connector: AtsConnector,
    /// The base URL of the ATS's Textbridge contract.
    pub base_url: url::Url,
    /// The API token (write-only; never logged).
    pub token: secrecy::SecretString,
}

impl std::fmt::Debug for AtsEndpoint {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AtsEndpoint")
            .field("connector", &self.connector)
            .field("base_url", &self.base_url.as_str())
            .finish_non_exhaustive()
    }
}

/// The ATS directory the scheduled sync reads: users and records, paged and
/// incremental.
#[async_trait]
pub trait AtsDirectory: Send + Sync {
    /// Checks that the endpoint answers and accepts the token.
    async fn check(&self, endpoint: &AtsEndpoint) -> Result<(), AtsError>;

    /// One page of users changed since the cursor's watermark.
    async fn users(&self, endpoint: &AtsEndpoint, cursor: &AtsCursor) -> Result<AtsPage<AtsUser>, AtsError>;

    /// One page of records of `kind` changed since the cursor's watermark.
    async fn records(
        &self,
        endpoint: &AtsEndpoint,
        kind: RecordKind,
        cursor: &AtsCursor,
    ) -> Result<AtsPage<AtsRecord>, AtsError>;
}
