//! User import scenarios (S4), run on any backend: the team rules and the licence
//! rule, bad rows beside good ones, the same file twice, a run stopped mid-way and
//! resumed, two runs of one import at once, the users report read back, and other
//! tenants refused. Each backend's tests call every function here.

use std::{collections::BTreeMap, sync::Arc, time::Duration};

use textbridge_app::{
    App, Backend, Config,
    import::{self, ImportView, MappingInput, OutcomePage},
    items::{ImportState, RowAction, RowOutcome, SeatsItem, Stored},
    keys,
    teams::{self, TeamInput},
    users::{self, NumbersInput},
};
use textbridge_domain::{Error, Identity, Role, TenantId, import::Field};

fn caller(tenant: &TenantId, role: Role) -> Identity {
    Identity {
        tenant: tenant.clone(),
        user_id: format!("{}-1", role.as_str().replace('_', "-")).parse().expect("id"),
        username: "boss@example.test".parse().expect("username"),
        role,
        permission_group: "default".parse().expect("group"),
    }
}

fn app(backend: &Backend) -> Arc<App> {
    App::on(backend.clone(), Config::default()).shared()
}

fn all_rows() -> OutcomePage {
    OutcomePage { offset: None, limit: Some(1000), only: None }
}

async fn upload(app: &Arc<App>, who: &Identity, csv: &str) -> ImportView {
    let table = textbridge_import::read(csv.as_bytes(), "users.csv").expect("a readable file");
    import::upload(app, who, "users.csv", table, all_rows()).await.expect("uploaded")
}

async fn run(app: &Arc<App>, who: &Identity, id: &str) -> ImportView {
    let done = import::run_here(app, who, id, |_| {}).await.expect("run");
    assert_eq!(done.state, ImportState::Done);
    import::get(app, who, id, all_rows()).await.expect("outcomes")
}

fn by_email(view: &ImportView) -> BTreeMap<String, RowOutcome> {
    view.outcomes
        .iter()
        .map(|o| (o.email.as_ref().map_or_else(|| format!("line {}", o.line), ToString::to_string), o.clone()))
        .collect()
}

/// Every user as (team, licensed, role, area code, version), by e-mail.
async fn snapshot(app: &Arc<App>, tenant: &TenantId) -> BTreeMap<String, (Option<String>, bool, Role, String, i64)> {
    users::all(app, tenant)
        .await
        .expect("users")
        .into_iter()
        .map(|u| {
            let area = u.area_code.map(|a| a.to_string()).unwrap_or_default();
            (u.email.to_string(), (u.team_id, u.licence.is_some(), u.role, area, u.version))
        })
        .collect()
}

async fn seats(app: &Arc<App>, tenant: &TenantId) -> (i64, i64) {
    let s = textbridge_app::items::get::<SeatsItem>(app.store.as_ref(), &keys::seats(tenant))
        .await
        .expect("seats")
        .expect("seats set");
    (s.total, s.free)
}

async fn existing(app: &Arc<App>, tenant: &TenantId, email: &str, team: Option<&str>) {
    let mut new = crate::seed::new_user(email);
    new.team_id = team.map(str::to_owned);
    users::create(app, tenant, new, users::LicencePolicy::None, false).await.expect("user");
}

/// The five team rules, the licence rule and the role default, previewed (which
/// changes nothing) and applied; then the same file again, which changes nothing.
pub async fn team_rules_and_licences(backend: Backend, tenant: &str) {
    let tenant = TenantId::parse(tenant).expect("tenant");
    let app = app(&backend);
    let manager = caller(&tenant, Role::Manager);
    let sales = teams::create(&app, &manager, TeamInput { name: "Sales".into() }).await.expect("team").id;
    let support = teams::create(&app, &manager, TeamInput { name: "Support".into() }).await.expect("team").id;
    let numbers = NumbersInput { numbers: vec!["+12125550101".into()] };
    users::add_numbers(&app, &caller(&tenant, Role::Staff), numbers).await.expect("one seat");
    for (email, team) in [
        ("keep@x.test", &sales),
        ("move@x.test", &sales),
        ("conflict@x.test", &support),
        ("remove@x.test", &sales),
        ("unknown-id@x.test", &sales),
        ("unknown-name@x.test", &support),
    ] {
        existing(&app, &tenant, email, Some(team)).await;
    }
    let csv = format!(
        "First Name,Last Name,Email,Desired Area Code,Role,Team Name,Team ID\n\
         Pat,Lee,keep@x.test,,,,\n\
         Pat,Lee,move@x.test,,,support,\n\
         Pat,Lee,conflict@x.test,,,Support,{sales}\n\
         Pat,Lee,remove@x.test,,,,ReMoVe\n\
         Pat,Lee,unknown-id@x.test,,,Support,99\n\
         Pat,Lee,unknown-name@x.test,,,Marketing,\n\
         Ann,New,new-area@x.test,212,,,{support}\n\
         Bob,New,new-no-area@x.test,,Manager,,\n\
         Cy,New,new-admin@x.test,,Customer Admin,,\n"
    );
    let before = snapshot(&app, &tenant).await;
    let preview = upload(&app, &manager, &csv).await;
    assert_eq!(preview.mapping_error, None);
    let rows = by_email(&preview);
    let action = |email: &str| rows[email].action;
    assert_eq!(action("keep@x.test"), RowAction::Unchanged);
    assert_eq!(action("move@x.test"), RowAction::Update);
    assert_eq!(action("conflict@x.test"), RowAction::Update, "the id wins: Support → Sales");
    assert_eq!(action("remove@x.test"), RowAction::Update);
    assert_eq!(action("unknown-id@x.test"), RowAction::Unchanged, "{:?}", rows["unknown-id@x.test"]);
    assert!(rows["unknown-id@x.test"].notes[0].contains("no team with the id \"99\""));
    assert!(rows["unknown-name@x.test"].notes[0].contains("no team named \"Marketing\""));
    assert_eq!(action("new-area@x.test"), RowAction::Create);
    assert_eq!(action("new-admin@x.test"), RowAction::Error);
    assert_eq!(
        rows["new-admin@x.test"].reason.as_deref(),
        Some("row 10, column \"Role\": an import adds users, reporters and managers")
    );
    assert_eq!(snapshot(&app, &tenant).await, before, "a preview changes nothing");

    let done = run(&app, &manager, &preview.id).await;
    assert_eq!((done.summary.create, done.summary.update, done.summary.unchanged, done.summary.error), (2, 3, 3, 1));
    let after = snapshot(&app, &tenant).await;
    let team = |email: &str| after[email].0.clone();
    assert_eq!(team("keep@x.test"), Some(sales.clone()), "blank keeps");
    assert_eq!(team("move@x.test"), Some(support.clone()), "a different team moves (name, any case)");
    assert_eq!(team("conflict@x.test"), Some(sales.clone()), "the id wins over the name");
    assert_eq!(team("remove@x.test"), None, "remove, any case");
    assert_eq!(team("unknown-id@x.test"), Some(sales.clone()), "an unknown team leaves the user");
    assert_eq!(team("unknown-name@x.test"), Some(support.clone()));
    assert_eq!(teams::all(&app, &tenant).await.expect("teams").len(), 2, "no team is created");
    assert_eq!(team("new-area@x.test"), Some(support.clone()));
    assert!(after["new-area@x.test"].1, "area code and a free seat: licensed");
    assert!(!after["new-no-area@x.test"].1, "no area code: no licence");
    assert_eq!(after["new-no-area@x.test"].2, Role::Manager);
    assert_eq!(after["new-area@x.test"].2, Role::User, "role defaults to User");
    assert!(!after.contains_key("new-admin@x.test"));
    assert_eq!(seats(&app, &tenant).await, (1, 0));

    // The same file again changes nothing; a new user with an area code finds no seat.
    let again = upload(&app, &manager, &csv).await;
    assert_eq!((again.summary.create, again.summary.update, again.summary.error), (0, 0, 1), "{:?}", again.summary);
    let again = run(&app, &manager, &again.id).await;
    assert_eq!((again.summary.create, again.summary.update), (0, 0));
    assert_eq!(snapshot(&app, &tenant).await, after, "nothing changed the second time");
    let extra = "First,Last,Email,Area Code\nDee,New,dee@x.test,415\n";
    let extra = run(&app, &manager, &upload(&app, &manager, extra).await.id).await;
    assert_eq!(extra.outcomes[0].action, RowAction::Create);
    assert!(extra.outcomes[0].notes.iter().any(|n| n.contains("no licence seat is free")), "{:?}", extra.outcomes);
    assert_eq!(seats(&app, &tenant).await, (1, 0));
}

/// Bad rows (bad e-mail, missing name, an e-mail twice, a deleted username) come
/// back with their row and column; the good rows beside them are imported.
pub async fn bad_rows_never_block_good_ones(backend: Backend, tenant: &str) {
    let tenant = TenantId::parse(tenant).expect("tenant");
    let app = app(&backend);
    let admin = caller(&tenant, Role::CustomerAdmin);
    existing(&app, &tenant, "gone@x.test", None).await;
    let gone = users::by_email(&app, &tenant, &"gone@x.test".parse().expect("email")).await.expect("read").expect("u");
    users::delete(&app, &admin, &gone.user_id).await.expect("deleted");
    let csv = "E-mail Address,First,Surname,Shoe size\n\
               good1@x.test,Ann,Lee,42\n\
               not-an-email,Bob,Lee,41\n\
               \n\
               good2@x.test,,Lee,40\n\
               GOOD1@x.test,Ann,Again,39\n\
               gone@x.test,Gone,User,38\n\
               good3@x.test,Cy,Lee,37\n";
    let preview = upload(&app, &admin, csv).await;
    assert_eq!(preview.columns[3].label, "Unmapped");
    assert_eq!(preview.columns[0].field, Some(Field::Email));
    let done = run(&app, &admin, &preview.id).await;
    let reasons: Vec<_> = done.outcomes.iter().filter_map(|o| o.reason.clone()).collect();
    assert_eq!(
        reasons,
        [
            "row 3, column \"E-mail Address\": not an e-mail address",
            "row 5, column \"First\": the first name is required",
            "row 6, column \"E-mail Address\": the same e-mail is on row 2; only that row is imported",
            "row 7, column \"E-mail Address\": the username gone@x.test was deleted and can never be added again",
        ]
    );
    let emails: Vec<String> = snapshot(&app, &tenant).await.into_keys().collect();
    assert_eq!(emails, ["gone@x.test", "good1@x.test", "good3@x.test"]);
    let good1 = users::by_email(&app, &tenant, &"good1@x.test".parse().expect("e")).await.expect("r").expect("u");
    assert_eq!(good1.last_name.as_str(), "Lee", "the first row of an e-mail counts");
}

/// A mapping that leaves a required field unmapped is a 422 naming it; remapping
/// a column (an unmappable header) makes the rows importable.
pub async fn remap_names_the_missing_field(backend: Backend, tenant: &str) {
    let tenant = TenantId::parse(tenant).expect("tenant");
    let app = app(&backend);
    let manager = caller(&tenant, Role::Manager);
    let view = upload(&app, &manager, "Given name,Family name,Electronic post\nAnn,Lee,ann@x.test\n").await;
    assert_eq!(view.columns[2].field, None);
    assert!(view.mapping_error.as_deref().is_some_and(|e| e.contains("email")), "{:?}", view.mapping_error);
    let run = import::run_here(&app, &manager, &view.id, |_| {}).await;
    assert!(matches!(&run, Err(Error::Invalid { reason, .. }) if reason.contains("email")), "{run:?}");
    let bad = MappingInput { mapping: vec![Some(Field::FirstName), None, Some(Field::Email)] };
    let err = import::remap(&app, &manager, &view.id, bad, all_rows()).await.expect_err("last name unmapped");
    assert!(err.to_string().contains("last_name"), "{err}");
    let good = MappingInput { mapping: vec![Some(Field::FirstName), Some(Field::LastName), Some(Field::Email)] };
    let view = import::remap(&app, &manager, &view.id, good.clone(), all_rows()).await.expect("remapped");
    assert_eq!(view.summary.create, 1);
    assert!(users::all(&app, &tenant).await.expect("users").is_empty(), "remap changes no user");
    run_ok(&app, &manager, &view.id).await;
    let late = import::remap(&app, &manager, &view.id, good, all_rows()).await;
    assert!(matches!(late, Err(Error::Conflict { .. })), "{late:?}");
}

async fn run_ok(app: &Arc<App>, who: &Identity, id: &str) -> ImportView {
    run(app, who, id).await
}

fn many(n: usize, area: &str) -> String {
    let mut csv = String::from("First Name,Last Name,Email,Desired Area Code\n");
    for i in 0..n {
        csv.push_str(&format!("Pat,Lee{i},user{i}@x.test,{area}\n"));
    }
    csv
}

/// A run dropped mid-way (as a crash would stop it) leaves the job running at the
/// first unrecorded chunk; running it again finishes without a duplicate user, with
/// every row counted once and the seat count exact. `rows` (over 500, one chunk)
/// users with an area code, 20 seats.
pub async fn a_stopped_run_resumes_without_duplicates(backend: Backend, tenant: &str, rows: usize) {
    assert!(rows > 500, "more than one chunk");
    let tenant = TenantId::parse(tenant).expect("tenant");
    let app = app(&backend);
    let manager = caller(&tenant, Role::Manager);
    let numbers = (0..20).map(|i| format!("+1212555{:04}", 200 + i)).collect();
    users::add_numbers(&app, &caller(&tenant, Role::Staff), NumbersInput { numbers }).await.expect("seats");
    let view = upload(&app, &manager, &many(rows, "212")).await;
    let id = view.id.clone();
    {
        // Stopped once the first chunk is recorded, while the second is being applied.
        let (first_chunk, recorded) = tokio::sync::oneshot::channel();
        let mut first_chunk = Some(first_chunk);
        let run = import::run_here(&app, &manager, &id, move |_| {
            if let Some(tx) = first_chunk.take() {
                let _ = tx.send(());
            }
        });
        tokio::pin!(run);
        let mid_way = async {
            recorded.await.expect("first chunk");
            tokio::time::sleep(Duration::from_millis(100)).await;
        };
        tokio::select! {
            done = &mut run => panic!("the run finished before it was stopped: {:?}", done.map(|v| v.state)),
            () = mid_way => {}
        }
    }
    let stopped = import::get(&app, &manager, &id, all_rows()).await.expect("job");
    assert_eq!(stopped.state, ImportState::Running);
    assert_eq!(stopped.applied_rows, 500, "stopped after the first chunk");
    let mid = users::all(&app, &tenant).await.expect("users").len();
    assert!((500..rows).contains(&mid), "stopped mid-way through the second chunk: {mid} users");
    let done = run(&app, &manager, &id).await;
    let created = u32::try_from(rows).expect("rows");
    assert_eq!((done.summary.create, done.summary.error, done.summary.update), (created, 0, 0), "{:?}", done.summary);
    assert_eq!(done.outcomes.len(), rows.min(1_000), "a page of outcomes");
    let users = snapshot(&app, &tenant).await;
    assert_eq!(users.len(), rows, "no duplicates");
    assert_eq!(users.values().filter(|u| u.1).count(), 20, "licences: the 20 seats");
    assert_eq!(seats(&app, &tenant).await, (20, 0));

    // The same users again: a large file (the tenant's users read at once) and a
    // small one (each row's user read on its own) find every one of them.
    let again = upload(&app, &manager, &many(rows, "212")).await;
    assert_eq!((again.summary.unchanged, again.summary.create), (created, 0), "{:?}", again.summary);
    let few = upload(&app, &manager, &many(10, "212")).await;
    assert_eq!((few.summary.unchanged, few.summary.create), (10, 0), "{:?}", few.summary);
}

/// Two runs of one import (`rows` users with an area code, 10 seats) at the same
/// moment end as one run.
pub async fn two_runs_at_once_end_as_one(backend: Backend, tenant: &str, rows: usize) {
    let tenant = TenantId::parse(tenant).expect("tenant");
    let app = app(&backend);
    let manager = caller(&tenant, Role::Manager);
    let numbers = (0..10).map(|i| format!("+1312555{:04}", 300 + i)).collect();
    users::add_numbers(&app, &caller(&tenant, Role::Staff), NumbersInput { numbers }).await.expect("seats");
    let id = upload(&app, &manager, &many(rows, "312")).await.id;
    let runs = (0..2).map(|_| {
        let (app, manager, id) = (app.clone(), manager.clone(), id.clone());
        tokio::spawn(async move { import::run_here(&app, &manager, &id, |_| {}).await })
    });
    for run in runs.collect::<Vec<_>>() {
        run.await.expect("task").expect("run");
    }
    let view = import::get(&app, &manager, &id, all_rows()).await.expect("job");
    assert_eq!(view.state, ImportState::Done);
    let c = view.summary;
    assert_eq!(c.create + c.update + c.unchanged + c.error, u32::try_from(rows).expect("rows"), "once each: {c:?}");
    let users = snapshot(&app, &tenant).await;
    assert_eq!(users.len(), rows);
    assert_eq!(users.values().filter(|u| u.1).count(), 10);
    assert_eq!(seats(&app, &tenant).await, (10, 0));
}

/// The API's run: a background job on the queue. Run twice, its two messages are
/// handled by two workers at the same moment; every row is applied once and the
/// seats stay exact.
pub async fn queued_runs_apply_once(backend: Backend, tenant: &str, rows: usize) {
    use textbridge_app::{archive::Archiver, worker::MessageHandler};
    let tenant = TenantId::parse(tenant).expect("tenant");
    let app = app(&backend);
    let manager = caller(&tenant, Role::Manager);
    let numbers = (0..10).map(|i| format!("+1312555{:04}", 400 + i)).collect();
    users::add_numbers(&app, &caller(&tenant, Role::Staff), NumbersInput { numbers }).await.expect("seats");
    let id = upload(&app, &manager, &many(rows, "312")).await.id;
    let started = import::run(&app, &manager, &id).await.expect("run");
    assert_eq!(started.state, ImportState::Running);
    assert_eq!(import::run(&app, &manager, &id).await.expect("again").state, ImportState::Running);
    let mut bodies = Vec::new();
    for _ in 0..50 {
        let batch = backend.queue.receive(10, Duration::from_secs(30)).await.expect("receive");
        bodies.extend(batch.into_iter().map(|m| (m.body, m.receipt)));
        if bodies.len() >= 2 {
            break;
        }
    }
    assert_eq!(bodies.len(), 2, "one message per run");
    let archiver = Arc::new(Archiver::new(app.clone()));
    let workers = bodies.iter().map(|(body, _)| {
        let (archiver, body) = (archiver.clone(), body.clone());
        async move { archiver.handle(&body).await }
    });
    for result in crate::races::at_once(workers).await {
        result.expect("handled");
    }
    for (_, receipt) in &bodies {
        backend.queue.delete(receipt).await.expect("delete");
    }
    crate::sending::drain(&backend, archiver.as_ref()).await;
    let view = import::get(&app, &manager, &id, all_rows()).await.expect("job");
    assert_eq!(view.state, ImportState::Done);
    let c = view.summary;
    assert_eq!(c.create + c.update + c.unchanged + c.error, u32::try_from(rows).expect("rows"), "once each: {c:?}");
    assert_eq!(snapshot(&app, &tenant).await.len(), rows);
    assert_eq!(seats(&app, &tenant).await, (10, 0));
    let other = caller(&TenantId::parse("other-tenant").expect("tenant"), Role::Manager);
    assert!(matches!(import::run(&app, &other, &id).await, Err(Error::NotFound(_))), "another tenant's import");

    // The job, its rows and its outcomes all go when the import's time is up.
    let mut stored = backend.store.query_all(&keys::import_chunks(&tenant, &id)).await.expect("rows");
    stored.extend(backend.store.query_all(&keys::import_results(&tenant, &id)).await.expect("outcomes"));
    stored.push(backend.store.get(&keys::import_job(&tenant, &id)).await.expect("job").expect("job"));
    let retention = i64::try_from(import::RETENTION.as_secs()).expect("secs");
    let now = app.clock.now().unix_timestamp();
    for item in &stored {
        let expires = item.attrs.get(textbridge_app::ports::EXPIRES_AT).and_then(serde_json::Value::as_i64);
        assert!(expires.is_some_and(|t| (t - now - retention).abs() < 600), "{}: {expires:?}", item.key.sk);
    }
}

/// The users report (CSV and XLSX) read back as an import changes nothing; other
/// tenants see neither the import nor the users; a tenant with the ATS integration
/// cannot import; plain users cannot import or read the report.
pub async fn report_round_trip_and_refusals(backend: Backend, tenant: &str, other: &str) {
    let tenant = TenantId::parse(tenant).expect("tenant");
    let app = app(&backend);
    let manager = caller(&tenant, Role::Manager);
    teams::create(&app, &manager, TeamInput { name: "=Sales".into() }).await.expect("team");
    let csv = "First Name,Last Name,Email,Role,Team ID,Country Code,Desired Area Code\n\
               -Ann,@Lee,ann@x.test,Reporter,1,+44,\n\
               Bob,+Lee,bob@x.test,,,US,212\n";
    run(&app, &manager, &upload(&app, &manager, csv).await.id).await;
    existing(&app, &tenant, "admin@x.test", None).await;
    let admin = users::by_email(&app, &tenant, &"admin@x.test".parse().expect("e")).await.expect("r").expect("u");
    users::set_role(&app, &caller(&tenant, Role::Staff), &admin.user_id, "customer_admin").await.expect("role");
    let before = snapshot(&app, &tenant).await;
    let report = import::report(&app, &manager).await.expect("report");
    assert_eq!(report[0][0], "First Name");
    assert_eq!(report.len(), 4);
    for (name, file) in [
        ("users.csv", textbridge_import::write_csv(&report).expect("csv")),
        ("users.xlsx", textbridge_import::write_xlsx(&report).expect("xlsx")),
    ] {
        if name.ends_with(".csv") {
            let text = String::from_utf8_lossy(&file);
            assert!(text.contains("'-Ann,'@Lee") && text.contains("'=Sales"), "escaped: {text}");
        }
        let table = textbridge_import::read(&file, name).expect("the report reads back");
        let view = import::upload(&app, &manager, name, table, all_rows()).await.expect("uploaded");
        assert_eq!(view.mapping_error, None);
        assert_eq!(view.summary.unchanged, 3, "{name}: {:?}", view.outcomes);
        let done = run(&app, &manager, &view.id).await;
        assert_eq!(done.summary.unchanged, 3, "{name}");
        assert_eq!(snapshot(&app, &tenant).await, before, "{name}: nothing changed");
    }
    let ann = users::by_email(&app, &tenant, &"ann@x.test".parse().expect("e")).await.expect("r").expect("u");
    assert_eq!((ann.first_name.as_str(), ann.last_name.as_str()), ("-Ann", "@Lee"));
    assert_eq!(ann.country_code.as_ref().map(ToString::to_string).as_deref(), Some("44"));

    // Other tenants: the import is not theirs, the report lists only their users.
    let other = TenantId::parse(other).expect("tenant");
    let intruder = caller(&other, Role::CustomerAdmin);
    let id = upload(&app, &manager, "First,Last,Email\nA,B,c@x.test\n").await.id;
    assert!(matches!(import::get(&app, &intruder, &id, all_rows()).await, Err(Error::NotFound(_))));
    assert!(matches!(import::run_here(&app, &intruder, &id, |_| {}).await, Err(Error::NotFound(_))));
    let remap = MappingInput { mapping: vec![Some(Field::FirstName), Some(Field::LastName), Some(Field::Email)] };
    assert!(matches!(import::remap(&app, &intruder, &id, remap, all_rows()).await, Err(Error::NotFound(_))));
    assert_eq!(import::report(&app, &intruder).await.expect("report").len(), 1, "only the header");
    assert!(users::all(&app, &other).await.expect("users").is_empty());

    // Plain users may not; the ATS integration turns import off.
    let user = caller(&tenant, Role::User);
    assert!(matches!(import::get(&app, &user, &id, all_rows()).await, Err(Error::Forbidden(_))));
    assert!(matches!(import::report(&app, &user).await, Err(Error::Forbidden(_))));
    let integration = textbridge_app::items::AtsIntegrationItem { enabled: true };
    app.store.put(&integration.to_item(keys::ats_integration(&tenant)).expect("item"), None).await.expect("on");
    let table = textbridge_import::read(b"First,Last,Email\nA,B,d@x.test\n", "u.csv").expect("table");
    let refused = import::upload(&app, &manager, "u.csv", table, all_rows()).await;
    assert!(matches!(refused, Err(Error::Conflict { .. })), "{refused:?}");
    let refused = import::run_here(&app, &manager, &id, |_| {}).await;
    assert!(matches!(refused, Err(Error::Conflict { .. })), "{refused:?}");
    assert!(users::by_email(&app, &tenant, &"c@x.test".parse().expect("e")).await.expect("r").is_none());
}
