//! End to end: the real `textbridge` binary on the embedded backend, over HTTP.

use crate::common;

use std::process::Command;

use crate::common::{BIN, Server};
use serde_json::{Value, json};
use textbridge_testkit::twilio;

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
    for path in ["/credentials/health", "/webhooks/health", "/records/health", "/users/health", "/users/imports/health"]
    {
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
    const SID: &str = "AC0123456789abcdef0123456789abcdef";
    const AUTH_TOKEN: &str = "f00dfeedf00dfeedf00dfeedf00dfeed";
    let dir = tempfile::tempdir().expect("tempdir");
    let twilio = twilio::StandIn::start(SID, AUTH_TOKEN, &["PN11111111111111111111111111111111"]).await;
    let env = [("TWILIO_BASE_URL", twilio.uri())];
    let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let first = token(dir.path(), "acme", "user");
    let admin = token(dir.path(), "acme", "customer_admin");
    let client = common::Client::default();

    // Stored: a permission group, credentials (metadata and the encrypted secret), a record.
    let server = serve(dir.path(), &env);
    let call = |method: &'static str, path: &'static str, body: Option<Value>| {
        let (client, admin, url) = (client.clone(), admin.clone(), format!("{}{path}", server.base));
        async move { client.call(method, &url, Some(&admin), body.as_ref()).await }
    };
    assert_eq!(call("PUT", "/permission-groups/Recruiters", Some(json!({"can_text": true}))).await.0, 200);
    let creds = json!({"account_sid": SID, "auth_token": AUTH_TOKEN});
    let (status, saved) = call("POST", "/credentials/twilio/system", Some(creds)).await;
    assert_eq!((status, &saved["status"]), (201, &json!("connected")), "{saved}");
    assert_eq!(call("PUT", "/records/employee/e1", Some(json!({"phones": ["+12065550100"]}))).await.0, 200);
    assert_eq!(call("GET", "/records/employee/e2/messages", None).await.0, 404, "an unknown record");
    let groups = call("GET", "/permission-groups", None).await.1;
    drop(server);

    let server = serve(dir.path(), &env);
    let call = |method: &'static str, path: &'static str| {
        let (client, admin, url) = (client.clone(), admin.clone(), format!("{}{path}", server.base));
        async move { client.call(method, &url, Some(&admin), None).await }
    };
    assert_eq!(get(&format!("{}/users/me", server.base), Some(&first)).await.0, 200, "same key after restart");
    assert_eq!(call("GET", "/permission-groups").await, (200, groups.clone()), "groups kept");
    assert!(groups.to_string().contains("Recruiters"), "{groups}");
    assert_eq!(call("GET", "/credentials/twilio/system").await, (200, saved), "credentials kept");
    let (status, tested) = call("POST", "/credentials/twilio/system/test").await;
    assert_eq!(status, 200, "{tested}");
    assert_eq!(tested["last_test"]["ok"], true, "the kept Auth Token still opens the account: {tested}");
    assert_eq!(call("GET", "/records/employee/e1/messages").await.0, 200, "the record kept");
}

#[test]
fn bad_settings_stop_start_up_naming_the_setting() {
    let dir = tempfile::tempdir().expect("tempdir");
    for (var, value, needle) in [
        ("DEFAULT_COUNTRY", "XX", "--default-country"),
        ("LOG_LEVEL", "loud", "--log-level"),
        ("PORT", "eighty", "--port"),
        ("SYNC_INTERVAL_MINUTES", "0", "--sync-interval-minutes"),
        ("CACHE_TTL_SECS", "3601", "--cache-ttl-secs"),
        ("CONSOLE_ADMIN", "T#evil", "--console-admin"),
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
    let run = |args: &[&str]| common::cli(dir.path(), args);
    assert_eq!(run(&["dlq", "list"]), "");
    assert_eq!(run(&["dlq", "replay"]).trim(), "replayed 0 dead letter(s)");
}
