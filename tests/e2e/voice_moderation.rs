//! Voice moderation, camera limits and stream previews end to end (issue #17), against LiveKit's
//! own Python server SDK playing the room service (tests/e2e/livekit_server.py checks the Twirp
//! path, the body and our signed Authorization of every call): moves and disconnects by a
//! moderator, permission overwrites that revoke SPEAK or CONNECT, a deleted channel, a ban; the
//! camera limits of a busy channel; `/streams/{key}/preview` and `/streams/{key}/stream`.

use std::time::{Duration, Instant};

use base64::Engine;
use serde_json::{Value, json};

use crate::gateway::{Ws, identify, identify_ready, next_dispatch, runtime};
use crate::harness::{Client, Server};
use crate::voice::{LiveKit, next_state_of, refused, send, voice_channel, voice_server};
use crate::{create_guild, general_channel, invite_and_join, register};

const CONNECT: u64 = 1 << 20;
const SPEAK: u64 = 1 << 21;
const STREAM: u64 = 1 << 9;
const PRIORITY_SPEAKER: u64 = 1 << 8;
const USE_VAD: u64 = 1 << 25;

/// The room service calls of `method` about `identity` in `room`, once there are `n` of them.
fn calls_in(livekit: &LiveKit, method: &str, identity: &str, room: &str, n: usize) -> Vec<Value> {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let calls: Vec<Value> = livekit
            .calls()
            .into_iter()
            .filter(|c| {
                c["method"] == method
                    && c["body"]["identity"] == identity
                    && c["body"]["room"] == room
            })
            .collect();
        if calls.len() >= n {
            for c in &calls {
                assert_eq!(c["ok"], true, "the room service refused our call: {c}");
            }
            return calls;
        }
        assert!(
            Instant::now() < deadline,
            "fewer than {n} {method} for {identity} in {room}: {:?}",
            livekit.calls()
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Joins `channel` over `ws` and confirms it with LiveKit's signed `participant_joined`; returns
/// the connection id once `watcher` saw the state.
async fn join_confirmed(
    server: &Server,
    livekit: &LiveKit,
    ws: &mut Ws,
    watcher: &mut Ws,
    guild: &str,
    channel: &str,
    user: &str,
) -> String {
    send(ws, 4, json!({ "guild_id": guild, "channel_id": channel })).await;
    let update = next_dispatch(ws, "VOICE_SERVER_UPDATE").await["d"].clone();
    let connection = update["connection_id"].as_str().unwrap().to_owned();
    let (body, auth) = livekit.webhook(
        "participant_joined",
        &format!("guild_{guild}_channel_{channel}"),
        &format!("user_{user}_{connection}"),
    );
    assert_eq!(crate::voice::post_webhook(server, &body, Some(&auth)), 204);
    let state = next_state_of(watcher, user).await;
    assert_eq!(state["channel_id"], channel, "{state}");
    assert_eq!(state["connection_id"], connection.as_str());
    connection
}

/// Op 4's data for `channel` of `guild`, with `extra` fields.
fn op4(guild: &str, channel: &str, extra: Value) -> Value {
    let mut d = json!({ "guild_id": guild, "channel_id": channel });
    if let (Some(d), Some(extra)) = (d.as_object_mut(), extra.as_object()) {
        d.extend(extra.clone());
    }
    d
}

/// The voice states a fresh READY shows for `guild`.
async fn ready_states(gw: &str, token: &str, guild: &str) -> Vec<Value> {
    let (_, ready) = identify_ready(gw, token).await;
    ready["d"]["guilds"]
        .as_array()
        .unwrap()
        .iter()
        .find(|g| g["id"] == guild)
        .unwrap()["voice_states"]
        .as_array()
        .unwrap()
        .clone()
}

#[test]
fn moderators_move_disconnect_revoke_delete_and_ban_through_the_room_service() {
    let livekit = LiveKit::start();
    let server = voice_server(&livekit);
    let anon = server.client();
    let (owner, _owner_id) = register(&anon, "mo@example.com", "modowner");
    let (member, member_id) = register(&anon, "mm@example.com", "modmember");
    let guild = create_guild(&owner, "Moderated");
    let text = general_channel(&owner, &guild);
    invite_and_join(&owner, &text, &member);
    let lounge = voice_channel(&owner, &guild, "Lounge", json!({}));
    let stage = voice_channel(&owner, &guild, "Stage", json!({}));
    let hall = voice_channel(&owner, &guild, "Hall", json!({}));
    let room = |c: &str| format!("guild_{guild}_channel_{c}");
    let member_path = format!("/api/v1/guilds/{guild}/members/{member_id}");

    let gw = server.addr.clone();
    runtime().block_on(async {
        let mut watcher = identify(&gw, owner.token.as_deref().unwrap()).await;
        let mut ws = identify(&gw, member.token.as_deref().unwrap()).await;
        let conn = join_confirmed(
            &server,
            &livekit,
            &mut ws,
            &mut watcher,
            &guild,
            &lounge,
            &member_id,
        )
        .await;
        let identity = format!("user_{member_id}_{conn}");

        // A move into a channel that does not exist, or that is not a voice channel, is refused
        // and changes nothing.
        owner
            .patch(&member_path, &json!({ "channel_id": "123456789012345678" }))
            .expect_error(400, "VOICE_CHANNEL_NOT_FOUND");
        owner
            .patch(&member_path, &json!({ "channel_id": text }))
            .expect_error(400, "VOICE_INVALID_CHANNEL_TYPE");
        assert!(livekit.calls().is_empty(), "{:?}", livekit.calls());
        member
            .patch(
                &format!("/api/v1/guilds/{guild}/members/{_owner_id}"),
                &json!({ "channel_id": stage }),
            )
            .expect_error(403, "MISSING_PERMISSIONS");

        // Move: LiveKit removes it from the old room, the member's session gets a token for the
        // new one, and viewers see it leave and arrive.
        owner
            .patch(&member_path, &json!({ "channel_id": stage }))
            .expect(200);
        calls_in(&livekit, "RemoveParticipant", &identity, &room(&lounge), 1);
        let update = next_dispatch(&mut ws, "VOICE_SERVER_UPDATE").await["d"].clone();
        assert_eq!(update["connection_id"], conn.as_str());
        let claims = livekit.verify(update["token"].as_str().unwrap());
        assert_eq!(claims["ok"], true, "{claims}");
        assert_eq!(claims["video"]["room"], room(&stage).as_str());
        assert_eq!(
            next_state_of(&mut watcher, &member_id).await["channel_id"],
            Value::Null
        );
        assert_eq!(
            next_state_of(&mut watcher, &member_id).await["channel_id"],
            stage.as_str()
        );

        // Disconnect: `channel_id: null` removes the participant from the new room.
        owner
            .patch(&member_path, &json!({ "channel_id": null }))
            .expect(200);
        calls_in(&livekit, "RemoveParticipant", &identity, &room(&stage), 1);
        assert_eq!(
            next_state_of(&mut watcher, &member_id).await["channel_id"],
            Value::Null
        );
        assert!(
            ready_states(&gw, owner.token.as_deref().unwrap(), &guild)
                .await
                .is_empty()
        );

        // An overwrite that takes SPEAK and STREAM: the participant may publish nothing more,
        // and viewers get the updated state.
        let conn = join_confirmed(
            &server,
            &livekit,
            &mut ws,
            &mut watcher,
            &guild,
            &lounge,
            &member_id,
        )
        .await;
        let identity = format!("user_{member_id}_{conn}");
        let overwrite = format!("/api/v1/channels/{lounge}/permissions/{member_id}");
        owner
            .put(
                &overwrite,
                &json!({ "type": 1, "allow": "0", "deny": (SPEAK | STREAM).to_string() }),
            )
            .expect(204);
        let call = calls_in(&livekit, "UpdateParticipant", &identity, &room(&lounge), 1)
            .pop()
            .unwrap();
        assert_eq!(call["body"]["permission"]["can_publish"], false, "{call}");
        assert_eq!(call["body"]["permission"]["can_subscribe"], true, "{call}");
        let sources = call["body"]["permission"]["can_publish_sources"]
            .as_array()
            .cloned()
            .unwrap_or_default();
        assert!(sources.is_empty(), "{call}");
        let state = next_state_of(&mut watcher, &member_id).await;
        assert_eq!(state["channel_id"], lounge.as_str());
        assert_eq!(state["connection_id"], conn.as_str());

        // One that takes CONNECT: the participant is removed and viewers see it go.
        owner
            .put(
                &overwrite,
                &json!({ "type": 1, "allow": "0", "deny": (SPEAK | STREAM | CONNECT).to_string() }),
            )
            .expect(204);
        calls_in(&livekit, "RemoveParticipant", &identity, &room(&lounge), 1);
        assert_eq!(
            next_state_of(&mut watcher, &member_id).await["channel_id"],
            Value::Null
        );
        // And it cannot come back.
        assert_eq!(
            refused(&mut ws, json!({ "guild_id": guild, "channel_id": lounge })).await,
            "VOICE_PERMISSION_DENIED"
        );

        // Deleting the channel disconnects whoever is in it.
        let conn = join_confirmed(
            &server,
            &livekit,
            &mut ws,
            &mut watcher,
            &guild,
            &stage,
            &member_id,
        )
        .await;
        let identity = format!("user_{member_id}_{conn}");
        owner
            .delete(&format!("/api/v1/channels/{stage}"))
            .expect(204);
        calls_in(&livekit, "RemoveParticipant", &identity, &room(&stage), 1);
        let state = next_state_of(&mut watcher, &member_id).await;
        assert_eq!(state["channel_id"], Value::Null, "{state}");
        assert_eq!(state["connection_id"], conn.as_str());

        // A ban ends the member's voice too.
        let conn = join_confirmed(
            &server,
            &livekit,
            &mut ws,
            &mut watcher,
            &guild,
            &hall,
            &member_id,
        )
        .await;
        let identity = format!("user_{member_id}_{conn}");
        owner
            .put(
                &format!("/api/v1/guilds/{guild}/bans/{member_id}"),
                &json!({}),
            )
            .expect(204);
        calls_in(&livekit, "RemoveParticipant", &identity, &room(&hall), 1);
        let state = next_state_of(&mut watcher, &member_id).await;
        assert_eq!(state["channel_id"], Value::Null, "{state}");
        assert!(
            ready_states(&gw, owner.token.as_deref().unwrap(), &guild)
                .await
                .is_empty()
        );
    });
}

#[test]
fn camera_limits_and_client_side_voice_permissions() {
    let livekit = LiveKit::start();
    let server = voice_server(&livekit);
    let anon = server.client();
    let (owner, _) = register(&anon, "co@example.com", "camowner");
    let guild = create_guild(&owner, "Cameras");
    let text = general_channel(&owner, &guild);
    let cams = voice_channel(&owner, &guild, "Cams", json!({}));
    let members: Vec<(Client, String)> = (0..26)
        .map(|i| {
            let (c, id) = register(&anon, &format!("cam{i}@example.com"), &format!("cam{i}"));
            invite_and_join(&owner, &text, &c);
            (c, id)
        })
        .collect();
    // USE_VAD and PRIORITY_SPEAKER are the client's to honour, as upstream: denying them
    // changes nothing in what the server grants.
    owner
        .put(
            &format!("/api/v1/channels/{cams}/permissions/{}", members[0].1),
            &json!({ "type": 1, "allow": "0", "deny": (USE_VAD | PRIORITY_SPEAKER).to_string() }),
        )
        .expect(204);

    let gw = server.addr.clone();
    runtime().block_on(async {
        let mut sockets = Vec::new();
        for (c, _) in &members {
            sockets.push(identify(&gw, c.token.as_deref().unwrap()).await);
        }
        let mut watcher = identify(&gw, owner.token.as_deref().unwrap()).await;
        let join = |extra: Value| op4(&guild, &cams, extra);
        let mut connections = Vec::new();
        // 24 people in the channel, then one more with the camera on (25: allowed).
        for ws in sockets.iter_mut().take(25).skip(1) {
            send(ws, 4, join(json!({}))).await;
            let update = next_dispatch(ws, "VOICE_SERVER_UPDATE").await["d"].clone();
            connections.push(update["connection_id"].as_str().unwrap().to_owned());
        }
        send(&mut sockets[0], 4, join(json!({ "self_video": true }))).await;
        let update = next_dispatch(&mut sockets[0], "VOICE_SERVER_UPDATE").await["d"].clone();
        let cam_conn = update["connection_id"].as_str().unwrap().to_owned();
        let claims = livekit.verify(update["token"].as_str().unwrap());
        assert_eq!(claims["ok"], true, "{claims}");
        assert_eq!(claims["video"]["can_publish"], true);
        let sources = claims["video"]["can_publish_sources"].as_array().unwrap();
        for s in ["microphone", "camera", "screen_share", "screen_share_audio"] {
            assert!(sources.contains(&json!(s)), "{claims}");
        }

        // With a camera on, the channel holds 25 at most, whatever its own limit.
        assert_eq!(
            refused(&mut sockets[25], join(json!({}))).await,
            "VOICE_CHANNEL_FULL"
        );
        // Camera off (seen by everyone once LiveKit confirmed the join): the 26th gets in.
        owner
            .post(
                "/api/v1/test/voice/confirm-connection",
                &json!({ "connection_id": cam_conn }),
            )
            .expect(204);
        assert_eq!(
            next_state_of(&mut watcher, &members[0].1).await["self_video"],
            true
        );
        send(
            &mut sockets[0],
            4,
            join(json!({ "connection_id": cam_conn, "self_video": false })),
        )
        .await;
        assert_eq!(
            next_state_of(&mut watcher, &members[0].1).await["self_video"],
            false
        );
        send(&mut sockets[25], 4, join(json!({}))).await;
        next_dispatch(&mut sockets[25], "VOICE_SERVER_UPDATE").await;

        // 26 people: nobody may turn a camera on, and the refusal changes nothing.
        owner
            .post(
                "/api/v1/test/voice/confirm-connection",
                &json!({ "connection_id": connections[0] }),
            )
            .expect(204);
        assert_eq!(
            refused(
                &mut sockets[1],
                join(json!({ "connection_id": connections[0], "self_video": true }))
            )
            .await,
            "VOICE_CAMERA_USER_LIMIT"
        );
        let states = ready_states(&gw, owner.token.as_deref().unwrap(), &guild).await;
        let state = states
            .iter()
            .find(|s| s["connection_id"] == connections[0].as_str())
            .expect("the confirmed state is shown");
        assert_eq!(state["self_video"], false, "{state}");
        assert_eq!(
            refused(&mut sockets[25], join(json!({ "self_video": true }))).await,
            "VOICE_CAMERA_USER_LIMIT"
        );
    });
}

/// A tiny JPEG (start and end markers around a few bytes, as upstream checks).
fn jpeg(len: usize) -> Vec<u8> {
    let mut bytes = vec![0xff, 0xd8, 0xff, 0xe0];
    bytes.resize(len.max(6) - 2, 0x42);
    bytes.extend([0xff, 0xd9]);
    bytes
}

fn b64(bytes: &[u8]) -> String {
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

#[test]
fn stream_previews_and_regions() {
    let livekit = LiveKit::start();
    let server = voice_server(&livekit);
    let anon = server.client();
    let (owner, _) = register(&anon, "so@example.com", "streamowner");
    let (streamer, streamer_id) = register(&anon, "ss@example.com", "streamer");
    let (viewer, viewer_id) = register(&anon, "sv@example.com", "viewer");
    let (barred, barred_id) = register(&anon, "sb@example.com", "barred");
    let (stranger, _) = register(&anon, "sx@example.com", "outsider");
    let guild = create_guild(&owner, "Streams");
    let text = general_channel(&owner, &guild);
    for c in [&streamer, &viewer, &barred] {
        invite_and_join(&owner, &text, c);
    }
    let screen = voice_channel(&owner, &guild, "Screen", json!({}));
    let other = voice_channel(&owner, &guild, "Other", json!({}));
    owner
        .put(
            &format!("/api/v1/channels/{screen}/permissions/{barred_id}"),
            &json!({ "type": 1, "allow": "0", "deny": CONNECT.to_string() }),
        )
        .expect(204);

    let gw = server.addr.clone();
    let rt = runtime();
    // The streamer's session (and so its voice state) stays open while the REST calls run.
    let (_ws, conn) = rt.block_on(async {
        let mut ws = identify(&gw, streamer.token.as_deref().unwrap()).await;
        send(
            &mut ws,
            4,
            json!({ "guild_id": guild, "channel_id": screen, "self_stream": true }),
        )
        .await;
        let update = next_dispatch(&mut ws, "VOICE_SERVER_UPDATE").await["d"].clone();
        (ws, update["connection_id"].as_str().unwrap().to_owned())
    });
    owner
        .post(
            "/api/v1/test/voice/confirm-connection",
            &json!({ "connection_id": conn }),
        )
        .expect(204);
    let key = format!("{guild}:{screen}:{conn}");
    let preview = format!("/api/v1/streams/{key}/preview");
    let stream = format!("/api/v1/streams/{key}/stream");
    let image = jpeg(2048);
    let upload = |who: &Client, body: Value| who.post(&preview, &body);
    let good =
        json!({ "channel_id": screen, "thumbnail": b64(&image), "content_type": "image/jpeg" });

    // Nothing yet: 404 with an empty body, as upstream.
    let r = viewer.get(&preview).expect(404);
    assert!(r.body.is_empty());

    // Bad input is refused and stores nothing.
    let bad_keys = [
        "nope",
        "1:2",
        "x:2:abc",
        "1:x:abc",
        "1:2:",
        "1:2:a:b",
        "1:2:..%2F..%2Fetc",
    ];
    for k in bad_keys {
        streamer
            .post(&format!("/api/v1/streams/{k}/preview"), &good)
            .expect_error(400, "INVALID_STREAM_KEY_FORMAT");
        viewer
            .get(&format!("/api/v1/streams/{k}/preview"))
            .expect_error(400, "INVALID_STREAM_KEY_FORMAT");
    }
    let long_key = format!("{guild}:{screen}:{}", "a".repeat(300));
    streamer
        .post(&format!("/api/v1/streams/{long_key}/preview"), &good)
        .expect_error(400, "INVALID_FORM_BODY");
    streamer
        .post(
            &format!("/api/v1/streams/dm:{screen}:{conn}/preview"),
            &good,
        )
        .expect_error(400, "STREAM_KEY_SCOPE_MISMATCH");
    let mut wrong_channel = good.clone();
    wrong_channel["channel_id"] = json!(other);
    upload(&streamer, wrong_channel).expect_error(400, "STREAM_KEY_CHANNEL_MISMATCH");
    upload(&streamer, json!({ "thumbnail": b64(&image) })).expect_error(400, "INVALID_FORM_BODY");
    upload(&streamer, json!({ "channel_id": screen, "thumbnail": "" }))
        .expect_error(400, "INVALID_FORM_BODY");
    upload(
        &streamer,
        json!({ "channel_id": screen, "thumbnail": "not base64 at all!" }),
    )
    .expect_error(400, "INVALID_STREAM_THUMBNAIL_PAYLOAD");
    upload(
        &streamer,
        json!({ "channel_id": screen, "thumbnail": b64(b"\x89PNG\r\n\x1a\nxxxx"), "content_type": "image/png" }),
    )
    .expect_error(400, "PREVIEW_MUST_BE_JPEG");
    upload(
        &streamer,
        json!({ "channel_id": screen, "thumbnail": b64(&jpeg(1_000_001)) }),
    )
    .expect_error(400, "FILE_SIZE_TOO_LARGE");
    upload(
        &streamer,
        json!({ "channel_id": screen, "thumbnail": "A".repeat(2_000_001) }),
    )
    .expect_error(400, "INVALID_FORM_BODY");
    // Only the streamer sets its preview; others who may connect cannot, outsiders see nothing.
    upload(&viewer, good.clone()).expect_error(403, "MISSING_PERMISSIONS");
    upload(&barred, good.clone()).expect_error(403, "MISSING_PERMISSIONS");
    upload(&stranger, good.clone()).expect_error(404, "UNKNOWN_CHANNEL");
    assert!(viewer.get(&preview).expect(404).body.is_empty());

    // The streamer's JPEG, served to anyone who may connect, never cached.
    upload(&streamer, good.clone()).expect(204);
    let r = viewer.get(&preview).expect(200);
    assert_eq!(r.body, image);
    assert_eq!(r.header("content-type"), Some("image/jpeg"));
    assert_eq!(r.header("cache-control"), Some("no-store, private"));
    assert_eq!(r.header("x-content-type-options"), Some("nosniff"));
    barred
        .get(&preview)
        .expect_error(403, "MISSING_PERMISSIONS");
    stranger.get(&preview).expect_error(404, "UNKNOWN_CHANNEL");
    // A declared type is never echoed back: it is served as a JPEG.
    let replaced = jpeg(4096);
    upload(
        &streamer,
        json!({ "channel_id": screen, "thumbnail": b64(&replaced), "content_type": "text/html; jpeg" }),
    )
    .expect(204);
    let r = viewer.get(&preview).expect(200);
    assert_eq!(r.body, replaced);
    assert_eq!(r.header("content-type"), Some("image/jpeg"));

    // The stream's region: the streamer's to set; bad input refused.
    streamer
        .patch(&stream, &json!({ "region": "eu-test" }))
        .expect(204);
    streamer.patch(&stream, &json!({})).expect(204);
    streamer
        .patch(&stream, &json!({ "region": "" }))
        .expect_error(400, "INVALID_FORM_BODY");
    streamer
        .patch(&stream, &json!({ "region": "x".repeat(65) }))
        .expect_error(400, "INVALID_FORM_BODY");
    streamer
        .patch(
            "/api/v1/streams/garbage/stream",
            &json!({ "region": "eu-test" }),
        )
        .expect_error(400, "INVALID_STREAM_KEY_FORMAT");
    viewer
        .patch(&stream, &json!({ "region": "eu-test" }))
        .expect_error(403, "MISSING_PERMISSIONS");
    let _ = viewer_id;
    let _ = streamer_id;
}

/// The close code of the next close frame.
async fn close_code(ws: &mut Ws) -> u16 {
    loop {
        match tokio::time::timeout(Duration::from_secs(10), futures_util::StreamExt::next(ws))
            .await
            .expect("the server closes")
        {
            Some(Ok(tokio_tungstenite::tungstenite::Message::Close(Some(frame)))) => {
                return u16::from(frame.code);
            }
            Some(Ok(_)) => continue,
            other => panic!("expected a close frame, got {other:?}"),
        }
    }
}

#[test]
fn refused_and_malformed_op4s_leave_no_state_behind() {
    let livekit = LiveKit::start();
    let server = voice_server(&livekit);
    let anon = server.client();
    let (owner, _) = register(&anon, "bo@example.com", "badowner");
    let (member, member_id) = register(&anon, "bm@example.com", "badmember");
    let (stranger, _) = register(&anon, "bs@example.com", "badstranger");
    let guild = create_guild(&owner, "Bad input");
    let text = general_channel(&owner, &guild);
    invite_and_join(&owner, &text, &member);
    let lounge = voice_channel(&owner, &guild, "Lounge", json!({}));
    let foreign_guild = create_guild(&stranger, "Not yours");
    let foreign_voice = voice_channel(&stranger, &foreign_guild, "Theirs", json!({}));

    let gw = server.addr.clone();
    runtime().block_on(async {
        let mut watcher = identify(&gw, owner.token.as_deref().unwrap()).await;
        let mut ws = identify(&gw, member.token.as_deref().unwrap()).await;
        let conn = join_confirmed(
            &server,
            &livekit,
            &mut ws,
            &mut watcher,
            &guild,
            &lounge,
            &member_id,
        )
        .await;

        // Refused joins elsewhere keep the member where it is, and add nothing.
        for (d, code) in [
            (
                op4(&guild, "123456789012345678", json!({})),
                "VOICE_CHANNEL_NOT_FOUND",
            ),
            (op4(&guild, &text, json!({})), "VOICE_INVALID_CHANNEL_TYPE"),
            (
                op4(&foreign_guild, &foreign_voice, json!({})),
                "VOICE_GUILD_NOT_FOUND",
            ),
            // A guild's channel named under another guild is not found either.
            (
                op4(&guild, &foreign_voice, json!({})),
                "VOICE_CHANNEL_NOT_FOUND",
            ),
            (
                op4(&guild, &text, json!({ "connection_id": conn })),
                "VOICE_INVALID_CHANNEL_TYPE",
            ),
        ] {
            assert_eq!(refused(&mut ws, d).await, code);
        }
        let states = ready_states(&gw, owner.token.as_deref().unwrap(), &guild).await;
        assert_eq!(states.len(), 1, "{states:?}");
        assert_eq!(states[0]["connection_id"], conn.as_str());
        assert_eq!(states[0]["channel_id"], lounge.as_str());
        assert!(livekit.calls().is_empty(), "{:?}", livekit.calls());

        // Malformed op 4s close the connection with 4002 (decode error) before anything is
        // looked at; none of them creates a state.
        for d in [
            json!("not an object"),
            json!({ "guild_id": guild, "channel_id": lounge, "self_mute": "yes" }),
            json!({ "guild_id": "not a snowflake", "channel_id": lounge }),
            json!({ "guild_id": guild, "channel_id": lounge, "viewer_stream_keys": "k" }),
        ] {
            let mut other = identify(&gw, member.token.as_deref().unwrap()).await;
            send(&mut other, 4, d.clone()).await;
            assert_eq!(close_code(&mut other).await, 4002, "{d}");
        }
        let states = ready_states(&gw, owner.token.as_deref().unwrap(), &guild).await;
        assert_eq!(states.len(), 1, "{states:?}");
        assert_eq!(states[0]["connection_id"], conn.as_str());
    });
}
