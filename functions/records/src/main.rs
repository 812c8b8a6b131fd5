//! The records function: store and the intake queue (re-matching unmatched texts,
//! dead-letter replay).

use std::process::ExitCode;

use textbridge_app::App;
use textbridge_lambda::{config, run_http};

#[tokio::main]
async fn main() -> ExitCode {
    run_http(|aws| async move {
        let app = App::on_store(aws.store()?, config()?).with_queue(aws.queue()?);
        Ok(textbridge_api::records::router(app.shared()))
    })
    .await
}
