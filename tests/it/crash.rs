//! Crash test, SPEC S2 "nothing accepted is ever lost": `textbridge serve` is killed
//! with SIGKILL again and again while 2,000 webhooks are posted; after the last
//! restart every accepted webhook is archived exactly once — on the record and in
//! the ATS (which remembers what was written, so recovery can find it).

use std::{
    collections::BTreeMap,
    sync::{
        Arc, Mutex,
        atomic::{AtomicUsize, Ordering},
    },
    time::Duration,
};

use crate::common::{Client, Server, token};
use serde_json::{Value, json};
use textbridge_app::ports::SecretName;
use textbridge_testkit::{tempworks, zipwhip};

const WEBHOOKS: usize = 2000;
const SENDERS: usize = 8;
const KILLS: usize = 5;
const OURS: &str = "+12065550199";
const THEIRS: &str = "+12065550100";

fn webhook(i: usize) -> String {
    let id = 1_327_295_480_212_640_000_u64 + i as u64;
    zipwhip::received(&id.to_string(), THEIRS, OURS, &format!("message {i}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn every_accepted_webhook_is_archived_once_across_sigkills() {
    let dir = tempfile::tempdir().expect("tempdir");
    let zw = zipwhip::StandIn::start("zw-session-1", "1").await;
    // Keeps what is written and lists it back, so lookups after a crash find it.
    let tw = tempworks::StandIn::start().await;
    let embedded = textbridge_embedded::open(dir.path()).await.expect("embedded");
    let name = SecretName::from_parts(&["acme", "ats", "tempworks"]).expect("name");
    embedded.backend().secrets.create(&name, &"tw-token-1".to_owned().into()).await.expect("ats token");
    drop(embedded);
    // The server's own settings otherwise (its look-ups cached, the fast intake path).
    let env =
        [("ZIPWHIP_BASE_URL", zw.uri()), ("TEMPWORKS_BASE_URL", tw.uri()), ("VISIBILITY_TIMEOUT_SECS", "2".to_owned())];
    let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let client = Client::default();
    let admin = token(dir.path(), &["--tenant", "acme", "--role", "customer_admin", "--user-id", "admin-1"]);

    let server = Server::start(dir.path(), &env);
    crate::common::texting_user(&client, &server.base, &admin, "u-7").await;
    let creds = json!({"username": "alex@2065550199", "password": "zw-pass-1"});
    let (status, resp) =
        client.call("POST", &format!("{}/credentials/zipwhip/user/u-7", server.base), Some(&admin), Some(&creds)).await;
    assert_eq!(status, 201, "{resp}");
    let hook = zw.hook_path().await.expect("webhook registered");
    let hook = hook.as_str();
    let (status, _) = client
        .call("PUT", &format!("{}/records/employee/e1", server.base), Some(&admin), Some(&json!({"phones": [THEIRS]})))
        .await;
    assert_eq!(status, 200);

    let base = Arc::new(Mutex::new(server.base.clone()));
    let server = Arc::new(Mutex::new(Some(server)));
    let next = Arc::new(AtomicUsize::new(0));
    let accepted = Arc::new(AtomicUsize::new(0));
    let mut senders = Vec::new();
    for _ in 0..SENDERS {
        let (base, next, accepted, hook) = (base.clone(), next.clone(), accepted.clone(), hook.to_owned());
        senders.push(tokio::spawn(async move {
            let http = textbridge_http::builder().timeout(Duration::from_secs(5)).build().expect("client");
            loop {
                let i = next.fetch_add(1, Ordering::SeqCst);
                if i >= WEBHOOKS {
                    return;
                }
                // Re-send until accepted: a call cut off by a kill may or may not have been.
                for _attempt in 0..600 {
                    let url = format!("{}{hook}", base.lock().expect("base"));
                    let sent = http.post(&url).header("content-type", "application/json").body(webhook(i)).send().await;
                    if sent.is_ok_and(|r| r.status().as_u16() == 202) {
                        accepted.fetch_add(1, Ordering::SeqCst);
                        break;
                    }
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
            }
        }));
    }

    let mut accepted_at_kills = Vec::new();
    for _ in 0..KILLS {
        tokio::time::sleep(Duration::from_millis(1200)).await;
        accepted_at_kills.push(accepted.load(Ordering::SeqCst));
        let dir = dir.path().to_owned();
        let env: Vec<(String, String)> = env.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())).collect();
        let (server, base) = (server.clone(), base.clone());
        tokio::task::spawn_blocking(move || {
            drop(server.lock().expect("server").take()); // SIGKILL
            let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
            let restarted = Server::start(&dir, &env);
            *base.lock().expect("base") = restarted.base.clone();
            *server.lock().expect("server") = Some(restarted);
        })
        .await
        .expect("restart");
    }
    for s in senders {
        s.await.expect("sender");
    }
    assert_eq!(accepted.load(Ordering::SeqCst), WEBHOOKS);
    assert!(accepted_at_kills.iter().any(|n| *n < WEBHOOKS), "killed while posting: {accepted_at_kills:?}");

    let base = base.lock().expect("base").clone();
    let mut ids = BTreeMap::<String, usize>::new();
    for _ in 0..600 {
        ids.clear();
        let mut cursor: Option<String> = None;
        loop {
            let mut url = format!("{base}/records/employee/e1/messages?limit=100");
            if let Some(c) = &cursor {
                url.push_str("&cursor=");
                url.push_str(&url::form_urlencoded::byte_serialize(c.as_bytes()).collect::<String>());
            }
            let (status, page) = client.call("GET", &url, Some(&admin), None).await;
            assert_eq!(status, 200, "{page}");
            for m in page["messages"].as_array().cloned().unwrap_or_default() {
                *ids.entry(m["provider_message_id"].as_str().unwrap_or_default().to_owned()).or_default() += 1;
            }
            match page["next"].as_str() {
                Some(next) => cursor = Some(next.to_owned()),
                None => break,
            }
        }
        if ids.len() >= WEBHOOKS {
            break;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    assert_eq!(ids.len(), WEBHOOKS, "every accepted webhook archived");
    let twice: Vec<_> = ids.iter().filter(|(_, n)| **n > 1).collect();
    assert!(twice.is_empty(), "archived more than once: {twice:?}");
    let mut per_message = BTreeMap::<String, usize>::new();
    for _ in 0..300 {
        per_message.clear();
        for kept in tw.kept() {
            let marker = kept.text.rsplit('[').next().unwrap_or_default().to_owned();
            *per_message.entry(marker).or_default() += 1;
        }
        if per_message.len() >= WEBHOOKS {
            break;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let dead = client.call("GET", &format!("{base}/admin/dead-letters"), Some(&admin), None).await.1;
    assert_eq!(per_message.len(), WEBHOOKS, "every message written back to the ATS; dead letters: {dead}");
    let twice: Vec<_> = per_message.iter().filter(|(_, n)| **n > 1).collect();
    assert!(twice.is_empty(), "written to the ATS more than once: {twice:?}");
    assert_eq!(dead, Value::Array(vec![]), "no dead letters");
    drop(server);
}
