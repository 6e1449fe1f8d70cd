//! The gateway protocol over real WebSockets on loopback: identify, heartbeats, resume, backpressure,
//! visibility filtering, presence and close codes.

mod common;

use std::sync::Arc;
use std::time::Duration;

use common::*;
use fluxer_core::permission::{OverwriteType, Permissions};
use fluxer_core::ports::{Dispatch, EventBus, PortResult, Subscription};
use fluxer_core::service::{ChannelCreate, OverwritePut};
use fluxer_gateway::GatewayConfig;
use fluxer_storage::memory::InProcessEventBus;
use futures_util::{SinkExt, StreamExt};
use serde_json::{Value, json};
use tokio_tungstenite::tungstenite::Message;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn identify_ready_and_heartbeat() {
    let env = start(fast()).await;
    let (token, actor) = user(&env, "alice").await;
    guild_with(&env, &actor, None).await;
    let mut ws = connect(&env, "?v=1&encoding=json").await;
    let hello = next(&mut ws).await.unwrap();
    assert_eq!(hello["d"]["heartbeat_interval"], 1_000);
    send_json(
        &mut ws,
        json!({ "op": 2, "d": { "token": token, "properties": { "os": "linux" } } }),
    )
    .await;
    let ready = next(&mut ws).await.unwrap();
    assert_eq!(ready["t"], "READY");
    assert_eq!(ready["s"], 1);
    let d = &ready["d"];
    assert_eq!(d["session_id"].as_str().unwrap().len(), 32);
    assert_eq!(d["user"]["id"], actor.id().to_string());
    assert_eq!(d["guilds"].as_array().unwrap().len(), 1);
    assert!(d["resume_gateway_url"].as_str().unwrap().starts_with("ws"));
    send_json(&mut ws, json!({ "op": 1, "d": 1 })).await;
    loop {
        let v = next(&mut ws).await.unwrap();
        if v["op"] == 11 {
            break;
        }
        assert_eq!(v["op"], 0, "only dispatches may come before the ack: {v}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn resume_replays_missed_events_in_order_without_gaps_or_duplicates() {
    let env = start(fast()).await;
    let (token, alice) = user(&env, "alice").await;
    let (_, bob) = user(&env, "bob").await;
    let (_, channel) = guild_with(&env, &alice, Some(&bob)).await;
    let (mut ws, ready) = identify(&env, &token).await;
    let session_id = ready["d"]["session_id"].as_str().unwrap().to_owned();
    send(&env, &bob, channel, "seen 1").await;
    send(&env, &bob, channel, "seen 2").await;
    let mut last_seq = 0;
    for expected in ["seen 1", "seen 2"] {
        let m = next_dispatch(&mut ws, "MESSAGE_CREATE").await;
        assert_eq!(m["d"]["content"], expected);
        last_seq = m["s"].as_u64().unwrap();
    }
    // The connection drops; events keep happening.
    drop(ws);
    tokio::time::sleep(Duration::from_millis(100)).await;
    for i in 0..5 {
        send(&env, &bob, channel, &format!("missed {i}")).await;
    }
    let mut ws = connect(&env, "?v=1&encoding=json").await;
    next(&mut ws).await.unwrap();
    send_json(
        &mut ws,
        json!({ "op": 6, "d": { "token": token, "session_id": session_id, "seq": last_seq } }),
    )
    .await;
    for i in 0..5u64 {
        let m = next(&mut ws).await.unwrap();
        assert_eq!(m["t"], "MESSAGE_CREATE", "{m}");
        assert_eq!(m["s"], last_seq + 1 + i, "no gap, no duplicate");
        assert_eq!(m["d"]["content"], format!("missed {i}"));
    }
    let resumed = next(&mut ws).await.unwrap();
    assert_eq!(resumed["t"], "RESUMED");
    assert_eq!(resumed["s"], last_seq + 6);
    // Live events continue on the resumed connection.
    send(&env, &bob, channel, "live").await;
    let m = next_dispatch(&mut ws, "MESSAGE_CREATE").await;
    assert_eq!(m["d"]["content"], "live");
    assert_eq!(m["s"], last_seq + 7);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn expired_or_unknown_session_gets_invalid_session() {
    let env = start(GatewayConfig {
        resume_window_ms: 200,
        ..fast()
    })
    .await;
    let (token, _) = user(&env, "alice").await;
    let (ws, ready) = identify(&env, &token).await;
    let session_id = ready["d"]["session_id"].as_str().unwrap().to_owned();
    drop(ws);
    // Once the session has noticed the drop and its resume window has passed, it is gone.
    let deadline = std::time::Instant::now() + Duration::from_secs(5);
    while env.gateway.session_count() != 0 {
        assert!(
            std::time::Instant::now() < deadline,
            "the session outlived its resume window"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let mut ws = connect(&env, "?v=1&encoding=json").await;
    next(&mut ws).await.unwrap();
    send_json(
        &mut ws,
        json!({ "op": 6, "d": { "token": token, "session_id": session_id, "seq": 1 } }),
    )
    .await;
    let invalid = next(&mut ws).await.unwrap();
    assert_eq!(invalid["op"], 9);
    assert_eq!(invalid["d"], false);
    send_json(
        &mut ws,
        json!({ "op": 6, "d": { "token": token, "session_id": "0".repeat(32), "seq": 1 } }),
    )
    .await;
    assert_eq!(next(&mut ws).await.unwrap()["op"], 9);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lagging_client_is_disconnected_resumably_and_loses_nothing() {
    // The client never heartbeats while it reads ~12 MB, so the heartbeat timeout must not fire first.
    let env = start(GatewayConfig {
        outbound_capacity: 8,
        write_timeout_ms: 3_000,
        heartbeat_timeout_ms: 120_000,
        ..fast()
    })
    .await;
    let (token, alice) = user(&env, "alice").await;
    let (_, bob) = user(&env, "bob").await;
    let (_, channel) = guild_with(&env, &alice, Some(&bob)).await;
    let (mut ws, ready) = identify(&env, &token).await;
    let session_id = ready["d"]["session_id"].as_str().unwrap().to_owned();
    let ready_seq = ready["s"].as_u64().unwrap();
    // Alice stops reading while a flood of large messages arrives.
    let big = "x".repeat(3900);
    let total = 3000u64;
    for i in 0..total {
        send(&env, &bob, channel, &format!("{i} {big}")).await;
    }
    // What reached the socket before the server gave up, then a close (or a reset).
    let mut seen = ready_seq;
    let mut messages = 0u64;
    let code = loop {
        match next(&mut ws).await {
            Ok(v) => {
                if v["op"] == 0 {
                    assert_eq!(v["s"], seen + 1);
                    seen += 1;
                    messages += u64::from(v["t"] == "MESSAGE_CREATE");
                }
            }
            Err(code) => break code,
        }
    };
    assert!(
        messages < total,
        "the flood must not all fit: saw {messages}"
    );
    assert!(
        code.is_none_or(|c| c == 4000),
        "resumable close, got {code:?}"
    );
    // Resume from the last event actually read: the rest arrives, in order.
    let mut ws = connect(&env, "?v=1&encoding=json").await;
    next(&mut ws).await.unwrap();
    send_json(
        &mut ws,
        json!({ "op": 6, "d": { "token": token, "session_id": session_id, "seq": seen } }),
    )
    .await;
    let mut expected = seen + 1;
    loop {
        let v = next(&mut ws)
            .await
            .unwrap_or_else(|code| panic!("closed ({code:?}) during the replay, expecting seq {expected} (resumed from {seen})"));
        if v["t"] == "RESUMED" {
            break;
        }
        assert_eq!(v["s"], expected);
        expected += 1;
        messages += u64::from(v["t"] == "MESSAGE_CREATE");
    }
    assert_eq!(messages, total, "every message delivered exactly once");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn members_only_receive_what_they_may_view() {
    let env = start(fast()).await;
    let (_, alice) = user(&env, "alice").await;
    let (bob_token, bob) = user(&env, "bob").await;
    let (guild, general) = guild_with(&env, &alice, Some(&bob)).await;
    let secret = env
        .fluxer
        .create_guild_channel(
            &alice,
            guild,
            ChannelCreate {
                name: "staff".into(),
                ..Default::default()
            },
        )
        .await
        .unwrap()
        .id;
    env.fluxer
        .put_overwrite(
            &alice,
            secret,
            guild.0,
            OverwritePut {
                kind: OverwriteType::Role,
                allow: Permissions::empty(),
                deny: Permissions::VIEW_CHANNEL,
            },
        )
        .await
        .unwrap();
    let (mut ws, _) = identify(&env, &bob_token).await;
    send(&env, &alice, secret, "hidden").await;
    send(&env, &alice, general, "visible").await;
    loop {
        let v = next(&mut ws).await.unwrap();
        assert_ne!(
            v["d"]["content"], "hidden",
            "leaked a message from a channel bob cannot view"
        );
        if v["t"] == "MESSAGE_CREATE" {
            assert_eq!(v["d"]["content"], "visible");
            break;
        }
    }
    // Taking VIEW_CHANNEL away takes effect at once (the shared guild state is refreshed).
    env.fluxer
        .put_overwrite(
            &alice,
            general,
            guild.0,
            OverwritePut {
                kind: OverwriteType::Role,
                allow: Permissions::empty(),
                deny: Permissions::VIEW_CHANNEL,
            },
        )
        .await
        .unwrap();
    send(&env, &alice, general, "now hidden").await;
    let open = env
        .fluxer
        .create_guild_channel(
            &alice,
            guild,
            ChannelCreate {
                name: "open".into(),
                ..Default::default()
            },
        )
        .await
        .unwrap()
        .id;
    send(&env, &alice, open, "still visible").await;
    loop {
        let v = next(&mut ws).await.unwrap();
        assert_ne!(
            v["d"]["content"], "now hidden",
            "an overwrite change was not applied"
        );
        if v["t"] == "MESSAGE_CREATE" {
            assert_eq!(v["d"]["content"], "still visible");
            break;
        }
    }
    env.fluxer
        .delete_overwrite(&alice, general, guild.0)
        .await
        .unwrap();
    // Removed from the guild: its events stop at once.
    env.fluxer
        .kick_member(&alice, guild, bob.id())
        .await
        .unwrap();
    send(&env, &alice, general, "after kick").await;
    let (_, carol) = user(&env, "carol").await;
    let dm = env
        .fluxer
        .create_private_channel(&carol, Some(bob.id()), None)
        .await
        .unwrap();
    send(&env, &carol, dm.id, "dm after kick").await;
    loop {
        let v = next(&mut ws).await.unwrap();
        assert_ne!(
            v["d"]["content"], "after kick",
            "kicked member still receives guild messages"
        );
        if v["t"] == "MESSAGE_CREATE" {
            assert_eq!(v["d"]["content"], "dm after kick");
            break;
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn presence_goes_online_then_offline() {
    let env = start(GatewayConfig {
        resume_window_ms: 200,
        ..fast()
    })
    .await;
    let (alice_token, alice) = user(&env, "alice").await;
    let (bob_token, bob) = user(&env, "bob").await;
    guild_with(&env, &alice, Some(&bob)).await;
    let (mut bob_ws, _) = identify(&env, &bob_token).await;
    let (alice_ws, _) = identify(&env, &alice_token).await;
    let online = next_dispatch(&mut bob_ws, "PRESENCE_UPDATE").await;
    // Bob's own presence may come first.
    let online = if online["d"]["user"]["id"] == alice.id().to_string() {
        online
    } else {
        next_dispatch(&mut bob_ws, "PRESENCE_UPDATE").await
    };
    assert_eq!(online["d"]["user"]["id"], alice.id().to_string());
    assert_eq!(online["d"]["status"], "online");
    drop(alice_ws);
    let offline = next_dispatch(&mut bob_ws, "PRESENCE_UPDATE").await;
    assert_eq!(offline["d"]["user"]["id"], alice.id().to_string());
    assert_eq!(offline["d"]["status"], "offline");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn missed_heartbeats_close_the_connection() {
    let env = start(GatewayConfig {
        heartbeat_interval_ms: 100,
        heartbeat_timeout_ms: 300,
        ..Default::default()
    })
    .await;
    let (token, _) = user(&env, "alice").await;
    // By hand, not `identify`: the timeout counts from the connection, so on a loaded machine it
    // may close the connection before READY comes, and that is the same 4009.
    let mut ws = connect(&env, "?v=1&encoding=json").await;
    assert_eq!(next(&mut ws).await.unwrap()["op"], 10);
    // The server may have closed already, failing the send: the close code still tells.
    let identify_frame =
        json!({ "op": 2, "d": { "token": token, "properties": { "os": "linux" } } });
    let _ = ws
        .send(Message::Text(identify_frame.to_string().into()))
        .await;
    assert_eq!(close_code_of(&mut ws).await, Some(4009));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn malformed_frames_get_their_close_codes_without_affecting_others() {
    let env = start(fast()).await;
    let (token, _) = user(&env, "alice").await;
    let (mut healthy, _) = identify(&env, &token).await;

    async fn close_code(
        env: &Env,
        query: &str,
        frames: &[Value],
        raw: Option<&str>,
    ) -> Option<u16> {
        let mut ws = connect(env, query).await;
        if let Ok(hello) = next(&mut ws).await {
            assert_eq!(hello["op"], 10);
        } else {
            return None;
        }
        // The server may close before every frame is sent; later sends then fail, which is fine.
        if let Some(r) = raw {
            let _ = ws.send(Message::Text(r.into())).await;
        }
        for f in frames {
            let _ = ws.send(Message::Text(f.to_string().into())).await;
        }
        loop {
            match next(&mut ws).await {
                Ok(_) => continue,
                Err(code) => return code,
            }
        }
    }
    let identify_frame = json!({ "op": 2, "d": { "token": token, "properties": {} } });
    assert_eq!(
        close_code(&env, "?v=1", &[], Some("not json")).await,
        Some(4002)
    );
    assert_eq!(
        close_code(&env, "?v=1", &[], Some(&"x".repeat(5000))).await,
        Some(4002)
    );
    assert_eq!(
        close_code(&env, "?v=1", &[json!({ "op": 99 })], None).await,
        Some(4001)
    );
    assert_eq!(
        close_code(
            &env,
            "?v=1",
            &[json!({ "op": 3, "d": { "status": "idle" } })],
            None
        )
        .await,
        Some(4003)
    );
    assert_eq!(
        close_code(&env, "?v=1", &[json!({ "op": 2, "d": { "token": "flx_wrongwrongwrongwrongwrongwrongwrongw", "properties": {} } })], None).await,
        Some(4004)
    );
    assert_eq!(
        close_code(
            &env,
            "?v=1",
            &[json!({ "op": 2, "d": { "properties": {} } })],
            None
        )
        .await,
        Some(4002)
    );
    assert_eq!(
        close_code(
            &env,
            "?v=1",
            &[identify_frame.clone(), identify_frame.clone()],
            None
        )
        .await,
        Some(4005)
    );
    // A wrong protocol version is closed right after the upgrade.
    let mut ws = connect(&env, "?v=9&encoding=json").await;
    assert_eq!(next(&mut ws).await.unwrap_err(), Some(4012));
    // Too many frames: rate limited.
    let env2 = start(GatewayConfig {
        rate_limit_frames: 5,
        ..fast()
    })
    .await;
    let hb: Vec<Value> = (0..10).map(|_| json!({ "op": 1, "d": null })).collect();
    assert_eq!(close_code(&env2, "?v=1", &hb, None).await, Some(4008));
    // The healthy connection never noticed.
    send_json(&mut healthy, json!({ "op": 1, "d": 1 })).await;
    assert_eq!(next(&mut healthy).await.unwrap()["op"], 11);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn zlib_stream_compresses_every_frame() {
    let env = start(fast()).await;
    let (token, actor) = user(&env, "alice").await;
    guild_with(&env, &actor, None).await;
    let mut ws = connect(&env, "?v=1&encoding=json&compress=zlib-stream").await;
    // One inflater for the whole connection, fed every binary frame in order.
    let mut inflater = flate2::Decompress::new(true);
    let mut next_payload = async move |ws: &mut Ws| -> Value {
        let msg = tokio::time::timeout(Duration::from_secs(10), ws.next())
            .await
            .expect("frame within 10 s")
            .expect("open")
            .expect("ok");
        let Message::Binary(bytes) = msg else {
            panic!("expected a binary zlib frame, got {msg:?}");
        };
        assert!(
            bytes.ends_with(&[0, 0, 0xff, 0xff]),
            "each payload ends with a sync flush"
        );
        let mut out = Vec::with_capacity(bytes.len() * 8 + 1024);
        let start = inflater.total_in();
        while ((inflater.total_in() - start) as usize) < bytes.len() {
            out.reserve(bytes.len() * 4 + 1024);
            let consumed = (inflater.total_in() - start) as usize;
            inflater
                .decompress_vec(&bytes[consumed..], &mut out, flate2::FlushDecompress::Sync)
                .unwrap();
        }
        serde_json::from_slice(&out).unwrap()
    };
    let hello = next_payload(&mut ws).await;
    assert_eq!(hello["op"], 10);
    send_json(
        &mut ws,
        json!({ "op": 2, "d": { "token": token, "properties": { "os": "linux" } } }),
    )
    .await;
    let ready = next_payload(&mut ws).await;
    assert_eq!(ready["t"], "READY");
    assert_eq!(ready["d"]["user"]["id"], actor.id().to_string());
    send_json(&mut ws, json!({ "op": 1, "d": 1 })).await;
    loop {
        let v = next_payload(&mut ws).await;
        if v["op"] == 11 {
            break;
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn revoked_credentials_close_their_gateway_sessions() {
    let env = start(fast()).await;
    let (first, first_actor) = user(&env, "alice").await;
    let (second, second_actor) = login(&env, "alice").await;
    let (third, _) = login(&env, "alice").await;
    let (mut ws_first, _) = identify(&env, &first).await;
    let (mut ws_second, _) = identify(&env, &second).await;
    let (mut ws_third, _) = identify(&env, &third).await;

    // A logout ends that session's connection, and only that one.
    env.fluxer.logout(&first_actor).await.unwrap();
    assert_eq!(close_code_of(&mut ws_first).await, Some(4004));
    assert!(answers(&mut ws_second).await);

    // A password change keeps the session that made it and ends every other, on REST too.
    env.fluxer
        .update_me(
            &second_actor,
            fluxer_core::service::UserUpdate {
                password: Some("correct horse battery".to_owned()),
                new_password: Some("a brand new passphrase".to_owned()),
                ..Default::default()
            },
        )
        .await
        .unwrap();
    assert_eq!(close_code_of(&mut ws_third).await, Some(4004));
    assert!(env.fluxer.authenticate(&third).await.is_err());
    let second_actor = env.fluxer.authenticate(&second).await.unwrap();
    assert!(answers(&mut ws_second).await);

    // A new connection with a revoked token is refused.
    let mut again = connect(&env, "?v=1&encoding=json").await;
    next(&mut again).await.unwrap();
    send_json(
        &mut again,
        json!({ "op": 2, "d": { "token": third, "properties": {} } }),
    )
    .await;
    assert_eq!(close_code_of(&mut again).await, Some(4004));

    // A bot token reset ends the old token's connections.
    let app = env
        .fluxer
        .create_application(
            &second_actor,
            fluxer_core::service::ApplicationCreate {
                name: "bot".to_owned(),
                ..Default::default()
            },
        )
        .await
        .unwrap();
    let bot_token = env
        .fluxer
        .reset_bot_token(&second_actor, app.id, Some("a brand new passphrase"))
        .await
        .unwrap();
    let (mut ws_bot, _) = identify(&env, &format!("Bot {bot_token}")).await;
    env.fluxer
        .reset_bot_token(&second_actor, app.id, Some("a brand new passphrase"))
        .await
        .unwrap();
    assert_eq!(close_code_of(&mut ws_bot).await, Some(4004));
    assert!(
        answers(&mut ws_second).await,
        "the owner's session is not the bot's"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_connection_that_heartbeats_but_never_identifies_is_closed() {
    // The identify timeout is checked every quarter of the heartbeat timeout: a short one here
    // (`fast()`'s is long), so the close comes within a second or two.
    let env = start(GatewayConfig {
        identify_timeout_ms: 400,
        heartbeat_timeout_ms: 5_000,
        ..fast()
    })
    .await;
    let mut ws = connect(&env, "?v=1&encoding=json").await;
    assert_eq!(next(&mut ws).await.unwrap()["op"], 10);
    let started = std::time::Instant::now();
    let code = loop {
        if !answers(&mut ws).await {
            break close_code_of(&mut ws).await;
        }
        assert!(started.elapsed() < Duration::from_secs(10), "still open");
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    // The close frame may have been read by the heartbeat that failed.
    assert!(matches!(code, Some(4009) | None), "{code:?}");
    // Checked precisely on a fresh connection that only waits.
    let mut ws = connect(&env, "?v=1&encoding=json").await;
    assert_eq!(next(&mut ws).await.unwrap()["op"], 10);
    assert_eq!(close_code_of(&mut ws).await, Some(4009));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn oversized_frames_and_floods_get_their_close_codes() {
    let env = start(fast()).await;
    // Over the 4 KiB payload limit, and over the 64 KiB frame limit of the socket itself.
    for size in [5_000, 100_000, 1_000_000] {
        let mut ws = connect(&env, "?v=1&encoding=json").await;
        next(&mut ws).await.unwrap();
        let _ = ws.send(Message::Text("x".repeat(size).into())).await;
        assert_eq!(close_code_of(&mut ws).await, Some(4002), "{size} bytes");
    }
    // A flood far past the rate limit, sent without waiting: 4008, not a reset.
    let mut ws = connect(&env, "?v=1&encoding=json").await;
    next(&mut ws).await.unwrap();
    let heartbeat = json!({ "op": 1, "d": null }).to_string();
    for _ in 0..2_000 {
        if ws
            .feed(Message::Text(heartbeat.clone().into()))
            .await
            .is_err()
        {
            break;
        }
    }
    let _ = ws.flush().await;
    assert_eq!(close_code_of(&mut ws).await, Some(4008));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_that_reads_is_never_dropped_for_what_it_has_not_acknowledged_yet() {
    // Acknowledgements come with heartbeats, far apart; the burst is many times the buffer.
    let env = start(GatewayConfig {
        heartbeat_interval_ms: 60_000,
        heartbeat_timeout_ms: 120_000,
        max_unacked: 50,
        ..Default::default()
    })
    .await;
    let (alice, alice_actor) = user(&env, "alice").await;
    let (_, channel) = guild_with(&env, &alice_actor, None).await;
    let (mut ws, ready) = identify(&env, &alice).await;
    let session_id = ready["d"]["session_id"].as_str().unwrap().to_owned();
    let early_seq = ready["s"].as_u64().unwrap();
    for i in 0..400 {
        send(&env, &alice_actor, channel, &format!("m{i}")).await;
    }
    let mut last_seq = 0;
    for i in 0..400 {
        let m = next_dispatch(&mut ws, "MESSAGE_CREATE").await;
        assert_eq!(m["d"]["content"], format!("m{i}"));
        last_seq = m["s"].as_u64().unwrap();
    }
    // Still connected, and the acknowledgement of everything is accepted.
    send_json(&mut ws, json!({ "op": 1, "d": last_seq })).await;
    assert_eq!(next(&mut ws).await.unwrap()["op"], 11);

    // Resuming from before what the buffer still holds is refused cleanly (INVALID_SESSION).
    drop(ws);
    let mut ws = connect(&env, "?v=1&encoding=json").await;
    next(&mut ws).await.unwrap();
    send_json(
        &mut ws,
        json!({ "op": 6, "d": { "token": alice, "session_id": session_id, "seq": early_seq } }),
    )
    .await;
    let reply = next(&mut ws).await.unwrap();
    assert_eq!(reply["op"], 9, "{reply}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shutdown_tells_every_connection_to_reconnect() {
    let env = start(fast()).await;
    let gateway = env.gateway.clone();
    let (alice, _) = user(&env, "alice").await;
    let (mut identified, _) = identify(&env, &alice).await;
    let mut waiting = connect(&env, "?v=1&encoding=json").await;
    next(&mut waiting).await.unwrap();
    assert_eq!(gateway.connection_count(), 2);

    let stopping = tokio::spawn({
        let gateway = gateway.clone();
        async move { gateway.shutdown(Duration::from_secs(5)).await }
    });
    for ws in [&mut identified, &mut waiting] {
        let reconnect = next(ws).await.unwrap();
        assert_eq!(reconnect["op"], 7, "{reconnect}");
        assert_eq!(close_code_of(ws).await, Some(4000));
    }
    tokio::time::timeout(Duration::from_secs(5), stopping)
        .await
        .expect("shutdown returns once the connections are closed")
        .unwrap();
    assert_eq!(gateway.connection_count(), 0);
    // New connections are turned away with the same resumable code.
    let mut late = connect(&env, "?v=1&encoding=json").await;
    assert_eq!(next(&mut late).await.unwrap_err(), Some(4000));
}

/// Fuzzes the frame decoder: near misses of every frame a client sends, on connections before and
/// after IDENTIFY. The server must answer each with its protocol (a close code of its own, 4000 to
/// 4013) or carry on, never drop the socket without a close frame (a panic or a decoder gone
/// wrong), and other connections must not notice. Bounded; a new seed each run (printed;
/// `FLUXER_FUZZ_SEED` replays it).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fuzzed_frames_get_protocol_answers_never_a_dropped_socket() {
    use fluxer_core::testing::fuzz::{Rng, mutate};

    let env = start(GatewayConfig {
        rate_limit_frames: 1_000_000,
        identifies_per_day: 1_000_000,
        // The healthy connection does not heartbeat during the run.
        heartbeat_timeout_ms: 300_000,
        ..fast()
    })
    .await;
    let (token, alice) = user(&env, "alice").await;
    let (guild, channel) = guild_with(&env, &alice, None).await;
    let (mut healthy, _) = identify(&env, &token).await;
    let corpus = [
        json!({ "op": 1, "d": 3 }),
        json!({ "op": 2, "d": { "token": token, "properties": { "os": "linux", "browser": "fuzz", "device": "fuzz" }, "compress": false, "large_threshold": 50, "presence": { "status": "online", "since": 0, "activities": [], "afk": false }, "intents": 513 } }),
        json!({ "op": 3, "d": { "status": "idle", "since": 91879201, "activities": [{ "name": "x", "type": 0 }], "afk": false } }),
        json!({ "op": 4, "d": { "guild_id": guild, "channel_id": channel, "self_mute": false, "self_deaf": false } }),
        json!({ "op": 6, "d": { "token": token, "session_id": "0123456789abcdef0123456789abcdef", "seq": 1 } }),
        json!({ "op": 8, "d": { "guild_id": guild, "query": "", "limit": 0, "presences": true, "user_ids": [alice.id()], "nonce": "n" } }),
        json!({ "op": 14, "d": { "guild_id": guild, "channels": { channel.to_string(): [[0, 99]] }, "typing": true, "activities": true } }),
    ];
    let mut rng = Rng::from_env();
    let mut ws: Option<Ws> = None;
    for case in 0..1_500 {
        let mut conn = match ws.take() {
            Some(c) => c,
            None => {
                let mut c = connect(&env, "?v=1&encoding=json").await;
                assert_eq!(next(&mut c).await.unwrap()["op"], 10);
                if rng.chance(2) {
                    send_json(&mut c, corpus[1].clone()).await;
                    next_dispatch(&mut c, "READY").await;
                }
                c
            }
        };
        let valid = &corpus[rng.below(corpus.len())];
        let frame = mutate(&mut rng, valid);
        let frame_text = frame.chars().take(300).collect::<String>();
        let _ = conn.send(Message::Text(frame.into())).await;
        // A heartbeat after it: answered (the connection lives on), or a close of the protocol's.
        let _ = conn
            .send(Message::Text(
                json!({ "op": 1, "d": null }).to_string().into(),
            ))
            .await;
        let outcome = loop {
            match next(&mut conn).await {
                Ok(v) if v["op"] == 11 => break Ok(()),
                Ok(_) => continue,
                Err(code) => break Err(code),
            }
        };
        match outcome {
            Ok(()) => ws = Some(conn),
            Err(Some(code)) => assert!(
                (4000..=4013).contains(&code),
                "case {case}: close {code} after {frame_text}"
            ),
            Err(None) => panic!(
                "case {case}: the socket was dropped without a close frame after {frame_text}"
            ),
        }
    }
    assert!(
        answers(&mut healthy).await,
        "the healthy connection never noticed"
    );
}

/// An event bus that can be taken down: a backend failing under the gateway.
struct FailingBus {
    inner: InProcessEventBus,
    down: std::sync::atomic::AtomicBool,
}

#[async_trait::async_trait]
impl EventBus for FailingBus {
    async fn publish(&self, dispatch: Dispatch) -> PortResult<()> {
        self.inner.publish(dispatch).await
    }
    async fn subscribe(&self, capacity: usize) -> PortResult<Box<dyn Subscription>> {
        if self.down.load(std::sync::atomic::Ordering::SeqCst) {
            return Err(fluxer_core::StoreError::backend_of(
                "test-bus",
                "connection refused",
            ));
        }
        self.inner.subscribe(capacity).await
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_backend_failure_at_identify_is_a_resumable_close_never_an_empty_ready() {
    let bus = Arc::new(FailingBus {
        inner: InProcessEventBus::new(),
        down: std::sync::atomic::AtomicBool::new(false),
    });
    let env = start_on(fast(), bus.clone()).await;
    let (token, _) = user(&env, "ida").await;

    bus.down.store(true, std::sync::atomic::Ordering::SeqCst);
    let mut ws = connect(&env, "?v=1&encoding=json").await;
    assert_eq!(next(&mut ws).await.unwrap()["op"], 10);
    send_json(&mut ws, json!({ "op": 2, "d": { "token": token, "properties": { "os": "linux", "browser": "test", "device": "test" } } })).await;
    loop {
        match next(&mut ws).await {
            Ok(frame) => assert_ne!(frame["t"], "READY", "no READY without its state: {frame}"),
            Err(code) => {
                assert_eq!(code, Some(4000), "a close the client reconnects after");
                break;
            }
        }
    }

    // The backend is back: the same client identifies normally.
    bus.down.store(false, std::sync::atomic::Ordering::SeqCst);
    let (_ws, ready) = identify(&env, &token).await;
    assert_eq!(ready["d"]["user"]["username"], "ida");
}
