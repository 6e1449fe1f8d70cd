//! Send → deliver: the latency from a REST message create to MESSAGE_CREATE at N gateway clients in
//! one guild, and the peak deliveries per second; against a baseline of raw axum + tokio broadcast
//! fanning out the same bytes to the same number of WebSocket clients, measured in the same run,
//! alternating, medians of the rounds.
//!
//! ```sh
//! cargo bench --bench fanout -- --clients 1000 --messages 100 --rounds 3
//! ```

use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::Router;
use axum::extract::State;
use axum::extract::ws::{Message as WsMessage, WebSocketUpgrade};
use axum::routing::{get, post};
use fluxer::api::{ApiConfig, ApiState};
use fluxer::core::ports::SystemClock;
use fluxer::core::service::{
    Argon2Hasher, Config, Fluxer, GuildCreate, InviteCreate, LoginOutcome, Ports, RegisterRequest,
};
use fluxer::storage::memory::{
    InProcessEventBus, MemoryCache, MemoryMailer, MemoryPresence, MemoryStore,
};
use fluxer_gateway::{Gateway, GatewayConfig};
use futures_util::{SinkExt, StreamExt};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::sync::{broadcast, mpsc};

struct Args {
    clients: usize,
    messages: usize,
    rounds: usize,
}

fn args() -> Args {
    let mut a = Args {
        clients: 1000,
        messages: 100,
        rounds: 3,
    };
    let argv: Vec<String> = std::env::args().collect();
    let mut i = 1;
    while i < argv.len() {
        let value = argv.get(i + 1).and_then(|v| v.parse().ok());
        match (argv[i].as_str(), value) {
            ("--clients", Some(v)) => a.clients = v,
            ("--messages", Some(v)) => a.messages = v,
            ("--rounds", Some(v)) => a.rounds = v,
            _ => {}
        }
        i += 1;
    }
    a
}

/// One round's numbers.
#[derive(Clone, Copy, Debug)]
struct Round {
    p50_ms: f64,
    p99_ms: f64,
    deliveries_per_sec: f64,
}

/// A keep-alive HTTP/1.1 POST over one connection (enough for a load generator; no TLS, no chunking).
struct Poster {
    stream: TcpStream,
    host: String,
}

impl Poster {
    async fn connect(addr: &str) -> Poster {
        Poster {
            stream: TcpStream::connect(addr).await.unwrap(),
            host: addr.to_owned(),
        }
    }

    async fn post(&mut self, path: &str, auth: Option<&str>, body: &str) -> u16 {
        let auth = auth
            .map(|t| format!("Authorization: {t}\r\n"))
            .unwrap_or_default();
        let req = format!(
            "POST {path} HTTP/1.1\r\nHost: {}\r\n{auth}Content-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
            self.host,
            body.len()
        );
        self.stream.write_all(req.as_bytes()).await.unwrap();
        let mut head = Vec::new();
        let mut byte = [0u8; 1];
        while !head.ends_with(b"\r\n\r\n") {
            self.stream.read_exact(&mut byte).await.unwrap();
            head.push(byte[0]);
        }
        let head = String::from_utf8_lossy(&head).to_lowercase();
        let status: u16 = head
            .split_whitespace()
            .nth(1)
            .and_then(|s| s.parse().ok())
            .unwrap_or(0);
        let len: usize = head
            .lines()
            .find_map(|l| l.strip_prefix("content-length:"))
            .and_then(|v| v.trim().parse().ok())
            .unwrap_or(0);
        let mut body = vec![0u8; len];
        self.stream.read_exact(&mut body).await.unwrap();
        status
    }
}

/// Connects `n` WebSocket clients; each reports (message index, arrival time) for every message frame.
async fn clients(
    url: &str,
    tokens: Option<&[String]>,
    n: usize,
    report: mpsc::UnboundedSender<(usize, Instant)>,
) -> Vec<tokio::task::JoinHandle<()>> {
    let mut handles = Vec::with_capacity(n);
    let (ready_tx, mut ready_rx) = mpsc::channel::<()>(n);
    for i in 0..n {
        let url = url.to_owned();
        let token = tokens.map(|t| t[i].clone());
        let report = report.clone();
        let ready = ready_tx.clone();
        handles.push(tokio::spawn(async move {
            let (mut ws, _) = tokio_tungstenite::connect_async(url).await.unwrap();
            if let Some(token) = token {
                let _hello = ws.next().await;
                let identify = serde_json::json!({ "op": 2, "d": { "token": token, "properties": { "os": "bench" } } });
                ws.send(tokio_tungstenite::tungstenite::Message::Text(identify.to_string().into())).await.unwrap();
            }
            let _ = ready.send(()).await;
            while let Some(Ok(msg)) = ws.next().await {
                let tokio_tungstenite::tungstenite::Message::Text(text) = msg else { continue };
                let now = Instant::now();
                // Messages carry their index as "bench <i>".
                if let Some(pos) = text.find("bench ") {
                    let rest = &text[pos + 6..];
                    let digits: String = rest.chars().take_while(|c| c.is_ascii_digit()).collect();
                    if let Ok(i) = digits.parse::<usize>() {
                        let _ = report.send((i, now));
                    }
                }
            }
        }));
    }
    for _ in 0..n {
        ready_rx.recv().await;
    }
    handles
}

fn summarize(sent: &[Instant], arrivals: &[(usize, Instant)], elapsed: Duration) -> Round {
    let mut lat: Vec<f64> = arrivals
        .iter()
        .map(|(i, at)| at.duration_since(sent[*i]).as_secs_f64() * 1000.0)
        .collect();
    lat.sort_by(|a, b| a.total_cmp(b));
    let pick = |q: f64| lat[((lat.len() as f64 - 1.0) * q).round() as usize];
    Round {
        p50_ms: pick(0.5),
        p99_ms: pick(0.99),
        deliveries_per_sec: arrivals.len() as f64 / elapsed.as_secs_f64(),
    }
}

async fn collect(
    rx: &mut mpsc::UnboundedReceiver<(usize, Instant)>,
    expected: usize,
) -> Vec<(usize, Instant)> {
    let mut got = Vec::with_capacity(expected);
    while got.len() < expected {
        match tokio::time::timeout(Duration::from_secs(60), rx.recv()).await {
            Ok(Some(x)) => got.push(x),
            _ => panic!("only {} of {expected} deliveries arrived", got.len()),
        }
    }
    got
}

/// Fluxer: REST create through the real router, delivery through the real gateway.
async fn fluxer_round(args: &Args) -> Round {
    let ports = Ports {
        store: Arc::new(MemoryStore::new()),
        events: Arc::new(InProcessEventBus::new()),
        mailer: Arc::new(MemoryMailer::new()),
        cache: Arc::new(MemoryCache::new()),
        clock: Arc::new(SystemClock),
        hasher: Arc::new(Argon2Hasher::fast_for_tests()),
        queue: None,
        search: None,
        blobs: None,
        media: None,
    };
    let fluxer = Fluxer::new(ports, Config::default());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap().to_string();
    let mut api_config = ApiConfig::default();
    api_config.rate_limits.enabled = false;
    let gateway = Gateway::new(
        fluxer.clone(),
        Arc::new(MemoryPresence::new()),
        GatewayConfig::default(),
    );
    let app = fluxer::api::router(ApiState::new(
        fluxer.clone(),
        Arc::new(MemoryCache::new()),
        api_config,
    ))
    .merge(gateway.router());
    tokio::spawn(async move {
        axum::serve(
            listener,
            app.into_make_service_with_connect_info::<std::net::SocketAddr>(),
        )
        .await
    });

    let register = |name: String| {
        let fluxer = fluxer.clone();
        async move {
            let out = fluxer
                .register(RegisterRequest {
                    email: Some(format!("{name}@bench.example")),
                    username: Some(name),
                    password: Some("bench password".into()),
                    ..Default::default()
                })
                .await
                .unwrap();
            let LoginOutcome::Session { token, .. } = out else {
                unreachable!()
            };
            token
        }
    };
    let owner_token = register("owner".into()).await;
    let owner = fluxer.authenticate(&owner_token).await.unwrap();
    let guild = fluxer
        .create_guild(
            &owner,
            GuildCreate {
                name: "Bench".into(),
                ..Default::default()
            },
        )
        .await
        .unwrap();
    let guild_id = serde_json::from_value(guild["id"].clone()).unwrap();
    let channel = fluxer.list_guild_channels(&owner, guild_id).await.unwrap()[0].id;
    let invite = fluxer
        .create_invite(
            &owner,
            channel,
            InviteCreate {
                max_age: Some(0),
                ..Default::default()
            },
        )
        .await
        .unwrap();
    let mut tokens = Vec::with_capacity(args.clients);
    for i in 0..args.clients {
        let t = register(format!("c{i}")).await;
        let actor = fluxer.authenticate(&t).await.unwrap();
        fluxer.accept_invite(&actor, &invite.code).await.unwrap();
        tokens.push(t);
    }
    let (tx, mut rx) = mpsc::unbounded_channel();
    let handles = clients(
        &format!("ws://{addr}/gateway?v=1&encoding=json"),
        Some(&tokens),
        args.clients,
        tx,
    )
    .await;
    let mut poster = Poster::connect(&addr).await;
    let path = format!("/api/v1/channels/{channel}/messages");
    // Warm up (sessions cache what they may see on the first event of a guild), then let READY and
    // presence traffic settle; neither is measured.
    for _ in 0..3 {
        assert_eq!(
            poster
                .post(&path, Some(&owner_token), "{\"content\":\"warm-up\"}")
                .await,
            200
        );
    }
    tokio::time::sleep(Duration::from_millis(500)).await;
    while rx.try_recv().is_ok() {}
    let mut sent = Vec::with_capacity(args.messages);
    let start = Instant::now();
    for i in 0..args.messages {
        sent.push(Instant::now());
        let status = poster
            .post(
                &path,
                Some(&owner_token),
                &format!("{{\"content\":\"bench {i}\"}}"),
            )
            .await;
        assert_eq!(status, 200);
    }
    let arrivals = collect(&mut rx, args.messages * args.clients).await;
    let elapsed = start.elapsed();
    for h in handles {
        h.abort();
    }
    summarize(&sent, &arrivals, elapsed)
}

/// Baseline: an axum handler that broadcasts the message JSON to every socket through tokio broadcast.
async fn baseline_round(args: &Args) -> Round {
    let (tx, _) = broadcast::channel::<Arc<str>>(4096);
    let tx = Arc::new(tx);
    let app = Router::new()
        .route(
            "/ws",
            get(|State(tx): State<Arc<broadcast::Sender<Arc<str>>>>, ws: WebSocketUpgrade| async move {
                ws.read_buffer_size(4096).on_upgrade(move |mut socket| async move {
                    let mut rx = tx.subscribe();
                    while let Ok(frame) = rx.recv().await {
                        if socket.send(WsMessage::Text(frame.as_ref().into())).await.is_err() {
                            break;
                        }
                    }
                })
            }),
        )
        .route(
            "/send",
            post(|State(tx): State<Arc<broadcast::Sender<Arc<str>>>>, body: String| async move {
                let v: serde_json::Value = serde_json::from_str(&body).unwrap_or_default();
                let frame = serde_json::json!({ "op": 0, "t": "MESSAGE_CREATE", "s": 1, "d": { "content": v["content"] } }).to_string();
                let _ = tx.send(frame.into());
                axum::Json(v)
            }),
        )
        .with_state(tx.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap().to_string();
    tokio::spawn(async move { axum::serve(listener, app).await });
    let (rtx, mut rx) = mpsc::unbounded_channel();
    let handles = clients(&format!("ws://{addr}/ws"), None, args.clients, rtx).await;
    tokio::time::sleep(Duration::from_millis(200)).await;
    let mut poster = Poster::connect(&addr).await;
    let mut sent = Vec::with_capacity(args.messages);
    let start = Instant::now();
    for i in 0..args.messages {
        sent.push(Instant::now());
        assert_eq!(
            poster
                .post("/send", None, &format!("{{\"content\":\"bench {i}\"}}"))
                .await,
            200
        );
    }
    let arrivals = collect(&mut rx, args.messages * args.clients).await;
    let elapsed = start.elapsed();
    for h in handles {
        h.abort();
    }
    summarize(&sent, &arrivals, elapsed)
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(|a, b| a.total_cmp(b));
    v[v.len() / 2]
}

fn main() {
    let args = args();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    let (mut ours, mut base) = (Vec::new(), Vec::new());
    for round in 0..args.rounds {
        // Alternate which goes first.
        if round % 2 == 0 {
            base.push(rt.block_on(baseline_round(&args)));
            ours.push(rt.block_on(fluxer_round(&args)));
        } else {
            ours.push(rt.block_on(fluxer_round(&args)));
            base.push(rt.block_on(baseline_round(&args)));
        }
        eprintln!(
            "round {round}: fluxer {:?} / baseline {:?}",
            ours.last().unwrap(),
            base.last().unwrap()
        );
    }
    let m = |v: &[Round], f: fn(&Round) -> f64| median(v.iter().map(f).collect());
    let (op50, op99, otp) = (
        m(&ours, |r| r.p50_ms),
        m(&ours, |r| r.p99_ms),
        m(&ours, |r| r.deliveries_per_sec),
    );
    let (bp50, bp99, btp) = (
        m(&base, |r| r.p50_ms),
        m(&base, |r| r.p99_ms),
        m(&base, |r| r.deliveries_per_sec),
    );
    println!(
        "send -> deliver, {} clients in one guild, {} messages, median of {} rounds",
        args.clients, args.messages, args.rounds
    );
    println!("| metric | fluxer | baseline | ratio |");
    println!("|---|---|---|---|");
    println!(
        "| p50 latency (ms) | {op50:.2} | {bp50:.2} | {:.2}x |",
        op50 / bp50
    );
    println!(
        "| p99 latency (ms) | {op99:.2} | {bp99:.2} | {:.2}x |",
        op99 / bp99
    );
    println!("| deliveries/s | {otp:.0} | {btp:.0} | {:.2}x |", otp / btp);
}
