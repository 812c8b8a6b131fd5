//! Texting users (S3): names, area codes, statuses, teams and ATS user ids.

use std::fmt;

use serde::{Deserialize, Serialize};

use crate::{Error, Role};

/// Why a name may not be stored, if it may not: empty, longer than 100 characters,
/// or with a control or bidirectional-override character (text that displays other
/// than it reads). A name beginning as a formula does is kept as written: the
/// users report escapes it ([`crate::import::escape`]).
fn name_fault(name: &str) -> Option<&'static str> {
    let hidden = |c: char| {
        c.is_control() || matches!(c, '\u{200E}' | '\u{200F}' | '\u{202A}'..='\u{202E}' | '\u{2066}'..='\u{2069}')
    };
    if name.is_empty() {
        Some("must not be empty")
    } else if name.chars().count() > 100 {
        Some("must be at most 100 characters")
    } else if name.chars().any(hidden) {
        Some("must not contain control or text-direction characters")
    } else {
        None
    }
}

/// A person's first or last name: trimmed, 1–100 characters, no control or
/// text-direction characters.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct PersonName(String);

impl PersonName {
    /// Parses a name; `field` names it in the error (`first_name`, `row 3, column "First"`).
    pub fn parse_field(input: &str, field: &str) -> Result<Self, Error> {
        let s = input.trim();
        match name_fault(s) {
            Some(fault) => Err(Error::invalid(field, fault)),
            None => Ok(Self(s.to_owned())),
        }
    }

    /// Parses a name (the error names the field `name`).
    pub fn parse(input: &str) -> Result<Self, Error> {
        Self::parse_field(input, "name")
    }
}

text_newtype!(PersonName);

/// A North American area code: exactly three digits.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct AreaCode(String);

impl AreaCode {
    /// Parses an area code (surrounding whitespace ignored).
    pub fn parse(input: &str) -> Result<Self, Error> {
        let s = input.trim();
        if s.len() == 3 && s.bytes().all(|b| b.is_ascii_digit()) {
            Ok(Self(s.to_owned()))
        } else {
            Err(Error::invalid("area_code", format!("{s:?} is not a 3-digit area code")))
        }
    }
}

text_newtype!(AreaCode);

/// A team's name: as a person's name is checked; unique per tenant without regard
/// to case.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct TeamName(String);

impl TeamName {
    /// Parses a team name.
    pub fn parse(input: &str) -> Result<Self, Error> {
        let s = input.trim();
        match name_fault(s) {
            Some(fault) => Err(Error::invalid("name", format!("a team name {fault}"))),
            None => Ok(Self(s.to_owned())),
        }
    }

    /// The form names compare in (lowercase).
    pub fn folded(&self) -> String {
        self.0.to_lowercase()
    }
}

text_newtype!(TeamName);

/// The system id of a user in the ATS (mapped to at most one texting user).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct AtsUserId(String);

impl AtsUserId {
    /// Parses an ATS user id: 1–128 characters without control characters, `#` or `/`.
    pub fn parse(input: &str) -> Result<Self, Error> {
        let s = input.trim();
        if s.is_empty() || s.len() > 128 || s.chars().any(|c| c.is_control() || c == '#' || c == '/') {
            return Err(Error::invalid(
                "ats_user_id",
                "must be 1-128 characters without control characters, '#' or '/'",
            ));
        }
        Ok(Self(s.to_owned()))
    }
}

text_newtype!(AtsUserId);

/// Whether a texting user may sign in and text.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum UserStatus {
    /// Signs in and texts.
    Active,
    /// Kept, but may not sign in or text until enabled again.
    Disabled,
    /// Access revoked for good; the username can never be added again.
    Deleted,
}

impl UserStatus {
    /// The snake_case name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Active => "active",
            Self::Disabled => "disabled",
            Self::Deleted => "deleted",
        }
    }
}

impl fmt::Display for UserStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl std::str::FromStr for UserStatus {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self, Error> {
        match s.trim().to_ascii_lowercase().as_str() {
            "active" => Ok(Self::Active),
            "disabled" => Ok(Self::Disabled),
            "deleted" => Ok(Self::Deleted),
            _ => Err(Error::invalid("status", format!("{s:?} is not one of active, disabled, deleted"))),
        }
    }
}

impl Role {
    /// The roles a texting user can hold (every role but staff).
    pub fn is_texting_role(self) -> bool {
        self != Self::Staff
    }

    /// The roles a manager may convert a user between: User, Reporter and Manager.
    pub fn is_convertible(self) -> bool {
        matches!(self, Self::User | Self::Reporter | Self::Manager)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_trimmed_and_bounded() {
        assert_eq!(PersonName::parse_field("  Ann ", "first_name").unwrap().as_str(), "Ann");
        let empty = PersonName::parse_field("   ", "first_name").unwrap_err();
        assert_eq!(empty.to_string(), "first_name: must not be empty");
        assert!(PersonName::parse(&"x".repeat(101)).is_err());
        assert!(PersonName::parse("a\u{7}b").is_err());
    }

    #[test]
    fn area_codes_are_three_digits() {
        assert_eq!(AreaCode::parse(" 312 ").unwrap().as_str(), "312");
        for bad in ["31", "3123", "31a", "", "３１２"] {
            let err = AreaCode::parse(bad).unwrap_err();
            assert!(err.to_string().starts_with("area_code: "), "{bad:?}: {err}");
        }
    }

    #[test]
    fn team_names_fold_case() {
        assert_eq!(TeamName::parse(" East Coast ").unwrap().folded(), "east coast");
        assert!(TeamName::parse("").is_err());
    }

    #[test]
    fn ats_ids_refuse_separators() {
        assert!(AtsUserId::parse("12345").is_ok());
        assert!(AtsUserId::parse("a#b").is_err());
        assert!(AtsUserId::parse("a/b").is_err());
    }

    #[test]
    fn statuses_and_convertible_roles() {
        assert_eq!("Disabled".parse::<UserStatus>().unwrap(), UserStatus::Disabled);
        assert!("gone".parse::<UserStatus>().is_err());
        assert!(Role::Reporter.is_convertible());
        assert!(!Role::CustomerAdmin.is_convertible());
        assert!(!Role::Staff.is_texting_role());
    }
}
