//! End to end, SPEC S2 (second half) through the real `textbridge serve`: message
//! action types and security groups, opt-out, sending and conversation views.

use serde_json::json;
use textbridge_testkit::{seed, tempworks};

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
