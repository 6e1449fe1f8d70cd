//! Guild discovery's application workflow: a guild applies (`/guilds/{id}/discovery`), staff review
//! it (`/admin/discovery/*`), a listed guild is found and joined through discovery, and staff may
//! take it out again. Each refusal is checked to leave the application as it was.

use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::admin::limited_staff;
use crate::harness::{Client, Server};
use crate::staff as operator;
use crate::{create_guild, general_channel, invite_and_join, register};

/// Lists `guild` in discovery the way it happens on an instance: its owner applies with
/// `description`, and an operator (made here) approves.
pub(crate) fn list_in_discovery(server: &Server, owner: &Client, guild: &str, description: &str) {
    owner
        .post(
            &format!("/api/v1/guilds/{guild}/discovery"),
            &json!({ "description": description, "category_type": 8 }),
        )
        .expect(200);
    let (op, _) = operator(
        server,
        &format!("discovery-op-{guild}@example.com"),
        &format!("dop{}", &guild[guild.len() - 8..]),
    );
    op.post(
        &format!("/api/v1/admin/discovery/applications/{guild}/approve"),
        &json!({}),
    )
    .expect(200);
}

/// Waits until `/discovery/guilds?{query}` (as `who`) answers with `total`, and returns the answer.
fn discover_until(who: &Client, query: &str, total: u64) -> Value {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let r = who
            .get(&format!("/api/v1/discovery/guilds?{query}"))
            .expect(200)
            .json();
        if r["total"] == total {
            return r;
        }
        assert!(
            Instant::now() < deadline,
            "discovery never answered {total} for {query}: {r}"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

#[test]
fn guilds_apply_staff_review_and_listed_guilds_are_joined() {
    let server = Server::start(&[
        ("FLUXER_CONFIG__DEV__DISABLE_RATE_LIMITS", "true"),
        ("FLUXER_CONFIG__DISCOVERY__MIN_MEMBER_COUNT", "2"),
    ]);
    let anon = server.client();
    let (alice, _) = register(&anon, "disco-a@example.com", "disco_a");
    let (bob, _) = register(&anon, "disco-b@example.com", "disco_b");
    let (carol, carol_id) = register(&anon, "disco-c@example.com", "disco_c");
    let (op, _) = operator(&server, "disco-op@example.com", "disco_op");
    let guild = create_guild(&alice, "Vulpine Society");
    let path = format!("/api/v1/guilds/{guild}/discovery");
    let apply =
        json!({ "description": "All things foxes, vulpine and otherwise", "category_type": 4 });

    // One member is too few here (min_member_count = 2): not eligible, and applying says why.
    let state = alice.get(&path).expect(200).json();
    assert_eq!(
        state,
        json!({ "application": null, "eligible": false, "min_member_count": 2 })
    );
    alice
        .post(&path, &apply)
        .expect_error(400, "DISCOVERY_INSUFFICIENT_MEMBERS");
    invite_and_join(&alice, &general_channel(&alice, &guild), &bob);
    assert_eq!(alice.get(&path).expect(200).json()["eligible"], true);

    // Only a manager may apply or look; strangers do not learn the guild exists.
    bob.get(&path).expect_error(403, "MISSING_PERMISSIONS");
    bob.post(&path, &apply)
        .expect_error(403, "MISSING_PERMISSIONS");
    carol.get(&path).expect(404);

    // Bad bodies are refused field by field, and nothing is stored.
    for (body, field) in [
        (
            json!({ "description": "short", "category_type": 1 }),
            "description",
        ),
        (
            json!({ "description": "long enough description", "category_type": 9 }),
            "category_type",
        ),
        (
            json!({ "description": "x".repeat(301), "category_type": 1 }),
            "description",
        ),
    ] {
        let e = alice
            .post(&path, &body)
            .expect_error(400, "INVALID_FORM_BODY");
        assert!(e["errors"].to_string().contains(field), "{e}");
    }
    alice
        .post(&path, &json!({ "category_type": 1 }))
        .expect_error(400, "INVALID_FORM_BODY");
    assert_eq!(
        alice.get(&path).expect(200).json()["application"],
        Value::Null
    );

    // Applying: pending, and only once.
    let app = alice.post(&path, &apply).expect(200).json();
    assert_eq!(app["guild_id"], guild.as_str());
    assert_eq!(app["status"], "pending");
    assert_eq!(app["category_type"], 4);
    assert_eq!(app["reviewed_at"], Value::Null);
    assert!(app["applied_at"].as_str().is_some(), "{app}");
    alice
        .post(&path, &apply)
        .expect_error(409, "DISCOVERY_ALREADY_APPLIED");
    let edited = alice
        .patch(
            &path,
            &json!({ "description": "Foxes, and the people who love them" }),
        )
        .expect(200)
        .json();
    assert_eq!(edited["description"], "Foxes, and the people who love them");
    assert_eq!(edited["category_type"], 4);
    alice
        .patch(&path, &json!({ "category_type": -1 }))
        .expect_error(400, "INVALID_FORM_BODY");

    // Pending is not listed; joining through discovery is refused.
    let join = format!("/api/v1/discovery/guilds/{guild}/join");
    carol
        .post(&join, &json!({}))
        .expect_error(400, "DISCOVERY_NOT_DISCOVERABLE");

    // Review needs the discovery:review ACL.
    let reviewer_less = limited_staff(
        &server,
        &op,
        "disco-s@example.com",
        "disco_s",
        &["admin:authenticate"],
    );
    let approve = format!("/api/v1/admin/discovery/applications/{guild}/approve");
    reviewer_less
        .post(&approve, &json!({}))
        .expect_error(403, "MISSING_ACL");
    bob.post(&approve, &json!({})).expect(403);
    let pending = op
        .get("/api/v1/admin/discovery/applications?status=pending")
        .expect(200)
        .json();
    assert!(
        pending
            .as_array()
            .unwrap()
            .iter()
            .any(|a| a["guild_id"] == guild.as_str()),
        "{pending}"
    );
    op.get("/api/v1/admin/discovery/applications?status=lost")
        .expect_error(400, "INVALID_FORM_BODY");

    // Approved: listed with its category and description, found by words of either.
    let approved = op
        .post(&approve, &json!({ "reason": "Lovely community" }))
        .expect(200)
        .json();
    assert_eq!(approved["status"], "approved");
    assert_eq!(approved["review_reason"], "Lovely community");
    op.post(&approve, &json!({}))
        .expect_error(409, "DISCOVERY_APPLICATION_ALREADY_REVIEWED");
    let found = discover_until(&carol, "query=vulpine", 1);
    let listed = &found["guilds"][0];
    assert_eq!(listed["id"], guild.as_str());
    assert_eq!(listed["category_type"], 4);
    assert_eq!(listed["member_count"], 2);
    assert_eq!(listed["description"], "Foxes, and the people who love them");
    assert!(
        listed["features"]
            .as_array()
            .unwrap()
            .iter()
            .any(|f| f == "DISCOVERABLE"),
        "{listed}"
    );
    discover_until(&carol, "query=vulpine&category=4", 1);
    discover_until(&carol, "query=vulpine&category=0", 0);
    carol
        .get("/api/v1/discovery/guilds?category=9")
        .expect_error(400, "INVALID_FORM_BODY");
    carol.post(&join, &json!({})).expect(204);
    alice
        .get(&format!("/api/v1/guilds/{guild}/members/{carol_id}"))
        .expect(200);

    // Removal needs a reason; then the guild is out of discovery and may apply again.
    let remove = format!("/api/v1/admin/discovery/guilds/{guild}/remove");
    op.post(&remove, &json!({}))
        .expect_error(400, "INVALID_FORM_BODY");
    let removed = op
        .post(&remove, &json!({ "reason": "Off-topic spam" }))
        .expect(200)
        .json();
    assert_eq!(removed["status"], "removed");
    assert_eq!(removed["review_reason"], "Off-topic spam");
    discover_until(&carol, "query=vulpine", 0);
    let (dave, _) = register(&anon, "disco-d@example.com", "disco_d");
    dave.post(&join, &json!({}))
        .expect_error(400, "DISCOVERY_NOT_DISCOVERABLE");
    let state = alice.get(&path).expect(200).json();
    assert_eq!(state["application"]["status"], "removed");
    alice
        .patch(
            &path,
            &json!({ "description": "Editing a removed listing" }),
        )
        .expect_error(409, "DISCOVERY_APPLICATION_ALREADY_REVIEWED");

    // Apply again, get rejected with a reason, withdraw.
    assert_eq!(
        alice.post(&path, &apply).expect(200).json()["status"],
        "pending"
    );
    let reject = format!("/api/v1/admin/discovery/applications/{guild}/reject");
    op.post(&reject, &json!({ "reason": "" }))
        .expect_error(400, "INVALID_FORM_BODY");
    let rejected = op
        .post(&reject, &json!({ "reason": "Needs a clearer description" }))
        .expect(200)
        .json();
    assert_eq!(rejected["status"], "rejected");
    alice.delete(&path).expect(204);
    assert_eq!(
        alice.get(&path).expect(200).json()["application"],
        Value::Null
    );
    alice
        .delete(&path)
        .expect_error(404, "DISCOVERY_APPLICATION_NOT_FOUND");
    op.post(&approve, &json!({}))
        .expect_error(404, "DISCOVERY_APPLICATION_NOT_FOUND");

    // Every review is in the admin audit log.
    let logs = op
        .post(
            "/api/v1/admin/audit-logs",
            &json!({ "target_type": "guild", "target_id": guild }),
        )
        .expect(200)
        .json();
    let actions: Vec<&str> = logs["logs"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|e| e["action"].as_str())
        .collect();
    for action in ["discovery.approve", "discovery.remove", "discovery.reject"] {
        assert!(actions.contains(&action), "{action} missing from {logs}");
    }
}

#[test]
fn discovery_can_be_turned_off() {
    let server = Server::start(&[
        ("FLUXER_CONFIG__DEV__DISABLE_RATE_LIMITS", "true"),
        ("FLUXER_CONFIG__DISCOVERY__ENABLED", "false"),
    ]);
    let anon = server.client();
    let (alice, _) = register(&anon, "nodisco-a@example.com", "nodisco_a");
    let guild = create_guild(&alice, "Quiet Place");
    let path = format!("/api/v1/guilds/{guild}/discovery");
    let state = alice.get(&path).expect(200).json();
    assert_eq!(state["eligible"], false);
    alice
        .post(
            &path,
            &json!({ "description": "A quiet place to talk", "category_type": 8 }),
        )
        .expect_error(400, "DISCOVERY_DISABLED");
    assert_eq!(
        alice.get(&path).expect(200).json()["application"],
        Value::Null
    );
    alice
        .get("/api/v1/discovery/guilds")
        .expect_error(400, "DISCOVERY_DISABLED");
    alice
        .post(
            &format!("/api/v1/discovery/guilds/{guild}/join"),
            &json!({}),
        )
        .expect_error(400, "DISCOVERY_DISABLED");
}
