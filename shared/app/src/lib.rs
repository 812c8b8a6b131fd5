//! Textbridge's use-cases and the port traits they run on. No HTTP framework, no
//! Lambda crate and no JWT crate: those live in `textbridge-api`, `textbridge-lambda`
//! and the local binary.

pub mod access;
pub mod archive;
pub mod ats_connection;
pub mod cache;
pub mod config;
pub mod conversations;
pub mod credentials;
pub mod dead_letters;
pub mod deadline;
pub mod envelope;
pub mod groups;
pub mod health;
pub mod import;
pub mod intake;
pub mod items;
pub mod keys;
pub mod mass;
pub mod metrics;
pub mod optout;
pub mod ports;
pub mod records;
pub mod send;
pub mod sync;
pub mod teams;
pub mod users;
pub mod webhook_sources;
pub mod worker;

use std::sync::Arc;

pub use config::{CACHE_TTL_SECS, Config, VISIBILITY_TIMEOUT_SECS, base_url, public_base_url};
use ports::{Ats, AtsDirectory, Clock, ItemStore, Providers, Queue, Secrets, SystemClock, Uploads};
use textbridge_domain::Error;

/// The three stateful ports of one backend, as an adapter crate builds them.
#[derive(Clone)]
pub struct Backend {
    /// The item store.
    pub store: Arc<dyn ItemStore>,
    /// The intake queue (with its dead-letter queue).
    pub queue: Arc<dyn Queue>,
    /// The secret store.
    pub secrets: Arc<dyn Secrets>,
}

/// Everything a use-case needs, built once per process and shared by all requests.
///
/// Every deployment has a store; the other ports are present only where the
/// function uses them (a Lambda links only its own ports), and a use-case that
/// needs a missing one fails as a bug, never silently.
#[derive(Clone)]
pub struct App {
    /// The item store (its writes forget what the caches read from their partitions).
    pub store: Arc<dyn ItemStore>,
    queue: Option<Arc<dyn Queue>>,
    secrets: Option<Arc<dyn Secrets>>,
    /// The texting providers (empty where the function talks to none).
    pub providers: Providers,
    /// The ATS archived texts are written back to, if any.
    pub ats: Option<Arc<dyn Ats>>,
    directory: Option<Arc<dyn AtsDirectory>>,
    uploads: Option<Arc<dyn Uploads>>,
    /// Settings.
    pub config: Config,
    /// The clock.
    pub clock: Arc<dyn Clock>,
    /// Short-lived caches of hot items (see [`cache`]).
    pub caches: Arc<cache::Caches>,
}

impl App {
    /// An app with only `store`; add the other ports with the `with_*` methods.
    pub fn on_store(store: Arc<dyn ItemStore>, config: Config) -> Self {
        let caches = Arc::new(cache::Caches::new(config.cache_ttl));
        Self {
            store: Arc::new(cache::Forgetting::new(store, Arc::clone(&caches))),
            queue: None,
            secrets: None,
            providers: Providers::default(),
            ats: None,
            directory: None,
            uploads: None,
            caches,
            config,
            clock: Arc::new(SystemClock),
        }
    }

    /// An app with all three ports of `backend` (the local server, tests).
    pub fn on(backend: Backend, config: Config) -> Self {
        Self::on_store(backend.store, config).with_queue(backend.queue).with_secrets(backend.secrets)
    }

    /// Adds the intake queue.
    pub fn with_queue(mut self, queue: Arc<dyn Queue>) -> Self {
        self.queue = Some(queue);
        self
    }

    /// Adds the secret store.
    pub fn with_secrets(mut self, secrets: Arc<dyn Secrets>) -> Self {
        self.secrets = Some(Arc::new(cache::Forgetting::new(secrets, Arc::clone(&self.caches))));
        self
    }

    /// Sets the texting providers.
    pub fn with_providers(mut self, providers: Providers) -> Self {
        self.providers = providers;
        self
    }

    /// Sets the ATS archived texts are written back to.
    pub fn with_ats(mut self, ats: Option<Arc<dyn Ats>>) -> Self {
        self.ats = ats;
        self
    }

    /// Adds the ATS directory connector the sync reads.
    pub fn with_directory(mut self, directory: Arc<dyn AtsDirectory>) -> Self {
        self.directory = Some(directory);
        self
    }

    /// The ATS directory connector; an error if this deployment was built without one.
    pub fn directory(&self) -> Result<&Arc<dyn AtsDirectory>, Error> {
        self.directory.as_ref().ok_or_else(|| Error::unexpected("this function was built without the ATS directory"))
    }

    /// Adds the place large import files are uploaded to.
    pub fn with_uploads(mut self, uploads: Arc<dyn Uploads>) -> Self {
        self.uploads = Some(uploads);
        self
    }

    /// The upload place; an error if this deployment was built without one.
    pub fn uploads(&self) -> Result<&Arc<dyn Uploads>, Error> {
        self.uploads.as_ref().ok_or_else(|| Error::unexpected("this function was built without an upload place"))
    }

    /// Replaces the clock.
    pub fn with_clock(mut self, clock: Arc<dyn Clock>) -> Self {
        self.clock = clock;
        self
    }

    /// Shares the finished app.
    pub fn shared(self) -> Arc<Self> {
        Arc::new(self)
    }

    /// The intake queue; an error if this deployment was built without one.
    pub fn queue(&self) -> Result<&Arc<dyn Queue>, Error> {
        self.queue.as_ref().ok_or_else(|| Error::unexpected("this function was built without the intake queue"))
    }

    /// The secret store; an error if this deployment was built without one.
    pub fn secrets(&self) -> Result<&Arc<dyn Secrets>, Error> {
        self.secrets.as_ref().ok_or_else(|| Error::unexpected("this function was built without the secret store"))
    }

    /// The intake queue, if this deployment has one.
    pub fn queue_port(&self) -> Option<&Arc<dyn Queue>> {
        self.queue.as_ref()
    }

    /// The secret store, if this deployment has one.
    pub fn secrets_port(&self) -> Option<&Arc<dyn Secrets>> {
        self.secrets.as_ref()
    }
}
