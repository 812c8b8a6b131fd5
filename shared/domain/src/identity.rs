use std::{fmt, str::FromStr};

use serde::{Deserialize, Serialize};

use crate::{Error, TenantId};

/// Declares a bounded, non-empty text newtype that is safe inside store keys.
macro_rules! key_text {
    ($(#[$doc:meta])* $name:ident, $field:literal, $max:literal) => {
        $(#[$doc])*
        #[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
        #[serde(try_from = "String", into = "String")]
        pub struct $name(String);

        impl $name {
            /// Parses the value: 1 to the maximum length, no control characters, no `#`.
            pub fn parse(input: &str) -> Result<Self, Error> {
                let s = input.trim();
                if s.is_empty() || s.len() > $max || s.chars().any(|c| c.is_control() || c == '#') {
                    return Err(Error::invalid(
                        $field,
                        concat!("must be 1-", $max, " characters without control characters or '#'"),
                    ));
                }
                Ok(Self(s.to_owned()))
            }
        }

        text_newtype!($name);
    };
}

key_text!(
    /// The stable id of a person in the platform (the JWT `sub`).
    UserId,
    "user_id",
    128
);
key_text!(
    /// A login name: the platform username of the caller (usually an e-mail).
    Username,
    "username",
    256
);
key_text!(
    /// The permission group a user belongs to (exactly one); it decides e.g. Can Text.
    PermissionGroup,
    "permission_group",
    128
);

/// What a caller may do. The first four are texting roles (S3); `Staff` is the
/// operator-level identity that alone creates customer admins.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    /// A texting user (the default).
    User,
    /// Reads reports.
    Reporter,
    /// Manages users.
    Manager,
    /// Manages users, credentials and purges.
    CustomerAdmin,
    /// Operator staff.
    Staff,
}

impl Role {
    /// Every role, in order of rising power.
    pub const ALL: [Role; 5] = [Self::User, Self::Reporter, Self::Manager, Self::CustomerAdmin, Self::Staff];

    /// The snake_case name used in tokens and JSON.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::User => "user",
            Self::Reporter => "reporter",
            Self::Manager => "manager",
            Self::CustomerAdmin => "customer_admin",
            Self::Staff => "staff",
        }
    }

    /// Managers, customer admins and staff manage texting users.
    pub fn manages_users(self) -> bool {
        matches!(self, Self::Manager | Self::CustomerAdmin | Self::Staff)
    }

    /// Customer admins and staff administer the tenant (credentials, purges).
    pub fn is_admin(self) -> bool {
        matches!(self, Self::CustomerAdmin | Self::Staff)
    }
}

impl FromStr for Role {
    type Err = Error;
    /// Accepts the snake_case name and the spaced, any-case form (`Customer Admin`).
    fn from_str(s: &str) -> Result<Self, Error> {
        let norm: String =
            s.trim().chars().map(|c| if c == ' ' || c == '-' { '_' } else { c.to_ascii_lowercase() }).collect();
        Self::ALL.into_iter().find(|r| r.as_str() == norm).ok_or_else(|| {
            Error::invalid("role", format!("{s:?} is not one of user, reporter, manager, customer_admin, staff"))
        })
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Who is calling: always established by authentication, never read from a body.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Identity {
    /// The caller's tenant; every read and write is scoped to it.
    pub tenant: TenantId,
    /// The caller's stable id.
    pub user_id: UserId,
    /// The caller's username.
    pub username: Username,
    /// The caller's role.
    pub role: Role,
    /// The caller's permission group.
    pub permission_group: PermissionGroup,
}

impl Identity {
    /// Fails with 403 unless the caller is a tenant admin.
    pub fn require_admin(&self) -> Result<(), Error> {
        if self.role.is_admin() { Ok(()) } else { Err(Error::Forbidden("this needs a customer admin".into())) }
    }

    /// Fails with 403 unless the caller manages users.
    pub fn require_user_manager(&self) -> Result<(), Error> {
        if self.role.manages_users() {
            Ok(())
        } else {
            Err(Error::Forbidden("this needs a manager or customer admin".into()))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn roles_parse_in_both_spellings() {
        assert_eq!("Customer Admin".parse::<Role>().unwrap(), Role::CustomerAdmin);
        assert_eq!("customer_admin".parse::<Role>().unwrap(), Role::CustomerAdmin);
        assert_eq!(" MANAGER ".parse::<Role>().unwrap(), Role::Manager);
        assert!("root".parse::<Role>().is_err());
        for r in Role::ALL {
            assert_eq!(r.as_str().parse::<Role>().unwrap(), r);
        }
    }

    #[test]
    fn powers() {
        assert!(!Role::User.manages_users() && !Role::Reporter.manages_users());
        assert!(Role::Manager.manages_users() && !Role::Manager.is_admin());
        assert!(Role::CustomerAdmin.is_admin() && Role::Staff.is_admin());
    }

    #[test]
    fn key_text_rejects_separators() {
        assert!(UserId::parse("u-1").is_ok());
        assert!(UserId::parse("u#1").is_err());
        assert!(UserId::parse("  ").is_err());
        assert!(Username::parse(&"x".repeat(257)).is_err());
        assert_eq!(PermissionGroup::parse(" Recruiters ").unwrap().as_str(), "Recruiters");
    }
}
