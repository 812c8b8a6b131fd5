//! Who is calling. The host establishes identity: in Lambda, the API Gateway JWT
//! authorizer's verified claims (`textbridge-lambda`); locally, development tokens
//! signed with a key only the local server has (`textbridge`). Routers see only the
//! [`Caller`] extractor, and the tenant never comes from a body.

use std::{collections::HashMap, sync::Arc};

use axum::{extract::FromRequestParts, http::request::Parts};
use serde::{Deserialize, Serialize};
use textbridge_domain::{Error, Identity, PermissionGroup, TenantId, UserId, Username};

use crate::ApiError;

/// The claims Textbridge reads, in JWTs and development tokens alike.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Claims {
    /// Tenant id.
    pub tenant: String,
    /// User id.
    pub sub: String,
    /// Username.
    pub username: String,
    /// Role (`user`, `reporter`, `manager`, `customer_admin`, `staff`).
    pub role: String,
    /// Permission group.
    pub group: String,
}

impl Claims {
    /// The claims of a verified claim map (e.g. API Gateway's); a missing one is a 401.
    pub fn from_map(claims: &HashMap<String, String>) -> Result<Self, Error> {
        let get = |name: &str| {
            claims.get(name).cloned().ok_or_else(|| Error::Unauthenticated(format!("the token has no {name:?} claim")))
        };
        Ok(Self {
            tenant: get("tenant")?,
            sub: get("sub")?,
            username: get("username")?,
            role: get("role")?,
            group: get("group")?,
        })
    }

    /// Checks every claim and builds the identity; a bad claim is a 401.
    pub fn into_identity(self) -> Result<Identity, Error> {
        let unauth = |e: Error| Error::Unauthenticated(format!("bad token claim: {e}"));
        Ok(Identity {
            tenant: TenantId::parse(&self.tenant).map_err(unauth)?,
            user_id: UserId::parse(&self.sub).map_err(unauth)?,
            username: Username::parse(&self.username).map_err(unauth)?,
            role: self.role.parse().map_err(unauth)?,
            permission_group: PermissionGroup::parse(&self.group).map_err(unauth)?,
        })
    }
}

/// How a host establishes the caller of a request.
pub trait Authenticator: Send + Sync {
    /// The caller of the request, or a 401 error.
    fn identify(&self, parts: &Parts) -> Result<Identity, Error>;
}

/// The authenticator of the host, as a request extension (set by [`crate::finish`]).
#[derive(Clone)]
pub(crate) struct HostAuthenticator(pub(crate) Arc<dyn Authenticator>);

/// The authenticated caller of a request (an extractor).
#[derive(Debug, Clone)]
pub struct Caller(pub Identity);

impl<S: Send + Sync> FromRequestParts<S> for Caller {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, ApiError> {
        let auth = parts
            .extensions
            .get::<HostAuthenticator>()
            .cloned()
            .ok_or_else(|| Error::unexpected("no authenticator on this router (call textbridge_api::finish)"))?;
        let identity = auth.0.identify(parts)?;
        tracing::Span::current().record("tenant", identity.tenant.as_str());
        Ok(Self(identity))
    }
}

/// Reads the bearer token of the `Authorization` header (scheme matched without
/// case, as RFC 7235 says); a missing or other scheme is a 401.
pub fn bearer_token(parts: &Parts) -> Result<&str, Error> {
    let header = parts
        .headers
        .get(axum::http::header::AUTHORIZATION)
        .ok_or_else(|| Error::Unauthenticated("missing Authorization header".into()))?;
    let value = header.to_str().map_err(|_| Error::Unauthenticated("unreadable Authorization header".into()))?;
    match value.split_once(' ') {
        Some((scheme, token)) if scheme.eq_ignore_ascii_case("bearer") && !token.trim().is_empty() => Ok(token.trim()),
        _ => Err(Error::Unauthenticated("expected Authorization: Bearer <token>".into())),
    }
}
