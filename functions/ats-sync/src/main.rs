//! The ATS sync function: every 20 minutes on the EventBridge schedule. Store,
//! intake queue (re-matched and resumed texts), secrets (each tenant's ATS token)
//! and the ATS directory connector.

use std::process::ExitCode;

use textbridge_app::{App, sync};
use textbridge_lambda::{config, directory, run_schedule};

#[tokio::main]
async fn main() -> ExitCode {
    run_schedule(
        |aws| async move {
            Ok(App::on_store(aws.store()?, config()?)
                .with_queue(aws.queue()?)
                .with_secrets(aws.secrets()?)
                .with_directory(directory())
                .shared())
        },
        sync::run_all,
    )
    .await
}
