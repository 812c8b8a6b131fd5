use serde::{Deserialize, Serialize};

use crate::{Error, UserId};

/// A branch (office) of the tenant; Zipwhip contracts are often per branch.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct BranchId(String);

impl BranchId {
    /// Parses a branch id: 1–64 letters, digits, `-`, `_` or `.`.
    pub fn parse(input: &str) -> Result<Self, Error> {
        let ok =
            (1..=64).contains(&input.len()) && input.bytes().all(|b| b.is_ascii_alphanumeric() || b"-_.".contains(&b));
        if ok {
            Ok(Self(input.to_owned()))
        } else {
            Err(Error::invalid("branch_id", "must be 1-64 letters, digits, '-', '_' or '.'"))
        }
    }
}

text_newtype!(BranchId);

/// Whose credentials: the tenant's (system), a branch's, or one texting user's.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum CredentialLevel {
    /// One per tenant and provider.
    System,
    /// One per branch and provider.
    Branch(BranchId),
    /// One per texting user and provider.
    User(UserId),
}

impl CredentialLevel {
    /// `system`, `branch` or `user`.
    pub fn kind(&self) -> &'static str {
        match self {
            Self::System => "system",
            Self::Branch(_) => "branch",
            Self::User(_) => "user",
        }
    }

    /// The branch or user id; `-` at system level.
    pub fn scope(&self) -> &str {
        match self {
            Self::System => "-",
            Self::Branch(b) => b.as_str(),
            Self::User(u) => u.as_str(),
        }
    }

    /// Builds a level from its kind and scope (`None` at system level).
    pub fn parse(kind: &str, scope: Option<&str>) -> Result<Self, Error> {
        match (kind, scope) {
            ("system", None) => Ok(Self::System),
            ("branch", Some(id)) => Ok(Self::Branch(BranchId::parse(id)?)),
            ("user", Some(id)) => Ok(Self::User(UserId::parse(id)?)),
            ("system", Some(_)) => Err(Error::invalid("level", "system credentials take no scope")),
            ("branch" | "user", None) => Err(Error::invalid("level", format!("{kind} credentials need an id"))),
            _ => Err(Error::invalid("level", format!("{kind:?} is not one of system, branch, user"))),
        }
    }
}

/// A username at a provider. Unique within a tenant (case-insensitively), so every
/// message can be attributed to exactly one texting user.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct ProviderUsername(String);

impl ProviderUsername {
    /// Parses a username: 1–256 characters, no control characters or `#`; stored
    /// lowercased.
    pub fn parse(input: &str) -> Result<Self, Error> {
        let s = input.trim();
        if s.is_empty() || s.len() > 256 || s.chars().any(|c| c.is_control() || c == '#') {
            return Err(Error::invalid("username", "must be 1-256 characters without control characters or '#'"));
        }
        Ok(Self(s.to_lowercase()))
    }
}

text_newtype!(ProviderUsername);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn levels() {
        assert_eq!(CredentialLevel::parse("system", None).unwrap(), CredentialLevel::System);
        let b = CredentialLevel::parse("branch", Some("north-1")).unwrap();
        assert_eq!((b.kind(), b.scope()), ("branch", "north-1"));
        assert!(CredentialLevel::parse("branch", None).is_err());
        assert!(CredentialLevel::parse("system", Some("x")).is_err());
        assert!(CredentialLevel::parse("team", Some("x")).is_err());
        assert!(CredentialLevel::parse("branch", Some("a/b")).is_err());
    }

    #[test]
    fn usernames_compare_without_case() {
        assert_eq!(ProviderUsername::parse(" Ops@Acme.com ").unwrap().as_str(), "ops@acme.com");
        assert!(ProviderUsername::parse("").is_err());
    }
}
