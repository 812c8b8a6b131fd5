//! The archiver function: consumes the intake queue in batches (SQS trigger with
//! `ReportBatchItemFailures`; locally, the worker loop of `textbridge serve`).

use std::sync::Arc;

use textbridge_app::{App, archive::Archiver, worker::MessageHandler};

/// The handler every queued message goes through.
pub fn handler(app: Arc<App>) -> Arc<dyn MessageHandler> {
    Arc::new(Archiver::new(app))
}
