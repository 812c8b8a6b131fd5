//! The contract every backend passes: one suite, written once, run against the
//! embedded SQLite backend and the AWS backend (on moto).
//!
//! Each `pub async fn` checks one semantic of a port; [`crate::contract_suite!`] turns
//! each into a `#[tokio::test]` for a backend.

use std::{collections::BTreeSet, time::Duration};

use secrecy::{ExposeSecret, SecretString};
use serde_json::json;
use textbridge_app::{
    Backend,
    ports::{Condition, Item, Key, MAX_RECEIVES, PortError, Query, Queue, Received, SecretName, Update, Write},
};

/// Generates one `#[tokio::test]` per contract check, each on a fresh backend made by
/// the given async expression.
#[macro_export]
macro_rules! contract_suite {
    ($make:expr) => {
        $crate::contract_suite!(@each $make;
            store_put_get_delete,
            store_conditional_put,
            store_conditional_update,
            store_counter_is_exact_under_concurrency,
            store_query_by_prefix_in_order,
            store_paginates_past_one_page,
            store_secondary_index_lookup,
            store_transaction_is_all_or_nothing,
            store_rejects_reserved_attribute_names,
            store_round_trips_json_types,
            queue_send_receive_delete,
            queue_batch_send,
            queue_redelivers_after_visibility_timeout,
            queue_hides_a_received_message_for_longer_or_shows_it_again,
            queue_dead_letters_after_max_receives_and_replays,
            queue_replays_selected_dead_letters,
            secrets_lifecycle,
            secrets_are_separate_per_name,
        );
    };
    (@each $make:expr; $($name:ident),* $(,)?) => {
        $(
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $name() {
                let backend: textbridge_app::Backend = $make;
                $crate::contract::$name(&backend).await;
            }
        )*
    };
}

fn unique_pk() -> String {
    format!("T#c{}", uuid::Uuid::new_v4().simple())
}

fn secret(value: &str) -> SecretString {
    SecretString::from(value.to_owned())
}

/// Put, read back, overwrite, delete; deleting a missing item is fine.
pub async fn store_put_get_delete(b: &Backend) {
    let pk = unique_pk();
    let key = Key::new(&pk, "USER#1");
    let item = Item::new(key.clone()).with("name", "Jane").with("n", 1);
    b.store.put(&item, None).await.expect("put");
    assert_eq!(b.store.get(&key).await.expect("get"), Some(item));

    let item2 = Item::new(key.clone()).with("name", "Joan");
    b.store.put(&item2, None).await.expect("overwrite");
    let got = b.store.get(&key).await.expect("get").expect("present");
    assert_eq!(got.str("name"), Some("Joan"));
    assert_eq!(got.attrs.get("n"), None, "put replaces the whole item");

    b.store.delete(&key, None).await.expect("delete");
    assert_eq!(b.store.get(&key).await.expect("get"), None);
    b.store.delete(&key, None).await.expect("delete of a missing item");
    assert_eq!(b.store.get(&Key::new(unique_pk(), "X")).await.expect("get"), None);
}

/// Conditions on put and delete hold, and a failed one changes nothing.
pub async fn store_conditional_put(b: &Backend) {
    let key = Key::new(unique_pk(), "UNAME#jane@acme.test");
    let first = Item::new(key.clone()).with("owner", "u1");
    b.store.put(&first, Some(&Condition::NotExists)).await.expect("first claim");

    let second = Item::new(key.clone()).with("owner", "u2");
    let err = b.store.put(&second, Some(&Condition::NotExists)).await.unwrap_err();
    assert_eq!(err, PortError::ConditionFailed);
    assert_eq!(b.store.get(&key).await.expect("get"), Some(first.clone()));

    let missing = Item::new(Key::new(&key.pk, "UNAME#nobody"));
    assert_eq!(b.store.put(&missing, Some(&Condition::Exists)).await.unwrap_err(), PortError::ConditionFailed);
    assert_eq!(b.store.get(&missing.key).await.expect("get"), None);

    let wrong_owner = Condition::Equals("owner".into(), json!("u2"));
    assert_eq!(b.store.put(&second, Some(&wrong_owner)).await.unwrap_err(), PortError::ConditionFailed);
    assert_eq!(b.store.delete(&key, Some(&wrong_owner)).await.unwrap_err(), PortError::ConditionFailed);
    assert!(b.store.get(&key).await.expect("get").is_some());

    let right_owner = Condition::Equals("owner".into(), json!("u1"));
    b.store.put(&second, Some(&right_owner)).await.expect("put when owner matches");
    b.store.delete(&key, Some(&Condition::Equals("owner".into(), json!("u2")))).await.expect("delete");
    assert_eq!(b.store.get(&key).await.expect("get"), None);
}

/// Update sets, adds, removes, creates missing items and honours conditions.
pub async fn store_conditional_update(b: &Backend) {
    let key = Key::new(unique_pk(), "SEATS");
    let created = b.store.update(&key, &Update::default().add("free", 2).set("kind", "seats"), None).await;
    let created = created.expect("update creates");
    assert_eq!(created.int("free"), Some(2));
    assert_eq!(created.str("kind"), Some("seats"));

    let take = Update::default().add("free", -1);
    let at_least_one = Condition::AtLeast("free".into(), 1);
    assert_eq!(b.store.update(&key, &take, Some(&at_least_one)).await.expect("take 1").int("free"), Some(1));
    assert_eq!(b.store.update(&key, &take, Some(&at_least_one)).await.expect("take 2").int("free"), Some(0));
    let err = b.store.update(&key, &take, Some(&at_least_one)).await.unwrap_err();
    assert_eq!(err, PortError::ConditionFailed, "never below zero");
    assert_eq!(b.store.get(&key).await.expect("get").expect("item").int("free"), Some(0));

    let change = Update::default().remove("kind").set("note", json!({"a": [1, 2]}));
    let removed = b.store.update(&key, &change, None).await.expect("remove + set");
    assert_eq!(removed.attrs.get("kind"), None);
    assert_eq!(removed.attrs.get("note"), Some(&json!({"a": [1, 2]})));

    let other = Key::new(&key.pk, "NOPE");
    let err = b.store.update(&other, &take, Some(&Condition::Exists)).await.unwrap_err();
    assert_eq!(err, PortError::ConditionFailed);
    assert_eq!(b.store.get(&other).await.expect("get"), None, "a failed update creates nothing");
    let err = b.store.update(&key, &take, Some(&Condition::AtLeast("missing".into(), 0))).await.unwrap_err();
    assert_eq!(err, PortError::ConditionFailed, "a missing attribute fails a comparison");
    let err = b.store.update(&key, &take, Some(&Condition::Equals("note".into(), json!("x")))).await.unwrap_err();
    assert_eq!(err, PortError::ConditionFailed);
}

/// Twenty concurrent takes from five seats: exactly five succeed, none oversold.
pub async fn store_counter_is_exact_under_concurrency(b: &Backend) {
    let key = Key::new(unique_pk(), "SEATS");
    b.store.put(&Item::new(key.clone()).with("free", 5), None).await.expect("seed");
    let mut tasks = Vec::new();
    for _ in 0..20 {
        let store = b.store.clone();
        let key = key.clone();
        tasks.push(tokio::spawn(async move {
            let take = Update::default().add("free", -1);
            loop {
                match store.update(&key, &take, Some(&Condition::AtLeast("free".into(), 1))).await {
                    Ok(_) => return true,
                    Err(PortError::ConditionFailed) => return false,
                    Err(PortError::Retryable(_)) => tokio::time::sleep(Duration::from_millis(20)).await,
                    Err(e) => panic!("unexpected error: {e}"),
                }
            }
        }));
    }
    let mut won = 0;
    for t in tasks {
        won += usize::from(t.await.expect("task"));
    }
    assert_eq!(won, 5);
    assert_eq!(b.store.get(&key).await.expect("get").expect("item").int("free"), Some(0));
}

/// A query returns exactly the items of one partition whose sort key has the prefix,
/// in order; `%` and `_` are plain characters.
pub async fn store_query_by_prefix_in_order(b: &Backend) {
    let pk = unique_pk();
    let other_pk = unique_pk();
    for sk in ["REC#b", "REC#a", "REC#c", "RECX#a", "REC%", "REC_1", "USER#1", "REB#z"] {
        b.store.put(&Item::new(Key::new(&pk, sk)), None).await.expect("put");
    }
    b.store.put(&Item::new(Key::new(&other_pk, "REC#a")), None).await.expect("put");

    let sks = |items: Vec<Item>| items.into_iter().map(|i| i.key.sk).collect::<Vec<_>>();
    let asc = b.store.query_all(&Query::new(&pk, "REC#")).await.expect("query");
    assert!(asc.iter().all(|i| i.key.pk == pk));
    assert_eq!(sks(asc), ["REC#a", "REC#b", "REC#c"]);
    let desc = b.store.query_all(&Query::new(&pk, "REC#").descending()).await.expect("query");
    assert_eq!(sks(desc), ["REC#c", "REC#b", "REC#a"]);
    let pct = b.store.query_all(&Query::new(&pk, "REC%")).await.expect("query");
    assert_eq!(sks(pct), ["REC%"]);
    let under = b.store.query_all(&Query::new(&pk, "REC_")).await.expect("query");
    assert_eq!(sks(under), ["REC_1"]);
    let all = b.store.query_all(&Query::new(&pk, "")).await.expect("query");
    assert_eq!(all.len(), 8);
    let none = b.store.query_all(&Query::new(unique_pk(), "")).await.expect("query");
    assert!(none.is_empty());
}

/// 1,050 items come back over several pages, each once, in order, both ways.
pub async fn store_paginates_past_one_page(b: &Backend) {
    let pk = unique_pk();
    let n = 1050;
    let all: Vec<String> = (0..n).map(|i| format!("MSG#{i:05}")).collect();
    for chunk in all.chunks(100) {
        let writes: Vec<Write> = chunk
            .iter()
            .map(|sk| Write::Put { item: Item::new(Key::new(&pk, sk)).with("body", "x".repeat(200)), condition: None })
            .collect();
        b.store.transact(&writes).await.expect("seed");
    }
    for descending in [false, true] {
        let mut query = Query::new(&pk, "MSG#").limit(100);
        query.descending = descending;
        let mut seen = Vec::new();
        let mut pages = 0;
        loop {
            let page = b.store.query(&query).await.expect("page");
            assert!(page.items.len() <= 100);
            pages += 1;
            seen.extend(page.items.into_iter().map(|i| i.key.sk));
            match page.next {
                Some(next) => query.cursor = Some(next),
                None => break,
            }
            assert!(pages < 50, "pagination does not end");
        }
        let mut want = all.clone();
        if descending {
            want.reverse();
        }
        assert_eq!(seen, want);
        assert!(pages >= 11);
    }
    let big_page = b.store.query(&Query::new(&pk, "MSG#").limit(1000)).await.expect("page");
    assert_eq!(big_page.items.len(), 1000);
    assert!(big_page.next.is_some());
    let all_items = b.store.query_all(&Query::new(&pk, "MSG#").limit(1000)).await.expect("all");
    assert_eq!(all_items.len(), n);
}

/// The secondary index finds items by another key (a phone number) and follows moves.
pub async fn store_secondary_index_lookup(b: &Backend) {
    let pk = unique_pk();
    let phone = format!("{pk}#PH#+12065550100");
    let other_phone = format!("{pk}#PH#+12065550101");
    let cand = Item::new(Key::new(&pk, "REC#candidate#1")).indexed(Key::new(&phone, "REC#candidate#1")).with("n", 1);
    let emp = Item::new(Key::new(&pk, "REC#employee#9")).indexed(Key::new(&phone, "REC#employee#9"));
    let plain = Item::new(Key::new(&pk, "REC#contact#3"));
    for item in [&cand, &emp, &plain] {
        b.store.put(item, None).await.expect("put");
    }
    let found = b.store.query_all(&Query::new(&phone, "REC#").on_index()).await.expect("index query");
    let keys: Vec<_> = found.iter().map(|i| i.key.sk.as_str()).collect();
    assert_eq!(keys, ["REC#candidate#1", "REC#employee#9"]);
    assert_eq!(found[0], cand, "index returns whole items");

    let moved = emp.clone().indexed(Key::new(&other_phone, "REC#employee#9"));
    b.store.put(&moved, None).await.expect("move");
    let found = b.store.query_all(&Query::new(&phone, "").on_index()).await.expect("index query");
    assert_eq!(found.len(), 1);
    let found = b.store.query_all(&Query::new(&other_phone, "").on_index()).await.expect("index query");
    assert_eq!(found, vec![moved]);

    let paged = b.store.query(&Query::new(&phone, "").on_index().limit(1)).await.expect("page");
    assert_eq!(paged.items.len(), 1);
    let cursor = paged.next.expect("a cursor: more items may follow");
    let mut rest = Query::new(&phone, "").on_index().limit(1);
    rest.cursor = Some(cursor);
    assert!(b.store.query(&rest).await.expect("page").items.is_empty());
}

/// A transaction whose last condition fails writes nothing at all.
pub async fn store_transaction_is_all_or_nothing(b: &Backend) {
    let pk = unique_pk();
    let a = Key::new(&pk, "A");
    let counter = Key::new(&pk, "B");
    let claimed = Key::new(&pk, "C");
    b.store.put(&Item::new(counter.clone()).with("n", 1), None).await.expect("seed");
    b.store.put(&Item::new(claimed.clone()).with("owner", "u1"), None).await.expect("seed");

    let failing = [
        Write::Put { item: Item::new(a.clone()).with("v", 1), condition: Some(Condition::NotExists) },
        Write::Update { key: counter.clone(), update: Update::default().add("n", 1), condition: None },
        Write::Delete { key: Key::new(&pk, "D"), condition: None },
        Write::Put { item: Item::new(claimed.clone()).with("owner", "u2"), condition: Some(Condition::NotExists) },
    ];
    assert_eq!(b.store.transact(&failing).await.unwrap_err(), PortError::ConditionFailed);
    assert_eq!(b.store.get(&a).await.expect("get"), None);
    assert_eq!(b.store.get(&counter).await.expect("get").expect("b").int("n"), Some(1));
    assert_eq!(b.store.get(&claimed).await.expect("get").expect("c").str("owner"), Some("u1"));

    let check_fails = [
        Write::Put { item: Item::new(a.clone()), condition: None },
        Write::Check { key: claimed.clone(), condition: Condition::Equals("owner".into(), json!("u2")) },
    ];
    assert_eq!(b.store.transact(&check_fails).await.unwrap_err(), PortError::ConditionFailed);
    assert_eq!(b.store.get(&a).await.expect("get"), None);

    let ok = [
        Write::Put { item: Item::new(a.clone()).with("v", 1), condition: Some(Condition::NotExists) },
        Write::Update {
            key: counter.clone(),
            update: Update::default().add("n", 1),
            condition: Some(Condition::AtLeast("n".into(), 1)),
        },
        Write::Delete { key: claimed.clone(), condition: Some(Condition::Equals("owner".into(), json!("u1"))) },
        Write::Check { key: Key::new(&pk, "E"), condition: Condition::NotExists },
    ];
    b.store.transact(&ok).await.expect("transaction");
    assert_eq!(b.store.get(&a).await.expect("get").expect("a").int("v"), Some(1));
    assert_eq!(b.store.get(&counter).await.expect("get").expect("b").int("n"), Some(2));
    assert_eq!(b.store.get(&claimed).await.expect("get"), None);

    let same_key_twice =
        [Write::Put { item: Item::new(a.clone()), condition: None }, Write::Delete { key: a.clone(), condition: None }];
    assert!(matches!(b.store.transact(&same_key_twice).await, Err(PortError::Invalid(_))));
    assert_eq!(b.store.get(&a).await.expect("get").expect("a").int("v"), Some(1), "the put is rolled back too");
}

/// Key attribute names cannot be used as attributes.
pub async fn store_rejects_reserved_attribute_names(b: &Backend) {
    let key = Key::new(unique_pk(), "X");
    for name in ["PK", "SK", "GSI1PK", "GSI1SK"] {
        let item = Item::new(key.clone()).with(name, "evil");
        assert!(matches!(b.store.put(&item, None).await, Err(PortError::Invalid(_))), "{name}");
        let update = Update::default().set(name, "evil");
        assert!(matches!(b.store.update(&key, &update, None).await, Err(PortError::Invalid(_))), "{name}");
    }
    assert_eq!(b.store.get(&key).await.expect("get"), None);
}

/// JSON attributes of every type come back as they went in.
pub async fn store_round_trips_json_types(b: &Backend) {
    let key = Key::new(unique_pk(), "MSG#1");
    let attrs = json!({
        "text": "héllo ✓ \"quoted\"",
        "empty": "",
        "int": 9_007_199_254_740_993_i64,
        "neg": -42,
        "float": 1.5,
        "yes": true,
        "nothing": null,
        "list": [1, "two", {"three": 3}],
        "map": {"nested": {"deep": [true, false]}},
        "provider_id": "9007199254740993123",
    });
    let item = Item { key: key.clone(), index: None, attrs: attrs.as_object().expect("object").clone() };
    b.store.put(&item, None).await.expect("put");
    assert_eq!(b.store.get(&key).await.expect("get"), Some(item));
}

async fn receive_all(q: &dyn Queue, n: usize, visibility: Duration) -> Vec<Received> {
    let mut got: Vec<Received> = Vec::new();
    for _ in 0..20 {
        if got.len() >= n {
            break;
        }
        got.extend(q.receive(10, visibility).await.expect("receive"));
    }
    got
}

/// Sent messages are received once while hidden, and deleted for good.
pub async fn queue_send_receive_delete(b: &Backend) {
    let q = b.queue.as_ref();
    let mut ids = BTreeSet::new();
    for i in 0..3 {
        ids.insert(q.send(&format!("{{\"n\":{i}}}")).await.expect("send"));
    }
    assert_eq!(ids.len(), 3, "ids are distinct");
    let got = receive_all(q, 3, Duration::from_secs(30)).await;
    assert_eq!(got.len(), 3);
    assert_eq!(got.iter().map(|m| m.id.clone()).collect::<BTreeSet<_>>(), ids);
    let bodies: BTreeSet<_> = got.iter().map(|m| m.body.as_str()).collect();
    assert_eq!(bodies, BTreeSet::from(["{\"n\":0}", "{\"n\":1}", "{\"n\":2}"]));
    assert!(got.iter().all(|m| m.receive_count == 1));
    assert!(q.receive(10, Duration::from_secs(30)).await.expect("receive").is_empty(), "hidden while in flight");
    let depth = q.depth().await.expect("depth");
    assert_eq!((depth.visible, depth.in_flight, depth.dead), (0, 3, 0));
    for m in &got {
        q.delete(&m.receipt).await.expect("delete");
    }
    assert_eq!(q.depth().await.expect("depth"), Default::default());
}

/// A batch of 25 is sent whole (more than one SQS batch) and received whole.
pub async fn queue_batch_send(b: &Backend) {
    let q = b.queue.as_ref();
    let bodies: Vec<String> = (0..25).map(|i| format!("m{i}")).collect();
    let ids = q.send_batch(&bodies).await.expect("send_batch");
    assert_eq!(ids.len(), 25);
    let got = receive_all(q, 25, Duration::from_secs(30)).await;
    let mut got_bodies: Vec<_> = got.iter().map(|m| m.body.clone()).collect();
    got_bodies.sort();
    let mut want = bodies.clone();
    want.sort();
    assert_eq!(got_bodies, want);
    assert!(q.send_batch(&[]).await.expect("empty batch").is_empty());
}

/// A received message that is not deleted comes back after its visibility timeout.
pub async fn queue_redelivers_after_visibility_timeout(b: &Backend) {
    let q = b.queue.as_ref();
    let id = q.send("again").await.expect("send");
    let first = receive_all(q, 1, Duration::from_secs(1)).await;
    assert_eq!(first.len(), 1);
    assert_eq!(first[0].id, id);
    assert!(q.receive(10, Duration::from_secs(1)).await.expect("receive").is_empty());
    tokio::time::sleep(Duration::from_millis(2100)).await;
    let second = receive_all(q, 1, Duration::from_secs(30)).await;
    assert_eq!(second.len(), 1);
    assert_eq!(second[0].id, id);
    assert_eq!(second[0].receive_count, 2);
    q.delete(&second[0].receipt).await.expect("delete");
}

/// A received message hidden again for longer is not received when its first
/// visibility timeout ends; hidden for no time, it is received again at once.
pub async fn queue_hides_a_received_message_for_longer_or_shows_it_again(b: &Backend) {
    let q = b.queue.as_ref();
    let id = q.send("hidden").await.expect("send");
    let first = receive_all(q, 1, Duration::from_secs(1)).await;
    assert_eq!(first.len(), 1);
    q.hide(&first[0].receipt, Duration::from_secs(30)).await.expect("hide for longer");
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert!(q.receive(10, Duration::from_secs(1)).await.expect("receive").is_empty(), "still hidden");
    q.hide(&first[0].receipt, Duration::ZERO).await.expect("show again");
    let second = receive_all(q, 1, Duration::from_secs(30)).await;
    assert_eq!(second.len(), 1, "visible again at once");
    assert_eq!((second[0].id.as_str(), second[0].receive_count), (id.as_str(), 2));
    q.delete(&second[0].receipt).await.expect("delete");
    assert_eq!(q.depth().await.expect("depth").in_flight, 0);
}

async fn poison(q: &dyn Queue, body: &str) -> String {
    let id = q.send(body).await.expect("send");
    for round in 1..=MAX_RECEIVES {
        let got = receive_all(q, 1, Duration::from_secs(1)).await;
        assert_eq!(got.len(), 1, "receive {round}");
        assert_eq!(got[0].receive_count, round);
        tokio::time::sleep(Duration::from_millis(1100)).await;
    }
    assert!(q.receive(10, Duration::from_secs(1)).await.expect("receive").is_empty(), "moved after the last receive");
    id
}

/// After [`MAX_RECEIVES`] receives a message is a dead letter; replay brings it back
/// once.
pub async fn queue_dead_letters_after_max_receives_and_replays(b: &Backend) {
    let q = b.queue.as_ref();
    poison(q, "poison").await;
    let dead = q.dead_letters(10).await.expect("dead letters");
    assert_eq!(dead.len(), 1);
    assert_eq!(dead[0].body, "poison");
    assert_eq!(q.dead_letters(10).await.expect("listing twice").len(), 1, "listing removes nothing");
    assert_eq!(q.depth().await.expect("depth").dead, 1);

    assert_eq!(q.replay(None).await.expect("replay"), 1);
    assert!(q.dead_letters(10).await.expect("dead letters").is_empty());
    let back = receive_all(q, 1, Duration::from_secs(30)).await;
    assert_eq!(back.len(), 1);
    assert_eq!(back[0].body, "poison");
    assert_eq!(back[0].receive_count, 1, "a replayed message starts afresh");
    q.delete(&back[0].receipt).await.expect("delete");
    assert_eq!(q.replay(None).await.expect("replay of nothing"), 0);
}

/// Replay of chosen ids moves only those.
pub async fn queue_replays_selected_dead_letters(b: &Backend) {
    let q = b.queue.as_ref();
    poison(q, "first").await;
    poison(q, "second").await;
    let dead = q.dead_letters(10).await.expect("dead letters");
    assert_eq!(dead.len(), 2);
    let first = dead.iter().find(|d| d.body == "first").expect("first").id.clone();
    assert_eq!(q.replay(Some(std::slice::from_ref(&first))).await.expect("replay"), 1);
    let left = q.dead_letters(10).await.expect("dead letters");
    assert_eq!(left.iter().map(|d| d.body.as_str()).collect::<Vec<_>>(), ["second"]);
    let back = receive_all(q, 1, Duration::from_secs(30)).await;
    assert_eq!(back.iter().map(|m| m.body.as_str()).collect::<Vec<_>>(), ["first"]);
    assert_eq!(q.replay(Some(&["no-such-id".to_owned()])).await.expect("replay"), 0);
}

/// Create, read, replace, delete, with "not found" and "exists" as typed errors.
pub async fn secrets_lifecycle(b: &Backend) {
    let s = b.secrets.as_ref();
    let name = SecretName::from_parts(&[&format!("c{}", uuid::Uuid::new_v4().simple()), "textus", "system", "-"])
        .expect("name");
    assert!(matches!(s.get(&name).await, Err(PortError::NotFound(_))));
    assert!(matches!(s.replace(&name, &secret("x")).await, Err(PortError::NotFound(_))));
    assert!(matches!(s.delete(&name).await, Err(PortError::NotFound(_))));

    s.create(&name, &secret("key-one")).await.expect("create");
    assert_eq!(s.get(&name).await.expect("get").expose_secret(), "key-one");
    assert_eq!(s.create(&name, &secret("key-two")).await.unwrap_err(), PortError::ConditionFailed);
    assert_eq!(s.get(&name).await.expect("get").expose_secret(), "key-one");

    s.replace(&name, &secret("key-three")).await.expect("replace");
    assert_eq!(s.get(&name).await.expect("get").expose_secret(), "key-three");

    s.delete(&name).await.expect("delete");
    assert!(matches!(s.get(&name).await, Err(PortError::NotFound(_))));
    s.create(&name, &secret("key-four")).await.expect("create again after delete");
    assert_eq!(s.get(&name).await.expect("get").expose_secret(), "key-four");
}

/// Two names never share a value.
pub async fn secrets_are_separate_per_name(b: &Backend) {
    let s = b.secrets.as_ref();
    let tenant = format!("c{}", uuid::Uuid::new_v4().simple());
    let a = SecretName::from_parts(&[&tenant, "zipwhip", "user", "jane@acme.test"]).expect("name");
    let c = SecretName::from_parts(&[&tenant, "zipwhip", "user", "joe@acme.test"]).expect("name");
    s.create(&a, &secret("pw-a")).await.expect("create");
    s.create(&c, &secret("pw-c")).await.expect("create");
    s.delete(&a).await.expect("delete");
    assert!(matches!(s.get(&a).await, Err(PortError::NotFound(_))));
    assert_eq!(s.get(&c).await.expect("get").expose_secret(), "pw-c");
}
