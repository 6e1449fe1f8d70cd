//! What communities use around chat: scheduled messages (posted by the worker at their time, across
//! a crash), and deleting all of one's own messages after a delay.

use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use serde_json::{Value, json};

use crate::gateway::{identify, identify_ready, next_dispatch, runtime};
use crate::harness::{Client, Server};
use crate::{
    create_guild, error_paths, general_channel, ids, invite_and_join, post_message, register,
};

/// Seconds since the Unix epoch, now.
fn unix_now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64
}

/// `YYYY-MM-DDTHH:MM:SS` (civil, no zone) for a Unix time in UTC.
fn civil(unix: i64) -> String {
    let (days, secs) = (unix.div_euclid(86_400), unix.rem_euclid(86_400));
    // Days since the epoch to a proleptic Gregorian date (Howard Hinnant's algorithm).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}",
        secs / 3600,
        secs % 3600 / 60,
        secs % 60
    )
}

/// Waits until `check` gives a value, for up to 30 s.
fn eventually<T>(what: &str, mut check: impl FnMut() -> Option<T>) -> T {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        if let Some(v) = check() {
            return v;
        }
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(200));
    }
}

fn contents(c: &Client, channel: &str) -> Vec<String> {
    c.get(&format!("/api/v1/channels/{channel}/messages"))
        .expect(200)
        .json()
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["content"].as_str().unwrap_or_default().to_owned())
        .collect()
}

fn schedule(c: &Client, channel: &str, body: Value) -> crate::harness::Response {
    c.post(
        &format!("/api/v1/channels/{channel}/messages/schedule"),
        &body,
    )
}

#[test]
fn scheduled_messages_are_checked_listed_edited_and_posted_on_time_across_a_crash() {
    let server = Server::start(&[("FLUXER_CONFIG__DEV__DISABLE_RATE_LIMITS", "true")]);
    let anon = server.client();
    let (alice, _) = register(&anon, "sched-a@example.com", "sched_a");
    let (bob, _) = register(&anon, "sched-b@example.com", "sched_b");
    let guild = create_guild(&alice, "Later");
    let general = general_channel(&alice, &guild);

    // Bad bodies and times, each with its field.
    let e = schedule(
        &alice,
        &general,
        json!({ "content": "x", "timezone": "UTC" }),
    )
    .expect_error(400, "INVALID_FORM_BODY");
    assert_eq!(
        e["errors"][0]["code"], "INVALID_SCHEDULED_MESSAGE_PAYLOAD",
        "{e}"
    );
    assert_eq!(error_paths(&e), ["scheduled_message"]);
    let soon = civil(unix_now() + 3600);
    let cases = [
        (
            json!({ "content": "x", "scheduled_local_at": soon, "timezone": "Mars/Olympus_Mons" }),
            "timezone",
            "INVALID_TIMEZONE_IDENTIFIER",
        ),
        (
            json!({ "content": "x", "scheduled_local_at": "tomorrow-ish", "timezone": "UTC" }),
            "scheduled_local_at",
            "INVALID_DATETIME_FOR_SCHEDULED_SEND",
        ),
        (
            json!({ "content": "x", "scheduled_local_at": civil(unix_now() - 60), "timezone": "UTC" }),
            "scheduled_local_at",
            "SCHEDULED_TIME_MUST_BE_FUTURE",
        ),
        (
            json!({ "content": "x", "scheduled_local_at": civil(unix_now() + 31 * 86_400), "timezone": "UTC" }),
            "scheduled_local_at",
            "SCHEDULED_MESSAGES_MAX_30_DAYS",
        ),
    ];
    for (body, path, code) in cases {
        let e = schedule(&alice, &general, body).expect_error(400, "INVALID_FORM_BODY");
        assert_eq!(
            (
                e["errors"][0]["path"].as_str(),
                e["errors"][0]["code"].as_str()
            ),
            (Some(path), Some(code)),
            "{e}"
        );
    }
    // The message is checked as if sent now: an empty one, and a channel bob cannot see.
    schedule(
        &alice,
        &general,
        json!({ "content": " ", "scheduled_local_at": soon, "timezone": "UTC" }),
    )
    .expect_error(400, "CANNOT_SEND_EMPTY_MESSAGE");
    let e = schedule(
        &bob,
        &general,
        json!({ "content": "x", "scheduled_local_at": soon, "timezone": "UTC" }),
    );
    assert!(e.status == 403 || e.status == 404, "{}", e.status);

    // A local time in a named zone: Tokyo is UTC+9 all year.
    let ten_days = unix_now() + 10 * 86_400;
    let tokyo = schedule(&alice, &general, json!({
        "content": "ten days on", "scheduled_local_at": civil(ten_days), "timezone": "Asia/Tokyo",
        "nonce": "n1", "ignored": true,
    }))
    .expect(201)
    .json();
    assert_eq!(tokyo["status"], "pending");
    assert_eq!(tokyo["status_reason"], Value::Null);
    assert_eq!(tokyo["timezone"], "Asia/Tokyo");
    assert_eq!(tokyo["scheduled_local_at"], civil(ten_days));
    assert_eq!(
        tokyo["scheduled_at"],
        format!("{}.000Z", civil(ten_days - 9 * 3600))
    );
    assert_eq!(
        tokyo["payload"],
        json!({ "content": "ten days on", "nonce": "n1" })
    );
    let tokyo_id = tokyo["id"].as_str().unwrap().to_owned();

    // Edit replaces the message and its time; the ID and creation time stay.
    let edited = alice
        .patch(&format!("/api/v1/users/@me/scheduled-messages/{tokyo_id}"), &json!({
            "content": "eleven days on", "scheduled_local_at": civil(ten_days + 86_400), "timezone": "UTC",
        }))
        .expect(200)
        .json();
    assert_eq!(
        (edited["id"].as_str(), &edited["created_at"]),
        (Some(tokyo_id.as_str()), &tokyo["created_at"])
    );
    assert_eq!(edited["payload"]["content"], "eleven days on");
    assert_eq!(
        edited["scheduled_at"],
        format!("{}.000Z", civil(ten_days + 86_400))
    );
    assert_eq!(
        alice
            .get(&format!("/api/v1/users/@me/scheduled-messages/{tokyo_id}"))
            .expect(200)
            .json(),
        edited
    );

    // Due in a few seconds, then the server crashes before it is: the job survives and posts it.
    // Whole seconds truncate, so +4 leaves at least 3 s for the listing below to run first.
    let due = schedule(&alice, &general, json!({
        "content": "posted by the worker", "scheduled_local_at": format!("{}Z", civil(unix_now() + 4)), "timezone": "Europe/Oslo",
    }))
    .expect(201)
    .json();
    let listed = alice
        .get("/api/v1/users/@me/scheduled-messages")
        .expect(200)
        .json();
    assert_eq!(
        ids(&listed),
        [due["id"].as_str().unwrap(), tokyo_id.as_str()],
        "newest first"
    );
    let data = server.kill_keeping_data();
    let server = Server::start_in(data, &[("FLUXER_CONFIG__DEV__DISABLE_RATE_LIMITS", "true")]);
    let alice = server.client().with_token(alice.token.as_deref().unwrap());
    eventually("the scheduled message in the channel", || {
        contents(&alice, &general)
            .contains(&"posted by the worker".to_owned())
            .then_some(())
    });
    let listed = alice
        .get("/api/v1/users/@me/scheduled-messages")
        .expect(200)
        .json();
    assert_eq!(
        ids(&listed),
        [tokyo_id.as_str()],
        "a sent message leaves the list"
    );
    assert_eq!(
        contents(&alice, &general)
            .iter()
            .filter(|c| *c == "posted by the worker")
            .count(),
        1,
        "posted once"
    );

    // One that can no longer be sent when its time comes is kept as invalid, with the reason.
    let bob = server.client().with_token(bob.token.as_deref().unwrap());
    invite_and_join(&alice, &general, &bob);
    let rt = runtime();
    let mut bob_ws = rt.block_on(identify(&server.addr, bob.token.as_deref().unwrap()));
    // At least 3 s away, so Bob is removed before the worker tries to post it.
    let doomed = schedule(&bob, &general, json!({
        "content": "never", "scheduled_local_at": format!("{}Z", civil(unix_now() + 4)), "timezone": "UTC",
    }))
    .expect(201)
    .json();
    let bob_id = bob.get("/api/v1/users/@me").expect(200).json()["id"]
        .as_str()
        .unwrap()
        .to_owned();
    alice
        .delete(&format!("/api/v1/guilds/{guild}/members/{bob_id}"))
        .expect(204);
    rt.block_on(next_dispatch(&mut bob_ws, "GUILD_DELETE"));
    let failed = eventually("the scheduled message to fail", || {
        let m = bob
            .get(&format!(
                "/api/v1/users/@me/scheduled-messages/{}",
                doomed["id"].as_str().unwrap()
            ))
            .expect(200)
            .json();
        (m["status"] == "invalid").then_some(m)
    });
    assert!(
        failed["status_reason"]
            .as_str()
            .is_some_and(|r| !r.is_empty()),
        "{failed}"
    );
    assert!(failed["invalidated_at"].is_string(), "{failed}");
    assert!(!contents(&alice, &general).contains(&"never".to_owned()));

    // A scheduled post reaches the gateway as any message does. +1 could already be past by
    // the time a slow request arrives (the second is truncated), and past times are refused.
    let mut alice_ws = rt.block_on(identify(&server.addr, alice.token.as_deref().unwrap()));
    schedule(&alice, &general, json!({
        "content": "live", "scheduled_local_at": format!("{}Z", civil(unix_now() + 3)), "timezone": "UTC",
    }))
    .expect(201);
    let created = rt.block_on(next_dispatch(&mut alice_ws, "MESSAGE_CREATE"));
    assert_eq!(created["d"]["content"], "live");

    // Edited twice for the same instant (three jobs due at once): posted once, as last edited.
    // Both edits must land while the instant is still in the future, hence at least 3 s away.
    let at = format!("{}Z", civil(unix_now() + 4));
    let twice = schedule(
        &alice,
        &general,
        json!({ "content": "draft", "scheduled_local_at": at, "timezone": "UTC" }),
    )
    .expect(201)
    .json();
    for text in ["second draft", "final text"] {
        alice
            .patch(
                &format!(
                    "/api/v1/users/@me/scheduled-messages/{}",
                    twice["id"].as_str().unwrap()
                ),
                &json!({
                    "content": text, "scheduled_local_at": at, "timezone": "UTC",
                }),
            )
            .expect(200);
    }
    eventually("the twice-edited message", || {
        contents(&alice, &general)
            .contains(&"final text".to_owned())
            .then_some(())
    });
    std::thread::sleep(Duration::from_secs(1));
    let posted = contents(&alice, &general);
    assert_eq!(
        posted
            .iter()
            .filter(|c| ["draft", "second draft", "final text"].contains(&c.as_str()))
            .count(),
        1,
        "{posted:?}"
    );

    // Cancel: gone, and cancelling again is still 204; bots may not schedule.
    alice
        .delete(&format!("/api/v1/users/@me/scheduled-messages/{tokyo_id}"))
        .expect(204);
    alice
        .delete(&format!("/api/v1/users/@me/scheduled-messages/{tokyo_id}"))
        .expect(204);
    alice
        .get(&format!("/api/v1/users/@me/scheduled-messages/{tokyo_id}"))
        .expect_error(404, "UNKNOWN_MESSAGE");
}

#[test]
fn deleting_all_my_messages_waits_can_be_cancelled_and_takes_only_mine() {
    let server = Server::start(&[
        ("FLUXER_CONFIG__DEV__DISABLE_RATE_LIMITS", "true"),
        ("FLUXER_CONFIG__AUTH__MESSAGE_DELETION_DELAY_SECS", "2"),
    ]);
    let anon = server.client();
    let (alice, _) = register(&anon, "purge-a@example.com", "purge_a");
    let (bob, bob_id) = register(&anon, "purge-b@example.com", "purge_b");
    let guild = create_guild(&alice, "Purge");
    let general = general_channel(&alice, &guild);
    invite_and_join(&alice, &general, &bob);
    let mine: Vec<String> = (0..3)
        .map(|i| {
            post_message(&alice, &general, &format!("alice {i}"))["id"]
                .as_str()
                .unwrap()
                .to_owned()
        })
        .collect();
    post_message(&bob, &general, "bob stays");
    let dm = alice
        .post(
            "/api/v1/users/@me/channels",
            &json!({ "recipient_id": bob_id }),
        )
        .expect(200)
        .json()["id"]
        .as_str()
        .unwrap()
        .to_owned();
    post_message(&alice, &dm, "a private word");

    // The password is asked for.
    let e = alice
        .post("/api/v1/users/@me/messages/delete", &json!({}))
        .expect_error(400, "INVALID_FORM_BODY");
    assert_eq!(error_paths(&e), ["password"]);
    alice
        .post(
            "/api/v1/users/@me/messages/delete",
            &json!({ "password": "wrong horse battery" }),
        )
        .expect_error(400, "INVALID_FORM_BODY");

    // Asked for, then cancelled: the pending deletion shows on the user and goes away.
    alice
        .post(
            "/api/v1/users/@me/messages/delete",
            &json!({ "password": "correct horse battery" }),
        )
        .expect(204);
    let pending =
        alice.get("/api/v1/users/@me").expect(200).json()["pending_bulk_message_deletion"].clone();
    assert_eq!(
        (
            pending["message_count"].as_u64(),
            pending["channel_count"].as_u64()
        ),
        (Some(4), Some(2)),
        "{pending}"
    );
    assert!(pending["scheduled_at"].is_string());
    let cancelled = alice
        .delete("/api/v1/users/@me/messages/delete")
        .expect(200)
        .json();
    assert_eq!(cancelled, json!({ "success": true }));
    assert_eq!(
        alice.get("/api/v1/users/@me").expect(200).json()["pending_bulk_message_deletion"],
        Value::Null
    );
    std::thread::sleep(Duration::from_secs(3));
    assert_eq!(
        contents(&alice, &general).len(),
        4,
        "a cancelled deletion deletes nothing"
    );

    // The staff test route: refused to others, a one-minute deletion without a password for staff.
    alice
        .post("/api/v1/users/@me/messages/delete/test", &json!({}))
        .expect_error(403, "MISSING_ACCESS");
    let (op, _) = crate::staff(&server, "purge-op@example.com", "purge_op");
    op.post("/api/v1/users/@me/messages/delete/test", &json!({}))
        .expect(204);
    let me = op.get("/api/v1/users/@me").expect(200).json();
    let pending = &me["pending_bulk_message_deletion"];
    assert_eq!(pending["message_count"], 0, "{me}");
    assert!(pending["scheduled_at"].is_string(), "{me}");
    op.delete("/api/v1/users/@me/messages/delete").expect(200);

    // Asked for again: after the delay the worker takes alice's messages, and only hers.
    let rt = runtime();
    let mut bob_ws = rt.block_on(identify(&server.addr, bob.token.as_deref().unwrap()));
    alice
        .post(
            "/api/v1/users/@me/messages/delete",
            &json!({ "password": "correct horse battery" }),
        )
        .expect(204);
    let mut deleted = Vec::new();
    while deleted.len() < 4 {
        let bulk = rt.block_on(next_dispatch(&mut bob_ws, "MESSAGE_DELETE_BULK"));
        deleted.extend(
            bulk["d"]["ids"]
                .as_array()
                .unwrap()
                .iter()
                .map(|v| v.as_str().unwrap().to_owned()),
        );
    }
    for id in &mine {
        assert!(deleted.contains(id), "{id} in {deleted:?}");
    }
    assert_eq!(contents(&bob, &general), ["bob stays"]);
    assert!(contents(&bob, &dm).is_empty());
    eventually("the pending deletion to clear", || {
        alice.get("/api/v1/users/@me").expect(200).json()["pending_bulk_message_deletion"]
            .is_null()
            .then_some(())
    });
}

/// A 1x1 GIF with `frames` frames.
fn gif(frames: usize) -> Vec<u8> {
    let mut out = b"GIF89a\x01\x00\x01\x00\x80\x00\x00\x00\x00\x00\xff\xff\xff".to_vec();
    for _ in 0..frames {
        out.extend_from_slice(b"\x21\xf9\x04\x00\x0a\x00\x00\x00");
        out.extend_from_slice(b"\x2c\x00\x00\x00\x00\x01\x00\x01\x00\x00\x02\x02\x44\x01\x00");
    }
    out.push(0x3b);
    out
}

pub(crate) fn data_uri(mime: &str, bytes: &[u8]) -> String {
    use base64::Engine;
    format!(
        "data:{mime};base64,{}",
        base64::engine::general_purpose::STANDARD.encode(bytes)
    )
}

#[test]
fn custom_emojis_and_stickers_are_uploaded_used_and_moderated() {
    let server = Server::start(&[("FLUXER_CONFIG__DEV__DISABLE_RATE_LIMITS", "true")]);
    let anon = server.client();
    let (alice, _) = register(&anon, "emoji-a@example.com", "emoji_a");
    let (bob, bob_id) = register(&anon, "emoji-b@example.com", "emoji_b");
    let guild = create_guild(&alice, "Expressive");
    let general = general_channel(&alice, &guild);
    invite_and_join(&alice, &general, &bob);
    let rt = runtime();
    let mut bob_ws = rt.block_on(identify(&server.addr, bob.token.as_deref().unwrap()));
    let png = crate::media::png(64, 64);
    let emojis = format!("/api/v1/guilds/{guild}/emojis");

    // Bad names and images, each with its field.
    let e = alice
        .post(
            &emojis,
            &json!({ "name": "no spaces", "image": data_uri("image/png", &png) }),
        )
        .expect_error(400, "INVALID_FORM_BODY");
    assert_eq!(e["errors"][0]["code"], "INVALID_FORMAT", "{e}");
    let e = alice
        .post(
            &emojis,
            &json!({ "name": "text", "image": data_uri("image/png", b"not an image") }),
        )
        .expect_error(400, "INVALID_FORM_BODY");
    assert_eq!(
        (
            e["errors"][0]["path"].as_str(),
            e["errors"][0]["code"].as_str()
        ),
        (Some("image"), Some("INVALID_IMAGE_FORMAT"))
    );
    let big = vec![0u8; 400 << 10];
    let e = alice
        .post(
            &emojis,
            &json!({ "name": "huge", "image": data_uri("image/png", &big) }),
        )
        .expect_error(400, "INVALID_FORM_BODY");
    assert_eq!(e["errors"][0]["code"], "IMAGE_SIZE_EXCEEDS_LIMIT", "{e}");

    // Upload: a static PNG and an animated GIF; members hear of each with the whole list.
    let blob = alice
        .post(
            &emojis,
            &json!({ "name": "blob", "image": data_uri("image/png", &png) }),
        )
        .expect(200)
        .json();
    assert_eq!(blob["animated"], false);
    assert!(blob.get("user").is_none(), "{blob}");
    let update = rt.block_on(next_dispatch(&mut bob_ws, "GUILD_EMOJIS_UPDATE"));
    assert_eq!(update["d"]["guild_id"], guild.as_str());
    assert_eq!(update["d"]["emojis"], json!([blob]));
    // The declared type does not matter: bytes are sniffed; a plain base64 string works too.
    let dance = alice
        .post(
            &emojis,
            &json!({ "name": "dance", "image": data_uri("image/png", &gif(2))[22..] }),
        )
        .expect(200)
        .json();
    assert_eq!(dance["animated"], true);
    let listed = bob.get(&emojis).expect(200).json();
    assert_eq!(
        ids(&listed),
        [blob["id"].as_str().unwrap(), dance["id"].as_str().unwrap()]
    );
    assert_eq!(listed[0]["user"]["username"], "emoji_a");

    // Served by the media proxy at the size asked, as WebP or, for a .gif, animated.
    let blob_id = blob["id"].as_str().unwrap().to_owned();
    let served = anon
        .get(&format!("/media/emojis/{blob_id}.webp?size=32"))
        .expect(200);
    assert_eq!(served.header("content-type"), Some("image/webp"));
    let small = image::load_from_memory(&served.body).unwrap();
    assert_eq!((small.width(), small.height()), (32, 32));
    let dance_id = dance["id"].as_str().unwrap().to_owned();
    let animated = anon
        .get(&format!("/media/emojis/{dance_id}.gif"))
        .expect(200);
    assert_eq!(animated.header("content-type"), Some("image/gif"));
    anon.get("/media/emojis/123.webp").expect(404);

    // In GUILD_CREATE for a newcomer, and in REST.
    let (carol, _) = register(&anon, "emoji-c@example.com", "emoji_c");
    let mut carol_ws = rt.block_on(identify(&server.addr, carol.token.as_deref().unwrap()));
    invite_and_join(&alice, &general, &carol);
    let created = rt.block_on(next_dispatch(&mut carol_ws, "GUILD_CREATE"));
    assert_eq!(
        ids(&created["d"]["emojis"]),
        [blob_id.as_str(), dance_id.as_str()]
    );
    assert_eq!(created["d"]["stickers"], json!([]));

    // Used in messages: this guild's are kept, unknown ones become :name:, code is left alone.
    let sent = post_message(
        &bob,
        &general,
        &format!("hi <:blob:{blob_id}> <:ghost:42> `<:ghost:42>`"),
    );
    assert_eq!(
        sent["content"],
        format!("hi <:blob:{blob_id}> :ghost: `<:ghost:42>`")
    );
    // Reactions take `name:id` and come back with the stored name and animation.
    let msg = sent["id"].as_str().unwrap();
    bob.put(
        &format!("/api/v1/channels/{general}/messages/{msg}/reactions/anything:{dance_id}/@me"),
        &json!({}),
    )
    .expect(204);
    let reaction = rt.block_on(next_dispatch(&mut bob_ws, "MESSAGE_REACTION_ADD"));
    assert_eq!(
        reaction["d"]["emoji"],
        json!({ "id": dance_id, "name": "dance", "animated": true })
    );
    let e = bob
        .put(
            &format!("/api/v1/channels/{general}/messages/{msg}/reactions/ghost:42/@me"),
            &json!({}),
        )
        .expect_error(400, "INVALID_FORM_BODY");
    assert_eq!(e["errors"][0]["code"], "CUSTOM_EMOJI_NOT_FOUND");

    // Renaming or deleting another's emoji needs MANAGE_EXPRESSIONS; its uploader may.
    let mine = bob
        .post(
            &emojis,
            &json!({ "name": "bobs", "image": data_uri("image/png", &png) }),
        )
        .expect(200)
        .json();
    let mine_id = mine["id"].as_str().unwrap();
    bob.patch(
        &format!("{emojis}/{blob_id}"),
        &json!({ "name": "mine_now" }),
    )
    .expect_error(403, "MISSING_PERMISSIONS");
    bob.delete(&format!("{emojis}/{blob_id}"))
        .expect_error(403, "MISSING_PERMISSIONS");
    let renamed = bob
        .patch(
            &format!("{emojis}/{mine_id}"),
            &json!({ "name": "bobs_own" }),
        )
        .expect(200)
        .json();
    assert_eq!(renamed["name"], "bobs_own");
    alice.delete(&format!("{emojis}/{mine_id}")).expect(204);
    alice
        .delete(&format!("{emojis}/{mine_id}"))
        .expect_error(404, "UNKNOWN_EMOJI");
    alice
        .delete(&format!("{emojis}/{blob_id}?purge=true"))
        .expect_error(403, "MISSING_ACCESS");
    let log = alice
        .get(&format!("/api/v1/guilds/{guild}/audit-logs"))
        .expect(200)
        .json();
    let actions: Vec<i64> = log["audit_log_entries"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["action_type"].as_i64().unwrap())
        .collect();
    for action in [60, 61, 62] {
        assert!(actions.contains(&action), "{action} in {actions:?}");
    }

    // Bulk: each item succeeds or fails on its own.
    let bulk = alice
        .post(
            &format!("{emojis}/bulk"),
            &json!({ "emojis": [
            { "name": "one", "image": data_uri("image/png", &png) },
            { "name": "two", "image": data_uri("image/png", b"nope") },
        ] }),
        )
        .expect(200)
        .json();
    assert_eq!(bulk["success"][0]["name"], "one");
    assert_eq!(
        bulk["failed"],
        json!([{ "name": "two", "error": "INVALID_FORM_BODY" }])
    );

    // Stickers: uploaded, sent with a message (alone is enough), edited as a whole.
    let stickers = format!("/api/v1/guilds/{guild}/stickers");
    alice
        .post(
            &stickers,
            &json!({ "name": "x", "image": data_uri("image/png", &png) }),
        )
        .expect_error(400, "INVALID_FORM_BODY");
    let wave = alice
        .post(&stickers, &json!({ "name": "big wave", "description": "hello", "tags": ["wave"], "image": data_uri("image/png", &png) }))
        .expect(200)
        .json();
    assert_eq!(
        (wave["description"].as_str(), &wave["tags"]),
        (Some("hello"), &json!(["wave"]))
    );
    let update = rt.block_on(next_dispatch(&mut bob_ws, "GUILD_STICKERS_UPDATE"));
    assert_eq!(update["d"]["stickers"], json!([wave]));
    let wave_id = wave["id"].as_str().unwrap();
    let posted = bob
        .post(
            &format!("/api/v1/channels/{general}/messages"),
            &json!({ "sticker_ids": [wave_id] }),
        )
        .expect(200)
        .json();
    assert_eq!(
        posted["stickers"],
        json!([{ "id": wave_id, "name": "big wave", "animated": false }])
    );
    assert_eq!(post_message(&bob, &general, "plain")["stickers"], json!([]));
    let e = bob
        .post(
            &format!("/api/v1/channels/{general}/messages"),
            &json!({ "sticker_ids": ["42"] }),
        )
        .expect_error(400, "INVALID_FORM_BODY");
    assert_eq!(e["errors"][0]["code"], "CUSTOM_STICKER_NOT_FOUND");
    let edited = alice
        .patch(
            &format!("{stickers}/{wave_id}"),
            &json!({ "name": "small wave" }),
        )
        .expect(200)
        .json();
    assert_eq!(
        edited,
        json!({ "id": wave_id, "name": "small wave", "description": "", "tags": [], "animated": false })
    );
    anon.get(&format!("/media/stickers/{wave_id}.png?size=160"))
        .expect(200);
    // The message keeps the sticker as it was sent.
    let history = bob
        .get(&format!(
            "/api/v1/channels/{general}/messages/{}",
            posted["id"].as_str().unwrap()
        ))
        .expect(200)
        .json();
    assert_eq!(history["stickers"][0]["name"], "big wave");
    alice.delete(&format!("{stickers}/{wave_id}")).expect(204);
    assert_eq!(bob.get(&stickers).expect(200).json(), json!([]));

    // Where external emojis are denied, another guild's emoji is written as text, also when a
    // replacement would join the text around it into a token.
    let other = create_guild(&bob, "No outside emojis");
    let no_external = 1u64 << 18;
    let everyone = bob
        .get(&format!("/api/v1/guilds/{other}/roles"))
        .expect(200)
        .json()[0]["permissions"]
        .as_str()
        .unwrap()
        .parse::<u64>()
        .unwrap();
    bob.patch(
        &format!("/api/v1/guilds/{other}/roles/{other}"),
        &json!({ "permissions": (everyone & !no_external).to_string() }),
    )
    .expect(200);
    let other_general = general_channel(&bob, &other);
    invite_and_join(&bob, &other_general, &carol);
    let sneaky = post_message(
        &carol,
        &other_general,
        &format!("<<:x:1>{blob_id}> <:blob:{blob_id}>"),
    );
    assert_eq!(sneaky["content"], ":x: :blob:");

    // A deleted guild's emoji images go with it.
    let brief = create_guild(&alice, "Brief");
    let gone = alice
        .post(
            &format!("/api/v1/guilds/{brief}/emojis"),
            &json!({ "name": "gone", "image": data_uri("image/png", &png) }),
        )
        .expect(200)
        .json();
    let gone_url = format!("/media/emojis/{}.png", gone["id"].as_str().unwrap());
    anon.get(&gone_url).expect(200);
    alice
        .post(
            &format!("/api/v1/guilds/{brief}/delete"),
            &json!({ "password": "correct horse battery" }),
        )
        .expect(204);
    eventually("the deleted guild's emoji image to go", || {
        (anon.get(&gone_url).status == 404).then_some(())
    });

    // Outsiders see nothing.
    let (dave, _) = register(&anon, "emoji-d@example.com", "emoji_d");
    assert!(dave.get(&emojis).status >= 400);
    let _ = bob_id;
}

/// A web site on loopback for link previews: `/page` (OpenGraph tags and a cover image) and
/// `/cover.png`; counts the requests it answers. Runs until the test ends.
struct Site {
    addr: std::net::SocketAddr,
    hits: std::sync::Arc<std::sync::atomic::AtomicUsize>,
}

impl Site {
    fn start() -> Site {
        use std::io::{BufRead, BufReader, Write};
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let hits = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let counter = hits.clone();
        let cover = crate::media::png(80, 40);
        std::thread::spawn(move || {
            for stream in listener.incoming().flatten() {
                counter.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                let mut reader = BufReader::new(stream.try_clone().unwrap());
                let mut request_line = String::new();
                let _ = reader.read_line(&mut request_line);
                let mut line = String::new();
                while reader.read_line(&mut line).is_ok_and(|n| n > 2) {
                    line.clear();
                }
                let path = request_line.split_whitespace().nth(1).unwrap_or("/");
                let (content_type, body): (&str, Vec<u8>) = if path.starts_with("/page") {
                    let html = format!(
                        "<html><head><meta property=\"og:title\" content=\"A page on {addr}\">\
                         <meta property=\"og:description\" content=\"Seen through a preview\">\
                         <meta property=\"og:image\" content=\"/cover.png\"></head></html>"
                    );
                    ("text/html", html.into_bytes())
                } else if path == "/cover.png" {
                    ("image/png", cover.clone())
                } else {
                    ("text/plain", b"nothing here".to_vec())
                };
                let mut stream = stream;
                let _ = write!(
                    stream,
                    "HTTP/1.1 200 OK\r\nContent-Type: {content_type}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
                    body.len()
                );
                let _ = stream.write_all(&body);
            }
        });
        Site { addr, hits }
    }

    fn hits(&self) -> usize {
        self.hits.load(std::sync::atomic::Ordering::SeqCst)
    }
}

#[test]
fn links_in_messages_get_previews_through_the_worker() {
    let site = Site::start();
    let server = Server::start(&[
        ("FLUXER_CONFIG__DEV__DISABLE_RATE_LIMITS", "true"),
        (
            "FLUXER_CONFIG__SERVICES__MEDIA_PROXY__ALLOW_ADDRESSES",
            "[\"127.0.0.1\"]",
        ),
    ]);
    let anon = server.client();
    let (alice, _) = register(&anon, "links-a@example.com", "links_a");
    let (bob, _) = register(&anon, "links-b@example.com", "links_b");
    let guild = create_guild(&alice, "Links");
    let general = general_channel(&alice, &guild);
    invite_and_join(&alice, &general, &bob);
    let rt = runtime();
    let mut bob_ws = rt.block_on(identify(&server.addr, bob.token.as_deref().unwrap()));
    let page = format!("http://{}/page", site.addr);

    // Sent without a preview; the worker adds it with MESSAGE_UPDATE.
    let sent = post_message(&alice, &general, &format!("look at {page} !"));
    assert_eq!(sent["embeds"], json!([]));
    let update = rt.block_on(next_dispatch(&mut bob_ws, "MESSAGE_UPDATE"));
    assert_eq!(update["d"]["id"], sent["id"]);
    assert_eq!(
        update["d"]["edited_timestamp"],
        Value::Null,
        "a preview is no edit"
    );
    let embed = &update["d"]["embeds"][0];
    assert_eq!(embed["type"], "link");
    assert_eq!(embed["url"], page);
    assert_eq!(embed["title"], format!("A page on {}", site.addr));
    assert_eq!(embed["description"], "Seen through a preview");
    let thumbnail = &embed["thumbnail"];
    assert_eq!(
        (thumbnail["width"].as_u64(), thumbnail["height"].as_u64()),
        (Some(80), Some(40))
    );
    // Clients load the image through the media proxy, signed.
    let proxy_url = thumbnail["proxy_url"].as_str().unwrap();
    let path = proxy_url
        .strip_prefix(&server.base)
        .expect("proxied by this server");
    assert!(path.starts_with("/media/external/"), "{path}");
    let image = anon.get(path).expect(200);
    assert_eq!(image.header("content-type"), Some("image/png"));
    let stored = alice
        .get(&format!(
            "/api/v1/channels/{general}/messages/{}",
            sent["id"].as_str().unwrap()
        ))
        .expect(200)
        .json();
    assert_eq!(stored["embeds"][0]["title"], embed["title"]);

    // Known now: the next message with the link carries it at once, without a fetch.
    let hits = site.hits();
    let again = post_message(&bob, &general, &page);
    assert_eq!(again["embeds"][0]["title"], embed["title"]);
    assert_eq!(site.hits(), hits);

    // No preview for `<url>`, for code, or for a message with embeds of its own.
    let quiet = post_message(&alice, &general, &format!("<{page}?quiet> `{page}?code`"));
    let own = alice
        .post(
            &format!("/api/v1/channels/{general}/messages"),
            &json!({
                "content": format!("{page}?own"), "embeds": [{ "title": "mine" }],
            }),
        )
        .expect(200)
        .json();
    // Suppressed embeds: stored all the same, without an update.
    let suppressed = alice
        .post(
            &format!("/api/v1/channels/{general}/messages"),
            &json!({
                "content": format!("{page}?suppressed"), "flags": 4,
            }),
        )
        .expect(200)
        .json();
    // An edit that changes the link previews the new one.
    let edited = post_message(&alice, &general, "soon a link");
    let edited_id = edited["id"].as_str().unwrap();
    alice
        .patch(
            &format!("/api/v1/channels/{general}/messages/{edited_id}"),
            &json!({ "content": format!("{page}?edited") }),
        )
        .expect(200);
    let message = |m: &Value| {
        alice
            .get(&format!(
                "/api/v1/channels/{general}/messages/{}",
                m["id"].as_str().unwrap()
            ))
            .expect(200)
            .json()
    };
    eventually("the suppressed message's stored preview", || {
        message(&suppressed)["embeds"][0]["type"]
            .as_str()
            .map(|_| ())
    });
    eventually("the edited message's preview", || {
        (message(&edited)["embeds"][0]["url"] == format!("{page}?edited")).then_some(())
    });
    loop {
        let update = rt.block_on(next_dispatch(&mut bob_ws, "MESSAGE_UPDATE"));
        assert_ne!(
            update["d"]["id"], suppressed["id"],
            "no update for suppressed embeds"
        );
        if update["d"]["id"] == edited["id"]
            && !update["d"]["embeds"].as_array().unwrap().is_empty()
        {
            break;
        }
    }
    assert_eq!(message(&quiet)["embeds"], json!([]));
    // A proxy URL written by the sender is replaced by the server's own.
    let spoofed = alice
        .post(&format!("/api/v1/channels/{general}/messages"), &json!({
            "embeds": [{ "title": "pic", "image": { "url": "https://images.example/a.png", "proxy_url": "https://tracker.example/x" } }],
        }))
        .expect(200)
        .json();
    let proxy = spoofed["embeds"][0]["image"]["proxy_url"].as_str().unwrap();
    assert!(
        proxy.starts_with(&format!("{}/media/external/", server.base)),
        "{proxy}"
    );
    assert_eq!(message(&own)["embeds"][0]["title"], "mine");
    assert_eq!(message(&own)["embeds"].as_array().unwrap().len(), 1);
}

#[test]
fn by_default_previews_never_reach_private_addresses() {
    let site = Site::start();
    let server = Server::start(&[("FLUXER_CONFIG__DEV__DISABLE_RATE_LIMITS", "true")]);
    let anon = server.client();
    let (alice, _) = register(&anon, "private-a@example.com", "private_a");
    let guild = create_guild(&alice, "Private");
    let general = general_channel(&alice, &guild);
    let loopback = post_message(&alice, &general, &format!("http://{}/page", site.addr));
    // A name that resolves nowhere (`.invalid` is reserved) is no way around it either.
    let unreachable = post_message(&alice, &general, "http://preview-target.invalid/page");
    let read = |m: &Value| {
        alice
            .get(&format!(
                "/api/v1/channels/{general}/messages/{}",
                m["id"].as_str().unwrap()
            ))
            .expect(200)
            .json()
    };
    // The worker polls every 100 ms; three seconds is many times what a preview takes (the
    // test above sees its update well within one).
    std::thread::sleep(Duration::from_secs(3));
    assert_eq!(read(&loopback)["embeds"], json!([]));
    assert_eq!(read(&unreachable)["embeds"], json!([]));
    assert_eq!(site.hits(), 0, "the loopback site was contacted");
}

#[test]
fn guild_toggles_hoist_positions_and_joining_from_discovery() {
    let server = Server::start(&[("FLUXER_CONFIG__DEV__DISABLE_RATE_LIMITS", "true")]);
    let anon = server.client();
    let (alice, _) = register(&anon, "toggle-a@example.com", "toggle_a");
    let (bob, _) = register(&anon, "toggle-b@example.com", "toggle_b");
    let (carol, carol_id) = register(&anon, "toggle-c@example.com", "toggle_c");
    let guild = create_guild(&alice, "Toggles");
    let general = general_channel(&alice, &guild);
    invite_and_join(&alice, &general, &bob);
    let rt = runtime();
    let mut bob_ws = rt.block_on(identify(&server.addr, bob.token.as_deref().unwrap()));

    // Feature toggles: MANAGE_GUILD, answered with the guild.
    let g = alice
        .patch(
            &format!("/api/v1/guilds/{guild}/detached-banner"),
            &json!({ "enabled": true }),
        )
        .expect(200)
        .json();
    assert!(
        g["features"]
            .as_array()
            .unwrap()
            .contains(&json!("DETACHED_BANNER")),
        "{g}"
    );
    bob.patch(
        &format!("/api/v1/guilds/{guild}/detached-banner"),
        &json!({ "enabled": false }),
    )
    .expect_error(403, "MISSING_PERMISSIONS");
    // Flexible names keep a text channel's name as written; turning them off normalises it.
    let flexible = format!("/api/v1/guilds/{guild}/text-channel-flexible-names");
    alice
        .patch(&flexible, &json!({ "enabled": true }))
        .expect(200);
    let news = alice
        .post(
            &format!("/api/v1/guilds/{guild}/channels"),
            &json!({ "name": "Big News" }),
        )
        .expect(200)
        .json();
    assert_eq!(news["name"], "Big News");
    let g = alice
        .patch(&flexible, &json!({ "enabled": false }))
        .expect(200)
        .json();
    assert!(
        !g["features"]
            .as_array()
            .unwrap()
            .contains(&json!("TEXT_CHANNEL_FLEXIBLE_NAMES"))
    );
    let renamed = loop {
        let update = rt.block_on(next_dispatch(&mut bob_ws, "CHANNEL_UPDATE"));
        if update["d"]["id"] == news["id"] {
            break update;
        }
    };
    assert_eq!(renamed["d"]["name"], "big-news");

    // Hoist positions: set for some roles, sent as one bulk update; reset clears them all.
    let role = |name: &str| {
        alice
            .post(
                &format!("/api/v1/guilds/{guild}/roles"),
                &json!({ "name": name, "hoist": true }),
            )
            .expect(200)
            .json()["id"]
            .as_str()
            .unwrap()
            .to_owned()
    };
    let (mods, vips) = (role("mods"), role("vips"));
    let hoist = format!("/api/v1/guilds/{guild}/roles/hoist-positions");
    alice
        .patch(
            &hoist,
            &json!([{ "id": mods, "hoist_position": 2 }, { "id": vips, "hoist_position": 1 }]),
        )
        .expect(204);
    let bulk = rt.block_on(next_dispatch(&mut bob_ws, "GUILD_ROLE_UPDATE_BULK"));
    assert_eq!(bulk["d"]["guild_id"], guild.as_str());
    assert_eq!(bulk["d"]["roles"].as_array().unwrap().len(), 2);
    let roles = alice
        .get(&format!("/api/v1/guilds/{guild}/roles"))
        .expect(200)
        .json();
    let position = |id: &str| {
        roles
            .as_array()
            .unwrap()
            .iter()
            .find(|r| r["id"] == id)
            .unwrap()["hoist_position"]
            .clone()
    };
    assert_eq!(
        (position(&mods), position(&vips), position(&guild)),
        (json!(2), json!(1), Value::Null)
    );
    let e = alice
        .patch(&hoist, &json!([{ "id": guild, "hoist_position": 3 }]))
        .expect_error(400, "INVALID_FORM_BODY");
    assert_eq!(e["errors"][0]["code"], "CANNOT_SET_HOIST_FOR_EVERYONE_ROLE");
    bob.patch(&hoist, &json!([{ "id": mods, "hoist_position": 9 }]))
        .expect_error(403, "MISSING_PERMISSIONS");
    alice.delete(&hoist).expect(204);
    let roles = alice
        .get(&format!("/api/v1/guilds/{guild}/roles"))
        .expect(200)
        .json();
    assert!(
        roles
            .as_array()
            .unwrap()
            .iter()
            .all(|r| r["hoist_position"].is_null()),
        "{roles}"
    );

    // Discovery: the categories, and joining a listed guild without an invite.
    let categories = carol.get("/api/v1/discovery/categories").expect(200).json();
    assert_eq!(categories.as_array().unwrap().len(), 9);
    assert_eq!(categories[0], json!({ "id": 0, "name": "Gaming" }));
    let join = format!("/api/v1/discovery/guilds/{guild}/join");
    carol
        .post(&join, &json!({}))
        .expect_error(400, "DISCOVERY_NOT_DISCOVERABLE");
    alice
        .post(
            &format!("/api/v1/guilds/{guild}/discovery"),
            &json!({ "description": "Toggles and the people who flip them", "category_type": 8 }),
        )
        .expect(200);
    let (op, _) = crate::staff(&server, "toggle-op@example.com", "toggle_op");
    op.post(
        &format!("/api/v1/admin/discovery/applications/{guild}/approve"),
        &json!({}),
    )
    .expect(200);
    carol.post(&join, &json!({})).expect(204);
    carol.post(&join, &json!({})).expect(204);
    alice
        .get(&format!("/api/v1/guilds/{guild}/members/{carol_id}"))
        .expect(200);
    // A ban holds against discovery too.
    let (dave, dave_id) = register(&anon, "toggle-d@example.com", "toggle_d");
    alice
        .put(
            &format!("/api/v1/guilds/{guild}/bans/{dave_id}"),
            &json!({}),
        )
        .expect(204);
    dave.post(&join, &json!({}))
        .expect_error(403, "USER_BANNED_FROM_GUILD");
}

#[test]
fn saved_media_is_kept_from_messages_and_links_and_sent_again() {
    let site = Site::start();
    let server = Server::start(&[
        ("FLUXER_CONFIG__DEV__DISABLE_RATE_LIMITS", "true"),
        (
            "FLUXER_CONFIG__SERVICES__MEDIA_PROXY__ALLOW_ADDRESSES",
            "[\"127.0.0.1\"]",
        ),
    ]);
    let anon = server.client();
    let (alice, _) = register(&anon, "memes-a@example.com", "memes_a");
    let (bob, _) = register(&anon, "memes-b@example.com", "memes_b");
    let (carol, _) = register(&anon, "memes-c@example.com", "memes_c");
    let guild = create_guild(&alice, "Memes");
    let general = general_channel(&alice, &guild);
    invite_and_join(&alice, &general, &bob);
    let rt = runtime();
    let mut bob_ws = rt.block_on(identify(&server.addr, bob.token.as_deref().unwrap()));
    let png = crate::media::png(48, 24);
    let posted = crate::media::upload(
        &alice,
        &general,
        json!({ "content": "a cat" }),
        &[("cat.png", &png)],
    );
    let message = posted["id"].as_str().unwrap();
    let save = format!("/api/v1/channels/{general}/messages/{message}/memes");

    // Saved from a message: a copy with its own signed URL, on every session of the saver.
    let meme = bob
        .post(
            &save,
            &json!({ "name": "cat", "tags": ["pets", " "], "alt_text": "a cat" }),
        )
        .expect(201)
        .json();
    assert_eq!(
        (meme["name"].as_str(), &meme["tags"]),
        (Some("cat"), &json!(["pets"]))
    );
    assert_eq!(
        (meme["filename"].as_str(), meme["content_type"].as_str()),
        (Some("cat.png"), Some("image/png"))
    );
    assert_eq!(
        (
            meme["width"].as_u64(),
            meme["height"].as_u64(),
            meme["size"].as_u64()
        ),
        (Some(48), Some(24), Some(png.len() as u64))
    );
    assert_eq!(meme["is_gifv"], false);
    assert_eq!(meme["tenor_slug_id"], Value::Null);
    let created = rt.block_on(next_dispatch(&mut bob_ws, "FAVORITE_MEME_CREATE"));
    assert_eq!(created["d"]["id"], meme["id"]);
    let url = meme["url"].as_str().unwrap();
    let file = anon
        .get(url.strip_prefix(&server.base).unwrap())
        .expect(200);
    assert_eq!(file.body, png);
    let e = bob
        .post(&save, &json!({ "name": "again" }))
        .expect_error(400, "INVALID_FORM_BODY");
    assert_eq!(e["errors"][0]["code"], "MEDIA_ALREADY_IN_FAVORITE_MEMES");
    // Only from messages one can read.
    carol
        .post(&save, &json!({ "name": "nope" }))
        .expect_error(404, "UNKNOWN_CHANNEL");

    // Saved from a link (fetched under the previews' rules), named after the file.
    let from_url = bob
        .post(
            "/api/v1/users/@me/memes",
            &json!({ "url": format!("http://{}/cover.png", site.addr) }),
        )
        .expect(201)
        .json();
    assert_eq!(
        (from_url["name"].as_str(), from_url["width"].as_u64()),
        (Some("cover.png"), Some(80))
    );
    bob.post(
        "/api/v1/users/@me/memes",
        &json!({ "url": "ftp://example.com/x.png" }),
    )
    .expect_error(400, "INVALID_FORM_BODY");

    // Listed newest first; edited; in READY.
    let id = meme["id"].as_str().unwrap();
    assert_eq!(
        ids(&bob.get("/api/v1/users/@me/memes").expect(200).json()),
        [from_url["id"].as_str().unwrap(), id]
    );
    let edited = bob
        .patch(
            &format!("/api/v1/users/@me/memes/{id}"),
            &json!({ "name": "kitty", "alt_text": null }),
        )
        .expect(200)
        .json();
    assert_eq!(
        (
            edited["name"].as_str(),
            &edited["alt_text"],
            &edited["tags"]
        ),
        (Some("kitty"), &Value::Null, &json!(["pets"]))
    );
    rt.block_on(next_dispatch(&mut bob_ws, "FAVORITE_MEME_UPDATE"));
    let (_fresh, ready) = rt.block_on(identify_ready(&server.addr, bob.token.as_deref().unwrap()));
    assert_eq!(ready["d"]["favorite_memes"].as_array().unwrap().len(), 2);
    alice
        .get(&format!("/api/v1/users/@me/memes/{id}"))
        .expect_error(404, "UNKNOWN_FAVORITE_MEME");

    // Sent again: the message carries a copy as its attachment.
    let sent = bob
        .post(
            &format!("/api/v1/channels/{general}/messages"),
            &json!({ "favorite_meme_id": id }),
        )
        .expect(200)
        .json();
    let attachment = &sent["attachments"][0];
    assert_eq!(attachment["filename"], "cat.png");
    let copy = anon
        .get(
            attachment["url"]
                .as_str()
                .unwrap()
                .strip_prefix(&server.base)
                .unwrap(),
        )
        .expect(200);
    assert_eq!(copy.body, png);
    let e = alice
        .post(
            &format!("/api/v1/channels/{general}/messages"),
            &json!({ "favorite_meme_id": id }),
        )
        .expect_error(400, "INVALID_FORM_BODY");
    assert_eq!(e["errors"][0]["code"], "FAVORITE_MEME_NOT_FOUND");

    // Deleted, twice without complaint.
    bob.delete(&format!("/api/v1/users/@me/memes/{id}"))
        .expect(204);
    let deleted = rt.block_on(next_dispatch(&mut bob_ws, "FAVORITE_MEME_DELETE"));
    assert_eq!(deleted["d"], json!({ "meme_id": id }));
    bob.delete(&format!("/api/v1/users/@me/memes/{id}"))
        .expect(204);
    bob.get(&format!("/api/v1/users/@me/memes/{id}"))
        .expect_error(404, "UNKNOWN_FAVORITE_MEME");
}

#[test]
fn a_shared_theme_is_stored_once_and_served_as_css() {
    let server = Server::start(&[("FLUXER_CONFIG__DEV__DISABLE_RATE_LIMITS", "true")]);
    let c = server.client();
    let (alice, _) = register(&c, "theme@example.com", "themer");
    let css =
        ":root { --background-primary: #101020; }\n.app::after { content: \"\\\"quoted\\\"\"; }";
    let created = alice
        .post("/api/v1/users/@me/themes", &json!({ "css": css }))
        .expect(201)
        .json();
    let id = created["id"].as_str().unwrap();
    assert_eq!(id.len(), 16, "{created}");
    assert!(id.bytes().all(|b| b.is_ascii_hexdigit()));

    // Anyone loads it from the media endpoint the instance advertises.
    let media = c.get("/.well-known/fluxer").expect(200).json()["endpoints"]["media"]
        .as_str()
        .unwrap()
        .to_owned();
    let path = format!("{}/themes/{id}.css", media.trim_start_matches(&server.base));
    let served = c.get(&path).expect(200);
    assert_eq!(
        served.header("content-type"),
        Some("text/css; charset=utf-8")
    );
    assert_eq!(served.header("x-content-type-options"), Some("nosniff"));
    assert_eq!(String::from_utf8(served.body).unwrap(), css);
    let head = c.raw("HEAD", &path, &[], b"");
    assert_eq!(head.status, 200);
    c.get(&format!(
        "{}/themes/0123456789abcdef.css",
        media.trim_start_matches(&server.base)
    ))
    .expect(404);
    c.get(&format!(
        "{}/themes/..%2Fsecret.css",
        media.trim_start_matches(&server.base)
    ))
    .expect(404);

    // Each upload is a new theme; empty CSS, other types, no token and bots are refused.
    let again = alice
        .post("/api/v1/users/@me/themes", &json!({ "css": css }))
        .expect(201)
        .json();
    assert_ne!(again["id"], created["id"]);
    alice
        .post("/api/v1/users/@me/themes", &json!({ "css": "" }))
        .expect_error(400, "INVALID_FORM_BODY");
    alice
        .post("/api/v1/users/@me/themes", &json!({ "css": 5 }))
        .expect_error(400, "INVALID_FORM_BODY");
    c.post("/api/v1/users/@me/themes", &json!({ "css": css }))
        .expect_error(401, "UNAUTHORIZED");
    let too_big = "a".repeat(8 * 1024 * 1024 + 1);
    alice
        .post("/api/v1/users/@me/themes", &json!({ "css": too_big }))
        .expect_error(400, "FILE_SIZE_TOO_LARGE");
}

#[test]
fn reports_go_to_staff_only_about_what_the_reporter_can_see() {
    let server = Server::start(&[("FLUXER_CONFIG__DEV__DISABLE_RATE_LIMITS", "true")]);
    let mut c = server.client();
    c.retry_on_429 = false;
    let (mut alice, alice_id) = register(&c, "reporter@example.com", "reporter");
    alice.retry_on_429 = false;
    let (bob, bob_id) = register(&c, "reported@example.com", "reported");
    let (carol, _) = register(&c, "outsider@example.com", "outsider");
    let guild = create_guild(&bob, "Reported Guild");
    let channel = general_channel(&bob, &guild);
    invite_and_join(&bob, &channel, &alice);
    for i in 0..3 {
        post_message(&bob, &channel, &format!("before {i}"));
    }
    let bad = post_message(&bob, &channel, "the reported message");
    let bad_id = bad["id"].as_str().unwrap();
    post_message(&bob, &channel, "after");
    let own = post_message(&alice, &channel, "mine");

    let message_report = |category: &str| {
        json!({ "channel_id": channel, "message_id": bad_id, "category": category,
                "additional_info": "please look" })
    };
    let filed = alice
        .post("/api/v1/reports/message", &message_report("spam"))
        .expect(200)
        .json();
    assert_eq!(filed["status"], "pending", "{filed}");
    assert!(filed["report_id"].as_str().unwrap().parse::<u64>().is_ok());
    assert!(filed["reported_at"].is_string());

    // Someone who cannot read the channel cannot report (or probe) its messages.
    carol
        .post("/api/v1/reports/message", &message_report("spam"))
        .expect_error(404, "UNKNOWN_CHANNEL");
    alice
        .post(
            "/api/v1/reports/message",
            &json!({ "channel_id": channel, "message_id": own["id"], "category": "spam" }),
        )
        .expect_error(400, "CANNOT_REPORT_OWN_MESSAGE");
    let wrong = alice
        .post("/api/v1/reports/message", &message_report("spam_account"))
        .expect_error(400, "INVALID_FORM_BODY");
    assert_eq!(error_paths(&wrong), ["category"]);
    let long =
        json!({ "user_id": bob_id, "category": "harassment", "additional_info": "x".repeat(1001) });
    let too_long = alice
        .post("/api/v1/reports/user", &long)
        .expect_error(400, "INVALID_FORM_BODY");
    assert_eq!(error_paths(&too_long), ["additional_info"]);

    // Users and guilds; never oneself or one's own guild.
    alice
        .post(
            "/api/v1/reports/user",
            &json!({ "user_id": bob_id, "category": "spam_account", "guild_id": guild }),
        )
        .expect(200);
    alice
        .post(
            "/api/v1/reports/user",
            &json!({ "user_id": alice_id, "category": "harassment" }),
        )
        .expect_error(400, "CANNOT_REPORT_YOURSELF");
    alice
        .post(
            "/api/v1/reports/user",
            &json!({ "user_id": "1", "category": "harassment" }),
        )
        .expect_error(404, "UNKNOWN_USER");
    alice
        .post(
            "/api/v1/reports/guild",
            &json!({ "guild_id": guild, "category": "raid_coordination" }),
        )
        .expect(200);
    bob.post(
        "/api/v1/reports/guild",
        &json!({ "guild_id": guild, "category": "spam" }),
    )
    .expect_error(400, "CANNOT_REPORT_OWN_GUILD");
    c.post(
        "/api/v1/reports/guild",
        &json!({ "guild_id": guild, "category": "spam" }),
    )
    .expect_error(401, "UNAUTHORIZED");

    // Five reports an hour per reporter, whatever they are about.
    for _ in 0..2 {
        alice
            .post(
                "/api/v1/reports/guild",
                &json!({ "guild_id": guild, "category": "spam" }),
            )
            .expect(200);
    }
    alice
        .post(
            "/api/v1/reports/guild",
            &json!({ "guild_id": guild, "category": "spam" }),
        )
        .expect_error(429, "RATE_LIMITED");
}

#[test]
fn a_legal_notice_needs_a_proven_email_and_names_real_content() {
    use crate::background::{SmtpSink, server_with_smtp_and};

    let sink = SmtpSink::start();
    let server = server_with_smtp_and(&sink, &[]);
    let mut c = server.client();
    c.retry_on_429 = false;
    let (bob, bob_id) = register(&c, "noticed@example.com", "noticed");
    let guild = create_guild(&bob, "Noticed Guild");
    let channel = general_channel(&bob, &guild);
    let message = post_message(&bob, &channel, "an unlawful message");
    let invite = bob
        .post(&format!("/api/v1/channels/{channel}/invites"), &json!({}))
        .expect(200)
        .json()["code"]
        .as_str()
        .unwrap()
        .to_owned();

    // Prove the address: a code by email, then a ticket for it (no account involved).
    let verify = |email: &str, code: &str| {
        c.post(
            "/api/v1/reports/dsa/email/verify",
            &json!({ "email": email, "code": code }),
        )
    };
    let ticket_for = |email: &str| -> String {
        c.post(
            "/api/v1/reports/dsa/email/send",
            &json!({ "email": email.to_uppercase() }),
        )
        .expect(200);
        let mail = sink.wait_for(email, "report verification code");
        let code = crate::background::code_in(&mail);
        verify(email, "ZZZZ-ZZZZ").expect_error(400, "INVALID_DSA_VERIFICATION_CODE");
        let ticket = verify(email, &code).expect(200).json()["ticket"]
            .as_str()
            .unwrap()
            .to_owned();
        // A code gives one ticket.
        verify(email, &code).expect_error(400, "INVALID_DSA_VERIFICATION_CODE");
        ticket
    };
    let link = format!(
        "{}/channels/{guild}/{channel}/{}",
        server.base,
        message["id"].as_str().unwrap()
    );
    let notice = |ticket: &str, extra: Value| {
        let mut body = json!({
            "ticket": ticket, "category": "illegal_activity",
            "reporter_full_legal_name": "Erika Mustermann",
            "reporter_country_of_residence": "DE",
        });
        body.as_object_mut()
            .unwrap()
            .extend(extra.as_object().unwrap().clone());
        c.post("/api/v1/reports/dsa", &body)
    };

    // A malformed body leaves the ticket alone; looking the target up spends it, found or not,
    // so one ticket cannot probe for what exists.
    let first = ticket_for("notice1@example.com");
    let outside_eu = json!({ "report_type": "user", "user_id": bob_id, "category": "harassment",
                             "reporter_country_of_residence": "US" });
    assert_eq!(
        error_paths(&notice(&first, outside_eu).expect_error(400, "INVALID_FORM_BODY")),
        ["reporter_country_of_residence"]
    );
    notice(&first, json!({ "report_type": "spaceship" })).expect_error(400, "INVALID_FORM_BODY");
    notice(
        &first,
        json!({ "report_type": "message", "message_link": "https://x/nowhere" }),
    )
    .expect_error(404, "UNKNOWN_MESSAGE");
    notice(
        &first,
        json!({ "report_type": "message", "message_link": link }),
    )
    .expect_error(400, "INVALID_DSA_TICKET");

    let second = ticket_for("notice2@example.com");
    notice(
        &second,
        json!({ "report_type": "user", "user_id": bob_id, "user_tag": "someone#0001",
                "category": "harassment" }),
    )
    .expect_error(404, "UNKNOWN_USER");
    let third = ticket_for("notice3@example.com");
    notice(
        &third,
        json!({ "report_type": "guild", "guild_id": guild, "invite_code": "nope" }),
    )
    .expect_error(404, "UNKNOWN_INVITE");

    // Good notices are filed, once per ticket.
    let fourth = ticket_for("notice4@example.com");
    let filed = notice(
        &fourth,
        json!({ "report_type": "guild", "guild_id": guild,
                "invite_code": format!("{}/invite/{invite}", server.base) }),
    )
    .expect(200)
    .json();
    assert_eq!(filed["status"], "pending", "{filed}");
    notice(
        &fourth,
        json!({ "report_type": "message", "message_link": link }),
    )
    .expect_error(400, "INVALID_DSA_TICKET");
    // The author's tag, when given, must be the author's.
    let (someone, _) = register(&c, "someone@example.com", "someone");
    let me = someone.get("/api/v1/users/@me").expect(200).json();
    let someone_tag = format!("someone#{}", me["discriminator"].as_str().unwrap());
    let fifth = ticket_for("notice5@example.com");
    notice(
        &fifth,
        json!({ "report_type": "message", "message_link": link, "reported_user_tag": someone_tag }),
    )
    .expect_error(400, "INVALID_DSA_REPORT_TARGET");
    let sixth = ticket_for("notice6@example.com");
    notice(
        &sixth,
        json!({ "report_type": "message", "message_link": link }),
    )
    .expect(200);

    c.post(
        "/api/v1/reports/dsa/email/send",
        &json!({ "email": "not an address" }),
    )
    .expect_error(400, "INVALID_FORM_BODY");
}
