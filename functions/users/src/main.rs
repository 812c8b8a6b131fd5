//! The users function: store, plus secrets and providers to remove a deleted user's
//! provider credentials, the intake queue that applies user imports and the S3
//! bucket large import files are uploaded to.

use std::process::ExitCode;

use textbridge_app::App;
use textbridge_lambda::{config, providers, run_http};

#[tokio::main]
async fn main() -> ExitCode {
    run_http(|aws| async move {
        let app = App::on_store(aws.store()?, config()?)
            .with_queue(aws.queue()?)
            .with_uploads(aws.uploads()?)
            .with_secrets(aws.secrets()?)
            .with_providers(providers()?);
        Ok(textbridge_api::users::router(app.shared()))
    })
    .await
}
