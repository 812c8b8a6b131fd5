//! The ATS sync at scale, on the embedded backend against the stand-in ATS over
//! loopback HTTP (the real directory connector): a first sync of N users and 2N
//! records (default 100,000 and 200,000), a second sync of the unchanged ATS, and a
//! sync after 1 % of users and records changed — each with its time and the reads
//! and writes that reached the store (the same counts a DynamoDB table would see).
//!
//! Run: `cargo bench -p textbridge --bench sync` (`-- --users N`).

use std::{sync::Arc, time::Instant};

use textbridge_app::{
    App, Backend, Config,
    ats_connection::{self, ConnectionInput},
    sync,
};
use textbridge_domain::{Identity, RecordKind, Role, TenantId};
use textbridge_testkit::{
    ats_directory::{StandIn, TOKEN, record, user},
    counting::CountingStore,
};

fn data(ats: &StandIn, users: usize, changed_every: Option<usize>) {
    let at = |i: usize| {
        if changed_every.is_some_and(|n| i.is_multiple_of(n)) { "2026-11-26T11:00:00Z" } else { "2026-11-26T10:00:00Z" }
    };
    let rows = (0..users)
        .map(|i| {
            let mut u = user(&format!("u{i}"), &format!("user{i}@acme.test"), "full", None, at(i));
            if changed_every.is_some_and(|n| i.is_multiple_of(n)) {
                u["last_name"] = serde_json::json!(format!("Renamed {i}"));
            }
            u
        })
        .collect();
    ats.set_users(rows);
    for (kind, offset) in [("employee", 0), ("contact", users)] {
        let rows = (0..users)
            .map(|i| {
                let n = offset + i;
                let phone =
                    if changed_every.is_some_and(|k| i.is_multiple_of(k)) { 5_000_000 + n } else { 3_000_000 + n };
                record(&format!("r{n}"), &[&format!("+1206{phone:07}")], at(i))
            })
            .collect();
        ats.set_records(kind, rows);
    }
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let users = textbridge_testkit::bench::arg("--users", 100_000);
    let embedded = textbridge_embedded::Embedded::open_temporary().expect("embedded");
    let backend = embedded.backend();
    let counting = Arc::new(CountingStore::new(backend.store.clone()));
    let counted = Backend { store: counting.clone(), ..backend.clone() };
    let directory = Arc::new(textbridge_ats::Directory::default());
    let app = App::on(counted, Config::default()).with_directory(directory).shared();
    let tenant = TenantId::parse("acme").expect("tenant");
    let admin = Identity {
        tenant: tenant.clone(),
        user_id: "admin-1".parse().expect("id"),
        username: "admin@acme.test".parse().expect("username"),
        role: Role::CustomerAdmin,
        permission_group: "Admins".parse().expect("group"),
    };
    let ats = StandIn::start().await;
    data(&ats, users, None);
    let input = ConnectionInput {
        connector: None,
        base_url: ats.uri(),
        token: TOKEN.into(),
        record_kinds: Some(vec![RecordKind::Employee, RecordKind::Contact]),
        full_access_role: None,
    };
    ats_connection::save(&app, &admin, input).await.expect("connected");
    println!("ATS: {users} users, {} records; embedded backend; pages of 200 rows over loopback HTTP", 2 * users);
    println!("{:<22} {:>10} {:>10} {:>10} {:>9} {:>9}", "run", "seconds", "reads", "writes", "users+", "records+");
    let mut first = String::new();
    for (name, change) in [("first sync", None), ("unchanged", None), ("1 % changed", Some(100))] {
        if change.is_some() {
            data(&ats, users, change);
        }
        counting.reset();
        let started = Instant::now();
        let report = sync::run_tenant(&app, &tenant).await;
        let seconds = started.elapsed().as_secs_f64();
        assert_eq!(report.error, None, "{report:?}");
        let totals = counting.totals();
        println!(
            "{name:<22} {seconds:>10.2} {:>10} {:>10} {:>9} {:>9}",
            totals.reads,
            totals.writes,
            report.created + report.updated,
            report.records_upserted
        );
        let figure = format!("{seconds:.2} s, {} reads, {} writes", totals.reads, totals.writes);
        if first.is_empty() {
            first = figure;
        } else {
            let what = format!("{users} users, {} records: {name}", 2 * users);
            textbridge_testkit::bench::record("sync", &what, &figure, &format!("first sync {first}"));
        }
    }
}
