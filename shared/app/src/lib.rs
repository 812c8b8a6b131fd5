//! Textbridge's use-cases, the port traits they run on, and the HTTP plumbing every
//! function shares (identity, errors, health).

pub mod archive;
pub mod auth;
pub mod credentials;
pub mod dead_letters;
pub mod groups;
pub mod health;
pub mod http;
pub mod intake;
pub mod keys;
pub mod ports;
pub mod records;
pub mod sync;
pub mod telemetry;
pub mod webhook_sources;
pub mod worker;

use std::sync::Arc;

use ports::{Ats, Clock, ItemStore, Providers, Queue, Secrets, SystemClock};
use textbridge_domain::Region;

/// One backend: the three stateful ports, built once at start-up and shared.
#[derive(Clone)]
pub struct Backend {
    /// The item store.
    pub store: Arc<dyn ItemStore>,
    /// The intake queue (with its dead-letter queue).
    pub queue: Arc<dyn Queue>,
    /// The secret store.
    pub secrets: Arc<dyn Secrets>,
}

/// Settings shared by every deployment.
#[derive(Debug, Clone)]
pub struct Config {
    /// Region used to read national phone numbers (`DEFAULT_COUNTRY`).
    pub default_region: Region,
    /// The URL providers reach this deployment at (`PUBLIC_BASE_URL`), without a
    /// trailing slash; webhook URLs are built from it.
    pub public_base_url: String,
    /// How long a received queue message stays hidden, which is also how long an
    /// archiver's claim on writing a message to the ATS lasts.
    pub visibility_timeout: std::time::Duration,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            default_region: Region::US,
            public_base_url: "http://127.0.0.1:8080".into(),
            visibility_timeout: worker::VISIBILITY,
        }
    }
}

/// Checks a service base URL read from the setting `variable`: `http` or `https`,
/// with a host and no query, fragment or credentials. The one rule for every
/// configured URL (public base URL, provider and ATS endpoints).
pub fn base_url(variable: &str, value: &str) -> Result<url::Url, textbridge_domain::Error> {
    let rule = "must be an http(s) URL with a host and no query, fragment or credentials";
    let url = url::Url::parse(value.trim()).map_err(|_| textbridge_domain::Error::invalid(variable, rule))?;
    let ok = matches!(url.scheme(), "http" | "https")
        && url.host_str().is_some_and(|h| !h.is_empty())
        && url.query().is_none()
        && url.fragment().is_none()
        && url.username().is_empty()
        && url.password().is_none();
    if ok { Ok(url) } else { Err(textbridge_domain::Error::invalid(variable, rule)) }
}

/// Checks the public base URL (`PUBLIC_BASE_URL`) and drops a trailing `/`.
pub fn public_base_url(value: &str) -> Result<String, textbridge_domain::Error> {
    Ok(base_url("PUBLIC_BASE_URL", value)?.as_str().trim_end_matches('/').to_owned())
}

/// Everything a use-case needs, built once per process and shared by all requests.
#[derive(Clone)]
pub struct App {
    /// The ports.
    pub backend: Backend,
    /// How callers are identified.
    pub auth: auth::Authenticator,
    /// The texting providers.
    pub providers: Providers,
    /// The ATS archived texts are written back to, if any.
    pub ats: Option<Arc<dyn Ats>>,
    /// Settings.
    pub config: Config,
    /// The clock.
    pub clock: Arc<dyn Clock>,
}

impl App {
    /// An app on `backend` with the system clock and no ATS write-back.
    pub fn new(backend: Backend, auth: auth::Authenticator, providers: Providers, config: Config) -> Arc<Self> {
        Self::with_ats(backend, auth, providers, config, None)
    }

    /// An app on `backend` with the system clock, writing archived texts to `ats`.
    pub fn with_ats(
        backend: Backend,
        auth: auth::Authenticator,
        providers: Providers,
        config: Config,
        ats: Option<Arc<dyn Ats>>,
    ) -> Arc<Self> {
        Arc::new(Self { backend, auth, providers, ats, config, clock: Arc::new(SystemClock) })
    }
}
