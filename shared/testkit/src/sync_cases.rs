//! The ATS sync's cases, run on any backend against the stand-in ATS
//! ([`crate::ats_directory`]) through the real directory connector: the user rules
//! (full / partial × Always / Never / unset × new / existing / conflicting), removal
//! in the ATS, the record directory and re-matching, an unchanged second run that
//! writes nothing, a page that fails and a run that resumes, and tenants that do not
//! depend on each other.

use std::sync::Arc;

use serde_json::json;
use textbridge_app::{
    App, Backend, Config,
    ats_connection::{self, ConnectionInput},
    keys,
    ports::AtsDirectory,
    sync::{self, TenantReport},
    users::{self, LicencePolicy},
};
use textbridge_domain::{ProviderKind, RecordKind, Role, TenantId, UserStatus, WebhookEvent};

use crate::{
    ats_directory::{StandIn, TOKEN, record, user},
    counting::CountingStore,
    races::admin,
    seed::{self, new_user},
};

/// An app on `backend` whose store counts, with the directory connector.
fn app(backend: &Backend, directory: &Arc<dyn AtsDirectory>) -> (Arc<App>, Arc<CountingStore>) {
    let counting = Arc::new(CountingStore::new(backend.store.clone()));
    let counted = Backend { store: counting.clone(), ..backend.clone() };
    (App::on(counted, Config::default()).with_directory(directory.clone()).shared(), counting)
}

async fn connect(app: &Arc<App>, tenant: &TenantId, ats: &StandIn) {
    let input = ConnectionInput {
        connector: None,
        base_url: ats.uri(),
        token: TOKEN.into(),
        record_kinds: Some(vec![RecordKind::Employee, RecordKind::Contact]),
        full_access_role: Some("manager".into()),
    };
    let view = ats_connection::save(app, &admin(tenant), input).await.expect("connected");
    assert_eq!((view.status.as_str(), view.enabled), ("connected", true), "{view:?}");
}

async fn user_by_email(app: &Arc<App>, tenant: &TenantId, email: &str) -> Option<textbridge_app::items::UserItem> {
    users::by_email(app, tenant, &email.parse().expect("email")).await.expect("read")
}

/// Every rule of the users and records sync, then an unchanged run writing nothing.
pub async fn the_sync_follows_every_rule(backend: Backend, directory: Arc<dyn AtsDirectory>, tenant: &str) {
    let tenant = TenantId::parse(tenant).expect("tenant");
    let (app, counting) = app(&backend, &directory);
    let ats = StandIn::start().await;
    connect(&app, &tenant, &ats).await;
    ats.page_size(4); // several pages per stream

    // Texting users that exist before the first sync.
    users::create(&app, &tenant, new_user("manual@x.test"), LicencePolicy::None, false).await.expect("manual");
    let gone = users::create(&app, &tenant, new_user("gone@x.test"), LicencePolicy::None, false).await.expect("gone");
    users::delete(&app, &admin(&tenant), &gone.user.id).await.expect("deleted");
    let mapped = users::create(&app, &tenant, new_user("mapped@x.test"), LicencePolicy::None, false).await.expect("m");
    users::add_ats_id(&app, &admin(&tenant), &mapped.user.id, "900").await.expect("mapped to 900");
    // An unmatched text waiting for a record of the ATS.
    let text = seed::inbound_text(ProviderKind::Twilio, "SM-sync-1", "+12065550142", "2026-11-26T09:00:00Z", "hi?");
    let body = seed::queued(&tenant, WebhookEvent::Message(text));
    let archiver = textbridge_app::archive::Archiver::new(app.clone());
    textbridge_app::worker::MessageHandler::handle(&archiver, &body).await.expect("kept as unmatched");

    let at = "2026-11-26T10:00:00Z";
    let mut removed = user("905", "mapped@x.test", "full", None, at);
    removed["removed"] = json!(true);
    ats.set_users(vec![
        user("1", "full.unset@x.test", "full", None, at),
        user("2", "full.always@x.test", "full", Some("always"), at),
        user("3", "full.never@x.test", "full", Some("never"), at),
        user("4", "partial.always@x.test", "partial", Some("always"), at),
        user("5", "partial.never@x.test", "partial", Some("never"), at),
        user("6", "partial.unset@x.test", "partial", None, at),
        user("7", "manual@x.test", "full", None, at),
        user("8", "gone@x.test", "full", None, at),
        user("9", "mapped@x.test", "full", None, at),
        user("10", "twice@x.test", "full", None, at),
        user("11", "twice@x.test", "full", None, at),
        json!({"id": "12", "email": "not-an-email", "first_name": "A", "last_name": "B", "access": "full"}),
        json!({"id": "13", "access": "sometimes"}),
        removed,
    ]);
    ats.set_records(
        "employee",
        vec![record("e1", &["+12065550142"], at), record("e2", &["(206) 555-0143", "no number"], at)],
    );
    ats.set_records("contact", vec![record("k1", &["+12065550144"], at)]);
    ats.set_records("candidate", vec![record("c1", &["+12065550145"], at)]);

    let first = sync::run_tenant(&app, &tenant).await;
    assert_eq!(first.error, None, "{first:?}");
    let want = TenantReport {
        created: 4,   // 1, 2, 4, 10
        updated: 1,   // 7 adopts the texting user added by hand
        skipped: 3,   // 3, 5, 6
        conflicts: 3, // 8 deleted username, 9 e-mail mapped to ATS user 900, 11 same e-mail as 10
        removed_in_ats: 0,
        records_upserted: 3,
        unmatched_reattached: 1,
        malformed: 3, // 12, 13, and e2's "no number"
        records_unchanged: 0,
        unchanged: 0,
        ats_writes_resumed: 0,
        error: None,
        ..first.clone()
    };
    assert_eq!(first, want, "{first:#?}");
    let full = user_by_email(&app, &tenant, "full.unset@x.test").await.expect("created");
    assert_eq!((full.role, full.source.as_str(), full.ats_ids.len()), (Role::Manager, "ats", 1));
    let partial = user_by_email(&app, &tenant, "partial.always@x.test").await.expect("created");
    assert_eq!(partial.role, Role::User, "partial-access users get the default role");
    for skipped in ["full.never@x.test", "partial.never@x.test", "partial.unset@x.test"] {
        assert!(user_by_email(&app, &tenant, skipped).await.is_none(), "{skipped}");
    }
    let manual = user_by_email(&app, &tenant, "manual@x.test").await.expect("kept");
    assert_eq!((manual.ats_ids[0].as_str(), manual.last_name.as_str()), ("7", "User 7"), "adopted");
    let conflicts = sync::conflicts(&app, &admin(&tenant)).await.expect("conflicts");
    let ids: Vec<&str> = conflicts.iter().map(|c| c.ats_user_id.as_str()).collect();
    assert_eq!(ids, vec!["11", "8", "9"], "{conflicts:#?}");
    assert!(conflicts[1].reason.contains("can never be added again"));
    assert_eq!(conflicts[2].texting_email.as_deref(), Some("mapped@x.test"), "both sides are kept");
    let mapped_now = user_by_email(&app, &tenant, "mapped@x.test").await.expect("kept");
    assert_eq!(mapped_now.ats_ids.len(), 1, "the other user's data is never overwritten");
    assert!(backend.store.get(&keys::record(&tenant, RecordKind::Candidate, "c1")).await.expect("get").is_none());
    let queued = backend.queue.depth().await.expect("depth").visible;
    assert!(queued >= 1, "the unmatched text is queued again");

    // Unchanged ATS: no write at all.
    counting.reset();
    let second = sync::run_tenant(&app, &tenant).await;
    assert_eq!(counting.totals().writes, 0, "{:#?}", counting.snapshot());
    assert_eq!((second.created, second.updated, second.records_upserted), (0, 0, 0), "{second:#?}");
    assert_eq!(
        (second.unchanged, second.records_unchanged),
        (5, 3),
        "rows at the watermark are seen again (it is inclusive) and compared: {second:#?}"
    );

    // The ATS removes a mapped user and renames another: reported, renamed, kept.
    let later = "2026-11-26T11:00:00Z";
    let mut gone_user = user("1", "full.unset@x.test", "full", None, later);
    gone_user["removed"] = json!(true);
    let mut renamed = user("2", "full.always@x.test", "full", Some("always"), later);
    renamed["last_name"] = json!("Renamed");
    ats.set_users(vec![gone_user, renamed]);
    counting.reset();
    let third = sync::run_tenant(&app, &tenant).await;
    assert_eq!((third.removed_in_ats, third.updated), (1, 1), "{third:#?}");
    let still = user_by_email(&app, &tenant, "full.unset@x.test").await.expect("kept");
    assert_eq!(still.status, UserStatus::Active, "removal in the ATS never revokes");
    assert!(counting.totals().writes <= 6, "writes follow changes: {:#?}", counting.snapshot());
    let report = sync::last_report(&app, &admin(&tenant)).await.expect("report kept");
    assert_eq!(report.removed_in_ats, 1);
    // An admin resolves a conflict by mapping the ATS user.
    let resolution = sync::Resolution::Dismiss;
    sync::resolve(&app, &admin(&tenant), "11", resolution).await.expect("dismissed");
    assert!(sync::resolve(&app, &admin(&tenant), "11", sync::Resolution::Dismiss).await.is_err(), "gone");
    let other = TenantId::parse(&format!("{tenant}-other")).expect("tenant");
    assert!(sync::conflicts(&app, &admin(&other)).await.expect("none").is_empty(), "other tenants see none");
}

/// Page 3 of 5 fails: the run stops with the pages before applied and its cursor
/// there; the next run resumes from page 3 and creates each user once.
pub async fn a_failed_page_resumes_where_it_stopped(backend: Backend, directory: Arc<dyn AtsDirectory>, tenant: &str) {
    let tenant = TenantId::parse(tenant).expect("tenant");
    let (app, _) = app(&backend, &directory);
    let ats = StandIn::start().await;
    connect(&app, &tenant, &ats).await;
    ats.page_size(2);
    let users_of: Vec<_> = (0..10)
        .map(|i| user(&format!("u{i}"), &format!("u{i}@x.test"), "full", None, "2026-11-26T10:00:00Z"))
        .collect();
    ats.set_users(users_of);
    ats.fail_page("users", 2, 500);
    let first = sync::run_tenant(&app, &tenant).await;
    assert!(first.error.as_deref().is_some_and(|e| e.contains("500")), "{first:#?}");
    assert_eq!(first.created, 4, "pages 1 and 2 applied");
    ats.heal();
    ats.clear_requests();
    ats.throttle_once();
    let second = sync::run_tenant(&app, &tenant).await;
    assert_eq!((second.error.clone(), second.created), (None, 6), "{second:#?}");
    let user_pages: Vec<String> = ats.requests().into_iter().filter(|r| r.contains("/users")).collect();
    assert!(user_pages.iter().all(|r| r.contains("page_token=") || r.contains("updated_since")), "{user_pages:?}");
    assert!(user_pages[0].contains("page_token=4"), "resumed at page 3: {user_pages:?}");
    assert_eq!(users::all(&app, &tenant).await.expect("users").len(), 10, "each user once");
}

/// One tenant's ATS fails every call; the other tenant's sync runs as usual.
pub async fn tenants_sync_independently(backend: Backend, directory: Arc<dyn AtsDirectory>) {
    let (app, _) = app(&backend, &directory);
    let (broken, fine) = (TenantId::parse("sync-broken").expect("t"), TenantId::parse("sync-fine").expect("t"));
    let (ats_broken, ats_fine) = (StandIn::start().await, StandIn::start().await);
    connect(&app, &broken, &ats_broken).await;
    connect(&app, &fine, &ats_fine).await;
    ats_broken.fail_page("users", 0, 503);
    ats_fine.set_users(vec![user("1", "one@x.test", "full", None, "2026-11-26T10:00:00Z")]);
    let report = sync::run_all(app.clone()).await.expect("run");
    let of = |t: &TenantId| report.reports.iter().find(|r| r.tenant == t.as_str()).cloned().expect("report");
    assert!(of(&broken).error.is_some());
    assert_eq!((of(&fine).error, of(&fine).created), (None, 1));
    assert!(report.failed >= 1);
}
