//! Logs you can follow: every line logged while serving a request carries its
//! request id (and the tenant once the caller or webhook is known), every line
//! logged while archiving a queued text or applying an import carries the queue
//! message id and tenant, and no line carries a message body, a full phone number,
//! a password, a webhook token or an imported person's e-mail address — through a
//! webhook, a send, an import and an ATS sync.

use std::time::Duration;

use serde_json::{Value, json};

use crate::common::{self, Client, Server};

const OURS: &str = "+12065550199";
const THEIRS: &str = "+12065550123";
const BODY: &str = "meet me at the clinic on 5th";
const PASSWORD: &str = "zw-pass-logs-1";
const SENT: &str = "your shift moved to the north site";
const IMPORTED: &str = "ann.private@acme.test";
const ATS_TOKEN: &str = "tw-token-logs-1";

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
    for _ in 0..600 {
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

    // A send, as the texting user (Zipwhip answers with its message id).
    wiremock::Mock::given(wiremock::matchers::method("POST"))
        .and(wiremock::matchers::path("/message/send"))
        .respond_with(wiremock::ResponseTemplate::new(200).set_body_json(json!({
            "success": true, "response": {"fingerprint": "f", "root": 1, "tokens": [{"message": 9000002, "contact": 7}]}
        })))
        .mount(zw.server())
        .await;
    let me =
        common::token(dir.path(), &["--tenant", "acme", "--role", "user", "--user-id", "u-7", "--group", "Texters"]);
    let text = json!({"provider": "zipwhip", "to": THEIRS, "body": SENT});
    let (status, sent) = client.call("POST", &url("/messages/send"), Some(&me), Some(&text)).await;
    assert_eq!(status, 201, "{sent}");

    // An import, run in the background by the queue's consumer.
    let csv = format!("First Name,Last Name,Email\r\nAnn,Lee,{IMPORTED}\r\n");
    let upload = client.raw().post(url("/users/imports?file_name=people.csv")).bearer_auth(&admin).body(csv);
    let (status, preview) = client.send(upload).await;
    assert_eq!(status, 201, "{preview}");
    let id = preview["id"].as_str().expect("import id").to_owned();
    assert_eq!(client.call("POST", &url(&format!("/users/imports/{id}/run")), Some(&admin), None).await.0, 202);
    for _ in 0..600 {
        let (_, job) = client.call("GET", &url(&format!("/users/imports/{id}")), Some(&admin), None).await;
        if job["state"] == "done" {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }

    // An ATS sync: a second server on the same data syncs when it starts.
    let ats = textbridge_testkit::tempworks::StandIn::start().await;
    let employee = json!({"employeeId": 4102, "firstName": "Ann", "lastName": "Lee",
                          "phoneNumber": "(206) 555-0188", "isActive": true});
    ats.set_directory(vec![employee], Vec::new(), ATS_TOKEN);
    let connection = json!({"connector": "tempworks", "base_url": ats.uri(), "token": ATS_TOKEN});
    assert_eq!(client.call("PUT", &url("/credentials/ats"), Some(&admin), Some(&connection)).await.0, 200);
    let syncing = Server::start(dir.path(), &[("ZIPWHIP_BASE_URL", &zw.uri())]);
    for _ in 0..600 {
        if syncing.logs().contains("\"message\":\"ats sync run\",\"tenants\":1") {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    // Stopped first, so every line they printed is read.
    let logs = format!("{}\n{}", server.terminate(), syncing.terminate());
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
    assert_eq!(metric("TextsArchived"), 2, "the received text and the sent one: {logs}");
    let (mut in_requests, mut in_messages) = (0, 0);
    for line in &lines {
        let text = line.to_string();
        for private in [BODY, SENT, THEIRS, "2065550123", "2065550188", PASSWORD, token.as_str(), IMPORTED, ATS_TOKEN] {
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
    assert_eq!(metric("ImportRows"), 1, "the import's row is counted: {logs}");
    assert!(metric("SyncWrites") >= 1, "the sync's writes are counted: {logs}");
    assert!(logs.contains("\"message\":\"ats sync run\",\"tenants\":1"), "the sync ran and logged: {logs}");
    assert!(in_messages >= 1, "the archiver logged within the message's span: {logs}");
    let tenants: Vec<&str> =
        lines.iter().filter_map(|l| l["spans"].as_array()).flatten().filter_map(|s| s["tenant"].as_str()).collect();
    assert!(tenants.contains(&"acme") && tenants.contains(&"globex"), "both tenants' requests are traceable");
}
