//! Lambda entry points. Every function's `main` is one call into this crate, so
//! start-up (logs, configuration, AWS clients built once and reused across invokes)
//! is written once.

use std::{env, future::Future, sync::Arc};

use aws_lambda_events::event::{
    eventbridge::EventBridgeEvent,
    sqs::{BatchItemFailure, SqsBatchResponse, SqsEvent},
};
use axum::Router;
use lambda_runtime::{LambdaEvent, service_fn};
use textbridge_app::{
    App, Config,
    auth::Authenticator,
    ports::Ats,
    worker::{MessageHandler, handle_batch},
};
use textbridge_domain::{Error, Region};

/// Error type of the entry points.
pub type LambdaError = lambda_runtime::Error;

/// Reads an optional environment variable, treating empty as unset.
fn var(name: &str) -> Option<String> {
    env::var(name).ok().filter(|v| !v.trim().is_empty())
}

/// The app settings from the environment: `DEFAULT_COUNTRY` (default `US`) and
/// `PUBLIC_BASE_URL` (required: providers post webhooks there).
pub fn config_from_env() -> Result<Config, Error> {
    let default_region = match var("DEFAULT_COUNTRY") {
        Some(code) => Region::parse(&code).map_err(|e| Error::invalid("DEFAULT_COUNTRY", e))?,
        None => Region::US,
    };
    let public_base_url = var("PUBLIC_BASE_URL").ok_or_else(|| Error::invalid("PUBLIC_BASE_URL", "is required"))?;
    let public_base_url = textbridge_app::public_base_url(&public_base_url)?;
    Ok(Config { default_region, public_base_url, ..Config::default() })
}

/// Start-up shared by every function: JSON logs at `LOG_LEVEL`, configuration and
/// the AWS backend from the environment; identity from the API Gateway JWT authorizer.
pub async fn init() -> Result<Arc<App>, LambdaError> {
    textbridge_app::telemetry::init(&var("LOG_LEVEL").unwrap_or_else(|| "info".into()));
    let config = config_from_env()?;
    let aws = textbridge_aws::AwsConfig::from_env()?;
    let sdk = aws_config::load_defaults(aws_config::BehaviorVersion::latest()).await;
    let backend = textbridge_aws::backend(&sdk, &aws).await;
    let providers = textbridge_providers::registry(&textbridge_providers::Endpoints::from_env()?);
    let ats = textbridge_ats::TempWorks::from_env(backend.secrets.clone())?.map(|t| Arc::new(t) as Arc<dyn Ats>);
    Ok(App::with_ats(backend, Authenticator::ApiGatewayJwt, providers, config, ats))
}

/// Runs an HTTP function: the router `build` makes, behind API Gateway.
pub async fn run_http(build: fn(Arc<App>) -> Router) -> Result<(), LambdaError> {
    let app = init().await?;
    lambda_http::run(textbridge_app::http::finish(build(app))).await
}

/// Handles one SQS batch, reporting failed messages (`ReportBatchItemFailures`).
pub async fn sqs_batch(handler: &dyn MessageHandler, event: &SqsEvent) -> SqsBatchResponse {
    let mut failures: Vec<String> = Vec::new();
    let mut messages = Vec::new();
    for record in &event.records {
        match (&record.message_id, &record.body) {
            (Some(id), Some(body)) => messages.push((id.as_str(), body.as_str())),
            (Some(id), None) => failures.push(id.clone()),
            (None, _) => tracing::error!("SQS record without a message id"),
        }
    }
    failures.extend(handle_batch(handler, messages).await);
    let mut response = SqsBatchResponse::default();
    response.batch_item_failures = failures
        .into_iter()
        .map(|id| {
            let mut failure = BatchItemFailure::default();
            failure.item_identifier = id;
            failure
        })
        .collect();
    response
}

/// Runs an SQS-triggered function with the handler `make` builds.
pub async fn run_sqs(make: fn(Arc<App>) -> Arc<dyn MessageHandler>) -> Result<(), LambdaError> {
    let handler = make(init().await?);
    lambda_runtime::run(service_fn(move |event: LambdaEvent<SqsEvent>| {
        let handler = handler.clone();
        async move { Ok::<_, LambdaError>(sqs_batch(handler.as_ref(), &event.payload).await) }
    }))
    .await
}

/// Runs a scheduled function: `job` once per EventBridge event; its report is the
/// invocation's result.
pub async fn run_schedule<F, Fut, R>(job: F) -> Result<(), LambdaError>
where
    F: Fn(Arc<App>) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = Result<R, Error>> + Send,
    R: serde::Serialize,
{
    let app = init().await?;
    let job = Arc::new(job);
    lambda_runtime::run(service_fn(move |_event: LambdaEvent<EventBridgeEvent>| {
        let (app, job) = (app.clone(), job.clone());
        async move { Ok::<_, LambdaError>(serde_json::to_value(job(app).await?)?) }
    }))
    .await
}
