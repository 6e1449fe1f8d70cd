//! What Fluxer's own clients read from the gateway, on the wire: READY and GUILD_CREATE in
//! upstream's shape beside the flat fields bots read, settings and folders kept in step, member
//! lists (op 14), presences between friends and in large guilds, and the events clients missed
//! before (a deleted channel, a DM's first message).

mod common;

use common::*;
use fluxer_core::service::{
    ChannelCreate, GuildCreate, MessageCreate, UserGuildSettingsUpdate, UserSettingsUpdate,
};
use serde_json::{Value, json};

/// Identifies with a presence and options; returns the socket and READY.
async fn identify_with(env: &Env, token: &str, extra: Value) -> (Ws, Value) {
    let mut ws = connect(env, "?v=1&encoding=json").await;
    next(&mut ws).await.unwrap();
    let mut d = json!({ "token": token, "properties": { "os": "linux" } });
    for (k, v) in extra.as_object().unwrap() {
        d[k] = v.clone();
    }
    send_json(&mut ws, json!({ "op": 2, "d": d })).await;
    let ready = next_dispatch(&mut ws, "READY").await;
    (ws, ready)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ready_carries_what_upstreams_client_reads() {
    let env = start(fast()).await;
    let (token, alice) = user(&env, "alice").await;
    let (_, bob) = user(&env, "bob").await;
    let (guild, channel) = guild_with(&env, &alice, Some(&bob)).await;
    env.fluxer
        .update_user_settings(
            &alice,
            UserSettingsUpdate {
                theme: Some("dark".into()),
                ..Default::default()
            },
        )
        .await
        .unwrap();
    env.fluxer
        .update_guild_settings(
            &alice,
            Some(guild),
            UserGuildSettingsUpdate {
                muted: Some(true),
                ..Default::default()
            },
        )
        .await
        .unwrap();
    env.fluxer
        .set_note(&alice, bob.id(), Some("met at the meetup".into()))
        .await
        .unwrap();
    let (_ws, ready) = identify(&env, &token).await;
    let d = &ready["d"];

    // The guild: flat fields for bots, `properties` and the arrays for Fluxer's clients.
    let g = &d["guilds"][0];
    assert_eq!(g["id"], guild.to_string());
    assert_eq!(g["name"], "G");
    assert_eq!(g["properties"]["id"], guild.to_string());
    assert_eq!(g["properties"]["name"], "G");
    assert!(
        g["properties"]
            .as_object()
            .unwrap()
            .contains_key("vanity_url_code")
    );
    for list in [
        "channels",
        "members",
        "roles",
        "emojis",
        "stickers",
        "voice_states",
    ] {
        assert!(g[list].is_array(), "{list} in {g}");
    }
    assert_eq!(g["member_count"], 2);
    assert_eq!(g["members"].as_array().unwrap().len(), 2);
    assert_eq!(g["channels"][0]["id"], channel.to_string());
    // Alice's own session is online by now; Bob is not connected.
    assert!(g["online_count"].as_u64().is_some());

    // Settings: the whole object, the guild in the uncategorised folder, the stored change kept.
    let settings = &d["user_settings"];
    assert_eq!(settings.as_object().unwrap().len(), 28, "{settings}");
    assert_eq!(settings["theme"], "dark");
    assert_eq!(settings["status"], "online");
    assert_eq!(settings["render_spoilers"], 1);
    assert_eq!(
        settings["guild_folders"],
        json!([{ "id": -1, "name": null, "color": null, "flags": 0, "icon": "folder", "guild_ids": [guild.to_string()] }])
    );
    assert_eq!(d["user_guild_settings"][0]["guild_id"], guild.to_string());
    assert_eq!(d["user_guild_settings"][0]["muted"], true);
    assert_eq!(d["user_guild_settings"][0]["version"], 1);
    assert_eq!(d["notes"][bob.id().to_string()], "met at the meetup");
    assert_eq!(d["pinned_dms"], json!([]));
    assert_eq!(d["favorite_memes"], json!([]));
    assert_eq!(d["rtc_regions"], json!([]));
    assert_eq!(d["country_code"], "US");
    // The same handle `GET /auth/sessions` lists for this session.
    let hash = d["auth_session_id_hash"].as_str().unwrap();
    let sessions = env.fluxer.list_sessions(&alice).await.unwrap();
    assert!(sessions.iter().any(|s| s.id_hash == hash), "{hash}");
    // Every user READY names is in `users`.
    let users: Vec<&str> = d["users"]
        .as_array()
        .unwrap()
        .iter()
        .map(|u| u["id"].as_str().unwrap())
        .collect();
    assert!(users.contains(&bob.id().to_string().as_str()), "{users:?}");
    assert_eq!(d["sessions"][0]["session_id"], "all");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn folders_follow_guilds_created_joined_and_left() {
    let env = start(fast()).await;
    let (token, alice) = user(&env, "alice").await;
    let (_, bob) = user(&env, "bob").await;
    let (mut ws, ready) = identify(&env, &token).await;
    assert_eq!(ready["d"]["user_settings"]["guild_folders"], json!([]));

    // Created: the guild goes first in the uncategorised folder.
    let mine = env
        .fluxer
        .create_guild(
            &alice,
            GuildCreate {
                name: "Mine".into(),
                ..Default::default()
            },
        )
        .await
        .unwrap();
    let update = next_dispatch(&mut ws, "USER_SETTINGS_UPDATE").await;
    assert_eq!(
        update["d"]["guild_folders"][0]["guild_ids"],
        json!([mine.id.to_string()])
    );
    assert_eq!(update["d"]["theme"], "system");

    // Joined: first again.
    let (theirs, _) = guild_with(&env, &bob, Some(&alice)).await;
    let created = next_dispatch(&mut ws, "GUILD_CREATE").await;
    assert_eq!(created["d"]["properties"]["id"], theirs.to_string());
    let update = next_dispatch(&mut ws, "USER_SETTINGS_UPDATE").await;
    assert_eq!(
        update["d"]["guild_folders"][0]["guild_ids"],
        json!([theirs.to_string(), mine.id.to_string()])
    );

    // Left: gone from the folders.
    env.fluxer.leave_guild(&alice, theirs).await.unwrap();
    let update = next_dispatch(&mut ws, "USER_SETTINGS_UPDATE").await;
    assert_eq!(
        update["d"]["guild_folders"][0]["guild_ids"],
        json!([mine.id.to_string()])
    );
}

/// The items of a SYNC op, as (group or user ID) strings.
fn rows(op: &Value) -> Vec<String> {
    op["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| match i.get("group") {
            Some(g) => format!("group:{}", g["id"].as_str().unwrap()),
            None => i["member"]["user"]["id"].as_str().unwrap().to_owned(),
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn member_lists_sync_then_follow_presence_and_membership() {
    let env = start(fast()).await;
    let (token, alice) = user(&env, "alice").await;
    let (bob_token, bob) = user(&env, "bob").await;
    let (_, carol) = user(&env, "carol").await;
    let (guild, channel) = guild_with(&env, &alice, Some(&bob)).await;
    // A second guild, synced only to tell when a later op 14 has been applied.
    let (marker_guild, _) = guild_with(&env, &alice, None).await;
    let (mut ws, _) = identify(&env, &token).await;

    send_json(
        &mut ws,
        json!({ "op": 14, "d": { "subscriptions": { guild.to_string(): {
            "active": true, "sync": true,
            "member_list_channels": { channel.to_string(): [[0, 99]] },
        } } } }),
    )
    .await;
    let sync = next_dispatch(&mut ws, "GUILD_SYNC").await;
    assert_eq!(sync["d"]["properties"]["id"], guild.to_string());
    let list = next_dispatch(&mut ws, "GUILD_MEMBER_LIST_UPDATE").await;
    let d = &list["d"];
    assert_eq!(d["guild_id"], guild.to_string());
    assert_eq!(d["id"], channel.to_string());
    assert_eq!(d["channel_id"], channel.to_string());
    assert_eq!(d["member_count"], 2);
    assert_eq!(d["online_count"], 1);
    assert_eq!(
        d["groups"],
        json!([{ "id": "online", "count": 1 }, { "id": "offline", "count": 1 }])
    );
    let op = &d["ops"][0];
    assert_eq!(op["op"], "SYNC");
    assert_eq!(op["range"], json!([0, 99]));
    assert_eq!(
        rows(op),
        vec![
            "group:online".to_owned(),
            alice.id().to_string(),
            "group:offline".to_owned(),
            bob.id().to_string()
        ]
    );
    let alice_row = &op["items"][1]["member"];
    assert_eq!(alice_row["user"]["username"], "alice");
    assert_eq!(alice_row["presence"]["status"], "online");
    assert_eq!(op["items"][3]["member"]["presence"]["status"], "offline");

    // Carol joins, offline: inserted after Bob.
    let invite = env
        .fluxer
        .create_invite(&alice, channel, Default::default())
        .await
        .unwrap();
    env.fluxer
        .accept_invite(&carol, &invite.code)
        .await
        .unwrap();
    let update = next_dispatch(&mut ws, "GUILD_MEMBER_LIST_UPDATE").await;
    let d = &update["d"];
    assert!(
        d.get("channel_id").is_none(),
        "deltas carry no channel_id: {d}"
    );
    assert_eq!(d["member_count"], 3);
    let inserted: Vec<&Value> = d["ops"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|o| o["op"] == "INSERT")
        .collect();
    assert_eq!(inserted.len(), 1, "{d}");
    assert_eq!(inserted[0]["index"], 4);
    assert_eq!(
        inserted[0]["item"]["member"]["user"]["id"],
        carol.id().to_string()
    );

    // Bob comes online: he leaves the offline group for the online one.
    let (_bob_ws, _) = identify(&env, &bob_token).await;
    let update = loop {
        let u = next_dispatch(&mut ws, "GUILD_MEMBER_LIST_UPDATE").await;
        if u["d"]["online_count"] == 2 {
            break u;
        }
    };
    let d = &update["d"];
    assert_eq!(
        d["groups"],
        json!([{ "id": "online", "count": 2 }, { "id": "offline", "count": 1 }])
    );
    let kinds: Vec<&str> = d["ops"]
        .as_array()
        .unwrap()
        .iter()
        .map(|o| o["op"].as_str().unwrap())
        .collect();
    assert!(
        kinds.contains(&"DELETE") && kinds.contains(&"INSERT"),
        "{d}"
    );

    // Unsubscribing stops the updates: the next thing Alice gets is her own message.
    send_json(
        &mut ws,
        json!({ "op": 14, "d": { "subscriptions": {
            guild.to_string(): { "member_list_channels": { channel.to_string(): [] } },
            marker_guild.to_string(): { "sync": true },
        } } }),
    )
    .await;
    // The other guild's GUILD_SYNC answers the op: the list is no longer shown.
    let sync = next_dispatch(&mut ws, "GUILD_SYNC").await;
    assert_eq!(sync["d"]["properties"]["id"], marker_guild.to_string());
    env.fluxer.leave_guild(&carol, guild).await.unwrap();
    send(&env, &alice, channel, "after").await;
    loop {
        let v = next(&mut ws).await.unwrap();
        assert_ne!(v["t"], "GUILD_MEMBER_LIST_UPDATE", "{v}");
        if v["t"] == "MESSAGE_CREATE" {
            assert_eq!(v["d"]["content"], "after");
            assert_eq!(v["d"]["channel_type"], 0);
            break;
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hoisted_roles_group_online_members() {
    let env = start(fast()).await;
    let (token, alice) = user(&env, "alice").await;
    let (bob_token, bob) = user(&env, "bob").await;
    let (guild, channel) = guild_with(&env, &alice, Some(&bob)).await;
    let role = env
        .fluxer
        .create_role(
            &alice,
            guild,
            fluxer_core::service::RoleCreate {
                name: Some("Staff".into()),
                hoist: Some(true),
                ..Default::default()
            },
        )
        .await
        .unwrap();
    env.fluxer
        .set_member_role(&alice, guild, bob.id(), role.id, true)
        .await
        .unwrap();
    let (_bob_ws, _) = identify(&env, &bob_token).await;
    let (mut ws, _) = identify(&env, &token).await;
    send_json(
        &mut ws,
        json!({ "op": 14, "d": { "subscriptions": { guild.to_string(): {
            "member_list_channels": { channel.to_string(): [[0, 99]] },
        } } } }),
    )
    .await;
    let list = next_dispatch(&mut ws, "GUILD_MEMBER_LIST_UPDATE").await;
    let d = &list["d"];
    assert_eq!(
        d["groups"],
        json!([
            { "id": role.id.to_string(), "count": 1 },
            { "id": "online", "count": 1 },
            { "id": "offline", "count": 0 },
        ])
    );
    // No header row for the empty group (the client lays rows out without one).
    assert_eq!(
        rows(&d["ops"][0]),
        vec![
            format!("group:{}", role.id),
            bob.id().to_string(),
            "group:online".to_owned(),
            alice.id().to_string()
        ]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn friends_see_each_other_online_and_new_friends_at_once() {
    let env = start(fast()).await;
    let (alice_token, alice) = user(&env, "alice").await;
    let (bob_token, bob) = user(&env, "bob").await;
    let (mut alice_ws, _) = identify(&env, &alice_token).await;
    env.fluxer
        .put_relationship(&bob, alice.id(), None)
        .await
        .unwrap();
    let (mut bob_ws, ready) = identify(&env, &bob_token).await;
    assert_eq!(ready["d"]["presences"], json!([]), "not friends yet");
    // Alice accepts: Bob hears she is online, without a guild in common.
    env.fluxer
        .put_relationship(&alice, bob.id(), None)
        .await
        .unwrap();
    let p = next_dispatch(&mut bob_ws, "PRESENCE_UPDATE").await;
    assert_eq!(p["d"]["user"]["id"], alice.id().to_string());
    assert_eq!(p["d"]["status"], "online");
    assert!(p["d"].get("guild_id").is_none(), "{p}");
    // A friend's next session: READY lists the friend online.
    let (_again, ready) = identify(&env, &bob_token).await;
    let presences = ready["d"]["presences"].as_array().unwrap();
    assert_eq!(presences.len(), 1, "{presences:?}");
    assert_eq!(presences[0]["user"]["id"], alice.id().to_string());
    assert_eq!(presences[0]["user"]["username"], "alice");
    // Bob going idle reaches Alice, friend to friend.
    send_json(
        &mut bob_ws,
        json!({ "op": 3, "d": { "status": "idle", "afk": false, "since": null, "activities": [] } }),
    )
    .await;
    let p = loop {
        let p = next_dispatch(&mut alice_ws, "PRESENCE_UPDATE").await;
        if p["d"]["user"]["id"] == bob.id().to_string() && p["d"]["status"] == "idle" {
            break p;
        }
    };
    assert!(p["d"].get("guild_id").is_none(), "{p}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn large_guilds_send_presences_only_to_who_follows_them() {
    // The default configuration: this test sends no heartbeat while it fills a guild, which can
    // take a while on a loaded machine.
    let env = start(fluxer_gateway::GatewayConfig::default()).await;
    let (token, alice) = user(&env, "alice").await;
    let (bob_token, bob) = user(&env, "bob").await;
    let (guild, _) = guild_with(&env, &alice, Some(&bob)).await;
    // A threshold below the member count makes the guild large for Alice's session.
    let (mut ws, ready) = identify_with(&env, &token, json!({ "large_threshold": 1 })).await;
    // 50 is the lowest threshold a client may ask for: this guild of two is not large.
    assert_eq!(ready["d"]["guilds"][0]["large"], false);
    drop(ws);

    // Fill the guild past 50 members.
    let channel = env.fluxer.list_guild_channels(&alice, guild).await.unwrap()[0].id;
    let invite = env
        .fluxer
        .create_invite(&alice, channel, Default::default())
        .await
        .unwrap();
    for i in 0..50 {
        let (_, m) = user(&env, &format!("member{i}")).await;
        env.fluxer.accept_invite(&m, &invite.code).await.unwrap();
    }
    let ready;
    (ws, ready) = identify_with(&env, &token, json!({ "large_threshold": 50 })).await;
    let g = &ready["d"]["guilds"][0];
    assert_eq!(g["large"], true);
    assert_eq!(g["member_count"], 52);
    assert_eq!(g["presences"], json!([]));
    assert!(g["members"].as_array().unwrap().len() <= 100);
    let (_bob_ws, _) = identify(&env, &bob_token).await;
    send(&env, &alice, channel, "marker").await;
    loop {
        let v = next(&mut ws).await.unwrap();
        assert!(
            !(v["t"] == "PRESENCE_UPDATE" && v["d"]["guild_id"] == guild.to_string()),
            "an unfollowed member's presence reached a large guild's session: {v}"
        );
        if v["t"] == "MESSAGE_CREATE" {
            break;
        }
    }
    // Following Bob (op 14 `members`) lets his presence through.
    send_json(
        &mut ws,
        json!({ "op": 14, "d": { "subscriptions": { guild.to_string(): { "sync": true, "members": [bob.id().to_string()] } } } }),
    )
    .await;
    // GUILD_SYNC answers the op: Bob is followed from here on.
    next_dispatch(&mut ws, "GUILD_SYNC").await;
    let (_bob_again, _) = identify_with(
        &env,
        &bob_token,
        json!({ "presence": { "status": "dnd", "afk": false } }),
    )
    .await;
    let p = loop {
        let p = next_dispatch(&mut ws, "PRESENCE_UPDATE").await;
        if p["d"]["guild_id"] == guild.to_string() {
            break p;
        }
    };
    assert_eq!(p["d"]["user"]["id"], bob.id().to_string());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_guild_large_for_everyone_sends_presences_only_to_who_shows_or_follows_them() {
    use fluxer_core::ports::{EventBus, EventKind, Topic};
    let bus = std::sync::Arc::new(fluxer_storage::memory::InProcessEventBus::new());
    let env = start_on(fluxer_gateway::GatewayConfig::default(), bus.clone()).await;
    let (alice_token, alice) = user(&env, "alice").await;
    let (carol_token, carol) = user(&env, "carol").await;
    let (bob_token, bob) = user(&env, "bob").await;
    let (guild, channel) = guild_with(&env, &alice, Some(&carol)).await;
    let invite = env
        .fluxer
        .create_invite(&alice, channel, Default::default())
        .await
        .unwrap();
    env.fluxer.accept_invite(&bob, &invite.code).await.unwrap();
    // Past the highest `large_threshold` (250): large for every session.
    for i in 0..248 {
        let (_, m) = user(&env, &format!("member{i}")).await;
        env.fluxer.accept_invite(&m, &invite.code).await.unwrap();
    }
    // What every session of the guild hears, whatever it shows.
    let mut guild_topic = bus.subscribe(1024).await.unwrap();
    guild_topic.add_topic(Topic::Guild(guild)).await.unwrap();
    let (mut alice_ws, ready) = identify(&env, &alice_token).await;
    assert_eq!(ready["d"]["guilds"][0]["member_count"], 251);
    assert_eq!(ready["d"]["guilds"][0]["large"], true);
    let (mut carol_ws, _) = identify(&env, &carol_token).await;
    // Carol follows Bob (op 14 `members`), Alice shows and follows nobody.
    send_json(
        &mut carol_ws,
        json!({ "op": 14, "d": { "subscriptions": { guild.to_string(): { "sync": true, "members": [bob.id().to_string()] } } } }),
    )
    .await;
    // GUILD_SYNC answers the op: it has been handled.
    next_dispatch(&mut carol_ws, "GUILD_SYNC").await;
    let (_bob_ws, _) = identify(&env, &bob_token).await;
    let p = loop {
        let p = next_dispatch(&mut carol_ws, "PRESENCE_UPDATE").await;
        if p["d"]["guild_id"] == guild.to_string() {
            break p;
        }
    };
    assert_eq!(p["d"]["user"]["id"], bob.id().to_string());
    assert_eq!(p["d"]["status"], "online");
    send(&env, &alice, channel, "marker").await;
    loop {
        let v = next(&mut alice_ws).await.unwrap();
        assert!(
            v["t"] != "PRESENCE_UPDATE",
            "a presence reached a session that follows nobody: {v}"
        );
        if v["t"] == "MESSAGE_CREATE" && v["d"]["content"] == "marker" {
            break;
        }
    }
    // Nor did any presence ride the guild's own topic, which every session of the guild hears.
    loop {
        let d = guild_topic.recv().await.unwrap().unwrap();
        assert_ne!(d.event, EventKind::PresenceUpdate, "{d:?}");
        if d.payload.contains("\"marker\"") {
            break;
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn channel_delete_reaches_every_member_who_saw_it() {
    let env = start(fast()).await;
    let (_, alice) = user(&env, "alice").await;
    let (bob_token, bob) = user(&env, "bob").await;
    let (guild, _) = guild_with(&env, &alice, Some(&bob)).await;
    let extra = env
        .fluxer
        .create_guild_channel(
            &alice,
            guild,
            ChannelCreate {
                name: "doomed".into(),
                ..Default::default()
            },
        )
        .await
        .unwrap();
    let (mut ws, _) = identify(&env, &bob_token).await;
    env.fluxer.delete_channel(&alice, extra.id).await.unwrap();
    let deleted = next_dispatch(&mut ws, "CHANNEL_DELETE").await;
    assert_eq!(deleted["d"]["id"], extra.id.to_string());
    assert_eq!(deleted["d"]["guild_id"], guild.to_string());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dms_first_message_opens_it_for_the_recipient() {
    let env = start(fast()).await;
    let (_, alice) = user(&env, "alice").await;
    let (bob_token, bob) = user(&env, "bob").await;
    let (mut ws, _) = identify(&env, &bob_token).await;
    let dm = env
        .fluxer
        .create_private_channel(&alice, Some(bob.id()), None)
        .await
        .unwrap();
    env.fluxer
        .send_message(
            &alice,
            dm.id,
            MessageCreate {
                content: Some("hello".into()),
                ..Default::default()
            },
        )
        .await
        .unwrap();
    // The channel before its message, then the message.
    let first = loop {
        let v = next(&mut ws).await.unwrap();
        if v["t"] == "CHANNEL_CREATE" || v["t"] == "MESSAGE_CREATE" {
            break v;
        }
    };
    assert_eq!(first["t"], "CHANNEL_CREATE", "{first}");
    assert_eq!(first["d"]["id"], dm.id.to_string());
    assert_eq!(first["d"]["recipients"][0]["id"], alice.id().to_string());
    let message = next_dispatch(&mut ws, "MESSAGE_CREATE").await;
    assert_eq!(message["d"]["content"], "hello");
    assert_eq!(message["d"]["channel_type"], 1);
}
