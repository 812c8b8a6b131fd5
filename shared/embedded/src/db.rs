//! The shared connection: opening, schema, error mapping, and running blocking
//! database work off the async runtime.

use std::fs::{DirBuilder, OpenOptions};
use std::ops::Deref;
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::path::{Path, PathBuf};
use std::sync::mpsc::{Receiver, Sender, TryRecvError};
use std::sync::{Arc, Condvar, Mutex, PoisonError};
use std::thread::JoinHandle;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use chacha20poly1305::ChaCha20Poly1305;
use rusqlite::{Connection, ErrorCode, OpenFlags, TransactionBehavior};
use tempfile::TempDir;
use textbridge_app::ports::{PortError, PortResult};

use crate::{BUSY_TIMEOUT, DB_FILE, KEY_FILE, SCHEMA_VERSION, keyfile};

/// Schema version 2. Every statement is idempotent, and brings a version 1 database
/// up to date.
const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS items (
    pk      TEXT NOT NULL,
    sk      TEXT NOT NULL,
    gsi1pk  TEXT,
    gsi1sk  TEXT,
    attrs   TEXT NOT NULL,
    PRIMARY KEY (pk, sk)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS items_gsi1 ON items (gsi1pk, gsi1sk, pk, sk);

CREATE TABLE IF NOT EXISTS messages (
    seq            INTEGER PRIMARY KEY AUTOINCREMENT,
    id             TEXT NOT NULL UNIQUE,
    queue          TEXT NOT NULL CHECK (queue IN ('intake', 'dead')),
    body           TEXT NOT NULL,
    receive_count  INTEGER NOT NULL DEFAULT 0,
    visible_at_ms  INTEGER NOT NULL,
    receipt        TEXT,
    sent_at_ms     INTEGER NOT NULL,
    dead_at_ms     INTEGER
);
-- Version 2: the queue's index carries what a receive filters on and what the depth
-- counts, so that neither reads the messages' bodies (version 1's index was
-- messages_queue, on (queue, seq) alone).
DROP INDEX IF EXISTS messages_queue;
CREATE INDEX IF NOT EXISTS messages_waiting ON messages (queue, seq, visible_at_ms, sent_at_ms);
CREATE UNIQUE INDEX IF NOT EXISTS messages_receipt ON messages (receipt) WHERE receipt IS NOT NULL;

CREATE TABLE IF NOT EXISTS secrets (
    name           TEXT PRIMARY KEY NOT NULL,
    nonce          BLOB NOT NULL,
    ciphertext     BLOB NOT NULL,
    version        INTEGER NOT NULL,
    created_at_ms  INTEGER NOT NULL,
    updated_at_ms  INTEGER NOT NULL
);
";

/// How far a commit goes before the call returns (`PRAGMA synchronous`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Durability {
    /// `FULL`: the write-ahead log is flushed to disk at every commit, so a returned
    /// call survives a killed process and a power loss.
    Full,
    /// `NORMAL`: a returned call survives a killed process, not a power loss. For
    /// throwaway databases.
    Normal,
}

impl Durability {
    fn pragma(self) -> &'static str {
        match self {
            Self::Full => "FULL",
            Self::Normal => "NORMAL",
        }
    }
}

/// Most writes committed together in one transaction (group commit).
const MAX_GROUP: usize = 256;

/// How many read connections: one per processor, at least 2 and at most 8. Reads
/// run side by side up to that many at once.
fn reader_count() -> usize {
    std::thread::available_parallelism().map_or(2, std::num::NonZero::get).clamp(2, 8)
}

/// The open database, the secret cipher, and (for temporary backends) the directory
/// guard. Dropping it stops the writer thread and closes the connections before the
/// directory goes.
///
/// Writes go to one writer thread that owns the write connection; reads go through
/// [`reader_count`] other connections, so that a read never waits for a write's flush to
/// disk nor for another read (in WAL mode readers see the last commit and do not
/// block the writer).
///
/// **Group commit**: the writer takes every write waiting when it becomes free (up to
/// [`MAX_GROUP`]) into one transaction, each write in its own savepoint, and answers
/// each caller only after that transaction's commit — so concurrent writes share one
/// flush to disk, a write that fails leaves nothing behind, and no call returns before
/// what it wrote is durable.
pub(crate) struct Db {
    writer: Option<Writer>,
    readers: Readers,
    cipher: ChaCha20Poly1305,
    data_dir: PathBuf,
    _temp: Option<TempDir>,
}

/// The writer thread and the way to hand it work.
struct Writer {
    jobs: Sender<Job>,
    thread: JoinHandle<()>,
}

/// The read connections not in use, and the signal that one came back.
struct Readers {
    idle: Mutex<Vec<Connection>>,
    returned: Condvar,
}

impl Readers {
    /// Takes an idle read connection, waiting for one while all are in use.
    fn take(&self) -> Reader<'_> {
        // The list is only pushed to and popped from, so a panic cannot leave it
        // half-changed.
        let mut idle = self.idle.lock().unwrap_or_else(PoisonError::into_inner);
        loop {
            if let Some(conn) = idle.pop() {
                return Reader { conn: Some(conn), readers: self };
            }
            idle = self.returned.wait(idle).unwrap_or_else(PoisonError::into_inner);
        }
    }
}

/// A read connection taken from [`Readers`]; it goes back when dropped, also while a
/// panic unwinds.
struct Reader<'a> {
    conn: Option<Connection>,
    readers: &'a Readers,
}

impl Deref for Reader<'_> {
    type Target = Connection;

    fn deref(&self) -> &Connection {
        self.conn.as_ref().expect("a reader holds its connection until dropped")
    }
}

impl Drop for Reader<'_> {
    fn drop(&mut self) {
        if let Some(conn) = self.conn.take() {
            self.readers.idle.lock().unwrap_or_else(PoisonError::into_inner).push(conn);
            self.readers.returned.notify_one();
        }
    }
}

/// One write: runs on the write connection inside the group's transaction (or is told
/// why the transaction could not start) and returns whether it succeeded and how to
/// answer its caller once the group's commit is known.
type Job = Box<dyn FnOnce(PortResult<&Connection>) -> (bool, Answer) + Send>;

/// Answers a write's caller with the outcome of its group's commit.
type Answer = Box<dyn FnOnce(PortResult<()>) + Send>;

impl Drop for Db {
    fn drop(&mut self) {
        if let Some(Writer { jobs, thread }) = self.writer.take() {
            drop(jobs);
            // The thread ends once the writes already handed to it are done, closing
            // its connection.
            let _ = thread.join();
        }
    }
}

impl Db {
    /// Opens the backend in `data_dir`; see [`crate::Embedded::open_blocking`].
    pub(crate) fn open(data_dir: &Path, durability: Durability, temp: Option<TempDir>) -> PortResult<Self> {
        DirBuilder::new().recursive(true).mode(0o700).create(data_dir).map_err(|e| {
            PortError::Unexpected(format!("cannot create the data directory {}: {e}", data_dir.display()))
        })?;
        let cipher = keyfile::load_or_create(&data_dir.join(KEY_FILE))?;
        let path = data_dir.join(DB_FILE);
        let writer = open_writer(&path, durability)?;
        let readers = (0..reader_count()).map(|_| open_reader(&path)).collect::<PortResult<Vec<_>>>()?;
        let (jobs, queued) = std::sync::mpsc::channel();
        let thread = std::thread::Builder::new()
            .name("textbridge-db-writer".to_owned())
            .spawn(move || run_writer(writer, &queued))
            .map_err(|e| PortError::Unexpected(format!("cannot start the database writer: {e}")))?;
        tracing::debug!(data_dir = %data_dir.display(), ?durability, "opened the embedded backend");
        Ok(Self {
            writer: Some(Writer { jobs, thread }),
            readers: Readers { idle: Mutex::new(readers), returned: Condvar::new() },
            cipher,
            data_dir: data_dir.to_path_buf(),
            _temp: temp,
        })
    }

    /// The data directory.
    pub(crate) fn data_dir(&self) -> &Path {
        &self.data_dir
    }

    /// The cipher of secret values.
    pub(crate) fn cipher(&self) -> &ChaCha20Poly1305 {
        &self.cipher
    }

    /// Runs `f` on the read connection on a blocking thread. Each statement sees
    /// every write committed before it started.
    pub(crate) async fn read<T, F>(self: &Arc<Self>, f: F) -> PortResult<T>
    where
        F: FnOnce(&Connection) -> PortResult<T> + Send + 'static,
        T: Send + 'static,
    {
        let db = Arc::clone(self);
        blocking(move || {
            let conn = db.readers.take();
            if !conn.is_autocommit() {
                // A read that panicked left its statement's transaction open.
                conn.execute_batch("ROLLBACK").db()?;
            }
            f(&conn)
        })
        .await
    }

    /// Runs `f` on the writer thread inside a write transaction (`BEGIN IMMEDIATE`),
    /// possibly shared with other writes waiting at the same time; returns once that
    /// transaction has committed. On `Err` nothing `f` did is written.
    pub(crate) async fn write<T, F>(&self, f: F) -> PortResult<T>
    where
        F: FnOnce(&Connection) -> PortResult<T> + Send + 'static,
        T: Send + 'static,
    {
        let (answer, answered) = tokio::sync::oneshot::channel::<PortResult<T>>();
        let job: Job = Box::new(move |conn| {
            let out = match conn {
                Ok(conn) => catch_unwind(AssertUnwindSafe(|| f(conn)))
                    .unwrap_or_else(|_| Err(PortError::Unexpected("database task failed: it panicked".to_owned()))),
                Err(e) => Err(e),
            };
            let ok = out.is_ok();
            let answer: Answer = Box::new(move |committed| {
                let _ = answer.send(out.and_then(|value| committed.map(|()| value)));
            });
            (ok, answer)
        });
        let stopped = || PortError::Unexpected("the database writer has stopped".to_owned());
        let writer = self.writer.as_ref().ok_or_else(stopped)?;
        writer.jobs.send(job).map_err(|_| stopped())?;
        answered.await.map_err(|_| stopped())?
    }
}

/// The writer thread: takes the writes waiting, runs them in one transaction (each in
/// a savepoint), commits, then answers them; until every sender is gone.
fn run_writer(conn: Connection, jobs: &Receiver<Job>) {
    while let Ok(first) = jobs.recv() {
        let mut group = vec![first];
        while group.len() < MAX_GROUP {
            match jobs.try_recv() {
                Ok(job) => group.push(job),
                Err(TryRecvError::Empty | TryRecvError::Disconnected) => break,
            }
        }
        let mut answers = Vec::with_capacity(group.len());
        let mut outcome = begin(&conn);
        match &outcome {
            Ok(()) => {
                for job in group {
                    let (answer, closed) = run_job(&conn, job);
                    answers.push(answer);
                    if let Err(e) = closed {
                        outcome = Err(e);
                    }
                }
            }
            Err(e) => answers.extend(group.into_iter().map(|job| job(Err(e.clone())).1)),
        }
        if outcome.is_ok() {
            outcome = conn.execute_batch("COMMIT").db();
        }
        if !conn.is_autocommit() {
            let _ = conn.execute_batch("ROLLBACK");
        }
        for answer in answers {
            answer(outcome.clone());
        }
    }
}

/// Starts the group's transaction, after rolling back anything left open.
fn begin(conn: &Connection) -> PortResult<()> {
    if !conn.is_autocommit() {
        conn.execute_batch("ROLLBACK").db()?;
    }
    conn.execute_batch("BEGIN IMMEDIATE").db()
}

/// Runs one write in its own savepoint, undoing it when it fails; `Err` when the
/// savepoint could not be closed (the whole group then fails).
fn run_job(conn: &Connection, job: Job) -> (Answer, PortResult<()>) {
    if let Err(e) = conn.execute_batch("SAVEPOINT write") {
        return (job(Err(map_error(e))).1, Ok(()));
    }
    let (ok, answer) = job(Ok(conn));
    let end = if ok { "RELEASE write" } else { "ROLLBACK TO write; RELEASE write" };
    (answer, conn.execute_batch(end).db())
}

/// Runs `f` on tokio's blocking threads (database and file work).
pub(crate) async fn blocking<T: Send + 'static>(f: impl FnOnce() -> PortResult<T> + Send + 'static) -> PortResult<T> {
    tokio::task::spawn_blocking(f).await.map_err(|e| PortError::Unexpected(format!("a blocking task failed: {e}")))?
}

/// Opens the write connection: creates the database file, sets it up for concurrent,
/// durable use, and brings its schema up to date.
fn open_writer(path: &Path, durability: Durability) -> PortResult<Connection> {
    // Create the file ourselves so that it (and the -wal/-shm files SQLite gives the
    // same permissions) is private to the owner.
    OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(false)
        .mode(0o600)
        .open(path)
        .map_err(|e| PortError::Unexpected(format!("cannot create the database {}: {e}", path.display())))?;
    let mut conn = Connection::open(path).db()?;
    conn.busy_timeout(BUSY_TIMEOUT).db()?;
    // Switching to WAL and the first schema transaction can meet another process
    // doing the same; SQLite then reports "busy" at once rather than waiting.
    let started = Instant::now();
    let mut pause = Duration::from_millis(5);
    loop {
        match set_up(&mut conn, path, durability) {
            Err(PortError::Retryable(why)) if started.elapsed() < BUSY_TIMEOUT => {
                tracing::debug!(%why, "the database is busy while opening; trying again");
                std::thread::sleep(pause);
                pause = (pause * 2).min(Duration::from_millis(100));
            }
            Err(e) => return Err(e),
            Ok(()) => return Ok(conn),
        }
    }
}

/// Sets the journal mode and durability, and brings the schema up to date.
fn set_up(conn: &mut Connection, path: &Path, durability: Durability) -> PortResult<()> {
    let mode: String = conn.pragma_query_value(None, "journal_mode", |row| row.get(0)).db()?;
    if !mode.eq_ignore_ascii_case("wal") {
        let mode: String = conn.pragma_update_and_check(None, "journal_mode", "WAL", |row| row.get(0)).db()?;
        if !mode.eq_ignore_ascii_case("wal") {
            return Err(PortError::Unexpected(format!(
                "the database {} cannot use write-ahead logging (journal mode is {mode})",
                path.display()
            )));
        }
    }
    conn.pragma_update(None, "synchronous", durability.pragma()).db()?;
    let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate).db()?;
    let version: i64 = tx.pragma_query_value(None, "user_version", |row| row.get(0)).db()?;
    if version > SCHEMA_VERSION {
        return Err(PortError::Unexpected(format!(
            "the database {} has schema version {version}, newer than this program's {SCHEMA_VERSION}",
            path.display()
        )));
    }
    tx.execute_batch(SCHEMA).db()?;
    if version < SCHEMA_VERSION {
        tx.pragma_update(None, "user_version", SCHEMA_VERSION).db()?;
    }
    tx.commit().db()
}

/// Opens the read connection (after the writer has set the database up).
fn open_reader(path: &Path) -> PortResult<Connection> {
    let conn =
        Connection::open_with_flags(path, OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX).db()?;
    conn.busy_timeout(BUSY_TIMEOUT).db()?;
    conn.pragma_update(None, "query_only", true).db()?;
    Ok(conn)
}

/// Milliseconds since the Unix epoch, from the system clock.
pub(crate) fn now_ms() -> i64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map(|d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX)).unwrap_or(0)
}

/// Maps SQLite errors to port errors.
pub(crate) trait DbResult<T> {
    /// The result with a [`PortError`]: busy or locked → retryable, a constraint →
    /// condition failed, anything else → unexpected.
    fn db(self) -> PortResult<T>;
}

impl<T> DbResult<T> for rusqlite::Result<T> {
    fn db(self) -> PortResult<T> {
        self.map_err(map_error)
    }
}

/// See [`DbResult::db`].
pub(crate) fn map_error(e: rusqlite::Error) -> PortError {
    match e.sqlite_error_code() {
        Some(ErrorCode::DatabaseBusy | ErrorCode::DatabaseLocked) => {
            PortError::Retryable(format!("the database is busy: {e}"))
        }
        Some(ErrorCode::ConstraintViolation) => PortError::ConditionFailed,
        _ => PortError::Unexpected(format!("database error: {e}")),
    }
}

/// SQLite's plan for `sql` (its values left unbound), one line per step.
#[cfg(test)]
pub(crate) fn query_plan(conn: &Connection, sql: &str) -> Vec<String> {
    let mut stmt = conn.prepare(&format!("EXPLAIN QUERY PLAN {sql}")).expect("plan");
    let mut rows = stmt.raw_query();
    let mut steps = Vec::new();
    while let Some(row) = rows.next().expect("plan row") {
        steps.push(row.get(3).expect("plan step"));
    }
    steps
}

#[cfg(test)]
mod tests {
    use super::*;

    fn temporary() -> Arc<Db> {
        crate::Embedded::open_temporary().expect("open").db
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn reads_run_side_by_side() {
        let db = temporary();
        // Each read waits inside for the other (10 s at most): with one connection the
        // second starts only after the first gave up.
        let inside = Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let read = || {
            let inside = Arc::clone(&inside);
            db.read(move |conn| {
                inside.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                let started = Instant::now();
                while inside.load(std::sync::atomic::Ordering::SeqCst) < 2
                    && started.elapsed() < Duration::from_secs(10)
                {
                    std::thread::sleep(Duration::from_millis(1));
                }
                let met = started.elapsed() < Duration::from_secs(10);
                Ok((met, conn.query_row("SELECT COUNT(*) FROM items", [], |row| row.get::<_, i64>(0)).db()?))
            })
        };
        let (a, b) = tokio::join!(read(), read());
        assert_eq!((a.expect("read"), b.expect("read")), ((true, 0), (true, 0)), "the two reads ran at once");
    }

    #[tokio::test]
    async fn a_read_that_panics_gives_its_connection_back() {
        let db = temporary();
        for _ in 0..=reader_count() {
            let failed = db.read(|_| -> PortResult<()> { panic!("a read that panics") }).await;
            assert!(matches!(failed, Err(PortError::Unexpected(_))), "{failed:?}");
        }
        let read = db.read(|conn| conn.query_row("SELECT 1", [], |row| row.get::<_, i64>(0)).db());
        let one = tokio::time::timeout(Duration::from_secs(30), read).await.expect("a connection was free");
        assert_eq!(one.expect("read"), 1);
    }
}
