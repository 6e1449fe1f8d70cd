//! Voice on LiveKit end to end (issue #17), with LiveKit's own Python server SDK on the other side
//! (tests/e2e/livekit_server.py): it verifies the tokens the server mints (identity, room, grants,
//! expiry), signs the webhooks the server must accept (and the tampered ones it must refuse), and
//! plays LiveKit's room service, checking the Twirp path, the body and the signed Authorization of
//! every moderation call. Joins, switches, self flags, leaves, server mute and deafen, kicks,
//! refusals (no CONNECT, a full channel, unknown or text channels, a foreign guild, a malformed
//! op 4), DM calls.

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use futures_util::SinkExt;
use serde_json::{Value, json};
use tokio_tungstenite::tungstenite::Message;

use crate::gateway::{Ws, identify, identify_ready, next, next_dispatch, runtime};
use crate::harness::{Client, Server};
use crate::{create_guild, general_channel, invite_and_join, register};

const API_KEY: &str = "fluxer-test-key";
const API_SECRET: &str = "a-livekit-secret-of-at-least-32-characters";

/// LiveKit's SDK behind a small HTTP server; killed on drop.
pub(crate) struct LiveKit {
    child: Child,
    client: Client,
    port: u16,
    port_file: PathBuf,
}

impl LiveKit {
    pub(crate) fn start() -> LiveKit {
        let port_file = std::env::temp_dir().join(format!(
            "fluxer-livekit-{}-{:?}",
            std::process::id(),
            std::thread::current().id()
        ));
        let _ = std::fs::remove_file(&port_file);
        let script = concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../../tests/e2e/livekit_server.py"
        );
        let mut child = Command::new("python3")
            .arg(script)
            .arg(&port_file)
            .arg(API_KEY)
            .arg(API_SECRET)
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("python3 must be installed to run LiveKit's SDK (livekit-api)");
        let deadline = Instant::now() + Duration::from_secs(20);
        let port: u16 = loop {
            if let Ok(port) = std::fs::read_to_string(&port_file) {
                break port.trim().parse().unwrap();
            }
            if let Some(status) = child.try_wait().unwrap() {
                let mut err = String::new();
                use std::io::Read;
                let _ = child.stderr.take().unwrap().read_to_string(&mut err);
                panic!(
                    "the LiveKit helper exited ({status}): {err}\ninstall its modules with \
                     `pip install -r tests/requirements.txt`"
                );
            }
            assert!(
                Instant::now() < deadline,
                "the LiveKit helper did not start"
            );
            std::thread::sleep(Duration::from_millis(50));
        };
        LiveKit {
            child,
            client: Client {
                addr: format!("127.0.0.1:{port}"),
                token: None,
                retry_on_429: false,
            },
            port,
            port_file,
        }
    }

    pub(crate) fn url(&self) -> String {
        format!("ws://127.0.0.1:{}", self.port)
    }

    /// The claims of a token, as LiveKit's SDK reads them (`ok: false` when it does not verify).
    pub(crate) fn verify(&self, token: &str) -> Value {
        self.client
            .post("/verify", &json!({ "token": token }))
            .expect(200)
            .json()
    }

    /// A webhook signed by LiveKit's SDK: `(body, authorization)`.
    pub(crate) fn webhook(&self, event: &str, room: &str, identity: &str) -> (String, String) {
        let r = self
            .client
            .post(
                "/sign-webhook",
                &json!({ "event": event, "room": room, "identity": identity }),
            )
            .expect(200)
            .json();
        (
            r["body"].as_str().unwrap().to_owned(),
            r["authorization"].as_str().unwrap().to_owned(),
        )
    }

    pub(crate) fn calls(&self) -> Vec<Value> {
        self.client
            .get("/calls")
            .expect(200)
            .json()
            .as_array()
            .unwrap()
            .clone()
    }
}

impl Drop for LiveKit {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_file(&self.port_file);
    }
}

pub(crate) fn voice_server(livekit: &LiveKit) -> Server {
    voice_server_in(livekit, None)
}

/// A voice-enabled server, in `data_dir` when given (a restart keeps what was stored).
fn voice_server_in(livekit: &LiveKit, data_dir: Option<PathBuf>) -> Server {
    let url = livekit.url();
    let env = [
        ("FLUXER_CONFIG__ENV", "test"),
        ("FLUXER_CONFIG__DEV__DISABLE_RATE_LIMITS", "true"),
        ("FLUXER_CONFIG__DEV__TEST_MODE_ENABLED", "true"),
        ("FLUXER_CONFIG__INTEGRATIONS__VOICE__ENABLED", "true"),
        ("FLUXER_CONFIG__INTEGRATIONS__VOICE__API_KEY", API_KEY),
        ("FLUXER_CONFIG__INTEGRATIONS__VOICE__API_SECRET", API_SECRET),
        ("FLUXER_CONFIG__INTEGRATIONS__VOICE__URL", url.as_str()),
        (
            "FLUXER_CONFIG__INTEGRATIONS__VOICE__DEFAULT_REGION__ID",
            "eu-test",
        ),
        (
            "FLUXER_CONFIG__INTEGRATIONS__VOICE__DEFAULT_REGION__NAME",
            "Europe (test)",
        ),
    ];
    match data_dir {
        Some(dir) => Server::start_in(dir, &env),
        None => Server::start(&env),
    }
}

pub(crate) fn voice_channel(owner: &Client, guild: &str, name: &str, extra: Value) -> String {
    let mut body = json!({ "name": name, "type": 2 });
    if let (Some(b), Some(e)) = (body.as_object_mut(), extra.as_object()) {
        for (k, v) in e {
            b.insert(k.clone(), v.clone());
        }
    }
    owner
        .post(&format!("/api/v1/guilds/{guild}/channels"), &body)
        .expect(200)
        .json()["id"]
        .as_str()
        .unwrap()
        .to_owned()
}

pub(crate) async fn send(ws: &mut Ws, op: u8, d: Value) {
    ws.send(Message::Text(
        json!({ "op": op, "d": d }).to_string().into(),
    ))
    .await
    .unwrap();
}

/// The next VOICE_STATE_UPDATE about `user`.
pub(crate) async fn next_state_of(ws: &mut Ws, user: &str) -> Value {
    loop {
        let f = next_dispatch(ws, "VOICE_STATE_UPDATE").await;
        if f["d"]["user_id"] == user {
            return f["d"].clone();
        }
    }
}

/// Op 4 expecting a refusal: the op 12 code.
pub(crate) async fn refused(ws: &mut Ws, d: Value) -> String {
    send(ws, 4, d).await;
    loop {
        let f = next(ws).await;
        assert_ne!(f["t"], "VOICE_SERVER_UPDATE", "expected a refusal, got {f}");
        if f["op"] == 12 {
            assert!(f["d"]["message"].is_string(), "{f}");
            return f["d"]["code"].as_str().unwrap().to_owned();
        }
    }
}

/// Posts a webhook as LiveKit does (the token alone in Authorization).
pub(crate) fn post_webhook(server: &Server, body: &str, authorization: Option<&str>) -> u16 {
    let mut headers = vec![("Content-Type", "application/webhook+json")];
    if let Some(a) = authorization {
        headers.push(("Authorization", a));
    }
    server
        .client()
        .raw(
            "POST",
            "/api/v1/webhooks/livekit",
            &headers,
            body.as_bytes(),
        )
        .status
}

pub(crate) fn wait_for_call(livekit: &LiveKit, method: &str, identity: &str) -> Value {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        if let Some(c) = livekit
            .calls()
            .into_iter()
            .find(|c| c["method"] == method && c["body"]["identity"] == identity)
        {
            assert_eq!(c["ok"], true, "the room service refused our call: {c}");
            return c;
        }
        assert!(
            Instant::now() < deadline,
            "no {method} for {identity}: {:?}",
            livekit.calls()
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn voice_channels_join_switch_and_leave_with_livekit_tokens_and_webhooks() {
    let livekit = LiveKit::start();
    let server = voice_server(&livekit);
    let anon = server.client();
    let well_known = anon.get("/.well-known/fluxer").expect(200).json();
    assert_eq!(well_known["features"]["voice_enabled"], true);

    let (owner, owner_id) = register(&anon, "vo@example.com", "voiceowner");
    let (member, member_id) = register(&anon, "vm@example.com", "voicemember");
    let guild = create_guild(&owner, "Voice");
    let text = general_channel(&owner, &guild);
    invite_and_join(&owner, &text, &member);
    let lounge = voice_channel(&owner, &guild, "Lounge", json!({}));
    let stage = voice_channel(&owner, &guild, "Stage", json!({}));

    let regions = member.get("/api/v1/voice/regions").expect(200).json();
    assert_eq!(
        regions,
        json!([{ "id": "eu-test", "name": "Europe (test)", "emoji": "🌐" }])
    );
    assert_eq!(
        member
            .get(&format!("/api/v1/channels/{lounge}/rtc-regions"))
            .expect(200)
            .json(),
        regions
    );
    member
        .get(&format!("/api/v1/channels/{text}/rtc-regions"))
        .expect_error(400, "INVALID_CHANNEL_TYPE");

    let gw = server.addr.clone();
    runtime().block_on(async {
        let mut watcher = identify(&gw, owner.token.as_deref().unwrap()).await;
        let mut ws = identify(&gw, member.token.as_deref().unwrap()).await;

        // Join: a token for this session only, nothing announced until LiveKit confirms.
        send(
            &mut ws,
            4,
            json!({ "guild_id": guild, "channel_id": lounge, "self_mute": false, "self_deaf": false }),
        )
        .await;
        let update = next_dispatch(&mut ws, "VOICE_SERVER_UPDATE").await["d"].clone();
        assert_eq!(update["guild_id"], guild.as_str());
        assert_eq!(update["endpoint"], livekit.url());
        let connection = update["connection_id"].as_str().unwrap().to_owned();
        let identity = format!("user_{member_id}_{connection}");
        let room = format!("guild_{guild}_channel_{lounge}");

        let claims = livekit.verify(update["token"].as_str().unwrap());
        assert_eq!(claims["ok"], true, "{claims}");
        assert_eq!(claims["identity"], identity.as_str());
        assert_eq!(claims["video"]["room"], room.as_str());
        assert_eq!(claims["video"]["room_join"], true);
        assert_eq!(claims["video"]["can_publish"], true);
        assert_eq!(claims["video"]["can_subscribe"], true);
        let sources = claims["video"]["can_publish_sources"].as_array().unwrap();
        for s in ["microphone", "camera", "screen_share", "screen_share_audio"] {
            assert!(sources.contains(&json!(s)), "{claims}");
        }
        let ttl = claims["exp"].as_i64().unwrap() - claims["now"].as_i64().unwrap();
        assert!((6 * 3600 - 60..=6 * 3600 + 5).contains(&ttl), "{claims}");
        let metadata: Value = serde_json::from_str(claims["metadata"].as_str().unwrap()).unwrap();
        assert_eq!(metadata["user_id"], member_id.as_str());
        assert_eq!(metadata["guild_id"], guild.as_str());
        assert_eq!(metadata["channel_id"], lounge.as_str());
        assert_eq!(metadata["connection_id"], connection.as_str());
        assert_eq!(metadata["region_id"], "eu-test");
        // With its signature altered, it does not verify.
        let token = update["token"].as_str().unwrap();
        let tail = if token.ends_with("AAAA") { "BBBB" } else { "AAAA" };
        let forged = format!("{}{tail}", &token[..token.len() - 4]);
        assert_eq!(livekit.verify(&forged)["ok"], false);

        // Unsigned and tampered webhooks are refused and change nothing.
        let (body, auth) = livekit.webhook("participant_joined", &room, &identity);
        assert_eq!(post_webhook(&server, &body, None), 401);
        let tampered = body.replace(&lounge, &stage);
        assert_ne!(tampered, body);
        assert_eq!(post_webhook(&server, &tampered, Some(&auth)), 401);
        assert_eq!(post_webhook(&server, &body, Some("not-a-token")), 401);
        let (snapshot_ws, ready) = identify_ready(&gw, owner.token.as_deref().unwrap()).await;
        drop(snapshot_ws);
        let g = ready["d"]["guilds"]
            .as_array()
            .unwrap()
            .iter()
            .find(|g| g["id"] == guild.as_str())
            .unwrap()
            .clone();
        assert_eq!(g["voice_states"], json!([]), "pending joins are not shown");

        // LiveKit's signed participant_joined confirms it: everyone who sees the channel hears.
        assert_eq!(post_webhook(&server, &body, Some(&auth)), 204);
        let state = next_state_of(&mut watcher, &member_id).await;
        assert_eq!(state["channel_id"], lounge.as_str());
        assert_eq!(state["guild_id"], guild.as_str());
        assert_eq!(state["connection_id"], connection.as_str());
        assert!(state["session_id"].as_str().is_some_and(|s| !s.is_empty()));
        assert_eq!(state["member"]["user"]["id"], member_id.as_str());
        assert_eq!((state["mute"].clone(), state["deaf"].clone()), (json!(false), json!(false)));

        // Self flags: mute, deafen, camera.
        send(
            &mut ws,
            4,
            json!({ "guild_id": guild, "channel_id": lounge, "connection_id": connection,
                    "self_mute": true, "self_deaf": true, "self_video": true }),
        )
        .await;
        let state = next_state_of(&mut watcher, &member_id).await;
        assert_eq!(
            (state["self_mute"].clone(), state["self_deaf"].clone(), state["self_video"].clone()),
            (json!(true), json!(true), json!(true))
        );

        // Switch: a new token for the other room, same connection; watchers see it move.
        send(
            &mut ws,
            4,
            json!({ "guild_id": guild, "channel_id": stage, "connection_id": connection }),
        )
        .await;
        let update = next_dispatch(&mut ws, "VOICE_SERVER_UPDATE").await["d"].clone();
        assert_eq!(update["connection_id"], connection.as_str());
        let claims = livekit.verify(update["token"].as_str().unwrap());
        assert_eq!(claims["video"]["room"], format!("guild_{guild}_channel_{stage}"));
        assert_eq!(next_state_of(&mut watcher, &member_id).await["channel_id"], Value::Null);
        assert_eq!(next_state_of(&mut watcher, &member_id).await["channel_id"], stage.as_str());
        // LiveKit sees it join the new room, then reports the old room's departure, which does
        // not end the new one.
        let stage_room = format!("guild_{guild}_channel_{stage}");
        let (joined, joined_auth) = livekit.webhook("participant_joined", &stage_room, &identity);
        assert_eq!(post_webhook(&server, &joined, Some(&joined_auth)), 204);
        let (left_body, left_auth) = livekit.webhook("participant_left", &room, &identity);
        assert_eq!(post_webhook(&server, &left_body, Some(&left_auth)), 204);
        let (_, ready) = identify_ready(&gw, owner.token.as_deref().unwrap()).await;
        let g = ready["d"]["guilds"]
            .as_array()
            .unwrap()
            .iter()
            .find(|g| g["id"] == guild.as_str())
            .unwrap()
            .clone();
        let states = g["voice_states"].as_array().unwrap();
        assert_eq!(states.len(), 1, "{g}");
        assert_eq!(states[0]["channel_id"], stage.as_str());
        assert_eq!(states[0]["user_id"], member_id.as_str());

        // Server deafen and mute go to LiveKit's room service and to everyone.
        owner
            .patch(
                &format!("/api/v1/guilds/{guild}/members/{member_id}"),
                &json!({ "deaf": true }),
            )
            .expect(200);
        let call = wait_for_call(&livekit, "UpdateParticipant", &identity);
        assert_eq!(call["body"]["room"], stage_room.as_str());
        assert_eq!(call["body"]["permission"]["can_subscribe"], false);
        assert_eq!(call["body"]["permission"]["can_publish"], false);
        assert_eq!(next_state_of(&mut watcher, &member_id).await["deaf"], true);
        owner
            .patch(
                &format!("/api/v1/guilds/{guild}/members/{member_id}"),
                &json!({ "deaf": false, "mute": true }),
            )
            .expect(200);
        let state = next_state_of(&mut watcher, &member_id).await;
        assert_eq!((state["mute"].clone(), state["deaf"].clone()), (json!(true), json!(false)));
        let calls: Vec<Value> = livekit
            .calls()
            .into_iter()
            .filter(|c| c["method"] == "UpdateParticipant")
            .collect();
        let last = calls.last().unwrap();
        assert_eq!(last["ok"], true, "{last}");
        let sources = last["body"]["permission"]["can_publish_sources"].as_array().unwrap();
        assert!(!sources.contains(&json!("MICROPHONE")), "{last}");
        assert!(sources.contains(&json!("CAMERA")), "{last}");
        assert_eq!(last["body"]["permission"]["can_subscribe"], true);

        // Leave.
        send(
            &mut ws,
            4,
            json!({ "guild_id": guild, "channel_id": null, "connection_id": connection }),
        )
        .await;
        assert_eq!(next_state_of(&mut watcher, &member_id).await["channel_id"], Value::Null);
        let (_, ready) = identify_ready(&gw, owner.token.as_deref().unwrap()).await;
        let g = ready["d"]["guilds"]
            .as_array()
            .unwrap()
            .iter()
            .find(|g| g["id"] == guild.as_str())
            .unwrap()
            .clone();
        assert_eq!(g["voice_states"], json!([]));
        drop(owner_id);
    });
}

#[test]
fn voice_refusals_kicks_and_dm_calls() {
    let livekit = LiveKit::start();
    let server = voice_server(&livekit);
    let anon = server.client();
    let (owner, _owner_id) = register(&anon, "ro@example.com", "refuseowner");
    let (member, member_id) = register(&anon, "rm@example.com", "refusemember");
    let (stranger, _) = register(&anon, "rs@example.com", "stranger");
    let guild = create_guild(&owner, "Rules");
    let text = general_channel(&owner, &guild);
    invite_and_join(&owner, &text, &member);
    let foreign_guild = create_guild(&stranger, "Elsewhere");
    let foreign_voice = voice_channel(&stranger, &foreign_guild, "Theirs", json!({}));
    let locked = voice_channel(
        &owner,
        &guild,
        "Locked",
        json!({ "permission_overwrites": [
            { "id": guild, "type": 0, "allow": "0", "deny": (1u64 << 20).to_string() }
        ] }),
    );
    let small = voice_channel(&owner, &guild, "Small", json!({ "user_limit": 1 }));
    let open = voice_channel(&owner, &guild, "Open", json!({}));

    let gw = server.addr.clone();
    runtime().block_on(async {
        let mut watcher = identify(&gw, owner.token.as_deref().unwrap()).await;
        let mut ws = identify(&gw, member.token.as_deref().unwrap()).await;

        assert_eq!(
            refused(&mut ws, json!({ "guild_id": guild, "channel_id": locked })).await,
            "VOICE_PERMISSION_DENIED"
        );
        assert_eq!(
            refused(
                &mut ws,
                json!({ "guild_id": guild, "channel_id": "123456789012345678" })
            )
            .await,
            "VOICE_CHANNEL_NOT_FOUND"
        );
        assert_eq!(
            refused(&mut ws, json!({ "guild_id": guild, "channel_id": text })).await,
            "VOICE_INVALID_CHANNEL_TYPE"
        );
        assert_eq!(
            refused(
                &mut ws,
                json!({ "guild_id": foreign_guild, "channel_id": foreign_voice })
            )
            .await,
            "VOICE_GUILD_NOT_FOUND"
        );
        assert_eq!(
            refused(
                &mut ws,
                json!({ "guild_id": guild, "channel_id": null, "connection_id": "nope" })
            )
            .await,
            "VOICE_CONNECTION_NOT_FOUND"
        );

        // A full channel: the owner is in it (confirmed through upstream's test route).
        send(
            &mut watcher,
            4,
            json!({ "guild_id": guild, "channel_id": small }),
        )
        .await;
        let owner_conn =
            next_dispatch(&mut watcher, "VOICE_SERVER_UPDATE").await["d"]["connection_id"]
                .as_str()
                .unwrap()
                .to_owned();
        owner
            .post(
                "/api/v1/test/voice/confirm-connection",
                &json!({ "connection_id": owner_conn }),
            )
            .expect(204);
        assert_eq!(
            next_state_of(&mut watcher, &_owner_id).await["channel_id"],
            small.as_str()
        );
        assert_eq!(
            refused(&mut ws, json!({ "guild_id": guild, "channel_id": small })).await,
            "VOICE_CHANNEL_FULL"
        );

        // Nothing above left a state behind.
        let (_, ready) = identify_ready(&gw, owner.token.as_deref().unwrap()).await;
        let g = ready["d"]["guilds"]
            .as_array()
            .unwrap()
            .iter()
            .find(|g| g["id"] == guild.as_str())
            .unwrap()
            .clone();
        let states = g["voice_states"].as_array().unwrap();
        assert_eq!(states.len(), 1, "{g}");
        assert_eq!(states[0]["connection_id"], owner_conn.as_str());
        // LiveKit's signed participant_left clears the state.
        let (left, left_auth) = livekit.webhook(
            "participant_left",
            &format!("guild_{guild}_channel_{small}"),
            &format!("user_{_owner_id}_{owner_conn}"),
        );
        assert_eq!(post_webhook(&server, &left, Some(&left_auth)), 204);
        assert_eq!(
            next_state_of(&mut watcher, &_owner_id).await["channel_id"],
            Value::Null
        );

        // A kicked member's voice state goes, and LiveKit is told to remove it.
        send(&mut ws, 4, json!({ "guild_id": guild, "channel_id": open })).await;
        let conn = next_dispatch(&mut ws, "VOICE_SERVER_UPDATE").await["d"]["connection_id"]
            .as_str()
            .unwrap()
            .to_owned();
        let identity = format!("user_{member_id}_{conn}");
        let (body, auth) = livekit.webhook(
            "participant_joined",
            &format!("guild_{guild}_channel_{open}"),
            &identity,
        );
        assert_eq!(post_webhook(&server, &body, Some(&auth)), 204);
        assert_eq!(
            next_state_of(&mut watcher, &member_id).await["channel_id"],
            open.as_str()
        );
        owner
            .delete(&format!("/api/v1/guilds/{guild}/members/{member_id}"))
            .expect(204);
        assert_eq!(
            next_state_of(&mut watcher, &member_id).await["channel_id"],
            Value::Null
        );
        let call = wait_for_call(&livekit, "RemoveParticipant", &identity);
        assert_eq!(
            call["body"]["room"],
            format!("guild_{guild}_channel_{open}")
        );

        // A malformed op 4 closes the connection with 4002, and leaves nothing behind.
        send(
            &mut ws,
            4,
            json!({ "guild_id": guild, "channel_id": { "not": "an id" } }),
        )
        .await;
        loop {
            match tokio::time::timeout(
                Duration::from_secs(10),
                futures_util::StreamExt::next(&mut ws),
            )
            .await
            .expect("the server closes")
            {
                Some(Ok(Message::Close(Some(frame)))) => {
                    assert_eq!(u16::from(frame.code), 4002);
                    break;
                }
                Some(Ok(_)) => continue,
                other => panic!("expected a close frame, got {other:?}"),
            }
        }

        // DM calls: the room is the DM's, the other recipient sees the state once confirmed.
        let dm = owner
            .post(
                "/api/v1/users/@me/channels",
                &json!({ "recipient_id": member_id }),
            )
            .expect(200)
            .json()["id"]
            .as_str()
            .unwrap()
            .to_owned();
        let mut ws = identify(&gw, member.token.as_deref().unwrap()).await;
        assert_eq!(
            owner
                .get(&format!("/api/v1/channels/{dm}/call"))
                .expect(200)
                .json(),
            json!({ "ringable": true, "silent": false })
        );
        owner
            .get(&format!("/api/v1/channels/{text}/call"))
            .expect_error(400, "INVALID_CHANNEL_TYPE");
        owner
            .post(&format!("/api/v1/channels/{dm}/call/ring"), &json!({}))
            .expect(204);
        let call = next_dispatch(&mut ws, "CALL_CREATE").await["d"].clone();
        assert_eq!(call["channel_id"], dm.as_str());
        assert_eq!(call["ringing"], json!([member_id]));

        send(&mut ws, 4, json!({ "guild_id": null, "channel_id": dm })).await;
        let update = next_dispatch(&mut ws, "VOICE_SERVER_UPDATE").await["d"].clone();
        assert_eq!(update["channel_id"], dm.as_str());
        assert!(update.get("guild_id").is_none(), "{update}");
        let claims = livekit.verify(update["token"].as_str().unwrap());
        let dm_room = format!("dm_channel_{dm}");
        assert_eq!(claims["video"]["room"], dm_room.as_str());
        let metadata: Value = serde_json::from_str(claims["metadata"].as_str().unwrap()).unwrap();
        assert_eq!(metadata["dm_call"], "true");
        owner
            .post(
                "/api/v1/test/voice/confirm-connection",
                &json!({ "connection_id": update["connection_id"] }),
            )
            .expect(204);
        let state = next_state_of(&mut watcher, &member_id).await;
        assert_eq!(state["channel_id"], dm.as_str());
        assert!(state.get("guild_id").is_none(), "{state}");
        let call = next_dispatch(&mut ws, "CALL_UPDATE").await["d"].clone();
        assert_eq!(
            call["ringing"],
            json!([]),
            "who joined is no longer rung: {call}"
        );
        assert_eq!(call["voice_states"][0]["user_id"], member_id.as_str());

        // Ending the call disconnects everyone, LiveKit included.
        owner
            .post(&format!("/api/v1/channels/{dm}/call/end"), &json!({}))
            .expect(204);
        assert_eq!(
            next_state_of(&mut watcher, &member_id).await["channel_id"],
            Value::Null
        );
        assert_eq!(
            next_dispatch(&mut ws, "CALL_DELETE").await["d"]["channel_id"],
            dm.as_str()
        );
        let dm_identity = format!(
            "user_{member_id}_{}",
            update["connection_id"].as_str().unwrap()
        );
        let call = wait_for_call(&livekit, "RemoveParticipant", &dm_identity);
        assert_eq!(call["body"]["room"], dm_room.as_str());

        // LiveKit's room_finished ends everyone's state in that room, and the call.
        send(&mut ws, 4, json!({ "guild_id": null, "channel_id": dm })).await;
        let update = next_dispatch(&mut ws, "VOICE_SERVER_UPDATE").await["d"].clone();
        owner
            .post(
                "/api/v1/test/voice/confirm-connection",
                &json!({ "connection_id": update["connection_id"] }),
            )
            .expect(204);
        assert_eq!(
            next_state_of(&mut watcher, &member_id).await["channel_id"],
            dm.as_str()
        );
        assert_eq!(
            next_dispatch(&mut ws, "CALL_CREATE").await["d"]["channel_id"],
            dm.as_str()
        );
        let (finished, finished_auth) = livekit.webhook("room_finished", &dm_room, "");
        assert_eq!(post_webhook(&server, &finished, Some(&finished_auth)), 204);
        assert_eq!(
            next_state_of(&mut watcher, &member_id).await["channel_id"],
            Value::Null
        );
        assert_eq!(
            next_dispatch(&mut ws, "CALL_DELETE").await["d"]["channel_id"],
            dm.as_str()
        );

        // Op 4 with neither guild nor channel nor connection: the session leaves everything.
        send(&mut ws, 4, json!({ "guild_id": null, "channel_id": dm })).await;
        let update = next_dispatch(&mut ws, "VOICE_SERVER_UPDATE").await["d"].clone();
        owner
            .post(
                "/api/v1/test/voice/confirm-connection",
                &json!({ "connection_id": update["connection_id"] }),
            )
            .expect(204);
        assert_eq!(
            next_state_of(&mut watcher, &member_id).await["channel_id"],
            dm.as_str()
        );
        send(&mut ws, 4, json!({ "guild_id": null, "channel_id": null })).await;
        assert_eq!(
            next_state_of(&mut watcher, &member_id).await["channel_id"],
            Value::Null
        );
    });
}

#[test]
fn voice_is_off_unless_configured() {
    let server = Server::start(&[("FLUXER_CONFIG__DEV__DISABLE_RATE_LIMITS", "true")]);
    let anon = server.client();
    let well_known = anon.get("/.well-known/fluxer").expect(200).json();
    assert_eq!(well_known["features"]["voice_enabled"], false);
    let (user, _) = register(&anon, "off@example.com", "voiceoff");
    assert_eq!(
        user.get("/api/v1/voice/regions").expect(200).json(),
        json!([])
    );
    // The test route does not exist outside test mode.
    user.post(
        "/api/v1/test/voice/confirm-connection",
        &json!({ "connection_id": "x" }),
    )
    .expect(404);
    assert_eq!(post_webhook(&server, "{}", Some("x")), 400);
    let guild = create_guild(&user, "Quiet");
    let voice = voice_channel(&user, &guild, "Voice", json!({}));
    runtime().block_on(async {
        let mut ws = identify(&server.addr, user.token.as_deref().unwrap()).await;
        assert_eq!(
            refused(&mut ws, json!({ "guild_id": guild, "channel_id": voice })).await,
            "VOICE_DISABLED"
        );
    });
}

/// Staff manage regions and servers through `/admin/voice/*`: ACLs, bad input, no secret shown,
/// clients see the regions, a restart keeps them, every change is in the admin audit log.
#[test]
fn staff_manage_voice_regions_and_servers() {
    let livekit = LiveKit::start();
    let server = voice_server(&livekit);
    let anon = server.client();
    let (op, _) = crate::staff(&server, "vop@example.com", "voiceop");
    let (member, _) = register(&anon, "vmem@example.com", "voicemem");
    let lurker = crate::admin::limited_staff(
        &server,
        &op,
        "vlurk@example.com",
        "voicelurk",
        &["admin:authenticate", "voice:region:list"],
    );

    // The configured region, with its server; the API secret is never shown.
    let listed = op
        .post(
            "/api/v1/admin/voice/regions/list",
            &json!({ "include_servers": true }),
        )
        .expect(200);
    assert!(!String::from_utf8_lossy(&listed.body).contains(API_SECRET));
    let listed = listed.json();
    assert_eq!(listed["regions"][0]["id"], "eu-test");
    assert_eq!(listed["regions"][0]["is_default"], true);
    assert_eq!(
        listed["regions"][0]["servers"][0]["endpoint"],
        livekit.url()
    );

    // ACLs: listing is not creating; members are not staff.
    let create = "/api/v1/admin/voice/regions/create";
    let region = json!({ "id": "us-test", "name": "US East (test)", "emoji": "🗽",
                         "latitude": 40.7, "longitude": -74.0 });
    lurker
        .post(create, &region)
        .expect_error(403, "MISSING_ACL");
    member.post(create, &region).expect(403);

    // Bad input changes nothing.
    for (body, field) in [
        (
            json!({ "id": "x", "name": "X", "emoji": "x", "latitude": 91.0, "longitude": 0.0 }),
            "latitude",
        ),
        (
            json!({ "id": "", "name": "X", "emoji": "x", "latitude": 0.0, "longitude": 0.0 }),
            "id",
        ),
        (
            json!({ "id": "x", "emoji": "x", "latitude": 0.0, "longitude": 0.0 }),
            "name",
        ),
        (
            json!({ "id": "x", "name": "X", "emoji": "x", "latitude": 0.0, "longitude": 0.0, "vip_only": true }),
            "vip_only",
        ),
    ] {
        let e = op
            .post(create, &body)
            .expect_error(400, "INVALID_FORM_BODY");
        assert!(e["errors"].to_string().contains(field), "{field}: {e}");
    }
    op.raw(
        "POST",
        create,
        &[("Content-Type", "application/json")],
        b"{\"id\": ",
    )
    .expect(400);

    let made = op.post(create, &region).expect(200).json();
    assert_eq!(made["region"]["id"], "us-test");
    assert_eq!(made["region"]["is_default"], false);
    op.post(create, &region)
        .expect_error(409, "VOICE_REGION_ALREADY_EXISTS");

    // A server for it: unknown regions and bad endpoints are refused; the secret is not echoed.
    let add_server = "/api/v1/admin/voice/servers/create";
    let srv = json!({ "region_id": "us-test", "server_id": "nyc-1", "endpoint": livekit.url(),
                      "api_key": API_KEY, "api_secret": API_SECRET });
    op.post(
        add_server,
        &json!({ "region_id": "mars", "server_id": "m1", "endpoint": livekit.url(),
                 "api_key": API_KEY, "api_secret": API_SECRET }),
    )
    .expect_error(404, "UNKNOWN_VOICE_REGION");
    op.post(
        add_server,
        &json!({ "region_id": "us-test", "server_id": "nyc-1", "endpoint": "ftp://nope",
                 "api_key": API_KEY, "api_secret": API_SECRET }),
    )
    .expect_error(400, "INVALID_FORM_BODY");
    let created = op.post(add_server, &srv).expect(200);
    assert!(!String::from_utf8_lossy(&created.body).contains(API_SECRET));
    assert_eq!(created.json()["server"]["server_id"], "nyc-1");

    // Clients see it; staff rename it and pause the server.
    let ids = |c: &Client| -> Vec<String> {
        c.get("/api/v1/voice/regions")
            .expect(200)
            .json()
            .as_array()
            .unwrap()
            .iter()
            .map(|r| r["id"].as_str().unwrap().to_owned())
            .collect()
    };
    assert_eq!(ids(&member), ["eu-test", "us-test"]);
    let renamed = op
        .post(
            "/api/v1/admin/voice/regions/update",
            &json!({ "id": "us-test", "name": "New York (test)" }),
        )
        .expect(200)
        .json();
    assert_eq!(renamed["region"]["name"], "New York (test)");
    assert_eq!(renamed["region"]["latitude"], 40.7);
    op.post(
        "/api/v1/admin/voice/servers/update",
        &json!({ "region_id": "us-test", "server_id": "nyc-1", "is_active": false }),
    )
    .expect(200);
    op.post(
        "/api/v1/admin/voice/regions/update",
        &json!({ "id": "nowhere", "name": "Nowhere" }),
    )
    .expect_error(404, "UNKNOWN_VOICE_REGION");

    // A restart keeps the regions staff made.
    let dir = server.kill_keeping_data();
    let server = voice_server_in(&livekit, Some(dir));
    let member = server.client().with_token(member.token.as_deref().unwrap());
    let op = server.client().with_token(op.token.as_deref().unwrap());
    let deadline = Instant::now() + Duration::from_secs(15);
    while ids(&member) != ["eu-test", "us-test"] {
        assert!(
            Instant::now() < deadline,
            "the stored regions were not loaded"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    let got = op
        .post(
            "/api/v1/admin/voice/servers/get",
            &json!({ "region_id": "us-test", "server_id": "nyc-1" }),
        )
        .expect(200)
        .json();
    assert_eq!(got["server"]["is_active"], false);
    let region = op
        .post(
            "/api/v1/admin/voice/regions/get",
            &json!({ "id": "us-test" }),
        )
        .expect(200)
        .json();
    assert_eq!(region["region"]["name"], "New York (test)");

    // Deleting: the server, then the region; twice is 404.
    let delete_server = json!({ "region_id": "us-test", "server_id": "nyc-1" });
    op.post("/api/v1/admin/voice/servers/delete", &delete_server)
        .expect(200);
    op.post("/api/v1/admin/voice/servers/delete", &delete_server)
        .expect_error(404, "UNKNOWN_VOICE_SERVER");
    op.post(
        "/api/v1/admin/voice/regions/delete",
        &json!({ "id": "us-test" }),
    )
    .expect(200);
    op.post(
        "/api/v1/admin/voice/regions/delete",
        &json!({ "id": "us-test" }),
    )
    .expect_error(404, "UNKNOWN_VOICE_REGION");
    assert_eq!(ids(&member), ["eu-test"]);

    let logs = op
        .post("/api/v1/admin/audit-logs", &json!({}))
        .expect(200)
        .json();
    let text = logs.to_string();
    for action in [
        "voice.region_create",
        "voice.region_update",
        "voice.server_create",
        "voice.server_update",
        "voice.server_delete",
        "voice.region_delete",
    ] {
        assert!(text.contains(action), "{action} missing: {logs}");
    }
    assert!(
        !text.contains(API_SECRET),
        "the secret reached the audit log"
    );
}
