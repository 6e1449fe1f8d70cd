//! Soak: the release monolith under 60 s of mixed load with 500 gateway sessions connected.
//! Reports request throughput by kind, errors, gateway events delivered and lost (must be 0), and
//! the server's resident memory before the load, at its peak and 30 s after, as ratios to before.
//!
//! ```sh
//! cargo build --release -p fluxer-server
//! cargo bench --bench soak -- --sessions 500 --seconds 60 --after 30
//! ```
//!
//! The server runs as its own process (the release `fluxer-server`, SQLite, search on, rate limits
//! off) so that its memory is read from /proc alone. `--users` accounts (10 sessions each by
//! default) join one guild and identify online; `--senders` threads, each a user on one keep-alive
//! connection, loop over a mix: 70% post a message, 10% edit one of theirs, 10% react to one, 10%
//! read the latest 50. Every session heartbeats on HELLO's interval, acknowledging what it got, as
//! real clients do. After the load, each session must have received every message whose post was
//! acknowledged: the shortfall is "lost".

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::Path;
use std::process::{Child, Command};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use futures_util::{SinkExt, StreamExt};
use serde_json::{Value, json};
use tokio_tungstenite::tungstenite::Message;

mod common;

struct Args {
    sessions: usize,
    users: usize,
    senders: usize,
    seconds: u64,
    after: u64,
}

fn args() -> Args {
    let argv: Vec<String> = std::env::args().collect();
    let num = |name: &str, default: usize| {
        argv.windows(2)
            .find(|w| w[0] == name)
            .and_then(|w| w[1].parse().ok())
            .unwrap_or(default)
    };
    let sessions = num("--sessions", 500);
    Args {
        sessions,
        users: num("--users", sessions.div_ceil(10)),
        senders: num("--senders", 8),
        seconds: num("--seconds", 60) as u64,
        after: num("--after", 30) as u64,
    }
}

fn rss_kib(pid: u32) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .unwrap_or_default()
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.split_whitespace().next())
        .and_then(|v| v.parse().ok())
        .unwrap_or(0)
}

/// One keep-alive HTTP/1.1 connection.
struct Http {
    reader: BufReader<TcpStream>,
    writer: TcpStream,
    host: String,
}

impl Http {
    fn connect(addr: &str) -> Http {
        let s = TcpStream::connect(addr).expect("connect");
        s.set_nodelay(true).unwrap();
        s.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
        Http {
            writer: s.try_clone().unwrap(),
            reader: BufReader::new(s),
            host: addr.to_owned(),
        }
    }

    fn call(&mut self, method: &str, path: &str, token: Option<&str>, body: &str) -> (u16, Value) {
        let auth = token
            .map(|t| format!("Authorization: {t}\r\n"))
            .unwrap_or_default();
        // One write, as clients send a request.
        let request = format!(
            "{method} {path} HTTP/1.1\r\nHost: {}\r\n{auth}Content-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
            self.host,
            body.len()
        );
        self.writer
            .write_all(request.as_bytes())
            .unwrap_or_else(|e| panic!("{method} {path}: {e}"));
        let mut line = String::new();
        self.reader
            .read_line(&mut line)
            .unwrap_or_else(|e| panic!("{method} {path}: {e}"));
        let status = line
            .split_whitespace()
            .nth(1)
            .and_then(|s| s.parse().ok())
            .unwrap_or(0);
        let mut length = 0;
        let mut close = false;
        loop {
            line.clear();
            self.reader.read_line(&mut line).expect("header");
            let l = line.trim_end();
            if l.is_empty() {
                break;
            }
            if let Some((k, v)) = l.split_once(':') {
                if k.eq_ignore_ascii_case("content-length") {
                    length = v.trim().parse().unwrap_or(0);
                }
                // A route that does not read its body may end the connection after answering.
                close |= k.eq_ignore_ascii_case("connection") && v.trim() == "close";
            }
        }
        let mut body = vec![0; length];
        self.reader.read_exact(&mut body).expect("body");
        if close {
            *self = Http::connect(&self.host.clone());
        }
        (status, serde_json::from_slice(&body).unwrap_or(Value::Null))
    }
}

/// The server process, killed when dropped (also when the bench panics).
struct Server(Child);

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn start_server(server: &Path, dir: &Path) -> (Server, String) {
    let mut cmd = Command::new(server);
    cmd.env("FLUXER_CONFIG__SERVICES__SERVER__PORT", "0")
        .env("FLUXER_CONFIG__DATABASE__PATH", dir.join("fluxer.db"))
        .env("FLUXER_CONFIG__INSTANCE__DATA_DIR", dir)
        .env("FLUXER_CONFIG__DEV__DISABLE_RATE_LIMITS", "true")
        .env("FLUXER_CONFIG__HTTP__MAX_CONNECTIONS_PER_IP", "0")
        .env("FLUXER_CONFIG__LOG__LEVEL", "warn");
    let (child, addr) = common::start_listening(cmd);
    (Server(child), addr)
}

/// What a session reads of a gateway frame.
#[derive(Default, serde::Deserialize)]
struct Frame<'a> {
    s: Option<u64>,
    #[serde(borrow)]
    t: Option<&'a str>,
}

/// What one gateway session saw.
#[derive(Default)]
struct Seen {
    messages: AtomicU64,
    disconnects: AtomicU64,
}

async fn session(
    addr: String,
    token: String,
    seen: Arc<Seen>,
    stop: Arc<AtomicBool>,
    ready: tokio::sync::mpsc::Sender<()>,
) {
    let url = format!("ws://{addr}/gateway?v=1&encoding=json");
    let (mut ws, _) = tokio_tungstenite::connect_async(url)
        .await
        .expect("connect");
    let hello: Value = match ws.next().await {
        Some(Ok(Message::Text(t))) => serde_json::from_str(&t).unwrap(),
        other => panic!("no HELLO: {other:?}"),
    };
    let interval =
        Duration::from_millis(hello["d"]["heartbeat_interval"].as_u64().unwrap_or(41_250));
    let identify = json!({ "op": 2, "d": { "token": token, "properties": { "os": "soak" }, "presence": { "status": "online" } } });
    ws.send(Message::Text(identify.to_string().into()))
        .await
        .unwrap();
    let mut seq = 0u64;
    let mut heartbeat = tokio::time::interval_at(tokio::time::Instant::now() + interval, interval);
    let mut announced = false;
    loop {
        tokio::select! {
            frame = ws.next() => match frame {
                Some(Ok(Message::Text(t))) => {
                    // Only the sequence and the event's name are read (the rest is skipped, not
                    // built): the 500 clients share the 2 cores with the server, and must not be
                    // what limits it.
                    let frame: Frame = serde_json::from_str(&t).unwrap_or_default();
                    if let Some(s) = frame.s {
                        seq = s;
                    }
                    match frame.t {
                        Some("READY") if !announced => {
                            announced = true;
                            let _ = ready.send(()).await;
                        }
                        Some("MESSAGE_CREATE") => {
                            seen.messages.fetch_add(1, Ordering::Relaxed);
                        }
                        _ => {}
                    }
                }
                Some(Ok(_)) => {}
                _ => {
                    if !stop.load(Ordering::Relaxed) {
                        seen.disconnects.fetch_add(1, Ordering::Relaxed);
                    }
                    return;
                }
            },
            _ = heartbeat.tick() => {
                if ws.send(Message::Text(json!({ "op": 1, "d": seq }).to_string().into())).await.is_err() {
                    seen.disconnects.fetch_add(1, Ordering::Relaxed);
                    return;
                }
            }
        }
    }
}

#[derive(Default)]
struct Load {
    posts: AtomicU64,
    edits: AtomicU64,
    reactions: AtomicU64,
    reads: AtomicU64,
    errors: AtomicU64,
}

fn sender(
    addr: String,
    token: String,
    channel: String,
    load: Arc<Load>,
    until: Instant,
    id: usize,
) {
    let mut http = Http::connect(&addr);
    let mut mine: Vec<String> = Vec::new();
    let mut n = 0u64;
    while Instant::now() < until {
        n += 1;
        let roll = (n * 7 + id as u64) % 10;
        let t = Some(token.as_str());
        let (status, v, counter) = match roll {
            0 if !mine.is_empty() => {
                let m = &mine[(n as usize) % mine.len()];
                let (s, v) = http.call(
                    "PATCH",
                    &format!("/api/v1/channels/{channel}/messages/{m}"),
                    t,
                    &json!({ "content": format!("edited {id}-{n}") }).to_string(),
                );
                (s, v, &load.edits)
            }
            1 if !mine.is_empty() => {
                let m = &mine[(n as usize) % mine.len()];
                let (s, v) = http.call(
                    "PUT",
                    &format!("/api/v1/channels/{channel}/messages/{m}/reactions/%F0%9F%91%8D/@me"),
                    t,
                    "",
                );
                (s, v, &load.reactions)
            }
            2 => {
                let (s, v) = http.call(
                    "GET",
                    &format!("/api/v1/channels/{channel}/messages?limit=50"),
                    t,
                    "",
                );
                (s, v, &load.reads)
            }
            _ => {
                let (s, v) = http.call(
                    "POST",
                    &format!("/api/v1/channels/{channel}/messages"),
                    t,
                    &json!({ "content": format!("soak {id}-{n}") }).to_string(),
                );
                if s == 200 && mine.len() < 64 {
                    mine.push(v["id"].as_str().unwrap_or_default().to_owned());
                }
                (s, v, &load.posts)
            }
        };
        let _ = v;
        if (200..300).contains(&status) {
            counter.fetch_add(1, Ordering::Relaxed);
        } else {
            load.errors.fetch_add(1, Ordering::Relaxed);
        }
    }
}

fn main() {
    let a = args();
    let server = common::release_server();
    let dir = common::TempDir::new("soak");
    let (server, addr) = start_server(&server, dir.path());
    let pid = server.0.id();

    // Accounts, one guild, everyone in it.
    let mut http = Http::connect(&addr);
    let mut tokens = Vec::new();
    for u in 0..a.users {
        let (s, r) = http.call("POST", "/api/v1/auth/register", None, &json!({ "email": format!("soak{u}@bench.example"), "username": format!("soak{u}"), "password": "bench password 1", "date_of_birth": "1990-01-01" }).to_string());
        assert_eq!(s, 200, "register: {r}");
        tokens.push(r["token"].as_str().unwrap().to_owned());
    }
    let (_, guild) = http.call(
        "POST",
        "/api/v1/guilds",
        Some(&tokens[0]),
        r#"{"name":"Soak"}"#,
    );
    let g = guild["id"].as_str().unwrap().to_owned();
    let (_, channels) = http.call(
        "GET",
        &format!("/api/v1/guilds/{g}/channels"),
        Some(&tokens[0]),
        "",
    );
    let channel = channels
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["type"] == 0)
        .unwrap()["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let (_, invite) = http.call(
        "POST",
        &format!("/api/v1/channels/{channel}/invites"),
        Some(&tokens[0]),
        r#"{"max_age":0}"#,
    );
    let code = invite["code"].as_str().unwrap().to_owned();
    for t in &tokens[1..] {
        let (s, r) = http.call("POST", &format!("/api/v1/invites/{code}"), Some(t), "{}");
        assert_eq!(s, 200, "join: {r}");
    }
    drop(http);

    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let stop = Arc::new(AtomicBool::new(false));
    let seen: Vec<Arc<Seen>> = (0..a.sessions).map(|_| Arc::default()).collect();
    let (ready_tx, mut ready_rx) = tokio::sync::mpsc::channel(a.sessions);
    let connect_started = Instant::now();
    rt.block_on(async {
        for (i, s) in seen.iter().enumerate() {
            rt.spawn(session(
                addr.clone(),
                tokens[i % tokens.len()].clone(),
                s.clone(),
                stop.clone(),
                ready_tx.clone(),
            ));
            if i % 50 == 49 {
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        }
        for _ in 0..a.sessions {
            tokio::time::timeout(Duration::from_secs(120), ready_rx.recv())
                .await
                .expect("every session identifies")
                .unwrap();
        }
    });
    let connect_time = connect_started.elapsed();
    std::thread::sleep(Duration::from_secs(2));
    let before = rss_kib(pid);

    // The load, with the server's memory sampled.
    let load = Arc::new(Load::default());
    let until = Instant::now() + Duration::from_secs(a.seconds);
    let peak = Arc::new(AtomicU64::new(before));
    let sampling = Arc::new(AtomicBool::new(true));
    let sampler = {
        let (peak, sampling) = (peak.clone(), sampling.clone());
        std::thread::spawn(move || {
            while sampling.load(Ordering::Relaxed) {
                peak.fetch_max(rss_kib(pid), Ordering::Relaxed);
                std::thread::sleep(Duration::from_millis(100));
            }
        })
    };
    let started = Instant::now();
    let senders: Vec<_> = (0..a.senders)
        .map(|i| {
            let (addr, token, channel, load) = (
                addr.clone(),
                tokens[i % tokens.len()].clone(),
                channel.clone(),
                load.clone(),
            );
            std::thread::spawn(move || sender(addr, token, channel, load, until, i))
        })
        .collect();
    for s in senders {
        s.join().expect("a sender failed");
    }
    let elapsed = started.elapsed().as_secs_f64();
    // Deliveries catch up (bounded), then count what is missing.
    let posts = load.posts.load(Ordering::Relaxed);
    let drain_until = Instant::now() + Duration::from_secs(20);
    while Instant::now() < drain_until
        && seen.iter().any(|s| {
            s.messages.load(Ordering::Relaxed) < posts && s.disconnects.load(Ordering::Relaxed) == 0
        })
    {
        std::thread::sleep(Duration::from_millis(100));
    }
    sampling.store(false, Ordering::Relaxed);
    sampler.join().unwrap();
    let lost: u64 = seen
        .iter()
        .map(|s| posts.saturating_sub(s.messages.load(Ordering::Relaxed)))
        .sum();
    let delivered: u64 = seen
        .iter()
        .map(|s| s.messages.load(Ordering::Relaxed))
        .sum();
    let disconnects: u64 = seen
        .iter()
        .map(|s| s.disconnects.load(Ordering::Relaxed))
        .sum();
    std::thread::sleep(Duration::from_secs(a.after));
    let after = rss_kib(pid);
    let peak = peak.load(Ordering::Relaxed).max(after);
    stop.store(true, Ordering::Relaxed);
    drop(server);
    drop(rt);

    let per_s = |n: &AtomicU64| n.load(Ordering::Relaxed) as f64 / elapsed;
    println!(
        "soak: {} sessions ({} users) connected in {:.1} s, {} senders for {:.0} s, then {} s idle",
        a.sessions,
        a.users,
        connect_time.as_secs_f64(),
        a.senders,
        elapsed,
        a.after
    );
    println!(
        "| posts/s | edits/s | reactions/s | reads/s | errors | events delivered/s | events lost | disconnects |"
    );
    println!("|---|---|---|---|---|---|---|---|");
    println!(
        "| {:.0} | {:.0} | {:.0} | {:.0} | {} | {:.0} | {} | {} |",
        per_s(&load.posts),
        per_s(&load.edits),
        per_s(&load.reactions),
        per_s(&load.reads),
        load.errors.load(Ordering::Relaxed),
        delivered as f64 / elapsed,
        lost,
        disconnects
    );
    println!(
        "| RSS before | RSS peak | RSS {} s after | peak / before | after / before |",
        a.after
    );
    println!("|---|---|---|---|---|");
    println!(
        "| {:.1} MB | {:.1} MB | {:.1} MB | {:.2}x | {:.2}x |",
        before as f64 / 1024.0,
        peak as f64 / 1024.0,
        after as f64 / 1024.0,
        peak as f64 / before as f64,
        after as f64 / before as f64
    );
    assert_eq!(lost, 0, "events lost");
}
