//! The credentials function: store, secrets and providers.

use textbridge_app::App;
use textbridge_lambda::{LambdaError, config, providers, run_http};

#[tokio::main]
async fn main() -> Result<(), LambdaError> {
    run_http(|aws| async move {
        let app = App::on_store(aws.store()?, config()?).with_secrets(aws.secrets()?).with_providers(providers()?);
        Ok(textbridge_api::credentials::router(app.shared()))
    })
    .await
}
