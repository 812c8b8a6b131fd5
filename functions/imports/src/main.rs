//! The imports function: store, the S3 bucket large import files are uploaded to, and
//! the intake queue that applies user imports (the archiver runs them). Its file
//! readers and the report's writer are kept out of the users function.

use std::process::ExitCode;

use textbridge_app::App;
use textbridge_lambda::{config, run_http};

#[tokio::main]
async fn main() -> ExitCode {
    run_http(|aws| async move {
        let app = App::on_store(aws.store()?, config()?).with_queue(aws.queue()?).with_uploads(aws.uploads()?);
        Ok(textbridge_api::imports::router(app.shared()))
    })
    .await
}
