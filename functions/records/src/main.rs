//! The records function: store, the intake queue (re-matching unmatched texts,
//! dead-letter replay, sent texts to archive), and the providers with the
//! credentials' secrets (sending).

use std::process::ExitCode;

use textbridge_app::App;
use textbridge_lambda::{config, providers, run_http};

#[tokio::main]
async fn main() -> ExitCode {
    run_http(|aws| async move {
        let app = App::on_store(aws.store()?, config()?)
            .with_queue(aws.queue()?)
            .with_secrets(aws.secrets()?)
            .with_providers(providers()?);
        Ok(textbridge_api::records::router(app.shared()))
    })
    .await
}
