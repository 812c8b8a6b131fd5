//! Racing use-case calls, run at the same moment on any backend: each function
//! sets up its own tenant, fires the calls concurrently and asserts the one outcome
//! the conditional writes guarantee. Each backend's tests call every function here.

use std::{net::IpAddr, sync::Arc, time::Duration};

use secrecy::SecretString;
use textbridge_app::{
    App, Backend, Config,
    access::{self, Grants, Membership, NewSecurityGroup},
    archive::Archiver,
    envelope::Envelope,
    intake::{self, Call},
    items::{self, ConversationEntry, SeatsItem, Stored, UsernameClaim},
    keys,
    ports::{Providers, SecretFields, SecretName},
    records::{self, RecordInput},
    teams,
    users::{self, LicencePolicy},
    webhook_sources,
    worker::MessageHandler,
};
use textbridge_domain::{
    CredentialLevel, DeliveryStatus, Error, Identity, MessageEvent, ProviderKind, ProviderUsername, RecordKind, Role,
    TenantId, WebhookEvent,
};

use crate::seed::{self, new_user};

/// A customer admin of `tenant`.
pub fn admin(tenant: &TenantId) -> Identity {
    Identity {
        tenant: tenant.clone(),
        user_id: "admin-1".parse().expect("id"),
        username: "admin@example.test".parse().expect("username"),
        role: Role::CustomerAdmin,
        permission_group: "Admins".parse().expect("group"),
    }
}

fn text(id: &str, their: &str, at: &str, body: &str) -> MessageEvent {
    MessageEvent { time_received: true, ..seed::inbound_text(ProviderKind::Twilio, id, their, at, body) }
}

/// Two different first reports of one text (another time, another status), handled
/// at the same moment: exactly one conversation entry, with one report's time.
pub async fn two_first_reports_make_one_entry(backend: Backend, tenant: &str) {
    let tenant = TenantId::parse(tenant).expect("tenant");
    seed::record_phone(&backend, &tenant, "+12065550100", RecordKind::Employee, "e1").await;
    let archiver = Arc::new(Archiver::new(App::on(backend.clone(), Config::default()).shared()));
    let a = text("SM-race", "+12065550100", "2026-11-26T10:00:00Z", "on my way");
    let b = MessageEvent {
        occurred_at: "2026-11-26T10:00:03Z".parse().expect("time"),
        status: DeliveryStatus::Delivered,
        ..a.clone()
    };
    let bodies: Vec<String> = [a, b]
        .into_iter()
        .map(|m| Envelope::webhook_event(&tenant, &WebhookEvent::Message(m)).expect("envelope").to_body())
        .collect();
    let runs = bodies.into_iter().map(|body| {
        let archiver = archiver.clone();
        async move { archiver.handle(&body).await }
    });
    for result in at_once(runs).await {
        result.expect("archived");
    }
    let entries = backend.store.query_all(&keys::conversation(&tenant, RecordKind::Employee, "e1")).await.expect("q");
    assert_eq!(entries.len(), 1, "one entry for one text: {entries:?}");
    let entry = ConversationEntry::from_item(&entries[0]).expect("entry");
    assert_eq!(entry.body, "on my way");
}

/// Twenty identical upserts of a record at the same moment queue each unmatched
/// text of its number once, and an unchanged upsert afterwards queues nothing.
pub async fn identical_upserts_requeue_each_text_once(backend: Backend, tenant: &str) {
    let tenant = TenantId::parse(tenant).expect("tenant");
    let app = App::on(backend.clone(), Config::default()).shared();
    let archiver = Archiver::new(app.clone());
    for i in 0..3 {
        let m = text(&format!("SM-u{i}"), "+12065550177", "2026-11-26T10:00:00Z", "who is this?");
        let body = Envelope::webhook_event(&tenant, &WebhookEvent::Message(m)).expect("envelope").to_body();
        archiver.handle(&body).await.expect("kept as unmatched");
    }
    let before = backend.queue.depth().await.expect("depth").visible;
    let caller = admin(&tenant);
    let upserts = (0..20).map(|_| {
        let (app, caller) = (app.clone(), caller.clone());
        async move {
            let input = RecordInput { name: Some("Pat".into()), phones: vec!["+12065550177".into()] };
            records::upsert(&app, &caller, RecordKind::Candidate, "c1", input).await
        }
    });
    let mut rematched = 0;
    for result in at_once(upserts).await {
        rematched += result.expect("upsert").rematched;
    }
    let queued = backend.queue.depth().await.expect("depth").visible - before;
    assert_eq!((rematched, queued), (3, 3), "each unmatched text queued once");
    let input = RecordInput { name: Some("Pat".into()), phones: vec!["+12065550177".into()] };
    let again = records::upsert(&app, &caller, RecordKind::Candidate, "c1", input).await.expect("upsert");
    assert_eq!(again.rematched, 0, "numbers unchanged: nothing queued");
    assert_eq!(backend.queue.depth().await.expect("depth").visible - before, 3);
}

/// Texts of a number archived at the same moment as the upsert that gives the number
/// its first record, ten times over: every text ends up on its record and none is
/// left unmatched, whichever of the upsert's look for waiting texts and the
/// archiver's keeping of one came first.
pub async fn texts_racing_their_numbers_first_record_reach_it(backend: Backend, tenant: &str) {
    let tenant = TenantId::parse(tenant).expect("tenant");
    let app = App::on(backend.clone(), Config::default()).shared();
    let archiver = Arc::new(Archiver::new(app.clone()));
    let numbers: Vec<String> = (0..10).map(|round| format!("+1206555{:04}", 300 + round)).collect();
    for (round, number) in numbers.iter().enumerate() {
        let texts: Vec<_> = (0..4)
            .map(|i| {
                let m = text(&format!("SM-first-{round}-{i}"), number, "2026-11-26T10:00:00Z", "hello?");
                let body = Envelope::webhook_event(&tenant, &WebhookEvent::Message(m)).expect("envelope").to_body();
                let archiver = archiver.clone();
                async move { archiver.handle(&body).await }
            })
            .collect();
        let (app, caller, number) = (app.clone(), admin(&tenant), number.clone());
        let upsert = tokio::spawn(async move {
            let input = RecordInput { name: Some("Pat".into()), phones: vec![number] };
            records::upsert(&app, &caller, RecordKind::Candidate, &format!("c{round}"), input).await
        });
        for result in at_once(texts).await {
            result.expect("handled");
        }
        upsert.await.expect("task").expect("upserted");
    }
    crate::sending::drain(&backend, archiver.as_ref()).await;
    for (round, number) in numbers.iter().enumerate() {
        let number: textbridge_domain::E164 = number.parse().expect("number");
        let waiting = backend.store.query_all(&keys::unmatched_of(&tenant, &number)).await.expect("unmatched");
        assert_eq!(waiting.len(), 0, "round {round}: texts left unmatched beside their record");
        let record = keys::conversation(&tenant, RecordKind::Candidate, &format!("c{round}"));
        let entries = backend.store.query_all(&record).await.expect("entries");
        assert_eq!(entries.len(), 4, "round {round}: every text on the record");
    }
}

/// Ten reports of one number's STOP (different texts, one time) and a provider's
/// opt-out report, handled at the same moment: one change, one history entry and
/// one event on the record; a later START opts it back in, and a STOP older than
/// that START, redelivered, changes nothing.
pub async fn racing_opt_outs_make_one_change(backend: Backend, tenant: &str) {
    let tenant = TenantId::parse(tenant).expect("tenant");
    seed::record_phone(&backend, &tenant, "+12065550142", RecordKind::Candidate, "c9").await;
    let archiver = Arc::new(Archiver::new(App::on(backend.clone(), Config::default()).shared()));
    let mut bodies: Vec<String> = (0..10)
        .map(|i| {
            let m = text(&format!("SM-stop-{i}"), "+12065550142", "2026-11-26T10:00:00Z", " Stop! ");
            Envelope::webhook_event(&tenant, &WebhookEvent::Message(m)).expect("envelope").to_body()
        })
        .collect();
    let number: textbridge_domain::E164 = "+12065550142".parse().expect("number");
    let report = WebhookEvent::OptOut { provider: ProviderKind::Twilio, number: number.clone(), opted_out: true };
    bodies.push(Envelope::webhook_event(&tenant, &report).expect("envelope").to_body());
    let runs = bodies.into_iter().map(|body| {
        let archiver = archiver.clone();
        async move { archiver.handle(&body).await }
    });
    for result in at_once(runs).await {
        result.expect("handled");
    }
    let history = backend.store.query_all(&keys::opt_out_history(&tenant, &number)).await.expect("history");
    assert_eq!(history.len(), 1, "one change: {history:?}");
    let events = |entries: &[textbridge_app::ports::Item]| {
        entries.iter().filter_map(|i| ConversationEntry::from_item(i).expect("entry").event).collect::<Vec<_>>()
    };
    let entries = backend.store.query_all(&keys::conversation(&tenant, RecordKind::Candidate, "c9")).await.expect("q");
    assert_eq!(events(&entries), ["opted_out"]);

    // After the provider's report, which is dated when it was handled (now).
    let after_report = time::OffsetDateTime::now_utc() + time::Duration::minutes(1);
    let after_report = after_report.format(&time::format_description::well_known::Rfc3339).expect("time");
    let start = text("SM-start", "+12065550142", &after_report, "START");
    archiver.handle(&seed::queued(&tenant, WebhookEvent::Message(start))).await.expect("start");
    let late = text("SM-stop-0", "+12065550142", "2026-11-26T10:00:00Z", " Stop! ");
    archiver.handle(&seed::queued(&tenant, WebhookEvent::Message(late))).await.expect("redelivered stop");
    let app = App::on(backend.clone(), Config::default());
    assert!(!textbridge_app::optout::is_opted_out(&app, &tenant, &number).await.expect("state"));
    let entries = backend.store.query_all(&keys::conversation(&tenant, RecordKind::Candidate, "c9")).await.expect("q");
    assert_eq!(events(&entries), ["opted_out", "opted_in"]);
}

/// Runs every future on its own task, all started before any is awaited, and
/// returns their outputs in order.
pub(crate) async fn at_once<F>(futures: impl IntoIterator<Item = F>) -> Vec<F::Output>
where
    F: std::future::Future + Send + 'static,
    F::Output: Send + 'static,
{
    let tasks: Vec<_> = futures.into_iter().map(tokio::spawn).collect();
    let mut out = Vec::with_capacity(tasks.len());
    for task in tasks {
        out.push(task.await.expect("task"));
    }
    out
}

fn staff(tenant: &TenantId) -> Identity {
    Identity { role: Role::Staff, user_id: "staff-1".parse().expect("id"), ..admin(tenant) }
}

/// Seats of a tenant as stored.
async fn seat_counts(backend: &Backend, tenant: &TenantId) -> (i64, i64) {
    let seats =
        items::get::<SeatsItem>(backend.store.as_ref(), &keys::seats(tenant)).await.expect("seats").expect("set");
    (seats.total, seats.free)
}

/// One hundred licence assigns at once with ten free seats: exactly ten users get a
/// licence, each a different number, and the free seat count ends at zero. Then one
/// hundred deletes at once (ten of licensed users): every seat is free again.
pub async fn licence_seats_stay_exact(backend: Backend, tenant: &str) {
    let tenant = TenantId::parse(tenant).expect("tenant");
    let app = App::on(backend.clone(), Config::default()).shared();
    let numbers = (0..10).map(|i| format!("+1312555{:04}", 100 + i)).collect();
    users::add_numbers(&app, &staff(&tenant), users::NumbersInput { numbers }).await.expect("seats bought");
    assert_eq!(seat_counts(&backend, &tenant).await, (10, 10));
    let mut ids = Vec::new();
    for i in 0..100 {
        let added = users::create(&app, &tenant, new_user(&format!("u{i}@example.test")), LicencePolicy::None, false)
            .await
            .expect("user");
        ids.push(added.user.id);
    }
    let caller = admin(&tenant);
    let assigns = ids.iter().cloned().map(|id| {
        let (app, caller) = (app.clone(), caller.clone());
        async move { users::assign_licence(&app, &caller, &id, Some("312")).await }
    });
    let results = at_once(assigns).await;
    let assigned: Vec<_> = results.iter().filter_map(|r| r.as_ref().ok()).collect();
    assert_eq!(assigned.len(), 10, "exactly the free seats are assigned");
    for refused in results.iter().filter_map(|r| r.as_ref().err()) {
        assert_eq!(refused.to_string(), "no licence seat is free");
    }
    let mut numbers: Vec<_> = assigned.iter().map(|u| u.licence.clone().expect("licence")).collect();
    numbers.sort();
    numbers.dedup();
    assert_eq!(numbers.len(), 10, "no number is assigned twice");
    assert_eq!(seat_counts(&backend, &tenant).await, (10, 0));

    let deletes = ids.iter().cloned().map(|id| {
        let (app, caller) = (app.clone(), caller.clone());
        async move { users::delete(&app, &caller, &id).await }
    });
    for result in at_once(deletes).await {
        result.expect("deleted");
    }
    assert_eq!(seat_counts(&backend, &tenant).await, (10, 10));
    let free = backend.store.query_all(&keys::free_numbers(&tenant, None)).await.expect("free");
    assert_eq!(free.len(), 10, "every number is free again");
}

/// Twenty adds of one username at once create exactly one user; the others are told
/// the name exists. After a delete, the name can never be added again.
pub async fn one_username_one_user(backend: Backend, tenant: &str) {
    let tenant = TenantId::parse(tenant).expect("tenant");
    let app = App::on(backend.clone(), Config::default()).shared();
    let adds = (0..20).map(|_| {
        let app = app.clone();
        let tenant = tenant.clone();
        async move { users::create(&app, &tenant, new_user("same@example.test"), LicencePolicy::None, true).await }
    });
    let results = at_once(adds).await;
    let created: Vec<_> = results.iter().filter_map(|r| r.as_ref().ok()).collect();
    assert_eq!(created.len(), 1, "one user for one username");
    for err in results.iter().filter_map(|r| r.as_ref().err()) {
        assert!(err.to_string().contains("already exists"), "{err}");
    }
    let all = users::all(&app, &tenant).await.expect("users");
    assert_eq!(all.len(), 1);
    let outbox = backend.store.query_all(&keys::outbox(&tenant)).await.expect("outbox");
    assert_eq!(outbox.len(), 1, "one invitation");

    users::delete(&app, &admin(&tenant), &created[0].user.id).await.expect("deleted");
    let again = users::create(&app, &tenant, new_user("SAME@example.test"), LicencePolicy::None, true).await;
    let err = again.expect_err("tombstoned");
    assert!(err.to_string().contains("can never be added again"), "{err}");
}

/// Ten creates of one team name at once make one team.
pub async fn one_team_name_one_team(backend: Backend, tenant: &str) {
    let tenant = TenantId::parse(tenant).expect("tenant");
    let app = App::on(backend.clone(), Config::default()).shared();
    let caller = admin(&tenant);
    let creates = (0..10).map(|i| {
        let (app, caller) = (app.clone(), caller.clone());
        let name = if i % 2 == 0 { "East" } else { "EAST" };
        async move { teams::create(&app, &caller, teams::TeamInput { name: name.into() }).await }
    });
    let ok = at_once(creates).await.into_iter().filter(Result::is_ok).count();
    assert_eq!(ok, 1);
    assert_eq!(teams::all(&app, &tenant).await.expect("teams").len(), 1);
}

/// Notes written while their record is purged: the purge leaves nothing of the
/// record behind, and every note either was written (and purged) or was refused
/// with 404.
pub async fn notes_racing_a_purge_leave_nothing(backend: Backend, tenant: &str) {
    let tenant = TenantId::parse(tenant).expect("tenant");
    let app = App::on(backend.clone(), Config::default()).shared();
    let owner = admin(&tenant);
    let input = RecordInput { name: Some("Ann".into()), phones: vec!["+12065550100".into()] };
    records::upsert(&app, &owner, RecordKind::Candidate, "c1", input).await.expect("record");
    // Ten notes with the purge in their middle, all at once.
    let runs = (0..11).map(|i| {
        let (app, owner) = (app.clone(), owner.clone());
        async move {
            if i == 5 {
                return records::purge(&app, &owner, RecordKind::Candidate, "c1").await.map(|_| ());
            }
            let note = records::NewNote { action_type: "Sales".into(), body: format!("call back {i}") };
            records::write_note(&app, &owner, RecordKind::Candidate, "c1", note).await.map(|_| ())
        }
    });
    for result in at_once(runs).await {
        match result {
            Ok(()) | Err(textbridge_domain::Error::NotFound(_)) => {}
            Err(e) => panic!("a note or the purge failed otherwise: {e}"),
        }
    }
    let left =
        backend.store.query_all(&keys::record_partition(&tenant, RecordKind::Candidate, "c1")).await.expect("query");
    assert!(left.is_empty(), "the purge left {} items behind: {left:?}", left.len());
}

/// With caches that would keep every read for an hour, each change below races the
/// calls that read what it changes: webhooks while their registration's secret is
/// replaced, while the tenant's allow-list is set and while the registration is
/// removed; archived texts while their writer moves to a group that may not write
/// texts, while that group's grants change and while the username claim goes. Once a
/// change has returned, no call is judged by what it replaced. (`providers`: TextUs's
/// webhook check; no provider is called.)
pub async fn changes_reach_cached_reads_at_once(backend: Backend, providers: Providers, tenant: &str) {
    let tenant = TenantId::parse(tenant).expect("tenant");
    let token = format!("{:0<24}", tenant.as_str().replace(|c: char| !c.is_ascii_alphanumeric(), ""));
    seed::textus_registration(&backend, &tenant, &token, "secret-a").await;
    seed::record_phone(&backend, &tenant, "+12065550100", RecordKind::Employee, "e1").await;
    let config = Config { cache_ttl: Duration::from_secs(3600), ..Config::default() };
    let app = App::on(backend.clone(), config).with_providers(providers).shared();
    let caller = admin(&tenant);
    let listed: IpAddr = "192.0.2.7".parse().expect("ip");
    let unlisted: IpAddr = "198.51.100.7".parse().expect("ip");
    let one = |secret: &'static str, source: IpAddr| webhook(app.clone(), token.clone(), secret, source);
    let webhooks = |secret: &'static str, source: IpAddr, n: usize| (0..n).map(|_| one(secret, source)).collect();

    // The secret.
    one("secret-a", unlisted).await.expect("accepted");
    let level = CredentialLevel::System;
    let name = SecretName::credential(&tenant, ProviderKind::TextUs, level.kind(), level.scope()).expect("name");
    let replace = {
        let app = app.clone();
        async move {
            let mut fields = SecretFields::new();
            fields.insert("webhook_secret", SecretString::from("secret-b"));
            app.secrets().expect("secrets").replace(&name, &fields.to_secret_string()).await.map_err(Error::from)
        }
    };
    race(webhooks("secret-a", unlisted, 20), replace).await;
    let old = one("secret-a", unlisted).await;
    assert!(matches!(old, Err(Error::Unauthenticated(_))), "the replaced secret is refused: {old:?}");
    one("secret-b", unlisted).await.expect("the new secret is accepted");

    // The allow-list.
    let set = {
        let (app, caller) = (app.clone(), caller.clone());
        async move {
            let lists = [("textus".to_owned(), vec!["192.0.2.0/24".to_owned()])].into();
            webhook_sources::set(&app, &caller, lists).await.map(drop)
        }
    };
    race(webhooks("secret-b", unlisted, 20), set).await;
    let refused = one("secret-b", unlisted).await;
    assert!(matches!(refused, Err(Error::Forbidden(_))), "an address off the new list is refused: {refused:?}");
    one("secret-b", listed).await.expect("a listed address is accepted");

    // The registration.
    let remove = {
        let (app, key) = (app.clone(), keys::webhook_registration(&token));
        async move { app.store.delete(&key, None).await.map_err(Error::from) }
    };
    race(webhooks("secret-b", listed, 20), remove).await;
    let gone = one("secret-b", listed).await;
    assert!(matches!(gone, Err(Error::NotFound(_))), "a removed registration is unknown: {gone:?}");

    // The writer's security group, its grants and the username claim.
    let group = |name: &str, write: &[&str]| NewSecurityGroup {
        name: name.into(),
        read: vec!["Message".into()],
        write: write.iter().map(|w| (*w).to_owned()).collect(),
    };
    access::create_group(&app, &caller, group("Writers", &["Message"])).await.expect("group");
    access::create_group(&app, &caller, group("Readers", &[])).await.expect("group");
    access::set_member(&app, &caller, "u-cache", Membership { group: "Writers".into() }).await.expect("member");
    let username = ProviderUsername::parse("line-cache").expect("username");
    let claim = UsernameClaim { credential: format!("{}twilio#user#u-cache", keys::CREDENTIAL_PREFIX) };
    let claim_key = keys::username_claim(&tenant, ProviderKind::Twilio, &username);
    app.store.put(&claim.to_item(claim_key.clone()).expect("claim"), None).await.expect("claim");
    let archiver = Arc::new(Archiver::new(app.clone()));
    let sent = std::sync::atomic::AtomicUsize::new(0);
    let text = || {
        let id = format!("SM-cache-{}", sent.fetch_add(1, std::sync::atomic::Ordering::SeqCst));
        let text = MessageEvent {
            provider_username: Some(username.clone()),
            ..seed::inbound_text(ProviderKind::Twilio, &id, "+12065550100", "2026-11-26T10:00:00Z", "hi")
        };
        let (archiver, body) = (archiver.clone(), seed::queued(&tenant, WebhookEvent::Message(text)));
        async move { archiver.handle(&body).await }
    };
    let texts = |n: usize| (0..n).map(|_| text()).collect();
    text().await.expect("a Writer's text is archived");
    let to_readers = {
        let (app, caller) = (app.clone(), caller.clone());
        async move { access::set_member(&app, &caller, "u-cache", Membership { group: "Readers".into() }).await.map(drop) }
    };
    race(texts(10), to_readers).await;
    let refused = text().await;
    assert!(matches!(refused, Err(Error::Forbidden(_))), "a Reader may not write texts: {refused:?}");

    let grant = {
        let (app, caller) = (app.clone(), caller.clone());
        async move {
            let grants = Grants { read: vec!["Message".into()], write: vec!["Message".into()] };
            access::update_group(&app, &caller, "Readers", grants).await.map(drop)
        }
    };
    race(texts(10), grant).await;
    text().await.expect("the group's new grant applies");

    let revoke = {
        let (app, caller) = (app.clone(), caller.clone());
        async move {
            access::update_group(&app, &caller, "Readers", Grants { read: vec!["Message".into()], write: vec![] })
                .await
                .map(drop)
        }
    };
    race(texts(10), revoke).await;
    let refused = text().await;
    assert!(matches!(refused, Err(Error::Forbidden(_))), "the grant is gone again: {refused:?}");
    let unclaim = {
        let app = app.clone();
        async move { app.store.delete(&claim_key, None).await.map_err(Error::from) }
    };
    race(texts(10), unclaim).await;
    text().await.expect("an unattributed text is the default group's, which writes texts");
}

/// Runs `calls` and `change` at the same moment; each call may land before or after
/// the change.
async fn race<F, T>(calls: Vec<F>, change: impl std::future::Future<Output = Result<(), Error>> + Send + 'static)
where
    F: std::future::Future<Output = Result<T, Error>> + Send + 'static,
    T: Send + 'static,
{
    let change = tokio::spawn(change);
    for result in at_once(calls).await {
        if let Err(e) = result {
            assert!(matches!(e, Error::Unauthenticated(_) | Error::Forbidden(_) | Error::NotFound(_)), "{e:?}");
        }
    }
    change.await.expect("task").expect("the change is made");
}

/// One signed TextUs webhook to `token`'s URL from `source`.
async fn webhook(app: Arc<App>, token: String, secret: &'static str, source: IpAddr) -> Result<usize, Error> {
    let body = seed::textus_received(&uuid::Uuid::new_v4().to_string(), "+12065550100", "+12065550199", "hi");
    let mut headers = http::HeaderMap::new();
    headers.insert("x-textus-signature", seed::textus_signature(secret, &body).parse().expect("header"));
    let path = format!("/webhooks/textus/{token}");
    let call = Call {
        provider: "textus",
        token: &token,
        path_and_query: &path,
        headers: &headers,
        body: body.as_bytes(),
        source: Some(source),
    };
    intake::receive(&app, call).await.map(|a| a.accepted)
}
