//! A stand-in ATS speaking Textbridge's ATS directory contract on a local port (see
//! `textbridge_ats::RestDirectory`): it lists the users and records it is given,
//! paged by an offset page token and filtered by `updated_since` (inclusive), checks
//! the bearer token, and can be told to fail a page or throttle once.
//!
//! Every request is recorded ([`StandIn::requests`]).

use std::sync::{Arc, Mutex};

use serde_json::{Value, json};
use time::{OffsetDateTime, format_description::well_known::Rfc3339};
use wiremock::{Mock, MockServer, Request, Respond, ResponseTemplate, matchers::any};

/// A row with its updated-at read once.
type Row = (Option<OffsetDateTime>, Value);

#[derive(Default)]
struct Data {
    users: Vec<Row>,
    records: std::collections::HashMap<String, Vec<Row>>,
    page_size: usize,
    /// (`users` or a record kind, page index from 0, status) answered until cleared.
    fail: Option<(String, usize, u16)>,
    /// Answer the next request 429 with `Retry-After: 1`.
    throttle_once: bool,
    requests: Vec<String>,
}

/// The stand-in ATS.
pub struct StandIn {
    server: MockServer,
    data: Arc<Mutex<Data>>,
}

/// The bearer token the stand-in accepts.
pub const TOKEN: &str = "ats-token-7Hq2";

struct Answerer(Arc<Mutex<Data>>);

fn time_of(v: &Value) -> Option<OffsetDateTime> {
    v.get("updated_at").and_then(Value::as_str).and_then(|t| OffsetDateTime::parse(t, &Rfc3339).ok())
}

impl Respond for Answerer {
    fn respond(&self, request: &Request) -> ResponseTemplate {
        let mut data = self.0.lock().unwrap();
        data.requests.push(request.url.to_string());
        let auth = request.headers.get("authorization").and_then(|v| v.to_str().ok());
        if auth != Some(&format!("Bearer {TOKEN}")) {
            return ResponseTemplate::new(401).set_body_json(json!({"error": "bad token"}));
        }
        if data.throttle_once {
            data.throttle_once = false;
            return ResponseTemplate::new(429).insert_header("retry-after", "1");
        }
        let query: std::collections::HashMap<String, String> = request.url.query_pairs().into_owned().collect();
        let limit = query.get("limit").and_then(|l| l.parse::<usize>().ok()).unwrap_or(200).min(data.page_size);
        let offset = query.get("page_token").and_then(|p| p.parse::<usize>().ok()).unwrap_or(0);
        let since = query.get("updated_since").and_then(|s| OffsetDateTime::parse(s, &Rfc3339).ok());
        let (list, stream): (&str, String) = match request.url.path() {
            "/users" => ("users", "users".into()),
            "/records" => ("records", query.get("kind").cloned().unwrap_or_default()),
            _ => return ResponseTemplate::new(404),
        };
        if let Some((s, page, status)) = &data.fail
            && *s == stream
            && *page == offset / limit.max(1)
        {
            return ResponseTemplate::new(*status);
        }
        let empty = Vec::new();
        let rows = if list == "users" { &data.users } else { data.records.get(&stream).unwrap_or(&empty) };
        let mut listed = rows.iter().filter(|(t, _)| since.is_none_or(|s| t.is_none_or(|t| t >= s))).skip(offset);
        let page: Vec<&Value> = listed.by_ref().take(limit).map(|(_, r)| r).collect();
        let next = listed.next().is_some().then(|| (offset + limit).to_string());
        ResponseTemplate::new(200).set_body_json(json!({ list: page, "next_page_token": next }))
    }
}

impl StandIn {
    /// Starts an empty stand-in with pages of 200 rows.
    pub async fn start() -> Self {
        let server = MockServer::start().await;
        let data = Arc::new(Mutex::new(Data { page_size: 200, ..Data::default() }));
        Mock::given(any()).respond_with(Answerer(data.clone())).mount(&server).await;
        Self { server, data }
    }

    /// The base URL to connect to.
    pub fn uri(&self) -> String {
        self.server.uri()
    }

    /// Sets the largest page.
    pub fn page_size(&self, rows: usize) {
        self.data.lock().unwrap().page_size = rows;
    }

    /// Replaces the users listed.
    pub fn set_users(&self, users: Vec<Value>) {
        self.data.lock().unwrap().users = users.into_iter().map(|u| (time_of(&u), u)).collect();
    }

    /// Replaces the records of `kind`.
    pub fn set_records(&self, kind: &str, records: Vec<Value>) {
        let rows = records.into_iter().map(|r| (time_of(&r), r)).collect();
        self.data.lock().unwrap().records.insert(kind.to_owned(), rows);
    }

    /// Answers page `page` (from 0) of `stream` (`users` or a record kind) with
    /// `status` until [`Self::heal`].
    pub fn fail_page(&self, stream: &str, page: usize, status: u16) {
        self.data.lock().unwrap().fail = Some((stream.to_owned(), page, status));
    }

    /// Stops failing.
    pub fn heal(&self) {
        self.data.lock().unwrap().fail = None;
    }

    /// Answers the next request 429 with `Retry-After: 1`.
    pub fn throttle_once(&self) {
        self.data.lock().unwrap().throttle_once = true;
    }

    /// Every request URL so far.
    pub fn requests(&self) -> Vec<String> {
        self.data.lock().unwrap().requests.clone()
    }

    /// Forgets the requests seen.
    pub fn clear_requests(&self) {
        self.data.lock().unwrap().requests.clear();
    }
}

/// A user row of the contract.
pub fn user(id: &str, email: &str, access: &str, synchronize: Option<&str>, updated_at: &str) -> Value {
    json!({
        "id": id, "email": email, "first_name": "Pat", "last_name": format!("User {id}"),
        "access": access, "synchronize": synchronize, "removed": false, "updated_at": updated_at,
    })
}

/// A record row of the contract.
pub fn record(id: &str, phones: &[&str], updated_at: &str) -> Value {
    json!({"id": id, "name": format!("Record {id}"), "phones": phones, "removed": false, "updated_at": updated_at})
}
