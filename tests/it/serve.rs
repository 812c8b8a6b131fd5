//! End to end: the real `textbridge` binary on the embedded backend, over HTTP.

use crate::common;

use std::process::Command;

use crate::common::{BIN, Server};
use serde_json::Value;

fn serve(data_dir: &std::path::Path, env: &[(&str, &str)]) -> Server {
    Server::start(data_dir, env)
}

fn token(data_dir: &std::path::Path, tenant: &str, role: &str) -> String {
    common::token(data_dir, &["--tenant", tenant, "--role", role])
}

async fn get(url: &str, bearer: Option<&str>) -> (u16, Value) {
    common::Client::default().call("GET", url, bearer, None).await
}

#[tokio::test]
async fn serves_health_identity_and_errors_on_the_embedded_backend() {
    let dir = tempfile::tempdir().expect("tempdir");
    let server = serve(dir.path(), &[]);

    let (status, body) = get(&format!("{}/health", server.base), None).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["status"], "ok");
    assert_eq!(body["checks"], serde_json::json!({"store": "ok", "queue": "ok", "secrets": "ok"}));
    for path in ["/credentials/health", "/webhooks/health", "/records/health", "/users/health"] {
        assert_eq!(get(&format!("{}{path}", server.base), None).await.0, 200, "{path}");
    }
    assert!(dir.path().join("textbridge.db").exists());

    let me = format!("{}/users/me", server.base);
    let (status, body) = get(&me, None).await;
    assert_eq!(status, 401);
    assert_eq!(body["error"]["code"], "unauthenticated");

    let acme = token(dir.path(), "acme", "manager");
    let (status, body) = get(&me, Some(&acme)).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["tenant"], "acme");
    assert_eq!(body["role"], "manager");

    let elsewhere = tempfile::tempdir().expect("tempdir");
    let foreign = token(elsewhere.path(), "acme", "manager");
    assert_eq!(get(&me, Some(&foreign)).await.0, 401, "a token signed by another installation");
    assert_eq!(get(&me, Some("not-a-token")).await.0, 401);

    let (status, body) = get(&format!("{}/nope", server.base), None).await;
    assert_eq!(status, 404);
    assert_eq!(body["error"]["code"], "not_found");
}

#[tokio::test]
async fn keeps_data_across_restarts() {
    let dir = tempfile::tempdir().expect("tempdir");
    let first = token(dir.path(), "acme", "user");
    drop(serve(dir.path(), &[]));
    let server = serve(dir.path(), &[]);
    assert_eq!(get(&format!("{}/users/me", server.base), Some(&first)).await.0, 200, "same key after restart");
}

#[test]
fn bad_settings_stop_start_up_naming_the_setting() {
    let dir = tempfile::tempdir().expect("tempdir");
    for (var, value, needle) in [
        ("DEFAULT_COUNTRY", "XX", "--default-country"),
        ("LOG_LEVEL", "loud", "--log-level"),
        ("PORT", "eighty", "--port"),
        ("SYNC_INTERVAL_MINUTES", "0", "--sync-interval-minutes"),
    ] {
        let out =
            Command::new(BIN).args(["serve", "--data-dir"]).arg(dir.path()).env(var, value).output().expect("run");
        assert!(!out.status.success(), "{var}={value} was accepted");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(stderr.contains(needle) && stderr.contains(value), "{var}: {stderr}");
    }
}

#[test]
fn dlq_commands_work_on_an_empty_queue() {
    let dir = tempfile::tempdir().expect("tempdir");
    let run = |args: &[&str]| {
        let out = Command::new(BIN).args(args).arg("--data-dir").arg(dir.path()).output().expect("run");
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        String::from_utf8(out.stdout).expect("utf8")
    };
    assert_eq!(run(&["dlq", "list"]), "");
    assert_eq!(run(&["dlq", "replay"]).trim(), "replayed 0 dead letter(s)");
}
