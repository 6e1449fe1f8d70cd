//! Search: indexing rate (documents per second, final commit included) and query latency (p50, p99)
//! of `fluxer_storage::tantivy::TantivySearchIndex` through the `SearchIndex` port, against raw
//! tantivy with the same schema, the same writer (one indexing thread, 64 MB budget), the same
//! directory kind (mmap, on disk), the same batches and commit points, and the same queries: one word
//! of content, restricted to a set of 20 channels, newest first, 25 hits, with the total count. The
//! baseline is what a tantivy user writes by hand: `add_document` without a prior delete, and one
//! search pass collecting the page and the count together (`(TopDocs, Count)`); a second raw query
//! side counts in a pass of its own before collecting the page, and a second raw index deletes each
//! ID before adding it, as the adapter does, to attribute the differences. All search calls run on tokio's blocking pool, as an async server must run them.
//!
//! The content is synthetic and deterministic: words from a generated vocabulary drawn with a Zipf
//! distribution by a seeded LCG, messages spread over 1 000 channels of 10 guilds. Rounds alternate
//! which index is built first; queries alternate in blocks; medians of the rounds.
//!
//! ```sh
//! cargo bench -p fluxer --bench search -- --docs 200000 --rounds 3
//! cargo bench -p fluxer --bench search -- --docs 1000000 --rounds 3   # the 1M figure (a few minutes)
//! ```

use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use fluxer::core::id::ChannelId;
use fluxer::core::ports::{MessageDocument, MessageSearch, SearchIndex};
use fluxer::storage::tantivy::TantivySearchIndex;
use tantivy::collector::{Count, TopDocs};
use tantivy::directory::MmapDirectory;
use tantivy::query::{BooleanQuery, Occur, Query, TermQuery, TermSetQuery};
use tantivy::schema::{FAST, Field, INDEXED, IndexRecordOption, STORED, Schema, TEXT};
use tantivy::{Index, IndexReader, IndexWriter, Order, ReloadPolicy, TantivyDocument, Term};

mod common;
#[path = "common/search_corpus.rs"]
mod corpus;

use common::{TempDir, median};
use corpus::{CHANNELS_PER_QUERY, Probe, Words, documents, probes};

/// Fluxer's writer budget (fluxer-storage/src/tantivy.rs).
const WRITER_BUDGET: usize = 64 * 1024 * 1024;
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
        docs: 200_000,
        channels: 1_000,
        batch: 1_000,
        queries: 2_000,
        rounds: 3,
    };
    let argv: Vec<String> = std::env::args().collect();
    let mut i = 1;
    while i < argv.len() {
        let value = argv.get(i + 1).map(String::as_str);
        match (argv[i].as_str(), value) {
            ("--docs", Some(v)) => a.docs = v.parse().expect("--docs N"),
            ("--channels", Some(v)) => a.channels = v.parse().expect("--channels N"),
            ("--batch", Some(v)) => a.batch = v.parse().expect("--batch N"),
            ("--queries", Some(v)) => a.queries = v.parse().expect("--queries N"),
            ("--rounds", Some(v)) => a.rounds = v.parse().expect("--rounds N"),
            _ => {}
        }
        i += 1;
    }
    assert!(
        a.channels as usize >= CHANNELS_PER_QUERY,
        "--channels must be at least 20"
    );
    a
}

/// The schema of fluxer-storage/src/tantivy.rs, replicated.
#[derive(Clone, Copy)]
struct Fields {
    id: Field,
    channel_id: Field,
    guild_id: Field,
    author_id: Field,
    content: Field,
    timestamp: Field,
    has: Field,
    mentions: Field,
    pinned: Field,
}

fn schema() -> (Schema, Fields) {
    let mut b = Schema::builder();
    let fields = Fields {
        id: b.add_u64_field("id", INDEXED | FAST | STORED),
        channel_id: b.add_u64_field("channel_id", INDEXED | FAST),
        guild_id: b.add_u64_field("guild_id", INDEXED),
        author_id: b.add_u64_field("author_id", INDEXED),
        content: b.add_text_field("content", TEXT),
        timestamp: b.add_i64_field("timestamp", FAST),
        has: b.add_u64_field("has", INDEXED),
        mentions: b.add_u64_field("mentions", INDEXED),
        pinned: b.add_u64_field("pinned", INDEXED),
    };
    (b.build(), fields)
}

/// The baseline: raw tantivy.
struct Raw {
    index: Index,
    writer: IndexWriter,
    reader: IndexReader,
    fields: Fields,
}

impl Raw {
    fn create(dir: &Path) -> Raw {
        let (schema, fields) = schema();
        let index = Index::create(
            MmapDirectory::open(dir).unwrap(),
            schema,
            Default::default(),
        )
        .unwrap();
        let writer = index.writer_with_num_threads(1, WRITER_BUDGET).unwrap();
        let reader = index
            .reader_builder()
            .reload_policy(ReloadPolicy::Manual)
            .try_into()
            .unwrap();
        Raw {
            index,
            writer,
            reader,
            fields,
        }
    }

    /// `replace`: delete any document with this ID first, as the adapter does (idempotent re-indexing).
    fn add(&self, doc: &MessageDocument, replace: bool) {
        let f = &self.fields;
        if replace {
            self.writer
                .delete_term(Term::from_field_u64(f.id, doc.id.get()));
        }
        let mut d = TantivyDocument::new();
        d.add_u64(f.id, doc.id.get());
        d.add_u64(f.channel_id, doc.channel_id.get());
        d.add_u64(f.guild_id, doc.guild_id.map_or(0, |g| g.get()));
        d.add_u64(f.author_id, doc.author_id.get());
        d.add_text(f.content, &doc.content);
        d.add_i64(f.timestamp, doc.timestamp.unix_ms());
        for has in &doc.has {
            d.add_u64(f.has, *has as u64 + 1);
        }
        for user in &doc.mentions {
            d.add_u64(f.mentions, user.get());
        }
        d.add_u64(f.pinned, u64::from(doc.pinned));
        self.writer.add_document(d).unwrap();
    }

    fn commit(&mut self) {
        self.writer.commit().unwrap();
        self.reader.reload().unwrap();
    }

    fn query(&self, probe: &Probe) -> BooleanQuery {
        let f = &self.fields;
        let mut must: Vec<(Occur, Box<dyn Query>)> = vec![(
            Occur::Must,
            Box::new(TermSetQuery::new(
                probe
                    .channels
                    .iter()
                    .map(|c| Term::from_field_u64(f.channel_id, *c)),
            )),
        )];
        let mut analyzer = self.index.tokenizer_for_field(f.content).unwrap();
        let mut stream = analyzer.token_stream(&probe.word);
        while let Some(token) = stream.next() {
            must.push((
                Occur::Must,
                Box::new(TermQuery::new(
                    Term::from_field_text(f.content, &token.text),
                    IndexRecordOption::Basic,
                )),
            ));
        }
        BooleanQuery::new(must)
    }

    /// The page and the count. `one_pass`: from one collector tuple (the baseline); otherwise count
    /// first, then collect the page, as the adapter does (to attribute the difference).
    fn search(&self, probe: &Probe, one_pass: bool) -> (Vec<(u64, u64)>, u64) {
        let query = self.query(probe);
        let searcher = self.reader.searcher();
        let top = TopDocs::with_limit(LIMIT).order_by_u64_field("id", Order::Desc);
        let (docs, total) = if one_pass {
            searcher.search(&query, &(top, Count)).unwrap()
        } else {
            let total = searcher.search(&query, &Count).unwrap();
            (searcher.search(&query, &top).unwrap(), total)
        };
        let mut hits = Vec::with_capacity(docs.len());
        for (id, addr) in docs {
            let channel = searcher
                .segment_reader(addr.segment_ord)
                .fast_fields()
                .u64("channel_id")
                .unwrap()
                .first(addr.doc_id);
            if let (Some(id), Some(channel)) = (id, channel) {
                hits.push((channel, id));
            }
        }
        (hits, total as u64)
    }
}

fn fluxer_query(probe: &Probe) -> MessageSearch {
    MessageSearch {
        content: Some(probe.word.clone()),
        channel_ids: probe.channels.iter().map(|c| ChannelId::new(*c)).collect(),
        limit: LIMIT,
        ..Default::default()
    }
}

/// Indexes every document through the port; returns the index and documents per second.
async fn index_fluxer(
    dir: &Path,
    docs: &[MessageDocument],
    batch: usize,
) -> (TantivySearchIndex, f64) {
    let start = Instant::now();
    let index = TantivySearchIndex::open(dir).unwrap();
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
    let rate = docs.len() as f64 / start.elapsed().as_secs_f64();
    (index, rate)
}

fn index_raw(dir: &Path, docs: &[MessageDocument], batch: usize, replace: bool) -> (Raw, f64) {
    let start = Instant::now();
    let mut raw = Raw::create(dir);
    let mut since_commit = 0;
    for chunk in docs.chunks(batch) {
        for doc in chunk {
            raw.add(doc, replace);
        }
        since_commit += chunk.len();
        if since_commit >= COMMIT_EVERY {
            raw.commit();
            since_commit = 0;
        }
    }
    raw.commit();
    let rate = docs.len() as f64 / start.elapsed().as_secs_f64();
    (raw, rate)
}

fn segments(dir: &Path) -> usize {
    Index::open_in_dir(dir)
        .and_then(|i| i.searchable_segment_ids())
        .map_or(0, |s| s.len())
}

#[derive(Clone, Copy, Debug)]
struct Round {
    docs_per_sec: f64,
    p50_us: f64,
    p99_us: f64,
}

fn percentile(sorted: &[f64], q: f64) -> f64 {
    sorted[((sorted.len() as f64 - 1.0) * q).round() as usize]
}

fn main() {
    let args = args();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    let words = Words::new();
    let started = Instant::now();
    let docs = Arc::new(documents(args.docs, args.channels, &words));
    let probes = Arc::new(probes(args.queries, args.channels, &words));
    eprintln!(
        "generated {} documents and {} queries in {:.1} s",
        docs.len(),
        probes.len(),
        started.elapsed().as_secs_f64()
    );

    let (mut ours, mut base, mut two_pass) = (Vec::new(), Vec::new(), Vec::new());
    for round in 0..args.rounds {
        let (fluxer_dir, raw_dir) = (TempDir::new("search"), TempDir::new("search-raw"));
        let index_fluxer_now = || rt.block_on(index_fluxer(fluxer_dir.path(), &docs, args.batch));
        let index_raw_now = || index_raw(raw_dir.path(), &docs, args.batch, false);
        // Attribution only: raw tantivy deleting each ID before adding it, as the adapter does.
        let replacing_rate = || {
            let dir = TempDir::new("search-raw-replace");
            index_raw(dir.path(), &docs, args.batch, true).1
        };
        let ((fluxer, fluxer_rate), (mut raw, raw_rate), replace_rate) = if round % 2 == 0 {
            let r = index_raw_now();
            let d = replacing_rate();
            (index_fluxer_now(), r, d)
        } else {
            let f = index_fluxer_now();
            let d = replacing_rate();
            (f, index_raw_now(), d)
        };
        // Let the merges the commits started finish, then publish them to both readers alike.
        std::thread::sleep(Duration::from_secs(2));
        rt.block_on(fluxer.commit()).unwrap();
        raw.commit();
        eprintln!(
            "round {round}: segments fluxer {} / raw {}",
            segments(fluxer_dir.path()),
            segments(raw_dir.path())
        );

        let raw = Arc::new(raw);
        // Latencies of: Fluxer, raw tantivy (one pass), raw tantivy counting first as the adapter does.
        let mut lat: [Vec<f64>; 3] = Default::default();
        rt.block_on(async {
            // Both answer the same; check it on the first probes (and warm both up).
            for p in probes.iter().take(50) {
                let hits = fluxer.search_messages(&fluxer_query(p)).await.unwrap();
                let (p, raw) = (p.clone(), raw.clone());
                let (raw_hits, raw_total) =
                    tokio::task::spawn_blocking(move || raw.search(&p, true))
                        .await
                        .unwrap();
                assert_eq!(hits.total, raw_total);
                let ours: Vec<(u64, u64)> =
                    hits.hits.iter().map(|(c, m)| (c.get(), m.get())).collect();
                assert_eq!(ours, raw_hits);
            }
            // Blocks of 100 queries, each side in turn, the order rotating.
            for (block, chunk) in probes.chunks(100).enumerate() {
                for k in 0..3 {
                    let side = (block + round + k) % 3;
                    for p in chunk {
                        let start = Instant::now();
                        if side == 0 {
                            fluxer.search_messages(&fluxer_query(p)).await.unwrap();
                        } else {
                            let (p, raw) = (p.clone(), raw.clone());
                            tokio::task::spawn_blocking(move || raw.search(&p, side == 1))
                                .await
                                .unwrap();
                        }
                        lat[side].push(start.elapsed().as_secs_f64() * 1e6);
                    }
                }
            }
        });
        for v in &mut lat {
            v.sort_by(|a, b| a.total_cmp(b));
        }
        ours.push(Round {
            docs_per_sec: fluxer_rate,
            p50_us: percentile(&lat[0], 0.5),
            p99_us: percentile(&lat[0], 0.99),
        });
        base.push(Round {
            docs_per_sec: raw_rate,
            p50_us: percentile(&lat[1], 0.5),
            p99_us: percentile(&lat[1], 0.99),
        });
        two_pass.push(Round {
            docs_per_sec: replace_rate,
            p50_us: percentile(&lat[2], 0.5),
            p99_us: percentile(&lat[2], 0.99),
        });
        eprintln!(
            "round {round}: fluxer {:?} / raw tantivy {:?} / raw, as the adapter (delete first, count apart) {:?}",
            ours.last().unwrap(),
            base.last().unwrap(),
            two_pass.last().unwrap()
        );
        drop(fluxer);
        drop(raw);
    }

    let m = |v: &[Round], f: fn(&Round) -> f64| median(v.iter().map(f).collect());
    println!(
        "search, {} messages in {} channels, 1-word queries over {CHANNELS_PER_QUERY} channels, newest {LIMIT} + total, {} queries, median of {} rounds",
        args.docs, args.channels, args.queries, args.rounds
    );
    println!("| metric | fluxer | baseline | ratio |");
    println!("|---|---|---|---|");
    let (o, b) = (m(&ours, |r| r.docs_per_sec), m(&base, |r| r.docs_per_sec));
    println!("| indexing docs/s | {o:.0} | {b:.0} | {:.2}x |", o / b);
    let (o, b) = (m(&ours, |r| r.p50_us), m(&base, |r| r.p50_us));
    println!("| query p50 (µs) | {o:.0} | {b:.0} | {:.2}x |", o / b);
    let (o, b) = (m(&ours, |r| r.p99_us), m(&base, |r| r.p99_us));
    println!("| query p99 (µs) | {o:.0} | {b:.0} | {:.2}x |", o / b);
    let (o, b) = (
        m(&ours, |r| r.docs_per_sec),
        m(&two_pass, |r| r.docs_per_sec),
    );
    println!(
        "| indexing docs/s vs raw deleting each ID first | {o:.0} | {b:.0} | {:.2}x |",
        o / b
    );
    let (o, b) = (m(&ours, |r| r.p50_us), m(&two_pass, |r| r.p50_us));
    println!(
        "| query p50 (µs) vs raw counting in a separate pass | {o:.0} | {b:.0} | {:.2}x |",
        o / b
    );
    let (o, b) = (m(&ours, |r| r.p99_us), m(&two_pass, |r| r.p99_us));
    println!(
        "| query p99 (µs) vs raw counting in a separate pass | {o:.0} | {b:.0} | {:.2}x |",
        o / b
    );
}
