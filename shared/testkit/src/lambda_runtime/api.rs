//! The Lambda Runtime API (version 2018-06-01) served on a loopback port.
//!
//! The contract, as AWS documents it (OpenAPI `runtime-api.zip`) and the Rust runtime
//! (`lambda_runtime`) speaks it:
//!
//! * `GET /2018-06-01/runtime/invocation/next` blocks until an event is queued, then
//!   answers `200` with the event as the body and the headers
//!   `Lambda-Runtime-Aws-Request-Id`, `Lambda-Runtime-Deadline-Ms` (Unix milliseconds),
//!   `Lambda-Runtime-Invoked-Function-Arn` and `Lambda-Runtime-Trace-Id`.
//! * `POST /2018-06-01/runtime/invocation/{id}/response` answers `202 {"status":"OK"}`;
//!   an unknown id is `400`, an invocation already answered `403`, a body above the
//!   6 MB synchronous payload limit `413`.
//! * `POST /2018-06-01/runtime/invocation/{id}/error` carries the header
//!   `Lambda-Runtime-Function-Error-Type` and the body `{errorMessage, errorType,
//!   stackTrace?}`; when the body cannot be read, the header value is the error type.
//!   Same answers as `/response`.
//! * `POST /2018-06-01/runtime/init/error` (same header and body) records why start-up
//!   failed: `202`, or `403` if the runtime already asked for an event or reported an
//!   init error before.
//!
//! Error answers have the body `{"errorMessage", "errorType"}`. One [`RuntimeApi`] is
//! one execution environment: [`super::Function`] starts a fresh one for every
//! process it spawns, so a request still open from a killed process can never take
//! the next process's event.

use std::collections::{HashMap, HashSet, VecDeque};
use std::net::{Ipv4Addr, SocketAddr};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::{Path, Request, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use serde_json::{Value, json};
use tokio::sync::{Notify, oneshot};

/// The largest response or error body the API accepts: Lambda's 6 MB limit for
/// synchronous invocations.
pub const MAX_PAYLOAD_BYTES: usize = 6 * 1024 * 1024;

/// The header that carries a runtime's own classification of an error.
pub const ERROR_TYPE_HEADER: &str = "Lambda-Runtime-Function-Error-Type";

/// What a function reported instead of a response: the body of `/error` or
/// `/init/error`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FunctionError {
    /// `errorType` from the body (the `Lambda-Runtime-Function-Error-Type` header
    /// when the body has none).
    pub error_type: String,
    /// `errorMessage` from the body (empty when it has none).
    pub message: String,
    /// The `Lambda-Runtime-Function-Error-Type` header as sent, if any.
    pub header: Option<String>,
}

impl FunctionError {
    /// Reads an error report the way Lambda does: the JSON body first, the header as
    /// the fallback type.
    fn from_report(headers: &HeaderMap, body: &[u8]) -> Self {
        let header = headers.get(ERROR_TYPE_HEADER).and_then(|v| v.to_str().ok()).map(str::to_owned);
        let parsed: Option<Value> = serde_json::from_slice(body).ok();
        let field = |name: &str| parsed.as_ref().and_then(|v| v[name].as_str()).map(str::to_owned);
        Self {
            error_type: field("errorType").or_else(|| header.clone()).unwrap_or_default(),
            message: field("errorMessage").unwrap_or_default(),
            header,
        }
    }
}

/// How an invocation ended, as the runtime reported it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Reply {
    /// The body posted to `/response`.
    Response(Bytes),
    /// The report posted to `/error`.
    Error(FunctionError),
}

/// An event waiting for `/next`.
struct Queued {
    request_id: String,
    payload: Bytes,
    timeout: Duration,
    /// Told the moment `/next` hands the event out (the invocation's clock starts).
    started: oneshot::Sender<Instant>,
    reply: oneshot::Sender<Reply>,
}

#[derive(Default)]
struct Inner {
    queue: VecDeque<Queued>,
    in_flight: HashMap<String, oneshot::Sender<Reply>>,
    answered: HashSet<String>,
    first_next: Option<Instant>,
    init_error: Option<FunctionError>,
}

struct Shared {
    function_arn: String,
    inner: Mutex<Inner>,
    queued: Notify,
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, Inner> {
        // A panic while holding the lock leaves plain data behind; keep serving it.
        self.inner.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

/// A queued invocation: resolves when the runtime takes the event and when it answers.
#[derive(Debug)]
pub struct Submitted {
    /// The request id the runtime sees (`Lambda-Runtime-Aws-Request-Id`).
    pub request_id: String,
    /// Receives the instant `/next` handed the event out.
    pub started: oneshot::Receiver<Instant>,
    /// Receives the runtime's answer.
    pub reply: oneshot::Receiver<Reply>,
}

/// A running Runtime API server. Dropping it stops the server and abandons every
/// open request.
pub struct RuntimeApi {
    addr: SocketAddr,
    shared: Arc<Shared>,
    stop: Option<oneshot::Sender<()>>,
}

impl std::fmt::Debug for RuntimeApi {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RuntimeApi").field("addr", &self.addr).finish_non_exhaustive()
    }
}

impl RuntimeApi {
    /// Starts the server on a free loopback port, on a thread of its own. Events carry
    /// `function_arn` as `Lambda-Runtime-Invoked-Function-Arn`.
    pub fn start(function_arn: &str) -> std::io::Result<Self> {
        let listener = std::net::TcpListener::bind((Ipv4Addr::LOCALHOST, 0))?;
        listener.set_nonblocking(true)?;
        let addr = listener.local_addr()?;
        let shared = Arc::new(Shared {
            function_arn: function_arn.to_owned(),
            inner: Mutex::new(Inner::default()),
            queued: Notify::new(),
        });
        let (stop, stopped) = oneshot::channel::<()>();
        let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
        let app = router(shared.clone());
        std::thread::Builder::new().name(format!("lambda-runtime-api-{}", addr.port())).spawn(move || {
            runtime.block_on(async move {
                let Ok(listener) = tokio::net::TcpListener::from_std(listener) else { return };
                tokio::select! {
                    _ = axum::serve(listener, app) => {}
                    _ = stopped => {}
                }
            });
            // Dropping the runtime here cancels every connection still open.
        })?;
        Ok(Self { addr, shared, stop: Some(stop) })
    }

    /// `host:port`, the value of `AWS_LAMBDA_RUNTIME_API`.
    pub fn host_port(&self) -> String {
        self.addr.to_string()
    }

    /// Queues `payload` for the runtime's next `/next`; its deadline is `timeout` after
    /// the moment it is handed out.
    pub fn submit(&self, payload: Bytes, timeout: Duration) -> Submitted {
        let request_id = uuid::Uuid::new_v4().to_string();
        let (started_tx, started) = oneshot::channel();
        let (reply_tx, reply) = oneshot::channel();
        self.shared.lock().queue.push_back(Queued {
            request_id: request_id.clone(),
            payload,
            timeout,
            started: started_tx,
            reply: reply_tx,
        });
        self.shared.queued.notify_one();
        Submitted { request_id, started, reply }
    }

    /// When the runtime first called `/next`: the end of its initialisation.
    pub fn first_next(&self) -> Option<Instant> {
        self.shared.lock().first_next
    }

    /// What the runtime posted to `/init/error`, if it did.
    pub fn init_error(&self) -> Option<FunctionError> {
        self.shared.lock().init_error.clone()
    }
}

impl Drop for RuntimeApi {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
    }
}

fn router(shared: Arc<Shared>) -> Router {
    Router::new()
        .route("/2018-06-01/runtime/invocation/next", get(next))
        .route("/2018-06-01/runtime/invocation/{id}/response", post(response))
        .route("/2018-06-01/runtime/invocation/{id}/error", post(error))
        .route("/2018-06-01/runtime/init/error", post(init_error))
        .with_state(shared)
}

/// An error answer in the Runtime API's shape.
fn refuse(status: StatusCode, error_type: &str, message: &str) -> Response {
    (status, axum::Json(json!({ "errorMessage": message, "errorType": error_type }))).into_response()
}

fn accepted() -> Response {
    (StatusCode::ACCEPTED, axum::Json(json!({ "status": "OK" }))).into_response()
}

fn epoch_millis(at: SystemTime) -> u128 {
    at.duration_since(UNIX_EPOCH).map(|d| d.as_millis()).unwrap_or_default()
}

/// A trace header in X-Ray's format, unique per invocation.
fn trace_id() -> String {
    let now = SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or_default();
    let random = uuid::Uuid::new_v4().simple().to_string();
    format!("Root=1-{now:08x}-{};Parent={};Sampled=0", &random[..24], &random[16..32])
}

async fn next(State(shared): State<Arc<Shared>>) -> Response {
    loop {
        let notified = shared.queued.notified();
        {
            let mut inner = shared.lock();
            if inner.first_next.is_none() {
                inner.first_next = Some(Instant::now());
            }
            while let Some(event) = inner.queue.pop_front() {
                if event.reply.is_closed() {
                    continue; // the caller stopped waiting before the runtime asked
                }
                let now = Instant::now();
                let deadline = SystemTime::now() + event.timeout;
                let _ = event.started.send(now);
                inner.in_flight.insert(event.request_id.clone(), event.reply);
                let mut response = Response::new(Body::from(event.payload));
                let headers = response.headers_mut();
                let mut set = |name: &'static str, value: String| {
                    if let Ok(value) = HeaderValue::from_str(&value) {
                        headers.insert(name, value);
                    }
                };
                set("content-type", "application/json".into());
                set("lambda-runtime-aws-request-id", event.request_id);
                set("lambda-runtime-deadline-ms", epoch_millis(deadline).to_string());
                set("lambda-runtime-invoked-function-arn", shared.function_arn.clone());
                set("lambda-runtime-trace-id", trace_id());
                return response;
            }
        }
        // Long poll: Lambda freezes the runtime here until an event arrives. The server
        // stops (and this request with it) when the environment is torn down.
        notified.await;
    }
}

/// Reads a body up to the payload limit; `None` when it is larger.
async fn read_body(request: Request) -> Option<(HeaderMap, Bytes)> {
    let (parts, body) = request.into_parts();
    let bytes = axum::body::to_bytes(body, MAX_PAYLOAD_BYTES).await.ok()?;
    Some((parts.headers, bytes))
}

fn complete(shared: &Shared, id: &str, reply: Reply) -> Response {
    let mut inner = shared.lock();
    match inner.in_flight.remove(id) {
        Some(waiter) => {
            inner.answered.insert(id.to_owned());
            let _ = waiter.send(reply);
            accepted()
        }
        None if inner.answered.contains(id) => refuse(
            StatusCode::FORBIDDEN,
            "InvalidStateTransition",
            &format!("invocation {id} has already been answered"),
        ),
        None => refuse(StatusCode::BAD_REQUEST, "InvalidRequestID", &format!("no invocation {id} is in progress")),
    }
}

fn too_large() -> Response {
    refuse(
        StatusCode::PAYLOAD_TOO_LARGE,
        "RequestEntityTooLarge",
        &format!("the payload exceeds the limit of {MAX_PAYLOAD_BYTES} bytes"),
    )
}

async fn response(State(shared): State<Arc<Shared>>, Path(id): Path<String>, request: Request) -> Response {
    match read_body(request).await {
        Some((_, body)) => complete(&shared, &id, Reply::Response(body)),
        None => too_large(),
    }
}

async fn error(State(shared): State<Arc<Shared>>, Path(id): Path<String>, request: Request) -> Response {
    match read_body(request).await {
        Some((headers, body)) => complete(&shared, &id, Reply::Error(FunctionError::from_report(&headers, &body))),
        None => too_large(),
    }
}

async fn init_error(State(shared): State<Arc<Shared>>, request: Request) -> Response {
    let Some((headers, body)) = read_body(request).await else { return too_large() };
    let mut inner = shared.lock();
    if inner.init_error.is_some() || inner.first_next.is_some() {
        return refuse(StatusCode::FORBIDDEN, "InvalidStateTransition", "initialisation has already ended");
    }
    inner.init_error = Some(FunctionError::from_report(&headers, &body));
    accepted()
}
