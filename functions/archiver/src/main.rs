//! The archiver function's Lambda entry point.

#[tokio::main]
async fn main() -> Result<(), textbridge_lambda::LambdaError> {
    textbridge_lambda::run_sqs(archiver::handler).await
}
