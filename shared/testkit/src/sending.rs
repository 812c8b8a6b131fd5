//! Sending on any backend, against the Twilio stand-in: racing sends under one
//! `Idempotency-Key` reach the provider once. Each backend's tests call every
//! function here with providers pointed at the stand-in.

use std::collections::BTreeMap;

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
}
