//! A stand-in for the TempWorks REST API on a local port, for every test that needs
//! an ATS: it answers the message action list, keeps what is written on employees
//! and contacts and lists it back (as the real one does, so a write whose answer was
//! lost can be found), and can be told to answer otherwise.
//!
//! * `GET /DataLists/messageActions` answers [`StandIn::set_actions`]' list (by default
//!   "Phone Call" id 3 and "Message" id 7).
//! * `POST /{Employees|Contacts}/{id}/messages`: by default kept and answered
//!   `201 {"messageId": N}` (N from 1001 up); [`StandIn::answer_writes`] answers every
//!   later write with a fixed [`Answer`] instead (not kept), [`StandIn::keep_writes`]
//!   goes back to the default, and [`StandIn::answer_next_write`] answers only the
//!   next writes (one each, in order) before either.
//! * `GET /{Employees|Contacts}/{id}/messages?take&skip` lists what was kept (and
//!   [`StandIn::add_message`]) on that record as `{"totalCount", "data"}`;
//!   [`StandIn::answer_next_read`] answers the next reads otherwise.
//! * `GET /Search/{Employees|Contacts}?take&skip&isActive` pages what
//!   [`StandIn::set_directory`] gave as `{"totalCount", "data"}` (active rows only
//!   when `isActive=true`), or 401 without the directory token in `x-tw-token`.
//! * Anything else is a 404.
//!
//! Every request is recorded ([`StandIn::requests`], [`StandIn::writes`]).

use std::{
    collections::VecDeque,
    sync::{Arc, Mutex},
    time::Duration,
};

use serde_json::{Value, json};
use wiremock::{Mock, MockServer, Request, Respond, ResponseTemplate, matchers::any};

/// The message action id of "Message" in the default action list.
pub const MESSAGE_ACTION_ID: i64 = 7;

/// One answer the stand-in gives.
#[derive(Debug, Clone)]
pub struct Answer {
    status: u16,
    body: Option<String>,
    delay: Duration,
    retry_after: Option<u64>,
}

impl Answer {
    /// An answer with `status` and no body.
    pub fn status(status: u16) -> Self {
        Self { status, body: None, delay: Duration::ZERO, retry_after: None }
    }

    /// The same with a JSON body.
    pub fn json(mut self, body: Value) -> Self {
        self.body = Some(body.to_string());
        self
    }

    /// The same with a raw body.
    pub fn text(mut self, body: &str) -> Self {
        self.body = Some(body.to_owned());
        self
    }

    /// The same, sent only after `delay`.
    pub fn delayed(mut self, delay: Duration) -> Self {
        self.delay = delay;
        self
    }

    /// The same with a `Retry-After` of `seconds`.
    pub fn retry_after(mut self, seconds: u64) -> Self {
        self.retry_after = Some(seconds);
        self
    }

    fn template(&self) -> ResponseTemplate {
        let mut template = ResponseTemplate::new(self.status).set_delay(self.delay);
        if let Some(body) = &self.body {
            template = template.set_body_raw(body.clone().into_bytes(), "application/json");
        }
        if let Some(seconds) = self.retry_after {
            template = template.insert_header("retry-after", seconds.to_string().as_str());
        }
        template
    }
}

/// A message the stand-in holds on a record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Kept {
    /// The record's messages path, such as `/Employees/e1/messages`.
    pub path: String,
    /// The message id.
    pub id: Value,
    /// The message text.
    pub text: String,
}

#[derive(Default)]
struct State {
    actions: Value,
    fixed_write: Option<Answer>,
    next_writes: VecDeque<Answer>,
    next_reads: VecDeque<Answer>,
    kept: Vec<Kept>,
    next_id: u64,
    employees: Vec<Value>,
    contacts: Vec<Value>,
    directory_token: Option<String>,
}

#[derive(Clone)]
struct Responder(Arc<Mutex<State>>);

/// `/{Employees|Contacts}/{id}/messages`.
fn is_messages_path(path: &str) -> bool {
    let parts: Vec<&str> = path.split('/').collect();
    matches!(parts.as_slice(), ["", "Employees" | "Contacts", id, "messages"] if !id.is_empty())
}

fn query(request: &Request, name: &str) -> Option<usize> {
    request.url.query_pairs().find(|(k, _)| k == name).and_then(|(_, v)| v.parse().ok())
}

impl Respond for Responder {
    fn respond(&self, request: &Request) -> ResponseTemplate {
        let mut state = self.0.lock().expect("stand-in state");
        let path = request.url.path();
        match (request.method.as_str(), path) {
            ("GET", "/DataLists/messageActions") => ResponseTemplate::new(200).set_body_json(state.actions.clone()),
            ("GET", "/Search/Employees" | "/Search/Contacts") => {
                let token = request.headers.get("x-tw-token").and_then(|v| v.to_str().ok());
                if state.directory_token.is_none() || token != state.directory_token.as_deref() {
                    return ResponseTemplate::new(401).set_body_json(json!({"message": "Unauthorized"}));
                }
                let rows = if path == "/Search/Employees" { &state.employees } else { &state.contacts };
                let active_only = request.url.query_pairs().any(|(k, v)| k == "isActive" && v == "true");
                let listed: Vec<&Value> =
                    rows.iter().filter(|r| !active_only || r["isActive"].as_bool() != Some(false)).collect();
                let skip = query(request, "skip").unwrap_or(0);
                let take = query(request, "take").unwrap_or(10);
                let page: Vec<&Value> = listed.iter().skip(skip).take(take).copied().collect();
                ResponseTemplate::new(200).set_body_json(json!({"totalCount": listed.len(), "data": page}))
            }
            ("POST", p) if is_messages_path(p) => {
                if let Some(answer) = state.next_writes.pop_front().or_else(|| state.fixed_write.clone()) {
                    return answer.template();
                }
                let body: Value = serde_json::from_slice(&request.body).unwrap_or(Value::Null);
                let Some(text) = body["message"].as_str() else {
                    return ResponseTemplate::new(400).set_body_json(json!({"message": "message is required"}));
                };
                state.next_id += 1;
                let id = json!(state.next_id);
                state.kept.push(Kept { path: p.to_owned(), id: id.clone(), text: text.to_owned() });
                ResponseTemplate::new(201).set_body_json(json!({"messageId": id}))
            }
            ("GET", p) if is_messages_path(p) => {
                if let Some(answer) = state.next_reads.pop_front() {
                    return answer.template();
                }
                let on_record: Vec<Value> = state
                    .kept
                    .iter()
                    .filter(|k| k.path == p)
                    .map(|k| json!({"messageId": k.id, "message": k.text}))
                    .collect();
                let skip = query(request, "skip").unwrap_or(0);
                let take = query(request, "take").unwrap_or(100);
                let page: Vec<Value> = on_record.iter().skip(skip).take(take).cloned().collect();
                ResponseTemplate::new(200).set_body_json(json!({"totalCount": on_record.len(), "data": page}))
            }
            _ => ResponseTemplate::new(404),
        }
    }
}

/// A running TempWorks stand-in; stops when dropped.
pub struct StandIn {
    server: MockServer,
    state: Arc<Mutex<State>>,
}

impl StandIn {
    /// Starts one on a free loopback port, keeping every write.
    pub async fn start() -> Self {
        let state = Arc::new(Mutex::new(State {
            actions: json!([
                {"actionId": 3, "action": "Phone Call", "messageActionType": "Call", "canWrite": true},
                {"actionId": MESSAGE_ACTION_ID, "action": "Message", "messageActionType": "Message", "canWrite": true}
            ]),
            next_id: 1000,
            ..State::default()
        }));
        let server = MockServer::start().await;
        Mock::given(any()).respond_with(Responder(state.clone())).mount(&server).await;
        Self { server, state }
    }

    /// Starts one that answers every write with `status` (a 2xx with `{"messageId": 1}`).
    pub async fn answering_writes(status: u16) -> Self {
        let stand_in = Self::start().await;
        stand_in.answer_writes(Answer::status(status).json(json!({"messageId": 1})));
        stand_in
    }

    /// Its base URL.
    pub fn uri(&self) -> String {
        self.server.uri()
    }

    fn state(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().expect("stand-in state")
    }

    /// The employees and contacts its search API lists from now on, to callers
    /// sending `token`.
    pub fn set_directory(&self, employees: Vec<Value>, contacts: Vec<Value>, token: &str) {
        let mut state = self.state();
        state.employees = employees;
        state.contacts = contacts;
        state.directory_token = Some(token.to_owned());
    }

    /// The answer to `GET /DataLists/messageActions` from now on.
    pub fn set_actions(&self, list: Value) {
        self.state().actions = list;
    }

    /// Answers every later write with `answer`, keeping none.
    pub fn answer_writes(&self, answer: Answer) {
        self.state().fixed_write = Some(answer);
    }

    /// Keeps every later write again (the default).
    pub fn keep_writes(&self) {
        self.state().fixed_write = None;
    }

    /// Answers the next write with `answer` (queued after earlier ones).
    pub fn answer_next_write(&self, answer: Answer) {
        self.state().next_writes.push_back(answer);
    }

    /// Answers the next message list read with `answer` (queued after earlier ones).
    pub fn answer_next_read(&self, answer: Answer) {
        self.state().next_reads.push_back(answer);
    }

    /// Puts a message with `id` and `text` on the record at `path`
    /// (`/Employees/42/messages`), as if written earlier.
    pub fn add_message(&self, path: &str, id: Value, text: &str) {
        self.state().kept.push(Kept { path: path.to_owned(), id, text: text.to_owned() });
    }

    /// Every message kept, in the order written.
    pub fn kept(&self) -> Vec<Kept> {
        self.state().kept.clone()
    }

    /// Every request received, in order.
    pub async fn requests(&self) -> Vec<Request> {
        self.server.received_requests().await.unwrap_or_default()
    }

    /// Every write (`POST`) received, however it was answered.
    pub async fn writes(&self) -> Vec<Request> {
        self.requests().await.into_iter().filter(|r| r.method.as_str() == "POST").collect()
    }

    /// Every `GET` of `path` received.
    pub async fn reads(&self, path: &str) -> Vec<Request> {
        self.requests().await.into_iter().filter(|r| r.method.as_str() == "GET" && r.url.path() == path).collect()
    }
}
