//! The users function: store only.

use textbridge_app::App;
use textbridge_lambda::{LambdaError, config, run_http};

#[tokio::main]
async fn main() -> Result<(), LambdaError> {
    run_http(|aws| async move {
        let app = App::on_store(aws.store()?, config()?);
        Ok(textbridge_api::users::router(app.shared()))
    })
    .await
}
