//! Local intake and archiving benchmark on the embedded backend, over real HTTP on
//! loopback:
//!
//! 1. signed TextUs webhooks (HMAC check + durable enqueue) vs. a no-op route on the
//!    same server: accepted requests/s and latency percentiles;
//! 2. the archiver draining the queue: messages/s;
//! 3. store operations per webhook and per archived message, counted through the port;
//! 4. the same signed webhooks with the enqueue discarded (not durable, not archived):
//!    what everything but the durable enqueue allows on this machine.
//!
//! Both twice: with every look-up read again (`CACHE_TTL_SECS=0`, caching off) and
//! with the default cache (`CACHE_TTL_SECS=30`, locally and as deployed: registration,
//! allow-lists, secret and the texting user's security group cached); then once more
//! with ATS write-back (the TempWorks stand-in on loopback), for the store
//! operations an archived text costs with it.
//!
//! Run: `cargo bench -p textbridge --bench intake` (`-- --requests N --concurrency C`).

use std::{
    sync::{
        Arc,
        atomic::{AtomicU64, Ordering},
    },
    time::{Duration, Instant},
};

use async_trait::async_trait;
use axum::{Router, http::StatusCode, routing::post};
use textbridge::{DevKey, worker};
use textbridge_app::{
    App, Backend, Config,
    archive::Archiver,
    ports::{Ats, DeadLetter, PortError, PortResult, Queue, QueueDepth, Received, SecretName},
};
use textbridge_domain::{RecordKind, TenantId};
use textbridge_testkit::{
    bench,
    counting::{CountingStore, Counts},
    seed, tempworks,
};
use tokio::sync::watch;

const SECRET: &str = "whsec-bench-0001";

/// A queue that accepts every message and keeps none: the reference for what a
/// webhook costs besides its durable enqueue.
struct Discard;

#[async_trait]
impl Queue for Discard {
    async fn send(&self, _: &str) -> PortResult<String> {
        Ok(String::new())
    }
    async fn send_batch(&self, bodies: &[String]) -> PortResult<Vec<String>> {
        Ok(vec![String::new(); bodies.len()])
    }
    async fn receive(&self, _: u32, _: Duration) -> PortResult<Vec<Received>> {
        Err(PortError::Invalid("the discarding queue keeps nothing".into()))
    }
    async fn delete(&self, _: &str) -> PortResult<()> {
        Err(PortError::Invalid("the discarding queue keeps nothing".into()))
    }
    async fn hide(&self, _: &str, _: Duration) -> PortResult<()> {
        Err(PortError::Invalid("the discarding queue keeps nothing".into()))
    }
    async fn dead_letters(&self, _: u32) -> PortResult<Vec<DeadLetter>> {
        Ok(Vec::new())
    }
    async fn replay(&self, _: Option<&[String]>) -> PortResult<u32> {
        Ok(0)
    }
    async fn depth(&self) -> PortResult<QueueDepth> {
        Ok(QueueDepth::default())
    }
}

fn payload(i: usize) -> String {
    // A new message id for every request of the run (the rounds use distinct ranges).
    seed::textus_received(&i.to_string(), "+12065550100", "+12065550199", &format!("bench message {i}"))
}

/// Posts `requests` bodies to `url` with `concurrency` clients; returns per-request
/// latencies and the wall time.
async fn load(url: &str, first: usize, requests: usize, concurrency: usize, signed: bool) -> (Vec<Duration>, Duration) {
    let http = textbridge_http::builder().build().expect("client");
    let next = Arc::new(AtomicU64::new(0));
    let end = first + requests;
    let started = Instant::now();
    let mut tasks = Vec::new();
    for _ in 0..concurrency {
        let (http, next, url) = (http.clone(), next.clone(), url.to_owned());
        tasks.push(tokio::spawn(async move {
            let mut latencies = Vec::new();
            loop {
                let i = first + usize::try_from(next.fetch_add(1, Ordering::Relaxed)).expect("index");
                if i >= end {
                    return latencies;
                }
                let body = payload(i);
                let mut req = http.post(&url).header("content-type", "application/json");
                if signed {
                    req = req.header("x-textus-signature", seed::textus_signature(SECRET, &body));
                }
                let t = Instant::now();
                let status = req.body(body).send().await.expect("send").status();
                latencies.push(t.elapsed());
                assert_eq!(status.as_u16(), 202, "request {i}");
            }
        }));
    }
    let mut all = Vec::new();
    for t in tasks {
        all.extend(t.await.expect("task"));
    }
    (all, started.elapsed())
}

/// Prints a load's throughput and latency; returns them as "N req/s, p99 M ms".
fn report(name: &str, mut latencies: Vec<Duration>, wall: Duration) -> String {
    latencies.sort();
    let pct = |p: f64| latencies[((latencies.len() as f64 * p) as usize).min(latencies.len() - 1)];
    let rate = latencies.len() as f64 / wall.as_secs_f64();
    let p99 = pct(0.99).as_secs_f64() * 1e3;
    println!(
        "{name:<28} {rate:>8.0} req/s   p50 {:>7.2} ms   p99 {p99:>7.2} ms   ({} requests)",
        pct(0.50).as_secs_f64() * 1e3,
        latencies.len()
    );
    format!("{rate:.0} req/s, p99 {p99:.1} ms")
}

/// What one round measured, as the summary shows it.
struct Round {
    intake: String,
    archiver: String,
    store_ops: String,
}

/// Serves `app`'s intake routes (and a no-op route) on a free loopback port; the base URL.
async fn serve(app: Arc<App>) -> String {
    let router = textbridge_api::finish(
        Router::new()
            .merge(textbridge_api::intake::router(app))
            .route("/noop", post(|| async { StatusCode::ACCEPTED })),
        Arc::new(DevKey::from_bytes(&[1; 32])),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("addr");
    tokio::spawn(async move { axum::serve(listener, router).await.expect("serve") });
    format!("http://{addr}")
}

/// One round on `app`: `requests` signed webhooks (message ids from `first`), then the
/// archiver draining them; prints throughput and store operations per call.
async fn round(
    app: &Arc<App>,
    counting: &CountingStore,
    token: &str,
    first: usize,
    requests: usize,
    concurrency: usize,
) -> Round {
    let base = serve(app.clone()).await;
    let (reads0, writes0) = {
        let t = counting.totals();
        (t.reads, t.writes)
    };
    let (lat, wall) = load(&format!("{base}/webhooks/textus/{token}"), first, requests, concurrency, true).await;
    let intake = report("signed webhook + enqueue", lat, wall);
    let Counts { reads: reads1, writes: writes1 } = counting.totals();
    let per = |n: u64| n as f64 / requests as f64;
    println!("  store ops per webhook: {:.1} reads, {:.1} writes", per(reads1 - reads0), per(writes1 - writes0));

    let (stop, stopped) = watch::channel(false);
    let started = Instant::now();
    let run = tokio::spawn(worker::run(
        app.queue().expect("queue").clone(),
        Arc::new(Archiver::new(app.clone())),
        Duration::from_secs(60),
        stopped,
    ));
    loop {
        let depth = app.queue().expect("queue").depth().await.expect("depth");
        let left = depth.visible + depth.in_flight;
        if left == 0 {
            break;
        }
        // Counting reads every waiting message's index entry: asked every 20 ms, it
        // took about a fifth of the process's CPU from what it measures. Every 200 ms
        // while 20,000 wait, every 5 ms near the end.
        tokio::time::sleep(Duration::from_millis(left.clamp(500, 20_000) / 100)).await;
    }
    let wall = started.elapsed();
    let _ = stop.send(true);
    run.await.expect("worker");
    let Counts { reads: reads2, writes: writes2 } = counting.totals();
    let rate = requests as f64 / wall.as_secs_f64();
    println!("archiver                     {rate:>8.0} msg/s   ({requests} messages in {:.2} s)", wall.as_secs_f64());
    let store_ops = format!("{:.1} reads + {:.1} writes", per(reads2 - reads1), per(writes2 - writes1));
    println!("  store ops per archived message: {store_ops} (+ 1 queue receive share, 1 queue delete)");
    Round { intake, archiver: format!("{rate:.0} msg/s"), store_ops }
}

#[tokio::main]
async fn main() {
    let requests = bench::arg("--requests", 2000);
    let concurrency = bench::arg("--concurrency", 16);
    let dir = tempfile::tempdir().expect("tempdir");
    let embedded = textbridge_embedded::open(dir.path()).await.expect("embedded");
    let plain = embedded.backend();
    let counting = Arc::new(CountingStore::new(plain.store.clone()));
    let backend = Backend { store: counting.clone(), queue: plain.queue.clone(), secrets: plain.secrets.clone() };

    // A TextUs system registration and one record, seeded through the ports.
    let tenant = TenantId::parse("acme").expect("tenant");
    let token = "b".repeat(48);
    seed::textus_registration(&backend, &tenant, &token, SECRET).await;
    seed::record_phone(&backend, &tenant, "+12065550100", RecordKind::Employee, "e1").await;

    let providers = textbridge_providers::registry(&textbridge_providers::Endpoints::from_env().expect("endpoints"));
    let app_with = |cache_ttl: Duration| {
        App::on(backend.clone(), Config { cache_ttl, ..Config::default() }).with_providers(providers.clone()).shared()
    };
    let uncached = app_with(Duration::ZERO);
    let cached = app_with(Config::default().cache_ttl);
    let ats_stand_in = tempworks::StandIn::start().await;
    let ats_token = SecretName::from_parts(&["acme", "ats", "tempworks"]).expect("name");
    backend.secrets.create(&ats_token, &"tw-token-1".to_owned().into()).await.expect("ATS token");
    let ats_url = ats_stand_in.uri().parse().expect("url");
    let ats = Arc::new(textbridge_ats::TempWorks::new(ats_url, backend.secrets.clone())) as Arc<dyn Ats>;
    let with_ats =
        App::on(backend.clone(), Config::default()).with_providers(providers.clone()).with_ats(Some(ats)).shared();

    println!("intake on the embedded backend: {requests} requests, {concurrency} concurrent clients");
    let base = serve(uncached.clone()).await;
    let (lat, wall) = load(&format!("{base}/noop"), 0, requests, concurrency, false).await;
    let noop = report("no-op route", lat, wall);
    let discarding = App::on(Backend { queue: Arc::new(Discard), ..backend.clone() }, Config::default())
        .with_providers(providers.clone())
        .shared();
    let discard_base = serve(discarding).await;
    let url = format!("{discard_base}/webhooks/textus/{token}");
    let (lat, wall) = load(&url, 3 * requests, requests, concurrency, true).await;
    let discarded = report("signed webhook, discarded", lat, wall);
    println!("caching off, every look-up read again (CACHE_TTL_SECS=0):");
    let cold = round(&uncached, &counting, &token, 0, requests, concurrency).await;
    println!("the default cache, locally and as deployed (CACHE_TTL_SECS=30):");
    let warm = round(&cached, &counting, &token, requests, requests, concurrency).await;
    println!("the default cache, with ATS write-back (TempWorks stand-in):");
    let written_back = round(&with_ats, &counting, &token, 2 * requests, requests, concurrency).await;
    assert_eq!(ats_stand_in.writes().await.len(), requests, "every text written back once");
    bench::record("intake", "signed TextUs webhooks, the default cache", &warm.intake, &format!("no-op route {noop}"));
    bench::record("intake", "signed TextUs webhooks, every look-up read", &cold.intake, &format!("no-op route {noop}"));
    bench::record(
        "intake",
        "signed TextUs webhooks, the enqueue discarded (not durable)",
        &discarded,
        &format!("durable {}", warm.intake),
    );
    bench::record(
        "archiver",
        "archived texts, the default cache",
        &warm.archiver,
        &format!("every look-up read {}", cold.archiver),
    );
    bench::record(
        "archiver",
        "store operations per archived text",
        &warm.store_ops,
        &format!("every look-up read {}", cold.store_ops),
    );
    bench::record(
        "archiver",
        "store operations per archived text, with ATS write-back",
        &written_back.store_ops,
        &format!("without write-back {}", warm.store_ops),
    );

    let archived = uncached
        .store
        .query_all(&textbridge_app::keys::conversation(&tenant, RecordKind::Employee, "e1"))
        .await
        .expect("archive");
    assert_eq!(archived.len(), 3 * requests, "every message archived once");
}
