//! Textbridge's model and rules: pure types with no I/O.
//!
//! Every value that crosses a trust boundary is a newtype whose constructor is the
//! only way in ("parse, don't validate"): once a function holds a [`TenantId`] or an
//! [`E164`], it never needs to check it again.

/// The conversions every text newtype has: `as_str`, `Display`, `From<T> for String`
/// and, through the type's own `parse(&str)`, `FromStr` and `TryFrom<String>` (which
/// serde uses, so deserialising goes through the same check), and its OpenAPI schema
/// (text).
macro_rules! text_newtype {
    ($name:ident) => {
        text_newtype!($name, |s: &str| $name::parse(s));
    };
    ($name:ident, $parse:expr) => {
        impl $name {
            /// The value as text.
            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl std::str::FromStr for $name {
            type Err = $crate::Error;
            fn from_str(s: &str) -> Result<Self, $crate::Error> {
                ($parse)(s)
            }
        }

        impl TryFrom<String> for $name {
            type Error = $crate::Error;
            fn try_from(s: String) -> Result<Self, $crate::Error> {
                ($parse)(&s)
            }
        }

        impl From<$name> for String {
            fn from(v: $name) -> String {
                v.0
            }
        }

        impl utoipa::PartialSchema for $name {
            fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
                <String as utoipa::PartialSchema>::schema()
            }
        }

        impl utoipa::ToSchema for $name {}

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(&self.0)
            }
        }
    };
}

mod credential;
mod email;
mod error;
mod identity;
pub mod import;
mod message;
mod phone;
mod provider;
mod tenant;
mod timestamp;
mod user;

pub use credential::{BranchId, CredentialLevel, ProviderUsername};
pub use email::Email;
pub use error::Error;
pub use identity::{Identity, PermissionGroup, Role, UserId, Username};
pub use message::{
    DeliveryStatus, Direction, Encoding, MAX_TEXT_CHARS, MessageEvent, RecordKind, WebhookEvent, opt_out_keyword,
    segments,
};
pub use phone::{E164, Region};
pub use provider::ProviderKind;
pub use tenant::TenantId;
pub use timestamp::Timestamp;
pub use user::{AreaCode, AtsUserId, PersonName, TeamName, UserStatus};

/// Result with the domain [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;
