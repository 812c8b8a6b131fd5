//! The first invocation of a fresh process against the next one: each function's
//! release bootstrap started `--runs` times (20 by default) on the Lambda Runtime API
//! emulator with the template's environment against one stage on moto, and in each
//! process one representative event invoked twice once the process waits for it
//! (intake: a signed TextUs webhook; records: an upsert with a phone number;
//! credentials and users: their listings; imports: the users report as XLSX; archiver:
//! an SQS batch of one text; ats-sync: its schedule against a connected ATS stand-in). p50 and p99 of both, and their
//! ratio.
//!
//! Twice: with `CACHE_TTL_SECS=0`, so both invocations make the same AWS calls and the
//! difference is the process's own warm-up; then as deployed (the template's cache),
//! where a warm process also skips the reads it cached.
//!
//! Run: `cargo bench -p textbridge-testkit --features aws --bench first_invocation`
//! (`-- --runs N`), with `TEXTBRIDGE_BOOTSTRAP_DIR` as for the `cold_start` bench.

use std::time::Duration;

use serde_json::{Value, json};
use textbridge_domain::{ProviderKind, RecordKind, TenantId, WebhookEvent};
use textbridge_testkit::bench::ms;
use textbridge_testkit::lambda_runtime::events::{
    HttpApiRequest, SqsMessage, api_call, claims, scheduled_event, sqs_event,
};
use textbridge_testkit::lambda_runtime::template::{Template, project_template};
use textbridge_testkit::lambda_runtime::{AccessKeys, Deployment, FUNCTIONS, FunctionSpec, Outcome, bootstrap};
use textbridge_testkit::{ats_directory, moto, seed};

const TOKEN: &str = "0123456789abcdef0123456789abcdef0123456789abcdef";
const WEBHOOK_SECRET: &str = "whsec-bench-7d1c";
const THEIR_NUMBER: &str = "+16125550123";

/// The event of invocation `n` (0, 1, …) of process `run` (counted across the
/// benchmark) of `function`: the same work each time, on items of its own where the
/// work writes.
fn event(function: &str, run: usize, n: usize, queue_arn: &str) -> Value {
    let admin = claims("acme", "u-1", "customer_admin");
    match function {
        "credentials" => api_call("GET", "/credentials", Some(&admin), None),
        "users" => api_call("GET", "/users", Some(&admin), None),
        "imports" => HttpApiRequest::new("GET", "/users/report").query("format=xlsx").claims(&admin).build(),
        "records" => {
            let record = json!({"name": "Pat Doe", "phones": [format!("(612) 555-{:04}", run * 2 + n)]});
            api_call("PUT", &format!("/records/candidate/c-{run}-{n}"), Some(&admin), Some(&record))
        }
        "intake" => {
            let body = seed::textus_received(&format!("m-{run}-{n}"), THEIR_NUMBER, "+16515550100", "on my way");
            HttpApiRequest::new("POST", &format!("/webhooks/textus/{TOKEN}"))
                .header("content-type", "application/json")
                .header("x-textus-signature", &seed::textus_signature(WEBHOOK_SECRET, &body))
                .body(&body)
                .build()
        }
        "archiver" => {
            let tenant = TenantId::parse("acme").expect("tenant");
            let at = "2026-11-26T10:00:00Z";
            let text = seed::inbound_text(ProviderKind::TextUs, &format!("t-{run}-{n}"), THEIR_NUMBER, at, "hi");
            let body = seed::queued(&tenant, WebhookEvent::Message(text));
            sqs_event(queue_arn, &[SqsMessage::new(&body)])
        }
        "ats-sync" => scheduled_event("arn:aws:events:us-east-1:123456789012:rule/every-20-minutes"),
        other => panic!("no event for {other}"),
    }
}

/// A successful answer: an HTTP API response below 300, or any JSON for the others
/// (the archiver's must report no failed item).
fn check(function: &str, outcome: Outcome, log: impl Fn() -> String) {
    let Outcome::Response(response) = outcome else { panic!("{function}: {outcome:?}\n{}", log()) };
    if let Some(status) = response.get("statusCode").and_then(Value::as_u64) {
        assert!(status < 300, "{function}: {response}\n{}", log());
    }
    if function == "archiver" {
        assert_eq!(response["batchItemFailures"], json!([]), "{response}\n{}", log());
    }
}

fn percentile(sorted: &[Duration], p: usize) -> Duration {
    sorted[((sorted.len() * p).div_ceil(100)).saturating_sub(1).min(sorted.len() - 1)]
}

#[tokio::main]
async fn main() {
    let runs = textbridge_testkit::bench::arg("--runs", 20);
    let admin = moto::sdk_config().await;
    let stage = format!("b{}", &uuid::Uuid::new_v4().simple().to_string()[..10]);
    let deployment = Deployment::create(&admin, &stage).await.expect("resources on moto");
    let template = Template::load(&project_template()).expect("template");
    let resolver = deployment.test_resolver(&template);
    let keys = AccessKeys { access_key_id: "testing".into(), secret_access_key: "testing".into() };

    let backend = textbridge_aws::backend(&admin, &deployment.aws_config()).await;
    let acme = TenantId::parse("acme").expect("tenant");
    seed::textus_registration(&backend, &acme, TOKEN, WEBHOOK_SECRET).await;
    seed::record_phone(&backend, &acme, THEIR_NUMBER, RecordKind::Employee, "e1").await;
    let ats = ats_directory::StandIn::start().await;
    let at = "2026-11-26T10:00:00Z";
    ats.set_users(vec![ats_directory::user("7", "ann@acme.test", "full", None, at)]);
    ats.set_records("employee", vec![ats_directory::record("e1", &[THEIR_NUMBER], at)]);
    seed::ats_connection(&backend, &acme, &ats.uri(), ats_directory::TOKEN).await;

    let mut processes = 0;
    for (mode, env) in
        [("CACHE_TTL_SECS=0, the same AWS calls in both", "0"), ("as deployed (the template's cache)", "")]
    {
        println!("first and second invocation of a fresh process, {mode}: {runs} processes each");
        for (name, logical_id) in FUNCTIONS {
            let Some(path) = bootstrap(name) else { continue };
            let config = template.function(logical_id, &resolver).unwrap_or_else(|e| panic!("{logical_id}: {e}"));
            let mut spec = FunctionSpec::new(path)
                .name(&config.function_name)
                .memory_mb(config.memory_mb)
                .credentials(keys.clone())
                .endpoint_url(moto::endpoint())
                .envs(config.environment.clone());
            if !env.is_empty() {
                spec = spec.env("CACHE_TTL_SECS", env);
            }
            let (mut first, mut second) = (Vec::with_capacity(runs), Vec::with_capacity(runs));
            // One process first, not counted: moto's first calls of each kind, the first sync.
            for run in 0..=runs {
                processes += 1;
                let mut function = spec.clone().start().expect("start");
                function.wait_ready(Duration::from_secs(10)).await.expect("ready");
                let mut times = [Duration::ZERO; 2];
                for (n, time) in times.iter_mut().enumerate() {
                    let event = event(name, processes, n, &deployment.intake_queue_arn);
                    let started = std::time::Instant::now();
                    let outcome = function.invoke(&event, config.timeout).await;
                    *time = started.elapsed();
                    check(name, outcome, || function.log_text());
                }
                if run > 0 {
                    first.push(times[0]);
                    second.push(times[1]);
                }
            }
            first.sort();
            second.sort();
            let (p50, p99) = (percentile(&first, 50), percentile(&first, 99));
            let (w50, w99) = (percentile(&second, 50), percentile(&second, 99));
            let times = p50.as_secs_f64() / w50.as_secs_f64();
            println!(
                "{name:<12} first p50 {:>6.1} ms  p99 {:>6.1} ms   second p50 {:>6.1} ms  p99 {:>6.1} ms   ({times:.1}× at p50)",
                ms(p50),
                ms(p99),
                ms(w50),
                ms(w99),
            );
            textbridge_testkit::bench::record(
                "first invocation",
                &format!("{name}, {mode}: first invocation p50 / p99"),
                &format!("{:.1} / {:.1} ms ({times:.1}×)", ms(p50), ms(p99)),
                &format!("second {:.1} / {:.1} ms", ms(w50), ms(w99)),
            );
        }
    }
}
