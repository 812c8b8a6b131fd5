//! The upload place ([`Uploads`]) of the local server: files in `uploads/` of the
//! data directory, PUT to the server itself at a URL signed like a presigned S3 URL
//! (`{base}/uploads/{key}?expires=…&signature=…`, an HMAC-SHA256 under a key kept in
//! the encrypted secret store), so a caller uploads the same way on both backends.

use std::{
    fs,
    io::Write as _,
    os::unix::fs::{DirBuilderExt, OpenOptionsExt},
    path::PathBuf,
    sync::Arc,
    time::Duration,
};

use async_trait::async_trait;
use hmac::{Hmac, Mac};
use secrecy::{ExposeSecret, SecretString};
use sha2::Sha256;
use textbridge_app::ports::{Clock, PortError, PortResult, PutUrl, SecretName, Upload, Uploads};

use crate::{Embedded, db::blocking};

/// The directory of uploaded files inside the data directory.
pub const UPLOADS_DIR: &str = "uploads";

/// Why an upload was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    /// The key is not one this place gives.
    UnknownKey,
    /// The signature does not match (or is missing).
    BadSignature,
    /// The URL's time is up.
    Expired,
}

/// Uploaded files in the data directory.
#[derive(Clone)]
pub struct LocalUploads {
    dir: PathBuf,
    base_url: String,
    key: Arc<SecretString>,
    clock: Arc<dyn Clock>,
}

impl LocalUploads {
    /// The upload place of `embedded`, whose URLs start with `base_url` (the local
    /// server's public address); creates the directory and the signing key if missing.
    pub async fn open(embedded: &Embedded, base_url: &str, clock: Arc<dyn Clock>) -> PortResult<Self> {
        let dir = embedded.data_dir().join(UPLOADS_DIR);
        fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(&dir)
            .map_err(|e| PortError::Unexpected(format!("cannot create {}: {e}", dir.display())))?;
        let secrets = embedded.backend().secrets;
        let name = SecretName::from_parts(&["local", "uploads", "signing-key"])
            .map_err(|e| PortError::Unexpected(e.to_string()))?;
        let key = match secrets.get(&name).await {
            Ok(key) => key,
            Err(PortError::NotFound(_)) => {
                let fresh: [u8; 32] = rand::random();
                match secrets.create(&name, &SecretString::from(hex::encode(fresh))).await {
                    Ok(()) | Err(PortError::ConditionFailed) => secrets.get(&name).await?,
                    Err(e) => return Err(e),
                }
            }
            Err(e) => return Err(e),
        };
        Ok(Self { dir, base_url: base_url.trim_end_matches('/').to_owned(), key: Arc::new(key), clock })
    }

    fn signature(&self, key: &str, expires: i64) -> String {
        let mut mac = Hmac::<Sha256>::new_from_slice(self.key.expose_secret().as_bytes()).expect("any key length");
        mac.update(format!("PUT\n{key}\n{expires}").as_bytes());
        hex::encode(mac.finalize().into_bytes())
    }

    /// The file of `key`: every segment letters, digits, `-`, `_` or `.`, never `.` or `..`.
    fn path(&self, key: &str) -> Option<PathBuf> {
        let ok = |s: &str| {
            !s.is_empty()
                && s != "."
                && s != ".."
                && s.len() <= 128
                && s.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'))
        };
        let parts: Vec<&str> = key.split('/').collect();
        (parts.len() <= 4 && parts.iter().all(|p| ok(p))).then(|| parts.iter().fold(self.dir.clone(), |d, p| d.join(p)))
    }

    /// Takes one PUT of `bytes` to `key` signed with `signature` until `expires`
    /// (unix seconds): written to a temporary file and moved into place, so a
    /// reader never sees half a file.
    pub async fn accept(&self, key: &str, expires: i64, signature: &str, bytes: Vec<u8>) -> Result<(), AcceptError> {
        let path = self.path(key).ok_or(AcceptError::Refused(Refusal::UnknownKey))?;
        let expected = self.signature(key, expires);
        let matches: bool = expected.len() == signature.len()
            && expected.bytes().zip(signature.bytes()).fold(0u8, |acc, (a, b)| acc | (a ^ b)) == 0;
        if !matches {
            return Err(AcceptError::Refused(Refusal::BadSignature));
        }
        if self.clock.now().unix_timestamp() > expires {
            return Err(AcceptError::Refused(Refusal::Expired));
        }
        blocking(move || write_file(&path, &bytes)).await.map_err(AcceptError::Port)
    }
}

/// Why [`LocalUploads::accept`] failed.
#[derive(Debug)]
pub enum AcceptError {
    /// The URL does not allow this PUT.
    Refused(Refusal),
    /// The file could not be written.
    Port(PortError),
}

fn write_file(path: &std::path::Path, bytes: &[u8]) -> PortResult<()> {
    let failed = |e: std::io::Error| PortError::Unexpected(format!("cannot keep the uploaded file: {e}"));
    let dir = path.parent().ok_or_else(|| PortError::Unexpected("an upload path has no directory".into()))?;
    fs::DirBuilder::new().recursive(true).mode(0o700).create(dir).map_err(failed)?;
    let temp = dir.join(format!(".{}.tmp", uuid::Uuid::new_v4().simple()));
    let mut file = fs::OpenOptions::new().write(true).create_new(true).mode(0o600).open(&temp).map_err(failed)?;
    let written = file.write_all(bytes).and_then(|()| file.sync_all()).and_then(|()| fs::rename(&temp, path));
    if written.is_err() {
        let _ = fs::remove_file(&temp);
    }
    written.map_err(failed)
}

#[async_trait]
impl Uploads for LocalUploads {
    async fn put_url(&self, key: &str, ttl: Duration) -> PortResult<PutUrl> {
        if self.path(key).is_none() {
            return Err(PortError::Invalid(format!("{key:?} is not an upload key")));
        }
        let expires = self.clock.now().unix_timestamp() + i64::try_from(ttl.as_secs()).unwrap_or(i64::MAX / 2);
        let signature = self.signature(key, expires);
        let url = format!("{}/{UPLOADS_DIR}/{key}?expires={expires}&signature={signature}", self.base_url);
        Ok(PutUrl { url, headers: Vec::new() })
    }

    async fn read(&self, key: &str, max_bytes: u64) -> PortResult<Upload> {
        let Some(path) = self.path(key) else { return Ok(Upload::Missing) };
        blocking(move || match fs::metadata(&path) {
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Upload::Missing),
            Err(e) => Err(PortError::Unexpected(format!("cannot read an uploaded file: {e}"))),
            Ok(meta) if meta.len() > max_bytes => Ok(Upload::TooLarge(meta.len())),
            Ok(_) => fs::read(&path)
                .map(Upload::File)
                .map_err(|e| PortError::Unexpected(format!("cannot read an uploaded file: {e}"))),
        })
        .await
    }

    async fn delete(&self, key: &str) -> PortResult<()> {
        let Some(path) = self.path(key) else { return Ok(()) };
        blocking(move || match fs::remove_file(&path) {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
            Err(e) => Err(PortError::Unexpected(format!("cannot remove an uploaded file: {e}"))),
        })
        .await
    }
}
