//! The synthetic corpus of the search benches (`search`, `search_postgres`): generated words drawn
//! with a Zipf distribution by a seeded LCG, so every run and every engine sees the same messages
//! and queries.

#![allow(dead_code)]

use fluxer::core::id::{ChannelId, GuildId, MessageId, Snowflake, UserId};
use fluxer::core::ports::MessageDocument;
use fluxer::core::time::Timestamp;

/// Channels a query may read.
pub(crate) const CHANNELS_PER_QUERY: usize = 20;
const VOCABULARY: usize = 5_000;

/// Deterministic pseudo-random numbers (Knuth's MMIX LCG, high bits).
pub(crate) struct Lcg(u64);

impl Lcg {
    fn next(&mut self) -> u64 {
        self.0 = self
            .0
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        self.0 >> 33
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }

    fn unit(&mut self) -> f64 {
        self.next() as f64 / (1u64 << 31) as f64
    }
}

/// Generated words ("baka", "tezo", ...) drawn with a Zipf distribution (rank r has weight 1/(r+1)).
pub(crate) struct Words {
    words: Vec<String>,
    cumulative: Vec<f64>,
}

impl Words {
    pub(crate) fn new() -> Words {
        const C: &[u8] = b"bcdfghjklmnprstvwz";
        const V: &[u8] = b"aeiou";
        let syllable = |i: usize| [C[i % C.len()] as char, V[i / C.len() % V.len()] as char];
        let n = C.len() * V.len();
        let words = (0..VOCABULARY)
            .map(|i| syllable(i % n).iter().chain(&syllable(i / n)).collect())
            .collect();
        let mut total = 0.0;
        let cumulative = (0..VOCABULARY)
            .map(|r| {
                total += 1.0 / (r + 1) as f64;
                total
            })
            .collect();
        Words { words, cumulative }
    }

    fn pick(&self, rng: &mut Lcg) -> &str {
        let target = rng.unit() * self.cumulative[VOCABULARY - 1];
        let rank = self.cumulative.partition_point(|c| *c < target);
        &self.words[rank.min(VOCABULARY - 1)]
    }
}

/// `docs` messages spread over `channels` channels of 10 guilds, a tenth of a second apart and ending
/// now, each of 3 to 20 words.
pub(crate) fn documents(docs: usize, channels: u64, words: &Words) -> Vec<MessageDocument> {
    let mut rng = Lcg(7);
    let start = Timestamp::now().unix_ms() - docs as i64 * 100;
    (0..docs)
        .map(|i| {
            let id = MessageId(Snowflake::from_parts(start + i as i64 * 100, 1, 0));
            let channel = rng.below(channels);
            let n = 3 + rng.below(18) as usize;
            let mut content = String::with_capacity(n * 5);
            for w in 0..n {
                if w > 0 {
                    content.push(' ');
                }
                content.push_str(words.pick(&mut rng));
            }
            MessageDocument {
                id,
                channel_id: ChannelId::new(10_000 + channel),
                guild_id: Some(GuildId::new(100 + channel % 10)),
                author_id: UserId::new(1 + rng.below(500)),
                content,
                timestamp: id.timestamp(),
                has: Vec::new(),
                mentions: Vec::new(),
                pinned: false,
            }
        })
        .collect()
}

/// A query: one word and the channels the caller may read.
#[derive(Clone)]
pub(crate) struct Probe {
    pub(crate) word: String,
    pub(crate) channels: Vec<u64>,
}

/// `queries` one-word queries, each over 20 distinct channels of the `channels`.
pub(crate) fn probes(queries: usize, channel_count: u64, words: &Words) -> Vec<Probe> {
    let mut rng = Lcg(99);
    (0..queries)
        .map(|_| {
            let mut channels = Vec::with_capacity(CHANNELS_PER_QUERY);
            while channels.len() < CHANNELS_PER_QUERY {
                let c = 10_000 + rng.below(channel_count);
                if !channels.contains(&c) {
                    channels.push(c);
                }
            }
            Probe {
                word: words.pick(&mut rng).to_owned(),
                channels,
            }
        })
        .collect()
}
