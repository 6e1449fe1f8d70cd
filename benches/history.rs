//! History fetch: pages per second for `GET /api/v1/channels/{id}/messages?limit=50` (the latest page)
//! and `?before=<cursor>&limit=50` (random pages) with N concurrent keep-alive HTTP/1.1 clients, over a
//! channel pre-filled with 100 000 messages, on the monolith (`fluxer::node::Node`: SQLite, the
//! real router, rate limits off), against a baseline of axum + one raw rusqlite query (messages joined
//! to their authors, same page size) on an equivalent table holding the same messages, served from a
//! pool of read connections on tokio's blocking pool and answered as JSON rows of the same shape. Same
//! client code for both, same process, rounds alternate the order, medians.
//!
//! ```sh
//! cargo bench -p fluxer --bench history -- --messages 100000 --clients 64 --seconds 3 --rounds 3
//! ```

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::Json;
use axum::extract::{Path as UrlPath, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::routing::get;
use fluxer::config::Config;
use fluxer::core::id::{GuildId, MessageId, Snowflake, UserId};
use fluxer::core::model::{Message, MessageType, User};
use fluxer::core::ports::{MessageRepository, UserRepository};
use fluxer::core::service::{Fluxer, GuildCreate, LoginOutcome, Ports, RegisterRequest};
use fluxer::core::time::Timestamp;
use fluxer::node::Node;
use fluxer::storage::memory::{InProcessEventBus, LogMailer, MemoryCache};
use fluxer::storage::sqlite::SqliteStore;
use futures_util::StreamExt;
use serde::{Deserialize, Serialize};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::sync::Semaphore;

mod common;

use common::{TempDir, median};

const PAGE: usize = 50;
const AUTHORS: usize = 8;

struct Args {
    messages: usize,
    clients: usize,
    seconds: f64,
    warmup: f64,
    rounds: usize,
}

fn args() -> Args {
    let mut a = Args {
        messages: 100_000,
        clients: 64,
        seconds: 3.0,
        warmup: 0.5,
        rounds: 3,
    };
    let argv: Vec<String> = std::env::args().collect();
    let mut i = 1;
    while i < argv.len() {
        let value = argv.get(i + 1).map(String::as_str);
        match (argv[i].as_str(), value) {
            ("--messages", Some(v)) => a.messages = v.parse().expect("--messages N"),
            ("--clients", Some(v)) => a.clients = v.parse().expect("--clients N"),
            ("--seconds", Some(v)) => a.seconds = v.parse().expect("--seconds S"),
            ("--warmup", Some(v)) => a.warmup = v.parse().expect("--warmup S"),
            ("--rounds", Some(v)) => a.rounds = v.parse().expect("--rounds N"),
            _ => {}
        }
        i += 1;
    }
    assert!(a.messages > PAGE, "--messages must exceed the page size");
    a
}

/// Deterministic pseudo-random numbers (Knuth's MMIX LCG, high bits).
struct Lcg(u64);

impl Lcg {
    fn next(&mut self) -> u64 {
        self.0 = self
            .0
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        self.0 >> 33
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
}

const WORDS: &[&str] = &[
    "the", "a", "to", "and", "of", "is", "in", "it", "you", "that", "for", "on", "with", "this",
    "was", "but", "are", "have", "not", "be", "just", "so", "like", "what", "do", "can", "if",
    "we", "they", "my", "lol", "yeah", "think", "know", "get", "would", "good", "time", "server",
    "game", "build", "patch", "release", "tonight", "tomorrow", "channel", "voice", "message",
    "rust", "compile", "deploy", "works", "broken", "fixed", "thanks", "anyone", "here", "there",
];

fn sentence(rng: &mut Lcg) -> String {
    let n = 4 + rng.below(16);
    let mut s = String::with_capacity(n * 6);
    for i in 0..n {
        if i > 0 {
            s.push(' ');
        }
        s.push_str(WORDS[rng.below(WORDS.len())]);
    }
    s
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
            buf: Vec::with_capacity(64 * 1024),
        }
    }

    /// Sends a GET and reads the whole response; returns the status and the body.
    async fn get(&mut self, path: &str, auth: &str) -> (u16, &[u8]) {
        use std::io::Write;
        self.request.clear();
        let _ = write!(
            self.request,
            "GET {path} HTTP/1.1\r\nHost: {}\r\nAuthorization: {auth}\r\n\r\n",
            self.host
        );
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
        let mut chunk = [0u8; 16384];
        let n = self.stream.read(&mut chunk).await.unwrap();
        assert!(n > 0, "the server closed the connection");
        self.buf.extend_from_slice(&chunk[..n]);
    }
}

/// One phase's numbers.
#[derive(Clone, Copy, Debug)]
struct Phase {
    pages_per_sec: f64,
    p99_ms: f64,
}

/// What a server under test offers the load generator.
struct Target {
    addr: SocketAddr,
    path: String,
    token: String,
}

/// `clients` connections fetch pages as fast as they are answered: the latest page, or (with
/// `cursors`) a page before a random cursor. Requests that start after the warm-up and finish inside
/// the window count.
async fn load(target: &Target, cursors: Option<Arc<Vec<u64>>>, args: &Args) -> Phase {
    let start = Instant::now();
    let measured_from = start + Duration::from_secs_f64(args.warmup);
    let until = measured_from + Duration::from_secs_f64(args.seconds);
    let mut tasks = Vec::with_capacity(args.clients);
    for c in 0..args.clients {
        let (path, token, addr) = (target.path.clone(), target.token.clone(), target.addr);
        let cursors = cursors.clone();
        tasks.push(tokio::spawn(async move {
            let mut client = HttpClient::connect(addr).await;
            let mut rng = Lcg(c as u64 + 1);
            let mut latencies = Vec::new();
            loop {
                let sent = Instant::now();
                if sent >= until {
                    break;
                }
                let url = match &cursors {
                    None => format!("{path}?limit={PAGE}"),
                    Some(ids) => {
                        // Every cursor has a full page before it.
                        let cursor = ids[PAGE + rng.below(ids.len() - PAGE)];
                        format!("{path}?before={cursor}&limit={PAGE}")
                    }
                };
                let (status, body) = client.get(&url, &token).await;
                assert_eq!(
                    status,
                    200,
                    "{}",
                    String::from_utf8_lossy(&body[..body.len().min(300)])
                );
                let done = Instant::now();
                if sent >= measured_from && done <= until {
                    latencies.push(done.duration_since(sent).as_secs_f64() * 1000.0);
                }
            }
            latencies
        }));
    }
    let mut latencies = Vec::new();
    for t in tasks {
        latencies.extend(t.await.unwrap());
    }
    latencies.sort_by(|a, b| a.total_cmp(b));
    Phase {
        pages_per_sec: latencies.len() as f64 / args.seconds,
        p99_ms: latencies[((latencies.len() as f64 - 1.0) * 0.99).round() as usize],
    }
}

/// Both phases on one server, after checking it answers full pages.
async fn measure(target: &Target, ids: &Arc<Vec<u64>>, args: &Args) -> (Phase, Phase) {
    let mut client = HttpClient::connect(target.addr).await;
    for url in [
        format!("{}?limit={PAGE}", target.path),
        format!("{}?before={}&limit={PAGE}", target.path, ids[ids.len() / 2]),
    ] {
        let (status, body) = client.get(&url, &target.token).await;
        assert_eq!(status, 200);
        let page: Vec<serde_json::Value> = serde_json::from_slice(body).unwrap();
        assert_eq!(page.len(), PAGE, "{url}");
    }
    drop(client);
    let latest = load(target, None, args).await;
    let before = load(target, Some(ids.clone()), args).await;
    (latest, before)
}

/// The messages both servers hold: (id, author index, content), oldest first, one per second up to now.
fn corpus(n: usize) -> Vec<(u64, usize, String)> {
    let now = Timestamp::now().unix_ms();
    let mut rng = Lcg(42);
    (0..n)
        .map(|i| {
            let ms = now - (n - i) as i64 * 1000;
            let id = Snowflake::from_parts(ms, 1, 0).0;
            (id, i % AUTHORS, sentence(&mut rng))
        })
        .collect()
}

/// Fluxer: the monolith on a fresh data directory. The data is written first, through the use-cases
/// and (for the messages) straight into the store (the repository's `insert_message`, as the service
/// stores them), authored by a few users; then the server starts on it.
async fn fluxer_server(dir: &Path, corpus: &[(u64, usize, String)]) -> (Node, Target) {
    let db = dir.join("fluxer.db");
    let store = Arc::new(SqliteStore::open(&db).unwrap());
    let fluxer = Fluxer::new(
        Ports::new(
            store.clone(),
            Arc::new(InProcessEventBus::new()),
            Arc::new(LogMailer),
            Arc::new(MemoryCache::new()),
        ),
        fluxer::core::service::Config::default(),
    );
    let out = fluxer
        .register(RegisterRequest {
            email: Some("reader@bench.example".into()),
            username: Some("reader".into()),
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
    let guild_id: GuildId = guild.id;
    let channel = fluxer.list_guild_channels(&owner, guild_id).await.unwrap()[0].id;

    let authors: Vec<UserId> = (0..AUTHORS).map(|i| UserId::new(1000 + i as u64)).collect();
    for (i, id) in authors.iter().enumerate() {
        let mut user = User::new(
            *id,
            format!("author{i}"),
            Some(format!("author{i}@bench.example")),
        );
        user.discriminator = i as u16 + 1;
        store.create_user(&user).await.unwrap();
    }
    let messages = corpus.iter().map(|(id, author, content)| Message {
        id: MessageId::new(*id),
        channel_id: channel,
        guild_id: Some(guild_id),
        author_id: authors[*author],
        webhook_id: None,
        webhook_name: None,
        webhook_avatar: None,
        kind: MessageType::Default,
        flags: 0,
        content: content.clone(),
        edited_timestamp: None,
        pinned_at: None,
        mention_everyone: false,
        mention_ids: Vec::new(),
        mention_role_ids: Vec::new(),
        attachments: Vec::new(),
        embeds: Vec::new(),
        message_reference: None,
        nonce: None,
        tts: false,
        stickers: Vec::new(),
    });
    // Concurrent inserts share the writer's group commits.
    futures_util::stream::iter(messages)
        .map(|m| {
            let store = store.clone();
            async move { store.insert_message(&m).await.unwrap() }
        })
        .buffer_unordered(1024)
        .collect::<Vec<()>>()
        .await;
    drop(fluxer);
    store.close().await;

    let mut config = Config::default();
    config.instance.data_dir = Some(dir.to_owned());
    config.database = fluxer::config::Database::Sqlite { path: db };
    config.dev.disable_rate_limits = true;
    config.services.s3.enabled = false;
    config.integrations.search = fluxer::config::Search::Disabled {};
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let monolith = Node::monolith(&config, &format!("http://{addr}"))
        .await
        .unwrap();
    let app = monolith
        .router()
        .into_make_service_with_connect_info::<SocketAddr>();
    tokio::spawn(async move { axum::serve(listener, app).await });
    let target = Target {
        addr,
        path: format!("/api/v1/channels/{channel}/messages"),
        token,
    };
    (monolith, target)
}

/// The baseline's row: the fields of Fluxer's message response a minimal server fills.
#[derive(Serialize)]
struct Row {
    id: String,
    channel_id: String,
    author: Author,
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
}

#[derive(Serialize)]
struct Author {
    id: String,
    username: String,
    discriminator: String,
    global_name: Option<String>,
    avatar: Option<String>,
    flags: u64,
}

#[derive(Deserialize)]
struct HistoryQuery {
    limit: Option<u32>,
    before: Option<u64>,
}

struct Baseline {
    token: String,
    path: PathBuf,
    idle: Mutex<Vec<rusqlite::Connection>>,
    permits: Arc<Semaphore>,
}

fn open_baseline(path: &Path, flags: rusqlite::OpenFlags) -> rusqlite::Connection {
    let conn = rusqlite::Connection::open_with_flags(path, flags).unwrap();
    conn.execute_batch(
        "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL; PRAGMA cache_size=-64000;",
    )
    .unwrap();
    conn
}

fn page(
    conn: &rusqlite::Connection,
    channel: u64,
    before: u64,
    limit: u32,
) -> rusqlite::Result<Vec<Row>> {
    let mut stmt = conn.prepare_cached(
        "SELECT m.id, m.author_id, u.username, u.discriminator, u.avatar, m.content, m.timestamp,
                m.edited_timestamp, m.flags
         FROM messages m JOIN users u ON u.id = m.author_id
         WHERE m.channel_id = ?1 AND m.id < ?2 ORDER BY m.id DESC LIMIT ?3",
    )?;
    let rows = stmt.query_map(
        rusqlite::params![channel as i64, before.min(i64::MAX as u64) as i64, limit],
        |r| {
            Ok(Row {
                id: r.get::<_, i64>(0)?.to_string(),
                channel_id: channel.to_string(),
                author: Author {
                    id: r.get::<_, i64>(1)?.to_string(),
                    username: r.get(2)?,
                    discriminator: format!("{:04}", r.get::<_, i64>(3)?),
                    global_name: None,
                    avatar: r.get(4)?,
                    flags: 0,
                },
                kind: 0,
                flags: r.get(8)?,
                content: r.get(5)?,
                timestamp: r.get(6)?,
                edited_timestamp: r.get(7)?,
                pinned: false,
                mention_everyone: false,
                tts: false,
                mentions: Vec::new(),
                mention_roles: Vec::new(),
                embeds: Vec::new(),
                attachments: Vec::new(),
                reactions: Vec::new(),
            })
        },
    )?;
    rows.collect()
}

async fn baseline_history(
    State(b): State<Arc<Baseline>>,
    UrlPath(channel): UrlPath<u64>,
    Query(q): Query<HistoryQuery>,
    headers: HeaderMap,
) -> Result<Json<Vec<Row>>, StatusCode> {
    if headers.get("authorization").map(|v| v.as_bytes()) != Some(b.token.as_bytes()) {
        return Err(StatusCode::UNAUTHORIZED);
    }
    let limit = q.limit.unwrap_or(50);
    if !(1..=100).contains(&limit) {
        return Err(StatusCode::BAD_REQUEST);
    }
    let permit = b.permits.clone().acquire_owned().await.unwrap();
    let state = b.clone();
    let rows = tokio::task::spawn_blocking(move || {
        let _permit = permit;
        let conn = state.idle.lock().unwrap().pop();
        let conn = conn.unwrap_or_else(|| {
            open_baseline(&state.path, rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY)
        });
        let rows = page(&conn, channel, q.before.unwrap_or(u64::MAX), limit);
        state.idle.lock().unwrap().push(conn);
        rows
    })
    .await
    .map_err(|_| StatusCode::INTERNAL_SERVER_ERROR)?
    .map_err(|_| StatusCode::INTERNAL_SERVER_ERROR)?;
    Ok(Json(rows))
}

/// Baseline: the same messages in one table (plus a users table), same pragmas as Fluxer's store.
async fn baseline_server(dir: &Path, corpus: &[(u64, usize, String)]) -> Target {
    let path = dir.join("baseline.db");
    let mut conn = open_baseline(&path, rusqlite::OpenFlags::default());
    conn.execute_batch(
        "CREATE TABLE users (id INTEGER PRIMARY KEY, username TEXT NOT NULL,
                             discriminator INTEGER NOT NULL, avatar TEXT);
         CREATE TABLE messages (channel_id INTEGER NOT NULL, id INTEGER NOT NULL,
                                author_id INTEGER NOT NULL, content TEXT NOT NULL,
                                timestamp TEXT NOT NULL, edited_timestamp TEXT,
                                flags INTEGER NOT NULL, PRIMARY KEY (channel_id, id)) WITHOUT ROWID;",
    )
    .unwrap();
    let channel = 2u64;
    let tx = conn.transaction().unwrap();
    for i in 0..AUTHORS {
        tx.execute(
            "INSERT INTO users (id, username, discriminator) VALUES (?1, ?2, ?3)",
            rusqlite::params![1000 + i as i64, format!("author{i}"), i as i64 + 1],
        )
        .unwrap();
    }
    {
        let mut insert = tx
            .prepare(
                "INSERT INTO messages (channel_id, id, author_id, content, timestamp, flags)
                 VALUES (?1, ?2, ?3, ?4, ?5, 0)",
            )
            .unwrap();
        for (id, author, content) in corpus {
            let timestamp = MessageId::new(*id).timestamp().to_iso8601();
            insert
                .execute(rusqlite::params![
                    channel as i64,
                    *id as i64,
                    1000 + *author as i64,
                    content,
                    timestamp
                ])
                .unwrap();
        }
    }
    tx.commit().unwrap();
    drop(conn);
    let readers = 4; // Fluxer's default read pool.
    let state = Arc::new(Baseline {
        token: "baseline-token".to_owned(),
        idle: Mutex::new(
            (0..readers)
                .map(|_| open_baseline(&path, rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY))
                .collect(),
        ),
        permits: Arc::new(Semaphore::new(readers)),
        path,
    });
    let app = axum::Router::new()
        .route("/api/v1/channels/{channel}/messages", get(baseline_history))
        .with_state(state.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await });
    Target {
        addr,
        path: format!("/api/v1/channels/{channel}/messages"),
        token: state.token.clone(),
    }
}

fn main() {
    let args = args();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    let corpus = corpus(args.messages);
    let ids: Arc<Vec<u64>> = Arc::new(corpus.iter().map(|m| m.0).collect());
    let (fluxer_dir, baseline_dir) = (TempDir::new("history"), TempDir::new("history-baseline"));
    let started = Instant::now();
    let (monolith, fluxer) = rt.block_on(fluxer_server(fluxer_dir.path(), &corpus));
    let baseline = rt.block_on(baseline_server(baseline_dir.path(), &corpus));
    eprintln!(
        "filled both with {} messages in {:.1} s",
        args.messages,
        started.elapsed().as_secs_f64()
    );

    let (mut ours, mut base) = (Vec::new(), Vec::new());
    for round in 0..args.rounds {
        // Alternate which goes first.
        if round % 2 == 0 {
            base.push(rt.block_on(measure(&baseline, &ids, &args)));
            ours.push(rt.block_on(measure(&fluxer, &ids, &args)));
        } else {
            ours.push(rt.block_on(measure(&fluxer, &ids, &args)));
            base.push(rt.block_on(measure(&baseline, &ids, &args)));
        }
        eprintln!(
            "round {round}: fluxer {:?} / baseline {:?}",
            ours.last().unwrap(),
            base.last().unwrap()
        );
    }
    rt.block_on(monolith.shutdown());

    let m = |v: &[(Phase, Phase)], f: fn(&(Phase, Phase)) -> f64| median(v.iter().map(f).collect());
    println!(
        "history fetch, {} messages in the channel, {PAGE} per page, {} keep-alive clients, {} s per phase, median of {} rounds",
        args.messages, args.clients, args.seconds, args.rounds
    );
    println!("| metric | fluxer | baseline | ratio |");
    println!("|---|---|---|---|");
    type Metric = fn(&(Phase, Phase)) -> f64;
    let rows: [(&str, Metric, bool); 4] = [
        ("latest page: pages/s", |p| p.0.pages_per_sec, true),
        ("latest page: p99 latency (ms)", |p| p.0.p99_ms, false),
        ("page before a cursor: pages/s", |p| p.1.pages_per_sec, true),
        (
            "page before a cursor: p99 latency (ms)",
            |p| p.1.p99_ms,
            false,
        ),
    ];
    for (label, f, rate) in rows {
        let (o, b) = (m(&ours, f), m(&base, f));
        if rate {
            println!("| {label} | {o:.0} | {b:.0} | {:.2}x |", o / b);
        } else {
            println!("| {label} | {o:.2} | {b:.2} | {:.2}x |", o / b);
        }
    }
}
