//! Runs a Lambda `bootstrap` binary as Lambda does: one process per execution
//! environment, talking to its own [`RuntimeApi`], with the function timeout enforced
//! from the moment the event is handed out.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::body::Bytes;
use serde_json::Value;

use super::api::{FunctionError, Reply, RuntimeApi};

/// Lambda's limit on the initialisation phase of an on-demand function.
pub const DEFAULT_INIT_TIMEOUT: Duration = Duration::from_secs(10);
/// The account of every ARN the harness makes up (moto's default account).
pub const ACCOUNT_ID: &str = "123456789012";
/// How often a waiting invocation checks whether the process is still alive.
const POLL: Duration = Duration::from_millis(20);
/// Output lines kept per [`Function`]; older lines are dropped beyond this.
const MAX_LOG_LINES: usize = 20_000;

/// Access keys a function runs with (`AWS_ACCESS_KEY_ID`, `AWS_SECRET_ACCESS_KEY`).
#[derive(Clone, PartialEq, Eq)]
pub struct AccessKeys {
    /// The access key id.
    pub access_key_id: String,
    /// The secret access key.
    pub secret_access_key: String,
}

impl std::fmt::Debug for AccessKeys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AccessKeys").field("access_key_id", &self.access_key_id).finish_non_exhaustive()
    }
}

/// How an invocation ended.
#[derive(Debug, Clone, PartialEq)]
pub enum Outcome {
    /// The function's response (the JSON posted to `/response`).
    Response(Value),
    /// The function reported an error (`/error`), failed to start (its `/init/error`
    /// report), or its process exited mid-way (`Runtime.ExitError`).
    Error(FunctionError),
    /// The function did not answer within its timeout (or did not finish starting
    /// within the init timeout); its process was killed.
    TimedOut,
}

impl Outcome {
    /// The response, or a panic that names what happened instead.
    pub fn response(self) -> Value {
        match self {
            Outcome::Response(value) => value,
            other => panic!("expected a response, the invocation ended with {other:?}"),
        }
    }
}

/// Which output stream a log line came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stream {
    /// Standard output.
    Stdout,
    /// Standard error.
    Stderr,
}

/// One line the function wrote.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogLine {
    /// The cold start that wrote it: 1 for the first process, 2 after a restart, …
    pub process: usize,
    /// The stream it was written to.
    pub stream: Stream,
    /// The line, without its line break.
    pub text: String,
}

/// What to run and with which configuration; the builder of a [`Function`].
#[derive(Debug, Clone)]
pub struct FunctionSpec {
    bootstrap: PathBuf,
    name: String,
    memory_mb: u32,
    version: String,
    region: String,
    keys: AccessKeys,
    endpoint_url: Option<String>,
    env: Vec<(String, String)>,
    init_timeout: Duration,
}

impl FunctionSpec {
    /// Runs the binary at `bootstrap`, named after its folder (`…/users/bootstrap` is
    /// `users`), 128 MB, version `$LATEST`, region `us-east-1`, the keys `testing`,
    /// no endpoint override.
    pub fn new(bootstrap: impl Into<PathBuf>) -> Self {
        let bootstrap = bootstrap.into();
        let name = bootstrap
            .parent()
            .and_then(Path::file_name)
            .and_then(|n| n.to_str())
            .filter(|n| !n.is_empty())
            .unwrap_or("function")
            .to_owned();
        Self {
            bootstrap,
            name,
            memory_mb: 128,
            version: "$LATEST".into(),
            region: "us-east-1".into(),
            keys: AccessKeys { access_key_id: "testing".into(), secret_access_key: "testing".into() },
            endpoint_url: None,
            env: Vec::new(),
            init_timeout: DEFAULT_INIT_TIMEOUT,
        }
    }

    /// `AWS_LAMBDA_FUNCTION_NAME`.
    pub fn name(mut self, name: &str) -> Self {
        name.clone_into(&mut self.name);
        self
    }

    /// `AWS_LAMBDA_FUNCTION_MEMORY_SIZE`, in MB.
    pub fn memory_mb(mut self, memory_mb: u32) -> Self {
        self.memory_mb = memory_mb;
        self
    }

    /// `AWS_REGION` and `AWS_DEFAULT_REGION`.
    pub fn region(mut self, region: &str) -> Self {
        region.clone_into(&mut self.region);
        self
    }

    /// `AWS_ACCESS_KEY_ID` and `AWS_SECRET_ACCESS_KEY`.
    pub fn credentials(mut self, keys: AccessKeys) -> Self {
        self.keys = keys;
        self
    }

    /// `AWS_ENDPOINT_URL`: where the AWS SDK sends every call (e.g. moto).
    pub fn endpoint_url(mut self, url: &str) -> Self {
        self.endpoint_url = Some(url.to_owned());
        self
    }

    /// One more environment variable; set after the Lambda ones, so it can override them.
    pub fn env(mut self, name: &str, value: &str) -> Self {
        self.env.push((name.to_owned(), value.to_owned()));
        self
    }

    /// More environment variables, as [`FunctionSpec::env`].
    pub fn envs<K: AsRef<str>, V: AsRef<str>>(mut self, vars: impl IntoIterator<Item = (K, V)>) -> Self {
        self.env.extend(vars.into_iter().map(|(k, v)| (k.as_ref().to_owned(), v.as_ref().to_owned())));
        self
    }

    /// How long a process may take to ask for its first event (default 10 s).
    pub fn init_timeout(mut self, limit: Duration) -> Self {
        self.init_timeout = limit;
        self
    }

    /// The function's ARN, as `Lambda-Runtime-Invoked-Function-Arn` carries it.
    pub fn arn(&self) -> String {
        format!("arn:aws:lambda:{}:{ACCOUNT_ID}:function:{}", self.region, self.name)
    }

    /// Starts the function: its Runtime API and its first process.
    pub fn start(self) -> std::io::Result<Function> {
        Function::start(self)
    }
}

/// One execution environment: the API and the process that talks to it.
struct Environment {
    api: RuntimeApi,
    child: Child,
    spawned: Instant,
    /// The threads reading the process's standard output and error.
    readers: Vec<std::thread::JoinHandle<()>>,
}

impl Environment {
    /// Waits for the reader threads to reach the end of the exited process's output,
    /// so that every line it wrote is in the logs before its exit is reported.
    fn read_to_end(&mut self) {
        for reader in self.readers.drain(..) {
            let _ = reader.join();
        }
    }
}

impl Drop for Environment {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A Lambda function run from its `bootstrap`. Invocations are sequential; a timed
/// out or exited process is replaced by a new one (a cold start) on the next
/// invocation. The process is killed when the `Function` is dropped.
pub struct Function {
    spec: FunctionSpec,
    environment: Option<Environment>,
    cold_starts: usize,
    logs: Arc<Mutex<Vec<LogLine>>>,
    last_init: Option<Duration>,
    last_init_error: Option<FunctionError>,
    last_exit: Option<ExitStatus>,
}

impl std::fmt::Debug for Function {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Function").field("spec", &self.spec).field("cold_starts", &self.cold_starts).finish()
    }
}

fn keep_lines(
    stream: impl std::io::Read + Send + 'static,
    kind: Stream,
    process: usize,
    logs: Arc<Mutex<Vec<LogLine>>>,
) -> std::thread::JoinHandle<()> {
    std::thread::spawn(move || {
        for line in BufReader::new(stream).lines() {
            let Ok(text) = line else { break };
            let mut logs = logs.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
            if logs.len() >= MAX_LOG_LINES {
                logs.remove(0);
            }
            logs.push(LogLine { process, stream: kind, text });
        }
    })
}

impl Function {
    /// Starts the Runtime API and the first process (see [`FunctionSpec::start`]).
    pub fn start(spec: FunctionSpec) -> std::io::Result<Self> {
        let mut function = Self {
            spec,
            environment: None,
            cold_starts: 0,
            logs: Arc::new(Mutex::new(Vec::new())),
            last_init: None,
            last_init_error: None,
            last_exit: None,
        };
        function.cold_start()?;
        Ok(function)
    }

    /// The configuration it runs with.
    pub fn spec(&self) -> &FunctionSpec {
        &self.spec
    }

    fn cold_start(&mut self) -> std::io::Result<()> {
        self.tear_down();
        let api = RuntimeApi::start(&self.spec.arn())?;
        let spec = &self.spec;
        let task_root = spec.bootstrap.parent().map(Path::to_path_buf).unwrap_or_default();
        let mut command = Command::new(&spec.bootstrap);
        command
            .env_clear()
            .current_dir(&task_root)
            .env("PATH", "/usr/local/bin:/usr/bin:/bin")
            .env("LANG", "en_US.UTF-8")
            .env("TZ", ":UTC")
            .env("LAMBDA_TASK_ROOT", &task_root)
            .env("_HANDLER", "bootstrap")
            .env("AWS_EXECUTION_ENV", "AWS_Lambda_provided.al2023")
            .env("AWS_LAMBDA_RUNTIME_API", api.host_port())
            .env("AWS_LAMBDA_FUNCTION_NAME", &spec.name)
            .env("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", spec.memory_mb.to_string())
            .env("AWS_LAMBDA_FUNCTION_VERSION", &spec.version)
            .env("AWS_LAMBDA_INITIALIZATION_TYPE", "on-demand")
            .env("AWS_LAMBDA_LOG_GROUP_NAME", format!("/aws/lambda/{}", spec.name))
            .env("AWS_LAMBDA_LOG_STREAM_NAME", format!("local/[{}]{}", spec.version, self.cold_starts + 1))
            .env("AWS_REGION", &spec.region)
            .env("AWS_DEFAULT_REGION", &spec.region)
            .env("AWS_ACCESS_KEY_ID", &spec.keys.access_key_id)
            .env("AWS_SECRET_ACCESS_KEY", &spec.keys.secret_access_key);
        if let Some(url) = &spec.endpoint_url {
            command.env("AWS_ENDPOINT_URL", url);
        }
        command.envs(spec.env.iter().map(|(k, v)| (k, v)));
        command.stdin(Stdio::null()).stdout(Stdio::piped()).stderr(Stdio::piped());
        let spawned = Instant::now();
        let mut child = command
            .spawn()
            .map_err(|e| std::io::Error::new(e.kind(), format!("could not start {}: {e}", spec.bootstrap.display())))?;
        self.cold_starts += 1;
        let mut readers = Vec::new();
        if let Some(out) = child.stdout.take() {
            readers.push(keep_lines(out, Stream::Stdout, self.cold_starts, self.logs.clone()));
        }
        if let Some(err) = child.stderr.take() {
            readers.push(keep_lines(err, Stream::Stderr, self.cold_starts, self.logs.clone()));
        }
        self.last_init = None;
        self.last_init_error = None;
        self.last_exit = None;
        self.environment = Some(Environment { api, child, spawned, readers });
        Ok(())
    }

    /// Starts a process when none runs.
    fn ensure_started(&mut self) {
        if self.environment.is_none()
            && let Err(e) = self.cold_start()
        {
            panic!("cold start of {}: {e}", self.spec.name);
        }
    }

    /// Ends the current environment (if any), keeping what it reported.
    fn tear_down(&mut self) {
        if let Some(mut environment) = self.environment.take() {
            let _ = environment.child.kill();
            self.last_exit = environment.child.wait().ok();
            self.keep_report(environment);
        }
    }

    /// Keeps what an ended environment reported: every line its process wrote, its
    /// init duration and its init error.
    fn keep_report(&mut self, mut environment: Environment) {
        environment.read_to_end();
        self.note_init(&environment);
        self.last_init_error = environment.api.init_error();
    }

    fn note_init(&mut self, environment: &Environment) {
        if let Some(at) = environment.api.first_next() {
            self.last_init = Some(at.saturating_duration_since(environment.spawned));
        }
    }

    /// The current process's exit status, if it has exited (the environment is then
    /// torn down).
    fn exited(&mut self) -> Option<ExitStatus> {
        let status = self.environment.as_mut().and_then(|e| e.child.try_wait().ok().flatten())?;
        if let Some(environment) = self.environment.take() {
            self.keep_report(environment);
        }
        self.last_exit = Some(status);
        Some(status)
    }

    /// What an invocation ends with when the process exits before answering.
    fn exit_outcome(&self, status: ExitStatus) -> Outcome {
        Outcome::Error(self.last_init_error.clone().unwrap_or_else(|| FunctionError {
            error_type: "Runtime.ExitError".into(),
            message: format!("Runtime exited with {status}"),
            header: None,
        }))
    }

    /// Sends `event` and waits for the answer, at most `timeout` from the moment the
    /// process takes the event (a cold start first waits for initialisation, up to the
    /// init timeout). On timeout the process is killed; the next invocation starts a
    /// new one, as it does after the process exits.
    ///
    /// # Panics
    ///
    /// When a new process cannot be spawned.
    pub async fn invoke(&mut self, event: &Value, timeout: Duration) -> Outcome {
        self.ensure_started();
        let Some(environment) = self.environment.as_ref() else { unreachable!("started above") };
        let mut submitted = environment.api.submit(Bytes::from(event.to_string()), timeout);

        // Phase 1: until the process takes the event.
        let init_deadline = Instant::now() + self.spec.init_timeout;
        let started = loop {
            tokio::select! {
                started = &mut submitted.started => match started {
                    Ok(at) => break at,
                    Err(_) => panic!("the Runtime API of {} stopped", self.spec.name),
                },
                () = tokio::time::sleep(POLL) => {
                    if let Some(status) = self.exited() {
                        return self.exit_outcome(status);
                    }
                    let initialised = self.environment.as_ref().and_then(|e| e.api.first_next()).is_some();
                    if !initialised && Instant::now() >= init_deadline {
                        self.tear_down();
                        return Outcome::TimedOut;
                    }
                }
            }
        };
        if let Some(environment) = self.environment.take() {
            self.note_init(&environment);
            self.environment = Some(environment);
        }

        // Phase 2: until it answers, within the function timeout.
        let deadline = started + timeout;
        loop {
            let remaining = deadline.saturating_duration_since(Instant::now());
            tokio::select! {
                reply = &mut submitted.reply => return match reply {
                    Ok(Reply::Response(body)) => match serde_json::from_slice(&body) {
                        Ok(value) => Outcome::Response(value),
                        Err(_) => Outcome::Response(Value::String(String::from_utf8_lossy(&body).into_owned())),
                    },
                    Ok(Reply::Error(error)) => Outcome::Error(error),
                    Err(_) => panic!("the Runtime API of {} stopped", self.spec.name),
                },
                () = tokio::time::sleep(remaining.min(POLL)) => {
                    if let Some(status) = self.exited() {
                        return self.exit_outcome(status);
                    }
                    if Instant::now() >= deadline {
                        self.tear_down();
                        return Outcome::TimedOut;
                    }
                }
            }
        }
    }

    /// Waits (at most `limit`) until the current process has asked for its first
    /// event, and returns how long that took from its spawn; `None` if it exited or
    /// the limit passed first. Starts a process if none runs.
    ///
    /// # Panics
    ///
    /// When a new process cannot be spawned.
    pub async fn wait_ready(&mut self, limit: Duration) -> Option<Duration> {
        self.ensure_started();
        let deadline = Instant::now() + limit;
        while Instant::now() < deadline {
            if let Some(duration) = self.init_duration() {
                return Some(duration);
            }
            if self.exited().is_some() {
                return None;
            }
            tokio::time::sleep(POLL).await;
        }
        None
    }

    /// Waits (at most `limit`) for the current process to exit on its own; its status.
    pub async fn wait_exit(&mut self, limit: Duration) -> Option<ExitStatus> {
        let deadline = Instant::now() + limit;
        while self.environment.is_some() && Instant::now() < deadline {
            if let Some(status) = self.exited() {
                return Some(status);
            }
            tokio::time::sleep(POLL).await;
        }
        self.last_exit.filter(|_| self.environment.is_none())
    }

    /// How long the current (or last) process took from its spawn to its first
    /// `/next`: the init duration of its cold start.
    pub fn init_duration(&self) -> Option<Duration> {
        match &self.environment {
            Some(e) => e.api.first_next().map(|at| at.saturating_duration_since(e.spawned)),
            None => self.last_init,
        }
    }

    /// What the current (or last) process posted to `/init/error`, if anything.
    pub fn init_error(&self) -> Option<FunctionError> {
        match &self.environment {
            Some(e) => e.api.init_error(),
            None => self.last_init_error.clone(),
        }
    }

    /// How many processes have been started so far.
    pub fn cold_starts(&self) -> usize {
        self.cold_starts
    }

    /// The running process's peak resident memory so far (`VmHWM`), in KiB.
    pub fn peak_rss_kib(&self) -> Option<u64> {
        crate::bench::memory_kib(self.environment.as_ref()?.child.id(), "VmHWM")
    }

    /// Whether a process is running now.
    pub fn is_running(&mut self) -> bool {
        self.environment.is_some() && self.exited().is_none()
    }

    /// Every line the function's processes wrote, in order per stream.
    pub fn logs(&self) -> Vec<LogLine> {
        self.logs.lock().unwrap_or_else(std::sync::PoisonError::into_inner).clone()
    }

    /// The lines that are JSON objects (the function's structured logs), parsed.
    pub fn json_logs(&self) -> Vec<Value> {
        self.logs()
            .iter()
            .filter_map(|l| serde_json::from_str::<Value>(&l.text).ok())
            .filter(Value::is_object)
            .collect()
    }

    /// Waits (at most `limit`) for a line that `matches`, since output arrives on
    /// reader threads a moment after the process writes it.
    pub async fn wait_for_log(&self, limit: Duration, matches: impl Fn(&LogLine) -> bool) -> Option<LogLine> {
        let deadline = Instant::now() + limit;
        loop {
            if let Some(line) = self.logs().into_iter().find(&matches) {
                return Some(line);
            }
            if Instant::now() >= deadline {
                return None;
            }
            tokio::time::sleep(POLL).await;
        }
    }

    /// Every line as text, one per line, for failure messages.
    pub fn log_text(&self) -> String {
        self.logs().iter().map(|l| l.text.as_str()).collect::<Vec<_>>().join("\n")
    }
}

impl Drop for Function {
    fn drop(&mut self) {
        self.environment = None;
    }
}
