//! Events as the AWS services send them: API Gateway HTTP API (payload 2.0), SQS and
//! EventBridge schedules. Shapes follow the fixtures in `functions/*/tests/fixtures`
//! and the `aws_lambda_events` types the functions deserialise them into.

use serde_json::{Map, Value, json};
use time::OffsetDateTime;
use time::macros::format_description;

/// The account id in every made-up ARN.
const ACCOUNT_ID: &str = super::function::ACCOUNT_ID;

fn now() -> OffsetDateTime {
    OffsetDateTime::now_utc()
}

/// The JWT claims API Gateway's authorizer passes on for `user` of `tenant` with
/// `role` (permission group Recruiters), as a test stage's issuer signs them.
pub fn claims(tenant: &str, user: &str, role: &str) -> Value {
    json!({
        "iss": super::JWT_ISSUER, "aud": super::JWT_AUDIENCE,
        "sub": user, "tenant": tenant, "username": format!("{user}@{tenant}.test"),
        "role": role, "group": "Recruiters",
    })
}

/// An HTTP API event for `method` `path`, with `claims` and a JSON `body` if given.
pub fn api_call(method: &str, path: &str, claims: Option<&Value>, body: Option<&Value>) -> Value {
    let mut request = HttpApiRequest::new(method, path);
    if let Some(claims) = claims {
        request = request.claims(claims);
    }
    if let Some(body) = body {
        request = request.json_body(body);
    }
    request.build()
}

/// An API Gateway HTTP API request (payload format 2.0), built up step by step.
#[derive(Debug, Clone)]
pub struct HttpApiRequest {
    method: String,
    path: String,
    query: String,
    route_key: Option<String>,
    headers: Map<String, Value>,
    body: Option<String>,
    claims: Option<Map<String, Value>>,
    request_id: String,
    source_ip: String,
}

impl HttpApiRequest {
    /// `method` on `path` (e.g. `GET`, `/users/me`), from `203.0.113.7`, with a fresh
    /// request id and no authorizer.
    pub fn new(method: &str, path: &str) -> Self {
        let mut headers = Map::new();
        headers.insert("host".into(), "abc123.execute-api.us-east-1.amazonaws.com".into());
        headers.insert("x-forwarded-proto".into(), "https".into());
        headers.insert("user-agent".into(), "textbridge-tests".into());
        Self {
            method: method.to_ascii_uppercase(),
            path: path.to_owned(),
            query: String::new(),
            route_key: None,
            headers,
            body: None,
            claims: None,
            request_id: uuid::Uuid::new_v4().simple().to_string()[..16].to_owned(),
            source_ip: "203.0.113.7".into(),
        }
    }

    /// A `GET` of `path`.
    pub fn get(path: &str) -> Self {
        Self::new("GET", path)
    }

    /// A header (names are lower-cased, as API Gateway passes them).
    pub fn header(mut self, name: &str, value: &str) -> Self {
        self.headers.insert(name.to_ascii_lowercase(), value.into());
        self
    }

    /// The raw query string, without `?`.
    pub fn query(mut self, raw: &str) -> Self {
        raw.clone_into(&mut self.query);
        self
    }

    /// The route key (default `ANY {path}`; e.g. `ANY /users/{proxy+}`).
    pub fn route_key(mut self, key: &str) -> Self {
        self.route_key = Some(key.to_owned());
        self
    }

    /// A text body.
    pub fn body(mut self, body: &str) -> Self {
        self.body = Some(body.to_owned());
        self
    }

    /// A JSON body, with `content-type: application/json`.
    pub fn json_body(self, body: &Value) -> Self {
        self.header("content-type", "application/json").body(&body.to_string())
    }

    /// The claims of a JWT the authorizer verified (adds a bearer `authorization`
    /// header, which the function must not trust on its own).
    pub fn claims(mut self, claims: &Value) -> Self {
        self.claims = claims.as_object().cloned();
        self.header("authorization", "Bearer eyJhbGciOiJSUzI1NiJ9.verified-by-api-gateway.sig")
    }

    /// `requestContext.requestId`.
    pub fn request_id(mut self, id: &str) -> Self {
        id.clone_into(&mut self.request_id);
        self
    }

    /// `requestContext.http.sourceIp`.
    pub fn source_ip(mut self, ip: &str) -> Self {
        ip.clone_into(&mut self.source_ip);
        self
    }

    /// The event.
    pub fn build(&self) -> Value {
        let at = now();
        let time = at
            .format(format_description!("[day]/[month repr:short]/[year]:[hour]:[minute]:[second] +0000"))
            .unwrap_or_default();
        let route_key = self.route_key.clone().unwrap_or_else(|| format!("ANY {}", self.path));
        let authorizer = self.claims.as_ref().map(|claims| json!({ "jwt": { "claims": claims, "scopes": null } }));
        let mut event = json!({
            "version": "2.0",
            "routeKey": route_key,
            "rawPath": self.path,
            "rawQueryString": self.query,
            "headers": self.headers,
            "requestContext": {
                "accountId": ACCOUNT_ID,
                "apiId": "abc123",
                "domainName": "abc123.execute-api.us-east-1.amazonaws.com",
                "domainPrefix": "abc123",
                "http": {
                    "method": self.method,
                    "path": self.path,
                    "protocol": "HTTP/1.1",
                    "sourceIp": self.source_ip,
                    "userAgent": self.headers.get("user-agent").cloned().unwrap_or(Value::Null),
                },
                "requestId": self.request_id,
                "routeKey": route_key,
                "stage": "$default",
                "time": time,
                "timeEpoch": at.unix_timestamp() * 1000,
            },
            "isBase64Encoded": false,
        });
        if let Some(authorizer) = authorizer {
            event["requestContext"]["authorizer"] = authorizer;
        }
        if let Some(body) = &self.body {
            event["body"] = body.clone().into();
        }
        event
    }
}

/// An HTTP function's answer, read from its payload 2.0 response.
#[derive(Debug, Clone, PartialEq)]
pub struct HttpApiResponse {
    /// `statusCode`.
    pub status: u16,
    /// `headers` (lower-cased names).
    pub headers: Map<String, Value>,
    /// `body` as text (decoded when `isBase64Encoded` is false; otherwise as sent).
    pub body: String,
}

impl HttpApiResponse {
    /// Reads a response; `None` when it is not one (no numeric `statusCode`).
    pub fn from_value(response: &Value) -> Option<Self> {
        let status = u16::try_from(response["statusCode"].as_u64()?).ok()?;
        let headers = response["headers"]
            .as_object()
            .map(|h| h.iter().map(|(k, v)| (k.to_ascii_lowercase(), v.clone())).collect())
            .unwrap_or_default();
        let body = response["body"].as_str().unwrap_or_default().to_owned();
        Some(Self { status, headers, body })
    }

    /// The body as JSON (`Null` when it is not JSON).
    pub fn json(&self) -> Value {
        serde_json::from_str(&self.body).unwrap_or(Value::Null)
    }

    /// A header's value.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(&name.to_ascii_lowercase()).and_then(Value::as_str)
    }
}

/// One SQS message of an [`sqs_event`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SqsMessage {
    /// `messageId`.
    pub message_id: String,
    /// `body`.
    pub body: String,
    /// `receiptHandle`.
    pub receipt_handle: String,
    /// `attributes.ApproximateReceiveCount`.
    pub receive_count: u32,
}

impl SqsMessage {
    /// A first delivery of `body`, with a fresh message id and receipt handle.
    pub fn new(body: &str) -> Self {
        Self {
            message_id: uuid::Uuid::new_v4().to_string(),
            body: body.to_owned(),
            receipt_handle: format!("AQEB{}", uuid::Uuid::new_v4().simple()),
            receive_count: 1,
        }
    }
}

/// An SQS event source batch from the queue `queue_arn`.
pub fn sqs_event(queue_arn: &str, messages: &[SqsMessage]) -> Value {
    let region = queue_arn.split(':').nth(3).unwrap_or("us-east-1");
    let sent = (now().unix_timestamp() * 1000).to_string();
    let records: Vec<Value> = messages
        .iter()
        .map(|m| {
            json!({
                "messageId": m.message_id,
                "receiptHandle": m.receipt_handle,
                "body": m.body,
                "attributes": {
                    "ApproximateReceiveCount": m.receive_count.to_string(),
                    "SentTimestamp": sent,
                    "SenderId": "AIDAIENQZJOLO23YVJ4VO",
                    "ApproximateFirstReceiveTimestamp": sent,
                },
                "messageAttributes": {},
                "md5OfBody": "",
                "eventSource": "aws:sqs",
                "eventSourceARN": queue_arn,
                "awsRegion": region,
            })
        })
        .collect();
    json!({ "Records": records })
}

/// An EventBridge `Scheduled Event` from the rule `rule_arn`.
pub fn scheduled_event(rule_arn: &str) -> Value {
    let region = rule_arn.split(':').nth(3).unwrap_or("us-east-1");
    let time = now().format(format_description!("[year]-[month]-[day]T[hour]:[minute]:[second]Z")).unwrap_or_default();
    json!({
        "version": "0",
        "id": uuid::Uuid::new_v4().to_string(),
        "detail-type": "Scheduled Event",
        "source": "aws.events",
        "account": ACCOUNT_ID,
        "time": time,
        "region": region,
        "resources": [rule_arn],
        "detail": {},
    })
}
