//! TempWorks against a local stand-in of its API.

#![allow(clippy::unwrap_used)] // tests: a failed expectation is a panic

use std::{
    collections::HashMap,
    sync::{Arc, Mutex},
    time::{Duration, Instant},
};

use async_trait::async_trait;
use secrecy::SecretString;
use serde_json::{Value, json};
use textbridge_app::ports::{Ats, AtsError, AtsMessage, PortError, PortResult, RecordRef, SecretName, Secrets};
use textbridge_ats::{TempWorks, Url, token_secret_name};
use textbridge_domain::{Direction, ProviderKind, RecordKind, TenantId};
use wiremock::{
    Mock, MockServer, ResponseTemplate,
    matchers::{body_json, header, method, path, query_param},
};

const TOKEN: &str = "tw-token-5f4e3d2c1b";
const ACTION_ID: i64 = 17;
const ZIPWHIP_ID: &str = "1327295480212647936";

/// A secret store in memory.
#[derive(Default)]
struct MemorySecrets(Mutex<HashMap<SecretName, SecretString>>);

#[async_trait]
impl Secrets for MemorySecrets {
    async fn create(&self, name: &SecretName, value: &SecretString) -> PortResult<()> {
        let mut map = self.0.lock().unwrap();
        if map.contains_key(name) {
            return Err(PortError::ConditionFailed);
        }
        map.insert(name.clone(), value.clone());
        Ok(())
    }
    async fn get(&self, name: &SecretName) -> PortResult<SecretString> {
        self.0.lock().unwrap().get(name).cloned().ok_or_else(|| PortError::NotFound(name.to_string()))
    }
    async fn replace(&self, name: &SecretName, value: &SecretString) -> PortResult<()> {
        match self.0.lock().unwrap().get_mut(name) {
            Some(old) => {
                *old = value.clone();
                Ok(())
            }
            None => Err(PortError::NotFound(name.to_string())),
        }
    }
    async fn delete(&self, name: &SecretName) -> PortResult<()> {
        self.0.lock().unwrap().remove(name).map(|_| ()).ok_or_else(|| PortError::NotFound(name.to_string()))
    }
}

fn tenant() -> TenantId {
    TenantId::parse("acme").unwrap()
}

/// A connector to `server` with the tenant's token saved, short retry waits and `timeout`.
async fn connector_with_timeout(server: &MockServer, timeout: Duration) -> TempWorks {
    let secrets = MemorySecrets::default();
    secrets.create(&token_secret_name(&tenant()).unwrap(), &SecretString::from(TOKEN)).await.unwrap();
    TempWorks::new(Url::parse(&server.uri()).unwrap(), Arc::new(secrets))
        .with_timeout(timeout)
        .with_max_retry_wait(Duration::from_millis(20))
}

async fn connector(server: &MockServer) -> TempWorks {
    connector_with_timeout(server, Duration::from_secs(5)).await
}

fn record(kind: RecordKind, id: &str) -> RecordRef {
    RecordRef { kind, id: id.into() }
}

fn outbound() -> AtsMessage {
    AtsMessage {
        provider: ProviderKind::Zipwhip,
        provider_message_id: ZIPWHIP_ID.into(),
        direction: Direction::Outbound,
        body: "See you at 9 tomorrow".into(),
        occurred_at: "2025-03-01T17:04:05Z".into(),
        their_number: "+12065550100".into(),
        texting_user: Some("jane@acme.com".into()),
    }
}

fn inbound() -> AtsMessage {
    AtsMessage {
        provider: ProviderKind::Twilio,
        provider_message_id: "SM0123456789abcdef".into(),
        direction: Direction::Inbound,
        body: "Running late".into(),
        occurred_at: "2025-03-01T17:05:00Z".into(),
        their_number: "+12065550111".into(),
        texting_user: None,
    }
}

/// The exact body written for `text`.
fn written(text: &str) -> Value {
    json!({
        "message": text,
        "actionId": ACTION_ID,
        "linkedEntities": [],
        "linkedDocumentIds": [],
        "shouldLinkRelatedEntities": false,
        "shouldLinkOriginsOneByOne": false,
    })
}

const OUTBOUND_TEXT: &str =
    "Text to +12065550100 by jane@acme.com: See you at 9 tomorrow\n[textbridge zipwhip:1327295480212647936]";
const INBOUND_TEXT: &str = "Text from +12065550111: Running late\n[textbridge twilio:SM0123456789abcdef]";

/// `GET /DataLists/messageActions?active=true` answering `list`, expected `times` times.
async fn actions(server: &MockServer, list: Value, times: u64) {
    Mock::given(method("GET"))
        .and(path("/DataLists/messageActions"))
        .and(query_param("active", "true"))
        .and(header("x-tw-token", TOKEN))
        .and(header("accept", "application/json"))
        .respond_with(ResponseTemplate::new(200).set_body_json(list))
        .expect(times)
        .mount(server)
        .await;
}

fn action_list() -> Value {
    json!([
        {"actionId": 3, "action": "Phone Call", "messageActionType": "Call", "canWrite": true},
        {"actionId": ACTION_ID, "action": "Message", "actionDescription": "Text message", "isDefault": false,
         "isEmployeeRelevant": true, "isContactRelevant": true, "messageActionTypeId": 4,
         "messageActionType": "Message", "canRead": true, "canWrite": true}
    ])
}

/// `POST {at}` with the exact headers and body for `text`, answering `reply`.
async fn post(server: &MockServer, at: &str, text: &str, reply: ResponseTemplate, times: u64) {
    Mock::given(method("POST"))
        .and(path(at))
        .and(header("x-tw-token", TOKEN))
        .and(header("content-type", "application/json"))
        .and(header("accept", "application/json"))
        .and(body_json(written(text)))
        .respond_with(reply)
        .expect(times)
        .mount(server)
        .await;
}

async fn posts(server: &MockServer) -> usize {
    server.received_requests().await.unwrap().iter().filter(|r| r.method.as_str() == "POST").count()
}

#[tokio::test]
async fn writes_on_an_employee() {
    let server = MockServer::start().await;
    actions(&server, action_list(), 1).await;
    let reply = ResponseTemplate::new(201).set_body_json(json!({"messageId": 981}));
    post(&server, "/Employees/42/messages", OUTBOUND_TEXT, reply, 1).await;

    let tw = connector(&server).await;
    let id = tw.write_message(&tenant(), &record(RecordKind::Employee, "42"), &outbound()).await.unwrap();
    assert_eq!(id, "981");
}

#[tokio::test]
async fn writes_on_a_contact() {
    let server = MockServer::start().await;
    actions(&server, json!({"data": action_list()}), 1).await;
    post(&server, "/Contacts/7/messages", INBOUND_TEXT, ResponseTemplate::new(200).set_body_string("5001"), 1).await;

    let tw = connector(&server).await;
    let id = tw.write_message(&tenant(), &record(RecordKind::Contact, "7"), &inbound()).await.unwrap();
    assert_eq!(id, "5001");
}

#[tokio::test]
async fn writes_a_candidate_as_an_employee() {
    let server = MockServer::start().await;
    actions(&server, action_list(), 1).await;
    let reply = ResponseTemplate::new(201).set_body_json(json!({"id": "m-88"}));
    post(&server, "/Employees/88/messages", OUTBOUND_TEXT, reply, 1).await;

    let tw = connector(&server).await;
    let id = tw.write_message(&tenant(), &record(RecordKind::Candidate, "88"), &outbound()).await.unwrap();
    assert_eq!(id, "m-88");
}

#[tokio::test]
async fn looks_the_action_up_once_per_tenant() {
    let server = MockServer::start().await;
    actions(&server, action_list(), 1).await;
    let reply = ResponseTemplate::new(201).set_body_json(json!({"messageId": 1}));
    post(&server, "/Employees/42/messages", OUTBOUND_TEXT, reply.clone(), 1).await;
    post(&server, "/Contacts/7/messages", INBOUND_TEXT, reply, 1).await;

    let tw = connector(&server).await;
    tw.write_message(&tenant(), &record(RecordKind::Employee, "42"), &outbound()).await.unwrap();
    tw.write_message(&tenant(), &record(RecordKind::Contact, "7"), &inbound()).await.unwrap();
    let gets = server.received_requests().await.unwrap().iter().filter(|r| r.method.as_str() == "GET").count();
    assert_eq!(gets, 1);
}

#[tokio::test]
async fn no_message_action_is_a_refusal() {
    let server = MockServer::start().await;
    let list = json!([{"actionId": 3, "action": "Phone Call"}, {"actionId": 4, "action": "Messages"}]);
    actions(&server, list, 2).await;

    let tw = connector(&server).await;
    for _ in 0..2 {
        let err = tw.write_message(&tenant(), &record(RecordKind::Employee, "42"), &outbound()).await.unwrap_err();
        assert_eq!(err, AtsError::Rejected("the ATS has no active message action \"Message\"".into()));
    }
    assert_eq!(posts(&server).await, 0);
}

#[tokio::test]
async fn a_rejected_token_is_a_refusal() {
    let server = MockServer::start().await;
    actions(&server, action_list(), 1).await;
    post(&server, "/Employees/42/messages", OUTBOUND_TEXT, ResponseTemplate::new(401), 1).await;

    let tw = connector(&server).await;
    let err = tw.write_message(&tenant(), &record(RecordKind::Employee, "42"), &outbound()).await.unwrap_err();
    assert_eq!(err, AtsError::Rejected("the ATS rejected the API token".into()));
    assert!(!err.to_string().contains(TOKEN));
}

#[tokio::test]
async fn a_missing_record_is_a_refusal() {
    let server = MockServer::start().await;
    actions(&server, action_list(), 1).await;
    post(&server, "/Employees/42/messages", OUTBOUND_TEXT, ResponseTemplate::new(404), 1).await;
    post(&server, "/Contacts/7/messages", INBOUND_TEXT, ResponseTemplate::new(403), 1).await;

    let tw = connector(&server).await;
    let err = tw.write_message(&tenant(), &record(RecordKind::Employee, "42"), &outbound()).await.unwrap_err();
    assert_eq!(err, AtsError::Rejected("no employee 42 in the ATS".into()));
    let err = tw.write_message(&tenant(), &record(RecordKind::Contact, "7"), &inbound()).await.unwrap_err();
    assert_eq!(err, AtsError::Rejected("the ATS API token may not write messages on contact 7".into()));
}

#[tokio::test]
async fn a_throttled_write_is_repeated_after_retry_after() {
    let server = MockServer::start().await;
    actions(&server, action_list(), 1).await;
    Mock::given(method("POST"))
        .and(path("/Employees/42/messages"))
        .respond_with(ResponseTemplate::new(429).insert_header("retry-after", "1"))
        .up_to_n_times(1)
        .with_priority(1)
        .expect(1)
        .mount(&server)
        .await;
    let reply = ResponseTemplate::new(201).set_body_json(json!({"messageId": 982}));
    post(&server, "/Employees/42/messages", OUTBOUND_TEXT, reply, 1).await;

    let tw = connector(&server).await.with_max_retry_wait(Duration::from_millis(300));
    let started = Instant::now();
    let id = tw.write_message(&tenant(), &record(RecordKind::Employee, "42"), &outbound()).await.unwrap();
    let waited = started.elapsed();
    assert_eq!(id, "982");
    assert_eq!(posts(&server).await, 2);
    assert!(waited >= Duration::from_millis(300) && waited < Duration::from_secs(1), "{waited:?}");
}

#[tokio::test]
async fn an_ats_down_three_times_is_unavailable() {
    let server = MockServer::start().await;
    actions(&server, action_list(), 1).await;
    post(&server, "/Employees/42/messages", OUTBOUND_TEXT, ResponseTemplate::new(503), 3).await;

    let tw = connector(&server).await;
    let err = tw.write_message(&tenant(), &record(RecordKind::Employee, "42"), &outbound()).await.unwrap_err();
    assert!(matches!(&err, AtsError::Unavailable(why) if why.contains("HTTP 503")), "{err:?}");
}

#[tokio::test]
async fn a_failed_write_that_may_have_happened_is_not_repeated() {
    let server = MockServer::start().await;
    actions(&server, action_list(), 1).await;
    post(&server, "/Employees/42/messages", OUTBOUND_TEXT, ResponseTemplate::new(500), 1).await;

    let tw = connector(&server).await;
    let err = tw.write_message(&tenant(), &record(RecordKind::Employee, "42"), &outbound()).await.unwrap_err();
    assert!(matches!(&err, AtsError::Unavailable(why) if why.contains("may have been written")), "{err:?}");
}

#[tokio::test]
async fn a_slow_write_times_out_once() {
    let server = MockServer::start().await;
    actions(&server, action_list(), 1).await;
    let slow = ResponseTemplate::new(201).set_body_json(json!({"messageId": 1})).set_delay(Duration::from_secs(3));
    post(&server, "/Employees/42/messages", OUTBOUND_TEXT, slow, 1).await;

    let tw = connector_with_timeout(&server, Duration::from_millis(300)).await;
    let started = Instant::now();
    let err = tw.write_message(&tenant(), &record(RecordKind::Employee, "42"), &outbound()).await.unwrap_err();
    assert!(matches!(&err, AtsError::Unavailable(why) if why.contains("did not answer")), "{err:?}");
    assert!(started.elapsed() < Duration::from_secs(2));
    assert_eq!(posts(&server).await, 1);
}

#[tokio::test]
async fn a_write_answered_without_an_id_is_found_by_its_marker() {
    let server = MockServer::start().await;
    actions(&server, action_list(), 1).await;
    post(&server, "/Employees/42/messages", OUTBOUND_TEXT, ResponseTemplate::new(204), 1).await;
    messages(&server, "/Employees/42/messages", "0", json!([{"messageId": 990, "message": OUTBOUND_TEXT}])).await;

    let tw = connector(&server).await;
    let id = tw.write_message(&tenant(), &record(RecordKind::Employee, "42"), &outbound()).await.unwrap();
    assert_eq!(id, "990");
}

/// `GET {at}?take=100&skip={skip}` answering `body`, expected once.
async fn messages(server: &MockServer, at: &str, skip: &str, body: Value) {
    Mock::given(method("GET"))
        .and(path(at))
        .and(query_param("take", "100"))
        .and(query_param("skip", skip))
        .and(header("x-tw-token", TOKEN))
        .respond_with(ResponseTemplate::new(200).set_body_json(body))
        .expect(1)
        .mount(server)
        .await;
}

#[tokio::test]
async fn find_message_finds_the_marker() {
    let server = MockServer::start().await;
    let page = json!({"totalCount": 3, "data": [
        {"messageId": 1001, "message": "Called about the shift", "actionId": 3},
        {"messageId": 1002, "message": "Text from +12065550100: hi\n[textbridge zipwhip:13272954802126479360]"},
        {"messageId": 1003, "message": format!("Text to +12065550100: ok\n[textbridge zipwhip:{ZIPWHIP_ID}]")},
    ]});
    messages(&server, "/Employees/42/messages", "0", page).await;
    messages(&server, "/Contacts/7/messages", "0", json!([{"messageId": "c-5", "message": INBOUND_TEXT}])).await;

    let tw = connector(&server).await;
    let found = tw
        .find_message(&tenant(), &record(RecordKind::Candidate, "42"), ProviderKind::Zipwhip, ZIPWHIP_ID)
        .await
        .unwrap();
    assert_eq!(found.as_deref(), Some("1003"));
    let found = tw
        .find_message(&tenant(), &record(RecordKind::Contact, "7"), ProviderKind::Twilio, "SM0123456789abcdef")
        .await
        .unwrap();
    assert_eq!(found.as_deref(), Some("c-5"));
}

#[tokio::test]
async fn find_message_reads_later_pages() {
    let server = MockServer::start().await;
    let first: Vec<Value> = (0..100)
        .map(|i| json!({"messageId": i, "message": format!("Text from +1: {i}\n[textbridge zipwhip:{i}]")}))
        .collect();
    messages(&server, "/Employees/42/messages", "0", json!({"totalCount": 101, "data": first})).await;
    let second = json!({"totalCount": 101, "data": [{"messageId": 100, "message": OUTBOUND_TEXT}]});
    messages(&server, "/Employees/42/messages", "100", second).await;

    let tw = connector(&server).await;
    let found = tw
        .find_message(&tenant(), &record(RecordKind::Employee, "42"), ProviderKind::Zipwhip, ZIPWHIP_ID)
        .await
        .unwrap();
    assert_eq!(found.as_deref(), Some("100"));
}

#[tokio::test]
async fn find_message_without_the_marker_is_none() {
    let server = MockServer::start().await;
    let page = json!({"totalCount": 2, "data": [
        {"messageId": 1002, "message": "Text from +12065550100: hi\n[textbridge zipwhip:13272954802126479360]"},
        {"messageId": 1004, "message": format!("Text to +12065550100: ok\n[textbridge textus:{ZIPWHIP_ID}]")},
    ]});
    messages(&server, "/Employees/42/messages", "0", page).await;
    messages(&server, "/Contacts/7/messages", "0", json!({"totalCount": 0, "data": []})).await;

    let tw = connector(&server).await;
    let employee = record(RecordKind::Employee, "42");
    assert_eq!(tw.find_message(&tenant(), &employee, ProviderKind::Zipwhip, ZIPWHIP_ID).await.unwrap(), None);
    let contact = record(RecordKind::Contact, "7");
    assert_eq!(tw.find_message(&tenant(), &contact, ProviderKind::Zipwhip, ZIPWHIP_ID).await.unwrap(), None);
}

#[tokio::test]
async fn find_message_repeats_a_failed_read() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path("/Employees/42/messages"))
        .respond_with(ResponseTemplate::new(502))
        .up_to_n_times(1)
        .with_priority(1)
        .expect(1)
        .mount(&server)
        .await;
    messages(&server, "/Employees/42/messages", "0", json!([{"messageId": 7, "message": OUTBOUND_TEXT}])).await;

    let tw = connector(&server).await;
    let employee = record(RecordKind::Employee, "42");
    let found = tw.find_message(&tenant(), &employee, ProviderKind::Zipwhip, ZIPWHIP_ID).await.unwrap();
    assert_eq!(found.as_deref(), Some("7"));
}

#[tokio::test]
async fn a_missing_token_is_a_refusal() {
    let server = MockServer::start().await;
    let tw = TempWorks::new(Url::parse(&server.uri()).unwrap(), Arc::new(MemorySecrets::default()));
    let employee = record(RecordKind::Employee, "42");
    let expected = AtsError::Rejected("no TempWorks API token is saved for this tenant".into());
    assert_eq!(tw.write_message(&tenant(), &employee, &outbound()).await.unwrap_err(), expected);
    assert_eq!(tw.find_message(&tenant(), &employee, ProviderKind::Zipwhip, ZIPWHIP_ID).await.unwrap_err(), expected);
    assert!(server.received_requests().await.unwrap().is_empty());
}
