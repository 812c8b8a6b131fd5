//! Who is calling. In Lambda, API Gateway has already verified the JWT and hands us
//! its claims; locally, the caller presents a development token signed with a key
//! that only the local server has. Nothing else is accepted, and the tenant never
//! comes from a body.

use std::{collections::HashMap, fs, io::Write as _, path::Path};

use axum::{extract::FromRequestParts, http::request::Parts};
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use serde::{Deserialize, Serialize};
use textbridge_domain::{Error, Identity, PermissionGroup, TenantId, UserId, Username};

use crate::http::ApiError;

/// Issuer and audience of development tokens.
const DEV_ISSUER: &str = "textbridge-local";

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
    fn from_map(claims: &HashMap<String, String>) -> Result<Self, Error> {
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

#[derive(Serialize, Deserialize)]
struct DevTokenClaims {
    #[serde(flatten)]
    claims: Claims,
    iss: String,
    aud: String,
    exp: u64,
}

/// How a deployment establishes identity.
#[derive(Clone)]
pub enum Authenticator {
    /// Claims of the API Gateway HTTP API JWT authorizer (the Lambda deployment).
    ApiGatewayJwt,
    /// Development tokens signed with the local key (`textbridge serve`).
    DevToken(DevKey),
}

/// The local signing key of development tokens.
#[derive(Clone)]
pub struct DevKey {
    encoding: EncodingKey,
    decoding: DecodingKey,
}

impl DevKey {
    /// A key from raw bytes.
    pub fn from_bytes(bytes: &[u8]) -> Self {
        Self { encoding: EncodingKey::from_secret(bytes), decoding: DecodingKey::from_secret(bytes) }
    }

    /// Loads `path`, creating it (32 random bytes, mode 0600) if it does not exist.
    pub fn load_or_create(path: &Path) -> Result<Self, Error> {
        let io = |e: std::io::Error| Error::unexpected(format!("token key file {}: {e}", path.display()));
        if !path.exists() {
            if let Some(dir) = path.parent() {
                fs::create_dir_all(dir).map_err(io)?;
            }
            let mut bytes = [0u8; 32];
            rand::fill(&mut bytes);
            let mut options = fs::OpenOptions::new();
            options.write(true).create_new(true);
            #[cfg(unix)]
            std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
            match options.open(path) {
                Ok(mut file) => file.write_all(&bytes).map_err(io)?,
                Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {}
                Err(e) => return Err(io(e)),
            }
        }
        let bytes = fs::read(path).map_err(io)?;
        if bytes.len() < 32 {
            return Err(Error::unexpected(format!("token key file {} is shorter than 32 bytes", path.display())));
        }
        Ok(Self::from_bytes(&bytes))
    }

    /// Signs a development token valid for `ttl_secs`.
    pub fn sign(&self, claims: &Claims, ttl_secs: u64) -> Result<String, Error> {
        let exp = jsonwebtoken::get_current_timestamp() + ttl_secs;
        let claims = DevTokenClaims { claims: claims.clone(), iss: DEV_ISSUER.into(), aud: DEV_ISSUER.into(), exp };
        jsonwebtoken::encode(&Header::new(Algorithm::HS256), &claims, &self.encoding).map_err(Error::unexpected)
    }

    fn verify(&self, token: &str) -> Result<Claims, Error> {
        let mut validation = Validation::new(Algorithm::HS256);
        validation.set_issuer(&[DEV_ISSUER]);
        validation.set_audience(&[DEV_ISSUER]);
        jsonwebtoken::decode::<DevTokenClaims>(token, &self.decoding, &validation)
            .map(|data| data.claims.claims)
            .map_err(|e| Error::Unauthenticated(format!("invalid development token: {e}")))
    }
}

impl Authenticator {
    /// Establishes the caller of a request, or fails with 401.
    pub fn identify(&self, parts: &Parts) -> Result<Identity, Error> {
        let claims = match self {
            Self::ApiGatewayJwt => Claims::from_map(jwt_claims(parts)?)?,
            Self::DevToken(key) => {
                let header = parts
                    .headers
                    .get(axum::http::header::AUTHORIZATION)
                    .ok_or_else(|| Error::Unauthenticated("missing Authorization header".into()))?;
                let token = header
                    .to_str()
                    .ok()
                    .and_then(|h| h.strip_prefix("Bearer "))
                    .ok_or_else(|| Error::Unauthenticated("expected Authorization: Bearer <token>".into()))?;
                key.verify(token.trim())?
            }
        };
        claims.into_identity()
    }
}

fn jwt_claims(parts: &Parts) -> Result<&HashMap<String, String>, Error> {
    let none = || Error::Unauthenticated("no verified JWT claims on the request".into());
    match parts.extensions.get::<lambda_http::request::RequestContext>().ok_or_else(none)? {
        lambda_http::request::RequestContext::ApiGatewayV2(ctx) => {
            ctx.authorizer.as_ref().and_then(|a| a.jwt.as_ref()).map(|jwt| &jwt.claims).ok_or_else(none)
        }
        #[allow(unreachable_patterns)]
        _ => Err(none()),
    }
}

/// The authenticated caller of a request (an extractor).
#[derive(Debug, Clone)]
pub struct Caller(pub Identity);

impl FromRequestParts<std::sync::Arc<crate::App>> for Caller {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, app: &std::sync::Arc<crate::App>) -> Result<Self, ApiError> {
        let identity = app.auth.identify(parts)?;
        tracing::Span::current().record("tenant", identity.tenant.as_str());
        Ok(Self(identity))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn claims() -> Claims {
        Claims {
            tenant: "acme".into(),
            sub: "u1".into(),
            username: "jane@acme.test".into(),
            role: "manager".into(),
            group: "Recruiters".into(),
        }
    }

    fn parts_with(header: Option<&str>) -> Parts {
        let mut req = axum::http::Request::builder();
        if let Some(h) = header {
            req = req.header("authorization", h);
        }
        req.body(()).expect("request").into_parts().0
    }

    #[test]
    fn dev_token_round_trip_and_rejections() {
        let key = DevKey::from_bytes(&[7; 32]);
        let auth = Authenticator::DevToken(key.clone());
        let token = key.sign(&claims(), 60).expect("sign");
        let id = auth.identify(&parts_with(Some(&format!("Bearer {token}")))).expect("identify");
        assert_eq!(id.tenant.as_str(), "acme");
        assert_eq!(id.role, textbridge_domain::Role::Manager);

        let other = Authenticator::DevToken(DevKey::from_bytes(&[8; 32]));
        assert!(matches!(
            other.identify(&parts_with(Some(&format!("Bearer {token}")))),
            Err(Error::Unauthenticated(_))
        ));
        assert!(matches!(auth.identify(&parts_with(None)), Err(Error::Unauthenticated(_))));
        assert!(matches!(auth.identify(&parts_with(Some(&token))), Err(Error::Unauthenticated(_))));
        let mut tampered = token.clone();
        tampered.insert(token.len() / 2, 'x');
        assert!(auth.identify(&parts_with(Some(&format!("Bearer {tampered}")))).is_err());

        let mut bad_tenant = claims();
        bad_tenant.tenant = "T#evil".into();
        let token = key.sign(&bad_tenant, 60).expect("sign");
        assert!(matches!(auth.identify(&parts_with(Some(&format!("Bearer {token}")))), Err(Error::Unauthenticated(_))));
    }

    #[test]
    fn lambda_mode_ignores_bearer_tokens() {
        let key = DevKey::from_bytes(&[7; 32]);
        let token = key.sign(&claims(), 60).expect("sign");
        let err = Authenticator::ApiGatewayJwt.identify(&parts_with(Some(&format!("Bearer {token}")))).unwrap_err();
        assert!(matches!(err, Error::Unauthenticated(_)));
    }

    #[test]
    fn key_file_is_private_and_reused() {
        let dir = std::env::temp_dir().join(format!("tb-key-{}", uuid::Uuid::new_v4()));
        let path = dir.join("dev-token.key");
        let a = DevKey::load_or_create(&path).expect("create");
        let b = DevKey::load_or_create(&path).expect("load");
        let token = a.sign(&claims(), 60).expect("sign");
        assert!(Authenticator::DevToken(b).identify(&parts_with(Some(&format!("Bearer {token}")))).is_ok());
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = fs::metadata(&path).expect("meta").permissions().mode();
            assert_eq!(mode & 0o777, 0o600);
        }
        fs::remove_dir_all(dir).expect("cleanup");
    }
}
