//! The content side of the admin API (`/admin/guilds/*`, `/admin/messages/*`, `/admin/reports/*`,
//! `/admin/search/*`): staff act on guilds, messages and reports; members see the same gateway
//! events a owner's or moderator's action sends; every action leaves an admin audit entry; a
//! staff key without the area's ACL is refused with 403 `MISSING_ACL` and changes nothing.

use std::time::{Duration, Instant};

use serde_json::json;

use crate::gateway::{identify, next_dispatch, runtime};
use crate::harness::{Client, Server};
use crate::staff;
use crate::{create_guild, general_channel, invite_and_join, post_message, register};

/// A client using a new admin API key that holds only `acls`.
pub(crate) fn key_with(server: &Server, staff: &Client, acls: &[&str]) -> Client {
    let made = staff
        .post(
            "/api/v1/admin/api-keys",
            &json!({ "name": "narrow", "acls": acls }),
        )
        .expect(200)
        .json();
    server
        .client()
        .with_token(&format!("Admin {}", made["key"].as_str().unwrap()))
}

/// The actions of the admin audit entries about `target_id`, newest first.
pub(crate) fn audited(staff: &Client, target_type: &str, target_id: &str) -> Vec<String> {
    let page = staff
        .post(
            "/api/v1/admin/audit-logs",
            &json!({ "target_type": target_type, "target_id": target_id, "limit": 100 }),
        )
        .expect(200)
        .json();
    page["logs"]
        .as_array()
        .unwrap_or_else(|| panic!("audit page: {page}"))
        .iter()
        .map(|e| e["action"].as_str().unwrap().to_owned())
        .collect()
}

pub(crate) fn path_of(url: &str) -> String {
    let rest = url.split("://").nth(1).unwrap_or(url);
    rest[rest.find('/').unwrap()..].to_owned()
}

pub(crate) fn eventually<T>(what: &str, mut check: impl FnMut() -> Option<T>) -> T {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        if let Some(v) = check() {
            return v;
        }
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(200));
    }
}

#[test]
fn staff_administer_guilds_and_members_see_it() {
    let server = Server::start(&[("FLUXER_CONFIG__DEV__DISABLE_RATE_LIMITS", "true")]);
    let anon = server.client();
    let (admin, admin_id) = staff(&server, "gadmin@example.com", "gadmin");
    let (alice, alice_id) = register(&anon, "g-alice@example.com", "g_alice");
    let (bob, bob_id) = register(&anon, "g-bob@example.com", "g_bob");
    let (carol, carol_id) = register(&anon, "g-carol@example.com", "g_carol");
    let guild = create_guild(&alice, "Admin target");
    let general = general_channel(&alice, &guild);
    invite_and_join(&alice, &general, &bob);
    let invite = invite_and_join(&alice, &general, &carol);
    post_message(&carol, &general, "carol was here");
    let rt = runtime();
    let mut bob_ws = rt.block_on(identify(&server.addr, bob.token.as_deref().unwrap()));

    // Not staff, or staff without the ACL: refused before the body is even read; nothing changes.
    alice
        .post("/api/v1/admin/guilds/lookup", &json!({ "guild_id": guild }))
        .expect_error(403, "MISSING_PERMISSIONS");
    let lookup_only = key_with(&server, &admin, &["guild:lookup"]);
    lookup_only
        .post("/api/v1/admin/guilds/lookup", &json!({ "guild_id": guild }))
        .expect(200);
    for (path, body) in [
        (
            "kick-member",
            json!({ "guild_id": guild, "user_id": carol_id }),
        ),
        (
            "ban-member",
            json!({ "guild_id": guild, "user_id": carol_id }),
        ),
        ("delete", json!({ "guild_id": guild })),
        ("update-name", json!({ "guild_id": guild, "name": "Taken" })),
        (
            "transfer-ownership",
            json!({ "guild_id": guild, "new_owner_id": bob_id }),
        ),
        ("update-name", json!("not even an object")),
    ] {
        lookup_only
            .post(&format!("/api/v1/admin/guilds/{path}"), &body)
            .expect_error(403, "MISSING_ACL");
    }
    anon.post("/api/v1/admin/guilds/lookup", &json!({ "guild_id": guild }))
        .expect_error(401, "UNAUTHORIZED");

    // Lookup and search.
    let found = admin
        .post("/api/v1/admin/guilds/lookup", &json!({ "guild_id": guild }))
        .expect(200)
        .json();
    let g = &found["guild"];
    assert_eq!(g["name"], "Admin target");
    assert_eq!(g["owner_id"], alice_id.as_str());
    assert_eq!(g["member_count"], 3);
    assert!(
        g["channels"]
            .as_array()
            .unwrap()
            .iter()
            .any(|c| c["id"] == general.as_str()),
        "{g}"
    );
    assert_eq!(g["roles"].as_array().unwrap().len(), 1, "@everyone");
    let none = admin
        .post("/api/v1/admin/guilds/lookup", &json!({ "guild_id": "1" }))
        .expect(200)
        .json();
    assert!(none["guild"].is_null(), "{none}");
    let hits = admin
        .post(
            "/api/v1/admin/guilds/search",
            &json!({ "query": "admin TAR" }),
        )
        .expect(200)
        .json();
    assert_eq!(hits["total"], 1, "{hits}");
    assert_eq!(hits["guilds"][0]["id"], guild.as_str());
    let by_id = admin
        .post("/api/v1/admin/guilds/search", &json!({ "query": guild }))
        .expect(200)
        .json();
    assert_eq!(by_id["guilds"][0]["name"], "Admin target");
    let members = admin
        .post(
            "/api/v1/admin/guilds/list-members",
            &json!({ "guild_id": guild, "limit": 2, "offset": 1 }),
        )
        .expect(200)
        .json();
    assert_eq!(members["total"], 3);
    assert_eq!(members["members"].as_array().unwrap().len(), 2);

    // Bad input: a clear error, nothing changed.
    admin
        .post(
            "/api/v1/admin/guilds/update-name",
            &json!({ "guild_id": guild, "name": "   " }),
        )
        .expect_error(400, "INVALID_FORM_BODY");
    admin
        .post(
            "/api/v1/admin/guilds/update-name",
            &json!({ "guild_id": "12345", "name": "Ghost" }),
        )
        .expect_error(404, "UNKNOWN_GUILD");
    admin
        .raw(
            "POST",
            "/api/v1/admin/guilds/update-name",
            &[("Content-Type", "application/json")],
            b"{\"guild_id\": ",
        )
        .expect_error(400, "INVALID_FORM_BODY");
    let huge = format!(
        "{{\"guild_id\":\"{guild}\",\"name\":\"{}\"}}",
        "x".repeat(2 * 1024 * 1024)
    );
    admin
        .raw(
            "POST",
            "/api/v1/admin/guilds/update-name",
            &[("Content-Type", "application/json")],
            huge.as_bytes(),
        )
        .expect_error(413, "PAYLOAD_TOO_LARGE");
    admin
        .post(
            "/api/v1/admin/guilds/update-features",
            &json!({ "guild_id": guild, "add_features": ["not a feature"] }),
        )
        .expect_error(400, "INVALID_FORM_BODY");
    admin
        .post(
            "/api/v1/admin/guilds/list-members",
            &json!({ "guild_id": guild, "limit": 201 }),
        )
        .expect_error(400, "INVALID_FORM_BODY");
    admin
        .post(
            "/api/v1/admin/guilds/transfer-ownership",
            &json!({ "guild_id": guild, "new_owner_id": admin_id }),
        )
        .expect_error(404, "UNKNOWN_MEMBER");
    let unchanged = alice
        .get(&format!("/api/v1/guilds/{guild}"))
        .expect(200)
        .json();
    assert_eq!(unchanged["name"], "Admin target");
    assert_eq!(unchanged["owner_id"], alice_id.as_str());

    // Rename, settings, features, vanity: each one a GUILD_UPDATE to the members.
    let renamed = admin
        .raw(
            "POST",
            "/api/v1/admin/guilds/update-name",
            &[
                ("Content-Type", "application/json"),
                ("X-Audit-Log-Reason", "offensive%20name"),
            ],
            json!({ "guild_id": guild, "name": "Renamed by staff" })
                .to_string()
                .as_bytes(),
        )
        .expect(200)
        .json();
    assert_eq!(renamed["guild"]["name"], "Renamed by staff");
    assert_eq!(renamed["guild"]["member_count"], 3);
    let update = rt.block_on(next_dispatch(&mut bob_ws, "GUILD_UPDATE"));
    assert_eq!(update["d"]["name"], "Renamed by staff");
    admin
        .post(
            "/api/v1/admin/guilds/update-settings",
            &json!({ "guild_id": guild, "verification_level": 2, "nsfw_level": 1 }),
        )
        .expect(200);
    let update = rt.block_on(next_dispatch(&mut bob_ws, "GUILD_UPDATE"));
    assert_eq!(update["d"]["verification_level"], 2);
    let featured = admin
        .post(
            "/api/v1/admin/guilds/update-features",
            &json!({ "guild_id": guild, "add_features": ["VERIFIED", "VANITY_URL"] }),
        )
        .expect(200)
        .json();
    assert!(
        featured["guild"]["features"]
            .as_array()
            .unwrap()
            .contains(&json!("VERIFIED"))
    );
    rt.block_on(next_dispatch(&mut bob_ws, "GUILD_UPDATE"));
    admin
        .post(
            "/api/v1/admin/guilds/update-vanity",
            &json!({ "guild_id": guild, "vanity_url_code": "staff-set" }),
        )
        .expect(200);
    rt.block_on(next_dispatch(&mut bob_ws, "GUILD_UPDATE"));
    assert_eq!(
        anon.get("/api/v1/invites/staff-set").expect(200).json()["guild"]["id"],
        guild.as_str()
    );
    admin
        .post(
            "/api/v1/admin/guilds/update-vanity",
            &json!({ "guild_id": guild, "vanity_url_code": "no spaces allowed" }),
        )
        .expect_error(400, "INVALID_FORM_BODY");

    // Kick, force-add back, ban: the same events a moderator's actions send.
    admin
        .post(
            "/api/v1/admin/guilds/kick-member",
            &json!({ "guild_id": guild, "user_id": carol_id }),
        )
        .expect(204);
    let removed = rt.block_on(next_dispatch(&mut bob_ws, "GUILD_MEMBER_REMOVE"));
    assert_eq!(removed["d"]["user"]["id"], carol_id.as_str());
    carol
        .get(&format!("/api/v1/guilds/{guild}"))
        .expect_error(404, "UNKNOWN_GUILD");
    admin
        .post(
            "/api/v1/admin/guilds/kick-member",
            &json!({ "guild_id": guild, "user_id": carol_id }),
        )
        .expect_error(404, "UNKNOWN_MEMBER");
    let added = admin
        .post(
            "/api/v1/admin/guilds/force-add-user",
            &json!({ "guild_id": guild, "user_id": carol_id }),
        )
        .expect(200)
        .json();
    assert_eq!(added, json!({ "success": true }));
    let joined = rt.block_on(next_dispatch(&mut bob_ws, "GUILD_MEMBER_ADD"));
    assert_eq!(joined["d"]["user"]["id"], carol_id.as_str());
    admin
        .post(
            "/api/v1/admin/guilds/ban-member",
            &json!({ "guild_id": guild, "user_id": carol_id, "delete_message_days": 1, "reason": "spam" }),
        )
        .expect(204);
    let banned = rt.block_on(next_dispatch(&mut bob_ws, "GUILD_BAN_ADD"));
    assert_eq!(banned["d"]["user"]["id"], carol_id.as_str());
    let bans = alice
        .get(&format!("/api/v1/guilds/{guild}/bans"))
        .expect(200)
        .json();
    assert_eq!(bans[0]["user"]["id"], carol_id.as_str());
    assert_eq!(bans[0]["reason"], "spam");
    let history = alice
        .get(&format!("/api/v1/channels/{general}/messages"))
        .expect(200)
        .json();
    assert!(
        history
            .as_array()
            .unwrap()
            .iter()
            .all(|m| m["author"]["id"] != carol_id.as_str()),
        "carol's recent messages are gone: {history}"
    );
    carol
        .post(&format!("/api/v1/invites/{invite}"), &json!({}))
        .expect(403);
    admin
        .post(
            "/api/v1/admin/guilds/ban-member",
            &json!({ "guild_id": guild, "user_id": alice_id }),
        )
        .expect_error(400, "CANNOT_BAN_GUILD_OWNER");
    admin
        .post(
            "/api/v1/admin/guilds/ban-member",
            &json!({ "guild_id": guild, "user_id": bob_id, "delete_message_days": 8 }),
        )
        .expect_error(400, "INVALID_FORM_BODY");

    // The guild's own audit log shows staff's kick, ban and rename, as the staff account.
    let log = alice
        .get(&format!("/api/v1/guilds/{guild}/audit-logs"))
        .expect(200)
        .json();
    let by_staff = |action: u64, target: &str| {
        log["audit_log_entries"]
            .as_array()
            .unwrap()
            .iter()
            .any(|e| {
                e["action_type"] == action
                    && e["user_id"] == admin_id.as_str()
                    && e["target_id"] == target
            })
    };
    assert!(by_staff(20, &carol_id), "kick: {log}");
    assert!(by_staff(22, &carol_id), "ban: {log}");
    assert!(by_staff(1, &guild), "rename: {log}");

    // Bulk: each item done alone, failures listed.
    let bulk = admin
        .post(
            "/api/v1/admin/bulk/update-guild-features",
            &json!({ "guild_ids": [guild, "31337"], "add_features": ["VIP_VOICE"] }),
        )
        .expect(200)
        .json();
    assert_eq!(bulk["successful"], json!([guild]), "{bulk}");
    assert_eq!(bulk["failed"][0]["id"], "31337", "{bulk}");
    rt.block_on(next_dispatch(&mut bob_ws, "GUILD_UPDATE"));
    let bulk = admin
        .post(
            "/api/v1/admin/bulk/add-guild-members",
            &json!({ "guild_id": guild, "user_ids": [admin_id, "4242"] }),
        )
        .expect(200)
        .json();
    assert_eq!(bulk["successful"], json!([admin_id]), "{bulk}");
    assert_eq!(bulk["failed"][0]["id"], "4242", "{bulk}");
    let joined = rt.block_on(next_dispatch(&mut bob_ws, "GUILD_MEMBER_ADD"));
    assert_eq!(joined["d"]["user"]["id"], admin_id.as_str());
    let too_many: Vec<String> = (0..1001).map(|i| (i + 1).to_string()).collect();
    admin
        .post(
            "/api/v1/admin/bulk/add-guild-members",
            &json!({ "guild_id": guild, "user_ids": too_many }),
        )
        .expect_error(400, "INVALID_FORM_BODY");
    lookup_only
        .post(
            "/api/v1/admin/bulk/add-guild-members",
            &json!({ "guild_id": guild, "user_ids": [carol_id] }),
        )
        .expect_error(403, "MISSING_ACL");

    // Ownership moves to bob.
    let moved = admin
        .post(
            "/api/v1/admin/guilds/transfer-ownership",
            &json!({ "guild_id": guild, "new_owner_id": bob_id }),
        )
        .expect(200)
        .json();
    assert_eq!(moved["guild"]["owner_id"], bob_id.as_str());
    let update = rt.block_on(next_dispatch(&mut bob_ws, "GUILD_UPDATE"));
    assert_eq!(update["d"]["owner_id"], bob_id.as_str());

    // The gateway's figures: bob's session is live.
    let stats = admin.get("/api/v1/admin/gateway/stats").expect(200).json();
    assert_eq!(stats["status"], "ok", "{stats}");
    assert!(stats["sessions"].as_u64().unwrap() >= 1, "{stats}");
    assert!(stats["connections"].as_u64().unwrap() >= 1, "{stats}");
    assert!(stats["guilds"].is_u64(), "{stats}");
    assert!(
        stats["memory"]["processes"]
            .as_str()
            .unwrap()
            .parse::<u64>()
            .unwrap()
            > 0
    );
    lookup_only
        .get("/api/v1/admin/gateway/stats")
        .expect_error(403, "MISSING_ACL");

    // Deletion: the members are told, the guild is gone.
    let deleted = admin
        .post("/api/v1/admin/guilds/delete", &json!({ "guild_id": guild }))
        .expect(200)
        .json();
    assert_eq!(deleted, json!({ "success": true }));
    let gone = rt.block_on(next_dispatch(&mut bob_ws, "GUILD_DELETE"));
    assert_eq!(gone["d"]["id"], guild.as_str());
    bob.get(&format!("/api/v1/guilds/{guild}"))
        .expect_error(404, "UNKNOWN_GUILD");
    admin
        .post("/api/v1/admin/guilds/delete", &json!({ "guild_id": guild }))
        .expect_error(404, "UNKNOWN_GUILD");

    // Every action is in the admin audit log, with its reason.
    let actions = audited(&admin, "guild", &guild);
    for action in [
        "guild.update_name",
        "guild.update_settings",
        "guild.update_features",
        "guild.update_vanity",
        "guild.transfer_ownership",
        "guild.delete",
    ] {
        assert!(
            actions.iter().any(|a| a == action),
            "{action} in {actions:?}"
        );
    }
    let member_actions = audited(&admin, "user", &carol_id);
    assert!(
        member_actions.iter().any(|a| a == "guild.kick_member"),
        "{member_actions:?}"
    );
    assert!(
        member_actions.iter().any(|a| a == "guild.ban_member"),
        "{member_actions:?}"
    );
    assert!(
        audited(&admin, "user", &carol_id)
            .iter()
            .any(|a| a == "guild.force_add_member")
    );
    let page = admin
        .post(
            "/api/v1/admin/audit-logs",
            &json!({ "target_type": "guild", "target_id": guild, "limit": 100 }),
        )
        .expect(200)
        .json();
    let rename = page["logs"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["action"] == "guild.update_name")
        .unwrap()
        .clone();
    assert_eq!(rename["admin_user_id"], admin_id.as_str(), "{rename}");
    assert_eq!(rename["audit_log_reason"], "offensive name", "{rename}");
    assert_eq!(
        rename["metadata"]["before.name"], "Admin target",
        "{rename}"
    );
    assert_eq!(
        rename["metadata"]["after.name"], "Renamed by staff",
        "{rename}"
    );
    // The refused calls left nothing: one rename only.
    assert_eq!(
        actions.iter().filter(|a| *a == "guild.update_name").count(),
        1,
        "{actions:?}"
    );
}

#[test]
fn reports_keep_their_evidence_and_staff_resolve_them() {
    let server = Server::start(&[("FLUXER_CONFIG__DEV__DISABLE_RATE_LIMITS", "true")]);
    let anon = server.client();
    let (admin, admin_id) = staff(&server, "radmin@example.com", "radmin");
    let (alice, alice_id) = register(&anon, "r-alice@example.com", "r_alice");
    let (bob, bob_id) = register(&anon, "r-bob@example.com", "r_bob");
    let guild = create_guild(&alice, "Reported");
    let general = general_channel(&alice, &guild);
    invite_and_join(&alice, &general, &bob);
    post_message(&alice, &general, "before the trouble");
    let png = crate::media::png(16, 16);
    let bad = crate::media::upload(
        &bob,
        &general,
        json!({ "content": "something awful" }),
        &[("evidence.png", &png)],
    );
    let bad_id = bad["id"].as_str().unwrap().to_owned();
    let attachment_id = bad["attachments"][0]["id"].as_str().unwrap().to_owned();
    post_message(&bob, &general, "more from bob");
    post_message(&alice, &general, "after the trouble");
    let rt = runtime();
    let mut alice_ws = rt.block_on(identify(&server.addr, alice.token.as_deref().unwrap()));

    // Alice files a report; staff find it pending.
    let filed = alice
        .post(
            "/api/v1/reports/message",
            &json!({ "channel_id": general, "message_id": bad_id, "category": "harassment", "additional_info": "see this" }),
        )
        .expect(200)
        .json();
    let report = filed["report_id"].as_str().unwrap().to_owned();
    let user_report = alice
        .post(
            "/api/v1/reports/user",
            &json!({ "user_id": bob_id, "category": "spam_account" }),
        )
        .expect(200)
        .json()["report_id"]
        .as_str()
        .unwrap()
        .to_owned();
    let pending = admin
        .post("/api/v1/admin/reports/list", &json!({}))
        .expect(200)
        .json();
    let listed: Vec<&str> = pending["reports"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["report_id"].as_str().unwrap())
        .collect();
    assert_eq!(
        listed,
        [user_report.as_str(), report.as_str()],
        "newest first"
    );
    let first = &pending["reports"][1];
    assert_eq!(first["status"], 0);
    assert_eq!(first["report_type"], 0);
    assert_eq!(first["reporter_id"], alice_id.as_str());
    assert_eq!(first["reported_user_id"], bob_id.as_str());
    assert_eq!(first["reported_user_username"], "r_bob");
    assert!(
        first.get("message_context").is_none(),
        "lists carry no context"
    );

    // The message is deleted (by its author) while the report is open: the report kept it.
    bob.delete(&format!("/api/v1/channels/{general}/messages/{bad_id}"))
        .expect(204);
    let detail = admin
        .get(&format!("/api/v1/admin/reports/{report}"))
        .expect(200)
        .json();
    let context = detail["message_context"].as_array().unwrap();
    let kept = context
        .iter()
        .find(|m| m["id"] == bad_id.as_str())
        .unwrap_or_else(|| panic!("the reported message is kept: {detail}"));
    assert_eq!(kept["content"], "something awful");
    assert_eq!(kept["author_username"], "r_bob");
    assert!(
        context.iter().any(|m| m["content"] == "before the trouble")
            && context.iter().any(|m| m["content"] == "after the trouble"),
        "its neighbours too: {detail}"
    );
    let url = path_of(kept["attachments"][0]["url"].as_str().unwrap());
    assert_eq!(kept["attachments"][0]["filename"], "evidence.png");
    // The message's own file goes with it; the report's copy stays.
    eventually("the deleted message's file to be removed", || {
        let original = bad["attachments"][0]["url"].as_str().unwrap();
        (anon.get(&path_of(original)).status == 404).then_some(())
    });
    assert_eq!(anon.get(&url).expect(200).body, png, "the kept copy: {url}");
    admin
        .get("/api/v1/admin/reports/999")
        .expect_error(404, "UNKNOWN_REPORT");
    admin
        .get("/api/v1/admin/reports/not-a-number")
        .expect_error(400, "INVALID_FORM_BODY");

    // Search by what is reported and by text.
    let by_user = admin
        .post(
            "/api/v1/admin/reports/search",
            &json!({ "reported_user_id": bob_id, "report_type": 1 }),
        )
        .expect(200)
        .json();
    assert_eq!(by_user["total"], 1, "{by_user}");
    assert_eq!(by_user["reports"][0]["report_id"], user_report.as_str());
    let by_text = admin
        .post("/api/v1/admin/reports/search", &json!({ "query": "AWFUL" }))
        .expect(200)
        .json();
    assert_eq!(by_text["total"], 1, "{by_text}");
    assert_eq!(by_text["reports"][0]["report_id"], report.as_str());
    admin
        .post("/api/v1/admin/reports/search", &json!({ "status": 7 }))
        .expect_error(400, "INVALID_FORM_BODY");
    admin
        .post("/api/v1/admin/reports/list", &json!({ "limit": 0 }))
        .expect_error(400, "INVALID_FORM_BODY");

    // A key that may only read reports cannot resolve them.
    let viewer = key_with(&server, &admin, &["report:view"]);
    viewer
        .post("/api/v1/admin/reports/list", &json!({}))
        .expect(200);
    viewer
        .post(
            "/api/v1/admin/reports/resolve",
            &json!({ "report_id": report }),
        )
        .expect_error(403, "MISSING_ACL");
    let still = admin
        .get(&format!("/api/v1/admin/reports/{report}"))
        .expect(200)
        .json();
    assert_eq!(still["status"], 0);
    let no_acl = key_with(&server, &admin, &["guild:lookup"]);
    no_acl
        .post("/api/v1/admin/reports/list", &json!({}))
        .expect_error(403, "MISSING_ACL");
    no_acl
        .get(&format!("/api/v1/admin/reports/{report}"))
        .expect_error(403, "MISSING_ACL");

    // Staff resolve it; a second resolution is refused.
    admin
        .post(
            "/api/v1/admin/reports/resolve",
            &json!({ "report_id": report, "public_comment": "x".repeat(1001) }),
        )
        .expect_error(400, "INVALID_FORM_BODY");
    let resolved = admin
        .post(
            "/api/v1/admin/reports/resolve",
            &json!({ "report_id": report, "public_comment": "We removed it." }),
        )
        .expect(200)
        .json();
    assert_eq!(resolved["report_id"], report.as_str());
    assert_eq!(resolved["status"], 1);
    assert_eq!(resolved["public_comment"], "We removed it.");
    assert!(resolved["resolved_at"].is_string());
    admin
        .post(
            "/api/v1/admin/reports/resolve",
            &json!({ "report_id": report }),
        )
        .expect_error(400, "REPORT_ALREADY_RESOLVED");
    admin
        .post(
            "/api/v1/admin/reports/resolve",
            &json!({ "report_id": "42" }),
        )
        .expect_error(404, "UNKNOWN_REPORT");
    let done = admin
        .post("/api/v1/admin/reports/list", &json!({ "status": 1 }))
        .expect(200)
        .json();
    assert_eq!(done["reports"][0]["report_id"], report.as_str());
    assert_eq!(
        done["reports"][0]["resolved_by_admin_id"],
        admin_id.as_str()
    );
    let open = admin
        .post("/api/v1/admin/reports/list", &json!({ "status": 0 }))
        .expect(200)
        .json();
    assert_eq!(open["reports"].as_array().unwrap().len(), 1);
    assert!(
        audited(&admin, "report", &report)
            .iter()
            .any(|a| a == "report.resolve")
    );

    // Messages: lookup with context, lookup by file, delete, delete all of a user's.
    let alice_msg = post_message(&alice, &general, "plain words");
    let alice_msg_id = alice_msg["id"].as_str().unwrap().to_owned();
    let looked = admin
        .post(
            "/api/v1/admin/messages/lookup",
            &json!({ "channel_id": general, "message_id": alice_msg_id, "context_limit": 4 }),
        )
        .expect(200)
        .json();
    assert_eq!(looked["message_id"], alice_msg_id.as_str());
    let contents: Vec<&str> = looked["messages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["content"].as_str().unwrap())
        .collect();
    assert_eq!(
        contents,
        ["more from bob", "after the trouble", "plain words"],
        "two before it, none after"
    );
    let with_file = crate::media::upload(
        &bob,
        &general,
        json!({ "content": "a file" }),
        &[("cat.png", &png)],
    );
    let by_file = admin
        .post(
            "/api/v1/admin/messages/lookup-by-attachment",
            &json!({
                "channel_id": general,
                "attachment_id": with_file["attachments"][0]["id"],
                "filename": "cat.png",
                "context_limit": 1,
            }),
        )
        .expect(200)
        .json();
    assert_eq!(by_file["message_id"], with_file["id"]);
    assert_eq!(by_file["messages"][0]["content"], "a file");
    let no_file = admin
        .post(
            "/api/v1/admin/messages/lookup-by-attachment",
            &json!({ "channel_id": general, "attachment_id": attachment_id, "filename": "other.png" }),
        )
        .expect(200)
        .json();
    assert!(no_file["message_id"].is_null());
    admin
        .post(
            "/api/v1/admin/messages/lookup",
            &json!({ "channel_id": "77", "message_id": alice_msg_id }),
        )
        .expect_error(404, "UNKNOWN_CHANNEL");
    let deleter = key_with(&server, &admin, &["message:lookup"]);
    deleter
        .post(
            "/api/v1/admin/messages/delete",
            &json!({ "channel_id": general, "message_id": alice_msg_id }),
        )
        .expect_error(403, "MISSING_ACL");
    admin
        .post(
            "/api/v1/admin/messages/delete",
            &json!({ "channel_id": general, "message_id": alice_msg_id }),
        )
        .expect(200);
    // (Bob's own deletion of the reported message came first.)
    rt.block_on(async {
        while next_dispatch(&mut alice_ws, "MESSAGE_DELETE").await["d"]["id"]
            != alice_msg_id.as_str()
        {}
    });
    admin
        .post(
            "/api/v1/admin/messages/delete",
            &json!({ "channel_id": general, "message_id": alice_msg_id }),
        )
        .expect_error(404, "UNKNOWN_MESSAGE");
    assert!(
        audited(&admin, "message", &alice_msg_id)
            .iter()
            .any(|a| a == "message.delete")
    );

    // Everything bob wrote: counted first, then deleted, in his guild and his DMs.
    let dm = bob
        .post(
            "/api/v1/users/@me/channels",
            &json!({ "recipient_id": alice_id }),
        )
        .expect(200)
        .json()["id"]
        .as_str()
        .unwrap()
        .to_owned();
    post_message(&bob, &dm, "psst");
    let dry = admin
        .post(
            "/api/v1/admin/messages/delete-all",
            &json!({ "user_id": bob_id, "dry_run": true }),
        )
        .expect(200)
        .json();
    assert_eq!(dry["dry_run"], true);
    assert_eq!(dry["channel_count"], 2, "{dry}");
    assert_eq!(dry["message_count"], 3, "{dry}");
    let count_bob = |channel: &str| {
        alice
            .get(&format!("/api/v1/channels/{channel}/messages?limit=100"))
            .expect(200)
            .json()
            .as_array()
            .unwrap()
            .iter()
            .filter(|m| m["author"]["id"] == bob_id.as_str())
            .count()
    };
    assert_eq!(count_bob(&general), 2, "the dry run deleted nothing");
    let wiped = admin
        .post(
            "/api/v1/admin/messages/delete-all",
            &json!({ "user_id": bob_id }),
        )
        .expect(200)
        .json();
    assert_eq!(wiped["dry_run"], false);
    assert_eq!(wiped["message_count"], 3);
    let bulk = rt.block_on(next_dispatch(&mut alice_ws, "MESSAGE_DELETE_BULK"));
    assert!(!bulk["d"]["ids"].as_array().unwrap().is_empty());
    assert_eq!(count_bob(&general), 0);
    assert_eq!(count_bob(&dm), 0);
    assert!(
        audited(&admin, "user", &bob_id)
            .iter()
            .any(|a| a == "message.delete_all")
    );
    admin
        .post(
            "/api/v1/admin/messages/delete-all",
            &json!({ "user_id": "5" }),
        )
        .expect_error(404, "UNKNOWN_USER");

    // A search index refresh: a job staff poll until it completes, having handed the guild's
    // messages to the indexer; the index answers for them after it.
    post_message(&alice, &general, "needle in the haystack");
    let started = admin
        .post(
            "/api/v1/admin/search/refresh-index",
            &json!({ "index_type": "channel_messages", "guild_id": guild }),
        )
        .expect(200)
        .json();
    assert_eq!(started["success"], true);
    let job = started["job_id"].as_str().unwrap().to_owned();
    let status = eventually("the refresh to complete", || {
        let s = admin
            .post(
                "/api/v1/admin/search/refresh-status",
                &json!({ "job_id": job }),
            )
            .expect(200)
            .json();
        (s["status"] != "in_progress").then_some(s)
    });
    assert_eq!(status["status"], "completed", "{status}");
    assert_eq!(status["index_type"], "channel_messages");
    assert!(status["indexed"].as_u64().unwrap() >= 3, "{status}");
    eventually("the message to be searchable", || {
        let hits = alice
            .get(&format!(
                "/api/v1/guilds/{guild}/messages/search?content=needle"
            ))
            .json();
        (hits["total_results"].as_u64() == Some(1)).then_some(())
    });
    let unknown = admin
        .post(
            "/api/v1/admin/search/refresh-status",
            &json!({ "job_id": "nope" }),
        )
        .expect(200)
        .json();
    assert_eq!(unknown, json!({ "status": "not_found" }));
    admin
        .post(
            "/api/v1/admin/search/refresh-index",
            &json!({ "index_type": "reports" }),
        )
        .expect_error(400, "INVALID_FORM_BODY");
    admin
        .post(
            "/api/v1/admin/search/refresh-index",
            &json!({ "index_type": "everything" }),
        )
        .expect_error(400, "INVALID_FORM_BODY");
    key_with(&server, &admin, &["report:view"])
        .post(
            "/api/v1/admin/search/refresh-index",
            &json!({ "index_type": "users" }),
        )
        .expect_error(403, "MISSING_ACL");
    assert!(
        audited(&admin, "search_index", "channel_messages")
            .iter()
            .any(|a| a == "search.refresh_index")
    );

    // The reported conversation is still there for staff after all of it was deleted.
    let detail = admin
        .get(&format!("/api/v1/admin/reports/{report}"))
        .expect(200)
        .json();
    assert!(
        detail["message_context"]
            .as_array()
            .unwrap()
            .iter()
            .any(|m| m["content"] == "more from bob")
    );
}
