//! End to end, SPEC S1: provider credentials through the real `textbridge serve`,
//! with TextUs, Zipwhip and Twilio played by wiremock servers speaking their
//! documented formats. Every secret used is searched for, at the end, in every
//! response body, every log line and the database file: it must appear nowhere.

use crate::common;

use crate::common::{Client, Server, token};
use textbridge_testkit::zipwhip;

use serde_json::{Value, json};
use wiremock::{
    Mock, MockServer, ResponseTemplate,
    matchers::{header, method, path},
};

const TEXTUS_SYSTEM_KEY: &str = "tx-system-key-5b1d0c";
const TEXTUS_USER_KEY: &str = "tx-user-key-9e77aa";
const TEXTUS_REPLACED_KEY: &str = "tx-user-key-replaced-31f0";
const WEBHOOK_SECRET: &str = "whsec-0d9a6f2c11";
const ZIPWHIP_PASSWORD: &str = "zw-pass-Ax81!q";
const ZIPWHIP_SESSION: &str = "zw-session-7c3e51d9";
const SECRETS: [&str; 6] =
    [TEXTUS_SYSTEM_KEY, TEXTUS_USER_KEY, TEXTUS_REPLACED_KEY, WEBHOOK_SECRET, ZIPWHIP_PASSWORD, ZIPWHIP_SESSION];

async fn textus() -> MockServer {
    let server = MockServer::start().await;
    for key in [TEXTUS_SYSTEM_KEY, TEXTUS_USER_KEY, TEXTUS_REPLACED_KEY] {
        Mock::given(method("GET"))
            .and(path("/me"))
            .and(header("authorization", format!("Bearer {key}").as_str()))
            .and(header("accept", "application/vnd.textus+jsonld"))
            .respond_with(ResponseTemplate::new(200).set_body_json(json!({"@type": "User"})))
            .mount(&server)
            .await;
    }
    Mock::given(method("GET"))
        .and(path("/me"))
        .respond_with(
            ResponseTemplate::new(401).set_body_json(json!({"error": format!("bad token {TEXTUS_USER_KEY}")})),
        )
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path("/acme/integrations"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({"@type": "hydra:Collection", "members": []})))
        .mount(&server)
        .await;
    Mock::given(method("POST"))
        .and(path("/acme/integrations"))
        .and(header("authorization", format!("Bearer {TEXTUS_SYSTEM_KEY}").as_str()))
        .respond_with(ResponseTemplate::new(201).set_body_json(json!({
            "@type": "Integration", "id": "/integrations/0yX2VrJ", "active": true, "provider": "webhook",
            "config": {"baseUrl": "ignored", "webhookSecret": WEBHOOK_SECRET}
        })))
        .mount(&server)
        .await;
    Mock::given(method("DELETE"))
        .and(path("/acme/integrations/0yX2VrJ"))
        .respond_with(ResponseTemplate::new(204))
        .mount(&server)
        .await;
    server
}

struct World {
    _dir: tempfile::TempDir,
    dir: std::path::PathBuf,
    server: Server,
    client: Client,
    textus: MockServer,
    zipwhip: zipwhip::StandIn,
}

impl World {
    async fn new() -> World {
        let dir = tempfile::tempdir().expect("tempdir");
        let (textus, zipwhip) = (textus().await, zipwhip::StandIn::start(ZIPWHIP_SESSION, "1327295480212647936").await);
        let server = Server::start(
            dir.path(),
            &[
                ("TEXTUS_BASE_URL", &textus.uri()),
                ("ZIPWHIP_BASE_URL", &zipwhip.uri()),
                ("TWILIO_BASE_URL", "http://127.0.0.1:9"),
            ],
        );
        World { dir: dir.path().to_owned(), _dir: dir, server, client: Client::default(), textus, zipwhip }
    }

    fn token(&self, tenant: &str, role: &str, user: &str, group: &str) -> String {
        token(&self.dir, &["--tenant", tenant, "--role", role, "--user-id", user, "--group", group])
    }

    async fn call(&self, method: &str, path: &str, bearer: &str, body: Option<Value>) -> (u16, Value) {
        self.client.call(method, &format!("{}{path}", self.server.base), Some(bearer), body.as_ref()).await
    }

    /// Adds texting user `id` in `group` (which must exist unless `default`).
    async fn add_user(&self, admin: &str, id: &str, group: &str) {
        let body = json!({"id": id, "first_name": "Pat", "last_name": id, "email": format!("{id}@acme.test"),
            "permission_group": group, "send_invitation": false});
        let (status, resp) = self.call("POST", "/users", admin, Some(body)).await;
        assert_eq!(status, 201, "{resp}");
    }

    /// Fails if any secret is in a response body, a log line or the database file.
    fn assert_no_secret_leaked(&self) {
        let logs = self.server.logs();
        let bodies = self.client.bodies();
        let mut db = Vec::new();
        for name in ["textbridge.db", "textbridge.db-wal"] {
            db.extend(std::fs::read(self.dir.join(name)).unwrap_or_default());
        }
        let db = String::from_utf8_lossy(&db);
        assert!(logs.contains("listening"), "logs were captured");
        for secret in SECRETS {
            assert!(!logs.contains(secret), "secret {secret} in the logs");
            assert!(!bodies.contains(secret), "secret {secret} in a response");
            assert!(!db.contains(secret), "secret {secret} in plaintext in the database");
        }
    }
}

fn textus_system() -> Value {
    json!({"account_slug": "acme", "username": "ops@acme.test", "api_key": TEXTUS_SYSTEM_KEY})
}

#[tokio::test]
async fn textus_system_then_user_credentials_full_lifecycle() {
    let w = World::new().await;
    let admin = w.token("acme", "customer_admin", "admin-1", "Admins");
    let jane = w.token("acme", "user", "u-7", "Recruiters");
    let temp = w.token("acme", "user", "u-9", "Temps");
    let user_body = json!({"username": "jane@acme.test", "api_key": TEXTUS_USER_KEY});

    assert_eq!(w.call("PUT", "/permission-groups/Recruiters", &admin, Some(json!({"can_text": true}))).await.0, 200);
    assert_eq!(w.call("PUT", "/permission-groups/Recruiters", &jane, Some(json!({"can_text": true}))).await.0, 403);
    assert_eq!(w.call("PUT", "/permission-groups/Temps", &admin, Some(json!({"can_text": false}))).await.0, 200);
    for (id, group) in [("u-7", "Recruiters"), ("u-8", "Recruiters"), ("u-9", "Temps"), ("u-10", "Recruiters")] {
        w.add_user(&admin, id, group).await;
    }

    // User credentials before system ones: refused, nothing left behind.
    let (status, body) = w.call("POST", "/credentials/textus/user/u-7", &jane, Some(user_body.clone())).await;
    assert_eq!(status, 409, "{body}");
    assert!(body["error"]["message"].as_str().unwrap_or_default().contains("system-level TextUs credentials first"));
    assert_eq!(w.call("GET", "/credentials", &admin, None).await.1, json!([]));

    // System credentials: admins only; saving registers the webhook.
    assert_eq!(w.call("POST", "/credentials/textus/system", &jane, Some(textus_system())).await.0, 403);
    let (status, body) = w.call("POST", "/credentials/textus/system", &admin, Some(textus_system())).await;
    assert_eq!(status, 201, "{body}");
    assert_eq!(body["status"], "connected");
    assert_eq!(body["status_message"], "connected");
    assert_eq!(body["fields"], json!({"account_slug": "acme"}));
    assert_eq!(body["username"], "ops@acme.test");
    assert_eq!(body["webhooks"], json!({"state": "registered", "count": 1}));
    let registrations: Vec<_> = w
        .textus
        .received_requests()
        .await
        .unwrap_or_default()
        .into_iter()
        .filter(|r| r.method.as_str() == "POST" && r.url.path() == "/acme/integrations")
        .collect();
    assert_eq!(registrations.len(), 1);
    let sent: Value = serde_json::from_slice(&registrations[0].body).expect("json body");
    let base_url = sent["config"]["baseUrl"].as_str().unwrap_or_default();
    assert!(base_url.starts_with(&format!("{}/webhooks/textus/", w.server.base)), "{base_url}");
    assert_eq!(sent["settings"]["actions"]["message.received"], true);
    assert_eq!(w.call("POST", "/credentials/textus/system", &admin, Some(textus_system())).await.0, 409);

    // User credentials: the user themselves, with Can Text.
    assert_eq!(w.call("POST", "/credentials/textus/user/u-9", &temp, Some(user_body.clone())).await.0, 403);
    assert_eq!(w.call("POST", "/credentials/textus/user/u-7", &temp, Some(user_body.clone())).await.0, 403);
    let (status, body) = w.call("POST", "/credentials/textus/user/u-7", &jane, Some(user_body.clone())).await;
    assert_eq!(status, 201, "{body}");
    assert_eq!(body["status"], "connected");
    assert_eq!(body["scope"], "u-7");

    // The provider username is unique in the tenant.
    let (status, body) = w.call("POST", "/credentials/textus/user/u-8", &admin, Some(user_body.clone())).await;
    assert_eq!(status, 409);
    assert_eq!(body["error"]["field"], "username");
    assert!(body["error"]["message"].as_str().unwrap_or_default().contains("jane@acme.test"));

    // Listing: admins see all, users their own.
    assert_eq!(w.call("GET", "/credentials", &admin, None).await.1.as_array().map(Vec::len), Some(2));
    let (_, mine) = w.call("GET", "/credentials", &jane, None).await;
    assert_eq!(mine.as_array().map(Vec::len), Some(1));
    assert_eq!(w.call("GET", "/credentials", &temp, None).await.1, json!([]));

    // Test, replace, test again.
    let (status, body) = w.call("POST", "/credentials/textus/user/u-7/test", &jane, None).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["last_test"]["ok"], true);
    assert!(body["last_test"]["at"].as_str().is_some());
    let (status, body) = w
        .call("PUT", "/credentials/textus/user/u-7/secret", &jane, Some(json!({"api_key": TEXTUS_REPLACED_KEY})))
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["status"], "connected");
    let bearer_replaced = format!("Bearer {TEXTUS_REPLACED_KEY}");
    let used_replaced = w
        .textus
        .received_requests()
        .await
        .unwrap_or_default()
        .iter()
        .any(|r| r.headers.get("authorization").and_then(|v| v.to_str().ok()) == Some(bearer_replaced.as_str()));
    assert!(used_replaced, "the replacement key is what the provider now sees");

    // A key the provider rejects: saved, marked failed, with the reason in plain words.
    let (status, body) = w
        .call(
            "POST",
            "/credentials/textus/user/u-10",
            &admin,
            Some(json!({"username": "x@acme.test", "api_key": "tx-rejected-key"})),
        )
        .await;
    assert_eq!(status, 201, "{body}");
    assert_eq!(body["status"], "failed");
    assert_eq!(body["status_message"], "TextUs rejected the username or API key");

    // Remove: webhooks unregistered, secret and claim gone, saving again works.
    let (status, body) = w.call("DELETE", "/credentials/textus/system", &admin, None).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["provider_cleanup"], "webhooks unregistered");
    let deleted = w.textus.received_requests().await.unwrap_or_default().iter().any(|r| r.method.as_str() == "DELETE");
    assert!(deleted);
    assert_eq!(w.call("GET", "/credentials/textus/system", &admin, None).await.0, 404);
    assert_eq!(w.call("POST", "/credentials/textus/system", &admin, Some(textus_system())).await.0, 201);
    assert_eq!(w.call("DELETE", "/credentials/textus/user/u-7", &jane, None).await.0, 200);
    assert_eq!(
        w.call("POST", "/credentials/textus/user/u-8", &admin, Some(user_body)).await.0,
        201,
        "username free again"
    );

    w.assert_no_secret_leaked();
}

#[tokio::test]
async fn other_tenants_see_and_touch_nothing() {
    let w = World::new().await;
    let admin = w.token("acme", "customer_admin", "admin-1", "Admins");
    let intruder = w.token("globex", "customer_admin", "admin-1", "Admins");
    assert_eq!(w.call("POST", "/credentials/textus/system", &admin, Some(textus_system())).await.0, 201);
    assert_eq!(w.call("PUT", "/permission-groups/Recruiters", &admin, Some(json!({"can_text": true}))).await.0, 200);
    w.add_user(&admin, "u-7", "Recruiters").await;
    let zw = json!({"username": "alex@6512345678", "password": ZIPWHIP_PASSWORD});
    assert_eq!(w.call("POST", "/credentials/zipwhip/user/u-7", &admin, Some(zw)).await.0, 201);

    for (method, path, body) in [
        ("GET", "/credentials/textus/system", None),
        ("POST", "/credentials/textus/system/test", None),
        ("PUT", "/credentials/textus/system/secret", Some(json!({"api_key": "tx-other"}))),
        ("DELETE", "/credentials/textus/system", None),
        ("GET", "/credentials/zipwhip/user/u-7", None),
        ("POST", "/credentials/zipwhip/user/u-7/test", None),
        ("DELETE", "/credentials/zipwhip/user/u-7", None),
    ] {
        let (status, resp) = w.call(method, path, &intruder, body).await;
        assert_eq!(status, 404, "{method} {path}: {resp}");
    }
    assert_eq!(w.call("GET", "/credentials", &intruder, None).await.1, json!([]));
    // The same provider username in another tenant is a different claim.
    assert_eq!(w.call("POST", "/credentials/textus/system", &intruder, Some(textus_system())).await.0, 201);
    assert_eq!(w.call("GET", "/credentials/textus/system", &admin, None).await.1["status"], "connected");
    assert_eq!(w.call("GET", "/credentials", &admin, None).await.1.as_array().map(Vec::len), Some(2));
    w.assert_no_secret_leaked();
}

#[tokio::test]
async fn zipwhip_logs_in_keeps_the_session_and_cleans_up() {
    let w = World::new().await;
    let admin = w.token("acme", "customer_admin", "admin-1", "Admins");
    let body = json!({"username": "alex@6512345678", "password": ZIPWHIP_PASSWORD});
    let (status, resp) = w.call("POST", "/credentials/zipwhip/branch/north", &admin, Some(body)).await;
    assert_eq!(status, 201, "{resp}");
    assert_eq!(resp["status"], "connected");
    assert_eq!(resp["webhooks"]["state"], "registered");
    let (status, resp) = w.call("POST", "/credentials/zipwhip/branch/north/test", &admin, None).await;
    assert_eq!(status, 200);
    assert_eq!(resp["last_test"]["ok"], true);
    let requests = w.zipwhip.requests().await;
    let login = requests.iter().find(|r| r.url.path() == "/user/login").expect("logged in");
    assert!(String::from_utf8_lossy(&login.body).contains("username=alex%406512345678"), "form-encoded username");
    let used_session = requests
        .iter()
        .any(|r| r.url.path() == "/webhook/list" && String::from_utf8_lossy(&r.body).contains(ZIPWHIP_SESSION));
    assert!(used_session, "the saved session key is used for later calls");
    let (status, resp) = w.call("DELETE", "/credentials/zipwhip/branch/north", &admin, None).await;
    assert_eq!(status, 200, "{resp}");
    let requests = w.zipwhip.requests().await;
    let deleted = requests.iter().find(|r| r.url.path() == "/webhook/delete").expect("webhook deleted");
    assert!(String::from_utf8_lossy(&deleted.body).contains("1327295480212647936"), "the id survives exactly");
    w.assert_no_secret_leaked();
}

#[tokio::test]
async fn bad_input_is_a_clear_4xx_and_leaves_nothing_behind() {
    let w = World::new().await;
    let admin = w.token("acme", "customer_admin", "admin-1", "Admins");
    let cases: Vec<(&str, &str, Option<Value>, u16, &str)> = vec![
        (
            "POST",
            "/credentials/textus/system",
            Some(json!({"username": "ops@acme.test", "api_key": TEXTUS_SYSTEM_KEY})),
            422,
            "account_slug",
        ),
        (
            "POST",
            "/credentials/textus/system",
            Some(json!({"account_slug": "acme", "username": 5, "api_key": TEXTUS_SYSTEM_KEY})),
            422,
            "username",
        ),
        (
            "POST",
            "/credentials/textus/system",
            Some(json!({"account_slug": "acme", "username": "o@a.t", "api_key": "k", "pin": "1"})),
            422,
            "pin",
        ),
        (
            "POST",
            "/credentials/zipwhip/branch/north",
            Some(json!({"username": "(555) 123-4567", "password": ZIPWHIP_PASSWORD})),
            422,
            "digits only",
        ),
        (
            "POST",
            "/credentials/zipwhip/branch/north",
            Some(json!({"username": "555-123-4567", "password": ZIPWHIP_PASSWORD})),
            422,
            "digits only",
        ),
        ("POST", "/credentials/sms/system", Some(json!({})), 422, "provider"),
        ("POST", "/credentials/textus/team/x", Some(json!({})), 422, "level"),
        ("POST", "/credentials/zipwhip/branch/a%20b", Some(json!({})), 422, "branch_id"),
        ("POST", "/credentials/textus/system", Some(json!("not an object")), 422, "must be a JSON object"),
    ];
    for (method, path, body, want, needle) in cases {
        let (status, resp) = w.call(method, path, &admin, body).await;
        assert_eq!(status, want, "{method} {path}: {resp}");
        let text = resp["error"].to_string();
        assert!(text.contains(needle), "{path}: {text} should mention {needle}");
    }
    let url = format!("{}/credentials/textus/system", w.server.base);
    assert_eq!(common::post_oversized(&w.server.base, "/credentials/textus/system", &admin, 1 << 20).await, 413);
    let req = w.client.raw().post(&url).bearer_auth(&admin).header("content-type", "application/json").body("{nope");
    assert_eq!(w.client.send(req).await.0, 400);
    assert_eq!(w.call("GET", "/credentials", &admin, None).await.1, json!([]), "nothing left behind");
    assert!(w.zipwhip.requests().await.is_empty(), "no provider call on bad input");
    w.assert_no_secret_leaked();
}

#[tokio::test]
async fn callers_without_the_role_or_can_text_get_403_on_every_route() {
    let w = World::new().await;
    let admin = w.token("acme", "customer_admin", "admin-1", "Admins");
    let manager = w.token("acme", "manager", "m-1", "Recruiters");
    let jane = w.token("acme", "user", "u-7", "Recruiters");
    let temp = w.token("acme", "user", "u-9", "Temps");
    assert_eq!(w.call("PUT", "/permission-groups/Recruiters", &admin, Some(json!({"can_text": true}))).await.0, 200);
    assert_eq!(w.call("POST", "/credentials/textus/system", &admin, Some(textus_system())).await.0, 201);
    assert_eq!(w.call("PUT", "/permission-groups/Temps", &admin, Some(json!({"can_text": false}))).await.0, 200);
    w.add_user(&admin, "u-7", "Recruiters").await;
    w.add_user(&admin, "u-9", "Recruiters").await;
    let zw = json!({"username": "alex@6512345678", "password": ZIPWHIP_PASSWORD});
    assert_eq!(w.call("POST", "/credentials/zipwhip/user/u-9", &admin, Some(zw.clone())).await.0, 201);
    // u-9 moves to a group without Can Text: they may no longer touch their credentials.
    let moved = w.call("PUT", "/users/u-9/permission-group", &admin, Some(json!({"permission_group": "Temps"}))).await;
    assert_eq!(moved.0, 200, "{}", moved.1);

    let routes = |base: &str| {
        vec![
            ("GET", base.to_owned(), None),
            ("POST", base.to_owned(), Some(zw.clone())),
            ("DELETE", base.to_owned(), None),
            ("PUT", format!("{base}/secret"), Some(json!({"password": "x-1234"}))),
            ("POST", format!("{base}/test"), None),
        ]
    };
    let mut checks = Vec::new();
    for caller in [&manager, &jane] {
        for base in ["/credentials/textus/system", "/credentials/zipwhip/branch/north"] {
            checks.extend(routes(base).into_iter().map(|r| (caller, r)));
        }
        checks.extend(routes("/credentials/zipwhip/user/u-9").into_iter().map(|r| (caller, r)));
    }
    checks.extend(routes("/credentials/zipwhip/user/u-9").into_iter().map(|r| (&temp, r)));
    for (caller, (method, path, body)) in checks {
        let (status, resp) = w.call(method, &path, caller, body).await;
        assert_eq!(status, 403, "{method} {path}: {resp}");
        assert_eq!(resp["error"]["code"], "forbidden");
    }
    assert_eq!(
        w.call("GET", "/credentials/zipwhip/user/u-9", &admin, None).await.1["status"],
        "connected",
        "unchanged"
    );
    assert_eq!(w.call("GET", "/permission-groups", &jane, None).await.0, 403);
    w.assert_no_secret_leaked();
}

#[tokio::test]
async fn two_concurrent_saves_of_one_username_have_exactly_one_winner() {
    let w = World::new().await;
    let admin = w.token("acme", "customer_admin", "admin-1", "Admins");
    assert_eq!(w.call("PUT", "/permission-groups/Recruiters", &admin, Some(json!({"can_text": true}))).await.0, 200);
    for round in 0..5 {
        w.add_user(&admin, &format!("a{round}"), "Recruiters").await;
        w.add_user(&admin, &format!("b{round}"), "Recruiters").await;
    }
    for round in 0..5 {
        let username = format!("alex{round}@6512345678");
        let body = json!({"username": username, "password": ZIPWHIP_PASSWORD});
        let (path_a, path_b) =
            (format!("/credentials/zipwhip/user/a{round}"), format!("/credentials/zipwhip/user/b{round}"));
        let (a, b) = tokio::join!(
            w.call("POST", &path_a, &admin, Some(body.clone())),
            w.call("POST", &path_b, &admin, Some(body)),
        );
        let mut statuses = [a.0, b.0];
        statuses.sort_unstable();
        assert_eq!(statuses, [201, 409], "round {round}: {a:?} {b:?}");
    }
    assert_eq!(w.call("GET", "/credentials", &admin, None).await.1.as_array().map(Vec::len), Some(5));
    w.assert_no_secret_leaked();
}

#[tokio::test]
async fn admins_manage_any_users_credentials_their_own_included() {
    // One rule: an admin may manage every user's credentials, their own included,
    // when **that user's** permission group grants Can Text; a user manages only
    // their own, with Can Text; the user must exist.
    let w = World::new().await;
    let admin = w.token("acme", "customer_admin", "admin-1", "Admins");
    assert_eq!(w.call("PUT", "/permission-groups/Recruiters", &admin, Some(json!({"can_text": true}))).await.0, 200);
    w.add_user(&admin, "admin-1", "Recruiters").await;
    w.add_user(&admin, "u-7", "Recruiters").await;
    w.add_user(&admin, "u-8", "default").await;
    let own = json!({"username": "admin@6512345670", "password": ZIPWHIP_PASSWORD});
    let (status, resp) = w.call("POST", "/credentials/zipwhip/user/admin-1", &admin, Some(own)).await;
    assert_eq!(status, 201, "an admin's own user-level credentials: {resp}");
    let other = json!({"username": "alex@6512345671", "password": ZIPWHIP_PASSWORD});
    let (status, resp) = w.call("POST", "/credentials/zipwhip/user/u-7", &admin, Some(other)).await;
    assert_eq!(status, 201, "another user's: {resp}");
    let jane = w.token("acme", "user", "u-8", "Recruiters");
    let mine = json!({"username": "jane@6512345672", "password": ZIPWHIP_PASSWORD});
    let (status, resp) = w.call("POST", "/credentials/zipwhip/user/u-8", &jane, Some(mine.clone())).await;
    assert_eq!(status, 403, "her stored group has no Can Text, whatever her token says: {resp}");
    let (status, resp) = w.call("POST", "/credentials/zipwhip/user/u-8", &admin, Some(mine.clone())).await;
    assert_eq!(status, 403, "an admin checks that user's group: {resp}");
    assert!(resp["error"]["message"].as_str().unwrap_or_default().contains("does not grant Can Text"), "{resp}");
    let (status, resp) = w.call("POST", "/credentials/zipwhip/user/nobody", &admin, Some(mine)).await;
    assert_eq!(status, 404, "no such texting user: {resp}");
    assert_eq!(w.call("GET", "/credentials/zipwhip/user/u-7", &jane, None).await.0, 403, "not hers");

    // Deleting a user removes their credentials (secret gone, username free).
    let (status, resp) = w.call("DELETE", "/users/u-7", &admin, None).await;
    assert_eq!(status, 200, "{resp}");
    assert_eq!(resp["credentials"], json!(["Zipwhip: removed (webhooks unregistered)"]), "{resp}");
    assert_eq!(w.call("GET", "/credentials/zipwhip/user/u-7", &admin, None).await.0, 404);
    w.assert_no_secret_leaked();
}
