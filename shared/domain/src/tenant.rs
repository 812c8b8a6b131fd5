use serde::{Deserialize, Serialize};

use crate::Error;

/// A tenant (one staffing company) — the first part of every key.
///
/// 1–63 characters of lowercase ASCII letters, digits and `-`, starting with a letter or
/// digit, so it is safe inside store keys, secret names and URLs.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct TenantId(String);

impl TenantId {
    /// Parses a tenant id.
    pub fn parse(input: &str) -> Result<Self, Error> {
        let ok_len = (1..=63).contains(&input.len());
        let ok_chars = input.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-');
        let ok_start = input.bytes().next().is_some_and(|b| b != b'-');
        if ok_len && ok_chars && ok_start {
            Ok(Self(input.to_owned()))
        } else {
            Err(Error::invalid("tenant", "must be 1-63 lowercase letters, digits or '-', not starting with '-'"))
        }
    }
}

text_newtype!(TenantId);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_and_rejects() {
        for ok in ["acme", "a", "acme-staffing-2", "0abc"] {
            assert!(TenantId::parse(ok).is_ok(), "{ok}");
        }
        for bad in ["", "-acme", "Acme", "ac me", "a#b", "a/b", &"x".repeat(64)] {
            assert!(TenantId::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn serde_goes_through_parse() {
        assert!(serde_json::from_str::<TenantId>("\"T#1\"").is_err());
        let t: TenantId = serde_json::from_str("\"acme\"").unwrap();
        assert_eq!(t.as_str(), "acme");
    }
}
