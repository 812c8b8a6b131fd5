//! Development tokens: the local server's only identity. A token is a JWT (HS256)
//! signed with this installation's key (`dev-token.key`, 0600), so no other server
//! accepts it; it expires with no leeway.

use std::{fs, io::Write as _, path::Path};

use axum::http::request::Parts;
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use serde::{Deserialize, Serialize};
use textbridge_api::{Authenticator, Claims, identity::bearer_token};
use textbridge_domain::{Error, Identity};

/// The least length of the key, in bytes.
const KEY_LEN: usize = 32;

/// Issuer and audience of development tokens.
const DEV_ISSUER: &str = "textbridge-local";

#[derive(Serialize, Deserialize)]
struct DevTokenClaims {
    #[serde(flatten)]
    claims: Claims,
    iss: String,
    aud: String,
    exp: u64,
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
    /// A key file others may read is refused (anyone who reads it can mint tokens).
    pub fn load_or_create(path: &Path) -> Result<Self, Error> {
        let io = |what: &str, e: std::io::Error| {
            Error::unexpected(format!("cannot {what} the token key file {}: {e}", path.display()))
        };
        if !path.exists() {
            if let Some(dir) = path.parent() {
                fs::create_dir_all(dir).map_err(|e| io("create", e))?;
            }
            let mut bytes = [0u8; KEY_LEN];
            rand::fill(&mut bytes);
            let mut options = fs::OpenOptions::new();
            options.write(true).create_new(true);
            #[cfg(unix)]
            std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
            match options.open(path) {
                Ok(mut file) => {
                    file.write_all(&bytes).and_then(|()| file.sync_all()).map_err(|e| io("create", e))?;
                    tracing::info!(path = %path.display(), "created a new token key file");
                }
                Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {}
                Err(e) => return Err(io("create", e)),
            }
        }
        let meta = fs::metadata(path).map_err(|e| io("read", e))?;
        if !meta.is_file() {
            return Err(Error::unexpected(format!("the token key file {} is not a regular file", path.display())));
        }
        // The same rule as the secret key file (`secrets.key`): private to its owner.
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = meta.permissions().mode() & 0o777;
            if mode & 0o077 != 0 {
                return Err(Error::unexpected(format!(
                    "refusing the token key file {}: its mode {mode:04o} lets group or others access it; \
                     make it private to its owner (chmod 600)",
                    path.display()
                )));
            }
        }
        let bytes = fs::read(path).map_err(|e| io("read", e))?;
        if bytes.len() < KEY_LEN {
            return Err(Error::unexpected(format!(
                "the token key file {} holds {} bytes, fewer than {KEY_LEN}",
                path.display(),
                bytes.len()
            )));
        }
        Ok(Self::from_bytes(&bytes))
    }

    /// Signs a development token valid for `ttl_secs`.
    pub fn sign(&self, claims: &Claims, ttl_secs: u64) -> Result<String, Error> {
        let exp = jsonwebtoken::get_current_timestamp() + ttl_secs;
        self.sign_until(claims, exp)
    }

    /// Signs a development token that expires at `exp` (seconds since the epoch).
    pub fn sign_until(&self, claims: &Claims, exp: u64) -> Result<String, Error> {
        let claims = DevTokenClaims { claims: claims.clone(), iss: DEV_ISSUER.into(), aud: DEV_ISSUER.into(), exp };
        jsonwebtoken::encode(&Header::new(Algorithm::HS256), &claims, &self.encoding).map_err(Error::unexpected)
    }

    fn verify(&self, token: &str) -> Result<Claims, Error> {
        let mut validation = Validation::new(Algorithm::HS256);
        validation.set_issuer(&[DEV_ISSUER]);
        validation.set_audience(&[DEV_ISSUER]);
        validation.leeway = 0;
        jsonwebtoken::decode::<DevTokenClaims>(token, &self.decoding, &validation)
            .map(|data| data.claims.claims)
            .map_err(|e| {
                let why = match e.kind() {
                    jsonwebtoken::errors::ErrorKind::ExpiredSignature => "the development token has expired",
                    _ => "invalid development token",
                };
                Error::Unauthenticated(why.into())
            })
    }
}

impl Authenticator for DevKey {
    fn identify(&self, parts: &Parts) -> Result<Identity, Error> {
        self.verify(bearer_token(parts)?)?.into_identity()
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
        let token = key.sign(&claims(), 60).expect("sign");
        let id = key.identify(&parts_with(Some(&format!("Bearer {token}")))).expect("identify");
        assert_eq!(id.tenant.as_str(), "acme");
        assert_eq!(id.role, textbridge_domain::Role::Manager);
        assert!(key.identify(&parts_with(Some(&format!("bearer {token}")))).is_ok(), "scheme without case");

        let other = DevKey::from_bytes(&[8; 32]);
        assert!(matches!(
            other.identify(&parts_with(Some(&format!("Bearer {token}")))),
            Err(Error::Unauthenticated(_))
        ));
        assert!(matches!(key.identify(&parts_with(None)), Err(Error::Unauthenticated(_))));
        assert!(matches!(key.identify(&parts_with(Some(&token))), Err(Error::Unauthenticated(_))));
        let mut tampered = token.clone();
        tampered.insert(token.len() / 2, 'x');
        let err = key.identify(&parts_with(Some(&format!("Bearer {tampered}")))).unwrap_err();
        assert_eq!(err.to_string(), Error::Unauthenticated("invalid development token".into()).to_string());

        let mut bad_tenant = claims();
        bad_tenant.tenant = "T#evil".into();
        let token = key.sign(&bad_tenant, 60).expect("sign");
        assert!(matches!(key.identify(&parts_with(Some(&format!("Bearer {token}")))), Err(Error::Unauthenticated(_))));
    }

    #[test]
    fn tokens_expire_without_leeway() {
        let key = DevKey::from_bytes(&[7; 32]);
        let now = jsonwebtoken::get_current_timestamp();
        let live = key.sign_until(&claims(), now + 2).expect("sign");
        assert!(key.identify(&parts_with(Some(&format!("Bearer {live}")))).is_ok(), "exp - 2 s");
        let expired = key.sign_until(&claims(), now - 1).expect("sign");
        let err = key.identify(&parts_with(Some(&format!("Bearer {expired}")))).unwrap_err();
        assert!(err.to_string().contains("expired"), "exp + 1 s: {err}");
    }

    #[test]
    fn key_file_is_private_and_reused() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("dev-token.key");
        let a = DevKey::load_or_create(&path).expect("create");
        let b = DevKey::load_or_create(&path).expect("load");
        let token = a.sign(&claims(), 60).expect("sign");
        assert!(b.identify(&parts_with(Some(&format!("Bearer {token}")))).is_ok());
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = fs::metadata(&path).expect("meta").permissions().mode();
            assert_eq!(mode & 0o777, 0o600);
            fs::set_permissions(&path, fs::Permissions::from_mode(0o644)).expect("chmod");
            let err = DevKey::load_or_create(&path).err().expect("world-readable key refused");
            assert!(err.to_string().contains("lets group or others access it"), "{err}");
        }
    }
}
