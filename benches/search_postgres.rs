//! Search on PostgreSQL beside tantivy: indexing rate (documents per second, through the port, in
//! the worker's batches and commit points) and query latency (p50, p99) of
//! `fluxer_storage::postgres::PostgresSearch` against `fluxer_storage::tantivy::TantivySearchIndex`
//! (the baseline), on the corpus and queries of the `search` bench: one word of content over 20
//! channels, newest first, 25 hits, with the total. Both answer the same (checked on the first
//! queries). `ANALYZE` runs after indexing, untimed, as autovacuum would before long.
//!
//! The server comes from `FLUXER_BENCH_POSTGRES_URL` (default `postgres://postgres@127.0.0.1:5432`);
//! the bench creates `fluxer_bench_search_<pid>` there and drops it at the end.
//!
//! ```sh
//! cargo bench -p fluxer --features postgres --bench search_postgres -- --docs 100000 --rounds 1
//! ```

use std::sync::Arc;
use std::time::Instant;

use fluxer::core::id::ChannelId;
use fluxer::core::ports::{MessageDocument, MessageSearch, SearchIndex};
use fluxer::storage::postgres::{PostgresConfig, PostgresSearch};
use fluxer::storage::tantivy::TantivySearchIndex;
use tokio_postgres::NoTls;

mod common;
#[path = "common/search_corpus.rs"]
mod corpus;

use common::{TempDir, median};
use corpus::{Probe, Words, documents, probes};

/// Fluxer's commit cadence when it rebuilds an index (`fluxer-server reindex`).
const COMMIT_EVERY: usize = 50_000;
const LIMIT: usize = 25;

struct Args {
    docs: usize,
    channels: u64,
    batch: usize,
    queries: usize,
    rounds: usize,
}

fn args() -> Args {
    let mut a = Args {
        docs: 100_000,
        channels: 1_000,
        batch: 1_000,
        queries: 1_000,
        rounds: 1,
    };
    let argv: Vec<String> = std::env::args().collect();
    for pair in argv.windows(2) {
        let v = pair[1].as_str();
        match pair[0].as_str() {
            "--docs" => a.docs = v.parse().expect("--docs N"),
            "--channels" => a.channels = v.parse().expect("--channels N"),
            "--batch" => a.batch = v.parse().expect("--batch N"),
            "--queries" => a.queries = v.parse().expect("--queries N"),
            "--rounds" => a.rounds = v.parse().expect("--rounds N"),
            _ => {}
        }
    }
    assert!(a.channels >= 20, "--channels must be at least 20");
    a
}

fn query(probe: &Probe) -> MessageSearch {
    MessageSearch {
        content: Some(probe.word.clone()),
        channel_ids: probe.channels.iter().map(|c| ChannelId::new(*c)).collect(),
        limit: LIMIT,
        ..Default::default()
    }
}

/// Indexes every document through the port; documents per second, the last commit included.
async fn index(index: &dyn SearchIndex, docs: &[MessageDocument], batch: usize) -> f64 {
    let start = Instant::now();
    let mut since_commit = 0;
    for chunk in docs.chunks(batch) {
        index.index_messages(chunk).await.unwrap();
        since_commit += chunk.len();
        if since_commit >= COMMIT_EVERY {
            index.commit().await.unwrap();
            since_commit = 0;
        }
    }
    index.commit().await.unwrap();
    docs.len() as f64 / start.elapsed().as_secs_f64()
}

fn percentile(sorted: &[f64], q: f64) -> f64 {
    sorted[((sorted.len() as f64 - 1.0) * q).round() as usize]
}

/// A connection to `database` on the bench server, its driver task spawned.
async fn connect(database: &str) -> tokio_postgres::Client {
    let server = std::env::var("FLUXER_BENCH_POSTGRES_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432".to_owned());
    let url = format!("{}/{database}", server.trim_end_matches('/'));
    let (client, connection) = tokio_postgres::connect(&url, NoTls)
        .await
        .unwrap_or_else(|e| panic!("PostgreSQL at {url} is required: {e}"));
    tokio::spawn(connection);
    client
}

#[derive(Clone, Copy, Debug)]
struct Round {
    docs_per_sec: f64,
    p50_us: f64,
    p99_us: f64,
}

fn main() {
    let args = args();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    let words = Words::new();
    let docs = documents(args.docs, args.channels, &words);
    let probes = probes(args.queries, args.channels, &words);
    let database = format!("fluxer_bench_search_{}", std::process::id());
    let server = std::env::var("FLUXER_BENCH_POSTGRES_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432".to_owned());
    let admin = rt.block_on(async {
        let admin = connect("postgres").await;
        admin
            .batch_execute(&format!("CREATE DATABASE {database}"))
            .await
            .unwrap();
        admin
    });

    let (mut pg_rounds, mut tantivy_rounds) = (Vec::new(), Vec::new());
    for round in 0..args.rounds {
        rt.block_on(async {
            let mut config =
                PostgresConfig::new(format!("{}/{database}", server.trim_end_matches('/')));
            config.pool_size = 4;
            let pg = Arc::new(PostgresSearch::connect(&config).await.unwrap());
            pg.clear().await.unwrap();
            let dir = TempDir::new("search-vs-pg");
            let tantivy = Arc::new(TantivySearchIndex::open(dir.path()).unwrap());
            // Alternate which engine indexes first: the machine warms up and its load drifts.
            let (pg_rate, tantivy_rate) = if round % 2 == 0 {
                let p = index(&*pg, &docs, args.batch).await;
                (p, index(&*tantivy, &docs, args.batch).await)
            } else {
                let t = index(&*tantivy, &docs, args.batch).await;
                (index(&*pg, &docs, args.batch).await, t)
            };
            connect(&database)
                .await
                .batch_execute("ANALYZE search_messages")
                .await
                .unwrap();
            for p in probes.iter().take(50) {
                let (a, b) = (
                    pg.search_messages(&query(p)).await.unwrap(),
                    tantivy.search_messages(&query(p)).await.unwrap(),
                );
                assert_eq!(a, b, "the engines disagree on {:?}", p.word);
            }
            let engines: [Arc<dyn SearchIndex>; 2] = [pg.clone(), tantivy.clone()];
            let mut lat: [Vec<f64>; 2] = Default::default();
            // Blocks of 100 queries, each engine in turn, the order rotating.
            for (block, chunk) in probes.chunks(100).enumerate() {
                for k in 0..2 {
                    let side = (block + round + k) % 2;
                    for p in chunk {
                        let start = Instant::now();
                        engines[side].search_messages(&query(p)).await.unwrap();
                        lat[side].push(start.elapsed().as_secs_f64() * 1e6);
                    }
                }
            }
            for v in &mut lat {
                v.sort_by(|a, b| a.total_cmp(b));
            }
            let row = |rate: f64, lat: &[f64]| Round {
                docs_per_sec: rate,
                p50_us: percentile(lat, 0.5),
                p99_us: percentile(lat, 0.99),
            };
            pg_rounds.push(row(pg_rate, &lat[0]));
            tantivy_rounds.push(row(tantivy_rate, &lat[1]));
            eprintln!(
                "round {round}: postgres {:?} / tantivy {:?}",
                pg_rounds.last().unwrap(),
                tantivy_rounds.last().unwrap()
            );
            pg.close();
        });
    }
    rt.block_on(async {
        // The pool's connections close asynchronously: FORCE does not wait for them.
        admin
            .batch_execute(&format!("DROP DATABASE {database} WITH (FORCE)"))
            .await
            .unwrap();
    });

    let m = |v: &[Round], f: fn(&Round) -> f64| median(v.iter().map(f).collect());
    println!(
        "search on PostgreSQL vs tantivy, {} messages in {} channels, 1-word queries over 20 channels, newest {LIMIT} + total, {} queries, median of {} rounds",
        args.docs, args.channels, args.queries, args.rounds
    );
    println!("| metric | postgres | tantivy (baseline) | ratio |");
    println!("|---|---|---|---|");
    let (o, b) = (
        m(&pg_rounds, |r| r.docs_per_sec),
        m(&tantivy_rounds, |r| r.docs_per_sec),
    );
    println!("| indexing docs/s | {o:.0} | {b:.0} | {:.2}x |", o / b);
    let (o, b) = (
        m(&pg_rounds, |r| r.p50_us),
        m(&tantivy_rounds, |r| r.p50_us),
    );
    println!("| query p50 (µs) | {o:.0} | {b:.0} | {:.2}x |", o / b);
    let (o, b) = (
        m(&pg_rounds, |r| r.p99_us),
        m(&tantivy_rounds, |r| r.p99_us),
    );
    println!("| query p99 (µs) | {o:.0} | {b:.0} | {:.2}x |", o / b);
}
