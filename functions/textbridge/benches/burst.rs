//! Burst on the key layout: one large tenant's texts (default 10,000 over 1,000
//! records) plus webhooks of 100 other tenants, through intake and the archiver
//! use-cases, counting the reads and writes that reach each partition key. The
//! layout is the same on DynamoDB and on the embedded store, so the counts are the
//! AWS ones. Intake and the archiver run as one warm process would, with the
//! deployed cache time to live (`CACHE_TTL_SECS` = 30 s in the template) and, for
//! reference in the same run, with caching off.
//!
//! Run: `cargo bench -p textbridge --bench burst` (`-- --texts N --records R --tenants T`).

use std::{sync::Arc, time::Duration};

use axum::http::HeaderMap;
use textbridge_app::{
    App, Backend, Config,
    archive::Archiver,
    intake::{self, Call},
    worker::MessageHandler,
};
use textbridge_domain::{RecordKind, TenantId};
use textbridge_testkit::{
    counting::{CountingStore, Counts},
    seed,
};

const SECRET: &str = "whsec-burst-0001";

fn number(i: usize) -> String {
    format!("+1206{}", 3_000_000 + i)
}

/// One signed TextUs webhook of `token` through intake.
async fn webhook(app: &Arc<App>, token: &str, id: &str, their: &str) {
    let body = seed::textus_received(id, their, "+12065550199", "burst");
    let mut headers = HeaderMap::new();
    headers.insert("content-type", "application/json".parse().expect("header"));
    headers.insert("x-textus-signature", seed::textus_signature(SECRET, &body).parse().expect("header"));
    let path = format!("/webhooks/textus/{token}");
    let call = Call {
        provider: "textus",
        token,
        path_and_query: &path,
        headers: &headers,
        body: body.as_bytes(),
        source: None,
    };
    intake::receive(app, call).await.expect("accepted");
}

struct Run {
    totals: Counts,
    hottest_reads: (String, u64),
    hottest_writes: (String, u64),
    partitions: usize,
}

async fn run(texts: usize, records: usize, tenants: usize, cache_ttl: Duration) -> Run {
    let dir = tempfile::tempdir().expect("tempdir");
    let embedded = textbridge_embedded::open(dir.path()).await.expect("embedded");
    let plain = embedded.backend();
    let counting = Arc::new(CountingStore::new(plain.store.clone()));
    let backend = Backend { store: counting.clone(), queue: plain.queue.clone(), secrets: plain.secrets.clone() };

    let big = TenantId::parse("big").expect("tenant");
    let big_token = "b".repeat(48);
    seed::textus_registration(&backend, &big, &big_token, SECRET).await;
    for r in 0..records {
        seed::record_phone(&backend, &big, &number(r), RecordKind::Candidate, &format!("c{r}")).await;
    }
    let mut others = Vec::new();
    for t in 0..tenants {
        let tenant = TenantId::parse(&format!("t{t}")).expect("tenant");
        let token = format!("{t:0>48}");
        seed::textus_registration(&backend, &tenant, &token, SECRET).await;
        seed::record_phone(&backend, &tenant, &number(t), RecordKind::Employee, "e1").await;
        others.push(token);
    }
    counting.reset();

    let providers = textbridge_providers::registry(&textbridge_providers::Endpoints::from_env().expect("endpoints"));
    let config = Config { cache_ttl, ..Config::default() };
    let app = App::on(backend.clone(), config).with_providers(providers).shared();
    // Every tenth text, one webhook of another tenant, round robin.
    for i in 0..texts {
        webhook(&app, &big_token, &format!("m{i}"), &number(i % records)).await;
        if i % 10 == 0 && !others.is_empty() {
            let t = (i / 10) % others.len();
            webhook(&app, &others[t], &format!("o{i}"), &number(t)).await;
        }
    }
    let archiver = Archiver::new(app.clone());
    loop {
        let batch = backend.queue.receive(10, Duration::from_secs(60)).await.expect("receive");
        if batch.is_empty() {
            break;
        }
        for message in batch {
            archiver.handle(&message.body).await.expect("archived");
            backend.queue.delete(&message.receipt).await.expect("delete");
        }
    }

    let snapshot = counting.snapshot();
    let hottest = |f: fn(&Counts) -> u64| {
        snapshot.iter().map(|(pk, c)| (pk.clone(), f(c))).max_by_key(|(_, n)| *n).unwrap_or_default()
    };
    Run {
        totals: counting.totals(),
        hottest_reads: hottest(|c| c.reads),
        hottest_writes: hottest(|c| c.writes),
        partitions: snapshot.len(),
    }
}

fn share(part: u64, whole: u64) -> f64 {
    if whole == 0 { 0.0 } else { 100.0 * part as f64 / whole as f64 }
}

fn print(name: &str, run: &Run) {
    println!("{name}");
    println!("  {} reads, {} writes over {} partition keys", run.totals.reads, run.totals.writes, run.partitions);
    println!(
        "  hottest key for reads:  {:>6} ({:>5.2} %)  {}",
        run.hottest_reads.1,
        share(run.hottest_reads.1, run.totals.reads),
        run.hottest_reads.0
    );
    println!(
        "  hottest key for writes: {:>6} ({:>5.2} %)  {}",
        run.hottest_writes.1,
        share(run.hottest_writes.1, run.totals.writes),
        run.hottest_writes.0
    );
}

#[tokio::main]
async fn main() {
    let texts = textbridge_testkit::bench::arg("--texts", 10_000);
    let records = textbridge_testkit::bench::arg("--records", 1_000);
    let tenants = textbridge_testkit::bench::arg("--tenants", 100);
    println!("burst: {texts} texts over {records} records of one tenant, plus webhooks of {tenants} other tenants");
    let cached = run(texts, records, tenants, Duration::from_secs(30)).await;
    print("warm process, CACHE_TTL_SECS=30 (as deployed)", &cached);
    let uncached = run(texts, records, tenants, Duration::ZERO).await;
    print("reference in the same run: no cache (every read reaches the store)", &uncached);
    let worst =
        share(cached.hottest_reads.1, cached.totals.reads).max(share(cached.hottest_writes.1, cached.totals.writes));
    println!("goal: no partition key above 2 % of reads or writes; as deployed the largest share is {worst:.2} %");
}
