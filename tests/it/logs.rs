//! Logs you can follow: every line logged while serving a request carries its
//! request id (and the tenant once the caller or webhook is known), every line
//! logged while archiving a queued text carries the queue message id and tenant,
//! and no line carries a message body, a full phone number, a password or a
//! webhook token.

use std::time::Duration;

use serde_json::{Value, json};

use crate::common::{self, Client, Server};

const OURS: &str = "+12065550199";
const THEIRS: &str = "+12065550123";
const BODY: &str = "meet me at the clinic on 5th";
const PASSWORD: &str = "zw-pass-logs-1";

/// The spans a log line was logged in, by name.
fn span<'a>(line: &'a Value, name: &str) -> Option<&'a Value> {
    line["spans"].as_array()?.iter().find(|s| s["name"] == name)
}

/// Whether any of the line's spans has `field`.
fn has(line: &Value, field: &str) -> bool {
    line["spans"].as_array().is_some_and(|spans| spans.iter().any(|s| s.get(field).is_some()))
}

#[tokio::test]
async fn every_line_can_be_followed_and_none_carries_private_data() {
    let dir = tempfile::tempdir().expect("tempdir");
    let zw = textbridge_testkit::zipwhip::StandIn::start("zw-session-logs", "1").await;
    let server = Server::start(dir.path(), &[("ZIPWHIP_BASE_URL", &zw.uri())]);
    let admin = common::token(dir.path(), &["--tenant", "acme", "--role", "customer_admin", "--user-id", "admin-1"]);
    let client = Client::default();
    let url = |path: &str| format!("{}{path}", server.base);

    common::texting_user(&client, &server.base, &admin, "u-7").await;
    let creds = json!({"username": "alex@2065550199", "password": PASSWORD});
    let (status, resp) = client.call("POST", &url("/credentials/zipwhip/user/u-7"), Some(&admin), Some(&creds)).await;
    assert_eq!(status, 201, "{resp}");
    let hook = zw.hook_path().await.expect("webhook registered");
    let token = hook.rsplit('/').next().expect("token").to_owned();
    let record = json!({"name": "Dana", "phones": [THEIRS]});
    assert_eq!(client.call("PUT", &url("/records/employee/e1"), Some(&admin), Some(&record)).await.0, 200);

    let text = textbridge_testkit::zipwhip::received("1327295480212640777", THEIRS, OURS, BODY);
    let req = client.raw().post(url(&hook)).header("content-type", "application/json").body(text);
    assert_eq!(client.send(req).await.0, 202);
    let mut archived = Value::Null;
    for _ in 0..100 {
        archived = client.call("GET", &url("/records/employee/e1/messages"), Some(&admin), None).await.1;
        if archived["messages"].as_array().is_some_and(|m| !m.is_empty()) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(archived["messages"][0]["body"], BODY, "{archived}");

    // Failing requests: a record that does not exist, a bad id, another tenant's record.
    assert_eq!(client.call("GET", &url("/records/employee/nobody/messages"), Some(&admin), None).await.0, 404);
    assert_eq!(client.call("PUT", &url("/records/employee/no%21"), Some(&admin), Some(&record)).await.0, 422);
    let globex = common::token(dir.path(), &["--tenant", "globex", "--role", "customer_admin"]);
    assert_eq!(client.call("GET", &url("/records/employee/e1/messages"), Some(&globex), None).await.0, 404);
    let malformed = client.raw().post(url(&hook)).header("content-type", "application/json").body("{\"nope\": 1}");
    let (status, refused) = client.send(malformed).await;
    assert!((400..500).contains(&status), "a webhook Zipwhip never sends: {refused}");
    tokio::time::sleep(Duration::from_millis(300)).await;

    let logs = server.logs();
    let lines: Vec<Value> = logs.lines().filter_map(|l| serde_json::from_str(l).ok()).collect();
    assert!(lines.len() > 10, "JSON log lines:\n{logs}");
    // Counters for operators, as CloudWatch Embedded Metric Format lines.
    let metric = |name: &str| {
        lines
            .iter()
            .filter(|l| l["_aws"]["CloudWatchMetrics"][0]["Metrics"][0]["Name"] == name)
            .filter_map(|l| l[name].as_u64())
            .sum::<u64>()
    };
    assert_eq!(metric("WebhooksAccepted"), 1, "{logs}");
    assert_eq!(metric("WebhooksRejected"), 1, "{logs}");
    assert_eq!(metric("TextsArchived"), 1, "{logs}");
    let (mut in_requests, mut in_messages) = (0, 0);
    for line in &lines {
        let text = line.to_string();
        for private in [BODY, THEIRS, "2065550123", PASSWORD, token.as_str()] {
            assert!(!text.contains(private), "{private:?} is in a log line: {text}");
        }
        if let Some(request) = span(line, "request") {
            in_requests += 1;
            assert!(request.get("request_id").is_some(), "no request id: {text}");
            let routed =
                request["route"] != "(no route)" && !request["route"].as_str().unwrap_or("").ends_with("/health");
            if routed {
                assert!(has(line, "tenant"), "a routed request's line without its tenant: {text}");
            }
        }
        if span(line, "message").is_some() {
            in_messages += 1;
            assert!(has(line, "message_id") && has(line, "tenant"), "an archiver line without ids: {text}");
        }
    }
    assert!(in_requests >= 6, "request lines were logged: {logs}");
    assert!(in_messages >= 1, "the archiver logged within the message's span: {logs}");
    let tenants: Vec<&str> =
        lines.iter().filter_map(|l| l["spans"].as_array()).flatten().filter_map(|s| s["tenant"].as_str()).collect();
    assert!(tenants.contains(&"acme") && tenants.contains(&"globex"), "both tenants' requests are traceable");
}
