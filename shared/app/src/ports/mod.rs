//! The port traits: everything the use-cases need from the outside world.
//!
//! Each port has two adapters — AWS (`textbridge-aws`) and embedded SQLite
//! (`textbridge-embedded`) — and both pass the one contract suite in
//! `textbridge-testkit`.

mod ats;
mod clock;
mod provider;
mod queue;
mod secrets;
mod store;
mod uploads;

pub use ats::{
    Ats, AtsAccess, AtsConnector, AtsCursor, AtsDirectory, AtsEndpoint, AtsError, AtsMessage, AtsPage, AtsRecord,
    AtsUser, RecordRef, SyncSetting,
};
pub use clock::{Clock, SystemClock};
pub use provider::{
    Checked, Connection, Credentials, Outbound, Provider, ProviderError, Providers, SecretFields, SendReceipt,
    SubmittedFields, WebhookRequest,
};
pub use queue::{DeadLetter, MAX_RECEIVES, Queue, QueueDepth, Received};
pub use secrets::{SecretName, Secrets};
pub use store::{
    Condition, EXPIRES_AT, Index, Item, ItemStore, Key, MAX_TRANSACTION_WRITES, Page, Query, Update, Write,
};
pub use uploads::{PutUrl, Upload, Uploads};

use textbridge_domain::Error;

/// What an adapter reports when a call fails, mapped from the backend's own errors.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PortError {
    /// A condition on a write did not hold (DynamoDB `ConditionalCheckFailed`, a
    /// cancelled transaction, an existing secret on create); nothing was written.
    #[error("condition failed")]
    ConditionFailed,
    /// The thing addressed does not exist.
    #[error("not found: {0}")]
    NotFound(String),
    /// Throttling, a timeout or an unreachable backend: the call may succeed later.
    #[error("retryable: {0}")]
    Retryable(String),
    /// The request was rejected as invalid by the backend (a bug on our side).
    #[error("invalid request: {0}")]
    Invalid(String),
    /// Anything else.
    #[error("unexpected: {0}")]
    Unexpected(String),
}

impl From<PortError> for Error {
    fn from(e: PortError) -> Self {
        match e {
            PortError::ConditionFailed => Error::conflict("the item changed or already exists"),
            PortError::NotFound(what) => Error::NotFound(what),
            PortError::Retryable(why) => Error::Unavailable(why),
            PortError::Invalid(why) | PortError::Unexpected(why) => Error::Unexpected(why),
        }
    }
}

/// Result of a port call.
pub type PortResult<T> = Result<T, PortError>;
