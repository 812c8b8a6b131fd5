//! The API contract: `docs/openapi.json` is the document the code makes, the server
//! serves it at `/openapi.json`, it describes exactly the routes the server has, and
//! schemathesis finds the server keeping to it.

use std::{
    collections::BTreeSet,
    path::{Path, PathBuf},
    process::Command,
    sync::Arc,
};

use axum::{
    body::Body,
    http::{Method, Request},
};
use http_body_util::BodyExt;
use serde_json::{Value, json};
use tower::ServiceExt;

use crate::common::{Client, Server, token};

/// Where the document is committed, from the repository root.
const DOCUMENT: &str = "docs/openapi.json";

/// Set to `1` to write the generated document to [`DOCUMENT`] instead of comparing.
const WRITE: &str = "TEXTBRIDGE_WRITE_OPENAPI";

/// The methods the API uses (HEAD and OPTIONS are the framework's, not routes').
const METHODS: [Method; 5] = [Method::GET, Method::POST, Method::PUT, Method::PATCH, Method::DELETE];

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn generated() -> String {
    textbridge::openapi().to_pretty_json().expect("the document as JSON") + "\n"
}

#[test]
fn the_committed_document_is_the_one_the_code_makes() {
    let path = root().join(DOCUMENT);
    let generated = generated();
    if std::env::var(WRITE).as_deref() == Ok("1") {
        std::fs::write(&path, &generated).expect("write the document");
        return;
    }
    let committed = std::fs::read_to_string(&path).unwrap_or_default();
    assert!(
        committed == generated,
        "{DOCUMENT} is not the document the code makes; regenerate it with \
         `{WRITE}=1 cargo test -p textbridge --test it -- contract::the_committed_document` and commit it"
    );
    let doc: Value = serde_json::from_str(&generated).expect("json");
    assert_eq!(doc["openapi"], "3.1.0");
}

/// The (method, path) pairs the document describes.
fn documented() -> BTreeSet<(Method, String)> {
    let doc = textbridge::openapi();
    let mut routes = BTreeSet::new();
    for (path, item) in &doc.paths.paths {
        let operations = [
            (Method::GET, item.get.is_some()),
            (Method::POST, item.post.is_some()),
            (Method::PUT, item.put.is_some()),
            (Method::PATCH, item.patch.is_some()),
            (Method::DELETE, item.delete.is_some()),
            (Method::HEAD, item.head.is_some()),
            (Method::OPTIONS, item.options.is_some()),
            (Method::TRACE, item.trace.is_some()),
        ];
        routes.extend(operations.into_iter().filter(|(_, described)| *described).map(|(m, _)| (m, path.clone())));
    }
    routes
}

/// The paths a router was given (`/users/{id}`, `/uploads/{*key}`): the router's
/// debug form lists them; the framework's own fallback paths are left out.
fn router_paths(router: &axum::Router) -> BTreeSet<String> {
    let text = format!("{router:?}");
    let mut paths = BTreeSet::new();
    for quoted in text.split('"').skip(1).step_by(2) {
        if quoted.starts_with('/') && !quoted.contains("__private__axum") {
            paths.insert(quoted.to_owned());
        }
    }
    paths
}

/// A request path for a route path: each `{param}` / `{*param}` filled with `x`.
fn concrete(path: &str) -> String {
    path.split('/').map(|seg| if seg.starts_with('{') { "x" } else { seg }).collect::<Vec<_>>().join("/")
}

/// A route path as OpenAPI writes it (`{*key}` is `{key}`).
fn openapi_path(path: &str) -> String {
    path.replace("{*", "{")
}

/// The admin console's pages and sign-in: HTML and a cookie session for the browser,
/// not the bearer-token JSON API the document describes.
fn console(path: &str) -> bool {
    path == "/" || path.starts_with("/console/")
}

#[tokio::test]
async fn the_document_describes_every_route_and_only_them() {
    let embedded = textbridge_embedded::Embedded::open_temporary().expect("embedded");
    let app = textbridge_app::App::on(embedded.backend(), textbridge_app::Config::default()).shared();
    let clock = Arc::new(textbridge_app::ports::SystemClock);
    let uploads =
        Arc::new(textbridge_embedded::LocalUploads::open(&embedded, "http://127.0.0.1", clock).await.expect("uploads"));
    let key = textbridge::DevKey::from_bytes(&[3; 32]);
    let mint_key = key.clone();
    let sign_in = textbridge_console::LocalSignIn::new(Arc::new(move |claims: &textbridge_api::Claims, ttl| {
        mint_key.sign(claims, ttl)
    }));
    let router = textbridge::with_console(
        &app,
        Arc::new(key),
        uploads,
        Some(textbridge_console::SignIn::Local(Arc::new(sign_in))),
    );

    let paths = router_paths(&router);
    assert!(paths.contains("/users/{id}") && paths.contains("/uploads/{*key}"), "routes not found in {paths:?}");

    // Which methods each path answers: anything but the 405 of a method it lacks.
    let mut served = BTreeSet::new();
    for path in paths.iter().filter(|p| !console(p)) {
        for method in METHODS {
            let request =
                Request::builder().method(method.clone()).uri(concrete(path)).body(Body::empty()).expect("req");
            let response = router.clone().oneshot(request).await.expect("response");
            let status = response.status().as_u16();
            let bytes = response.into_body().collect().await.expect("body").to_bytes();
            let body: Value = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
            assert_ne!(body["error"]["message"], "no such route", "{method} {path} reached no route");
            if status != 405 {
                served.insert((method, openapi_path(path)));
            }
        }
    }

    let documented = documented();
    let undocumented: Vec<_> = served.difference(&documented).collect();
    let unserved: Vec<_> = documented.difference(&served).collect();
    assert!(
        undocumented.is_empty(),
        "routes the document does not describe (annotate them with #[utoipa::path] and list them in ApiDoc): {undocumented:?}"
    );
    assert!(unserved.is_empty(), "operations the document describes but no router serves: {unserved:?}");
}

/// What schemathesis checks of every answer: no 5xx; the status code, content type and
/// body as documented; a route that needs the token refuses a call without it (401);
/// a method the document does not give a path is a 405.
const CHECKS: &str = "not_a_server_error,status_code_conformance,content_type_conformance,\
                      response_schema_conformance,ignored_auth,unsupported_method";

/// `schemathesis` from the test command's venv (on `PATH`), if installed.
fn schemathesis() -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path).map(|dir| dir.join("schemathesis")).find(|p| p.is_file())
}

/// Runs schemathesis against `base` as the holder of `bearer`, with the settings
/// file `config` if given; the run's output on failure.
fn run_schemathesis(st: &Path, base: &str, bearer: &str, config: Option<&Path>, report: &Path) -> Result<(), String> {
    let mut command = Command::new(st);
    if let Some(config) = config {
        command.arg("--config-file").arg(config);
    }
    let output = command
        .arg("run")
        .arg(format!("{base}/openapi.json"))
        .args(["--header", &format!("Authorization: Bearer {bearer}")])
        .args(["--checks", CHECKS])
        // One worker: hypothesis' generation is not safe across threads.
        .args(["--max-examples", "25", "--generation-deterministic", "--workers", "1", "--no-color"])
        .args(["--request-timeout", "10"])
        .arg("--report-dir")
        .arg(report)
        .current_dir(report)
        .output()
        .expect("run schemathesis");
    if output.status.success() {
        Ok(())
    } else {
        Err(format!("{}\n{}", String::from_utf8_lossy(&output.stdout), String::from_utf8_lossy(&output.stderr)))
    }
}

/// Makes one of each thing the routes with ids address (a team, a user, a record, an
/// import) and returns schemathesis settings that aim those routes at them, so that
/// its calls reach past "not found".
async fn seed(base: &str, admin: &str) -> String {
    let client = Client::default();
    let (status, team) =
        client.call("POST", &format!("{base}/teams"), Some(admin), Some(&json!({"name": "Seeded"}))).await;
    assert_eq!(status, 201, "{team}");
    let user = json!({"id": "seed-user", "first_name": "Sam", "last_name": "Seed", "email": "seed@acme.test"});
    let (status, body) = client.call("POST", &format!("{base}/users"), Some(admin), Some(&user)).await;
    assert_eq!(status, 201, "{body}");
    let record = json!({"name": "Bo", "phones": ["+12065550100"]});
    let (status, body) =
        client.call("PUT", &format!("{base}/records/candidate/seed-record"), Some(admin), Some(&record)).await;
    assert_eq!(status, 200, "{body}");
    let csv = "First Name,Last Name,Email\nCy,Doe,cy@acme.test\n";
    let upload = client.raw().post(format!("{base}/users/imports?file_name=users.csv")).bearer_auth(admin).body(csv);
    let (status, import) = client.send(upload).await;
    assert_eq!(status, 201, "{import}");
    let aim = |path: &str, parameters: &str| {
        format!("[[operations]]\ninclude-path-regex = {path:?}\nparameters = {{ {parameters} }}\n\n")
    };
    [
        aim("^/users/\\{id\\}", r#""path.id" = "seed-user""#),
        aim("^/admin/security-members/", r#""path.user_id" = "seed-user""#),
        aim("^/teams/\\{id\\}", &format!(r#""path.id" = {:?}"#, team["id"].as_str().expect("team id"))),
        aim("^/records/\\{kind\\}/\\{id\\}", r#""path.kind" = "candidate", "path.id" = "seed-record""#),
        aim("^/users/imports/\\{id\\}", &format!(r#""path.id" = {:?}"#, import["id"].as_str().expect("import id"))),
    ]
    .concat()
}

#[tokio::test]
async fn schemathesis_finds_the_server_keeping_to_the_document() {
    let Some(st) = schemathesis() else {
        let why = "schemathesis is not installed (scripts/test.sh installs it from scripts/requirements-test.txt)";
        assert!(std::env::var("CI").as_deref() != Ok("true"), "{why}");
        eprintln!("skipped: {why}");
        return;
    };
    // Three runs at once (each is a single-threaded process), each against a server
    // of its own: a customer admin reaches nearly every route; staff the operator
    // routes; the admin again, with the routes that take ids aimed at things that exist.
    let installations: Vec<_> = (0..3)
        .map(|_| {
            let dir = tempfile::tempdir().expect("tempdir");
            let server = Server::start(dir.path(), &[]);
            (dir, server, tempfile::tempdir().expect("report dir"))
        })
        .collect();

    // The server serves the document the code makes.
    let first = &installations[0].1;
    let (status, served) = Client::default().call("GET", &format!("{}/openapi.json", first.base), None, None).await;
    assert_eq!(status, 200);
    assert_eq!(served, serde_json::from_str::<Value>(&generated()).expect("json"));

    let admin = |dir: &Path| token(dir, &["--tenant", "acme"]);
    let staff = |dir: &Path| token(dir, &["--tenant", "acme", "--role", "staff"]);
    let (seeded_dir, seeded_server, seeded_report) = &installations[2];
    let config = seeded_report.path().join("seeded.toml");
    std::fs::write(&config, seed(&seeded_server.base, &admin(seeded_dir.path())).await).expect("write settings");
    let runs = [
        ("customer_admin", admin(installations[0].0.path()), None),
        ("staff", staff(installations[1].0.path()), None),
        ("seeded", admin(seeded_dir.path()), Some(config.as_path())),
    ];
    let failures: Vec<String> = std::thread::scope(|scope| {
        let running: Vec<_> = runs
            .iter()
            .zip(&installations)
            .map(|((run, bearer, config), (_, server, report))| {
                let st = &st;
                scope.spawn(move || {
                    run_schemathesis(st, &server.base, bearer, *config, report.path())
                        .err()
                        .map(|output| format!("schemathesis {run}:\n{output}\nserver log:\n{}", server.logs()))
                })
            })
            .collect();
        running.into_iter().filter_map(|run| run.join().expect("a schemathesis run")).collect()
    });
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));
}
