//! The intake queue and its dead-letter queue on the `messages` table, with SQS's
//! semantics.

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use rusqlite::{Connection, params};
use textbridge_app::ports::{DeadLetter, MAX_RECEIVES, PortError, PortResult, Queue, QueueDepth, Received};

use crate::db::{Db, DbResult, now_ms};

/// The queue name of messages waiting or in flight.
const INTAKE: &str = "intake";
/// The queue name of dead letters.
const DEAD: &str = "dead";
/// SQS's most messages per receive.
const MAX_BATCH: u32 = 10;
/// SQS's longest visibility timeout.
const MAX_VISIBILITY: Duration = Duration::from_secs(12 * 60 * 60);
/// SQS's largest message body, in bytes.
const MAX_BODY_BYTES: usize = 1024 * 1024;

/// The queue's depth: visible (?1 = intake, visible at ?3 = now), in flight, dead
/// (?2), and the oldest waiting message's send time — from the queue's index alone.
const DEPTH: &str = "SELECT
        COALESCE(SUM(queue = ?1 AND visible_at_ms <= ?3), 0),
        COALESCE(SUM(queue = ?1 AND visible_at_ms > ?3), 0),
        COALESCE(SUM(queue = ?2), 0),
        MIN(CASE WHEN queue = ?1 THEN sent_at_ms END)
    FROM messages";

/// The next 64 messages of queue ?1 after sequence number ?2 that are visible at ?3,
/// oldest first; only those are read from the table. The limit is written out: a
/// limit bound as a value has SQLite plan the statement again at every run.
const CANDIDATES: &str = "SELECT seq, id, body, receive_count FROM messages
    WHERE queue = ?1 AND seq > ?2 AND visible_at_ms <= ?3
    ORDER BY seq LIMIT 64";

/// The dead letters of queue ?1, oldest first. No `LIMIT ?` (see [`CANDIDATES`]): the
/// rows come in seq order, one step each, and the listing stops reading at its most.
const DEAD_LETTERS: &str = "SELECT id, body FROM messages WHERE queue = ?1 ORDER BY seq";

/// [`Queue`] on SQLite.
pub(crate) struct SqliteQueue {
    db: Arc<Db>,
}

impl SqliteQueue {
    pub(crate) fn new(db: Arc<Db>) -> Self {
        Self { db }
    }
}

#[async_trait]
impl Queue for SqliteQueue {
    async fn send(&self, body: &str) -> PortResult<String> {
        check_body(body)?;
        let body = body.to_owned();
        self.db.write(move |tx| insert(tx, &body, now_ms())).await
    }

    async fn send_batch(&self, bodies: &[String]) -> PortResult<Vec<String>> {
        for body in bodies {
            check_body(body)?;
        }
        if bodies.is_empty() {
            return Ok(Vec::new());
        }
        let bodies = bodies.to_vec();
        self.db
            .write(move |tx| {
                let now = now_ms();
                bodies.iter().map(|body| insert(tx, body, now)).collect()
            })
            .await
    }

    async fn receive(&self, max: u32, visibility: Duration) -> PortResult<Vec<Received>> {
        if !(1..=MAX_BATCH).contains(&max) {
            return Err(PortError::Invalid(format!("a receive takes 1 to {MAX_BATCH} messages, not {max}")));
        }
        let visibility_ms = visibility_ms(visibility)?;
        let max = usize::try_from(max).unwrap_or(1);
        self.db.write(move |tx| receive(tx, max, visibility_ms)).await
    }

    async fn delete(&self, receipt: &str) -> PortResult<()> {
        let receipt = receipt.to_owned();
        self.db
            .write(move |tx| {
                tx.prepare_cached("DELETE FROM messages WHERE receipt = ?1 AND queue = ?2")
                    .and_then(|mut stmt| stmt.execute(params![receipt, INTAKE]))
                    .db()?;
                Ok(())
            })
            .await
    }

    async fn hide(&self, receipt: &str, visibility: Duration) -> PortResult<()> {
        let visibility_ms = visibility_ms(visibility)?;
        let receipt = receipt.to_owned();
        self.db
            .write(move |tx| {
                let visible_at = now_ms().saturating_add(visibility_ms);
                tx.prepare_cached("UPDATE messages SET visible_at_ms = ?1 WHERE receipt = ?2 AND queue = ?3")
                    .and_then(|mut stmt| stmt.execute(params![visible_at, receipt, INTAKE]))
                    .db()?;
                Ok(())
            })
            .await
    }

    async fn dead_letters(&self, max: u32) -> PortResult<Vec<DeadLetter>> {
        self.db
            .read(move |conn| {
                let mut stmt = conn.prepare_cached(DEAD_LETTERS).db()?;
                let rows =
                    stmt.query_map(params![DEAD], |row| Ok(DeadLetter { id: row.get(0)?, body: row.get(1)? })).db()?;
                rows.take(usize::try_from(max).unwrap_or(usize::MAX)).map(DbResult::db).collect()
            })
            .await
    }

    async fn replay(&self, ids: Option<&[String]>) -> PortResult<u32> {
        let ids = ids.map(<[String]>::to_vec);
        self.db
            .write(move |tx| {
                // The dead letters to move, oldest first.
                let mut seqs: Vec<i64> = match &ids {
                    None => {
                        let mut stmt =
                            tx.prepare_cached("SELECT seq FROM messages WHERE queue = ?1 ORDER BY seq").db()?;
                        let rows = stmt.query_map(params![DEAD], |row| row.get(0)).db()?;
                        rows.map(DbResult::db).collect::<PortResult<_>>()?
                    }
                    Some(ids) => {
                        let mut stmt =
                            tx.prepare_cached("SELECT seq FROM messages WHERE queue = ?1 AND id = ?2").db()?;
                        let mut seqs = Vec::new();
                        for id in ids {
                            let rows = stmt.query_map(params![DEAD, id], |row| row.get(0)).db()?;
                            for seq in rows {
                                seqs.push(seq.db()?);
                            }
                        }
                        seqs.sort_unstable();
                        seqs.dedup();
                        seqs
                    }
                };
                let now = now_ms();
                let mut moved = 0u32;
                for seq in seqs.drain(..) {
                    // A new row, so that the message joins the back of the queue.
                    let (id, body, sent_at): (String, String, i64) = tx
                        .prepare_cached("DELETE FROM messages WHERE seq = ?1 RETURNING id, body, sent_at_ms")
                        .and_then(|mut stmt| {
                            stmt.query_row(params![seq], |row| Ok((row.get(0)?, row.get(1)?, row.get(2)?)))
                        })
                        .db()?;
                    tx.prepare_cached(
                        "INSERT INTO messages (id, queue, body, receive_count, visible_at_ms, sent_at_ms)
                         VALUES (?1, ?2, ?3, 0, ?4, ?5)",
                    )
                    .and_then(|mut stmt| stmt.execute(params![id, INTAKE, body, now, sent_at]))
                    .db()?;
                    moved = moved.saturating_add(1);
                }
                Ok(moved)
            })
            .await
    }

    async fn depth(&self) -> PortResult<QueueDepth> {
        self.db
            .read(move |conn| {
                let now = now_ms();
                let (visible, in_flight, dead, oldest): (i64, i64, i64, Option<i64>) = conn
                    .prepare_cached(DEPTH)
                    .and_then(|mut stmt| {
                        stmt.query_row(params![INTAKE, DEAD, now], |row| {
                            Ok((row.get(0)?, row.get(1)?, row.get(2)?, row.get(3)?))
                        })
                    })
                    .db()?;
                let count = |n: i64| u64::try_from(n).unwrap_or(0);
                Ok(QueueDepth {
                    visible: count(visible),
                    in_flight: count(in_flight),
                    dead: count(dead),
                    oldest_age_secs: oldest.map(|sent| count(now.saturating_sub(sent) / 1000)),
                })
            })
            .await
    }
}

/// Rejects what SQS rejects: an empty body, one too large, or one with characters
/// outside XML's.
fn check_body(body: &str) -> PortResult<()> {
    if body.is_empty() {
        return Err(PortError::Invalid("a message body cannot be empty".to_owned()));
    }
    if body.len() > MAX_BODY_BYTES {
        return Err(PortError::Invalid(format!("a message body is at most {MAX_BODY_BYTES} bytes")));
    }
    let allowed =
        |c: char| matches!(c, '\t' | '\n' | '\r' | '\u{20}'..='\u{D7FF}' | '\u{E000}'..='\u{FFFD}' | '\u{10000}'..);
    if !body.chars().all(allowed) {
        return Err(PortError::Invalid("a message body contains a character SQS does not accept".to_owned()));
    }
    Ok(())
}

/// A visibility timeout in milliseconds; at most 12 hours, as SQS.
fn visibility_ms(visibility: Duration) -> PortResult<i64> {
    if visibility > MAX_VISIBILITY {
        return Err(PortError::Invalid("the visibility timeout is longer than 12 hours".to_owned()));
    }
    Ok(i64::try_from(visibility.as_millis()).unwrap_or(i64::MAX))
}

/// Adds a message to the back of the intake queue; returns its id.
fn insert(tx: &Connection, body: &str, now: i64) -> PortResult<String> {
    let id = uuid::Uuid::new_v4().to_string();
    tx.prepare_cached(
        "INSERT INTO messages (id, queue, body, receive_count, visible_at_ms, sent_at_ms)
         VALUES (?1, ?2, ?3, 0, ?4, ?4)",
    )
    .and_then(|mut stmt| stmt.execute(params![id, INTAKE, body, now]))
    .db()?;
    Ok(id)
}

/// Takes up to `max` visible messages, oldest first, moving those received
/// [`MAX_RECEIVES`] times already to the dead-letter queue instead.
fn receive(tx: &Connection, max: usize, visibility_ms: i64) -> PortResult<Vec<Received>> {
    let now = now_ms();
    let visible_at = now.saturating_add(visibility_ms);
    let mut received = Vec::new();
    let mut after = 0i64;
    'scan: loop {
        let candidates: Vec<(i64, String, String, u32)> = {
            let mut stmt = tx.prepare_cached(CANDIDATES).db()?;
            let rows = stmt
                .query_map(params![INTAKE, after, now], |row| Ok((row.get(0)?, row.get(1)?, row.get(2)?, row.get(3)?)))
                .db()?;
            rows.map(DbResult::db).collect::<PortResult<_>>()?
        };
        if candidates.is_empty() {
            break;
        }
        for (seq, id, body, count) in candidates {
            after = seq;
            if count >= MAX_RECEIVES {
                tx.prepare_cached(
                    "UPDATE messages SET queue = ?1, receipt = NULL, visible_at_ms = ?2, dead_at_ms = ?2 WHERE seq = ?3",
                )
                .and_then(|mut stmt| stmt.execute(params![DEAD, now, seq]))
                .db()?;
                tracing::warn!(message_id = %id, receives = count, "message moved to the dead-letter queue");
                continue;
            }
            let receipt = uuid::Uuid::new_v4().simple().to_string();
            let count = count.saturating_add(1);
            tx.prepare_cached(
                "UPDATE messages SET receive_count = ?1, receipt = ?2, visible_at_ms = ?3 WHERE seq = ?4",
            )
            .and_then(|mut stmt| stmt.execute(params![count, receipt, visible_at, seq]))
            .db()?;
            received.push(Received { id, receipt, body, receive_count: count });
            if received.len() >= max {
                break 'scan;
            }
        }
    }
    Ok(received)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::db::query_plan;

    #[tokio::test]
    async fn a_receive_run_again_is_not_planned_again_and_dead_letters_are_listed_in_index_order() {
        let backend = crate::Embedded::open_temporary().expect("open");
        let queue = SqliteQueue::new(Arc::clone(&backend.db));
        for n in 0..4 {
            queue.send(&format!("m{n}")).await.expect("send");
        }
        for max in [1_u32, 2] {
            let received = queue.receive(max, Duration::from_secs(60)).await.expect("receive");
            assert_eq!(received.len(), max as usize);
        }
        let receives = backend
            .db
            .write(|tx| Ok(tx.prepare_cached(CANDIDATES).db()?.get_status(rusqlite::StatementStatus::RePrepare)))
            .await
            .expect("status");
        assert_eq!(receives, 0, "the receive's candidates were planned again");
        let listed = backend.db.read(|conn| Ok(query_plan(conn, DEAD_LETTERS))).await.expect("plan");
        assert_eq!(listed, ["SEARCH messages USING INDEX messages_waiting (queue=?)"]);
    }

    #[tokio::test]
    async fn the_depth_and_a_receive_read_the_queues_index_not_the_bodies() {
        let db = crate::Embedded::open_temporary().expect("open").db;
        let (depth, candidates) =
            db.read(|conn| Ok((query_plan(conn, DEPTH), query_plan(conn, CANDIDATES)))).await.expect("plans");
        assert_eq!(depth, ["SCAN messages USING COVERING INDEX messages_waiting"]);
        assert_eq!(candidates, ["SEARCH messages USING INDEX messages_waiting (queue=? AND seq>?)"]);
    }
}
