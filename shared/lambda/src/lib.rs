//! Lambda start-up, written once. A function's `main` builds only the ports it uses
//! ([`Aws::store`], [`Aws::queue`], [`Aws::secrets`], [`providers`], [`ats`]) and
//! hands its router or handler to [`run_http`], [`run_sqs`] or [`run_schedule`].
//! Clients are built once per cold start and reused across invokes; nothing is
//! fetched before the first invocation.

mod identity;

use std::{env, future::Future, sync::Arc};

use aws_lambda_events::event::{
    eventbridge::EventBridgeEvent,
    sqs::{BatchItemFailure, SqsBatchResponse, SqsEvent},
};
use axum::Router;
use lambda_runtime::{LambdaEvent, service_fn};
use textbridge_app::{
    Config,
    ports::{Ats, ItemStore, Providers, Queue, Secrets},
    worker::{MessageHandler, handle_batch},
};
use textbridge_domain::{Error, Region};

pub use identity::{ApiGatewayJwt, upstream};

/// Error type of the entry points.
pub type LambdaError = lambda_runtime::Error;

/// Reads an optional environment variable, treating empty as unset.
fn var(name: &str) -> Option<String> {
    env::var(name).ok().filter(|v| !v.trim().is_empty())
}

/// Reads a required environment variable.
fn required(name: &str) -> Result<String, Error> {
    var(name).map(|v| v.trim().to_owned()).ok_or_else(|| Error::invalid(name, "is required"))
}

/// The app settings from the environment: `DEFAULT_COUNTRY` (default `US`),
/// `PUBLIC_BASE_URL` (required: providers post webhooks there) and
/// `VISIBILITY_TIMEOUT_SECS` (the intake queue's visibility timeout, which is how
/// long an archiver's claim on an ATS write lasts) and `CACHE_TTL_SECS` (how long a
/// warm function reuses a registration, allow-list, secret or username it read).
pub fn config() -> Result<Config, Error> {
    let default_region = match var("DEFAULT_COUNTRY") {
        Some(code) => Region::parse(&code).map_err(|e| Error::invalid("DEFAULT_COUNTRY", e))?,
        None => Region::US,
    };
    let public_base_url = textbridge_app::public_base_url(&required("PUBLIC_BASE_URL")?)?;
    let mut config = Config { default_region, public_base_url, ..Config::default() };
    if let Some(secs) = var("VISIBILITY_TIMEOUT_SECS") {
        let secs: u64 = secs
            .trim()
            .parse()
            .ok()
            .filter(|s| (1..=43_200).contains(s))
            .ok_or_else(|| Error::invalid("VISIBILITY_TIMEOUT_SECS", "must be a number of seconds, 1 to 43200"))?;
        config.visibility_timeout = std::time::Duration::from_secs(secs);
    }
    if let Some(secs) = var("CACHE_TTL_SECS") {
        let secs: u64 = secs
            .trim()
            .parse()
            .ok()
            .filter(|s| *s <= 3600)
            .ok_or_else(|| Error::invalid("CACHE_TTL_SECS", "must be a number of seconds, 0 to 3600"))?;
        config.cache_ttl = std::time::Duration::from_secs(secs);
    }
    Ok(config)
}

/// The AWS SDK configuration of this function, from which each port is built.
pub struct Aws {
    sdk: textbridge_aws::aws_config::SdkConfig,
}

impl Aws {
    /// Reads the SDK configuration (region, credentials provider, endpoint) from the
    /// environment; no network call.
    pub async fn load() -> Self {
        let behavior = textbridge_aws::aws_config::BehaviorVersion::latest();
        Self { sdk: textbridge_aws::aws_config::load_defaults(behavior).await }
    }

    /// The item store: the DynamoDB table `TABLE_NAME`.
    pub fn store(&self) -> Result<Arc<dyn ItemStore>, Error> {
        let client = textbridge_aws::aws_sdk_dynamodb::Client::new(&self.sdk);
        Ok(Arc::new(textbridge_aws::DynamoStore::new(client, required("TABLE_NAME")?)))
    }

    /// The intake queue `INTAKE_QUEUE_URL` with its dead-letter queue `INTAKE_DLQ_URL`.
    pub fn queue(&self) -> Result<Arc<dyn Queue>, Error> {
        let client = textbridge_aws::aws_sdk_sqs::Client::new(&self.sdk);
        Ok(Arc::new(textbridge_aws::SqsQueue::new(client, required("INTAKE_QUEUE_URL")?, required("INTAKE_DLQ_URL")?)))
    }

    /// The secret store: Secrets Manager names under `SECRETS_PREFIX`.
    pub fn secrets(&self) -> Result<Arc<dyn Secrets>, Error> {
        let client = textbridge_aws::aws_sdk_secretsmanager::Client::new(&self.sdk);
        Ok(Arc::new(textbridge_aws::SecretsManagerStore::new(client, required("SECRETS_PREFIX")?)))
    }
}

/// The texting providers at their configured endpoints (`TEXTUS_BASE_URL`, …).
pub fn providers() -> Result<Providers, Error> {
    Ok(textbridge_providers::registry(&textbridge_providers::Endpoints::from_env()?))
}

/// The ATS archived texts are written back to, when `TEMPWORKS_BASE_URL` is set;
/// each tenant's token is read from `secrets`.
pub fn ats(secrets: Arc<dyn Secrets>) -> Result<Option<Arc<dyn Ats>>, Error> {
    Ok(textbridge_ats::TempWorks::from_env(secrets)?.map(|t| Arc::new(t) as Arc<dyn Ats>))
}

/// Logs at `LOG_LEVEL` (default `info`), as JSON lines.
fn init_logs() {
    textbridge_telemetry::init(&var("LOG_LEVEL").unwrap_or_else(|| "info".into()));
}

/// Runs an HTTP function behind API Gateway: `build` makes its router from the
/// ports it builds; identity comes from the JWT authorizer's claims.
pub async fn run_http<F, Fut>(build: F) -> Result<(), LambdaError>
where
    F: FnOnce(Aws) -> Fut,
    Fut: Future<Output = Result<Router, Error>>,
{
    init_logs();
    let router = build(Aws::load().await).await?;
    lambda_http::run(as_deployed(router)).await
}

/// A function's router as API Gateway invokes it: the finishing layers, identity
/// from the JWT authorizer's claims, API Gateway's request id and source address.
pub fn as_deployed(router: Router) -> Router {
    textbridge_api::finish(router, Arc::new(ApiGatewayJwt)).layer(axum::middleware::map_request(upstream))
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

/// Runs an SQS-triggered function with the handler `build` makes.
pub async fn run_sqs<F, Fut>(build: F) -> Result<(), LambdaError>
where
    F: FnOnce(Aws) -> Fut,
    Fut: Future<Output = Result<Arc<dyn MessageHandler>, Error>>,
{
    init_logs();
    let handler = build(Aws::load().await).await?;
    lambda_runtime::run(service_fn(move |event: LambdaEvent<SqsEvent>| {
        let handler = handler.clone();
        async move { Ok::<_, LambdaError>(sqs_batch(handler.as_ref(), &event.payload).await) }
    }))
    .await
}

/// Runs a scheduled function: `job` once per EventBridge event; its report is the
/// invocation's result.
pub async fn run_schedule<S, F, Fut, R, B, BFut>(build: B, job: F) -> Result<(), LambdaError>
where
    B: FnOnce(Aws) -> BFut,
    BFut: Future<Output = Result<S, Error>>,
    S: Clone + Send + Sync + 'static,
    F: Fn(S) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = Result<R, Error>> + Send,
    R: serde::Serialize,
{
    init_logs();
    let state = build(Aws::load().await).await?;
    let job = Arc::new(job);
    lambda_runtime::run(service_fn(move |_event: LambdaEvent<EventBridgeEvent>| {
        let (state, job) = (state.clone(), job.clone());
        async move { Ok::<_, LambdaError>(serde_json::to_value(job(state).await?)?) }
    }))
    .await
}
