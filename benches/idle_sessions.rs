//! Gateway idle sessions: the server process's resident memory per identified, idle WebSocket session,
//! against a tokio-tungstenite echo server with 4 KiB buffers holding the same number of connections,
//! both measured from /proc in separate processes in the same run.
//!
//! ```sh
//! cargo build --release -p fluxer-server
//! cargo bench --bench idle_sessions -- --sessions 5000
//! ```
//! (The per-process descriptor limit here is 20 000; the client side of this bench needs one per session.)

use std::io::{Read, Write};
use std::net::TcpStream;
use std::process::Command;
use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use tokio_tungstenite::tungstenite::Message;

mod common;

use common::start_listening;

fn rss_kib(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.split_whitespace().next())
        .and_then(|v| v.parse().ok())
        .unwrap_or(0)
}

/// The baseline: accept WebSockets with 4 KiB buffers and echo.
fn echo_server() -> ! {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        println!("listening on http://{}", listener.local_addr().unwrap());
        loop {
            let (stream, _) = listener.accept().await.unwrap();
            tokio::spawn(async move {
                let config = tokio_tungstenite::tungstenite::protocol::WebSocketConfig::default()
                    .read_buffer_size(4096)
                    .write_buffer_size(0);
                if let Ok(mut ws) =
                    tokio_tungstenite::accept_async_with_config(stream, Some(config)).await
                {
                    while let Some(Ok(m)) = ws.next().await {
                        if m.is_text() && ws.send(m).await.is_err() {
                            break;
                        }
                    }
                }
            });
        }
    });
    std::process::exit(0)
}

/// One request on its own connection, written in one piece. A connection reset (seen now and then
/// on this machine's loopback under load) is retried on a new connection, up to three times;
/// `body` gets the attempt's number, so that what must be unique (an email) can differ.
fn post(
    addr: &str,
    path: &str,
    token: Option<&str>,
    body: impl Fn(usize) -> String,
) -> serde_json::Value {
    let auth = token
        .map(|t| format!("Authorization: {t}\r\n"))
        .unwrap_or_default();
    for attempt in 0.. {
        let body = body(attempt);
        let request = format!(
            "POST {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n{auth}Content-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
            body.len()
        );
        let mut s = TcpStream::connect(addr).unwrap();
        let mut raw = String::new();
        match s
            .write_all(request.as_bytes())
            .and_then(|()| s.read_to_string(&mut raw))
        {
            Ok(_) => {
                return serde_json::from_str(raw.split("\r\n\r\n").nth(1).unwrap_or("null"))
                    .unwrap_or_default();
            }
            Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset && attempt < 2 => continue,
            Err(e) => panic!("POST {path}: {e}"),
        }
    }
    unreachable!()
}

/// Opens `n` connections; with tokens, each identifies and waits for READY. Returns the open sockets.
async fn connect_all(
    url: &str,
    tokens: Option<&[String]>,
    n: usize,
) -> Vec<tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>>
{
    let mut out = Vec::with_capacity(n);
    for i in 0..n {
        let (mut ws, _) = tokio_tungstenite::connect_async(url).await.unwrap();
        if let Some(tokens) = tokens {
            let _hello = ws.next().await;
            let identify = serde_json::json!({ "op": 2, "d": { "token": tokens[i % tokens.len()], "properties": { "os": "bench" } } });
            ws.send(Message::Text(identify.to_string().into()))
                .await
                .unwrap();
            let seq = loop {
                match ws.next().await {
                    Some(Ok(Message::Text(t))) if t.contains("\"READY\"") => {
                        let v: serde_json::Value = serde_json::from_str(&t).unwrap();
                        break v["s"].as_u64().unwrap_or(1);
                    }
                    Some(Ok(_)) => continue,
                    other => panic!("no READY: {other:?}"),
                }
            };
            // As real clients do: a first heartbeat acknowledging what was received.
            ws.send(Message::Text(
                serde_json::json!({ "op": 1, "d": seq }).to_string().into(),
            ))
            .await
            .unwrap();
            loop {
                match ws.next().await {
                    Some(Ok(Message::Text(t))) if t.contains("\"op\":11") => break,
                    Some(Ok(_)) => continue,
                    other => panic!("no HEARTBEAT_ACK: {other:?}"),
                }
            }
        } else {
            ws.send(Message::Text("ping".into())).await.unwrap();
            let _ = ws.next().await;
        }
        out.push(ws);
    }
    out
}

fn main() {
    let argv: Vec<String> = std::env::args().collect();
    if argv.iter().any(|a| a == "--serve-echo") {
        echo_server();
    }
    let sessions: usize = argv
        .windows(2)
        .find(|w| w[0] == "--sessions")
        .and_then(|w| w[1].parse().ok())
        .unwrap_or(2000);
    let exe = std::env::current_exe().unwrap();
    let server = common::release_server();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();

    // Baseline.
    let mut echo = Command::new(&exe);
    echo.arg("--serve-echo");
    let (mut echo, echo_addr) = start_listening(echo);
    std::thread::sleep(Duration::from_millis(300));
    let before = rss_kib(echo.id());
    let sockets = rt.block_on(connect_all(&format!("ws://{echo_addr}/"), None, sessions));
    std::thread::sleep(Duration::from_millis(500));
    let base_per = (rss_kib(echo.id()) - before) as f64 * 1024.0 / sessions as f64;
    drop(sockets);
    let _ = echo.kill();
    let _ = echo.wait();

    // fluxer-server: users (1000 sessions each at most: session_start_limit), all in one guild.
    let dir = std::env::temp_dir().join(format!("fluxer-idle-{}", std::process::id()));
    let mut cmd = Command::new(&server);
    cmd.env("FLUXER_CONFIG__SERVICES__SERVER__PORT", "0")
        .env("FLUXER_CONFIG__DATABASE__PATH", dir.join("fluxer.db"))
        .env("FLUXER_CONFIG__DEV__DISABLE_RATE_LIMITS", "true")
        .env("FLUXER_CONFIG__LOG__LEVEL", "warn");
    let (mut fluxer, addr) = start_listening(cmd);
    let users = sessions.div_ceil(1000);
    let mut tokens = Vec::new();
    for u in 0..users {
        let r = post(&addr, "/api/v1/auth/register", None, |attempt| {
            format!(
                r#"{{"email":"idle{u}-{attempt}@bench.example","username":"idle{u}","password":"bench password"}}"#
            )
        });
        tokens.push(r["token"].as_str().expect("registered").to_owned());
    }
    let guild = post(&addr, "/api/v1/guilds", Some(&tokens[0]), |_| {
        r#"{"name":"Idle"}"#.to_owned()
    });
    let guild_id = guild["id"].as_str().unwrap();
    let mut channel = String::new();
    {
        let mut s = TcpStream::connect(&addr).unwrap();
        write!(s, "GET /api/v1/guilds/{guild_id}/channels HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\nAuthorization: {}\r\n\r\n", tokens[0]).unwrap();
        let mut raw = String::new();
        s.read_to_string(&mut raw).unwrap();
        let v: serde_json::Value =
            serde_json::from_str(raw.split("\r\n\r\n").nth(1).unwrap()).unwrap();
        channel.push_str(v[0]["id"].as_str().unwrap());
    }
    let invite = post(
        &addr,
        &format!("/api/v1/channels/{channel}/invites"),
        Some(&tokens[0]),
        |_| r#"{"max_age":0}"#.to_owned(),
    );
    for t in &tokens[1..] {
        post(
            &addr,
            &format!("/api/v1/invites/{}", invite["code"].as_str().unwrap()),
            Some(t),
            |_| "{}".to_owned(),
        );
    }
    std::thread::sleep(Duration::from_millis(300));
    let before = rss_kib(fluxer.id());
    let sockets = rt.block_on(connect_all(
        &format!("ws://{addr}/gateway?v=1&encoding=json"),
        Some(&tokens),
        sessions,
    ));
    std::thread::sleep(Duration::from_millis(1000));
    let ours_per = (rss_kib(fluxer.id()).saturating_sub(before)) as f64 * 1024.0 / sessions as f64;
    drop(sockets);
    let _ = fluxer.kill();
    let _ = fluxer.wait();
    let _ = std::fs::remove_dir_all(&dir);

    println!(
        "gateway idle sessions: {sessions} identified, idle WebSocket sessions (server RSS delta / sessions)"
    );
    println!("| fluxer-server | tokio-tungstenite echo, 4 KiB buffers | ratio |");
    println!("|---|---|---|");
    println!(
        "| {:.1} KB | {:.1} KB | {:.2}x |",
        ours_per / 1000.0,
        base_per / 1000.0,
        ours_per / base_per
    );
}
