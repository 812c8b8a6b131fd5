//! The ATS sync function: every 20 minutes (EventBridge schedule; locally, a timer in
//! `textbridge serve`).

pub use textbridge_app::sync::{SyncReport, run_all as run};
