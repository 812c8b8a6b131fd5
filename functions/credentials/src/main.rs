//! The credentials function: store, secrets, providers and the ATS directory
//! connector (to check a tenant's ATS connection).

use std::process::ExitCode;

use textbridge_app::App;
use textbridge_lambda::{config, directory, providers, run_http};

#[tokio::main]
async fn main() -> ExitCode {
    run_http(|aws| async move {
        let app = App::on_store(aws.store()?, config()?)
            .with_secrets(aws.secrets()?)
            .with_providers(providers()?)
            .with_directory(directory());
        Ok(textbridge_api::credentials::router(app.shared()))
    })
    .await
}
