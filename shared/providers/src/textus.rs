//! TextUs (the "Next" API): a Bearer API key per user; the system-level credentials
//! also register the tenant's webhook integration on the account.
//!
//! Levels: system (account slug, username, API key) and user (username, API key);
//! user credentials take the account slug from the system credentials.

use std::collections::BTreeMap;

use async_trait::async_trait;
use reqwest::{
    Method, RequestBuilder,
    header::{ACCEPT, CONTENT_TYPE},
};
use secrecy::{ExposeSecret, SecretString};
use serde_json::{Value, json};
use textbridge_app::ports::{
    Checked, Connection, Credentials, Outbound, Provider, ProviderError, SecretFields, SendReceipt, SubmittedFields,
    WebhookRequest,
};
use textbridge_domain::{
    CredentialLevel, DeliveryStatus, E164, Error, ProviderKind, ProviderUsername, Region, Timestamp, WebhookEvent,
};
use url::Url;

use crate::{
    fields,
    http::{Http, Reply, join, refusal},
    webhooks,
};

const KIND: ProviderKind = ProviderKind::TextUs;

/// The media type of every request and answer body.
const MEDIA_TYPE: &str = "application/vnd.textus+jsonld";

/// Who the API key belongs to. Not in the published reference: kept here alone so it
/// changes in one place.
const VERIFY_PATH: &str = "/me";

/// The most pages of integrations read while looking for an existing registration.
const MAX_PAGES: usize = 50;

const REJECTED: &str = "TextUs rejected the username or API key";
const NEEDS_SYSTEM: &str =
    "TextUs user credentials need the tenant's system-level TextUs credentials (for the account slug); add those first";

/// TextUs over the shared client.
pub(crate) struct TextUs {
    http: Http,
    base: Url,
}

impl TextUs {
    /// TextUs at `base` (e.g. `https://next.textus.com`).
    pub(crate) fn new(http: Http, base: Url) -> Self {
        Self { http, base }
    }

    fn request(&self, method: Method, path: &str, api_key: &SecretString) -> RequestBuilder {
        self.http
            .client()
            .request(method, join(&self.base, path))
            .bearer_auth(api_key.expose_secret())
            .header(ACCEPT, MEDIA_TYPE)
    }

    /// Checks the API key and that it belongs to the credentials' username.
    async fn verify(&self, credentials: &Credentials) -> Result<(), ProviderError> {
        let reply = self.http.send(KIND, self.request(Method::GET, VERIFY_PATH, api_key(credentials)?)).await?;
        match reply.code() {
            401 | 403 => return Err(ProviderError::Rejected(REJECTED.into())),
            _ if !reply.is_success() => return Err(reply.unexpected()),
            _ => {}
        }
        let me: Value = reply.json("the TextUs user", &credentials.secret)?;
        let names: Vec<&str> = ["email", "username"].iter().filter_map(|k| me.get(k).and_then(Value::as_str)).collect();
        let given = credentials.username.as_str();
        if names.is_empty() || names.iter().any(|n| n.trim().to_lowercase() == given) {
            Ok(())
        } else {
            Err(ProviderError::Rejected(format!("the TextUs API key belongs to another user than {given}")))
        }
    }

    /// Every integration of the account (following `view.next`).
    async fn integrations(&self, credentials: &Credentials, account: &str) -> Result<Vec<Value>, ProviderError> {
        let mut members = Vec::new();
        let mut path = format!("/{account}/integrations");
        for _ in 0..MAX_PAGES {
            let reply = self.http.send(KIND, self.request(Method::GET, &path, api_key(credentials)?)).await?;
            account_access(&reply, credentials, account)?;
            let page: Value = reply.json("the TextUs integration list", &credentials.secret)?;
            match page.get("members") {
                Some(Value::Array(items)) => members.extend(items.iter().cloned()),
                None | Some(Value::Null) => {}
                Some(_) => {
                    return Err(ProviderError::Protocol("the TextUs integration list has no member list".into()));
                }
            }
            match page.pointer("/view/next").and_then(Value::as_str) {
                Some(next) if next.starts_with('/') && next != path => path = next.to_owned(),
                _ => return Ok(members),
            }
        }
        Ok(members)
    }

    async fn connect_system(&self, credentials: &Credentials, intake_url: &str) -> Result<Connection, ProviderError> {
        self.verify(credentials).await?;
        let account = account(credentials, None)?;
        let existing = self.integrations(credentials, account).await?;
        let reusable = existing.iter().find(|m| {
            m.pointer("/config/baseUrl").and_then(Value::as_str) == Some(intake_url)
                && m.get("active").and_then(Value::as_bool) == Some(true)
                && m.get("provider").and_then(Value::as_str).is_none_or(|p| p == "webhook")
        });
        let (integration, how) = match reusable {
            Some(member) => (member.clone(), "reused"),
            None => (self.create_integration(credentials, account, intake_url).await?, "created"),
        };
        let id = integration_id(&integration)?;
        let mut secret = SecretFields::new();
        match integration.pointer("/config/webhookSecret").and_then(Value::as_str).filter(|s| !s.is_empty()) {
            Some(webhook_secret) => secret.insert("webhook_secret", SecretString::from(webhook_secret.to_owned())),
            None => match credentials.secret.get("webhook_secret") {
                Some(kept) => secret.insert("webhook_secret", kept.clone()),
                None => tracing::warn!(integration = %id, "TextUs gave no webhook secret for the integration"),
            },
        }
        tracing::info!(integration = %id, how, "TextUs webhook integration in place");
        Ok(Connection { secret, webhook_ids: vec![id] })
    }

    async fn create_integration(
        &self,
        credentials: &Credentials,
        account: &str,
        intake_url: &str,
    ) -> Result<Value, ProviderError> {
        let body = json!({
            "@type": "Integration",
            "@context": "/contexts/Integration.jsonld",
            "active": true,
            "provider": "webhook",
            "config": { "baseUrl": intake_url },
            "settings": { "actions": {
                "message.received": true,
                "message.delivered": true,
                "message.failed": true,
                "contact.opted_out": true,
                "contact.opted_in": true,
            }},
        });
        let request = self
            .request(Method::POST, &format!("/{account}/integrations"), api_key(credentials)?)
            .header(CONTENT_TYPE, MEDIA_TYPE)
            .body(body.to_string());
        let reply = self.http.send(KIND, request).await?;
        account_access(&reply, credentials, account)?;
        reply.json("the created TextUs integration", &credentials.secret)
    }
}

/// Maps the answers to an account-scoped call that name a problem with the account.
fn account_access(reply: &Reply, credentials: &Credentials, account: &str) -> Result<(), ProviderError> {
    match reply.code() {
        401 | 403 => Err(ProviderError::Rejected(format!(
            "the TextUs user {} may not manage the integrations of the account {account}; check the account slug",
            credentials.username
        ))),
        404 => Err(ProviderError::Rejected(format!("TextUs has no account {account}; check the account slug"))),
        _ if !reply.is_success() => Err(reply.unexpected()),
        _ => Ok(()),
    }
}

fn api_key(credentials: &Credentials) -> Result<&SecretString, ProviderError> {
    credentials
        .secret
        .get("api_key")
        .ok_or_else(|| ProviderError::Protocol("the saved TextUs credentials have no API key".into()))
}

/// The account slug: the system credentials' own, or at user level the system
/// credentials' (passed as `system`).
fn account<'a>(credentials: &'a Credentials, system: Option<&'a Credentials>) -> Result<&'a str, ProviderError> {
    let source = match credentials.level {
        CredentialLevel::System => credentials,
        _ => system.ok_or_else(|| ProviderError::Rejected(NEEDS_SYSTEM.into()))?,
    };
    match source.public.get("account_slug") {
        Some(slug) if valid_slug(slug) => Ok(slug),
        Some(_) => Err(ProviderError::Protocol("the saved TextUs account slug is not valid".into())),
        None => Err(ProviderError::Protocol("the saved TextUs system credentials have no account slug".into())),
    }
}

/// An integration's id, `/integrations/<slug>`, checked before it is put in a path.
fn integration_id(integration: &Value) -> Result<String, ProviderError> {
    match integration.get("id").and_then(Value::as_str) {
        Some(id) if is_integration_id(id) => Ok(id.to_owned()),
        _ => Err(ProviderError::Protocol("the TextUs integration has no id of the form /integrations/<id>".into())),
    }
}

fn is_integration_id(id: &str) -> bool {
    id.strip_prefix("/integrations/").is_some_and(valid_slug)
}

/// Letters, digits, `-` and `_`; 1–100 characters.
fn valid_slug(s: &str) -> bool {
    (1..=100).contains(&s.len()) && s.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

#[async_trait]
impl Provider for TextUs {
    fn kind(&self) -> ProviderKind {
        KIND
    }

    fn check(&self, level: &CredentialLevel, submitted: &SubmittedFields) -> Result<Checked, Error> {
        fields::level_allowed(KIND, level, &["system", "user"], "set for the system or for a user, not per branch")?;
        let system = *level == CredentialLevel::System;
        if system {
            fields::only(KIND, submitted, &["account_slug", "username", "api_key"], &[])?;
        } else {
            let slug = [("account_slug", "comes from the system-level TextUs credentials, not a user's")];
            fields::only(KIND, submitted, &["username", "api_key"], &slug)?;
        }
        let mut public = BTreeMap::new();
        if system {
            let slug = fields::text(submitted, "account_slug")?.trim();
            if !valid_slug(slug) {
                return Err(Error::invalid(
                    "account_slug",
                    "must be 1-100 letters, digits, '-' or '_' (the account name in your TextUs URL)",
                ));
            }
            public.insert("account_slug".to_owned(), slug.to_owned());
        }
        let username = ProviderUsername::parse(fields::text(submitted, "username")?)?;
        let mut secret = SecretFields::new();
        secret.insert("api_key", fields::token(submitted, "api_key")?);
        Ok(Checked { username, public, secret })
    }

    fn check_secret(&self, level: &CredentialLevel, submitted: &SubmittedFields) -> Result<SecretFields, Error> {
        fields::level_allowed(KIND, level, &["system", "user"], "set for the system or for a user, not per branch")?;
        let reason = fields::not_replaceable("api_key");
        let shown = [("account_slug", reason.as_str()), ("username", reason.as_str())];
        fields::only(KIND, submitted, &["api_key"], &shown)?;
        let mut secret = SecretFields::new();
        secret.insert("api_key", fields::token(submitted, "api_key")?);
        Ok(secret)
    }

    fn needs_system_first(&self, level: &CredentialLevel) -> bool {
        matches!(level, CredentialLevel::User(_))
    }

    async fn connect(
        &self,
        credentials: &Credentials,
        system: Option<&Credentials>,
        intake_url: &str,
    ) -> Result<Connection, ProviderError> {
        match credentials.level {
            CredentialLevel::System => self.connect_system(credentials, intake_url).await,
            _ => {
                account(credentials, system)?;
                self.verify(credentials).await?;
                Ok(Connection::default())
            }
        }
    }

    async fn test(&self, credentials: &Credentials, system: Option<&Credentials>) -> Result<(), ProviderError> {
        account(credentials, system)?;
        self.verify(credentials).await
    }

    async fn disconnect(&self, credentials: &Credentials, _system: Option<&Credentials>) -> Result<(), ProviderError> {
        if credentials.level != CredentialLevel::System || credentials.webhook_ids.is_empty() {
            return Ok(());
        }
        let account = account(credentials, None)?;
        let mut first_error = None;
        for id in &credentials.webhook_ids {
            let outcome = if is_integration_id(id) {
                let request = self.request(Method::DELETE, &format!("/{account}{id}"), api_key(credentials)?);
                match self.http.send(KIND, request).await {
                    Ok(reply) if reply.is_success() || reply.code() == 404 => Ok(()),
                    Ok(reply) if matches!(reply.code(), 401 | 403) => Err(ProviderError::Rejected(REJECTED.into())),
                    Ok(reply) => Err(reply.unexpected()),
                    Err(e) => Err(e),
                }
            } else {
                Err(ProviderError::Protocol(
                    "a saved TextUs integration id is not of the form /integrations/<id>".into(),
                ))
            };
            if let Err(e) = outcome {
                tracing::warn!(integration = %id, outcome = %credentials.secret.scrub(&e.to_string()), "could not remove a TextUs integration");
                first_error.get_or_insert(e);
            }
        }
        first_error.map_or(Ok(()), Err)
    }

    async fn send(
        &self,
        credentials: &Credentials,
        system: Option<&Credentials>,
        text: &Outbound<'_>,
    ) -> Result<SendReceipt, ProviderError> {
        let account = account(credentials, system)?;
        let body = json!({ "to": text.to.to_string(), "body": text.body });
        let request = self
            .request(Method::POST, &format!("/{account}/messages"), api_key(credentials)?)
            .header(CONTENT_TYPE, MEDIA_TYPE)
            .body(body.to_string());
        let reply = self.http.send_once(KIND, request).await?;
        match reply.code() {
            401 | 403 => return Err(ProviderError::Rejected(REJECTED.into())),
            404 => {
                return Err(ProviderError::Rejected(format!(
                    "TextUs has no account {account}; check the account slug"
                )));
            }
            400 | 409 | 422 => return Err(refusal(KIND, &reply, &credentials.secret)),
            _ if !reply.is_success() => return Err(reply.unexpected()),
            _ => {}
        }
        let message: Value = reply.json("the sent TextUs message", &credentials.secret)?;
        let id = message
            .get("id")
            .and_then(Value::as_str)
            .filter(|id| !id.trim().is_empty())
            .ok_or_else(|| ProviderError::Protocol("the sent TextUs message has no id".into()))?;
        let status = match message.get("deliveryState").and_then(Value::as_str) {
            Some("delivered") => DeliveryStatus::Delivered,
            Some("sent") => DeliveryStatus::Sent,
            Some("failed" | "undelivered") => DeliveryStatus::Failed,
            _ => DeliveryStatus::Queued,
        };
        let our_number = ["/conversation/accountPhoneNumber", "/accountPhoneNumber"]
            .iter()
            .find_map(|p| message.pointer(p).and_then(Value::as_str))
            .and_then(|n| E164::parse(n, text.region).ok());
        Ok(SendReceipt { provider_message_id: id.to_owned(), our_number, status })
    }

    fn verify_webhook(&self, request: &WebhookRequest<'_>, secrets: &SecretFields) -> Result<(), Error> {
        webhooks::textus::verify(request, secrets)
    }

    fn parse_webhook(
        &self,
        request: &WebhookRequest<'_>,
        region: Region,
        received_at: Timestamp,
    ) -> Result<Vec<WebhookEvent>, Error> {
        webhooks::textus::parse(request.body, region, received_at)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slugs_and_ids() {
        assert!(valid_slug("acme_staffing-2"));
        assert!(!valid_slug("acme/other") && !valid_slug("") && !valid_slug("a b"));
        assert!(is_integration_id("/integrations/0yX2VrJ"));
        assert!(!is_integration_id("/integrations/../x") && !is_integration_id("/other/0yX2VrJ"));
    }
}
