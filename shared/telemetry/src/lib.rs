//! Structured JSON logs (one object per line, with the request span's fields:
//! request id, tenant). Bodies and secrets are never logged.

use tracing_subscriber::{EnvFilter, fmt, prelude::*};

/// Installs the JSON log subscriber at `level` (e.g. `info`, or a full filter such
/// as `info,textbridge=debug`). Calling it twice is harmless.
pub fn init(level: &str) {
    let filter = EnvFilter::try_new(level).unwrap_or_else(|_| EnvFilter::new("info"));
    let json = fmt::layer().json().flatten_event(true).with_current_span(true).with_span_list(false);
    let _ = tracing_subscriber::registry().with(filter).with(json).try_init();
}
