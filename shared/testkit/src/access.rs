//! Message action types and security groups on any backend: the permission matrix
//! (every group × type × read / write, through the real read and write paths) and
//! racing creates. Each backend's tests call every function here.

use textbridge_app::{
    App, Backend, Config,
    access::{self, Grants, Membership, NewActionType, NewSecurityGroup},
    archive::Archiver,
    items::{ConversationEntry, Stored, UsernameClaim},
    keys, records,
    worker::MessageHandler,
};
use textbridge_domain::{
    DeliveryStatus, Direction, Error, Identity, ProviderKind, ProviderUsername, RecordKind, Role, TenantId,
    WebhookEvent,
};

use crate::{races::at_once, seed};

/// A caller of `tenant` with `role`.
pub fn caller(tenant: &TenantId, user: &str, role: Role) -> Identity {
    Identity {
        tenant: tenant.clone(),
        user_id: user.parse().expect("id"),
        username: format!("{user}@example.test").parse().expect("username"),
        role,
        permission_group: "Texters".parse().expect("group"),
    }
}

const TYPES: [&str; 6] = ["AR", "Message", "Sales", "Secure", "Payroll", "Legal"];

/// `(group, user, reads, writes)`: the expected matrix, written out by hand.
const MATRIX: [(&str, &str, &[&str], &[&str]); 4] = [
    ("Default", "u-default", &["AR", "Message", "Sales", "Payroll"], &["AR", "Message", "Sales", "Payroll"]),
    ("Secure desk", "u-secure", &["AR", "Message", "Sales", "Secure", "Payroll", "Legal"], &["Secure", "Legal"]),
    ("AR only", "u-ar", &["AR"], &["AR"]),
    ("Writers", "u-writers", &[], &["Message", "Sales"]),
];

fn entry(t: &str) -> ConversationEntry {
    ConversationEntry {
        provider: ProviderKind::Twilio,
        provider_message_id: format!("SM-{t}"),
        direction: Direction::Inbound,
        body: format!("a {t} note"),
        occurred_at: "2026-11-26T09:00:00Z".parse().expect("time"),
        time_received: false,
        our_number: Some("+12065550199".parse().expect("e164")),
        their_number: "+12065550100".parse().expect("e164"),
        texting_user: None,
        provider_username: None,
        unattributed: true,
        status: DeliveryStatus::Received,
        action_type: t.to_owned(),
        event: None,
    }
}

/// Every group × action type × read / write: reads through the conversation route's
/// use-case (a message of a type the group may not read is not returned), writes
/// through the access check every write makes, and for `Message` through the
/// archiver itself (a text attributed to the group's member).
pub async fn permission_matrix(backend: Backend, tenant: &str) {
    let tenant = TenantId::parse(tenant).expect("tenant");
    let app = App::on(backend.clone(), Config::default()).shared();
    let admin = caller(&tenant, "admin-1", Role::CustomerAdmin);
    access::add_type(&app, &admin, NewActionType { name: "Payroll".into(), secure: false }).await.expect("type");
    access::add_type(&app, &admin, NewActionType { name: "Legal".into(), secure: true }).await.expect("type");
    let names = |v: &[&str]| v.iter().map(|s| (*s).to_owned()).collect::<Vec<_>>();
    for (group, user, reads, writes) in &MATRIX[1..] {
        let new = NewSecurityGroup { name: (*group).into(), read: names(reads), write: names(writes) };
        access::create_group(&app, &admin, new).await.expect("group");
        access::set_member(&app, &admin, user, Membership { group: (*group).into() }).await.expect("member");
    }
    seed::record_phone(&backend, &tenant, "+12065550100", RecordKind::Employee, "e1").await;
    for t in TYPES {
        let e = entry(t);
        let key = keys::conversation_entry(
            &tenant,
            RecordKind::Employee,
            "e1",
            &e.occurred_at,
            e.provider,
            &e.provider_message_id,
        );
        backend.store.put(&e.to_item(key).expect("item"), None).await.expect("entry");
    }
    let archiver = Archiver::new(app.clone());
    for (group, user, reads, writes) in MATRIX {
        let me = caller(&tenant, user, Role::User);
        let page = records::conversation(&app, &me, RecordKind::Employee, "e1", None, 100).await.expect("conversation");
        let access = access::access(&app, &me).await.expect("access");
        assert_eq!(access.group, group);
        for t in TYPES {
            let shown = page.messages.iter().any(|m| m.action_type() == t);
            assert_eq!(shown, reads.contains(&t), "{group} reads {t}");
            assert_eq!(access.can_write(t), writes.contains(&t), "{group} writes {t}");
        }
        // The archiver writes a text attributed to this user as type Message.
        let username = ProviderUsername::parse(&format!("line-{user}")).expect("username");
        let claim = UsernameClaim { credential: format!("CRED#twilio#user#{user}") };
        let claim_key = keys::username_claim(&tenant, ProviderKind::Twilio, &username);
        backend.store.put(&claim.to_item(claim_key).expect("claim"), None).await.expect("claim");
        let text = textbridge_domain::MessageEvent {
            provider_username: Some(username),
            ..seed::inbound_text(
                ProviderKind::Twilio,
                &format!("SM-by-{user}"),
                "+12065550100",
                "2026-11-26T10:00:00Z",
                "hi",
            )
        };
        let outcome = archiver.handle(&seed::queued(&tenant, WebhookEvent::Message(text))).await;
        match (writes.contains(&"Message"), outcome) {
            (true, Ok(())) => {}
            (false, Err(Error::Forbidden(why))) => assert!(why.contains(group) && why.contains("Message"), "{why}"),
            (may, other) => panic!("{group}: may write Message = {may}, archiver gave {other:?}"),
        }
    }
    // Changing the default group takes effect on its members at once.
    let grants = Grants { read: vec!["AR".into()], write: vec![] };
    access::update_group(&app, &admin, "default", grants).await.expect("update default");
    let plain = caller(&tenant, "u-default", Role::User);
    let page = records::conversation(&app, &plain, RecordKind::Employee, "e1", None, 100).await.expect("page");
    assert_eq!(page.messages.iter().map(|m| m.action_type()).collect::<Vec<_>>(), ["AR"]);
}

/// Ten creates of one group and ten of one action type at the same moment: one of
/// each wins, every other is a 409, and the membership transaction refuses a group
/// that does not exist.
pub async fn racing_creates(backend: Backend, tenant: &str) {
    let tenant = TenantId::parse(tenant).expect("tenant");
    let app = App::on(backend, Config::default()).shared();
    let admin = caller(&tenant, "admin-1", Role::CustomerAdmin);
    let groups = at_once((0..10).map(|i| {
        let (app, admin) = (app.clone(), admin.clone());
        async move {
            let new = NewSecurityGroup {
                name: "Night shift".into(),
                read: vec!["AR".into()],
                write: vec![["AR", "Sales"][i % 2].into()],
            };
            access::create_group(&app, &admin, new).await
        }
    }))
    .await;
    assert_outcomes(&groups);
    let types =
        at_once(
            (0..10).map(|_| {
                let (app, admin) = (app.clone(), admin.clone());
                async move {
                    access::add_type(&app, &admin, NewActionType { name: "Onboarding".into(), secure: false }).await
                }
            }),
        )
        .await;
    assert_outcomes(&types);
    let err = access::set_member(&app, &admin, "u-1", Membership { group: "Day shift".into() }).await.unwrap_err();
    assert!(matches!(&err, Error::Invalid { field, .. } if field == "group"), "{err:?}");
    let listed = access::list_groups(&app, &admin).await.expect("list");
    assert_eq!(listed.iter().map(|g| g.name.as_str()).collect::<Vec<_>>(), ["Default", "Night shift"]);
}

fn assert_outcomes<T: std::fmt::Debug>(outcomes: &[Result<T, Error>]) {
    let won = outcomes.iter().filter(|o| o.is_ok()).count();
    let clashed = outcomes.iter().filter(|o| matches!(o, Err(Error::Conflict { .. }))).count();
    assert_eq!((won, clashed), (1, outcomes.len() - 1), "{outcomes:?}");
}
