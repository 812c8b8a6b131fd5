use serde::{Deserialize, Serialize};

use crate::Error;

/// An e-mail address, checked by the `email_address` crate and lowercased (addresses
/// are used as usernames, which must not differ by case alone).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Email(String);

impl Email {
    /// Parses an address; surrounding whitespace is ignored.
    pub fn parse(input: &str) -> Result<Self, Error> {
        let trimmed = input.trim();
        if email_address::EmailAddress::is_valid(trimmed) && !trimmed.contains(['"', ' ']) {
            Ok(Self(trimmed.to_lowercase()))
        } else {
            Err(Error::invalid("email", format!("{trimmed:?} is not an e-mail address")))
        }
    }
}

text_newtype!(Email);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn table() {
        let cases = [
            ("Jane.Doe@Example.com", Some("jane.doe@example.com")),
            ("  ops@acme.io ", Some("ops@acme.io")),
            ("jane", None),
            ("jane@", None),
            ("@example.com", None),
            ("", None),
            ("a b@example.com", None),
        ];
        for (input, want) in cases {
            assert_eq!(Email::parse(input).ok().as_ref().map(Email::as_str), want, "{input:?}");
        }
    }

    #[test]
    fn error_names_field_and_value() {
        let err = Email::parse("nope").unwrap_err();
        assert_eq!(err.to_string(), "email: \"nope\" is not an e-mail address");
    }
}
