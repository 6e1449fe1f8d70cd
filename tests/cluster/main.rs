//! The per-service deployment with several nodes, as real processes on loopback: two `fluxer-api`, two
//! `fluxer-gateway` and a `fluxer-worker` on PostgreSQL, Redis and NATS (the machine's servers; each
//! run gets its own database, key prefix and subject prefix). A test fails loudly when a server is down.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use futures_util::{SinkExt, StreamExt};
use serde_json::{Value, json};
use tokio_tungstenite::tungstenite::Message;

#[path = "../e2e/gateway.rs"]
mod gateway;
#[path = "../e2e/postgres.rs"]
mod postgres;
mod voice;

use gateway::{Ws, identify, next, next_dispatch, runtime};

const PG: &str = "postgres://postgres@127.0.0.1:5432";

fn unique() -> String {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos();
    format!("{}_{}", std::process::id(), nanos % 1_000_000_000)
}

/// One deployment's shared settings.
struct Deployment {
    env: Vec<(String, String)>,
    data_dir: PathBuf,
    database: String,
}

impl Deployment {
    fn new(extra: &[(&str, &str)]) -> Deployment {
        let id = unique();
        let database = format!("fluxer_cluster_{id}");
        postgres::create_database(&database);
        let data_dir = std::env::temp_dir().join(format!("fluxer-cluster-{id}"));
        std::fs::create_dir_all(&data_dir).unwrap();
        let mut env: Vec<(String, String)> = [
            ("DATABASE__BACKEND", "postgres".to_owned()),
            ("DATABASE__URL", format!("{PG}/{database}")),
            ("DATABASE__POOL_SIZE", "4".to_owned()),
            ("CACHE__BACKEND", "redis".to_owned()),
            ("CACHE__KEY_PREFIX", format!("fluxer-cluster-{id}:")),
            ("BUS__BACKEND", "nats".to_owned()),
            ("QUEUE__BACKEND", "nats".to_owned()),
            ("SERVICES__NATS__PREFIX", format!("fxc_{id}")),
            ("SERVICES__NATS__ACK_WAIT_MS", "2000".to_owned()),
            ("INSTANCE__SECRET_KEY", format!("cluster-test-secret-{id}")),
            ("INSTANCE__DATA_DIR", data_dir.display().to_string()),
            ("LOG__FORMAT", "json".to_owned()),
            ("LOG__LEVEL", "warn".to_owned()),
        ]
        .into_iter()
        .map(|(k, v)| (format!("FLUXER_CONFIG__{k}"), v))
        .collect();
        for (k, v) in extra {
            env.push((format!("FLUXER_CONFIG__{k}"), (*v).to_owned()));
        }
        Deployment {
            env,
            data_dir,
            database,
        }
    }

    /// Starts one service process and waits for its address. `bin` is a per-service name
    /// (`fluxer-api`) or a `fluxer-server` command line (`fluxer-server serve --role gateway`).
    fn start(&self, bin: &str, extra: &[(&str, &str)]) -> Node {
        let mut words = bin.split_whitespace();
        let exe = match words.next().unwrap() {
            "fluxer-server" => env!("CARGO_BIN_EXE_fluxer-server"),
            "fluxer-api" => env!("CARGO_BIN_EXE_fluxer-api"),
            "fluxer-gateway" => env!("CARGO_BIN_EXE_fluxer-gateway"),
            "fluxer-worker" => env!("CARGO_BIN_EXE_fluxer-worker"),
            _ => env!("CARGO_BIN_EXE_fluxer-media"),
        };
        let mut cmd = Command::new(exe);
        cmd.args(words);
        cmd.envs(self.env.iter().map(|(k, v)| (k.as_str(), v.as_str())))
            .env("FLUXER_CONFIG__SERVICES__API__PORT", "0")
            .env("FLUXER_CONFIG__SERVICES__GATEWAY__PORT", "0")
            .env("FLUXER_CONFIG__SERVICES__MEDIA_PROXY__PORT", "0")
            .env("FLUXER_CONFIG__WORKER__PORT", "0")
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit());
        for (k, v) in extra {
            cmd.env(format!("FLUXER_CONFIG__{k}"), v);
        }
        let mut child = cmd.spawn().unwrap_or_else(|e| panic!("start {bin}: {e}"));
        let stdout = child.stdout.take().unwrap();
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if let Some(url) = line.split("listening on http://").nth(1) {
                    let _ = tx.send(url.trim().to_owned());
                }
            }
        });
        let addr = rx
            .recv_timeout(Duration::from_secs(60))
            .unwrap_or_else(|_| panic!("{bin} did not start (are PostgreSQL, Redis and NATS up?)"));
        Node { child, addr }
    }
}

impl Drop for Deployment {
    fn drop(&mut self) {
        postgres::drop_database(&self.database);
        let _ = std::fs::remove_dir_all(&self.data_dir);
    }
}

struct Node {
    child: Child,
    addr: String,
}

impl Node {
    fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for Node {
    fn drop(&mut self) {
        self.kill();
    }
}

/// A tiny blocking HTTP/1.1 client.
fn http(
    addr: &str,
    method: &str,
    path: &str,
    token: Option<&str>,
    body: Option<&Value>,
) -> (u16, Value) {
    let mut stream = TcpStream::connect(addr).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(30)))
        .unwrap();
    let body = body.map(|b| b.to_string()).unwrap_or_default();
    let auth = token
        .map(|t| format!("Authorization: {t}\r\n"))
        .unwrap_or_default();
    write!(
        stream,
        "{method} {path} HTTP/1.1\r\nHost: {addr}\r\n{auth}Content-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    )
    .unwrap();
    let mut raw = Vec::new();
    stream.read_to_end(&mut raw).unwrap();
    let text = String::from_utf8_lossy(&raw).into_owned();
    let status: u16 = text
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    let body = text.split("\r\n\r\n").nth(1).unwrap_or("");
    // Responses may be chunked: take the JSON object or array in them.
    let json = body
        .find(['{', '['])
        .and_then(|start| {
            let end = body.rfind(['}', ']'])?;
            serde_json::from_str(&body[start..=end]).ok()
        })
        .unwrap_or(Value::Null);
    (status, json)
}

fn register(api: &str, name: &str) -> (String, String) {
    let (status, r) = http(
        api,
        "POST",
        "/api/v1/auth/register",
        None,
        Some(&json!({
            "email": format!("{name}@example.com"), "username": name,
            "password": "correct horse battery", "date_of_birth": "1990-01-01", "consent": true
        })),
    );
    assert_eq!(status, 200, "{r}");
    (
        r["token"].as_str().unwrap().to_owned(),
        r["user_id"].as_str().unwrap().to_owned(),
    )
}

/// Alice's guild with Bob in it; returns (guild, general channel).
fn guild_with_two(api_a: &str, api_b: &str, alice: &str, bob: &str) -> (String, String) {
    let (s, guild) = http(
        api_a,
        "POST",
        "/api/v1/guilds",
        Some(alice),
        Some(&json!({"name": "Nodes"})),
    );
    assert_eq!(s, 200, "{guild}");
    let guild_id = guild["id"].as_str().unwrap().to_owned();
    let (_, channels) = http(
        api_b,
        "GET",
        &format!("/api/v1/guilds/{guild_id}/channels"),
        Some(alice),
        None,
    );
    let general = channels
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["type"] == 0)
        .unwrap()["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let (s, invite) = http(
        api_a,
        "POST",
        &format!("/api/v1/channels/{general}/invites"),
        Some(alice),
        Some(&json!({})),
    );
    assert_eq!(s, 200, "{invite}");
    let code = invite["code"].as_str().unwrap();
    let (s, joined) = http(
        api_b,
        "POST",
        &format!("/api/v1/invites/{code}"),
        Some(bob),
        Some(&json!({})),
    );
    assert_eq!(s, 200, "{joined}");
    (guild_id, general)
}

#[test]
fn events_presence_rate_limits_and_search_cross_nodes() {
    let d = Deployment::new(&[]);
    let _worker = d.start("fluxer-worker", &[]);
    let api_a = d.start("fluxer-api", &[("INSTANCE__WORKER_ID", "1")]);
    let api_b = d.start("fluxer-api", &[("INSTANCE__WORKER_ID", "2")]);
    let gw_a = d.start("fluxer-gateway", &[("INSTANCE__WORKER_ID", "3")]);
    let gw_b = d.start(
        "fluxer-server serve --role gateway",
        &[("INSTANCE__WORKER_ID", "4")],
    );
    let (alice, alice_id) = register(&api_a.addr, "alice");
    let (bob, _) = register(&api_b.addr, "bob");
    let (_guild, general) = guild_with_two(&api_a.addr, &api_b.addr, &alice, &bob);

    runtime().block_on(async {
        // Bob listens on gateway B; Alice posts through API A.
        let mut bob_ws = identify(&gw_b.addr, &bob).await;
        for i in 0..15 {
            let (s, m) = http(
                &api_a.addr,
                "POST",
                &format!("/api/v1/channels/{general}/messages"),
                Some(&alice),
                Some(&json!({ "content": format!("m{i}") })),
            );
            assert_eq!(s, 200, "{m}");
        }
        let mut seen = Vec::new();
        let mut last_seq = 0;
        while seen.len() < 15 {
            let frame = next_dispatch(&mut bob_ws, "MESSAGE_CREATE").await;
            let seq = frame["s"].as_u64().unwrap();
            assert!(seq > last_seq, "sequence numbers increase");
            last_seq = seq;
            seen.push(frame["d"]["content"].as_str().unwrap().to_owned());
        }
        let expected: Vec<String> = (0..15).map(|i| format!("m{i}")).collect();
        assert_eq!(seen, expected, "every message, in order, across nodes");

        // Alice comes online on gateway A and goes dnd: Bob on gateway B sees both.
        let mut alice_ws = identify(&gw_a.addr, &alice).await;
        loop {
            let p = next_dispatch(&mut bob_ws, "PRESENCE_UPDATE").await;
            if p["d"]["user"]["id"] == alice_id.as_str() && p["d"]["status"] == "online" {
                break;
            }
        }
        alice_ws
            .send(Message::Text(
                json!({ "op": 3, "d": { "status": "dnd", "since": null, "activities": [], "afk": false } })
                    .to_string()
                    .into(),
            ))
            .await
            .unwrap();
        loop {
            let p = next_dispatch(&mut bob_ws, "PRESENCE_UPDATE").await;
            if p["d"]["user"]["id"] == alice_id.as_str() && p["d"]["status"] == "dnd" {
                break;
            }
        }
    });

    // One rate-limit bucket across API nodes: POST /auth/forgot allows 5 per minute per caller.
    for i in 0..5 {
        let api = if i % 2 == 0 { &api_a.addr } else { &api_b.addr };
        let (s, r) = http(
            api,
            "POST",
            "/api/v1/auth/forgot",
            None,
            Some(&json!({"email": "x@example.com"})),
        );
        assert_eq!(s, 204, "request {i}: {r}");
    }
    let (s, r) = http(
        &api_b.addr,
        "POST",
        "/api/v1/auth/forgot",
        None,
        Some(&json!({"email": "x@example.com"})),
    );
    assert_eq!(
        s, 429,
        "the sixth request, on the other node, is limited: {r}"
    );

    // Search: the worker indexes (it owns the index), API B searches a read-only view of it.
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let (s, r) = http(
            &api_b.addr,
            "POST",
            "/api/v1/search/messages",
            Some(&alice),
            Some(&json!({ "content": "m7" })),
        );
        assert_eq!(s, 200, "{r}");
        if r["total"] == 1 {
            assert_eq!(r["messages"][0]["content"], "m7");
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the message never became searchable: {r}"
        );
        std::thread::sleep(Duration::from_millis(200));
    }
}

/// Reads gateway frames until the server closes; the close code (`None`: no close frame).
async fn close_code(ws: &mut Ws) -> Option<u16> {
    loop {
        let msg = tokio::time::timeout(Duration::from_secs(20), ws.next())
            .await
            .expect("a frame or a close within 20 s");
        match msg {
            Some(Ok(Message::Close(frame))) => return frame.map(|f| u16::from(f.code)),
            Some(Ok(_)) => continue,
            Some(Err(_)) | None => return None,
        }
    }
}

#[test]
fn revoked_credentials_close_sessions_on_every_gateway_node() {
    let d = Deployment::new(&[]);
    let api_a = d.start("fluxer-api", &[("INSTANCE__WORKER_ID", "1")]);
    let api_b = d.start("fluxer-api", &[("INSTANCE__WORKER_ID", "2")]);
    let gw_a = d.start("fluxer-gateway", &[("INSTANCE__WORKER_ID", "3")]);
    let gw_b = d.start("fluxer-gateway", &[("INSTANCE__WORKER_ID", "4")]);
    let (first, _) = register(&api_a.addr, "carol");
    let login = |api: &str| {
        let (s, r) = http(
            api,
            "POST",
            "/api/v1/auth/login",
            None,
            Some(&json!({ "email": "carol@example.com", "password": "correct horse battery" })),
        );
        assert_eq!(s, 200, "{r}");
        r["token"].as_str().unwrap().to_owned()
    };
    let second = login(&api_b.addr);
    let third = login(&api_a.addr);
    runtime().block_on(async {
        let mut ws_first = identify(&gw_a.addr, &first).await;
        let mut ws_second = identify(&gw_b.addr, &second).await;
        let mut ws_third = identify(&gw_b.addr, &third).await;
        // Logged out through API B: the session on gateway A ends.
        let (s, _) = http(&api_b.addr, "POST", "/api/v1/auth/logout", Some(&first), None);
        assert_eq!(s, 204);
        assert_eq!(close_code(&mut ws_first).await, Some(4004));
        // A password change through API A keeps the session that made it (on gateway B) and ends
        // the other one there, and on REST.
        let (s, r) = http(
            &api_a.addr,
            "PATCH",
            "/api/v1/users/@me",
            Some(&second),
            Some(&json!({ "password": "correct horse battery", "new_password": "another fine passphrase" })),
        );
        assert_eq!(s, 200, "{r}");
        assert_eq!(close_code(&mut ws_third).await, Some(4004));
        let (s, _) = http(&api_b.addr, "GET", "/api/v1/users/@me", Some(&third), None);
        assert_eq!(s, 401);
        ws_second
            .send(Message::Text(json!({ "op": 1, "d": null }).to_string().into()))
            .await
            .unwrap();
        // The session that changed the password stays (its USER_UPDATE may come first).
        while next(&mut ws_second).await["op"] != 11 {}
    });
}

/// A one-connection-at-a-time SMTP server that swallows the first connection (the worker is killed
/// while it waits) and accepts mail on later ones, counting what arrives.
struct Smtp {
    port: u16,
    first_connected: Arc<AtomicBool>,
    delivered: Arc<Mutex<Vec<String>>>,
    connections: Arc<AtomicUsize>,
}

impl Smtp {
    fn start() -> Smtp {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let first_connected = Arc::new(AtomicBool::new(false));
        let delivered = Arc::new(Mutex::new(Vec::new()));
        let connections = Arc::new(AtomicUsize::new(0));
        let (f, dl, c) = (
            first_connected.clone(),
            delivered.clone(),
            connections.clone(),
        );
        std::thread::spawn(move || {
            let mut held = Vec::new();
            for stream in listener.incoming().flatten() {
                if c.fetch_add(1, Ordering::SeqCst) == 0 {
                    f.store(true, Ordering::SeqCst);
                    held.push(stream); // never answered: the job hangs here
                    continue;
                }
                let dl = dl.clone();
                std::thread::spawn(move || serve_smtp(stream, dl));
            }
        });
        Smtp {
            port,
            first_connected,
            delivered,
            connections,
        }
    }
}

fn serve_smtp(stream: TcpStream, delivered: Arc<Mutex<Vec<String>>>) {
    let mut out = stream.try_clone().unwrap();
    let mut lines = BufReader::new(stream);
    let _ = out.write_all(b"220 test ESMTP\r\n");
    let mut data = None::<String>;
    let mut line = String::new();
    while lines.read_line(&mut line).unwrap_or(0) > 0 {
        if let Some(body) = data.as_mut() {
            if line == ".\r\n" {
                delivered.lock().unwrap().push(data.take().unwrap());
                let _ = out.write_all(b"250 queued\r\n");
            } else {
                body.push_str(&line);
            }
        } else {
            let cmd = line.to_ascii_uppercase();
            let reply: &[u8] = if cmd.starts_with("EHLO") || cmd.starts_with("HELO") {
                b"250 test\r\n"
            } else if cmd.starts_with("DATA") {
                data = Some(String::new());
                b"354 go\r\n"
            } else if cmd.starts_with("QUIT") {
                let _ = out.write_all(b"221 bye\r\n");
                return;
            } else {
                b"250 ok\r\n"
            };
            let _ = out.write_all(reply);
        }
        line.clear();
    }
}

#[test]
fn a_killed_workers_job_is_delivered_again_and_completes_once() {
    let smtp = Smtp::start();
    let port = smtp.port.to_string();
    let d = Deployment::new(&[
        ("INTEGRATIONS__EMAIL__PROVIDER", "smtp"),
        ("INTEGRATIONS__EMAIL__SMTP__HOST", "127.0.0.1"),
        ("INTEGRATIONS__EMAIL__SMTP__PORT", &port),
        ("INTEGRATIONS__EMAIL__SMTP__SECURITY", "none"),
        ("INTEGRATIONS__SEARCH__ENGINE", "none"),
    ]);
    let mut worker = d.start("fluxer-worker", &[]);
    let api = d.start("fluxer-api", &[("INSTANCE__WORKER_ID", "1")]);
    // Registering enqueues the verification email; the worker takes it and hangs on the SMTP server.
    register(&api.addr, "carol");
    let deadline = Instant::now() + Duration::from_secs(30);
    while !smtp.first_connected.load(Ordering::SeqCst) {
        assert!(
            Instant::now() < deadline,
            "the worker never started the job"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    // Mid-job: kill the worker hard, start another. JetStream delivers the job again after ack_wait.
    worker.kill();
    assert!(smtp.delivered.lock().unwrap().is_empty());
    let _worker2 = d.start("fluxer-worker", &[]);
    let deadline = Instant::now() + Duration::from_secs(30);
    while smtp.delivered.lock().unwrap().is_empty() {
        assert!(Instant::now() < deadline, "the job was not delivered again");
        std::thread::sleep(Duration::from_millis(50));
    }
    // Acked once done: nothing arrives twice.
    std::thread::sleep(Duration::from_secs(4));
    let delivered = smtp.delivered.lock().unwrap();
    assert_eq!(delivered.len(), 1, "the email was sent exactly once");
    assert!(delivered[0].contains("Verify your email"));
    assert!(smtp.connections.load(Ordering::SeqCst) >= 2);
}

/// Issue #7: a gateway node dies; its client resumes on another node and gets exactly the events it
/// missed (from the NATS history), then RESUMED, then live events.
#[test]
fn a_killed_gateways_client_resumes_on_another_node_without_missing_an_event() {
    let d = Deployment::new(&[("INTEGRATIONS__SEARCH__ENGINE", "none")]);
    let api = d.start("fluxer-api", &[("INSTANCE__WORKER_ID", "1")]);
    let mut gw_a = d.start("fluxer-gateway", &[("INSTANCE__WORKER_ID", "3")]);
    let gw_b = d.start("fluxer-gateway", &[("INSTANCE__WORKER_ID", "4")]);
    let (alice, _) = register(&api.addr, "alice");
    let (bob, _) = register(&api.addr, "bob");
    let (guild, general) = guild_with_two(&api.addr, &api.addr, &alice, &bob);
    // A channel Bob may not view: its messages must not be replayed to him either.
    let (s, staff) = http(
        &api.addr,
        "POST",
        &format!("/api/v1/guilds/{guild}/channels"),
        Some(&alice),
        Some(&json!({ "name": "staff" })),
    );
    assert_eq!(s, 200, "{staff}");
    let staff = staff["id"].as_str().unwrap().to_owned();
    let (s, r) = http(
        &api.addr,
        "PUT",
        &format!("/api/v1/channels/{staff}/permissions/{guild}"),
        Some(&alice),
        Some(&json!({ "type": 0, "allow": "0", "deny": "1024" })),
    );
    assert!((200..300).contains(&s), "{s} {r}");
    let post_in = |channel: &str, content: &str| {
        let (s, m) = http(
            &api.addr,
            "POST",
            &format!("/api/v1/channels/{channel}/messages"),
            Some(&alice),
            Some(&json!({ "content": content })),
        );
        assert_eq!(s, 200, "{m}");
    };
    let post = |content: &str| post_in(&general, content);

    runtime().block_on(async {
        // Bob identifies on gateway A and receives three messages.
        let (mut ws, _) = tokio_tungstenite::connect_async(format!(
            "ws://{}/gateway?v=1&encoding=json",
            gw_a.addr
        ))
        .await
        .expect("connect to gateway A");
        assert_eq!(next(&mut ws).await["op"], 10);
        ws.send(Message::Text(
            json!({ "op": 2, "d": { "token": bob, "properties": { "os": "linux" } } })
                .to_string()
                .into(),
        ))
        .await
        .unwrap();
        let ready = next_dispatch(&mut ws, "READY").await;
        let session_id = ready["d"]["session_id"].as_str().unwrap().to_owned();
        let mut last_seq = ready["s"].as_u64().unwrap();
        for i in 0..3 {
            post(&format!("m{i}"));
        }
        let mut seen = Vec::new();
        while seen.len() < 3 {
            let frame = next(&mut ws).await;
            if let Some(s) = frame["s"].as_u64() {
                assert!(s > last_seq, "sequence numbers increase");
                last_seq = s;
            }
            if frame["t"] == "MESSAGE_CREATE" {
                seen.push(frame["d"]["content"].as_str().unwrap().to_owned());
            }
        }
        assert_eq!(seen, ["m0", "m1", "m2"]);

        // Gateway A dies; Alice posts five messages while Bob is disconnected.
        gw_a.kill();
        drop(ws);
        for i in 3..8 {
            post(&format!("m{i}"));
            post_in(&staff, &format!("hidden{i}"));
        }

        // Bob resumes on gateway B.
        let (mut ws, _) = tokio_tungstenite::connect_async(format!(
            "ws://{}/gateway?v=1&encoding=json",
            gw_b.addr
        ))
        .await
        .expect("connect to gateway B");
        assert_eq!(next(&mut ws).await["op"], 10);
        ws.send(Message::Text(
            json!({ "op": 6, "d": { "token": bob, "session_id": session_id, "seq": last_seq } })
                .to_string()
                .into(),
        ))
        .await
        .unwrap();
        let mut replayed = Vec::new();
        loop {
            let frame = next(&mut ws).await;
            assert_ne!(frame["op"], 9, "the session was not taken over: {frame}");
            if let Some(s) = frame["s"].as_u64() {
                assert!(
                    s > last_seq,
                    "sequence numbers keep increasing across nodes"
                );
                last_seq = s;
            }
            match frame["t"].as_str() {
                Some("MESSAGE_CREATE") => {
                    replayed.push(frame["d"]["content"].as_str().unwrap().to_owned())
                }
                Some("RESUMED") => break,
                _ => {}
            }
        }
        assert_eq!(
            replayed,
            ["m3", "m4", "m5", "m6", "m7"],
            "exactly the missed messages Bob may view, in order"
        );

        // Then live.
        post("m8");
        let live = next_dispatch(&mut ws, "MESSAGE_CREATE").await;
        assert_eq!(live["d"]["content"], "m8");
        let live_seq = live["s"].as_u64().unwrap();
        assert!(live_seq > last_seq);
        // Numbers have gaps here (they encode stream positions); clients such as @discordjs/ws only
        // keep the highest `s` and echo it in heartbeats, which the new node accepts.
        ws.send(Message::Text(
            json!({ "op": 1, "d": live_seq }).to_string().into(),
        ))
        .await
        .unwrap();
        loop {
            let frame = next(&mut ws).await;
            if frame["op"] == 11 {
                break;
            }
        }
    });
}

/// Staff change the limit config through one API node; the other applies it without a restart
/// (within its refresh period, `LIMIT_REFRESH_MS`: 10 s).
#[test]
fn a_limit_config_change_reaches_every_api_node() {
    let d = Deployment::new(&[]);
    let api_a = d.start("fluxer-api", &[("INSTANCE__WORKER_ID", "1")]);
    let api_b = d.start("fluxer-api", &[("INSTANCE__WORKER_ID", "2")]);
    let (alice, _) = register(&api_b.addr, "alice");
    let (s, guild) = http(
        &api_b.addr,
        "POST",
        "/api/v1/guilds",
        Some(&alice),
        Some(&json!({"name": "Limits"})),
    );
    assert_eq!(s, 200, "{guild}");
    let guild_id = guild["id"].as_str().unwrap();
    let (_, channels) = http(
        &api_b.addr,
        "GET",
        &format!("/api/v1/guilds/{guild_id}/channels"),
        Some(&alice),
        None,
    );
    let general = channels
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["type"] == 0)
        .unwrap()["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let send_on_b = || {
        http(
            &api_b.addr,
            "POST",
            &format!("/api/v1/channels/{general}/messages"),
            Some(&alice),
            Some(&json!({ "content": "a".repeat(200) })),
        )
    };
    // Node B has read the default limits (and cached them) before the change.
    assert_eq!(send_on_b().0, 200);

    let made = Command::new(env!("CARGO_BIN_EXE_fluxer-server"))
        .args([
            "create-admin",
            "--email",
            "op@example.com",
            "--username",
            "operator",
        ])
        .envs(d.env.iter().map(|(k, v)| (k.as_str(), v.as_str())))
        .env("FLUXER_ADMIN_PASSWORD", "correct horse battery")
        .stdout(Stdio::null())
        .status()
        .unwrap();
    assert!(made.success());
    let (s, login) = http(
        &api_a.addr,
        "POST",
        "/api/v1/auth/login",
        None,
        Some(&json!({ "email": "op@example.com", "password": "correct horse battery" })),
    );
    assert_eq!(s, 200, "{login}");
    let op = login["token"].as_str().unwrap();
    let (s, r) = http(
        &api_a.addr,
        "POST",
        "/api/v1/admin/limit-config/update",
        Some(op),
        Some(&json!({ "limit_config": { "rules": [
            { "id": "default", "limits": { "max_message_length": 100 } }
        ] } })),
    );
    assert_eq!(s, 200, "{r}");

    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let (s, r) = send_on_b();
        if s == 400 {
            assert_eq!(r["errors"][0]["path"], "content", "{r}");
            break;
        }
        // Sending every half second for up to the refresh period meets the send rate limit:
        // that answer says nothing about the limit config, so wait as it asks.
        let wait = if s == 429 {
            Duration::from_secs_f64(r["retry_after"].as_f64().unwrap_or(1.0))
        } else {
            assert_eq!(s, 200, "{r}");
            Duration::from_millis(500)
        };
        assert!(
            Instant::now() < deadline,
            "node B never applied the new limit"
        );
        std::thread::sleep(wait);
    }
}
