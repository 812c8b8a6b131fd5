//! Runs real Lambda `bootstrap` binaries locally, as Lambda runs them.
//!
//! * [`RuntimeApi`]: the Lambda Runtime API (2018-06-01) on a loopback port.
//! * [`Function`]: spawns a bootstrap with a Lambda's environment against its own
//!   Runtime API, invokes it with the function timeout enforced (a timed-out process
//!   is killed; the next invocation is a cold start), and keeps its output.
//! * [`events`]: API Gateway HTTP API, SQS and EventBridge schedule events.
//! * [`template`]: a function's memory, timeout, environment and IAM policy as
//!   `infra/template.yaml` deploys them; [`Deployment`]: the template's table and
//!   queues on moto; [`iam`]: moto with IAM enforced, and a user per function that
//!   holds exactly the template's grants.
//!
//! ```no_run
//! # async fn example() -> std::io::Result<()> {
//! use std::time::Duration;
//! use serde_json::json;
//! use textbridge_testkit::lambda_runtime::{FunctionSpec, Outcome, events::HttpApiRequest};
//!
//! let mut users = FunctionSpec::new("target/lambda/users/bootstrap")
//!     .endpoint_url(textbridge_testkit::moto::endpoint())
//!     .env("PUBLIC_BASE_URL", "https://textbridge.test")
//!     .start()?;
//! let event = HttpApiRequest::get("/users/me").claims(&json!({"sub": "u-1", "tenant": "acme"})).build();
//! match users.invoke(&event, Duration::from_secs(10)).await {
//!     Outcome::Response(response) => println!("{response}"),
//!     other => println!("{other:?}\n{}", users.log_text()),
//! }
//! # Ok(())
//! # }
//! ```

mod api;
mod deployment;
pub mod events;
mod function;
pub mod iam;
pub mod template;

pub use api::{ERROR_TYPE_HEADER, FunctionError, MAX_PAYLOAD_BYTES, Reply, RuntimeApi, Submitted};
pub use deployment::{Deployment, JWT_AUDIENCE, JWT_ISSUER, PUBLIC_BASE_URL};
pub use function::{ACCOUNT_ID, AccessKeys, DEFAULT_INIT_TIMEOUT, Function, FunctionSpec, LogLine, Outcome, Stream};

/// Every function: its bootstrap's name and its logical id in `infra/template.yaml`.
pub const FUNCTIONS: [(&str, &str); 7] = [
    ("credentials", "CredentialsFunction"),
    ("intake", "IntakeFunction"),
    ("records", "RecordsFunction"),
    ("users", "UsersFunction"),
    ("imports", "ImportsFunction"),
    ("archiver", "ArchiverFunction"),
    ("ats-sync", "AtsSyncFunction"),
];

/// The folder that holds the release bootstraps as `<name>/bootstrap`, from
/// `TEXTBRIDGE_BOOTSTRAP_DIR`. `None` (after saying so on standard error) when it is
/// unset outside CI, so a test can skip.
///
/// # Panics
///
/// When it is unset and `CI` is set (CI must run these tests), or when it names a
/// folder without `<name>/bootstrap`.
pub fn bootstrap(name: &str) -> Option<std::path::PathBuf> {
    let dir = std::env::var_os("TEXTBRIDGE_BOOTSTRAP_DIR").filter(|d| !d.is_empty());
    let Some(dir) = dir else {
        let how = "build them with `cargo lambda build --release` and set TEXTBRIDGE_BOOTSTRAP_DIR to the folder \
                   that holds <name>/bootstrap (cargo lambda puts them in $CARGO_TARGET_DIR/lambda)";
        if std::env::var_os("CI").is_some_and(|v| !v.is_empty()) {
            panic!("TEXTBRIDGE_BOOTSTRAP_DIR is not set, and CI must run the release bootstraps: {how}");
        }
        eprintln!("skipped: the release bootstrap of {name} is not available; {how}");
        return None;
    };
    let path = std::path::PathBuf::from(dir).join(name).join("bootstrap");
    assert!(path.is_file(), "TEXTBRIDGE_BOOTSTRAP_DIR has no {name}/bootstrap ({})", path.display());
    Some(path)
}
