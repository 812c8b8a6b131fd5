//! Lambda start-up, written once. A function's `main` builds only the ports it uses
//! ([`Aws::store`], [`Aws::queue`], [`Aws::secrets`], [`providers`], [`ats`]) and
//! hands its router or handler to [`run_http`], [`run_sqs`] or [`run_schedule`].
//! Clients are built once per cold start and reused across invokes; nothing is
//! fetched before the first invocation.
//!
//! A start-up failure (a missing or wrong setting) is reported to the Runtime API's
//! `/runtime/init/error` as `{"errorType": "Runtime.ConfigError", "errorMessage": …}`
//! and as one JSON log line, and the process exits non-zero. A failed invocation of
//! an SQS or scheduled function reports a short type (`Unavailable`, `Internal`, …)
//! and a plain message; the detail goes to the log only.

mod identity;

mod startup;

use std::{env, future::Future, process::ExitCode, sync::Arc, time::Instant};

use aws_lambda_events::event::{
    eventbridge::EventBridgeEvent,
    sqs::{BatchItemFailure, SqsBatchResponse, SqsEvent},
};
use axum::{Router, extract::Request, middleware::Next, response::Response};
use lambda_runtime::{Context, LambdaEvent, service_fn};
use textbridge_app::{
    Config,
    ports::{Ats, AtsDirectory, ItemStore, Providers, Queue, Secrets, Uploads},
    worker::{MessageHandler, handle_batch},
};
use textbridge_domain::{Error, Region};

pub use identity::{ApiGatewayJwt, upstream};
pub use startup::{HandlerError, StartupError, log_level};

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
/// change made by another function may take to reach a warm one's caches).
pub fn config() -> Result<Config, Error> {
    let default_region = match var("DEFAULT_COUNTRY") {
        Some(code) => Region::parse(&code).map_err(|e| Error::invalid("DEFAULT_COUNTRY", e))?,
        None => Region::US,
    };
    let public_base_url = textbridge_app::public_base_url(&required("PUBLIC_BASE_URL")?)?;
    let mut config = Config { default_region, public_base_url, ..Config::default() };
    if let Some(timeout) = seconds("VISIBILITY_TIMEOUT_SECS", textbridge_app::VISIBILITY_TIMEOUT_SECS)? {
        config.visibility_timeout = timeout;
    }
    if let Some(ttl) = seconds("CACHE_TTL_SECS", textbridge_app::CACHE_TTL_SECS)? {
        config.cache_ttl = ttl;
    }
    Ok(config)
}

/// An optional setting of whole seconds within `range`.
fn seconds(name: &str, range: std::ops::RangeInclusive<u64>) -> Result<Option<std::time::Duration>, Error> {
    let Some(value) = var(name) else { return Ok(None) };
    let secs = value.trim().parse().ok().filter(|s| range.contains(s)).ok_or_else(|| {
        Error::invalid(name, format!("must be a number of seconds, {} to {}", range.start(), range.end()))
    })?;
    Ok(Some(std::time::Duration::from_secs(secs)))
}

/// The AWS SDK configuration of this function, from which each port is built.
pub struct Aws {
    sdk: textbridge_aws::aws_config::SdkConfig,
}

impl Aws {
    /// Reads the SDK configuration (region, the execution role's credentials,
    /// endpoint) from the variables Lambda sets
    /// ([`textbridge_aws::sdk_config_from_env`]); no file read, no network call.
    pub fn load() -> Result<Self, Error> {
        let sdk = textbridge_aws::sdk_config_from_env(|name| env::var(name).ok())
            .map_err(|e| Error::invalid(e.variable, "is required"))?;
        Ok(Self { sdk })
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

    /// The upload place for large import files: the S3 bucket `IMPORTS_BUCKET`.
    pub fn uploads(&self) -> Result<Arc<dyn Uploads>, Error> {
        Ok(Arc::new(textbridge_aws::S3Uploads::new(&self.sdk, required("IMPORTS_BUCKET")?)))
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

/// The connector of Textbridge's ATS directory contract (the sync reads each
/// tenant's ATS through it).
pub fn directory() -> Arc<dyn AtsDirectory> {
    Arc::new(textbridge_ats::Directory::default())
}

/// The ATS archived texts are written back to, when `TEMPWORKS_BASE_URL` is set;
/// each tenant's token is read from `secrets`.
pub fn ats(secrets: Arc<dyn Secrets>) -> Result<Option<Arc<dyn Ats>>, Error> {
    Ok(textbridge_ats::TempWorks::from_env(secrets)?.map(|t| Arc::new(t) as Arc<dyn Ats>))
}

/// Reads `LOG_LEVEL` (default `info`), installs the JSON log subscriber and builds
/// the function with `build`; a failure of either is reported (see the crate
/// documentation) and ends the process's start-up.
async fn start<T, F, Fut>(build: F) -> Result<T, ExitCode>
where
    F: FnOnce(Aws) -> Fut,
    Fut: Future<Output = Result<T, Error>>,
{
    let level = log_level(var("LOG_LEVEL").as_deref());
    textbridge_telemetry::init(level.as_deref().unwrap_or("info"));
    let built = match level {
        Ok(_) => match Aws::load() {
            Ok(aws) => build(aws).await,
            Err(e) => Err(e),
        },
        Err(e) => Err(e),
    };
    match built {
        Ok(built) => Ok(built),
        Err(e) => {
            StartupError::from(&e).report(var("AWS_LAMBDA_RUNTIME_API").as_deref());
            Err(ExitCode::FAILURE)
        }
    }
}

/// Starts reading the phone-number metadata on a thread of its own (once per
/// process), for a function whose invocations reach their first number only after
/// their first calls out (intake's webhooks, the ATS sync), so the reading overlaps
/// them. Start-up does not start it (a thread started there doubled the time to the
/// first `next`), nor do the other functions: where a request parses a number at once
/// (records, the archiver) it gains nothing, and where the first requests parse none
/// (the credential and user listings) the thread took 2–3 ms of CPU from them
/// (`first_invocation` bench).
fn warm_up_phone_numbers() {
    static STARTED: std::sync::Once = std::sync::Once::new();
    STARTED.call_once(|| {
        std::thread::spawn(textbridge_domain::E164::warm_up);
    });
}

/// `router`, starting the phone-number metadata's reading with the first request
/// ([`warm_up_phone_numbers`]): for intake.
pub fn warming_phone_numbers(router: Router) -> Router {
    router.layer(axum::middleware::map_request(|request: Request| async {
        warm_up_phone_numbers();
        request
    }))
}

/// The process's exit once the runtime loop ends (it only ends when the Runtime API
/// fails).
fn finished(result: Result<(), lambda_runtime::Error>) -> ExitCode {
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            tracing::error!(error = %e, "the Lambda Runtime API failed");
            ExitCode::FAILURE
        }
    }
}

/// Runs an HTTP function behind API Gateway: `build` makes its router from the
/// ports it builds; identity comes from the JWT authorizer's claims.
pub async fn run_http<F, Fut>(build: F) -> ExitCode
where
    F: FnOnce(Aws) -> Fut,
    Fut: Future<Output = Result<Router, Error>>,
{
    let router = match start(build).await {
        Ok(router) => router,
        Err(code) => return code,
    };
    finished(lambda_http::run(as_deployed(router)).await)
}

/// A function's router as API Gateway invokes it: the finishing layers, identity
/// from the JWT authorizer's claims, API Gateway's request id and source address,
/// and the invocation's deadline for the use-cases that budget their calls.
pub fn as_deployed(router: Router) -> Router {
    textbridge_api::finish(router, Arc::new(ApiGatewayJwt))
        .layer(axum::middleware::map_request(upstream))
        .layer(axum::middleware::from_fn(within_deadline))
}

/// Middleware: runs the request within the invocation's deadline (from the Lambda
/// context), so provider calls end in time for the function to answer.
pub async fn within_deadline(request: Request, next: Next) -> Response {
    match request.extensions().get::<Context>().and_then(invocation_deadline) {
        Some(deadline) => textbridge_app::deadline::with_deadline(deadline, next.run(request)).await,
        None => next.run(request).await,
    }
}

/// The invocation's deadline as an [`Instant`]; `None` when the context has none.
pub fn invocation_deadline(context: &Context) -> Option<Instant> {
    if context.deadline == 0 {
        return None;
    }
    let left = context.deadline().duration_since(std::time::SystemTime::now()).unwrap_or_default();
    Some(Instant::now() + left)
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
pub async fn run_sqs<F, Fut>(build: F) -> ExitCode
where
    F: FnOnce(Aws) -> Fut,
    Fut: Future<Output = Result<Arc<dyn MessageHandler>, Error>>,
{
    let handler = match start(build).await {
        Ok(handler) => handler,
        Err(code) => return code,
    };
    finished(
        lambda_runtime::run(service_fn(move |event: LambdaEvent<SqsEvent>| {
            let handler = handler.clone();
            async move { Ok::<_, HandlerError>(sqs_batch(handler.as_ref(), &event.payload).await) }
        }))
        .await,
    )
}

/// Runs a scheduled function: `job` once per EventBridge event; its report is the
/// invocation's result, its failure a [`HandlerError`].
pub async fn run_schedule<S, F, Fut, R, B, BFut>(build: B, job: F) -> ExitCode
where
    B: FnOnce(Aws) -> BFut,
    BFut: Future<Output = Result<S, Error>>,
    S: Clone + Send + Sync + 'static,
    F: Fn(S) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = Result<R, Error>> + Send,
    R: serde::Serialize,
{
    let state = match start(build).await {
        Ok(state) => state,
        Err(code) => return code,
    };
    let job = Arc::new(job);
    finished(
        lambda_runtime::run(service_fn(move |event: LambdaEvent<EventBridgeEvent>| {
            warm_up_phone_numbers(); // the job reads the ATS before its numbers
            let (state, job) = (state.clone(), job.clone());
            async move {
                let request_id = event.context.request_id;
                let report = job(state).await.map_err(|e| HandlerError::new(&e, &request_id))?;
                serde_json::to_value(report).map_err(|e| HandlerError::new(&Error::unexpected(e), &request_id))
            }
        }))
        .await,
    )
}
