//! Seeds state through the ports, for tests and benchmarks that start after setup.

use textbridge_app::{
    App, Backend, Config,
    items::{DirectoryEntry, GroupItem, RecordItem, Stored},
    keys,
    ports::{Item, SecretFields, SecretName},
};
use textbridge_domain::{
    CredentialLevel, DeliveryStatus, Direction, E164, MessageEvent, ProviderKind, RecordKind, TenantId, Timestamp,
    WebhookEvent,
};

/// Registers TextUs system credentials of `tenant` whose webhooks arrive at
/// `/webhooks/textus/{token}` signed with `webhook_secret`.
pub async fn textus_registration(backend: &Backend, tenant: &TenantId, token: &str, webhook_secret: &str) {
    let level = CredentialLevel::System;
    let mut secret = SecretFields::new();
    secret.insert("webhook_secret", webhook_secret.to_owned().into());
    let name = SecretName::credential(tenant, ProviderKind::TextUs, level.kind(), level.scope()).expect("name");
    backend.secrets.create(&name, &secret.to_secret_string()).await.expect("secret");
    let registration = Item::new(keys::webhook_registration(token))
        .with("tenant", tenant.as_str())
        .with("provider", "textus")
        .with("level", "system")
        .with("scope", "-");
    backend.store.put(&registration, None).await.expect("registration");
}

/// A texting user to create directly with `users::create`: Pat Lee, role User, the
/// default permission group, no area code, team or ATS id.
pub fn new_user(email: &str) -> textbridge_app::users::NewUser {
    textbridge_app::users::NewUser {
        user_id: None,
        email: email.parse().expect("email"),
        first_name: "Pat".parse().expect("name"),
        last_name: "Lee".parse().expect("name"),
        role: textbridge_domain::Role::User,
        area_code: None,
        permission_group: textbridge_app::users::DEFAULT_GROUP.parse().expect("group"),
        team_id: None,
        ats_id: None,
        source: "manual",
    }
}

/// Adds texting user `id` of `tenant` in the permission group `Texters`, which
/// grants Can Text (user-level provider credentials need both).
pub async fn texting_user(backend: &Backend, tenant: &TenantId, id: &str) {
    let group = GroupItem { name: "Texters".into(), can_text: true };
    let item = group.to_item(keys::permission_group(tenant, "Texters")).expect("item");
    backend.store.put(&item, None).await.expect("group");
    let app = App::on(backend.clone(), Config::default()).shared();
    let new = textbridge_app::users::NewUser {
        user_id: Some(id.parse().expect("user id")),
        permission_group: "Texters".parse().expect("group"),
        ..new_user(&format!("{id}@{tenant}.test"))
    };
    textbridge_app::users::create(&app, tenant, new, textbridge_app::users::LicencePolicy::None, false)
        .await
        .expect("texting user");
}

/// Connects `tenant` to the ATS directory at `base_url` with `token`, as a save that
/// found it answering would (integration on, listed for the scheduled run).
pub async fn ats_connection(backend: &Backend, tenant: &TenantId, base_url: &str, token: &str) {
    use textbridge_app::{
        ats_connection,
        items::{AtsConnectionItem, AtsIntegrationItem},
    };
    let name = ats_connection::token_name(tenant).expect("name");
    backend.secrets.create(&name, &token.to_owned().into()).await.expect("token");
    let connection = AtsConnectionItem {
        connector: textbridge_app::ports::AtsConnector::Rest,
        base_url: base_url.to_owned(),
        record_kinds: vec![RecordKind::Employee],
        full_access_role: textbridge_domain::Role::User,
        status: "connected".into(),
        status_message: "connected".into(),
        status_at: "2026-11-26T10:00:00Z".parse().expect("time"),
    };
    let items = [
        connection.to_item(keys::ats_connection(tenant)).expect("item"),
        AtsIntegrationItem { enabled: true }.to_item(keys::ats_integration(tenant)).expect("item"),
        Item::new(ats_connection::listing(tenant)).with("tenant", tenant.as_str()),
    ];
    for item in &items {
        backend.store.put(item, None).await.expect("connection");
    }
}

/// Puts `number` on the directory record `kind`/`id` of `tenant`.
pub async fn record_phone(backend: &Backend, tenant: &TenantId, number: &str, kind: RecordKind, id: &str) {
    let number: E164 = number.parse().expect("E.164 number");
    let record = RecordItem {
        kind,
        id: id.to_owned(),
        name: None,
        phones: vec![number.clone()],
        version: 1,
        rematch: vec![],
        rematch_at: None,
    };
    backend.store.put(&record.to_item(keys::record(tenant, kind, id)).expect("item"), None).await.expect("record");
    let phone = DirectoryEntry { kind, id: id.to_owned() }.to_item(keys::record_phone(tenant, &number, kind, id));
    backend.store.put(&phone.expect("item"), None).await.expect("record phone");
}

/// Signs a TextUs webhook body (lowercase hex HMAC-SHA256).
pub fn textus_signature(secret: &str, body: &str) -> String {
    use hmac::Mac;
    let mut mac = hmac::Hmac::<sha2::Sha256>::new_from_slice(secret.as_bytes()).expect("key");
    mac.update(body.as_bytes());
    mac.finalize().into_bytes().iter().map(|b| format!("{b:02x}")).collect()
}

/// A TextUs `message.received` delivery from `their` number to `ours`.
pub fn textus_received(id: &str, their: &str, ours: &str, text: &str) -> String {
    serde_json::json!({
        "@type": "WebhookDelivery", "@context": "/contexts/WebhookDelivery.jsonld",
        "id": format!("/integrations/0yX2VrJ/deliveries/{id}"), "timestamp": "2026-11-23T18:00:00.000Z",
        "action": "message.received", "webHook": "/integrations/0yX2VrJ",
        "conversation": {"@type": "Conversation", "id": "/conversations/JYnJBY", "phoneNumber": their,
            "accountPhoneNumber": ours},
        "message": {"@type": "Message", "id": format!("/messages/{id}"), "direction": "in", "body": text}
    })
    .to_string()
}

/// An inbound text of `provider` from `their` number to +12065550199, at `at`
/// (RFC 3339), as a provider parser would report it.
pub fn inbound_text(provider: ProviderKind, id: &str, their: &str, at: &str, body: &str) -> MessageEvent {
    MessageEvent {
        provider,
        provider_message_id: id.to_owned(),
        direction: Direction::Inbound,
        our_number: Some("+12065550199".parse().expect("e164")),
        their_number: their.parse().expect("e164"),
        body: body.to_owned(),
        occurred_at: at.parse::<Timestamp>().expect("time"),
        time_received: false,
        provider_username: None,
        status: DeliveryStatus::Received,
    }
}

/// The queue message body of `event` of `tenant`.
pub fn queued(tenant: &TenantId, event: WebhookEvent) -> String {
    textbridge_app::envelope::Envelope::webhook_event(tenant, &event).expect("envelope").to_body()
}
