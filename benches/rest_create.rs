//! REST message create: messages per second and latency with N concurrent keep-alive HTTP/1.1 clients
//! posting to `POST /api/v1/channels/{id}/messages` of the monolith (`fluxer::node::Node`:
//! SQLite, the real router, rate limits off), against a baseline of one axum handler that parses the
//! same JSON body, checks the token, stores the message as JSON in a rusqlite table through a single
//! writer thread with group commit (drain the channel, one transaction per batch) and answers the
//! message as JSON. Same client code for both, same process, rounds alternate the order, medians.
//!
//! Fluxer runs twice per round: as `fluxer-server` runs by default (search on: every message also
//! leaves its indexing in the store's outbox, which the in-process worker runs into tantivy while the
//! load goes on) and with search off (`integrations.search.engine = "none"`).
//!
//! ```sh
//! cargo bench -p fluxer --bench rest_create -- --clients 64 --seconds 5 --rounds 3
//! # one side alone, for a profiler: --only baseline|fluxer|fluxer-no-search
//! # Fluxer without Web Push (`services.gateway.push_enabled = false`; on by default, but the bench
//! # subscribes no one, so no message leaves a push fan-out in the outbox either way): --no-push
//! ```

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use axum::Json;
use axum::extract::{Path as UrlPath, State};
use axum::http::{HeaderMap, StatusCode};
use axum::routing::post;
use fluxer::config::Config;
use fluxer::core::service::{GuildCreate, LoginOutcome, RegisterRequest};
use fluxer::core::time::Timestamp;
use fluxer::node::Node;
use serde::{Deserialize, Serialize};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::sync::{mpsc, oneshot};

mod common;

use common::{TempDir, median, own_cpu_seconds};

struct Args {
    clients: usize,
    seconds: f64,
    warmup: f64,
    rounds: usize,
    /// Run one side once and print its round, nothing else: for a profiler (`perf record`).
    only: Option<Side>,
    /// Fluxer with Web Push off.
    no_push: bool,
}

fn args() -> Args {
    let mut a = Args {
        clients: 64,
        seconds: 5.0,
        warmup: 1.0,
        rounds: 3,
        only: None,
        no_push: false,
    };
    let argv: Vec<String> = std::env::args().collect();
    let mut i = 1;
    while i < argv.len() {
        let value = argv.get(i + 1).map(String::as_str);
        match (argv[i].as_str(), value) {
            ("--clients", Some(v)) => a.clients = v.parse().expect("--clients N"),
            ("--seconds", Some(v)) => a.seconds = v.parse().expect("--seconds S"),
            ("--warmup", Some(v)) => a.warmup = v.parse().expect("--warmup S"),
            ("--rounds", Some(v)) => a.rounds = v.parse().expect("--rounds N"),
            ("--no-push", _) => a.no_push = true,
            ("--only", Some(v)) => {
                a.only = Some(match v {
                    "baseline" => Side::Baseline,
                    "fluxer" => Side::Fluxer,
                    "fluxer-no-search" => Side::FluxerNoSearch,
                    _ => panic!("--only baseline|fluxer|fluxer-no-search"),
                })
            }
            _ => {}
        }
        i += 1;
    }
    a
}

/// A keep-alive HTTP/1.1 client on one connection: Content-Length bodies only (what both servers send).
struct HttpClient {
    stream: TcpStream,
    host: String,
    request: Vec<u8>,
    buf: Vec<u8>,
}

impl HttpClient {
    async fn connect(addr: SocketAddr) -> HttpClient {
        let stream = TcpStream::connect(addr).await.unwrap();
        stream.set_nodelay(true).unwrap();
        HttpClient {
            stream,
            host: addr.to_string(),
            request: Vec::with_capacity(1024),
            buf: Vec::with_capacity(16 * 1024),
        }
    }

    /// Sends one request and reads the whole response; returns the status and the body.
    async fn send(&mut self, method: &str, path: &str, auth: &str, body: &str) -> (u16, &[u8]) {
        use std::io::Write;
        self.request.clear();
        let _ = write!(
            self.request,
            "{method} {path} HTTP/1.1\r\nHost: {}\r\nAuthorization: {auth}\r\n",
            self.host
        );
        if !body.is_empty() {
            let _ = write!(
                self.request,
                "Content-Type: application/json\r\nContent-Length: {}\r\n",
                body.len()
            );
        }
        self.request.extend_from_slice(b"\r\n");
        self.request.extend_from_slice(body.as_bytes());
        self.stream.write_all(&self.request).await.unwrap();

        self.buf.clear();
        let head_end = loop {
            if let Some(at) = self.buf.windows(4).position(|w| w == b"\r\n\r\n") {
                break at + 4;
            }
            self.fill().await;
        };
        let head = std::str::from_utf8(&self.buf[..head_end]).unwrap_or("");
        let status = head
            .split_whitespace()
            .nth(1)
            .and_then(|s| s.parse().ok())
            .unwrap_or(0);
        let length: usize = head
            .lines()
            .find_map(|l| {
                let (name, value) = l.split_once(':')?;
                name.eq_ignore_ascii_case("content-length")
                    .then(|| value.trim().parse().ok())?
            })
            .expect("a Content-Length response");
        while self.buf.len() < head_end + length {
            self.fill().await;
        }
        (status, &self.buf[head_end..head_end + length])
    }

    async fn fill(&mut self) {
        let mut chunk = [0u8; 8192];
        let n = self.stream.read(&mut chunk).await.unwrap();
        assert!(n > 0, "the server closed the connection");
        self.buf.extend_from_slice(&chunk[..n]);
    }
}

/// One side's numbers in one round.
#[derive(Clone, Copy, Debug)]
struct Round {
    per_sec: f64,
    p50_ms: f64,
    p99_ms: f64,
    /// CPU time of the whole process (server, its background work and the same load generator on
    /// both sides) per message answered in the window, in µs: steadier than messages/s on a machine
    /// whose neighbours take CPU.
    cpu_us: f64,
    /// Follow-up work not taken up yet (outbox rows and queued jobs) at the window's start and end:
    /// `cpu_us` counts what the window's messages leave to do only while the end stays near the
    /// start (a growing backlog would be work moved past the window).
    backlog: (u64, u64),
}

/// `clients` connections post as fast as they are answered for `warmup + seconds`; requests that
/// start after the warm-up and finish inside the window count.
async fn load(
    addr: SocketAddr,
    path: &str,
    token: &str,
    args: &Args,
    backlog: impl Fn() -> u64,
) -> Round {
    let start = Instant::now();
    let measured_from = start + Duration::from_secs_f64(args.warmup);
    let until = measured_from + Duration::from_secs_f64(args.seconds);
    let mut tasks = Vec::with_capacity(args.clients);
    for c in 0..args.clients {
        let (path, token) = (path.to_owned(), token.to_owned());
        tasks.push(tokio::spawn(async move {
            let mut client = HttpClient::connect(addr).await;
            let mut latencies = Vec::new();
            let mut i = 0u64;
            loop {
                let sent = Instant::now();
                if sent >= until {
                    break;
                }
                let body = format!(
                    "{{\"content\":\"bench message {i} from client {c}: the quick brown fox jumps over the lazy dog\",\"nonce\":\"{c}-{i}\"}}"
                );
                let (status, response) = client.send("POST", &path, &token, &body).await;
                assert_eq!(
                    status,
                    200,
                    "{}",
                    String::from_utf8_lossy(&response[..response.len().min(300)])
                );
                let done = Instant::now();
                if sent >= measured_from && done <= until {
                    latencies.push(done.duration_since(sent).as_secs_f64() * 1000.0);
                }
                i += 1;
            }
            latencies
        }));
    }
    tokio::time::sleep_until(measured_from.into()).await;
    let cpu_from = own_cpu_seconds();
    let backlog_from = backlog();
    tokio::time::sleep_until(until.into()).await;
    let cpu = own_cpu_seconds() - cpu_from;
    let backlog = (backlog_from, backlog());
    let mut latencies = Vec::new();
    for t in tasks {
        latencies.extend(t.await.unwrap());
    }
    latencies.sort_by(|a, b| a.total_cmp(b));
    let pick = |q: f64| latencies[((latencies.len() as f64 - 1.0) * q).round() as usize];
    Round {
        per_sec: latencies.len() as f64 / args.seconds,
        p50_ms: pick(0.5),
        p99_ms: pick(0.99),
        cpu_us: cpu * 1e6 / latencies.len() as f64,
        backlog,
    }
}

async fn bind() -> (tokio::net::TcpListener, SocketAddr) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    (listener, addr)
}

/// Fluxer: the monolith on a fresh data directory, one user posting to its guild's first channel.
async fn fluxer_round(args: &Args, search: bool) -> Round {
    let dir = TempDir::new("rest-create");
    let mut config = Config::default();
    config.instance.data_dir = Some(dir.path().to_owned());
    config.database = fluxer::config::Database::Sqlite {
        path: dir.path().join("fluxer.db"),
    };
    config.dev.disable_rate_limits = true;
    config.services.s3.enabled = false;
    config.services.gateway.push_enabled = !args.no_push;
    if !search {
        config.integrations.search = fluxer::config::Search::Disabled {};
    }
    let (listener, addr) = bind().await;
    let monolith = Node::monolith(&config, &format!("http://{addr}"))
        .await
        .unwrap();
    // Served as the binary serves it: the listener loop with its timeouts and connection bounds.
    let app = monolith.router();
    let options = fluxer::runtime::ServeOptions::from_config(&config).unwrap();
    let server = tokio::spawn(fluxer::runtime::serve_until(
        listener,
        app,
        options,
        std::future::pending(),
    ));

    let fluxer = monolith.fluxer().expect("the API role has use-cases");
    let out = fluxer
        .register(RegisterRequest {
            email: Some("bench@bench.example".into()),
            username: Some("bench".into()),
            password: Some("bench password".into()),
            ..Default::default()
        })
        .await
        .unwrap();
    let LoginOutcome::Session { token, .. } = out else {
        unreachable!()
    };
    let owner = fluxer.authenticate(&token).await.unwrap();
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
    let guild_id = guild.id;
    let channel = fluxer.list_guild_channels(&owner, guild_id).await.unwrap()[0].id;

    let round = load(
        addr,
        &format!("/api/v1/channels/{channel}/messages"),
        &token,
        args,
        || followups_left(dir.path()),
    )
    .await;
    server.abort();
    let _ = server.await;
    monolith.shutdown().await;
    round
}

/// The follow-ups of messages stored that no worker has taken up yet: rows of the store's outbox
/// never claimed and jobs waiting in the queue, read from the monolith's database files beside
/// it. (Indexed ones stay in the outbox until the next search commit, up to a second later:
/// those are done, and not counted.)
fn followups_left(dir: &std::path::Path) -> u64 {
    let count = |file: &str, sql: &str| -> u64 {
        let flags = rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY;
        let conn = rusqlite::Connection::open_with_flags(dir.join(file), flags).unwrap();
        conn.query_row(sql, [], |r| r.get::<_, i64>(0)).unwrap() as u64
    };
    count(
        "fluxer.db",
        "SELECT COUNT(*) FROM message_followups WHERE attempts = 0",
    ) + count("queue.db", "SELECT COUNT(*) FROM jobs WHERE state = 0")
}

/// The baseline's message: the fields of Fluxer's message response that a minimal server fills.
#[derive(Serialize)]
struct BaselineMessage {
    id: String,
    channel_id: String,
    author: BaselineAuthor,
    #[serde(rename = "type")]
    kind: u8,
    flags: u32,
    content: String,
    timestamp: String,
    edited_timestamp: Option<String>,
    pinned: bool,
    mention_everyone: bool,
    tts: bool,
    mentions: Vec<serde_json::Value>,
    mention_roles: Vec<String>,
    embeds: Vec<serde_json::Value>,
    attachments: Vec<serde_json::Value>,
    reactions: Vec<serde_json::Value>,
    nonce: Option<String>,
}

#[derive(Serialize, Clone)]
struct BaselineAuthor {
    id: String,
    username: String,
    discriminator: String,
    global_name: Option<String>,
    avatar: Option<String>,
    flags: u64,
}

#[derive(Deserialize)]
struct CreateBody {
    content: Option<String>,
    nonce: Option<String>,
    #[serde(default)]
    tts: bool,
}

struct Insert {
    channel_id: i64,
    id: i64,
    data: String,
    done: oneshot::Sender<Result<(), String>>,
}

struct Baseline {
    token: String,
    author: BaselineAuthor,
    /// Snowflake-shaped: milliseconds since the Fluxer epoch << 22, then a counter.
    next_id: AtomicU64,
    writes: mpsc::Sender<Insert>,
}

/// The baseline's single writer: everything queued while the last batch ran is the next transaction.
fn baseline_writer(conn: rusqlite::Connection, mut rx: mpsc::Receiver<Insert>) {
    let mut batch = Vec::with_capacity(512);
    while rx.blocking_recv_many(&mut batch, 512) > 0 {
        let result = (|| {
            let tx = conn.unchecked_transaction()?;
            {
                let mut insert = tx.prepare_cached(
                    "INSERT INTO messages (channel_id, id, data) VALUES (?1, ?2, ?3)",
                )?;
                for i in &batch {
                    insert.execute(rusqlite::params![i.channel_id, i.id, i.data])?;
                }
            }
            tx.commit()
        })()
        .map_err(|e: rusqlite::Error| e.to_string());
        for i in batch.drain(..) {
            let _ = i.done.send(result.clone());
        }
    }
}

async fn baseline_create(
    State(b): State<Arc<Baseline>>,
    UrlPath(channel_id): UrlPath<u64>,
    headers: HeaderMap,
    Json(body): Json<CreateBody>,
) -> Result<Json<BaselineMessage>, StatusCode> {
    if headers.get("authorization").map(|v| v.as_bytes()) != Some(b.token.as_bytes()) {
        return Err(StatusCode::UNAUTHORIZED);
    }
    let content = body.content.unwrap_or_default();
    if content.trim().is_empty() || content.chars().count() > 2000 {
        return Err(StatusCode::BAD_REQUEST);
    }
    let id = b.next_id.fetch_add(1, Ordering::Relaxed);
    let message = BaselineMessage {
        id: id.to_string(),
        channel_id: channel_id.to_string(),
        author: b.author.clone(),
        kind: 0,
        flags: 0,
        content,
        timestamp: Timestamp::now().to_iso8601(),
        edited_timestamp: None,
        pinned: false,
        mention_everyone: false,
        tts: body.tts,
        mentions: Vec::new(),
        mention_roles: Vec::new(),
        embeds: Vec::new(),
        attachments: Vec::new(),
        reactions: Vec::new(),
        nonce: body.nonce,
    };
    let data = serde_json::to_string(&message).map_err(|_| StatusCode::INTERNAL_SERVER_ERROR)?;
    let (done, stored) = oneshot::channel();
    b.writes
        .send(Insert {
            channel_id: channel_id as i64,
            id: id as i64,
            data,
            done,
        })
        .await
        .map_err(|_| StatusCode::SERVICE_UNAVAILABLE)?;
    match stored.await {
        Ok(Ok(())) => Ok(Json(message)),
        _ => Err(StatusCode::INTERNAL_SERVER_ERROR),
    }
}

/// Baseline: axum + rusqlite, same pragmas as Fluxer's SQLite store (WAL, synchronous=NORMAL).
async fn baseline_round(args: &Args) -> Round {
    let dir = TempDir::new("rest-create-baseline");
    let conn = rusqlite::Connection::open(dir.path().join("baseline.db")).unwrap();
    conn.execute_batch(
        "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL; PRAGMA cache_size=-64000;
         CREATE TABLE messages (channel_id INTEGER NOT NULL, id INTEGER NOT NULL, data TEXT NOT NULL,
                                PRIMARY KEY (channel_id, id)) WITHOUT ROWID;",
    )
    .unwrap();
    let (writes, rx) = mpsc::channel(4096);
    let writer = std::thread::spawn(move || baseline_writer(conn, rx));
    let epoch_ms = (Timestamp::now().unix_ms() - fluxer::core::id::FLUXER_EPOCH_MS) as u64;
    let state = Arc::new(Baseline {
        token: "baseline-token".to_owned(),
        author: BaselineAuthor {
            id: "1".to_owned(),
            username: "bench".to_owned(),
            discriminator: "0001".to_owned(),
            global_name: None,
            avatar: None,
            flags: 0,
        },
        next_id: AtomicU64::new(epoch_ms << 22),
        writes,
    });
    let app = axum::Router::new()
        .route(
            "/api/v1/channels/{channel_id}/messages",
            post(baseline_create),
        )
        .with_state(state.clone());
    let (listener, addr) = bind().await;
    let server = tokio::spawn(async move { axum::serve(listener, app).await });
    let round = load(
        addr,
        "/api/v1/channels/2/messages",
        &state.token,
        args,
        || 0,
    )
    .await;
    server.abort();
    let _ = server.await;
    drop(state);
    let _ = tokio::task::spawn_blocking(move || writer.join()).await;
    round
}

#[derive(Clone, Copy, Debug)]
enum Side {
    Baseline,
    Fluxer,
    FluxerNoSearch,
}

fn main() {
    let args = args();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    let run = |side: Side| {
        rt.block_on(async {
            match side {
                Side::Baseline => baseline_round(&args).await,
                Side::Fluxer => fluxer_round(&args, true).await,
                Side::FluxerNoSearch => fluxer_round(&args, false).await,
            }
        })
    };
    if let Some(side) = args.only {
        println!("{side:?}: {:?}", run(side));
        return;
    }
    let sides = [Side::Baseline, Side::Fluxer, Side::FluxerNoSearch];
    let mut results: [Vec<Round>; 3] = Default::default();
    for round in 0..args.rounds {
        // Rotate which side goes first.
        for k in 0..sides.len() {
            let i = (round + k) % sides.len();
            results[i].push(run(sides[i]));
        }
        eprintln!(
            "round {round}: baseline {:?} / fluxer {:?} / fluxer, search off {:?}",
            results[0].last().unwrap(),
            results[1].last().unwrap(),
            results[2].last().unwrap()
        );
    }
    let m = |v: &[Round], f: fn(&Round) -> f64| median(v.iter().map(f).collect());
    let base = &results[0];
    println!(
        "REST message create, {} keep-alive clients, {} s per side, median of {} rounds",
        args.clients, args.seconds, args.rounds
    );
    println!("| metric | fluxer | baseline | ratio |");
    println!("|---|---|---|---|");
    for (label, ours) in [("", &results[1]), (", search off", &results[2])] {
        let (o, b) = (m(ours, |r| r.per_sec), m(base, |r| r.per_sec));
        println!("| messages/s{label} | {o:.0} | {b:.0} | {:.2}x |", o / b);
        let (o, b) = (m(ours, |r| r.p50_ms), m(base, |r| r.p50_ms));
        println!(
            "| p50 latency (ms){label} | {o:.2} | {b:.2} | {:.2}x |",
            o / b
        );
        let (o, b) = (m(ours, |r| r.p99_ms), m(base, |r| r.p99_ms));
        println!(
            "| p99 latency (ms){label} | {o:.2} | {b:.2} | {:.2}x |",
            o / b
        );
        let (o, b) = (m(ours, |r| r.cpu_us), m(base, |r| r.cpu_us));
        println!(
            "| CPU per message (µs, whole process){label} | {o:.0} | {b:.0} | {:.2}x |",
            o / b
        );
        let (from, to) = (
            m(ours, |r| r.backlog.0 as f64),
            m(ours, |r| r.backlog.1 as f64),
        );
        println!(
            "| follow-ups not taken up, window start → end{label} | {from:.0} → {to:.0} | | |"
        );
    }
}
