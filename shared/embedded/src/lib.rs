//! Textbridge's embedded backend: the item store, the intake queue (with its
//! dead-letter queue) and the secret store on one SQLite file, so that every function
//! can run as one local process without AWS.
//!
//! Everything lives in a data directory:
//!
//! - `textbridge.db` — the SQLite database (with its `-wal` and `-shm` files), in WAL
//!   mode with `synchronous=FULL`: a call that returned has been committed and flushed
//!   to disk, so an accepted message survives a killed process and a power loss.
//!   Another process (the CLI) may open the same directory at the same time; writers
//!   wait up to [`BUSY_TIMEOUT`] for each other. Within a process, writes take turns
//!   on one connection while reads run side by side on others (one per processor)
//!   and never wait for a write.
//! - `secrets.key` — the 32-byte key that encrypts secret values (ChaCha20-Poly1305),
//!   created on first open with mode `0600`; a key file that group or others may read
//!   is refused.
//! - `uploads/` — large import files PUT to the local server ([`LocalUploads`]).
//!
//! ```no_run
//! # async fn demo() -> Result<(), textbridge_app::ports::PortError> {
//! let embedded = textbridge_embedded::open(std::path::Path::new(".textbridge")).await?;
//! let backend = embedded.backend();
//! backend.queue.send("hello").await?;
//! # Ok(())
//! # }
//! ```

mod db;
mod keyfile;
mod queue;
mod secrets;
mod store;
mod uploads;

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use textbridge_app::Backend;
use textbridge_app::ports::{EXPIRES_AT, PortError, PortResult};

use crate::db::{Db, Durability};

pub use uploads::{AcceptError, LocalUploads, Refusal, UPLOADS_DIR};

/// The database file's name inside the data directory.
pub const DB_FILE: &str = "textbridge.db";

/// The secret key file's name inside the data directory.
pub const KEY_FILE: &str = "secrets.key";

/// The database schema version (`PRAGMA user_version`) this build reads and writes.
pub const SCHEMA_VERSION: i64 = 2;

/// How long a write waits for another connection (another process) to finish its own
/// before the call fails with [`PortError::Retryable`].
pub const BUSY_TIMEOUT: Duration = Duration::from_secs(5);

/// An open embedded backend. Cheap to clone; every clone and every [`Backend`] made
/// from it share one database connection.
#[derive(Clone)]
pub struct Embedded {
    db: Arc<Db>,
}

impl std::fmt::Debug for Embedded {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Embedded").field("data_dir", &self.db.data_dir()).finish_non_exhaustive()
    }
}

impl Embedded {
    /// Opens (creating if needed) the backend in `data_dir`, blocking the calling
    /// thread; from async code use [`open`].
    ///
    /// Creates `data_dir` (mode `0700`) if missing, the key file on first use, and the
    /// database schema if the database is new.
    pub fn open_blocking(data_dir: &Path) -> PortResult<Self> {
        Ok(Self { db: Arc::new(Db::open(data_dir, Durability::Full, None)?) })
    }

    /// A fresh backend in a new temporary directory that is removed when the last
    /// handle to it (this value, its clones and their backends) is dropped. For tests
    /// and demonstrations.
    ///
    /// Its commits are not flushed to disk (`synchronous=NORMAL`: they survive a killed
    /// process, not a power loss), which is much faster and loses nothing that
    /// matters for a directory that goes away anyway.
    pub fn open_temporary() -> PortResult<Self> {
        let dir = tempfile::Builder::new()
            .prefix("textbridge-")
            .tempdir()
            .map_err(|e| PortError::Unexpected(format!("cannot create a temporary directory: {e}")))?;
        let path = dir.path().to_path_buf();
        Ok(Self { db: Arc::new(Db::open(&path, Durability::Normal, Some(dir))?) })
    }

    /// The three ports of this backend.
    pub fn backend(&self) -> Backend {
        Backend {
            store: Arc::new(store::SqliteStore::new(Arc::clone(&self.db))),
            queue: Arc::new(queue::SqliteQueue::new(Arc::clone(&self.db))),
            secrets: Arc::new(secrets::SqliteSecrets::new(Arc::clone(&self.db))),
        }
    }

    /// The data directory.
    pub fn data_dir(&self) -> &Path {
        self.db.data_dir()
    }

    /// The database file.
    pub fn db_path(&self) -> PathBuf {
        self.db.data_dir().join(DB_FILE)
    }

    /// Removes the items whose [`EXPIRES_AT`] (unix seconds) is at or before `now`,
    /// as DynamoDB's time to live does on AWS; returns how many went.
    pub async fn sweep_expired(&self, now: i64) -> PortResult<usize> {
        self.db
            .write(move |tx| {
                let sql = format!("DELETE FROM items WHERE json_extract(attrs, '$.{EXPIRES_AT}') <= ?1");
                tx.execute(&sql, [now]).map_err(|e| PortError::Unexpected(format!("sweeping expired items: {e}")))
            })
            .await
    }
}

/// Opens (creating if needed) the backend in `data_dir` without blocking the async
/// runtime; see [`Embedded::open_blocking`].
pub async fn open(data_dir: &Path) -> PortResult<Embedded> {
    let data_dir = data_dir.to_path_buf();
    tokio::task::spawn_blocking(move || Embedded::open_blocking(&data_dir))
        .await
        .map_err(|e| PortError::Unexpected(format!("opening the embedded backend failed: {e}")))?
}
