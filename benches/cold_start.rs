//! Cold start: from exec to the first 200 on `/_health`, for the release `fluxer-server` (fresh SQLite
//! database each run) against an axum hello-world server started the same way, alternating, medians.
//!
//! ```sh
//! cargo build --release -p fluxer-server
//! cargo bench --bench cold_start -- --runs 20
//! ```

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

mod common;

use common::median;

fn hello_server() -> ! {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let app = axum::Router::new().route("/_health", axum::routing::get(|| async { "ok" }));
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        println!("listening on http://{}", listener.local_addr().unwrap());
        axum::serve(listener, app).await.unwrap();
    });
    std::process::exit(0)
}

fn health_ok(addr: &str) -> bool {
    let Ok(mut s) = TcpStream::connect(addr) else {
        return false;
    };
    let _ = s.set_read_timeout(Some(Duration::from_secs(2)));
    if s.write_all(
        format!("GET /_health HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n").as_bytes(),
    )
    .is_err()
    {
        return false;
    }
    let mut buf = Vec::new();
    let _ = s.read_to_end(&mut buf);
    buf.starts_with(b"HTTP/1.1 200")
}

/// Milliseconds from spawn to the first 200 on /_health.
fn measure(mut cmd: Command) -> f64 {
    let start = Instant::now();
    let mut child = cmd
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn");
    let mut reader = BufReader::new(child.stdout.take().unwrap());
    let mut line = String::new();
    let addr = loop {
        line.clear();
        assert!(
            reader.read_line(&mut line).unwrap() > 0,
            "server exited before listening"
        );
        if let Some(rest) = line.split("listening on http://").nth(1) {
            break rest.split_whitespace().next().unwrap().to_owned();
        }
    };
    while !health_ok(&addr) {
        std::thread::sleep(Duration::from_micros(200));
    }
    let ms = start.elapsed().as_secs_f64() * 1000.0;
    let _ = child.kill();
    let _ = child.wait();
    ms
}

fn main() {
    let argv: Vec<String> = std::env::args().collect();
    if argv.iter().any(|a| a == "--serve-hello") {
        hello_server();
    }
    let runs: usize = argv
        .windows(2)
        .find(|w| w[0] == "--runs")
        .and_then(|w| w[1].parse().ok())
        .unwrap_or(20);
    let exe = std::env::current_exe().unwrap();
    let server = common::release_server();
    let (mut ours, mut base) = (Vec::new(), Vec::new());
    for i in 0..runs {
        let dir = std::env::temp_dir().join(format!("fluxer-cold-{}-{i}", std::process::id()));
        let mut fluxer = Command::new(&server);
        fluxer
            .env("FLUXER_CONFIG__SERVICES__SERVER__PORT", "0")
            .env("FLUXER_CONFIG__DATABASE__PATH", dir.join("fluxer.db"))
            .env("FLUXER_CONFIG__LOG__LEVEL", "warn");
        let mut hello = Command::new(&exe);
        hello.arg("--serve-hello");
        if i % 2 == 0 {
            base.push(measure(hello));
            ours.push(measure(fluxer));
        } else {
            ours.push(measure(fluxer));
            base.push(measure(hello));
        }
        let _ = std::fs::remove_dir_all(&dir);
    }
    let (o, b) = (median(ours), median(base));
    println!("cold start (exec -> first 200 on /_health), median of {runs} runs");
    println!("| fluxer-server | axum hello world | ratio |");
    println!("|---|---|---|");
    println!("| {o:.1} ms | {b:.1} ms | {:.2}x |", o / b);
}
