//! The credentials function's Lambda entry point.

#[tokio::main]
async fn main() -> Result<(), textbridge_lambda::LambdaError> {
    textbridge_lambda::run_http(credentials::router).await
}
