//! History fetch: pages per second for `GET /api/v1/channels/{id}/messages?limit=50` (the latest page)
//! and `?before=<cursor>&limit=50` (random pages) with N concurrent keep-alive HTTP/1.1 clients, over a
//! channel pre-filled with `--messages` messages in a database holding `--total` (the rest spread over
//! nine other channels), on the monolith (`fluxer::node::Node`: SQLite or PostgreSQL, the real
//! router, rate limits off), against a baseline of axum + one raw query (messages joined to their
//! authors, same page size) on an equivalent table holding the same messages (rusqlite connections on
//! tokio's blocking pool, or tokio-postgres connections, as many as Fluxer's pool), answered as JSON
//! rows of the same shape. Same client code for both, same process, rounds alternate the order,
//! medians.
//!
//! ```sh
//! cargo bench -p fluxer --bench history -- --messages 100000 --clients 64 --seconds 3 --rounds 3
//! cargo bench -p fluxer --features cluster --bench history -- --backend postgres \
//!     --messages 1000000 --total 10000000 --rounds 1
//! ```
//!
//! The messages are written in bulk, in the database itself: one is stored through the repository
//! (its stored form is the template), the others are generated from it by one `INSERT … SELECT`
//! over a counter (a recursive CTE in SQLite, `generate_series` in PostgreSQL) with their own IDs,
//! one per second up to now. PostgreSQL comes from `FLUXER_BENCH_POSTGRES_URL` (default
//! `postgres://postgres@127.0.0.1:5432`); the bench creates a scratch database and drops it.

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
use fluxer::core::service::{Fluxer, GuildCreate, LoginOutcome, Ports, RegisterRequest};
use fluxer::core::time::Timestamp;
use fluxer::node::Node;
use fluxer::storage::memory::{InProcessEventBus, LogMailer, MemoryCache};
use fluxer::storage::postgres::PostgresStore;
use fluxer::storage::sqlite::SqliteStore;
use serde::{Deserialize, Serialize};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::sync::Semaphore;

mod common;

use common::{TempDir, median};

const PAGE: usize = 50;
const AUTHORS: usize = 8;

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Backend {
    Sqlite,
    Postgres,
}

struct Args {
    backend: Backend,
    messages: usize,
    /// Messages in the whole database (at least `messages`).
    total: usize,
    clients: usize,
    seconds: f64,
    warmup: f64,
    rounds: usize,
}

fn args() -> Args {
    let mut a = Args {
        backend: Backend::Sqlite,
        total: 0,
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
            ("--total", Some(v)) => a.total = v.parse().expect("--total N"),
            ("--backend", Some("sqlite")) => a.backend = Backend::Sqlite,
            ("--backend", Some("postgres")) => a.backend = Backend::Postgres,
            ("--backend", Some(v)) => panic!("--backend sqlite|postgres, not {v}"),
            ("--clients", Some(v)) => a.clients = v.parse().expect("--clients N"),
            ("--seconds", Some(v)) => a.seconds = v.parse().expect("--seconds S"),
            ("--warmup", Some(v)) => a.warmup = v.parse().expect("--warmup S"),
            ("--rounds", Some(v)) => a.rounds = v.parse().expect("--rounds N"),
            _ => {}
        }
        i += 1;
    }
    assert!(a.messages > PAGE, "--messages must exceed the page size");
    a.total = a.total.max(a.messages);
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

/// Seconds between two messages of a channel, as a step between their snowflake IDs.
const STEP: u64 = 1000 << 22;
/// Channels besides the measured one that hold the rest of `--total`.
const OTHER_CHANNELS: u64 = 9;

/// Where the messages are: message `i` (0: the oldest) of a channel has ID `first + i * STEP`, one
/// per second up to now; the measured channel holds `messages`, each other channel `per_other`.
#[derive(Clone, Copy)]
struct Layout {
    messages: usize,
    per_other: usize,
    first: u64,
}

impl Layout {
    fn new(args: &Args) -> Layout {
        let now = Timestamp::now().unix_ms();
        let per_other = (args.total - args.messages).div_ceil(OTHER_CHANNELS as usize);
        let span = args.messages.max(per_other) as i64;
        Layout {
            messages: args.messages,
            per_other,
            first: Snowflake::from_parts(now - span * 1000, 1, 0).0,
        }
    }

    /// The measured channel's message IDs, oldest first.
    fn ids(&self) -> Vec<u64> {
        (0..self.messages as u64)
            .map(|i| self.first + i * STEP)
            .collect()
    }

    /// The channels to fill, with how many messages each: the measured one, then the others
    /// (IDs no real channel has).
    fn channels(&self, measured: u64) -> Vec<(u64, usize)> {
        let mut out = vec![(measured, self.messages)];
        if self.per_other > 0 {
            out.extend((0..OTHER_CHANNELS).map(|k| ((1 << 60) + k, self.per_other)));
        }
        out
    }
}

/// Rows per generating statement (one transaction each, so SQLite's WAL stays small).
const CHUNK: usize = 500_000;

/// What the bench writes through the use-cases before the bulk fill: a reader (owner of a guild
/// with one channel) and the authors; the first message is stored through the repository, as the
/// service stores messages, and its stored form is the template of the rest.
struct Prepared {
    token: String,
    channel: u64,
}

async fn prepare(store: Arc<dyn fluxer::core::ports::Store>, layout: &Layout) -> Prepared {
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
    for i in 0..AUTHORS {
        let mut user = User::new(
            author_id(i),
            format!("author{i}"),
            Some(format!("author{i}@bench.example")),
        );
        user.discriminator = i as u16 + 1;
        store.create_user(&user).await.unwrap();
    }
    let template = Message {
        id: MessageId::new(layout.first),
        channel_id: channel,
        guild_id: Some(guild_id),
        author_id: author_id(0),
        webhook_id: None,
        webhook_name: None,
        webhook_avatar: None,
        kind: MessageType::Default,
        flags: 0,
        content: content(0),
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
    };
    store.insert_message(&template).await.unwrap();
    Prepared {
        token,
        channel: channel.get(),
    }
}

fn author_id(i: usize) -> UserId {
    UserId::new(1000 + i as u64)
}

/// Message `i`'s text (the generating statements build the same).
fn content(i: usize) -> String {
    format!("message number {i} of the history bench, about as long as a chat line")
}

/// Fills Fluxer's SQLite file: every message but the template, generated from it.
fn fill_sqlite(db: &Path, channel: u64, layout: &Layout) {
    let mut conn = rusqlite::Connection::open(db).unwrap();
    conn.execute_batch("PRAGMA journal_mode=WAL; PRAGMA synchronous=OFF;")
        .unwrap();
    let (template, id_is_text): (String, bool) = conn
        .query_row(
            "SELECT data, json_type(data, '$.id') = 'text' FROM messages WHERE channel_id = ?1 AND id = ?2",
            rusqlite::params![channel as i64, layout.first as i64],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .unwrap();
    let id = if id_is_text {
        "CAST(?3 + i * ?4 AS TEXT)"
    } else {
        "?3 + i * ?4"
    };
    let sql = format!(
        "INSERT INTO messages (channel_id, id, pinned_at, data)
         WITH RECURSIVE n(i) AS (SELECT ?1 UNION ALL SELECT i + 1 FROM n WHERE i + 1 < ?2)
         SELECT ?5, ?3 + i * ?4, NULL,
                json_set(?6, '$.id', {id},
                         '$.content', 'message number ' || i || ' of the history bench, about as long as a chat line')
         FROM n"
    );
    for (ch, count) in layout.channels(channel) {
        // The measured channel's first message is the template, already stored.
        let mut from = usize::from(ch == channel);
        while from < count {
            let to = (from + CHUNK).min(count);
            let tx = conn.transaction().unwrap();
            tx.execute(
                &sql,
                rusqlite::params![
                    from as i64,
                    to as i64,
                    layout.first as i64,
                    STEP as i64,
                    ch as i64,
                    template
                ],
            )
            .unwrap();
            tx.commit().unwrap();
            from = to;
        }
    }
    conn.execute(
        "UPDATE channels SET last_message_id = ?2 WHERE id = ?1",
        rusqlite::params![
            channel as i64,
            (layout.first + (layout.messages as u64 - 1) * STEP) as i64
        ],
    )
    .unwrap();
    conn.execute_batch("PRAGMA wal_checkpoint(TRUNCATE); ANALYZE;")
        .unwrap();
}

/// The PostgreSQL server of the bench.
fn postgres_server() -> String {
    std::env::var("FLUXER_BENCH_POSTGRES_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432".to_owned())
        .trim_end_matches('/')
        .to_owned()
}

/// A connection to `database` on the bench server, its driver task spawned.
async fn pg_connect(database: &str) -> tokio_postgres::Client {
    let url = format!("{}/{database}", postgres_server());
    let (client, connection) = tokio_postgres::connect(&url, tokio_postgres::NoTls)
        .await
        .unwrap_or_else(|e| panic!("PostgreSQL is required at {url}: {e}"));
    tokio::spawn(connection);
    client
}

/// Fills Fluxer's PostgreSQL database: every message but the template, generated from it.
async fn fill_postgres(database: &str, channel: u64, layout: &Layout) {
    let c = pg_connect(database).await;
    let row = c
        .query_one(
            "SELECT data::text, jsonb_typeof(data::jsonb -> 'id') = 'string' FROM messages WHERE channel_id = $1 AND id = $2",
            &[&(channel as i64), &(layout.first as i64)],
        )
        .await
        .unwrap();
    let (template, id_is_text): (String, bool) = (row.get(0), row.get(1));
    let id = if id_is_text {
        "to_jsonb(($3 + i * $4)::text)"
    } else {
        "to_jsonb($3 + i * $4)"
    };
    let sql = format!(
        "INSERT INTO messages (channel_id, id, pinned_at, data)
         SELECT $5, $3 + i * $4, NULL,
                (($6::text)::jsonb || jsonb_build_object('id', {id},
                    'content', 'message number ' || i || ' of the history bench, about as long as a chat line'))::json
         FROM generate_series($1::bigint, $2::bigint - 1) AS i"
    );
    for (ch, count) in layout.channels(channel) {
        let mut from = usize::from(ch == channel);
        while from < count {
            let to = (from + CHUNK).min(count);
            c.execute(
                &sql,
                &[
                    &(from as i64),
                    &(to as i64),
                    &(layout.first as i64),
                    &(STEP as i64),
                    &(ch as i64),
                    &template,
                ],
            )
            .await
            .unwrap();
            from = to;
        }
    }
    c.execute(
        "UPDATE channels SET last_message_id = $2 WHERE id = $1",
        &[
            &(channel as i64),
            &((layout.first + (layout.messages as u64 - 1) * STEP) as i64),
        ],
    )
    .await
    .unwrap();
    c.batch_execute("VACUUM ANALYZE messages").await.unwrap();
}

/// Fluxer: the monolith on fresh storage (a data directory, and with PostgreSQL the scratch
/// database), filled first, then started on it.
async fn fluxer_server(
    dir: &Path,
    backend: Backend,
    database: &str,
    layout: &Layout,
) -> (Node, Target) {
    let mut config = Config::default();
    let prepared = match backend {
        Backend::Sqlite => {
            let db = dir.join("fluxer.db");
            let store = Arc::new(SqliteStore::open(&db).unwrap());
            let prepared = prepare(store.clone(), layout).await;
            store.close().await;
            drop(store);
            let channel = prepared.channel;
            let (db2, layout2) = (db.clone(), *layout);
            tokio::task::spawn_blocking(move || fill_sqlite(&db2, channel, &layout2))
                .await
                .unwrap();
            config.database = fluxer::config::Database::Sqlite { path: db };
            prepared
        }
        Backend::Postgres => {
            let url = format!("{}/{database}", postgres_server());
            let store = Arc::new(PostgresStore::connect(&url, 4).await.unwrap());
            let prepared = prepare(store.clone(), layout).await;
            store.close();
            drop(store);
            fill_postgres(database, prepared.channel, layout).await;
            config.database = fluxer::config::Database::Postgres { url, pool_size: 4 };
            prepared
        }
    };
    config.instance.data_dir = Some(dir.to_owned());
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
        path: format!("/api/v1/channels/{}/messages", prepared.channel),
        token: prepared.token,
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

/// Baseline (SQLite): the same messages in one table (plus a users table), same pragmas as Fluxer's
/// store, generated the same way.
async fn baseline_server(dir: &Path, layout: &Layout) -> Target {
    let path = dir.join("baseline.db");
    let mut conn = open_baseline(&path, rusqlite::OpenFlags::default());
    conn.execute_batch(
        "PRAGMA synchronous=OFF;
         CREATE TABLE users (id INTEGER PRIMARY KEY, username TEXT NOT NULL,
                             discriminator INTEGER NOT NULL, avatar TEXT);
         CREATE TABLE messages (channel_id INTEGER NOT NULL, id INTEGER NOT NULL,
                                author_id INTEGER NOT NULL, content TEXT NOT NULL,
                                timestamp TEXT NOT NULL, edited_timestamp TEXT,
                                flags INTEGER NOT NULL, PRIMARY KEY (channel_id, id)) WITHOUT ROWID;",
    )
    .unwrap();
    let channel = 2u64;
    for i in 0..AUTHORS {
        conn.execute(
            "INSERT INTO users (id, username, discriminator) VALUES (?1, ?2, ?3)",
            rusqlite::params![
                author_id(i).get() as i64,
                format!("author{i}"),
                i as i64 + 1
            ],
        )
        .unwrap();
    }
    let first_ms = MessageId::new(layout.first).timestamp().unix_ms();
    let sql = format!(
        "INSERT INTO messages (channel_id, id, author_id, content, timestamp, flags)
         WITH RECURSIVE n(i) AS (SELECT ?1 UNION ALL SELECT i + 1 FROM n WHERE i + 1 < ?2)
         SELECT ?5, ?3 + i * ?4, {author},
                'message number ' || i || ' of the history bench, about as long as a chat line',
                strftime('%Y-%m-%dT%H:%M:%fZ', (?6 + i * 1000) / 1000.0, 'unixepoch'), 0
         FROM n",
        author = author_id(0).get()
    );
    for (ch, count) in layout.channels(channel) {
        let mut from = 0;
        while from < count {
            let to = (from + CHUNK).min(count);
            let tx = conn.transaction().unwrap();
            tx.execute(
                &sql,
                rusqlite::params![
                    from as i64,
                    to as i64,
                    layout.first as i64,
                    STEP as i64,
                    ch as i64,
                    first_ms
                ],
            )
            .unwrap();
            tx.commit().unwrap();
            from = to;
        }
    }
    conn.execute_batch("PRAGMA wal_checkpoint(TRUNCATE); ANALYZE;")
        .unwrap();
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
    serve_baseline(app, channel, &state.token).await
}

async fn serve_baseline(app: axum::Router, channel: u64, token: &str) -> Target {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await });
    Target {
        addr,
        path: format!("/api/v1/channels/{channel}/messages"),
        token: token.to_owned(),
    }
}

/// The PostgreSQL baseline's state: as many connections as Fluxer's pool, each taken by one
/// request at a time.
struct PgBaseline {
    token: String,
    /// Each connection with the page query prepared on it.
    idle: Mutex<Vec<(tokio_postgres::Client, tokio_postgres::Statement)>>,
    permits: Arc<Semaphore>,
}

const PG_PAGE: &str =
    "SELECT m.id, m.author_id, u.username, u.discriminator, u.avatar, m.content, m.timestamp,
        m.edited_timestamp, m.flags
 FROM baseline_messages m JOIN baseline_users u ON u.id = m.author_id
 WHERE m.channel_id = $1 AND m.id < $2 ORDER BY m.id DESC LIMIT $3";

async fn pg_baseline_history(
    State(b): State<Arc<PgBaseline>>,
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
    let _permit = b.permits.clone().acquire_owned().await.unwrap();
    let (conn, stmt) = b
        .idle
        .lock()
        .unwrap()
        .pop()
        .expect("a connection per permit");
    let before = q.before.unwrap_or(u64::MAX).min(i64::MAX as u64) as i64;
    let found = conn
        .query(&stmt, &[&(channel as i64), &before, &i64::from(limit)])
        .await;
    b.idle.lock().unwrap().push((conn, stmt));
    let rows = found.map_err(|_| StatusCode::INTERNAL_SERVER_ERROR)?;
    Ok(Json(
        rows.iter()
            .map(|r| Row {
                id: r.get::<_, i64>(0).to_string(),
                channel_id: channel.to_string(),
                author: Author {
                    id: r.get::<_, i64>(1).to_string(),
                    username: r.get(2),
                    discriminator: format!("{:04}", r.get::<_, i32>(3)),
                    global_name: None,
                    avatar: r.get(4),
                    flags: 0,
                },
                kind: 0,
                flags: r.get::<_, i32>(8) as u32,
                content: r.get(5),
                timestamp: r.get(6),
                edited_timestamp: r.get(7),
                pinned: false,
                mention_everyone: false,
                tts: false,
                mentions: Vec::new(),
                mention_roles: Vec::new(),
                embeds: Vec::new(),
                attachments: Vec::new(),
                reactions: Vec::new(),
            })
            .collect(),
    ))
}

/// Baseline (PostgreSQL): the same messages in one table of the same scratch database.
async fn pg_baseline_server(database: &str, layout: &Layout) -> Target {
    let c = pg_connect(database).await;
    c.batch_execute(
        "CREATE TABLE baseline_users (id BIGINT PRIMARY KEY, username TEXT NOT NULL,
                                      discriminator INTEGER NOT NULL, avatar TEXT);
         CREATE TABLE baseline_messages (channel_id BIGINT NOT NULL, id BIGINT NOT NULL,
                                         author_id BIGINT NOT NULL, content TEXT NOT NULL,
                                         timestamp TEXT NOT NULL, edited_timestamp TEXT,
                                         flags INTEGER NOT NULL, PRIMARY KEY (channel_id, id));",
    )
    .await
    .unwrap();
    for i in 0..AUTHORS {
        c.execute(
            "INSERT INTO baseline_users (id, username, discriminator) VALUES ($1, $2, $3)",
            &[
                &(author_id(i).get() as i64),
                &format!("author{i}"),
                &(i as i32 + 1),
            ],
        )
        .await
        .unwrap();
    }
    let channel = 2u64;
    let first_ms = MessageId::new(layout.first).timestamp().unix_ms();
    let sql = format!(
        "INSERT INTO baseline_messages (channel_id, id, author_id, content, timestamp, flags)
         SELECT $5, $3 + i * $4, {author},
                'message number ' || i || ' of the history bench, about as long as a chat line',
                to_char(to_timestamp(($6 + i * 1000) / 1000.0) AT TIME ZONE 'UTC',
                        'YYYY-MM-DD\"T\"HH24:MI:SS.MS\"Z\"'), 0
         FROM generate_series($1::bigint, $2::bigint - 1) AS i",
        author = author_id(0).get()
    );
    for (ch, count) in layout.channels(channel) {
        let mut from = 0;
        while from < count {
            let to = (from + CHUNK).min(count);
            c.execute(
                &sql,
                &[
                    &(from as i64),
                    &(to as i64),
                    &(layout.first as i64),
                    &(STEP as i64),
                    &(ch as i64),
                    &first_ms,
                ],
            )
            .await
            .unwrap();
            from = to;
        }
    }
    // One statement per call: a batch of several runs as one transaction, where VACUUM cannot.
    c.batch_execute("VACUUM ANALYZE baseline_messages")
        .await
        .unwrap();
    c.batch_execute("ANALYZE baseline_users").await.unwrap();
    let pool = 4; // Fluxer's pool in this bench.
    let mut idle = Vec::with_capacity(pool);
    for _ in 0..pool {
        let conn = pg_connect(database).await;
        let stmt = conn.prepare(PG_PAGE).await.unwrap();
        idle.push((conn, stmt));
    }
    let state = Arc::new(PgBaseline {
        token: "baseline-token".to_owned(),
        idle: Mutex::new(idle),
        permits: Arc::new(Semaphore::new(pool)),
    });
    let app = axum::Router::new()
        .route(
            "/api/v1/channels/{channel}/messages",
            get(pg_baseline_history),
        )
        .with_state(state.clone());
    serve_baseline(app, channel, &state.token).await
}

fn main() {
    let args = args();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    let layout = Layout::new(&args);
    let ids: Arc<Vec<u64>> = Arc::new(layout.ids());
    let (fluxer_dir, baseline_dir) = (TempDir::new("history"), TempDir::new("history-baseline"));
    let database = format!("fluxer_bench_history_{}", std::process::id());
    if args.backend == Backend::Postgres {
        rt.block_on(async {
            pg_connect("postgres")
                .await
                .batch_execute(&format!("CREATE DATABASE {database}"))
                .await
                .unwrap();
        });
    }
    let started = Instant::now();
    let (monolith, fluxer) = rt.block_on(fluxer_server(
        fluxer_dir.path(),
        args.backend,
        &database,
        &layout,
    ));
    let filled_fluxer = started.elapsed().as_secs_f64();
    let baseline = match args.backend {
        Backend::Sqlite => rt.block_on(baseline_server(baseline_dir.path(), &layout)),
        Backend::Postgres => rt.block_on(pg_baseline_server(&database, &layout)),
    };
    eprintln!(
        "filled both with {} messages in the channel, {} in the database, in {:.1} s (Fluxer's {filled_fluxer:.1} s)",
        args.messages,
        args.total,
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
    if args.backend == Backend::Postgres {
        rt.block_on(async {
            pg_connect("postgres")
                .await
                .batch_execute(&format!("DROP DATABASE {database} WITH (FORCE)"))
                .await
                .unwrap();
        });
    }

    let m = |v: &[(Phase, Phase)], f: fn(&(Phase, Phase)) -> f64| median(v.iter().map(f).collect());
    println!(
        "history fetch ({:?}), {} messages in the channel, {} in the database, {PAGE} per page, {} keep-alive clients, {} s per phase, median of {} rounds",
        args.backend, args.messages, args.total, args.clients, args.seconds, args.rounds
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
