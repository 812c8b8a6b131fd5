//! The archiver function: store, the ATS (with its tokens in the secret store) and
//! the SQS trigger with `ReportBatchItemFailures`.

use std::{process::ExitCode, sync::Arc};

use textbridge_app::{App, archive::Archiver};
use textbridge_lambda::{ats, config, run_sqs};

#[tokio::main]
async fn main() -> ExitCode {
    run_sqs(|aws| async move {
        let app = App::on_store(aws.store()?, config()?).with_ats(ats(aws.secrets()?)?);
        Ok(Arc::new(Archiver::new(app.shared())) as _)
    })
    .await
}
