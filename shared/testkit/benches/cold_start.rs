//! Cold starts of the release bootstraps: each function started `--runs` times (20 by
//! default) on the Lambda Runtime API emulator with the template's environment for a
//! made-up stage, dummy keys and no AWS endpoint reachable, timed from process spawn to
//! its first `GET /2018-06-01/runtime/invocation/next`; median and max. The reference
//! in the same run: the hello-world `lambda_runtime` function of this crate (the floor;
//! built with this benchmark's profile, not with the release profile).
//!
//! Run: `cargo bench -p textbridge-testkit --features aws --bench cold_start`
//! (`-- --runs N`), with `TEXTBRIDGE_BOOTSTRAP_DIR` naming the folder that holds
//! `<name>/bootstrap` (`cargo lambda build --release` puts them in
//! `$CARGO_TARGET_DIR/lambda`).

use std::time::Duration;

use textbridge_testkit::bench::ms;
use textbridge_testkit::lambda_runtime::template::{Template, project_template};
use textbridge_testkit::lambda_runtime::{AccessKeys, Deployment, FUNCTIONS, FunctionSpec, bootstrap};

/// Starts `spec` `runs` times; the init durations, sorted, and the largest peak
/// resident memory at the first `next` (KiB).
async fn inits(spec: &FunctionSpec, runs: usize) -> (Vec<Duration>, u64) {
    let mut all = Vec::with_capacity(runs);
    let mut peak = 0;
    for _ in 0..runs {
        let mut function = spec.clone().start().expect("start");
        let init = function.wait_ready(Duration::from_secs(10)).await;
        all.push(init.unwrap_or_else(|| panic!("did not start:\n{}", function.log_text())));
        peak = peak.max(function.peak_rss_kib().unwrap_or(0));
    }
    all.sort();
    (all, peak)
}

fn mib(kib: u64) -> f64 {
    kib as f64 / 1024.0
}

#[tokio::main]
async fn main() {
    let runs = textbridge_testkit::bench::arg("--runs", 20);
    let template = Template::load(&project_template()).expect("template");
    let deployment = Deployment::made_up("bench");
    let resolver = deployment.test_resolver(&template);
    let keys = AccessKeys { access_key_id: "AKIDBENCH".into(), secret_access_key: "bench-secret".into() };

    println!("cold start, spawn to the first `next`: {runs} runs each");
    let hello = FunctionSpec::new(env!("CARGO_BIN_EXE_hello_lambda")).name("hello").memory_mb(128);
    let (floor, floor_peak) = inits(&hello, runs).await;
    let floor_median = floor[runs / 2];
    println!(
        "{:<12} median {:>6.1} ms   max {:>6.1} ms   peak RSS {:>5.1} MiB   (the floor)",
        "hello world",
        ms(floor_median),
        ms(floor[runs - 1]),
        mib(floor_peak)
    );
    let reference = format!("hello world {:.1} ms, {:.1} MiB", ms(floor_median), mib(floor_peak));
    for (name, logical_id) in FUNCTIONS {
        let Some(path) = bootstrap(name) else { continue };
        let config = template.function(logical_id, &resolver).unwrap_or_else(|e| panic!("{logical_id}: {e}"));
        let spec = FunctionSpec::new(path)
            .name(&config.function_name)
            .memory_mb(config.memory_mb)
            .credentials(keys.clone())
            .envs(config.environment.clone());
        let (all, peak) = inits(&spec, runs).await;
        let median = all[runs / 2];
        let times = median.as_secs_f64() / floor_median.as_secs_f64();
        println!(
            "{name:<12} median {:>6.1} ms   max {:>6.1} ms   peak RSS {:>5.1} MiB   ({times:.1}× the floor)",
            ms(median),
            ms(all[runs - 1]),
            mib(peak)
        );
        let figure = format!("{:.1} ms ({times:.1}×), {:.1} MiB", ms(median), mib(peak));
        textbridge_testkit::bench::record(
            "cold start",
            &format!("{name}: spawn to first `next`, median; peak RSS"),
            &figure,
            &reference,
        );
    }
}
