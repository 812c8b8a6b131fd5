//! Counters for operators (SPEC S6): each count is one log event on [`TARGET`],
//! which the log subscriber (`textbridge-telemetry`) writes as a CloudWatch Embedded
//! Metric Format line, so CloudWatch keeps it as a metric of the namespace
//! `Textbridge` (and alarms can watch it).

/// The log target of metric events.
pub const TARGET: &str = "textbridge::metrics";

/// What is counted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Metric {
    /// Webhook calls authenticated and queued.
    WebhooksAccepted,
    /// Webhook calls refused (unknown, unauthenticated, malformed).
    WebhooksRejected,
    /// Texts archived on a record (first reports).
    TextsArchived,
    /// Texts whose number matches no record, kept as unmatched.
    TextsUnmatched,
    /// Queue messages whose handling failed (retried, then dead-lettered).
    MessagesFailed,
    /// Users and records the ATS sync wrote.
    SyncWrites,
    /// Conflicts the ATS sync recorded.
    SyncConflicts,
    /// Tenants whose ATS sync run stopped early.
    SyncFailures,
    /// User-import rows applied.
    ImportRows,
}

impl Metric {
    /// The metric's name in CloudWatch.
    pub fn name(self) -> &'static str {
        match self {
            Self::WebhooksAccepted => "WebhooksAccepted",
            Self::WebhooksRejected => "WebhooksRejected",
            Self::TextsArchived => "TextsArchived",
            Self::TextsUnmatched => "TextsUnmatched",
            Self::MessagesFailed => "MessagesFailed",
            Self::SyncWrites => "SyncWrites",
            Self::SyncConflicts => "SyncConflicts",
            Self::SyncFailures => "SyncFailures",
            Self::ImportRows => "ImportRows",
        }
    }
}

/// Counts `n` of `metric` (nothing when `n` is 0).
pub fn count(metric: Metric, n: u64) {
    if n > 0 {
        tracing::info!(target: TARGET, metric = metric.name(), count = n);
    }
}
