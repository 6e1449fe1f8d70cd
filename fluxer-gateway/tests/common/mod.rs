//! What the gateway's test suites share: an in-process node on loopback, users and guilds made
//! through the use-cases, and a WebSocket client.

#![allow(dead_code, unreachable_pub)]

use std::sync::Arc;
use std::time::Duration;

use fluxer_core::id::{ChannelId, GuildId};
use fluxer_core::ports::{EventBus, SystemClock};
use fluxer_core::service::{
    Actor, Argon2Hasher, Config, Fluxer, GuildCreate, InviteCreate, LoginOutcome, Ports,
};
use fluxer_gateway::{Gateway, GatewayConfig};
use fluxer_storage::memory::{
    InProcessEventBus, MemoryCache, MemoryMailer, MemoryPresence, MemoryStore,
};
use futures_util::{SinkExt, StreamExt};
use serde_json::{Value, json};
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

pub type Ws = WebSocketStream<MaybeTlsStream<TcpStream>>;

pub struct Env {
    pub fluxer: Fluxer,
    pub gateway: Gateway,
    pub addr: String,
}

pub async fn start(config: GatewayConfig) -> Env {
    start_on(config, Arc::new(InProcessEventBus::new())).await
}

pub async fn start_on(config: GatewayConfig, events: Arc<dyn EventBus>) -> Env {
    let cache = Arc::new(MemoryCache::new());
    let presence = Arc::new(MemoryPresence::new());
    let ports = Ports {
        store: Arc::new(MemoryStore::new()),
        events,
        mailer: Arc::new(MemoryMailer::new()),
        cache: cache.clone(),
        clock: Arc::new(SystemClock),
        hasher: Arc::new(Argon2Hasher::fast_for_tests()),
        queue: None,
        search: None,
        blobs: None,
        media: None,
        presence: Some(presence.clone()),
        unfurler: None,
        gif_providers: Vec::new(),
        domain_probe: None,
        bluesky: None,
        push: None,
        sso: None,
        webauthn: None,
        voice: None,
        voice_states: None,
    };
    let fluxer = Fluxer::new(ports, Config::default());
    let gateway = Gateway::new(fluxer.clone(), cache, presence, config);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap().to_string();
    let router = gateway.router();
    tokio::spawn(async move { axum::serve(listener, router).await });
    Env {
        fluxer,
        gateway,
        addr,
    }
}

/// The token and actor of a session a register or login opened.
pub async fn session_of(env: &Env, outcome: LoginOutcome) -> (String, Actor) {
    let LoginOutcome::Session { token, .. } = outcome else {
        panic!("no session")
    };
    let actor = env.fluxer.authenticate(&token).await.unwrap();
    (token, actor)
}

/// Registers a user; returns its token and actor.
pub async fn user(env: &Env, name: &str) -> (String, Actor) {
    fluxer_core::testing::people::register(&env.fluxer, name).await
}

/// A guild owned by `owner` that `member` joined; returns the guild and its general channel.
pub async fn guild_with(env: &Env, owner: &Actor, member: Option<&Actor>) -> (GuildId, ChannelId) {
    let g = env
        .fluxer
        .create_guild(
            owner,
            GuildCreate {
                name: "G".into(),
                ..Default::default()
            },
        )
        .await
        .unwrap();
    let guild: GuildId = g.id;
    let channel = env.fluxer.list_guild_channels(owner, guild).await.unwrap()[0].id;
    if let Some(m) = member {
        let invite = env
            .fluxer
            .create_invite(owner, channel, InviteCreate::default())
            .await
            .unwrap();
        env.fluxer.accept_invite(m, &invite.code).await.unwrap();
    }
    (guild, channel)
}

pub async fn send(env: &Env, actor: &Actor, channel: ChannelId, content: &str) {
    fluxer_core::testing::people::post(&env.fluxer, actor, channel, content).await;
}

pub async fn connect(env: &Env, query: &str) -> Ws {
    let (ws, _) = tokio_tungstenite::connect_async(format!("ws://{}/gateway{query}", env.addr))
        .await
        .unwrap();
    ws
}

pub async fn send_json(ws: &mut Ws, v: Value) {
    ws.send(Message::Text(v.to_string().into())).await.unwrap();
}

/// The next JSON frame, or the close code if the server closed.
pub async fn next(ws: &mut Ws) -> Result<Value, Option<u16>> {
    loop {
        let msg = tokio::time::timeout(Duration::from_secs(10), ws.next())
            .await
            .expect("frame within 10 s");
        match msg {
            Some(Ok(Message::Text(t))) => return Ok(serde_json::from_str(&t).unwrap()),
            Some(Ok(Message::Close(frame))) => return Err(frame.map(|f| u16::from(f.code))),
            Some(Ok(_)) => continue,
            Some(Err(_)) | None => return Err(None),
        }
    }
}

pub async fn next_dispatch(ws: &mut Ws, event: &str) -> Value {
    loop {
        let v = next(ws)
            .await
            .unwrap_or_else(|c| panic!("closed {c:?} while waiting for {event}"));
        if v["t"] == event {
            return v;
        }
    }
}

pub async fn identify(env: &Env, token: &str) -> (Ws, Value) {
    let mut ws = connect(env, "?v=1&encoding=json").await;
    let hello = next(&mut ws).await.unwrap();
    assert_eq!(hello["op"], 10);
    send_json(&mut ws, json!({ "op": 2, "d": { "token": token, "properties": { "os": "linux", "browser": "test", "device": "test" } } })).await;
    let ready = next_dispatch(&mut ws, "READY").await;
    (ws, ready)
}

/// A short heartbeat interval, and a heartbeat timeout long enough that tests which never
/// heartbeat keep their connections on a loaded machine. A test that waits for the timeout's
/// close (4009) sets a short one of its own; note the identify timeout is only checked every
/// quarter of the heartbeat timeout.
pub fn fast() -> GatewayConfig {
    GatewayConfig {
        heartbeat_interval_ms: 1_000,
        heartbeat_timeout_ms: 60_000,
        ..Default::default()
    }
}

/// Reads frames until the server closes; returns the close code (`None`: no close frame).
pub async fn close_code_of(ws: &mut Ws) -> Option<u16> {
    loop {
        match next(ws).await {
            Ok(_) => continue,
            Err(code) => return code,
        }
    }
}

/// Whether a connection still answers a heartbeat.
pub async fn answers(ws: &mut Ws) -> bool {
    if ws
        .send(Message::Text(
            json!({ "op": 1, "d": null }).to_string().into(),
        ))
        .await
        .is_err()
    {
        return false;
    }
    loop {
        match next(ws).await {
            Ok(v) if v["op"] == 11 => return true,
            Ok(_) => continue,
            Err(_) => return false,
        }
    }
}

/// Opens another session of a registered user; returns its token and actor.
pub async fn login(env: &Env, name: &str) -> (String, Actor) {
    let outcome = env
        .fluxer
        .login(fluxer_core::service::LoginRequest {
            email: format!("{name}@example.com"),
            password: "correct horse battery".to_owned(),
            ..Default::default()
        })
        .await
        .unwrap();
    session_of(env, outcome).await
}
