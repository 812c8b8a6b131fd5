//! Webhook intake (SPEC S2): authenticate the provider's call, parse it into
//! provider-neutral events and put them on the intake queue. It answers only after
//! the events are durably queued, and never archives inline.

use std::sync::Arc;

use serde::Serialize;
use textbridge_domain::{Error, ProviderKind, Timestamp, WebhookEvent};

use crate::{
    App,
    envelope::Envelope,
    items::{self, Registration},
    keys,
    metrics::{self, Metric},
    ports::{PortError, SecretFields, SecretName, WebhookRequest},
    webhook_sources,
};

/// What intake accepted.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
#[schema(as = WebhookAccepted)]
pub struct Accepted {
    /// How many events were queued.
    pub accepted: usize,
}

/// A webhook call, before anything is known about it.
#[derive(Debug, Clone, Copy)]
pub struct Call<'a> {
    /// The provider named in the URL.
    pub provider: &'a str,
    /// The registration token in the URL.
    pub token: &'a str,
    /// The path and query the provider called (`/webhooks/textus/…?…`).
    pub path_and_query: &'a str,
    /// Headers.
    pub headers: &'a http::HeaderMap,
    /// The raw body.
    pub body: &'a [u8],
    /// The address the call came from, when known.
    pub source: Option<std::net::IpAddr>,
}

fn unknown() -> Error {
    Error::NotFound("unknown webhook".into())
}

/// Authenticates, parses and queues one webhook call; counts it accepted or
/// rejected (an unavailable queue is neither: the provider sends it again).
pub async fn receive(app: &Arc<App>, call: Call<'_>) -> Result<Accepted, Error> {
    let result = accept(app, call).await;
    match &result {
        Ok(_) => metrics::count(Metric::WebhooksAccepted, 1),
        Err(e) if e.is_bad_input() || matches!(e, Error::NotFound(_) | Error::Forbidden(_)) => {
            metrics::count(Metric::WebhooksRejected, 1);
        }
        Err(_) => {}
    }
    result
}

async fn accept(app: &Arc<App>, call: Call<'_>) -> Result<Accepted, Error> {
    let provider_kind: ProviderKind = call.provider.parse().map_err(|_| unknown())?;
    let valid_token = (16..=128).contains(&call.token.len()) && call.token.bytes().all(|b| b.is_ascii_alphanumeric());
    if !valid_token {
        return Err(unknown());
    }
    let key = keys::webhook_registration(call.token);
    let registration = app
        .caches
        .registrations
        .get_or_load(&key.pk, "", || async {
            items::get::<Registration>(app.store.as_ref(), &key).await?.ok_or_else(unknown)
        })
        .await?;
    if registration.provider != provider_kind {
        return Err(unknown());
    }
    let tenant = registration.tenant.clone();
    tracing::Span::current().record("tenant", tenant.as_str());
    let level = registration.level()?;
    let provider = app.providers.get(provider_kind)?;
    if !webhook_sources::allows(app, &tenant, provider_kind, call.source).await? {
        tracing::warn!(provider = %provider_kind, "webhook from an address not on the allow-list");
        return Err(Error::Forbidden("this address may not post webhooks here".into()));
    }

    let name = SecretName::credential(&tenant, provider_kind, level.kind(), level.scope())?;
    let url = format!("{}{}", app.config.public_base_url, call.path_and_query);
    let received_at = Timestamp::new(app.clock.now()).map_err(Error::unexpected)?;
    let request = WebhookRequest { url: &url, headers: call.headers, body: call.body, received_at };
    let secrets = registration_secret(app, &name).await?;
    if provider.verify_webhook(&request, &secrets).is_err() {
        // The secret may have been replaced since it was cached: check once more.
        app.caches.secrets.forget(name.as_str());
        provider.verify_webhook(&request, &registration_secret(app, &name).await?)?;
    }
    let events = provider.parse_webhook(&request, app.config.default_region, received_at)?;

    // User-level credentials belong to one person: their texts are theirs. A system
    // or branch registration's username names an account, never a texting user.
    let line_username = match level {
        textbridge_domain::CredentialLevel::User(_) => registration.username.clone(),
        _ => None,
    };
    let bodies = events
        .into_iter()
        .map(|mut event| {
            if let WebhookEvent::Message(m) = &mut event
                && m.provider_username.is_none()
            {
                m.provider_username.clone_from(&line_username);
            }
            Envelope::webhook_event(&tenant, &event).map(|e| e.to_body())
        })
        .collect::<Result<Vec<_>, Error>>()?;
    if !bodies.is_empty() {
        app.queue()?.send_batch(&bodies).await.map_err(|e| {
            tracing::error!(error = %e, "intake queue unavailable");
            Error::Unavailable("the intake queue is unavailable; retry".into())
        })?;
    }
    tracing::info!(provider = %provider_kind, events = bodies.len(), "webhook accepted");
    Ok(Accepted { accepted: bodies.len() })
}

/// The secret fields of a registration's credentials (a missing secret is a bad
/// signature: the credentials are being removed).
async fn registration_secret(app: &Arc<App>, name: &SecretName) -> Result<SecretFields, Error> {
    app.caches
        .secrets
        .get_or_load(name.as_str(), "", || async {
            match app.secrets()?.get(name).await {
                Ok(stored) => SecretFields::from_secret_string(&stored),
                Err(PortError::NotFound(_)) => Err(Error::Unauthenticated("invalid webhook signature".into())),
                Err(e) => Err(e.into()),
            }
        })
        .await
}
