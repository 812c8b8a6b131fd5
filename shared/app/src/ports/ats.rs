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
