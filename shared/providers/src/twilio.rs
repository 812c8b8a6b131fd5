//! Twilio: an Account SID and Auth Token over HTTP Basic. Connecting points the SMS
//! webhook of every phone number of the account at the intake URL.
//!
//! Levels: system and branch. The Account SID is also the username; the Auth Token
//! doubles as the key of Twilio's webhook signatures.

use std::collections::BTreeMap;

use async_trait::async_trait;
use reqwest::{
    Method, RequestBuilder,
    header::{ACCEPT, CONTENT_TYPE},
};
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
    http::{Http, form, join, refusal},
    webhooks,
};

const KIND: ProviderKind = ProviderKind::Twilio;

/// The API version every path starts with.
const API: &str = "/2010-04-01";

/// The most pages of phone numbers read.
const MAX_PAGES: usize = 100;

const REJECTED: &str = "Twilio rejected the Account SID or Auth Token";

/// Twilio over the shared client.
pub(crate) struct Twilio {
    http: Http,
    base: Url,
}

/// The account and its key, as every call needs them.
struct Account<'a> {
    sid: &'a str,
    token: &'a SecretString,
    secrets: &'a SecretFields,
}

impl<'a> Account<'a> {
    fn of(credentials: &'a Credentials) -> Result<Self, ProviderError> {
        let sid =
            credentials.public.get("account_sid").filter(|sid| valid_account_sid(sid)).ok_or_else(|| {
                ProviderError::Protocol("the saved Twilio credentials have no valid Account SID".into())
            })?;
        let token = credentials
            .secret
            .get("auth_token")
            .ok_or_else(|| ProviderError::Protocol("the saved Twilio credentials have no Auth Token".into()))?;
        Ok(Self { sid, token, secrets: &credentials.secret })
    }
}

impl Twilio {
    /// Twilio at `base` (e.g. `https://api.twilio.com`).
    pub(crate) fn new(http: Http, base: Url) -> Self {
        Self { http, base }
    }

    fn request(&self, method: Method, path: &str, account: &Account<'_>) -> RequestBuilder {
        self.http
            .client()
            .request(method, join(&self.base, path))
            .basic_auth(account.sid, Some(account.token.expose_secret()))
            .header(ACCEPT, "application/json")
    }

    /// Checks the SID and token, and that the account is active.
    async fn verify(&self, account: &Account<'_>) -> Result<(), ProviderError> {
        let path = format!("{API}/Accounts/{}.json", account.sid);
        let reply = self.http.send(KIND, self.request(Method::GET, &path, account)).await?;
        match reply.code() {
            401 | 403 | 404 => return Err(ProviderError::Rejected(REJECTED.into())),
            _ if !reply.is_success() => return Err(reply.unexpected()),
            _ => {}
        }
        let body: Value = reply.json("the Twilio account", account.secrets)?;
        match body.get("status").and_then(Value::as_str) {
            Some(status) if status != "active" => {
                Err(ProviderError::Rejected(format!("the Twilio account {} is {status}", account.sid)))
            }
            _ => Ok(()),
        }
    }

    /// Every phone number of the account as `(PN sid, current SMS URL)`, following
    /// `next_page_uri`.
    async fn numbers(&self, account: &Account<'_>) -> Result<Vec<(String, String)>, ProviderError> {
        let mut numbers = Vec::new();
        let mut path = format!("{API}/Accounts/{}/IncomingPhoneNumbers.json?PageSize=1000", account.sid);
        for _ in 0..MAX_PAGES {
            let reply = self.http.send(KIND, self.request(Method::GET, &path, account)).await?;
            match reply.code() {
                401 | 403 => return Err(ProviderError::Rejected(REJECTED.into())),
                _ if !reply.is_success() => return Err(reply.unexpected()),
                _ => {}
            }
            let page: Value = reply.json("the Twilio phone number list", account.secrets)?;
            let Some(items) = page.get("incoming_phone_numbers").and_then(Value::as_array) else {
                return Err(ProviderError::Protocol(
                    "the Twilio phone number list has no incoming_phone_numbers".into(),
                ));
            };
            for item in items {
                let sid = item.get("sid").and_then(Value::as_str).filter(|sid| valid_number_sid(sid));
                let Some(sid) = sid else {
                    return Err(ProviderError::Protocol("a Twilio phone number has no valid PN sid".into()));
                };
                let sms_url = item.get("sms_url").and_then(Value::as_str).unwrap_or_default();
                numbers.push((sid.to_owned(), sms_url.to_owned()));
            }
            match page.get("next_page_uri").and_then(Value::as_str) {
                Some(next) if next.starts_with(API) && next != path => path = next.to_owned(),
                _ => return Ok(numbers),
            }
        }
        Ok(numbers)
    }

    /// Points a number's SMS webhook at `sms_url` (empty: none). `false` when the
    /// number no longer exists.
    async fn set_sms_url(&self, account: &Account<'_>, number: &str, sms_url: &str) -> Result<bool, ProviderError> {
        let path = format!("{API}/Accounts/{}/IncomingPhoneNumbers/{number}.json", account.sid);
        let pairs: &[(&str, &str)] =
            if sms_url.is_empty() { &[("SmsUrl", "")] } else { &[("SmsUrl", sms_url), ("SmsMethod", "POST")] };
        let request = self
            .request(Method::POST, &path, account)
            .header(CONTENT_TYPE, "application/x-www-form-urlencoded")
            .body(form(pairs));
        let reply = self.http.send(KIND, request).await?;
        match reply.code() {
            404 => Ok(false),
            401 | 403 => Err(ProviderError::Rejected(REJECTED.into())),
            _ if !reply.is_success() => Err(reply.unexpected()),
            _ => Ok(true),
        }
    }
}

impl Twilio {
    /// The number texts go from: the account's first phone number.
    async fn sending_number(&self, account: &Account<'_>, region: Region) -> Result<E164, ProviderError> {
        let path = format!("{API}/Accounts/{}/IncomingPhoneNumbers.json?PageSize=1", account.sid);
        let reply = self.http.send(KIND, self.request(Method::GET, &path, account)).await?;
        match reply.code() {
            401 | 403 => return Err(ProviderError::Rejected(REJECTED.into())),
            _ if !reply.is_success() => return Err(reply.unexpected()),
            _ => {}
        }
        let page: Value = reply.json("the Twilio phone number list", account.secrets)?;
        let number =
            page.pointer("/incoming_phone_numbers/0/phone_number").and_then(Value::as_str).ok_or_else(|| {
                ProviderError::Rejected(format!("the Twilio account {} has no phone number to send from", account.sid))
            })?;
        E164::parse(number, region)
            .map_err(|_| ProviderError::Protocol("the Twilio account's phone number is not a phone number".into()))
    }
}

/// A Twilio message status as a delivery status.
fn status(text: Option<&str>) -> DeliveryStatus {
    match text {
        Some("sent") => DeliveryStatus::Sent,
        Some("delivered") => DeliveryStatus::Delivered,
        Some("failed" | "undelivered" | "canceled") => DeliveryStatus::Failed,
        _ => DeliveryStatus::Queued,
    }
}

/// `AC` and 32 hexadecimal digits.
fn valid_account_sid(sid: &str) -> bool {
    fields::is_prefixed_hex(sid, "AC", 32)
}

/// `PN` and 32 hexadecimal digits.
fn valid_number_sid(sid: &str) -> bool {
    fields::is_prefixed_hex(sid, "PN", 32)
}

fn auth_token(submitted: &SubmittedFields) -> Result<SecretString, Error> {
    let token = fields::token(submitted, "auth_token")?;
    if fields::is_prefixed_hex(token.expose_secret(), "", 32) {
        Ok(token)
    } else {
        Err(Error::invalid("auth_token", "must be 32 hexadecimal characters"))
    }
}

const LEVELS: [&str; 2] = ["system", "branch"];
const LEVEL_RULE: &str = "set for the system or for a branch, not per user";

#[async_trait]
impl Provider for Twilio {
    fn kind(&self) -> ProviderKind {
        KIND
    }

    fn check(&self, level: &CredentialLevel, submitted: &SubmittedFields) -> Result<Checked, Error> {
        fields::level_allowed(KIND, level, &LEVELS, LEVEL_RULE)?;
        fields::only(KIND, submitted, &["account_sid", "auth_token"], &[])?;
        let sid = fields::text(submitted, "account_sid")?.trim();
        if !valid_account_sid(sid) {
            return Err(Error::invalid("account_sid", "must be AC followed by 32 hexadecimal characters"));
        }
        let username = ProviderUsername::parse(sid)?;
        let mut secret = SecretFields::new();
        secret.insert("auth_token", auth_token(submitted)?);
        let public = BTreeMap::from([("account_sid".to_owned(), sid.to_owned())]);
        Ok(Checked { username, public, secret })
    }

    fn check_secret(&self, level: &CredentialLevel, submitted: &SubmittedFields) -> Result<SecretFields, Error> {
        fields::level_allowed(KIND, level, &LEVELS, LEVEL_RULE)?;
        let reason = fields::not_replaceable("auth_token");
        fields::only(KIND, submitted, &["auth_token"], &[("account_sid", reason.as_str())])?;
        let mut secret = SecretFields::new();
        secret.insert("auth_token", auth_token(submitted)?);
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
        let account = Account::of(credentials)?;
        self.verify(&account).await?;
        let mut webhook_ids = Vec::new();
        for (number, sms_url) in self.numbers(&account).await? {
            if sms_url == intake_url || self.set_sms_url(&account, &number, intake_url).await? {
                webhook_ids.push(number);
            }
        }
        tracing::info!(numbers = webhook_ids.len(), "Twilio phone numbers point at the intake");
        Ok(Connection { secret: SecretFields::new(), webhook_ids })
    }

    async fn test(&self, credentials: &Credentials, _system: Option<&Credentials>) -> Result<(), ProviderError> {
        self.verify(&Account::of(credentials)?).await
    }

    async fn disconnect(&self, credentials: &Credentials, _system: Option<&Credentials>) -> Result<(), ProviderError> {
        if credentials.webhook_ids.is_empty() {
            return Ok(());
        }
        let account = Account::of(credentials)?;
        let mut first_error = None;
        for number in &credentials.webhook_ids {
            let outcome = if valid_number_sid(number) {
                self.set_sms_url(&account, number, "").await.map(|_| ())
            } else {
                Err(ProviderError::Protocol("a saved Twilio phone number sid is not a PN sid".into()))
            };
            if let Err(e) = outcome {
                tracing::warn!(number = %number, outcome = %credentials.secret.scrub(&e.to_string()), "could not clear a Twilio number's SMS webhook");
                first_error.get_or_insert(e);
            }
        }
        first_error.map_or(Ok(()), Err)
    }

    async fn send(
        &self,
        credentials: &Credentials,
        _system: Option<&Credentials>,
        text: &Outbound<'_>,
    ) -> Result<SendReceipt, ProviderError> {
        let account = Account::of(credentials)?;
        let from = self.sending_number(&account, text.region).await?;
        let (to, from_text) = (text.to.to_string(), from.to_string());
        let path = format!("{API}/Accounts/{}/Messages.json", account.sid);
        let request = self
            .request(Method::POST, &path, &account)
            .header(CONTENT_TYPE, "application/x-www-form-urlencoded")
            .body(form(&{
                let mut pairs = vec![("To", to.as_str()), ("From", from_text.as_str()), ("Body", text.body)];
                pairs.extend(text.status_url.map(|url| ("StatusCallback", url)));
                pairs
            }));
        let reply = self.http.send_once(KIND, request).await?;
        match reply.code() {
            401 | 403 => return Err(ProviderError::Rejected(REJECTED.into())),
            400 | 404 | 422 => return Err(refusal(KIND, &reply, account.secrets)),
            _ if !reply.is_success() => return Err(reply.unexpected()),
            _ => {}
        }
        let message: Value = reply.json("the sent Twilio message", account.secrets)?;
        let sid = message
            .get("sid")
            .and_then(Value::as_str)
            .filter(|sid| fields::is_prefixed_hex(sid, "SM", 32) || fields::is_prefixed_hex(sid, "MM", 32))
            .ok_or_else(|| ProviderError::Protocol("the sent Twilio message has no valid sid".into()))?;
        let our_number = message.get("from").and_then(Value::as_str).and_then(|n| E164::parse(n, text.region).ok());
        Ok(SendReceipt {
            provider_message_id: sid.to_owned(),
            our_number: our_number.or(Some(from)),
            status: status(message.get("status").and_then(Value::as_str)),
        })
    }

    fn verify_webhook(&self, request: &WebhookRequest<'_>, secrets: &SecretFields) -> Result<(), Error> {
        webhooks::twilio::verify(request, secrets)
    }

    fn parse_webhook(
        &self,
        request: &WebhookRequest<'_>,
        region: Region,
        received_at: Timestamp,
    ) -> Result<Vec<WebhookEvent>, Error> {
        webhooks::twilio::parse(request.body, region, received_at)
    }
}
