//! The ATS sync function: every 20 minutes on the EventBridge schedule.

use std::process::ExitCode;

use textbridge_app::{App, sync};
use textbridge_lambda::{config, run_schedule};

#[tokio::main]
async fn main() -> ExitCode {
    run_schedule(|aws| async move { Ok(App::on_store(aws.store()?, config()?).shared()) }, sync::run_all).await
}
