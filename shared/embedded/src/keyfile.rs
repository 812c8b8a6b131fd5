//! The key file that encrypts secret values.

use std::fs::{self, File, OpenOptions};
use std::io::{ErrorKind, Write};
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::Path;

use chacha20poly1305::ChaCha20Poly1305;
use chacha20poly1305::aead::rand_core::RngCore;
use chacha20poly1305::aead::{KeyInit, OsRng};
use secrecy::zeroize::Zeroize;
use textbridge_app::ports::{PortError, PortResult};

/// Length of the key in bytes.
const KEY_LEN: usize = 32;

/// The cipher keyed by the key file at `path`, creating the file with a new random key
/// (mode `0600`) if there is none.
///
/// Two processes opening the same directory for the first time agree on one key: the
/// new key is written to a private temporary file and hard-linked into place, which
/// fails if the key file appeared meanwhile; the loser then reads the winner's key. A
/// crash before the link leaves no half-written key file behind.
pub(crate) fn load_or_create(path: &Path) -> PortResult<ChaCha20Poly1305> {
    match read(path) {
        Err(ReadError::Missing) => {}
        Ok(cipher) => return Ok(cipher),
        Err(ReadError::Port(e)) => return Err(e),
    }
    create(path)?;
    match read(path) {
        Ok(cipher) => Ok(cipher),
        Err(ReadError::Port(e)) => Err(e),
        Err(ReadError::Missing) => Err(PortError::Unexpected(format!(
            "the secret key file {} vanished right after it was created",
            path.display()
        ))),
    }
}

enum ReadError {
    Missing,
    Port(PortError),
}

/// Reads the key file, refusing one that group or others may access.
fn read(path: &Path) -> Result<ChaCha20Poly1305, ReadError> {
    let unreadable = |e: std::io::Error| {
        ReadError::Port(PortError::Unexpected(format!("cannot read the secret key file {}: {e}", path.display())))
    };
    let meta = match fs::metadata(path) {
        Ok(meta) => meta,
        Err(e) if e.kind() == ErrorKind::NotFound => return Err(ReadError::Missing),
        Err(e) => return Err(unreadable(e)),
    };
    if !meta.is_file() {
        return Err(ReadError::Port(PortError::Unexpected(format!(
            "the secret key file {} is not a regular file",
            path.display()
        ))));
    }
    let mode = meta.permissions().mode() & 0o777;
    if mode & 0o077 != 0 {
        return Err(ReadError::Port(PortError::Unexpected(format!(
            "refusing the secret key file {}: its mode {mode:04o} lets group or others access it; \
             make it private to its owner (chmod 600)",
            path.display()
        ))));
    }
    let mut bytes = fs::read(path).map_err(unreadable)?;
    let cipher = if bytes.len() == KEY_LEN { ChaCha20Poly1305::new_from_slice(&bytes).ok() } else { None };
    let len = bytes.len();
    bytes.zeroize();
    cipher.ok_or_else(|| {
        ReadError::Port(PortError::Unexpected(format!(
            "the secret key file {} holds {len} bytes instead of {KEY_LEN}",
            path.display()
        )))
    })
}

/// Creates the key file with a new random key unless it exists already.
fn create(path: &Path) -> PortResult<()> {
    let failed = |what: &str, e: std::io::Error| {
        PortError::Unexpected(format!("cannot create the secret key file {}: {what}: {e}", path.display()))
    };
    let dir = path.parent().unwrap_or(Path::new("."));
    let name = path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    let temp = dir.join(format!(".{name}.{}.tmp", uuid::Uuid::new_v4().simple()));

    let mut key = [0u8; KEY_LEN];
    OsRng.try_fill_bytes(&mut key).map_err(|e| PortError::Unexpected(format!("cannot draw a random key: {e}")))?;
    let written = write_new(&temp, &key);
    key.zeroize();
    if let Err(e) = written {
        let _ = fs::remove_file(&temp);
        return Err(failed("writing it", e));
    }
    let linked = fs::hard_link(&temp, path);
    let _ = fs::remove_file(&temp);
    match linked {
        Ok(()) => {
            // Make the new directory entry durable too.
            if let Ok(dir) = File::open(dir) {
                let _ = dir.sync_all();
            }
            tracing::info!(path = %path.display(), "created a new secret key file");
            Ok(())
        }
        // Another process created it first: use theirs.
        Err(e) if e.kind() == ErrorKind::AlreadyExists => Ok(()),
        Err(e) => Err(failed("linking it into place", e)),
    }
}

/// Writes `bytes` to a new file private to its owner, flushed to disk.
fn write_new(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let mut file = OpenOptions::new().write(true).create_new(true).mode(0o600).open(path)?;
    file.write_all(bytes)?;
    file.sync_all()
}
