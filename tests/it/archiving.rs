//! End to end, SPEC S2: webhook in → queue → archiver → record conversation + ATS
//! write-back, through the real `textbridge serve` on the embedded backend, with the
//! providers and a TempWorks-style ATS played by wiremock servers.

use crate::common;

use std::time::Duration;

use crate::common::{Client, Server, token};
use serde_json::{Value, json};
use textbridge_app::ports::SecretName;
use textbridge_testkit::seed;
use wiremock::{
    Mock, MockServer, ResponseTemplate,
    matchers::{method, path, path_regex},
};

const WEBHOOK_SECRET: &str = "whsec-archiving-4411";
const OURS: &str = "+12065550199";
const THEIRS: &str = "+12065550100";

async fn textus() -> MockServer {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path("/me"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({})))
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path("/acme/integrations"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({"members": []})))
        .mount(&server)
        .await;
    Mock::given(method("POST"))
        .and(path("/acme/integrations"))
        .respond_with(ResponseTemplate::new(201).set_body_json(json!({
            "id": "/integrations/0yX2VrJ", "config": {"webhookSecret": WEBHOOK_SECRET}
        })))
        .mount(&server)
        .await;
    server
}

/// A TempWorks-style ATS answering every write with 201.
async fn ats(status: u16) -> MockServer {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path("/DataLists/messageActions"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!([
            {"actionId": 3, "action": "AR", "messageActionType": "AR", "canWrite": true},
            {"actionId": 7, "action": "Message", "messageActionType": "Message", "canWrite": true}
        ])))
        .mount(&server)
        .await;
    mount_writes(&server, status).await;
    Mock::given(method("GET"))
        .and(path_regex(r"^/(Employees|Contacts)/[^/]+/messages$"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({"totalCount": 0, "data": []})))
        .mount(&server)
        .await;
    server
}

async fn mount_writes(server: &MockServer, status: u16) {
    Mock::given(method("POST"))
        .and(path_regex(r"^/(Employees|Contacts)/[^/]+/messages$"))
        .respond_with(ResponseTemplate::new(status).set_body_json(json!({"messageId": 1001})))
        .mount(server)
        .await;
}

struct World {
    _dir: tempfile::TempDir,
    dir: std::path::PathBuf,
    server: Server,
    client: Client,
    textus: MockServer,
    zipwhip: MockServer,
    ats: MockServer,
}

impl World {
    async fn new(ats_status: u16) -> World {
        let dir = tempfile::tempdir().expect("tempdir");
        let (textus, zipwhip, ats) =
            (textus().await, common::zipwhip("zw-session-1", "687557714").await, ats(ats_status).await);
        let embedded = textbridge_embedded::open(dir.path()).await.expect("embedded");
        for tenant in ["acme", "globex"] {
            let name = SecretName::from_parts(&[tenant, "ats", "tempworks"]).expect("name");
            embedded.backend().secrets.create(&name, &"tw-token-1".to_owned().into()).await.expect("ats token");
        }
        drop(embedded);
        let server = Server::start(
            dir.path(),
            &[
                ("TEXTUS_BASE_URL", &textus.uri()),
                ("ZIPWHIP_BASE_URL", &zipwhip.uri()),
                ("TEMPWORKS_BASE_URL", &ats.uri()),
                ("VISIBILITY_TIMEOUT_SECS", "1"),
            ],
        );
        World { dir: dir.path().to_owned(), _dir: dir, server, client: Client::default(), textus, zipwhip, ats }
    }

    fn admin(&self, tenant: &str) -> String {
        token(&self.dir, &["--tenant", tenant, "--role", "customer_admin", "--user-id", "admin-1"])
    }

    async fn call(&self, method: &str, path: &str, bearer: &str, body: Option<Value>) -> (u16, Value) {
        self.client.call(method, &format!("{}{path}", self.server.base), Some(bearer), body.as_ref()).await
    }

    /// Saves credentials and returns the webhook path the provider was given.
    async fn connect(&self, provider: &MockServer, tenant: &str, route: &str, body: Value) -> String {
        let (status, resp) = self.call("POST", route, &self.admin(tenant), Some(body)).await;
        assert_eq!(status, 201, "{resp}");
        assert_eq!(resp["status"], "connected", "{resp}");
        let requests = provider.received_requests().await.unwrap_or_default();
        let last = requests.iter().rev().find(|r| r.method.as_str() == "POST" && r.url.path() != "/user/login");
        let raw = &last.expect("registration").body;
        let sent = if raw.starts_with(b"{") {
            String::from_utf8_lossy(raw).to_string()
        } else {
            url::form_urlencoded::parse(raw).map(|(k, v)| format!("{k}={v}&")).collect()
        };
        let start = sent.find("/webhooks/").expect("webhook url in the registration");
        let rest = &sent[start..];
        let end = rest.find(|c: char| !(c.is_ascii_alphanumeric() || c == '/')).unwrap_or(rest.len());
        rest[..end].to_owned()
    }

    async fn textus_hook(&self, tenant: &str) -> String {
        let body = json!({"account_slug": "acme", "username": format!("ops@{tenant}.test"), "api_key": "tx-key-1"});
        self.connect(&self.textus, tenant, "/credentials/textus/system", body).await
    }

    async fn zipwhip_hook(&self, tenant: &str) -> String {
        let body = json!({"username": "alex@2065550199", "password": "zw-pass-1"});
        self.connect(&self.zipwhip, tenant, "/credentials/zipwhip/user/u-7", body).await
    }

    async fn post(&self, hook: &str, body: &str, signature: Option<&str>, content_type: &str) -> u16 {
        let mut req = self
            .client
            .raw()
            .post(format!("{}{hook}", self.server.base))
            .header("content-type", content_type)
            .body(body.to_owned());
        if let Some(sig) = signature {
            req = req.header("x-textus-signature", sig);
        }
        self.client.send(req).await.0
    }

    async fn post_textus(&self, hook: &str, body: &str) -> u16 {
        self.post(hook, body, Some(&sign(body)), "application/json").await
    }

    async fn upsert(&self, tenant: &str, kind: &str, id: &str, phones: &[&str]) {
        let (status, resp) = self
            .call("PUT", &format!("/records/{kind}/{id}"), &self.admin(tenant), Some(json!({"phones": phones})))
            .await;
        assert_eq!(status, 200, "{resp}");
    }

    /// Every message on a record's conversation (all pages).
    async fn conversation(&self, tenant: &str, kind: &str, id: &str) -> Vec<Value> {
        let admin = self.admin(tenant);
        let mut out = Vec::new();
        let mut cursor: Option<String> = None;
        loop {
            let mut url = format!("{}/records/{kind}/{id}/messages?limit=100", self.server.base);
            if let Some(c) = &cursor {
                url.push_str(&format!("&cursor={}", urlencode(c)));
            }
            let (status, page) = self.client.call("GET", &url, Some(&admin), None).await;
            assert_eq!(status, 200, "{page}");
            out.extend(page["messages"].as_array().cloned().unwrap_or_default());
            match page["next"].as_str() {
                Some(next) => cursor = Some(next.to_owned()),
                None => return out,
            }
        }
    }

    /// Waits until `kind/id` has `n` messages (the archiver runs in the background).
    async fn wait_for(&self, tenant: &str, kind: &str, id: &str, n: usize) -> Vec<Value> {
        for _ in 0..300 {
            let messages = self.conversation(tenant, kind, id).await;
            if messages.len() >= n {
                return messages;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        self.conversation(tenant, kind, id).await
    }

    async fn ats_writes(&self) -> usize {
        let requests = self.ats.received_requests().await.unwrap_or_default();
        requests.iter().filter(|r| r.method.as_str() == "POST").count()
    }
}

fn urlencode(s: &str) -> String {
    s.bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() || b"-_.~".contains(&b) {
                (b as char).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect()
}

fn sign(body: &str) -> String {
    seed::textus_signature(WEBHOOK_SECRET, body)
}

fn textus_received(id: &str, their: &str, text: &str) -> String {
    seed::textus_received(id, their, OURS, text)
}

fn zipwhip_received(id: &str, their: &str, text: &str) -> String {
    format!(
        r#"{{"body":{body},"bodySize":{size},"address":"ptn:/{their}","finalSource":"{their}","finalDestination":"{OURS}","messageType":"MO","fingerprint":"1514465037","id":{id},"cc":null,"visible":true,"read":false,"bcc":null,"contactId":14543967707,"scheduledDate":null,"deviceId":377265507,"dateDeleted":null,"messageTransport":5,"dateDelivered":null,"hasAttachment":false,"dateCreated":"2026-11-23T17:01:17Z","deleted":false,"dateRead":null,"statusCode":4,"messageStatus":1003}}"#,
        body = Value::from(text),
        size = text.len(),
    )
}

#[tokio::test]
async fn a_textus_webhook_is_archived_once_however_often_it_arrives() {
    let w = World::new(201).await;
    let hook = w.textus_hook("acme").await;
    w.upsert("acme", "employee", "e1", &["(206) 555-0100"]).await;
    let body = textus_received("m1", THEIRS, "Yes, I can start Monday");

    for _ in 0..5 {
        assert_eq!(w.post_textus(&hook, &body).await, 202);
    }
    let messages = w.wait_for("acme", "employee", "e1", 1).await;
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let messages_later = w.conversation("acme", "employee", "e1").await;
    assert_eq!(messages_later.len(), 1, "{messages:?}");
    let m = &messages_later[0];
    assert_eq!(m["body"], "Yes, I can start Monday");
    assert_eq!(m["direction"], "inbound");
    assert_eq!(m["their_number"], THEIRS);
    assert_eq!(m["action_type"], "Message");
    assert_eq!(w.ats_writes().await, 1, "written back to the ATS once");
    let write = w.ats.received_requests().await.unwrap_or_default().into_iter().find(|r| r.method.as_str() == "POST");
    let write = write.expect("ats write");
    assert_eq!(write.url.path(), "/Employees/e1/messages");
    let sent: Value = serde_json::from_slice(&write.body).expect("json");
    assert_eq!(sent["actionId"], 7, "the action id of \"Message\", looked up");

    // Bad signature, unknown token, malformed body: refused, nothing queued.
    assert_eq!(w.post(&hook, &body, Some(&"0".repeat(64)), "application/json").await, 401);
    assert_eq!(w.post(&hook, &body, None, "application/json").await, 401);
    let forged = textus_received("m2", THEIRS, "forged");
    assert_eq!(w.post(&hook, &forged, Some(&sign(&body)), "application/json").await, 401);
    let unknown = format!("/webhooks/textus/{}", "a".repeat(48));
    assert_eq!(w.post_textus(&unknown, &body).await, 404);
    assert_eq!(w.post_textus(&hook.replace("textus", "zipwhip"), &body).await, 404);
    assert_eq!(w.post_textus(&hook, "{not json").await, 400);
    let huge = "x".repeat(300 * 1024);
    assert_eq!(w.post_textus(&hook, &huge).await, 413);
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(w.conversation("acme", "employee", "e1").await.len(), 1);
}

#[tokio::test]
async fn shared_numbers_unmatched_messages_and_zipwhip_ids() {
    let w = World::new(201).await;
    let hook = w.zipwhip_hook("acme").await;
    let admin = w.admin("acme");
    w.upsert("acme", "candidate", "c1", &[THEIRS]).await;
    w.upsert("acme", "contact", "k9", &[THEIRS, "+12065550111"]).await;

    let big_id = "1327295480212647936";
    assert_eq!(w.post(&hook, &zipwhip_received(big_id, THEIRS, "hello both"), None, "application/json").await, 202);
    let on_candidate = w.wait_for("acme", "candidate", "c1", 1).await;
    let on_contact = w.wait_for("acme", "contact", "k9", 1).await;
    assert_eq!((on_candidate.len(), on_contact.len()), (1, 1), "archived to each record");
    assert_eq!(on_candidate[0]["provider_message_id"], big_id, "the id survives exactly");
    assert_eq!(on_candidate[0]["texting_user"], "u-7", "attributed by the line's username");

    // A number nobody has: kept as unmatched, then attached when a record appears.
    let stranger = "+12065550177";
    assert_eq!(
        w.post(&hook, &zipwhip_received("1327295480212647999", stranger, "who is this?"), None, "application/json")
            .await,
        202
    );
    let mut unmatched = Value::Null;
    for _ in 0..100 {
        unmatched = w.call("GET", "/messages/unmatched", &admin, None).await.1["messages"].clone();
        if unmatched.as_array().is_some_and(|a| !a.is_empty()) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(unmatched[0]["number"], stranger, "{unmatched}");
    assert_eq!(
        w.call("GET", "/messages/unmatched", &w.admin("globex"), None).await.1,
        json!({"messages": [], "next": null}),
        "other tenants see none"
    );
    w.upsert("acme", "employee", "e5", &["206-555-0177"]).await;
    let attached = w.wait_for("acme", "employee", "e5", 1).await;
    assert_eq!(attached[0]["body"], "who is this?");
    let mut left = Value::Null;
    for _ in 0..50 {
        left = w.call("GET", "/messages/unmatched", &admin, None).await.1["messages"].clone();
        if left == json!([]) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(left, json!([]));

    // STOP opts the number out.
    assert_eq!(
        w.post(&hook, &zipwhip_received("1327295480212648000", THEIRS, "STOP"), None, "application/json").await,
        202
    );
    w.wait_for("acme", "candidate", "c1", 2).await;
}

#[tokio::test]
async fn other_tenants_never_see_or_receive_the_archive() {
    let w = World::new(201).await;
    let hook = w.textus_hook("acme").await;
    w.upsert("acme", "employee", "e1", &[THEIRS]).await;
    w.upsert("globex", "employee", "e1", &[THEIRS]).await;
    assert_eq!(w.post_textus(&hook, &textus_received("m1", THEIRS, "for acme only")).await, 202);
    assert_eq!(w.wait_for("acme", "employee", "e1", 1).await.len(), 1);
    tokio::time::sleep(Duration::from_millis(800)).await;
    assert!(w.conversation("globex", "employee", "e1").await.is_empty(), "same record id, other tenant: nothing");
    let globex = w.admin("globex");
    assert_eq!(w.call("GET", "/records/employee/e9/messages", &globex, None).await.0, 404);
    let jane = token(&w.dir, &["--tenant", "acme", "--role", "user", "--user-id", "u-1"]);
    assert_eq!(w.call("PUT", "/records/employee/e2", &jane, Some(json!({"phones": []}))).await.0, 403);
    let (status, resp) = w.call("PUT", "/records/employee/e2", &globex, Some(json!({"phones": ["not a phone"]}))).await;
    assert_eq!(status, 422);
    assert_eq!(resp["error"]["field"], "phones[0]");
}

#[tokio::test]
async fn a_poison_message_goes_to_the_dead_letter_queue_and_replays_once() {
    let w = World::new(503).await;
    let hook = w.textus_hook("acme").await;
    let admin = w.admin("acme");
    w.upsert("acme", "employee", "e1", &[THEIRS]).await;
    assert_eq!(w.post_textus(&hook, &textus_received("m1", THEIRS, "poison until fixed")).await, 202);

    let mut dead = Value::Null;
    for _ in 0..200 {
        dead = w.call("GET", "/admin/dead-letters", &admin, None).await.1;
        if dead.as_array().is_some_and(|a| !a.is_empty()) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(dead.as_array().map(Vec::len), Some(1), "{dead}");
    assert_eq!(dead[0]["tenant"], "acme");
    assert_eq!(w.call("GET", "/admin/dead-letters", &w.admin("globex"), None).await.1, json!([]));
    assert_eq!(
        w.call("POST", "/admin/dead-letters/replay", &w.admin("globex"), Some(json!({}))).await.1["replayed"],
        0
    );

    w.ats.reset().await;
    Mock::given(method("GET"))
        .and(path("/DataLists/messageActions"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!([{"actionId": 7, "action": "Message"}])))
        .mount(&w.ats)
        .await;
    Mock::given(method("GET"))
        .and(path_regex(r"^/(Employees|Contacts)/[^/]+/messages$"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({"totalCount": 0, "data": []})))
        .mount(&w.ats)
        .await;
    mount_writes(&w.ats, 201).await;

    let (status, resp) = w.call("POST", "/admin/dead-letters/replay", &admin, Some(json!({}))).await;
    assert_eq!(status, 200, "{resp}");
    assert_eq!(resp["replayed"], 1);
    let messages = w.wait_for("acme", "employee", "e1", 1).await;
    assert_eq!(messages.len(), 1);
    for _ in 0..50 {
        if w.ats_writes().await >= 1 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert_eq!(w.ats_writes().await, 1, "written once after the fix");
    assert_eq!(w.call("GET", "/admin/dead-letters", &admin, None).await.1, json!([]));
    assert_eq!(w.call("POST", "/admin/dead-letters/replay", &admin, Some(json!({}))).await.1["replayed"], 0);
}

#[tokio::test]
async fn zipwhip_webhooks_can_be_limited_to_the_providers_addresses() {
    let w = World::new(201).await;
    let hook = w.zipwhip_hook("acme").await;
    let admin = w.admin("acme");
    let sources = "/admin/webhook-sources";
    let zipwhip_nets = json!({"zipwhip": ["69.46.44.0/24", "208.69.95.64/26"]});
    assert_eq!(w.call("PUT", sources, &admin, Some(zipwhip_nets.clone())).await, (200, zipwhip_nets.clone()));
    let body = zipwhip_received("1327295480212647936", THEIRS, "from loopback");
    assert_eq!(w.post(&hook, &body, None, "application/json").await, 403, "loopback is not Zipwhip");

    assert_eq!(w.call("PUT", sources, &admin, Some(json!({"zipwhip": ["127.0.0.1"]}))).await.0, 200);
    assert_eq!(w.post(&hook, &body, None, "application/json").await, 202);

    let (status, resp) = w.call("PUT", sources, &admin, Some(json!({"zipwhip": ["69.46.44.0/24", "nope"]}))).await;
    assert_eq!(status, 422);
    assert_eq!(resp["error"]["field"], "zipwhip[1]");
    assert_eq!(w.call("PUT", sources, &admin, Some(json!({"sms": []}))).await.0, 422);
    let jane = token(&w.dir, &["--tenant", "acme", "--role", "user", "--user-id", "u-1"]);
    assert_eq!(w.call("PUT", sources, &jane, Some(json!({}))).await.0, 403);
    assert_eq!(
        w.call("GET", sources, &w.admin("globex"), None).await,
        (200, json!({})),
        "other tenants: their own, empty"
    );
    assert_eq!(w.call("GET", sources, &admin, None).await.1, json!({"zipwhip": ["127.0.0.1"]}));
}
