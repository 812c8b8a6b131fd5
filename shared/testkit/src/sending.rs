//! Sending on any backend, against the Twilio stand-in: racing sends under one
//! `Idempotency-Key` reach the provider once. Each backend's tests call every
//! function here with providers pointed at the stand-in.

use std::collections::{BTreeMap, BTreeSet};

use textbridge_app::{
    App, Backend, Config,
    items::{CredentialItem, GroupItem, Stored},
    keys,
    ports::{Providers, SecretFields, SecretName},
    send::{self, SendRequest},
};
use textbridge_domain::{CredentialLevel, Error, Identity, ProviderKind, ProviderUsername, Role, TenantId};

use crate::{races::at_once, twilio};

/// A texting user of `tenant` in the permission group `Texters` (Can Text once
/// [`twilio_sender`] ran).
pub fn texter(tenant: &TenantId, user: &str) -> Identity {
    Identity {
        tenant: tenant.clone(),
        user_id: user.parse().expect("id"),
        username: format!("{user}@example.test").parse().expect("username"),
        role: Role::User,
        permission_group: "Texters".parse().expect("group"),
    }
}

/// The Twilio account of the sending stand-ins.
pub const TWILIO_SID: &str = "AC0123456789abcdef0123456789abcdef";
/// Its auth token.
pub const TWILIO_TOKEN: &str = "f00dfeedf00dfeedf00dfeedf00dfeed";

/// Starts a Twilio stand-in with one number and makes `tenant` send through it
/// ([`twilio_sender`] with [`TWILIO_SID`] and [`TWILIO_TOKEN`]).
pub async fn twilio_tenant(backend: &Backend, tenant: &TenantId) -> twilio::StandIn {
    let stand_in = twilio::StandIn::start(TWILIO_SID, TWILIO_TOKEN, &["PN11111111111111111111111111111111"]).await;
    twilio_sender(backend, tenant, TWILIO_SID, TWILIO_TOKEN).await;
    stand_in
}

/// Saves Twilio system credentials of `tenant` for the stand-in account `sid` /
/// `auth_token` (as a connected save leaves them), and a `Texters` group with Can Text.
pub async fn twilio_sender(backend: &Backend, tenant: &TenantId, sid: &str, auth_token: &str) {
    let level = CredentialLevel::System;
    let item = CredentialItem {
        provider: ProviderKind::Twilio,
        level: "system".into(),
        scope: "-".into(),
        username: ProviderUsername::parse(sid).expect("username"),
        fields: BTreeMap::from([("account_sid".to_owned(), sid.to_owned())]),
        status: "connected".into(),
        status_message: "connected".into(),
        status_at: "2026-11-26T09:00:00Z".into(),
        webhook_ids: Vec::new(),
        hook_token: format!("hook-{tenant}"),
        attempt: None,
        connecting_until: None,
        created_by: None,
        last_test_at: None,
        last_test_ok: None,
        last_test_message: None,
    };
    let key = keys::credential(tenant, ProviderKind::Twilio, &level);
    backend.store.put(&item.to_item(key).expect("item"), None).await.expect("credentials");
    let mut secret = SecretFields::new();
    secret.insert("auth_token", auth_token.to_owned().into());
    let name = SecretName::credential(tenant, ProviderKind::Twilio, level.kind(), level.scope()).expect("name");
    backend.secrets.create(&name, &secret.to_secret_string()).await.expect("secret");
    let group = GroupItem { name: "Texters".into(), can_text: true };
    let key = keys::permission_group(tenant, "Texters");
    backend.store.put(&group.to_item(key).expect("item"), None).await.expect("group");
}

/// Ten sends of one text under one `Idempotency-Key`, at the same moment: the
/// stand-in receives it once; every other call answers the same send or says it is
/// under way; a later call with the key answers it again.
pub async fn racing_sends_with_one_key(
    backend: Backend,
    providers: Providers,
    tenant: &str,
    stand_in: &twilio::StandIn,
) {
    let tenant = TenantId::parse(tenant).expect("tenant");
    let app = App::on(backend.clone(), Config::default()).with_providers(providers).shared();
    let me = texter(&tenant, "u-1");
    let request = || SendRequest {
        provider: ProviderKind::Twilio,
        to: Some("+12065550142".into()),
        record: None,
        body: "Can you cover Friday?".into(),
    };
    let before = stand_in.sent().len();
    let outcomes = at_once((0..10).map(|_| {
        let (app, me, request) = (app.clone(), me.clone(), request());
        async move { send::send(&app, &me, request, Some("race-key-1")).await }
    }))
    .await;
    let firsts: Vec<_> = outcomes.iter().filter_map(|o| o.as_ref().ok()).filter(|s| !s.replayed).collect();
    assert_eq!(firsts.len(), 1, "{outcomes:?}");
    for outcome in &outcomes {
        match outcome {
            Ok(sent) => assert_eq!(sent.provider_message_id, firsts[0].provider_message_id),
            Err(Error::Conflict { message, .. }) => assert!(message.contains("under way"), "{message}"),
            Err(other) => panic!("{other:?}"),
        }
    }
    let again = send::send(&app, &me, request(), Some("race-key-1")).await.expect("answered again");
    assert!(again.replayed && again.provider_message_id == firsts[0].provider_message_id);
    assert_eq!(stand_in.sent().len() - before, 1, "sent once");

    // A send that stopped between its claim and its outcome is never repeated.
    let stopped = textbridge_app::items::SendClaim {
        state: "sending".into(),
        provider: ProviderKind::Twilio,
        to: "+12065550142".parse().expect("number"),
        body: "Can you cover Friday?".into(),
        result: None,
        reason: None,
        claimed_at: 1,
    };
    let key = keys::send_claim(&tenant, &me.user_id, "stopped-key");
    backend.store.put(&stopped.to_item(key).expect("item"), None).await.expect("claim");
    match send::send(&app, &me, request(), Some("stopped-key")).await {
        Err(Error::Conflict { message, .. }) => assert!(message.contains("not repeated"), "{message}"),
        other => panic!("{other:?}"),
    }
    assert_eq!(stand_in.sent().len() - before, 1, "still sent once");
}

/// Handles every queued message with `handler` until the queue is empty; a message
/// whose handling fails is left to come back (as the worker loop does).
pub async fn drain(backend: &Backend, handler: &dyn textbridge_app::worker::MessageHandler) {
    for _ in 0..10_000 {
        let batch = backend.queue.receive(10, std::time::Duration::from_secs(1)).await.expect("receive");
        if batch.is_empty() {
            let depth = backend.queue.depth().await.expect("depth");
            if depth.visible + depth.in_flight == 0 {
                return;
            }
            tokio::time::sleep(std::time::Duration::from_millis(200)).await;
            continue;
        }
        for message in batch {
            if handler.handle(&message.body).await.is_ok() {
                backend.queue.delete(&message.receipt).await.expect("delete");
            }
        }
    }
    panic!("the queue did not empty");
}

/// A mass text of 60 on any backend: 3 numbers opted out, 2 the provider refuses,
/// a burst of 429s, one recipient whose claim a dead worker left, and a worker that
/// stopped with a batch in hand. The report is exact, nothing is sent twice, the
/// stale claim is reported as unknown and never sent.
pub async fn mass_text_reports_each_recipient_once(
    backend: Backend,
    providers: Providers,
    tenant: &str,
    stand_in: &twilio::StandIn,
) {
    use textbridge_app::{archive::Archiver, mass, optout};
    let tenant = TenantId::parse(tenant).expect("tenant");
    let config = Config { visibility_timeout: std::time::Duration::from_secs(1), ..Config::default() };
    let app = App::on(backend.clone(), config).with_providers(providers).shared();
    let number = |i: usize| format!("+1206556{i:04}");
    for i in [3, 17, 41] {
        let source = optout::Source::Provider(ProviderKind::Twilio);
        let at = "2026-11-26T08:00:00Z".parse().expect("time");
        optout::record(&app, &tenant, &number(i).parse().expect("number"), true, at, &source).await.expect("opt out");
    }
    for i in [5, 50] {
        stand_in.fail_sends_to(&number(i));
    }
    stand_in.throttle_next_sends(7);
    let before = stand_in.sent().len();
    let request = mass::MassRequest {
        provider: ProviderKind::Twilio,
        to: (0..60).map(number).collect(),
        records: Vec::new(),
        body: "Open shifts this weekend: reply YES".into(),
    };
    let accepted = mass::start(&app, &texter(&tenant, "u-1"), request).await.expect("accepted");
    assert_eq!(accepted.recipients, 60);

    // A worker died after claiming recipient 9 (its lease has ended).
    let stale = keys::job_recipient(&tenant, &accepted.job, 9);
    let claimed =
        textbridge_app::ports::Update::default().set("state", "sending").set("lease_until", 1).set("attempt", 1);
    backend.store.update(&stale, &claimed, None).await.expect("stale claim");
    // Another stopped with a batch in hand: those messages come back after 1 s.
    let taken = backend.queue.receive(10, std::time::Duration::from_secs(1)).await.expect("receive");
    assert_eq!(taken.len(), 10);

    let archiver = Archiver::new(app.clone());
    drain(&backend, &archiver).await;
    let report = mass::progress(&app, &texter(&tenant, "u-1"), &accepted.job).await.expect("progress");
    assert_eq!(
        (report.total, report.sent, report.skipped, report.failed, report.queued, report.sending, report.done),
        (60, 54, 3, 3, 0, 0, true),
        "{report:?}"
    );
    for (i, r) in report.recipients.iter().enumerate() {
        let want = match i {
            3 | 17 | 41 => "skipped",
            5 | 50 | 9 => "failed",
            _ => "sent",
        };
        assert_eq!((r.to.as_str(), r.state.as_str()), (number(i).as_str(), want), "{r:?}");
    }
    assert!(report.recipients[5].reason.as_deref().is_some_and(|r| r.contains("not a valid phone number")));
    assert!(report.recipients[9].reason.as_deref().is_some_and(|r| r.contains("unknown")));
    let sent: Vec<String> = stand_in.sent()[before..].iter().map(|t| t.to.clone()).collect();
    let distinct: BTreeSet<&String> = sent.iter().collect();
    assert_eq!((sent.len(), distinct.len()), (54, 54), "each once");
    assert!(!sent.contains(&number(9)), "a stale claim is never sent again");
    assert!(stand_in.throttled_answers() >= 7);

    // A sender whose group loses Can Text while the job waits sends nothing more:
    // the sender is checked again for every recipient.
    let request = mass::MassRequest {
        provider: ProviderKind::Twilio,
        to: (100..105).map(number).collect(),
        records: Vec::new(),
        body: "Last call for Saturday".into(),
    };
    let accepted = mass::start(&app, &texter(&tenant, "u-1"), request).await.expect("accepted");
    let revoked = GroupItem { name: "Texters".into(), can_text: false };
    let key = keys::permission_group(&tenant, "Texters");
    backend.store.put(&revoked.to_item(key).expect("item"), None).await.expect("group");
    let before = stand_in.sent().len();
    drain(&backend, &archiver).await;
    let report = mass::progress(&app, &texter(&tenant, "u-1"), &accepted.job).await.expect("progress");
    assert_eq!((report.failed, report.sent, report.done), (5, 0, true), "{report:?}");
    assert!(report.recipients.iter().all(|r| r.reason.as_deref().is_some_and(|r| r.contains("Can Text"))));
    assert_eq!(stand_in.sent().len(), before, "nothing sent after Can Text was taken away");
}
