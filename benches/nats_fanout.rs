//! Cross-node fan-out over NATS: the latency and throughput of a dispatch published by one node (an API
//! node's `NatsEventBus`, which stores it in JetStream for cross-node RESUME; the stream republishes it
//! on core NATS) and received by `--subscribers` subscriptions on another node (a gateway's sessions), against raw async-nats core publish/subscribe of the same bytes on the same server, with
//! the same local fan-out, in the same run, alternating, medians of the rounds. Needs NATS with
//! JetStream at `FLUXER_BENCH_NATS_URL` (default `nats://127.0.0.1:4222`).
//!
//! ```sh
//! cargo bench -p fluxer --features cluster --bench nats_fanout -- --messages 2000 --subscribers 100 --rounds 3
//! # one side alone, for a profiler (`perf record`): --only fluxer|raw
//! ```

use std::sync::Arc;
use std::time::{Duration, Instant};

use fluxer::core::id::GuildId;
use fluxer::core::ports::{Dispatch, EventBus, EventKind, Topic};
use fluxer::storage::nats::{NatsConfig, NatsEventBus};
use futures_util::StreamExt;
use tokio::sync::mpsc;

mod common;

use common::{cpu_ticks, median};

struct Args {
    messages: usize,
    subscribers: usize,
    rounds: usize,
    /// Run one side only, `--rounds` times, and print its rounds: for a profiler.
    only: Option<&'static str>,
}

fn args() -> Args {
    let mut a = Args {
        messages: 2000,
        subscribers: 100,
        rounds: 3,
        only: None,
    };
    let argv: Vec<String> = std::env::args().collect();
    for w in argv.windows(2) {
        if w[0] == "--only" {
            a.only = Some(match w[1].as_str() {
                "fluxer" => "fluxer",
                "raw" => "raw",
                _ => panic!("--only fluxer|raw"),
            });
        }
        let v = w[1].parse().ok();
        match (w[0].as_str(), v) {
            ("--messages", Some(v)) => a.messages = v,
            ("--subscribers", Some(v)) => a.subscribers = v,
            ("--rounds", Some(v)) => a.rounds = v,
            _ => {}
        }
    }
    a
}

#[derive(Clone, Copy, Debug)]
struct Round {
    p50_us: f64,
    p99_us: f64,
    /// Deliveries (message x subscriber) per second when publishing back to back.
    per_sec: f64,
    /// CPU time per 1000 messages of the throughput phase: the NATS server's, then this process's
    /// (both nodes' clients), in milliseconds.
    server_cpu_ms: f64,
    client_cpu_ms: f64,
}

/// CPU time (user + system) used so far by the processes named `comm` (all of them), and by this one.
fn cpu_times(comm: &str) -> (Duration, Duration) {
    let to_duration = |t: u64| Duration::from_millis(t * 10);
    let mut server = 0;
    for entry in std::fs::read_dir("/proc").into_iter().flatten().flatten() {
        let dir = entry.path();
        let named = std::fs::read_to_string(dir.join("comm")).is_ok_and(|c| c.trim() == comm);
        if named && let Ok(stat) = std::fs::read_to_string(dir.join("stat")) {
            server += cpu_ticks(&stat);
        }
    }
    let own = std::fs::read_to_string("/proc/self/stat").map_or(0, |s| cpu_ticks(&s));
    (to_duration(server), to_duration(own))
}

/// Measures the CPU the NATS server and this process spend while `f` runs, per 1000 of `messages`.
async fn with_cpu<T>(messages: usize, f: impl std::future::Future<Output = T>) -> (T, f64, f64) {
    let (server0, own0) = cpu_times("nats-server");
    let out = f.await;
    let (server1, own1) = cpu_times("nats-server");
    let per_k = |d: Duration| d.as_secs_f64() * 1e3 * 1000.0 / messages as f64;
    (
        out,
        per_k(server1.saturating_sub(server0)),
        per_k(own1.saturating_sub(own0)),
    )
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    sorted[((sorted.len() as f64 - 1.0) * p).round() as usize]
}

/// A MESSAGE_CREATE-sized payload.
fn payload(i: usize) -> serde_json::Value {
    serde_json::json!({
        "id": format!("{}", 1_000_000 + i), "channel_id": "42", "guild_id": "1",
        "content": "the quick brown fox jumps over the lazy dog", "author": {"id": "7", "username": "alice"},
        "timestamp": "2026-11-29T00:00:00.000Z", "mentions": [], "attachments": [], "embeds": [],
    })
}

/// Fluxer: publisher bus on one connection, N subscriptions on a second bus (another node).
async fn fluxer_round(url: &str, a: &Args, round: usize) -> Round {
    let prefix = format!("fxb{}r{round}", std::process::id());
    let mut cfg = NatsConfig::new(url.to_owned()).with_prefix(prefix);
    cfg.event_history_ms = 60_000;
    let publisher =
        NatsEventBus::from_config(cfg.connect().await.expect("NATS is required"), &cfg).unwrap();
    let node_b = NatsEventBus::from_config(cfg.connect().await.unwrap(), &cfg).unwrap();
    let topic = Topic::Guild(GuildId::new(1));
    let (done_tx, mut done_rx) = mpsc::unbounded_channel::<usize>();
    for _ in 0..a.subscribers {
        let mut sub = node_b.subscribe(a.messages * 2 + 16).await.unwrap();
        sub.add_topic(topic).await.unwrap();
        let tx = done_tx.clone();
        tokio::spawn(async move {
            let mut n = 0;
            while let Some(Ok(_)) = sub.recv().await {
                n += 1;
                let _ = tx.send(n);
            }
        });
    }
    // Latency: one message at a time, until every subscriber has it.
    let mut latencies = Vec::with_capacity(a.messages / 4);
    let mut received = 0usize;
    for i in 0..a.messages / 4 {
        let t = Instant::now();
        publisher
            .publish(Dispatch::new(EventKind::MessageCreate, topic, &payload(i)))
            .await
            .unwrap();
        let target = (i + 1) * a.subscribers;
        while received < target {
            done_rx.recv().await.unwrap();
            received += 1;
        }
        latencies.push(t.elapsed().as_secs_f64() * 1e6);
    }
    // Throughput: the rest with 64 publishes in flight, as 64 concurrent API requests would (an API
    // node without subscriptions does not wait for JetStream's acknowledgement; at most 4 096 may be
    // outstanding). Every event counts once delivered, which is after the stream stored it.
    let start = Instant::now();
    let rest = a.messages - a.messages / 4;
    let publisher = &publisher;
    let ((), server_cpu_ms, client_cpu_ms) = with_cpu(rest, async {
        futures_util::stream::iter(0..rest)
            .for_each_concurrent(64, |i| async move {
                publisher
                    .publish(Dispatch::new(EventKind::MessageCreate, topic, &payload(i)))
                    .await
                    .unwrap();
            })
            .await;
        let target = a.messages / 4 * a.subscribers + rest * a.subscribers;
        while received < target {
            done_rx.recv().await.unwrap();
            received += 1;
        }
    })
    .await;
    let secs = start.elapsed().as_secs_f64();
    latencies.sort_by(|x, y| x.total_cmp(y));
    Round {
        p50_us: percentile(&latencies, 0.5),
        p99_us: percentile(&latencies, 0.99),
        per_sec: (rest * a.subscribers) as f64 / secs,
        server_cpu_ms,
        client_cpu_ms,
    }
}

/// Raw async-nats: core publish on one connection, one subscription on another that fans the bytes out
/// to N local channels (what a gateway node does with an event), no persistence.
async fn raw_round(url: &str, a: &Args, round: usize) -> Round {
    let subject = format!("rawbench.{}.{round}", std::process::id());
    let publisher = async_nats::connect(url).await.expect("NATS is required");
    let node_b = async_nats::connect(url).await.unwrap();
    let mut sub = node_b.subscribe(subject.clone()).await.unwrap();
    node_b.flush().await.unwrap();
    let (done_tx, mut done_rx) = mpsc::unbounded_channel::<usize>();
    let mut locals = Vec::new();
    for _ in 0..a.subscribers {
        let (tx, mut rx) = mpsc::channel::<Arc<bytes::Bytes>>(a.messages * 2 + 16);
        locals.push(tx);
        let done = done_tx.clone();
        tokio::spawn(async move {
            let mut n = 0;
            while rx.recv().await.is_some() {
                n += 1;
                let _ = done.send(n);
            }
        });
    }
    tokio::spawn(async move {
        while let Some(msg) = sub.next().await {
            let bytes = Arc::new(msg.payload);
            for l in &locals {
                let _ = l.try_send(bytes.clone());
            }
        }
    });
    let body = |i: usize| bytes::Bytes::from(payload(i).to_string());
    let mut latencies = Vec::new();
    let mut received = 0usize;
    for i in 0..a.messages / 4 {
        let t = Instant::now();
        publisher.publish(subject.clone(), body(i)).await.unwrap();
        let target = (i + 1) * a.subscribers;
        while received < target {
            done_rx.recv().await.unwrap();
            received += 1;
        }
        latencies.push(t.elapsed().as_secs_f64() * 1e6);
    }
    let start = Instant::now();
    let rest = a.messages - a.messages / 4;
    let ((), server_cpu_ms, client_cpu_ms) = with_cpu(rest, async {
        for i in 0..rest {
            publisher.publish(subject.clone(), body(i)).await.unwrap();
        }
        publisher.flush().await.unwrap();
        let target = a.messages / 4 * a.subscribers + rest * a.subscribers;
        while received < target {
            tokio::time::timeout(Duration::from_secs(30), done_rx.recv())
                .await
                .expect("raw deliveries")
                .unwrap();
            received += 1;
        }
    })
    .await;
    let secs = start.elapsed().as_secs_f64();
    latencies.sort_by(|x, y| x.total_cmp(y));
    Round {
        p50_us: percentile(&latencies, 0.5),
        p99_us: percentile(&latencies, 0.99),
        per_sec: (rest * a.subscribers) as f64 / secs,
        server_cpu_ms,
        client_cpu_ms,
    }
}

fn main() {
    // The adapters' warnings (a gap filled, a publish not stored) on stderr.
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn")),
        )
        .with_writer(std::io::stderr)
        .init();
    let a = args();
    let url =
        std::env::var("FLUXER_BENCH_NATS_URL").unwrap_or_else(|_| "nats://127.0.0.1:4222".into());
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    if let Some(side) = a.only {
        for round in 0..a.rounds {
            let r = match side {
                "fluxer" => rt.block_on(fluxer_round(&url, &a, round)),
                _ => rt.block_on(raw_round(&url, &a, round)),
            };
            eprintln!("round {round}: {side} {r:?}");
        }
        return;
    }
    let (mut ours, mut raw) = (Vec::new(), Vec::new());
    for round in 0..a.rounds {
        // Alternate which goes first.
        if round % 2 == 0 {
            ours.push(rt.block_on(fluxer_round(&url, &a, round)));
            raw.push(rt.block_on(raw_round(&url, &a, round)));
        } else {
            raw.push(rt.block_on(raw_round(&url, &a, round)));
            ours.push(rt.block_on(fluxer_round(&url, &a, round)));
        }
        eprintln!(
            "round {round}: fluxer {:?} raw {:?}",
            ours[round], raw[round]
        );
    }
    let pick = |v: &[Round], f: fn(&Round) -> f64| median(v.iter().map(f).collect());
    let rows = [
        (
            "p50 publish -> all subscribers (us)",
            pick(&ours, |r| r.p50_us),
            pick(&raw, |r| r.p50_us),
        ),
        (
            "p99 publish -> all subscribers (us)",
            pick(&ours, |r| r.p99_us),
            pick(&raw, |r| r.p99_us),
        ),
        (
            "deliveries/s",
            pick(&ours, |r| r.per_sec),
            pick(&raw, |r| r.per_sec),
        ),
        (
            "nats-server CPU per 1000 messages (ms)",
            pick(&ours, |r| r.server_cpu_ms),
            pick(&raw, |r| r.server_cpu_ms),
        ),
        (
            "client process CPU per 1000 messages (ms)",
            pick(&ours, |r| r.client_cpu_ms),
            pick(&raw, |r| r.client_cpu_ms),
        ),
    ];
    println!(
        "nats fan-out, {} messages x {} subscribers on another connection, median of {} rounds",
        a.messages, a.subscribers, a.rounds
    );
    println!("| metric | fluxer | raw async-nats | ratio |");
    for (name, f, r) in rows {
        println!("| {name} | {f:.0} | {r:.0} | {:.2}x |", f / r);
    }
}
