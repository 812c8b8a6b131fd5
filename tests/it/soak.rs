//! A soak of the real `textbridge serve`: signed webhooks (some delivered twice at
//! once), sends, user imports and ATS syncs, all at once for a bounded time
//! (`TEXTBRIDGE_SOAK_SECS`, 20 s by default). Then nothing accepted is lost, nothing
//! is archived twice, no request got a 5xx, and the server's memory stayed flat.

use std::{
    collections::BTreeSet,
    sync::{
        Arc,
        atomic::{AtomicU64, Ordering},
    },
    time::{Duration, Instant},
};

use serde_json::{Value, json};
use textbridge_testkit::{seed, tempworks};
use wiremock::{
    Mock, Request, Respond, ResponseTemplate,
    matchers::{method, path},
};

use crate::{
    archiving::{OURS, THEIRS, World},
    common,
};

/// TextUs's answer to a send: a message id of its own for every text.
struct NewMessage(AtomicU64);

impl Respond for NewMessage {
    fn respond(&self, _: &Request) -> ResponseTemplate {
        let n = self.0.fetch_add(1, Ordering::Relaxed);
        ResponseTemplate::new(201).set_body_json(json!({
            "@type": "Message", "id": format!("/messages/out-{n}"), "direction": "out", "deliveryState": "queued",
            "conversation": "/conversations/kY1QwY"
        }))
    }
}

/// What the load saw.
#[derive(Default)]
struct Tally {
    webhooks: BTreeSet<String>,
    sends: u64,
    imported: u64,
    syncs: u64,
    statuses: Vec<(&'static str, u16)>,
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn webhooks_sends_imports_and_syncs_at_once_lose_and_duplicate_nothing() {
    let secs = std::env::var("TEXTBRIDGE_SOAK_SECS").ok().and_then(|s| s.parse().ok()).unwrap_or(20u64);
    let w = Arc::new(World::new(tempworks::StandIn::start().await).await);
    let hook = w.textus_hook("acme").await;
    let admin = w.admin("acme");
    w.upsert("acme", "employee", "e1", &[THEIRS]).await;
    let me = crate::conversations::texter(&w, "acme", "u-1").await;
    Mock::given(method("POST"))
        .and(path("/acme/messages"))
        .respond_with(NewMessage(AtomicU64::new(0)))
        .mount(&w.textus)
        .await;
    let employees: Vec<Value> = (0..50)
        .map(|i| {
            json!({"employeeId": 5000 + i, "firstName": "Em", "lastName": format!("Ployee{i}"),
                        "phoneNumber": format!("(206) 555-{:04}", 1000 + i), "isActive": true})
        })
        .collect();
    w.ats.set_directory(employees, Vec::new(), "tw-token-1");
    let connection = json!({"connector": "tempworks", "base_url": w.ats.uri(), "token": "tw-token-1"});
    assert_eq!(w.call("PUT", "/credentials/ats", &admin, Some(connection)).await.0, 200);

    let until = Instant::now() + Duration::from_secs(secs);
    let tally = Arc::new(std::sync::Mutex::new(Tally::default()));
    let pid = w.server().pid();
    let mut tasks = tokio::task::JoinSet::new();

    // Webhooks from two senders; every fifth delivered twice at the same moment.
    for sender in 0..2 {
        let (w, hook, tally) = (w.clone(), hook.clone(), tally.clone());
        tasks.spawn(async move {
            let mut i = 0u64;
            while Instant::now() < until {
                let id = format!("soak-{sender}-{i}");
                let body = seed::textus_received(&id, THEIRS, OURS, "on my way");
                let statuses = if i.is_multiple_of(5) {
                    let (a, b) = tokio::join!(w.post_textus(&hook, &body), w.post_textus(&hook, &body));
                    vec![a, b]
                } else {
                    vec![w.post_textus(&hook, &body).await]
                };
                let mut t = tally.lock().expect("tally");
                t.webhooks.insert(format!("/messages/{id}"));
                t.statuses.extend(statuses.into_iter().map(|s| ("webhook", s)));
                i += 1;
            }
        });
    }
    // Sends to the record, each with a key of its own.
    {
        let (w, me, tally) = (w.clone(), me.clone(), tally.clone());
        tasks.spawn(async move {
            let mut i = 0u64;
            while Instant::now() < until {
                let text =
                    json!({"provider": "textus", "record": {"kind": "employee", "id": "e1"}, "body": "Shift at 9?"});
                let req = w
                    .client
                    .raw()
                    .post(format!("{}/messages/send", w.server().base))
                    .bearer_auth(&me)
                    .header("Idempotency-Key", format!("soak-send-{i}"))
                    .json(&text);
                let (status, _) = w.client.send(req).await;
                {
                    let mut t = tally.lock().expect("tally");
                    t.statuses.push(("send", status));
                    t.sends += u64::from(status == 201);
                }
                i += 1;
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        });
    }
    // Imports of 20 new users each, run to the end.
    {
        let (w, admin, tally) = (w.clone(), admin.clone(), tally.clone());
        tasks.spawn(async move {
            let mut k = 0u64;
            while Instant::now() < until {
                let rows: String = (0..20).map(|j| format!("Im,Port{k}x{j},imp{k}-{j}@acme.test\r\n")).collect();
                let csv = format!("First Name,Last Name,Email\r\n{rows}");
                let url = format!("{}/users/imports?file_name=soak-{k}.csv", w.server().base);
                let (status, preview) = w.client.send(w.client.raw().post(url).bearer_auth(&admin).body(csv)).await;
                tally.lock().expect("tally").statuses.push(("import upload", status));
                let Some(id) = preview["id"].as_str() else { break };
                let (status, _) = w.call("POST", &format!("/users/imports/{id}/run"), &admin, None).await;
                tally.lock().expect("tally").statuses.push(("import run", status));
                loop {
                    let (status, job) = w.call("GET", &format!("/users/imports/{id}?limit=1"), &admin, None).await;
                    tally.lock().expect("tally").statuses.push(("import poll", status));
                    if job["state"] == "done" || status != 200 {
                        let created = job["summary"]["create"].as_u64().unwrap_or(0);
                        tally.lock().expect("tally").imported += created;
                        break;
                    }
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
                k += 1;
            }
        });
    }
    // ATS syncs, each a process of its own on the same data.
    {
        let (w, tally) = (w.clone(), tally.clone());
        tasks.spawn(async move {
            while Instant::now() < until {
                let dir = w.dir.clone();
                let out = tokio::task::spawn_blocking(move || common::cli(&dir, &["sync", "--tenant", "acme"]))
                    .await
                    .expect("sync");
                let report: Value = serde_json::from_str(out.trim()).expect("sync report");
                assert!(report["records_upserted"].is_u64(), "{report}");
                tally.lock().expect("tally").syncs += 1;
                tokio::time::sleep(Duration::from_secs(2)).await;
            }
        });
    }
    // The server's memory, twice a second.
    let sampler = tokio::spawn(async move {
        let mut samples = Vec::new();
        while Instant::now() < until {
            samples.push(textbridge_testkit::bench::memory_kib(pid, "VmRSS").unwrap_or(0));
            tokio::time::sleep(Duration::from_millis(500)).await;
        }
        samples
    });
    while let Some(done) = tasks.join_next().await {
        done.expect("a load task failed");
    }
    let samples = sampler.await.expect("sampler");

    w.wait_until_queue_is_empty().await;
    let t = std::mem::take(&mut *tally.lock().expect("tally"));
    let failed: Vec<_> = t.statuses.iter().filter(|(_, s)| *s >= 500 || *s == 0).collect();
    assert!(failed.is_empty(), "server errors: {failed:?}");
    let refused: Vec<_> = t.statuses.iter().filter(|(_, s)| !(200..300).contains(s)).collect();
    assert!(refused.is_empty(), "refused under load: {refused:?}");
    assert!(t.webhooks.len() > 20 && t.sends > 5 && t.imported >= 20 && t.syncs >= 2, "too little load ran");

    // Every accepted webhook and every sent text is on the record once.
    let messages = w.conversation("acme", "employee", "e1").await;
    let ids: Vec<&str> = messages.iter().filter_map(|m| m["provider_message_id"].as_str()).collect();
    let unique: BTreeSet<&str> = ids.iter().copied().collect();
    assert_eq!(ids.len(), unique.len(), "a text was archived twice");
    let inbound: BTreeSet<String> =
        unique.iter().filter(|id| id.starts_with("/messages/soak-")).map(|s| (*s).to_owned()).collect();
    assert_eq!(inbound, t.webhooks, "every accepted webhook is archived");
    let outbound = unique.iter().filter(|id| id.starts_with("/messages/out-")).count();
    assert_eq!(outbound as u64, t.sends, "every sent text is archived");
    let dead = w.call("GET", "/admin/dead-letters", &admin, None).await.1;
    assert_eq!(dead, json!([]), "nothing failed");

    // Users: every imported one is there, once.
    let mut emails = Vec::new();
    let mut cursor = String::new();
    loop {
        let (status, page) = w.call("GET", &format!("/users?q=imp&limit=100{cursor}"), &admin, None).await;
        assert_eq!(status, 200, "{page}");
        emails.extend(
            page["users"].as_array().into_iter().flatten().filter_map(|u| u["email"].as_str().map(str::to_owned)),
        );
        match page["next"].as_str() {
            Some(next) => cursor = format!("&cursor={}", crate::archiving::urlencode(next)),
            None => break,
        }
    }
    let distinct: BTreeSet<&String> = emails.iter().collect();
    assert_eq!((emails.len() as u64, distinct.len() as u64), (t.imported, t.imported), "imported users, once each");

    // Memory: the last third of the run holds no more than the first third did,
    // give or take what allocators keep (a quarter, and 16 MiB).
    let third = samples.len() / 3;
    assert!(third > 0, "too few memory samples: {samples:?}");
    let first = samples[..third].iter().copied().max().unwrap_or(0);
    let last = samples[samples.len() - third..].iter().copied().max().unwrap_or(0);
    println!(
        "soak {secs} s: {} webhooks, {} sends, {} imported users, {} syncs; RSS first third max {first} KiB, last third max {last} KiB",
        t.webhooks.len(),
        t.sends,
        t.imported,
        t.syncs
    );
    assert!(last <= first + first / 4 + 16 * 1024, "memory grew: {first} KiB, then {last} KiB ({samples:?})");
}
