//! The texting provider port: one implementation per provider (TextUs, Zipwhip,
//! Twilio) in `textbridge-providers`; the use-cases never name a provider.

use std::{
    collections::{BTreeMap, btree_map},
    fmt,
    sync::Arc,
    time::Duration,
};

use async_trait::async_trait;
use secrecy::{ExposeSecret, SecretString};
use textbridge_domain::{
    CredentialLevel, DeliveryStatus, E164, Error, ProviderKind, ProviderUsername, Region, Timestamp, WebhookEvent,
};

/// Credential fields as the caller sent them: a flat JSON object.
pub type SubmittedFields = serde_json::Map<String, serde_json::Value>;

/// Secret values by field name (`api_key`, `password`, `session_key`,
/// `webhook_secret`, …). Never printed: `Debug` shows only the names.
#[derive(Clone, Default)]
pub struct SecretFields(BTreeMap<String, SecretString>);

impl SecretFields {
    /// No fields.
    pub fn new() -> Self {
        Self::default()
    }

    /// Sets a field.
    pub fn insert(&mut self, name: &str, value: SecretString) {
        self.0.insert(name.to_owned(), value);
    }

    /// A field's value.
    pub fn get(&self, name: &str) -> Option<&SecretString> {
        self.0.get(name)
    }

    /// Adds (or overwrites with) every field of `other`.
    pub fn extend(&mut self, other: SecretFields) {
        self.0.extend(other.0);
    }

    /// The fields, for scrubbing text of their values.
    pub fn iter(&self) -> btree_map::Iter<'_, String, SecretString> {
        self.0.iter()
    }

    /// Replaces every occurrence of a secret value in `text` with `[redacted]`
    /// (provider error bodies sometimes echo what they were sent).
    pub fn scrub(&self, text: &str) -> String {
        self.0
            .values()
            .map(|v| v.expose_secret())
            .filter(|v| v.len() >= 4)
            .fold(text.to_owned(), |acc, secret| acc.replace(secret, "[redacted]"))
    }

    /// The one serialised form kept in the secret store (a JSON object).
    pub fn to_secret_string(&self) -> SecretString {
        let map: BTreeMap<&str, &str> = self.0.iter().map(|(k, v)| (k.as_str(), v.expose_secret())).collect();
        SecretString::from(serde_json::to_string(&map).unwrap_or_default())
    }

    /// Reads the form written by [`Self::to_secret_string`].
    pub fn from_secret_string(stored: &SecretString) -> Result<Self, Error> {
        let map: BTreeMap<String, String> = serde_json::from_str(stored.expose_secret())
            .map_err(|_| Error::unexpected("stored credential secret is not a JSON object of strings"))?;
        Ok(Self(map.into_iter().map(|(k, v)| (k, SecretString::from(v))).collect()))
    }
}

impl fmt::Debug for SecretFields {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_set().entries(self.0.keys()).finish()
    }
}

/// Submitted credentials after the provider module checked them (no I/O yet).
#[derive(Debug, Clone)]
pub struct Checked {
    /// The username at the provider: unique within the tenant.
    pub username: ProviderUsername,
    /// Fields that may be shown (account slug, account SID, …).
    pub public: BTreeMap<String, String>,
    /// Fields that are never shown again (API key, password, auth token).
    pub secret: SecretFields,
}

/// Saved credentials as a provider call needs them.
#[derive(Debug, Clone)]
pub struct Credentials {
    /// Whose credentials.
    pub level: CredentialLevel,
    /// The username at the provider.
    pub username: ProviderUsername,
    /// Shown fields.
    pub public: BTreeMap<String, String>,
    /// Secret fields, including what the provider handed back on connect.
    pub secret: SecretFields,
    /// Ids of the webhooks registered at the provider for these credentials.
    pub webhook_ids: Vec<String>,
}

/// What connecting produced, to keep with the credentials.
#[derive(Debug, Clone, Default)]
pub struct Connection {
    /// Secrets the provider returned (Zipwhip session key, TextUs webhook secret,
    /// Twilio auth token for signatures); merged into the stored secret fields.
    pub secret: SecretFields,
    /// Ids of the webhooks now registered (empty where the level registers none).
    pub webhook_ids: Vec<String>,
}

/// Why a provider call failed, in terms a person can act on.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ProviderError {
    /// The provider refused the credentials; the text says which, in plain words
    /// (e.g. "TextUs rejected the username or API key").
    #[error("{0}")]
    Rejected(String),
    /// No answer in time.
    #[error("did not answer within {} s", .0.as_secs())]
    Timeout(Duration),
    /// The provider is down, throttling or failing (after retries).
    #[error("is unavailable right now{}", .status.map(|s| format!(" (HTTP {s})")).unwrap_or_default())]
    Unavailable {
        /// The last HTTP status, if there was one.
        status: Option<u16>,
    },
    /// The provider answered something we could not understand.
    #[error("answered in an unexpected way: {0}")]
    Protocol(String),
    /// The provider refused this text (a bad or unreachable number, a body it will
    /// not carry); the text names the provider and its reason.
    #[error("{0}")]
    Refused(String),
}

impl ProviderError {
    /// The outcome in plain words, naming the provider ("Zipwhip did not answer
    /// within 10 s"). Never contains a secret.
    pub fn describe(&self, provider: ProviderKind) -> String {
        match self {
            Self::Rejected(text) | Self::Refused(text) => text.clone(),
            other => format!("{} {other}", provider.display_name()),
        }
    }
}

/// A webhook call as the provider made it.
#[derive(Debug, Clone, Copy)]
pub struct WebhookRequest<'a> {
    /// The full URL the provider called (scheme, host, path and query), as it called
    /// it: Twilio signs it.
    pub url: &'a str,
    /// The request headers.
    pub headers: &'a http::HeaderMap,
    /// The raw body, exactly as received (signatures cover the raw bytes).
    pub body: &'a [u8],
    /// When it was received (a signed timestamp is checked against it).
    pub received_at: Timestamp,
}

/// One text to send.
#[derive(Debug, Clone, Copy)]
pub struct Outbound<'a> {
    /// The recipient.
    pub to: &'a E164,
    /// The text (at most 1,600 characters; checked before).
    pub body: &'a str,
    /// The region national numbers in the provider's answer are read in.
    pub region: Region,
    /// Where the provider reports this text's delivery status, for providers that
    /// take it per text (Twilio's `StatusCallback`): the credentials' intake URL.
    pub status_url: Option<&'a str>,
}

/// What a provider answered a send with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SendReceipt {
    /// The provider's id of the text (the same its webhooks report).
    pub provider_message_id: String,
    /// The tenant's number the text went from, when the provider says.
    pub our_number: Option<E164>,
    /// The status the provider gave.
    pub status: DeliveryStatus,
}

/// One texting provider.
#[async_trait]
pub trait Provider: Send + Sync {
    /// Which provider this is.
    fn kind(&self) -> ProviderKind;

    /// Checks submitted fields for `level` (no I/O): required fields present, of the
    /// right shape, no unknown fields. Errors name the field and the rule.
    fn check(&self, level: &CredentialLevel, fields: &SubmittedFields) -> Result<Checked, Error>;

    /// Checks a replacement of the secret fields only (e.g. `{"api_key": "…"}`).
    fn check_secret(&self, level: &CredentialLevel, fields: &SubmittedFields) -> Result<SecretFields, Error>;

    /// Whether credentials at `level` need the tenant's system-level credentials of
    /// this provider to exist first (TextUs user level).
    fn needs_system_first(&self, level: &CredentialLevel) -> bool;

    /// Verifies the credentials with the provider and sets up what the level needs
    /// (e.g. registers webhooks to `intake_url`). Idempotent: connecting again reuses
    /// what is already registered. `system` is the tenant's system-level credentials
    /// of this provider, when they exist.
    async fn connect(
        &self,
        credentials: &Credentials,
        system: Option<&Credentials>,
        intake_url: &str,
    ) -> Result<Connection, ProviderError>;

    /// Re-checks saved credentials with the provider.
    async fn test(&self, credentials: &Credentials, system: Option<&Credentials>) -> Result<(), ProviderError>;

    /// Undoes `connect` where the provider allows (unregisters webhooks, logs out).
    async fn disconnect(&self, credentials: &Credentials, system: Option<&Credentials>) -> Result<(), ProviderError>;

    /// Sends one text with `credentials` (`system`: the tenant's system-level
    /// credentials of this provider, when they exist). Never sent twice by a retry:
    /// only a request the provider cannot have acted on is repeated (429, 503, no
    /// connection); an answer that may hide a sent text is an error, not a retry.
    async fn send(
        &self,
        credentials: &Credentials,
        system: Option<&Credentials>,
        text: &Outbound<'_>,
    ) -> Result<SendReceipt, ProviderError>;

    /// Authenticates a webhook call for a registration whose stored secret fields
    /// are `secrets` (e.g. the HMAC of the raw body with the webhook secret, compared
    /// in constant time). A failure is [`Error::Unauthenticated`].
    fn verify_webhook(&self, request: &WebhookRequest<'_>, secrets: &SecretFields) -> Result<(), Error>;

    /// Parses a webhook body into provider-neutral events, phone numbers in E.164
    /// (national ones read in `region`). A body that cannot be read is
    /// [`Error::Malformed`] with the reason; events the product does not use are
    /// left out (an empty list). `received_at` is when the call arrived: a text
    /// whose provider time is missing or unreadable gets it, with `time_received` set.
    fn parse_webhook(
        &self,
        request: &WebhookRequest<'_>,
        region: Region,
        received_at: Timestamp,
    ) -> Result<Vec<WebhookEvent>, Error>;
}

/// The registered providers.
#[derive(Clone, Default)]
pub struct Providers(BTreeMap<ProviderKind, Arc<dyn Provider>>);

impl Providers {
    /// Registers a provider (replacing one of the same kind).
    pub fn register(mut self, provider: Arc<dyn Provider>) -> Self {
        self.0.insert(provider.kind(), provider);
        self
    }

    /// The provider of `kind`; 422 if this installation has none.
    pub fn get(&self, kind: ProviderKind) -> Result<&Arc<dyn Provider>, Error> {
        self.0.get(&kind).ok_or_else(|| Error::invalid("provider", format!("{kind} is not enabled here")))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secret_fields_never_print_and_scrub() {
        let mut s = SecretFields::new();
        s.insert("api_key", SecretString::from("sk-live-123456".to_owned()));
        assert_eq!(format!("{s:?}"), "{\"api_key\"}");
        assert_eq!(s.scrub("bad key sk-live-123456!"), "bad key [redacted]!");
        let back = SecretFields::from_secret_string(&s.to_secret_string()).expect("round trip");
        assert_eq!(back.get("api_key").map(|v| v.expose_secret().to_owned()), Some("sk-live-123456".into()));
    }

    #[test]
    fn outcomes_in_plain_words() {
        let p = ProviderKind::Zipwhip;
        assert_eq!(ProviderError::Timeout(Duration::from_secs(10)).describe(p), "Zipwhip did not answer within 10 s");
        assert_eq!(
            ProviderError::Unavailable { status: Some(503) }.describe(p),
            "Zipwhip is unavailable right now (HTTP 503)"
        );
    }
}
