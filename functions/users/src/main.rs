//! The users function: store only.

use std::process::ExitCode;

use textbridge_app::App;
use textbridge_lambda::{config, run_http};

#[tokio::main]
async fn main() -> ExitCode {
    run_http(|aws| async move {
        let app = App::on_store(aws.store()?, config()?);
        Ok(textbridge_api::users::router(app.shared()))
    })
    .await
}
