//! The TempWorks connector.

use std::{collections::HashMap, fmt, sync::Arc, time::Duration};

use async_trait::async_trait;
use reqwest::Method;
use secrecy::{ExposeSecret, SecretString};
use textbridge_app::ports::{Ats, AtsError, AtsMessage, PortError, RecordRef, SecretName, Secrets};
use textbridge_domain::{Error, ProviderKind, RecordKind, TenantId};
use tokio::sync::RwLock;
use url::Url;

use crate::{
    http::{Call, Http},
    wire::{self, ActionLookup},
};

/// How many messages one page of a record's message list asks for.
const PAGE_SIZE: usize = 100;

/// How many pages `find_message` reads at most (the newest writes are expected early).
const MAX_PAGES: usize = 20;

/// The name of the secret holding `tenant`'s TempWorks API token:
/// `{tenant}/ats/tempworks`. The secret's value is the token itself.
pub fn token_secret_name(tenant: &TenantId) -> Result<SecretName, Error> {
    SecretName::from_parts(&[tenant.as_str(), "ats", "tempworks"])
}

/// Writes archived texts to TempWorks and finds them again.
///
/// Cheap to share behind an [`Arc`]: the connection pool and the per-tenant cache of
/// message action ids live inside.
pub struct TempWorks {
    http: Http,
    base_url: Url,
    secrets: Arc<dyn Secrets>,
    /// The id of the `Message` action per tenant, looked up once.
    action_ids: RwLock<HashMap<TenantId, i64>>,
}

impl fmt::Debug for TempWorks {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TempWorks")
            .field("base_url", &self.base_url.as_str())
            .field("timeout", &self.http.timeout())
            .finish_non_exhaustive()
    }
}

impl TempWorks {
    /// The environment variable naming TempWorks' API, such as
    /// `https://api.ontempworks.com`.
    pub const BASE_URL_VARIABLE: &'static str = "TEMPWORKS_BASE_URL";
    /// The time one attempt of a request may take unless set otherwise.
    pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(10);
    /// The longest wait between attempts unless set otherwise, whatever `Retry-After`
    /// asks for.
    pub const DEFAULT_MAX_RETRY_WAIT: Duration = Duration::from_secs(5);

    /// A connector to the API at `base_url` (paths are appended to it), reading each
    /// tenant's token from `secrets` under [`token_secret_name`].
    pub fn new(base_url: Url, secrets: Arc<dyn Secrets>) -> Self {
        Self {
            http: Http::new(Self::DEFAULT_TIMEOUT, Self::DEFAULT_MAX_RETRY_WAIT),
            base_url,
            secrets,
            action_ids: RwLock::new(HashMap::new()),
        }
    }

    /// The connector configured by [`Self::BASE_URL_VARIABLE`]; `None` when it is unset
    /// or empty (texts are then archived in Textbridge only).
    pub fn from_env(secrets: Arc<dyn Secrets>) -> Result<Option<Self>, Error> {
        Self::from_lookup(|name| std::env::var(name).ok(), secrets)
    }

    /// [`Self::from_env`] reading the variable through `lookup`.
    pub fn from_lookup(
        lookup: impl Fn(&str) -> Option<String>,
        secrets: Arc<dyn Secrets>,
    ) -> Result<Option<Self>, Error> {
        let Some(value) = lookup(Self::BASE_URL_VARIABLE).map(|v| v.trim().to_owned()).filter(|v| !v.is_empty()) else {
            return Ok(None);
        };
        Ok(Some(Self::new(textbridge_app::base_url(Self::BASE_URL_VARIABLE, &value)?, secrets)))
    }

    /// The same connector with `timeout` on each attempt of a request.
    pub fn with_timeout(mut self, timeout: Duration) -> Self {
        self.http = Http::new(timeout, self.http.max_retry_wait());
        self
    }

    /// The same connector waiting at most `max_retry_wait` between attempts.
    pub fn with_max_retry_wait(mut self, max_retry_wait: Duration) -> Self {
        self.http = Http::new(self.http.timeout(), max_retry_wait);
        self
    }

    /// The API this connector writes to.
    pub fn base_url(&self) -> &Url {
        &self.base_url
    }

    /// The tenant's API token.
    async fn token(&self, tenant: &TenantId) -> Result<SecretString, AtsError> {
        let name = token_secret_name(tenant).map_err(|e| AtsError::Rejected(e.to_string()))?;
        match self.secrets.get(&name).await {
            Ok(token) if token.expose_secret().trim().is_empty() => {
                Err(AtsError::Rejected("the saved TempWorks API token is empty".into()))
            }
            Ok(token) => Ok(token),
            Err(PortError::NotFound(_)) => {
                Err(AtsError::NotConnected("no TempWorks API token is saved for this tenant".into()))
            }
            Err(e) => Err(AtsError::Unavailable(format!("could not read the TempWorks API token: {e}"))),
        }
    }

    /// The id of the tenant's `Message` action, from the cache or the ATS.
    async fn action_id(&self, tenant: &TenantId, token: &SecretString) -> Result<i64, AtsError> {
        if let Some(id) = self.action_ids.read().await.get(tenant) {
            return Ok(*id);
        }
        let url = self.endpoint(&["DataLists", "messageActions"], &[("active", "true")])?;
        let answer = self
            .http
            .send(Call {
                method: Method::GET,
                url,
                token,
                body: None,
                doing: "read the message actions",
                not_found: "the ATS has no list of message actions",
            })
            .await?;
        match wire::message_action(&answer) {
            Some(ActionLookup::Found(id)) => {
                tracing::info!(tenant = %tenant, action_id = id, "found the ATS message action");
                self.action_ids.write().await.insert(tenant.clone(), id);
                Ok(id)
            }
            Some(ActionLookup::Absent) => {
                Err(AtsError::Rejected(format!("the ATS has no active message action \"{}\"", wire::MESSAGE_ACTION)))
            }
            Some(ActionLookup::NotWritable) => Err(AtsError::Rejected(format!(
                "the ATS API token may not write the message action \"{}\"",
                wire::MESSAGE_ACTION
            ))),
            None => {
                Err(AtsError::Unavailable("the ATS answered the list of message actions in an unknown shape".into()))
            }
        }
    }

    /// The id of the message on `target` whose text contains `marker`, reading the
    /// record's messages a page at a time.
    async fn find(&self, token: &SecretString, target: &Target, marker: &str) -> Result<Option<String>, AtsError> {
        let take = PAGE_SIZE.to_string();
        let doing = format!("read messages on {target}");
        let not_found = format!("no {target} in the ATS");
        for page in 0..MAX_PAGES {
            let skip = page * PAGE_SIZE;
            let url = self.endpoint(&target.messages_path(), &[("take", &take), ("skip", &skip.to_string())])?;
            let call = Call { method: Method::GET, url, token, body: None, doing: &doing, not_found: &not_found };
            let answer = self.http.send(call).await?;
            let Some(page) = wire::message_page(&answer) else {
                return Err(AtsError::Unavailable(format!(
                    "the ATS answered the messages on {target} in an unknown shape"
                )));
            };
            if let Some((id, _)) = page.entries.iter().find(|(_, text)| text.contains(marker)) {
                return Ok(Some(id.clone()));
            }
            let seen = skip + page.len;
            if page.len < PAGE_SIZE || page.total.is_some_and(|total| seen as u64 >= total) {
                return Ok(None);
            }
        }
        tracing::warn!(kind = target.kind.as_str(), pages = MAX_PAGES, "stopped looking for a written message");
        Ok(None)
    }

    /// `base_url` followed by `segments` (each percent-encoded) and `query`.
    fn endpoint(&self, segments: &[&str], query: &[(&str, &str)]) -> Result<Url, AtsError> {
        let mut url = self.base_url.clone();
        url.path_segments_mut()
            .map_err(|_| AtsError::Unavailable(format!("{} cannot take a path", self.base_url)))?
            .pop_if_empty()
            .extend(segments);
        url.set_query(None);
        if !query.is_empty() {
            url.query_pairs_mut().extend_pairs(query);
        }
        Ok(url)
    }
}

#[async_trait]
impl Ats for TempWorks {
    async fn write_message(
        &self,
        tenant: &TenantId,
        record: &RecordRef,
        message: &AtsMessage,
    ) -> Result<String, AtsError> {
        let target = Target::new(record)?;
        let token = self.token(tenant).await?;
        let action_id = self.action_id(tenant, &token).await?;
        let text = wire::message_text(message);
        let body = serde_json::to_vec(&wire::message_body(&text, action_id))
            .map_err(|_| AtsError::Unavailable("could not encode the message".into()))?;
        let url = self.endpoint(&target.messages_path(), &[])?;
        let doing = format!("write messages on {target}");
        let not_found = format!("no {target} in the ATS");
        let call =
            Call { method: Method::POST, url, token: &token, body: Some(body), doing: &doing, not_found: &not_found };
        let answer = self.http.send(call).await?;
        if let Some(id) = wire::written_id(&answer) {
            return Ok(id);
        }
        tracing::warn!(tenant = %tenant, kind = target.kind.as_str(), "the ATS named no id for a written message");
        let marker = wire::marker(message.provider, &message.provider_message_id);
        // The write happened: whatever the look-up says, the outcome is not a refusal.
        match self.find(&token, &target, &marker).await {
            Ok(Some(id)) => Ok(id),
            Ok(None) => Err(AtsError::Unavailable(format!(
                "the ATS accepted a message on {target} without naming its id, and it is not listed yet"
            ))),
            Err(e) => Err(AtsError::Unavailable(format!(
                "the ATS accepted a message on {target} without naming its id, and looking it up failed: {e}"
            ))),
        }
    }

    async fn find_message(
        &self,
        tenant: &TenantId,
        record: &RecordRef,
        provider: ProviderKind,
        provider_message_id: &str,
    ) -> Result<Option<String>, AtsError> {
        let target = Target::new(record)?;
        let token = self.token(tenant).await?;
        self.find(&token, &target, &wire::marker(provider, provider_message_id)).await
    }
}

/// A record as TempWorks addresses it.
struct Target {
    kind: RecordKind,
    id: String,
}

impl Target {
    /// Checks the id can be a path segment.
    fn new(record: &RecordRef) -> Result<Self, AtsError> {
        let id = record.id.trim();
        if id.is_empty() || id == "." || id == ".." {
            return Err(AtsError::Rejected(format!("{:?} is not a {} id", record.id, record.kind.as_str())));
        }
        Ok(Self { kind: record.kind, id: id.to_owned() })
    }

    /// `Employees/{id}/messages` or `Contacts/{id}/messages`: candidates are applicants,
    /// which TempWorks keeps as employees.
    fn messages_path(&self) -> [&str; 3] {
        let collection = match self.kind {
            RecordKind::Candidate | RecordKind::Employee => "Employees",
            RecordKind::Contact => "Contacts",
        };
        [collection, &self.id, "messages"]
    }
}

impl fmt::Display for Target {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}", self.kind.as_str(), self.id)
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)] // tests: a failed expectation is a panic

    use super::*;

    #[test]
    fn paths_are_encoded_below_the_base() {
        let record = |kind, id: &str| Target::new(&RecordRef { kind, id: id.into() });
        let at = |base: &str, target: &Target, query: &[(&str, &str)]| {
            let secrets: Arc<dyn Secrets> = Arc::new(NoSecrets);
            let tw = TempWorks::new(Url::parse(base).unwrap(), secrets);
            tw.endpoint(&target.messages_path(), query).unwrap().to_string()
        };
        let employee = record(RecordKind::Employee, " 42 ").unwrap();
        assert_eq!(at("https://api.example.com", &employee, &[]), "https://api.example.com/Employees/42/messages");
        let candidate = record(RecordKind::Candidate, "a/b?c").unwrap();
        assert_eq!(
            at("http://127.0.0.1:9/stub/", &candidate, &[("take", "100")]),
            "http://127.0.0.1:9/stub/Employees/a%2Fb%3Fc/messages?take=100"
        );
        let contact = record(RecordKind::Contact, "7").unwrap();
        assert_eq!(at("https://x.example/v1", &contact, &[]), "https://x.example/v1/Contacts/7/messages");
        for bad in ["", " ", ".", ".."] {
            assert!(matches!(record(RecordKind::Employee, bad), Err(AtsError::Rejected(_))), "{bad:?}");
        }
    }

    #[test]
    fn base_url_from_the_environment() {
        let secrets: Arc<dyn Secrets> = Arc::new(NoSecrets);
        let with = |value: Option<&str>| {
            TempWorks::from_lookup(
                |name| (name == TempWorks::BASE_URL_VARIABLE).then(|| value.map(str::to_owned)).flatten(),
                secrets.clone(),
            )
        };
        assert!(with(None).unwrap().is_none());
        assert!(with(Some("  ")).unwrap().is_none());
        let tw = with(Some(" https://api.ontempworks.com ")).unwrap().unwrap();
        assert_eq!(tw.base_url().as_str(), "https://api.ontempworks.com/");
        assert!(!format!("{tw:?}").contains("secret"));
        for bad in ["api.ontempworks.com", "ftp://api.ontempworks.com", "https://x.com/?a=1", "https://u:p@x.com"] {
            let err = with(Some(bad)).unwrap_err();
            assert!(matches!(&err, Error::Invalid { field, .. } if field == "TEMPWORKS_BASE_URL"), "{bad}: {err:?}");
        }
    }

    #[test]
    fn token_secret_is_named_per_tenant() {
        let tenant = TenantId::parse("acme").unwrap();
        assert_eq!(token_secret_name(&tenant).unwrap().as_str(), "acme/ats/tempworks");
    }

    /// A secret store that holds nothing.
    struct NoSecrets;

    #[async_trait]
    impl Secrets for NoSecrets {
        async fn create(&self, _: &SecretName, _: &SecretString) -> textbridge_app::ports::PortResult<()> {
            Ok(())
        }
        async fn get(&self, name: &SecretName) -> textbridge_app::ports::PortResult<SecretString> {
            Err(PortError::NotFound(name.to_string()))
        }
        async fn replace(&self, _: &SecretName, _: &SecretString) -> textbridge_app::ports::PortResult<()> {
            Ok(())
        }
        async fn delete(&self, _: &SecretName) -> textbridge_app::ports::PortResult<()> {
            Ok(())
        }
    }
}
