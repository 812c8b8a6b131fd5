//! Structured JSON logs: one object per line, with the fields of every span it was
//! logged in (`spans`: the request's `request_id` and `route`, a queue message's
//! `message_id`, the `tenant` and `provider` once known, the use-case). Bodies,
//! full phone numbers and secrets are never logged.

use tracing_subscriber::{EnvFilter, fmt, prelude::*};

/// Installs the JSON log subscriber at `level` (e.g. `info`, or a full filter such
/// as `info,textbridge=debug`). Calling it twice is harmless.
pub fn init(level: &str) {
    let filter = EnvFilter::try_new(level).unwrap_or_else(|_| EnvFilter::new("info"));
    let json = fmt::layer().json().flatten_event(true).with_current_span(false).with_span_list(true);
    let _ = tracing_subscriber::registry().with(filter).with(json).try_init();
}
