//! A stand-in for the Zipwhip API on a local port, speaking its documented format:
//! `POST /user/login` answers the session key, the webhook list is empty, every
//! added webhook gets the given id (a JSON number, so ids above 2^53 test exactness),
//! deletes and logout succeed. Plus the webhook bodies Zipwhip posts.

use serde_json::{Value, json};
use wiremock::{
    Mock, MockServer, Request, ResponseTemplate,
    matchers::{method, path},
};

/// A running Zipwhip stand-in; stops when dropped.
pub struct StandIn {
    server: MockServer,
}

impl StandIn {
    /// Starts one whose login answers `session` and whose added webhooks get `webhook_id`.
    pub async fn start(session: &str, webhook_id: &str) -> Self {
        let server = MockServer::start().await;
        let ok =
            |response: Value| ResponseTemplate::new(200).set_body_json(json!({"success": true, "response": response}));
        Mock::given(method("POST")).and(path("/user/login")).respond_with(ok(session.into())).mount(&server).await;
        Mock::given(method("POST")).and(path("/webhook/list")).respond_with(ok(json!([]))).mount(&server).await;
        let added = format!(
            r#"{{"success":true,"response":[{{"webhookId":{webhook_id},"type":"message","event":"receive","url":"x","method":"POST"}}]}}"#
        );
        Mock::given(method("POST"))
            .and(path("/webhook/add"))
            .respond_with(ResponseTemplate::new(200).set_body_raw(added.into_bytes(), "application/json"))
            .mount(&server)
            .await;
        for p in ["/webhook/delete", "/user/logout"] {
            Mock::given(method("POST")).and(path(p)).respond_with(ok(Value::Null)).mount(&server).await;
        }
        Self { server }
    }

    /// The server, to mount more answers on.
    pub fn server(&self) -> &MockServer {
        &self.server
    }

    /// Its base URL.
    pub fn uri(&self) -> String {
        self.server.uri()
    }

    /// Every request received, in order.
    pub async fn requests(&self) -> Vec<Request> {
        self.server.received_requests().await.unwrap_or_default()
    }

    /// The path (`/webhooks/zipwhip/{token}`) of the URL last registered with
    /// `/webhook/add`.
    pub async fn hook_path(&self) -> Option<String> {
        let requests = self.requests().await;
        let add = requests.iter().rev().find(|r| r.url.path() == "/webhook/add")?;
        let url = url::form_urlencoded::parse(&add.body).find(|(k, _)| k == "url").map(|(_, v)| v.into_owned())?;
        url.find("/webhooks/").map(|start| url[start..].to_owned())
    }
}

/// A Zipwhip "message received" webhook body: `text` from `their` number to `ours`,
/// with message `id` (digits, kept as a JSON number).
pub fn received(id: &str, their: &str, ours: &str, text: &str) -> String {
    format!(
        r#"{{"body":{body},"bodySize":{size},"address":"ptn:/{their}","finalSource":"{their}","finalDestination":"{ours}","messageType":"MO","fingerprint":"1514465037","id":{id},"cc":null,"visible":true,"read":false,"bcc":null,"contactId":14543967707,"scheduledDate":null,"deviceId":377265507,"dateDeleted":null,"messageTransport":5,"dateDelivered":null,"hasAttachment":false,"dateCreated":"2026-11-23T17:01:17Z","deleted":false,"dateRead":null,"statusCode":4,"messageStatus":1003}}"#,
        body = Value::from(text),
        size = text.len(),
    )
}
