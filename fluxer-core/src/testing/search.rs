//! The [`SearchIndex`] conformance suite. Content matching is by whole words, case-insensitively, every
//! word of the query required; the documents use plain words so any tokenizer agrees.

use std::sync::Arc;

use crate::id::{ChannelId, GuildId, MessageId, Snowflake, UserId};
use crate::ports::{GuildDocument, Has, MessageDocument, MessageSearch, SearchIndex, UserDocument};
use crate::time::Timestamp;

use super::fixtures::T0;

/// Generates one test per [`SearchIndex`] case; see [`crate::testing`].
#[macro_export]
macro_rules! search_conformance_tests {
    ($($factory:tt)+) => {
        $crate::__conformance_tests!(search, search_conformance, [$($factory)+], [
            content_matches_words_case_insensitively,
            results_only_from_readable_channels,
            filters_by_author_has_mentions_and_pinned,
            filters_by_id_range,
            pages_with_total_offset_and_limit,
            reindex_replaces_and_delete_removes,
            guilds_match_words_most_members_first,
            users_match_name_prefixes,
        ]);
    };
}

const GUILD: GuildId = GuildId::new(1);
const GENERAL: ChannelId = ChannelId::new(10);
const RANDOM: ChannelId = ChannelId::new(11);
const SECRET: ChannelId = ChannelId::new(12);
const ALICE: UserId = UserId::new(100);
const BOB: UserId = UserId::new(101);
const CAROL: UserId = UserId::new(102);

/// The `n`th message ID: increasing with `n`, a second apart.
fn message_id(n: u64) -> MessageId {
    MessageId(Snowflake::from_parts(T0.unix_ms() + n as i64 * 1000, 0, 0))
}

fn doc(n: u64, channel: ChannelId, author: UserId, content: &str) -> MessageDocument {
    let id = message_id(n);
    MessageDocument {
        id,
        channel_id: channel,
        guild_id: Some(GUILD),
        author_id: author,
        content: content.to_owned(),
        timestamp: Timestamp::from_unix_ms(T0.unix_ms() + n as i64 * 1000),
        has: Vec::new(),
        mentions: Vec::new(),
        pinned: false,
    }
}

fn query(channels: &[ChannelId]) -> MessageSearch {
    MessageSearch {
        channel_ids: channels.to_vec(),
        limit: 25,
        ..Default::default()
    }
}

fn text(q: &str) -> MessageSearch {
    MessageSearch {
        content: Some(q.to_owned()),
        ..query(&[GENERAL, RANDOM, SECRET])
    }
}

/// Message numbers of the hits, in result order.
async fn hits(index: &dyn SearchIndex, q: &MessageSearch) -> Vec<u64> {
    let found = index.search_messages(q).await.unwrap();
    let ids: Vec<u64> = found
        .hits
        .iter()
        .map(|(channel, id)| {
            let n = (0..1000)
                .find(|n| message_id(*n) == *id)
                .expect("a hit that was indexed");
            assert_ne!(
                *channel,
                ChannelId::default(),
                "hit {n} without its channel"
            );
            n
        })
        .collect();
    assert!(
        found.total >= ids.len() as u64,
        "total {} below the page size",
        found.total
    );
    ids
}

async fn index(index: &dyn SearchIndex, docs: &[MessageDocument]) {
    index.index_messages(docs).await.unwrap();
    index.commit().await.unwrap();
}

/// Content matches whole words in any case, every word required; no content matches all; newest
/// first by default, with the total.
pub async fn content_matches_words_case_insensitively(idx: Arc<dyn SearchIndex>) {
    index(
        &*idx,
        &[
            doc(1, GENERAL, ALICE, "Hello world"),
            doc(2, GENERAL, BOB, "hello there, WORLD!"),
            doc(3, RANDOM, ALICE, "goodbye world"),
            doc(4, RANDOM, CAROL, "nothing to see"),
            doc(5, GENERAL, CAROL, "helloworld is one word"),
        ],
    )
    .await;
    assert_eq!(hits(&*idx, &text("hello")).await, vec![2, 1]);
    assert_eq!(hits(&*idx, &text("HELLO")).await, vec![2, 1]);
    assert_eq!(hits(&*idx, &text("world")).await, vec![3, 2, 1]);
    // Every word must appear.
    assert_eq!(hits(&*idx, &text("hello world")).await, vec![2, 1]);
    assert_eq!(hits(&*idx, &text("goodbye hello")).await, Vec::<u64>::new());
    assert_eq!(hits(&*idx, &text("absent")).await, Vec::<u64>::new());
    // No content: everything readable.
    assert_eq!(
        hits(&*idx, &query(&[GENERAL, RANDOM])).await,
        vec![5, 4, 3, 2, 1]
    );
    let found = idx.search_messages(&text("world")).await.unwrap();
    assert_eq!(found.total, 3);
    assert_eq!(found.hits[0], (RANDOM, message_id(3)));
}

/// Results come only from `channel_ids`; with none, nothing is found.
pub async fn results_only_from_readable_channels(idx: Arc<dyn SearchIndex>) {
    index(
        &*idx,
        &[
            doc(1, GENERAL, ALICE, "launch plans"),
            doc(2, SECRET, ALICE, "secret launch plans"),
            doc(3, RANDOM, BOB, "launch party"),
        ],
    )
    .await;
    let mut q = text("launch");
    q.channel_ids = vec![GENERAL, RANDOM];
    assert_eq!(hits(&*idx, &q).await, vec![3, 1]);
    assert_eq!(idx.search_messages(&q).await.unwrap().total, 2);
    q.channel_ids = vec![SECRET];
    assert_eq!(hits(&*idx, &q).await, vec![2]);
    // No readable channel, no results.
    q.channel_ids = Vec::new();
    assert_eq!(idx.search_messages(&q).await.unwrap(), Default::default());
}

/// `author_ids` match any, `has` and `mentions` require all, `pinned` filters both ways, and filters
/// combine.
pub async fn filters_by_author_has_mentions_and_pinned(idx: Arc<dyn SearchIndex>) {
    let mut docs = vec![
        doc(1, GENERAL, ALICE, "see the picture"),
        doc(2, GENERAL, BOB, "see the link"),
        doc(3, RANDOM, CAROL, "see the video and link"),
        doc(4, RANDOM, ALICE, "see you"),
        doc(5, GENERAL, BOB, "see everyone"),
    ];
    docs[0].has = vec![Has::Image, Has::File];
    docs[1].has = vec![Has::Link, Has::Embed];
    docs[2].has = vec![Has::Video, Has::Link];
    docs[0].mentions = vec![BOB];
    docs[3].mentions = vec![BOB, CAROL];
    docs[4].mentions = vec![CAROL];
    docs[1].pinned = true;
    docs[3].pinned = true;
    index(&*idx, &docs).await;
    let all = || text("see");

    let mut q = all();
    q.author_ids = vec![ALICE];
    assert_eq!(hits(&*idx, &q).await, vec![4, 1]);
    q.author_ids = vec![ALICE, CAROL];
    assert_eq!(hits(&*idx, &q).await, vec![4, 3, 1]);

    let mut q = all();
    q.has = vec![Has::Link];
    assert_eq!(hits(&*idx, &q).await, vec![3, 2]);
    q.has = vec![Has::Link, Has::Video];
    assert_eq!(hits(&*idx, &q).await, vec![3]);
    q.has = vec![Has::Image];
    assert_eq!(hits(&*idx, &q).await, vec![1]);

    let mut q = all();
    q.mentions = vec![BOB];
    assert_eq!(hits(&*idx, &q).await, vec![4, 1]);
    q.mentions = vec![CAROL];
    assert_eq!(hits(&*idx, &q).await, vec![5, 4]);
    q.mentions = vec![BOB, CAROL];
    assert_eq!(hits(&*idx, &q).await, vec![4]);

    let mut q = all();
    q.pinned = Some(true);
    assert_eq!(hits(&*idx, &q).await, vec![4, 2]);
    q.pinned = Some(false);
    assert_eq!(hits(&*idx, &q).await, vec![5, 3, 1]);

    // Filters combine.
    let mut q = all();
    q.author_ids = vec![BOB];
    q.has = vec![Has::Link];
    q.pinned = Some(true);
    q.channel_ids = vec![GENERAL];
    assert_eq!(hits(&*idx, &q).await, vec![2]);
}

/// `min_id` and `max_id` are exclusive bounds.
pub async fn filters_by_id_range(idx: Arc<dyn SearchIndex>) {
    let docs: Vec<_> = (1..=10)
        .map(|n| doc(n, GENERAL, ALICE, &format!("entry number {n}")))
        .collect();
    index(&*idx, &docs).await;
    // Bounds are exclusive.
    let mut q = text("entry");
    q.min_id = Some(message_id(3));
    assert_eq!(hits(&*idx, &q).await, vec![10, 9, 8, 7, 6, 5, 4]);
    q.max_id = Some(message_id(7));
    assert_eq!(hits(&*idx, &q).await, vec![6, 5, 4]);
    q.min_id = None;
    assert_eq!(hits(&*idx, &q).await, vec![6, 5, 4, 3, 2, 1]);
    q.min_id = Some(message_id(6));
    assert_eq!(hits(&*idx, &q).await, Vec::<u64>::new());
}

/// `offset` and `limit` page through the matches either way (`ascending`), the total counts them all,
/// and a page past the end is empty.
pub async fn pages_with_total_offset_and_limit(idx: Arc<dyn SearchIndex>) {
    let mut docs: Vec<_> = (1..=30)
        .map(|n| {
            doc(
                n,
                if n % 2 == 0 { GENERAL } else { RANDOM },
                BOB,
                "daily standup",
            )
        })
        .collect();
    docs.push(doc(31, GENERAL, BOB, "weekly review"));
    index(&*idx, &docs).await;

    let page = |offset: usize, limit: usize, ascending: bool| MessageSearch {
        offset,
        limit,
        ascending,
        ..text("standup")
    };
    let newest: Vec<u64> = (1..=30).rev().collect();
    let oldest: Vec<u64> = (1..=30).collect();
    assert_eq!(hits(&*idx, &page(0, 10, false)).await, newest[..10]);
    assert_eq!(hits(&*idx, &page(10, 10, false)).await, newest[10..20]);
    assert_eq!(hits(&*idx, &page(25, 10, false)).await, newest[25..]);
    assert_eq!(hits(&*idx, &page(0, 10, true)).await, oldest[..10]);
    assert_eq!(hits(&*idx, &page(28, 10, true)).await, oldest[28..]);
    for (offset, limit) in [(0, 10), (25, 10), (40, 10), (0, 1)] {
        let found = idx
            .search_messages(&page(offset, limit, false))
            .await
            .unwrap();
        assert_eq!(found.total, 30, "total at offset {offset}");
    }
    assert!(
        idx.search_messages(&page(40, 10, false))
            .await
            .unwrap()
            .hits
            .is_empty()
    );
}

/// Indexing a message again replaces it; deleting removes it (unknown IDs and empty lists are fine).
pub async fn reindex_replaces_and_delete_removes(idx: Arc<dyn SearchIndex>) {
    index(
        &*idx,
        &[
            doc(1, GENERAL, ALICE, "original words"),
            doc(2, GENERAL, BOB, "original text"),
            doc(3, GENERAL, BOB, "original draft"),
        ],
    )
    .await;
    assert_eq!(hits(&*idx, &text("original")).await, vec![3, 2, 1]);

    // An edit re-indexes the message under the same ID.
    let mut edited = doc(1, GENERAL, ALICE, "edited words");
    edited.pinned = true;
    index(&*idx, &[edited]).await;
    assert_eq!(hits(&*idx, &text("original")).await, vec![3, 2]);
    assert_eq!(hits(&*idx, &text("edited")).await, vec![1]);
    let mut pinned = text("words");
    pinned.pinned = Some(true);
    assert_eq!(hits(&*idx, &pinned).await, vec![1]);

    idx.delete_messages(&[message_id(2), message_id(99)])
        .await
        .unwrap();
    idx.commit().await.unwrap();
    assert_eq!(hits(&*idx, &text("original")).await, vec![3]);
    assert_eq!(idx.search_messages(&text("text")).await.unwrap().total, 0);
    // Indexing nothing and deleting nothing are fine.
    idx.index_messages(&[]).await.unwrap();
    idx.delete_messages(&[]).await.unwrap();
    idx.commit().await.unwrap();
    assert_eq!(hits(&*idx, &text("original")).await, vec![3]);
}

fn guild(id: u64, name: &str, description: Option<&str>, members: u64) -> GuildDocument {
    GuildDocument {
        id: GuildId::new(id),
        name: name.to_owned(),
        description: description.map(str::to_owned),
        member_count: members,
    }
}

/// Guild search matches whole words of name or description, most members first then lowest ID,
/// paged with a total; re-indexing updates and deleting removes.
pub async fn guilds_match_words_most_members_first(idx: Arc<dyn SearchIndex>) {
    idx.index_guilds(&[
        guild(
            1,
            "Rust Programming",
            Some("systems programming in Rust"),
            50,
        ),
        guild(2, "Rustaceans", None, 900),
        guild(3, "Gardening", Some("growing RUST-resistant roses"), 120),
        guild(4, "Cooking", None, 10),
        guild(5, "Rust Beginners", None, 120),
    ])
    .await
    .unwrap();
    idx.commit().await.unwrap();
    let ids = |v: (Vec<GuildId>, u64)| (v.0.iter().map(|g| g.get()).collect::<Vec<_>>(), v.1);
    // Whole words in name or description, any case; most members first, ties by ID.
    assert_eq!(
        ids(idx.search_guilds("rust", 0, 10).await.unwrap()),
        (vec![3, 5, 1], 3)
    );
    assert_eq!(
        ids(idx.search_guilds("rust programming", 0, 10).await.unwrap()),
        (vec![1], 1)
    );
    assert_eq!(
        ids(idx.search_guilds("", 0, 2).await.unwrap()),
        (vec![2, 3], 5)
    );
    assert_eq!(
        ids(idx.search_guilds("", 2, 2).await.unwrap()),
        (vec![5, 1], 5)
    );
    // Replacing updates; deleting removes.
    idx.index_guilds(&[guild(1, "Rust Programming", None, 5000)])
        .await
        .unwrap();
    idx.delete_guilds(&[GuildId::new(3)]).await.unwrap();
    idx.commit().await.unwrap();
    assert_eq!(
        ids(idx.search_guilds("rust", 0, 10).await.unwrap()),
        (vec![1, 5], 2)
    );
    assert_eq!(
        ids(idx.search_guilds("absent", 0, 10).await.unwrap()),
        (vec![], 0)
    );
}

/// User search matches word prefixes of username or global name in any case, lowest ID first, at
/// most `limit`; re-indexing and deleting take effect.
pub async fn users_match_name_prefixes(idx: Arc<dyn SearchIndex>) {
    let user = |id: u64, username: &str, global: Option<&str>| UserDocument {
        id: UserId::new(id),
        username: username.to_owned(),
        global_name: global.map(str::to_owned),
    };
    idx.index_users(&[
        user(1, "alice", Some("Alice Liddell")),
        user(2, "alicia", None),
        user(3, "bob", Some("Bobby Tables")),
        user(4, "malice", None),
    ])
    .await
    .unwrap();
    idx.commit().await.unwrap();
    let ids = |v: Vec<UserId>| v.iter().map(|u| u.get()).collect::<Vec<_>>();
    assert_eq!(ids(idx.search_users("ali", 10).await.unwrap()), vec![1, 2]);
    assert_eq!(ids(idx.search_users("ALI", 1).await.unwrap()), vec![1]);
    assert_eq!(ids(idx.search_users("lidd", 10).await.unwrap()), vec![1]);
    assert_eq!(ids(idx.search_users("tab", 10).await.unwrap()), vec![3]);
    assert_eq!(
        ids(idx.search_users("zed", 10).await.unwrap()),
        Vec::<u64>::new()
    );
    idx.index_users(&[user(2, "zed", None)]).await.unwrap();
    idx.delete_users(&[UserId::new(1)]).await.unwrap();
    idx.commit().await.unwrap();
    assert_eq!(
        ids(idx.search_users("ali", 10).await.unwrap()),
        Vec::<u64>::new()
    );
    assert_eq!(ids(idx.search_users("zed", 10).await.unwrap()), vec![2]);
}
