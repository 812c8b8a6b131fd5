//! The records function: store and the intake queue (re-matching unmatched texts,
//! dead-letter replay).

use textbridge_app::App;
use textbridge_lambda::{LambdaError, config, run_http};

#[tokio::main]
async fn main() -> Result<(), LambdaError> {
    run_http(|aws| async move {
        let app = App::on_store(aws.store()?, config()?).with_queue(aws.queue()?);
        Ok(textbridge_api::records::router(app.shared()))
    })
    .await
}
