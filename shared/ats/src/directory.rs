//! The ATS directory the sync reads, per tenant: Textbridge's REST contract
//! ([`RestDirectory`]) or TempWorks' search API ([`TempWorksDirectory`]), as the
//! tenant's connection names.

use std::time::Duration;

use async_trait::async_trait;
use textbridge_app::ports::{
    AtsConnector, AtsCursor, AtsDirectory, AtsEndpoint, AtsError, AtsPage, AtsRecord, AtsUser,
};
use textbridge_domain::RecordKind;

use crate::{RestDirectory, TempWorksDirectory};

/// Every directory connector, chosen by each endpoint's connector.
#[derive(Clone)]
pub struct Directory {
    rest: RestDirectory,
    tempworks: TempWorksDirectory,
}

impl Default for Directory {
    fn default() -> Self {
        Self::new(Duration::from_secs(15), Duration::from_secs(10))
    }
}

impl Directory {
    /// Connectors whose every attempt takes at most `timeout`, waiting at most
    /// `max_retry_wait` between attempts (429 `Retry-After` included).
    pub fn new(timeout: Duration, max_retry_wait: Duration) -> Self {
        Self {
            rest: RestDirectory::new(timeout, max_retry_wait),
            tempworks: TempWorksDirectory::new(timeout, max_retry_wait),
        }
    }

    fn of(&self, endpoint: &AtsEndpoint) -> &dyn AtsDirectory {
        match endpoint.connector {
            AtsConnector::Rest => &self.rest,
            AtsConnector::TempWorks => &self.tempworks,
        }
    }
}

#[async_trait]
impl AtsDirectory for Directory {
    async fn check(&self, endpoint: &AtsEndpoint) -> Result<(), AtsError> {
        self.of(endpoint).check(endpoint).await
    }

    async fn users(&self, endpoint: &AtsEndpoint, cursor: &AtsCursor) -> Result<AtsPage<AtsUser>, AtsError> {
        self.of(endpoint).users(endpoint, cursor).await
    }

    async fn records(
        &self,
        endpoint: &AtsEndpoint,
        kind: RecordKind,
        cursor: &AtsCursor,
    ) -> Result<AtsPage<AtsRecord>, AtsError> {
        self.of(endpoint).records(endpoint, kind, cursor).await
    }
}
