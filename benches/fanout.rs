//! Send → deliver: the latency from a REST message create to MESSAGE_CREATE at N gateway clients in
//! one guild, and the peak deliveries per second; against a baseline of raw axum + tokio broadcast
//! fanning out the same bytes to the same number of WebSocket clients, measured in the same run,
//! alternating, medians of the rounds.
//!
//! ```sh
//! cargo bench --bench fanout -- --clients 1000 --messages 100 --rounds 3
//! cargo bench --bench fanout -- --clients 10000 --messages 20 --rounds 3
//! ```
//!
//! Each round runs in two processes. This one hosts the server under test (Fluxer's API and gateway
//! on the in-memory backends, or the baseline) on 127.0.0.1 in a runtime of its own, dropped at the
//! end of the round. The N WebSocket clients and the REST sender run in a child: this executable run
//! again with `--client-role` and the server's address, paths and counts as arguments, and the
//! tokens (the sender's, then one per client) on its stdin. Sender and clients share the child's
//! clock, so send and arrival times are read in one process; the child prints its round's p50, p99
//! and deliveries/s as one `round …` line on its stdout, which this process parses. The split is for
//! descriptors: every connection costs one on each side, and the per-process limit here (20 000,
//! hard) cannot hold both sides of 10 000 connections in one process. Server and clients still share
//! the machine's cores, now scheduled by the OS between two processes instead of by one runtime, so
//! compare ratios with those of the one-process version with care. The child is killed if this
//! process panics, and exits by itself when its stdin closes (this process died).
//!
//! Clients connect a bounded number at a time (`--connect-concurrency`); a Fluxer client counts as
//! connected once it has its READY, and heartbeats at the interval HELLO gives (a long connect phase
//! would otherwise outlive the heartbeat timeout). Clients IDENTIFY with `--status` (default
//! `invisible`, so the send → deliver rows measure messages only).
//!
//! # Identify storm (`--storm`)
//!
//! ```sh
//! cargo bench --bench fanout -- --storm --clients 10000 --rounds 3
//! ```
//!
//! N clients of one guild (large: more members than any `large_threshold`) IDENTIFY `online`, against
//! the same clients identifying `invisible` as the baseline, alternating, medians of the rounds: the
//! time from the first connect until the last dispatch has arrived (no dispatch for two seconds
//! after the last READY: the storm is over), the dispatches the clients received, and the CPU the
//! server process spent meanwhile. Before presences of large guilds went to their own topic, every
//! online IDENTIFY reached every session of the guild (N²/2 deliveries, 50 million at 10 000 clients).

use std::io::{BufRead, BufReader, Read, Write};
use std::process::{Child, ChildStdin, Command, Stdio};
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
use tokio::sync::{Semaphore, broadcast, mpsc};
use tokio_tungstenite::tungstenite::Message;

mod common;

use common::{median, own_cpu_seconds};

struct Args {
    clients: usize,
    messages: usize,
    rounds: usize,
    /// Clients connecting (and, for Fluxer, identifying) at once.
    connect_concurrency: usize,
    /// The status Fluxer clients IDENTIFY with.
    status: String,
    /// Measure the identify storm (online against invisible) instead of send → deliver.
    storm: bool,
}

/// The value after `--name`, if any.
fn flag<'a>(argv: &'a [String], name: &str) -> Option<&'a str> {
    argv.windows(2)
        .find(|w| w[0] == name)
        .map(|w| w[1].as_str())
}

fn args() -> Args {
    let argv: Vec<String> = std::env::args().collect();
    let num = |name: &str, default: usize| {
        flag(&argv, name)
            .and_then(|v| v.parse().ok())
            .unwrap_or(default)
    };
    Args {
        clients: num("--clients", 1000),
        messages: num("--messages", 100),
        rounds: num("--rounds", 3),
        connect_concurrency: num("--connect-concurrency", 128).max(1),
        status: flag(&argv, "--status").unwrap_or("invisible").to_owned(),
        storm: argv.iter().any(|a| a == "--storm"),
    }
}

/// One identify storm's numbers.
#[derive(Clone, Copy, Debug)]
struct Storm {
    /// First connect → last dispatch received.
    seconds: f64,
    /// Dispatches (op 0) the clients received.
    frames: f64,
    /// CPU the server process spent (user + system).
    server_cpu_s: f64,
}

impl Storm {
    fn to_line(self) -> String {
        format!("storm seconds={} frames={}", self.seconds, self.frames)
    }

    fn from_line(line: &str) -> Option<Storm> {
        let mut fields = line.strip_prefix("storm ")?.split_whitespace();
        let mut field = |key: &str| -> Option<f64> {
            fields
                .next()?
                .strip_prefix(key)?
                .strip_prefix('=')?
                .parse()
                .ok()
        };
        Some(Storm {
            seconds: field("seconds")?,
            frames: field("frames")?,
            server_cpu_s: 0.0,
        })
    }
}

/// Dispatches the client process received, and when the last one came (µs after [`epoch`]).
static DISPATCHES: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
static LAST_DISPATCH_US: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);

fn epoch() -> Instant {
    static EPOCH: std::sync::OnceLock<Instant> = std::sync::OnceLock::new();
    *EPOCH.get_or_init(Instant::now)
}

/// Counts a frame the client process received if it is a dispatch.
fn count_frame(text: &str) {
    if text.starts_with("{\"op\":0,") {
        use std::sync::atomic::Ordering::Relaxed;
        DISPATCHES.fetch_add(1, Relaxed);
        LAST_DISPATCH_US.fetch_max(epoch().elapsed().as_micros() as u64, Relaxed);
    }
}

/// One round's numbers.
#[derive(Clone, Copy, Debug)]
struct Round {
    p50_ms: f64,
    p99_ms: f64,
    deliveries_per_sec: f64,
}

impl Round {
    /// The line the client process prints (`{}` on f64 round-trips exactly).
    fn to_line(self) -> String {
        format!(
            "round p50_ms={} p99_ms={} deliveries_per_sec={}",
            self.p50_ms, self.p99_ms, self.deliveries_per_sec
        )
    }

    fn from_line(line: &str) -> Option<Round> {
        let mut fields = line.strip_prefix("round ")?.split_whitespace();
        let mut field = |key: &str| -> Option<f64> {
            fields
                .next()?
                .strip_prefix(key)?
                .strip_prefix('=')?
                .parse()
                .ok()
        };
        Some(Round {
            p50_ms: field("p50_ms")?,
            p99_ms: field("p99_ms")?,
            deliveries_per_sec: field("deliveries_per_sec")?,
        })
    }
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

// ---- The client process ----

/// What the client process is told on its command line (the tokens come on its stdin).
struct ClientRole {
    /// The server's `host:port`, for the REST sender.
    addr: String,
    ws_url: String,
    send_path: String,
    clients: usize,
    messages: usize,
    /// Unmeasured messages sent first; all of them arrive before the settle pause.
    warm_up: usize,
    settle: Duration,
    /// Whether each client IDENTIFYs with a token of its own (Fluxer) or only listens (baseline).
    identify: bool,
    status: String,
    connect_concurrency: usize,
    /// Connect, then wait for the dispatches to stop, instead of sending.
    storm: bool,
}

impl ClientRole {
    fn args(&self) -> Vec<String> {
        let mut out = vec![
            "--client-role".to_owned(),
            "--addr".to_owned(),
            self.addr.clone(),
            "--ws-url".to_owned(),
            self.ws_url.clone(),
            "--send-path".to_owned(),
            self.send_path.clone(),
            "--clients".to_owned(),
            self.clients.to_string(),
            "--messages".to_owned(),
            self.messages.to_string(),
            "--warm-up".to_owned(),
            self.warm_up.to_string(),
            "--settle-ms".to_owned(),
            self.settle.as_millis().to_string(),
            "--status".to_owned(),
            self.status.clone(),
            "--connect-concurrency".to_owned(),
            self.connect_concurrency.to_string(),
        ];
        if self.identify {
            out.push("--identify".to_owned());
        }
        if self.storm {
            out.push("--storm".to_owned());
        }
        out
    }

    fn parse(argv: &[String]) -> ClientRole {
        let text = |name: &str| {
            flag(argv, name)
                .unwrap_or_else(|| panic!("client role: {name} missing"))
                .to_owned()
        };
        let num = |name: &str| -> usize {
            text(name)
                .parse()
                .unwrap_or_else(|_| panic!("client role: {name} is not a number"))
        };
        ClientRole {
            addr: text("--addr"),
            ws_url: text("--ws-url"),
            send_path: text("--send-path"),
            clients: num("--clients"),
            messages: num("--messages"),
            warm_up: num("--warm-up"),
            settle: Duration::from_millis(num("--settle-ms") as u64),
            identify: argv.iter().any(|a| a == "--identify"),
            status: text("--status"),
            connect_concurrency: num("--connect-concurrency"),
            storm: argv.iter().any(|a| a == "--storm"),
        }
    }
}

/// What a client tells the driver.
enum Report {
    /// A measured message arrived: its index ("bench <i>") and when.
    Arrival(usize, Instant),
    /// A warm-up message arrived.
    WarmUp,
    /// The connection ended (the driver never ends one before the round is over): why.
    Closed(String),
}

type Ws = tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<TcpStream>>;

/// The sequence number of a dispatch frame, read from its header: the gateway writes
/// `{"op":0,"t":"…","s":N,"d":…}`, so the payload is not parsed.
fn dispatch_seq(text: &str) -> Option<u64> {
    let rest = text.strip_prefix("{\"op\":0,\"t\":\"")?;
    let (_event, rest) = rest.split_once('"')?;
    let rest = rest.strip_prefix(",\"s\":")?;
    let end = rest
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(rest.len());
    rest[..end].parse().ok()
}

async fn next_text(ws: &mut Ws) -> Result<String, String> {
    loop {
        match ws.next().await {
            Some(Ok(Message::Text(t))) => return Ok(t.to_string()),
            Some(Ok(Message::Close(frame))) => return Err(format!("closed: {frame:?}")),
            Some(Ok(_)) => continue,
            Some(Err(e)) => return Err(e.to_string()),
            None => return Err("connection ended".to_owned()),
        }
    }
}

/// Opens one client. With a token: reads HELLO, IDENTIFYs and waits for READY; returns the heartbeat
/// interval and the last sequence number seen.
async fn connect(
    url: &str,
    token: Option<&str>,
    status: &str,
) -> Result<(Ws, Option<Duration>, Option<u64>), String> {
    let (mut ws, _) = tokio_tungstenite::connect_async(url)
        .await
        .map_err(|e| format!("connect: {e}"))?;
    let Some(token) = token else {
        return Ok((ws, None, None));
    };
    let hello: serde_json::Value =
        serde_json::from_str(&next_text(&mut ws).await?).map_err(|e| format!("HELLO: {e}"))?;
    let interval = hello["d"]["heartbeat_interval"]
        .as_u64()
        .ok_or_else(|| format!("no heartbeat interval in {hello}"))?;
    let identify = serde_json::json!({ "op": 2, "d": {
        "token": token,
        "properties": { "os": "bench" },
        "presence": { "status": status, "afk": false },
    } });
    ws.send(Message::Text(identify.to_string().into()))
        .await
        .map_err(|e| format!("IDENTIFY: {e}"))?;
    loop {
        let text = next_text(&mut ws)
            .await
            .map_err(|e| format!("before READY: {e}"))?;
        count_frame(&text);
        let frame: serde_json::Value =
            serde_json::from_str(&text).map_err(|e| format!("before READY: {e}"))?;
        if frame["op"] == 0 && frame["t"] == "READY" {
            let seq = frame["s"].as_u64();
            return Ok((ws, Some(Duration::from_millis(interval)), seq));
        }
    }
}

/// Reads frames until the connection ends, reporting message frames, heartbeating (with the last
/// sequence number, as clients do) if the server asked for it.
async fn listen(
    mut ws: Ws,
    heartbeat: Option<Duration>,
    mut seq: Option<u64>,
    report: mpsc::UnboundedSender<Report>,
) {
    let mut ticker =
        heartbeat.map(|every| tokio::time::interval_at(tokio::time::Instant::now() + every, every));
    let closed = loop {
        let tick = async {
            match ticker.as_mut() {
                Some(t) => {
                    t.tick().await;
                }
                None => std::future::pending().await,
            }
        };
        tokio::select! {
            msg = ws.next() => match msg {
                Some(Ok(Message::Text(text))) => {
                    let now = Instant::now();
                    count_frame(&text);
                    if heartbeat.is_some()
                        && let Some(s) = dispatch_seq(&text)
                    {
                        seq = Some(s);
                    }
                    // Messages carry their index as "bench <i>".
                    if let Some(pos) = text.find("bench ") {
                        let rest = &text[pos + 6..];
                        let digits: String = rest.chars().take_while(|c| c.is_ascii_digit()).collect();
                        if let Ok(i) = digits.parse::<usize>() {
                            let _ = report.send(Report::Arrival(i, now));
                        }
                    } else if text.contains("\"warm-up\"") {
                        let _ = report.send(Report::WarmUp);
                    }
                }
                Some(Ok(Message::Close(frame))) => break format!("closed by the server: {frame:?}"),
                Some(Ok(_)) => {}
                Some(Err(e)) => break e.to_string(),
                None => break "connection ended".to_owned(),
            },
            () = tick => {
                let beat = serde_json::json!({ "op": 1, "d": seq });
                if let Err(e) = ws.send(Message::Text(beat.to_string().into())).await {
                    break format!("heartbeat: {e}");
                }
            }
        }
    };
    let _ = report.send(Report::Closed(closed));
}

/// Connects the role's WebSocket clients, `connect_concurrency` at a time at most (a connect that
/// takes over a minute fails); each then reports every message frame it gets.
async fn clients(
    role: &ClientRole,
    tokens: &[String],
    report: mpsc::UnboundedSender<Report>,
) -> Vec<tokio::task::JoinHandle<()>> {
    let n = role.clients;
    let mut handles = Vec::with_capacity(n);
    let permits = Arc::new(Semaphore::new(role.connect_concurrency));
    let (ready_tx, mut ready_rx) = mpsc::channel::<Result<(), String>>(n.max(1));
    let started = Instant::now();
    for i in 0..n {
        let permit = permits.clone().acquire_owned().await.unwrap();
        let url = role.ws_url.clone();
        let token = tokens.get(i).cloned();
        let status = role.status.clone();
        let report = report.clone();
        let ready = ready_tx.clone();
        handles.push(tokio::spawn(async move {
            let connected = tokio::time::timeout(
                Duration::from_secs(60),
                connect(&url, token.as_deref(), &status),
            )
            .await
            .unwrap_or_else(|_| Err("not connected (or no READY) within a minute".to_owned()));
            drop(permit);
            match connected {
                Ok((ws, heartbeat, seq)) => {
                    let _ = ready.send(Ok(())).await;
                    listen(ws, heartbeat, seq, report).await;
                }
                Err(e) => {
                    let _ = ready.send(Err(format!("client {i}: {e}"))).await;
                }
            }
        }));
    }
    drop(ready_tx);
    for _ in 0..n {
        match ready_rx.recv().await {
            Some(Ok(())) => {}
            Some(Err(e)) => panic!("{e}"),
            None => panic!("a client task died before connecting"),
        }
    }
    eprintln!(
        "client process: {n} clients connected in {:.1} s",
        started.elapsed().as_secs_f64()
    );
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

/// Waits for `expected` message arrivals; a lost client ends the bench.
async fn collect(
    rx: &mut mpsc::UnboundedReceiver<Report>,
    expected: usize,
) -> Vec<(usize, Instant)> {
    let mut got = Vec::with_capacity(expected);
    while got.len() < expected {
        match tokio::time::timeout(Duration::from_secs(60), rx.recv()).await {
            Ok(Some(Report::Arrival(i, at))) => got.push((i, at)),
            Ok(Some(Report::WarmUp)) => {}
            Ok(Some(Report::Closed(why))) => panic!("a client lost its connection: {why}"),
            _ => panic!("only {} of {expected} deliveries arrived", got.len()),
        }
    }
    got
}

/// Waits for `expected` warm-up arrivals; a lost client ends the bench.
async fn warmed_up(rx: &mut mpsc::UnboundedReceiver<Report>, expected: usize) {
    let mut got = 0;
    while got < expected {
        match tokio::time::timeout(Duration::from_secs(60), rx.recv()).await {
            Ok(Some(Report::WarmUp)) => got += 1,
            Ok(Some(Report::Arrival(..))) => {}
            Ok(Some(Report::Closed(why))) => panic!("a client lost its connection: {why}"),
            _ => panic!("only {got} of {expected} warm-up deliveries arrived"),
        }
    }
}

/// The client process: connects the clients, sends, and measures.
async fn drive(role: &ClientRole, sender: Option<&str>, tokens: &[String]) -> Round {
    let (tx, mut rx) = mpsc::unbounded_channel();
    let handles = clients(role, tokens, tx).await;
    let mut poster = Poster::connect(&role.addr).await;
    // Warm up (sessions cache what they may see on the first event of a guild), then let READY and
    // presence traffic settle; neither is measured.
    for _ in 0..role.warm_up {
        assert_eq!(
            poster
                .post(&role.send_path, sender, "{\"content\":\"warm-up\"}")
                .await,
            200
        );
    }
    warmed_up(&mut rx, role.warm_up * role.clients).await;
    tokio::time::sleep(role.settle).await;
    while let Ok(report) = rx.try_recv() {
        if let Report::Closed(why) = report {
            panic!("a client lost its connection: {why}");
        }
    }
    let mut sent = Vec::with_capacity(role.messages);
    let start = Instant::now();
    for i in 0..role.messages {
        sent.push(Instant::now());
        let status = poster
            .post(
                &role.send_path,
                sender,
                &format!("{{\"content\":\"bench {i}\"}}"),
            )
            .await;
        assert_eq!(status, 200);
    }
    let arrivals = collect(&mut rx, role.messages * role.clients).await;
    let elapsed = start.elapsed();
    for h in handles {
        h.abort();
    }
    summarize(&sent, &arrivals, elapsed)
}

/// The client process of an identify storm: connects every client, then waits until no dispatch
/// has come for two seconds.
async fn storm(role: &ClientRole, tokens: &[String]) -> Storm {
    use std::sync::atomic::Ordering::Relaxed;
    let (tx, mut rx) = mpsc::unbounded_channel();
    let start_us = epoch().elapsed().as_micros() as u64;
    let handles = clients(role, tokens, tx).await;
    let mut seen = DISPATCHES.load(Relaxed);
    let mut quiet_since = Instant::now();
    while quiet_since.elapsed() < Duration::from_secs(2) {
        tokio::time::sleep(Duration::from_millis(100)).await;
        while let Ok(report) = rx.try_recv() {
            if let Report::Closed(why) = report {
                panic!("a client lost its connection: {why}");
            }
        }
        let now = DISPATCHES.load(Relaxed);
        if now != seen {
            seen = now;
            quiet_since = Instant::now();
        }
    }
    for h in handles {
        h.abort();
    }
    Storm {
        seconds: (LAST_DISPATCH_US.load(Relaxed).saturating_sub(start_us)) as f64 / 1e6,
        frames: seen as f64,
        server_cpu_s: 0.0,
    }
}

/// Entry point of the client process. Stdin: the sender's token (an empty line for none), then with
/// `--identify` one token per client; then stdin stays open until the parent is done with us.
fn client_role(argv: &[String]) -> ! {
    let role = ClientRole::parse(argv);
    let mut stdin = BufReader::new(std::io::stdin());
    let mut line = || {
        let mut l = String::new();
        assert!(
            stdin.read_line(&mut l).unwrap() > 0,
            "client role: stdin ended early"
        );
        l.trim_end_matches(['\r', '\n']).to_owned()
    };
    let sender = Some(line()).filter(|s| !s.is_empty());
    let tokens: Vec<String> = if role.identify {
        (0..role.clients).map(|_| line()).collect()
    } else {
        Vec::new()
    };
    // The parent holds our stdin open for the round: its end means the parent is gone.
    std::thread::spawn(move || {
        let _ = stdin.read_to_end(&mut Vec::new());
        std::process::exit(2);
    });
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    let line = if role.storm {
        rt.block_on(storm(&role, &tokens)).to_line()
    } else {
        rt.block_on(drive(&role, sender.as_deref(), &tokens))
            .to_line()
    };
    let mut out = std::io::stdout().lock();
    writeln!(out, "{line}").unwrap();
    out.flush().unwrap();
    // Tearing down thousands of sockets is not part of the round.
    std::process::exit(0)
}

// ---- The server process ----

/// The client process of a round, killed (and reaped) when dropped.
struct ClientProcess {
    child: Child,
    /// Kept open for the round: the child exits when it closes.
    stdin: Option<ChildStdin>,
}

impl Drop for ClientProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        self.stdin.take();
    }
}

/// Runs a round's client process against a server this process is serving, and returns its numbers.
fn run_clients(role: &ClientRole, sender: Option<&str>, tokens: &[String]) -> Round {
    run_client_process(role, sender, tokens, Round::from_line)
}

/// Runs a client process and returns the result it printed, read by `parse`.
fn run_client_process<T>(
    role: &ClientRole,
    sender: Option<&str>,
    tokens: &[String],
    parse: fn(&str) -> Option<T>,
) -> T {
    let child = Command::new(std::env::current_exe().unwrap())
        .args(role.args())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("spawn the client process");
    let mut process = ClientProcess { child, stdin: None };
    let mut stdin = process.child.stdin.take().unwrap();
    let stdout = process.child.stdout.take().unwrap();
    {
        let mut w = std::io::BufWriter::new(&mut stdin);
        for t in sender.into_iter().chain(tokens.iter().map(String::as_str)) {
            assert!(!t.contains('\n'), "a token with a line break");
        }
        writeln!(w, "{}", sender.unwrap_or_default()).unwrap();
        for t in tokens {
            writeln!(w, "{t}").unwrap();
        }
        w.flush().unwrap();
    }
    process.stdin = Some(stdin);
    let mut round = None;
    for line in BufReader::new(stdout).lines() {
        let line = line.unwrap();
        match parse(&line) {
            Some(r) => {
                round = Some(r);
                break;
            }
            None => eprintln!("client process: {line}"),
        }
    }
    let Some(round) = round else {
        let status = process.child.wait();
        panic!("the client process exited without a result ({status:?})");
    };
    let status = process.child.wait().unwrap();
    assert!(status.success(), "client process: {status}");
    round
}

/// A runtime for one round's server; dropping it ends the server and every connection it holds.
fn server_runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap()
}

/// Fluxer: REST create through the real router, delivery through the real gateway.
fn fluxer_round(args: &Args) -> Round {
    fluxer_clients(args, &args.status, false, |role, owner, tokens| {
        run_clients(role, Some(owner), tokens)
    })
}

/// The identify storm: the clients identify with `status`; the server's CPU is measured around it.
fn storm_round(args: &Args, status: &str) -> Storm {
    fluxer_clients(args, status, true, |role, _, tokens| {
        let cpu = own_cpu_seconds();
        let mut storm = run_client_process(role, None, tokens, Storm::from_line);
        storm.server_cpu_s = own_cpu_seconds() - cpu;
        storm
    })
}

/// Serves Fluxer with `args.clients` members in one guild and runs `round` against it (with the
/// client role, the owner's token and the members' tokens).
fn fluxer_clients<T>(
    args: &Args,
    status: &str,
    storm: bool,
    round: impl FnOnce(&ClientRole, &str, &[String]) -> T,
) -> T {
    let rt = server_runtime();
    let (addr, owner_token, channel, tokens) = rt.block_on(async {
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
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap().to_string();
        let mut api_config = ApiConfig::default();
        api_config.rate_limits.enabled = false;
        let gateway = Gateway::new(
            fluxer.clone(),
            Arc::new(MemoryCache::new()),
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
        let guild_id = guild.id;
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
        (addr, owner_token, channel, tokens)
    });
    let role = ClientRole {
        ws_url: format!("ws://{addr}/gateway?v=1&encoding=json"),
        send_path: format!("/api/v1/channels/{channel}/messages"),
        addr,
        clients: args.clients,
        messages: args.messages,
        warm_up: 3,
        settle: Duration::from_millis(500),
        identify: true,
        status: status.to_owned(),
        connect_concurrency: args.connect_concurrency,
        storm,
    };
    let out = round(&role, &owner_token, &tokens);
    rt.shutdown_timeout(Duration::from_secs(10));
    out
}

/// Baseline: an axum handler that broadcasts the message JSON to every socket through tokio broadcast.
fn baseline_round(args: &Args) -> Round {
    let rt = server_runtime();
    let addr = rt.block_on(async {
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
        addr
    });
    let role = ClientRole {
        ws_url: format!("ws://{addr}/ws"),
        send_path: "/send".to_owned(),
        addr,
        clients: args.clients,
        messages: args.messages,
        warm_up: 0,
        settle: Duration::from_millis(200),
        identify: false,
        status: args.status.clone(),
        connect_concurrency: args.connect_concurrency,
        storm: false,
    };
    let round = run_clients(&role, None, &[]);
    rt.shutdown_timeout(Duration::from_secs(10));
    round
}

fn main() {
    let argv: Vec<String> = std::env::args().collect();
    if argv.iter().any(|a| a == "--client-role") {
        client_role(&argv);
    }
    let args = args();
    if args.storm {
        storm_main(&args);
        return;
    }
    let (mut ours, mut base) = (Vec::new(), Vec::new());
    for round in 0..args.rounds {
        // Alternate which goes first.
        if round % 2 == 0 {
            base.push(baseline_round(&args));
            ours.push(fluxer_round(&args));
        } else {
            ours.push(fluxer_round(&args));
            base.push(baseline_round(&args));
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

/// `--storm`: online against invisible, alternating which goes first.
fn storm_main(args: &Args) {
    let (mut online, mut invisible) = (Vec::new(), Vec::new());
    for round in 0..args.rounds {
        if round % 2 == 0 {
            invisible.push(storm_round(args, "invisible"));
            online.push(storm_round(args, "online"));
        } else {
            online.push(storm_round(args, "online"));
            invisible.push(storm_round(args, "invisible"));
        }
        eprintln!(
            "round {round}: online {:?} / invisible {:?}",
            online.last().unwrap(),
            invisible.last().unwrap()
        );
    }
    let m = |v: &[Storm], f: fn(&Storm) -> f64| median(v.iter().map(f).collect());
    println!(
        "identify storm, {} clients in one guild, median of {} rounds",
        args.clients, args.rounds
    );
    println!("| metric | online | invisible (baseline) | ratio |");
    println!("|---|---|---|---|");
    for (name, f) in [
        (
            "total time (s)",
            (|r: &Storm| r.seconds) as fn(&Storm) -> f64,
        ),
        ("dispatches received", |r: &Storm| r.frames),
        ("server CPU (s)", |r: &Storm| r.server_cpu_s),
    ] {
        let (o, b) = (m(&online, f), m(&invisible, f));
        println!("| {name} | {o:.2} | {b:.2} | {:.2}x |", o / b);
    }
}
