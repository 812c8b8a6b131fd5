//! The admin console in a real headless Chromium against `textbridge serve`, with
//! TextUs and a TempWorks-style ATS played by local stand-ins: sign in with the
//! one-time link, save TextUs credentials, add a user, import a file with one column
//! remapped, replay a dead letter, send a text and see it in the conversation; a
//! user named `<script>…` shows as text; another tenant's record is refused; the
//! pages work at phone width; sign-out ends the session. Screenshots of each page go
//! to `{target}/debug/console-screenshots/`.

use std::time::Duration;

use fantoccini::Locator;
use serde_json::json;
use textbridge_testkit::{ats_directory, tempworks};
use wiremock::{
    Mock, ResponseTemplate,
    matchers::{method, path},
};

use crate::{
    archiving::{THEIRS, World, hook_in},
    browser::Browser,
    common::token,
};

const XSS_NAME: &str = "<script>alert(1)</script>";

/// The one-time console link `serve` printed for `tenant`.
fn link(w: &World, tenant: &str) -> String {
    let logs = w.server().logs();
    let prefix = format!("Admin console for {tenant} (this link works once): ");
    let line = logs.lines().find(|l| l.starts_with(&prefix)).unwrap_or_else(|| panic!("no link in:\n{logs}"));
    line[prefix.len()..].trim().to_owned()
}

async fn setup() -> World {
    let mut w = World::new(tempworks::StandIn::answering_writes(503).await).await;
    w.env.push(("CONSOLE_ADMIN".into(), "acme, globex".into()));
    w.restart();
    let admin = w.admin("acme");
    let staff = token(&w.dir, &["--tenant", "acme", "--role", "staff"]);
    let (status, resp) =
        w.call("POST", "/licences/numbers", &staff, Some(json!({"numbers": ["+14155550102", "+14155550103"]}))).await;
    assert_eq!(status, 201, "{resp}");
    // The console's admin (group Default) may text through the tenant's system credentials.
    let (status, resp) = w.call("PUT", "/permission-groups/Default", &admin, Some(json!({"can_text": true}))).await;
    assert_eq!(status, 200, "{resp}");
    let xss = json!({"first_name": XSS_NAME, "last_name": "Lee", "email": "xss@acme.test", "send_invitation": false});
    assert_eq!(w.call("POST", "/users", &admin, Some(xss)).await.0, 201);
    w.upsert("acme", "employee", "e1", &[THEIRS]).await;
    w.upsert("globex", "employee", "g1", &["+12065550177"]).await;
    w
}

#[tokio::test]
async fn the_admin_console_in_a_real_browser() {
    let Some(browser) = Browser::start().await else { return };
    let w = setup().await;
    let base = w.server().base.clone();
    let b = &browser;

    // The page's headers: no inline code, no framing.
    let resp = w.client.raw().get(format!("{base}/")).send().await.expect("page");
    let csp = resp.headers()["content-security-policy"].to_str().expect("csp").to_owned();
    assert!(csp.contains("script-src 'self'") && !csp.contains("unsafe-inline"), "{csp}");
    assert!(csp.contains("frame-ancestors 'none'"), "{csp}");
    assert_eq!(resp.headers()["x-frame-options"], "DENY");

    // Not signed in: the sign-in page says how.
    b.client.goto(&format!("{base}/")).await.expect("goto");
    b.wait_for_heading("Sign in").await;
    b.screenshot("sign-in").await;

    // Sign in with the link; the code leaves the address bar.
    let acme_link = link(&w, "acme");
    b.client.goto(&acme_link).await.expect("goto link");
    b.wait_for_heading("Integrations").await;
    assert_eq!(b.eval("return location.href").await, json!(format!("{base}/#/integrations")));
    assert!(b.text("#who").await.contains("acme"), "signed in as acme");
    assert_eq!(b.eval("return document.activeElement.tagName").await, "H1", "focus on the page heading");
    assert_eq!(b.eval("return localStorage.length + sessionStorage.length").await, 0, "no token stored");
    assert_eq!(b.eval("return document.cookie").await, "", "the session cookie is HttpOnly");

    // Keyboard: a page is reached from the navigation with Enter, focus on its heading.
    b.find("#nav a[href='#/users']").await.send_keys("\u{E007}").await.expect("enter");
    b.wait_for_heading("Users").await;
    assert_eq!(b.eval("return document.activeElement.tagName").await, "H1");
    b.open(&base, "#/integrations", "Integrations").await;

    // Integrations: save TextUs system credentials (the secret is write-only).
    b.type_into("", "Account slug", "acme").await;
    b.type_into("", "Username", "ops@acme.test").await;
    b.type_into("", "API key", "tx-key-console-1").await;
    b.find("form[aria-label='Save credentials'] button[type=submit]").await.click().await.expect("save");
    b.wait_for_text("TextUs system: connected").await;
    let saved = b.wait_for_text("ops@acme.test").await;
    assert!(!b.client.source().await.expect("source").contains("tx-key-console-1"), "the secret is never shown");
    assert!(!saved.contains("tx-key-console-1"));
    let key_value = b.labelled("form[@aria-label='Save credentials']", "API key").await.prop("value").await;
    assert_eq!(key_value.expect("value").as_deref(), Some(""), "the secret field is emptied");
    let requests = w.textus.received_requests().await.unwrap_or_default();
    let registration = requests.iter().rev().find(|r| r.method.as_str() == "POST").expect("webhook registered");
    let hook = hook_in(&registration.body).expect("webhook path");
    b.screenshot("integrations").await;

    // Users: the `<script>` name is text; an API error shows next to its field; add a user.
    b.open(&base, "#/users", "Users").await;
    b.wait_for_text("xss@acme.test").await;
    let cells: Vec<String> = {
        let mut out = Vec::new();
        for cell in b.client.find_all(Locator::Css("main td")).await.expect("cells") {
            out.push(cell.text().await.expect("text"));
        }
        out
    };
    assert!(cells.iter().any(|c| c == &format!("{XSS_NAME} Lee")), "shown as written: {cells:?}");
    assert_eq!(b.eval("return document.querySelectorAll('main script').length").await, 0);
    assert!(b.client.get_alert_text().await.is_err(), "no script ran");
    b.wait_for_text("Licence seats: 1 of 2 free.").await;

    let add = "form[@aria-label='Add a user']";
    b.type_into(add, "First name", "Ann").await;
    b.type_into(add, "Last name", "Lee").await;
    b.type_into(add, "E-mail (username)", "not-an-email").await;
    b.type_into(add, "Desired area code", "415").await;
    b.find("form[aria-label='Add a user'] button[type=submit]").await.click().await.expect("add");
    let email = b.labelled(add, "E-mail (username)").await;
    let email_id = email.attr("id").await.expect("id").expect("id");
    let error = b.find(&format!("#{email_id}-error")).await;
    for _ in 0..300 {
        if !error.text().await.unwrap_or_default().is_empty() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let message = error.text().await.expect("error text");
    assert!(message.starts_with("email:") && message.contains("not-an-email"), "the API's message: {message}");
    assert_eq!(email.attr("aria-invalid").await.expect("attr").as_deref(), Some("true"));
    assert_eq!(b.eval("return document.activeElement.name").await, "email", "focus on the field at fault");
    b.type_into(add, "E-mail (username)", "ann@acme.test").await;
    b.find("form[aria-label='Add a user'] button[type=submit]").await.click().await.expect("add");
    b.wait_for_text("ann@acme.test added").await;
    b.wait_for_text("Licence seats: 0 of 2 free.").await;
    b.screenshot("users").await;

    // Teams and the Manage actions: move Ann to a new team, give her an ATS id; delete
    // a user after a confirmation that says the username is gone for good.
    b.type_into("form[@aria-label='Add a team']", "Team name", "Blue").await;
    b.find("form[aria-label='Add a team'] button[type=submit]").await.click().await.expect("add team");
    b.wait_for_text("Blue").await;
    b.find("select[aria-label='Action for ann@acme.test']").await.select_by_value("details").await.expect("details");
    b.find("button[aria-label='Apply the action to ann@acme.test']").await.click().await.expect("apply");
    b.wait_for_text("Manage Ann Lee (ann@acme.test)").await;
    b.labelled("form[@aria-label='Team']", "Team").await.select_by_label("Blue").await.expect("team");
    b.find("form[aria-label='Team'] button[type=submit]").await.click().await.expect("move");
    b.wait_for_text("ann@acme.test: saved.").await;
    b.type_into("form[@aria-label='Add an ATS user id']", "ATS user id", "ats-77").await;
    b.find("form[aria-label='Add an ATS user id'] button[type=submit]").await.click().await.expect("ats id");
    b.find("button[aria-label='Remove ATS id ats-77']").await;
    let (_, ann) = w.call("GET", "/users?q=ann", &w.admin("acme"), None).await;
    assert_eq!(ann["users"][0]["ats_ids"], json!(["ats-77"]), "{ann}");
    assert!(ann["users"][0]["team_id"].is_string(), "{ann}");
    b.find("select[aria-label='Action for xss@acme.test']").await.select_by_value("delete").await.expect("delete");
    b.find("button[aria-label='Apply the action to xss@acme.test']").await.click().await.expect("apply");
    let question = b.client.get_alert_text().await.expect("a confirmation");
    assert!(question.contains("xss@acme.test can never be used again"), "{question}");
    b.client.accept_alert().await.expect("confirm");
    b.wait_for_text("xss@acme.test deleted.").await;
    let (_, users) = w.call("GET", "/users?q=ann", &w.admin("acme"), None).await;
    let licence = users["users"][0]["licence"].as_str().unwrap_or_default().to_owned();
    assert!(licence.starts_with("+1415555010"), "a seat in the desired area code: {users}");
    b.wait_for_text(&licence).await;

    // Import: upload, remap the unmapped e-mail column, import, see each row.
    let file = w.dir.join("people.csv");
    std::fs::write(&file, "Given,Surname,Work address,Area\nCara,Diaz,cara@acme.test,415\nDev,Shah,dev@acme.test,\n")
        .expect("csv");
    b.open(&base, "#/import", "Import users").await;
    b.labelled("", "Users file (CSV, XLSX or XLS)").await.send_keys(&file.display().to_string()).await.expect("file");
    b.find("form[aria-label='Upload a file'] button[type=submit]").await.click().await.expect("upload");
    b.wait_for_text("people.csv: 2 rows read.").await;
    b.wait_for_text("email").await;
    let run = b.find("#run-import").await;
    assert_eq!(run.attr("disabled").await.expect("attr").as_deref(), Some("true"), "e-mail unmapped: no import");
    b.labelled("", "Field of column “Work address”").await.select_by_value("email").await.expect("remap");
    b.wait_for_text("Mapping changed; the preview is up to date.").await;
    let preview = b.wait_for_text("cara@acme.test").await;
    assert!(preview.contains("dev@acme.test") && preview.contains("create"), "{preview}");
    b.screenshot("import-preview").await;
    b.find("#run-import").await.click().await.expect("import");
    let done = b.wait_for_text("Import finished: 2 of 2 rows applied.").await;
    assert!(done.contains("What each row did"), "{done}");
    let rows: Vec<String> = {
        let mut out = Vec::new();
        for row in b.client.find_all(Locator::Css("main tbody tr")).await.expect("rows") {
            out.push(row.text().await.expect("text"));
        }
        out
    };
    assert!(rows.iter().any(|r| r.starts_with("2 cara@acme.test create")), "row numbers as in the file: {rows:?}");
    assert!(rows.iter().any(|r| r.starts_with("3 dev@acme.test create")), "{rows:?}");
    assert_eq!(b.eval("return document.getElementById('import-progress').value").await, 2);
    b.screenshot("import").await;
    let (_, users) = w.call("GET", "/users?q=cara", &w.admin("acme"), None).await;
    assert_eq!(users["users"][0]["email"], "cara@acme.test", "imported: {users}");

    // Operations: a text the ATS refused on every try is a dead letter; replay it.
    assert_eq!(
        w.post_textus(
            &hook,
            &textbridge_testkit::seed::textus_received("m1", THEIRS, crate::archiving::OURS, "Can I start Monday?")
        )
        .await,
        202
    );
    assert_eq!(w.wait_for_dead_letters("acme", 1).await.len(), 1);
    b.open(&base, "#/operations", "Operations").await;
    b.wait_for_text("1 dead letter.").await;
    b.wait_for_text("No sync run has changed anything yet.").await;
    b.wait_for_text("Textbridge staff see them.").await;
    b.screenshot("operations").await;
    w.ats.keep_writes();
    b.find("main button[aria-label^='Replay dead letter']").await.click().await.expect("replay");
    b.wait_for_text("1 dead letter sent back to the queue.").await;
    b.wait_for_text("No dead letters.").await;
    assert_eq!(w.wait_for("acme", "employee", "e1", 1).await.len(), 1, "archived after the replay");

    // Messages: the conversation, then send a text and see it there.
    Mock::given(method("POST"))
        .and(path("/acme/messages"))
        .respond_with(ResponseTemplate::new(201).set_body_json(json!({
            "@type": "Message", "id": "/messages/console-1", "direction": "out", "deliveryState": "queued",
            "conversation": "/conversations/kY1QwY"
        })))
        .mount(&w.textus)
        .await;
    b.open(&base, "#/messages", "Messages").await;
    b.type_into("form[@aria-label='Open a record']", "Record id", "e1").await;
    b.find("form[aria-label='Open a record'] button[type=submit]").await.click().await.expect("open");
    b.wait_for_text("Can I start Monday?").await;
    b.type_into("form[@aria-label='Send a text']", "Text", "Yes — see you at 9.").await;
    b.find("form[aria-label='Send a text'] button[type=submit]").await.click().await.expect("send");
    b.wait_for_text("Sent to +12065550100").await;
    let conversation = b.wait_for_text("Yes — see you at 9.").await;
    assert!(conversation.contains("outbound"), "{conversation}");
    b.screenshot("messages").await;

    // Another tenant's record: refused by the API, nothing shown.
    b.type_into("form[@aria-label='Open a record']", "Record id", "g1").await;
    b.find("form[aria-label='Open a record'] button[type=submit]").await.click().await.expect("open");
    let refused = b.find("form[aria-label='Open a record'] .alert").await.text().await.expect("alert");
    assert!(refused.contains("not found") || refused.contains("no "), "{refused}");
    assert!(!b.text("#conversation").await.contains("g1"), "no globex conversation");

    // The ATS: connect it on Integrations, sync, resolve the conflict on Operations.
    let directory = textbridge_testkit::ats_directory::StandIn::start().await;
    let at = "2026-11-26T10:00:00Z";
    directory.set_users(vec![
        ats_directory::user("10", "twice@acme.test", "full", None, at),
        ats_directory::user("11", "twice@acme.test", "full", None, at),
    ]);
    b.open(&base, "#/integrations", "Integrations").await;
    b.wait_for_text("No ATS connected.").await;
    b.type_into("form[@aria-label='ATS connection']", "ATS base URL", &directory.uri()).await;
    b.type_into("form[@aria-label='ATS connection']", "ATS token", ats_directory::TOKEN).await;
    b.find("form[aria-label='ATS connection'] button[type=submit]").await.click().await.expect("connect");
    b.wait_for_text("ATS: connected").await;
    b.wait_for_text(&format!("Connected to {}", directory.uri())).await;
    assert!(!b.client.source().await.expect("source").contains(ats_directory::TOKEN), "the token is never shown");
    let report = crate::common::cli(&w.dir, &["sync", "--tenant", "acme"]);
    assert!(report.contains("\"conflicts\":1"), "{report}");
    b.open(&base, "#/operations", "Operations").await;
    let page = b.wait_for_text("same e-mail").await;
    assert!(page.contains("created") && page.contains("twice@acme.test"), "{page}");
    b.screenshot("operations-sync").await;
    b.find("form[aria-label^='Resolve ATS user'] button[type=button]").await.click().await.expect("dismiss");
    b.wait_for_text("resolved.").await;
    b.wait_for_text("No conflicts.").await;

    // Phone width: nothing wider than the screen.
    b.client.set_window_size(390, 844).await.expect("resize");
    for (hash, heading, shown) in [
        ("#/integrations", "Integrations", "ops@acme.test"),
        ("#/import", "Import users", "Users report"),
        ("#/messages", "Messages", "Unmatched texts"),
        ("#/operations", "Operations", "No conflicts."),
        ("#/users", "Users", "ann@acme.test"),
    ] {
        b.open(&base, hash, heading).await;
        b.wait_for_text(shown).await;
        let fits = b.eval("return document.documentElement.scrollWidth <= window.innerWidth").await;
        assert_eq!(fits, true, "{heading}: no horizontal scrolling at phone width");
    }
    b.screenshot("users-phone").await;
    b.client.set_window_size(1280, 800).await.expect("resize");

    // Sign out: the session ends; the used link does not sign in again.
    b.find("#sign-out").await.click().await.expect("sign out");
    b.wait_for_text("You are signed out.").await;
    b.client.goto(&format!("{base}/#/users")).await.expect("goto");
    b.client.refresh().await.expect("reload");
    b.wait_for_heading("Sign in").await;
    b.client.goto(&acme_link).await.expect("goto link");
    b.wait_for_text("already used").await;

    // The other tenant's admin sees only their own tenant.
    b.client.goto(&link(&w, "globex")).await.expect("goto link");
    b.wait_for_heading("Integrations").await;
    assert!(b.text("#who").await.contains("globex"));
    b.open(&base, "#/users", "Users").await;
    b.wait_for_text("No users match.").await;
    assert!(!b.text("main").await.contains("acme.test"), "no acme user in globex's console");
}

/// An OIDC issuer stand-in on loopback: discovery, an authorize endpoint that signs
/// the user straight in, and a token endpoint that checks the PKCE verifier against
/// the challenge before it answers with a token the API accepts.
mod issuer {
    use std::{
        collections::HashMap,
        sync::{Arc, Mutex},
    };

    use axum::{
        Json, Router,
        body::Bytes,
        extract::{Query, State},
        http::{HeaderValue, StatusCode, header},
        response::{IntoResponse, Redirect, Response},
        routing::{get, post},
    };
    use base64::{Engine as _, engine::general_purpose::URL_SAFE_NO_PAD};
    use serde_json::json;
    use sha2::{Digest, Sha256};
    use textbridge_api::Claims;

    /// The console's client id at the stand-in.
    pub const CLIENT_ID: &str = "console-client";

    #[derive(Clone)]
    pub struct Issuer {
        pub base: String,
        key: textbridge::DevKey,
        claims: Claims,
        /// code → (challenge, redirect URI)
        codes: Arc<Mutex<HashMap<String, (String, String)>>>,
        /// Token requests refused (a wrong verifier, code or redirect).
        pub refused: Arc<Mutex<u32>>,
    }

    fn cors(mut response: Response) -> Response {
        response.headers_mut().insert(header::ACCESS_CONTROL_ALLOW_ORIGIN, HeaderValue::from_static("*"));
        response
    }

    async fn discovery(State(i): State<Issuer>) -> Response {
        cors(
            Json(json!({
                "issuer": i.base, "authorization_endpoint": format!("{}/authorize", i.base),
                "token_endpoint": format!("{}/token", i.base), "response_types_supported": ["code"],
                "code_challenge_methods_supported": ["S256"],
            }))
            .into_response(),
        )
    }

    async fn authorize(State(i): State<Issuer>, Query(q): Query<HashMap<String, String>>) -> Response {
        let ok = q.get("response_type").map(String::as_str) == Some("code")
            && q.get("client_id").map(String::as_str) == Some(CLIENT_ID)
            && q.get("code_challenge_method").map(String::as_str) == Some("S256");
        let (Some(challenge), Some(redirect), Some(state), true) =
            (q.get("code_challenge"), q.get("redirect_uri"), q.get("state"), ok)
        else {
            return (StatusCode::BAD_REQUEST, "bad authorization request").into_response();
        };
        let code = format!("code-{}", i.codes.lock().expect("codes").len());
        i.codes.lock().expect("codes").insert(code.clone(), (challenge.clone(), redirect.clone()));
        let mut to = url::Url::parse(redirect).expect("redirect uri");
        to.query_pairs_mut().append_pair("code", &code).append_pair("state", state);
        Redirect::to(to.as_str()).into_response()
    }

    async fn token(State(i): State<Issuer>, body: Bytes) -> Response {
        let f: HashMap<String, String> = url::form_urlencoded::parse(&body).into_owned().collect();
        let known = f.get("code").and_then(|c| i.codes.lock().expect("codes").remove(c));
        let verified = match (known, f.get("code_verifier"), f.get("redirect_uri")) {
            (Some((challenge, redirect)), Some(verifier), Some(uri)) => {
                URL_SAFE_NO_PAD.encode(Sha256::digest(verifier.as_bytes())) == challenge
                    && &redirect == uri
                    && f.get("client_id").map(String::as_str) == Some(CLIENT_ID)
                    && f.get("grant_type").map(String::as_str) == Some("authorization_code")
            }
            _ => false,
        };
        if !verified {
            *i.refused.lock().expect("refused") += 1;
            return cors((StatusCode::BAD_REQUEST, Json(json!({"error": "invalid_grant"}))).into_response());
        }
        let access = i.key.sign(&i.claims, 600).expect("sign");
        cors(Json(json!({"access_token": access, "token_type": "Bearer", "expires_in": 600})).into_response())
    }

    /// Starts the stand-in; its tokens carry `claims`, signed with `key`.
    pub async fn start(key: textbridge::DevKey, claims: Claims) -> Issuer {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let base = format!("http://{}", listener.local_addr().expect("addr"));
        let issuer = Issuer { base, key, claims, codes: Arc::default(), refused: Arc::default() };
        let router = Router::new()
            .route("/.well-known/openid-configuration", get(discovery))
            .route("/authorize", get(authorize))
            .route("/token", post(token))
            .with_state(issuer.clone());
        tokio::spawn(async move { axum::serve(listener, router).await });
        issuer
    }
}

/// The console as AWS serves it: it signs in at the OIDC issuer with authorization
/// code + PKCE and calls the API with the access token, kept in memory only.
#[tokio::test]
async fn the_console_signs_in_at_the_oidc_issuer_with_pkce() {
    let Some(browser) = Browser::start().await else { return };
    let b = &browser;
    // The API accepts the issuer's tokens (as the JWT authorizer would): both sides
    // share the signing key here.
    let key = textbridge::DevKey::from_bytes(&[5; 32]);
    let claims = textbridge_api::Claims {
        tenant: "initech".into(),
        sub: "oidc-admin".into(),
        username: "admin@initech.test".into(),
        role: "customer_admin".into(),
        group: "Default".into(),
    };
    let issuer = issuer::start(key.clone(), claims).await;
    let embedded = textbridge_embedded::Embedded::open_temporary().expect("embedded");
    let app = textbridge_app::App::on(embedded.backend(), textbridge_app::Config::default()).shared();
    let oidc = textbridge_console::Oidc::new(&issuer.base, issuer::CLIENT_ID).expect("oidc");
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let base = format!("http://{}", listener.local_addr().expect("addr"));
    let clock = std::sync::Arc::new(textbridge_app::ports::SystemClock);
    let uploads = textbridge_embedded::LocalUploads::open(&embedded, &base, clock).await.expect("uploads");
    let sign_in = Some(textbridge_console::SignIn::Oidc(oidc));
    let router = textbridge::with_console(&app, std::sync::Arc::new(key), std::sync::Arc::new(uploads), sign_in);
    tokio::spawn(async move { axum::serve(listener, router).await });

    // An answer that does not carry this page's state is refused.
    b.client.goto(&format!("{base}/console/callback?code=code-0&state=forged")).await.expect("goto");
    b.wait_for_text("does not match this page").await;

    b.client.goto(&format!("{base}/")).await.expect("goto");
    b.wait_for_heading("Sign in").await;
    b.find("#oidc-sign-in").await.click().await.expect("sign in");
    b.wait_for_heading("Integrations").await;
    assert!(b.text("#who").await.contains("admin@initech.test · initech"), "signed in through the issuer");
    assert_eq!(*issuer.refused.lock().expect("refused"), 0, "the verifier matched the challenge");
    assert_eq!(b.eval("return location.href").await, json!(format!("{base}/#/integrations")), "no code left");
    assert_eq!(b.eval("return localStorage.length + sessionStorage.length").await, 0, "nothing stored");
    b.open(&base, "#/users", "Users").await;
    b.wait_for_text("No users match.").await;

    // Signing out forgets the token.
    b.find("#sign-out").await.click().await.expect("sign out");
    b.wait_for_text("You are signed out.").await;
    b.client.refresh().await.expect("reload");
    b.wait_for_heading("Sign in").await;
}
