//! The HTTP layer of the real `textbridge serve`, as a careless or hostile client
//! meets it: what is logged of a request, the answers to requests the routers or
//! the HTTP parser refuse, slow clients, and start-up with a bad data dir or key file.

use std::{
    path::Path,
    process::Command,
    time::{Duration, Instant},
};

use serde_json::{Value, json};
use tokio::{
    io::{AsyncReadExt, AsyncWriteExt},
    net::TcpStream,
};

use crate::common::{self, BIN, Client, Server};

const OURS: &str = "+12065550199";
const THEIRS: &str = "+12065550100";

fn addr(server: &Server) -> String {
    server.base.trim_start_matches("http://").to_owned()
}

/// A raw answer: status, lower-cased headers, body.
struct Raw {
    status: u16,
    headers: Vec<(String, String)>,
    body: String,
}

impl Raw {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers.iter().find(|(n, _)| n == name).map(|(_, v)| v.as_str())
    }
}

/// Sends `request` as it is over a new connection and reads one answer (up to its
/// `content-length`, or the connection's end), within 10 s.
async fn raw(addr: &str, request: &[u8]) -> Raw {
    let mut stream = TcpStream::connect(addr).await.expect("connect");
    // The server may answer before it read everything (e.g. a head too large).
    let _ = stream.write_all(request).await;
    let mut got = Vec::new();
    let mut buf = vec![0u8; 64 * 1024];
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        if let Some(end) = got.windows(4).position(|w| w == b"\r\n\r\n") {
            let head = String::from_utf8_lossy(&got[..end]).to_lowercase();
            let len = head
                .lines()
                .find_map(|l| l.strip_prefix("content-length:"))
                .and_then(|v| v.trim().parse::<usize>().ok())
                .unwrap_or(0);
            if got.len() >= end + 4 + len {
                break;
            }
        }
        let left = deadline.saturating_duration_since(Instant::now());
        match tokio::time::timeout(left, stream.read(&mut buf)).await {
            Ok(Ok(0)) | Ok(Err(_)) | Err(_) => break,
            Ok(Ok(n)) => got.extend_from_slice(&buf[..n]),
        }
    }
    let text = String::from_utf8_lossy(&got).into_owned();
    let (head, body) = text.split_once("\r\n\r\n").unwrap_or((&text, ""));
    let mut lines = head.lines();
    let status = lines.next().and_then(|l| l.split_whitespace().nth(1)).and_then(|s| s.parse().ok()).unwrap_or(0);
    let headers = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(n, v)| (n.trim().to_ascii_lowercase(), v.trim().to_owned()))
        .collect();
    Raw { status, headers, body: body.to_owned() }
}

fn request(method: &str, target: &str, bearer: Option<&str>, body: Option<&str>) -> Vec<u8> {
    let mut head = format!("{method} {target} HTTP/1.1\r\nHost: localhost\r\n");
    if let Some(token) = bearer {
        head.push_str(&format!("Authorization: Bearer {token}\r\n"));
    }
    if let Some(body) = body {
        head.push_str(&format!("Content-Type: application/json\r\nContent-Length: {}\r\n", body.len()));
    }
    head.push_str("\r\n");
    head.push_str(body.unwrap_or_default());
    head.into_bytes()
}

/// Waits (at most 30 s) until the server logged a line containing `needle`.
async fn wait_for_log(server: &Server, needle: &str) -> String {
    for _ in 0..600 {
        let logs = server.logs();
        if logs.contains(needle) {
            return logs;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("no log line with {needle:?}:\n{}", server.logs());
}

#[tokio::test]
async fn webhook_token_is_in_no_log_line() {
    let dir = tempfile::tempdir().expect("tempdir");
    let zw = textbridge_testkit::zipwhip::StandIn::start("zw-session-1", "1").await;
    let server = Server::start(dir.path(), &[("ZIPWHIP_BASE_URL", &zw.uri())]);
    let admin = common::token(dir.path(), &["--tenant", "acme", "--role", "customer_admin", "--user-id", "admin-1"]);
    let client = Client::default();
    common::texting_user(&client, &server.base, &admin, "u-7").await;
    let creds = json!({"username": "alex@2065550199", "password": "zw-pass-1"});
    let (status, resp) =
        client.call("POST", &format!("{}/credentials/zipwhip/user/u-7", server.base), Some(&admin), Some(&creds)).await;
    assert_eq!(status, 201, "{resp}");
    let requests = zw.requests().await;
    let add = requests.iter().find(|r| r.url.path() == "/webhook/add").expect("webhook registered");
    let url: String =
        url::form_urlencoded::parse(&add.body).find(|(k, _)| k == "url").map(|(_, v)| v.into_owned()).expect("url");
    let hook = &url[url.find("/webhooks/").expect("path")..];
    let token = hook.rsplit('/').next().expect("token").to_owned();
    assert!(token.len() >= 16, "{hook}");

    let text = format!(
        r#"{{"body":"hello","address":"ptn:/{THEIRS}","finalSource":"{THEIRS}","finalDestination":"{OURS}","messageType":"MO","id":1327295480212640001,"dateCreated":"2026-11-23T17:01:17Z","statusCode":4,"messageStatus":1003}}"#
    );
    let post = |path: String| {
        client.send(
            client
                .raw()
                .post(format!("{}{path}", server.base))
                .header("content-type", "application/json")
                .body(text.clone()),
        )
    };
    let (status, body) = post(hook.to_owned()).await;
    assert_eq!(status, 202, "{body}");
    // Unmatched routes and unreadable requests carrying the token are not logged with it either.
    assert_eq!(post(format!("{hook}/more")).await.0, 404);
    assert_eq!(post(format!("{hook}%FF")).await.0, 400);
    wait_for_log(&server, "webhook accepted").await;
    let logs = wait_for_log(&server, r#""status":404"#).await;
    assert_no_token(&logs, &token);
    assert!(logs.contains("/webhooks/{provider}/{token}"), "the route template is logged:\n{logs}");

    let long = raw(&addr(&server), &request("POST", &format!("{hook}/{}", "x".repeat(70_000)), None, None)).await;
    assert_eq!(long.status, 414);
    assert_no_token(&wait_for_log(&server, "request refused before routing").await, &token);
}

fn assert_no_token(logs: &str, token: &str) {
    for line in logs.lines() {
        assert!(!line.contains(token), "the webhook token is in a log line: {line}");
        assert!(line.len() < 4096, "an unbounded log line: {}…", &line[..200]);
    }
}

/// A refusal case: name, raw request, status, error code, field.
type Case<'a> = (&'a str, Vec<u8>, u16, &'a str, Option<&'a str>);

#[tokio::test]
async fn every_refusal_is_json_with_a_request_id() {
    let dir = tempfile::tempdir().expect("tempdir");
    let server = Server::start(dir.path(), &[]);
    let admin = common::token(dir.path(), &["--tenant", "acme", "--role", "customer_admin"]);
    let addr = addr(&server);
    let auth = Some(admin.as_str());
    let messages = "/records/employee/e1/messages";
    let many_headers: String = (0..120).map(|i| format!("X-Header-{i}: v\r\n")).collect();
    let cases: Vec<Case> = vec![
        ("limit=-1", request("GET", &format!("{messages}?limit=-1"), auth, None), 400, "malformed", Some("limit")),
        ("limit=abc", request("GET", &format!("{messages}?limit=abc"), auth, None), 400, "malformed", Some("limit")),
        (
            "limit=2^32",
            request("GET", &format!("{messages}?limit=4294967296"), auth, None),
            400,
            "malformed",
            Some("limit"),
        ),
        (
            "limit twice",
            request("GET", &format!("{messages}?limit=1&limit=2"), auth, None),
            400,
            "malformed",
            Some("limit"),
        ),
        (
            "record id %FF",
            request("PUT", "/records/employee/%FF", auth, Some(r#"{"phones":[]}"#)),
            400,
            "malformed",
            Some("id"),
        ),
        (
            "group %FF",
            request("PUT", "/permission-groups/%FF", auth, Some(r#"{"can_text":true}"#)),
            400,
            "malformed",
            Some("name"),
        ),
        ("webhook %FF", request("POST", "/webhooks/zipwhip/%FF", None, Some("{}")), 400, "malformed", Some("token")),
        (
            "credentials %FF",
            request("GET", "/credentials/zipwhip/user/%FF", auth, None),
            400,
            "malformed",
            Some("scope"),
        ),
        ("100k path", request("GET", &format!("/{}", "a".repeat(100_000)), None, None), 414, "too_large", None),
        (
            "120 headers",
            format!("GET /health HTTP/1.1\r\nHost: localhost\r\n{many_headers}\r\n").into_bytes(),
            431,
            "too_large",
            None,
        ),
        ("TAB in the URL", b"GET /hea\tlth HTTP/1.1\r\nHost: localhost\r\n\r\n".to_vec(), 400, "malformed", None),
        (
            "Content-Length: -1",
            b"POST /webhooks/zipwhip/x HTTP/1.1\r\nHost: localhost\r\nContent-Length: -1\r\n\r\n".to_vec(),
            400,
            "malformed",
            None,
        ),
        ("not HTTP", b"HELLO\r\n\r\n".to_vec(), 400, "malformed", None),
        ("unknown route", request("GET", "/nowhere", None, None), 404, "not_found", None),
    ];
    for (name, bytes, status, code, field) in cases {
        let answer = raw(&addr, &bytes).await;
        assert_eq!(answer.status, status, "{name}: {}", answer.body);
        assert_eq!(answer.header("content-type"), Some("application/json"), "{name}");
        let id = answer.header("x-request-id").unwrap_or_default();
        assert!(!id.is_empty(), "{name}: no x-request-id");
        let body: Value = serde_json::from_str(&answer.body).unwrap_or(Value::Null);
        assert_eq!(body["error"]["code"], code, "{name}: {}", answer.body);
        assert!(body["error"]["message"].as_str().is_some_and(|m| !m.is_empty()), "{name}: {body}");
        if let Some(field) = field {
            assert_eq!(body["error"]["field"], field, "{name}: {body}");
        }
        assert!(server.logs().len() < 10_000_000);
    }
    // The server is still there.
    assert_eq!(raw(&addr, &request("GET", "/health", None, None)).await.status, 200);
}

/// Opens `n` connections that each send half a request line.
async fn slow_connections(addr: &str, n: usize) -> Vec<TcpStream> {
    let mut streams = Vec::with_capacity(n);
    for _ in 0..n {
        let mut stream = TcpStream::connect(addr).await.expect("connect");
        stream.write_all(b"GET /heal").await.expect("half a request line");
        streams.push(stream);
    }
    streams
}

/// True when the server closed `stream` by `deadline` (answered or not).
async fn closed_by(stream: &mut TcpStream, deadline: Instant) -> bool {
    let mut buf = [0u8; 4096];
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        match tokio::time::timeout(left, stream.read(&mut buf)).await {
            Ok(Ok(0)) | Ok(Err(_)) => return true,
            Ok(Ok(_)) => continue,
            Err(_) => return false,
        }
    }
}

#[tokio::test]
async fn slow_clients_are_cut_off_and_health_still_answers() {
    let dir = tempfile::tempdir().expect("tempdir");
    let server = Server::start(dir.path(), &[("HEADER_READ_TIMEOUT_SECS", "2")]);
    let addr = addr(&server);
    let mut slow = slow_connections(&addr, 300).await;

    // No kept-alive connection: the server closes an idle one after the same 2 s, and
    // reusing it just then would fail the request on the client's side.
    let http = textbridge_http::builder().timeout(Duration::from_secs(5)).pool_max_idle_per_host(0).build();
    let http = http.expect("client");
    let health = http.get(format!("{}/health", server.base)).send().await.expect("health answers");
    assert_eq!(health.status().as_u16(), 200);

    // Each is closed once the header read timeout (2 s) has passed; none stays open.
    let mut open = 0;
    let deadline = Instant::now() + Duration::from_secs(8);
    for stream in &mut slow {
        if !closed_by(stream, deadline).await {
            open += 1;
        }
    }
    assert_eq!(open, 0, "slow connections still open after the header read timeout");
    let health = http.get(format!("{}/health", server.base)).send().await.expect("health answers");
    assert_eq!(health.status().as_u16(), 200);
}

#[tokio::test]
async fn connections_over_the_limit_get_a_json_503() {
    let dir = tempfile::tempdir().expect("tempdir");
    let server = Server::start(dir.path(), &[("MAX_CONNECTIONS", "5"), ("HEADER_READ_TIMEOUT_SECS", "2")]);
    let addr = addr(&server);
    let mut slow = slow_connections(&addr, 5).await;
    // Let the server accept them before the next one.
    tokio::time::sleep(Duration::from_millis(300)).await;

    let answer = raw(&addr, &request("GET", "/health", None, None)).await;
    assert_eq!(answer.status, 503, "{}", answer.body);
    assert!(answer.header("x-request-id").is_some_and(|id| !id.is_empty()));
    let body: Value = serde_json::from_str(&answer.body).unwrap_or(Value::Null);
    assert_eq!(body["error"]["code"], "unavailable", "{}", answer.body);

    let deadline = Instant::now() + Duration::from_secs(8);
    for stream in &mut slow {
        assert!(closed_by(stream, deadline).await, "slow connection still open");
    }
    let mut healthy = false;
    for _ in 0..600 {
        if raw(&addr, &request("GET", "/health", None, None)).await.status == 200 {
            healthy = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(healthy, "the server serves again once the slow connections are gone");
}

#[tokio::test]
async fn a_body_that_does_not_arrive_is_a_408() {
    let dir = tempfile::tempdir().expect("tempdir");
    let server = Server::start(dir.path(), &[("BODY_READ_TIMEOUT_SECS", "1")]);
    let head = "POST /webhooks/zipwhip/abc HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\n\
                Content-Length: 100\r\n\r\n{\"body\":";
    let answer = raw(&addr(&server), head.as_bytes()).await;
    assert_eq!(answer.status, 408, "{}", answer.body);
    assert!(answer.header("x-request-id").is_some_and(|id| !id.is_empty()));
    let body: Value = serde_json::from_str(&answer.body).unwrap_or(Value::Null);
    assert_eq!(body["error"]["code"], "timeout", "{}", answer.body);
}

#[tokio::test]
async fn bearer_is_matched_without_case_and_401s_quote_no_library_text() {
    let dir = tempfile::tempdir().expect("tempdir");
    let server = Server::start(dir.path(), &[]);
    let token = common::token(dir.path(), &["--tenant", "acme", "--role", "manager"]);
    let client = Client::default();
    let me = format!("{}/users/me", server.base);
    for scheme in ["Bearer", "bearer", "BEARER", "bEaReR"] {
        let req = client.raw().get(&me).header("authorization", format!("{scheme} {token}"));
        let (status, body) = client.send(req).await;
        assert_eq!(status, 200, "{scheme}: {body}");
    }
    let mut tampered = token.clone();
    tampered.insert(token.len() / 2, 'x');
    for bad in [tampered.as_str(), "not-a-token", "a.b.c", "eyJ0eXAiOiJKV1QifQ.e30.!!"] {
        let (status, body) = client.call("GET", &me, Some(bad), None).await;
        assert_eq!(status, 401, "{bad}");
        assert_eq!(body["error"]["message"], "invalid development token", "{bad}: {body}");
    }
    let (status, body) = client.send(client.raw().get(&me).header("authorization", format!("Basic {token}"))).await;
    assert_eq!(status, 401);
    assert_eq!(body["error"]["message"], "expected Authorization: Bearer <token>");
}

fn run(args: &[&str], data_dir: &Path, env: &[(&str, &str)]) -> (bool, String) {
    let out = Command::new(BIN)
        .args(args)
        .arg("--data-dir")
        .arg(data_dir)
        .envs(env.iter().copied())
        .output()
        .expect("run textbridge");
    let text = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    (out.status.success(), text)
}

/// `serve` either fails at start-up (false, its output) or logs that it listens
/// (true, its output so far; it is then stopped).
fn serve_starts(data_dir: &Path) -> (bool, String) {
    use std::io::{BufRead, BufReader};
    let mut child = Command::new(BIN)
        .args(["serve", "--port", "0", "--data-dir"])
        .arg(data_dir)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("spawn");
    let (tx, rx) = std::sync::mpsc::channel();
    for stream in [
        Box::new(child.stdout.take().expect("stdout")) as Box<dyn std::io::Read + Send>,
        Box::new(child.stderr.take().expect("stderr")),
    ] {
        let tx = tx.clone();
        std::thread::spawn(move || {
            for line in BufReader::new(stream).lines().map_while(Result::ok) {
                let _ = tx.send(line);
            }
        });
    }
    drop(tx);
    let mut out = String::new();
    let deadline = Instant::now() + Duration::from_secs(30);
    let started = loop {
        match rx.recv_timeout(deadline.saturating_duration_since(Instant::now())) {
            Ok(line) => {
                let listening = line.contains(r#""message":"listening""#);
                out.push_str(&line);
                out.push('\n');
                if listening {
                    break true;
                }
            }
            // Both streams closed (the process ended) or the time is up.
            Err(_) => break false,
        }
    };
    let _ = child.kill();
    let _ = child.wait();
    (started, out)
}

#[cfg(unix)]
#[test]
fn key_files_open_to_others_stop_serve_and_token() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().expect("tempdir");
    let _ = common::token(dir.path(), &["--tenant", "acme"]);
    let key = dir.path().join("dev-token.key");
    std::fs::set_permissions(&key, std::fs::Permissions::from_mode(0o644)).expect("chmod");
    let (ok, out) = run(&["token", "--tenant", "acme"], dir.path(), &[]);
    assert!(!ok, "token accepted a world-readable key: {out}");
    assert!(out.contains("refusing the token key file") && out.contains("chmod 600"), "{out}");
    let (started, out) = serve_starts(dir.path());
    assert!(!started, "serve accepted a world-readable key");
    assert!(out.contains("refusing the token key file") && out.contains("0644"), "{out}");

    // The secret key file: the same rule, told the same way.
    std::fs::set_permissions(&key, std::fs::Permissions::from_mode(0o600)).expect("chmod");
    let (started, out) = serve_starts(dir.path());
    assert!(started, "{out}");
    std::fs::set_permissions(dir.path().join("secrets.key"), std::fs::Permissions::from_mode(0o640)).expect("chmod");
    let (started, out) = serve_starts(dir.path());
    assert!(!started, "serve accepted a group-readable secrets.key");
    assert!(out.contains("refusing the secret key file") && out.contains("0640") && out.contains("chmod 600"), "{out}");
}

#[test]
fn a_missing_data_dir_is_refused_except_by_serve_which_says_it_creates_one() {
    let parent = tempfile::tempdir().expect("tempdir");
    let missing = parent.path().join("mistyped");
    for args in [&["token", "--tenant", "acme"][..], &["dlq", "list"], &["dlq", "replay"]] {
        let (ok, out) = run(args, &missing, &[]);
        assert!(!ok, "{args:?} accepted a missing data dir: {out}");
        assert!(out.contains("does not exist") && out.contains("mistyped"), "{args:?}: {out}");
        assert!(!missing.exists(), "{args:?} created the data dir");
    }

    // An invalid configuration creates nothing.
    for (var, value) in
        [("PUBLIC_BASE_URL", "not a url"), ("TEMPWORKS_BASE_URL", "ftp://x"), ("ZIPWHIP_BASE_URL", "nope")]
    {
        let (ok, out) = run(&["serve", "--port", "0"], &missing, &[(var, value)]);
        assert!(!ok && out.contains(var), "{var}={value}: {out}");
        assert!(!missing.exists(), "{var}={value}: serve created the data dir before refusing its configuration");
    }

    let (started, out) = serve_starts(&missing);
    assert!(started, "{out}");
    assert!(missing.is_dir());
    assert!(out.contains("created a new, empty data directory"), "{out}");
    let (started, out) = serve_starts(&missing);
    assert!(started, "{out}");
    assert!(!out.contains("created a new, empty data directory"), "said so again on an existing dir: {out}");
}

#[tokio::test]
async fn a_cursor_no_listing_gave_is_a_422_on_every_listing() {
    let dir = tempfile::tempdir().expect("tempdir");
    let server = Server::start(dir.path(), &[]);
    let admin = common::token(dir.path(), &["--tenant", "acme"]);
    let client = Client::default();
    // Two pages of users, so that one listing's real cursor can be sent to another.
    for n in 0..3 {
        let user = json!({"first_name": "Ann", "last_name": format!("Lee{n}"), "email": format!("ann{n}@acme.test")});
        let (status, body) = client.call("POST", &format!("{}/users", server.base), Some(&admin), Some(&user)).await;
        assert_eq!(status, 201, "{body}");
    }
    let record = json!({"phones": [THEIRS]});
    let url = format!("{}/records/candidate/c-1", server.base);
    assert_eq!(client.call("PUT", &url, Some(&admin), Some(&record)).await.0, 200);
    let (_, page) = client.call("GET", &format!("{}/users?limit=1", server.base), Some(&admin), None).await;
    let users_cursor = page["next"].as_str().expect("a next page").to_owned();

    let listings = ["/users?", "/outbox?", "/messages/unmatched?", "/records/candidate/c-1/messages?"];
    for listing in listings {
        for cursor in ["", "bogus", "e30", users_cursor.as_str()] {
            if listing == "/users?" && cursor == users_cursor {
                continue;
            }
            let url = format!("{}{listing}cursor={cursor}", server.base);
            let (status, body) = client.call("GET", &url, Some(&admin), None).await;
            assert_eq!((status, &body["error"]["field"]), (422, &json!("cursor")), "{listing}cursor={cursor}: {body}");
        }
    }
    assert!(!server.logs().contains("\"level\":\"ERROR\""), "a bad cursor is the caller's error, not a fault");
}
