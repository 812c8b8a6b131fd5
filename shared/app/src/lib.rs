//! Textbridge's use-cases, the port traits they run on, and the HTTP plumbing every
//! function shares (identity, errors, health).

pub mod archive;
pub mod auth;
pub mod health;
pub mod http;
pub mod ports;
pub mod sync;
pub mod telemetry;
pub mod worker;

use std::sync::Arc;

use ports::{Clock, ItemStore, Queue, Secrets, SystemClock};
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
#[derive(Debug, Clone, Default)]
pub struct Config {
    /// Region used to read national phone numbers (`DEFAULT_COUNTRY`).
    pub default_region: Region,
}

/// Everything a use-case needs, built once per process and shared by all requests.
#[derive(Clone)]
pub struct App {
    /// The ports.
    pub backend: Backend,
    /// How callers are identified.
    pub auth: auth::Authenticator,
    /// Settings.
    pub config: Config,
    /// The clock.
    pub clock: Arc<dyn Clock>,
}

impl App {
    /// An app on `backend` with the system clock.
    pub fn new(backend: Backend, auth: auth::Authenticator, config: Config) -> Arc<Self> {
        Arc::new(Self { backend, auth, config, clock: Arc::new(SystemClock) })
    }
}
