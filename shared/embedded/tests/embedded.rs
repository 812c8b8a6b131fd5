//! What only the embedded backend has: its files, its key, its encryption at rest,
//! reopening, and sharing one database between processes.

use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::time::Duration;

use secrecy::{ExposeSecret, SecretString};
use serde_json::json;
use textbridge_app::Backend;
use textbridge_app::ports::{Condition, Item, Key, MAX_RECEIVES, PortError, Query, SecretName, Update, Write};
use textbridge_embedded::{DB_FILE, Embedded, KEY_FILE, open};

fn name(parts: &[&str]) -> SecretName {
    SecretName::from_parts(parts).expect("secret name")
}

fn secret(value: &str) -> SecretString {
    SecretString::from(value.to_owned())
}

fn mode(path: &Path) -> u32 {
    std::fs::metadata(path).expect("metadata").permissions().mode() & 0o777
}

/// Every byte of the database files (main file, write-ahead log, shared memory).
fn raw_db_bytes(dir: &Path) -> Vec<u8> {
    let mut bytes = Vec::new();
    for suffix in ["", "-wal", "-shm"] {
        if let Ok(b) = std::fs::read(dir.join(format!("{DB_FILE}{suffix}"))) {
            bytes.extend(b);
        }
    }
    bytes
}

fn invalid<T>(result: Result<T, PortError>) -> bool {
    matches!(result, Err(PortError::Invalid(_)))
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
}

#[tokio::test]
async fn creates_private_files_and_reuses_the_key() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let dir = tmp.path().join("nested").join("data");
    let embedded = open(&dir).await.expect("open");
    assert_eq!(embedded.data_dir(), dir);
    assert_eq!(embedded.db_path(), dir.join(DB_FILE));
    assert_eq!(mode(&dir), 0o700, "a new data directory is private");
    assert_eq!(mode(&dir.join(KEY_FILE)), 0o600, "the key file is private");
    assert_eq!(mode(&dir.join(DB_FILE)), 0o600, "the database is private");
    let key = std::fs::read(dir.join(KEY_FILE)).expect("key");
    assert_eq!(key.len(), 32);
    assert_ne!(key, [0u8; 32]);
    let n = name(&["t1", "textus", "system", "-"]);
    embedded.backend().secrets.create(&n, &secret("s3cr3t")).await.expect("create");
    assert_eq!(mode(&dir.join(format!("{DB_FILE}-wal"))), 0o600, "the write-ahead log is private");
    drop(embedded);

    let again = open(&dir).await.expect("reopen");
    assert_eq!(std::fs::read(dir.join(KEY_FILE)).expect("key"), key, "the key is reused");
    assert_eq!(again.backend().secrets.get(&n).await.expect("get").expose_secret(), "s3cr3t");
    let leftovers: Vec<_> = std::fs::read_dir(&dir)
        .expect("list")
        .filter_map(Result::ok)
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n.ends_with(".tmp"))
        .collect();
    assert!(leftovers.is_empty(), "no temporary key files left: {leftovers:?}");
}

#[tokio::test]
async fn secrets_are_not_stored_in_plaintext() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let embedded = open(tmp.path()).await.expect("open");
    let b = embedded.backend();
    let value = "plaintext-canary-7f3a9c-correct-horse-battery";
    let n = name(&["t1", "zipwhip", "user", "jane@acme.test"]);
    b.secrets.create(&n, &secret(value)).await.expect("create");
    b.secrets.replace(&n, &secret(&format!("{value}-2"))).await.expect("replace");
    // A control: items are stored as plain JSON, so the search does see the files.
    b.store.put(&Item::new(Key::new("T#1", "X")).with("canary", "visible-canary-41b2"), None).await.expect("put");

    let while_open = raw_db_bytes(tmp.path());
    drop(b);
    drop(embedded);
    let after_close = raw_db_bytes(tmp.path());
    for bytes in [while_open, after_close] {
        assert!(contains(&bytes, b"visible-canary-41b2"), "the search reads the database");
        assert!(!contains(&bytes, value.as_bytes()), "a secret value is in the database in plaintext");
        assert!(contains(&bytes, n.as_str().as_bytes()), "names are stored in clear");
    }
}

#[tokio::test]
async fn reopening_keeps_items_messages_and_secrets() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let n = name(&["t1", "textus", "branch", "b-1"]);
    let (ids, indexed) = {
        let embedded = open(tmp.path()).await.expect("open");
        let b = embedded.backend();
        let indexed = Item::new(Key::new("T#1", "REC#1")).indexed(Key::new("T#1#PH#+1206", "REC#1")).with("n", 7);
        b.store.put(&indexed, None).await.expect("put");
        let ids = b.queue.send_batch(&["one".to_owned(), "two".to_owned()]).await.expect("send");
        let got = b.queue.receive(1, Duration::from_secs(300)).await.expect("receive");
        assert_eq!(got.len(), 1);
        b.secrets.create(&n, &secret("value")).await.expect("create");
        (ids, indexed)
    };
    let embedded = open(tmp.path()).await.expect("reopen");
    let b = embedded.backend();
    assert_eq!(b.store.get(&indexed.key).await.expect("get"), Some(indexed.clone()));
    let found = b.store.query_all(&Query::new("T#1#PH#+1206", "REC#").on_index()).await.expect("query");
    assert_eq!(found, vec![indexed]);
    let depth = b.queue.depth().await.expect("depth");
    assert_eq!((depth.visible, depth.in_flight, depth.dead), (1, 1, 0), "in-flight messages stay hidden");
    let got = b.queue.receive(10, Duration::from_secs(30)).await.expect("receive");
    assert_eq!(got.iter().map(|m| (m.id.as_str(), m.body.as_str())).collect::<Vec<_>>(), [(ids[1].as_str(), "two")]);
    assert_eq!(b.secrets.get(&n).await.expect("get").expose_secret(), "value");
}

/// Runs SQL on the database file directly, as an attacker or a damaged disk would.
fn raw_sql(dir: &Path, sql: &str) {
    let conn = rusqlite::Connection::open(dir.join(DB_FILE)).expect("raw open");
    conn.busy_timeout(Duration::from_secs(5)).expect("busy timeout");
    conn.execute_batch(sql).expect("raw sql");
}

#[tokio::test]
async fn depth_tells_the_oldest_messages_age() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let embedded = open(tmp.path()).await.expect("open");
    let q = embedded.backend().queue;
    assert_eq!(q.depth().await.expect("depth").oldest_age_secs, None, "an empty queue has no oldest message");
    q.send_batch(&["old".to_owned(), "new".to_owned()]).await.expect("send");
    raw_sql(tmp.path(), "UPDATE messages SET sent_at_ms = sent_at_ms - 90000 WHERE body = 'old'");
    let age = q.depth().await.expect("depth").oldest_age_secs.expect("an age");
    assert!((90..100).contains(&age), "the oldest message's age, not the newest's: {age}");
    let held = q.receive(10, Duration::from_secs(300)).await.expect("receive");
    let age = q.depth().await.expect("depth").oldest_age_secs.expect("an age");
    assert!((90..100).contains(&age), "in-flight messages count: {age}");
    let old = held.iter().find(|m| m.body == "old").expect("old");
    q.delete(&old.receipt).await.expect("delete");
    assert!(q.depth().await.expect("depth").oldest_age_secs.expect("an age") < 10, "deleted messages leave");
}

/// Changes the stored ciphertext of a secret.
fn tamper(dir: &Path, name: &str, change: impl FnOnce(&mut Vec<u8>)) {
    let conn = rusqlite::Connection::open(dir.join(DB_FILE)).expect("raw open");
    conn.busy_timeout(Duration::from_secs(5)).expect("busy timeout");
    let mut ciphertext: Vec<u8> = conn
        .query_row("SELECT ciphertext FROM secrets WHERE name = ?1", [name], |r| r.get(0))
        .expect("read ciphertext");
    change(&mut ciphertext);
    conn.execute("UPDATE secrets SET ciphertext = ?2 WHERE name = ?1", rusqlite::params![name, ciphertext])
        .expect("write ciphertext");
}

#[tokio::test]
async fn tampered_or_swapped_ciphertexts_are_refused() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let embedded = open(tmp.path()).await.expect("open");
    let b = embedded.backend();
    let a = name(&["t1", "textus", "user", "a"]);
    let c = name(&["t1", "textus", "user", "c"]);
    b.secrets.create(&a, &secret("value-of-a")).await.expect("create");
    b.secrets.create(&c, &secret("value-of-c")).await.expect("create");

    // Swap c's sealed value into a: the name is bound to it, so it does not open.
    raw_sql(
        tmp.path(),
        "UPDATE secrets SET (nonce, ciphertext) = (SELECT nonce, ciphertext FROM secrets WHERE name = 't1/textus/user/c')
         WHERE name = 't1/textus/user/a'",
    );
    match b.secrets.get(&a).await {
        Err(PortError::Unexpected(msg)) => {
            assert!(msg.contains("t1/textus/user/a"), "{msg}");
            assert!(!msg.contains("value-of"), "{msg}");
        }
        other => panic!("a swapped ciphertext must not open: {:?}", other.map(|_| "a value")),
    }

    // Flip one bit of c's ciphertext.
    tamper(tmp.path(), c.as_str(), |ciphertext| ciphertext[0] ^= 1);
    assert!(matches!(b.secrets.get(&c).await, Err(PortError::Unexpected(_))));
    // A damaged nonce.
    raw_sql(tmp.path(), "UPDATE secrets SET nonce = x'00' WHERE name = 't1/textus/user/c'");
    assert!(matches!(b.secrets.get(&c).await, Err(PortError::Unexpected(_))));

    // Replacing a damaged secret works and reads back.
    b.secrets.replace(&c, &secret("fresh")).await.expect("replace");
    assert_eq!(b.secrets.get(&c).await.expect("get").expose_secret(), "fresh");
}

#[tokio::test]
async fn a_different_key_cannot_read_secrets() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let n = name(&["t1", "textus", "system", "-"]);
    {
        let embedded = open(tmp.path()).await.expect("open");
        embedded.backend().secrets.create(&n, &secret("value")).await.expect("create");
    }
    std::fs::remove_file(tmp.path().join(KEY_FILE)).expect("remove key");
    let embedded = open(tmp.path()).await.expect("open with a new key");
    assert!(matches!(embedded.backend().secrets.get(&n).await, Err(PortError::Unexpected(_))));
}

#[tokio::test]
async fn a_key_file_others_can_read_is_refused() {
    let tmp = tempfile::tempdir().expect("tempdir");
    drop(open(tmp.path()).await.expect("open"));
    let key = tmp.path().join(KEY_FILE);
    for bad in [0o644, 0o640, 0o604, 0o660] {
        std::fs::set_permissions(&key, std::fs::Permissions::from_mode(bad)).expect("chmod");
        let err = open(tmp.path()).await.expect_err("a readable key file is refused");
        let PortError::Unexpected(msg) = err else { panic!("unexpected error kind: {err:?}") };
        assert!(msg.contains(&key.display().to_string()), "the error names the file: {msg}");
    }
    std::fs::set_permissions(&key, std::fs::Permissions::from_mode(0o400)).expect("chmod");
    open(tmp.path()).await.expect("a read-only private key file is fine");
}

#[tokio::test]
async fn a_damaged_key_file_is_refused() {
    let tmp = tempfile::tempdir().expect("tempdir");
    drop(open(tmp.path()).await.expect("open"));
    std::fs::write(tmp.path().join(KEY_FILE), b"short").expect("write");
    let err = open(tmp.path()).await.expect_err("a short key file is refused");
    assert!(matches!(err, PortError::Unexpected(ref m) if m.contains(KEY_FILE)), "{err:?}");
}

#[tokio::test]
async fn a_newer_schema_is_refused() {
    let tmp = tempfile::tempdir().expect("tempdir");
    drop(open(tmp.path()).await.expect("open"));
    raw_sql(tmp.path(), "PRAGMA user_version = 99");
    let err = open(tmp.path()).await.expect_err("a newer schema is refused");
    assert!(matches!(err, PortError::Unexpected(ref m) if m.contains("99")), "{err:?}");
}

#[tokio::test]
async fn a_version_1_database_is_brought_up_to_date_and_its_queue_kept() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let b = open(tmp.path()).await.expect("open");
    b.backend().queue.send("{\"waiting\":1}").await.expect("send");
    b.backend().queue.send("{\"waiting\":2}").await.expect("send");
    drop(b);
    // Version 1's layout: the queue's index on (queue, seq) alone.
    raw_sql(
        tmp.path(),
        "DROP INDEX messages_waiting; CREATE INDEX messages_queue ON messages (queue, seq); PRAGMA user_version = 1",
    );

    let b = open(tmp.path()).await.expect("a version 1 database opens");
    let conn = rusqlite::Connection::open(tmp.path().join(DB_FILE)).expect("raw open");
    let version: i64 = conn.query_row("PRAGMA user_version", [], |r| r.get(0)).expect("user_version");
    assert_eq!(version, textbridge_embedded::SCHEMA_VERSION);
    let indexes: Vec<String> = conn
        .prepare("SELECT name FROM sqlite_master WHERE type = 'index' AND tbl_name = 'messages' AND sql IS NOT NULL ORDER BY name")
        .expect("indexes")
        .query_map([], |row| row.get(0))
        .expect("rows")
        .map(|r| r.expect("row"))
        .collect();
    assert_eq!(indexes, ["messages_receipt", "messages_waiting"], "the old index is gone");
    let depth = b.backend().queue.depth().await.expect("depth");
    assert_eq!((depth.visible, depth.in_flight), (2, 0));
    let got = b.backend().queue.receive(10, Duration::from_secs(30)).await.expect("receive");
    let bodies: Vec<_> = got.iter().map(|m| m.body.as_str()).collect();
    assert_eq!(bodies, ["{\"waiting\":1}", "{\"waiting\":2}"], "both kept, in order");
}

#[tokio::test]
async fn only_a_messages_latest_receipt_deletes_it() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let b = open(tmp.path()).await.expect("open");
    let q = b.backend().queue;
    q.send("{\"m\":1}").await.expect("send");
    let first = q.receive(1, Duration::from_secs(1)).await.expect("receive").remove(0);
    tokio::time::sleep(Duration::from_millis(1100)).await;
    let second = q.receive(1, Duration::from_secs(30)).await.expect("receive again").remove(0);
    for other in [first.receipt.as_str(), "not a receipt", ""] {
        q.delete(other).await.expect("a receipt of no message deletes nothing");
    }
    let depth = q.depth().await.expect("depth");
    assert_eq!((depth.visible, depth.in_flight), (0, 1), "still in flight");
    q.delete(&second.receipt).await.expect("delete");
    let depth = q.depth().await.expect("depth");
    assert_eq!((depth.visible, depth.in_flight), (0, 0), "deleted by its latest receipt");
}

#[tokio::test]
async fn database_is_in_wal_mode_with_a_schema_version() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let _embedded = open(tmp.path()).await.expect("open");
    let conn = rusqlite::Connection::open(tmp.path().join(DB_FILE)).expect("raw open");
    let mode: String = conn.query_row("PRAGMA journal_mode", [], |r| r.get(0)).expect("journal_mode");
    assert_eq!(mode, "wal");
    let version: i64 = conn.query_row("PRAGMA user_version", [], |r| r.get(0)).expect("user_version");
    assert_eq!(version, textbridge_embedded::SCHEMA_VERSION);
}

#[test]
fn racing_first_opens_agree_on_one_key() {
    for _ in 0..5 {
        let tmp = tempfile::tempdir().expect("tempdir");
        let dir = tmp.path().join("data");
        let opened: Vec<Embedded> = std::thread::scope(|s| {
            let handles: Vec<_> = (0..4).map(|_| s.spawn(|| Embedded::open_blocking(&dir))).collect();
            handles.into_iter().map(|h| h.join().expect("thread").expect("open")).collect()
        });
        let rt = tokio::runtime::Builder::new_current_thread().build().expect("runtime");
        rt.block_on(async {
            let n = name(&["t1", "textus", "system", "-"]);
            opened[0].backend().secrets.create(&n, &secret("shared")).await.expect("create");
            for e in &opened {
                assert_eq!(e.backend().secrets.get(&n).await.expect("get").expose_secret(), "shared");
            }
        });
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_instances_share_one_database() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let one = open(tmp.path()).await.expect("open one").backend();
    let two = open(tmp.path()).await.expect("open two").backend();

    // What one writes, the other reads at once.
    let key = Key::new("T#1", "SEATS");
    one.store.put(&Item::new(key.clone()).with("free", 30), None).await.expect("put");
    assert_eq!(two.store.get(&key).await.expect("get").and_then(|i| i.int("free")), Some(30));
    let n = name(&["t1", "textus", "system", "-"]);
    two.secrets.create(&n, &secret("v")).await.expect("create");
    assert_eq!(one.secrets.create(&n, &secret("w")).await, Err(PortError::ConditionFailed));

    // Conditional takes from both never oversell.
    let mut tasks = Vec::new();
    for i in 0..40 {
        let b: Backend = if i % 2 == 0 { one.clone() } else { two.clone() };
        let key = key.clone();
        tasks.push(tokio::spawn(async move {
            let take = Update::default().add("free", -1);
            b.store.update(&key, &take, Some(&Condition::AtLeast("free".into(), 1))).await.is_ok()
        }));
    }
    let mut won = 0;
    for t in tasks {
        won += usize::from(t.await.expect("task"));
    }
    assert_eq!(won, 30);
    assert_eq!(one.store.get(&key).await.expect("get").and_then(|i| i.int("free")), Some(0));

    // Messages sent through either are received exactly once between them.
    let bodies: Vec<String> = (0..60).map(|i| format!("m{i}")).collect();
    one.queue.send_batch(&bodies[..30]).await.expect("send");
    two.queue.send_batch(&bodies[30..]).await.expect("send");
    let receiver = |b: Backend| {
        tokio::spawn(async move {
            let mut got = Vec::new();
            loop {
                let batch = b.queue.receive(7, Duration::from_secs(300)).await.expect("receive");
                if batch.is_empty() {
                    return got;
                }
                for m in batch {
                    b.queue.delete(&m.receipt).await.expect("delete");
                    got.push(m.body);
                }
            }
        })
    };
    let (a, b) = (receiver(one.clone()), receiver(two.clone()));
    let mut all = a.await.expect("task");
    all.extend(b.await.expect("task"));
    all.sort();
    let mut want = bodies.clone();
    want.sort();
    assert_eq!(all, want);
    assert_eq!(two.queue.depth().await.expect("depth"), Default::default());
}

#[tokio::test]
async fn store_rejects_what_dynamodb_rejects() {
    let embedded = Embedded::open_temporary().expect("open");
    let b = embedded.backend();
    assert!(invalid(b.store.put(&Item::new(Key::new("", "x")), None).await));
    assert!(invalid(b.store.put(&Item::new(Key::new("T#1", "")), None).await));
    assert!(invalid(b.store.put(&Item::new(Key::new("T#1", "x")).indexed(Key::new("", "x")), None).await));
    assert!(invalid(b.store.put(&Item::new(Key::new("T#1", "x")).with("", 1), None).await));
    let twice = Update::default().set("a", 1).remove("a");
    assert!(invalid(b.store.update(&Key::new("T#1", "x"), &twice, None).await));
    let not_a_number = Item::new(Key::new("T#1", "x")).with("a", "text");
    b.store.put(&not_a_number, None).await.expect("put");
    assert!(invalid(b.store.update(&Key::new("T#1", "x"), &Update::default().add("a", 1), None).await));
    let big = Item::new(Key::new("T#1", "big")).with("a", "x".repeat(401 * 1024));
    assert!(invalid(b.store.put(&big, None).await));

    let mut bad_cursor = Query::new("T#1", "");
    bad_cursor.cursor = Some("garbage".to_owned());
    assert!(invalid(b.store.query(&bad_cursor).await));
    let mut zero = Query::new("T#1", "");
    zero.limit = 0;
    assert!(invalid(b.store.query(&zero).await));

    let too_many: Vec<Write> =
        (0..101).map(|i| Write::Put { item: Item::new(Key::new("T#1", format!("K#{i}"))), condition: None }).collect();
    assert!(invalid(b.store.transact(&too_many).await));
    b.store.transact(&too_many[..100]).await.expect("100 writes are fine");
    b.store.transact(&[]).await.expect("no writes is a no-op");
}

#[tokio::test]
async fn a_full_page_has_a_cursor_like_dynamodb() {
    let embedded = Embedded::open_temporary().expect("open");
    let b = embedded.backend();
    for sk in ["A", "B"] {
        b.store.put(&Item::new(Key::new("T#1", sk)), None).await.expect("put");
    }
    let mut query = Query::new("T#1", "").limit(2);
    let page = b.store.query(&query).await.expect("page");
    assert_eq!(page.items.len(), 2);
    query.cursor = Some(page.next.expect("a full page has a cursor"));
    let page = b.store.query(&query).await.expect("page");
    assert_eq!(page, textbridge_app::ports::Page { items: vec![], next: None });
    let page = b.store.query(&Query::new("T#1", "").limit(3)).await.expect("page");
    assert_eq!((page.items.len(), page.next), (2, None), "a page that is not full is the last");
}

#[tokio::test]
async fn cursors_belong_to_their_partition() {
    let embedded = Embedded::open_temporary().expect("open");
    let b = embedded.backend();
    for sk in ["A", "B", "C"] {
        b.store.put(&Item::new(Key::new("T#1", sk)).indexed(Key::new("IDX", sk)), None).await.expect("put");
    }
    let page = b.store.query(&Query::new("T#1", "").limit(1)).await.expect("page");
    let cursor = page.next.expect("more follow");
    let mut other = Query::new("T#2", "").limit(1);
    other.cursor = Some(cursor.clone());
    assert!(matches!(b.store.query(&other).await, Err(PortError::Invalid(_))));
    let mut on_index = Query::new("IDX", "").on_index().limit(1);
    on_index.cursor = Some(cursor);
    assert!(matches!(b.store.query(&on_index).await, Err(PortError::Invalid(_))));
}

#[tokio::test]
async fn conditions_compare_like_dynamodb() {
    let embedded = Embedded::open_temporary().expect("open");
    let b = embedded.backend();
    let key = Key::new("T#1", "X");
    let item = Item::new(key.clone()).indexed(Key::new("P#1", "X")).with("n", 3).with("f", 2.5).with("s", "7");
    b.store.put(&item, None).await.expect("put");
    let check = |condition: Condition| {
        let store = b.store.clone();
        let key = key.clone();
        async move { store.transact(&[Write::Check { key, condition }]).await }
    };
    check(Condition::Equals("n".into(), json!(3.0))).await.expect("numbers compare by value");
    check(Condition::AtLeast("n".into(), 3)).await.expect("at least, equal");
    check(Condition::AtLeast("f".into(), 2)).await.expect("a fraction compares by value");
    assert_eq!(check(Condition::AtLeast("s".into(), 1)).await, Err(PortError::ConditionFailed), "text is no number");
    assert_eq!(check(Condition::AtLeast("n".into(), 4)).await, Err(PortError::ConditionFailed));
    check(Condition::Equals("PK".into(), json!("T#1"))).await.expect("key attributes can be compared");
    check(Condition::Equals("GSI1PK".into(), json!("P#1"))).await.expect("index attributes can be compared");
    assert_eq!(check(Condition::Equals("n".into(), json!("3"))).await, Err(PortError::ConditionFailed));
    // Update keeps the index key; add counts from zero; remove of a missing attribute is fine.
    let updated =
        b.store.update(&key, &Update::default().add("new", -2).remove("nothing"), None).await.expect("update");
    assert_eq!(updated.index, item.index);
    assert_eq!(updated.int("new"), Some(-2));
    let added = b.store.update(&key, &Update::default().add("f", 1), None).await.expect("add to a fraction");
    assert_eq!(added.attrs.get("f"), Some(&json!(3.5)));
}

#[tokio::test]
async fn queries_handle_unusual_sort_keys() {
    let embedded = Embedded::open_temporary().expect("open");
    let b = embedded.backend();
    let sks = ["é", "é#1", "éa", "ê", "\u{D7FF}x", "\u{E000}", "\u{10FFFF}", "\u{10FFFF}\u{10FFFF}", "z"];
    for sk in sks {
        b.store.put(&Item::new(Key::new("T#1", sk)), None).await.expect("put");
    }
    let q = |prefix: &str| {
        let store = b.store.clone();
        let query = Query::new("T#1", prefix).limit(2);
        async move { store.query_all(&query).await.expect("query").into_iter().map(|i| i.key.sk).collect::<Vec<_>>() }
    };
    assert_eq!(q("é").await, ["é", "é#1", "éa"]);
    assert_eq!(q("\u{D7FF}").await, ["\u{D7FF}x"]);
    assert_eq!(q("\u{10FFFF}").await, ["\u{10FFFF}", "\u{10FFFF}\u{10FFFF}"]);
    assert_eq!(q("").await.len(), sks.len());
}

#[tokio::test]
async fn queue_rejects_what_sqs_rejects_and_ignores_stale_receipts() {
    let embedded = Embedded::open_temporary().expect("open");
    let q = embedded.backend().queue;
    assert!(invalid(q.send("").await));
    assert!(invalid(q.send("a\u{0}b").await));
    assert!(invalid(q.send_batch(&["ok".to_owned(), "\u{1}".to_owned()]).await));
    assert_eq!(q.depth().await.expect("depth"), Default::default(), "a rejected batch sends nothing");
    assert!(invalid(q.receive(0, Duration::from_secs(1)).await));
    assert!(invalid(q.receive(11, Duration::from_secs(1)).await));

    q.send("body").await.expect("send");
    let first = q.receive(1, Duration::ZERO).await.expect("receive");
    let second = q.receive(1, Duration::from_secs(60)).await.expect("receive");
    assert_eq!((first.len(), second.len()), (1, 1));
    assert_ne!(first[0].receipt, second[0].receipt);
    q.delete(&first[0].receipt).await.expect("a stale receipt is a no-op");
    q.delete("no-such-receipt").await.expect("an unknown receipt is a no-op");
    assert_eq!(q.depth().await.expect("depth").in_flight, 1);
    q.delete(&second[0].receipt).await.expect("delete");
    assert_eq!(q.depth().await.expect("depth"), Default::default());
}

#[tokio::test]
async fn dead_letters_keep_order_and_replays_join_the_back() {
    let embedded = Embedded::open_temporary().expect("open");
    let q = embedded.backend().queue;
    let ids = q.send_batch(&["a".to_owned(), "b".to_owned(), "c".to_owned()]).await.expect("send");
    for _ in 0..MAX_RECEIVES {
        assert_eq!(q.receive(10, Duration::ZERO).await.expect("receive").len(), 3);
    }
    q.send("d").await.expect("send");
    let got = q.receive(10, Duration::from_secs(60)).await.expect("receive");
    assert_eq!(got.iter().map(|m| m.body.as_str()).collect::<Vec<_>>(), ["d"], "the poisoned three moved");
    let dead = q.dead_letters(10).await.expect("dead");
    assert_eq!(dead.iter().map(|d| d.id.clone()).collect::<Vec<_>>(), ids);
    assert_eq!(q.dead_letters(2).await.expect("dead").len(), 2);
    assert!(q.dead_letters(0).await.expect("dead").is_empty());

    q.send("e").await.expect("send");
    let replay = [ids[2].clone(), ids[0].clone(), ids[0].clone()];
    assert_eq!(q.replay(Some(&replay)).await.expect("replay"), 2);
    let got = q.receive(10, Duration::from_secs(60)).await.expect("receive");
    assert_eq!(got.iter().map(|m| m.body.as_str()).collect::<Vec<_>>(), ["e", "a", "c"]);
    assert_eq!(got[1].id, ids[0], "a replayed message keeps its id");
    assert_eq!(q.depth().await.expect("depth").dead, 1);
}

#[tokio::test]
async fn a_temporary_backend_removes_its_directory() {
    let embedded = Embedded::open_temporary().expect("open");
    let dir = embedded.data_dir().to_path_buf();
    let backend = embedded.backend();
    drop(embedded);
    assert!(dir.exists(), "kept while a backend is alive");
    backend.queue.send("x").await.expect("send");
    drop(backend);
    assert!(!dir.exists(), "removed with the last handle");
}

/// Items carrying `expires_at` go once it has passed, as DynamoDB's time to live
/// removes them on AWS; items without it, or not yet expired, stay.
#[tokio::test]
async fn the_sweep_removes_expired_items_only() {
    let embedded = Embedded::open_temporary().expect("open");
    let store = embedded.backend().store;
    let at = |sk: &str, expires: Option<i64>| {
        let item = Item::new(Key::new("T#acme#IMPORT#1", sk)).with("rows", 3);
        match expires {
            Some(t) => item.with(textbridge_app::ports::EXPIRES_AT, t),
            None => item,
        }
    };
    for item in [at("A", Some(1_000)), at("B", Some(2_000)), at("C", None), at("D", Some(999))] {
        store.put(&item, None).await.expect("put");
    }
    assert_eq!(embedded.sweep_expired(1_000).await.expect("sweep"), 2);
    let left = store.query_all(&Query::new("T#acme#IMPORT#1", "")).await.expect("query");
    let keys: Vec<&str> = left.iter().map(|i| i.key.sk.as_str()).collect();
    assert_eq!(keys, ["B", "C"]);
    assert_eq!(embedded.sweep_expired(1_000).await.expect("sweep"), 0, "nothing more");
}

/// Writes waiting at the same time share one commit (group commit): of many racing
/// transactions some fail part-way, and each failed one leaves nothing behind while
/// every other one lands whole, on a durable (`synchronous=FULL`) database.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn racing_writes_that_fail_leave_nothing_behind_their_neighbours_land() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let embedded = open(tmp.path()).await.expect("open");
    let b = embedded.backend();
    b.store.put(&Item::new(Key::new("T#g", "TAKEN")).with("n", 0), None).await.expect("put");
    let calls: Vec<_> = (0..200)
        .map(|i| {
            let store = b.store.clone();
            tokio::spawn(async move {
                // Every third transaction ends on a condition that fails after its first
                // write was applied; the rest succeed.
                let last = if i % 3 == 0 { Key::new("T#g", "TAKEN") } else { Key::new("T#g", format!("B#{i}")) };
                let writes = [
                    Write::Put { item: Item::new(Key::new("T#g", format!("A#{i}"))).with("i", i), condition: None },
                    Write::Put { item: Item::new(last).with("i", i), condition: Some(Condition::NotExists) },
                ];
                (i, store.transact(&writes).await)
            })
        })
        .collect();
    let mut failed = 0;
    for call in calls {
        let (i, outcome) = call.await.expect("task");
        let first = b.store.get(&Key::new("T#g", format!("A#{i}"))).await.expect("get");
        if i % 3 == 0 {
            assert_eq!(outcome, Err(PortError::ConditionFailed), "{i}");
            assert!(first.is_none(), "transaction {i} failed, yet its first write is there");
            failed += 1;
        } else {
            assert_eq!(outcome, Ok(()), "{i}");
            assert!(first.is_some(), "transaction {i} succeeded, yet its first write is missing");
        }
    }
    assert_eq!(failed, 67);
    let taken = b.store.get(&Key::new("T#g", "TAKEN")).await.expect("get").expect("item");
    assert_eq!(taken.attrs["n"], json!(0), "no failed transaction overwrote the taken item");
}
