//! Helpers shared by the end-to-end tests: a real `textbridge serve` child process
//! whose every log line is kept, and a small JSON HTTP client.

use std::{
    io::{BufRead, BufReader, Read},
    path::Path,
    process::{Child, Command, Stdio},
    sync::{Arc, Mutex, mpsc},
    time::Duration,
};

use serde_json::Value;

/// The binary under test.
pub const BIN: &str = env!("CARGO_BIN_EXE_textbridge");

/// A running `textbridge serve`, killed on drop; keeps all it printed.
pub struct Server {
    child: Child,
    /// `http://127.0.0.1:PORT`.
    pub base: String,
    logs: Arc<Mutex<Vec<String>>>,
    /// The threads that read its stdout and stderr into `logs`.
    readers: Vec<std::thread::JoinHandle<()>>,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn keep_lines(
    stream: impl Read + Send + 'static,
    logs: Arc<Mutex<Vec<String>>>,
    addr: Option<mpsc::Sender<String>>,
) -> std::thread::JoinHandle<()> {
    std::thread::spawn(move || {
        for line in BufReader::new(stream).lines().map_while(Result::ok) {
            if let Some(tx) = &addr
                && let Ok(v) = serde_json::from_str::<Value>(&line)
                && v["message"] == "listening"
            {
                let _ = tx.send(v["addr"].as_str().unwrap_or_default().to_owned());
            }
            logs.lock().expect("logs").push(line);
        }
    })
}

impl Server {
    /// Starts `textbridge serve` on a free port with `data_dir` and extra env vars.
    pub fn start(data_dir: &Path, env: &[(&str, &str)]) -> Server {
        let mut child = Command::new(BIN)
            .args(["serve", "--port", "0", "--log-level", "debug", "--data-dir"])
            .arg(data_dir)
            .envs(env.iter().copied())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn textbridge serve");
        let logs = Arc::new(Mutex::new(Vec::new()));
        let (tx, rx) = mpsc::channel();
        let readers = vec![
            keep_lines(child.stdout.take().expect("stdout"), logs.clone(), Some(tx)),
            keep_lines(child.stderr.take().expect("stderr"), logs.clone(), None),
        ];
        let addr = rx.recv_timeout(Duration::from_secs(30)).expect("server did not log its address");
        Server { child, base: format!("http://{addr}"), logs, readers }
    }

    /// Stops the server as `kill -TERM` does (it finishes the work in hand), waits
    /// until it has exited and returns everything it printed, to its last line.
    pub fn terminate(mut self) -> String {
        let status = Command::new("kill").args(["-TERM", &self.child.id().to_string()]).status();
        assert!(status.is_ok_and(|s| s.success()), "kill -TERM");
        let _ = self.child.wait();
        for reader in std::mem::take(&mut self.readers) {
            reader.join().expect("log reader");
        }
        self.logs()
    }

    /// The server's process id.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Everything the server printed so far (lines on their way may be missing: a
    /// check of the whole log reads what `terminate` returns).
    pub fn logs(&self) -> String {
        self.logs.lock().expect("logs").join("\n")
    }
}

/// Mints a development token with the installation's key in `data_dir`.
pub fn token(data_dir: &Path, args: &[&str]) -> String {
    let out = Command::new(BIN).arg("token").args(args).arg("--data-dir").arg(data_dir).output().expect("run token");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8(out.stdout).expect("utf8").trim().to_owned()
}

/// A JSON client that records every response body it saw.
#[derive(Clone)]
pub struct Client {
    http: reqwest::Client,
    bodies: Arc<Mutex<Vec<String>>>,
}

impl Default for Client {
    fn default() -> Self {
        Self { http: http_client(), bodies: Arc::default() }
    }
}

/// A plain HTTP client (TLS on the project's one provider).
pub fn http_client() -> reqwest::Client {
    textbridge_http::builder().build().expect("client")
}

impl Client {
    /// Sends a request with an optional bearer token and JSON body; returns the
    /// status and the parsed body (`Null` when it is not JSON).
    pub async fn call(&self, method: &str, url: &str, bearer: Option<&str>, body: Option<&Value>) -> (u16, Value) {
        let method = reqwest::Method::from_bytes(method.as_bytes()).expect("method");
        let mut req = self.http.request(method, url);
        if let Some(t) = bearer {
            req = req.bearer_auth(t);
        }
        if let Some(b) = body {
            req = req.json(b);
        }
        self.send(req).await
    }

    /// Sends a prepared request.
    pub async fn send(&self, req: reqwest::RequestBuilder) -> (u16, Value) {
        let resp = req.send().await.expect("request");
        let status = resp.status().as_u16();
        let text = resp.text().await.expect("body");
        self.bodies.lock().expect("bodies").push(text.clone());
        (status, serde_json::from_str(&text).unwrap_or(Value::Null))
    }

    /// Every response body seen so far.
    pub fn bodies(&self) -> String {
        self.bodies.lock().expect("bodies").join("\n")
    }

    /// The underlying client, for requests `call` cannot express.
    pub fn raw(&self) -> &reqwest::Client {
        &self.http
    }
}

/// Sends a request whose body is larger than the server reads, over a raw
/// connection, and returns the status and body of the answer. The server may answer
/// (413) and close before it has read the body, so the body is written alongside
/// reading the answer and write errors are ignored.
pub async fn send_oversized(
    base: &str,
    method: &str,
    path: &str,
    bearer: Option<&str>,
    content_type: &str,
    body: Vec<u8>,
) -> (u16, String) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let addr = base.trim_start_matches("http://").to_owned();
    let stream = tokio::net::TcpStream::connect(&addr).await.expect("connect");
    let (mut reader, mut writer) = stream.into_split();
    let auth = bearer.map(|b| format!("Authorization: Bearer {b}\r\n")).unwrap_or_default();
    let head = format!(
        "{method} {path} HTTP/1.1\r\nHost: {addr}\r\n{auth}Content-Type: {content_type}\r\nContent-Length: {}\r\n\r\n",
        body.len()
    );
    let writing = tokio::spawn(async move {
        if writer.write_all(head.as_bytes()).await.is_ok() {
            let _ = writer.write_all(&body).await;
        }
    });
    let mut got = Vec::new();
    let mut buf = vec![0u8; 64 * 1024];
    loop {
        if let Some(end) = got.windows(4).position(|w| w == b"\r\n\r\n") {
            let head = String::from_utf8_lossy(&got[..end]).to_lowercase();
            let len = head.lines().find_map(|l| l.strip_prefix("content-length:")).and_then(|v| v.trim().parse().ok());
            if got.len() >= end + 4 + len.unwrap_or(0) {
                writing.abort();
                let status = head.split_whitespace().nth(1).and_then(|s| s.parse().ok()).unwrap_or(0);
                return (status, String::from_utf8_lossy(&got[end + 4..]).into_owned());
            }
        }
        match tokio::time::timeout(Duration::from_secs(10), reader.read(&mut buf)).await {
            Ok(Ok(n)) if n > 0 => got.extend_from_slice(&buf[..n]),
            _ => panic!("{method} {path}: no whole answer: {}", String::from_utf8_lossy(&got)),
        }
    }
}

/// Posts a JSON body of `len` spaces with a token; the status the server answers with.
pub async fn post_oversized(base: &str, path: &str, bearer: &str, len: usize) -> u16 {
    send_oversized(base, "POST", path, Some(bearer), "application/json", vec![b' '; len]).await.0
}

/// Runs `textbridge {args} --data-dir {data_dir}`; it must succeed. Returns stdout.
pub fn cli(data_dir: &Path, args: &[&str]) -> String {
    let out = Command::new(BIN).args(args).arg("--data-dir").arg(data_dir).output().expect("run textbridge");
    assert!(out.status.success(), "{args:?}: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8(out.stdout).expect("utf8")
}

/// Adds texting user `id` to the admin's tenant, in the permission group `Texters`
/// (which grants Can Text), so that user-level credentials can be saved for them.
pub async fn texting_user(client: &Client, base: &str, admin: &str, id: &str) {
    let group = serde_json::json!({"can_text": true});
    let (status, body) =
        client.call("PUT", &format!("{base}/permission-groups/Texters"), Some(admin), Some(&group)).await;
    assert_eq!(status, 200, "{body}");
    let user = serde_json::json!({"id": id, "first_name": "Pat", "last_name": "Lee",
        "email": format!("{id}@texters.test"), "permission_group": "Texters", "send_invitation": false});
    let (status, body) = client.call("POST", &format!("{base}/users"), Some(admin), Some(&user)).await;
    let exists = status == 409 && body["error"]["field"] == "email";
    assert!(status == 201 || exists, "{body}");
}
