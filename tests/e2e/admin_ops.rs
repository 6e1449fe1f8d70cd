//! The operations side of the admin API: a guild's live state (`/admin/guilds/{reload,shutdown,
//! clear-fields}`, `/admin/gateway/{memory-stats,reload-all}`), its images
//! (`/admin/guilds/{id}/{emojis,stickers}`, `/admin/assets/purge`), message shredding on the job
//! queue, legal holds on reports and system DMs. Members see what upstream's clients see; each
//! action leaves an admin audit entry; a key without the ACL gets 403 `MISSING_ACL` whatever it
//! sends, and a bad body a clear error with nothing changed.

use serde_json::{Value, json};

use crate::admin_content::{audited, eventually, key_with, path_of};
use crate::community::data_uri;
use crate::gateway::{identify, next_dispatch, runtime};
use crate::harness::Server;
use crate::staff;
use crate::{create_guild, general_channel, invite_and_join, post_message, register};

#[test]
fn staff_reload_shut_down_and_clean_up_guilds() {
    let server = Server::start(&[("FLUXER_CONFIG__DEV__DISABLE_RATE_LIMITS", "true")]);
    let anon = server.client();
    let (admin, _) = staff(&server, "ops-admin@example.com", "opsadmin");
    let (alice, alice_id) = register(&anon, "ops-alice@example.com", "ops_alice");
    let (bob, _) = register(&anon, "ops-bob@example.com", "ops_bob");
    let guild = create_guild(&alice, "Ops target");
    let general = general_channel(&alice, &guild);
    invite_and_join(&alice, &general, &bob);
    let png = crate::media::png(64, 64);
    alice
        .patch(
            &format!("/api/v1/guilds/{guild}"),
            &json!({ "icon": data_uri("image/png", &png) }),
        )
        .expect(200);
    let emoji = alice
        .post(
            &format!("/api/v1/guilds/{guild}/emojis"),
            &json!({ "name": "opsblob", "image": data_uri("image/png", &png) }),
        )
        .expect(200)
        .json();
    let emoji_id = emoji["id"].as_str().unwrap().to_owned();
    let rt = runtime();
    let mut bob_ws = rt.block_on(identify(&server.addr, bob.token.as_deref().unwrap()));

    // A key without the ACLs: refused whatever it sends; nothing changes.
    let narrow = key_with(&server, &admin, &["guild:lookup"]);
    for (path, body) in [
        ("/api/v1/admin/guilds/reload", json!({ "guild_id": guild })),
        (
            "/api/v1/admin/guilds/shutdown",
            json!({ "guild_id": guild }),
        ),
        (
            "/api/v1/admin/guilds/clear-fields",
            json!({ "guild_id": guild, "fields": ["icon"] }),
        ),
        ("/api/v1/admin/assets/purge", json!({ "ids": [emoji_id] })),
        ("/api/v1/admin/gateway/memory-stats", json!({})),
        (
            "/api/v1/admin/gateway/reload-all",
            json!({ "guild_ids": [] }),
        ),
        ("/api/v1/admin/guilds/reload", json!("not an object")),
    ] {
        narrow.post(path, &body).expect_error(403, "MISSING_ACL");
    }
    narrow
        .get(&format!("/api/v1/admin/guilds/{guild}/emojis"))
        .expect_error(403, "MISSING_ACL");
    alice
        .post("/api/v1/admin/guilds/reload", &json!({ "guild_id": guild }))
        .expect_error(403, "MISSING_PERMISSIONS");
    let icon = alice
        .get(&format!("/api/v1/guilds/{guild}"))
        .expect(200)
        .json()["icon"]
        .clone();
    assert!(icon.is_string(), "{icon}");

    // The asset lists.
    let emojis = admin
        .get(&format!("/api/v1/admin/guilds/{guild}/emojis"))
        .expect(200)
        .json();
    assert_eq!(emojis["guild_id"], guild.as_str());
    let listed = &emojis["emojis"][0];
    assert_eq!(listed["id"], emoji_id.as_str());
    assert_eq!(listed["name"], "opsblob");
    assert_eq!(listed["animated"], false);
    assert_eq!(listed["creator_id"], alice_id.as_str());
    let url = listed["media_url"].as_str().unwrap();
    assert!(
        url.ends_with(&format!("/media/emojis/{emoji_id}.webp?size=160")),
        "{url}"
    );
    let stickers = admin
        .get(&format!("/api/v1/admin/guilds/{guild}/stickers"))
        .expect(200)
        .json();
    assert_eq!(stickers, json!({ "guild_id": guild, "stickers": [] }));
    admin
        .get("/api/v1/admin/guilds/12345/emojis")
        .expect_error(404, "UNKNOWN_GUILD");

    // Reload: members get the guild as stored.
    admin
        .post("/api/v1/admin/guilds/reload", &json!({ "guild_id": guild }))
        .expect(200);
    let update = rt.block_on(next_dispatch(&mut bob_ws, "GUILD_UPDATE"));
    assert_eq!(update["d"]["id"], guild.as_str());
    assert_eq!(update["d"]["name"], "Ops target");
    admin
        .post(
            "/api/v1/admin/guilds/reload",
            &json!({ "guild_id": "12345" }),
        )
        .expect_error(404, "UNKNOWN_GUILD");
    admin
        .post("/api/v1/admin/guilds/reload", &json!({ "guild": guild }))
        .expect_error(400, "INVALID_FORM_BODY");

    // Shutdown: the guild goes unavailable, then comes back whole; the session still follows it.
    admin
        .post(
            "/api/v1/admin/guilds/shutdown",
            &json!({ "guild_id": guild }),
        )
        .expect(200);
    let gone = rt.block_on(next_dispatch(&mut bob_ws, "GUILD_DELETE"));
    assert_eq!(gone["d"], json!({ "id": guild, "unavailable": true }));
    let back = rt.block_on(next_dispatch(&mut bob_ws, "GUILD_CREATE"));
    assert_eq!(back["d"]["id"], guild.as_str());
    assert!(
        back["d"]["channels"]
            .as_array()
            .unwrap()
            .iter()
            .any(|c| c["id"] == general.as_str()),
        "{back}"
    );
    let sent = post_message(&alice, &general, "still here");
    let msg = rt.block_on(next_dispatch(&mut bob_ws, "MESSAGE_CREATE"));
    assert_eq!(msg["d"]["content"], "still here");
    // As upstream's dispatch: the author's member and the channel's type beside the message.
    assert_eq!(msg["d"]["channel_id"], general.as_str());
    assert_eq!(msg["d"]["guild_id"], guild.as_str());
    assert_eq!(msg["d"]["channel_type"], 0, "{msg}");
    assert!(msg["d"]["member"]["joined_at"].is_string(), "{msg}");
    assert!(msg["d"]["member"]["roles"].is_array(), "{msg}");
    assert_eq!(msg["d"]["member"]["user"], sent["author"], "{msg}");
    // Beside those two, the event is the message as its sender was answered, field for field.
    let mut message = msg["d"].clone();
    let fields = message.as_object_mut().unwrap();
    fields.remove("member");
    fields.remove("channel_type");
    assert_eq!(message, sent);

    // The gateway's view: the guild is held, with bob's session.
    let stats = admin
        .post(
            "/api/v1/admin/gateway/memory-stats",
            &json!({ "limit": 10 }),
        )
        .expect(200)
        .json();
    let held = stats["guilds"]
        .as_array()
        .unwrap()
        .iter()
        .find(|g| g["guild_id"] == guild.as_str())
        .unwrap_or_else(|| panic!("guild not held: {stats}"))
        .clone();
    assert_eq!(held["guild_name"], "Ops target");
    assert_eq!(held["member_count"], 2);
    assert_eq!(held["session_count"], 1);
    assert!(held["memory"].as_str().unwrap().parse::<u64>().unwrap() > 0);
    admin
        .post("/api/v1/admin/gateway/memory-stats", &json!({ "limit": 0 }))
        .expect_error(400, "INVALID_FORM_BODY");
    let all = admin
        .post(
            "/api/v1/admin/gateway/reload-all",
            &json!({ "guild_ids": [] }),
        )
        .expect(200)
        .json();
    assert!(all["count"].as_u64().unwrap() >= 1, "{all}");
    rt.block_on(next_dispatch(&mut bob_ws, "GUILD_UPDATE"));
    let named = admin
        .post(
            "/api/v1/admin/gateway/reload-all",
            &json!({ "guild_ids": [guild, "12345"] }),
        )
        .expect(200)
        .json();
    assert_eq!(named, json!({ "count": 1 }));
    let update = rt.block_on(next_dispatch(&mut bob_ws, "GUILD_UPDATE"));
    assert_eq!(update["d"]["id"], guild.as_str());
    let too_many: Vec<String> = (1..=1001).map(|i| i.to_string()).collect();
    admin
        .post(
            "/api/v1/admin/gateway/reload-all",
            &json!({ "guild_ids": too_many }),
        )
        .expect_error(400, "INVALID_FORM_BODY");

    // Clearing images: a bad field refused, then the icon goes.
    admin
        .post(
            "/api/v1/admin/guilds/clear-fields",
            &json!({ "guild_id": guild, "fields": ["name"] }),
        )
        .expect_error(400, "INVALID_FORM_BODY");
    let still = alice
        .get(&format!("/api/v1/guilds/{guild}"))
        .expect(200)
        .json();
    assert_eq!(still["icon"], icon);
    admin
        .post(
            "/api/v1/admin/guilds/clear-fields",
            &json!({ "guild_id": guild, "fields": ["icon", "embed_splash"] }),
        )
        .expect(204);
    let update = rt.block_on(next_dispatch(&mut bob_ws, "GUILD_UPDATE"));
    assert!(update["d"]["icon"].is_null(), "{update}");
    let cleared = alice
        .get(&format!("/api/v1/guilds/{guild}"))
        .expect(200)
        .json();
    assert!(cleared["icon"].is_null(), "{cleared}");

    // Purging assets: the emoji and its file go, members get the new list; a number that names
    // nothing is purged as unknown; a non-number is refused by itself.
    admin
        .post("/api/v1/admin/assets/purge", &json!({ "ids": "nope" }))
        .expect_error(400, "INVALID_FORM_BODY");
    let many: Vec<String> = (1..=101).map(|i| i.to_string()).collect();
    admin
        .post("/api/v1/admin/assets/purge", &json!({ "ids": many }))
        .expect_error(400, "INVALID_FORM_BODY");
    anon.get(&format!("/media/emojis/{emoji_id}.webp"))
        .expect(200);
    let purged = admin
        .post(
            "/api/v1/admin/assets/purge",
            &json!({ "ids": [emoji_id, " ", "abc", "424242", emoji_id] }),
        )
        .expect(200)
        .json();
    assert_eq!(
        purged["processed"],
        json!([
            { "id": emoji_id, "asset_type": "emoji", "found_in_db": true, "guild_id": guild },
            { "id": "424242", "asset_type": "unknown", "found_in_db": false, "guild_id": null },
        ])
    );
    assert_eq!(
        purged["errors"],
        json!([{ "id": "abc", "error": "Invalid numeric ID" }])
    );
    let list = rt.block_on(next_dispatch(&mut bob_ws, "GUILD_EMOJIS_UPDATE"));
    assert_eq!(list["d"]["emojis"], json!([]));
    eventually("the emoji's file to go", || {
        (anon.get(&format!("/media/emojis/{emoji_id}.webp")).status == 404).then_some(())
    });

    // Every action is in the admin audit log.
    let actions = audited(&admin, "guild", &guild);
    for action in ["guild.reload", "guild.shutdown", "guild.clear_fields"] {
        assert!(actions.iter().any(|a| a == action), "{action}: {actions:?}");
    }
    assert_eq!(
        audited(&admin, "guild_emoji", &emoji_id),
        ["asset.purge_guild_emoji"]
    );
    assert_eq!(audited(&admin, "asset", "424242"), ["asset.purge"]);
}

#[test]
fn staff_shred_messages_through_the_job_queue() {
    let server = Server::start(&[("FLUXER_CONFIG__DEV__DISABLE_RATE_LIMITS", "true")]);
    let anon = server.client();
    let (admin, _) = staff(&server, "shred-admin@example.com", "shredadmin");
    let (alice, _) = register(&anon, "shred-alice@example.com", "shred_alice");
    let (bob, bob_id) = register(&anon, "shred-bob@example.com", "shred_bob");
    let guild = create_guild(&alice, "Shred target");
    let general = general_channel(&alice, &guild);
    invite_and_join(&alice, &general, &bob);
    let bobs: Vec<String> = (0..3)
        .map(|i| {
            post_message(&bob, &general, &format!("bob {i}"))["id"]
                .as_str()
                .unwrap()
                .to_owned()
        })
        .collect();
    let alices = post_message(&alice, &general, "alice stays")["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let rt = runtime();
    let mut alice_ws = rt.block_on(identify(&server.addr, alice.token.as_deref().unwrap()));

    let entry = |id: &str| json!({ "channel_id": general, "message_id": id });
    let narrow = key_with(&server, &admin, &["message:lookup"]);
    narrow
        .post(
            "/api/v1/admin/messages/shred",
            &json!({ "user_id": bob_id, "entries": [entry(&bobs[0])] }),
        )
        .expect_error(403, "MISSING_ACL");
    narrow
        .post(
            "/api/v1/admin/messages/shred-status",
            &json!({ "job_id": "1" }),
        )
        .expect_error(403, "MISSING_ACL");
    for bad in [
        json!({ "user_id": bob_id, "entries": [] }),
        json!({ "user_id": bob_id }),
        json!({ "user_id": bob_id, "entries": [{ "channel_id": general }] }),
    ] {
        admin
            .post("/api/v1/admin/messages/shred", &bad)
            .expect_error(400, "INVALID_FORM_BODY");
    }
    let too_many: Vec<Value> = (1..=1001).map(|i| entry(&i.to_string())).collect();
    admin
        .post(
            "/api/v1/admin/messages/shred",
            &json!({ "user_id": bob_id, "entries": too_many }),
        )
        .expect_error(400, "INVALID_FORM_BODY");

    // Bob's three go; Alice's, a repeat and a missing one are skipped.
    let queued = admin
        .post(
            "/api/v1/admin/messages/shred",
            &json!({ "user_id": bob_id, "entries": [
                entry(&bobs[0]), entry(&bobs[1]), entry(&bobs[2]),
                entry(&alices), entry(&bobs[0]), entry("12345"),
            ] }),
        )
        .expect(200)
        .json();
    assert_eq!(queued["success"], true);
    assert_eq!(queued["requested"], 6);
    let job = queued["job_id"].as_str().unwrap().to_owned();
    let done = eventually("the shred to complete", || {
        let s = admin
            .post(
                "/api/v1/admin/messages/shred-status",
                &json!({ "job_id": job }),
            )
            .expect(200)
            .json();
        (s["status"] == "completed").then_some(s)
    });
    assert_eq!(done["requested"], 6);
    assert_eq!(done["total"], 3);
    assert_eq!(done["processed"], 3);
    assert_eq!(done["skipped"], 3);
    assert!(done["completed_at"].is_string(), "{done}");
    let bulk = rt.block_on(next_dispatch(&mut alice_ws, "MESSAGE_DELETE_BULK"));
    let mut ids: Vec<String> = bulk["d"]["ids"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap().to_owned())
        .collect();
    ids.sort();
    let mut expected = bobs.clone();
    expected.sort();
    assert_eq!(ids, expected);
    let left = alice
        .get(&format!("/api/v1/channels/{general}/messages"))
        .expect(200)
        .json();
    let contents: Vec<&str> = left
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|m| m["content"].as_str())
        .collect();
    assert!(contents.contains(&"alice stays"), "{contents:?}");
    assert!(
        !contents.iter().any(|c| c.starts_with("bob ")),
        "{contents:?}"
    );
    assert_eq!(
        admin
            .post(
                "/api/v1/admin/messages/shred-status",
                &json!({ "job_id": "999" })
            )
            .expect(200)
            .json(),
        json!({ "status": "not_found" })
    );
    assert_eq!(audited(&admin, "user", &bob_id), ["message.shred"]);
}

#[test]
fn legal_holds_and_system_dms() {
    let server = Server::start(&[("FLUXER_CONFIG__DEV__DISABLE_RATE_LIMITS", "true")]);
    let anon = server.client();
    let (admin, _) = staff(&server, "dm-admin@example.com", "dmadmin");
    let (alice, _) = register(&anon, "dm-alice@example.com", "dm_alice");
    let (bob, bob_id) = register(&anon, "dm-bob@example.com", "dm_bob");
    let (carol, _) = register(&anon, "dm-carol@example.com", "dm_carol");
    let (_, system_id) = register(&anon, "dm-system@example.com", "dm_system");
    let guild = create_guild(&alice, "Excluded");
    let general = general_channel(&alice, &guild);
    invite_and_join(&alice, &general, &bob);

    // Legal holds on a report.
    let report = alice
        .post(
            "/api/v1/reports/user",
            &json!({ "user_id": bob_id, "category": "spam_account" }),
        )
        .expect(200)
        .json()["report_id"]
        .as_str()
        .unwrap()
        .to_owned();
    let hold = format!("/api/v1/admin/reports/{report}/legal-hold");
    let viewer = key_with(&server, &admin, &["report:view"]);
    viewer
        .post(&hold, &json!({}))
        .expect_error(403, "MISSING_ACL");
    viewer.delete(&hold).expect_error(403, "MISSING_ACL");
    assert_eq!(
        viewer.get(&hold).expect(200).json(),
        json!({ "held": false })
    );
    admin
        .post(&hold, &json!({ "expires_at": "2001-01-01T00:00:00Z" }))
        .expect_error(400, "INVALID_FORM_BODY");
    admin
        .post(&hold, &json!({ "expires_at": "someday" }))
        .expect_error(400, "INVALID_FORM_BODY");
    assert_eq!(
        admin.get(&hold).expect(200).json(),
        json!({ "held": false })
    );
    assert_eq!(
        admin.post(&hold, &json!({})).expect(200).json(),
        json!({ "held": true })
    );
    assert_eq!(
        viewer.get(&hold).expect(200).json(),
        json!({ "held": true })
    );
    assert_eq!(
        admin
            .post(&hold, &json!({ "expires_at": "2999-01-01T00:00:00Z" }))
            .expect(200)
            .json(),
        json!({ "held": true })
    );
    assert_eq!(
        admin.delete(&hold).expect(200).json(),
        json!({ "held": false })
    );
    assert_eq!(
        admin.get(&hold).expect(200).json(),
        json!({ "held": false })
    );
    admin
        .get("/api/v1/admin/reports/12345/legal-hold")
        .expect_error(404, "UNKNOWN_REPORT");
    assert_eq!(
        audited(&admin, "report", &report),
        [
            "report.legal_hold_release",
            "report.legal_hold",
            "report.legal_hold"
        ]
    );

    // System DMs: composed, refused when malformed, approved once, sent by the queue.
    admin
        .post(
            "/api/v1/admin/users/set-system-status",
            &json!({ "user_id": system_id, "system": true }),
        )
        .expect(200);
    let narrow = key_with(&server, &admin, &["user:lookup"]);
    narrow
        .post("/api/v1/admin/system-dm-jobs", &json!({ "content": "hi" }))
        .expect_error(403, "MISSING_ACL");
    narrow
        .get("/api/v1/admin/system-dm-jobs")
        .expect_error(403, "MISSING_ACL");
    for bad in [
        json!({ "content": "" }),
        json!({ "content": "x".repeat(4001) }),
        json!({ "content": "hi", "registration_start": "yesterday" }),
        json!({ "content": "hi", "registration_start": "2030-01-01T00:00:00Z", "registration_end": "2020-01-01T00:00:00Z" }),
    ] {
        admin
            .post("/api/v1/admin/system-dm-jobs", &bad)
            .expect_error(400, "INVALID_FORM_BODY");
    }
    assert_eq!(
        admin.get("/api/v1/admin/system-dm-jobs").expect(200).json()["jobs"],
        json!([])
    );
    let job = admin
        .post(
            "/api/v1/admin/system-dm-jobs",
            &json!({ "content": "Maintenance tonight.", "registration_start": "2020-01-01T00:00:00Z", "excluded_guild_ids": [guild] }),
        )
        .expect(200)
        .json();
    assert_eq!(job["status"], "pending");
    // The staff account and Carol; not the system account, nor the excluded guild's members.
    assert_eq!(job["target_count"], 2, "{job}");
    assert_eq!(job["excluded_guild_ids"], json!([guild]));
    let job_id = job["job_id"].as_str().unwrap().to_owned();
    let approve = format!("/api/v1/admin/system-dm-jobs/{job_id}/approve");
    narrow
        .post(&approve, &json!({}))
        .expect_error(403, "MISSING_ACL");
    admin
        .post("/api/v1/admin/system-dm-jobs/12345/approve", &json!({}))
        .expect_error(400, "INVALID_FORM_BODY");
    let approved = admin.post(&approve, &json!({})).expect(200).json();
    assert_ne!(approved["status"], "pending", "{approved}");
    assert!(approved["approved_at"].is_string(), "{approved}");
    let done = eventually("the system DMs to be sent", || {
        let page = admin.get("/api/v1/admin/system-dm-jobs").expect(200).json();
        let j = page["jobs"][0].clone();
        (j["status"] == "completed").then_some(j)
    });
    assert_eq!(done["sent_count"], 2, "{done}");
    assert_eq!(done["failed_count"], 0, "{done}");
    admin
        .post(&approve, &json!({}))
        .expect_error(400, "INVALID_FORM_BODY");
    let dms = carol.get("/api/v1/users/@me/channels").expect(200).json();
    let dm = dms
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["recipients"][0]["id"] == system_id.as_str())
        .unwrap_or_else(|| panic!("no DM from the system account: {dms}"))
        .clone();
    let messages = carol
        .get(&format!(
            "/api/v1/channels/{}/messages",
            dm["id"].as_str().unwrap()
        ))
        .expect(200)
        .json();
    assert_eq!(messages[0]["content"], "Maintenance tonight.");
    assert_eq!(messages[0]["author"]["id"], system_id.as_str());
    let bobs = bob.get("/api/v1/users/@me/channels").expect(200).json();
    assert_eq!(bobs, json!([]), "the excluded guild's members get nothing");
    assert_eq!(
        audited(&admin, "system_dm_job", &job_id),
        ["system_dm_job.approve", "system_dm_job.create"]
    );
}

/// The path and query of an absolute URL.
#[test]
fn staff_archive_users_and_guilds() {
    let server = Server::start(&[("FLUXER_CONFIG__DEV__DISABLE_RATE_LIMITS", "true")]);
    let anon = server.client();
    let (admin, admin_id) = staff(&server, "arch-admin@example.com", "archadmin");
    let (alice, alice_id) = register(&anon, "arch-alice@example.com", "arch_alice");
    let guild = create_guild(&alice, "Archived");
    let general = general_channel(&alice, &guild);
    post_message(&alice, &general, "for the record");

    // ACLs: none of the archive ACLs, or the other kind's.
    let narrow = key_with(&server, &admin, &["user:lookup"]);
    narrow
        .post(
            "/api/v1/admin/archives/user",
            &json!({ "user_id": alice_id }),
        )
        .expect_error(403, "MISSING_ACL");
    narrow
        .post("/api/v1/admin/archives/list", &json!({}))
        .expect_error(403, "MISSING_ACL");
    let users_only = key_with(&server, &admin, &["archive:trigger:user"]);
    users_only
        .post(
            "/api/v1/admin/archives/guild",
            &json!({ "guild_id": guild }),
        )
        .expect_error(403, "MISSING_ACL");
    users_only
        .post(
            "/api/v1/admin/archives/list",
            &json!({ "subject_type": "all" }),
        )
        .expect_error(403, "MISSING_ACL");
    users_only
        .post(
            "/api/v1/admin/archives/list",
            &json!({ "subject_type": "guild" }),
        )
        .expect_error(403, "MISSING_ACL");

    // Bad bodies.
    admin
        .post("/api/v1/admin/archives/user", &json!({}))
        .expect_error(400, "INVALID_FORM_BODY");
    admin
        .post(
            "/api/v1/admin/archives/user",
            &json!({ "user_id": "12345" }),
        )
        .expect_error(404, "UNKNOWN_USER");
    admin
        .post(
            "/api/v1/admin/archives/guild",
            &json!({ "guild_id": "12345" }),
        )
        .expect_error(404, "UNKNOWN_GUILD");
    admin
        .post(
            "/api/v1/admin/archives/list",
            &json!({ "subject_id": alice_id }),
        )
        .expect_error(400, "INVALID_FORM_BODY");
    admin
        .post("/api/v1/admin/archives/list", &json!({ "limit": 500 }))
        .expect_error(400, "INVALID_FORM_BODY");
    assert_eq!(
        admin
            .post("/api/v1/admin/archives/list", &json!({}))
            .expect(200)
            .json(),
        json!({ "archives": [] })
    );

    // A user's archive: built by the queue, downloaded through a signed link.
    let started = users_only
        .post(
            "/api/v1/admin/archives/user",
            &json!({ "user_id": alice_id }),
        )
        .expect(200)
        .json();
    assert_eq!(started["subject_type"], "user");
    assert_eq!(started["subject_id"], alice_id.as_str());
    assert_eq!(started["requested_by"], admin_id.as_str());
    let user_archive = started["archive_id"].as_str().unwrap().to_owned();
    let path = format!("/api/v1/admin/archives/user/{alice_id}/{user_archive}");
    let done = eventually("the user's archive", || {
        let a = users_only.get(&path).expect(200).json()["archive"].clone();
        a["completed_at"].is_string().then_some(a)
    });
    assert_eq!(done["progress_percent"], 100.0);
    assert!(done["file_size"].as_str().unwrap().parse::<u64>().unwrap() > 0);
    let link = users_only
        .get(&format!("{path}/download"))
        .expect(200)
        .json();
    assert!(link["expiresAt"].is_string(), "{link}");
    let url = path_of(link["downloadUrl"].as_str().unwrap());
    let zip = anon.get(&url).expect(200);
    assert_eq!(zip.header("content-type"), Some("application/zip"));
    let files = crate::background::read_zip(&zip.body);
    assert!(files["account.json"].contains("arch_alice"), "{files:?}");
    let forged = url.replace("signature=", "signature=0");
    anon.get(&forged).expect_error(400, "INVALID_DOWNLOAD_LINK");
    users_only
        .get(&format!(
            "/api/v1/admin/archives/guild/{guild}/{user_archive}"
        ))
        .expect_error(403, "MISSING_ACL");

    // A guild's archive: its settings, members and messages.
    let g = admin
        .post(
            "/api/v1/admin/archives/guild",
            &json!({ "guild_id": guild }),
        )
        .expect(200)
        .json();
    let guild_archive = g["archive_id"].as_str().unwrap().to_owned();
    let gpath = format!("/api/v1/admin/archives/guild/{guild}/{guild_archive}");
    eventually("the guild's archive", || {
        let a = admin.get(&gpath).expect(200).json()["archive"].clone();
        a["completed_at"].is_string().then_some(())
    });
    let link = admin.get(&format!("{gpath}/download")).expect(200).json();
    let files = crate::background::read_zip(
        &anon
            .get(&path_of(link["downloadUrl"].as_str().unwrap()))
            .expect(200)
            .body,
    );
    assert!(files["guild.json"].contains("Archived"), "{files:?}");
    assert!(files["members.json"].contains(&alice_id), "{files:?}");
    assert!(
        files[&format!("messages/{general}/messages.json")].contains("for the record"),
        "{files:?}"
    );
    assert!(
        admin
            .get(&format!("/api/v1/admin/archives/guild/{guild}/12345"))
            .expect(200)
            .json()["archive"]
            .is_null()
    );

    // Listed newest first, filtered by kind and subject.
    let all = admin
        .post("/api/v1/admin/archives/list", &json!({}))
        .expect(200)
        .json();
    let ids: Vec<&str> = all["archives"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["archive_id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, [guild_archive.as_str(), user_archive.as_str()]);
    let mine = users_only
        .post(
            "/api/v1/admin/archives/list",
            &json!({ "subject_type": "user", "subject_id": alice_id }),
        )
        .expect(200)
        .json();
    assert_eq!(mine["archives"].as_array().unwrap().len(), 1, "{mine}");
    assert_eq!(
        audited(&admin, "user", &alice_id)[..2],
        ["archive.download", "archive.trigger_user"]
    );
    assert_eq!(
        audited(&admin, "guild", &guild)[..2],
        ["archive.download", "archive.trigger_guild"]
    );
}
