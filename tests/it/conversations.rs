//! End to end, SPEC S2 (second half) through the real `textbridge serve`: message
//! action types and security groups, opt-out, sending and conversation views.

use std::time::Duration;

use serde_json::json;
use textbridge_testkit::{seed, tempworks};
use wiremock::{
    Mock, ResponseTemplate,
    matchers::{method, path},
};

use crate::{
    archiving::{OURS, THEIRS, World},
    common::token,
};

fn user(w: &World, tenant: &str, id: &str) -> String {
    token(&w.dir, &["--tenant", tenant, "--role", "user", "--user-id", id])
}

#[tokio::test]
async fn security_groups_filter_reads_and_the_archiver_needs_write_on_message() {
    let w = World::new(tempworks::StandIn::start().await).await;
    let hook = w.textus_hook("acme").await;
    let admin = w.admin("acme");
    w.upsert("acme", "employee", "e1", &[THEIRS]).await;

    let (status, resp) =
        w.call("POST", "/admin/action-types", &admin, Some(json!({"name": "Payroll", "secure": true}))).await;
    assert_eq!((status, &resp["name"]), (201, &json!("Payroll")), "{resp}");
    let (status, resp) = w.call("POST", "/admin/action-types", &admin, Some(json!({"name": "payroll"}))).await;
    assert_eq!((status, &resp["error"]["code"]), (409, &json!("conflict")), "{resp}");
    let bad = json!({"name": "AR only", "read": ["AR", "Gossip"], "write": []});
    let (status, resp) = w.call("POST", "/admin/security-groups", &admin, Some(bad)).await;
    assert_eq!((status, &resp["error"]["field"]), (422, &json!("read[1]")), "{resp}");
    let group = json!({"name": "AR only", "read": ["ar"], "write": ["AR"]});
    let (status, resp) = w.call("POST", "/admin/security-groups", &admin, Some(group)).await;
    assert_eq!(status, 201, "{resp}");
    assert_eq!(resp, json!({"name": "AR only", "read": ["AR"], "write": ["AR"], "default": false}));
    let (status, resp) = w.call("PUT", "/admin/security-members/u-ar", &admin, Some(json!({"group": "ar ONLY"}))).await;
    assert_eq!((status, resp), (200, json!({"group": "AR only"})));
    let (status, resp) = w.call("PUT", "/admin/security-members/u-x", &admin, Some(json!({"group": "Nobody"}))).await;
    assert_eq!((status, &resp["error"]["field"]), (422, &json!("group")), "{resp}");
    let (_, groups) = w.call("GET", "/admin/security-groups", &admin, None).await;
    assert_eq!(
        groups[0],
        json!({"name": "Default", "read": ["AR", "Message", "Sales"], "write": ["AR", "Message", "Sales"], "default": true})
    );

    // Other tenants and plain users reach none of it.
    let globex = w.admin("globex");
    let (_, theirs) = w.call("GET", "/admin/security-groups", &globex, None).await;
    assert_eq!(theirs.as_array().map(Vec::len), Some(1), "only globex's default group: {theirs}");
    let (status, _) = w.call("PUT", "/admin/security-members/u-ar", &globex, Some(json!({"group": "AR only"}))).await;
    assert_eq!(status, 422, "acme's group is no group of globex");
    assert_eq!(w.call("GET", "/admin/action-types", &user(&w, "acme", "u-1"), None).await.0, 403);

    // A text archived as Message: the default group reads it, "AR only" does not.
    assert_eq!(w.post_textus(&hook, &seed::textus_received("m1", THEIRS, OURS, "see you at 9")).await, 202);
    assert_eq!(w.wait_for("acme", "employee", "e1", 1).await.len(), 1);
    let (status, page) = w.call("GET", "/records/employee/e1/messages", &user(&w, "acme", "u-ar"), None).await;
    assert_eq!((status, page["messages"].clone()), (200, json!([])), "not returned, not counted");
    let (_, page) = w.call("GET", "/records/employee/e1/messages", &user(&w, "acme", "u-2"), None).await;
    assert_eq!(page["messages"].as_array().map(Vec::len), Some(1));

    // A tenant whose default group may not write Message: the text fails, clearly.
    let grants = json!({"read": ["AR", "Message"], "write": ["AR"]});
    assert_eq!(w.call("PUT", "/admin/security-groups/default", &admin, Some(grants)).await.0, 200);
    assert_eq!(w.post_textus(&hook, &seed::textus_received("m2", THEIRS, OURS, "denied text")).await, 202);
    let dead = w.wait_for_dead_letters("acme", 1).await;
    assert_eq!(dead.len(), 1, "{dead:?}");
    assert_eq!(dead[0]["failure"]["code"], "forbidden", "{dead:?}");
    let reason = dead[0]["failure"]["reason"].as_str().unwrap_or_default();
    assert!(reason.contains("\"Default\"") && reason.contains("\"Message\""), "{reason}");
    assert_eq!(w.conversation("acme", "employee", "e1").await.len(), 1);
}

#[tokio::test]
async fn stop_keywords_opt_a_number_out_for_the_tenant_with_history_and_an_event() {
    let w = World::new(tempworks::StandIn::start().await).await;
    let hook = w.textus_hook("acme").await;
    let admin = w.admin("acme");
    w.upsert("acme", "employee", "e1", &[THEIRS]).await;
    let status_of = |tenant: &'static str| {
        let w = &w;
        async move { w.call("GET", "/admin/opt-outs/%2B12065550100", &w.admin(tenant), None).await }
    };
    for (id, body) in [("m1", "Please stop by the office"), ("m2", "\u{201C}Stop.\u{201D}")] {
        assert_eq!(w.post_textus(&hook, &seed::textus_received(id, THEIRS, OURS, body)).await, 202);
    }
    // Two texts, one opt-out event on the conversation.
    let messages = w.wait_for("acme", "employee", "e1", 3).await;
    assert_eq!(messages.len(), 3, "{messages:?}");
    assert_eq!(messages.iter().filter(|m| m["event"] == "opted_out").count(), 1, "{messages:?}");
    let (status, resp) = status_of("acme").await;
    assert_eq!((status, &resp["opted_out"]), (200, &json!(true)), "{resp}");
    assert_eq!(resp["history"].as_array().map(Vec::len), Some(1), "{resp}");
    assert_eq!(resp["history"][0]["source"], "opt-out keyword texted through TextUs");

    // Another tenant's view of the same number is its own.
    let (_, theirs) = status_of("globex").await;
    assert_eq!(theirs, json!({"number": THEIRS, "opted_out": false, "history": []}));
    let (status, _) = w.call("GET", "/admin/opt-outs/%2B12065550100", &user(&w, "acme", "u-1"), None).await;
    assert_eq!(status, 403);
    let (status, resp) = w.call("GET", "/admin/opt-outs/not-a-number", &admin, None).await;
    assert_eq!((status, &resp["error"]["field"]), (422, &json!("number")), "{resp}");

    assert_eq!(w.post_textus(&hook, &seed::textus_received("m3", THEIRS, OURS, " yes ")).await, 202);
    let messages = w.wait_for("acme", "employee", "e1", 5).await;
    assert_eq!(messages.iter().filter(|m| m["event"] == "opted_in").count(), 1, "{messages:?}");
    let (_, resp) = status_of("acme").await;
    assert_eq!(resp["opted_out"], false);
    assert_eq!(resp["history"].as_array().map(Vec::len), Some(2), "{resp}");
}

/// Texters may text; `u-1` of `tenant` is one, with their own TextUs credentials.
pub(crate) async fn texter(w: &World, tenant: &str, id: &str) -> String {
    let admin = w.admin(tenant);
    crate::common::texting_user(&w.client, &w.server().base, &admin, id).await;
    let me = token(&w.dir, &["--tenant", tenant, "--role", "user", "--user-id", id, "--group", "Texters"]);
    let own = json!({"username": format!("{id}@{tenant}.test"), "api_key": format!("tx-{id}")});
    let (status, resp) = w.call("POST", &format!("/credentials/textus/user/{id}"), &me, Some(own)).await;
    assert_eq!(status, 201, "{resp}");
    me
}

/// TextUs answers every send with the message `/messages/{id}`.
async fn textus_accepts_sends(w: &World, id: &str) {
    Mock::given(method("POST"))
        .and(path("/acme/messages"))
        .respond_with(ResponseTemplate::new(201).set_body_json(json!({
            "@type": "Message", "id": format!("/messages/{id}"), "direction": "out", "deliveryState": "queued",
            "conversation": "/conversations/kY1QwY"
        })))
        .mount(&w.textus)
        .await;
}

async fn sends_to_textus(w: &World) -> usize {
    let requests = w.textus.received_requests().await.unwrap_or_default();
    requests.iter().filter(|r| r.method.as_str() == "POST" && r.url.path() == "/acme/messages").count()
}

async fn send(w: &World, bearer: &str, key: Option<&str>, body: serde_json::Value) -> (u16, serde_json::Value) {
    let mut req = w.client.raw().post(format!("{}/messages/send", w.server().base)).bearer_auth(bearer).json(&body);
    if let Some(key) = key {
        req = req.header("Idempotency-Key", key);
    }
    w.client.send(req).await
}

#[tokio::test]
async fn a_text_is_sent_once_per_key_archived_once_and_refused_to_opted_out_numbers() {
    let w = World::new(tempworks::StandIn::start().await).await;
    let hook = w.textus_hook("acme").await;
    w.upsert("acme", "employee", "e1", &[THEIRS]).await;
    let me = texter(&w, "acme", "u-1").await;
    textus_accepts_sends(&w, "S1").await;

    let to_e1 = json!({"provider": "textus", "record": {"kind": "employee", "id": "e1"}, "body": "Shift at 9?"});
    let (status, first) = send(&w, &me, Some("k-1"), to_e1.clone()).await;
    assert_eq!(status, 201, "{first}");
    assert_eq!(
        first,
        json!({"provider": "textus", "provider_message_id": "/messages/S1", "to": THEIRS, "encoding": "GSM-7",
               "segments": 1, "status": "queued", "replayed": false})
    );
    let (status, again) = send(&w, &me, Some("k-1"), to_e1.clone()).await;
    assert_eq!(
        (status, &again["replayed"], &again["provider_message_id"]),
        (201, &json!(true), &json!("/messages/S1"))
    );
    let other_text = json!({"provider": "textus", "to": THEIRS, "body": "something else"});
    assert_eq!(send(&w, &me, Some("k-1"), other_text).await.0, 409, "a key is for one text");
    assert_eq!(sends_to_textus(&w).await, 1, "the same key never sends twice");

    // Archived once, also when TextUs reports the same message itself.
    let messages = w.wait_for("acme", "employee", "e1", 1).await;
    assert_eq!(messages.len(), 1, "{messages:?}");
    assert_eq!((&messages[0]["direction"], &messages[0]["texting_user"]), (&json!("outbound"), &json!("u-1")));
    let delivered = json!({
        "@type": "WebhookDelivery", "id": "/integrations/0yX2VrJ/deliveries/d-9", "timestamp": "2026-11-26T10:00:05Z",
        "action": "message.delivered", "webHook": "/integrations/0yX2VrJ",
        "conversation": {"id": "/conversations/kY1QwY", "phoneNumber": THEIRS, "accountPhoneNumber": OURS},
        "message": {"@type": "Message", "id": "/messages/S1", "direction": "out", "body": "Shift at 9?"}
    })
    .to_string();
    assert_eq!(w.post_textus(&hook, &delivered).await, 202);
    w.wait_until_queue_is_empty().await;
    let messages = w.conversation("acme", "employee", "e1").await;
    assert_eq!(messages.len(), 1, "one entry for one provider message id: {messages:?}");
    assert_eq!(messages[0]["status"], "delivered");

    // Segments: a UCS-2 text of 71 characters is two.
    let (status, resp) =
        send(&w, &me, None, json!({"provider": "textus", "to": "(206) 555-0100", "body": "日".repeat(71)})).await;
    assert_eq!((status, &resp["encoding"], &resp["segments"]), (201, &json!("UCS-2"), &json!(2)), "{resp}");

    // Refusals, each before any provider call.
    let before = sends_to_textus(&w).await;
    let long = json!({"provider": "textus", "to": THEIRS, "body": "x".repeat(1601)});
    let (status, resp) = send(&w, &me, None, long).await;
    assert_eq!((status, &resp["error"]["field"]), (422, &json!("body")), "{resp}");
    let plain = user(&w, "acme", "u-2");
    assert_eq!(send(&w, &plain, None, to_e1.clone()).await.0, 403, "no Can Text");
    w.textus_hook("globex").await;
    let globex_me = texter(&w, "globex", "u-1").await;
    let (status, resp) = send(&w, &globex_me, None, to_e1.clone()).await;
    assert_eq!(status, 404, "acme's record is no record of globex: {resp}");
    assert_eq!(w.post_textus(&hook, &seed::textus_received("m-stop", THEIRS, OURS, "STOP")).await, 202);
    w.wait_until_queue_is_empty().await;
    let (status, resp) = send(&w, &me, Some("k-2"), to_e1.clone()).await;
    assert_eq!(status, 409, "{resp}");
    assert!(resp["error"]["message"].as_str().unwrap_or_default().contains(THEIRS), "names the number: {resp}");

    // A mass text to the record (opted out: skipped) and a number given twice (once).
    let mass = json!({"provider": "textus", "records": [{"kind": "employee", "id": "e1"}],
                      "to": ["+12065550178", "(206) 555-0178"], "body": "Open shifts"});
    let (status, accepted) = w.call("POST", "/messages/mass", &me, Some(mass)).await;
    assert_eq!((status, &accepted["recipients"]), (202, &json!(2)), "{accepted}");
    let progress = format!("/messages/mass/{}", accepted["job"].as_str().unwrap_or_default());
    let mut report = json!({});
    for _ in 0..600 {
        report = w.call("GET", &progress, &me, None).await.1;
        if report["done"] == true {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let states: Vec<(&str, &str)> = report["recipients"]
        .as_array()
        .expect("recipients")
        .iter()
        .filter_map(|r| Some((r["to"].as_str()?, r["state"].as_str()?)))
        .collect();
    assert_eq!(states, [("+12065550178", "sent"), (THEIRS, "skipped")], "{report}");
    let elsewhere = json!({"provider": "textus", "records": [{"kind": "employee", "id": "e1"}], "body": "hi"});
    let (status, resp) = w.call("POST", "/messages/mass", &globex_me, Some(elsewhere)).await;
    assert_eq!((status, &resp["error"]["field"]), (422, &json!("records[0]")), "acme's record is not globex's: {resp}");
    let admin = w.admin("acme");
    // A disabled texting user sends nothing; enabled again, they may.
    assert_eq!(w.call("POST", "/users/u-1/disable", &admin, None).await.0, 200);
    let (status, resp) = send(&w, &me, None, json!({"provider": "textus", "to": "+12065550177", "body": "hi"})).await;
    assert_eq!(status, 403, "{resp}");
    assert!(resp["error"]["message"].as_str().unwrap_or_default().contains("disabled"), "{resp}");
    assert_eq!(w.call("POST", "/users/u-1/enable", &admin, None).await.0, 200);
    let no_messages = json!({"name": "Readers", "read": ["Message"], "write": ["AR"]});
    assert_eq!(w.call("POST", "/admin/security-groups", &admin, Some(no_messages)).await.0, 201);
    assert_eq!(w.call("PUT", "/admin/security-members/u-1", &admin, Some(json!({"group": "Readers"}))).await.0, 200);
    let (status, resp) = send(&w, &me, None, json!({"provider": "textus", "to": "+12065550177", "body": "hi"})).await;
    assert_eq!(status, 403, "{resp}");
    assert_eq!(sends_to_textus(&w).await, before + 1, "nothing refused reached TextUs (one mass recipient did)");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_mass_text_of_1000_reports_exactly_and_sends_once_across_a_restart() {
    let mut w = World::with(tempworks::StandIn::start().await, "5").await;
    let hook_url = w.twilio_hook("acme").await;
    let admin = w.admin("acme");
    assert_eq!(w.call("PUT", "/permission-groups/Texters", &admin, Some(json!({"can_text": true}))).await.0, 200);
    let me = token(&w.dir, &["--tenant", "acme", "--role", "user", "--user-id", "u-1", "--group", "Texters"]);
    let number = |i: usize| format!("+1206557{i:04}");
    let opted_out: Vec<usize> = (0..30).map(|k| k * 33 + 7).collect();
    let failing = [100, 300, 500, 701, 900];
    {
        let embedded = textbridge_embedded::open(&w.dir).await.expect("embedded");
        let app = textbridge_app::App::on(embedded.backend(), textbridge_app::Config::default()).shared();
        let tenant = textbridge_domain::TenantId::parse("acme").expect("tenant");
        for &i in &opted_out {
            let source = textbridge_app::optout::Source::Provider(textbridge_domain::ProviderKind::Twilio);
            let at = "2026-11-26T08:00:00Z".parse().expect("time");
            let n = number(i).parse().expect("number");
            assert!(textbridge_app::optout::record(&app, &tenant, &n, true, at, &source).await.expect("opt out"));
        }
    }
    for i in failing {
        w.twilio.fail_sends_to(&number(i));
    }
    w.twilio.throttle_next_sends(25);

    let too_many: Vec<String> = (0..1001).map(number).collect();
    let (status, resp) =
        w.call("POST", "/messages/mass", &me, Some(json!({"provider": "twilio", "to": too_many, "body": "x"}))).await;
    assert_eq!((status, &resp["error"]["field"]), (422, &json!("to")), "{resp}");
    let everyone: Vec<String> = (0..1000).map(number).collect();
    let body = json!({"provider": "twilio", "to": everyone, "body": "Open shifts this weekend: reply YES"});
    let (status, accepted) = w.call("POST", "/messages/mass", &me, Some(body)).await;
    assert_eq!(status, 202, "{accepted}");
    assert_eq!((&accepted["recipients"], &accepted["segments"]), (&json!(1000), &json!(1)));
    let job = accepted["job"].as_str().expect("job id").to_owned();
    let progress = format!("/messages/mass/{job}");

    // Restart the server midway (it finishes the batch in hand).
    let mut report = json!({});
    for _ in 0..600 {
        report = w.call("GET", &progress, &me, None).await.1;
        if report["sent"].as_u64().unwrap_or(0) >= 300 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(report["sent"].as_u64().unwrap_or(0) >= 300 && report["done"] == false, "midway: {}", report["sent"]);
    w.server.take().expect("running").terminate();
    w.restart();
    for _ in 0..1200 {
        report = w.call("GET", &progress, &me, None).await.1;
        if report["done"] == true {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let counts = ["total", "sent", "skipped", "failed", "queued", "sending"].map(|k| report[k].as_u64().unwrap_or(99));
    assert_eq!(counts, [1000, 965, 30, 5, 0, 0], "{}", report["done"]);
    let recipients = report["recipients"].as_array().expect("recipients");
    for (i, r) in recipients.iter().enumerate() {
        let want = if opted_out.contains(&i) {
            "skipped"
        } else if failing.contains(&i) {
            "failed"
        } else {
            "sent"
        };
        assert_eq!((r["to"].as_str(), r["state"].as_str()), (Some(number(i).as_str()), Some(want)), "{r}");
        if want == "failed" {
            assert!(r["reason"].as_str().unwrap_or_default().contains("is not a valid phone number"), "{r}");
        }
    }
    let sent = w.twilio.sent();
    let distinct: std::collections::BTreeSet<&str> = sent.iter().map(|t| t.to.as_str()).collect();
    assert_eq!((sent.len(), distinct.len()), (965, 965), "every text once, none twice");
    assert!(w.twilio.throttled_answers() >= 25, "throttled sends were waited out, not dropped");
    // Twilio reports each sent text's delivery status to the tenant's intake URL (the
    // same path before and after the restart, which listens on another port).
    let path_of = |u: &str| url::Url::parse(u).map(|u| u.path().to_owned()).unwrap_or_default();
    let sends = w.twilio.requests().await;
    let callbacks: std::collections::BTreeSet<String> = sends
        .iter()
        .filter(|r| r.url.path().ends_with("/Messages.json"))
        .filter_map(|r| {
            url::form_urlencoded::parse(&r.body).find(|(k, _)| k == "StatusCallback").map(|(_, v)| path_of(&v))
        })
        .collect();
    assert_eq!(callbacks.into_iter().collect::<Vec<_>>(), [path_of(&hook_url)]);

    // Only its sender and the tenant's admins see the job.
    assert_eq!(w.call("GET", &progress, &admin, None).await.0, 200);
    assert_eq!(w.call("GET", &progress, &user(&w, "acme", "u-2"), None).await.0, 404);
    assert_eq!(w.call("GET", &progress, &w.admin("globex"), None).await.0, 404);
}

#[tokio::test]
async fn a_users_recent_conversations_and_a_search_by_number() {
    let w = World::new(tempworks::StandIn::start().await).await;
    let hook = w.textus_hook("acme").await;
    w.upsert("acme", "employee", "e1", &[THEIRS]).await;
    let me = texter(&w, "acme", "u-1").await;
    for (i, to) in [THEIRS, "+12065550177", THEIRS].iter().enumerate() {
        textus_accepts_sends(&w, &format!("V{i}")).await;
        let (status, resp) =
            send(&w, &me, None, json!({"provider": "textus", "to": to, "body": format!("text {i}")})).await;
        assert_eq!(status, 201, "{resp}");
        w.wait_until_queue_is_empty().await;
        // TextUs answers every later send with the newest mock: each one its own id.
        w.textus.reset().await;
        Mock::given(method("GET"))
            .and(path("/me"))
            .respond_with(ResponseTemplate::new(200).set_body_json(json!({})))
            .mount(&w.textus)
            .await;
    }
    assert_eq!(w.post_textus(&hook, &seed::textus_received("in-1", THEIRS, OURS, "sure")).await, 202);
    w.wait_until_queue_is_empty().await;

    let (status, mine) = w.call("GET", "/messages/mine", &me, None).await;
    assert_eq!(status, 200, "{mine}");
    let numbers: Vec<&str> =
        mine["conversations"].as_array().expect("list").iter().filter_map(|c| c["number"].as_str()).collect();
    assert_eq!(numbers, [THEIRS, "+12065550177"], "newest first: {mine}");
    assert_eq!(mine["next"], json!(null));
    let first = &mine["conversations"][0];
    assert_eq!((&first["texts"], &first["last_body"]), (&json!(2), &json!("text 2")));
    // One at a time, following the cursor.
    let (_, page) = w.call("GET", "/messages/mine?limit=1", &me, None).await;
    assert_eq!(
        (&page["conversations"][0]["number"], page["conversations"].as_array().map(Vec::len)),
        (&json!(THEIRS), Some(1))
    );
    let cursor = page["next"].as_str().expect("a next page").to_owned();
    let (_, page) = w.call("GET", &format!("/messages/mine?limit=1&cursor={cursor}"), &me, None).await;
    assert_eq!((&page["conversations"][0]["number"], &page["next"]), (&json!("+12065550177"), &json!(null)), "{page}");
    for bad in ["x", "0", "-1", "99999"] {
        let (status, resp) = w.call("GET", &format!("/messages/mine?cursor={bad}"), &me, None).await;
        assert_eq!((status, &resp["error"]["field"]), (422, &json!("cursor")), "{bad}: {resp}");
    }
    let (_, theirs) = w.call("GET", "/messages/mine", &user(&w, "acme", "u-2"), None).await;
    assert_eq!(theirs["conversations"], json!([]), "another user's texts are not mine");

    let (status, found) = w.call("GET", "/messages/search?number=%2B12065550100", &me, None).await;
    assert_eq!(status, 200, "{found}");
    assert_eq!(found["records"], json!([{"kind": "employee", "id": "e1"}]));
    let bodies: Vec<&str> =
        found["messages"].as_array().expect("list").iter().filter_map(|m| m["body"].as_str()).collect();
    assert_eq!(bodies.len(), 3, "{found}");
    assert!(bodies.contains(&"sure") && bodies.contains(&"text 0") && bodies.contains(&"text 2"), "{bodies:?}");
    let (_, unmatched) = w.call("GET", "/messages/search?number=(206)%20555-0177", &me, None).await;
    assert_eq!(
        (&unmatched["records"], &unmatched["messages"][0]["body"]),
        (&json!([]), &json!("text 1")),
        "{unmatched}"
    );
    let (status, resp) = w.call("GET", "/messages/search?number=nope", &me, None).await;
    assert_eq!((status, &resp["error"]["field"]), (422, &json!("number")), "{resp}");

    // Another tenant finds nothing of acme's; a group that reads no Message sees no text.
    let (_, other) = w.call("GET", "/messages/search?number=%2B12065550100", &w.admin("globex"), None).await;
    assert_eq!((&other["records"], &other["messages"]), (&json!([]), &json!([])), "{other}");
    let admin = w.admin("acme");
    let ar_only = json!({"name": "AR only", "read": ["AR"], "write": ["AR"]});
    assert_eq!(w.call("POST", "/admin/security-groups", &admin, Some(ar_only)).await.0, 201);
    assert_eq!(w.call("PUT", "/admin/security-members/u-1", &admin, Some(json!({"group": "AR only"}))).await.0, 200);
    let (_, hidden) = w.call("GET", "/messages/search?number=%2B12065550100", &me, None).await;
    assert_eq!(hidden["messages"], json!([]), "{hidden}");
    assert_eq!(w.call("GET", "/messages/mine", &me, None).await.1["conversations"], json!([]));
}

#[tokio::test]
async fn notes_carry_an_action_type_the_writer_may_write_and_readers_may_read() {
    let w = World::new(tempworks::StandIn::start().await).await;
    let admin = w.admin("acme");
    w.upsert("acme", "employee", "e1", &[THEIRS]).await;
    let group = json!({"name": "AR only", "read": ["AR"], "write": ["AR"]});
    assert_eq!(w.call("POST", "/admin/security-groups", &admin, Some(group)).await.0, 201);
    assert_eq!(w.call("PUT", "/admin/security-members/u-ar", &admin, Some(json!({"group": "AR only"}))).await.0, 200);
    let secure = json!({"name": "Payroll", "secure": true});
    assert_eq!(w.call("POST", "/admin/action-types", &admin, Some(secure)).await.0, 201);
    let (plain, ar) = (user(&w, "acme", "u-2"), user(&w, "acme", "u-ar"));
    let notes = "/records/employee/e1/notes";

    let (status, note) =
        w.call("POST", notes, &plain, Some(json!({"action_type": "sales", "body": "Wants more hours"}))).await;
    assert_eq!(status, 201, "{note}");
    assert_eq!(
        (&note["action_type"], &note["author"], &note["body"]),
        (&json!("Sales"), &json!("u-2"), &json!("Wants more hours"))
    );
    let (status, _) = w.call("POST", notes, &ar, Some(json!({"action_type": "AR", "body": "Invoice 7 is late"}))).await;
    assert_eq!(status, 201);

    // Refusals, each clear, each changing nothing.
    let long = "x".repeat(4001);
    let refused = [
        (&ar, notes, json!({"action_type": "Sales", "body": "not mine to write"}), 403, None),
        (&plain, notes, json!({"action_type": "Payroll", "body": "secure"}), 403, None),
        (&plain, notes, json!({"action_type": "Gossip", "body": "?"}), 422, Some("action_type")),
        (&plain, notes, json!({"action_type": "Sales", "body": "   "}), 422, Some("body")),
        (&plain, notes, json!({"action_type": "Sales", "body": long}), 422, Some("body")),
        (&plain, notes, json!({"action_type": "Sales", "body": "x", "extra": 1}), 422, Some("extra")),
        (&plain, "/records/employee/nobody/notes", json!({"action_type": "Sales", "body": "x"}), 404, None),
        (&plain, "/records/robot/e1/notes", json!({"action_type": "Sales", "body": "x"}), 422, None),
    ];
    for (who, route, body, want, field) in refused {
        let (status, resp) = w.call("POST", route, who, Some(body.clone())).await;
        assert_eq!(status, want, "{body}: {resp}");
        if let Some(field) = field {
            assert_eq!(resp["error"]["field"], json!(field), "{body}: {resp}");
        }
    }
    // Another tenant has no such record: nothing is written on acme's.
    let (status, resp) =
        w.call("POST", notes, &w.admin("globex"), Some(json!({"action_type": "Sales", "body": "x"}))).await;
    assert_eq!((status, &resp["error"]["code"]), (404, &json!("not_found")), "{resp}");

    // Readers see the notes of the types their group reads, among the texts.
    let (_, page) = w.call("GET", "/records/employee/e1/messages", &plain, None).await;
    let seen: Vec<(&str, &str)> = page["messages"]
        .as_array()
        .expect("list")
        .iter()
        .map(|m| (m["kind"].as_str().unwrap_or_default(), m["action_type"].as_str().unwrap_or_default()))
        .collect();
    assert_eq!(seen, [("note", "AR"), ("note", "Sales")], "newest first: {page}");
    let (_, page) = w.call("GET", "/records/employee/e1/messages", &ar, None).await;
    assert_eq!(page["messages"].as_array().map(Vec::len), Some(1), "{page}");
    assert_eq!(page["messages"][0]["body"], "Invoice 7 is late");
    let (_, theirs) = w.call("GET", "/records/employee/e1/messages", &w.admin("globex"), None).await;
    assert_eq!(theirs["error"]["code"], "not_found", "{theirs}");

    // A purge takes the notes with the record.
    let purger = token(&w.dir, &["--tenant", "acme", "--role", "customer_admin", "--user-id", "ca-1"]);
    assert_eq!(w.call("DELETE", "/records/employee/e1", &purger, None).await.0, 200);
    w.upsert("acme", "employee", "e1", &[THEIRS]).await;
    let (_, page) = w.call("GET", "/records/employee/e1/messages", &plain, None).await;
    assert_eq!(page["messages"], json!([]), "{page}");
}

#[tokio::test]
async fn a_user_without_credentials_of_their_own_sends_through_their_branchs() {
    let w = World::new(tempworks::StandIn::start().await).await;
    let admin = w.admin("acme");
    assert_eq!(w.call("PUT", "/permission-groups/Texters", &admin, Some(json!({"can_text": true}))).await.0, 200);
    crate::common::texting_user(&w.client, &w.server().base, &admin, "u-b").await;
    let me = token(&w.dir, &["--tenant", "acme", "--role", "user", "--user-id", "u-b", "--group", "Texters"]);
    let branch_login = json!({"username": "north@2065550150", "password": "zw-branch-pass"});
    w.connect("acme", "/credentials/zipwhip/branch/north", branch_login).await;
    Mock::given(method("POST"))
        .and(path("/message/send"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({
            "success": true, "response": {"fingerprint": "f", "root": 1, "tokens": [{"message": 9000001, "contact": 7}]}
        })))
        .mount(w.zipwhip.server())
        .await;
    let text = json!({"provider": "zipwhip", "to": THEIRS, "body": "Shift confirmed"});

    // Not in a branch: neither the user nor the tenant has Zipwhip credentials.
    let (status, resp) = send(&w, &me, None, text.clone()).await;
    assert_eq!((status, &resp["error"]["field"]), (422, &json!("provider")), "{resp}");

    // Only admins put a user in a branch; another tenant's admin finds no such user.
    let branch = json!({"branch": "north"});
    let manager = token(&w.dir, &["--tenant", "acme", "--role", "manager", "--user-id", "m-1"]);
    assert_eq!(w.call("PUT", "/users/u-b/branch", &manager, Some(branch.clone())).await.0, 403);
    assert_eq!(w.call("PUT", "/users/u-b/branch", &w.admin("globex"), Some(branch.clone())).await.0, 404);
    let (status, resp) = w.call("PUT", "/users/u-b/branch", &admin, Some(json!({"branch": "no/rth"}))).await;
    assert_eq!((status, &resp["error"]["field"]), (422, &json!("branch_id")), "{resp}");
    let (status, resp) = w.call("PUT", "/users/u-b/branch", &admin, Some(branch)).await;
    assert_eq!((status, &resp["branch"]), (200, &json!("north")), "{resp}");

    let (status, sent) = send(&w, &me, None, text).await;
    assert_eq!((status, &sent["provider_message_id"]), (201, &json!("9000001")), "{sent}");
    let sends: Vec<_> = w.zipwhip.requests().await.into_iter().filter(|r| r.url.path() == "/message/send").collect();
    assert_eq!(sends.len(), 1);
    w.upsert("acme", "employee", "e1", &[THEIRS]).await;
    let archived = w.wait_for("acme", "employee", "e1", 1).await;
    assert_eq!(archived[0]["provider_username"], "north@2065550150", "sent as the branch: {archived:?}");
}
