//! A tiny Lambda function on `lambda_runtime`, for the Runtime API emulator's own
//! tests (`tests/runtime_api.rs`). The event says what to do:
//!
//! * `{"say": "…"}` answers `{"said": "…", "request_id": "…", "deadline_ms": …}`;
//! * `{"fail": "…"}` reports an error of type `HelloError` with that message;
//! * `{"sleep_ms": n}` sleeps `n` ms, then answers `{"slept_ms": n}`;
//! * `{"exit": code}` ends the process with that code mid-invocation.
//!
//! With `HELLO_FAIL_INIT` set, start-up fails and `lambda_runtime` reports it to
//! `/init/error` (through its SnapStart hook, the runtime's own init-error path).

use std::sync::Arc;
use std::time::{Duration, UNIX_EPOCH};

use lambda_runtime::{BoxFuture, Diagnostic, Error, LambdaEvent, Runtime, SnapStartResource, service_fn};
use serde_json::{Value, json};

/// The error the function reports for `{"fail": …}`.
#[derive(Debug)]
struct HelloError(String);

impl From<HelloError> for Diagnostic {
    fn from(error: HelloError) -> Self {
        Diagnostic { error_type: "HelloError".into(), error_message: error.0 }
    }
}

async fn handle(event: LambdaEvent<Value>) -> Result<Value, HelloError> {
    let (payload, context) = event.into_parts();
    println!("{}", json!({ "level": "INFO", "message": "invoked", "request_id": context.request_id }));
    if let Some(message) = payload["fail"].as_str() {
        return Err(HelloError(message.to_owned()));
    }
    if let Some(ms) = payload["sleep_ms"].as_u64() {
        tokio::time::sleep(Duration::from_millis(ms)).await;
        return Ok(json!({ "slept_ms": ms }));
    }
    if let Some(code) = payload["exit"].as_i64() {
        std::process::exit(i32::try_from(code).unwrap_or(1));
    }
    let deadline_ms = context.deadline().duration_since(UNIX_EPOCH).map(|d| d.as_millis()).unwrap_or_default();
    Ok(json!({
        "said": payload["say"],
        "request_id": context.request_id,
        "deadline_ms": u64::try_from(deadline_ms).unwrap_or(u64::MAX),
        "function_arn": context.invoked_function_arn,
        "trace_id": context.xray_trace_id,
    }))
}

/// Fails start-up (see the module documentation).
struct FailingInit;

impl SnapStartResource for FailingInit {
    fn before_snapshot(&self) -> BoxFuture<'_, Result<(), Error>> {
        Box::pin(async { Err("HELLO_FAIL_INIT is set: refusing to start".into()) })
    }
}

#[tokio::main]
async fn main() -> Result<(), Error> {
    let runtime = Runtime::new(service_fn(handle));
    if std::env::var_os("HELLO_FAIL_INIT").is_some() {
        return runtime.register_snapstart_resource(Arc::new(FailingInit)).run().await;
    }
    runtime.run().await
}
