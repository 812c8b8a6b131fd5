//! TempWorks against the shared local stand-in of its API (`textbridge_testkit::tempworks`).

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
use textbridge_testkit::tempworks::{Answer, StandIn};

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
async fn connector_with_timeout(server: &StandIn, timeout: Duration) -> TempWorks {
    let secrets = MemorySecrets::default();
    secrets.create(&token_secret_name(&tenant()).unwrap(), &SecretString::from(TOKEN)).await.unwrap();
    TempWorks::new(Url::parse(&server.uri()).unwrap(), Arc::new(secrets))
        .with_timeout(timeout)
        .with_max_retry_wait(Duration::from_millis(20))
}

async fn connector(server: &StandIn) -> TempWorks {
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

fn action_list() -> Value {
    json!([
        {"actionId": 3, "action": "Phone Call", "messageActionType": "Call", "canWrite": true},
        {"actionId": ACTION_ID, "action": "Message", "actionDescription": "Text message", "isDefault": false,
         "isEmployeeRelevant": true, "isContactRelevant": true, "messageActionTypeId": 4,
         "messageActionType": "Message", "canRead": true, "canWrite": true}
    ])
}

/// A stand-in whose action list is `list`.
async fn stand_in(list: Value) -> StandIn {
    let server = StandIn::start().await;
    server.set_actions(list);
    server
}

fn header<'a>(request: &'a wiremock::Request, name: &str) -> Option<&'a str> {
    request.headers.get(name).and_then(|v| v.to_str().ok())
}

/// Every request carried the token and asked for JSON; every write sent JSON; every
/// action lookup asked for active actions only.
async fn assert_every_request_well_formed(server: &StandIn) {
    for request in server.requests().await {
        let what = format!("{} {}", request.method, request.url);
        assert_eq!(header(&request, "x-tw-token"), Some(TOKEN), "{what}");
        assert_eq!(header(&request, "accept"), Some("application/json"), "{what}");
        if request.method.as_str() == "POST" {
            assert_eq!(header(&request, "content-type"), Some("application/json"), "{what}");
        }
        if request.url.path() == "/DataLists/messageActions" {
            assert!(request.url.query_pairs().any(|(k, v)| k == "active" && v == "true"), "{what}");
        }
    }
}

/// The writes received, as (path, body).
async fn writes(server: &StandIn) -> Vec<(String, Value)> {
    server
        .writes()
        .await
        .into_iter()
        .map(|r| (r.url.path().to_owned(), serde_json::from_slice(&r.body).unwrap_or(Value::Null)))
        .collect()
}

async fn action_lookups(server: &StandIn) -> usize {
    server.reads("/DataLists/messageActions").await.len()
}

#[tokio::test]
async fn writes_on_an_employee() {
    let server = stand_in(action_list()).await;
    server.answer_next_write(Answer::status(201).json(json!({"messageId": 981})));

    let tw = connector(&server).await;
    let id = tw.write_message(&tenant(), &record(RecordKind::Employee, "42"), &outbound()).await.unwrap();
    assert_eq!(id, "981");
    assert_eq!(writes(&server).await, [("/Employees/42/messages".to_owned(), written(OUTBOUND_TEXT))]);
    assert_eq!(action_lookups(&server).await, 1);
    assert_every_request_well_formed(&server).await;
}

#[tokio::test]
async fn writes_on_a_contact() {
    let server = stand_in(json!({"data": action_list()})).await;
    server.answer_next_write(Answer::status(200).text("5001"));

    let tw = connector(&server).await;
    let id = tw.write_message(&tenant(), &record(RecordKind::Contact, "7"), &inbound()).await.unwrap();
    assert_eq!(id, "5001");
    assert_eq!(writes(&server).await, [("/Contacts/7/messages".to_owned(), written(INBOUND_TEXT))]);
    assert_every_request_well_formed(&server).await;
}

#[tokio::test]
async fn writes_a_candidate_as_an_employee() {
    let server = stand_in(action_list()).await;
    server.answer_next_write(Answer::status(201).json(json!({"id": "m-88"})));

    let tw = connector(&server).await;
    let id = tw.write_message(&tenant(), &record(RecordKind::Candidate, "88"), &outbound()).await.unwrap();
    assert_eq!(id, "m-88");
    assert_eq!(writes(&server).await, [("/Employees/88/messages".to_owned(), written(OUTBOUND_TEXT))]);
    assert_every_request_well_formed(&server).await;
}

#[tokio::test]
async fn looks_the_action_up_once_per_tenant() {
    let server = stand_in(action_list()).await;

    let tw = connector(&server).await;
    tw.write_message(&tenant(), &record(RecordKind::Employee, "42"), &outbound()).await.unwrap();
    tw.write_message(&tenant(), &record(RecordKind::Contact, "7"), &inbound()).await.unwrap();
    assert_eq!(action_lookups(&server).await, 1);
    let kept: Vec<_> = server.kept().into_iter().map(|k| (k.path, k.text)).collect();
    assert_eq!(
        kept,
        [
            ("/Employees/42/messages".to_owned(), OUTBOUND_TEXT.to_owned()),
            ("/Contacts/7/messages".to_owned(), INBOUND_TEXT.to_owned())
        ]
    );
    assert_every_request_well_formed(&server).await;
}

#[tokio::test]
async fn no_message_action_is_a_refusal() {
    let server =
        stand_in(json!([{"actionId": 3, "action": "Phone Call"}, {"actionId": 4, "action": "Messages"}])).await;

    let tw = connector(&server).await;
    for _ in 0..2 {
        let err = tw.write_message(&tenant(), &record(RecordKind::Employee, "42"), &outbound()).await.unwrap_err();
        assert_eq!(err, AtsError::Rejected("the ATS has no active message action \"Message\"".into()));
    }
    assert_eq!(action_lookups(&server).await, 2, "a missing action is looked up again");
    assert!(writes(&server).await.is_empty());
}

#[tokio::test]
async fn a_rejected_token_is_a_refusal() {
    let server = stand_in(action_list()).await;
    server.answer_next_write(Answer::status(401));

    let tw = connector(&server).await;
    let err = tw.write_message(&tenant(), &record(RecordKind::Employee, "42"), &outbound()).await.unwrap_err();
    assert_eq!(err, AtsError::Rejected("the ATS rejected the API token".into()));
    assert!(!err.to_string().contains(TOKEN));
    assert_eq!(writes(&server).await.len(), 1, "not repeated");
}

#[tokio::test]
async fn a_missing_record_is_a_refusal() {
    let server = stand_in(action_list()).await;
    server.answer_next_write(Answer::status(404));
    server.answer_next_write(Answer::status(403));

    let tw = connector(&server).await;
    let err = tw.write_message(&tenant(), &record(RecordKind::Employee, "42"), &outbound()).await.unwrap_err();
    assert_eq!(err, AtsError::Rejected("no employee 42 in the ATS".into()));
    let err = tw.write_message(&tenant(), &record(RecordKind::Contact, "7"), &inbound()).await.unwrap_err();
    assert_eq!(err, AtsError::Rejected("the ATS API token may not write messages on contact 7".into()));
    assert_eq!(writes(&server).await.len(), 2, "neither repeated");
}

#[tokio::test]
async fn a_throttled_write_is_repeated_after_retry_after() {
    let server = stand_in(action_list()).await;
    server.answer_next_write(Answer::status(429).retry_after(1));
    server.answer_next_write(Answer::status(201).json(json!({"messageId": 982})));

    let tw = connector(&server).await.with_max_retry_wait(Duration::from_millis(300));
    let started = Instant::now();
    let id = tw.write_message(&tenant(), &record(RecordKind::Employee, "42"), &outbound()).await.unwrap();
    let waited = started.elapsed();
    assert_eq!(id, "982");
    let sent = writes(&server).await;
    assert_eq!(sent.len(), 2);
    assert_eq!(sent[0], sent[1], "the same write repeated");
    assert!(waited >= Duration::from_millis(300) && waited < Duration::from_secs(1), "{waited:?}");
}

#[tokio::test]
async fn an_ats_down_three_times_is_unavailable() {
    let server = stand_in(action_list()).await;
    server.answer_writes(Answer::status(503));

    let tw = connector(&server).await;
    let err = tw.write_message(&tenant(), &record(RecordKind::Employee, "42"), &outbound()).await.unwrap_err();
    assert!(matches!(&err, AtsError::Unavailable(why) if why.contains("HTTP 503")), "{err:?}");
    assert_eq!(writes(&server).await.len(), 3);
}

#[tokio::test]
async fn a_failed_write_that_may_have_happened_is_not_repeated() {
    let server = stand_in(action_list()).await;
    server.answer_writes(Answer::status(500));

    let tw = connector(&server).await;
    let err = tw.write_message(&tenant(), &record(RecordKind::Employee, "42"), &outbound()).await.unwrap_err();
    assert!(matches!(&err, AtsError::Unavailable(why) if why.contains("may have been written")), "{err:?}");
    assert_eq!(writes(&server).await.len(), 1);
}

#[tokio::test]
async fn a_slow_write_times_out_once() {
    let server = stand_in(action_list()).await;
    server.answer_next_write(Answer::status(201).json(json!({"messageId": 1})).delayed(Duration::from_secs(3)));

    let tw = connector_with_timeout(&server, Duration::from_millis(300)).await;
    let started = Instant::now();
    let err = tw.write_message(&tenant(), &record(RecordKind::Employee, "42"), &outbound()).await.unwrap_err();
    assert!(matches!(&err, AtsError::Unavailable(why) if why.contains("did not answer")), "{err:?}");
    assert!(started.elapsed() < Duration::from_secs(2));
    assert_eq!(writes(&server).await.len(), 1);
}

#[tokio::test]
async fn a_write_answered_without_an_id_is_found_by_its_marker() {
    let server = stand_in(action_list()).await;
    server.answer_next_write(Answer::status(204));
    server.add_message("/Employees/42/messages", json!(990), OUTBOUND_TEXT);

    let tw = connector(&server).await;
    let id = tw.write_message(&tenant(), &record(RecordKind::Employee, "42"), &outbound()).await.unwrap();
    assert_eq!(id, "990");
    assert_eq!(writes(&server).await.len(), 1);
    assert_eq!(pages_read(&server, "/Employees/42/messages").await, ["0"]);
    assert_every_request_well_formed(&server).await;
}

/// The `skip` of every read of `at`, each also checked to `take=100`.
async fn pages_read(server: &StandIn, at: &str) -> Vec<String> {
    let mut skips = Vec::new();
    for read in server.reads(at).await {
        let query: std::collections::HashMap<String, String> = read.url.query_pairs().into_owned().collect();
        assert_eq!(query.get("take").map(String::as_str), Some("100"), "{}", read.url);
        skips.push(query.get("skip").cloned().unwrap_or_default());
    }
    skips
}

#[tokio::test]
async fn find_message_finds_the_marker() {
    let server = StandIn::start().await;
    for (id, text) in [
        (json!(1001), "Called about the shift".to_owned()),
        (json!(1002), "Text from +12065550100: hi\n[textbridge zipwhip:13272954802126479360]".to_owned()),
        (json!(1003), format!("Text to +12065550100: ok\n[textbridge zipwhip:{ZIPWHIP_ID}]")),
    ] {
        server.add_message("/Employees/42/messages", id, &text);
    }

    let tw = connector(&server).await;
    let found = tw
        .find_message(&tenant(), &record(RecordKind::Candidate, "42"), ProviderKind::Zipwhip, ZIPWHIP_ID)
        .await
        .unwrap();
    assert_eq!(found.as_deref(), Some("1003"));
    // A bare array, with a text id.
    server.answer_next_read(Answer::status(200).json(json!([{"messageId": "c-5", "message": INBOUND_TEXT}])));
    let found = tw
        .find_message(&tenant(), &record(RecordKind::Contact, "7"), ProviderKind::Twilio, "SM0123456789abcdef")
        .await
        .unwrap();
    assert_eq!(found.as_deref(), Some("c-5"));
    assert_eq!(pages_read(&server, "/Employees/42/messages").await, ["0"]);
    assert_eq!(pages_read(&server, "/Contacts/7/messages").await, ["0"]);
    assert_every_request_well_formed(&server).await;
}

#[tokio::test]
async fn find_message_reads_later_pages() {
    let server = StandIn::start().await;
    for i in 0..100 {
        server.add_message("/Employees/42/messages", json!(i), &format!("Text from +1: {i}\n[textbridge zipwhip:{i}]"));
    }
    server.add_message("/Employees/42/messages", json!(100), OUTBOUND_TEXT);

    let tw = connector(&server).await;
    let found = tw
        .find_message(&tenant(), &record(RecordKind::Employee, "42"), ProviderKind::Zipwhip, ZIPWHIP_ID)
        .await
        .unwrap();
    assert_eq!(found.as_deref(), Some("100"));
    assert_eq!(pages_read(&server, "/Employees/42/messages").await, ["0", "100"]);
}

#[tokio::test]
async fn find_message_without_the_marker_is_none() {
    let server = StandIn::start().await;
    server.add_message(
        "/Employees/42/messages",
        json!(1002),
        "Text from +12065550100: hi\n[textbridge zipwhip:13272954802126479360]",
    );
    server.add_message(
        "/Employees/42/messages",
        json!(1004),
        &format!("Text to +12065550100: ok\n[textbridge textus:{ZIPWHIP_ID}]"),
    );

    let tw = connector(&server).await;
    let employee = record(RecordKind::Employee, "42");
    assert_eq!(tw.find_message(&tenant(), &employee, ProviderKind::Zipwhip, ZIPWHIP_ID).await.unwrap(), None);
    let contact = record(RecordKind::Contact, "7");
    assert_eq!(tw.find_message(&tenant(), &contact, ProviderKind::Zipwhip, ZIPWHIP_ID).await.unwrap(), None);
    assert_eq!(pages_read(&server, "/Employees/42/messages").await, ["0"]);
    assert_eq!(pages_read(&server, "/Contacts/7/messages").await, ["0"]);
}

#[tokio::test]
async fn find_message_repeats_a_failed_read() {
    let server = StandIn::start().await;
    server.answer_next_read(Answer::status(502));
    server.add_message("/Employees/42/messages", json!(7), OUTBOUND_TEXT);

    let tw = connector(&server).await;
    let employee = record(RecordKind::Employee, "42");
    let found = tw.find_message(&tenant(), &employee, ProviderKind::Zipwhip, ZIPWHIP_ID).await.unwrap();
    assert_eq!(found.as_deref(), Some("7"));
    assert_eq!(pages_read(&server, "/Employees/42/messages").await, ["0", "0"]);
}

#[tokio::test]
async fn a_missing_token_means_the_ats_is_not_connected() {
    let server = StandIn::start().await;
    let tw = TempWorks::new(Url::parse(&server.uri()).unwrap(), Arc::new(MemorySecrets::default()));
    let employee = record(RecordKind::Employee, "42");
    let expected = AtsError::NotConnected("no TempWorks API token is saved for this tenant".into());
    assert_eq!(tw.write_message(&tenant(), &employee, &outbound()).await.unwrap_err(), expected);
    assert_eq!(tw.find_message(&tenant(), &employee, ProviderKind::Zipwhip, ZIPWHIP_ID).await.unwrap_err(), expected);
    assert!(server.requests().await.is_empty());
}

/// The TempWorks directory (the sync's reading side) through the per-tenant
/// `Directory`.
mod directory {
    use std::time::Duration;

    use serde_json::{Value, json};
    use textbridge_app::ports::{AtsConnector, AtsCursor, AtsDirectory, AtsEndpoint, AtsError};
    use textbridge_ats::{Directory, Url};
    use textbridge_domain::RecordKind;
    use textbridge_testkit::tempworks::StandIn;

    const TOKEN: &str = "tw-directory-token-9a8b";

    fn endpoint(server: &StandIn, token: &str) -> AtsEndpoint {
        AtsEndpoint {
            connector: AtsConnector::TempWorks,
            base_url: Url::parse(&server.uri()).unwrap(),
            token: token.to_owned().into(),
        }
    }

    fn employee(i: usize) -> Value {
        json!({"employeeId": 5000 + i, "firstName": "Emp", "lastName": format!("{i}"),
               "phoneNumber": format!("651555{i:04}"), "cellPhoneNumber": null, "isActive": i % 10 != 9})
    }

    #[tokio::test]
    async fn employees_are_read_page_by_page_with_their_numbers() {
        let server = StandIn::start().await;
        let contacts =
            vec![json!({"contactId": 77, "firstName": "Cy", "lastName": "Dee", "officePhone": "612-555-0177",
                                   "cellPhoneNumber": "612-555-0178"})];
        server.set_directory((0..450).map(employee).collect(), contacts, TOKEN);
        let directory = Directory::new(Duration::from_secs(5), Duration::from_millis(50));
        let endpoint = endpoint(&server, TOKEN);
        directory.check(&endpoint).await.unwrap();

        let mut cursor = AtsCursor::default();
        let mut ids = Vec::new();
        let mut pages = 0;
        loop {
            let page = directory.records(&endpoint, RecordKind::Employee, &cursor).await.unwrap();
            pages += 1;
            for row in page.rows {
                let row = row.unwrap();
                assert_eq!(row.phones.len(), 1, "{row:?}");
                ids.push(row.id);
            }
            match page.next {
                Some(next) => cursor.page = Some(next),
                None => break,
            }
        }
        assert_eq!((ids.len(), pages), (405, 3), "the 405 active employees, 200 a page");
        assert_eq!(ids[0], "5000");
        let searches = server.requests().await;
        let last = searches.iter().rev().find(|r| r.url.path() == "/Search/Employees").unwrap();
        let query: Vec<(String, String)> = last.url.query_pairs().into_owned().collect();
        let pairs = [("take", "200"), ("skip", "400"), ("isActive", "true")].map(|(k, v)| (k.to_owned(), v.to_owned()));
        assert_eq!(query, pairs);
        assert!(searches.iter().all(|r| r.headers.get("x-tw-token").is_some_and(|v| v == TOKEN)));

        let contacts = directory.records(&endpoint, RecordKind::Contact, &AtsCursor::default()).await.unwrap();
        let cy = contacts.rows[0].clone().unwrap();
        assert_eq!((cy.id.as_str(), cy.name.as_deref()), ("77", Some("Cy Dee")));
        assert_eq!(cy.phones, ["612-555-0178", "612-555-0177"]);
        assert!(directory.users(&endpoint, &AtsCursor::default()).await.unwrap().rows.is_empty(), "no ATS users");
    }

    #[tokio::test]
    async fn a_refused_token_and_candidates_are_refusals() {
        let server = StandIn::start().await;
        server.set_directory(vec![employee(1)], Vec::new(), TOKEN);
        let directory = Directory::new(Duration::from_secs(5), Duration::from_millis(50));
        let err = directory.check(&endpoint(&server, "wrong")).await.unwrap_err();
        assert!(matches!(err, AtsError::Rejected(_)), "{err:?}");
        assert!(!err.to_string().contains("wrong"), "{err}");
        let err = directory.records(&endpoint(&server, TOKEN), RecordKind::Candidate, &AtsCursor::default()).await;
        assert!(matches!(err, Err(AtsError::Rejected(ref why)) if why.contains("employees")), "{err:?}");
    }
}
