//! End to end on the AWS backend: the intake router as deployed and the archiver's
//! SQS entry on DynamoDB, SQS and Secrets Manager (a moto server), with a
//! TempWorks-style ATS played by the testkit stand-in.

use std::{sync::Arc, time::Duration};

use aws_lambda_events::event::sqs::SqsEvent;
use axum::{body::Body, http::Request};
use serde_json::json;
use textbridge_app::{
    App, Config,
    archive::Archiver,
    ports::{Ats, Query, SecretName},
    records,
};
use textbridge_domain::{Identity, RecordKind, Role, TenantId};
use textbridge_testkit::{moto, seed, tempworks};
use tower::ServiceExt;

const SECRET: &str = "whsec-aws-0001";
const THEIRS: &str = "+12065550100";
const OURS: &str = "+12065550199";

fn admin(tenant: &TenantId) -> Identity {
    Identity {
        tenant: tenant.clone(),
        user_id: "admin-1".parse().expect("id"),
        username: "admin@acme.test".parse().expect("username"),
        role: Role::CustomerAdmin,
        permission_group: "Admins".parse().expect("group"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn webhook_to_archive_and_ats_on_moto() {
    let backend = moto::backend().await;
    let tenant = TenantId::parse("acme").expect("tenant");
    let token = "c".repeat(48);
    seed::textus_registration(&backend, &tenant, &token, SECRET).await;
    seed::record_phone(&backend, &tenant, THEIRS, RecordKind::Employee, "e1").await;
    seed::record_phone(&backend, &tenant, THEIRS, RecordKind::Contact, "k1").await;
    let name = SecretName::from_parts(&["acme", "ats", "tempworks"]).expect("name");
    backend.secrets.create(&name, &"tw-token".to_owned().into()).await.expect("token");
    let ats_server = tempworks::StandIn::start().await;
    let url = textbridge_ats::Url::parse(&ats_server.uri()).expect("url");
    let ats: Arc<dyn Ats> = Arc::new(textbridge_ats::TempWorks::new(url, backend.secrets.clone()));
    let providers = textbridge_providers::registry(&textbridge_providers::Endpoints::from_env().expect("endpoints"));
    let app = App::on(backend.clone(), Config::default()).with_providers(providers).with_ats(Some(ats)).shared();

    // The same webhook posted five times: five queue messages, one text.
    let body = seed::textus_received("m1", THEIRS, OURS, "see you at nine");
    for _ in 0..5 {
        let request = Request::post(format!("/webhooks/textus/{token}"))
            .header("content-type", "application/json")
            .header("x-textus-signature", seed::textus_signature(SECRET, &body))
            .body(Body::from(body.clone()))
            .expect("request");
        let router = textbridge_lambda::as_deployed(textbridge_api::intake::router(app.clone()));
        let response = router.oneshot(request).await.expect("response");
        assert_eq!(response.status().as_u16(), 202);
    }

    // The archiver's SQS entry, fed by real receives from SQS; each received message
    // is also delivered a second time in the same batch (at-least-once delivery).
    let handler = Archiver::new(app.clone());
    let mut handled = 0;
    for _ in 0..20 {
        let received = backend.queue.receive(10, Duration::from_secs(30)).await.expect("receive");
        if received.is_empty() && handled >= 5 {
            break;
        }
        let records: Vec<_> = received
            .iter()
            .flat_map(|m| (0..5).map(move |copy| (format!("{}-{copy}", m.id), &m.body)))
            .map(|(id, body)| json!({"messageId": id, "body": body}))
            .collect();
        // A message that fails (e.g. its twin holds the ATS claim) is delivered
        // again, as SQS would, until none fails.
        let mut pending = records;
        for _ in 0..10 {
            if pending.is_empty() {
                break;
            }
            let event: SqsEvent = serde_json::from_value(json!({ "Records": pending })).expect("event");
            let response = textbridge_lambda::sqs_batch(&handler, &event).await;
            let failed: Vec<String> = response.batch_item_failures.iter().map(|f| f.item_identifier.clone()).collect();
            pending = event
                .records
                .iter()
                .filter(|r| r.message_id.as_ref().is_some_and(|id| failed.contains(id)))
                .map(|r| json!({"messageId": r.message_id, "body": r.body}))
                .collect();
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        assert!(pending.is_empty(), "redeliveries settle");
        for m in &received {
            backend.queue.delete(&m.receipt).await.expect("delete");
        }
        handled += received.len();
    }
    assert_eq!(handled, 5);

    let identity = admin(&tenant);
    for (kind, id) in [(RecordKind::Employee, "e1"), (RecordKind::Contact, "k1")] {
        let page = records::conversation(&app, &identity, kind, id, None, 50).await.expect("conversation");
        assert_eq!(page.messages.len(), 1, "{kind:?} {id}");
        assert_eq!(page.messages[0].body(), "see you at nine");
    }
    let writes = ats_server.requests().await;
    let posts: Vec<_> =
        writes.iter().filter(|r| r.method.as_str() == "POST").map(|r| r.url.path().to_owned()).collect();
    assert_eq!(posts.len(), 2, "one ATS write per record: {posts:?}");
    assert!(
        posts.contains(&"/Employees/e1/messages".to_owned()) && posts.contains(&"/Contacts/k1/messages".to_owned())
    );

    // Another tenant's reads find nothing.
    let other = admin(&TenantId::parse("globex").expect("tenant"));
    assert!(records::conversation(&app, &other, RecordKind::Employee, "e1", None, 50).await.is_err());
    let other_items = backend.store.query_all(&Query::new("T#globex", "")).await.expect("query");
    assert!(other_items.is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn racing_first_reports_and_upserts_on_moto() {
    textbridge_testkit::races::two_first_reports_make_one_entry(moto::backend().await, "race-a").await;
    textbridge_testkit::races::identical_upserts_requeue_each_text_once(moto::backend().await, "race-b").await;
    textbridge_testkit::races::racing_opt_outs_make_one_change(moto::backend().await, "race-c").await;
    textbridge_testkit::races::notes_racing_a_purge_leave_nothing(moto::backend().await, "race-notes").await;
    textbridge_testkit::races::texts_racing_their_numbers_first_record_reach_it(moto::backend().await, "race-first")
        .await;
    textbridge_testkit::access::permission_matrix(moto::backend().await, "matrix").await;
    textbridge_testkit::access::racing_creates(moto::backend().await, "race-groups").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn changes_racing_cached_reads_on_moto() {
    let nowhere = textbridge_providers::Url::parse("http://127.0.0.1:9/").expect("url");
    let providers = textbridge_providers::registry(&textbridge_providers::Endpoints::all_at(&nowhere));
    textbridge_testkit::races::changes_reach_cached_reads_at_once(moto::backend().await, providers, "race-cache").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn racing_sends_under_one_key_send_once_on_moto() {
    let backend = moto::backend().await;
    let tenant = TenantId::parse("race-send").expect("tenant");
    let stand_in = textbridge_testkit::sending::twilio_tenant(&backend, &tenant).await;
    let base = textbridge_providers::Url::parse(&stand_in.uri()).expect("url");
    let providers = textbridge_providers::registry(&textbridge_providers::Endpoints::all_at(&base));
    textbridge_testkit::sending::racing_sends_with_one_key(backend, providers, "race-send", &stand_in).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_mass_text_reports_each_recipient_once_on_moto() {
    let backend = moto::backend().await;
    let tenant = TenantId::parse("mass").expect("tenant");
    let stand_in = textbridge_testkit::sending::twilio_tenant(&backend, &tenant).await;
    let base = textbridge_providers::Url::parse(&stand_in.uri()).expect("url");
    let providers = textbridge_providers::registry(&textbridge_providers::Endpoints::all_at(&base));
    textbridge_testkit::sending::mass_text_reports_each_recipient_once(backend, providers, "mass", &stand_in).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn racing_licence_assigns_usernames_and_team_names_on_moto() {
    textbridge_testkit::races::licence_seats_stay_exact(moto::backend().await, "race-seats").await;
    textbridge_testkit::races::one_username_one_user(moto::backend().await, "race-names").await;
    textbridge_testkit::races::one_team_name_one_team(moto::backend().await, "race-teams").await;
}

fn directory() -> Arc<dyn textbridge_app::ports::AtsDirectory> {
    Arc::new(textbridge_ats::Directory::new(Duration::from_secs(5), Duration::from_secs(2)))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_ats_sync_follows_every_rule_resumes_and_isolates_tenants_on_moto() {
    use textbridge_testkit::sync_cases;
    sync_cases::the_sync_follows_every_rule(moto::backend().await, directory(), "sync-rules").await;
    sync_cases::a_failed_page_resumes_where_it_stopped(moto::backend().await, directory(), "sync-resume").await;
    sync_cases::tenants_sync_independently(moto::backend().await, directory()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn user_import_scenarios_on_moto() {
    use textbridge_testkit::imports;
    imports::team_rules_and_licences(moto::backend().await, "imp-teams").await;
    imports::bad_rows_never_block_good_ones(moto::backend().await, "imp-bad").await;
    imports::remap_names_the_missing_field(moto::backend().await, "imp-remap").await;
    imports::report_round_trip_and_refusals(moto::backend().await, "imp-report", "imp-other").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_stopped_user_import_resumes_and_racing_runs_end_as_one_on_moto() {
    use textbridge_testkit::imports;
    imports::a_stopped_run_resumes_without_duplicates(moto::backend().await, "imp-crash", 520).await;
    imports::two_runs_at_once_end_as_one(moto::backend().await, "imp-race", 100).await;
    imports::queued_runs_apply_once(moto::backend().await, "imp-queued", 40).await;
}
