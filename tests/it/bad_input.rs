//! The whole HTTP API of the real `textbridge serve` against bad input: malformed
//! and mistyped JSON, huge bodies, bad signatures, replayed deliveries, invalid
//! phone numbers, unicode edge cases, other tenants' ids on every route that takes
//! one, role escalations, formula cells and hostile workbooks. Each case gets a clear
//! 4xx in the one JSON error shape (a replayed delivery its usual 202), and the
//! database file is the same, row for row, before and after all of them.

use std::{path::Path, time::Duration};

use serde_json::{Value, json};
use textbridge_testkit::{seed, tempworks, twilio};

use crate::{
    archiving::{OURS, THEIRS, TWILIO_SID, TWILIO_TOKEN, World, sign},
    common::{send_oversized, token},
};

/// Every row of the database file, each as one line, in a stable order.
fn snapshot(dir: &Path) -> Vec<String> {
    let path = dir.join(textbridge_embedded::DB_FILE);
    let conn = rusqlite::Connection::open_with_flags(&path, rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY)
        .expect("open the database read-only");
    conn.busy_timeout(Duration::from_secs(5)).expect("busy timeout");
    let mut rows = Vec::new();
    for sql in [
        "SELECT 'item', pk, sk, gsi1pk, gsi1sk, attrs FROM items ORDER BY pk, sk",
        "SELECT 'message', id, queue, body, receive_count, visible_at_ms, receipt FROM messages ORDER BY id",
        "SELECT 'secret', name, hex(nonce), hex(ciphertext), version, updated_at_ms FROM secrets ORDER BY name",
    ] {
        let mut stmt = conn.prepare(sql).expect("prepare");
        let columns = stmt.column_count();
        let found = stmt
            .query_map([], |row| {
                let cells: Vec<String> = (0..columns)
                    .map(|i| row.get::<_, rusqlite::types::Value>(i).map(|v| format!("{v:?}")))
                    .collect::<Result<_, _>>()?;
                Ok(cells.join(" | "))
            })
            .expect("query")
            .collect::<Result<Vec<_>, _>>()
            .expect("rows");
        rows.extend(found);
    }
    rows
}

/// What a request sends as its body.
enum Body {
    None,
    Json(Value),
    /// Raw bytes with a content type.
    Raw(&'static str, Vec<u8>),
}

/// One bad request and the answer it must get.
struct Case {
    what: &'static str,
    method: &'static str,
    path: String,
    bearer: Option<String>,
    body: Body,
    /// The status expected.
    status: u16,
    /// The field the error must name, when it names one.
    field: Option<&'static str>,
}

fn case(
    what: &'static str,
    method: &'static str,
    path: impl Into<String>,
    bearer: &str,
    body: Body,
    status: u16,
) -> Case {
    Case { what, method, path: path.into(), bearer: Some(bearer.to_owned()), body, status, field: None }
}

impl Case {
    fn naming(mut self, field: &'static str) -> Self {
        self.field = Some(field);
        self
    }

    fn anonymous(mut self) -> Self {
        self.bearer = None;
        self
    }
}

fn raw_json(text: &str) -> Body {
    Body::Raw("application/json", text.as_bytes().to_vec())
}

fn fixture(name: &str) -> Vec<u8> {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../shared/import/tests/fixtures").join(name);
    std::fs::read(path).expect("fixture")
}

async fn send(w: &World, case: &Case) -> (u16, String) {
    let base = &w.server().base;
    match &case.body {
        Body::Raw(content_type, bytes) if bytes.len() > 1 << 20 => {
            return send_oversized(base, case.method, &case.path, case.bearer.as_deref(), content_type, bytes.clone())
                .await;
        }
        Body::Json(value) if value.to_string().len() > 1 << 20 => {
            let body = value.to_string().into_bytes();
            return send_oversized(base, case.method, &case.path, case.bearer.as_deref(), "application/json", body)
                .await;
        }
        _ => {}
    }
    let method = reqwest::Method::from_bytes(case.method.as_bytes()).expect("method");
    let url = if case.path.starts_with("http") { case.path.clone() } else { format!("{base}{}", case.path) };
    let mut req = w.client.raw().request(method, url);
    if let Some(bearer) = &case.bearer {
        req = req.bearer_auth(bearer);
    }
    req = match &case.body {
        Body::None => req,
        Body::Json(v) => req.json(v),
        Body::Raw(content_type, bytes) => req.header("content-type", *content_type).body(bytes.clone()),
    };
    let resp = req.send().await.expect("request");
    let status = resp.status().as_u16();
    (status, resp.text().await.expect("body"))
}

/// A user of `tenant` with the plain `user` role.
fn plain(w: &World, tenant: &str, id: &str) -> String {
    token(&w.dir, &["--tenant", tenant, "--role", "user", "--user-id", id])
}

#[tokio::test]
async fn bad_input_gets_a_clear_4xx_and_changes_nothing() {
    let w = World::with(tempworks::StandIn::start().await, "60").await;
    let acme = w.admin("acme");
    let globex = w.admin("globex");
    let hook = w.textus_hook("acme").await;
    let twilio_url = w.twilio_hook("acme").await;
    w.upsert("acme", "employee", "e1", &[THEIRS]).await;
    crate::common::texting_user(&w.client, &w.server().base, &acme, "u-7").await;
    let u7 = plain(&w, "acme", "u-7");
    crate::common::texting_user(&w.client, &w.server().base, &globex, "g-1").await;
    let texter = token(&w.dir, &["--tenant", "acme", "--role", "user", "--user-id", "u-7", "--group", "Texters"]);
    let (status, team) = w.call("POST", "/teams", &acme, Some(json!({"name": "Nights"}))).await;
    assert_eq!(status, 201, "{team}");
    let team = team["id"].as_str().expect("team id").to_owned();
    let csv = "First Name,Last Name,Email\r\nAnn,Lee,ann@acme.test\r\n";
    let req = w
        .client
        .raw()
        .post(format!("{}/users/imports?file_name=users.csv", w.server().base))
        .bearer_auth(&acme)
        .body(csv);
    let (status, import) = w.client.send(req).await;
    assert_eq!(status, 201, "{import}");
    let import = import["id"].as_str().expect("import id").to_owned();
    // A delivery accepted and archived before: sent again below, it changes nothing.
    let delivered = seed::textus_received("m-replayed", THEIRS, OURS, "on my way");
    assert_eq!(w.post_textus(&hook, &delivered).await, 202);
    assert_eq!(w.wait_for("acme", "employee", "e1", 1).await.len(), 1);
    w.wait_until_queue_is_empty().await;

    // An installation of its own signs tokens this one must refuse.
    let elsewhere = tempfile::tempdir().expect("tempdir");
    let forged = token(elsewhere.path(), &["--tenant", "acme", "--role", "customer_admin", "--user-id", "admin-1"]);
    let twilio_params = twilio::received(TWILIO_SID, "SM00000000000000000000000000000009", THEIRS, OURS, "forged");

    let cases = vec![
        // Malformed JSON and framework rejections.
        case("truncated JSON", "POST", "/users", &acme, raw_json("{\"id\": \"u-9\", "), 400),
        case("not JSON at all", "PUT", "/records/employee/e2", &acme, raw_json("phones=+12065550100"), 400),
        case("JSON of the wrong shape", "POST", "/teams", &acme, Body::Json(json!("Nights")), 422).naming("body"),
        case("no body", "POST", "/users", &acme, Body::None, 415),
        case(
            "a form where JSON is expected",
            "POST",
            "/teams",
            &acme,
            Body::Raw("text/plain", b"name=x".to_vec()),
            415,
        ),
        case(
            "invalid UTF-8",
            "POST",
            "/teams",
            &acme,
            Body::Raw("application/json", b"{\"name\": \"\xff\xfe\"}".to_vec()),
            400,
        ),
        case("a lone surrogate", "POST", "/teams", &acme, raw_json("{\"name\": \"\\ud800\"}"), 400),
        case("a bad query string", "GET", "/users?limit=many", &acme, Body::None, 400),
        case("an unknown route", "GET", "/no-such-thing", &acme, Body::None, 404),
        case("a method the route lacks", "DELETE", "/teams", &acme, Body::None, 405),
        // Wrong types.
        case(
            "a number for an id",
            "POST",
            "/users",
            &acme,
            Body::Json(json!({"id": 7, "first_name": "A", "last_name": "B", "email": "a@b.io"})),
            422,
        ),
        case("a string for a list", "PUT", "/records/employee/e2", &acme, Body::Json(json!({"phones": THEIRS})), 422),
        case(
            "a string for a flag",
            "PUT",
            "/permission-groups/Texters",
            &acme,
            Body::Json(json!({"can_text": "yes"})),
            422,
        ),
        case("an unknown role", "PUT", "/users/u-7/role", &acme, Body::Json(json!({"role": "overlord"})), 422),
        case(
            "an unknown record kind",
            "PUT",
            "/records/planet/p1",
            &acme,
            Body::Json(json!({"phones": [THEIRS]})),
            422,
        ),
        // Huge bodies.
        case("a 2 MiB JSON body", "POST", "/teams", &acme, Body::Json(json!({"name": "x".repeat(2 << 20)})), 413),
        case(
            "an import over 16 MiB",
            "POST",
            "/users/imports?file_name=big.csv",
            &acme,
            Body::Raw("text/csv", vec![b'a'; 17 << 20]),
            413,
        ),
        case("a 300 KiB webhook", "POST", hook.clone(), &acme, raw_json(&"x".repeat(300 << 10)), 413).anonymous(),
        // Signatures.
        case("a webhook with no signature", "POST", hook.clone(), &acme, raw_json(&delivered), 401).anonymous(),
        case(
            "a webhook signed for another body",
            "POST",
            hook.clone(),
            &acme,
            raw_json(&seed::textus_received("m-x", THEIRS, OURS, "x")),
            401,
        )
        .anonymous(),
        case(
            "a webhook to an unknown token",
            "POST",
            format!("/webhooks/textus/{}", "a".repeat(48)),
            &acme,
            raw_json(&delivered),
            404,
        )
        .anonymous(),
        case(
            "a Twilio webhook signed with another token",
            "POST",
            twilio_url.clone(),
            &acme,
            Body::Raw("application/x-www-form-urlencoded", twilio::form(&twilio_params).into_bytes()),
            401,
        )
        .anonymous(),
        // Identity.
        case("no token", "GET", "/users", &acme, Body::None, 401).anonymous(),
        case("a token of another installation", "GET", "/users", &forged, Body::None, 401),
        case("a token that is not one", "GET", "/users", "abc.def.ghi", Body::None, 401),
        // Invalid phone numbers.
        case(
            "a phone number too short",
            "PUT",
            "/records/employee/e2",
            &acme,
            Body::Json(json!({"phones": ["12345"]})),
            422,
        )
        .naming("phones[0]"),
        case("letters for a number", "GET", "/admin/opt-outs/call-me", &acme, Body::None, 422).naming("number"),
        case(
            "a number no country has",
            "POST",
            "/messages/send",
            &texter,
            Body::Json(json!({"provider": "textus", "to": "+999123", "body": "hi"})),
            422,
        )
        .naming("to"),
        case("a search for letters", "GET", "/messages/search?number=abc", &acme, Body::None, 422).naming("number"),
        // Unicode edge cases.
        case("a NUL in a name", "POST", "/teams", &acme, Body::Json(json!({"name": "Nights\u{0}"})), 422)
            .naming("name"),
        case(
            "a right-to-left override in a name",
            "POST",
            "/teams",
            &acme,
            Body::Json(json!({"name": "Nig\u{202E}sthg"})),
            422,
        )
        .naming("name"),
        case("a blank name", "POST", "/teams", &acme, Body::Json(json!({"name": " \u{3000} "})), 422).naming("name"),
        case("a name of 101 characters", "POST", "/teams", &acme, Body::Json(json!({"name": "é".repeat(101)})), 422)
            .naming("name"),
        case(
            "an e-mail address without a domain",
            "POST",
            "/users",
            &acme,
            Body::Json(json!({"id": "u-9", "first_name": "Zoë", "last_name": "Ñu", "email": "zoë@"})),
            422,
        )
        .naming("email"),
        // Formula cells.
        case(
            "a formula for an e-mail address",
            "POST",
            "/users",
            &acme,
            Body::Json(
                json!({"id": "u-9", "first_name": "A", "last_name": "B", "email": "=HYPERLINK(\"http://x\",\"y\")"}),
            ),
            422,
        )
        .naming("email"),
        case(
            "a formula for a number",
            "PUT",
            "/records/employee/e2",
            &acme,
            Body::Json(json!({"phones": ["=1+2065550100"]})),
            422,
        )
        .naming("phones[0]"),
        // Hostile files.
        case(
            "a truncated workbook",
            "POST",
            "/users/imports?file_name=users.xlsx",
            &acme,
            Body::Raw("application/octet-stream", {
                let x = fixture("users.xlsx");
                x[..x.len() / 2].to_vec()
            }),
            422,
        ),
        case(
            "a zip bomb",
            "POST",
            "/users/imports?file_name=users.xlsx",
            &acme,
            Body::Raw("application/octet-stream", fixture("bomb.xlsx")),
            422,
        ),
        case(
            "a workbook named as CSV",
            "POST",
            "/users/imports?file_name=users.csv",
            &acme,
            Body::Raw("text/csv", fixture("users.xlsx")),
            422,
        ),
        case(
            "an empty file",
            "POST",
            "/users/imports?file_name=users.csv",
            &acme,
            Body::Raw("text/csv", Vec::new()),
            422,
        ),
        case(
            "a file with no name",
            "POST",
            "/users/imports",
            &acme,
            Body::Raw("text/csv", csv.as_bytes().to_vec()),
            400,
        )
        .naming("file_name"),
        case(
            "an unknown import field",
            "PUT",
            format!("/users/imports/{import}/mapping"),
            &acme,
            Body::Json(json!({"mapping": ["first_name", "shoe_size", "email"]})),
            422,
        )
        .naming("mapping[1]"),
        // Role escalations.
        case(
            "a user making themself admin",
            "PUT",
            "/users/u-7/role",
            &u7,
            Body::Json(json!({"role": "customer_admin"})),
            403,
        ),
        case(
            "an admin making a user staff",
            "PUT",
            "/users/u-7/role",
            &acme,
            Body::Json(json!({"role": "staff"})),
            422,
        )
        .naming("role"),
        case(
            "a user saving system credentials",
            "POST",
            "/credentials/textus/system",
            &u7,
            Body::Json(json!({"account_slug": "a", "username": "u@a.test", "api_key": "k"})),
            403,
        ),
        case("a user reading dead letters", "GET", "/admin/dead-letters", &u7, Body::None, 403),
        case(
            "a user importing users",
            "POST",
            "/users/imports?file_name=users.csv",
            &u7,
            Body::Raw("text/csv", csv.as_bytes().to_vec()),
            403,
        ),
        case("an admin reading every tenant's queue", "GET", "/admin/queues", &acme, Body::None, 403),
        case(
            "a user adding action types",
            "POST",
            "/admin/action-types",
            &u7,
            Body::Json(json!({"name": "Payroll"})),
            403,
        ),
        // Another tenant's ids, on every route that takes one.
        case("another tenant's user", "GET", "/users/u-7", &globex, Body::None, 404),
        case(
            "renaming another tenant's user",
            "PATCH",
            "/users/u-7",
            &globex,
            Body::Json(json!({"first_name": "Mallory"})),
            404,
        ),
        case("deleting another tenant's user", "DELETE", "/users/u-7", &globex, Body::None, 404),
        case(
            "another tenant's user's role",
            "PUT",
            "/users/u-7/role",
            &globex,
            Body::Json(json!({"role": "user"})),
            404,
        ),
        case(
            "another tenant's user's group",
            "PUT",
            "/users/u-7/permission-group",
            &globex,
            Body::Json(json!({"permission_group": "Texters"})),
            404,
        ),
        case(
            "another tenant's user's team",
            "PUT",
            "/users/u-7/team",
            &globex,
            Body::Json(json!({"team_id": null})),
            404,
        ),
        case(
            "another tenant's user's branch",
            "PUT",
            "/users/u-7/branch",
            &globex,
            Body::Json(json!({"branch": "b-1"})),
            404,
        ),
        case("disabling another tenant's user", "POST", "/users/u-7/disable", &globex, Body::None, 404),
        case("enabling another tenant's user", "POST", "/users/u-7/enable", &globex, Body::None, 404),
        case("expiring another tenant's password", "POST", "/users/u-7/expire-password", &globex, Body::None, 404),
        case("another tenant's password reset", "POST", "/users/u-7/forgot-password", &globex, Body::None, 404),
        case(
            "another tenant's user's inbox",
            "POST",
            "/users/u-7/inboxes",
            &globex,
            Body::Json(json!({"source_username": "g-1@texters.test", "name": "Ops"})),
            404,
        ),
        case("another tenant's user's licence", "POST", "/users/u-7/licence", &globex, Body::Json(json!({})), 404),
        case("another tenant's user's ATS id", "PUT", "/users/u-7/ats-ids/ats-1", &globex, Body::None, 404),
        case(
            "renaming another tenant's team",
            "PATCH",
            format!("/teams/{team}"),
            &globex,
            Body::Json(json!({"name": "Days"})),
            404,
        ),
        case("another tenant's conversation", "GET", "/records/employee/e1/messages", &globex, Body::None, 404),
        case(
            "a note on another tenant's record",
            "POST",
            "/records/employee/e1/notes",
            &globex,
            Body::Json(json!({"action_type": "Message", "body": "hello"})),
            404,
        ),
        case("another tenant's import", "GET", format!("/users/imports/{import}"), &globex, Body::None, 404),
        case(
            "remapping another tenant's import",
            "PUT",
            format!("/users/imports/{import}/mapping"),
            &globex,
            Body::Json(json!({"mapping": ["first_name", "last_name", "email"]})),
            404,
        ),
        case(
            "running another tenant's import",
            "POST",
            format!("/users/imports/{import}/run"),
            &globex,
            Body::Json(json!({})),
            404,
        ),
        case(
            "another tenant's mass text",
            "GET",
            "/messages/mass/00000000000000000000000000000000",
            &globex,
            Body::None,
            404,
        ),
        case(
            "replaying another tenant's dead letter",
            "POST",
            "/admin/dead-letters/replay",
            &globex,
            Body::Json(json!({"ids": ["00000000-0000-0000-0000-000000000000"]})),
            404,
        ),
    ];
    assert!(cases.len() >= 40, "{} cases", cases.len());

    let before = snapshot(&w.dir);
    assert!(before.len() > 20, "the store holds the set-up: {before:?}");
    for case in &cases {
        let (status, text) = send(&w, case).await;
        let body: Value = serde_json::from_str(&text).unwrap_or(Value::Null);
        assert_eq!(status, case.status, "{}: {text}", case.what);
        let message = body["error"]["message"].as_str().unwrap_or_default();
        assert!(!message.is_empty() && body["error"]["code"].is_string(), "{}: not the error shape: {text}", case.what);
        for leak in
            ["serde", "axum", "rusqlite", "Failed to", "expected value at line", "hunter", "tx-key-1", TWILIO_TOKEN]
        {
            assert!(!text.contains(leak), "{}: library text or a secret leaked ({leak}): {text}", case.what);
        }
        if let Some(field) = case.field {
            assert_eq!(body["error"]["field"], field, "{}: {text}", case.what);
        }
    }
    // A replayed delivery is accepted again and archived never again.
    assert_eq!(w.post_textus(&hook, &delivered).await, 202, "a replay is answered as the first delivery was");
    let replay_signature = sign(&delivered);
    assert_eq!(w.post(&hook, &delivered, Some(&replay_signature), "application/json").await, 202);
    w.wait_until_queue_is_empty().await;
    assert_eq!(w.conversation("acme", "employee", "e1").await.len(), 1, "archived once");
    assert_eq!(snapshot(&w.dir), before, "a refused request or a replay changed the store");
}
