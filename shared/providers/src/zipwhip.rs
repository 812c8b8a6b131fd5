//! Zipwhip: a line's username (its phone number) and password log in once; the
//! session key that hands back is kept as a secret and used for every later call.
//! Connecting registers the line's message webhooks (`receive` and `send`).
//!
//! Levels: system, branch and user (Zipwhip contracts are per branch or per user).

use std::collections::BTreeMap;

use async_trait::async_trait;
use reqwest::header::{ACCEPT, CONTENT_TYPE};
use secrecy::{ExposeSecret, SecretString};
use serde_json::Value;
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
    http::{Http, Reply, form, join},
    webhooks,
};

const KIND: ProviderKind = ProviderKind::Zipwhip;

/// The message events registered to the intake URL.
const EVENTS: [&str; 2] = ["receive", "send"];

const LOGIN_REJECTED: &str = "Zipwhip rejected the username or password";
const SESSION_REJECTED: &str = "Zipwhip no longer accepts the saved session; replace the password";
const PHONE_RULE: &str =
    "the phone number part must be digits only, with no parentheses, dashes or spaces (e.g. alex@6512345678)";

/// Zipwhip over the shared client.
pub(crate) struct Zipwhip {
    http: Http,
    base: Url,
}

/// A registered webhook as `webhook/list` and `webhook/add` describe it.
struct Webhook<'a>(&'a Value);

impl Webhook<'_> {
    fn text(&self, name: &str) -> Option<&str> {
        self.0.get(name).and_then(Value::as_str)
    }

    /// Whether this is the message `event` webhook posting to `url`.
    fn is(&self, event: &str, url: &str) -> bool {
        self.text("type").is_none_or(|t| t == "message")
            && self.text("event") == Some(event)
            && self.text("url") == Some(url)
    }

    /// The id exactly as sent: ids exceed 2^53, so they never pass through a float.
    fn id(&self) -> Result<String, ProviderError> {
        let id = match self.0.get("webhookId") {
            Some(Value::Number(n)) => n.as_u64().map(|v| v.to_string()).or_else(|| n.as_i64().map(|v| v.to_string())),
            Some(Value::String(s)) if !s.trim().is_empty() => Some(s.trim().to_owned()),
            _ => None,
        };
        id.ok_or_else(|| ProviderError::Protocol("a Zipwhip webhook has no whole-number webhookId".into()))
    }
}

impl Zipwhip {
    /// Zipwhip at `base` (e.g. `https://api.zipwhip.com`).
    pub(crate) fn new(http: Http, base: Url) -> Self {
        Self { http, base }
    }

    fn form_request(&self, path: &str, pairs: &[(&str, &str)]) -> reqwest::RequestBuilder {
        self.http
            .client()
            .post(join(&self.base, path))
            .header(CONTENT_TYPE, "application/x-www-form-urlencoded")
            .header(ACCEPT, "application/json")
            .body(form(pairs))
    }

    async fn post(&self, path: &str, pairs: &[(&str, &str)]) -> Result<Reply, ProviderError> {
        self.http.send(KIND, self.form_request(path, pairs)).await
    }

    /// Logs in and returns the session key.
    async fn login(&self, credentials: &Credentials) -> Result<SecretString, ProviderError> {
        let password = credentials
            .secret
            .get("password")
            .ok_or_else(|| ProviderError::Protocol("the saved Zipwhip credentials have no password".into()))?;
        let username = credentials.public.get("username").map_or(credentials.username.as_str(), String::as_str);
        let reply = self.post("/user/login", &[("username", username), ("password", password.expose_secret())]).await?;
        match envelope(&reply, "the Zipwhip login answer", &credentials.secret)? {
            None => Err(ProviderError::Rejected(login_rejected(username))),
            Some(Value::String(key)) if !key.trim().is_empty() => Ok(SecretString::from(key)),
            Some(_) => Err(ProviderError::Protocol("the Zipwhip login answer has no session key".into())),
        }
    }

    /// The line's webhooks; `None` when Zipwhip refuses the session.
    async fn webhooks(
        &self,
        session: &SecretString,
        secrets: &SecretFields,
    ) -> Result<Option<Vec<Value>>, ProviderError> {
        let reply = self.post("/webhook/list", &[("session", session.expose_secret())]).await?;
        match envelope(&reply, "the Zipwhip webhook list", secrets)? {
            None => Ok(None),
            Some(Value::Array(hooks)) => Ok(Some(hooks)),
            Some(Value::Null) => Ok(Some(Vec::new())),
            Some(_) => Err(ProviderError::Protocol("the Zipwhip webhook list is not a list".into())),
        }
    }

    /// Registers the message `event` webhook to `url` and returns its id.
    async fn add_webhook(
        &self,
        session: &SecretString,
        event: &str,
        url: &str,
        secrets: &SecretFields,
    ) -> Result<String, ProviderError> {
        let pairs = [
            ("session", session.expose_secret()),
            ("type", "message"),
            ("event", event),
            ("url", url),
            ("method", "POST"),
        ];
        let reply = self.post("/webhook/add", &pairs).await?;
        match envelope(&reply, "the Zipwhip webhook registration", secrets)? {
            None => Err(ProviderError::Protocol(format!("Zipwhip refused to register the message {event} webhook"))),
            Some(Value::Array(hooks)) => {
                let hook =
                    hooks.iter().find(|h| h.get("event").and_then(Value::as_str) == Some(event)).or(hooks.first());
                hook.map(Webhook).ok_or_else(|| ProviderError::Protocol("Zipwhip registered no webhook".into()))?.id()
            }
            Some(_) => Err(ProviderError::Protocol("the Zipwhip webhook registration is not a list".into())),
        }
    }

    /// Removes one webhook; one Zipwhip no longer knows counts as removed.
    async fn delete_webhook(
        &self,
        session: &SecretString,
        id: &str,
        secrets: &SecretFields,
    ) -> Result<(), ProviderError> {
        let reply = self.post("/webhook/delete", &[("session", session.expose_secret()), ("webhookId", id)]).await?;
        if reply.code() == 404 {
            return Ok(());
        }
        envelope(&reply, "the Zipwhip webhook removal", secrets).map(|_| ())
    }

    async fn logout(&self, session: &SecretString, secrets: &SecretFields) -> Result<(), ProviderError> {
        let reply = self.post("/user/logout", &[("session", session.expose_secret())]).await?;
        match envelope(&reply, "the Zipwhip logout answer", secrets)? {
            Some(_) => Ok(()),
            None => Err(ProviderError::Rejected(SESSION_REJECTED.into())),
        }
    }
}

/// Reads Zipwhip's `{"success": …, "response": …}`: `Some(response)` on success,
/// `None` when Zipwhip refused (`success: false`, 401 or 403).
fn envelope(reply: &Reply, what: &str, secrets: &SecretFields) -> Result<Option<Value>, ProviderError> {
    match reply.code() {
        401 | 403 => return Ok(None),
        _ if !reply.is_success() => return Err(reply.unexpected()),
        _ => {}
    }
    let mut body: Value = reply.json(what, secrets)?;
    match body.get("success").and_then(Value::as_bool) {
        Some(true) => Ok(Some(body.get_mut("response").map(Value::take).unwrap_or(Value::Null))),
        Some(false) => Ok(None),
        None => Err(ProviderError::Protocol(format!("{what} has no success flag"))),
    }
}

/// The username rule from Zipwhip's setup article: the phone part (after the last
/// `@`, or all of it) is 10 or 11 digits and nothing else.
fn valid_username(username: &str) -> bool {
    let phone = username.rsplit('@').next().unwrap_or(username);
    (10..=11).contains(&phone.len()) && phone.bytes().all(|b| b.is_ascii_digit())
}

fn session(credentials: &Credentials) -> Option<&SecretString> {
    credentials.secret.get("session_key")
}

/// The line a username names (its phone part), in E.164.
fn line(credentials: &Credentials, region: Region) -> Option<E164> {
    let username = credentials.public.get("username").map_or(credentials.username.as_str(), String::as_str);
    E164::parse(username.rsplit('@').next().unwrap_or(username), region).ok()
}

/// The id of a sent message (`response.tokens[0].message`), exactly as sent: ids
/// exceed 2^53, so they never pass through a float.
fn sent_id(response: &Value) -> Option<String> {
    match response.pointer("/tokens/0/message")? {
        Value::Number(n) => n.as_u64().map(|v| v.to_string()),
        Value::String(s) if !s.trim().is_empty() => Some(s.trim().to_owned()),
        _ => None,
    }
}

#[async_trait]
impl Provider for Zipwhip {
    fn kind(&self) -> ProviderKind {
        KIND
    }

    fn check(&self, _level: &CredentialLevel, submitted: &SubmittedFields) -> Result<Checked, Error> {
        fields::only(KIND, submitted, &["username", "password"], &[])?;
        let given = fields::text(submitted, "username")?.trim();
        if !valid_username(given) {
            return Err(Error::invalid("username", PHONE_RULE));
        }
        let username = ProviderUsername::parse(given)?;
        let mut secret = SecretFields::new();
        secret.insert("password", SecretString::from(fields::text(submitted, "password")?.to_owned()));
        let public = BTreeMap::from([("username".to_owned(), given.to_owned())]);
        Ok(Checked { username, public, secret })
    }

    fn check_secret(&self, _level: &CredentialLevel, submitted: &SubmittedFields) -> Result<SecretFields, Error> {
        let reason = fields::not_replaceable("password");
        fields::only(KIND, submitted, &["password"], &[("username", reason.as_str())])?;
        let mut secret = SecretFields::new();
        secret.insert("password", SecretString::from(fields::text(submitted, "password")?.to_owned()));
        Ok(secret)
    }

    fn needs_system_first(&self, _level: &CredentialLevel) -> bool {
        false
    }

    async fn connect(
        &self,
        credentials: &Credentials,
        _system: Option<&Credentials>,
        intake_url: &str,
    ) -> Result<Connection, ProviderError> {
        let session = self.login(credentials).await?;
        let mut secrets = credentials.secret.clone();
        secrets.insert("session_key", session.clone());
        let existing = self
            .webhooks(&session, &secrets)
            .await?
            .ok_or_else(|| ProviderError::Protocol("Zipwhip refused the session it had just handed out".into()))?;
        let mut webhook_ids = Vec::with_capacity(EVENTS.len());
        for event in EVENTS {
            let id = match existing.iter().map(Webhook).find(|h| h.is(event, intake_url)) {
                Some(hook) => hook.id()?,
                None => self.add_webhook(&session, event, intake_url, &secrets).await?,
            };
            webhook_ids.push(id);
        }
        let mut secret = SecretFields::new();
        secret.insert("session_key", session);
        Ok(Connection { secret, webhook_ids })
    }

    async fn test(&self, credentials: &Credentials, _system: Option<&Credentials>) -> Result<(), ProviderError> {
        let session = session(credentials).ok_or_else(|| ProviderError::Rejected(SESSION_REJECTED.into()))?;
        match self.webhooks(session, &credentials.secret).await? {
            Some(_) => Ok(()),
            None => Err(ProviderError::Rejected(SESSION_REJECTED.into())),
        }
    }

    async fn disconnect(&self, credentials: &Credentials, _system: Option<&Credentials>) -> Result<(), ProviderError> {
        let Some(session) = session(credentials) else {
            return if credentials.webhook_ids.is_empty() {
                Ok(())
            } else {
                Err(ProviderError::Rejected("no Zipwhip session is saved, so its webhooks could not be removed".into()))
            };
        };
        let mut first_error = None;
        for id in &credentials.webhook_ids {
            if let Err(e) = self.delete_webhook(session, id, &credentials.secret).await {
                tracing::warn!(webhook = %id, outcome = %credentials.secret.scrub(&e.to_string()), "could not remove a Zipwhip webhook");
                first_error.get_or_insert(e);
            }
        }
        if let Err(e) = self.logout(session, &credentials.secret).await {
            tracing::warn!(outcome = %credentials.secret.scrub(&e.to_string()), "could not end the Zipwhip session");
            first_error.get_or_insert(e);
        }
        first_error.map_or(Ok(()), Err)
    }

    async fn send(
        &self,
        credentials: &Credentials,
        _system: Option<&Credentials>,
        text: &Outbound<'_>,
    ) -> Result<SendReceipt, ProviderError> {
        let session = session(credentials).ok_or_else(|| ProviderError::Rejected(SESSION_REJECTED.into()))?;
        let to = text.to.to_string();
        let pairs = [("session", session.expose_secret()), ("contacts", to.as_str()), ("body", text.body)];
        let reply = self.http.send_once(KIND, self.form_request("/message/send", &pairs)).await?;
        if matches!(reply.code(), 400 | 422) {
            return Err(crate::http::refusal(KIND, &reply, &credentials.secret));
        }
        let response = envelope(&reply, "the Zipwhip send answer", &credentials.secret)?
            .ok_or_else(|| ProviderError::Rejected(SESSION_REJECTED.into()))?;
        let id = sent_id(&response)
            .ok_or_else(|| ProviderError::Protocol("the Zipwhip send answer has no tokens[0].message id".into()))?;
        Ok(SendReceipt {
            provider_message_id: id,
            our_number: line(credentials, text.region),
            status: DeliveryStatus::Queued,
        })
    }

    fn verify_webhook(&self, request: &WebhookRequest<'_>, secrets: &SecretFields) -> Result<(), Error> {
        webhooks::zipwhip::verify(request, secrets)
    }

    fn parse_webhook(
        &self,
        request: &WebhookRequest<'_>,
        region: Region,
        received_at: Timestamp,
    ) -> Result<Vec<WebhookEvent>, Error> {
        webhooks::zipwhip::parse(request.body, region, received_at)
    }
}

/// What to say when Zipwhip refuses a login: which other username form to try.
fn login_rejected(username: &str) -> String {
    match username.split_once('@') {
        Some((_, line)) => format!(
            "{LOGIN_REJECTED}; if the password is right, try the line's phone number alone as the username \
         (digits only, e.g. {line})"
        ),
        None => format!(
            "{LOGIN_REJECTED}; if the password is right, try the username with the line's number, digits only \
         (e.g. name@{username})"
        ),
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn username_phone_part() {
        for ok in ["alex@6512345678", "6512345678", "16512345678", "a@b@6512345678"] {
            assert!(valid_username(ok), "{ok}");
        }
        for bad in
            ["(555) 123-4567", "555-123-4567", "alex@651-234-5678", "alex@", "alex", "651234567", "alex@+16512345678"]
        {
            assert!(!valid_username(bad), "{bad}");
        }
    }

    #[test]
    fn webhook_ids_stay_exact() {
        let hooks: Value =
            serde_json::from_str(r#"[{"webhookId":1327295480212647936},{"webhookId":"42"},{}]"#).unwrap();
        assert_eq!(Webhook(&hooks[0]).id().unwrap(), "1327295480212647936");
        assert_eq!(Webhook(&hooks[1]).id().unwrap(), "42");
        assert!(Webhook(&hooks[2]).id().is_err());
        assert!(Webhook(&json!({"event":"receive","url":"u"})).is("receive", "u"));
        assert!(!Webhook(&json!({"type":"contact","event":"receive","url":"u"})).is("receive", "u"));
    }
}
