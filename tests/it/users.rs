//! Texting users through the real `textbridge serve`: every route × every role,
//! bad input that changes nothing, other tenants refused, licences, teams, inboxes,
//! ATS ids and the outbox; and the racing calls on the embedded backend.

use std::path::PathBuf;

use serde_json::{Value, json};
use textbridge_app::{
    App, Config,
    items::{AtsIntegrationItem, Stored},
    keys,
    users::{self, LicencePolicy},
};
use textbridge_domain::{Identity, Role, TenantId};

use crate::common::{Client, Server, token};

struct World {
    _dir: tempfile::TempDir,
    dir: PathBuf,
    server: Server,
    client: Client,
}

impl World {
    fn new() -> World {
        let dir = tempfile::tempdir().expect("tempdir");
        let server = Server::start(dir.path(), &[]);
        World { dir: dir.path().to_owned(), _dir: dir, server, client: Client::default() }
    }

    fn token(&self, tenant: &str, role: &str, user: &str) -> String {
        token(&self.dir, &["--tenant", tenant, "--role", role, "--user-id", user])
    }

    async fn call(&self, method: &str, path: &str, bearer: &str, body: Option<Value>) -> (u16, Value) {
        self.client.call(method, &format!("{}{path}", self.server.base), Some(bearer), body.as_ref()).await
    }

    /// Adds a user as `bearer`; must succeed; returns the new user's id.
    async fn add(&self, bearer: &str, email: &str, extra: Value) -> String {
        let mut body = json!({"first_name": "Pat", "last_name": "Lee", "email": email});
        if let (Some(b), Some(e)) = (body.as_object_mut(), extra.as_object()) {
            b.extend(e.clone());
        }
        let (status, resp) = self.call("POST", "/users", bearer, Some(body)).await;
        assert_eq!(status, 201, "{resp}");
        resp["user"]["id"].as_str().expect("id").to_owned()
    }
}

#[tokio::test]
async fn a_manager_adds_licenses_moves_and_revokes_a_user() {
    let w = World::new();
    let staff = w.token("acme", "staff", "s-1");
    let manager = w.token("acme", "manager", "m-1");
    let numbers = json!({"numbers": ["+13125550101", "+14155550102", "+14155550103"]});
    let (status, seats) = w.call("POST", "/licences/numbers", &staff, Some(numbers)).await;
    assert_eq!(status, 201, "{seats}");
    assert_eq!((seats["total"].clone(), seats["free"].clone()), (json!(3), json!(3)));

    // Added with a desired area code: a licence of that area code, an invitation.
    let body = json!({"first_name": " Ann ", "last_name": "Lee", "email": "Ann.Lee@Acme.test", "area_code": "415"});
    let (status, added) = w.call("POST", "/users", &manager, Some(body)).await;
    assert_eq!(status, 201, "{added}");
    let user = &added["user"];
    assert_eq!(user["email"], "ann.lee@acme.test");
    assert_eq!(user["first_name"], "Ann");
    assert_eq!(user["role"], "user");
    assert_eq!(user["status"], "active");
    let licence = user["licence"].as_str().expect("licensed").to_owned();
    assert!(licence.starts_with("+1415"), "{licence}");
    assert_eq!(added["invitation_sent"], true);
    let id = user["id"].as_str().expect("id").to_owned();

    // Without an invitation: the other number of that area code.
    let other = w.add(&manager, "bo@acme.test", json!({"area_code": "415", "send_invitation": false})).await;
    let (_, bo) = w.call("GET", &format!("/users/{other}"), &manager, None).await;
    assert!(bo["licence"].as_str().is_some_and(|n| n.starts_with("+1415") && n != licence), "{bo}");
    let (_, seats) = w.call("GET", "/licences", &manager, None).await;
    assert_eq!(seats["free"], 1, "{seats}");

    // Manage: names, role, inbox, team, ATS id, password actions.
    let (status, edited) =
        w.call("PATCH", &format!("/users/{id}"), &manager, Some(json!({"last_name": "Lee-Smith"}))).await;
    assert_eq!((status, edited["last_name"].clone()), (200, json!("Lee-Smith")), "{edited}");
    let (status, conv) = w.call("PUT", &format!("/users/{id}/role"), &manager, Some(json!({"role": "Reporter"}))).await;
    assert_eq!((status, conv["role"].clone()), (200, json!("reporter")), "{conv}");
    let inbox = json!({"source_username": "bo@acme.test", "name": "Bo's texts"});
    let (status, with_inbox) = w.call("POST", &format!("/users/{id}/inboxes"), &manager, Some(inbox.clone())).await;
    assert_eq!(status, 200, "{with_inbox}");
    assert_eq!(with_inbox["inboxes"], json!([{"source_username": "bo@acme.test", "name": "Bo's texts"}]));
    assert_eq!(w.call("POST", &format!("/users/{id}/inboxes"), &manager, Some(inbox)).await.0, 409);
    let (status, _) = w.call("DELETE", &format!("/users/{id}/inboxes/bo@acme.test"), &manager, None).await;
    assert_eq!(status, 200);
    let (status, team) = w.call("POST", "/teams", &manager, Some(json!({"name": "East"}))).await;
    assert_eq!(status, 201, "{team}");
    let team_id = team["id"].as_str().expect("team id").to_owned();
    assert_eq!(w.call("POST", "/teams", &manager, Some(json!({"name": "east "}))).await.0, 409, "names ignore case");
    let (status, moved) =
        w.call("PUT", &format!("/users/{id}/team"), &manager, Some(json!({"team_id": team_id}))).await;
    assert_eq!((status, moved["team_id"].clone()), (200, json!(team_id)), "{moved}");
    let (_, renamed) =
        w.call("PATCH", &format!("/teams/{team_id}"), &manager, Some(json!({"name": "East Coast"}))).await;
    assert_eq!(renamed["name"], "East Coast");
    assert_eq!(w.call("POST", "/teams", &manager, Some(json!({"name": "East"}))).await.0, 201, "old name free again");
    let (_, members) = w.call("GET", &format!("/users?team={team_id}"), &manager, None).await;
    assert_eq!(members["users"].as_array().map(Vec::len), Some(1), "{members}");
    let (status, mapped) = w.call("PUT", &format!("/users/{id}/ats-ids/4711"), &manager, None).await;
    assert_eq!((status, mapped["ats_ids"].clone()), (200, json!(["4711"])), "{mapped}");
    let (status, clash) = w.call("PUT", &format!("/users/{other}/ats-ids/4711"), &manager, None).await;
    assert_eq!(status, 409, "one ATS id, one user: {clash}");
    assert_eq!(
        w.call("POST", &format!("/users/{id}/expire-password"), &manager, None).await.1["password_expired"],
        true
    );
    assert_eq!(w.call("POST", &format!("/users/{id}/forgot-password"), &manager, None).await.0, 202);
    let (status, disabled) = w.call("POST", &format!("/users/{id}/disable"), &manager, None).await;
    assert_eq!((status, disabled["status"].clone()), (200, json!("disabled")));
    let (_, listed) = w.call("GET", "/users?status=disabled", &manager, None).await;
    assert_eq!(listed["users"].as_array().map(Vec::len), Some(1), "{listed}");
    assert_eq!(w.call("POST", &format!("/users/{id}/enable"), &manager, None).await.1["status"], "active");

    // Licence: remove, assign again with an area code.
    let (_, unlicensed) = w.call("DELETE", &format!("/users/{id}/licence"), &manager, None).await;
    assert_eq!(unlicensed["licence"], Value::Null);
    assert_eq!(w.call("GET", "/licences", &manager, None).await.1["free"], 2);
    let (status, relicensed) =
        w.call("POST", &format!("/users/{id}/licence"), &manager, Some(json!({"area_code": "312"}))).await;
    assert_eq!(status, 200, "{relicensed}");
    assert_eq!(relicensed["licence"], "+13125550101");
    assert_eq!(w.call("POST", &format!("/users/{id}/licence"), &manager, Some(json!({}))).await.0, 409, "holds one");
    // No number of the desired area code is free: any free number.
    let cy = w.add(&manager, "cy@acme.test", json!({"area_code": "212", "send_invitation": false})).await;
    let (_, cy) = w.call("GET", &format!("/users/{cy}"), &manager, None).await;
    assert_eq!(cy["licence"], json!(licence), "{cy}");
    assert_eq!(w.call("GET", "/licences", &manager, None).await.1["free"], 0);

    // Delete: seat back, ATS id free, username never again.
    let (status, deleted) = w.call("DELETE", &format!("/users/{id}"), &manager, None).await;
    assert_eq!(status, 200, "{deleted}");
    assert_eq!(deleted["user"]["status"], "deleted");
    assert_eq!(w.call("GET", "/licences", &manager, None).await.1["free"], 1, "the seat is free again");
    assert_eq!(w.call("PUT", &format!("/users/{other}/ats-ids/4711"), &manager, None).await.0, 200);
    let again = json!({"first_name": "Ann", "last_name": "Lee", "email": "ann.lee@acme.test"});
    let (status, refused) = w.call("POST", "/users", &manager, Some(again)).await;
    assert_eq!(status, 409);
    assert_eq!(refused["error"]["field"], "email");
    assert!(refused["error"]["message"].as_str().unwrap_or_default().contains("can never be added again"));
    assert_eq!(w.call("PATCH", &format!("/users/{id}"), &manager, Some(json!({"first_name": "X"}))).await.0, 404);
    let (_, all) = w.call("GET", "/users", &manager, None).await;
    assert_eq!(all["users"].as_array().map(Vec::len), Some(2), "deleted users are not listed: {all}");

    // The outbox holds the invitation and the forgot-password e-mail, nothing inline.
    let admin = w.token("acme", "customer_admin", "a-1");
    let (status, outbox) = w.call("GET", "/outbox", &admin, None).await;
    assert_eq!(status, 200, "{outbox}");
    let templates: Vec<_> =
        outbox["events"].as_array().expect("events").iter().map(|e| e["template"].clone()).collect();
    assert_eq!(templates, vec![json!("invitation"), json!("forgot_password")]);
    assert_eq!(outbox["events"][0]["to"], "ann.lee@acme.test");
}

/// What each role may do: (action, [user, reporter, manager, customer admin, staff]).
#[tokio::test]
async fn every_action_by_every_role() {
    let w = World::new();
    let roles = ["user", "reporter", "manager", "customer_admin", "staff"];
    let tokens: Vec<String> = roles.iter().map(|r| w.token("acme", r, &format!("{r}-1"))).collect();
    let staff = &tokens[4];
    let admin_target = w.add(staff, "boss@acme.test", json!({"role": "customer_admin"})).await;

    // (name, method, path template with {id}, body, expected per role)
    type Case = (&'static str, &'static str, &'static str, Option<Value>, [u16; 5]);
    let cases: Vec<Case> = vec![
        ("list", "GET", "/users", None, [403, 200, 200, 200, 200]),
        ("read another", "GET", "/users/{id}", None, [403, 200, 200, 200, 200]),
        (
            "add user",
            "POST",
            "/users",
            Some(json!({"first_name": "A", "last_name": "B", "email": "{email}"})),
            [403, 403, 201, 201, 201],
        ),
        (
            "add manager",
            "POST",
            "/users",
            Some(json!({"first_name": "A", "last_name": "B", "email": "{email}", "role": "manager"})),
            [403, 403, 201, 201, 201],
        ),
        (
            "add customer admin",
            "POST",
            "/users",
            Some(json!({"first_name": "A", "last_name": "B", "email": "{email}", "role": "customer_admin"})),
            [403, 403, 403, 403, 201],
        ),
        ("edit names", "PATCH", "/users/{id}", Some(json!({"first_name": "Zed"})), [403, 403, 200, 200, 200]),
        ("convert role", "PUT", "/users/{id}/role", Some(json!({"role": "manager"})), [403, 403, 200, 200, 200]),
        (
            "make customer admin",
            "PUT",
            "/users/{id}/role",
            Some(json!({"role": "customer_admin"})),
            [403, 403, 403, 403, 200],
        ),
        ("disable", "POST", "/users/{id}/disable", None, [403, 403, 200, 200, 200]),
        ("enable", "POST", "/users/{id}/enable", None, [403, 403, 200, 200, 200]),
        ("expire password", "POST", "/users/{id}/expire-password", None, [403, 403, 200, 200, 200]),
        ("forgot password", "POST", "/users/{id}/forgot-password", None, [403, 403, 202, 202, 202]),
        (
            "add inbox",
            "POST",
            "/users/{id}/inboxes",
            Some(json!({"source_username": "boss@acme.test", "name": "Boss"})),
            [403, 403, 200, 200, 200],
        ),
        ("assign licence", "POST", "/users/{id}/licence", Some(json!({"area_code": "312"})), [403, 403, 200, 200, 200]),
        ("map ATS id", "PUT", "/users/{id}/ats-ids/{ats}", None, [403, 403, 200, 200, 200]),
        ("delete", "DELETE", "/users/{id}", None, [403, 403, 200, 200, 200]),
        ("disable a customer admin", "POST", "/users/{admin}/disable", None, [403, 403, 403, 200, 200]),
        ("enable a customer admin", "POST", "/users/{admin}/enable", None, [403, 403, 403, 200, 200]),
        ("list teams", "GET", "/teams", None, [403, 200, 200, 200, 200]),
        ("create team", "POST", "/teams", Some(json!({"name": "{email}"})), [403, 403, 201, 201, 201]),
        ("seats", "GET", "/licences", None, [403, 200, 200, 200, 200]),
        ("buy seats", "POST", "/licences/numbers", Some(json!({"numbers": ["{number}"]})), [403, 403, 403, 403, 201]),
        ("permission groups", "GET", "/permission-groups", None, [403, 403, 200, 200, 200]),
        ("outbox", "GET", "/outbox", None, [403, 403, 403, 200, 200]),
    ];
    let mut n = 0;
    for (name, method, path, body, expected) in &cases {
        for (r, role) in roles.iter().enumerate() {
            n += 1;
            let target = w.add(staff, &format!("t{n}@acme.test"), json!({"send_invitation": false})).await;
            let fill = |s: &str| {
                s.replace("{id}", &target)
                    .replace("{admin}", &admin_target)
                    .replace("{email}", &format!("new{n}@acme.test"))
                    .replace("{ats}", &format!("ats-{n}"))
                    .replace("{number}", &format!("+1415555{:04}", 3000 + n))
            };
            if *name == "assign licence" {
                // The target holds no licence and one seat is free.
                w.call("DELETE", &format!("/users/{target}/licence"), staff, None).await;
                if w.call("GET", "/licences", staff, None).await.1["free"] == 0 {
                    let seat = json!({"numbers": [format!("+1312555{:04}", 2000 + n)]});
                    assert_eq!(w.call("POST", "/licences/numbers", staff, Some(seat)).await.0, 201);
                }
            }
            let body = body.as_ref().map(|b| serde_json::from_str(&fill(&b.to_string())).expect("json"));
            let (status, resp) = w.call(method, &fill(path), &tokens[r], body).await;
            assert_eq!(status, expected[r], "{name} as {role}: {resp}");
            if status == 403 {
                assert_eq!(resp["error"]["code"], "forbidden", "{name} as {role}");
            }
        }
    }
    // A user reads themselves, nobody else.
    let own = w.add(staff, "self@acme.test", json!({"id": "self-1"})).await;
    let me = w.token("acme", "user", "self-1");
    assert_eq!(w.call("GET", &format!("/users/{own}"), &me, None).await.0, 200);
    assert_eq!(w.call("GET", &format!("/users/{admin_target}"), &me, None).await.0, 403);
}

#[tokio::test]
async fn bad_input_is_refused_clearly_and_changes_nothing() {
    let w = World::new();
    let manager = w.token("acme", "manager", "m-1");
    let id = w.add(&manager, "keep@acme.test", json!({"send_invitation": false})).await;
    let path = format!("/users/{id}");
    let snapshot = async |w: &World| {
        (w.call("GET", "/users?status=active", &manager, None).await.1, w.call("GET", &path, &manager, None).await.1)
    };
    let before = snapshot(&w).await;
    let user = |extra: Value| {
        let mut b = json!({"first_name": "Ann", "last_name": "Lee", "email": "ann@acme.test"});
        b.as_object_mut().expect("obj").extend(extra.as_object().expect("obj").clone());
        b
    };
    let cases: Vec<(&str, String, Value, u16, &str)> = vec![
        ("POST", "/users".into(), user(json!({"email": "ann at acme"})), 422, "email"),
        ("POST", "/users".into(), user(json!({"first_name": "  "})), 422, "first_name"),
        ("POST", "/users".into(), user(json!({"last_name": ""})), 422, "last_name"),
        ("POST", "/users".into(), user(json!({"area_code": "41"})), 422, "area_code"),
        ("POST", "/users".into(), user(json!({"area_code": "4155"})), 422, "area_code"),
        ("POST", "/users".into(), user(json!({"role": "customer_admin"})), 403, ""),
        ("POST", "/users".into(), user(json!({"role": "reporter"})), 422, "role"),
        ("POST", "/users".into(), user(json!({"role": "boss"})), 422, "role"),
        ("POST", "/users".into(), user(json!({"email": "KEEP@acme.test"})), 409, "email"),
        ("POST", "/users".into(), user(json!({"permission_group": "Nope"})), 422, "permission_group"),
        ("POST", "/users".into(), user(json!({"nickname": "x"})), 422, "nickname"),
        ("PATCH", path.clone(), json!({"email": "new@acme.test"}), 422, "email"),
        ("PATCH", path.clone(), json!({"first_name": ""}), 422, "first_name"),
        ("PUT", format!("{path}/role"), json!({"role": "customer_admin"}), 403, ""),
        ("PUT", format!("{path}/role"), json!({"role": "wizard"}), 422, "role"),
        ("PUT", format!("{path}/team"), json!({"team_id": "99"}), 422, "team_id"),
        ("POST", format!("{path}/licence"), json!({"area_code": "x12"}), 422, "area_code"),
        ("POST", format!("{path}/licence"), json!({}), 409, ""),
        (
            "POST",
            format!("{path}/inboxes"),
            json!({"source_username": "nobody@acme.test", "name": "N"}),
            422,
            "source_username",
        ),
        (
            "POST",
            format!("{path}/inboxes"),
            json!({"source_username": "keep@acme.test", "name": "Me"}),
            422,
            "source_username",
        ),
        ("POST", "/teams".into(), json!({"name": ""}), 422, "name"),
        ("PUT", "/permission-groups/x".into(), json!({"can_text": "yes"}), 422, "can_text"),
    ];
    for (method, p, body, status, field) in cases {
        let (got, resp) = w.call(method, &p, &manager, Some(body.clone())).await;
        assert_eq!(got, status, "{method} {p} {body}: {resp}");
        assert!(resp["error"]["message"].as_str().is_some_and(|m| !m.is_empty()), "{resp}");
        if !field.is_empty() {
            assert_eq!(resp["error"]["field"], field, "{method} {p} {body}: {resp}");
        }
    }
    assert_eq!(snapshot(&w).await, before, "nothing changed");
    let (status, resp) = w.call("GET", "/users?limit=0", &manager, None).await;
    assert_eq!((status, resp["error"]["field"].clone()), (422, json!("limit")));
    let (status, _) = w.call("GET", "/users?licensed=maybe", &manager, None).await;
    assert_eq!(status, 400);
}

#[tokio::test]
async fn another_tenant_sees_and_touches_no_user() {
    let w = World::new();
    let manager = w.token("acme", "manager", "m-1");
    let intruder = w.token("globex", "customer_admin", "m-1");
    let staff_b = w.token("globex", "staff", "s-1");
    let id = w.add(&manager, "ann@acme.test", json!({"send_invitation": true})).await;
    let (status, team) = w.call("POST", "/teams", &manager, Some(json!({"name": "East"}))).await;
    assert_eq!(status, 201);
    let team_id = team["id"].as_str().expect("id").to_owned();
    let before = w.call("GET", &format!("/users/{id}"), &manager, None).await.1;
    for (method, path, body) in [
        ("GET", format!("/users/{id}"), None),
        ("PATCH", format!("/users/{id}"), Some(json!({"first_name": "X"}))),
        ("DELETE", format!("/users/{id}"), None),
        ("PUT", format!("/users/{id}/role"), Some(json!({"role": "manager"}))),
        ("POST", format!("/users/{id}/disable"), None),
        ("POST", format!("/users/{id}/expire-password"), None),
        ("POST", format!("/users/{id}/forgot-password"), None),
        ("POST", format!("/users/{id}/licence"), Some(json!({}))),
        ("PUT", format!("/users/{id}/ats-ids/1"), None),
        ("PATCH", format!("/teams/{team_id}"), Some(json!({"name": "Mine"}))),
    ] {
        let (status, resp) = w.call(method, &path, &intruder, body).await;
        assert_eq!(status, 404, "{method} {path}: {resp}");
    }
    // Moving own user to the other tenant's team id: no such team here.
    let own = w.add(&staff_b, "b@globex.test", json!({})).await;
    let (status, _) = w.call("PUT", &format!("/users/{own}/team"), &intruder, Some(json!({"team_id": team_id}))).await;
    assert_eq!(status, 422);
    assert_eq!(w.call("GET", "/users", &intruder, None).await.1["users"].as_array().map(Vec::len), Some(1));
    assert_eq!(w.call("GET", "/teams", &intruder, None).await.1, json!([]));
    assert_eq!(w.call("GET", "/outbox", &intruder, None).await.1["events"].as_array().map(Vec::len), Some(1));
    // Seats are per tenant: the same number may be another tenant's seat.
    let staff_a = w.token("acme", "staff", "s-1");
    let numbers = json!({"numbers": ["+13125550177"]});
    assert_eq!(w.call("POST", "/licences/numbers", &staff_a, Some(numbers.clone())).await.0, 201);
    let (_, theirs) = w.call("GET", "/licences", &intruder, None).await;
    assert_eq!((theirs["total"].clone(), theirs["numbers"].clone()), (json!(0), json!([])), "{theirs}");
    assert_eq!(w.call("POST", "/licences/numbers", &staff_b, Some(numbers)).await.0, 201);
    // The same e-mail is a different user in another tenant.
    w.add(&staff_b, "ann@acme.test", json!({})).await;
    assert_eq!(w.call("GET", &format!("/users/{id}"), &manager, None).await.1, before);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn racing_licence_assigns_usernames_and_team_names_on_the_embedded_backend() {
    let embedded = textbridge_embedded::Embedded::open_temporary().expect("embedded");
    textbridge_testkit::races::licence_seats_stay_exact(embedded.backend(), "race-seats").await;
    textbridge_testkit::races::one_username_one_user(embedded.backend(), "race-names").await;
    textbridge_testkit::races::one_team_name_one_team(embedded.backend(), "race-teams").await;
}

#[tokio::test]
async fn with_the_ats_integration_on_users_come_only_from_the_sync() {
    let embedded = textbridge_embedded::Embedded::open_temporary().expect("embedded");
    let backend = embedded.backend();
    let app = App::on(backend.clone(), Config::default()).shared();
    let tenant = TenantId::parse("acme").expect("tenant");
    let on = AtsIntegrationItem { enabled: true }.to_item(keys::ats_integration(&tenant)).expect("item");
    backend.store.put(&on, None).await.expect("switched on");
    let manager = Identity {
        tenant: tenant.clone(),
        user_id: "m-1".parse().expect("id"),
        username: "m@acme.test".parse().expect("username"),
        role: Role::Manager,
        permission_group: "default".parse().expect("group"),
    };
    let input = users::NewUserInput {
        id: None,
        first_name: "Ann".into(),
        last_name: "Lee".into(),
        email: "ann@acme.test".into(),
        area_code: None,
        role: None,
        send_invitation: None,
        permission_group: None,
    };
    let err = users::add(&app, &manager, input).await.expect_err("refused");
    assert!(err.to_string().contains("users come from the ATS sync"), "{err}");
    assert!(users::all(&app, &tenant).await.expect("users").is_empty(), "nothing added");
    // The sync itself still creates users.
    let synced = textbridge_testkit::seed::new_user("ann@acme.test");
    users::create(&app, &tenant, synced, LicencePolicy::None, false).await.expect("created by the sync");
}
