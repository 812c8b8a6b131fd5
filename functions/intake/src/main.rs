//! The intake function (public): reads the registration and the tenant's provider
//! secrets, verifies and parses the webhook, sends it to the intake queue.

use std::process::ExitCode;

use textbridge_app::App;
use textbridge_lambda::{config, providers, run_http, warming_phone_numbers};

#[tokio::main]
async fn main() -> ExitCode {
    run_http(|aws| async move {
        let app = App::on_store(aws.store()?, config()?)
            .with_secrets(aws.secrets()?)
            .with_queue(aws.queue()?)
            .with_providers(providers()?);
        Ok(warming_phone_numbers(textbridge_api::intake::router(app.shared())))
    })
    .await
}
