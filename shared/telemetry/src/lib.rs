//! Structured JSON logs: one object per line, with the fields of every span it was
//! logged in (`spans`: the request's `request_id` and `route`, a queue message's
//! `message_id`, the `tenant` and `provider` once known, the use-case). Bodies,
//! full phone numbers and secrets are never logged.
//!
//! Metric events (target [`METRICS_TARGET`], fields `metric` and `count`) are written
//! instead as CloudWatch Embedded Metric Format lines: namespace `Textbridge`,
//! dimension `Service` (the Lambda function's name, or `textbridge` locally).

use std::{
    io::Write,
    sync::Mutex,
    time::{SystemTime, UNIX_EPOCH},
};

use serde_json::json;
use tracing::{Event, Subscriber, field::Field};
use tracing_subscriber::{
    Layer,
    filter::{Targets, filter_fn},
    fmt,
    layer::Context,
    prelude::*,
};

/// The log target of metric events (`textbridge_app::metrics` logs on it).
pub const METRICS_TARGET: &str = "textbridge::metrics";

/// The metrics' CloudWatch namespace.
pub const NAMESPACE: &str = "Textbridge";

/// Installs the JSON log subscriber at `level` (e.g. `info`, or per target such as
/// `info,textbridge_app=debug`; anything unreadable is `info`), and [`log_panic`] as
/// the panic hook. Calling it twice is harmless.
pub fn init(level: &str) {
    std::panic::set_hook(Box::new(log_panic));
    // Targets, not an `EnvFilter`: the latter's regex-based matchers would link a DFA
    // builder into every function for filters no setting uses.
    let filter = level.parse::<Targets>().unwrap_or_else(|_| Targets::new().with_default(tracing::Level::INFO));
    let json = fmt::layer()
        .json()
        .flatten_event(true)
        .with_current_span(false)
        .with_span_list(true)
        .with_filter(filter_fn(|m| m.target() != METRICS_TARGET));
    let service = std::env::var("AWS_LAMBDA_FUNCTION_NAME").unwrap_or_else(|_| "textbridge".to_owned());
    let emf = Emf::new(service, std::io::stdout());
    let _ = tracing_subscriber::registry().with(filter).with(json).with(emf).try_init();
}

/// Logs a panic as one JSON error line that says where in the code it happened, in
/// place of the standard hook's text, which quotes what the panic said (that may be
/// anything the code held: a body, a phone number, a secret).
pub fn log_panic(info: &std::panic::PanicHookInfo<'_>) {
    let location = info.location().map_or_else(|| "unknown".to_owned(), ToString::to_string);
    tracing::error!(location = %location, "panicked");
}

/// Writes metric events as Embedded Metric Format lines to `out`.
pub struct Emf<W> {
    service: String,
    out: Mutex<W>,
}

impl<W: Write> Emf<W> {
    /// Lines for the service `service`, written to `out`.
    pub fn new(service: String, out: W) -> Self {
        Self { service, out: Mutex::new(out) }
    }
}

#[derive(Default)]
struct MetricFields {
    metric: Option<String>,
    count: Option<u64>,
}

impl tracing::field::Visit for MetricFields {
    fn record_str(&mut self, field: &Field, value: &str) {
        if field.name() == "metric" {
            self.metric = Some(value.to_owned());
        }
    }

    fn record_u64(&mut self, field: &Field, value: u64) {
        if field.name() == "count" {
            self.count = Some(value);
        }
    }

    fn record_i64(&mut self, field: &Field, value: i64) {
        if field.name() == "count" {
            self.count = u64::try_from(value).ok();
        }
    }

    fn record_debug(&mut self, _field: &Field, _value: &dyn std::fmt::Debug) {}
}

impl<S: Subscriber, W: Write + 'static> Layer<S> for Emf<W> {
    fn on_event(&self, event: &Event<'_>, _ctx: Context<'_, S>) {
        if event.metadata().target() != METRICS_TARGET {
            return;
        }
        let mut fields = MetricFields::default();
        event.record(&mut fields);
        let (Some(name), Some(count)) = (fields.metric, fields.count) else { return };
        let millis = SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_millis());
        let line = json!({
            "_aws": {
                "Timestamp": u64::try_from(millis).unwrap_or(u64::MAX),
                "CloudWatchMetrics": [{
                    "Namespace": NAMESPACE,
                    "Dimensions": [["Service"]],
                    "Metrics": [{ "Name": name, "Unit": "Count" }],
                }],
            },
            "Service": self.service,
            name: count,
        });
        let mut out = self.out.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        let _ = writeln!(out, "{line}");
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;

    /// A buffer the layer writes to and the test reads.
    #[derive(Clone, Default)]
    struct Shared(Arc<Mutex<Vec<u8>>>);

    impl Write for Shared {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            self.0.lock().unwrap_or_else(std::sync::PoisonError::into_inner).extend_from_slice(buf);
            Ok(buf.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    #[test]
    fn a_panic_is_logged_with_where_it_happened_and_not_what_it_said() {
        let out = Shared::default();
        let writer = out.clone();
        let json = fmt::layer().json().flatten_event(true).with_writer(move || writer.clone());
        let previous = std::panic::take_hook();
        std::panic::set_hook(Box::new(log_panic));
        let caught = tracing::subscriber::with_default(tracing_subscriber::registry().with(json), || {
            std::panic::catch_unwind(|| panic!("password=hunter2 for +12065550123"))
        });
        std::panic::set_hook(previous);
        assert!(caught.is_err());
        let text = String::from_utf8(out.0.lock().map(|b| b.clone()).unwrap_or_default()).unwrap_or_default();
        assert!(!text.contains("hunter2") && !text.contains("5550123"), "{text}");
        let lines: Vec<serde_json::Value> = text.lines().filter_map(|l| serde_json::from_str(l).ok()).collect();
        assert_eq!(lines.len(), 1, "{text}");
        assert_eq!((&lines[0]["level"], &lines[0]["message"]), (&json!("ERROR"), &json!("panicked")));
        let location = lines[0]["location"].as_str().unwrap_or_default();
        assert!(location.starts_with(file!()) && location.contains(':'), "{location}");
    }

    #[test]
    fn metric_events_become_embedded_metric_format_lines() {
        let out = Shared::default();
        let subscriber = tracing_subscriber::registry().with(Emf::new("textbridge-prod-intake".into(), out.clone()));
        tracing::subscriber::with_default(subscriber, || {
            tracing::info!(target: METRICS_TARGET, metric = "WebhooksAccepted", count = 3_u64);
            tracing::info!(metric = "NotAMetric", count = 1_u64, "an ordinary event");
        });
        let text = String::from_utf8(out.0.lock().map(|b| b.clone()).unwrap_or_default()).unwrap_or_default();
        let lines: Vec<serde_json::Value> = text.lines().filter_map(|l| serde_json::from_str(l).ok()).collect();
        assert_eq!(lines.len(), 1, "{text}");
        let line = &lines[0];
        assert_eq!(line["WebhooksAccepted"], 3);
        assert_eq!(line["Service"], "textbridge-prod-intake");
        let spec = &line["_aws"]["CloudWatchMetrics"][0];
        assert_eq!(spec["Namespace"], NAMESPACE);
        assert_eq!(spec["Dimensions"], json!([["Service"]]));
        assert_eq!(spec["Metrics"], json!([{ "Name": "WebhooksAccepted", "Unit": "Count" }]));
        assert!(line["_aws"]["Timestamp"].as_u64().is_some_and(|t| t > 1_700_000_000_000));
    }
}
