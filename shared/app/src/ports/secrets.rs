use std::fmt;

use async_trait::async_trait;
use secrecy::SecretString;
use textbridge_domain::{Error, ProviderKind, TenantId};

use super::PortResult;

/// The name of one secret: `{tenant}/{provider}/{level}/{scope}` below the store's
/// prefix. Only characters every backend accepts in names are allowed.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct SecretName(String);

impl SecretName {
    /// The secret of `tenant`'s `provider` credentials at `level` (`system`, `branch`,
    /// `user`) for `scope` (`-` at system level, else the branch id or user id).
    pub fn credential(tenant: &TenantId, provider: ProviderKind, level: &str, scope: &str) -> Result<Self, Error> {
        Self::from_parts(&[tenant.as_str(), provider.as_str(), level, scope])
    }

    /// A name from its parts, each 1–128 characters of `A-Za-z0-9._@+=-`.
    pub fn from_parts(parts: &[&str]) -> Result<Self, Error> {
        for part in parts {
            let ok_len = (1..=128).contains(&part.len());
            let ok_chars = part.bytes().all(|b| b.is_ascii_alphanumeric() || b"._@+=-".contains(&b));
            if !ok_len || !ok_chars {
                return Err(Error::invalid(
                    "secret name",
                    format!("{part:?} must be 1-128 characters of letters, digits and ._@+=-"),
                ));
            }
        }
        Ok(Self(parts.join("/")))
    }

    /// The name as text (without the store's prefix).
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for SecretName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// Where secret values live (AWS Secrets Manager; locally, an encrypted table).
///
/// Values go in and out only as [`SecretString`], which never prints its contents.
#[async_trait]
pub trait Secrets: Send + Sync {
    /// Stores a new secret; [`super::PortError::ConditionFailed`] if the name is taken.
    async fn create(&self, name: &SecretName, value: &SecretString) -> PortResult<()>;
    /// Reads the current value; [`super::PortError::NotFound`] if there is none.
    async fn get(&self, name: &SecretName) -> PortResult<SecretString>;
    /// Replaces the value of an existing secret; the old value is gone from reads.
    async fn replace(&self, name: &SecretName, value: &SecretString) -> PortResult<()>;
    /// Deletes the secret at once (no recovery window), so the name can be reused.
    async fn delete(&self, name: &SecretName) -> PortResult<()>;
}
