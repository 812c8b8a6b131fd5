//! End to end, SPEC S2: webhook in → queue → archiver → record conversation + ATS
//! write-back, through the real `textbridge serve` on the embedded backend, with the
//! providers and a TempWorks-style ATS played by local stand-ins (TextUs by wiremock
//! here, TempWorks, Zipwhip and Twilio by `textbridge_testkit`).

use crate::common;

use std::time::Duration;

use crate::common::{Client, Server, token};
use serde_json::{Value, json};
use textbridge_app::{
    keys,
    ports::{Item, QueueDepth, SecretName},
};
use textbridge_domain::TenantId;
use textbridge_testkit::{seed, tempworks, twilio, zipwhip};
use wiremock::{
    Mock, MockServer, ResponseTemplate,
    matchers::{method, path},
};

const WEBHOOK_SECRET: &str = "whsec-archiving-4411";
pub(crate) const OURS: &str = "+12065550199";
pub(crate) const THEIRS: &str = "+12065550100";
pub(crate) const TWILIO_SID: &str = "AC0123456789abcdef0123456789abcdef";
pub(crate) const TWILIO_TOKEN: &str = "f00dfeedf00dfeedf00dfeedf00dfeed";
const TWILIO_NUMBERS: [&str; 2] = ["PN11111111111111111111111111111111", "PN22222222222222222222222222222222"];

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

pub(crate) struct World {
    pub(crate) _dir: tempfile::TempDir,
    pub(crate) dir: std::path::PathBuf,
    pub(crate) env: Vec<(String, String)>,
    pub(crate) server: Option<Server>,
    pub(crate) client: Client,
    pub(crate) textus: MockServer,
    pub(crate) zipwhip: zipwhip::StandIn,
    pub(crate) twilio: twilio::StandIn,
    pub(crate) ats: tempworks::StandIn,
}

/// The path of the first `/webhooks/...` URL in a registration call's body (JSON or form).
pub(crate) fn hook_in(raw: &[u8]) -> Option<String> {
    let sent = if raw.starts_with(b"{") {
        String::from_utf8_lossy(raw).to_string()
    } else {
        url::form_urlencoded::parse(raw).map(|(k, v)| format!("{k}={v}&")).collect()
    };
    let start = sent.find("/webhooks/")?;
    let rest = &sent[start..];
    let end = rest.find(|c: char| !(c.is_ascii_alphanumeric() || c == '/')).unwrap_or(rest.len());
    Some(rest[..end].to_owned())
}

impl World {
    /// A server whose queue messages are redelivered after 1 s.
    pub(crate) async fn new(ats: tempworks::StandIn) -> World {
        World::with(ats, "1").await
    }

    pub(crate) async fn with(ats: tempworks::StandIn, visibility_timeout_secs: &str) -> World {
        let dir = tempfile::tempdir().expect("tempdir");
        let textus = textus().await;
        let zipwhip = zipwhip::StandIn::start("zw-session-1", "687557714").await;
        let twilio = twilio::StandIn::start(TWILIO_SID, TWILIO_TOKEN, &TWILIO_NUMBERS).await;
        let embedded = textbridge_embedded::open(dir.path()).await.expect("embedded");
        for tenant in ["acme", "globex"] {
            let name = SecretName::from_parts(&[tenant, "ats", "tempworks"]).expect("name");
            embedded.backend().secrets.create(&name, &"tw-token-1".to_owned().into()).await.expect("ats token");
        }
        drop(embedded);
        let env = vec![
            ("TEXTUS_BASE_URL".to_owned(), textus.uri()),
            ("ZIPWHIP_BASE_URL".to_owned(), zipwhip.uri()),
            ("TWILIO_BASE_URL".to_owned(), twilio.uri()),
            ("TEMPWORKS_BASE_URL".to_owned(), ats.uri()),
            ("VISIBILITY_TIMEOUT_SECS".to_owned(), visibility_timeout_secs.to_owned()),
        ];
        let mut w = World {
            dir: dir.path().to_owned(),
            _dir: dir,
            env,
            server: None,
            client: Client::default(),
            textus,
            zipwhip,
            twilio,
            ats,
        };
        w.restart();
        w
    }

    pub(crate) fn server(&self) -> &Server {
        self.server.as_ref().expect("the server is running")
    }

    /// Kills the server (as SIGKILL would).
    pub(crate) fn stop(&mut self) {
        drop(self.server.take());
    }

    /// Starts the server again on the same data.
    pub(crate) fn restart(&mut self) {
        self.stop();
        let env: Vec<(&str, &str)> = self.env.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
        self.server = Some(Server::start(&self.dir, &env));
    }

    /// The intake queue's depth, read from the database (the server may be running).
    pub(crate) async fn depth(&self) -> QueueDepth {
        let embedded = textbridge_embedded::open(&self.dir).await.expect("embedded");
        embedded.backend().queue.depth().await.expect("depth")
    }

    /// The stored opt-out item of `number` in `tenant`, if any.
    pub(crate) async fn opt_out(&self, tenant: &str, number: &str) -> Option<Item> {
        let embedded = textbridge_embedded::open(&self.dir).await.expect("embedded");
        let key = keys::opt_out(&TenantId::parse(tenant).expect("tenant"), &number.parse().expect("E.164"));
        embedded.backend().store.get(&key).await.expect("get")
    }

    pub(crate) fn admin(&self, tenant: &str) -> String {
        token(&self.dir, &["--tenant", tenant, "--role", "customer_admin", "--user-id", "admin-1"])
    }

    pub(crate) async fn call(&self, method: &str, path: &str, bearer: &str, body: Option<Value>) -> (u16, Value) {
        self.client.call(method, &format!("{}{path}", self.server().base), Some(bearer), body.as_ref()).await
    }

    /// Saves credentials; they must be connected.
    pub(crate) async fn connect(&self, tenant: &str, route: &str, body: Value) -> Value {
        let (status, resp) = self.call("POST", route, &self.admin(tenant), Some(body)).await;
        assert_eq!(status, 201, "{resp}");
        assert_eq!(resp["status"], "connected", "{resp}");
        resp
    }

    /// Saves TextUs system credentials; returns the webhook path TextUs was given.
    pub(crate) async fn textus_hook(&self, tenant: &str) -> String {
        let body = json!({"account_slug": "acme", "username": format!("ops@{tenant}.test"), "api_key": "tx-key-1"});
        self.connect(tenant, "/credentials/textus/system", body).await;
        let requests = self.textus.received_requests().await.unwrap_or_default();
        let registration = requests.iter().rev().find(|r| r.method.as_str() == "POST").expect("registration");
        hook_in(&registration.body).expect("webhook url in the registration")
    }

    /// Saves Zipwhip user credentials; returns the webhook path Zipwhip was given.
    pub(crate) async fn zipwhip_hook(&self, tenant: &str) -> String {
        let body = json!({"username": "alex@2065550199", "password": "zw-pass-1"});
        common::texting_user(&self.client, &self.server().base, &self.admin(tenant), "u-7").await;
        self.connect(tenant, "/credentials/zipwhip/user/u-7", body).await;
        self.zipwhip.hook_path().await.expect("webhook registered")
    }

    /// Saves Twilio system credentials; returns the full URL every number's SMS
    /// webhook now points at (what Twilio signs).
    pub(crate) async fn twilio_hook(&self, tenant: &str) -> String {
        let resp = self
            .connect(
                tenant,
                "/credentials/twilio/system",
                json!({"account_sid": TWILIO_SID, "auth_token": TWILIO_TOKEN}),
            )
            .await;
        assert_eq!(resp["webhooks"], json!({"state": "registered", "count": 2}), "{resp}");
        let urls: Vec<String> = TWILIO_NUMBERS.iter().map(|pn| self.twilio.sms_url(pn).expect("number")).collect();
        assert_eq!(urls[0], urls[1], "every number points at one intake URL");
        assert!(urls[0].starts_with(&format!("{}/webhooks/twilio/", self.server().base)), "{}", urls[0]);
        urls[0].clone()
    }

    /// Posts a Twilio webhook call to `url` with `params`, signed with `auth_token` for `signed_url`.
    pub(crate) async fn post_twilio(
        &self,
        url: &str,
        params: &[(&str, &str)],
        auth_token: &str,
        signed_url: &str,
    ) -> u16 {
        let req = self
            .client
            .raw()
            .post(url)
            .header("content-type", "application/x-www-form-urlencoded")
            .header("x-twilio-signature", twilio::signature(auth_token, signed_url, params))
            .body(twilio::form(params));
        self.client.send(req).await.0
    }

    pub(crate) async fn post(&self, hook: &str, body: &str, signature: Option<&str>, content_type: &str) -> u16 {
        let mut req = self
            .client
            .raw()
            .post(format!("{}{hook}", self.server().base))
            .header("content-type", content_type)
            .body(body.to_owned());
        if let Some(sig) = signature {
            req = req.header("x-textus-signature", sig);
        }
        self.client.send(req).await.0
    }

    pub(crate) async fn post_textus(&self, hook: &str, body: &str) -> u16 {
        self.post(hook, body, Some(&sign(body)), "application/json").await
    }

    pub(crate) async fn upsert(&self, tenant: &str, kind: &str, id: &str, phones: &[&str]) {
        let (status, resp) = self
            .call("PUT", &format!("/records/{kind}/{id}"), &self.admin(tenant), Some(json!({"phones": phones})))
            .await;
        assert_eq!(status, 200, "{resp}");
    }

    /// Every message on a record's conversation (all pages).
    pub(crate) async fn conversation(&self, tenant: &str, kind: &str, id: &str) -> Vec<Value> {
        let admin = self.admin(tenant);
        let mut out = Vec::new();
        let mut cursor: Option<String> = None;
        loop {
            let mut url = format!("{}/records/{kind}/{id}/messages?limit=100", self.server().base);
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

    /// Waits until `tenant` has unmatched texts; returns them.
    pub(crate) async fn wait_for_unmatched(&self, tenant: &str) -> Value {
        let admin = self.admin(tenant);
        let mut unmatched = Value::Null;
        for _ in 0..600 {
            unmatched = self.call("GET", "/messages/unmatched", &admin, None).await.1["messages"].clone();
            if unmatched.as_array().is_some_and(|a| !a.is_empty()) {
                break;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        unmatched
    }

    /// Waits until `kind/id` has at least `n` messages (the archiver runs in the
    /// background); fails the test, saying how many came, when they don't within 30 s.
    pub(crate) async fn wait_for(&self, tenant: &str, kind: &str, id: &str, n: usize) -> Vec<Value> {
        let mut messages = Vec::new();
        for _ in 0..300 {
            messages = self.conversation(tenant, kind, id).await;
            if messages.len() >= n {
                return messages;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        panic!("{tenant}'s {kind} {id} has {} of the {n} texts waited for after 30 s: {messages:?}", messages.len());
    }

    /// Writes the ATS received, however answered.
    pub(crate) async fn ats_writes(&self) -> usize {
        self.ats.writes().await.len()
    }

    /// Waits until the ATS keeps `n` messages; returns their texts.
    pub(crate) async fn wait_for_kept(&self, n: usize) -> Vec<String> {
        for _ in 0..300 {
            if self.ats.kept().len() >= n {
                break;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        self.ats.kept().into_iter().map(|k| k.text).collect()
    }

    /// Waits until the intake queue holds nothing (every message handled).
    pub(crate) async fn wait_until_queue_is_empty(&self) {
        for _ in 0..300 {
            let depth = self.depth().await;
            if depth.visible + depth.in_flight == 0 {
                return;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        panic!("the intake queue did not empty: {:?}", self.depth().await);
    }

    /// Waits until the dead-letter queue (as `GET /admin/dead-letters` shows it to
    /// `tenant`'s admin) holds `n` letters; returns them.
    pub(crate) async fn wait_for_dead_letters(&self, tenant: &str, n: usize) -> Vec<Value> {
        let admin = self.admin(tenant);
        let mut dead = Vec::new();
        for _ in 0..300 {
            dead =
                self.call("GET", "/admin/dead-letters", &admin, None).await.1.as_array().cloned().unwrap_or_default();
            if dead.len() >= n {
                break;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        dead
    }
}

pub(crate) fn urlencode(s: &str) -> String {
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

pub(crate) fn sign(body: &str) -> String {
    seed::textus_signature(WEBHOOK_SECRET, body)
}

fn textus_received(id: &str, their: &str, text: &str) -> String {
    seed::textus_received(id, their, OURS, text)
}

fn zipwhip_received(id: &str, their: &str, text: &str) -> String {
    zipwhip::received(id, their, OURS, text)
}

#[tokio::test]
async fn a_textus_webhook_is_archived_once_however_often_it_arrives() {
    let w = World::new(tempworks::StandIn::start().await).await;
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
    let write = w.ats.writes().await.into_iter().next().expect("ats write");
    assert_eq!(write.url.path(), "/Employees/e1/messages");
    let sent: Value = serde_json::from_slice(&write.body).expect("json");
    assert_eq!(sent["actionId"], tempworks::MESSAGE_ACTION_ID, "the action id of \"Message\", looked up");
}

/// The server caches what every webhook reads (its default settings); a change made
/// through it reaches the very next webhook all the same: an allow-list that leaves
/// the caller out, one that lets it in, then the credentials removed.
#[tokio::test]
async fn changes_reach_the_next_webhook_at_once() {
    let w = World::new(tempworks::StandIn::start().await).await;
    let hook = w.textus_hook("acme").await;
    let body = textus_received("m1", THEIRS, "see you at nine");
    assert_eq!(w.post_textus(&hook, &body).await, 202);
    let admin = w.admin("acme");
    let elsewhere = json!({"textus": ["192.0.2.0/24"]});
    assert_eq!(w.call("PUT", "/admin/webhook-sources", &admin, Some(elsewhere)).await.0, 200);
    assert_eq!(w.post_textus(&hook, &body).await, 403);
    let here = json!({"textus": ["127.0.0.1"]});
    assert_eq!(w.call("PUT", "/admin/webhook-sources", &admin, Some(here)).await.0, 200);
    assert_eq!(w.post_textus(&hook, &body).await, 202);
    let (status, resp) = w.call("DELETE", "/credentials/textus/system", &admin, None).await;
    assert_eq!((status, &resp["removed"]), (200, &json!(true)), "{resp}");
    assert_eq!(w.post_textus(&hook, &body).await, 404);
}

#[tokio::test]
async fn bad_webhook_calls_are_refused_and_queue_nothing() {
    // Every write to the ATS fails and a received message stays hidden for 60 s, so
    // anything accepted stays in the queue (in flight) where the depth shows it.
    let mut w = World::with(tempworks::StandIn::answering_writes(500).await, "60").await;
    let hook = w.textus_hook("acme").await;
    let twilio_url = w.twilio_hook("acme").await;
    w.upsert("acme", "employee", "e1", &[THEIRS]).await;
    let body = textus_received("m1", THEIRS, "never queued");

    // TextUs: bad signature, none, one for another body; unknown token or provider;
    // malformed or oversized body.
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
    // Twilio: signed with another Auth Token, for another URL, or for other parameters.
    let params = twilio::received(TWILIO_SID, "SM00000000000000000000000000000001", THEIRS, OURS, "forged");
    let other_token = "0123456789abcdef0123456789abcdef";
    assert_eq!(w.post_twilio(&twilio_url, &params, other_token, &twilio_url).await, 401);
    let elsewhere = twilio_url.replace("127.0.0.1", "localhost");
    assert_eq!(w.post_twilio(&twilio_url, &params, TWILIO_TOKEN, &elsewhere).await, 401);
    let mut tampered = params.clone();
    tampered.retain(|(k, _)| *k != "Body");
    let req = w
        .client
        .raw()
        .post(&twilio_url)
        .header("content-type", "application/x-www-form-urlencoded")
        .header("x-twilio-signature", twilio::signature(TWILIO_TOKEN, &twilio_url, &tampered))
        .body(twilio::form(&params));
    assert_eq!(w.client.send(req).await.0, 401);

    assert_eq!(w.call("GET", "/admin/dead-letters", &w.admin("acme"), None).await.1, json!([]));
    w.stop();
    let depth = w.depth().await;
    assert_eq!((depth.visible, depth.in_flight, depth.dead), (0, 0, 0), "nothing was queued");

    // The same observation sees an accepted call.
    w.restart();
    assert_eq!(w.post_textus(&hook, &body).await, 202);
    w.stop();
    let depth = w.depth().await;
    assert_eq!((depth.visible + depth.in_flight, depth.dead), (1, 0), "the accepted call is queued");
}

#[tokio::test]
async fn shared_numbers_unmatched_messages_and_zipwhip_ids() {
    let w = World::new(tempworks::StandIn::start().await).await;
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
    let unmatched = w.wait_for_unmatched("acme").await;
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
    for _ in 0..600 {
        left = w.call("GET", "/messages/unmatched", &admin, None).await.1["messages"].clone();
        if left == json!([]) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(left, json!([]));

    // STOP opts the number out.
    assert!(w.opt_out("acme", THEIRS).await.is_none(), "not opted out before STOP");
    assert_eq!(
        w.post(&hook, &zipwhip_received("1327295480212648000", THEIRS, "STOP"), None, "application/json").await,
        202
    );
    let messages = w.wait_for("acme", "candidate", "c1", 3).await;
    assert_eq!(messages.len(), 3, "the STOP text is archived too, and the opt-out as an event");
    assert_eq!(messages.iter().filter(|m| m["event"] == "opted_out").count(), 1, "{messages:?}");
    let opt_out = w.opt_out("acme", THEIRS).await.expect("an opt-out is recorded");
    assert_eq!(opt_out.str("number"), Some(THEIRS));
    assert_eq!(opt_out.attrs.get("opted_out"), Some(&json!(true)));
    assert!(w.opt_out("globex", THEIRS).await.is_none(), "only in the tenant it was texted in");
}

#[tokio::test]
async fn other_tenants_never_see_or_receive_the_archive() {
    let w = World::new(tempworks::StandIn::start().await).await;
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
    let w = World::new(tempworks::StandIn::answering_writes(503).await).await;
    let hook = w.textus_hook("acme").await;
    let admin = w.admin("acme");
    w.upsert("acme", "employee", "e1", &[THEIRS]).await;
    assert_eq!(w.post_textus(&hook, &textus_received("m1", THEIRS, "poison until fixed")).await, 202);

    let dead = w.wait_for_dead_letters("acme", 1).await;
    assert_eq!(dead.len(), 1, "{dead:?}");
    assert_eq!(dead[0]["tenant"], "acme");
    assert_eq!(dead[0]["failure"]["code"], "unavailable", "why it failed: {dead:?}");
    let reason = dead[0]["failure"]["reason"].as_str().unwrap_or_default();
    assert!(!reason.is_empty() && !reason.contains("poison until fixed"), "a reason, never the text: {dead:?}");
    assert_eq!(w.call("GET", "/admin/dead-letters", &w.admin("globex"), None).await.1, json!([]));
    assert_eq!(
        w.call("POST", "/admin/dead-letters/replay", &w.admin("globex"), Some(json!({}))).await.1["replayed"],
        0
    );
    // Queue depths count every tenant's messages: staff only.
    let staff = token(&w.dir, &["--tenant", "acme", "--role", "staff"]);
    let (status, depth) = w.call("GET", "/admin/queues", &staff, None).await;
    assert_eq!(status, 200, "{depth}");
    assert_eq!((depth["dead"].as_u64(), depth["visible"].as_u64()), (Some(1), Some(0)), "{depth}");
    assert_eq!(depth["dead_by_tenant"], json!({"acme": 1}), "{depth}");
    let (status, resp) = w.call("GET", "/admin/queues", &admin, None).await;
    assert_eq!((status, resp["error"]["code"].as_str()), (403, Some("forbidden")), "{resp}");

    w.ats.keep_writes();
    let (status, resp) = w.call("POST", "/admin/dead-letters/replay", &admin, Some(json!({}))).await;
    assert_eq!(status, 200, "{resp}");
    assert_eq!(resp["replayed"], 1);
    let messages = w.wait_for("acme", "employee", "e1", 1).await;
    assert_eq!(messages.len(), 1);
    w.wait_for_kept(1).await;
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert_eq!(w.ats.kept().len(), 1, "written once after the fix");
    assert_eq!(w.call("GET", "/admin/dead-letters", &admin, None).await.1, json!([]));
    assert_eq!(w.call("POST", "/admin/dead-letters/replay", &admin, Some(json!({}))).await.1["replayed"], 0);
}

/// Two texts on e1 of acme that the ATS refuses (HTTP 500) until they are dead
/// letters; returns the world (server stopped) and the dead letters' ids.
async fn two_dead_letters() -> (World, Vec<String>) {
    let mut w = World::new(tempworks::StandIn::answering_writes(500).await).await;
    let hook = w.textus_hook("acme").await;
    w.upsert("acme", "employee", "e1", &[THEIRS]).await;
    for (id, text) in [("m1", "first dead letter"), ("m2", "second dead letter")] {
        assert_eq!(w.post_textus(&hook, &textus_received(id, THEIRS, text)).await, 202);
    }
    let dead = w.wait_for_dead_letters("acme", 2).await;
    assert_eq!(dead.len(), 2, "{dead:?}");
    let mut ids: Vec<String> = dead.iter().map(|d| d["id"].as_str().expect("id").to_owned()).collect();
    ids.sort();
    w.stop();
    (w, ids)
}

/// The ids `textbridge dlq list` prints, sorted.
fn listed_ids(listing: &str) -> Vec<String> {
    let mut ids: Vec<String> = listing
        .lines()
        .map(|line| {
            let letter: Value = serde_json::from_str(line).expect("one JSON object per line");
            letter["id"].as_str().expect("id").to_owned()
        })
        .collect();
    ids.sort();
    ids
}

#[tokio::test]
async fn dlq_commands_list_and_replay_real_dead_letters() {
    let (mut w, ids) = two_dead_letters().await;
    let dlq = |args: &[&str]| common::cli(&w.dir, args);
    assert_eq!(listed_ids(&dlq(&["dlq", "list"])), ids, "the CLI lists what the API lists");
    let status: Value = serde_json::from_str(dlq(&["status"]).trim()).expect("status JSON");
    assert_eq!((&status["dead"], &status["dead_by_tenant"]), (&json!(2), &json!({"acme": 2})), "{status}");

    assert_eq!(dlq(&["dlq", "replay", "--id", "no-such-letter"]).trim(), "replayed 0 dead letter(s)");
    assert_eq!(dlq(&["dlq", "replay", "--id", &ids[0]]).trim(), "replayed 1 dead letter(s)");
    assert_eq!(listed_ids(&dlq(&["dlq", "list"])), ids[1..], "only the one named was replayed");
    assert_eq!(dlq(&["dlq", "replay"]).trim(), "replayed 1 dead letter(s)");
    assert_eq!(dlq(&["dlq", "list"]), "");
    let depth = w.depth().await;
    assert_eq!((depth.visible, depth.dead), (2, 0), "both back on the intake queue");

    // Once the ATS takes writes again, each text is archived and written once.
    w.ats.keep_writes();
    w.restart();
    assert_eq!(w.wait_for("acme", "employee", "e1", 2).await.len(), 2);
    w.wait_for_kept(2).await;
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let kept = w.ats.kept();
    assert_eq!(kept.len(), 2, "{kept:?}");
    for marker in ["[textbridge textus:/messages/m1]", "[textbridge textus:/messages/m2]"] {
        assert_eq!(kept.iter().filter(|k| k.text.ends_with(marker)).count(), 1, "{marker} in {kept:?}");
    }
    assert_eq!(w.conversation("acme", "employee", "e1").await.len(), 2);
    assert_eq!(w.call("GET", "/admin/dead-letters", &w.admin("acme"), None).await.1, json!([]));
    w.stop();
    let depth = w.depth().await;
    assert_eq!((depth.visible, depth.in_flight, depth.dead), (0, 0, 0));
}

#[tokio::test]
async fn dlq_list_never_prints_a_message_body() {
    let (w, ids) = two_dead_letters().await;
    let listing = common::cli(&w.dir, &["dlq", "list"]);
    assert_eq!(listed_ids(&listing), ids);
    for secret in ["first dead letter", "second dead letter", THEIRS, OURS, "2065550100", "2065550199"] {
        assert!(!listing.contains(secret), "{secret} in `dlq list`: {listing}");
    }
}

#[tokio::test]
async fn twilio_credentials_then_a_signed_webhook_are_archived() {
    let w = World::new(tempworks::StandIn::start().await).await;
    let url = w.twilio_hook("acme").await;
    w.upsert("acme", "employee", "e1", &[THEIRS]).await;
    let sid = "SM0123456789abcdef0123456789abcdef";
    let params = twilio::received(TWILIO_SID, sid, THEIRS, OURS, "Running 5 min late");

    let status = w.post_twilio(&url, &params, TWILIO_TOKEN, &url).await;
    assert!((200..300).contains(&status), "{status}");
    assert_eq!(w.wait_for("acme", "employee", "e1", 1).await.len(), 1);
    // Twilio sends no time: a redelivery is absorbed by the message id alone.
    let status = w.post_twilio(&url, &params, TWILIO_TOKEN, &url).await;
    assert!((200..300).contains(&status), "{status}");
    w.wait_until_queue_is_empty().await;
    let messages = w.conversation("acme", "employee", "e1").await;
    assert_eq!(messages.len(), 1, "{messages:?}");
    let m = &messages[0];
    assert_eq!(m["body"], "Running 5 min late");
    assert_eq!(m["provider"], "twilio");
    assert_eq!(m["provider_message_id"], sid);
    assert_eq!(m["direction"], "inbound");
    assert_eq!(m["their_number"], THEIRS);
    let kept = w.wait_for_kept(1).await;
    assert_eq!(kept.len(), 1, "{kept:?}");
    assert!(kept[0].starts_with(&format!("Text from {THEIRS}")), "{kept:?}");
    assert!(kept[0].ends_with(&format!(": Running 5 min late\n[textbridge twilio:{sid}]")), "{kept:?}");
    assert_eq!(w.ats.kept()[0].path, "/Employees/e1/messages");

    // Advanced Opt-Out's STOP opts the sender out, whatever keyword Twilio was set up
    // with (here French, which the body alone would not tell).
    assert!(w.opt_out("acme", THEIRS).await.is_none());
    let mut stop = twilio::received(TWILIO_SID, "SM0123456789abcdef0123456789abcde0", THEIRS, OURS, "ARRET");
    stop.push(("OptOutType", "STOP"));
    let status = w.post_twilio(&url, &stop, TWILIO_TOKEN, &url).await;
    assert!((200..300).contains(&status), "{status}");
    let messages = w.wait_for("acme", "employee", "e1", 3).await;
    assert_eq!(messages.len(), 3, "the text and one opt-out event: {messages:?}");
    let opt_out = w.opt_out("acme", THEIRS).await.expect("opt-out recorded");
    assert_eq!(opt_out.attrs.get("opted_out"), Some(&json!(true)));

    // Removing the credentials points the numbers nowhere again.
    let (status, resp) = w.call("DELETE", "/credentials/twilio/system", &w.admin("acme"), None).await;
    assert_eq!(status, 200, "{resp}");
    for pn in TWILIO_NUMBERS {
        assert_eq!(w.twilio.sms_url(pn).as_deref(), Some(""), "{pn}");
    }
    assert!(!w.server().logs().contains(TWILIO_TOKEN), "the Auth Token is in no log line");
    assert!(!w.client.bodies().contains(TWILIO_TOKEN), "nor in any answer");
}

#[tokio::test]
async fn twilio_redeliveries_handled_together_are_archived_once() {
    let w = World::new(tempworks::StandIn::start().await).await;
    let url = w.twilio_hook("acme").await;
    w.upsert("acme", "employee", "e1", &[THEIRS]).await;
    let params = twilio::received(TWILIO_SID, "SM0123456789abcdef0123456789abcdef", THEIRS, OURS, "twice");
    for _ in 0..2 {
        let status = w.post_twilio(&url, &params, TWILIO_TOKEN, &url).await;
        assert!((200..300).contains(&status), "{status}");
    }
    w.wait_for("acme", "employee", "e1", 1).await;
    w.wait_until_queue_is_empty().await;
    let messages = w.conversation("acme", "employee", "e1").await;
    assert_eq!(messages.len(), 1, "{messages:?}");
    assert_eq!(w.ats.kept().len(), 1);
}

#[tokio::test]
async fn zipwhip_webhooks_can_be_limited_to_the_providers_addresses() {
    let w = World::new(tempworks::StandIn::start().await).await;
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

/// SPEC S5 end to end: a text from a number no record has stays unmatched; the
/// tenant connects its ATS directory (users now come from the sync), `textbridge
/// sync` brings the record with that number, and the text is archived on it once —
/// and written to the ATS once. A second sync changes nothing.
#[tokio::test]
async fn an_unmatched_text_is_archived_once_when_the_ats_sync_brings_its_record() {
    use textbridge_testkit::ats_directory::{self, StandIn as Directory};
    let w = World::new(tempworks::StandIn::start().await).await;
    let hook = w.zipwhip_hook("acme").await;
    let admin = w.admin("acme");
    let stranger = "+12065550188";
    let text = zipwhip_received("1327295480212649001", stranger, "is the job still open?");
    assert_eq!(w.post(&hook, &text, None, "application/json").await, 202);
    let unmatched = w.wait_for_unmatched("acme").await;
    assert_eq!(unmatched[0]["number"], stranger, "{unmatched}");

    let directory = Directory::start().await;
    let at = "2026-11-26T10:00:00Z";
    directory.set_users(vec![ats_directory::user("77", "recruiter@acme.test", "full", None, at)]);
    directory.set_records("employee", vec![ats_directory::record("e88", &["206-555-0188"], at)]);
    let connection = json!({"base_url": directory.uri(), "token": ats_directory::TOKEN, "record_kinds": ["employee"]});
    let (status, saved) = w.call("PUT", "/credentials/ats", &admin, Some(connection)).await;
    assert_eq!(status, 200, "{saved}");
    assert_eq!((saved["status"].clone(), saved["enabled"].clone()), (json!("connected"), json!(true)), "{saved}");
    let bad = json!({"base_url": "http://ats.example.com", "token": "x"});
    let (status, refused) = w.call("PUT", "/credentials/ats", &admin, Some(bad)).await;
    assert_eq!((status, refused["error"]["field"].clone()), (422, json!("base_url")), "https only: {refused}");
    let add = json!({"first_name": "A", "last_name": "B", "email": "a@acme.test"});
    let (status, refused) = w.call("POST", "/users", &admin, Some(add)).await;
    assert_eq!(status, 409, "users come from the sync now: {refused}");
    let globex = w.admin("globex");
    assert_eq!(w.call("GET", "/credentials/ats", &globex, None).await.0, 404, "other tenants see no connection");
    let manager = token(&w.dir, &["--tenant", "acme", "--role", "manager", "--user-id", "m-1"]);
    assert_eq!(w.call("GET", "/credentials/ats", &manager, None).await.0, 403, "admins only");

    let out = common::cli(&w.dir, &["sync", "--tenant", "acme"]);
    let report: Value = serde_json::from_str(out.trim()).expect("report");
    assert_eq!((report["created"].clone(), report["records_upserted"].clone()), (json!(1), json!(1)), "{report}");
    assert_eq!(report["unmatched_reattached"], 1, "{report}");
    let archived = w.wait_for("acme", "employee", "e88", 1).await;
    assert_eq!(archived.len(), 1);
    assert_eq!(archived[0]["body"], "is the job still open?");
    w.wait_until_queue_is_empty().await;
    assert_eq!(w.ats_writes().await, 1, "written to the ATS once");

    let out = common::cli(&w.dir, &["sync", "--tenant", "acme"]);
    let again: Value = serde_json::from_str(out.trim()).expect("report");
    assert_eq!((again["created"].clone(), again["records_upserted"].clone()), (json!(0), json!(0)), "{again}");
    assert_eq!(w.conversation("acme", "employee", "e88").await.len(), 1, "still once");
    let (status, kept) = w.call("GET", "/admin/ats-sync/report", &admin, None).await;
    assert_eq!((status, kept["created"].clone()), (200, json!(1)), "the last run that changed something: {kept}");
    assert_eq!(w.call("GET", "/admin/ats-sync/report", &globex, None).await.0, 404);
    let (_, users) = w.call("GET", "/users", &admin, None).await;
    assert_eq!(users["users"][0]["email"], "recruiter@acme.test", "{users}");

    // Purging the record (customer admins only) removes it and its archive, audited.
    let staff = token(&w.dir, &["--tenant", "acme", "--role", "staff", "--user-id", "s-1"]);
    assert_eq!(w.call("DELETE", "/records/employee/e88", &manager, None).await.0, 403);
    assert_eq!(w.call("DELETE", "/records/employee/e88", &staff, None).await.0, 403);
    assert_eq!(w.call("DELETE", "/records/employee/e88", &globex, None).await.0, 404, "another tenant's record");
    let (status, purged) = w.call("DELETE", "/records/employee/e88", &admin, None).await;
    assert_eq!(status, 200, "{purged}");
    assert!(purged["removed_items"].as_u64().is_some_and(|n| n >= 3), "record, number, text: {purged}");
    let (status, _) = w.call("GET", "/records/employee/e88/messages", &admin, None).await;
    assert_eq!(status, 404, "the record and its archive are gone");
    assert_eq!(w.call("DELETE", "/records/employee/e88", &admin, None).await.0, 404, "nothing left");
    let (_, audit) = w.call("GET", "/admin/audit", &admin, None).await;
    assert_eq!((audit[0]["id"].clone(), audit[0]["by"].clone()), (json!("e88"), json!("admin-1")), "{audit}");
    assert_eq!(w.call("GET", "/admin/audit", &globex, None).await.1, json!([]));

    // Removing the connection switches manual adds back on.
    assert_eq!(w.call("DELETE", "/credentials/ats", &admin, None).await.0, 200);
    let add = json!({"first_name": "A", "last_name": "B", "email": "a@acme.test"});
    assert_eq!(w.call("POST", "/users", &admin, Some(add)).await.0, 201);
    // A token the ATS refuses: kept with the reason in plain words, integration off.
    let wrong = json!({"base_url": directory.uri(), "token": "not-the-token"});
    let (status, failed) = w.call("PUT", "/credentials/ats", &admin, Some(wrong)).await;
    assert_eq!(status, 200, "{failed}");
    assert_eq!((failed["status"].clone(), failed["enabled"].clone()), (json!("failed"), json!(false)), "{failed}");
    assert_eq!(failed["status_message"], "the ATS refused: the ATS rejected the API token", "{failed}");
    let logs = w.server().logs();
    assert!(!logs.contains(ats_directory::TOKEN) && !w.client.bodies().contains(ats_directory::TOKEN));
    assert!(!logs.contains("not-the-token") && !w.client.bodies().contains("not-the-token"));
}

/// SPEC S5 with TempWorks as the directory: the sync reads its active employees and
/// contacts with their numbers (no ATS users, so users stay managed by hand), and a
/// waiting text is archived on its employee and written back to TempWorks once.
#[tokio::test]
async fn a_tempworks_directory_fills_the_records_and_leaves_users_manual() {
    let w = World::new(tempworks::StandIn::start().await).await;
    let hook = w.zipwhip_hook("acme").await;
    let admin = w.admin("acme");
    let employees = vec![
        json!({"employeeId": 4102, "firstName": "Ann", "lastName": "Lee", "phoneNumber": "(206) 555-0188",
               "cellPhoneNumber": null, "isActive": true}),
        json!({"employeeId": 4103, "firstName": "Old", "lastName": "Hand", "phoneNumber": "206-555-0189",
               "isActive": false}),
    ];
    let contacts = vec![json!({"contactId": 9, "firstName": "Cy", "lastName": "Dee", "officePhone": "206-555-0190"})];
    w.ats.set_directory(employees, contacts, "tw-token-1");
    let text = zipwhip_received("1327295480212649002", "+12065550188", "can I work Friday?");
    assert_eq!(w.post(&hook, &text, None, "application/json").await, 202);
    w.wait_for_unmatched("acme").await;

    let candidates = json!({"connector": "tempworks", "base_url": w.ats.uri(), "token": "tw-token-1",
                            "record_kinds": ["candidate"]});
    let (status, refused) = w.call("PUT", "/credentials/ats", &admin, Some(candidates)).await;
    assert_eq!((status, &refused["error"]["field"]), (422, &json!("record_kinds")), "{refused}");
    let connection = json!({"connector": "tempworks", "base_url": w.ats.uri(), "token": "tw-token-1"});
    let (status, saved) = w.call("PUT", "/credentials/ats", &admin, Some(connection)).await;
    assert_eq!(status, 200, "{saved}");
    let shown = (&saved["connector"], &saved["status"], &saved["enabled"], &saved["users_from_ats"]);
    assert_eq!(shown, (&json!("tempworks"), &json!("connected"), &json!(true), &json!(false)), "{saved}");
    assert_eq!(saved["record_kinds"], json!(["employee", "contact"]));
    assert!(!saved.to_string().contains("tw-token-1"), "the token is write-only");
    assert_eq!(w.call("GET", "/credentials/ats", &w.admin("globex"), None).await.0, 404);
    let add = json!({"first_name": "A", "last_name": "B", "email": "a@acme.test"});
    assert_eq!(w.call("POST", "/users", &admin, Some(add)).await.0, 201, "TempWorks lists no users: adds stay on");

    let out = common::cli(&w.dir, &["sync", "--tenant", "acme"]);
    let report: Value = serde_json::from_str(out.trim()).expect("report");
    let counts = (&report["records_upserted"], &report["unmatched_reattached"], &report["created"]);
    assert_eq!(counts, (&json!(2), &json!(1), &json!(0)), "two active records, no users: {report}");
    let archived = w.wait_for("acme", "employee", "4102", 1).await;
    assert_eq!(archived[0]["body"], "can I work Friday?");
    w.wait_until_queue_is_empty().await;
    assert_eq!(w.ats_writes().await, 1, "written back once");
    assert_eq!(w.ats.kept()[0].path, "/Employees/4102/messages");
    let (status, _) = w.call("GET", "/records/employee/4103/messages", &admin, None).await;
    assert_eq!(status, 404, "an inactive employee is not listed");

    let out = common::cli(&w.dir, &["sync", "--tenant", "acme"]);
    let again: Value = serde_json::from_str(out.trim()).expect("report");
    assert_eq!((&again["records_upserted"], &again["records_unchanged"]), (&json!(0), &json!(2)), "{again}");
}
