//! How a function reports what went wrong to Lambda: start-up failures to the
//! Runtime API's `/runtime/init/error`, failed invocations as a short error type and
//! a plain message. The detail of either goes to the log, never into the report.

use std::{
    io::{Read, Write},
    net::{TcpStream, ToSocketAddrs},
    time::Duration,
};

use lambda_runtime::Diagnostic;
use textbridge_domain::Error;

/// The log levels `LOG_LEVEL` may name, as the local server's `--log-level`.
pub const LOG_LEVELS: [&str; 5] = ["trace", "debug", "info", "warn", "error"];

/// How long the report to `/runtime/init/error` may take.
const REPORT_TIMEOUT: Duration = Duration::from_secs(2);

/// The log level from `LOG_LEVEL`'s value (`None`: unset, `info`); anything but
/// `trace`, `debug`, `info`, `warn` or `error` is refused.
pub fn log_level(value: Option<&str>) -> Result<String, Error> {
    let level = value.map_or("info", str::trim);
    if LOG_LEVELS.contains(&level) {
        Ok(level.to_owned())
    } else {
        Err(Error::invalid("LOG_LEVEL", format!("must be one of {}", LOG_LEVELS.join(", "))))
    }
}

/// A start-up failure as Lambda's `/runtime/init/error` takes it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StartupError {
    /// `Runtime.ConfigError` for a missing or wrong setting, else `Runtime.InitError`.
    pub error_type: &'static str,
    /// What is wrong, in plain words, naming the setting.
    pub message: String,
}

impl From<&Error> for StartupError {
    fn from(error: &Error) -> Self {
        match error {
            Error::Invalid { field, reason } => {
                Self { error_type: "Runtime.ConfigError", message: format!("{field} {reason}") }
            }
            Error::Malformed { .. } => Self { error_type: "Runtime.ConfigError", message: error.to_string() },
            other => Self { error_type: "Runtime.InitError", message: other.to_string() },
        }
    }
}

impl StartupError {
    /// The body posted to `/runtime/init/error`.
    pub fn body(&self) -> serde_json::Value {
        serde_json::json!({ "errorType": self.error_type, "errorMessage": self.message })
    }

    /// Logs the failure as one JSON line and, when `runtime_api` (the value of
    /// `AWS_LAMBDA_RUNTIME_API`) is known, posts it to `/runtime/init/error`.
    pub fn report(&self, runtime_api: Option<&str>) {
        tracing::error!(error_type = self.error_type, error = %self.message, "start-up failed");
        let Some(api) = runtime_api else { return };
        if let Err(e) = self.post(api) {
            tracing::error!(error = %e, "could not report the start-up failure to the Runtime API");
        }
    }

    /// One HTTP/1.1 request to the Runtime API (plain HTTP on the local interface).
    fn post(&self, api: &str) -> std::io::Result<()> {
        let body = self.body().to_string();
        let request = format!(
            "POST /2018-06-01/runtime/init/error HTTP/1.1\r\nHost: {api}\r\n\
             Lambda-Runtime-Function-Error-Type: {}\r\nContent-Type: application/json\r\n\
             Content-Length: {}\r\nConnection: close\r\n\r\n{body}",
            self.error_type,
            body.len()
        );
        let addr = api
            .to_socket_addrs()?
            .next()
            .ok_or_else(|| std::io::Error::new(std::io::ErrorKind::NotFound, "no address"))?;
        let mut stream = TcpStream::connect_timeout(&addr, REPORT_TIMEOUT)?;
        stream.set_read_timeout(Some(REPORT_TIMEOUT))?;
        stream.set_write_timeout(Some(REPORT_TIMEOUT))?;
        stream.write_all(request.as_bytes())?;
        let mut status_line = [0u8; 12];
        stream.read_exact(&mut status_line)?;
        let status = String::from_utf8_lossy(&status_line[9..12]).into_owned();
        if status.starts_with('2') {
            Ok(())
        } else {
            Err(std::io::Error::other(format!("the Runtime API answered HTTP {status}")))
        }
    }
}

/// A failed invocation as Lambda reports it: a short type (`Unavailable` or
/// `Internal`) and a plain message with the invocation's request id. Made with
/// [`HandlerError::new`], which logs the detail.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HandlerError {
    /// The short type name.
    pub error_type: &'static str,
    /// The plain message.
    pub message: String,
}

impl HandlerError {
    /// The report of `error` in the invocation `request_id`; logs the detail once.
    pub fn new(error: &Error, request_id: &str) -> Self {
        // An event has no caller to correct it: anything but a dependency that is
        // down is a fault on this side.
        let (error_type, message) = match error {
            Error::Unavailable(_) => (
                "Unavailable",
                format!("a service this function uses is unavailable; retry later (request id {request_id})"),
            ),
            _ => ("Internal", format!("internal error (request id {request_id})")),
        };
        tracing::error!(error_type, error = %error, request_id, "invocation failed");
        Self { error_type, message }
    }
}

impl std::fmt::Display for HandlerError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.error_type, self.message)
    }
}

impl std::error::Error for HandlerError {}

impl From<HandlerError> for Diagnostic {
    fn from(error: HandlerError) -> Self {
        Diagnostic { error_type: error.error_type.to_owned(), error_message: error.message }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn log_levels_are_the_local_servers() {
        assert_eq!(log_level(None).ok().as_deref(), Some("info"));
        for level in LOG_LEVELS {
            assert_eq!(log_level(Some(level)).ok().as_deref(), Some(level));
        }
        for bad in ["verbose", "INFO ", "info,textbridge=debug", ""] {
            let error = log_level(Some(bad)).err().map(|e| StartupError::from(&e));
            let error = error.unwrap_or_else(|| panic!("{bad:?} was accepted"));
            assert_eq!(error.error_type, "Runtime.ConfigError");
            assert!(error.message.starts_with("LOG_LEVEL "), "{error:?}");
        }
    }

    #[test]
    fn a_missing_setting_is_a_config_error_naming_it() {
        let error = StartupError::from(&Error::invalid("TABLE_NAME", "is required"));
        assert_eq!(
            error.body(),
            serde_json::json!({"errorType": "Runtime.ConfigError", "errorMessage": "TABLE_NAME is required"})
        );
    }

    #[test]
    fn handler_errors_are_short_and_plain() {
        let chain = "DispatchFailure(ConnectorError { kind: Io, source: hyper::Error(Connect) })";
        let error = HandlerError::new(&Error::Unavailable(chain.into()), "req-1");
        assert_eq!(error.error_type, "Unavailable");
        assert!(!error.message.contains("DispatchFailure") && error.message.contains("req-1"), "{error:?}");
        let error = HandlerError::new(&Error::unexpected(chain), "req-2");
        assert_eq!((error.error_type, error.message.as_str()), ("Internal", "internal error (request id req-2)"));
        let diagnostic = Diagnostic::from(error);
        assert_eq!(diagnostic.error_type, "Internal");
    }
}
