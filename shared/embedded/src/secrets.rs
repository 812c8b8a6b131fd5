//! The secret store on the `secrets` table: values encrypted with ChaCha20-Poly1305
//! under the data directory's key, bound to their names.

use std::sync::Arc;

use async_trait::async_trait;
use chacha20poly1305::Nonce;
use chacha20poly1305::aead::{Aead, AeadCore, OsRng, Payload};
use rusqlite::{OptionalExtension, params};
use secrecy::{ExposeSecret, SecretString};
use textbridge_app::ports::{PortError, PortResult, SecretName, Secrets};

use crate::db::{Db, DbResult, now_ms};

/// Secrets Manager's largest secret value, in bytes.
const MAX_VALUE_BYTES: usize = 65_536;
/// Length of a nonce in bytes.
const NONCE_LEN: usize = 12;

/// [`Secrets`] on SQLite.
pub(crate) struct SqliteSecrets {
    db: Arc<Db>,
}

/// A sealed value: the nonce and the ciphertext (with its tag).
struct Sealed {
    nonce: Vec<u8>,
    ciphertext: Vec<u8>,
}

impl SqliteSecrets {
    pub(crate) fn new(db: Arc<Db>) -> Self {
        Self { db }
    }

    /// Encrypts `value` under a fresh random nonce, bound to `name`.
    fn seal(&self, name: &SecretName, value: &SecretString) -> PortResult<Sealed> {
        let plaintext = value.expose_secret().as_bytes();
        if plaintext.len() > MAX_VALUE_BYTES {
            return Err(PortError::Invalid(format!("a secret value is at most {MAX_VALUE_BYTES} bytes")));
        }
        let nonce = chacha20poly1305::ChaCha20Poly1305::generate_nonce(&mut OsRng);
        let ciphertext = self
            .db
            .cipher()
            .encrypt(&nonce, Payload { msg: plaintext, aad: name.as_str().as_bytes() })
            .map_err(|_| PortError::Unexpected(format!("cannot encrypt secret {name}")))?;
        Ok(Sealed { nonce: nonce.to_vec(), ciphertext })
    }

    /// Decrypts a sealed value of `name`.
    fn open(&self, name: &SecretName, sealed: &Sealed) -> PortResult<SecretString> {
        let damaged = || {
            PortError::Unexpected(format!(
                "secret {name} cannot be decrypted: the key file does not match or the stored value is damaged"
            ))
        };
        if sealed.nonce.len() != NONCE_LEN {
            return Err(damaged());
        }
        let plaintext = self
            .db
            .cipher()
            .decrypt(
                Nonce::from_slice(&sealed.nonce),
                Payload { msg: &sealed.ciphertext, aad: name.as_str().as_bytes() },
            )
            .map_err(|_| damaged())?;
        match String::from_utf8(plaintext) {
            Ok(value) => Ok(SecretString::from(value)),
            Err(e) => {
                let mut bytes = e.into_bytes();
                secrecy::zeroize::Zeroize::zeroize(&mut bytes);
                Err(damaged())
            }
        }
    }
}

#[async_trait]
impl Secrets for SqliteSecrets {
    async fn create(&self, name: &SecretName, value: &SecretString) -> PortResult<()> {
        let sealed = self.seal(name, value)?;
        let name = name.as_str().to_owned();
        self.db
            .write(move |tx| {
                let now = now_ms();
                let created = tx
                    .prepare_cached(
                        "INSERT INTO secrets (name, nonce, ciphertext, version, created_at_ms, updated_at_ms)
                         VALUES (?1, ?2, ?3, 1, ?4, ?4)
                         ON CONFLICT (name) DO NOTHING",
                    )
                    .and_then(|mut stmt| stmt.execute(params![name, sealed.nonce, sealed.ciphertext, now]))
                    .db()?;
                if created == 0 { Err(PortError::ConditionFailed) } else { Ok(()) }
            })
            .await
    }

    async fn get(&self, name: &SecretName) -> PortResult<SecretString> {
        let key = name.as_str().to_owned();
        let sealed = self
            .db
            .read(move |conn| {
                conn.prepare_cached("SELECT nonce, ciphertext FROM secrets WHERE name = ?1")
                    .and_then(|mut stmt| {
                        stmt.query_row(params![key], |row| Ok(Sealed { nonce: row.get(0)?, ciphertext: row.get(1)? }))
                            .optional()
                    })
                    .db()
            })
            .await?;
        match sealed {
            Some(sealed) => self.open(name, &sealed),
            None => Err(PortError::NotFound(name.to_string())),
        }
    }

    async fn replace(&self, name: &SecretName, value: &SecretString) -> PortResult<()> {
        let sealed = self.seal(name, value)?;
        let key = name.as_str().to_owned();
        let replaced = self
            .db
            .write(move |tx| {
                tx.prepare_cached(
                    "UPDATE secrets SET nonce = ?2, ciphertext = ?3, version = version + 1, updated_at_ms = ?4
                     WHERE name = ?1",
                )
                .and_then(|mut stmt| stmt.execute(params![key, sealed.nonce, sealed.ciphertext, now_ms()]))
                .db()
            })
            .await?;
        if replaced == 0 { Err(PortError::NotFound(name.to_string())) } else { Ok(()) }
    }

    async fn delete(&self, name: &SecretName) -> PortResult<()> {
        let key = name.as_str().to_owned();
        let deleted = self
            .db
            .write(move |tx| {
                tx.prepare_cached("DELETE FROM secrets WHERE name = ?1")
                    .and_then(|mut stmt| stmt.execute(params![key]))
                    .db()
            })
            .await?;
        if deleted == 0 { Err(PortError::NotFound(name.to_string())) } else { Ok(()) }
    }
}
