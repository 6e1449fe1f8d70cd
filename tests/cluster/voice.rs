//! Voice across nodes (issue #17's cluster mode): voice states live in Redis and their events
//! cross nodes on NATS. A member's session on gateway node 1 joins a voice channel; LiveKit's
//! signed webhook lands on node 2 (API and gateway) and confirms it; a viewer on node 2 hears it,
//! a fresh IDENTIFY there lists it; a moderator's server mute through a third, API-only node
//! reaches it and LiveKit's room service; when the member's connection to node 1 drops and its
//! session ends, node 2 sees the state go. LiveKit is its official Python server SDK
//! (tests/e2e/livekit_server.py), as in the single-node voice tests.

use std::time::{Duration, Instant};

use futures_util::{SinkExt, StreamExt};
use serde_json::{Value, json};
use tokio_tungstenite::tungstenite::Message;

use super::gateway::{Ws, identify, identify_ready, next_dispatch, runtime};
use super::{Deployment, guild_with_two, http, register};

const API_KEY: &str = "fluxer-cluster-key";
const API_SECRET: &str = "a-cluster-livekit-secret-of-32-characters+";

/// LiveKit's SDK behind a small HTTP server (tests/e2e/livekit_server.py); killed on drop.
struct LiveKit {
    child: std::process::Child,
    addr: String,
    port_file: std::path::PathBuf,
}

impl LiveKit {
    fn start() -> LiveKit {
        let port_file =
            std::env::temp_dir().join(format!("fluxer-cluster-livekit-{}", super::unique()));
        let script = concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../../tests/e2e/livekit_server.py"
        );
        let mut child = std::process::Command::new("python3")
            .arg(script)
            .arg(&port_file)
            .arg(API_KEY)
            .arg(API_SECRET)
            .stdout(std::process::Stdio::null())
            .spawn()
            .expect("python3 must be installed to run LiveKit's SDK (livekit-api)");
        let deadline = Instant::now() + Duration::from_secs(20);
        let port: u16 = loop {
            if let Ok(port) = std::fs::read_to_string(&port_file)
                && let Ok(port) = port.trim().parse()
            {
                break port;
            }
            if let Some(status) = child.try_wait().unwrap() {
                panic!(
                    "the LiveKit helper exited ({status}): install its modules with \
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
            addr: format!("127.0.0.1:{port}"),
            port_file,
        }
    }

    /// A webhook signed by LiveKit's SDK: `(body, authorization)`.
    fn webhook(&self, event: &str, room: &str, identity: &str) -> (String, String) {
        let (s, r) = http(
            &self.addr,
            "POST",
            "/sign-webhook",
            None,
            Some(&json!({ "event": event, "room": room, "identity": identity })),
        );
        assert_eq!(s, 200, "{r}");
        (
            r["body"].as_str().unwrap().to_owned(),
            r["authorization"].as_str().unwrap().to_owned(),
        )
    }

    /// The room service call `method` about `identity`, once it was made (and verified).
    fn wait_for_call(&self, method: &str, identity: &str) -> Value {
        let deadline = Instant::now() + Duration::from_secs(15);
        loop {
            let (_, calls) = http(&self.addr, "GET", "/calls", None, None);
            if let Some(c) = calls.as_array().and_then(|calls| {
                calls
                    .iter()
                    .find(|c| c["method"] == method && c["body"]["identity"] == identity)
                    .cloned()
            }) {
                assert_eq!(c["ok"], true, "the room service refused our call: {c}");
                return c;
            }
            assert!(
                Instant::now() < deadline,
                "no {method} for {identity}: {calls}"
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }
}

impl Drop for LiveKit {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_file(&self.port_file);
    }
}

/// Posts a webhook as LiveKit does (the token alone in Authorization); the status.
fn post_webhook(addr: &str, body: &str, authorization: &str) -> u16 {
    use std::io::{Read, Write};
    let mut stream = std::net::TcpStream::connect(addr).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(30)))
        .unwrap();
    write!(
        stream,
        "POST /api/v1/webhooks/livekit HTTP/1.1\r\nHost: {addr}\r\nAuthorization: {authorization}\r\n\
         Content-Type: application/webhook+json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    )
    .unwrap();
    let mut raw = Vec::new();
    stream.read_to_end(&mut raw).unwrap();
    String::from_utf8_lossy(&raw)
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0)
}

/// The next VOICE_STATE_UPDATE about `user` within `wait`, heartbeating meanwhile so that the
/// watching session outlives a long wait.
async fn next_state_of(ws: &mut Ws, user: &str, wait: Duration) -> Value {
    let deadline = tokio::time::Instant::now() + wait;
    let mut beat = tokio::time::interval(Duration::from_secs(10));
    loop {
        tokio::select! {
            _ = beat.tick() => {
                ws.send(Message::Text(json!({ "op": 1, "d": null }).to_string().into()))
                    .await
                    .unwrap();
            }
            frame = tokio::time::timeout_at(deadline, ws.next()) => {
                let frame = frame
                    .unwrap_or_else(|_| panic!("no VOICE_STATE_UPDATE about {user} within {wait:?}"))
                    .expect("the connection is open")
                    .expect("a valid frame");
                if let Message::Text(t) = frame {
                    let f: Value = serde_json::from_str(&t).unwrap();
                    if f["t"] == "VOICE_STATE_UPDATE" && f["d"]["user_id"] == user {
                        return f["d"].clone();
                    }
                }
            }
        }
    }
}

/// The `voice_states` of `guild` in a fresh READY on `gateway`.
async fn voice_states_in_ready(gateway: &str, token: &str, guild: &str) -> Value {
    let (ws, ready) = identify_ready(gateway, token).await;
    drop(ws);
    ready["d"]["guilds"]
        .as_array()
        .unwrap()
        .iter()
        .find(|g| g["id"] == guild)
        .unwrap_or_else(|| panic!("guild {guild} not in READY: {ready}"))["voice_states"]
        .clone()
}

#[test]
fn voice_states_are_shared_and_their_events_cross_nodes() {
    let livekit = LiveKit::start();
    let livekit_url = format!("ws://{}", livekit.addr);
    let d = Deployment::new(&[
        ("INTEGRATIONS__VOICE__ENABLED", "true"),
        ("INTEGRATIONS__VOICE__API_KEY", API_KEY),
        ("INTEGRATIONS__VOICE__API_SECRET", API_SECRET),
        ("INTEGRATIONS__VOICE__URL", livekit_url.as_str()),
        ("INTEGRATIONS__VOICE__DEFAULT_REGION__ID", "eu-test"),
        ("INTEGRATIONS__VOICE__DEFAULT_REGION__NAME", "Europe (test)"),
    ]);
    let node1 = d.start("fluxer-gateway", &[("INSTANCE__WORKER_ID", "1")]);
    let node2 = d.start(
        "fluxer-server serve --role api,gateway",
        &[
            ("INSTANCE__WORKER_ID", "2"),
            ("SERVICES__SERVER__PORT", "0"),
        ],
    );
    let api3 = d.start("fluxer-api", &[("INSTANCE__WORKER_ID", "3")]);
    let (owner, _) = register(&node2.addr, "voiceowner");
    let (member, member_id) = register(&api3.addr, "voicemember");
    let (guild, _) = guild_with_two(&node2.addr, &api3.addr, &owner, &member);
    let (s, lounge) = http(
        &api3.addr,
        "POST",
        &format!("/api/v1/guilds/{guild}/channels"),
        Some(&owner),
        Some(&json!({ "name": "Lounge", "type": 2 })),
    );
    assert_eq!(s, 200, "{lounge}");
    let lounge = lounge["id"].as_str().unwrap().to_owned();
    let room = format!("guild_{guild}_channel_{lounge}");

    runtime().block_on(async {
        // The viewer on node 2, the member's session on node 1.
        let mut viewer = identify(&node2.addr, &owner).await;
        let (mut ws, ready) = identify_ready(&node1.addr, &member).await;
        let session_id = ready["d"]["session_id"].as_str().unwrap().to_owned();
        ws.send(Message::Text(
            json!({ "op": 4, "d": { "guild_id": guild, "channel_id": lounge,
                                   "self_mute": false, "self_deaf": false } })
            .to_string()
            .into(),
        ))
        .await
        .unwrap();
        let update = next_dispatch(&mut ws, "VOICE_SERVER_UPDATE").await["d"].clone();
        assert_eq!(update["endpoint"], livekit_url.as_str());
        let connection = update["connection_id"].as_str().unwrap().to_owned();
        let identity = format!("user_{member_id}_{connection}");
        assert_eq!(
            voice_states_in_ready(&node2.addr, &owner, &guild).await,
            json!([]),
            "a pending join is not shown, on any node"
        );

        // LiveKit's webhook lands on node 2, which holds no session of the member: it confirms
        // the join node 1 made, and the viewer on node 2 hears it.
        let (body, auth) = livekit.webhook("participant_joined", &room, &identity);
        assert_eq!(post_webhook(&node2.addr, &body, &auth), 204);
        let state = next_state_of(&mut viewer, &member_id, Duration::from_secs(20)).await;
        assert_eq!(state["channel_id"], lounge.as_str());
        assert_eq!(state["connection_id"], connection.as_str());
        assert_eq!(state["session_id"], session_id.as_str());
        assert_eq!(state["member"]["user"]["id"], member_id.as_str());

        // A fresh IDENTIFY on node 2 lists the state of node 1's session.
        let states = voice_states_in_ready(&node2.addr, &owner, &guild).await;
        let states = states.as_array().unwrap();
        assert_eq!(states.len(), 1, "{states:?}");
        assert_eq!(states[0]["connection_id"], connection.as_str());
        assert_eq!(states[0]["session_id"], session_id.as_str());
        assert_eq!(states[0]["channel_id"], lounge.as_str());

        // A server mute through the API-only node reaches the connection and LiveKit.
        let (s, r) = http(
            &api3.addr,
            "PATCH",
            &format!("/api/v1/guilds/{guild}/members/{member_id}"),
            Some(&owner),
            Some(&json!({ "mute": true })),
        );
        assert_eq!(s, 200, "{r}");
        let call = livekit.wait_for_call("UpdateParticipant", &identity);
        assert_eq!(call["body"]["room"], room.as_str());
        let sources = call["body"]["permission"]["can_publish_sources"].clone();
        assert!(
            !sources.as_array().unwrap().contains(&json!("MICROPHONE")),
            "{call}"
        );
        let state = next_state_of(&mut viewer, &member_id, Duration::from_secs(20)).await;
        assert_eq!(state["mute"], true, "{state}");

        // A DM call rung through the API-only node is one call on every node: node 2 stops the
        // ringing of the call node 3 opened, a fresh IDENTIFY on node 1 is told of it, and
        // node 2 ends it.
        let (s, dm) = http(
            &api3.addr,
            "POST",
            "/api/v1/users/@me/channels",
            Some(&owner),
            Some(&json!({ "recipient_id": member_id })),
        );
        assert_eq!(s, 200, "{dm}");
        let dm = dm["id"].as_str().unwrap().to_owned();
        let call_path = format!("/api/v1/channels/{dm}/call");
        let (s, r) = http(
            &api3.addr,
            "POST",
            &format!("{call_path}/ring"),
            Some(&owner),
            Some(&json!({})),
        );
        assert_eq!(s, 204, "{r}");
        let call = next_dispatch(&mut ws, "CALL_CREATE").await["d"].clone();
        assert_eq!(call["ringing"], json!([member_id]), "{call}");
        let (s, r) = http(
            &node2.addr,
            "POST",
            &format!("{call_path}/stop-ringing"),
            Some(&member),
            Some(&json!({})),
        );
        assert_eq!(s, 204, "{r}");
        let call = next_dispatch(&mut ws, "CALL_UPDATE").await["d"].clone();
        assert_eq!(call["channel_id"], dm.as_str());
        assert_eq!(call["ringing"], json!([]), "{call}");
        let (mut late, _) = identify_ready(&node1.addr, &owner).await;
        let open = next_dispatch(&mut late, "CALL_CREATE").await["d"].clone();
        assert_eq!(open["channel_id"], dm.as_str(), "{open}");
        drop(late);
        let (s, r) = http(
            &node2.addr,
            "POST",
            &format!("{call_path}/end"),
            Some(&owner),
            Some(&json!({})),
        );
        assert_eq!(s, 204, "{r}");
        assert_eq!(
            next_dispatch(&mut ws, "CALL_DELETE").await["d"]["channel_id"],
            dm.as_str()
        );

        // The member's connection to node 1 drops and is not resumed: when its session ends
        // (the resume window, 60 s), node 2 sees the state go, and lists it no more.
        drop(ws);
        let state = next_state_of(&mut viewer, &member_id, Duration::from_secs(120)).await;
        assert_eq!(state["channel_id"], Value::Null, "{state}");
        assert_eq!(state["connection_id"], connection.as_str());
        assert_eq!(
            voice_states_in_ready(&node2.addr, &owner, &guild).await,
            json!([])
        );
    });
}
