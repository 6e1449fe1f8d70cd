//! Resuming a session on another gateway node, over a bus with history: two gateways ("nodes") share
//! the store, the cache and an in-process bus that numbers events and keeps them, as the NATS bus
//! does across processes (the multi-process version is `tests/cluster` at the workspace root).

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use fluxer_core::id::ChannelId;
use fluxer_core::ports::{
    Cache, Dispatch, EventBus, Lagged, PortResult, Replay, Subscription, SystemClock, Topic,
};
use fluxer_core::service::{
    Actor, Argon2Hasher, Config, Fluxer, GuildCreate, InviteCreate, LoginOutcome, LoginRequest,
    Ports,
};
use fluxer_core::testing::people;
use fluxer_gateway::{Gateway, GatewayConfig};
use fluxer_storage::memory::{
    InProcessEventBus, MemoryCache, MemoryMailer, MemoryPresence, MemoryStore,
};
use futures_util::{SinkExt, StreamExt};
use serde_json::{Value, json};
use tokio::net::TcpStream;
use tokio::sync::Mutex;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

type Ws = WebSocketStream<MaybeTlsStream<TcpStream>>;

/// The in-process bus plus a history: positions 1, 2, 3... and replay from it.
struct HistoryBus {
    live: InProcessEventBus,
    history: Mutex<Vec<Arc<Dispatch>>>,
}

struct Positioned {
    inner: Box<dyn Subscription>,
    start: u64,
}

#[async_trait]
impl Subscription for Positioned {
    async fn add_topic(&mut self, topic: Topic) -> PortResult<()> {
        self.inner.add_topic(topic).await
    }
    async fn remove_topic(&mut self, topic: Topic) -> PortResult<()> {
        self.inner.remove_topic(topic).await
    }
    async fn recv(&mut self) -> Option<Result<Arc<Dispatch>, Lagged>> {
        self.inner.recv().await
    }
    fn start_position(&self) -> Option<u64> {
        Some(self.start)
    }
}

#[async_trait]
impl EventBus for HistoryBus {
    async fn publish(&self, mut dispatch: Dispatch) -> PortResult<()> {
        // The in-process bus delivers before `publish` returns: under the lock, positions and
        // subscriptions' start positions agree.
        let mut history = self.history.lock().await;
        dispatch.position = Some(history.len() as u64 + 1);
        history.push(Arc::new(dispatch.clone()));
        self.live.publish(dispatch).await
    }

    async fn subscribe(&self, capacity: usize) -> PortResult<Box<dyn Subscription>> {
        let history = self.history.lock().await;
        Ok(Box::new(Positioned {
            inner: self.live.subscribe(capacity).await?,
            start: history.len() as u64,
        }))
    }

    async fn replay(
        &self,
        topics: &[Topic],
        after: u64,
        capacity: usize,
    ) -> PortResult<Option<Replay>> {
        let history = self.history.lock().await;
        if after > history.len() as u64 {
            return Ok(None);
        }
        let missed: Vec<Arc<Dispatch>> = history[after as usize..]
            .iter()
            .filter(|d| topics.contains(&d.topic))
            .cloned()
            .collect();
        if missed.len() > capacity {
            return Ok(None);
        }
        let mut subscription = self.live.subscribe(capacity).await?;
        for topic in topics {
            subscription.add_topic(*topic).await?;
        }
        Ok(Some(Replay {
            missed,
            subscription: Box::new(Positioned {
                inner: subscription,
                start: history.len() as u64,
            }),
        }))
    }
}

/// A gateway node serving on loopback; aborting `server` takes it off the network.
struct Node {
    addr: String,
    server: tokio::task::JoinHandle<()>,
}

/// Nodes given the same `cache` share the registry of resumable sessions, as Redis shares it.
async fn node(fluxer: &Fluxer, cache: &Arc<MemoryCache>, presence: &Arc<MemoryPresence>) -> Node {
    let config = GatewayConfig {
        heartbeat_interval_ms: 1_000,
        heartbeat_timeout_ms: 60_000,
        resume_window_ms: 5_000,
        ..Default::default()
    };
    let gateway = Gateway::new(fluxer.clone(), cache.clone(), presence.clone(), config);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap().to_string();
    let router = gateway.router();
    let server = tokio::spawn(async move {
        let _ = axum::serve(listener, router).await;
    });
    Node { addr, server }
}

async fn user(fluxer: &Fluxer, name: &str) -> (String, Actor) {
    people::register(fluxer, name).await
}

async fn send(fluxer: &Fluxer, actor: &Actor, channel: ChannelId, content: &str) {
    people::post(fluxer, actor, channel, content).await;
}

async fn next(ws: &mut Ws) -> Value {
    loop {
        let msg = tokio::time::timeout(Duration::from_secs(10), ws.next())
            .await
            .expect("frame within 10 s");
        match msg {
            Some(Ok(Message::Text(t))) => return serde_json::from_str(&t).unwrap(),
            Some(Ok(Message::Close(frame))) => panic!("closed: {frame:?}"),
            Some(Ok(_)) => continue,
            Some(Err(e)) => panic!("connection error: {e}"),
            None => panic!("connection ended"),
        }
    }
}

async fn connect(node: &Node) -> Ws {
    let (mut ws, _) =
        tokio_tungstenite::connect_async(format!("ws://{}/gateway?v=1&encoding=json", node.addr))
            .await
            .unwrap();
    assert_eq!(next(&mut ws).await["op"], 10);
    ws
}

async fn send_json(ws: &mut Ws, v: Value) {
    ws.send(Message::Text(v.to_string().into())).await.unwrap();
}

/// Dispatches until RESUMED: the message contents, and the last `s`. Numbers must increase.
async fn until_resumed(ws: &mut Ws, mut last_seq: u64) -> (Vec<String>, u64) {
    let mut contents = Vec::new();
    loop {
        let frame = next(ws).await;
        assert_ne!(frame["op"], 9, "invalid session");
        if let Some(s) = frame["s"].as_u64() {
            assert!(s > last_seq, "numbers increase: {s} after {last_seq}");
            last_seq = s;
        }
        match frame["t"].as_str() {
            Some("MESSAGE_CREATE") => contents.push(frame["d"]["content"].as_str().unwrap().into()),
            Some("RESUMED") => return (contents, last_seq),
            _ => {}
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_session_resumes_on_another_node_with_what_it_missed() {
    let cache = Arc::new(MemoryCache::new());
    let ports = Ports {
        store: Arc::new(MemoryStore::new()),
        events: Arc::new(HistoryBus {
            live: InProcessEventBus::new(),
            history: Mutex::new(Vec::new()),
        }),
        mailer: Arc::new(MemoryMailer::new()),
        cache: cache.clone() as Arc<dyn Cache>,
        clock: Arc::new(SystemClock),
        hasher: Arc::new(Argon2Hasher::fast_for_tests()),
        queue: None,
        search: None,
        blobs: None,
        media: None,
        presence: None,
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
    let presence = Arc::new(MemoryPresence::new());
    let node_a = node(&fluxer, &cache, &presence).await;
    let node_b = node(&fluxer, &cache, &presence).await;
    let (alice_token, alice) = user(&fluxer, "alice").await;
    let (_, bob) = user(&fluxer, "bob").await;
    let g = fluxer
        .create_guild(
            &bob,
            GuildCreate {
                name: "G".into(),
                ..Default::default()
            },
        )
        .await
        .unwrap();
    let guild = g.id;
    let channel = fluxer.list_guild_channels(&bob, guild).await.unwrap()[0].id;
    let invite = fluxer
        .create_invite(&bob, channel, InviteCreate::default())
        .await
        .unwrap();
    fluxer.accept_invite(&alice, &invite.code).await.unwrap();

    // Alice identifies on node A and sees two messages; numbers have gaps (they encode positions).
    let mut ws = connect(&node_a).await;
    send_json(
        &mut ws,
        json!({ "op": 2, "d": { "token": alice_token, "properties": { "os": "linux" } } }),
    )
    .await;
    let ready = loop {
        let frame = next(&mut ws).await;
        if frame["t"] == "READY" {
            break frame;
        }
    };
    let session_id = ready["d"]["session_id"].as_str().unwrap().to_owned();
    let mut last_seq = ready["s"].as_u64().unwrap();
    send(&fluxer, &bob, channel, "seen 1").await;
    send(&fluxer, &bob, channel, "seen 2").await;
    let mut seen = Vec::new();
    while seen.len() < 2 {
        let frame = next(&mut ws).await;
        if let Some(s) = frame["s"].as_u64() {
            assert!(s > last_seq);
            last_seq = s;
        }
        if frame["t"] == "MESSAGE_CREATE" {
            seen.push(frame["d"]["content"].as_str().unwrap().to_owned());
        }
    }
    assert_eq!(seen, ["seen 1", "seen 2"]);
    assert!(last_seq >= 1024, "numbers encode bus positions: {last_seq}");
    // Heartbeats echo the last number; a gapped one is accepted.
    send_json(&mut ws, json!({ "op": 1, "d": last_seq })).await;
    while next(&mut ws).await["op"] != 11 {}

    // A drop, and a resume on the same node: the local buffer copes with gapped numbers.
    drop(ws);
    tokio::time::sleep(Duration::from_millis(100)).await;
    send(&fluxer, &bob, channel, "local 1").await;
    let mut ws = connect(&node_a).await;
    let resume = json!({ "op": 6, "d": { "token": alice_token, "session_id": session_id, "seq": last_seq } });
    send_json(&mut ws, resume).await;
    let (contents, seq) = until_resumed(&mut ws, last_seq).await;
    assert_eq!(contents, ["local 1"]);
    last_seq = seq;

    // Node A goes away; three messages while Alice is disconnected.
    node_a.server.abort();
    drop(ws);
    tokio::time::sleep(Duration::from_millis(100)).await;
    for i in 0..3 {
        send(&fluxer, &bob, channel, &format!("missed {i}")).await;
    }

    // Another token of the same user cannot take the session over.
    let LoginOutcome::Session {
        token: other_token, ..
    } = fluxer
        .login(LoginRequest {
            email: "alice@example.com".into(),
            password: "correct horse battery".into(),
            ..Default::default()
        })
        .await
        .unwrap()
    else {
        panic!("no session")
    };
    let mut ws = connect(&node_b).await;
    send_json(&mut ws, json!({ "op": 6, "d": { "token": other_token, "session_id": session_id, "seq": last_seq } })).await;
    assert_eq!(next(&mut ws).await["op"], 9);

    // Alice resumes on node B: exactly what she missed, RESUMED, then live.
    let mut ws = connect(&node_b).await;
    let resume = json!({ "op": 6, "d": { "token": alice_token, "session_id": session_id, "seq": last_seq } });
    send_json(&mut ws, resume).await;
    let (contents, seq) = until_resumed(&mut ws, last_seq).await;
    assert_eq!(contents, ["missed 0", "missed 1", "missed 2"]);
    send(&fluxer, &bob, channel, "live").await;
    loop {
        let frame = next(&mut ws).await;
        if frame["t"] == "MESSAGE_CREATE" {
            assert_eq!(frame["d"]["content"], "live");
            assert!(frame["s"].as_u64().unwrap() > seq);
            break;
        }
    }
}
