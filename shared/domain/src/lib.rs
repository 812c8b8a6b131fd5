//! Textbridge's model and rules: pure types with no I/O.
//!
//! Every value that crosses a trust boundary is a newtype whose constructor is the
//! only way in ("parse, don't validate"): once a function holds a [`TenantId`] or an
//! [`E164`], it never needs to check it again.

mod error;
mod identity;
mod email;
mod phone;
mod provider;
mod tenant;

pub use email::Email;
pub use error::Error;
pub use identity::{Identity, PermissionGroup, Role, UserId, Username};
pub use phone::{E164, Region};
pub use provider::ProviderKind;
pub use tenant::TenantId;

/// Result with the domain [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;
