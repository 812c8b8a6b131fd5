//! A stand-in for the Twilio REST API on a local port, speaking its documented
//! format, and the webhook calls Twilio makes (form-encoded, signed with
//! `X-Twilio-Signature`).
//!
//! * `GET /2010-04-01/Accounts/{sid}.json` with HTTP Basic `sid:auth token` answers
//!   the account (`"status": "active"`); any other credentials get 401.
//! * `GET /2010-04-01/Accounts/{sid}/IncomingPhoneNumbers.json` lists the account's
//!   numbers (`sid`, `sms_url`) in one page.
//! * `POST /2010-04-01/Accounts/{sid}/IncomingPhoneNumbers/{PN}.json` with a form
//!   `SmsUrl` sets that number's SMS webhook; an unknown number is a 404.
//! * `POST /2010-04-01/Accounts/{sid}/Messages.json` with a form `To`, `From`, `Body`
//!   sends a text: 201 with its `sid` (`SM…`), `status` `queued`, `from` and `to`;
//!   a number set to fail gets Twilio's 400 (code 21211), and while throttled the
//!   sends get 429 with `Retry-After: 0`.

use std::{
    collections::BTreeMap,
    sync::{Arc, Mutex},
};

use base64::{Engine, engine::general_purpose::STANDARD};
use hmac::Mac;
use serde_json::{Value, json};
use wiremock::{Mock, MockServer, Request, Respond, ResponseTemplate, matchers::any};

const API: &str = "/2010-04-01";

struct State {
    sid: String,
    auth_token: String,
    /// PN sid → SMS URL.
    numbers: BTreeMap<String, String>,
    sent: Vec<SentText>,
    failing: std::collections::BTreeSet<String>,
    throttled: usize,
    throttled_answers: usize,
}

/// A text the stand-in accepted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SentText {
    /// The message sid it answered.
    pub sid: String,
    /// `To`.
    pub to: String,
    /// `From`.
    pub from: String,
    /// `Body`.
    pub body: String,
}

/// The number every stand-in account sends from (its first number's).
pub const FROM: &str = "+12065550199";

#[derive(Clone)]
struct Responder(Arc<Mutex<State>>);

impl Responder {
    fn authorised(state: &State, request: &Request) -> bool {
        let expected = format!("Basic {}", STANDARD.encode(format!("{}:{}", state.sid, state.auth_token)));
        request.headers.get("authorization").and_then(|v| v.to_str().ok()) == Some(expected.as_str())
    }
}

impl Respond for Responder {
    fn respond(&self, request: &Request) -> ResponseTemplate {
        let mut state = self.0.lock().expect("stand-in state");
        let account = format!("{API}/Accounts/{}", state.sid);
        let path = request.url.path().to_owned();
        if !path.starts_with(&account) {
            return ResponseTemplate::new(404).set_body_json(json!({"code": 20404, "status": 404}));
        }
        if !Self::authorised(&state, request) {
            return ResponseTemplate::new(401).set_body_json(json!({"code": 20003, "status": 401}));
        }
        let rest = &path[account.len()..];
        match (request.method.as_str(), rest) {
            ("GET", ".json") => ResponseTemplate::new(200).set_body_json(json!({"sid": state.sid, "status": "active"})),
            ("GET", "/IncomingPhoneNumbers.json") => {
                let numbers: Vec<Value> = state
                    .numbers
                    .iter()
                    .enumerate()
                    .map(|(i, (sid, url))| {
                        json!({"sid": sid, "sms_url": url, "phone_number": format!("+1206555{:04}", 199 - i)})
                    })
                    .collect();
                ResponseTemplate::new(200)
                    .set_body_json(json!({"incoming_phone_numbers": numbers, "next_page_uri": null}))
            }
            ("POST", "/Messages.json") => {
                let form: BTreeMap<String, String> = url::form_urlencoded::parse(&request.body).into_owned().collect();
                let (Some(to), Some(from), Some(body)) = (form.get("To"), form.get("From"), form.get("Body")) else {
                    return ResponseTemplate::new(400).set_body_json(json!({"code": 21604, "status": 400}));
                };
                if state.throttled > 0 {
                    state.throttled -= 1;
                    state.throttled_answers += 1;
                    return ResponseTemplate::new(429)
                        .insert_header("Retry-After", "0")
                        .set_body_json(json!({"code": 20429, "message": "Too Many Requests", "status": 429}));
                }
                if state.failing.contains(to) {
                    return ResponseTemplate::new(400).set_body_json(json!({
                        "code": 21211, "message": format!("The 'To' number {to} is not a valid phone number."),
                        "status": 400
                    }));
                }
                let sid = format!("SM{:032x}", state.sent.len() + 1);
                let text = SentText { sid: sid.clone(), to: to.clone(), from: from.clone(), body: body.clone() };
                state.sent.push(text);
                ResponseTemplate::new(201)
                    .set_body_json(json!({"sid": sid, "status": "queued", "from": from, "to": to, "num_segments": "1"}))
            }
            ("POST", number) => {
                let Some(pn) = number.strip_prefix("/IncomingPhoneNumbers/").and_then(|n| n.strip_suffix(".json"))
                else {
                    return ResponseTemplate::new(404);
                };
                let sms_url = url::form_urlencoded::parse(&request.body)
                    .find(|(k, _)| k == "SmsUrl")
                    .map(|(_, v)| v.into_owned());
                match (state.numbers.get_mut(pn), sms_url) {
                    (Some(current), Some(sms_url)) => {
                        current.clone_from(&sms_url);
                        ResponseTemplate::new(200).set_body_json(json!({"sid": pn, "sms_url": sms_url}))
                    }
                    (Some(_), None) => ResponseTemplate::new(400),
                    (None, _) => ResponseTemplate::new(404).set_body_json(json!({"code": 20404, "status": 404})),
                }
            }
            _ => ResponseTemplate::new(404),
        }
    }
}

/// A running Twilio stand-in for one account; stops when dropped.
pub struct StandIn {
    server: MockServer,
    state: Arc<Mutex<State>>,
}

impl StandIn {
    /// Starts one for account `sid` with `auth_token`, owning the phone numbers
    /// `numbers` (PN sids), none pointing anywhere yet.
    pub async fn start(sid: &str, auth_token: &str, numbers: &[&str]) -> Self {
        let state = Arc::new(Mutex::new(State {
            sid: sid.to_owned(),
            auth_token: auth_token.to_owned(),
            numbers: numbers.iter().map(|n| ((*n).to_owned(), String::new())).collect(),
            sent: Vec::new(),
            failing: std::collections::BTreeSet::new(),
            throttled: 0,
            throttled_answers: 0,
        }));
        let server = MockServer::start().await;
        Mock::given(any()).respond_with(Responder(state.clone())).mount(&server).await;
        Self { server, state }
    }

    /// Its base URL.
    pub fn uri(&self) -> String {
        self.server.uri()
    }

    /// The SMS webhook URL of number `pn` (empty: none; `None`: no such number).
    pub fn sms_url(&self, pn: &str) -> Option<String> {
        self.state.lock().expect("stand-in state").numbers.get(pn).cloned()
    }

    /// Every text accepted so far, in order.
    pub fn sent(&self) -> Vec<SentText> {
        self.state.lock().expect("stand-in state").sent.clone()
    }

    /// Sends to `number` (E.164) fail from now on with Twilio's 400.
    pub fn fail_sends_to(&self, number: &str) {
        self.state.lock().expect("stand-in state").failing.insert(number.to_owned());
    }

    /// The next `n` sends are answered 429 (`Retry-After: 0`).
    pub fn throttle_next_sends(&self, n: usize) {
        self.state.lock().expect("stand-in state").throttled = n;
    }

    /// How many sends were answered 429 so far.
    pub fn throttled_answers(&self) -> usize {
        self.state.lock().expect("stand-in state").throttled_answers
    }

    /// Every request received, in order.
    pub async fn requests(&self) -> Vec<Request> {
        self.server.received_requests().await.unwrap_or_default()
    }
}

/// `X-Twilio-Signature` of a call to `url` with form `params`: base64 of the
/// HMAC-SHA1, keyed with the Auth Token, of the URL followed by each parameter's name
/// and value, sorted by name.
pub fn signature(auth_token: &str, url: &str, params: &[(&str, &str)]) -> String {
    let mut sorted = params.to_vec();
    sorted.sort();
    let mut mac = hmac::Hmac::<sha1::Sha1>::new_from_slice(auth_token.as_bytes()).expect("key");
    mac.update(url.as_bytes());
    for (name, value) in sorted {
        mac.update(name.as_bytes());
        mac.update(value.as_bytes());
    }
    STANDARD.encode(mac.finalize().into_bytes())
}

/// The form Twilio posts for an inbound SMS `sid` of account `account_sid`.
pub fn received<'a>(
    account_sid: &'a str,
    sid: &'a str,
    from: &'a str,
    to: &'a str,
    body: &'a str,
) -> Vec<(&'a str, &'a str)> {
    vec![
        ("ToCountry", "US"),
        ("SmsMessageSid", sid),
        ("NumMedia", "0"),
        ("SmsSid", sid),
        ("SmsStatus", "received"),
        ("Body", body),
        ("To", to),
        ("NumSegments", "1"),
        ("MessageSid", sid),
        ("AccountSid", account_sid),
        ("From", from),
        ("ApiVersion", "2010-04-01"),
    ]
}

/// `params` form-encoded.
pub fn form(params: &[(&str, &str)]) -> String {
    url::form_urlencoded::Serializer::new(String::new()).extend_pairs(params).finish()
}
