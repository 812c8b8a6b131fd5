//! Reading submitted credential fields: the checks every provider shares.

use secrecy::SecretString;
use serde_json::Value;
use textbridge_app::ports::SubmittedFields;
use textbridge_domain::{CredentialLevel, Error, ProviderKind};

/// Rejects the first field not named in `allowed`. A field the provider knows but
/// that does not belong here is named in `elsewhere` with the reason.
pub(crate) fn only(
    provider: ProviderKind,
    fields: &SubmittedFields,
    allowed: &[&str],
    elsewhere: &[(&str, &str)],
) -> Result<(), Error> {
    let Some(name) = fields.keys().find(|name| !allowed.contains(&name.as_str())) else { return Ok(()) };
    match elsewhere.iter().find(|(known, _)| known == name) {
        Some((_, reason)) => Err(Error::invalid(name.as_str(), reason)),
        None => Err(Error::invalid(name.as_str(), format!("is not a {} field", provider.display_name()))),
    }
}

/// The reason for [`only`] when a shown field is given where only `secret` may be
/// replaced.
pub(crate) fn not_replaceable(secret: &str) -> String {
    format!("cannot be changed here; only {secret} can be replaced")
}

/// A required text field, as given. Missing, `null` and blank are "is required";
/// anything but a string is "must be text".
pub(crate) fn text<'a>(fields: &'a SubmittedFields, name: &str) -> Result<&'a str, Error> {
    match fields.get(name) {
        None | Some(Value::Null) => Err(Error::invalid(name, "is required")),
        Some(Value::String(s)) if s.trim().is_empty() => Err(Error::invalid(name, "is required")),
        Some(Value::String(s)) => Ok(s),
        Some(_) => Err(Error::invalid(name, "must be text")),
    }
}

/// A required token (API key, auth token): trimmed, printable ASCII without spaces,
/// so it fits an HTTP header.
pub(crate) fn token(fields: &SubmittedFields, name: &str) -> Result<SecretString, Error> {
    let value = text(fields, name)?.trim();
    if value.bytes().all(|b| b.is_ascii_graphic()) {
        Ok(SecretString::from(value.to_owned()))
    } else {
        Err(Error::invalid(name, "must be printable characters without spaces"))
    }
}

/// Fails unless `level` is one the provider supports.
pub(crate) fn level_allowed(
    provider: ProviderKind,
    level: &CredentialLevel,
    allowed: &[&str],
    rule: &str,
) -> Result<(), Error> {
    if allowed.contains(&level.kind()) {
        Ok(())
    } else {
        Err(Error::invalid("level", format!("{} credentials are {rule}", provider.display_name())))
    }
}

/// True when `s` is `prefix` followed by exactly `hex_len` hexadecimal digits.
pub(crate) fn is_prefixed_hex(s: &str, prefix: &str, hex_len: usize) -> bool {
    s.strip_prefix(prefix).is_some_and(|rest| rest.len() == hex_len && rest.bytes().all(|b| b.is_ascii_hexdigit()))
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn map(v: Value) -> SubmittedFields {
        v.as_object().cloned().unwrap()
    }

    #[test]
    fn text_rules() {
        let f = map(json!({"a": "x", "b": " ", "c": 3, "d": null}));
        assert_eq!(text(&f, "a").unwrap(), "x");
        assert_eq!(text(&f, "b").unwrap_err(), Error::invalid("b", "is required"));
        assert_eq!(text(&f, "c").unwrap_err(), Error::invalid("c", "must be text"));
        assert_eq!(text(&f, "d").unwrap_err(), Error::invalid("d", "is required"));
        assert_eq!(text(&f, "e").unwrap_err(), Error::invalid("e", "is required"));
    }

    #[test]
    fn unknown_and_known_fields() {
        let f = map(json!({"api_key": "k", "username": "u"}));
        let p = ProviderKind::TextUs;
        assert!(only(p, &f, &["api_key", "username"], &[]).is_ok());
        let reason = not_replaceable("api_key");
        assert_eq!(
            only(p, &f, &["api_key"], &[("username", reason.as_str())]).unwrap_err(),
            Error::invalid("username", "cannot be changed here; only api_key can be replaced")
        );
        assert_eq!(only(p, &f, &["api_key"], &[]).unwrap_err(), Error::invalid("username", "is not a TextUs field"));
    }

    #[test]
    fn tokens_and_hex() {
        assert!(token(&map(json!({"k": " abc "})), "k").is_ok());
        assert!(token(&map(json!({"k": "a b"})), "k").is_err());
        assert!(is_prefixed_hex("AC0123456789abcdef0123456789ABCDEF", "AC", 32));
        assert!(!is_prefixed_hex("AC0123", "AC", 32));
        assert!(!is_prefixed_hex("PN0123456789abcdef0123456789abcdef", "AC", 32));
    }
}
