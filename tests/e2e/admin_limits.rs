//! The limit config (`/admin/limit-config/*`): staff read and replace it, and what they set is
//! what the server enforces at once (message length, guilds per user), without a restart.

use serde_json::{Value, json};

use crate::admin::limited_staff;
use crate::{create_guild, error_paths, general_channel, register, staff};

fn default_rule(config: &Value) -> &Value {
    config["limit_config"]["rules"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["id"] == "default")
        .expect("a default rule")
}

#[test]
fn limit_config_changes_what_the_server_enforces() {
    let server = crate::harness::Server::start(&[]);
    let anon = server.client();
    let (op, _) = staff(&server, "op@example.test", "operator");
    let (user, user_id) = register(&anon, "user@example.test", "plainuser");
    let guild = create_guild(&user, "Limits Guild");
    let channel = general_channel(&user, &guild);
    let send = |content: &str| {
        user.post(
            &format!("/api/v1/channels/{channel}/messages"),
            &json!({ "content": content }),
        )
    };

    // The default: one unconditional rule holding this server's limits; every key described.
    let config = op
        .post("/api/v1/admin/limit-config/get", &json!({}))
        .expect(200)
        .json();
    assert_eq!(config["self_hosted"], true);
    assert_eq!(default_rule(&config)["limits"]["max_message_length"], 4000);
    assert_eq!(config["defaults"]["default"]["max_guilds"], 200);
    assert_eq!(config["limit_keys"].as_array().unwrap().len(), 45);
    assert_eq!(
        config["metadata"]["max_message_length"]["category"],
        "messages"
    );
    assert_eq!(config["bounds"]["max_message_length"]["max"], 4000);
    assert!(default_rule(&config).get("modifiedFields").is_none());
    send(&"a".repeat(3000)).expect(200);

    // Staff without the update ACL are refused whatever they send; nothing changes.
    let viewer = limited_staff(
        &server,
        &op,
        "viewer@example.test",
        "viewer",
        &["admin:authenticate", "instance:limit_config:view"],
    );
    viewer
        .post("/api/v1/admin/limit-config/get", &json!({}))
        .expect(200);
    viewer
        .post(
            "/api/v1/admin/limit-config/update",
            &json!({ "nonsense": 1 }),
        )
        .expect_error(403, "MISSING_ACL");
    let outsider = limited_staff(
        &server,
        &op,
        "outsider@example.test",
        "outsider",
        &["admin:authenticate"],
    );
    outsider
        .post("/api/v1/admin/limit-config/get", &json!({}))
        .expect_error(403, "MISSING_ACL");

    // Bad bodies: an unknown key, a value out of bounds, duplicate rule IDs, a wrong type.
    let bad = op
        .post(
            "/api/v1/admin/limit-config/update",
            &json!({ "limit_config": { "rules": [
                { "id": "default", "limits": { "max_wat": 1, "max_message_length": 0 } },
                { "id": "default", "limits": {} },
            ] } }),
        )
        .expect_error(400, "INVALID_FORM_BODY");
    let paths = error_paths(&bad);
    for p in [
        "limit_config.rules.0.limits.max_wat",
        "limit_config.rules.0.limits.max_message_length",
        "limit_config.rules.1.id",
    ] {
        assert!(paths.contains(&p.to_owned()), "{paths:?}");
    }
    op.post(
        "/api/v1/admin/limit-config/update",
        &json!({ "limit_config": { "rules": [{ "id": "default", "limits": { "max_guilds": -1 } }] } }),
    )
    .expect_error(400, "INVALID_FORM_BODY");
    op.post("/api/v1/admin/limit-config/update", &json!({}))
        .expect_error(400, "INVALID_FORM_BODY");
    send(&"a".repeat(3000)).expect(200);
    let unchanged = op
        .post("/api/v1/admin/limit-config/get", &json!({}))
        .expect(200)
        .json();
    assert_eq!(unchanged["limit_config"], config["limit_config"]);

    // Lower the message length and the guilds per user; keep a filtered rule and drop the
    // `premium` one, as upstream does on a self-hosted instance.
    let mut limits = default_rule(&config)["limits"].clone();
    limits["max_message_length"] = json!(100);
    limits["max_guilds"] = json!(1);
    limits["max_attachments_per_message"] = json!(1);
    let updated = op
        .post(
            "/api/v1/admin/limit-config/update",
            &json!({ "limit_config": {
                "traitDefinitions": ["vip", "premium"],
                "rules": [
                    { "id": "default", "limits": limits },
                    { "id": "vip", "filters": { "traits": ["vip"] }, "limits": { "max_message_length": 3000, "max_attachments_per_message": 2 } },
                    { "id": "paid", "filters": { "traits": ["premium"] }, "limits": { "max_guilds": 200 } },
                ],
            } }),
        )
        .expect(200)
        .json();
    assert_eq!(updated["limit_config"]["traitDefinitions"], json!(["vip"]));
    let ids: Vec<&str> = updated["limit_config"]["rules"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, ["default", "vip"]);
    let mut modified = default_rule(&updated)["modifiedFields"].clone();
    modified
        .as_array_mut()
        .unwrap()
        .sort_by_key(|v| v.to_string());
    assert_eq!(
        modified,
        json!([
            "max_attachments_per_message",
            "max_guilds",
            "max_message_length"
        ])
    );

    // Enforced at once: a longer message is refused with upstream's error on `content`, a short
    // one passes; the user is in one guild already, so creating another is refused.
    let refused = send(&"a".repeat(101)).expect_error(400, "INVALID_FORM_BODY");
    assert_eq!(refused["errors"][0]["path"], "content");
    assert_eq!(refused["errors"][0]["code"], "BASE_TYPE_MAX_LENGTH");
    send(&"a".repeat(100)).expect(200);
    user.post("/api/v1/guilds", &json!({ "name": "Second" }))
        .expect_error(400, "MAX_GUILDS");
    let two_files = || {
        let (content_type, body) = crate::media::multipart(
            &json!({ "content": "two files" }),
            &[("a.txt", b"first"), ("b.txt", b"second")],
        );
        user.raw(
            "POST",
            &format!("/api/v1/channels/{channel}/messages"),
            &[("content-type", &content_type)],
            &body,
        )
    };
    two_files().expect_error(400, "INVALID_FORM_BODY");

    // Clients learn the stored config from instance discovery.
    let doc = anon.get("/.well-known/fluxer").expect(200).json();
    assert_eq!(doc["limits"]["traitDefinitions"], json!(["vip"]));
    assert_eq!(doc["limits"]["rules"][0]["id"], "default");
    assert_eq!(
        doc["limits"]["rules"][0]["limits"]["max_message_length"],
        100
    );
    assert_eq!(
        doc["limits"]["rules"][1]["filters"],
        json!({ "traits": ["vip"] })
    );

    // A rule for a trait raises the limit of the accounts staff gave it.
    op.post(
        "/api/v1/admin/users/set-traits",
        &json!({ "user_id": user_id, "traits": ["vip"] }),
    )
    .expect(200);
    send(&"a".repeat(3000)).expect(200);
    send(&"a".repeat(3001)).expect_error(400, "INVALID_FORM_BODY");
    // Files too: the upload is checked against the same raised limits as the message.
    let posted = two_files().expect(200).json();
    assert_eq!(
        posted["attachments"].as_array().unwrap().len(),
        2,
        "{posted}"
    );

    // The get answers what was stored, and the audit log holds the change with before/after.
    let got = op
        .post("/api/v1/admin/limit-config/get", &json!({}))
        .expect(200)
        .json();
    assert_eq!(got["limit_config"], updated["limit_config"]);
    let logs = op
        .post(
            "/api/v1/admin/audit-logs",
            &json!({ "target_type": "limit_config" }),
        )
        .expect(200)
        .json();
    let entry = &logs["logs"][0];
    assert_eq!(entry["action"], "limit_config.update");
    assert_eq!(
        entry["metadata"]["before.default.max_message_length"],
        "4000"
    );
    assert_eq!(entry["metadata"]["after.default.max_message_length"], "100");
    assert_eq!(entry["metadata"]["before.vip.max_message_length"], "unset");
    assert_eq!(entry["metadata"]["after.vip.max_message_length"], "3000");
    assert_eq!(logs["logs"].as_array().unwrap().len(), 1, "{logs}");

    // Survives a restart (stored, not in memory); the trait too.
    op.post(
        "/api/v1/admin/users/set-traits",
        &json!({ "user_id": user_id, "traits": [] }),
    )
    .expect(200);
    let data = server.kill_keeping_data();
    let server = crate::harness::Server::start_in(data, &[]);
    let user = server.client().with_token(user.token.as_deref().unwrap());
    user.post(
        &format!("/api/v1/channels/{channel}/messages"),
        &json!({ "content": "a".repeat(101) }),
    )
    .expect_error(400, "INVALID_FORM_BODY");
}
