//! The archiver function: store, the ATS (with its tokens in the secret store), the
//! SQS trigger with `ReportBatchItemFailures`, and — for the recipients of mass texts
//! — the providers with the credentials' secrets and the intake queue (sent texts to
//! archive, throttled recipients queued again). It also applies user imports, one
//! time slice per message.

use std::{process::ExitCode, sync::Arc};

use textbridge_app::{App, archive::Archiver};
use textbridge_lambda::{ats, config, providers, run_sqs};

#[tokio::main]
async fn main() -> ExitCode {
    run_sqs(|aws| async move {
        let secrets = aws.secrets()?;
        let app = App::on_store(aws.store()?, config()?)
            .with_ats(ats(secrets.clone())?)
            .with_queue(aws.queue()?)
            .with_secrets(secrets)
            .with_providers(providers()?);
        Ok(Arc::new(Archiver::new(app.shared())) as _)
    })
    .await
}
